//! Printing reports for people (`--format table`) and for scripts
//! (`--format json`: the payload, one JSON document on stdout), the scan's
//! progress on stderr, and the agent's own messages in the reader's language.

pub mod escape;
pub mod lang;
pub mod progress;
pub mod table;
pub mod words;

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people, grouped by inspection category.
    Table,
    /// The report payload (CONTRACT §4), one JSON document.
    Json,
}

impl Format {
    /// `--format`, defaulting to a table on a terminal and JSON otherwise.
    pub fn resolve(given: Option<Format>) -> Format {
        use std::io::IsTerminal;
        given.unwrap_or_else(|| {
            if std::io::stdout().is_terminal() {
                Format::Table
            } else {
                Format::Json
            }
        })
    }
}
