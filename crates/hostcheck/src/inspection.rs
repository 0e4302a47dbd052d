//! The inspection checks beyond passwords and screen lock
//! (`spec/inspection-checks.md`): internet traces (违规外联), usage traces
//! (痕迹), radios, software, services and audit. [`inspection_checks`] runs
//! them all over a [`Root`] and gives exactly one result per (check,
//! subject); a check that does not apply at the host's classification is
//! still reported, once per subject, as `not_applicable`.
//!
//! Like the rest of this crate it only reads files under the root; the few
//! live probes (running processes, `/proc/net/route`) run only when the root
//! is the live `/`.

use crate::accounts::{Account, Accounts};
use crate::root::Root;
use crate::{audit, hardware, internet_trace, services, software, trace};
use mijian_policy::{Classification, NetworkRules, Policy, SoftwareRules};
use mijian_report::{Check, CheckStatus};
use serde_json::{Value, json};

/// What the inspection checks need besides the root.
#[derive(Debug, Clone)]
pub struct InspectionConfig {
    /// `[host] classification` of the agent config.
    pub level: Classification,
    pub network: NetworkRules,
    pub software: SoftwareRules,
    /// `baseline.toml` `[antivirus] max_signature_age_days`.
    pub max_signature_age_days: u32,
    /// `[media] roots` of the agent config, as host paths.
    pub media_roots: Vec<String>,
    /// "Now" in seconds since 1970 (`MIJIAN_NOW` or the clock), or why
    /// `MIJIAN_NOW` could not be used.
    pub now: Result<i64, String>,
}

impl InspectionConfig {
    /// From the policy, the host level and the media roots; "now" from
    /// `MIJIAN_NOW` (RFC 3339) or the clock.
    pub fn new(policy: &Policy, level: Classification, media_roots: Vec<String>) -> Self {
        InspectionConfig {
            level,
            network: policy.network.clone(),
            software: policy.software.clone(),
            max_signature_age_days: policy.baseline.antivirus.max_signature_age_days,
            media_roots,
            now: now_from_env(),
        }
    }
}

/// `MIJIAN_NOW` (RFC 3339) when set, else the clock.
pub fn now_from_env() -> Result<i64, String> {
    match std::env::var("MIJIAN_NOW") {
        Ok(v) if !v.trim().is_empty() => {
            time::OffsetDateTime::parse(v.trim(), &time::format_description::well_known::Rfc3339)
                .map(|t| t.unix_timestamp())
                .map_err(|e| format!("MIJIAN_NOW=`{v}` is not an RFC 3339 time ({e})"))
        }
        _ => Ok(time::OffsetDateTime::now_utc().unix_timestamp()),
    }
}

/// Every inspection check of the spec, in the spec's table order.
pub fn inspection_checks(root: &Root, cfg: &InspectionConfig) -> Vec<Check> {
    let acc = Accounts::load(root);
    let users: Vec<Account> = acc.interactive().into_iter().cloned().collect();
    let live = crate::live::Live::probe(root);
    let mut out = Vec::new();

    let user_subjects: Vec<String> = users.iter().map(Account::subject).collect();
    let mut trace_subjects = vec!["host".to_string()];
    trace_subjects.extend(user_subjects.iter().cloned());
    if applies(cfg.level, Classification::Secret) {
        out.extend(internet_trace::checks(root, &users, cfg));
    } else {
        out.extend(not_applicable(
            "network.internet_trace",
            &trace_subjects,
            cfg.level,
            Classification::Secret,
        ));
    }
    if applies(cfg.level, Classification::Secret) {
        out.extend(hardware::checks(root));
    } else {
        for id in ["hardware.wireless", "hardware.bluetooth"] {
            out.extend(not_applicable(
                id,
                &["host".to_string()],
                cfg.level,
                Classification::Secret,
            ));
        }
    }
    out.extend(trace::checks(root, &users, &acc, cfg));
    let sw = software::Installed::load(root, &users);
    if applies(cfg.level, Classification::Internal) {
        out.push(software::prohibited(root, &users, cfg, &sw, &live));
    } else {
        out.extend(not_applicable(
            "software.prohibited",
            &["host".to_string()],
            cfg.level,
            Classification::Internal,
        ));
    }
    out.push(software::antivirus(root, cfg, &sw, &live));
    for (id, f) in [
        (
            "services.remote_access",
            services::remote_access as fn(&Root) -> Check,
        ),
        ("services.shares", services::shares),
    ] {
        if applies(cfg.level, Classification::Secret) {
            out.push(f(root));
        } else {
            out.extend(not_applicable(
                id,
                &["host".to_string()],
                cfg.level,
                Classification::Secret,
            ));
        }
    }
    if applies(cfg.level, Classification::Secret) {
        out.push(audit::check(root, &live));
    } else {
        out.extend(not_applicable(
            "audit.enabled",
            &["host".to_string()],
            cfg.level,
            Classification::Secret,
        ));
    }
    out
}

