//! `network.toml` (`spec/inspection-checks.md`, "rules/network.toml"): the
//! unit's internal DNS suffixes and the networks that use public-looking
//! addresses internally. Only parsed and validated here; deciding whether a
//! host is external is `mijian-hostcheck`'s job.

use crate::{PolicyError, line_of, toml_error};
use ipnet::IpNet;
use serde::Deserialize;
use std::path::Path;

/// The internal names and networks of the unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkRules {
    /// DNS suffixes, lowercased, without a trailing dot.
    pub internal_domains: Vec<String>,
    pub internal_cidrs: Vec<IpNet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    internal: Internal,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Internal {
    #[serde(default)]
    domains: Vec<toml::Spanned<String>>,
    #[serde(default)]
    cidrs: Vec<toml::Spanned<String>>,
}

impl NetworkRules {
    pub(crate) fn parse(path: &Path, text: &str) -> Result<NetworkRules, PolicyError> {
        let f: File = toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
        let err = |span: std::ops::Range<usize>, reason: String| PolicyError::Parse {
            path: path.to_path_buf(),
            line: line_of(text.as_bytes(), span.start),
            reason,
        };
        let mut rules = NetworkRules::default();
        for d in f.internal.domains {
            let span = d.span();
            let raw = d.into_inner();
            let v = raw.trim().trim_end_matches('.').to_ascii_lowercase();
            let v = v.strip_prefix("*.").unwrap_or(&v);
            let v = v.strip_prefix('.').unwrap_or(v).to_string();
            if v.is_empty() || v.contains(char::is_whitespace) || v.contains('/') {
                return Err(err(
                    span,
                    format!(
                        "internal.domains: `{raw}` is not a DNS suffix (write e.g. \"corp.example\")"
                    ),
                ));
            }
            rules.internal_domains.push(v);
        }
        for c in f.internal.cidrs {
            let span = c.span();
            let raw = c.into_inner();
            match raw.trim().parse::<IpNet>() {
                Ok(n) => rules.internal_cidrs.push(n),
                Err(_) => {
                    return Err(err(
                        span,
                        format!(
                            "internal.cidrs: `{raw}` is not a CIDR (write e.g. \"59.255.0.0/16\" or \"2001:db8::/32\")"
                        ),
                    ));
                }
            }
        }
        Ok(rules)
    }
}
