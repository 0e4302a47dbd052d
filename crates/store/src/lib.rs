//! Collector storage: one [`Store`] trait, two backends (SQLite, the default,
//! and PostgreSQL for several collector processes), one schema.
//!
//! The collector verifies a report and turns it into a [`NewReport`]; the
//! store links it into its agent's chain and keeps it, atomically, in one
//! transaction: either the report row, the host's current state and its
//! findings all change, or nothing does ([`Store::ingest`]). Chain decisions
//! (duplicate, conflict) are taken inside that transaction, under a per-agent
//! lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: `SELECT … FOR UPDATE` on the
//! agent row), so two processes racing on the same agent cannot both store.
//!
//! Design note — on-disk layout (`migrations/<backend>/NNNN_*.sql`):
//! - `reports` is history: the signed JWS exactly as verified, keyed by
//!   `(agent_id, seq)` and by `report_id`; prunable by age
//!   ([`Store::prune`]) except each host's latest report.
//! - `hosts` is current state, maintained at ingest: latest checks, counts,
//!   last seen, chain statistics (`first_seq`, `max_seq`, `seq_count`: the
//!   number of missing `seq` is `max_seq - seq_count`: a chain starts at 1) and
//!   tamper alerts. Reading it never re-reads history.
//! - The current state is *merged*: each report changes it within its
//!   [`Coverage`] only (issue 11). `host_checks` keeps one row per
//!   (check, subject), replaced by a newer result of the same pair and
//!   dropped when a newer report that ran that check no longer lists it.
//!   `findings` holds each host's findings by fingerprint: `open` until a
//!   newer report whose scope covered it (all content or its path; media;
//!   for alarms a full check) does not carry it, then `resolved` with that
//!   report's seq. A report older than the host's newest (out of order, a
//!   late import) only adds what no newer report has spoken about: a check
//!   or finding newer than the last full inspection of its kind, never a
//!   resolution. Compliance, `failed_checks`, `open_findings` and
//!   `latest_checks` are computed from the merged rows in the same
//!   transaction; `compliant` stays unknown until a report with checks.
//! - `tamper_alerts` keeps reports that conflicted with the chain: evidence,
//!   never data.
//! - The console's tables ([`console`]): `sessions`, `audit_log` (append-only:
//!   triggers refuse UPDATE and DELETE), `finding_triage` (staff decisions
//!   beside the findings ingest keeps), `media_register`, `alerts`,
//!   `compliance_history`, `host_causes`, `console_state`. Ingest never
//!   touches them.
//!
//! Migrations are versioned (`schema_migrations`) and run by [`open`];
//! PostgreSQL takes an advisory lock so concurrent starts are safe.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let url = format!("sqlite:{}", dir.path().join("c.db").display());
//! let store = mijian_store::open(&url).unwrap();
//! assert!(store.hosts(&Default::default()).unwrap().is_empty());
//! ```

pub mod console;
mod group;
mod policy;
mod postgres;
mod sql;
mod sqlite;

pub use policy::{NewPolicyVersion, PolicyStore, PolicyVersion};
use serde::Serialize;

/// Why the store failed. Messages say what to do where there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "database URL `{0}` is not understood: use sqlite:PATH or postgres://USER@HOST:PORT/DB"
    )]
    Url(String),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("cannot create database directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "database holds schema version {found}, newer than this collector knows ({known}); upgrade mijian-collector"
    )]
    TooNew { found: i64, known: i64 },
    #[error("unexpected value in column {0}")]
    Column(&'static str),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A verified report, prepared for storage by the collector's ingest.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub agent_id: String,
    pub report_id: String,
    pub seq: i64,
    pub prev: Option<String>,
    /// SHA-256 (lowercase hex) of the payload bytes: what the successor's `prev` names.
    pub payload_sha256: String,
    /// The JWS (flattened JSON) as verified.
    pub jws: Vec<u8>,
    pub created_at: String,
    /// Unix seconds.
    pub received_at: i64,
    pub trigger: String,
    pub compliant: bool,
    pub hostname: String,
    pub os: String,
    pub classification: String,
    /// The report's `checks` array, JSON.
    pub checks: String,
    pub failed_checks: i64,
    pub findings: Vec<NewFinding>,
    /// Each check of `checks`, for the merged host state.
    pub check_rows: Vec<NewCheck>,
    /// What the report covered (its `scope`, or the one its trigger implies).
    pub scope: Coverage,
    /// `seq` ranges the agent declared spent without a report.
    pub declared_gaps: Vec<DeclaredGap>,
    /// The report's `policy.version` (a signed bundle's; None: local rules).
    pub policy_version: Option<i64>,
    /// The report's `policy.digest`.
    pub policy_digest: Option<String>,
}

