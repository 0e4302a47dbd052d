//! From what one file says (marking, keyword hits in its text and in its
//! name, or why it could not be read) to findings per CONTRACT §4:
//! `marked_classified`, `unmarked_classified`, `unscannable`.
//!
//! Findings carry rule ids, counts, offsets and the file's SHA-256, never
//! matched text. The SHA-256 is computed here, only for files that have a
//! finding, so clean files cost no hashing.

use crate::extract::ExtractError;
use crate::markings::Found;
use crate::matcher::{Hits, RuleInfo};
use mijian_policy::Classification;
use mijian_report::{Finding, FindingKind, Marking, RuleMatch, Severity, encode_path, sha256_hex};
use serde_json::json;
use std::path::Path;

/// What is known about one file (or archive member) once it was read.
pub struct Evidence<'a> {
    pub path: &'a Path,
    pub data: &'a [u8],
    pub format: &'a str,
    pub marking: Option<Found>,
    /// Hits in the content (text, head, property values).
    pub content: &'a Hits,
    /// Hits in the file name.
    pub name: &'a Hits,
}

fn base(
    kind: FindingKind,
    severity: Severity,
    path: &Path,
    data: Option<&[u8]>,
    format: &str,
) -> Finding {
    let mut f = Finding::new(kind, severity);
    let p = encode_path(path);
    f.path = Some(p.path);
    f.path_b64 = p.path_b64;
    f.sha256 = data.map(sha256_hex);
    f.format = Some(format.to_string());
    f
}

/// Severity of a marked document on a host of level `host`.
pub fn marked_severity(level: Classification, host: Classification) -> Severity {
    if level <= host {
        Severity::Info
    } else if level == Classification::TopSecret {
        Severity::Critical
    } else {
        Severity::High
    }
}

/// `marked_classified` or `unmarked_classified` (or nothing) for a file.
pub fn judge(ev: &Evidence<'_>, rules: &[RuleInfo], host: Classification) -> Option<Finding> {
    let mut matches = Vec::new();
    let mut in_name = Vec::new();
    let mut worst: Option<Severity> = None;
    for (i, rule) in rules.iter().enumerate() {
        let c = ev.content.per_rule.get(i).copied().unwrap_or_default();
        let n = ev.name.per_rule.get(i).copied().unwrap_or_default();
        if c.count + n.count == 0 {
            continue;
        }
        if n.count > 0 {
            in_name.push(rule.id.clone());
        }
        worst = worst.max(Some(rule.severity));
        matches.push(RuleMatch {
            rule: rule.id.clone(),
            count: c.count + n.count,
            // `None` when the rule matched only the file name.
            first_offset: c.first,
        });
    }
    let mut f = match (&ev.marking, worst) {
        (Some(m), _) => {
            let sev = marked_severity(m.level, host);
            let mut f = base(
                FindingKind::MarkedClassified,
                sev,
                ev.path,
                Some(ev.data),
                ev.format,
            );
            f.marking = Some(Marking {
                level: m.level.as_str().to_string(),
                period: m.period.clone(),
                source: Some(m.source.to_string()),
            });
            f.message = Some(if sev == Severity::Info {
                format!(
                    "marked {} document, at or below this host's level ({host})",
                    m.level
                )
            } else {
                format!("marked {} document on a {host} host", m.level)
            });
            f
        }
        (None, Some(sev)) => {
            let mut f = base(
                FindingKind::UnmarkedClassified,
                sev,
                ev.path,
                Some(ev.data),
                ev.format,
            );
            f.message = Some(format!(
                "{} keyword rule(s) matched and no classification marking at the head",
                matches.len()
            ));
            f
        }
        (None, None) => return None,
    };
    f.matches = matches;
    if !in_name.is_empty() {
        f.detail = Some(json!({ "matched_in": "name", "name_rules": in_name }));
    }
    Some(f)
}

