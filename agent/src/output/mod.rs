//! Printing reports for people (`--format table`) and for scripts
//! (`--format json`: the payload, one JSON document on stdout).

pub mod lang;
pub mod table;

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

impl Format {
    /// `--format`, defaulting to a table on a terminal and JSON otherwise.
    pub fn resolve(given: Option<Format>) -> Format {
        given.unwrap_or_else(|| {
            // SAFETY: isatty on a standard descriptor has no preconditions.
            if unsafe { libc::isatty(libc::STDOUT_FILENO) } == 1 {
                Format::Table
            } else {
                Format::Json
            }
        })
    }
}