/// One check of a report.
#[derive(Debug, Clone)]
pub struct NewCheck {
    pub id: String,
    pub subject: String,
    /// `pass`, `fail`, `error`, `not_applicable`.
    pub status: String,
    /// The check object, JSON.
    pub body: String,
}

/// Which content a report scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentCoverage {
    All,
    /// These paths (files, or directories with everything below them).
    Paths(Vec<String>),
    None,
}

/// What a report covered: the store merges it into the host's state within
/// this only (see the design note on `hosts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// Every check ran; else only those in `check_ids`.
    pub all_checks: bool,
    pub check_ids: Vec<String>,
    pub content: ContentCoverage,
    /// The removable media mounted at the time were enumerated.
    pub media: bool,
}

impl Coverage {
    /// A full inspection.
    pub fn full() -> Coverage {
        Coverage {
            all_checks: true,
            check_ids: Vec::new(),
            content: ContentCoverage::All,
            media: true,
        }
    }

    fn covers_path(&self, path: &str) -> bool {
        match &self.content {
            ContentCoverage::All => true,
            ContentCoverage::None => false,
            ContentCoverage::Paths(ps) => ps.iter().any(|p| path_within(path, p)),
        }
    }

    /// Whether a finding of `kind` at `path` is in this report's scope:
    /// a report in whose scope a finding lies and that does not carry it
    /// again resolves it.
    pub fn covers_finding(&self, kind: &str, path: Option<&str>) -> bool {
        match area(kind, path) {
            Area::Media => self.media,
            Area::Content(p) => self.covers_path(p),
            // Agent alarms and other events: until the next full check.
            Area::Event => self.all_checks,
        }
    }
}

/// What decides a finding's fate.
enum Area<'a> {
    /// Removable media, USB history, enforcement actions.
    Media,
    /// Findings about a file.
    Content(&'a str),
    /// Agent alarms and anything else without a path.
    Event,
}

fn area<'a>(kind: &str, path: Option<&'a str>) -> Area<'a> {
    match (kind, path) {
        ("removable_media" | "usb_history" | "enforcement_action", _) => Area::Media,
        ("agent_alarm", _) => Area::Event,
        (_, Some(p)) => Area::Content(p),
        (_, None) => Area::Event,
    }
}

/// Whether `path` is `root` or lies below it (`root/…`, or `root!/…` for an
/// archive's members).
fn path_within(path: &str, root: &str) -> bool {
    let root = root.trim_end_matches('/');
    if root.is_empty() {
        return path.starts_with('/');
    }
    match path.strip_prefix(root) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || rest.starts_with("!/"),
        None => false,
    }
}

/// A range of `seq` the agent declared spent without a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclaredGap {
    pub from: i64,
    pub to: i64,
    /// `crash`, `evicted`, …
    pub reason: String,
}

/// One finding of a report, with the identity that follows it across reports.
#[derive(Debug, Clone)]
pub struct NewFinding {
    /// Stable identity of "the same finding" on a host (kind + path/device/...).
    pub fingerprint: String,
    pub kind: String,
    pub severity: String,
    /// info 0, low 1, medium 2, high 3, critical 4.
    pub severity_rank: i64,
    pub path: Option<String>,
    /// The finding object, JSON.
    pub body: String,
}

/// What ingest did with a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    /// Same `report_id`, same bytes: nothing changed.
    Duplicate,
    /// Conflicts with the agent's chain; kept as a tamper alert, not as data.
    Conflict(String),
    /// No agent is enrolled with this id: nothing stored.
    UnknownAgent,
    /// The agent's key is revoked: nothing stored.
    Revoked,
}

/// Staff role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// 系统管理员: accounts, tokens, agents.
    Admin,
    /// 安全保密管理员: triage, exceptions, media register, reports.
    Secadmin,
    /// 安全审计员: reads everything, the audit log included; changes nothing.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Secadmin => "secadmin",
            Role::Auditor => "auditor",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "secadmin" => Some(Role::Secadmin),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }
}

