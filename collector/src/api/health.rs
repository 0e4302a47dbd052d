//! `GET /healthz` (is the store reachable) and `GET /metrics` (Prometheus
//! text). Both unauthenticated, as monitoring systems expect; they reveal
//! counts, never host names or findings.

use super::App;
use crate::auth::now;
use crate::metrics::Gauges;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub fn router() -> Router<App> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

async fn healthz(State(app): State<App>) -> Response {
    match app.blocking(|s| s.stats()).await {
        Ok(_) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok", "store": app.store.backend()})),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "store unavailable"})),
        )
            .into_response(),
    }
}

async fn metrics(State(app): State<App>) -> Result<Response, super::ApiError> {
    let since = now() - app.silent_after_secs as i64;
    let (silent_hosts, stats) = app
        .blocking(move |s| Ok((s.silent_hosts(since)?, s.stats()?)))
        .await?;
    let text = app.metrics.render(&Gauges {
        silent_after_secs: app.silent_after_secs,
        silent_hosts,
        stats,
    });
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
