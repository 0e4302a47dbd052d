//! Report payload types (CONTRACT §4), serialised with serde into the exact
//! JSON field names of the contract. `schema/report.schema.json` describes
//! the same document; tests validate real output against it.
//!
//! Optional fields are omitted when absent rather than written as `null`
//! (except `prev`, which the contract writes as `null` for the first report).

use crate::category::Category;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Value of the `schema` field of every report.
pub const SCHEMA: &str = "mijian.report/1";

/// The report payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub report_id: String,
    pub agent_id: String,
    pub seq: u64,
    pub prev: Option<String>,
    pub created_at: String,
    pub trigger: Trigger,
    pub host: HostInfo,
    pub policy: PolicyRef,
    #[serde(default)]
    pub checks: Vec<Check>,
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Addition: what the agent could not do during this inspection (a file it
    /// could not read as an ordinary user, a probe skipped under `--root`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Addition (issue 18): what the content scan covered. Absent when no
    /// content scan ran (`check --no-content`, a media event without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
}

/// What a content scan read and what it could not: an inspector must know
/// what was not seen as well as what was found. Counts of files, not of
/// findings; a file can count in `files` and in `unscannable` at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Regular files the scan looked at (read now or answered by the cache).
    pub files: u64,
    /// Of those, answered by the scan cache (unchanged since the last scan).
    pub cached: u64,
    /// Files and archive members whose content was analysed.
    pub analysed: u64,
    /// Files whose content is binary (not a document): only the name was scanned.
    pub binary: u64,
    /// Paths skipped by the `content.exclude` patterns (a skipped directory counts once).
    pub excluded: u64,
    /// Files or directories that could not be read (`permission`, `io`).
    pub unreadable: u64,
    /// Files deleted or replaced while the scan ran (`vanished`, severity info).
    pub vanished: u64,
    /// Files read but not understood (`encrypted`, `corrupt`, `limit`, `timeout`, ...).
    pub unscannable: u64,
    /// Bytes of the files looked at.
    pub bytes: u64,
    /// Wall time of the scan, in milliseconds.
    pub duration_ms: u64,
}

impl Report {
    /// A new, empty report with a fresh `report_id` and the current time.
    pub fn new(agent_id: &str, seq: u64, prev: Option<String>, trigger: Trigger) -> Self {
        Report {
            schema: SCHEMA.to_string(),
            report_id: uuid::Uuid::new_v4().to_string(),
            agent_id: agent_id.to_string(),
            seq,
            prev,
            created_at: now_rfc3339(),
            trigger,
            host: HostInfo::default(),
            policy: PolicyRef::default(),
            checks: Vec::new(),
            findings: Vec::new(),
            notes: Vec::new(),
            coverage: None,
        }
    }

    /// The payload bytes: serialised once, signed, hashed for the chain.
    pub fn to_payload(&self) -> Vec<u8> {
        // Serialising plain data types into a Vec cannot fail.
        serde_json::to_vec(self).expect("report serialises")
    }

    /// Parse payload bytes back into a report.
    pub fn from_payload(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Whether the inspection found the host compliant: no failed check, no
    /// finding above `info`. Checks in `error` make the host non-compliant
    /// too: an inspector cannot call a host compliant on a check that could
    /// not be made.
    pub fn compliant(&self) -> bool {
        compliant(
            self.checks.iter().map(|c| c.status),
            self.findings.iter().map(|f| f.severity),
        )
    }
}

/// The compliance rule of [`Report::compliant`], over check statuses and
/// finding severities, for readers that do not hold a whole [`Report`]
/// (the collector reads a borrowed view).
pub fn compliant(
    checks: impl IntoIterator<Item = CheckStatus>,
    findings: impl IntoIterator<Item = Severity>,
) -> bool {
    checks
        .into_iter()
        .all(|s| matches!(s, CheckStatus::Pass | CheckStatus::NotApplicable))
        && findings.into_iter().all(|s| s <= Severity::Info)
}

/// The current UTC time as RFC 3339 with seconds precision.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// Why the report was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Boot,
    Schedule,
    Manual,
    Media,
    FileChange,
    /// Addition: a small liveness report from the daemon.
    Heartbeat,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Boot => "boot",
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::Media => "media",
            Trigger::FileChange => "file_change",
            Trigger::Heartbeat => "heartbeat",
        }
    }
}

