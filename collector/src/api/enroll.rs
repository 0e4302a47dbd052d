//! `POST /api/v1/enroll {token, jwk, hostname}` → 200 `{agent_id}`: an agent
//! registers its public key with an enrollment token (`token create`).
//! Enrolling the same key again is idempotent; a revoked key stays revoked.
//! The answer also carries `collector_jwk`, the public key that signs policy
//! bundles (issue 13), which the agent pins.

use super::{ApiError, App, read_body};
use crate::auth::{now, token_hash};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use mijian_report::Jwk;
use mijian_store::Enrolled;

/// Enrollment requests are small; a JWK and a hostname.
const MAX_ENROLL_BODY: usize = 64 * 1024;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollRequest {
    token: String,
    jwk: serde_json::Value,
    #[serde(default)]
    hostname: Option<String>,
}

pub fn router() -> Router<App> {
    Router::new().route("/api/v1/enroll", post(enroll))
}

async fn enroll(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let bytes = read_body(&app.limits, MAX_ENROLL_BODY, &headers, body).await?;
    let req: EnrollRequest = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("expected {{token, jwk, hostname}}: {e}")))?;
    // The JWK may come as an object or as a JSON string holding one.
    let jwk_bytes = match &req.jwk {
        serde_json::Value::String(s) => s.clone().into_bytes(),
        v => serde_json::to_vec(v).map_err(ApiError::internal)?,
    };
    let jwk = Jwk::parse(&jwk_bytes).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if jwk.d.is_some() {
        return Err(ApiError::bad_request(
            "the JWK holds a private key (`d`); send the public key only",
        ));
    }
    let hostname = req.hostname.filter(|h| !h.is_empty());
    if hostname
        .as_ref()
        .is_some_and(|h| h.len() > 255 || h.chars().any(char::is_control))
    {
        return Err(ApiError::bad_request(
            "hostname is too long or has control characters",
        ));
    }
    let public = jwk.public();
    let agent_id = public.thumbprint();
    let jwk_json = serde_json::to_string(&public).map_err(ApiError::internal)?;
    let hash = token_hash(&req.token);
    let id = agent_id.clone();
    let outcome = app
        .blocking(move |s| s.enroll(&hash, &id, &jwk_json, hostname.as_deref(), now()))
        .await?;
    match outcome {
        Enrolled::New | Enrolled::Already => {
            log::info!("enrolled agent {agent_id}");
            // The body limit of POST /api/v1/reports: the agent never seals
            // a report above it (issue 11).
            let mut v = serde_json::json!({
                "agent_id": agent_id,
                "max_report_bytes": app.limits.max_body_bytes,
            });
            // Issue 13: the key that signs policy bundles, for the agent to pin.
            if let Some(k) = &app.policy_key {
                v["collector_jwk"] = serde_json::to_value(&**k).map_err(ApiError::internal)?;
            }
            Ok(axum::Json(v))
        }
        Enrolled::BadToken => Err(ApiError::unauthorized(
            "enrollment token unknown, used up or expired; ask for a new one (mijian-collector token create)",
        )),
        Enrolled::Revoked => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "revoked",
            "this agent key is revoked; generate a new key",
        )),
    }
}