/// A registered agent key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    pub agent_id: String,
    /// The public JWK, JSON.
    pub jwk: String,
    pub hostname: Option<String>,
    pub enrolled_at: i64,
    pub revoked_at: Option<i64>,
}

/// A staff account.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

/// An API token as listed to an admin: never the token, only the start of
/// its hash, which names it for [`Store::revoke_api_token`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiTokenInfo {
    /// First 12 hex digits of the token's SHA-256.
    pub id: String,
    pub role: Role,
    pub label: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// Result of [`Store::revoke_api_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRevoked {
    Revoked,
    NotFound,
    /// The id prefix names more than one token; give more digits.
    Ambiguous(usize),
}

/// Result of [`Store::enroll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrolled {
    /// New agent registered; the token lost one use.
    New,
    /// This key was already registered (and not revoked): nothing changed.
    Already,
    /// Token unknown, used up or expired.
    BadToken,
    /// This key was revoked; enrolling again does not lift that.
    Revoked,
}

/// Filter and page for [`Store::hosts`].
#[derive(Debug, Clone, Default)]
pub struct HostQuery {
    /// Substring of the hostname, case-insensitive.
    pub hostname: Option<String>,
    pub compliant: Option<bool>,
    pub classification: Option<String>,
    /// Only hosts not seen since this Unix time (never-seen hosts included).
    pub silent_since: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// A host's current state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostSummary {
    pub agent_id: String,
    pub hostname: Option<String>,
    pub os: Option<String>,
    pub classification: Option<String>,
    pub last_seen: Option<i64>,
    pub latest_seq: Option<i64>,
    pub latest_report_id: Option<String>,
    pub latest_created_at: Option<String>,
    pub compliant: Option<bool>,
    pub failed_checks: i64,
    pub open_findings: i64,
    pub reports: i64,
    pub missing_seqs: i64,
    pub tamper_alerts: i64,
    pub revoked: bool,
}

/// A gap in an agent's chain: `from..=to` are missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub from: i64,
    pub to: i64,
    /// The reason the agent declared for these seq (signed, in a later
    /// report): "crash gap, declared". `None`: undeclared — what a
    /// suppressed report looks like.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared: Option<String>,
}

/// A report that conflicted with its agent's chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TamperAlert {
    pub agent_id: String,
    pub seq: i64,
    pub report_id: String,
    pub payload_sha256: String,
    pub reason: String,
    pub received_at: i64,
}

/// Everything about one host, from current state (no history scan).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostDetail {
    #[serde(flatten)]
    pub summary: HostSummary,
    /// The latest report's `checks`, JSON.
    pub latest_checks: Option<String>,
    pub gaps: Vec<Gap>,
    /// Of `missing_seqs`, how many the agent declared (crash, eviction).
    pub declared_missing_seqs: i64,
    pub tamper_alerts_list: Vec<TamperAlert>,
}

/// Filter and page for [`Store::findings`].
#[derive(Debug, Clone, Default)]
pub struct FindingQuery {
    pub kind: Option<String>,
    pub severity: Option<String>,
    pub min_severity_rank: Option<i64>,
    pub agent_id: Option<String>,
    /// `open` or `resolved`.
    pub status: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// A finding in the current state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingRow {
    pub agent_id: String,
    pub hostname: Option<String>,
    pub fingerprint: String,
    pub kind: String,
    pub severity: String,
    pub path: Option<String>,
    /// The finding object, JSON.
    pub body: String,
    pub status: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub resolved_at: Option<i64>,
}

/// Counts for `/metrics` and `healthz`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub agents: i64,
    pub revoked_agents: i64,
    pub reports: i64,
    pub tamper_alerts: i64,
    pub open_findings: i64,
}

