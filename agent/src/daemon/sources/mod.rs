//! Where inspections come from, one module per `trigger` value (CONTRACT §4):
//! `boot` at start, `schedule` on the configured period, `media` on
//! removable-media mounts, `file_change` on changes under the content paths,
//! and `heartbeat`. Sources only say *that* something should be inspected;
//! the worker in `daemon/mod.rs` builds, seals and queues the report.

pub mod boot;
pub mod file_change;
pub mod media;
pub mod schedule;
