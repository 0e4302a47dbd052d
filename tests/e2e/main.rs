//! End-to-end tests of the real binaries.

mod agent;
mod collector;
mod console;
mod daemon;
mod fleet;
mod hostcheck;
mod media;
mod policy;
mod util;
