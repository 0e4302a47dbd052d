//! `POST /api/v1/login {name, password}` → `{token, role, expires_at}`: a
//! session bearer token for a staff account (12 hours).

use super::{ApiError, App, read_body, rfc3339};
use crate::auth::{new_token, now, peer, token_hash};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;

const SESSION_SECS: i64 = 12 * 3600;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    name: String,
    password: String,
}

pub fn router() -> Router<App> {
    Router::new().route("/api/v1/login", post(login))
}

async fn login(
    State(app): State<App>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    body: Body,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let bytes = read_body(&app.limits, 16 * 1024, &headers, body).await?;
    let req: LoginRequest = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("expected {{name, password}}: {e}")))?;
    let role = app
        .auth
        .login(&req.name, req.password, peer(&ext), "api")
        .await?;
    let token = new_token("mjt_");
    let hash = token_hash(&token);
    let expires = now() + SESSION_SECS;
    let label = format!("session:{}", req.name);
    app.blocking(move |s| s.create_api_token(&hash, role, Some(&label), Some(expires), now()))
        .await?;
    Ok(axum::Json(
        serde_json::json!({"token": token, "role": role, "expires_at": rfc3339(expires)}),
    ))
}