/// Severity of an unreadable file: encrypted content hides what it holds.
/// A file deleted or replaced while the scan ran (`vanished`, a package
/// upgrade) is no longer there to hold anything: `info`, counted in the
/// scan's coverage, never a finding to act on (issue 18).
pub fn unscannable_severity(reason: &str) -> Severity {
    match reason {
        "encrypted" => Severity::Medium,
        "vanished" => Severity::Info,
        _ => Severity::Low,
    }
}

/// `unscannable` for content that could not be read.
pub fn unscannable(path: &Path, data: Option<&[u8]>, format: &str, err: &ExtractError) -> Finding {
    unscannable_reason(path, data, format, err.reason(), err.to_string())
}

/// `unscannable` with an explicit reason word (`permission`, `limit`, ...).
pub fn unscannable_reason(
    path: &Path,
    data: Option<&[u8]>,
    format: &str,
    reason: &str,
    message: String,
) -> Finding {
    let mut f = base(
        FindingKind::Unscannable,
        unscannable_severity(reason),
        path,
        data,
        format,
    );
    f.reason = Some(reason.to_string());
    f.message = Some(message);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::RuleHit;

    fn rules() -> Vec<RuleInfo> {
        vec![
            RuleInfo {
                id: "a".into(),
                severity: Severity::Medium,
            },
            RuleInfo {
                id: "b".into(),
                severity: Severity::High,
            },
        ]
    }

    fn hits(a: u64, b: u64) -> Hits {
        Hits {
            per_rule: vec![
                RuleHit {
                    count: a,
                    first: (a > 0).then_some(3),
                },
                RuleHit {
                    count: b,
                    first: (b > 0).then_some(7),
                },
            ],
        }
    }

    #[test]
    fn a_file_that_vanished_during_the_scan_is_not_to_act_on() {
        let f = unscannable_reason(Path::new("/x"), None, "unknown", "vanished", "gone".into());
        assert_eq!(f.severity, Severity::Info);
        let f = unscannable_reason(Path::new("/x"), None, "unknown", "permission", "no".into());
        assert_eq!(f.severity, Severity::Low);
    }

    #[test]
    fn severity_follows_host_level() {
        use Classification::*;
        assert_eq!(marked_severity(Secret, Unclassified), Severity::High);
        assert_eq!(marked_severity(TopSecret, Confidential), Severity::Critical);
        assert_eq!(marked_severity(Confidential, Confidential), Severity::Info);
        assert_eq!(marked_severity(Secret, TopSecret), Severity::Info);
    }

    #[test]
    fn unmarked_takes_the_worst_rule_and_never_carries_text() {
        let content = hits(2, 1);
        let name = hits(0, 0);
        let ev = Evidence {
            path: Path::new("/h/a.txt"),
            data: b"x",
            format: "text",
            marking: None,
            content: &content,
            name: &name,
        };
        let f = judge(&ev, &rules(), Classification::Unclassified).unwrap();
        assert_eq!(f.kind, FindingKind::UnmarkedClassified);
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.matches.len(), 2);
        assert_eq!(f.matches[0].count, 2);
        assert_eq!(f.sha256.as_deref(), Some(sha256_hex(b"x").as_str()));
        assert!(f.detail.is_none());
    }

    #[test]
    fn name_only_match_has_no_offset_and_says_name() {
        let content = hits(0, 0);
        let name = hits(1, 0);
        let ev = Evidence {
            path: Path::new("/h/玄鸟柒号方案.txt"),
            data: b"harmless",
            format: "text",
            marking: None,
            content: &content,
            name: &name,
        };
        let f = judge(&ev, &rules(), Classification::Unclassified).unwrap();
        assert_eq!(
            f.matches,
            vec![RuleMatch {
                rule: "a".into(),
                count: 1,
                first_offset: None
            }]
        );
        assert_eq!(f.detail.as_ref().unwrap()["matched_in"], "name");
    }

    #[test]
    fn clean_file_has_no_finding() {
        let (c, n) = (hits(0, 0), hits(0, 0));
        let ev = Evidence {
            path: Path::new("/h/a.txt"),
            data: b"x",
            format: "text",
            marking: None,
            content: &c,
            name: &n,
        };
        assert!(judge(&ev, &rules(), Classification::Unclassified).is_none());
    }
}
