//! Staff authentication, sessions, roles (三员分立), CSRF and the audit log:
//! the one layer under both faces of the collector, the JSON API (`api/`)
//! and the console (`ui/`). It imports neither; they reach it through
//! [`Auth`] (held by their state) and the [`Staff`] extractor.
//!
//! - Credentials: bearer tokens (`api-token create`, `POST /api/v1/login`),
//!   HTTP Basic, and the console's session cookie (HttpOnly,
//!   SameSite=Strict, Secure under TLS; 30 minutes idle). Passwords are
//!   argon2id PHC strings; tokens and cookies are stored only as SHA-256.
//! - Logins are rate-limited per account and per address *before* argon2 is
//!   paid for (a flood of wrong passwords must not cost the host its CPU),
//!   then refused while the account is locked (5 failures: 10 minutes).
//! - A request that changes state and is authenticated by the cookie must
//!   carry the session's CSRF token (`_csrf` form field or `X-CSRF-Token`),
//!   and a browser's `Origin`/`Sec-Fetch-Site` must be this site.
//! - Every staff action, login and failed login goes to the append-only
//!   audit log (`audit_log`; the database refuses UPDATE and DELETE).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use http_body_util::BodyExt;
use mijian_store::console::{AuditEntry, Session};
use mijian_store::{Role, Store};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The console's cookie.
pub const SESSION_COOKIE: &str = "mijian_session";
/// Sessions end after this long without a request.
pub const IDLE_SECS: i64 = 30 * 60;
/// Shortest staff password.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Failed logins that lock an account, and for how long.
pub const MAX_FAILURES: i64 = 5;
pub const LOCK_SECS: i64 = 10 * 60;
/// Largest form a cookie-authenticated request may send (read to find `_csrf`).
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// What a request wants to do; [`allowed`] maps roles onto it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// Hosts, findings, alerts, media seen, signed reports.
    ReadFleet,
    /// The audit log.
    ReadAudit,
    /// Acknowledge, resolve, exceptions.
    Triage,
    /// Change the media register.
    EditMedia,
    /// Inspection reports and exports (reading, in files).
    Export,
    /// Staff accounts and API tokens.
    Accounts,
    /// Agent keys (revoke, add) and enrollment tokens.
    Agents,
    /// The central policy's pages: versions, rules, rollout, exceptions.
    ReadPolicy,
    /// Change the central policy (rules, mode, exceptions): a new version.
    EditPolicy,
}

/// 三员分立: admin manages accounts, tokens and agents; secadmin triages,
/// keeps the media register and the central policy, writes reports; auditor reads everything,
/// the audit log included, and changes nothing. None does another's work.
pub fn allowed(role: Role, perm: Perm) -> bool {
    use Perm::*;
    match role {
        Role::Admin => matches!(perm, ReadFleet | Accounts | Agents),
        Role::Secadmin => matches!(
            perm,
            ReadFleet | Triage | EditMedia | Export | ReadPolicy | EditPolicy
        ),
        Role::Auditor => matches!(perm, ReadFleet | ReadAudit | Export | ReadPolicy),
    }
}

/// How a request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Console cookie; the CSRF token the pages embed in forms.
    Session {
        csrf: String,
    },
    Token,
    Basic,
}

/// An authenticated staff member or API client.
#[derive(Debug, Clone)]
pub struct Staff {
    /// Account name (`api-token` for a bearer token).
    pub name: String,
    pub role: Role,
    pub via: Via,
    pub addr: Option<String>,
}

impl Staff {
    /// Refuse unless the role allows `perm`.
    pub fn require(&self, perm: Perm) -> Result<(), AuthError> {
        if allowed(self.role, perm) {
            Ok(())
        } else {
            Err(AuthError::new(AuthErrorKind::Forbidden))
        }
    }
    /// Refuse unless admin (kept for the API's existing routes).
    pub fn admin(&self) -> Result<(), AuthError> {
        self.require(Perm::Accounts)
    }
    /// The CSRF token for forms, when logged in by cookie.
    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf } => csrf,
            _ => "",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthErrorKind {
    /// No credentials.
    Missing,
    /// Wrong credentials, unknown or expired token or session.
    Invalid,
    /// Authenticated, but the role does not allow this.
    Forbidden,
    /// Too many login attempts from this address or for this account.
    RateLimited,
    /// Account locked after repeated failures.
    Locked,
    /// CSRF token or origin check failed.
    Csrf,
    Internal,
}