/// `host` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub hostname: String,
    pub os: String,
    pub classification: String,
    /// Addition: the agent's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// Addition: set when the report inspected a tree given with `--root`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

/// `policy` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyRef {
    pub digest: String,
    /// Addition: where the rules were loaded from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Result of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Fail,
    Error,
    NotApplicable,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "fail",
            CheckStatus::Error => "error",
            CheckStatus::NotApplicable => "not_applicable",
        }
    }
}

/// One entry of `checks`. Exactly one per `(id, subject)` in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub id: String,
    pub subject: String,
    pub status: CheckStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<Value>,
    /// Which file and line decided it, and what else the inspector should know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Value>,
    /// Addition: for a failure or error, one sentence on how to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    /// The inspection category (`shared/spec/inspection-checks.md`); set by
    /// [`Check::new`] from the id. Reports from older agents may lack it:
    /// read it through [`Check::category`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
}

impl Check {
    pub fn new(id: impl Into<String>, subject: impl Into<String>, status: CheckStatus) -> Self {
        Check {
            id: id.into(),
            subject: subject.into(),
            status,
            expected: None,
            actual: None,
            evidence: None,
            remedy: None,
            category: None,
        }
        .with_category()
    }

    fn with_category(mut self) -> Self {
        self.category = Some(Category::for_check(&self.id));
        self
    }

    /// The check's category: as carried, else derived from its id.
    pub fn category(&self) -> Category {
        self.category
            .unwrap_or_else(|| Category::for_check(&self.id))
    }
    pub fn expected(mut self, v: impl Into<Value>) -> Self {
        self.expected = Some(v.into());
        self
    }
    pub fn actual(mut self, v: impl Into<Value>) -> Self {
        self.actual = Some(v.into());
        self
    }
    pub fn evidence(mut self, v: impl Into<Value>) -> Self {
        self.evidence = Some(v.into());
        self
    }
    pub fn remedy(mut self, s: impl Into<String>) -> Self {
        self.remedy = Some(s.into());
        self
    }
}

/// Severity of a finding (and of a keyword rule). Ordered: info < ... < critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kind of a finding. Known kinds are variants; an unknown kind from a newer
/// agent is kept verbatim so a collector never loses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum FindingKind {
    /// Keyword hits and no classification marking at the head.
    UnmarkedClassified,
    /// A document carrying a classification marking.
    MarkedClassified,
    /// Content that could not be read; `reason` says why.
    Unscannable,
    /// A removable medium mounted (or, with `event = "unmount"`, removed).
    RemovableMedia,
    /// Addition: an earlier USB storage insertion recorded by the kernel/journal.
    UsbHistory,
    /// Addition: an agent-side alarm (outbox full, policy reload failed, ...).
    AgentAlarm,
    /// Addition: an enforcement action taken by the agent (remount ro, unmount).
    EnforcementAction,
    Other(String),
}

impl FindingKind {
    pub fn as_str(&self) -> &str {
        match self {
            FindingKind::UnmarkedClassified => "unmarked_classified",
            FindingKind::MarkedClassified => "marked_classified",
            FindingKind::Unscannable => "unscannable",
            FindingKind::RemovableMedia => "removable_media",
            FindingKind::UsbHistory => "usb_history",
            FindingKind::AgentAlarm => "agent_alarm",
            FindingKind::EnforcementAction => "enforcement_action",
            FindingKind::Other(s) => s,
        }
    }
}

