//! Payload validation (CONTRACT §4; `schema/report.schema.json` describes the
//! same document). Hand-written rather than a JSON Schema engine on the hot
//! path: a compiled schema walk of a 30 KB report costs more than the
//! signature check, and the collector must take 2,000 reports/s on two
//! cores. A test checks that this and the JSON Schema agree on examples.
//!
//! One pass reads a borrowed view of the report ([`Wire`]): the fields the
//! collector checks or stores, with check values skipped rather than built
//! and checks and findings kept as the raw JSON text the agent sent; the
//! checks and each finding are then read into their typed forms from that
//! text. The enums (trigger, status, severity, kind) are `mijian-report`'s.
//!
//! Bounds: skipped values are not depth-limited by serde_json, so the
//! payload's nesting is checked by hand ([`MAX_DEPTH`]); deeply nested JSON
//! is an error, never a stack overflow and never stored.

use mijian_report::{
    CheckStatus, DeclaredGap, Finding, FindingKind, HostInfo, PolicyRef, SCHEMA, Scope, Trigger,
};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Longest string accepted for identifiers (ids, hostnames, kinds).
const MAX_ID: usize = 4096;

/// Classification levels of `host.classification`.
const LEVELS: [&str; 5] = ["非涉密", "内部", "秘密", "机密", "绝密"];

/// A report as the collector reads it: the fields it checks or stores,
/// borrowed from the payload where they need no unescaping. Check values
/// (`expected`, `actual`, `evidence`) are opaque to the collector and only
/// skipped over; checks and findings are kept as the raw JSON the agent sent.
#[derive(Debug, serde::Deserialize)]
pub struct Wire<'a> {
    #[serde(borrow)]
    pub schema: Cow<'a, str>,
    #[serde(borrow)]
    pub report_id: Cow<'a, str>,
    #[serde(borrow)]
    pub agent_id: Cow<'a, str>,
    pub seq: u64,
    /// Required, may be null (a newtype, so serde does not default it).
    #[serde(borrow)]
    pub prev: Prev<'a>,
    #[serde(borrow)]
    pub created_at: Cow<'a, str>,
    pub trigger: Trigger,
    pub host: HostInfo,
    pub policy: PolicyRef,
    /// The `checks` array as sent.
    #[serde(borrow, rename = "checks")]
    pub checks_raw: &'a RawValue,
    /// Each finding object as sent.
    #[serde(borrow, rename = "findings")]
    pub findings_raw: Vec<&'a RawValue>,
    /// Addition: what the report covered (absent: implied by the trigger).
    #[serde(default)]
    pub scope: Option<Scope>,
    /// Addition: seq ranges the agent declared spent without a report.
    #[serde(default)]
    pub declared_gaps: Vec<DeclaredGap>,
    /// Addition: present when findings were left out to bound the report
    /// (counted by kind and rule, not carried one by one).
    #[serde(default)]
    pub truncated: Option<serde::de::IgnoredAny>,
}

/// Most `declared_gaps` entries one report may carry.
const MAX_DECLARED_GAPS: usize = 1000;
/// Most `scope.paths` one report may carry.
const MAX_SCOPE_PATHS: usize = 100_000;

/// `prev`: required, a string or null.
#[derive(Debug, serde::Deserialize)]
pub struct Prev<'a>(#[serde(borrow)] pub Option<Cow<'a, str>>);

/// What the collector reads of one check.
#[derive(Debug, serde::Deserialize)]
pub struct WireCheck<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow)]
    pub subject: Cow<'a, str>,
    pub status: CheckStatus,
    #[serde(borrow, default)]
    #[allow(dead_code)]
    remedy: Option<Cow<'a, str>>,
}

/// A valid report.
#[derive(Debug)]
pub struct Valid<'a> {
    pub wire: Wire<'a>,
    pub checks: Vec<WireCheck<'a>>,
    /// Each check object as sent (parallel to `checks`).
    pub checks_raw: Vec<&'a RawValue>,
    pub findings: Vec<Finding>,
}

