//! `keywords/*.toml`: each organisation's keyword rules. Terms are literal
//! (matched after CONTRACT §6 normalisation by the scanner); `regex` rules are
//! compiled here once to validate them, and again by the scanner. A
//! hidden-mode file (issue 13, [`crate::hashed`]) gives `salt = "hex"` at the
//! top and `hashed = ["LEN:FP:MAC", ...]` instead of `terms`, plus
//! `hashed_raw = [...]`, the same form for the terms' byte spellings (the
//! raw-byte search; optional: a file without it has no raw-byte net).

use crate::hashed::{HashedTerm, Hidden, SALT_BYTES};
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
    /// Hidden terms (issue 13): hashes instead of `terms`.
    pub hidden: Option<Hidden>,
}

/// All keyword rules, in file then declaration order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keywords {
    pub rules: Vec<KeywordRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Hidden mode: the bundle's salt, hex.
    salt: Option<String>,
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
    #[serde(default)]
    hashed: Vec<String>,
    #[serde(default)]
    hashed_raw: Vec<String>,
    severity: Severity,
    description: Option<String>,
}

impl Keywords {
    pub(crate) fn add_file(&mut self, path: &Path, text: &str) -> Result<(), PolicyError> {
        let file: File = toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
        let salt = match &file.salt {
            None => None,
            Some(h) => match hex::decode(h) {
                Ok(b) if b.len() == SALT_BYTES => Some(b),
                _ => {
                    return Err(PolicyError::Parse {
                        path: path.to_path_buf(),
                        line: 1,
                        reason: format!("`salt` must be {SALT_BYTES} bytes as hex"),
                    });
                }
            },
        };
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
            let mut hidden = None;
            if raw.hashed.is_empty() && !raw.hashed_raw.is_empty() {
                return Err(err("`hashed_raw` needs `hashed`".into()));
            }
            if !raw.hashed.is_empty() {
                if raw.regex.is_some() || !raw.terms.is_empty() {
                    return Err(err("give one of `terms`, `regex` or `hashed`".into()));
                }
                let Some(salt) = &salt else {
                    return Err(err("`hashed` terms need the file's `salt = \"hex\"`".into()));
                };
                let terms = raw
                    .hashed
                    .iter()
                    .map(|h| HashedTerm::parse(h))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(&err)?;
                let raw_terms = raw
                    .hashed_raw
                    .iter()
                    .map(|h| HashedTerm::parse_raw(h))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(&err)?;
                hidden = Some(Hidden {
                    salt: salt.clone(),
                    terms,
                    raw: raw_terms,
                });
            }
            match (&raw.regex, raw.terms.is_empty()) {
                _ if hidden.is_some() => {}
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
                hidden,
            });
        }
        Ok(())
    }
}
