//! The one error type of this crate; every variant names the file (and line)
//! so a security officer can fix the rule without reading code.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{path}: {reason}", path = path.display())]
    Io { path: PathBuf, reason: String },
    #[error("{path}:{line}: {reason}", path = path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}
