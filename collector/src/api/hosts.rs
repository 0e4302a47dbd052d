//! `GET /api/v1/hosts` (filter: `hostname` substring, `compliant`,
//! `classification`, `silent_for` seconds; `limit`, and `cursor` (keyset,
//! by hostname: `next_cursor` of the previous page) or `offset`) and
//! `GET /api/v1/hosts/{agent_id}` (current state, chain gaps, tamper alerts).
//! Staff only. Answers come from current state, never from history.

use super::{ApiError, App, Page, query, rfc3339};
use super::{decode_cursor, encode_cursor};
use crate::auth::{Perm, Staff, now};
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use mijian_store::console::{CursorKey, HostPageQuery};
use mijian_store::{HostQuery, HostSummary};
use serde_json::{Value, json};

pub fn router() -> Router<App> {
    Router::new()
        .route("/api/v1/hosts", get(list))
        .route("/api/v1/hosts/{agent_id}", get(one))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    hostname: Option<String>,
    compliant: Option<bool>,
    classification: Option<String>,
    silent_for: Option<u64>,
    limit: Option<i64>,
    offset: Option<i64>,
    cursor: Option<String>,
}

pub(super) fn host_json(h: &HostSummary) -> Value {
    json!({
        "agent_id": h.agent_id,
        "hostname": h.hostname,
        "os": h.os,
        "classification": h.classification,
        "last_seen": h.last_seen.map(rfc3339),
        "latest_seq": h.latest_seq,
        "latest_report_id": h.latest_report_id,
        "latest_created_at": h.latest_created_at,
        "compliant": h.compliant,
        "failed_checks": h.failed_checks,
        "open_findings": h.open_findings,
        "reports": h.reports,
        "missing_seqs": h.missing_seqs,
        "tamper_alerts": h.tamper_alerts,
        "revoked": h.revoked,
    })
}

async fn list(
    staff: Staff,
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<Value>, ApiError> {
    staff.require(Perm::ReadFleet)?;
    let f: Filter = query(raw.as_deref())?;
    let page = Page::new(f.limit, f.offset)?;
    if let Some(cursor) = &f.cursor {
        if f.offset.is_some() {
            return Err(ApiError::bad_request("give cursor or offset, not both"));
        }
        let (key, id): (String, String) = decode_cursor(cursor)?;
        let q = HostPageQuery {
            hostname: f.hostname,
            compliant: f.compliant,
            classification: f.classification,
            silent_since: f
                .silent_for
                .map(|s| now() - s.min(i64::MAX as u64 / 2) as i64),
            after: Some((CursorKey::Text(key), id)),
            limit: page.limit,
            ..Default::default()
        };
        let hosts = app.blocking(move |s| s.console().host_page(&q)).await?;
        return Ok(axum::Json(host_page_json(&hosts, page.limit)));
    }
    if f.offset.is_none() {
        let q = HostPageQuery {
            hostname: f.hostname,
            compliant: f.compliant,
            classification: f.classification,
            silent_since: f
                .silent_for
                .map(|s| now() - s.min(i64::MAX as u64 / 2) as i64),
            limit: page.limit,
            ..Default::default()
        };
        let hosts = app.blocking(move |s| s.console().host_page(&q)).await?;
        let mut v = host_page_json(&hosts, page.limit);
        v["offset"] = json!(0);
        v["next_offset"] = json!((hosts.len() as i64 == page.limit).then_some(page.limit));
        return Ok(axum::Json(v));
    }
    let q = HostQuery {
        hostname: f.hostname,
        compliant: f.compliant,
        classification: f.classification,
        silent_since: f
            .silent_for
            .map(|s| now() - s.min(i64::MAX as u64 / 2) as i64),
        limit: page.limit,
        offset: page.offset,
    };
    let hosts = app.blocking(move |s| s.hosts(&q)).await?;
    Ok(page.wrap(hosts.iter().map(host_json).collect()))
}

fn host_page_json(hosts: &[HostSummary], limit: i64) -> Value {
    let next = (hosts.len() as i64 == limit)
        .then(|| hosts.last())
        .flatten()
        .map(|h| encode_cursor(&(h.hostname.clone().unwrap_or_default(), &h.agent_id)));
    json!({"items": hosts.iter().map(host_json).collect::<Vec<_>>(), "limit": limit, "next_cursor": next})
}

async fn one(
    staff: Staff,
    State(app): State<App>,
    Path(agent_id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    staff.require(Perm::ReadFleet)?;
    let detail = app
        .blocking(move |s| s.host(&agent_id))
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such host"))?;
    let mut v = host_json(&detail.summary);
    v["latest_checks"] = detail
        .latest_checks
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or(Value::Null);
    // A gap the agent declared (signed) reads "crash gap, declared"; an
    // undeclared one is what a suppressed report looks like.
    v["gaps"] = detail
        .gaps
        .iter()
        .map(|g| match &g.declared {
            Some(why) => json!({"from": g.from, "to": g.to, "declared": why,
                                "label": format!("{why} gap, declared")}),
            None => {
                json!({"from": g.from, "to": g.to, "declared": null, "label": "undeclared gap"})
            }
        })
        .collect();
    v["declared_missing_seqs"] = json!(detail.declared_missing_seqs);
    v["tamper_alerts_list"] = detail
        .tamper_alerts_list
        .iter()
        .map(|a| {
            json!({"seq": a.seq, "report_id": a.report_id, "payload_sha256": a.payload_sha256,
                   "reason": a.reason, "received_at": rfc3339(a.received_at)})
        })
        .collect();
    Ok(axum::Json(v))
}
