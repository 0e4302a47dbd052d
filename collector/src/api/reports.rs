//! `POST /api/v1/reports`: a signed report (CONTRACT §5) in, the ingest
//! decision out — 202 stored, 200 duplicate, 400, 401, 409, 413 (§7).
//!
//! `GET /api/v1/hosts/{agent_id}/reports/{seq}` (staff): the stored report
//! back, byte for byte the signed JWS the collector verified, so an
//! inspector can take it away and check it offline
//! (`mijian-agent verify --jwk KEY FILE`).

use super::{ApiError, App, read_body};
use crate::auth::now;
use crate::auth::{Perm, Staff};
use crate::ingest::{self, Decision};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::time::Instant;

pub fn router() -> Router<App> {
    Router::new()
        .route("/api/v1/reports", post(post_report))
        .route("/api/v1/hosts/{agent_id}/reports/{seq}", get(signed_report))
}

async fn signed_report(
    staff: Staff,
    State(app): State<App>,
    Path((agent_id, seq)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    staff.require(Perm::ReadFleet)?;
    let file_name = format!("{agent_id}-{seq}.jws.json");
    // The stored payload decompresses to at most what a body could carry.
    let max = app.limits.max_body_bytes;
    let jws = app
        .blocking(move |s| {
            crate::archive::signed_report(s, &agent_id, seq, max)
                .map_err(|e| mijian_store::StoreError::Invalid(e.to_string()))
        })
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no stored report with this agent and seq (pruned, or never received)",
            )
        })?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/jose+json".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                // Agent ids are RFC 7638 thumbprints (base64url): safe in a header.
                format!(
                    "attachment; filename=\"{}\"",
                    file_name.replace(
                        |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.' && c != '_',
                        "_"
                    )
                ),
            ),
        ],
        jws,
    )
        .into_response())
}

/// Every answer of `POST /api/v1/reports` names the body limit, so an agent
/// learns it and never seals a report above it (issue 11).
pub const LIMIT_HEADER: &str = "x-mijian-max-report-bytes";

async fn post_report(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let limit = app.limits.max_body_bytes;
    let mut resp = post_report_inner(app, headers, body).await;
    if let Ok(v) = axum::http::HeaderValue::from_str(&limit.to_string()) {
        resp.headers_mut().insert(LIMIT_HEADER, v);
    }
    resp
}

async fn post_report_inner(app: App, headers: HeaderMap, body: Body) -> Response {
    let bytes = match read_body(&app.limits, app.limits.max_body_bytes, &headers, body).await {
        Ok(b) => b,
        Err(e) => {
            app.metrics.observe(e.code, std::time::Duration::ZERO);
            log::warn!(
                "report rejected: HTTP {} {}: {}",
                e.status.as_u16(),
                e.code,
                e.message
            );
            return e.into_response();
        }
    };
    let start = Instant::now();
    // Closed only at shutdown, which ends this request anyway.
    let Ok(_slot) = app.ingest_slots.acquire().await else {
        return ApiError::internal("shutting down").into_response();
    };
    let store = app.store.clone();
    let (decision, bytes) =
        match tokio::task::spawn_blocking(move || (ingest::ingest(&*store, &bytes, now()), bytes))
            .await
        {
            Ok(d) => d,
            Err(e) => return ApiError::internal(e).into_response(),
        };
    if let Decision::Rejected(r) = &decision
        && r.reason == "revoked_key"
    {
        // A revoked key still sending is a critical alert (ui::alerts).
        crate::ui::alerts::revoked_key_sending(&app, &bytes).await;
    }
    app.metrics.observe(decision.label(), start.elapsed());
    crate::ingest::log_decision(&decision, "POST");
    let status =
        StatusCode::from_u16(decision.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match &decision {
        Decision::Stored { agent_id, seq } => {
            serde_json::json!({"result": "stored", "agent_id": agent_id, "seq": seq})
        }
        Decision::Duplicate { agent_id, seq } => {
            serde_json::json!({"result": "duplicate", "agent_id": agent_id, "seq": seq})
        }
        Decision::Conflict {
            agent_id,
            seq,
            reason,
        } => serde_json::json!({
            "error": "chain_conflict", "message": reason, "agent_id": agent_id, "seq": seq,
        }),
        Decision::Rejected(r) => serde_json::json!({"error": r.reason, "message": r.message}),
    };
    (status, axum::Json(body)).into_response()
}