fn applies(level: Classification, min: Classification) -> bool {
    level >= min
}

/// One `not_applicable` result per subject, with the spec's reason.
fn not_applicable(
    id: &str,
    subjects: &[String],
    level: Classification,
    min: Classification,
) -> Vec<Check> {
    subjects
        .iter()
        .map(|s| {
            Check::new(id, s.clone(), CheckStatus::NotApplicable)
                .evidence(json!([{"reason": format!("classification {level} < {min}")}]))
        })
        .collect()
}

/// The result of one subject from findings and unreadable sources, by the
/// spec's precedence: `fail` if any finding, else `error` if anything needed
/// could not be read, else `pass`. Evidence lists findings, then errors,
/// then notes (what was skipped or only informative).
pub(crate) struct Outcome {
    pub findings: Vec<Value>,
    pub errors: Vec<Value>,
    pub notes: Vec<Value>,
}

impl Outcome {
    pub fn new() -> Outcome {
        Outcome {
            findings: Vec::new(),
            errors: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn check(self, id: &str, subject: &str, remedy: &str) -> Check {
        let status = if !self.findings.is_empty() {
            CheckStatus::Fail
        } else if !self.errors.is_empty() {
            CheckStatus::Error
        } else {
            CheckStatus::Pass
        };
        let actual = match status {
            CheckStatus::Fail => Some(summary(&self.findings)),
            CheckStatus::Error => Some(summary(&self.errors)),
            _ => None,
        };
        let mut ev = self.findings;
        ev.extend(self.errors);
        ev.extend(self.notes);
        let c = Check::new(id, subject, status).evidence(Value::Array(ev));
        match actual {
            Some(a) => c.actual(a).remedy(remedy),
            None => c,
        }
    }
}

/// A one-line `actual` for the table (never cut): the first item's key values and how
/// many more there are (the evidence holds them all).
pub(crate) fn summary(items: &[Value]) -> String {
    const KEYS: [&str; 18] = [
        "host",
        "browser",
        "type",
        "ssid",
        "address",
        "gateway",
        "interface",
        "adapter",
        "path",
        "name",
        "what",
        "unit",
        "share",
        "export",
        "setting",
        "product",
        "db",
        "reason",
    ];
    let Some(first) = items.first() else {
        return String::new();
    };
    let mut parts: Vec<String> = Vec::new();
    for k in KEYS {
        if let Some(v) = first.get(k).filter(|v| !v.is_null()) {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            if !parts.contains(&v) {
                parts.push(v);
            }
        }
        if parts.len() == 2 {
            break;
        }
    }
    // Whole values: the table wraps long cells, and a report is evidence
    // (a path cut at 60 characters is no use to an inspector).
    let mut s = parts.join(" ");
    if items.len() > 1 {
        s.push_str(&format!(" (+{} more)", items.len() - 1));
    }
    s
}

/// Seconds since 1970 as RFC 3339 UTC; `None` when out of range.
pub(crate) fn rfc3339(secs: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
}

/// Join a host directory and a name.
pub(crate) fn join(dir: &str, name: &str) -> String {
    format!("{}/{}", dir.trim_end_matches('/'), name)
}
