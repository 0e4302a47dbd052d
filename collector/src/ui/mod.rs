//! The security office's console (保密检查管理平台): server-rendered pages in
//! Chinese (English selectable) on the same [`crate::auth`] layer and the
//! same store queries as the JSON API. Templates are files a designer can
//! read (`collector/templates/*.html`, minijinja, HTML-escaped by default);
//! CSS and the one small script are in `collector/assets/`. Everything is
//! compiled into the binary: the collector often runs on an isolated network.
//!
//! Every page sends a strict Content-Security-Policy (no inline script, no
//! inline style, nothing from elsewhere); every string from an agent is
//! escaped by the template engine, never by hand.

mod admin;
pub mod alerts;
mod causes;
mod exports;
mod pages;
mod policy;

use crate::api::App;
use crate::auth::{AuthError, Perm, Staff, allowed};
use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use mijian_store::Role;
use minijinja::Environment;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::OnceLock;

pub use causes::Cause;

/// Routes of the console.
pub fn router() -> Router<App> {
    Router::new()
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/lang/{lang}", get(set_lang))
        .route("/assets/{file}", get(asset))
        .route("/", get(pages::overview))
        .route("/hosts", get(pages::hosts))
        .route("/hosts/{agent_id}", get(pages::host))
        .route("/findings", get(pages::findings))
        .route("/finding", get(pages::finding))
        .route("/findings/triage", post(pages::triage))
        .route("/alerts", get(pages::alerts))
        .route("/media", get(exports::media).post(exports::media_save))
        .route("/media/delete", post(exports::media_delete))
        .route("/media/media.toml", get(exports::media_toml))
        .route("/media/media.xlsx", get(exports::media_xlsx))
        .route("/reports", get(exports::report_form))
        .route("/reports/inspection", get(exports::report_html))
        .route("/reports/inspection.docx", get(exports::report_docx))
        .route("/reports/findings.xlsx", get(exports::findings_xlsx))
        .route("/reports/findings.csv", get(exports::findings_csv))
        .route("/policy", get(policy::page))
        .route("/policy/diff", get(policy::diff))
        .route("/policy/file", get(policy::file).post(policy::file_save))
        .route("/policy/mode", post(policy::mode_save))
        .route("/policy/exceptions", post(policy::exception_add))
        .route("/policy/exceptions/remove", post(policy::exception_remove))
        .route("/audit", get(pages::audit))
        .route("/admin", get(admin::page))
        .route("/admin/users", post(admin::user_save))
        .route("/admin/users/delete", post(admin::user_delete))
        .route("/admin/tokens", post(admin::token_create))
        .route("/admin/tokens/revoke", post(admin::token_revoke))
        .route("/admin/enroll", post(admin::enroll_create))
        .route("/admin/agents/revoke", post(admin::agent_revoke))
}

/// Start the console's background work: cause bits and the daily trend
/// (`causes`), alert detection and forwarding (`alerts`).
pub fn spawn_background(app: &App) {
    causes::spawn(app.clone());
    alerts::spawn(app.clone());
}

/// The Content-Security-Policy of every response: nothing inline, nothing
/// from elsewhere, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Security headers on every response (API and pages alike).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: with it, browsers send `Origin: null` on form
        // posts, which the CSRF check must refuse.
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

static ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console.js"),
    ),
    (
        "logo.svg",
        "image/svg+xml",
        include_str!("../../assets/logo.svg"),
    ),
];

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == file) {
        Some((_, ct, body)) => (
            [
                (header::CONTENT_TYPE, *ct),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}

/// `/lang/en` or `/lang/zh`: remember the language, go back.
async fn set_lang(Path(lang): Path<String>, headers: HeaderMap) -> Response {
    let lang = if lang == "en" { "en" } else { "zh" };
    // Only a same-site path: never an open redirect.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_string()))
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or_else(|| "/".to_string());
    (
        [(
            header::SET_COOKIE,
            format!("lang={lang}; Path=/; SameSite=Strict; Max-Age=31536000"),
        )],
        Redirect::to(&back),
    )
        .into_response()
}

/// The page language: the `lang` cookie, Chinese by default.
pub fn lang(headers: &HeaderMap) -> &'static str {
    let en = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|kv| kv.trim() == "lang=en");
    if en { "en" } else { "zh" }
}

type Strings = BTreeMap<String, BTreeMap<String, String>>;

fn strings() -> &'static Strings {
    static S: OnceLock<Strings> = OnceLock::new();
    S.get_or_init(|| {
        toml::from_str(include_str!("../../templates/i18n.toml")).unwrap_or_else(|e| {
            log::error!("templates/i18n.toml: {e}");
            BTreeMap::new()
        })
    })
}