/// Why a request was refused. Pages get a redirect to the login form or a
/// short page; the API gets `{"error", "message"}` like every API error.
#[derive(Debug, Clone)]
pub struct AuthError {
    pub kind: AuthErrorKind,
    /// Answer as a page (console) rather than JSON (API).
    pub html: bool,
}

impl AuthError {
    pub fn new(kind: AuthErrorKind) -> AuthError {
        AuthError { kind, html: false }
    }
    pub fn status(&self) -> StatusCode {
        match self.kind {
            AuthErrorKind::Missing | AuthErrorKind::Invalid => StatusCode::UNAUTHORIZED,
            AuthErrorKind::Forbidden | AuthErrorKind::Csrf => StatusCode::FORBIDDEN,
            AuthErrorKind::RateLimited | AuthErrorKind::Locked => StatusCode::TOO_MANY_REQUESTS,
            AuthErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    pub fn code(&self) -> &'static str {
        match self.kind {
            AuthErrorKind::Missing | AuthErrorKind::Invalid => "unauthorized",
            AuthErrorKind::Forbidden => "forbidden",
            AuthErrorKind::RateLimited => "rate_limited",
            AuthErrorKind::Locked => "locked",
            AuthErrorKind::Csrf => "csrf",
            AuthErrorKind::Internal => "internal",
        }
    }
    pub fn message(&self) -> &'static str {
        match self.kind {
            AuthErrorKind::Missing => {
                "log in: send Authorization: Bearer TOKEN (mijian-collector api-token create, or POST /api/v1/login)"
            }
            AuthErrorKind::Invalid => "wrong name or password, or unknown or expired token",
            AuthErrorKind::Forbidden => "your role does not allow this (三员分立)",
            AuthErrorKind::RateLimited => "too many login attempts; wait a minute",
            AuthErrorKind::Locked => "account locked after repeated failed logins; wait 10 minutes",
            AuthErrorKind::Csrf => "cross-site request refused (reload the page and try again)",
            AuthErrorKind::Internal => "internal error; see the collector log",
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        if self.html && matches!(self.kind, AuthErrorKind::Missing | AuthErrorKind::Invalid) {
            return Redirect::to("/login").into_response();
        }
        let mut resp = if self.html {
            (
                self.status(),
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{} {}\n", self.status().as_u16(), self.message()),
            )
                .into_response()
        } else {
            (
                self.status(),
                axum::Json(serde_json::json!({"error": self.code(), "message": self.message()})),
            )
                .into_response()
        };
        if self.status() == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"mijian\""),
            );
        }
        resp
    }
}

/// Token buckets per key: `burst` attempts at once, then one per `every` seconds.
struct Buckets {
    burst: f64,
    every: f64,
    map: HashMap<String, (f64, f64)>,
}

impl Buckets {
    fn new(burst: f64, every: f64) -> Buckets {
        Buckets {
            burst,
            every,
            map: HashMap::new(),
        }
    }
    /// Take one token; false when the bucket is empty.
    fn take(&mut self, key: &str, now: f64) -> bool {
        if self.map.len() > 50_000 {
            // Bound memory: forget keys whose bucket is full again.
            let (burst, every) = (self.burst, self.every);
            self.map
                .retain(|_, (tokens, at)| *tokens + (now - *at) / every < burst);
        }
        let (burst, every) = (self.burst, self.every);
        let entry = self.map.entry(key.to_string()).or_insert((burst, now));
        let tokens = (entry.0 + (now - entry.1) / every).min(burst);
        if tokens < 1.0 {
            *entry = (tokens, now);
            return false;
        }
        *entry = (tokens - 1.0, now);
        true
    }
}

struct Limiter {
    by_account: Buckets,
    by_addr: Buckets,
}

/// The layer's state: the store, the login limiter, cookie settings.
pub struct Auth {
    store: Arc<dyn Store>,
    /// Mark the cookie `Secure` (the collector serves TLS).
    pub secure_cookie: bool,
    limiter: Mutex<Limiter>,
    /// argon2 runs at most this many at once, whatever arrives.
    hashing: tokio::sync::Semaphore,
}

/// A random 256-bit token with a recognisable prefix (`mjt_` API, `mje_` enrollment, `mjs_` session).
pub fn new_token(prefix: &str) -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    mijian_report::sha256_hex(token.as_bytes())
}

/// An argon2id PHC hash of a password.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash password: {e}"))
}

/// Whether `password` matches a stored PHC hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The password rule for staff accounts.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if n > 1024 {
        return Err("password must be at most 1024 characters".into());
    }
    Ok(())
}

