//! [`Console`] over the common SQL subset (see the parent module): the
//! console's queries, written once for SQLite and PostgreSQL.
//! Lists are keyset-paged: a page starts after the last row of the previous
//! one by a row-value comparison the index can seek to, so page 5,000 costs
//! what page 1 costs (offset paging reads and drops every skipped row).

use super::*;
use crate::console::*;

/// The last seq an open finding was carried by (see `FINDING_COLS`).
const LAST_SEQ: &str = "CASE WHEN f.status = 'open' AND h.latest_seq IS NOT NULL THEN h.latest_seq ELSE f.last_seq END";

const TRIAGE_COLS: &str =
    "f.severity_rank, t.state, t.justification, t.expires_at, t.actor, t.updated_at, t.at_seq";

fn triaged(r: &Row, now: i64) -> Result<TriagedFinding> {
    let finding = finding_row(r)?;
    let state = opt_text(r, 14, "state")?;
    let expires_at = opt_int(r, 16, "expires_at")?;
    let at_seq = opt_int(r, 19, "at_seq")?;
    let in_force = match state.as_deref() {
        Some("acknowledged") => true,
        Some("exception") => expires_at.is_some_and(|e| e > now),
        Some("resolved") => at_seq.is_some_and(|s| finding.last_seq <= s),
        _ => false,
    };
    Ok(TriagedFinding {
        severity_rank: int(r, 13, "severity_rank")?,
        triage: if in_force { state.clone() } else { None },
        triage_recorded: state,
        justification: opt_text(r, 15, "justification")?,
        expires_at,
        triaged_by: opt_text(r, 17, "actor")?,
        triaged_at: opt_int(r, 18, "updated_at")?,
        finding,
    })
}

fn sum(expr: &str) -> String {
    format!("CAST(SUM(CASE WHEN {expr} THEN 1 ELSE 0 END) AS BIGINT)")
}

fn audit_row(r: &Row) -> Result<AuditRow> {
    Ok(AuditRow {
        id: int(r, 0, "id")?,
        entry: AuditEntry {
            at: int(r, 1, "at")?,
            actor: text(r, 2, "actor")?,
            role: opt_text(r, 3, "role")?,
            action: text(r, 4, "action")?,
            target: opt_text(r, 5, "target")?,
            detail: opt_text(r, 6, "detail")?,
            addr: opt_text(r, 7, "addr")?,
            outcome: text(r, 8, "outcome")?,
        },
    })
}

fn alert_row(r: &Row) -> Result<AlertRow> {
    Ok(AlertRow {
        id: int(r, 0, "id")?,
        at: int(r, 1, "at")?,
        kind: text(r, 2, "kind")?,
        agent_id: opt_text(r, 3, "agent_id")?,
        hostname: opt_text(r, 4, "hostname")?,
        detail: text(r, 5, "detail")?,
        forwarded: int(r, 6, "forwarded")?,
        attempts: int(r, 7, "attempts")?,
        last_error: opt_text(r, 8, "last_error")?,
    })
}

fn insert_alert(c: &mut dyn Conn, a: &NewAlert) -> Result<u64> {
    c.exec(
        "INSERT INTO alerts (at, kind, agent_id, hostname, detail, dedup) VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (dedup) DO NOTHING",
        &[
            a.at.into(),
            (&a.kind).into(),
            a.agent_id.as_ref().into(),
            a.hostname.as_ref().into(),
            (&a.detail).into(),
            (&a.dedup).into(),
        ],
    )
}

const ALERT_COLS: &str =
    "id, at, kind, agent_id, hostname, detail, forwarded, attempts, last_error";

fn medium_row(r: &Row) -> Result<Medium> {
    Ok(Medium {
        medium_id: text(r, 0, "medium_id")?,
        serial: opt_text(r, 1, "serial")?,
        vendor_id: opt_text(r, 2, "vendor_id")?,
        product_id: opt_text(r, 3, "product_id")?,
        fs_uuid: opt_text(r, 4, "fs_uuid")?,
        label: opt_text(r, 5, "label")?,
        level: opt_text(r, 6, "level")?,
        holder: opt_text(r, 7, "holder")?,
        note: opt_text(r, 8, "note")?,
    })
}

