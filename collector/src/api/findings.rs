//! `GET /api/v1/findings`: findings of the hosts' current state. Filters:
//! `kind`, `severity` (exact) or `min_severity`, `host` (agent id), `status`
//! (`open`, the default, `resolved` or `all`); `limit`, `offset`. Staff only.

use super::{ApiError, App, Page, query, rfc3339};
use crate::auth::Staff;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use mijian_report::Severity;
use mijian_store::FindingQuery;
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
}

async fn list(
    _staff: Staff,
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<Value>, ApiError> {
    let f: Filter = query(raw.as_deref())?;
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
    Ok(page.wrap(
        rows.iter()
            .map(|r| {
                json!({
                    "agent_id": r.agent_id, "hostname": r.hostname, "fingerprint": r.fingerprint,
                    "kind": r.kind, "severity": r.severity, "path": r.path, "status": r.status,
                    "finding": serde_json::from_str::<Value>(&r.body).unwrap_or(Value::Null),
                    "first_seq": r.first_seq, "last_seq": r.last_seq,
                    "first_seen": rfc3339(r.first_seen), "last_seen": rfc3339(r.last_seen),
                    "resolved_at": r.resolved_at.map(rfc3339),
                })
            })
            .collect(),
    ))
}