impl Valid<'_> {
    /// The report's scope: as carried, else the one its trigger implies.
    pub fn scope(&self) -> Scope {
        let mut scope = self.wire.scope.clone().unwrap_or_else(|| {
            Scope::by_trigger(
                self.wire.trigger,
                self.checks.iter().map(|c| c.id.to_string()),
            )
        });
        // A shortened report does not carry every finding it found: one
        // absent from it may be among those only counted, so it resolves
        // no file or media finding (its checks still count).
        if self.wire.truncated.is_some() {
            scope.content = mijian_report::ContentScope::None;
            scope.paths.clear();
            scope.media = false;
        }
        scope
    }

    /// The rule of [`mijian_report::Report::compliant`].
    pub fn compliant(&self) -> bool {
        mijian_report::compliant(
            self.checks.iter().map(|c| c.status),
            // Excepted findings (issue 13) are shown, not counted.
            self.findings
                .iter()
                .filter(|f| f.excepted.is_none())
                .map(|f| f.severity),
        )
    }

    /// Checks that failed or could not be made.
    pub fn failed_checks(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| matches!(c.status, CheckStatus::Fail | CheckStatus::Error))
            .count()
    }
}

/// Deepest nesting accepted in opaque values (serde_json's own limit for
/// typed values): skipped values are not bounded by serde_json, so this is
/// checked by hand — deeply nested JSON is an error, never stored.
const MAX_DEPTH: usize = 128;

