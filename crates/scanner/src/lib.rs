//! Content scanner (issue 3). Skeleton: the API the agent calls; being built.

pub mod extract;

use mijian_policy::{Classification, Policy};
use mijian_report::Finding;
use std::path::PathBuf;

/// How a scan runs.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// The host's classification: decides the severity of marked files.
    pub host_level: Classification,
    /// Glob patterns of paths not to scan (config `content.exclude`).
    pub exclude: Vec<String>,
    /// Where the persistent scan cache lives (`None`: no cache).
    pub cache_path: Option<PathBuf>,
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct ScanOutcome {
    pub findings: Vec<Finding>,
    /// Files looked at (for the summary line).
    pub files_scanned: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{0}")]
    Setup(String),
}

/// A scanner compiled from a policy.
pub struct Scanner {
    _opts: ScanOptions,
}

impl Scanner {
    pub fn new(_policy: &Policy, opts: ScanOptions) -> Result<Scanner, ScanError> {
        Ok(Scanner { _opts: opts })
    }

    /// Scan files and directories.
    pub fn scan(&self, _paths: &[PathBuf]) -> ScanOutcome {
        ScanOutcome::default()
    }
}
