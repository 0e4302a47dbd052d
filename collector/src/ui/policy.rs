//! The console's policy pages (issues 13 and 16): the central policy that
//! `mijian-collector policy …` manages, shown and changed where the security
//! office works. The secadmin (安全保密管理员) edits one rule file at a time,
//! switches the mode, and adds or removes exceptions; the auditor reads; the
//! admin (系统管理员) has no policy rights (三员分立).
//!
//! Every change goes through [`crate::policy::publish`], the path of
//! `policy import`: the whole rule set must load with the agents' own loader
//! (an error names the file and line), a new signed version is made (never a
//! rewrite), and the change lands in the audit log.
//!
//! Hidden mode keeps keyword terms off the workstations; the console keeps
//! them off the screen too: keyword files of a hidden-mode version are never
//! shown nor diffed in clear (a diff names the rules that changed, by id),
//! and their editor starts empty (paste the complete new file).

use super::{UiError, UiResult, lang, page_ctx, parse_day, render, tr};
use crate::api::App;
use crate::auth::{Perm, Staff, now};
use crate::policy::{Change, exceptions_of, files_of, mode_of};
use axum::Form;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use mijian_policy::bundle::{Exception, Mode};
use mijian_store::PolicyVersion;
use mijian_store::console::PolicyCount;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Hosts per page of the rollout list.
const HOSTS_PAGE: i64 = 50;
/// Largest rule file the editor accepts (the form itself is capped at 1 MiB).
const MAX_FILE_BYTES: usize = 512 * 1024;
/// The rule files besides `keywords/*.toml`, in the loader's order.
const FIXED: [&str; 5] = [
    "baseline.toml",
    "markings.toml",
    "media.toml",
    "network.toml",
    "software.toml",
];

fn q<T: serde::de::DeserializeOwned>(raw: &Option<String>) -> Result<T, UiError> {
    crate::api::query(raw.as_deref()).map_err(UiError::from)
}

fn is_keywords(path: &str) -> bool {
    path.starts_with("keywords/")
}

/// A rule file the loader reads: one of [`FIXED`] or `keywords/NAME.toml`
/// (letters, digits, `-`, `_`, `.`; no directory, not hidden).
fn valid_path(path: &str) -> bool {
    if FIXED.contains(&path) {
        return true;
    }
    let Some(name) = path.strip_prefix("keywords/") else {
        return false;
    };
    name.len() <= 80
        && name.len() > ".toml".len()
        && name.ends_with(".toml")
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The loader's order: fixed files first, then keyword files by name.
fn order_key(path: &str) -> (usize, String) {
    match FIXED.iter().position(|f| *f == path) {
        Some(i) => (i, String::new()),
        None => (FIXED.len(), path.to_string()),
    }
}

fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}

fn mode_label(lang: &str, mode: &str) -> String {
    tr(lang, &format!("policy.mode.{mode}"))
}

/// A version for the templates (never its files or bundle).
fn version_view(lang: &str, v: &PolicyVersion) -> Value {
    json!({
        "version": v.version, "digest": v.digest, "short": short(&v.digest),
        "created_at": v.created_at, "actor": v.actor,
        "action": v.action, "action_label": tr(lang, &format!("policy.action.{}", v.action)),
        "mode": v.mode, "mode_label": mode_label(lang, &v.mode), "message": v.message,
    })
}

/// An exception for the templates; `in_force` when it has not expired.
fn exception_view(e: &Exception, now_rfc: &str) -> Value {
    json!({
        "id": e.id, "rule": e.rule, "sha256": e.sha256, "short": short(&e.sha256),
        // Shown in UTC+8 like every time in the console.
        "expires": time::OffsetDateTime::parse(&e.expires, &time::format_description::well_known::Rfc3339)
            .map(|t| super::fmt_time(t.unix_timestamp()))
            .unwrap_or_else(|_| e.expires.clone()),
        "justification": e.justification, "created_by": e.created_by,
        "in_force": now_rfc < e.expires.as_str(),
        "findings_href": format!("/findings?rule={}", urlencode(&e.rule)),
    })
}

/// Percent-encode a query value (everything but unreserved characters).
fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn internal(e: impl std::fmt::Display) -> UiError {
    log::error!("policy page: {e:#}");
    UiError::Status(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; see the collector log".into(),
    )
}

