//! What the staff console needs beyond ingest's current state: sessions,
//! lockout, the append-only audit log, triage of findings (acknowledge,
//! resolve, exceptions that expire), the media register, alerts and their
//! forwarding state, the compliance trend, and keyset-paged lists of hosts
//! and findings that stay fast at fleet scale (indexes in
//! `migrations/*/000[34]_console.sql`).
//!
//! A separate trait ([`Console`], reached through [`crate::Store::console`])
//! so the ingest path and its trait stay as they are. Like the rest of the
//! store it knows nothing of JSON: the collector interprets bodies and checks.

use crate::{Agent, FindingRow, HostSummary, Result, Role};
use serde::Serialize;

/// How many cause bits `host_causes.causes` holds (the collector names them).
pub const CAUSE_BITS: usize = 8;

/// How many reporting hosts ran one policy (by their newest report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyCount {
    /// The signed bundle's version; None: local rules (no bundle applied).
    pub version: Option<i64>,
    pub digest: Option<String>,
    pub hosts: i64,
}

/// A host and the policy its newest report ran.
#[derive(Debug, Clone, Serialize)]
pub struct HostPolicy {
    pub agent_id: String,
    pub hostname: Option<String>,
    pub last_seen: Option<i64>,
    pub policy_version: Option<i64>,
    pub policy_digest: Option<String>,
}

/// A staff account as an admin sees it (never the hash).
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    pub name: String,
    pub role: Role,
    pub created_at: i64,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
}

/// Lockout state of an account, read before any password is checked.
#[derive(Debug, Clone)]
pub struct LoginState {
    pub role: Role,
    pub password_hash: String,
    pub locked_until: Option<i64>,
}

/// A console session (the cookie is stored only as its SHA-256).
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub user_name: String,
    pub role: Role,
    pub csrf: String,
    pub created_at: i64,
    pub last_active: i64,
}

/// One audit record. `outcome` is `ok`, `denied` or `failed`.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub at: i64,
    pub actor: String,
    pub role: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub addr: Option<String>,
    pub outcome: String,
}

/// An audit record as stored, with its id.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// Sort keys of the host list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostSort {
    #[default]
    Hostname,
    LastSeen,
    OpenFindings,
    Classification,
}

/// A host list page: filters, sort, and the cursor (the sort key and
/// agent id of the last row of the previous page).
#[derive(Debug, Clone, Default)]
pub struct HostPageQuery {
    pub hostname: Option<String>,
    pub compliant: Option<bool>,
    pub classification: Option<String>,
    pub silent_since: Option<i64>,
    pub sort: HostSort,
    pub desc: bool,
    /// (sort key as text or number, agent_id) of the last row seen.
    pub after: Option<(CursorKey, String)>,
    pub limit: i64,
}

/// The sort-key half of a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorKey {
    Text(String),
    Int(i64),
}

/// Staff decision on a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriageState {
    Acknowledged,
    /// Resolved by staff: holds until a later report carries the finding again.
    Resolved,
    /// A waiver until `expires_at`; then the finding is open again.
    Exception,
    /// Back to untriaged.
    Reopened,
}

impl TriageState {
    pub fn as_str(self) -> &'static str {
        match self {
            TriageState::Acknowledged => "acknowledged",
            TriageState::Resolved => "resolved",
            TriageState::Exception => "exception",
            TriageState::Reopened => "reopened",
        }
    }
    pub fn parse(s: &str) -> Option<TriageState> {
        Some(match s {
            "acknowledged" => TriageState::Acknowledged,
            "resolved" => TriageState::Resolved,
            "exception" => TriageState::Exception,
            "reopened" => TriageState::Reopened,
            _ => return None,
        })
    }
}

/// A triage decision to record.
#[derive(Debug, Clone)]
pub struct Triage {
    pub state: TriageState,
    pub justification: Option<String>,
    pub expires_at: Option<i64>,
    pub actor: String,
    pub now: i64,
}

/// Which triage states a findings page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TriageFilter {
    /// Every finding.
    #[default]
    Any,
    /// Needs attention: not acknowledged, not resolved by staff, no exception in force.
    Pending,
    Acknowledged,
    Resolved,
    /// Exceptions in force.
    Exception,
}