/// The collector's storage. Every method is one transaction; methods block
/// (call them from a blocking thread in async code).
pub trait Store: Send + Sync + PolicyStore {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Link a verified report into its chain and store it atomically.
    /// Concurrent calls may share a transaction (SQLite: group commit); each
    /// returns only once its own report is committed or refused.
    fn ingest(&self, report: NewReport) -> Result<Outcome>;
    fn agent(&self, agent_id: &str) -> Result<Option<Agent>>;
    /// Register a key by hand; false when it was already registered.
    fn add_agent(
        &self,
        agent_id: &str,
        jwk: &str,
        hostname: Option<&str>,
        now: i64,
    ) -> Result<bool>;
    /// Revoke a key; false when no such agent.
    fn revoke_agent(&self, agent_id: &str, now: i64) -> Result<bool>;
    fn create_enroll_token(
        &self,
        token_hash: &str,
        uses: i64,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<()>;
    /// Consume one use of an enrollment token and register the key, atomically.
    fn enroll(
        &self,
        token_hash: &str,
        agent_id: &str,
        jwk: &str,
        hostname: Option<&str>,
        now: i64,
    ) -> Result<Enrolled>;
    /// Add or replace a staff account.
    fn put_user(&self, name: &str, role: Role, password_hash: &str, now: i64) -> Result<()>;
    fn user(&self, name: &str) -> Result<Option<User>>;
    fn create_api_token(
        &self,
        token_hash: &str,
        role: Role,
        label: Option<&str>,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<()>;
    /// The role of a valid (unexpired) API token.
    fn api_token(&self, token_hash: &str, now: i64) -> Result<Option<Role>>;
    /// Every API token (staff logins included), oldest first.
    fn api_tokens(&self) -> Result<Vec<ApiTokenInfo>>;
    /// Delete the one token whose hash starts with `id` (hex, at least 8 digits).
    fn revoke_api_token(&self, id: &str) -> Result<TokenRevoked>;
    fn hosts(&self, q: &HostQuery) -> Result<Vec<HostSummary>>;
    fn host(&self, agent_id: &str) -> Result<Option<HostDetail>>;
    fn findings(&self, q: &FindingQuery) -> Result<Vec<FindingRow>>;
    /// The stored JWS of `(agent_id, seq)`.
    fn report_jws(&self, agent_id: &str, seq: i64) -> Result<Option<Vec<u8>>>;
    /// Hosts not seen since `since` (never-seen, unrevoked hosts included).
    fn silent_hosts(&self, since: i64) -> Result<i64>;
    fn stats(&self) -> Result<Stats>;
    /// Delete reports received before `before` (each host keeps its latest)
    /// and findings resolved before it. Returns reports deleted.
    fn prune(&self, before: i64) -> Result<u64>;
    /// The console's queries (sessions, audit, triage, media, alerts, keyset lists).
    fn console(&self) -> &dyn console::Console;
}

/// Open (and migrate) the store named by a database URL:
/// `sqlite:PATH` (also `sqlite://PATH`) or `postgres://…` / `postgresql://…`.
pub fn open(url: &str) -> Result<Box<dyn Store>> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if path.is_empty() {
            return Err(StoreError::Url(url.to_string()));
        }
        return Ok(Box::new(sql::SqlStore::new(sqlite::Sqlite::open(
            std::path::Path::new(path),
        )?)?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Box::new(sql::SqlStore::new(postgres::Postgres::open(
            url,
        )?)?));
    }
    Err(StoreError::Url(url.to_string()))
}

#[cfg(test)]
mod tests;

/// Helpers for tests of this crate and of the collector (not for production use).
pub mod testing {
    /// The PostgreSQL server tests use: `MIJIAN_TEST_PG`, else the local
    /// `postgres://postgres@127.0.0.1:5432/test`.
    pub fn pg_server_url() -> String {
        std::env::var("MIJIAN_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
    }

    /// A URL on a fresh, empty schema of the test server, or `None` (after
    /// printing "skipped: no PostgreSQL at …") when no server is reachable.
    pub fn fresh_pg_url(tag: &str) -> Option<String> {
        let server = pg_server_url();
        let mut client = match ::postgres::Client::connect(&server, ::postgres::NoTls) {
            Ok(c) => c,
            Err(e) => {
                println!("skipped: no PostgreSQL at {server} ({e})");
                return None;
            }
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let schema = format!("t_{tag}_{}_{nanos}", std::process::id());
        if let Err(e) = client.batch_execute(&format!("CREATE SCHEMA {schema}")) {
            println!("skipped: PostgreSQL at {server} refused CREATE SCHEMA ({e})");
            return None;
        }
        let sep = if server.contains('?') { '&' } else { '?' };
        Some(format!("{server}{sep}options=-c%20search_path%3D{schema}"))
    }
}
