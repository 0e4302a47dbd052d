//! `markings.toml`: overrides and additions to the built-in GB/T 9704
//! marking patterns. The built-in patterns themselves live with the matcher in
//! the scanner; this module only validates what the rules file says.

use crate::{PolicyError, line_of, toml_error};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkingPattern {
    pub id: String,
    /// Anchored over one normalised line; named groups `level`, optional `period`.
    pub regex: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markings {
    /// Use only `patterns`, not the built-in ones.
    pub replace_builtin: bool,
    pub patterns: Vec<MarkingPattern>,
    /// Non-empty lines inspected at the head of a document (GB/T 9704: first page top).
    pub head_lines: usize,
    /// Metadata property names that carry a marking.
    pub metadata_keys: Vec<String>,
}

impl Default for Markings {
    fn default() -> Self {
        Markings {
            replace_builtin: false,
            patterns: Vec::new(),
            head_lines: 3,
            metadata_keys: vec!["密级".to_string()],
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    replace_builtin: bool,
    head_lines: Option<usize>,
    metadata_keys: Option<Vec<String>>,
    #[serde(default)]
    pattern: Vec<toml::Spanned<RawPattern>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPattern {
    id: String,
    regex: String,
}

impl Markings {
    pub(crate) fn parse(path: &Path, text: &str) -> Result<Markings, PolicyError> {
        let f: File = toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
        let mut out = Markings {
            replace_builtin: f.replace_builtin,
            ..Markings::default()
        };
        if let Some(n) = f.head_lines {
            if n == 0 || n > 50 {
                return Err(PolicyError::Parse {
                    path: path.to_path_buf(),
                    line: 0,
                    reason: "head_lines must be between 1 and 50".into(),
                });
            }
            out.head_lines = n;
        }
        if let Some(keys) = f.metadata_keys {
            out.metadata_keys = keys;
        }
        for p in f.pattern {
            let line = line_of(text.as_bytes(), p.span().start);
            let raw = p.into_inner();
            let re = regex::Regex::new(&raw.regex).map_err(|e| PolicyError::Parse {
                path: path.to_path_buf(),
                line,
                reason: format!("pattern `{}`: invalid regex: {e}", raw.id),
            })?;
            if !re.capture_names().any(|n| n == Some("level")) {
                return Err(PolicyError::Parse {
                    path: path.to_path_buf(),
                    line,
                    reason: format!("pattern `{}`: needs a named group (?P<level>...)", raw.id),
                });
            }
            out.patterns.push(MarkingPattern {
                id: raw.id,
                regex: raw.regex,
            });
        }
        if out.replace_builtin && out.patterns.is_empty() {
            return Err(PolicyError::Parse {
                path: path.to_path_buf(),
                line: 0,
                reason: "replace_builtin = true but no [[pattern]] given: no marking could ever be found".into(),
            });
        }
        Ok(out)
    }
}
