//! The store's logic, written once over a minimal SQL connection ([`Conn`])
//! that each backend implements. SQL here is the common subset of SQLite and
//! PostgreSQL, with `?` placeholders (PostgreSQL's backend numbers them);
//! integers are 64-bit everywhere and booleans are 0/1.
//! All values reach the database as bound parameters, never spliced into SQL.

use crate::*;
use crate::{Area, area};

mod console;

/// A bound parameter or a result column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum V {
    Null,
    I(i64),
    T(String),
    B(Vec<u8>),
}

impl From<i64> for V {
    fn from(v: i64) -> V {
        V::I(v)
    }
}
impl From<bool> for V {
    fn from(v: bool) -> V {
        V::I(v as i64)
    }
}
impl From<&str> for V {
    fn from(v: &str) -> V {
        V::T(v.to_string())
    }
}
impl From<&String> for V {
    fn from(v: &String) -> V {
        V::T(v.clone())
    }
}
impl From<&[u8]> for V {
    fn from(v: &[u8]) -> V {
        V::B(v.to_vec())
    }
}
impl<T: Into<V>> From<Option<T>> for V {
    fn from(v: Option<T>) -> V {
        v.map_or(V::Null, Into::into)
    }
}

type Row = Vec<V>;

fn int(row: &Row, i: usize, col: &'static str) -> Result<i64> {
    match row.get(i) {
        Some(V::I(v)) => Ok(*v),
        _ => Err(StoreError::Column(col)),
    }
}
fn opt_int(row: &Row, i: usize, col: &'static str) -> Result<Option<i64>> {
    match row.get(i) {
        Some(V::I(v)) => Ok(Some(*v)),
        Some(V::Null) => Ok(None),
        _ => Err(StoreError::Column(col)),
    }
}
fn text(row: &Row, i: usize, col: &'static str) -> Result<String> {
    match row.get(i) {
        Some(V::T(v)) => Ok(v.clone()),
        _ => Err(StoreError::Column(col)),
    }
}
fn opt_text(row: &Row, i: usize, col: &'static str) -> Result<Option<String>> {
    match row.get(i) {
        Some(V::T(v)) => Ok(Some(v.clone())),
        Some(V::Null) => Ok(None),
        _ => Err(StoreError::Column(col)),
    }
}
fn blob(row: &Row, i: usize, col: &'static str) -> Result<Vec<u8>> {
    match row.get(i) {
        Some(V::B(v)) => Ok(v.clone()),
        _ => Err(StoreError::Column(col)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// One database connection, as the logic needs it.
pub(crate) trait Conn {
    fn dialect(&self) -> Dialect;
    fn exec(&mut self, sql: &str, params: &[V]) -> Result<u64>;
    fn rows(&mut self, sql: &str, params: &[V]) -> Result<Vec<Row>>;
    fn batch(&mut self, sql: &str) -> Result<()>;
    /// Start a write transaction (SQLite: `BEGIN IMMEDIATE`, which takes the write lock now).
    fn begin(&mut self) -> Result<()>;
    fn is_unique_violation(&self, err: &StoreError) -> bool;

    fn row(&mut self, sql: &str, params: &[V]) -> Result<Option<Row>> {
        Ok(self.rows(sql, params)?.into_iter().next())
    }
}

/// A backend hands out connections.
pub(crate) trait Backend: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn with_conn<R>(&self, write: bool, f: impl FnOnce(&mut dyn Conn) -> Result<R>) -> Result<R>;
    /// Migrations in order: (version, SQL).
    fn migrations(&self) -> &'static [(i64, &'static str)];
    /// One writer for all (SQLite): concurrent ingests share a transaction
    /// ([`crate::group`]). Otherwise each ingest is its own transaction.
    fn group_commit(&self) -> bool {
        false
    }
}

pub(crate) struct SqlStore<B: Backend> {
    b: B,
    /// Reports waiting for a group commit (backends with one writer).
    queue: crate::group::Queue,
}

/// Run `f` inside a write transaction: commit on Ok, roll back on Err.
fn tx<R>(c: &mut dyn Conn, f: impl FnOnce(&mut dyn Conn) -> Result<R>) -> Result<R> {
    c.begin()?;
    match f(c) {
        Ok(r) => {
            c.batch("COMMIT")?;
            Ok(r)
        }
        Err(e) => {
            // The transaction is already lost; a failed rollback adds nothing.
            let _ = c.batch("ROLLBACK");
            Err(e)
        }
    }
}

impl<B: Backend> SqlStore<B> {
    pub(crate) fn new(b: B) -> Result<Self> {
        let s = SqlStore {
            b,
            queue: Default::default(),
        };
        s.migrate()?;
        Ok(s)
    }

