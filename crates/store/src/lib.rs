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
//!   number of missing `seq` is `max_seq - first_seq + 1 - seq_count`) and
//!   tamper alerts. Reading it never re-reads history.
//! - `findings` holds each host's findings by fingerprint, `open` while the
//!   host's latest report carries them, `resolved` after.
//! - `tamper_alerts` keeps reports that conflicted with the chain: evidence,
//!   never data.
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
    Admin,
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub from: i64,
    pub to: i64,
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
