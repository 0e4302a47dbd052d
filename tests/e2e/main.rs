//! End-to-end tests of the real binaries.

mod agent;
mod collector;
mod daemon;
mod hostcheck;
mod media;
mod policy;
mod util;