    fn migrate(&self) -> Result<()> {
        let migrations = self.b.migrations();
        let known = migrations.last().map_or(0, |m| m.0);
        self.b.with_conn(true, |c| {
            tx(c, |c| {
                if c.dialect() == Dialect::Postgres {
                    // Several collectors starting at once: one migrates, the others wait.
                    c.rows("SELECT pg_advisory_xact_lock(72070701)", &[])?;
                }
                c.batch(
                    "CREATE TABLE IF NOT EXISTS schema_migrations \
                     (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
                )?;
                let found = c
                    .row("SELECT MAX(version) FROM schema_migrations", &[])?
                    .and_then(|r| opt_int(&r, 0, "version").ok().flatten())
                    .unwrap_or(0);
                if found > known {
                    return Err(StoreError::TooNew { found, known });
                }
                for (version, sql) in migrations {
                    if *version > found {
                        c.batch(sql)?;
                        c.exec(
                            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                            &[V::I(*version), V::I(now())],
                        )?;
                    }
                }
                Ok(())
            })
        })
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

const HOST_COLS: &str = "h.agent_id, h.hostname, h.os, h.classification, h.last_seen, h.latest_seq, \
     h.latest_report_id, h.latest_created_at, h.compliant, h.failed_checks, h.open_findings, \
     h.seq_count, h.first_seq, h.max_seq, h.tamper_alerts, a.revoked_at";

fn host_summary(r: &Row) -> Result<HostSummary> {
    let seq_count = int(r, 11, "seq_count")?;
    let first = opt_int(r, 12, "first_seq")?;
    let max = opt_int(r, 13, "max_seq")?;
    // A chain starts at seq 1: seqs below the first stored one are missing
    // too (a refused or lost first report).
    let missing = match (first, max) {
        (Some(_), Some(m)) => (m - seq_count).max(0),
        _ => 0,
    };
    Ok(HostSummary {
        agent_id: text(r, 0, "agent_id")?,
        hostname: opt_text(r, 1, "hostname")?,
        os: opt_text(r, 2, "os")?,
        classification: opt_text(r, 3, "classification")?,
        last_seen: opt_int(r, 4, "last_seen")?,
        latest_seq: opt_int(r, 5, "latest_seq")?,
        latest_report_id: opt_text(r, 6, "latest_report_id")?,
        latest_created_at: opt_text(r, 7, "latest_created_at")?,
        compliant: opt_int(r, 8, "compliant")?.map(|v| v != 0),
        failed_checks: int(r, 9, "failed_checks")?,
        open_findings: int(r, 10, "open_findings")?,
        reports: seq_count,
        missing_seqs: missing,
        tamper_alerts: int(r, 14, "tamper_alerts")?,
        revoked: opt_int(r, 15, "revoked_at")?.is_some(),
    })
}

/// An open finding's row is not rewritten while the host keeps reporting it
/// unchanged (see `ingest_tx`): its last seq and last seen are the host's.
const FINDING_COLS: &str = "f.agent_id, h.hostname, f.fingerprint, f.kind, f.severity, f.path, f.body, \
     f.status, f.first_seq, \
     CASE WHEN f.status = 'open' AND h.latest_seq IS NOT NULL THEN h.latest_seq ELSE f.last_seq END, \
     f.first_seen, \
     CASE WHEN f.status = 'open' AND h.last_seen IS NOT NULL THEN h.last_seen ELSE f.last_seen END, \
     f.resolved_at";

fn finding_row(r: &Row) -> Result<FindingRow> {
    Ok(FindingRow {
        agent_id: text(r, 0, "agent_id")?,
        hostname: opt_text(r, 1, "hostname")?,
        fingerprint: text(r, 2, "fingerprint")?,
        kind: text(r, 3, "kind")?,
        severity: text(r, 4, "severity")?,
        path: opt_text(r, 5, "path")?,
        body: text(r, 6, "body")?,
        status: text(r, 7, "status")?,
        first_seq: int(r, 8, "first_seq")?,
        last_seq: int(r, 9, "last_seq")?,
        first_seen: int(r, 10, "first_seen")?,
        last_seen: int(r, 11, "last_seen")?,
        resolved_at: opt_int(r, 12, "resolved_at")?,
    })
}

/// Escape `%`, `_` and `\` so user text is matched literally by LIKE … ESCAPE '\'.
fn like_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for ch in s.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

fn page(limit: i64, offset: i64) -> (i64, i64) {
    let limit = if limit <= 0 { 100 } else { limit.min(1000) };
    (limit, offset.max(0))
}

/// The chain decision and the writes for one report, inside the transaction.
fn ingest_tx(c: &mut dyn Conn, r: &NewReport) -> Result<Outcome> {
    // Enrolment and revocation are decided here, in the transaction that
    // stores: a report can never be stored after its key's revocation
    // committed, whatever the caller saw earlier. PostgreSQL: the row lock
    // also serialises ingest per agent across every collector process.
    let lock = match c.dialect() {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let agent = c.row(
        &format!("SELECT revoked_at FROM agents WHERE agent_id = ?{lock}"),
        &[(&r.agent_id).into()],
    )?;
    match agent {
        None => return Ok(Outcome::UnknownAgent),
        Some(a) if opt_int(&a, 0, "revoked_at")?.is_some() => return Ok(Outcome::Revoked),
        Some(_) => {}
    }
    let conflict = chain_conflict(c, r)?;
    if let Some(reason) = conflict {
        if reason.is_empty() {
            return Ok(Outcome::Duplicate);
        }
        let inserted = c.exec(
            "INSERT INTO tamper_alerts (agent_id, seq, report_id, payload_sha256, reason, received_at, jws) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id, payload_sha256) DO NOTHING",
            &[
                (&r.agent_id).into(),
                r.seq.into(),
                (&r.report_id).into(),
                (&r.payload_sha256).into(),
                (&reason).into(),
                r.received_at.into(),
                r.jws.as_slice().into(),
            ],
        )?;
        if inserted > 0 {
            ensure_host(c, &r.agent_id)?;
            c.exec(
                "UPDATE hosts SET tamper_alerts = tamper_alerts + 1 WHERE agent_id = ?",
                &[(&r.agent_id).into()],
            )?;
        }
        return Ok(Outcome::Conflict(reason));
    }

    c.exec(
        "INSERT INTO reports (agent_id, seq, report_id, prev, payload_sha256, created_at, received_at, \
         trigger_kind, compliant, jws) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &[
            (&r.agent_id).into(),
            r.seq.into(),
            (&r.report_id).into(),
            r.prev.as_ref().into(),
            (&r.payload_sha256).into(),
            (&r.created_at).into(),
            r.received_at.into(),
            (&r.trigger).into(),
            r.compliant.into(),
            r.jws.as_slice().into(),
        ],
    )?;

    ensure_host(c, &r.agent_id)?;
    let h = c
        .row(
            "SELECT latest_seq, first_seq, max_seq, last_seen, checks_full_seq, content_full_seq, \
             media_full_seq FROM hosts WHERE agent_id = ?",
            &[(&r.agent_id).into()],
        )?
        .ok_or(StoreError::Column("hosts"))?;
    let latest = opt_int(&h, 0, "latest_seq")?;
    let first = opt_int(&h, 1, "first_seq")?.map_or(r.seq, |f| f.min(r.seq));
    let max = opt_int(&h, 2, "max_seq")?.map_or(r.seq, |m| m.max(r.seq));
    let prev_seen = opt_int(&h, 3, "last_seen")?;
    let last_seen = prev_seen.map_or(r.received_at, |l| l.max(r.received_at));
    let checks_full = opt_int(&h, 4, "checks_full_seq")?;
    let content_full = opt_int(&h, 5, "content_full_seq")?;
    let media_full = opt_int(&h, 6, "media_full_seq")?;
    // The newest report (by seq) merges fully within its scope; an older one
    // arriving late only adds what no newer report has spoken about.
    let newest = latest.is_none_or(|l| r.seq > l);
    let after = |full: Option<i64>| full.is_none_or(|f| r.seq > f);

    for g in &r.declared_gaps {
        c.exec(
            "INSERT INTO declared_gaps (agent_id, seq_from, seq_to, reason, declared_seq) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (agent_id, seq_from, seq_to) DO NOTHING",
            &[
                (&r.agent_id).into(),
                g.from.into(),
                g.to.into(),
                (&g.reason).into(),
                r.seq.into(),
            ],
        )?;
    }

    // Checks: one row per (check, subject); a newer result replaces an older.
    let mut checks: std::collections::BTreeMap<(String, String), (i64, String, String)> =
        Default::default();
    for row in c.rows(
        "SELECT check_id, subject, seq, status, body FROM host_checks WHERE agent_id = ?",
        &[(&r.agent_id).into()],
    )? {
        checks.insert(
            (text(&row, 0, "check_id")?, text(&row, 1, "subject")?),
            (
                int(&row, 2, "seq")?,
                text(&row, 3, "status")?,
                text(&row, 4, "body")?,
            ),
        );
    }
    let mut checks_changed = false;
    let mut carried_checks = std::collections::HashSet::new();
    for ch in &r.check_rows {
        let key = (ch.id.clone(), ch.subject.clone());
        if !carried_checks.insert(key.clone()) {
            continue;
        }
        // The newest report replaces what differs; an older one only adds a
        // pair no newer full check has spoken about. Unchanged rows are not
        // rewritten (their seq is then a lower bound, which is all older
        // reports are compared against: they never change an existing row).
        let write = match checks.get(&key) {
            Some((_, status, body)) => newest && (*status != ch.status || *body != ch.body),
            None => newest || after(checks_full),
        };
        if !write {
            continue;
        }
        c.exec(
            "INSERT INTO host_checks (agent_id, check_id, subject, status, body, seq) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id, check_id, subject) DO UPDATE SET \
             status = excluded.status, body = excluded.body, seq = excluded.seq",
            &[
                (&r.agent_id).into(),
                (&ch.id).into(),
                (&ch.subject).into(),
                (&ch.status).into(),
                (&ch.body).into(),
                r.seq.into(),
            ],
        )?;
        checks.insert(key, (r.seq, ch.status.clone(), ch.body.clone()));
        checks_changed = true;
    }
    if newest {
        // A check that ran and no longer lists a subject (a user removed):
        // that row is gone. Only the newest report decides this.
        let gone: Vec<(String, String)> = checks
            .keys()
            .filter(|k| !carried_checks.contains(*k))
            .filter(|k| r.scope.all_checks || r.scope.check_ids.contains(&k.0))
            .cloned()
            .collect();
        for k in gone {
            c.exec(
                "DELETE FROM host_checks WHERE agent_id = ? AND check_id = ? AND subject = ?",
                &[(&r.agent_id).into(), (&k.0).into(), (&k.1).into()],
            )?;
            checks.remove(&k);
            checks_changed = true;
        }
    }

    // Findings. A finding carried again unchanged is not written at all
    // (while open, its last seq and last seen are the host's: FINDING_COLS);
    // new or changed ones are upserted; open ones this report's scope
    // covered and it no longer carries are resolved, stamped with the last
    // report that carried them.
    let open_sql = match c.dialect() {
        // `+status`: stay on the primary key (this agent's rows), not the
        // `(status, …)` index of every host's open findings.
        Dialect::Sqlite => {
            "SELECT fingerprint, severity_rank, body, kind, path FROM findings \
             WHERE agent_id = ? AND +status = 'open'"
        }
        Dialect::Postgres => {
            "SELECT fingerprint, severity_rank, body, kind, path FROM findings \
             WHERE agent_id = ? AND status = 'open'"
        }
    };
    let mut open = std::collections::HashMap::new();
    for row in c.rows(open_sql, &[(&r.agent_id).into()])? {
        open.insert(
            text(&row, 0, "fingerprint")?,
            (
                int(&row, 1, "severity_rank")?,
                text(&row, 2, "body")?,
                text(&row, 3, "kind")?,
                opt_text(&row, 4, "path")?,
            ),
        );
    }
    // Open after this report: fingerprint → severity rank.
    let mut open_after: std::collections::HashMap<String, i64> =
        open.iter().map(|(k, v)| (k.clone(), v.0)).collect();
    let mut seen = std::collections::HashSet::new();
    // Three kinds of carried finding: unchanged (no write), open with the
    // same severity but new content (only the row: no indexed column
    // changes, so no index is touched), and new, reopened or re-graded
    // (the upsert, which also maintains the status/severity index).
    let mut upsert: Vec<&NewFinding> = Vec::new();
    for f in r
        .findings
        .iter()
        .filter(|f| seen.insert(f.fingerprint.as_str()))
    {
        if !newest {
            // Older than the host's state: only what no newer full
            // inspection of its kind and no newer resolution has decided.
            let full = match area(&f.kind, f.path.as_deref()) {
                Area::Media => media_full,
                Area::Content(_) => content_full,
                Area::Event => checks_full,
            };
            if open.contains_key(&f.fingerprint) || !after(full) {
                continue;
            }
            let resolved_later = c
                .row(
                    "SELECT resolved_seq FROM findings WHERE agent_id = ? AND fingerprint = ?",
                    &[(&r.agent_id).into(), (&f.fingerprint).into()],
                )?
                .map(|row| opt_int(&row, 0, "resolved_seq"))
                .transpose()?
                .is_some_and(|s| s.is_none_or(|s| s > r.seq));
            if resolved_later {
                continue;
            }
            upsert.push(f);
            open_after.insert(f.fingerprint.clone(), f.severity_rank);
            continue;
        }
        match open.get(&f.fingerprint) {
            Some((rank, body, ..)) if *rank == f.severity_rank && *body == f.body => {}
            // In-process SQLite only: to PostgreSQL a statement per row is
            // a round trip per row, dearer than the batched upsert.
            Some((rank, ..)) if *rank == f.severity_rank && c.dialect() == Dialect::Sqlite => {
                c.exec(
                    "UPDATE findings SET body = ?, last_seq = ?, last_seen = ? \
                     WHERE agent_id = ? AND fingerprint = ?",
                    &[
                        (&f.body).into(),
                        r.seq.into(),
                        r.received_at.into(),
                        (&r.agent_id).into(),
                        (&f.fingerprint).into(),
                    ],
                )?;
            }
            _ => {
                upsert.push(f);
                open_after.insert(f.fingerprint.clone(), f.severity_rank);
            }
        }
    }
    // Several rows per statement (one round trip to PostgreSQL, one VDBE
    // program run in SQLite); the row counts are few, so statements stay cached.
    for chunk in upsert.chunks(FINDINGS_PER_STATEMENT) {
        let mut params = Vec::with_capacity(chunk.len() * 11);
        for f in chunk {
            params.extend([
                (&r.agent_id).into(),
                (&f.fingerprint).into(),
                (&f.kind).into(),
                (&f.severity).into(),
                f.severity_rank.into(),
                f.path.as_ref().into(),
                (&f.body).into(),
                r.seq.into(),
                r.seq.into(),
                r.received_at.into(),
                r.received_at.into(),
            ]);
        }
        c.exec(&upsert_findings_sql(chunk.len()), &params)?;
    }
    if newest {
        for (fp, (_, _, kind, path)) in &open {
            if seen.contains(fp.as_str()) || !r.scope.covers_finding(kind, path.as_deref()) {
                continue;
            }
            c.exec(
                "UPDATE findings SET status = 'resolved', resolved_at = ?, resolved_seq = ?, \
                 last_seq = ?, last_seen = ? WHERE agent_id = ? AND fingerprint = ?",
                &[
                    r.received_at.into(),
                    r.seq.into(),
                    latest.unwrap_or(r.seq - 1).into(),
                    prev_seen.unwrap_or(r.received_at).into(),
                    (&r.agent_id).into(),
                    fp.into(),
                ],
            )?;
            open_after.remove(fp);
        }
    }

    // The host's state, from the merged rows.
    let failed = checks
        .values()
        .filter(|(_, s, _)| s == "fail" || s == "error")
        .count() as i64;
    let worst = open_after.values().copied().max().unwrap_or(0);
    let checks_known = !checks.is_empty() || checks_full.is_some() || r.scope.all_checks;
    let compliant: Option<bool> = checks_known.then_some(failed == 0 && worst <= 0);
    let bump = |full: Option<i64>, covered: bool| {
        if covered {
            Some(full.map_or(r.seq, |f| f.max(r.seq)))
        } else {
            full
        }
    };
    let checks_full = bump(checks_full, r.scope.all_checks);
    let content_full = bump(
        content_full,
        matches!(r.scope.content, ContentCoverage::All),
    );
    let media_full = bump(media_full, r.scope.media);
    let latest_checks = (checks_changed || newest).then(|| {
        let mut s = String::from("[");
        for (i, (_, _, body)) in checks.values().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(body);
        }
        s.push(']');
        s
    });
    c.exec(
        "UPDATE hosts SET first_seq = ?, max_seq = ?, seq_count = seq_count + 1, last_seen = ?, \
         compliant = ?, failed_checks = ?, open_findings = ?, \
         latest_checks = COALESCE(?, latest_checks), checks_full_seq = ?, content_full_seq = ?, \
         media_full_seq = ? WHERE agent_id = ?",
        &[
            first.into(),
            max.into(),
            last_seen.into(),
            compliant.into(),
            failed.into(),
            (open_after.len() as i64).into(),
            latest_checks.as_ref().into(),
            checks_full.into(),
            content_full.into(),
            media_full.into(),
            (&r.agent_id).into(),
        ],
    )?;
    if newest {
        c.exec(
            "UPDATE hosts SET hostname = ?, os = ?, classification = ?, latest_seq = ?, \
             latest_report_id = ?, latest_created_at = ?, policy_version = ?, policy_digest = ? \
             WHERE agent_id = ?",
            &[
                (&r.hostname).into(),
                (&r.os).into(),
                (&r.classification).into(),
                r.seq.into(),
                (&r.report_id).into(),
                (&r.created_at).into(),
                r.policy_version.into(),
                r.policy_digest.as_ref().into(),
                (&r.agent_id).into(),
            ],
        )?;
    }
    Ok(Outcome::Stored)
}

/// Findings written per statement.
const FINDINGS_PER_STATEMENT: usize = 8;

/// Insert `n` findings, or bring them back to `open` with this report's data.
fn upsert_findings_sql(n: usize) -> String {
    let row = "(?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, NULL)";
    format!(
        "INSERT INTO findings (agent_id, fingerprint, kind, severity, severity_rank, path, body, \
         status, first_seq, last_seq, first_seen, last_seen, resolved_at) VALUES {} \
         ON CONFLICT (agent_id, fingerprint) DO UPDATE SET severity = excluded.severity, \
         severity_rank = excluded.severity_rank, body = excluded.body, status = 'open', \
         last_seq = excluded.last_seq, last_seen = excluded.last_seen, resolved_at = NULL, \
         resolved_seq = NULL",
        vec![row; n].join(", ")
    )
}

/// `None`: link it. `Some("")`: exact duplicate. `Some(reason)`: conflict.
fn chain_conflict(c: &mut dyn Conn, r: &NewReport) -> Result<Option<String>> {
    // One query for the report's slot, its neighbours and its report_id.
    let rows = c.rows(
        "SELECT agent_id, seq, report_id, payload_sha256, prev FROM reports \
         WHERE (agent_id = ? AND seq BETWEEN ? AND ?) OR report_id = ?",
        &[
            (&r.agent_id).into(),
            (r.seq - 1).into(),
            r.seq.saturating_add(1).into(),
            (&r.report_id).into(),
        ],
    )?;
    struct Near {
        agent_id: String,
        seq: i64,
        report_id: String,
        sha: String,
        prev: Option<String>,
    }
    let near = rows
        .iter()
        .map(|row| {
            Ok(Near {
                agent_id: text(row, 0, "agent_id")?,
                seq: int(row, 1, "seq")?,
                report_id: text(row, 2, "report_id")?,
                sha: text(row, 3, "payload_sha256")?,
                prev: opt_text(row, 4, "prev")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let at = |seq: i64| {
        near.iter()
            .find(|n| n.agent_id == r.agent_id && n.seq == seq)
    };
    if let Some(e) = at(r.seq) {
        if e.report_id == r.report_id && e.sha == r.payload_sha256 {
            return Ok(Some(String::new()));
        }
        return Ok(Some(format!(
            "seq {} is already stored with a different payload (report_id {})",
            r.seq, e.report_id
        )));
    }
    if let Some(e) = near.iter().find(|n| n.report_id == r.report_id) {
        return Ok(Some(format!(
            "report_id {} is already stored as seq {} of agent {}",
            r.report_id, e.seq, e.agent_id
        )));
    }
    if let Some(p) = at(r.seq - 1)
        && r.prev.as_deref() != Some(p.sha.as_str())
    {
        return Ok(Some(format!(
            "prev {} does not match the stored predecessor seq {} ({})",
            r.prev.as_deref().unwrap_or("null"),
            r.seq - 1,
            p.sha
        )));
    }
    if let Some(n) = at(r.seq.saturating_add(1))
        && n.prev.as_deref() != Some(r.payload_sha256.as_str())
    {
        return Ok(Some(format!(
            "the stored successor seq {} has prev {}, not this report's digest {}",
            r.seq + 1,
            n.prev.as_deref().unwrap_or("null"),
            r.payload_sha256
        )));
    }
    Ok(None)
}

/// Split the chain's gaps into the parts the agent declared (with its
/// reason) and the rest. `declared` is sorted by `from`; ranges may overlap.
fn split_declared(gaps: &[(i64, i64)], declared: &[(i64, i64, String)]) -> Vec<Gap> {
    let mut out = Vec::new();
    for &(from, to) in gaps {
        let mut at = from;
        for (df, dt, why) in declared {
            if *dt < at || *df > to {
                continue;
            }
            if *df > at {
                out.push(Gap {
                    from: at,
                    to: df - 1,
                    declared: None,
                });
            }
            let end = (*dt).min(to);
            out.push(Gap {
                from: (*df).max(at),
                to: end,
                declared: Some(why.clone()),
            });
            at = end + 1;
            if at > to {
                break;
            }
        }
        if at <= to {
            out.push(Gap {
                from: at,
                to,
                declared: None,
            });
        }
    }
    out
}

fn ensure_host(c: &mut dyn Conn, agent_id: &str) -> Result<()> {
    c.exec(
        "INSERT INTO hosts (agent_id) VALUES (?) ON CONFLICT (agent_id) DO NOTHING",
        &[agent_id.into()],
    )?;
    Ok(())
}

fn agent_row(r: &Row) -> Result<Agent> {
    Ok(Agent {
        agent_id: text(r, 0, "agent_id")?,
        jwk: text(r, 1, "jwk")?,
        hostname: opt_text(r, 2, "hostname")?,
        enrolled_at: int(r, 3, "enrolled_at")?,
        revoked_at: opt_int(r, 4, "revoked_at")?,
    })
}

fn insert_agent(c: &mut dyn Conn, id: &str, jwk: &str, host: Option<&str>, now: i64) -> Result<()> {
    c.exec(
        "INSERT INTO agents (agent_id, jwk, hostname, enrolled_at) VALUES (?, ?, ?, ?)",
        &[id.into(), jwk.into(), host.into(), now.into()],
    )?;
    ensure_host(c, id)?;
    if let Some(h) = host {
        c.exec(
            "UPDATE hosts SET hostname = ? WHERE agent_id = ? AND hostname IS NULL",
            &[h.into(), id.into()],
        )?;
    }
    Ok(())
}

impl<B: Backend> Store for SqlStore<B> {
    fn backend(&self) -> &'static str {
        self.b.name()
    }

    fn ingest(&self, report: NewReport) -> Result<Outcome> {
        if self.b.group_commit() {
            let mine = self.queue.push(report);
            return self
                .b
                .with_conn(true, |c| self.queue.lead(c, &mine, ingest_tx));
        }
        // A unique constraint can still fire when another process inserted the
        // same report_id for another agent between our read and write: try
        // again, the next attempt sees the committed row and decides.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let res = self
                .b
                .with_conn(true, |c| match tx(c, |c| ingest_tx(c, &report)) {
                    Err(e) if attempt < 4 && c.is_unique_violation(&e) => Ok(None),
                    other => other.map(Some),
                })?;
            if let Some(out) = res {
                return Ok(out);
            }
        }
    }

    fn agent(&self, agent_id: &str) -> Result<Option<Agent>> {
        self.b.with_conn(false, |c| {
            c.row(
                "SELECT agent_id, jwk, hostname, enrolled_at, revoked_at FROM agents WHERE agent_id = ?",
                &[agent_id.into()],
            )?
            .map(|r| agent_row(&r))
            .transpose()
        })
    }

    fn add_agent(
        &self,
        agent_id: &str,
        jwk: &str,
        hostname: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        self.b.with_conn(true, |c| {
            tx(c, |c| {
                if c.row(
                    "SELECT agent_id FROM agents WHERE agent_id = ?",
                    &[agent_id.into()],
                )?
                .is_some()
                {
                    return Ok(false);
                }
                insert_agent(c, agent_id, jwk, hostname, now)?;
                Ok(true)
            })
        })
    }

    fn revoke_agent(&self, agent_id: &str, now: i64) -> Result<bool> {
        self.b.with_conn(true, |c| {
            tx(c, |c| {
                if c.row(
                    "SELECT agent_id FROM agents WHERE agent_id = ?",
                    &[agent_id.into()],
                )?
                .is_none()
                {
                    return Ok(false);
                }
                c.exec(
                    "UPDATE agents SET revoked_at = ? WHERE agent_id = ? AND revoked_at IS NULL",
                    &[now.into(), agent_id.into()],
                )?;
                Ok(true)
            })
        })
    }

    fn create_enroll_token(
        &self,
        token_hash: &str,
        uses: i64,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        if uses < 1 {
            return Err(StoreError::Invalid(
                "an enrollment token needs at least one use".into(),
            ));
        }
        self.b.with_conn(true, |c| {
            c.exec(
                "INSERT INTO enroll_tokens (token_hash, uses_left, expires_at, created_at) VALUES (?, ?, ?, ?)",
                &[token_hash.into(), uses.into(), expires_at.into(), now.into()],
            )?;
            Ok(())
        })
    }

    fn enroll(
        &self,
        token_hash: &str,
        agent_id: &str,
        jwk: &str,
        hostname: Option<&str>,
        now: i64,
    ) -> Result<Enrolled> {
        self.b.with_conn(true, |c| {
            tx(c, |c| {
                let lock = if c.dialect() == Dialect::Postgres { " FOR UPDATE" } else { "" };
                let Some(t) = c.row(
                    &format!("SELECT uses_left, expires_at FROM enroll_tokens WHERE token_hash = ?{lock}"),
                    &[token_hash.into()],
                )?
                else {
                    return Ok(Enrolled::BadToken);
                };
                let uses = int(&t, 0, "uses_left")?;
                let expires = opt_int(&t, 1, "expires_at")?;
                if uses < 1 || expires.is_some_and(|e| e <= now) {
                    return Ok(Enrolled::BadToken);
                }
                if let Some(a) = c.row(
                    "SELECT agent_id, jwk, hostname, enrolled_at, revoked_at FROM agents WHERE agent_id = ?",
                    &[agent_id.into()],
                )? {
                    let a = agent_row(&a)?;
                    return Ok(if a.revoked_at.is_some() { Enrolled::Revoked } else { Enrolled::Already });
                }
                c.exec(
                    "UPDATE enroll_tokens SET uses_left = uses_left - 1 WHERE token_hash = ?",
                    &[token_hash.into()],
                )?;
                insert_agent(c, agent_id, jwk, hostname, now)?;
                Ok(Enrolled::New)
            })
        })
    }

    fn put_user(&self, name: &str, role: Role, password_hash: &str, now: i64) -> Result<()> {
        self.b.with_conn(true, |c| {
            c.exec(
                "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash",
                &[name.into(), role.as_str().into(), password_hash.into(), now.into()],
            )?;
            Ok(())
        })
    }

    fn user(&self, name: &str) -> Result<Option<User>> {
        self.b.with_conn(false, |c| {
            let Some(r) = c.row(
                "SELECT name, role, password_hash FROM users WHERE name = ?",
                &[name.into()],
            )?
            else {
                return Ok(None);
            };
            Ok(Some(User {
                name: text(&r, 0, "name")?,
                role: Role::parse(&text(&r, 1, "role")?).ok_or(StoreError::Column("role"))?,
                password_hash: text(&r, 2, "password_hash")?,
            }))
        })
    }

    fn create_api_token(
        &self,
        token_hash: &str,
        role: Role,
        label: Option<&str>,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        self.b.with_conn(true, |c| {
            c.exec(
                "INSERT INTO api_tokens (token_hash, role, label, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                &[token_hash.into(), role.as_str().into(), label.into(), now.into(), expires_at.into()],
            )?;
            Ok(())
        })
    }

    fn api_token(&self, token_hash: &str, now: i64) -> Result<Option<Role>> {
        self.b.with_conn(false, |c| {
            let Some(r) = c.row(
                "SELECT role, expires_at FROM api_tokens WHERE token_hash = ?",
                &[token_hash.into()],
            )?
            else {
                return Ok(None);
            };
            if opt_int(&r, 1, "expires_at")?.is_some_and(|e| e <= now) {
                return Ok(None);
            }
            Ok(Role::parse(&text(&r, 0, "role")?))
        })
    }

    fn api_tokens(&self) -> Result<Vec<ApiTokenInfo>> {
        self.b.with_conn(false, |c| {
            c.rows(
                "SELECT token_hash, role, label, created_at, expires_at FROM api_tokens \
                 ORDER BY created_at, token_hash",
                &[],
            )?
            .iter()
            .map(|r| {
                let role = text(r, 1, "role")?;
                Ok(ApiTokenInfo {
                    id: text(r, 0, "token_hash")?.chars().take(12).collect(),
                    role: Role::parse(&role).ok_or(StoreError::Column("role"))?,
                    label: opt_text(r, 2, "label")?,
                    created_at: int(r, 3, "created_at")?,
                    expires_at: opt_int(r, 4, "expires_at")?,
                })
            })
            .collect()
        })
    }

    fn revoke_api_token(&self, id: &str) -> Result<TokenRevoked> {
        let id = id.to_ascii_lowercase();
        if id.len() < 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid(
                "a token id is at least 8 hex digits, as `api-token list` shows it".into(),
            ));
        }
        self.b.with_conn(true, |c| {
            tx(c, |c| {
                // Hex only, so LIKE sees no wildcard but the one appended.
                let hits = c.rows(
                    "SELECT token_hash FROM api_tokens WHERE token_hash LIKE ?",
                    &[format!("{id}%").as_str().into()],
                )?;
                match hits.as_slice() {
                    [] => Ok(TokenRevoked::NotFound),
                    [one] => {
                        c.exec(
                            "DELETE FROM api_tokens WHERE token_hash = ?",
                            &[text(one, 0, "token_hash")?.as_str().into()],
                        )?;
                        Ok(TokenRevoked::Revoked)
                    }
                    many => Ok(TokenRevoked::Ambiguous(many.len())),
                }
            })
        })
    }

    fn hosts(&self, q: &HostQuery) -> Result<Vec<HostSummary>> {
        let mut sql = format!(
            "SELECT {HOST_COLS} FROM hosts h LEFT JOIN agents a ON a.agent_id = h.agent_id WHERE 1 = 1"
        );
        let mut p: Vec<V> = Vec::new();
        if let Some(h) = &q.hostname {
            sql.push_str(" AND lower(h.hostname) LIKE ? ESCAPE '\\'");
            p.push(V::T(like_literal(h)));
        }
        if let Some(cpl) = q.compliant {
            sql.push_str(" AND h.compliant = ?");
            p.push(cpl.into());
        }
        if let Some(cl) = &q.classification {
            sql.push_str(" AND h.classification = ?");
            p.push(cl.into());
        }
        if let Some(since) = q.silent_since {
            sql.push_str(" AND (h.last_seen IS NULL OR h.last_seen < ?)");
            p.push(since.into());
        }
        let (limit, offset) = page(q.limit, q.offset);
        sql.push_str(" ORDER BY h.hostname, h.agent_id LIMIT ? OFFSET ?");
        p.push(limit.into());
        p.push(offset.into());
        self.b.with_conn(false, |c| {
            c.rows(&sql, &p)?.iter().map(host_summary).collect()
        })
    }

    fn host(&self, agent_id: &str) -> Result<Option<HostDetail>> {
        self.b.with_conn(false, |c| {
            let Some(r) = c.row(
                &format!("SELECT {HOST_COLS}, h.latest_checks FROM hosts h LEFT JOIN agents a ON a.agent_id = h.agent_id WHERE h.agent_id = ?"),
                &[agent_id.into()],
            )?
            else {
                return Ok(None);
            };
            let summary = host_summary(&r)?;
            let latest_checks = opt_text(&r, 16, "latest_checks")?;
            // Gaps from the (agent_id, seq) index only: no payload is read.
            let mut gaps = Vec::new();
            // Seq 0 stands for "before the chain": a missing seq 1 is a gap.
            let mut last: Option<i64> = Some(0);
            for s in c.rows("SELECT seq FROM reports WHERE agent_id = ? ORDER BY seq", &[agent_id.into()])? {
                let seq = int(&s, 0, "seq")?;
                if let Some(l) = last
                    && seq > l + 1
                {
                    gaps.push((l + 1, seq - 1));
                }
                last = Some(seq);
            }
            let mut declared = Vec::new();
            for d in c.rows(
                "SELECT seq_from, seq_to, reason FROM declared_gaps WHERE agent_id = ? ORDER BY seq_from",
                &[agent_id.into()],
            )? {
                declared.push((int(&d, 0, "seq_from")?, int(&d, 1, "seq_to")?, text(&d, 2, "reason")?));
            }
            let gaps = split_declared(&gaps, &declared);
            let declared_missing_seqs = gaps
                .iter()
                .filter(|g| g.declared.is_some())
                .map(|g| g.to - g.from + 1)
                .sum();
            let mut alerts = Vec::new();
            for a in c.rows(
                "SELECT agent_id, seq, report_id, payload_sha256, reason, received_at FROM tamper_alerts \
                 WHERE agent_id = ? ORDER BY id DESC LIMIT 100",
                &[agent_id.into()],
            )? {
                alerts.push(TamperAlert {
                    agent_id: text(&a, 0, "agent_id")?,
                    seq: int(&a, 1, "seq")?,
                    report_id: text(&a, 2, "report_id")?,
                    payload_sha256: text(&a, 3, "payload_sha256")?,
                    reason: text(&a, 4, "reason")?,
                    received_at: int(&a, 5, "received_at")?,
                });
            }
            Ok(Some(HostDetail { summary, latest_checks, gaps, declared_missing_seqs, tamper_alerts_list: alerts }))
        })
    }

    fn findings(&self, q: &FindingQuery) -> Result<Vec<FindingRow>> {
        let mut sql = format!(
            "SELECT {FINDING_COLS} FROM findings f LEFT JOIN hosts h ON h.agent_id = f.agent_id WHERE 1 = 1"
        );
        let mut p: Vec<V> = Vec::new();
        if let Some(k) = &q.kind {
            sql.push_str(" AND f.kind = ?");
            p.push(k.into());
        }
        if let Some(s) = &q.severity {
            sql.push_str(" AND f.severity = ?");
            p.push(s.into());
        }
        if let Some(r) = q.min_severity_rank {
            sql.push_str(" AND f.severity_rank >= ?");
            p.push(r.into());
        }
        if let Some(a) = &q.agent_id {
            sql.push_str(" AND f.agent_id = ?");
            p.push(a.into());
        }
        if let Some(s) = &q.status {
            sql.push_str(" AND f.status = ?");
            p.push(s.into());
        }
        let (limit, offset) = page(q.limit, q.offset);
        sql.push_str(" ORDER BY f.severity_rank DESC, f.agent_id, f.fingerprint LIMIT ? OFFSET ?");
        p.push(limit.into());
        p.push(offset.into());
        self.b.with_conn(false, |c| {
            c.rows(&sql, &p)?.iter().map(finding_row).collect()
        })
    }

    fn report_jws(&self, agent_id: &str, seq: i64) -> Result<Option<Vec<u8>>> {
        self.b.with_conn(false, |c| {
            c.row(
                "SELECT jws FROM reports WHERE agent_id = ? AND seq = ?",
                &[agent_id.into(), seq.into()],
            )?
            .map(|r| blob(&r, 0, "jws"))
            .transpose()
        })
    }

    fn silent_hosts(&self, since: i64) -> Result<i64> {
        self.b.with_conn(false, |c| {
            let r = c.row(
                "SELECT COUNT(*) FROM hosts h JOIN agents a ON a.agent_id = h.agent_id \
                 WHERE a.revoked_at IS NULL AND (h.last_seen IS NULL OR h.last_seen < ?)",
                &[since.into()],
            )?;
            r.map_or(Ok(0), |r| int(&r, 0, "count"))
        })
    }

    fn stats(&self) -> Result<Stats> {
        self.b.with_conn(false, |c| {
            let mut one = |sql: &str| -> Result<i64> {
                c.row(sql, &[])?.map_or(Ok(0), |r| int(&r, 0, "count"))
            };
            Ok(Stats {
                agents: one("SELECT COUNT(*) FROM agents")?,
                revoked_agents: one("SELECT COUNT(*) FROM agents WHERE revoked_at IS NOT NULL")?,
                reports: one("SELECT COUNT(*) FROM reports")?,
                tamper_alerts: one("SELECT COUNT(*) FROM tamper_alerts")?,
                open_findings: one("SELECT COUNT(*) FROM findings WHERE status = 'open'")?,
            })
        })
    }

    fn console(&self) -> &dyn crate::console::Console {
        self
    }

    fn prune(&self, before: i64) -> Result<u64> {
        self.b.with_conn(true, |c| {
            tx(c, |c| {
                let n = c.exec(
                    "DELETE FROM reports WHERE received_at < ? AND NOT EXISTS \
                     (SELECT 1 FROM hosts h WHERE h.agent_id = reports.agent_id AND h.latest_seq = reports.seq)",
                    &[before.into()],
                )?;
                c.exec(
                    "DELETE FROM findings WHERE status = 'resolved' AND resolved_at < ?",
                    &[before.into()],
                )?;
                Ok(n)
            })
        })
    }
}

/// The central policy's versions (issue 13).
mod policy;