/// A UI string in `lang` (the key itself when missing, so a gap shows).
pub fn tr(lang: &str, key: &str) -> String {
    strings()
        .get(lang)
        .and_then(|m| m.get(key))
        .or_else(|| strings().get("zh").and_then(|m| m.get(key)))
        .cloned()
        .unwrap_or_else(|| key.to_string())
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, src) in [
            ("base.html", include_str!("../../templates/base.html")),
            ("login.html", include_str!("../../templates/login.html")),
            (
                "overview.html",
                include_str!("../../templates/overview.html"),
            ),
            ("hosts.html", include_str!("../../templates/hosts.html")),
            ("host.html", include_str!("../../templates/host.html")),
            (
                "findings.html",
                include_str!("../../templates/findings.html"),
            ),
            ("finding.html", include_str!("../../templates/finding.html")),
            ("alerts.html", include_str!("../../templates/alerts.html")),
            ("media.html", include_str!("../../templates/media.html")),
            ("reports.html", include_str!("../../templates/reports.html")),
            (
                "inspection.html",
                include_str!("../../templates/inspection.html"),
            ),
            ("audit.html", include_str!("../../templates/audit.html")),
            ("admin.html", include_str!("../../templates/admin.html")),
            ("policy.html", include_str!("../../templates/policy.html")),
            (
                "policy_diff.html",
                include_str!("../../templates/policy_diff.html"),
            ),
            (
                "policy_file.html",
                include_str!("../../templates/policy_file.html"),
            ),
            ("message.html", include_str!("../../templates/message.html")),
            ("macros.html", include_str!("../../templates/macros.html")),
        ] {
            if let Err(e) = env.add_template(name, src) {
                log::error!("template {name}: {e}");
            }
        }
        env.add_filter("ts", |v: Option<i64>| v.map(fmt_time).unwrap_or_default());
        env.add_filter("day", |v: Option<i64>| v.map(fmt_day).unwrap_or_default());
        // Long agent strings (paths, evidence) cut for tables; full text on the detail page.
        // Paths keep their end (the file name) when cut.
        env.add_filter("tail", |v: Option<String>, n: Option<usize>| {
            let v = v.unwrap_or_default();
            let n = n.unwrap_or(80);
            let len = v.chars().count();
            if len <= n {
                v
            } else {
                let mut s = String::from("…");
                s.extend(v.chars().skip(len - n.saturating_sub(1)));
                s
            }
        });
        env.add_filter("truncate", |v: Option<String>, n: Option<usize>| {
            let v = v.unwrap_or_default();
            let n = n.unwrap_or(80);
            if v.chars().count() <= n {
                v
            } else {
                let mut s: String = v.chars().take(n.saturating_sub(1)).collect();
                s.push('…');
                s
            }
        });
        env
    })
}

/// Times are shown in China Standard Time (UTC+8), as the offices read them.
const CST: i64 = 8 * 3600;

pub fn fmt_time(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs + CST)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}

pub fn fmt_day(secs: i64) -> String {
    fmt_time(secs).chars().take(10).collect()
}

/// Parse `YYYY-MM-DD` as the start of that day in UTC+8.
pub fn parse_day(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), &fmt)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp() - CST)
}

/// What every page's layout needs: the user, the language, the role's rights.
pub fn page_ctx(staff: &Staff, lang: &str, active: &str) -> Value {
    let strings = strings().get(lang).cloned().unwrap_or_default();
    json!({
        "me": {"name": staff.name, "role": staff.role.as_str(),
               "role_label": tr(lang, &format!("role.{}", staff.role.as_str()))},
        "csrf": staff.csrf(),
        "lang": lang,
        "L": strings,
        "active": active,
        "can": {
            "triage": allowed(staff.role, Perm::Triage),
            "media": allowed(staff.role, Perm::EditMedia),
            "export": allowed(staff.role, Perm::Export),
            "audit": allowed(staff.role, Perm::ReadAudit),
            "admin": allowed(staff.role, Perm::Accounts),
            "policy": allowed(staff.role, Perm::ReadPolicy),
            "edit_policy": allowed(staff.role, Perm::EditPolicy),
        },
    })
}

/// Render `name` with `ctx` (merged over the layout context).
pub fn render(name: &str, base: Value, ctx: Value) -> Response {
    let mut merged = base;
    if let (Some(m), Value::Object(extra)) = (merged.as_object_mut(), ctx) {
        m.extend(extra);
    }
    let out = env()
        .get_template(name)
        .and_then(|t| t.render(minijinja::Value::from_serialize(&merged)));
    match out {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            log::error!("template {name}: {e:#}");
            #[cfg(test)]
            eprintln!("template {name}: {e:#}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the collector log\n",
            )
                .into_response()
        }
    }
}

/// A page's error: a short page in the layout, or the auth layer's answer.
pub enum UiError {
    Auth(AuthError),
    Status(StatusCode, String),
}

impl From<AuthError> for UiError {
    fn from(e: AuthError) -> UiError {
        UiError::Auth(AuthError { html: true, ..e })
    }
}

impl From<crate::api::ApiError> for UiError {
    fn from(e: crate::api::ApiError) -> UiError {
        UiError::Status(e.status, e.message)
    }
}

impl UiError {
    pub fn bad(msg: impl Into<String>) -> UiError {
        UiError::Status(StatusCode::BAD_REQUEST, msg.into())
    }
    pub fn not_found() -> UiError {
        UiError::Status(StatusCode::NOT_FOUND, "not found".into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::Auth(e) => e.into_response(),
            UiError::Status(status, msg) => {
                let mut r = render(
                    "message.html",
                    json!({"lang": "zh", "L": strings().get("zh").cloned().unwrap_or_default()}),
                    json!({"title": status.as_u16().to_string(), "message": msg}),
                );
                *r.status_mut() = status;
                r
            }
        }
    }
}

pub type UiResult = Result<Response, UiError>;

/// The label of a role in `lang`.
pub fn role_label(lang: &str, r: Role) -> String {
    tr(lang, &format!("role.{}", r.as_str()))
}

#[cfg(test)]
mod tests;
