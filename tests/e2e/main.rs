//! End-to-end tests of the real binaries.

mod agent;
mod hostcheck;
mod media;
mod collector;
mod daemon;
mod util;