fn depth_ok(json: &[u8]) -> bool {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for &b in json {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

fn hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Parse and validate payload bytes; the error says what is wrong.
pub fn payload(bytes: &[u8]) -> Result<Valid<'_>, String> {
    let r: Wire = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    // Valid JSON by now, so the byte scan cannot be misled by broken strings.
    if !depth_ok(bytes) {
        return Err(format!(
            "the report nests deeper than {MAX_DEPTH} levels (recursion limit)"
        ));
    }
    let checks_raw: Vec<&RawValue> =
        serde_json::from_str(r.checks_raw.get()).map_err(|e| format!("checks: {e}"))?;
    let checks = checks_raw
        .iter()
        .enumerate()
        .map(|(i, c)| {
            serde_json::from_str::<WireCheck>(c.get()).map_err(|e| format!("checks[{i}]: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let findings = r
        .findings_raw
        .iter()
        .enumerate()
        .map(|(i, f)| {
            serde_json::from_str::<Finding>(f.get()).map_err(|e| format!("findings[{i}]: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if r.schema != SCHEMA {
        return Err(format!("schema is `{}`, expected `{SCHEMA}`", r.schema));
    }
    let uuid_ok = r.report_id.len() == 36
        && r.report_id.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                matches!(b, b'0'..=b'9' | b'a'..=b'f')
            }
        });
    if !uuid_ok {
        return Err(format!(
            "report_id `{}` is not a lowercase UUID",
            r.report_id
        ));
    }
    if r.agent_id.len() != 43
        || !r
            .agent_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err("agent_id is not a JWK thumbprint (43 base64url characters)".into());
    }
    if r.seq < 1 || r.seq > i64::MAX as u64 {
        return Err("seq must be at least 1 (and fit in 63 bits)".into());
    }
    if let Some(prev) = &r.prev.0
        && !hex64(prev)
    {
        return Err("prev is not a lowercase hex SHA-256".into());
    }
    if time::OffsetDateTime::parse(
        &r.created_at,
        &time::format_description::well_known::Rfc3339,
    )
    .is_err()
    {
        return Err(format!("created_at `{}` is not RFC 3339", r.created_at));
    }
    if r.host.hostname.len() > MAX_ID || r.host.os.len() > MAX_ID {
        return Err("a host field is too long".into());
    }
    if !LEVELS.contains(&r.host.classification.as_str()) {
        return Err(format!(
            "host.classification `{}` is not one of {}",
            r.host.classification,
            LEVELS.join(", ")
        ));
    }
    if !hex64(&r.policy.digest) {
        return Err("policy.digest is not a lowercase hex SHA-256".into());
    }
    for (i, c) in checks.iter().enumerate() {
        if c.id.is_empty() || c.id.len() > MAX_ID {
            return Err(format!("checks[{i}].id is empty or too long"));
        }
        let user_ok = c
            .subject
            .strip_prefix("user:")
            .is_some_and(|u| !u.is_empty());
        if c.subject != "host" && !user_ok || c.subject.len() > MAX_ID {
            return Err(format!("checks[{i}].subject must be `host` or `user:NAME`"));
        }
    }
    for (i, f) in findings.iter().enumerate() {
        if f.kind.as_str().is_empty() || f.kind.as_str().len() > MAX_ID {
            return Err(format!("findings[{i}].kind is empty or too long"));
        }
        let need = |what: &str, present: bool| {
            if present {
                Ok(())
            } else {
                Err(format!("findings[{i}] ({}) has no `{what}`", f.kind))
            }
        };
        match f.kind {
            FindingKind::UnmarkedClassified => need("path", f.path.is_some())?,
            FindingKind::MarkedClassified => {
                need("path", f.path.is_some())?;
                need("marking", f.marking.is_some())?;
            }
            FindingKind::Unscannable => {
                need("path", f.path.is_some())?;
                need("reason", f.reason.is_some())?;
            }
            FindingKind::RemovableMedia => {
                need("device", f.device.is_some())?;
                need("registered", f.registered.is_some())?;
                need("mount_point", f.mount_point.is_some())?;
            }
            _ => {}
        }
        if f.sha256.as_deref().is_some_and(|h| !hex64(h)) {
            return Err(format!(
                "findings[{i}].sha256 is not a lowercase hex SHA-256"
            ));
        }
        if f.matches.iter().any(|m| m.count < 1) {
            return Err(format!("findings[{i}].matches has a count below 1"));
        }
    }
    if r.declared_gaps.len() > MAX_DECLARED_GAPS {
        return Err(format!(
            "declared_gaps has more than {MAX_DECLARED_GAPS} entries"
        ));
    }
    for (i, g) in r.declared_gaps.iter().enumerate() {
        if g.from < 1 || g.from > g.to || g.to >= r.seq || g.reason.len() > 64 {
            return Err(format!(
                "declared_gaps[{i}] must satisfy 1 <= from <= to < seq, reason at most 64 bytes"
            ));
        }
    }
    if let Some(sc) = &r.scope {
        if sc.paths.len() > MAX_SCOPE_PATHS {
            return Err(format!(
                "scope.paths has more than {MAX_SCOPE_PATHS} entries"
            ));
        }
        if sc.paths.iter().any(|p| p.is_empty() || p.len() > MAX_ID) {
            return Err("scope.paths has an empty or too long path".into());
        }
    }
    Ok(Valid {
        wire: r,
        checks,
        checks_raw,
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mijian_report::{Check, Report, Severity};

    pub(crate) fn sample() -> Report {
        let kid = mijian_report::AgentKey::generate().kid();
        let mut r = Report::new(&kid, 1, None, Trigger::Schedule);
        r.host.hostname = "ws".into();
        r.host.classification = "内部".into();
        r.policy.digest = mijian_report::sha256_hex(b"rules");
        r.checks
            .push(Check::new("password.min_length", "host", CheckStatus::Pass));
        let mut f = Finding::new(FindingKind::UnmarkedClassified, Severity::High);
        f.path = Some("/home/a.docx".into());
        r.findings.push(f);
        r
    }

    #[test]
    fn accepts_a_report() {
        assert!(payload(&sample().to_payload()).is_ok());
    }

    /// Broken variants of the sample, each with a word its error must contain.
    fn broken() -> Vec<(serde_json::Value, &'static str)> {
        let base = serde_json::to_value(sample()).unwrap();
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut m = base.clone();
            f(&mut m);
            m
        };
        let drop = |m: &mut serde_json::Value, path: &[&str], key: &str| {
            let mut t = m;
            for p in path {
                t = if let Ok(i) = p.parse::<usize>() {
                    &mut t[i]
                } else {
                    &mut t[*p]
                };
            }
            t.as_object_mut().unwrap().remove(key);
        };
        vec![
            (edit(&|m| m["schema"] = "x".into()), "schema"),
            (edit(&|m| m["report_id"] = "nope".into()), "UUID"),
            (edit(&|m| m["agent_id"] = "short".into()), "thumbprint"),
            (edit(&|m| m["seq"] = 0.into()), "seq"),
            (edit(&|m| m["prev"] = "ABC".into()), "prev"),
            (edit(&|m| drop(m, &[], "prev")), "prev"),
            (edit(&|m| m["created_at"] = "yesterday".into()), "RFC 3339"),
            (
                edit(&|m| m["trigger"] = "whenever".into()),
                "unknown variant",
            ),
            (
                edit(&|m| m["host"]["classification"] = "top".into()),
                "classification",
            ),
            (edit(&|m| m["policy"]["digest"] = "x".into()), "digest"),
            (edit(&|m| drop(m, &["checks", "0"], "status")), "status"),
            (
                edit(&|m| m["checks"][0]["subject"] = "root".into()),
                "subject",
            ),
            (edit(&|m| drop(m, &[], "checks")), "checks"),
            (edit(&|m| drop(m, &["findings", "0"], "path")), "path"),
            (
                edit(&|m| m["findings"][0]["severity"] = "dire".into()),
                "unknown variant",
            ),
            (
                edit(&|m| m["findings"][0]["kind"] = "unscannable".into()),
                "reason",
            ),
            (
                edit(&|m| m["findings"][0]["kind"] = "removable_media".into()),
                "device",
            ),
            (edit(&|m| drop(m, &[], "host")), "host"),
            (serde_json::json!({"hello": "world"}), "missing field"),
            (serde_json::json!([1, 2]), "invalid type"),
        ]
    }

    #[test]
    fn refuses_with_a_reason() {
        for (doc, want) in broken() {
            let err = payload(&serde_json::to_vec(&doc).unwrap()).unwrap_err();
            assert!(err.contains(want), "{err} should mention {want}");
        }
    }

    /// The hand validation and schema/report.schema.json agree on every example.
    #[test]
    fn agrees_with_the_json_schema() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/report.schema.json")).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let mut examples: Vec<serde_json::Value> = broken().into_iter().map(|c| c.0).collect();
        examples.push(serde_json::to_value(sample()).unwrap());
        let mut full = sample();
        full.findings.push({
            let mut f = Finding::new(FindingKind::RemovableMedia, Severity::Medium);
            f.device = Some("/dev/sdb1".into());
            f.registered = Some(false);
            f.mount_point = Some("/media/u".into());
            f
        });
        full.checks.push(Check::new(
            "screen_lock.enabled",
            "user:张三",
            CheckStatus::NotApplicable,
        ));
        full.seq = 5;
        full.scope = Some(Scope::paths(["/home/a".to_string()]));
        full.declared_gaps = vec![DeclaredGap {
            from: 3,
            to: 4,
            reason: "crash".into(),
        }];
        examples.push(serde_json::to_value(&full).unwrap());
        let mut bad_scope = serde_json::to_value(&full).unwrap();
        bad_scope["scope"]["content"] = "some".into();
        examples.push(bad_scope);
        for doc in examples {
            let bytes = serde_json::to_vec(&doc).unwrap();
            let ours = payload(&bytes);
            assert_eq!(validator.is_valid(&doc), ours.is_ok(), "{doc} -> {ours:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut r = serde_json::to_string(&sample()).unwrap();
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        r = r.replacen(
            "\"status\":\"pass\"",
            &format!("\"status\":\"pass\",\"evidence\":{deep}"),
            1,
        );
        let err = payload(r.as_bytes()).unwrap_err();
        assert!(err.contains("recursion"), "{err}");
        // Also in a member the collector does not read, and inside strings
        // brackets do not count.
        let mut r = serde_json::to_string(&sample()).unwrap();
        let nest = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        r = r.replacen("\"kind\":", &format!("\"x\":{},\"kind\":", nest(129)), 1);
        assert!(payload(r.as_bytes()).unwrap_err().contains("recursion"));
        let mut r = serde_json::to_string(&sample()).unwrap();
        let s = format!("\"{}\\\"{}\"", "[".repeat(500), "{".repeat(500));
        r = r.replacen(
            "\"kind\":",
            &format!("\"x\":{{\"s\":{s},\"n\":{}}},\"kind\":", nest(120)),
            1,
        );
        let ok = payload(r.as_bytes());
        assert!(ok.is_ok(), "{ok:?}");
    }
}
