//! `GET /api/v1/findings`: findings of the hosts' current state. Filters:
//! `kind`, `severity` (exact) or `min_severity`, `host` (agent id), `status`
//! (`open`, the default, `resolved` or `all`); `limit`, and either `cursor`
//! (keyset: `next_cursor` of the previous page; the default, and as fast at
//! page 10,000 as at page 1) or `offset` (kept for old clients; it reads and
//! drops every skipped row). Staff only.

use super::{ApiError, App, Page, query, rfc3339};
use super::{decode_cursor, encode_cursor};
use crate::auth::{Perm, Staff, now};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use mijian_report::Severity;
use mijian_store::FindingQuery;
use mijian_store::console::FindingPageQuery;
use serde_json::{Value, json};

pub fn router() -> Router<App> {
    Router::new().route("/api/v1/findings", get(list))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    kind: Option<String>,
    severity: Option<Severity>,
    min_severity: Option<Severity>,
    host: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    cursor: Option<String>,
}

async fn list(
    staff: Staff,
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<Value>, ApiError> {
    staff.require(Perm::ReadFleet)?;
    let f: Filter = query(raw.as_deref())?;
    if f.offset.is_some() && f.cursor.is_some() {
        return Err(ApiError::bad_request("give cursor or offset, not both"));
    }
    let page = Page::new(f.limit, f.offset)?;
    let status = match f.status.as_deref() {
        None | Some("open") => Some("open".to_string()),
        Some("resolved") => Some("resolved".to_string()),
        Some("all") => None,
        Some(_) => {
            return Err(ApiError::bad_request(
                "status must be open, resolved or all",
            ));
        }
    };
    if f.offset.is_none() {
        let after: Option<(i64, String, String)> =
            f.cursor.as_deref().map(decode_cursor).transpose()?;
        let q = FindingPageQuery {
            kind: f.kind,
            severity_rank: f.severity.map(|s| s as i64),
            min_severity_rank: f.min_severity.map(|s| s as i64),
            agent_id: f.host,
            status,
            after,
            limit: page.limit,
            ..Default::default()
        };
        let rows = app
            .blocking(move |s| s.console().finding_page(&q, now()))
            .await?;
        let next = (rows.len() as i64 == page.limit)
            .then(|| rows.last())
            .flatten()
            .map(|r| {
                encode_cursor(&(r.severity_rank, &r.finding.agent_id, &r.finding.fingerprint))
            });
        let items: Vec<Value> = rows
            .iter()
            .map(|t| {
                let mut v = finding_json(&t.finding);
                v["triage"] = json!(t.triage);
                v["triage_expires_at"] = json!(t.expires_at.map(rfc3339));
                v
            })
            .collect();
        return Ok(axum::Json(
            json!({"items": items, "limit": page.limit, "next_cursor": next}),
        ));
    }
    let q = FindingQuery {
        kind: f.kind,
        severity: f.severity.map(|s| s.as_str().to_string()),
        min_severity_rank: f.min_severity.map(|s| s as i64),
        agent_id: f.host,
        status,
        limit: page.limit,
        offset: page.offset,
    };
    let rows = app.blocking(move |s| s.findings(&q)).await?;
    Ok(page.wrap(rows.iter().map(finding_json).collect()))
}

fn finding_json(r: &mijian_store::FindingRow) -> Value {
    json!({
        "agent_id": r.agent_id, "hostname": r.hostname, "fingerprint": r.fingerprint,
        "kind": r.kind, "severity": r.severity, "path": r.path, "status": r.status,
        "finding": serde_json::from_str::<Value>(&r.body).unwrap_or(Value::Null),
        "first_seq": r.first_seq, "last_seq": r.last_seq,
        "first_seen": rfc3339(r.first_seen), "last_seen": rfc3339(r.last_seen),
        "resolved_at": r.resolved_at.map(rfc3339),
    })
}