/// A findings page: filters and the cursor (severity rank, agent id,
/// fingerprint of the last row seen; rows come most severe first).
#[derive(Debug, Clone, Default)]
pub struct FindingPageQuery {
    pub kind: Option<String>,
    pub severity_rank: Option<i64>,
    pub min_severity_rank: Option<i64>,
    pub agent_id: Option<String>,
    /// Host name substring.
    pub hostname: Option<String>,
    /// Substring of the finding body (a rule id, a path fragment).
    pub text: Option<String>,
    /// `open` or `resolved` (ingest's status); None for both.
    pub status: Option<String>,
    pub triage: TriageFilter,
    /// Only findings first seen at or after / before these times.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub after: Option<(i64, String, String)>,
    pub limit: i64,
}

/// A finding with its staff decision as it stands at `now`.
#[derive(Debug, Clone, Serialize)]
pub struct TriagedFinding {
    #[serde(flatten)]
    pub finding: FindingRow,
    pub severity_rank: i64,
    /// The decision in force: `acknowledged`, `resolved`, `exception` or None.
    pub triage: Option<String>,
    /// The recorded decision, even when no longer in force (an expired exception).
    pub triage_recorded: Option<String>,
    pub justification: Option<String>,
    pub expires_at: Option<i64>,
    pub triaged_by: Option<String>,
    pub triaged_at: Option<i64>,
}

/// Fleet counts for the overview.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FleetCounts {
    pub hosts: i64,
    pub reporting: i64,
    pub compliant: i64,
    pub noncompliant: i64,
    pub silent: i64,
    pub tampered: i64,
    pub revoked: i64,
    /// Non-compliant hosts per cause bit (index = bit), from `host_causes`.
    pub causes: Vec<i64>,
}

/// One day of the trend.
#[derive(Debug, Clone, Serialize)]
pub struct DayPoint {
    /// Unix day (seconds / 86400).
    pub day: i64,
    pub hosts: i64,
    pub compliant: i64,
    pub silent: i64,
}

/// A host whose cause bits are out of date, with what decides them.
#[derive(Debug, Clone)]
pub struct StaleHost {
    pub agent_id: String,
    pub seq: Option<i64>,
    pub classification: Option<String>,
    pub latest_checks: Option<String>,
    /// (kind, body) of its open findings (bounded).
    pub open: Vec<(String, String)>,
}

/// A media register entry (CONTRACT §3 `media.toml`).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Medium {
    #[serde(rename = "id")]
    pub medium_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A finding the alert task looks at, with its host's classification.
#[derive(Debug, Clone)]
pub struct AlertCandidate {
    pub finding: FindingRow,
    pub classification: Option<String>,
}

/// A new alert.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub at: i64,
    pub kind: String,
    pub agent_id: Option<String>,
    pub hostname: Option<String>,
    pub detail: String,
    /// Unique key: the same event never makes two alerts.
    pub dedup: String,
}

/// An alert as stored.
#[derive(Debug, Clone, Serialize)]
pub struct AlertRow {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub agent_id: Option<String>,
    pub hostname: Option<String>,
    pub detail: String,
    /// Bit 0: sent to syslog; bit 1: sent to the webhook.
    pub forwarded: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// One stored report of a host (history, without its bytes).
#[derive(Debug, Clone, Serialize)]
pub struct ReportInfo {
    pub seq: i64,
    pub report_id: String,
    pub created_at: String,
    pub received_at: i64,
    pub trigger: String,
    pub compliant: bool,
}

/// The console's queries. Every method is one transaction and blocks.
pub trait Console: Send + Sync {
    // ---- accounts and logins
    fn users(&self) -> Result<Vec<UserInfo>>;
    fn delete_user(&self, name: &str) -> Result<bool>;
    fn login_state(&self, name: &str) -> Result<Option<LoginState>>;
    /// Count a failed login; lock for `lock_secs` at `max_failures`. Returns
    /// the lock's end when this failure locked (or the account was locked).
    fn login_failed(
        &self,
        name: &str,
        now: i64,
        max_failures: i64,
        lock_secs: i64,
    ) -> Result<Option<i64>>;
    fn login_succeeded(&self, name: &str) -> Result<()>;
    fn create_session(&self, token_hash: &str, s: &Session, addr: Option<&str>) -> Result<()>;
    /// The session, touched; None (and deleted) when idle longer than `idle_secs`.
    fn session(&self, token_hash: &str, now: i64, idle_secs: i64) -> Result<Option<Session>>;
    fn delete_session(&self, token_hash: &str) -> Result<()>;
    fn delete_sessions_of(&self, user_name: &str) -> Result<()>;
    fn agents(&self, limit: i64) -> Result<Vec<Agent>>;

