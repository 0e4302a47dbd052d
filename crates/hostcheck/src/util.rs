//! Small helpers shared by the checks: evidence values and `error` results.
//! Kept here so every check writes evidence the same way (`file`, `line`,
//! `setting`), which is what an inspector greps for.

use mijian_report::{Check, CheckStatus};
use serde_json::{Value, json};
use std::fmt::Display;

/// `{"file": .., "line": .., "setting": ..}`: the place that decided a result.
pub fn loc(file: &str, line: usize, setting: impl Into<String>) -> Value {
    json!({"file": file, "line": line, "setting": setting.into()})
}

/// An `error` result for a file that is needed but could not be read or parsed.
pub fn error_check(id: &str, subject: &str, err: &dyn Display, remedy: &str) -> Check {
    Check::new(id, subject, CheckStatus::Error)
        .evidence(json!({"error": err.to_string()}))
        .remedy(remedy)
}