/// The WHERE clause of a host page (without the cursor), and its parameters.
fn host_filter(q: &HostPageQuery) -> (String, Vec<V>) {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut p = Vec::new();
    if let Some(h) = &q.hostname {
        sql.push_str(" AND lower(h.hostname) LIKE ? ESCAPE '\\'");
        p.push(V::T(like_literal(h)));
    }
    if let Some(c) = q.compliant {
        sql.push_str(" AND h.compliant = ?");
        p.push(c.into());
    }
    if let Some(c) = &q.classification {
        sql.push_str(" AND h.classification = ?");
        p.push(c.into());
    }
    if let Some(since) = q.silent_since {
        sql.push_str(" AND (h.last_seen IS NULL OR h.last_seen < ?)");
        p.push(since.into());
    }
    (sql, p)
}

fn host_sort_expr(s: HostSort) -> &'static str {
    match s {
        HostSort::Hostname => "COALESCE(h.hostname, '')",
        HostSort::LastSeen => "COALESCE(h.last_seen, 0)",
        HostSort::OpenFindings => "h.open_findings",
        HostSort::Classification => "COALESCE(h.classification, '')",
    }
}

impl<B: Backend> Console for SqlStore<B> {
    fn users(&self) -> Result<Vec<UserInfo>> {
        self.b.with_conn(false, |c| {
            c.rows(
                "SELECT name, role, created_at, failed_logins, locked_until FROM users ORDER BY name",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(UserInfo {
                    name: text(r, 0, "name")?,
                    role: Role::parse(&text(r, 1, "role")?).ok_or(StoreError::Column("role"))?,
                    created_at: int(r, 2, "created_at")?,
                    failed_logins: int(r, 3, "failed_logins")?,
                    locked_until: opt_int(r, 4, "locked_until")?,
                })
            })
            .collect()
        })
    }

    fn delete_user(&self, name: &str) -> Result<bool> {
        self.b.with_conn(true, |c| {
            tx(c, |c| {
                c.exec("DELETE FROM sessions WHERE user_name = ?", &[name.into()])?;
                Ok(c.exec("DELETE FROM users WHERE name = ?", &[name.into()])? > 0)
            })
        })
    }

    fn login_state(&self, name: &str) -> Result<Option<LoginState>> {
        self.b.with_conn(false, |c| {
            let Some(r) = c.row(
                "SELECT role, password_hash, locked_until FROM users WHERE name = ?",
                &[name.into()],
            )?
            else {
                return Ok(None);
            };
            Ok(Some(LoginState {
                role: Role::parse(&text(&r, 0, "role")?).ok_or(StoreError::Column("role"))?,
                password_hash: text(&r, 1, "password_hash")?,
                locked_until: opt_int(&r, 2, "locked_until")?,
            }))
        })
    }

    fn login_failed(
        &self,
        name: &str,
        now: i64,
        max_failures: i64,
        lock_secs: i64,
    ) -> Result<Option<i64>> {
        self.b.with_conn(true, |c| {
            tx(c, |c| {
                let Some(r) = c.row(
                    "SELECT failed_logins, locked_until FROM users WHERE name = ?",
                    &[name.into()],
                )?
                else {
                    return Ok(None);
                };
                if let Some(l) = opt_int(&r, 1, "locked_until")?.filter(|l| *l > now) {
                    return Ok(Some(l));
                }
                let failed = int(&r, 0, "failed_logins")? + 1;
                if failed >= max_failures {
                    let until = now + lock_secs;
                    c.exec(
                        "UPDATE users SET failed_logins = 0, locked_until = ? WHERE name = ?",
                        &[until.into(), name.into()],
                    )?;
                    return Ok(Some(until));
                }
                c.exec(
                    "UPDATE users SET failed_logins = ? WHERE name = ?",
                    &[failed.into(), name.into()],
                )?;
                Ok(None)
            })
        })
    }

    fn login_succeeded(&self, name: &str) -> Result<()> {
        self.b.with_conn(true, |c| {
            c.exec(
                "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE name = ? \
                 AND (failed_logins <> 0 OR locked_until IS NOT NULL)",
                &[name.into()],
            )?;
            Ok(())
        })
    }

    fn create_session(&self, token_hash: &str, s: &Session, addr: Option<&str>) -> Result<()> {
        self.b.with_conn(true, |c| {
            c.exec(
                "INSERT INTO sessions (token_hash, user_name, role, csrf, created_at, last_active, addr) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
                &[
                    token_hash.into(),
                    (&s.user_name).into(),
                    s.role.as_str().into(),
                    (&s.csrf).into(),
                    s.created_at.into(),
                    s.last_active.into(),
                    addr.into(),
                ],
            )?;
            Ok(())
        })
    }

    fn session(&self, token_hash: &str, now: i64, idle_secs: i64) -> Result<Option<Session>> {
        let found = self.b.with_conn(false, |c| {
            c.row(
                "SELECT user_name, role, csrf, created_at, last_active FROM sessions WHERE token_hash = ?",
                &[token_hash.into()],
            )?
            .map(|r| {
                Ok::<_, StoreError>(Session {
                    user_name: text(&r, 0, "user_name")?,
                    role: Role::parse(&text(&r, 1, "role")?).ok_or(StoreError::Column("role"))?,
                    csrf: text(&r, 2, "csrf")?,
                    created_at: int(&r, 3, "created_at")?,
                    last_active: int(&r, 4, "last_active")?,
                })
            })
            .transpose()
        })?;
        let Some(mut s) = found else { return Ok(None) };
        if s.last_active + idle_secs < now {
            self.delete_session(token_hash)?;
            return Ok(None);
        }
        // Touch at most every 15 s: one write per page view is not needed.
        if now - s.last_active >= 15 {
            self.b.with_conn(true, |c| {
                c.exec(
                    "UPDATE sessions SET last_active = ? WHERE token_hash = ?",
                    &[now.into(), token_hash.into()],
                )
            })?;
            s.last_active = now;
        }
        Ok(Some(s))
    }

    fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.b.with_conn(true, |c| {
            c.exec(
                "DELETE FROM sessions WHERE token_hash = ?",
                &[token_hash.into()],
            )?;
            Ok(())
        })
    }

    fn delete_sessions_of(&self, user_name: &str) -> Result<()> {
        self.b.with_conn(true, |c| {
            c.exec(
                "DELETE FROM sessions WHERE user_name = ?",
                &[user_name.into()],
            )?;
            Ok(())
        })
    }

    fn agents(&self, limit: i64) -> Result<Vec<Agent>> {
        self.b.with_conn(false, |c| {
            c.rows(
                "SELECT agent_id, jwk, hostname, enrolled_at, revoked_at FROM agents \
                 ORDER BY enrolled_at DESC, agent_id LIMIT ?",
                &[limit.clamp(1, 10_000).into()],
            )?
            .iter()
            .map(agent_row)
            .collect()
        })
    }

    fn audit(&self, e: &AuditEntry) -> Result<()> {
        self.b.with_conn(true, |c| {
            c.exec(
                "INSERT INTO audit_log (at, actor, role, action, target, detail, addr, outcome) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                &[
                    e.at.into(),
                    (&e.actor).into(),
                    e.role.as_ref().into(),
                    (&e.action).into(),
                    e.target.as_ref().into(),
                    e.detail.as_ref().into(),
                    e.addr.as_ref().into(),
                    (&e.outcome).into(),
                ],
            )?;
            Ok(())
        })
    }

    fn audit_log(
        &self,
        before: Option<i64>,
        actor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        let mut sql = String::from(
            "SELECT id, at, actor, role, action, target, detail, addr, outcome FROM audit_log WHERE 1 = 1",
        );
        let mut p: Vec<V> = Vec::new();
        if let Some(b) = before {
            sql.push_str(" AND id < ?");
            p.push(b.into());
        }
        if let Some(a) = actor {
            sql.push_str(" AND actor = ?");
            p.push(a.into());
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        p.push(limit.clamp(1, 1000).into());
        self.b
            .with_conn(false, |c| c.rows(&sql, &p)?.iter().map(audit_row).collect())
    }

    fn host_reports(&self, agent_id: &str, limit: i64) -> Result<Vec<ReportInfo>> {
        self.b.with_conn(false, |c| {
            c.rows(
                "SELECT seq, report_id, created_at, received_at, trigger_kind, compliant FROM reports \
                 WHERE agent_id = ? ORDER BY seq DESC LIMIT ?",
                &[agent_id.into(), limit.clamp(1, 10_000).into()],
            )?
            .iter()
            .map(|r| {
                Ok(ReportInfo {
                    seq: int(r, 0, "seq")?,
                    report_id: text(r, 1, "report_id")?,
                    created_at: text(r, 2, "created_at")?,
                    received_at: int(r, 3, "received_at")?,
                    trigger: text(r, 4, "trigger_kind")?,
                    compliant: int(r, 5, "compliant")? != 0,
                })
            })
            .collect()
        })
    }

    fn host_page(&self, q: &HostPageQuery) -> Result<Vec<HostSummary>> {
        let (filter, mut p) = host_filter(q);
        let key = host_sort_expr(q.sort);
        let mut sql = format!(
            "SELECT {HOST_COLS} FROM hosts h LEFT JOIN agents a ON a.agent_id = h.agent_id{filter}"
        );
        if let Some((k, id)) = &q.after {
            let op = if q.desc { "<" } else { ">" };
            sql.push_str(&format!(" AND ({key}, h.agent_id) {op} (?, ?)"));
            p.push(match k {
                CursorKey::Text(t) => V::T(t.clone()),
                CursorKey::Int(i) => V::I(*i),
            });
            p.push(id.into());
        }
        let dir = if q.desc { "DESC" } else { "ASC" };
        sql.push_str(&format!(" ORDER BY {key} {dir}, h.agent_id {dir} LIMIT ?"));
        p.push(q.limit.clamp(1, 1000).into());
        self.b.with_conn(false, |c| {
            c.rows(&sql, &p)?.iter().map(host_summary).collect()
        })
    }

    fn host_count(&self, q: &HostPageQuery) -> Result<i64> {
        let (filter, p) = host_filter(q);
        self.b.with_conn(false, |c| {
            c.row(&format!("SELECT COUNT(*) FROM hosts h{filter}"), &p)?
                .map_or(Ok(0), |r| int(&r, 0, "count"))
        })
    }

    fn finding_page(&self, q: &FindingPageQuery, now: i64) -> Result<Vec<TriagedFinding>> {
        let mut sql = format!(
            "SELECT {FINDING_COLS}, {TRIAGE_COLS} FROM findings f \
             LEFT JOIN hosts h ON h.agent_id = f.agent_id \
             LEFT JOIN finding_triage t ON t.agent_id = f.agent_id AND t.fingerprint = f.fingerprint \
             WHERE 1 = 1"
        );
        let mut p: Vec<V> = Vec::new();
        if let Some(s) = &q.status {
            sql.push_str(" AND f.status = ?");
            p.push(s.into());
        }
        if let Some(k) = &q.kind {
            sql.push_str(" AND f.kind = ?");
            p.push(k.into());
        }
        if let Some(r) = q.severity_rank {
            sql.push_str(" AND f.severity_rank = ?");
            p.push(r.into());
        }
        if let Some(r) = q.min_severity_rank {
            sql.push_str(" AND f.severity_rank >= ?");
            p.push(r.into());
        }
        if let Some(a) = &q.agent_id {
            sql.push_str(" AND f.agent_id = ?");
            p.push(a.into());
        }
        if let Some(h) = &q.hostname {
            sql.push_str(" AND lower(h.hostname) LIKE ? ESCAPE '\\'");
            p.push(V::T(like_literal(h)));
        }
        if let Some(t) = &q.text {
            // Bodies are JSON: match the text as written there, case-sensitive.
            let mut lit = String::from("%");
            for ch in t.chars() {
                if matches!(ch, '%' | '_' | '\\') {
                    lit.push('\\');
                }
                lit.push(ch);
            }
            lit.push('%');
            sql.push_str(" AND f.body LIKE ? ESCAPE '\\'");
            p.push(V::T(lit));
        }
        if let Some(s) = q.since {
            sql.push_str(" AND f.first_seen >= ?");
            p.push(s.into());
        }
        if let Some(u) = q.until {
            sql.push_str(" AND f.first_seen < ?");
            p.push(u.into());
        }
        let in_force = format!(
            "(t.state = 'acknowledged' OR (t.state = 'exception' AND t.expires_at > ?) \
             OR (t.state = 'resolved' AND {LAST_SEQ} <= t.at_seq))"
        );
        match q.triage {
            TriageFilter::Any => {}
            TriageFilter::Pending => {
                sql.push_str(&format!(" AND (t.state IS NULL OR NOT {in_force})"));
                p.push(now.into());
            }
            TriageFilter::Acknowledged => sql.push_str(" AND t.state = 'acknowledged'"),
            TriageFilter::Resolved => {
                sql.push_str(&format!(
                    " AND t.state = 'resolved' AND {LAST_SEQ} <= t.at_seq"
                ));
            }
            TriageFilter::Exception => {
                sql.push_str(" AND t.state = 'exception' AND t.expires_at > ?");
                p.push(now.into());
            }
        }
        if let Some((rank, agent, fp)) = &q.after {
            sql.push_str(" AND (f.severity_rank, f.agent_id, f.fingerprint) < (?, ?, ?)");
            p.push((*rank).into());
            p.push(agent.into());
            p.push(fp.into());
        }
        sql.push_str(" ORDER BY f.severity_rank DESC, f.agent_id DESC, f.fingerprint DESC LIMIT ?");
        p.push(q.limit.clamp(1, 5000).into());
        self.b.with_conn(false, |c| {
            c.rows(&sql, &p)?.iter().map(|r| triaged(r, now)).collect()
        })
    }

    fn finding(
        &self,
        agent_id: &str,
        fingerprint: &str,
        now: i64,
    ) -> Result<Option<TriagedFinding>> {
        self.b.with_conn(false, |c| {
            c.row(
                &format!(
                    "SELECT {FINDING_COLS}, {TRIAGE_COLS} FROM findings f \
                     LEFT JOIN hosts h ON h.agent_id = f.agent_id \
                     LEFT JOIN finding_triage t ON t.agent_id = f.agent_id AND t.fingerprint = f.fingerprint \
                     WHERE f.agent_id = ? AND f.fingerprint = ?"
                ),
                &[agent_id.into(), fingerprint.into()],
            )?
            .map(|r| triaged(&r, now))
            .transpose()
        })
    }

    fn triage(&self, items: &[(String, String)], t: &Triage) -> Result<usize> {
        self.b.with_conn(true, |c| {
            tx(c, |c| {
                let mut n = 0;
                for (agent, fp) in items {
                    let Some(r) = c.row(
                        &format!(
                            "SELECT {LAST_SEQ} FROM findings f LEFT JOIN hosts h ON h.agent_id = f.agent_id \
                             WHERE f.agent_id = ? AND f.fingerprint = ?"
                        ),
                        &[agent.into(), fp.into()],
                    )?
                    else {
                        continue;
                    };
                    let at_seq = int(&r, 0, "last_seq")?;
                    n += 1;
                    if t.state == TriageState::Reopened {
                        c.exec(
                            "DELETE FROM finding_triage WHERE agent_id = ? AND fingerprint = ?",
                            &[agent.into(), fp.into()],
                        )?;
                        continue;
                    }
                    c.exec(
                        "INSERT INTO finding_triage (agent_id, fingerprint, state, justification, expires_at, \
                         at_seq, actor, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                         ON CONFLICT (agent_id, fingerprint) DO UPDATE SET state = excluded.state, \
                         justification = excluded.justification, expires_at = excluded.expires_at, \
                         at_seq = excluded.at_seq, actor = excluded.actor, updated_at = excluded.updated_at",
                        &[
                            agent.into(),
                            fp.into(),
                            t.state.as_str().into(),
                            t.justification.as_ref().into(),
                            t.expires_at.into(),
                            at_seq.into(),
                            (&t.actor).into(),
                            t.now.into(),
                        ],
                    )?;
                }
                Ok(n)
            })
        })
    }

    fn fleet_counts(&self, silent_since: i64) -> Result<FleetCounts> {
        let sql = format!(
            "SELECT COUNT(*), {}, {}, {}, {}, {}, {} FROM hosts h LEFT JOIN agents a ON a.agent_id = h.agent_id",
            sum("h.latest_seq IS NOT NULL"),
            sum("h.compliant = 1"),
            sum("h.compliant = 0"),
            sum("a.revoked_at IS NULL AND (h.last_seen IS NULL OR h.last_seen < ?)"),
            sum("h.tamper_alerts > 0"),
            sum("a.revoked_at IS NOT NULL"),
        );
        let causes: Vec<String> = (0..CAUSE_BITS)
            .map(|b| sum(&format!("(c.causes & {}) <> 0", 1i64 << b)))
            .collect();
        let causes_sql = format!(
            "SELECT {} FROM host_causes c JOIN hosts h ON h.agent_id = c.agent_id \
             WHERE h.compliant = 0 AND c.seq = h.latest_seq",
            causes.join(", ")
        );
        self.b.with_conn(false, |c| {
            let r = c.row(&sql, &[silent_since.into()])?.unwrap_or_default();
            let n = |i: usize, col| opt_int(&r, i, col).map(|v| v.unwrap_or(0));
            let cr = c.row(&causes_sql, &[])?.unwrap_or_default();
            Ok(FleetCounts {
                hosts: n(0, "hosts")?,
                reporting: n(1, "reporting")?,
                compliant: n(2, "compliant")?,
                noncompliant: n(3, "noncompliant")?,
                silent: n(4, "silent")?,
                tampered: n(5, "tampered")?,
                revoked: n(6, "revoked")?,
                causes: (0..CAUSE_BITS)
                    .map(|i| opt_int(&cr, i, "causes").map(|v| v.unwrap_or(0)))
                    .collect::<Result<_>>()?,
            })
        })
    }

    fn history(&self, from_day: i64) -> Result<Vec<DayPoint>> {
        self.b.with_conn(false, |c| {
            c.rows(
                "SELECT day, hosts, compliant, silent FROM compliance_history WHERE day >= ? ORDER BY day",
                &[from_day.into()],
            )?
            .iter()
            .map(|r| {
                Ok(DayPoint {
                    day: int(r, 0, "day")?,
                    hosts: int(r, 1, "hosts")?,
                    compliant: int(r, 2, "compliant")?,
                    silent: int(r, 3, "silent")?,
                })
            })
            .collect()
        })
    }

    fn snapshot_day(&self, day: i64, silent_since: i64) -> Result<()> {
        let f = self.fleet_counts(silent_since)?;
        self.b.with_conn(true, |c| {
            c.exec(
                "INSERT INTO compliance_history (day, hosts, compliant, silent) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (day) DO UPDATE SET hosts = excluded.hosts, compliant = excluded.compliant, \
                 silent = excluded.silent",
                &[day.into(), f.reporting.into(), f.compliant.into(), f.silent.into()],
            )?;
            Ok(())
        })
    }

    fn stale_causes(&self, limit: i64) -> Result<Vec<StaleHost>> {
        self.b.with_conn(false, |c| {
            let hosts = c.rows(
                "SELECT h.agent_id, h.latest_seq, h.classification, h.latest_checks FROM hosts h \
                 LEFT JOIN host_causes c ON c.agent_id = h.agent_id \
                 WHERE h.latest_seq IS NOT NULL AND (c.seq IS NULL OR c.seq <> h.latest_seq) LIMIT ?",
                &[limit.clamp(1, 10_000).into()],
            )?;
            let mut out = Vec::with_capacity(hosts.len());
            for h in hosts {
                let agent_id = text(&h, 0, "agent_id")?;
                let open = c
                    .rows(
                        "SELECT kind, body FROM findings WHERE agent_id = ? AND status = 'open' LIMIT 2000",
                        &[(&agent_id).into()],
                    )?
                    .iter()
                    .map(|r| Ok((text(r, 0, "kind")?, text(r, 1, "body")?)))
                    .collect::<Result<_>>()?;
                out.push(StaleHost {
                    seq: opt_int(&h, 1, "latest_seq")?,
                    classification: opt_text(&h, 2, "classification")?,
                    latest_checks: opt_text(&h, 3, "latest_checks")?,
                    agent_id,
                    open,
                });
            }
            Ok(out)
        })
    }

    fn put_causes(&self, rows: &[(String, Option<i64>, i64)]) -> Result<()> {
        self.b.with_conn(true, |c| {
            tx(c, |c| {
                for (agent, seq, causes) in rows {
                    c.exec(
                        "INSERT INTO host_causes (agent_id, seq, causes) VALUES (?, ?, ?) \
                         ON CONFLICT (agent_id) DO UPDATE SET seq = excluded.seq, causes = excluded.causes",
                        &[agent.into(), (*seq).into(), (*causes).into()],
                    )?;
                }
                Ok(())
            })
        })
    }

    fn policy_rollout(&self) -> Result<Vec<PolicyCount>> {
        self.b.with_conn(false, |c| {
            c.rows(
                "SELECT policy_version, policy_digest, COUNT(*) FROM hosts \
                 WHERE latest_seq IS NOT NULL GROUP BY policy_version, policy_digest \
                 ORDER BY policy_version DESC, policy_digest LIMIT 1000",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(PolicyCount {
                    version: opt_int(r, 0, "policy_version")?,
                    digest: opt_text(r, 1, "policy_digest")?,
                    hosts: int(r, 2, "count")?,
                })
            })
            .collect()
        })
    }

    fn policy_hosts(
        &self,
        not_digest: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<HostPolicy>> {
        self.b.with_conn(false, |c| {
            let mut sql = String::from(
                "SELECT agent_id, hostname, last_seen, policy_version, policy_digest FROM hosts \
                 WHERE latest_seq IS NOT NULL",
            );
            let mut params: Vec<V> = Vec::new();
            if let Some(d) = not_digest {
                sql.push_str(" AND (policy_digest IS NULL OR policy_digest <> ?)");
                params.push(d.into());
            }
            sql.push_str(
                " ORDER BY COALESCE(policy_version, -1), hostname, agent_id LIMIT ? OFFSET ?",
            );
            params.push(limit.clamp(1, 1000).into());
            params.push(offset.max(0).into());
            c.rows(&sql, &params)?
                .iter()
                .map(|r| {
                    Ok(HostPolicy {
                        agent_id: text(r, 0, "agent_id")?,
                        hostname: opt_text(r, 1, "hostname")?,
                        last_seen: opt_int(r, 2, "last_seen")?,
                        policy_version: opt_int(r, 3, "policy_version")?,
                        policy_digest: opt_text(r, 4, "policy_digest")?,
                    })
                })
                .collect()
        })
    }

    fn media_register(&self) -> Result<Vec<Medium>> {
        self.b.with_conn(false, |c| {
            c.rows(
                "SELECT medium_id, serial, vendor_id, product_id, fs_uuid, label, level, holder, note \
                 FROM media_register ORDER BY medium_id",
                &[],
            )?
            .iter()
            .map(medium_row)
            .collect()
        })
    }

    fn put_medium(&self, m: &Medium, actor: &str, now: i64) -> Result<()> {
        self.b.with_conn(true, |c| {
            c.exec(
                "INSERT INTO media_register (medium_id, serial, vendor_id, product_id, fs_uuid, label, level, \
                 holder, note, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (medium_id) DO UPDATE SET serial = excluded.serial, vendor_id = excluded.vendor_id, \
                 product_id = excluded.product_id, fs_uuid = excluded.fs_uuid, label = excluded.label, \
                 level = excluded.level, holder = excluded.holder, note = excluded.note, \
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                &[
                    (&m.medium_id).into(),
                    m.serial.as_ref().into(),
                    m.vendor_id.as_ref().into(),
                    m.product_id.as_ref().into(),
                    m.fs_uuid.as_ref().into(),
                    m.label.as_ref().into(),
                    m.level.as_ref().into(),
                    m.holder.as_ref().into(),
                    m.note.as_ref().into(),
                    now.into(),
                    actor.into(),
                ],
            )?;
            Ok(())
        })
    }

    fn delete_medium(&self, medium_id: &str) -> Result<bool> {
        self.b.with_conn(true, |c| {
            Ok(c.exec(
                "DELETE FROM media_register WHERE medium_id = ?",
                &[medium_id.into()],
            )? > 0)
        })
    }

    fn media_seen(&self, limit: i64) -> Result<Vec<FindingRow>> {
        self.b.with_conn(false, |c| {
            c.rows(
                &format!(
                    "SELECT {FINDING_COLS} FROM findings f LEFT JOIN hosts h ON h.agent_id = f.agent_id \
                     WHERE f.kind = 'removable_media' ORDER BY f.first_seen DESC LIMIT ?"
                ),
                &[limit.clamp(1, 100_000).into()],
            )?
            .iter()
            .map(finding_row)
            .collect()
        })
    }

    fn alert_candidates(
        &self,
        kinds: &[&str],
        after: &(i64, String, String),
        limit: i64,
    ) -> Result<Vec<AlertCandidate>> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; kinds.len()].join(", ");
        let mut p: Vec<V> = vec![after.0.into(), (&after.1).into(), (&after.2).into()];
        p.extend(kinds.iter().map(|k| V::from(*k)));
        p.push(limit.clamp(1, 10_000).into());
        self.b.with_conn(false, |c| {
            c.rows(
                &format!(
                    "SELECT {FINDING_COLS}, h.classification FROM findings f \
                     LEFT JOIN hosts h ON h.agent_id = f.agent_id \
                     WHERE (f.first_seen, f.agent_id, f.fingerprint) > (?, ?, ?) AND f.status = 'open' AND f.kind IN ({marks}) \
                     ORDER BY f.first_seen, f.agent_id, f.fingerprint LIMIT ?"
                ),
                &p,
            )?
            .iter()
            .map(|r| {
                Ok(AlertCandidate {
                    finding: finding_row(r)?,
                    classification: opt_text(r, 13, "classification")?,
                })
            })
            .collect()
        })
    }

    fn tamper_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, TamperAlert, Option<String>)>> {
        self.b.with_conn(false, |c| {
            c.rows(
                "SELECT t.id, t.agent_id, t.seq, t.report_id, t.payload_sha256, t.reason, t.received_at, \
                 h.hostname FROM tamper_alerts t LEFT JOIN hosts h ON h.agent_id = t.agent_id \
                 WHERE t.id > ? ORDER BY t.id LIMIT ?",
                &[after.into(), limit.clamp(1, 10_000).into()],
            )?
            .iter()
            .map(|r| {
                Ok((
                    int(r, 0, "id")?,
                    TamperAlert {
                        agent_id: text(r, 1, "agent_id")?,
                        seq: int(r, 2, "seq")?,
                        report_id: text(r, 3, "report_id")?,
                        payload_sha256: text(r, 4, "payload_sha256")?,
                        reason: text(r, 5, "reason")?,
                        received_at: int(r, 6, "received_at")?,
                    },
                    opt_text(r, 7, "hostname")?,
                ))
            })
            .collect()
        })
    }

    fn add_alert(&self, a: &NewAlert) -> Result<bool> {
        Ok(self.add_alerts(std::slice::from_ref(a))? > 0)
    }

    fn add_alerts(&self, alerts: &[NewAlert]) -> Result<usize> {
        if alerts.is_empty() {
            return Ok(0);
        }
        self.b.with_conn(true, |c| {
            tx(c, |c| {
                let mut n = 0;
                for a in alerts {
                    n += insert_alert(c, a)? as usize;
                }
                Ok(n)
            })
        })
    }

    fn alerts(&self, before: Option<i64>, limit: i64) -> Result<Vec<AlertRow>> {
        self.b.with_conn(false, |c| {
            c.rows(
                &format!("SELECT {ALERT_COLS} FROM alerts WHERE id < ? ORDER BY id DESC LIMIT ?"),
                &[
                    before.unwrap_or(i64::MAX).into(),
                    limit.clamp(1, 1000).into(),
                ],
            )?
            .iter()
            .map(alert_row)
            .collect()
        })
    }

    fn pending_alerts(&self, want: i64, max_attempts: i64, limit: i64) -> Result<Vec<AlertRow>> {
        self.b.with_conn(false, |c| {
            c.rows(
                &format!(
                    "SELECT {ALERT_COLS} FROM alerts WHERE (forwarded & ?) <> ? AND attempts < ? \
                     ORDER BY id LIMIT ?"
                ),
                &[
                    want.into(),
                    want.into(),
                    max_attempts.into(),
                    limit.clamp(1, 1000).into(),
                ],
            )?
            .iter()
            .map(alert_row)
            .collect()
        })
    }

    fn mark_alert(&self, id: i64, forwarded: i64, error: Option<&str>) -> Result<()> {
        self.b.with_conn(true, |c| {
            c.exec(
                "UPDATE alerts SET forwarded = ?, attempts = attempts + 1, last_error = ? WHERE id = ?",
                &[forwarded.into(), error.into(), id.into()],
            )?;
            Ok(())
        })
    }

    fn state_get(&self, key: &str) -> Result<Option<String>> {
        self.b.with_conn(false, |c| {
            c.row(
                "SELECT value FROM console_state WHERE key = ?",
                &[key.into()],
            )?
            .map(|r| text(&r, 0, "value"))
            .transpose()
        })
    }

    fn state_set(&self, key: &str, value: &str) -> Result<()> {
        self.b.with_conn(true, |c| {
            c.exec(
                "INSERT INTO console_state (key, value) VALUES (?, ?) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[key.into(), value.into()],
            )?;
            Ok(())
        })
    }
}