    // ---- audit log (append only)
    fn audit(&self, e: &AuditEntry) -> Result<()>;
    /// Newest first, ids below `before` when given.
    fn audit_log(
        &self,
        before: Option<i64>,
        actor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRow>>;

    // ---- lists
    /// A host's stored reports, newest seq first.
    fn host_reports(&self, agent_id: &str, limit: i64) -> Result<Vec<ReportInfo>>;
    fn host_page(&self, q: &HostPageQuery) -> Result<Vec<HostSummary>>;
    fn host_count(&self, q: &HostPageQuery) -> Result<i64>;
    fn finding_page(&self, q: &FindingPageQuery, now: i64) -> Result<Vec<TriagedFinding>>;
    fn finding(
        &self,
        agent_id: &str,
        fingerprint: &str,
        now: i64,
    ) -> Result<Option<TriagedFinding>>;
    /// Record a decision on each (agent_id, fingerprint); returns how many exist.
    fn triage(&self, items: &[(String, String)], t: &Triage) -> Result<usize>;

    // ---- overview
    fn fleet_counts(&self, silent_since: i64) -> Result<FleetCounts>;
    fn history(&self, from_day: i64) -> Result<Vec<DayPoint>>;
    fn snapshot_day(&self, day: i64, silent_since: i64) -> Result<()>;
    fn stale_causes(&self, limit: i64) -> Result<Vec<StaleHost>>;
    fn put_causes(&self, rows: &[(String, Option<i64>, i64)]) -> Result<()>;

    // ---- central policy
    /// Reporting hosts grouped by the policy (version, digest) of their newest report.
    fn policy_rollout(&self) -> Result<Vec<PolicyCount>>;
    /// Reporting hosts whose newest report did not run `digest` (every
    /// reporting host when None): oldest version first, then by name.
    fn policy_hosts(
        &self,
        not_digest: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<HostPolicy>>;

    // ---- media
    fn media_register(&self) -> Result<Vec<Medium>>;
    fn put_medium(&self, m: &Medium, actor: &str, now: i64) -> Result<()>;
    fn delete_medium(&self, medium_id: &str) -> Result<bool>;
    /// `removable_media` findings, newest first (bounded).
    fn media_seen(&self, limit: i64) -> Result<Vec<FindingRow>>;

    // ---- alerts
    /// Open findings of these kinds after the keyset position `after`
    /// (first_seen, agent_id, fingerprint), oldest first, bounded.
    fn alert_candidates(
        &self,
        kinds: &[&str],
        after: &(i64, String, String),
        limit: i64,
    ) -> Result<Vec<AlertCandidate>>;
    /// Tamper alerts with id above `after`: (id, alert, hostname).
    fn tamper_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, crate::TamperAlert, Option<String>)>>;
    /// False when an alert with this dedup key exists.
    fn add_alert(&self, a: &NewAlert) -> Result<bool>;
    /// Several alerts in one transaction; returns how many were new.
    fn add_alerts(&self, alerts: &[NewAlert]) -> Result<usize>;
    fn alerts(&self, before: Option<i64>, limit: i64) -> Result<Vec<AlertRow>>;
    /// Alerts not yet fully forwarded (`want` bits) with fewer than `max_attempts`.
    fn pending_alerts(&self, want: i64, max_attempts: i64, limit: i64) -> Result<Vec<AlertRow>>;
    fn mark_alert(&self, id: i64, forwarded: i64, error: Option<&str>) -> Result<()>;
    fn state_get(&self, key: &str) -> Result<Option<String>>;
    fn state_set(&self, key: &str, value: &str) -> Result<()>;
}
