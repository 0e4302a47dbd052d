//! mijian-collector: verifies, stores and serves signed reports (CONTRACT §7).
//!
//! Data flow: a signed report arrives by `POST /api/v1/reports` ([`api`]) or
//! from a file (`import`, [`cli`]); both call [`ingest::ingest`], which
//! verifies it against the enrolled key and hands a prepared record to the
//! [`mijian_store::Store`] (SQLite by default, PostgreSQL for several
//! processes). Staff read the current state through the API ([`auth`]);
//! monitoring scrapes [`metrics`]. [`server`] and [`tls`] carry HTTP(S).
//!
//! Invariants: the collector never depends on hostcheck, and on the scanner
//! only for `normalise` (hidden policy terms, [`policy`]); it keeps
//! the signed bytes it verified; a report that conflicts with its chain is a
//! tamper alert, never data.

pub mod api;
pub mod archive;
pub mod auth;
pub mod cli;
pub mod config;
pub mod ingest;
pub mod keys;
pub mod metrics;
pub mod policy;
pub mod server;
pub mod tls;
pub mod ui;
pub mod validate;
