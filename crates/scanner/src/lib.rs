//! The mijian content scanner (issue 3): finds unmarked and marked
//! classified files in every format Chinese offices use.
//!
//! Pipeline: walk (`walk`) → cache lookup (`cache`) → read → sniff the format
//! from content (`sniff`) → extract text (`text`, `html`, `extract::*`, in a
//! worker process for the complex parsers: `worker`) → normalise (CONTRACT
//! §6: `normalise`, `t2s`) → match keywords (`matcher`) and markings
//! (GB/T 9704: `markings`) → judge (`verdict`) → findings (CONTRACT §4).
//!
//! Principal types: [`Scanner`] (what the agent calls), [`file::Compiled`]
//! (a policy compiled once: automaton, regexes, marking patterns) and
//! [`file::analyse`] (bytes of one file → findings; the seam the engine and
//! the worker call, see `SEAM.md`).
//!
//! Invariant: matched text never leaves this crate; findings carry rule ids,
//! counts, offsets into the normalised text and the file's SHA-256.
//!
//! ```
//! use mijian_scanner::file::{analyse, Compiled};
//! use mijian_scanner::extract::{Ctx, Limits};
//! let policy = mijian_policy::Policy::example().unwrap();
//! let compiled = Compiled::new(&policy, Default::default()).unwrap();
//! let mut ctx = Ctx::new(Limits::default());
//! let a = analyse("a.txt".as_ref(), "机密★5年\n正文".as_bytes(), &mut ctx, &compiled);
//! assert_eq!(a.findings[0].kind.as_str(), "marked_classified");
//! ```

pub mod cache;
pub mod engine;
pub mod extract;
pub mod file;
pub mod hidden;
pub mod html;
pub mod markings;
pub mod matcher;
pub mod normalise;
pub mod pipeline;
pub mod raw;
pub mod sniff;
pub mod t2s;
pub mod text;
pub mod verdict;
pub mod walk;
pub mod worker;

use mijian_policy::{Classification, Policy};
use mijian_report::Finding;
use std::path::PathBuf;
use std::sync::Arc;

/// How a scan runs.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// The host's classification: decides the severity of marked files.
    pub host_level: Classification,
    /// Glob patterns of paths not to scan (config `content.exclude`).
    pub exclude: Vec<String>,
    /// Where the persistent scan cache lives (`None`: no cache).
    pub cache_path: Option<PathBuf>,
    /// Analysis threads (0: the available cores).
    pub threads: usize,
    /// Stay on each root's filesystem (default true); roots given
    /// explicitly (a removable medium) are always scanned.
    pub one_file_system: bool,
    /// The executable run as the document-parser worker (the agent sets its
    /// own `current_exe()` with `worker_args = ["__scan-worker"]`). `None`:
    /// parse in-process (library use, tests).
    pub worker_exe: Option<PathBuf>,
    pub worker_args: Vec<std::ffi::OsString>,
    /// Per-file resource bounds.
    pub limits: extract::Limits,
    /// Live counters for a progress display (issue 18; `None`: none).
    pub progress: Option<Arc<pipeline::Progress>>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            host_level: Classification::default(),
            exclude: Vec::new(),
            cache_path: None,
            threads: 0,
            one_file_system: true,
            worker_exe: None,
            worker_args: Vec::new(),
            limits: extract::Limits::default(),
            progress: None,
        }
    }
}

pub use pipeline::kept::Omitted;

/// What a scan found.
#[derive(Debug, Default)]
pub struct ScanOutcome {
    pub findings: Vec<Finding>,
    /// Findings counted but not kept: past `Limits::max_findings` the least
    /// severe are counted by kind and rule instead (bounded memory).
    pub omitted: Omitted,
    /// Files looked at (for the summary line).
    pub files_scanned: u64,
    /// Files whose content was binary and skipped (their names were scanned).
    pub files_skipped: u64,
    /// Regular files the walk handed out (archive members not counted).
    pub files_walked: u64,
    /// Files answered from the scan cache without reading.
    pub cache_hits: u64,
    /// Bytes of those files.
    pub bytes: u64,
    /// Paths skipped by the exclude patterns (a pruned directory counts once).
    pub excluded: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{0}")]
    Setup(String),
}

/// A scanner compiled from a policy. The policy is compiled (automaton,
/// normalisation tables, marking patterns) on first need, so a rescan that
/// the cache answers entirely never pays for it.
pub struct Scanner {
    pub opts: ScanOptions,
    /// Digest and source of the policy (the worker process reloads it).
    pub policy_digest: String,
    pub policy_source: Option<PathBuf>,
    engine: engine::Engine,
}

impl Scanner {
    pub fn new(policy: &Policy, opts: ScanOptions) -> Result<Scanner, ScanError> {
        let engine = engine::Engine::new(policy, &opts)?;
        Ok(Scanner {
            policy_digest: policy.digest.clone(),
            policy_source: policy.source.clone(),
            opts,
            engine,
        })
    }

    /// The compiled policy (built on first call).
    pub fn compiled(&self) -> Result<Arc<file::Compiled>, ScanError> {
        self.engine.analyser.compiled().map_err(ScanError::Setup)
    }

    /// Scan files and directories: parallel walk, cache, worker-isolated
    /// parsers (see `pipeline`).
    pub fn scan(&self, paths: &[PathBuf]) -> ScanOutcome {
        self.engine.scan(paths)
    }
}