impl From<String> for FindingKind {
    fn from(s: String) -> Self {
        match s.as_str() {
            "unmarked_classified" => FindingKind::UnmarkedClassified,
            "marked_classified" => FindingKind::MarkedClassified,
            "unscannable" => FindingKind::Unscannable,
            "removable_media" => FindingKind::RemovableMedia,
            "usb_history" => FindingKind::UsbHistory,
            "agent_alarm" => FindingKind::AgentAlarm,
            "enforcement_action" => FindingKind::EnforcementAction,
            _ => FindingKind::Other(s),
        }
    }
}

impl From<FindingKind> for String {
    fn from(k: FindingKind) -> String {
        k.as_str().to_string()
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A keyword rule and how often it matched. Never the matched text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMatch {
    pub rule: String,
    pub count: u64,
    /// Addition: where the first match starts, as a character offset into the
    /// normalised text (or `"name"` when it matched the file name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_offset: Option<u64>,
}

/// `marking` of a `marked_classified` finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marking {
    /// Normalised level word: 绝密, 机密, 秘密 (or 内部 where the rules allow it).
    pub level: String,
    /// The period as written after normalisation (`5年`, `6个月`, `长期`), or null.
    pub period: Option<String>,
    /// Addition: where the marking was found: `head` (a line at the head) or
    /// `metadata` (a 密级 document property).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One entry of `findings`. A flat record: each kind fills the fields the
/// contract names for it and leaves the rest out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    /// Content findings: the file (`ARCHIVE!/member` inside archives), with
    /// `\xNN` escapes for bytes that are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The raw path bytes, base64 (standard, padded), when `path` had to escape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_b64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<RuleMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marking: Option<Marking>,
    /// `unscannable`: why (encrypted, corrupt, truncated, limit, permission, timeout ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `removable_media`: the block device (or mount source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_point: Option<String>,
    /// Addition: human-readable one-liner (never secret text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Addition: kind-specific structured detail (medium identity, event, action ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
    /// Addition (issue 18): under `check --root DIR`, where the inspecting
    /// machine read the file (`DIR/home/a/x.doc`); `path` is then the path on
    /// the inspected system (`/home/a/x.doc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_path: Option<String>,
}

impl Finding {
    pub fn new(kind: FindingKind, severity: Severity) -> Self {
        Finding {
            kind,
            severity,
            path: None,
            path_b64: None,
            sha256: None,
            format: None,
            matches: Vec::new(),
            marking: None,
            reason: None,
            device: None,
            registered: None,
            medium_id: None,
            mount_point: None,
            message: None,
            detail: None,
            scan_path: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_kind_round_trips_unknown_values() {
        let f: FindingKind = serde_json::from_str("\"printer_queue\"").unwrap();
        assert_eq!(f, FindingKind::Other("printer_queue".into()));
        assert_eq!(serde_json::to_string(&f).unwrap(), "\"printer_queue\"");
        let k: FindingKind = serde_json::from_str("\"marked_classified\"").unwrap();
        assert_eq!(k, FindingKind::MarkedClassified);
    }

    #[test]
    fn first_report_writes_prev_as_null() {
        let r = Report::new("kid", 1, None, Trigger::Boot);
        let v: Value = serde_json::from_slice(&r.to_payload()).unwrap();
        assert!(v.get("prev").unwrap().is_null());
        assert_eq!(v["trigger"], "boot");
        assert_eq!(v["schema"], SCHEMA);
    }

    #[test]
    fn compliance_follows_checks_and_findings() {
        let mut r = Report::new("kid", 1, None, Trigger::Manual);
        assert!(r.compliant());
        r.checks
            .push(Check::new("x", "host", CheckStatus::NotApplicable));
        assert!(r.compliant());
        r.findings
            .push(Finding::new(FindingKind::MarkedClassified, Severity::Info));
        assert!(r.compliant());
        r.findings
            .push(Finding::new(FindingKind::Unscannable, Severity::Low));
        assert!(!r.compliant());
        r.findings.clear();
        r.checks.push(Check::new("y", "host", CheckStatus::Error));
        assert!(!r.compliant());
    }
}