/// Where each reporting host stands against the latest version.
fn rollout_view(lang: &str, counts: &[PolicyCount], latest: Option<&PolicyVersion>) -> Value {
    let (mut current, mut behind, mut local, mut unknown) = (0i64, 0i64, 0i64, 0i64);
    let rows: Vec<Value> = counts
        .iter()
        .map(|c| {
            let state = host_state(c.version, c.digest.as_deref(), latest);
            match state {
                "current" => current += c.hosts,
                "behind" => behind += c.hosts,
                "local" => local += c.hosts,
                _ => unknown += c.hosts,
            }
            json!({
                "version": c.version, "short": c.digest.as_deref().map(short),
                "hosts": c.hosts, "state": state,
                "state_label": tr(lang, &format!("policy.state.{state}")),
            })
        })
        .collect();
    let total = current + behind + local + unknown;
    let pct = |n: i64| {
        if total > 0 {
            (n as f64 * 100.0 / total as f64).round() as i64
        } else {
            0
        }
    };
    json!({
        "rows": rows, "total": total,
        "current": current, "behind": behind, "local": local, "unknown": unknown,
        "current_pct": pct(current), "behind_pct": pct(behind),
        "local_pct": pct(local), "unknown_pct": pct(unknown),
    })
}

/// `current` (runs the latest digest), `behind` (an older bundle), `local`
/// (rules from its own directory, no bundle), `unknown` (reported before the
/// collector kept the policy per host).
fn host_state(
    version: Option<i64>,
    digest: Option<&str>,
    latest: Option<&PolicyVersion>,
) -> &'static str {
    match (version, digest, latest) {
        (_, None, _) => "unknown",
        (_, Some(d), Some(l)) if d == l.digest => "current",
        (Some(_), Some(_), _) => "behind",
        (None, Some(_), _) => "local",
    }
}

// ---------------------------------------------------------------- overview

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PolicyQuery {
    /// `1`: list every reporting host, not only those not on the latest version.
    all: Option<String>,
    offset: Option<i64>,
}