/// A staff account name: 1-128 characters, no `:` or control characters.
pub fn check_user_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.chars().count() > 128
        || name.contains(':')
        || name.chars().any(char::is_control)
    {
        return Err("user name must be 1-128 characters without `:` or control characters".into());
    }
    Ok(())
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn now_f() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The credentials after `scheme ` (scheme matched case-insensitively).
fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = value.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// The client's address (set by the server on every request).
pub fn peer(parts_ext: &axum::http::Extensions) -> Option<String> {
    parts_ext
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

/// What the session middleware found, for the extractor.
#[derive(Clone)]
struct SessionCtx {
    session: Session,
}

impl Auth {
    pub fn new(store: Arc<dyn Store>, secure_cookie: bool) -> Auth {
        Auth {
            store,
            secure_cookie,
            limiter: Mutex::new(Limiter {
                // An account: 5 attempts at once, then one per 12 s.
                by_account: Buckets::new(5.0, 12.0),
                // An address: 10 at once, then one per 3 s (20 a minute).
                by_addr: Buckets::new(10.0, 3.0),
            }),
            hashing: tokio::sync::Semaphore::new(2),
        }
    }

    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> mijian_store::Result<R> + Send + 'static,
    ) -> Result<R, AuthError> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&*store)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                log::error!("auth: store: {e}");
                Err(AuthError::new(AuthErrorKind::Internal))
            }
            Err(e) => {
                log::error!("auth: {e}");
                Err(AuthError::new(AuthErrorKind::Internal))
            }
        }
    }

    /// Append to the audit log; a failure to record is logged and returned.
    /// (The columns of one audit row, in order: a struct would only rename them.)
    #[allow(clippy::too_many_arguments)]
    pub async fn audit(
        &self,
        actor: &str,
        role: Option<Role>,
        action: &str,
        target: Option<String>,
        detail: Option<String>,
        addr: Option<String>,
        outcome: &str,
    ) -> Result<(), AuthError> {
        let e = AuditEntry {
            at: now(),
            actor: actor.chars().take(128).collect(),
            role: role.map(|r| r.as_str().to_string()),
            action: action.to_string(),
            target: target.map(|t| t.chars().take(512).collect()),
            detail: detail.map(|d| d.chars().take(2000).collect()),
            addr,
            outcome: outcome.to_string(),
        };
        self.blocking(move |s| s.console().audit(&e)).await
    }

    /// Audit an action by `staff`, succeeded.
    pub async fn audit_staff(
        &self,
        staff: &Staff,
        action: &str,
        target: Option<String>,
        detail: Option<String>,
    ) -> Result<(), AuthError> {
        self.audit(
            &staff.name,
            Some(staff.role),
            action,
            target,
            detail,
            staff.addr.clone(),
            "ok",
        )
        .await
    }

    /// Check a name and password: rate limits first (no argon2 is paid for
    /// a refused attempt), then the lockout, then the hash. Every outcome is
    /// audited. The role when they match.
    pub async fn login(
        &self,
        name: &str,
        password: String,
        addr: Option<String>,
        channel: &str,
    ) -> Result<Role, AuthError> {
        let action = format!("login.{channel}");
        let name_key: String = name.chars().take(128).collect();
        let allowed_now = {
            let mut l = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
            let t = now_f();
            let by_addr = addr.as_deref().is_none_or(|a| l.by_addr.take(a, t));
            by_addr && l.by_account.take(&name_key, t)
        };
        if !allowed_now {
            self.audit(
                &name_key,
                None,
                &action,
                None,
                Some("rate limited".into()),
                addr,
                "denied",
            )
            .await?;
            return Err(AuthError::new(AuthErrorKind::RateLimited));
        }
        let lookup = name_key.clone();
        let state = self
            .blocking(move |s| s.console().login_state(&lookup))
            .await?;
        let t = now();
        if let Some(st) = &state
            && st.locked_until.is_some_and(|l| l > t)
        {
            self.audit(
                &name_key,
                Some(st.role),
                &action,
                None,
                Some("account locked".into()),
                addr,
                "denied",
            )
            .await?;
            return Err(AuthError::new(AuthErrorKind::Locked));
        }
        let Ok(_permit) = self.hashing.acquire().await else {
            return Err(AuthError::new(AuthErrorKind::Internal));
        };
        let phc = state.as_ref().map(|s| s.password_hash.clone());
        let ok = tokio::task::spawn_blocking(move || match phc {
            Some(phc) => verify_password(&password, &phc),
            None => {
                // Spend the same time as a real check so names cannot be probed by timing.
                static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
                let dummy = DUMMY
                    .get_or_init(|| hash_password("mijian-dummy-password").unwrap_or_default());
                let _ = verify_password(&password, dummy);
                false
            }
        })
        .await
        .unwrap_or(false);
        drop(_permit);
        match (state, ok) {
            (Some(st), true) => {
                let n = name_key.clone();
                self.blocking(move |s| s.console().login_succeeded(&n))
                    .await?;
                self.audit(&name_key, Some(st.role), &action, None, None, addr, "ok")
                    .await?;
                Ok(st.role)
            }
            (state, _) => {
                let n = name_key.clone();
                let locked = if state.is_some() {
                    self.blocking(move |s| {
                        s.console().login_failed(&n, now(), MAX_FAILURES, LOCK_SECS)
                    })
                    .await?
                } else {
                    None
                };
                let detail = match (&state, locked) {
                    (None, _) => "no such account",
                    (Some(_), Some(_)) => "wrong password; account locked for 10 minutes",
                    (Some(_), None) => "wrong password",
                };
                self.audit(
                    &name_key,
                    state.map(|s| s.role),
                    &action,
                    None,
                    Some(detail.into()),
                    addr,
                    "failed",
                )
                .await?;
                Err(AuthError::new(if locked.is_some() {
                    AuthErrorKind::Locked
                } else {
                    AuthErrorKind::Invalid
                }))
            }
        }
    }

    /// Open a console session; the `Set-Cookie` value.
    pub async fn start_session(
        &self,
        name: &str,
        role: Role,
        addr: Option<String>,
    ) -> Result<String, AuthError> {
        let token = new_token("mjs_");
        let t = now();
        let s = Session {
            user_name: name.to_string(),
            role,
            csrf: new_token(""),
            created_at: t,
            last_active: t,
        };
        let hash = token_hash(&token);
        self.blocking(move |st| st.console().create_session(&hash, &s, addr.as_deref()))
            .await?;
        Ok(self.cookie(&token))
    }

    /// The `Set-Cookie` value for a session token.
    pub fn cookie(&self, token: &str) -> String {
        format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{}",
            if self.secure_cookie { "; Secure" } else { "" }
        )
    }

    /// End the session of this request's cookie; the clearing `Set-Cookie`.
    pub async fn end_session(&self, headers: &HeaderMap) -> Result<String, AuthError> {
        if let Some(token) = session_cookie(headers) {
            let hash = token_hash(&token);
            self.blocking(move |s| s.console().delete_session(&hash))
                .await?;
        }
        Ok(format!(
            "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
            if self.secure_cookie { "; Secure" } else { "" }
        ))
    }
}

