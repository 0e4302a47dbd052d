//! HTTP API v1 (CONTRACT §7): one axum router per resource, one [`ApiError`]
//! that every handler returns (status + small JSON body; 5xx details are
//! logged, never echoed), and one bounded body reader.
//!
//! Bodies are read through [`read_body`]: a declared `Content-Length` over
//! the limit is refused before a byte of the body is read, an undeclared one
//! is cut off at the limit, and a client that sends too slowly gets 408.

mod enroll;
mod findings;
mod health;
mod hosts;
mod login;
mod reports;

use crate::auth::{Auth, AuthError};
use crate::config::{AlertsConfig, LimitsConfig};
use crate::metrics::Metrics;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use mijian_store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Shared state of every handler.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub limits: LimitsConfig,
    pub silent_after_secs: u64,
    /// Ingests running at once: one per core, plus one waiting on the store.
    /// More would only have CPU-bound threads preempt each other (and hold
    /// a parsed report each); a waiting request costs next to nothing.
    pub ingest_slots: Arc<tokio::sync::Semaphore>,
    /// Sessions, roles, CSRF, audit (shared with the console).
    pub auth: Arc<Auth>,
    /// Where critical alerts are forwarded.
    pub alerts: AlertsConfig,
    /// The collector's policy-signing key (public), returned at enrollment
    /// so agents pin it (issue 13); `None` in tests that need no policy.
    pub policy_key: Option<Arc<mijian_report::Jwk>>,
    /// The same key, private: the console signs the versions it makes with it.
    pub policy_signer: Option<Arc<mijian_report::AgentKey>>,
}

impl axum::extract::FromRef<App> for Arc<Auth> {
    fn from_ref(app: &App) -> Arc<Auth> {
        app.auth.clone()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        ApiError::new(e.status(), e.code(), e.message())
    }
}

impl App {
    /// `tls`: the collector serves HTTPS, so the session cookie is `Secure`.
    pub fn new(
        store: Arc<dyn Store>,
        limits: LimitsConfig,
        silent_after_secs: u64,
        tls: bool,
    ) -> App {
        App {
            auth: Arc::new(Auth::new(store.clone(), tls)),
            alerts: AlertsConfig::default(),
            store,
            metrics: Arc::new(Metrics::default()),
            limits,
            silent_after_secs,
            ingest_slots: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()) + 1,
            )),
            policy_key: None,
            policy_signer: None,
        }
    }

    /// Run a blocking store call off the async workers.
    pub async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> mijian_store::Result<R> + Send + 'static,
    ) -> Result<R, ApiError> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&*store)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(ApiError::internal(e)),
            Err(e) => Err(ApiError::internal(e)),
        }
    }
}

/// The whole HTTP surface: the API, the console, and the session layer
/// (cookie, idle expiry, CSRF) in front of both.
pub fn router(app: App) -> Router {
    Router::new()
        .merge(health::router())
        .merge(reports::router())
        .merge(enroll::router())
        .merge(login::router())
        .merge(hosts::router())
        .merge(findings::router())
        .merge(crate::policy::api::router())
        .merge(crate::ui::router())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        // Every error answer is JSON, 405 included (issue 11).
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            app.auth.clone(),
            crate::auth::session_layer,
        ))
        .layer(axum::middleware::from_fn(crate::ui::security_headers))
        .with_state(app)
}

/// Every API error: a status and `{"error": code, "message": text}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// Logged in full, answered with a generic message.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        log::error!("internal error: {e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the collector log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(serde_json::json!({"error": self.code, "message": self.message})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"mijian\""),
            );
        }
        resp
    }
}

/// Read a request body whole, within `limit` bytes and the body timeout.
pub async fn read_body(
    limits: &LimitsConfig,
    limit: usize,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("request body is larger than {limit} bytes"),
        )
    };
    if let Some(len) = headers.get(header::CONTENT_LENGTH) {
        let len: u64 = len
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ApiError::bad_request("Content-Length is not a number"))?;
        if len > limit as u64 {
            return Err(too_large());
        }
    }
    let limited = http_body_util::Limited::new(body, limit);
    let timeout = Duration::from_secs(limits.body_timeout_secs);
    match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "request body not received within {} s",
                limits.body_timeout_secs
            ),
        )),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::bad_request(format!(
            "could not read request body: {e}"
        ))),
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
    }
}

/// Pagination parameters shared by list routes.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl Page {
    pub fn new(limit: Option<i64>, offset: Option<i64>) -> Result<Page, ApiError> {
        Page {
            limit: limit.unwrap_or(100),
            offset: offset.unwrap_or(0),
        }
        .check()
    }

    pub fn check(self) -> Result<Page, ApiError> {
        if !(1..=1000).contains(&self.limit) || self.offset < 0 {
            return Err(ApiError::bad_request(
                "limit must be 1..=1000 and offset >= 0",
            ));
        }
        Ok(self)
    }

    /// `{items, limit, offset, next_offset}`.
    pub fn wrap<T: serde::Serialize>(self, items: Vec<T>) -> Json<serde_json::Value> {
        let next = (items.len() as i64 == self.limit).then_some(self.offset + self.limit);
        Json(serde_json::json!({
            "items": items, "limit": self.limit, "offset": self.offset, "next_offset": next,
        }))
    }
}

/// Unix seconds as RFC 3339 UTC.
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Query-string parse errors as JSON 400s.
pub fn query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded_compat(raw.unwrap_or(""))
}

fn serde_urlencoded_compat<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{raw}")
            .parse()
            .map_err(|_| ApiError::bad_request("bad query string"))?,
    )
    .map(|q| q.0)
    .map_err(|e| ApiError::bad_request(format!("bad query: {}", e.body_text())))
}

/// A keyset cursor: the sort key of the last row of a page, opaque to
/// clients (base64url of a small JSON array).
pub fn encode_cursor<T: serde::Serialize>(key: &T) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(key).unwrap_or_default())
}

/// Decode a cursor made by [`encode_cursor`]; a 400 for anything else.
pub fn decode_cursor<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, ApiError> {
    use base64::Engine;
    if s.len() > 2048 {
        return Err(ApiError::bad_request("cursor too long"));
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| ApiError::bad_request("bad cursor (use next_cursor of the previous page)"))
}