/// `GET /policy`: the latest version, its files and exceptions, the fleet's
/// rollout, the change log.
pub async fn page(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> UiResult {
    staff.require(Perm::ReadPolicy)?;
    let lang = lang(&headers);
    let f: PolicyQuery = q(&raw)?;
    let all = f.all.as_deref() == Some("1");
    let offset = f.offset.unwrap_or(0).clamp(0, 10_000_000);
    let (latest, history, counts, hosts) = app
        .blocking(move |s| {
            let latest = s.policy_latest()?;
            let history = s.policy_history()?;
            let c = s.console();
            let counts = c.policy_rollout()?;
            let not = if all {
                None
            } else {
                latest.as_ref().map(|l| l.digest.clone())
            };
            let hosts = c.policy_hosts(not.as_deref(), HOSTS_PAGE + 1, offset)?;
            Ok((latest, history, counts, hosts))
        })
        .await?;
    let now_rfc = crate::api::rfc3339(now());
    let (files, exceptions) = match &latest {
        Some(l) => (
            files_of(l).map_err(internal)?,
            exceptions_of(l).map_err(internal)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let hidden = latest.as_ref().is_some_and(|l| l.mode == "hidden");
    let files: Vec<Value> = files
        .iter()
        .map(|(p, c)| {
            json!({
                "path": p, "bytes": c.len(),
                "lines": c.iter().filter(|b| **b == b'\n').count(),
                "keywords": is_keywords(p), "secret": hidden && is_keywords(p),
                "href": format!("/policy/file?path={}", urlencode(p)),
            })
        })
        .collect();
    let (in_force, expired): (Vec<Value>, Vec<Value>) = exceptions
        .iter()
        .map(|e| exception_view(e, &now_rfc))
        .partition(|e| e["in_force"].as_bool().unwrap_or(false));
    let more = hosts.len() as i64 > HOSTS_PAGE;
    let host_rows: Vec<Value> = hosts
        .iter()
        .take(HOSTS_PAGE as usize)
        .map(|h| {
            let state = host_state(
                h.policy_version,
                h.policy_digest.as_deref(),
                latest.as_ref(),
            );
            json!({
                "agent_id": h.agent_id, "hostname": h.hostname, "last_seen": h.last_seen,
                "version": h.policy_version, "short": h.policy_digest.as_deref().map(short),
                "state": state, "state_label": tr(lang, &format!("policy.state.{state}")),
                "behind": match (&latest, h.policy_version) {
                    (Some(l), Some(v)) if state == "behind" => Some((l.version - v).max(0)),
                    _ => None,
                },
            })
        })
        .collect();
    let page_href = |o: i64| format!("/policy?{}offset={o}", if all { "all=1&" } else { "" });
    Ok(render(
        "policy.html",
        page_ctx(&staff, lang, "policy"),
        json!({
            "latest": latest.as_ref().map(|l| {
                let mut v = version_view(lang, l);
                v["etag"] = json!(crate::policy::api::etag(l.version, &l.digest));
                v
            }),
            "hidden": hidden,
            "files": files,
            "exceptions": in_force, "expired": expired,
            "rollout": rollout_view(lang, &counts, latest.as_ref()),
            "hosts": host_rows, "all": all,
            "prev_href": (offset > 0).then(|| page_href((offset - HOSTS_PAGE).max(0))),
            "next_href": more.then(|| page_href(offset + HOSTS_PAGE)),
            "history": history.iter().map(|v| version_view(lang, v)).collect::<Vec<_>>(),
        }),
    ))
}

// ---------------------------------------------------------------- diff

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    from: Option<i64>,
    to: Option<i64>,
}

/// One line of a rendered diff: `hunk`, `add`, `del` or `ctx`.
fn diff_lines(old: &str, new: &str) -> Vec<Value> {
    let d = similar::TextDiff::from_lines(old, new);
    let mut out = Vec::new();
    for group in d.grouped_ops(3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let (o, n) = (first.old_range().start, first.new_range().start);
        out.push(json!({"tag": "hunk", "text": format!(
            "@@ -{},{} +{},{} @@", o + 1, last.old_range().end - o, n + 1, last.new_range().end - n)}));
        for op in &group {
            for change in d.iter_changes(op) {
                let tag = match change.tag() {
                    similar::ChangeTag::Insert => "add",
                    similar::ChangeTag::Delete => "del",
                    similar::ChangeTag::Equal => "ctx",
                };
                out.push(
                    json!({"tag": tag, "text": change.value().trim_end_matches(['\n', '\r'])}),
                );
            }
        }
    }
    out
}

/// The `[[keyword]]` tables of a keyword file by id (unparsable: empty; the
/// loader refused such a file before it was ever stored).
fn keyword_rules(text: &str) -> BTreeMap<String, toml::Value> {
    let Ok(v) = text.parse::<toml::Table>() else {
        return BTreeMap::new();
    };
    v.get("keyword")
        .and_then(toml::Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| {
                    let id = r.get("id")?.as_str()?.to_string();
                    Some((id, r.clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Which keyword rules changed, by id only: the hidden-mode diff.
fn rule_changes(old: &str, new: &str) -> Vec<Value> {
    let (a, b) = (keyword_rules(old), keyword_rules(new));
    let mut out = Vec::new();
    for (id, r) in &b {
        match a.get(id) {
            None => out.push(json!({"id": id, "change": "added"})),
            Some(o) if o != r => out.push(json!({"id": id, "change": "changed"})),
            _ => {}
        }
    }
    for id in a.keys().filter(|id| !b.contains_key(*id)) {
        out.push(json!({"id": id, "change": "removed"}));
    }
    out
}

/// `GET /policy/diff?from=N&to=M`: what changed between two versions.
pub async fn diff(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> UiResult {
    staff.require(Perm::ReadPolicy)?;
    let lang = lang(&headers);
    let f: DiffQuery = q(&raw)?;
    let (history, versions) = app
        .blocking(move |s| {
            let history = s.policy_history()?;
            let to = f.to.or(history.first().map(|v| v.version));
            let from = f.from.or(to.map(|t| t - 1));
            let pick = |v: Option<i64>| v.map(|n| s.policy_version(n)).transpose();
            Ok((history, (pick(from)?.flatten(), pick(to)?.flatten())))
        })
        .await?;
    let (Some(old), Some(new)) = versions else {
        return Err(UiError::Status(
            StatusCode::NOT_FOUND,
            tr(lang, "policy.no_versions"),
        ));
    };
    // Hidden now hides the past too: old versions hold the same code names.
    let latest_hidden = history.first().is_some_and(|v| v.mode == "hidden");
    let hidden = latest_hidden || old.mode == "hidden" || new.mode == "hidden";
    let (a, b) = (
        files_of(&old).map_err(internal)?,
        files_of(&new).map_err(internal)?,
    );
    let mut paths: Vec<&String> = a.iter().chain(b.iter()).map(|(p, _)| p).collect();
    paths.sort_by_key(|p| order_key(p));
    paths.dedup();
    let text = |files: &[(String, Vec<u8>)], p: &str| {
        files
            .iter()
            .find(|(q, _)| q == p)
            .map(|(_, c)| String::from_utf8_lossy(c).into_owned())
    };
    let mut changed = Vec::new();
    for p in paths {
        let (x, y) = (text(&a, p), text(&b, p));
        if x == y {
            continue;
        }
        let status = match (&x, &y) {
            (None, _) => "added",
            (_, None) => "removed",
            _ => "changed",
        };
        let (x, y) = (x.unwrap_or_default(), y.unwrap_or_default());
        let secret = hidden && is_keywords(p);
        changed.push(json!({
            "path": p, "status": status,
            "status_label": tr(lang, &format!("policy.file.{status}")),
            "secret": secret,
            "rules": if secret { rule_changes(&x, &y) } else { Vec::new() },
            "lines": if secret { Vec::new() } else { diff_lines(&x, &y) },
        }));
    }
    let now_rfc = crate::api::rfc3339(now());
    let (ea, eb) = (
        exceptions_of(&old).map_err(internal)?,
        exceptions_of(&new).map_err(internal)?,
    );
    let added: Vec<Value> = eb
        .iter()
        .filter(|e| !ea.contains(e))
        .map(|e| exception_view(e, &now_rfc))
        .collect();
    let removed: Vec<Value> = ea
        .iter()
        .filter(|e| !eb.contains(e))
        .map(|e| exception_view(e, &now_rfc))
        .collect();
    Ok(render(
        "policy_diff.html",
        page_ctx(&staff, lang, "policy"),
        json!({
            "old": version_view(lang, &old), "new": version_view(lang, &new),
            "hidden": hidden, "files": changed,
            "ex_added": added, "ex_removed": removed,
            "mode_changed": old.mode != new.mode,
            "versions": history.iter().map(|v| v.version).collect::<Vec<_>>(),
        }),
    ))
}

// ---------------------------------------------------------------- one file

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileQuery {
    path: String,
    version: Option<i64>,
}

/// What the file page shows: the file of a version (or an empty editor
/// for a new keyword file), never a hidden-mode keyword file's content.
struct FilePage {
    path: String,
    version: Option<PolicyVersion>,
    latest: Option<i64>,
    /// The latest version is in hidden mode: older versions' keyword files
    /// (the same code names, mostly) are not shown either.
    latest_hidden: bool,
    content: Option<String>,
    exists: bool,
}

async fn load_file(app: &App, path: String, version: Option<i64>) -> Result<FilePage, UiError> {
    let (v, latest) = app
        .blocking(move |s| {
            let latest = s.policy_latest()?;
            let v = match version {
                Some(n) => s.policy_version(n)?,
                None => latest.clone(),
            };
            Ok((v, latest.map(|l| (l.version, l.mode == "hidden"))))
        })
        .await?;
    let (latest, latest_hidden) = latest.map_or((None, false), |(v, h)| (Some(v), h));
    let content = match &v {
        Some(v) => files_of(v)
            .map_err(internal)?
            .into_iter()
            .find(|(p, _)| *p == path)
            .map(|(_, c)| String::from_utf8_lossy(&c).into_owned()),
        None => None,
    };
    Ok(FilePage {
        exists: content.is_some(),
        path,
        version: v,
        latest,
        latest_hidden,
        content,
    })
}

fn file_response(
    staff: &Staff,
    lang: &str,
    fp: FilePage,
    draft: Option<(String, String)>,
    error: Option<String>,
) -> Response {
    let hidden = fp.latest_hidden || fp.version.as_ref().is_some_and(|v| v.mode == "hidden");
    let secret = hidden && is_keywords(&fp.path);
    let is_latest = fp.version.as_ref().map(|v| v.version) == fp.latest;
    let (draft_content, draft_message) = draft.unwrap_or_default();
    let editor = if error.is_some() {
        draft_content
    } else if secret {
        String::new()
    } else {
        fp.content.clone().unwrap_or_default()
    };
    let mut r = render(
        "policy_file.html",
        page_ctx(staff, lang, "policy"),
        json!({
            "path": fp.path, "exists": fp.exists, "secret": secret,
            "keywords": is_keywords(&fp.path),
            "version": fp.version.as_ref().map(|v| version_view(lang, v)),
            "base": fp.latest.unwrap_or(0), "is_latest": is_latest,
            "lines": match (&fp.content, secret) {
                (Some(c), false) => c.lines().collect::<Vec<_>>(),
                _ => Vec::new(),
            },
            "editor": editor, "message": draft_message, "error": error,
        }),
    );
    if r.status() == StatusCode::OK && fp.version.is_none() && !fp.exists && !is_keywords(&fp.path)
    {
        *r.status_mut() = StatusCode::NOT_FOUND;
    }
    r
}

/// `GET /policy/file?path=P[&version=N]`: one rule file, and (secadmin, the
/// latest version) its editor.
pub async fn file(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> UiResult {
    staff.require(Perm::ReadPolicy)?;
    let lang = lang(&headers);
    let mut f: FileQuery = q(&raw)?;
    // The "new keyword file" box sends a bare name.
    if !f.path.contains('/') && !FIXED.contains(&f.path.as_str()) {
        f.path = format!("keywords/{}", f.path.trim());
    }
    if !valid_path(&f.path) {
        return Err(UiError::bad(tr(lang, "policy.bad_path")));
    }
    let fp = load_file(&app, f.path, f.version).await?;
    if f.version.is_some() && fp.version.is_none() {
        return Err(UiError::not_found());
    }
    Ok(file_response(&staff, lang, fp, None, None))
}

#[derive(Deserialize)]
pub struct FileForm {
    path: String,
    content: String,
    message: String,
    /// The version the editor was opened on: a change made meanwhile is not overwritten.
    base: i64,
}

/// The signing key, or a page saying the collector was started without one.
fn signer(app: &App) -> Result<std::sync::Arc<mijian_report::AgentKey>, UiError> {
    app.policy_signer.clone().ok_or_else(|| {
        UiError::Status(
            StatusCode::SERVICE_UNAVAILABLE,
            "this collector has no policy signing key loaded".into(),
        )
    })
}

/// A change before it is signed: what [`Change`] holds but the actor.
struct Edit {
    files: Vec<(String, Vec<u8>)>,
    exceptions: Vec<Exception>,
    mode: Mode,
    action: &'static str,
    message: String,
}

/// Run a change (made from the latest version) through
/// [`crate::policy::publish`] off the async workers.
async fn publish(
    app: &App,
    actor: String,
    edit: impl FnOnce(Option<PolicyVersion>) -> anyhow::Result<Edit> + Send + 'static,
) -> Result<anyhow::Result<crate::policy::Published>, UiError> {
    let key = signer(app)?;
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || {
        let latest = store.policy_latest()?;
        let e = edit(latest)?;
        crate::policy::publish(
            &*store,
            &key,
            Change {
                files: e.files,
                exceptions: e.exceptions,
                mode: e.mode,
                actor: &actor,
                action: e.action,
                message: e.message,
            },
        )
    })
    .await
    .map_err(internal)
}

/// The loader's message without the placeholder directory it names files under.
fn clean_error(e: &anyhow::Error) -> String {
    format!("{e:#}")
        .replace("<import>/", "")
        .replace("<rules>/", "")
}

fn check_message(lang: &str, m: &str) -> Result<String, UiError> {
    let m = m.trim();
    if m.chars().count() < 2 || m.chars().count() > 500 || m.chars().any(char::is_control) {
        return Err(UiError::bad(tr(lang, "policy.bad_message")));
    }
    Ok(m.to_string())
}

/// `POST /policy/file`: the file's new content becomes the next version.
pub async fn file_save(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    Form(f): Form<FileForm>,
) -> UiResult {
    staff.require(Perm::EditPolicy)?;
    let lang = lang(&headers);
    if !valid_path(&f.path) {
        return Err(UiError::bad(tr(lang, "policy.bad_path")));
    }
    // Browsers send a textarea's line breaks as CRLF.
    let content = f.content.replace("\r\n", "\n");
    let redo = |app: App, error: String, status: StatusCode| {
        let (path, content, message, staff) = (
            f.path.clone(),
            content.clone(),
            f.message.clone(),
            staff.clone(),
        );
        async move {
            let fp = load_file(&app, path, None).await?;
            let mut r = file_response(&staff, lang, fp, Some((content, message)), Some(error));
            *r.status_mut() = status;
            Ok::<Response, UiError>(r)
        }
    };
    if content.len() > MAX_FILE_BYTES {
        return redo(
            app,
            tr(lang, "policy.too_large"),
            StatusCode::PAYLOAD_TOO_LARGE,
        )
        .await;
    }
    let message = match check_message(lang, &f.message) {
        Ok(m) => m,
        Err(_) => {
            return redo(
                app,
                tr(lang, "policy.bad_message"),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let (path, base, msg, body) = (f.path.clone(), f.base, message.clone(), content.clone());
    let stale = tr(lang, "policy.stale");
    let blank = tr(lang, "policy.blank_secret");
    let result = publish(&app, staff.name.clone(), move |latest| {
        let latest_v = latest.as_ref().map_or(0, |l| l.version);
        if latest_v != base {
            anyhow::bail!("{stale} (v{base} → v{latest_v})");
        }
        // The hidden-mode editor starts empty: saving it untouched must not
        // wipe the keyword set.
        if latest.as_ref().is_some_and(|l| l.mode == "hidden")
            && is_keywords(&path)
            && body.trim().is_empty()
        {
            anyhow::bail!("{path}: {blank}");
        }
        let (mut files, exceptions, mode) = match &latest {
            Some(l) => (files_of(l)?, exceptions_of(l)?, mode_of(l)),
            None => (Vec::new(), Vec::new(), Mode::Plain),
        };
        match files.iter_mut().find(|(p, _)| *p == path) {
            Some((_, c)) => *c = body.into_bytes(),
            None => files.push((path, body.into_bytes())),
        }
        files.sort_by_key(|(p, _)| order_key(p));
        Ok(Edit {
            files,
            exceptions,
            mode,
            action: "edit",
            message: msg,
        })
    })
    .await?;
    match result {
        Ok(p) => {
            app.auth
                .audit_staff(
                    &staff,
                    "policy.edit",
                    Some(f.path.clone()),
                    Some(if p.unchanged {
                        format!("unchanged: version {}", p.version)
                    } else {
                        format!("version {} (digest {}): {message}", p.version, p.digest)
                    }),
                )
                .await?;
            Ok(Redirect::to("/policy").into_response())
        }
        Err(e) => {
            let msg = clean_error(&e);
            app.auth
                .audit_staff(
                    &staff,
                    "policy.edit.refused",
                    Some(f.path.clone()),
                    Some(msg.clone()),
                )
                .await?;
            redo(app, msg, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

// ---------------------------------------------------------------- mode

#[derive(Deserialize)]
pub struct ModeForm {
    mode: String,
    message: String,
    base: i64,
}

/// `POST /policy/mode`: the same rules as the next version in plain or
/// hidden mode.
pub async fn mode_save(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    Form(f): Form<ModeForm>,
) -> UiResult {
    staff.require(Perm::EditPolicy)?;
    let lang = lang(&headers);
    let mode = match f.mode.as_str() {
        "plain" => Mode::Plain,
        "hidden" => Mode::Hidden,
        _ => return Err(UiError::bad("mode: plain or hidden")),
    };
    let message = check_message(lang, &f.message)?;
    let (base, msg, stale) = (f.base, message.clone(), tr(lang, "policy.stale"));
    let result = publish(&app, staff.name.clone(), move |latest| {
        let Some(l) = latest else {
            anyhow::bail!("no policy yet");
        };
        if l.version != base {
            anyhow::bail!("{stale} (v{base} → v{})", l.version);
        }
        Ok(Edit {
            files: files_of(&l)?,
            exceptions: exceptions_of(&l)?,
            mode,
            action: "mode",
            message: msg,
        })
    })
    .await?;
    finish(&app, &staff, "policy.mode", f.mode, &message, result).await
}

/// Audit a change's outcome; back to the policy page, or a page with the error.
async fn finish(
    app: &App,
    staff: &Staff,
    action: &str,
    target: String,
    message: &str,
    result: anyhow::Result<crate::policy::Published>,
) -> UiResult {
    match result {
        Ok(p) => {
            let mut detail = if p.unchanged {
                format!("unchanged: version {}", p.version)
            } else {
                format!("version {} (digest {}): {message}", p.version, p.digest)
            };
            for w in &p.warnings {
                detail.push_str("; warning: ");
                detail.push_str(w);
            }
            app.auth
                .audit_staff(staff, action, Some(target), Some(detail))
                .await?;
            Ok(Redirect::to("/policy").into_response())
        }
        Err(e) => {
            let msg = clean_error(&e);
            app.auth
                .audit_staff(
                    staff,
                    &format!("{action}.refused"),
                    Some(target),
                    Some(msg.clone()),
                )
                .await?;
            Err(UiError::Status(StatusCode::UNPROCESSABLE_ENTITY, msg))
        }
    }
}

// ---------------------------------------------------------------- exceptions

#[derive(Deserialize)]
pub struct ExceptionForm {
    sha256: String,
    rule: String,
    /// A day (YYYY-MM-DD, UTC+8): the exception ends at the end of it.
    expires: String,
    justification: String,
}

/// `POST /policy/exceptions`: a false positive (file SHA-256 + rule) becomes
/// an exception in the policy, so agents report it as `excepted`.
pub async fn exception_add(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    Form(f): Form<ExceptionForm>,
) -> UiResult {
    staff.require(Perm::EditPolicy)?;
    let lang = lang(&headers);
    let sha256 = f.sha256.trim().to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(UiError::bad("sha256: 64 hex digits"));
    }
    let rule = f.rule.trim().to_string();
    if rule.is_empty() || rule.chars().count() > 128 || rule.chars().any(char::is_control) {
        return Err(UiError::bad("rule: 1-128 characters"));
    }
    let justification = f.justification.trim().to_string();
    let n = justification.chars().count();
    if !(4..=2000).contains(&n) {
        return Err(UiError::bad(tr(lang, "policy.bad_justification")));
    }
    let expires = parse_day(&f.expires)
        .map(|d| d + 86400)
        .filter(|e| *e > now() && *e <= now() + 366 * 86400)
        .ok_or_else(|| UiError::bad(tr(lang, "policy.bad_expiry")))?;
    let ex = Exception {
        id: String::new(),
        sha256,
        rule: rule.clone(),
        expires: crate::api::rfc3339(expires),
        justification,
        created_by: Some(staff.name.clone()),
    };
    let key = signer(&app)?;
    let (store, actor) = (app.store.clone(), staff.name.clone());
    let result = tokio::task::spawn_blocking(move || {
        crate::policy::add_exception(&*store, &key, ex, &actor)
    })
    .await
    .map_err(internal)?;
    let target = format!("rule {rule}, file {}", f.sha256.trim());
    match result {
        Ok((p, id)) => {
            let message = format!("exception {id} until {}", crate::api::rfc3339(expires));
            finish(&app, &staff, "policy.except", target, &message, Ok(p)).await
        }
        Err(e) => finish(&app, &staff, "policy.except", target, "", Err(e)).await,
    }
}

#[derive(Deserialize)]
pub struct IdForm {
    id: String,
}

/// `POST /policy/exceptions/remove`: end an exception now (a new version).
pub async fn exception_remove(
    staff: Staff,
    State(app): State<App>,
    Form(f): Form<IdForm>,
) -> UiResult {
    staff.require(Perm::EditPolicy)?;
    let id = f.id.trim().to_string();
    if id.is_empty() || id.len() > 64 {
        return Err(UiError::bad("id"));
    }
    let key = signer(&app)?;
    let (store, actor, i) = (app.store.clone(), staff.name.clone(), id.clone());
    let result = tokio::task::spawn_blocking(move || {
        crate::policy::remove_exception(&*store, &key, &i, &actor)
    })
    .await
    .map_err(internal)?;
    let message = format!("remove exception {id}");
    finish(&app, &staff, "policy.unexcept", id, &message, result).await
}