/// The session cookie's value, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() < 200)
}

fn unsafe_method(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A browser's cross-site request: `Sec-Fetch-Site: cross-site`, or an
/// `Origin` whose host is not this request's `Host`.
fn cross_site(headers: &HeaderMap) -> bool {
    // Fetch metadata, where the browser sends it, is the clearest answer.
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("cross-site" | "same-site") => return true,
        Some("same-origin") => return false,
        _ => {}
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    origin == "null" || origin_host != host
}

/// Middleware on every route: resolves the session cookie (idle sessions
/// end here), and refuses a state-changing request that a browser sent
/// cross-site or that rides on the cookie without the session's CSRF token.
pub async fn session_layer(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let html = !parts.uri.path().starts_with("/api/");
    let has_authz = parts.headers.contains_key(header::AUTHORIZATION);
    let unsafe_req = unsafe_method(&parts.method);
    if unsafe_req && !has_authz && cross_site(&parts.headers) {
        return AuthError {
            kind: AuthErrorKind::Csrf,
            html,
        }
        .into_response();
    }
    let mut body = body;
    if let Some(token) = session_cookie(&parts.headers) {
        let hash = token_hash(&token);
        let found = auth
            .blocking(move |s| s.console().session(&hash, now(), IDLE_SECS))
            .await;
        let session = match found {
            Ok(s) => s,
            Err(e) => return AuthError { html, ..e }.into_response(),
        };
        if let Some(session) = session {
            if unsafe_req && !has_authz {
                let header_token = parts
                    .headers
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let (ok, rebuilt) = match header_token {
                    Some(t) => (constant_eq(&t, &session.csrf), body),
                    None => {
                        let bytes = match http_body_util::Limited::new(body, MAX_FORM_BYTES)
                            .collect()
                            .await
                        {
                            Ok(c) => c.to_bytes(),
                            Err(_) => {
                                return (StatusCode::PAYLOAD_TOO_LARGE, "form too large\n")
                                    .into_response();
                            }
                        };
                        let form_token =
                            serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                                .ok()
                                .and_then(|kv| kv.into_iter().find(|(k, _)| k == "_csrf"))
                                .map(|(_, v)| v);
                        (
                            form_token.is_some_and(|t| constant_eq(&t, &session.csrf)),
                            Body::from(bytes),
                        )
                    }
                };
                if !ok {
                    return AuthError {
                        kind: AuthErrorKind::Csrf,
                        html,
                    }
                    .into_response();
                }
                body = rebuilt;
            }
            parts.extensions.insert(SessionCtx { session });
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl<S> FromRequestParts<S> for Staff
where
    Arc<Auth>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Arc::<Auth>::from_ref(state);
        let html = !parts.uri.path().starts_with("/api/");
        let addr = peer(&parts.extensions);
        let err = |kind| AuthError { kind, html };
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let value = value.to_str().map_err(|_| err(AuthErrorKind::Invalid))?;
            // Auth schemes are case-insensitive (RFC 9110 §11.1).
            if let Some(token) = strip_scheme(value, "bearer") {
                let hash = token_hash(token.trim());
                let role = auth
                    .blocking(move |s| s.api_token(&hash, now()))
                    .await
                    .map_err(|e| AuthError { html, ..e })?;
                return role
                    .map(|role| Staff {
                        name: "api-token".into(),
                        role,
                        via: Via::Token,
                        addr,
                    })
                    .ok_or_else(|| err(AuthErrorKind::Invalid));
            }
            if let Some(b64) = strip_scheme(value, "basic") {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| err(AuthErrorKind::Invalid))?;
                let (name, password) = decoded
                    .split_once(':')
                    .ok_or_else(|| err(AuthErrorKind::Invalid))?;
                let role = auth
                    .login(name, password.to_string(), addr.clone(), "basic")
                    .await
                    .map_err(|e| AuthError { html, ..e })?;
                return Ok(Staff {
                    name: name.to_string(),
                    role,
                    via: Via::Basic,
                    addr,
                });
            }
            return Err(err(AuthErrorKind::Invalid));
        }
        match parts.extensions.get::<SessionCtx>() {
            Some(ctx) => Ok(Staff {
                name: ctx.session.user_name.clone(),
                role: ctx.session.role,
                via: Via::Session {
                    csrf: ctx.session.csrf.clone(),
                },
                addr,
            }),
            None => Err(err(AuthErrorKind::Missing)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(check_password("123456789").is_err());
        assert!(check_password("1234567890").is_ok());
    }

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = new_token("mjt_");
        assert!(a.starts_with("mjt_") && a.len() > 40);
        assert_ne!(a, new_token("mjt_"));
        assert_eq!(token_hash(&a).len(), 64);
    }

    #[test]
    fn roles_are_separated() {
        use Perm::*;
        let all = [
            ReadFleet, ReadAudit, Triage, EditMedia, Export, Accounts, Agents,
        ];
        let set = |r| {
            all.iter()
                .copied()
                .filter(|p| allowed(r, *p))
                .collect::<Vec<_>>()
        };
        assert_eq!(set(Role::Admin), vec![ReadFleet, Accounts, Agents]);
        assert_eq!(
            set(Role::Secadmin),
            vec![ReadFleet, Triage, EditMedia, Export]
        );
        assert_eq!(set(Role::Auditor), vec![ReadFleet, ReadAudit, Export]);
    }

    #[test]
    fn buckets_refuse_after_the_burst_and_refill() {
        let mut b = Buckets::new(3.0, 10.0);
        assert!(b.take("a", 0.0) && b.take("a", 0.0) && b.take("a", 0.0));
        assert!(!b.take("a", 1.0));
        assert!(b.take("b", 1.0), "other keys are independent");
        assert!(b.take("a", 12.0), "one token back after 10 s");
        assert!(!b.take("a", 12.5));
    }

    #[test]
    fn cross_site_requests_are_recognised() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(!cross_site(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(!cross_site(&h));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(cross_site(&h));
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(cross_site(&h));
        let mut h2 = HeaderMap::new();
        h2.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(cross_site(&h2));
    }

    #[test]
    fn the_session_cookie_is_found() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; mijian_session=mjs_x; lang=en".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("mjs_x"));
    }
}
