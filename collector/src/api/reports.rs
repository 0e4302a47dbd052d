//! `POST /api/v1/reports`: a signed report (CONTRACT §5) in, the ingest
//! decision out — 202 stored, 200 duplicate, 400, 401, 409, 413 (§7).

use super::{ApiError, App, read_body};
use crate::auth::now;
use crate::ingest::{self, Decision};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::time::Instant;

pub fn router() -> Router<App> {
    Router::new().route("/api/v1/reports", post(post_report))
}

async fn post_report(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let bytes = match read_body(&app.limits, app.limits.max_body_bytes, &headers, body).await {
        Ok(b) => b,
        Err(e) => {
            app.metrics.observe(e.code, std::time::Duration::ZERO);
            return e.into_response();
        }
    };
    let start = Instant::now();
    let store = app.store.clone();
    let decision =
        match tokio::task::spawn_blocking(move || ingest::ingest(&*store, &bytes, now())).await {
            Ok(d) => d,
            Err(e) => return ApiError::internal(e).into_response(),
        };
    app.metrics.observe(decision.label(), start.elapsed());
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
