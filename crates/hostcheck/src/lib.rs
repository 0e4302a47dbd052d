//! Host checks (issue 4). Skeleton: the API the agent calls; being built.

use mijian_policy::Thresholds;
use mijian_report::Check;
use std::path::{Path, PathBuf};

/// The file tree a host is read through: `/` on a live host, or `--root DIR`.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
    live: bool,
}

impl Root {
    pub fn live() -> Root {
        Root { path: PathBuf::from("/"), live: true }
    }
    pub fn at(dir: impl Into<PathBuf>) -> Root {
        Root { path: dir.into(), live: false }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn is_live(&self) -> bool {
        self.live
    }
}

/// Results of the host checks plus what could not be read.
#[derive(Debug, Default)]
pub struct HostOutcome {
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

/// Run every host check of `spec/host-checks.md`.
pub fn check_host(_root: &Root, _t: &Thresholds) -> HostOutcome {
    HostOutcome::default()
}

/// Home directories of interactive accounts (the default content paths).
pub fn interactive_homes(_root: &Root) -> Vec<PathBuf> {
    Vec::new()
}
