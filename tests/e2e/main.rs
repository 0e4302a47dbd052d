//! End-to-end tests of the real binaries.

mod agent;
mod collector;
mod console;
mod daemon;
mod hostcheck;
mod media;
mod util;
