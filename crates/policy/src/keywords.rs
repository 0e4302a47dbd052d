//! `keywords/*.toml`: each organisation's keyword rules. Terms are literal
//! (matched after CONTRACT §6 normalisation by the scanner); `regex` rules are
//! compiled here once to validate them, and again by the scanner.

use crate::{PolicyError, line_of, toml_error};
use mijian_report::Severity;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One `[[keyword]]` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeywordRule {
    pub id: String,
    pub terms: Vec<String>,
    pub regex: Option<String>,
    pub severity: Severity,
    pub description: Option<String>,
    /// The file that defined it (for messages).
    pub file: PathBuf,
}

/// All keyword rules, in file then declaration order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keywords {
    pub rules: Vec<KeywordRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    keyword: Vec<toml::Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    #[serde(default)]
    terms: Vec<String>,
    regex: Option<String>,
    severity: Severity,
    description: Option<String>,
}

impl Keywords {
    pub(crate) fn add_file(&mut self, path: &Path, text: &str) -> Result<(), PolicyError> {
        let file: File = toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
        let mut seen: HashMap<String, PathBuf> = self
            .rules
            .iter()
            .map(|r| (r.id.clone(), r.file.clone()))
            .collect();
        for spanned in file.keyword {
            let line = line_of(text.as_bytes(), spanned.span().start);
            let raw = spanned.into_inner();
            let err = |reason: String| PolicyError::Parse {
                path: path.to_path_buf(),
                line,
                reason: format!("keyword `{}`: {reason}", raw.id),
            };
            if raw.id.trim().is_empty() {
                return Err(err("id is empty".into()));
            }
            if let Some(prev) = seen.get(&raw.id) {
                return Err(err(format!(
                    "id is already defined in {} (ids must be unique across keyword files)",
                    prev.display()
                )));
            }
            match (&raw.regex, raw.terms.is_empty()) {
                (Some(_), false) => {
                    return Err(err("give either `terms` or `regex`, not both".into()));
                }
                (None, true) => {
                    return Err(err("needs `terms = [...]` or `regex = \"...\"`".into()));
                }
                (Some(re), true) => {
                    regex::RegexBuilder::new(re)
                        .size_limit(1 << 22)
                        .build()
                        .map_err(|e| err(format!("invalid regex: {e}")))?;
                }
                (None, false) => {
                    if let Some(t) = raw.terms.iter().find(|t| t.trim().is_empty()) {
                        return Err(err(format!("empty term {t:?}")));
                    }
                }
            }
            seen.insert(raw.id.clone(), path.to_path_buf());
            self.rules.push(KeywordRule {
                id: raw.id,
                terms: raw.terms,
                regex: raw.regex,
                severity: raw.severity,
                description: raw.description,
                file: path.to_path_buf(),
            });
        }
        Ok(())
    }
}
