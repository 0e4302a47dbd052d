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
            if crate::platform::stdout_is_terminal() {
                Format::Table
            } else {
                Format::Json
            }
        })
    }
}
