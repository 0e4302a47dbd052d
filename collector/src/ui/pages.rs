//! The console's reading and triage pages: login, overview, hosts, host,
//! findings, one finding, triage (bulk), alerts, audit log. Handlers gather
//! data through the store's queries and hand it to a template; they never
//! build HTML.

use super::causes::Cause;
use super::{UiError, UiResult, lang, page_ctx, parse_day, render, tr};
use crate::api::{App, decode_cursor, encode_cursor};
use crate::auth::{AuthErrorKind, Perm, Staff, check_user_name, now, peer};
use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Extensions, HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use mijian_report::Category;
use mijian_store::console::{
    CursorKey, FindingPageQuery, HostPageQuery, HostSort, Triage, TriageFilter, TriageState,
    TriagedFinding,
};
use mijian_store::{FindingRow, HostSummary};
use serde::Deserialize;
use serde_json::{Value, json};

const PAGE: i64 = 50;

fn q<T: serde::de::DeserializeOwned>(raw: &Option<String>) -> Result<T, UiError> {
    crate::api::query(raw.as_deref()).map_err(UiError::from)
}

fn empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------- login

pub async fn login_form(headers: HeaderMap) -> Response {
    let lang = lang(&headers);
    render(
        "login.html",
        json!({"lang": lang, "L": super::strings().get(lang)}),
        json!({}),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
}

pub async fn login(
    State(app): State<App>,
    headers: HeaderMap,
    ext: Extensions,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = lang(&headers);
    let again = |key: &str| {
        let mut r = render(
            "login.html",
            json!({"lang": lang, "L": super::strings().get(lang)}),
            json!({"error": tr(lang, key), "name": f.name}),
        );
        *r.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
        r
    };
    if check_user_name(&f.name).is_err() || f.password.len() > 1024 {
        return again("login.failed");
    }
    let addr = peer(&ext);
    match app
        .auth
        .login(&f.name, f.password.clone(), addr.clone(), "console")
        .await
    {
        Ok(role) => match app.auth.start_session(&f.name, role, addr).await {
            Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response(),
            Err(e) => UiError::from(e).into_response(),
        },
        Err(e) => match e.kind {
            AuthErrorKind::RateLimited => again("login.rate_limited"),
            AuthErrorKind::Locked => again("login.locked"),
            AuthErrorKind::Internal => UiError::from(e).into_response(),
            _ => again("login.failed"),
        },
    }
}

pub async fn logout(staff: Staff, State(app): State<App>, headers: HeaderMap) -> UiResult {
    let cookie = app.auth.end_session(&headers).await?;
    app.auth.audit_staff(&staff, "logout", None, None).await?;
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}

// ---------------------------------------------------------------- overview

pub async fn overview(staff: Staff, State(app): State<App>, headers: HeaderMap) -> UiResult {
    staff.require(Perm::ReadFleet)?;
    let lang = lang(&headers);
    let silent_since = now() - app.silent_after_secs.min(i64::MAX as u64 / 2) as i64;
    let today = (now() + 8 * 3600).div_euclid(86400);
    let (counts, history, newest, alerts) = app
        .blocking(move |s| {
            let c = s.console();
            let counts = c.fleet_counts(silent_since)?;
            let history = c.history(today - 29)?;
            let newest = c.finding_page(
                &FindingPageQuery {
                    status: Some("open".into()),
                    min_severity_rank: Some(3),
                    triage: TriageFilter::Pending,
                    limit: 10,
                    ..Default::default()
                },
                now(),
            )?;
            let alerts = c.alerts(None, 5)?;
            Ok((counts, history, newest, alerts))
        })
        .await?;
    let rate = if counts.reporting > 0 {
        (counts.compliant as f64) * 100.0 / (counts.reporting as f64)
    } else {
        0.0
    };
    let mut causes: Vec<Value> = Cause::ALL
        .iter()
        .map(|c| {
            json!({"label": tr(lang, c.key()), "n": counts.causes.get(*c as usize).copied().unwrap_or(0),
                   "href": c.findings_query().map(|q| format!("/findings?{q}"))})
        })
        .collect();
    causes.push(
        json!({"label": tr(lang, "cause.silent"), "n": counts.silent, "href": "/hosts?silent=1"}),
    );
    causes
        .push(json!({"label": tr(lang, "cause.tamper"), "n": counts.tampered, "href": "/alerts"}));
    let max = causes
        .iter()
        .filter_map(|c| c["n"].as_i64())
        .max()
        .unwrap_or(0)
        .max(1);
    for c in &mut causes {
        let n = c["n"].as_i64().unwrap_or(0);
        c["w"] = json!(((n as f64) * 100.0 / (max as f64)).round() as i64);
    }
    Ok(render(
        "overview.html",
        page_ctx(&staff, lang, "overview"),
        json!({
            "counts": counts, "rate": format!("{rate:.1}"),
            "causes": causes, "trend": trend_chart(&history, today),
            "newest": newest.iter().map(|f| finding_view(lang, f)).collect::<Vec<_>>(),
            "alerts": alerts.iter().map(|a| alert_view(lang, a)).collect::<Vec<_>>(),
        }),
    ))
}

/// The trend as SVG coordinates for the template (drawn on the server: no
/// chart script in the browser). 30 days; x 0..600, y 0..160 (100 % at top).
fn trend_chart(history: &[mijian_store::console::DayPoint], today: i64) -> Value {
    let (w, h, left, top) = (600.0, 160.0, 40.0, 10.0);
    let x = |day: i64| left + ((day - (today - 29)) as f64) * w / 29.0;
    let y = |pct: f64| top + h - pct * h / 100.0;
    let pts: Vec<(f64, f64, i64, f64)> = history
        .iter()
        .filter(|p| p.hosts > 0)
        .map(|p| {
            let pct = p.compliant as f64 * 100.0 / p.hosts as f64;
            (x(p.day), y(pct), p.day, pct)
        })
        .collect();
    let line = pts
        .iter()
        .map(|(x, y, _, _)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let area = if pts.len() > 1 {
        format!(
            "{:.1},{:.1} {line} {:.1},{:.1}",
            pts[0].0,
            top + h,
            pts[pts.len() - 1].0,
            top + h
        )
    } else {
        String::new()
    };
    let grid: Vec<Value> = [0.0, 25.0, 50.0, 75.0, 100.0]
        .iter()
        .map(|p| json!({"y": format!("{:.1}", y(*p)), "label": format!("{p:.0}%")}))
        .collect();
    let ticks: Vec<Value> = [0, 7, 14, 21, 29]
        .into_iter()
        .map(|i| {
            let day = today - 29 + i;
            let label = super::fmt_day(day * 86400 - 8 * 3600);
            // The last label (today) ends at the plot's edge instead of
            // spilling past it into the neighbour's.
            let anchor = if i == 29 { "end" } else { "middle" };
            json!({"x": format!("{:.1}", x(day) + if i == 29 { 4.0 } else { 0.0 }),
                   "label": label.get(5..).unwrap_or(""), "anchor": anchor})
        })
        .collect();
    json!({
        "line": line, "area": area, "grid": grid, "ticks": ticks,
        "dots": pts.iter().map(|(x, y, day, pct)| json!({"x": format!("{x:.1}"), "y": format!("{y:.1}"),
            "title": format!("{} {pct:.1}%", super::fmt_day(day * 86400 - 8 * 3600))})).collect::<Vec<_>>(),
        "left": left, "right": left + w, "bottom": top + h, "empty": pts.is_empty(),
    })
}

// ---------------------------------------------------------------- hosts

#[derive(Deserialize, Default)]
#[serde(default)]
struct HostFilter {
    q: Option<String>,
    status: Option<String>,
    classification: Option<String>,
    silent: Option<String>,
    sort: Option<String>,
    desc: Option<String>,
    cursor: Option<String>,
}

pub fn host_view(lang: &str, h: &HostSummary, silent_since: i64) -> Value {
    let silent = !h.revoked && h.last_seen.is_none_or(|l| l < silent_since);
    let status = if h.revoked {
        "revoked"
    } else if h.compliant.is_none() {
        "unknown"
    } else if h.tamper_alerts > 0 {
        "tamper"
    } else if h.compliant == Some(false) {
        "noncompliant"
    } else if silent {
        "silent"
    } else {
        "compliant"
    };
    json!({
        "agent_id": h.agent_id, "hostname": h.hostname.clone().unwrap_or_else(|| tr(lang, "host.unnamed")),
        "os": h.os, "classification": h.classification, "last_seen": h.last_seen,
        "open_findings": h.open_findings, "failed_checks": h.failed_checks,
        "status": status, "status_label": tr(lang, &format!("status.{status}")), "silent": silent,
        "missing_seqs": h.missing_seqs, "tamper_alerts": h.tamper_alerts, "reports": h.reports,
        "latest_seq": h.latest_seq, "revoked": h.revoked,
    })
}

pub async fn hosts(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> UiResult {
    staff.require(Perm::ReadFleet)?;
    let lang = lang(&headers);
    let f: HostFilter = q(&raw)?;
    let sort = match f.sort.as_deref() {
        Some("last_seen") => HostSort::LastSeen,
        Some("open_findings") => HostSort::OpenFindings,
        Some("classification") => HostSort::Classification,
        _ => HostSort::Hostname,
    };
    let desc = f.desc.as_deref() == Some("1");
    let silent_since = now() - app.silent_after_secs.min(i64::MAX as u64 / 2) as i64;
    let after = match &f.cursor {
        Some(c) => {
            let (k, id): (Value, String) = decode_cursor(c)?;
            let key = match k {
                Value::Number(n) => CursorKey::Int(n.as_i64().unwrap_or(0)),
                Value::String(s) => CursorKey::Text(s),
                _ => return Err(UiError::bad("bad cursor")),
            };
            Some((key, id))
        }
        None => None,
    };
    let query = HostPageQuery {
        hostname: empty(f.q.clone()),
        compliant: match f.status.as_deref() {
            Some("compliant") => Some(true),
            Some("noncompliant") => Some(false),
            _ => None,
        },
        classification: empty(f.classification.clone()),
        silent_since: (f.silent.as_deref() == Some("1")).then_some(silent_since),
        sort,
        desc,
        after,
        limit: PAGE,
    };
    let qc = query.clone();
    let (rows, total) = app
        .blocking(move |s| {
            let rows = s.console().host_page(&qc)?;
            let total = s.console().host_count(&qc)?;
            Ok((rows, total))
        })
        .await?;
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last())
        .flatten()
        .map(|h| {
            let key = match sort {
                HostSort::Hostname => json!(h.hostname.clone().unwrap_or_default()),
                HostSort::Classification => json!(h.classification.clone().unwrap_or_default()),
                HostSort::LastSeen => json!(h.last_seen.unwrap_or(0)),
                HostSort::OpenFindings => json!(h.open_findings),
            };
            encode_cursor(&(key, &h.agent_id))
        });
    // The filter as a query string, for sort links and the next page.
    let base: Vec<(&str, String)> = [
        ("q", f.q.clone()),
        ("status", f.status.clone()),
        ("classification", f.classification.clone()),
        ("silent", f.silent.clone()),
    ]
    .into_iter()
    .filter_map(|(k, v)| empty(v).map(|v| (k, v)))
    .collect();
    let base_qs = serde_urlencoded::to_string(&base).unwrap_or_default();
    let sort_name = match sort {
        HostSort::Hostname => "hostname",
        HostSort::LastSeen => "last_seen",
        HostSort::OpenFindings => "open_findings",
        HostSort::Classification => "classification",
    };
    let next_qs = next.map(|c| {
        let mut v = base.clone();
        v.push(("sort", sort_name.into()));
        if desc {
            v.push(("desc", "1".into()));
        }
        v.push(("cursor", c));
        serde_urlencoded::to_string(&v).unwrap_or_default()
    });
    Ok(render(
        "hosts.html",
        page_ctx(&staff, lang, "hosts"),
        json!({
            "hosts": rows.iter().map(|h| host_view(lang, h, silent_since)).collect::<Vec<_>>(),
            "total": total, "f": {"q": f.q, "status": f.status, "classification": f.classification,
                                  "silent": f.silent},
            "sort": sort_name, "desc": desc, "base_qs": base_qs, "next_qs": next_qs,
            "first_page": f.cursor.is_none(),
        }),
    ))
}

/// A check value (expected, actual, evidence) as an officer reads it: a
/// `file` with its `line` as `file:line`, other fields as `key: value`, list
/// items one after another — never raw JSON braces.
fn readable(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(readable)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("；"),
        Value::Object(m) => {
            let mut parts = Vec::new();
            if let Some(file) = m.get("file").and_then(Value::as_str) {
                parts.push(match m.get("line").and_then(Value::as_u64) {
                    Some(line) => format!("{file}:{line}"),
                    None => file.to_string(),
                });
            }
            for (k, v) in m {
                if (k == "file" && v.is_string()) || (k == "line" && m.contains_key("file")) {
                    continue;
                }
                let v = readable(v);
                if !v.is_empty() {
                    parts.push(format!("{k}: {v}"));
                }
            }
            parts.join("，")
        }
        other => other.to_string(),
    }
}

/// A check for the host page: id, status, expected/actual/evidence as
/// text, remedy.
fn check_view(lang: &str, c: &Value) -> Value {
    let text = |k: &str| -> Option<String> {
        match c.get(k) {
            None | Some(Value::Null) => None,
            Some(v) => Some(readable(v)),
        }
    };
    let id = text("id").unwrap_or_default();
    let status = text("status").unwrap_or_else(|| "error".into());
    json!({
        "id": id, "title": tr(lang, &format!("check.{id}")), "subject": text("subject"),
        "status": status, "status_label": tr(lang, &format!("check_status.{status}")),
        "expected": text("expected"), "actual": text("actual"), "evidence": text("evidence"),
        "remedy": text("remedy"),
    })
}

pub async fn host(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    Path(agent_id): Path<String>,
) -> UiResult {
    staff.require(Perm::ReadFleet)?;
    let lang = lang(&headers);
    let silent_after = app.silent_after_secs.min(i64::MAX as u64 / 2) as i64;
    let id = agent_id.clone();
    let (detail, open, media, reports) = app
        .blocking(move |s| {
            let detail = s.host(&id)?;
            let c = s.console();
            let open = c.finding_page(
                &FindingPageQuery {
                    agent_id: Some(id.clone()),
                    status: Some("open".into()),
                    limit: 500,
                    ..Default::default()
                },
                now(),
            )?;
            let media = c.finding_page(
                &FindingPageQuery {
                    agent_id: Some(id.clone()),
                    kind: Some("removable_media".into()),
                    limit: 100,
                    ..Default::default()
                },
                now(),
            )?;
            let reports = c.host_reports(&id, 200)?;
            Ok((detail, open, media, reports))
        })
        .await?;
    let detail = detail.ok_or_else(UiError::not_found)?;
    let checks: Vec<Value> = detail
        .latest_checks
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default();
    // Group by inspection category, in checklist order.
    let groups: Vec<Value> = Category::ALL
        .iter()
        .filter_map(|cat| {
            let items: Vec<Value> = checks
                .iter()
                .filter(|c| {
                    let id = c.get("id").and_then(Value::as_str).unwrap_or("");
                    c.get("category")
                        .and_then(Value::as_str)
                        .and_then(Category::parse)
                        .unwrap_or_else(|| Category::for_check(id))
                        == *cat
                })
                .map(|c| check_view(lang, c))
                .collect();
            (!items.is_empty()).then(|| {
                let failed = items.iter().filter(|c| c["status"] == "fail").count();
                json!({"name": if lang == "en" { cat.english() } else { cat.as_str() },
                       "checks": items, "failed": failed})
            })
        })
        .collect();
    // Silent periods: consecutive reports further apart than the silence threshold.
    let mut silences = Vec::new();
    let mut newer: Option<i64> = Some(now());
    for r in &reports {
        if let Some(n) = newer
            && n - r.received_at > silent_after
        {
            silences
                .push(json!({"from": r.received_at, "to": n, "days": (n - r.received_at) / 86400}));
        }
        newer = Some(r.received_at);
    }
    let silent_since = now() - silent_after;
    Ok(render(
        "host.html",
        page_ctx(&staff, lang, "hosts"),
        json!({
            "h": host_view(lang, &detail.summary, silent_since),
            "groups": groups,
            "open": open.iter().map(|f| finding_view(lang, f)).collect::<Vec<_>>(),
            "media": media.iter().map(|f| finding_view(lang, f)).collect::<Vec<_>>(),
            "reports": reports, "gaps": detail.gaps, "silences": silences,
            "tamper": detail.tamper_alerts_list,
        }),
    ))
}

// ---------------------------------------------------------------- findings

/// A finding for templates: the fields people read, never secret text
/// (findings carry rule ids, counts and hashes only).
pub fn finding_view(lang: &str, t: &TriagedFinding) -> Value {
    let f: &FindingRow = &t.finding;
    let body: Value = serde_json::from_str(&f.body).unwrap_or(Value::Null);
    let rules: Vec<String> = body
        .get("matches")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .take(20)
                .map(|r| {
                    format!(
                        "{}×{}",
                        r.get("rule").and_then(Value::as_str).unwrap_or("?"),
                        r.get("count").and_then(Value::as_u64).unwrap_or(0)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let subject = f
        .path
        .clone()
        .or_else(|| {
            body.get("device")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| {
            body.get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    let state = t.triage.clone().unwrap_or_else(|| {
        if f.status == "resolved" {
            "closed".into()
        } else {
            "pending".into()
        }
    });
    json!({
        "agent_id": f.agent_id, "hostname": f.hostname, "fingerprint": f.fingerprint,
        "key": format!("{}|{}", f.agent_id, f.fingerprint),
        "kind": f.kind, "kind_label": tr(lang, &format!("kind.{}", f.kind)),
        "severity": f.severity, "severity_label": tr(lang, &format!("severity.{}", f.severity)),
        "subject": subject, "rules": rules, "status": f.status,
        "state": state, "state_label": tr(lang, &format!("triage.{state}")),
        "first_seen": f.first_seen, "last_seen": f.last_seen,
        "first_seq": f.first_seq, "last_seq": f.last_seq,
        "marking": body.pointer("/marking/level").and_then(Value::as_str),
        "registered": body.get("registered").and_then(Value::as_bool),
        "medium_id": body.get("medium_id").and_then(Value::as_str),
        "mount_point": body.get("mount_point").and_then(Value::as_str),
        "sha256": body.get("sha256").and_then(Value::as_str),
        "format": body.get("format").and_then(Value::as_str),
        "reason": body.get("reason").and_then(Value::as_str),
        "justification": t.justification, "expires_at": t.expires_at,
        "triaged_by": t.triaged_by, "triaged_at": t.triaged_at,
        "recorded": t.triage_recorded,
        "expired": t.triage_recorded.as_deref() == Some("exception") && t.triage.is_none(),
    })
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct FindingFilter {
    pub kind: Option<String>,
    pub severity: Option<String>,
    pub min_severity: Option<String>,
    pub host: Option<String>,
    pub agent: Option<String>,
    pub rule: Option<String>,
    pub status: Option<String>,
    pub triage: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
}

pub fn severity_rank(s: &str) -> Option<i64> {
    Some(match s {
        "info" => 0,
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        "critical" => 4,
        _ => return None,
    })
}

impl FindingFilter {
    pub fn query(&self, limit: i64) -> Result<FindingPageQuery, UiError> {
        let after = match &self.cursor {
            Some(c) => Some(decode_cursor::<(i64, String, String)>(c)?),
            None => None,
        };
        Ok(FindingPageQuery {
            kind: empty(self.kind.clone()),
            severity_rank: self.severity.as_deref().and_then(severity_rank),
            min_severity_rank: self.min_severity.as_deref().and_then(severity_rank),
            agent_id: empty(self.agent.clone()),
            hostname: empty(self.host.clone()),
            text: empty(self.rule.clone()),
            status: match self.status.as_deref() {
                Some("resolved") => Some("resolved".into()),
                Some("all") => None,
                _ => Some("open".into()),
            },
            triage: match self.triage.as_deref() {
                Some("pending") => TriageFilter::Pending,
                Some("acknowledged") => TriageFilter::Acknowledged,
                Some("resolved") => TriageFilter::Resolved,
                Some("exception") => TriageFilter::Exception,
                _ => TriageFilter::Any,
            },
            since: self.from.as_deref().and_then(parse_day),
            until: self.to.as_deref().and_then(parse_day).map(|d| d + 86400),
            after,
            limit,
        })
    }

    fn qs(&self) -> Vec<(&'static str, String)> {
        [
            ("kind", &self.kind),
            ("severity", &self.severity),
            ("min_severity", &self.min_severity),
            ("host", &self.host),
            ("agent", &self.agent),
            ("rule", &self.rule),
            ("status", &self.status),
            ("triage", &self.triage),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter_map(|(k, v)| empty(v.clone()).map(|v| (k, v)))
        .collect()
    }
}

pub async fn findings(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> UiResult {
    staff.require(Perm::ReadFleet)?;
    let lang = lang(&headers);
    let f: FindingFilter = q(&raw)?;
    let query = f.query(PAGE)?;
    let rows = app
        .blocking(move |s| s.console().finding_page(&query, now()))
        .await?;
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last())
        .flatten()
        .map(|r| {
            let mut v = f.qs();
            v.push((
                "cursor",
                encode_cursor(&(r.severity_rank, &r.finding.agent_id, &r.finding.fingerprint)),
            ));
            serde_urlencoded::to_string(&v).unwrap_or_default()
        });
    let base_qs = serde_urlencoded::to_string(f.qs()).unwrap_or_default();
    let back = if base_qs.is_empty() {
        "/findings".to_string()
    } else {
        format!("/findings?{base_qs}")
    };
    Ok(render(
        "findings.html",
        page_ctx(&staff, lang, "findings"),
        json!({
            "rows": rows.iter().map(|t| finding_view(lang, t)).collect::<Vec<_>>(),
            "f": {"kind": f.kind, "severity": f.severity, "min_severity": f.min_severity, "host": f.host,
                  "agent": f.agent, "rule": f.rule, "status": f.status, "triage": f.triage,
                  "from": f.from, "to": f.to},
            "next_qs": next, "base_qs": base_qs, "back": back, "first_page": f.cursor.is_none(),
            "kinds": ["unmarked_classified", "marked_classified", "removable_media", "unscannable",
                      "usb_history", "agent_alarm", "enforcement_action"],
            "severities": ["critical", "high", "medium", "low", "info"],
        }),
    ))
}

#[derive(Deserialize)]
pub struct FindingKey {
    agent: String,
    fp: String,
}

pub async fn finding(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> UiResult {
    staff.require(Perm::ReadFleet)?;
    let lang = lang(&headers);
    let k: FindingKey = q(&raw)?;
    let t = app
        .blocking(move |s| s.console().finding(&k.agent, &k.fp, now()))
        .await?
        .ok_or_else(UiError::not_found)?;
    let body: Value = serde_json::from_str(&t.finding.body).unwrap_or(Value::Null);
    // Every field of the finding, as text, for the detail table.
    let fields: Vec<Value> = body
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    json!({"k": k, "v": match v { Value::String(s) => s.clone(), v => v.to_string() }})
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(render(
        "finding.html",
        page_ctx(&staff, lang, "findings"),
        json!({"x": finding_view(lang, &t), "fields": fields,
               "default_expiry": super::fmt_day(now() + 30 * 86400)}),
    ))
}

/// The bulk triage form: `key` (agent|fingerprint) once per selected
/// finding, `action`, and for exceptions a justification and expiry day.
pub async fn triage(
    staff: Staff,
    State(app): State<App>,
    Form(form): Form<Vec<(String, String)>>,
) -> UiResult {
    staff.require(Perm::Triage)?;
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_string())
    };
    let items: Vec<(String, String)> = form
        .iter()
        .filter(|(k, _)| k == "key")
        .filter_map(|(_, v)| v.split_once('|'))
        .map(|(a, f)| (a.to_string(), f.to_string()))
        .take(1000)
        .collect();
    if items.is_empty() {
        return Err(UiError::bad(
            "select at least one finding / 请至少选择一条问题",
        ));
    }
    let state = get("action")
        .as_deref()
        .and_then(TriageState::parse)
        .ok_or_else(|| UiError::bad("unknown action"))?;
    let justification = get("justification").filter(|s| !s.is_empty());
    if justification
        .as_ref()
        .is_some_and(|j| j.chars().count() > 2000)
    {
        return Err(UiError::bad(
            "justification too long (2000 characters at most)",
        ));
    }
    let expires_at = match state {
        TriageState::Exception => {
            let j = justification.as_deref().unwrap_or("");
            if j.chars().count() < 4 {
                return Err(UiError::bad(
                    "an exception needs a justification / 例外须写明理由",
                ));
            }
            // An expiry as a day (end of that day, UTC+8) or, for tests and
            // short waivers, a number of minutes from now.
            let exp = get("expires")
                .as_deref()
                .and_then(parse_day)
                .map(|d| d + 86400)
                .or_else(|| {
                    get("expires_minutes")
                        .and_then(|m| m.parse::<i64>().ok())
                        .filter(|m| (1..=525_600).contains(m))
                        .map(|m| now() + m * 60)
                })
                .ok_or_else(|| {
                    UiError::bad("an exception needs an expiry date / 例外须设到期日")
                })?;
            if exp <= now() || exp > now() + 366 * 86400 {
                return Err(UiError::bad(
                    "the expiry must be in the future and within a year / 到期日须在一年之内",
                ));
            }
            Some(exp)
        }
        _ => None,
    };
    let t = Triage {
        state,
        justification: justification.clone(),
        expires_at,
        actor: staff.name.clone(),
        now: now(),
    };
    let list = items.clone();
    let n = app.blocking(move |s| s.console().triage(&list, &t)).await?;
    let targets: Vec<String> = items
        .iter()
        .take(50)
        .map(|(a, f)| format!("{a}|{f}"))
        .collect();
    app.auth
        .audit_staff(
            &staff,
            &format!("finding.{}", state.as_str()),
            Some(targets.join(", ")),
            Some(format!(
                "{n} finding(s){}{}",
                justification
                    .as_deref()
                    .map(|j| format!("; justification: {j}"))
                    .unwrap_or_default(),
                expires_at
                    .map(|e| format!("; expires {}", crate::api::rfc3339(e)))
                    .unwrap_or_default()
            )),
        )
        .await?;
    let back = get("back")
        .filter(|b| b.starts_with('/') && !b.starts_with("//"))
        .unwrap_or_else(|| "/findings".into());
    Ok(Redirect::to(&back).into_response())
}

// ---------------------------------------------------------------- alerts, audit

fn alert_view(lang: &str, a: &mijian_store::console::AlertRow) -> Value {
    json!({
        "id": a.id, "at": a.at, "kind": a.kind, "kind_label": tr(lang, &format!("alert.{}", a.kind)),
        "agent_id": a.agent_id, "hostname": a.hostname, "detail": a.detail,
        "syslog": a.forwarded & 1 != 0, "webhook": a.forwarded & 2 != 0,
        "attempts": a.attempts, "last_error": a.last_error,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Before {
    before: Option<i64>,
    actor: Option<String>,
}

pub async fn alerts(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> UiResult {
    staff.require(Perm::ReadFleet)?;
    let lang = lang(&headers);
    let b: Before = q(&raw)?;
    let rows = app
        .blocking(move |s| s.console().alerts(b.before, PAGE))
        .await?;
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last().map(|a| a.id))
        .flatten();
    Ok(render(
        "alerts.html",
        page_ctx(&staff, lang, "alerts"),
        json!({"alerts": rows.iter().map(|a| alert_view(lang, a)).collect::<Vec<_>>(), "next": next,
               "syslog": app.alerts.syslog, "webhook": app.alerts.webhook}),
    ))
}

pub async fn audit(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> UiResult {
    staff.require(Perm::ReadAudit)?;
    let lang = lang(&headers);
    let b: Before = q(&raw)?;
    let actor = empty(b.actor.clone());
    let a2 = actor.clone();
    let rows = app
        .blocking(move |s| s.console().audit_log(b.before, a2.as_deref(), 100))
        .await?;
    let next = (rows.len() == 100)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(render(
        "audit.html",
        page_ctx(&staff, lang, "audit"),
        json!({"rows": rows, "next": next, "actor": actor}),
    ))
}

#[cfg(test)]
mod readable_tests {
    use super::readable;
    use serde_json::json;

    #[test]
    fn check_values_read_as_words_not_json() {
        assert_eq!(
            readable(
                &json!({"file": "/etc/shadow", "line": 3, "setting": "alice: password field set"})
            ),
            "/etc/shadow:3，setting: alice: password field set"
        );
        assert_eq!(
            readable(&json!([{"reason": "classification 内部 < 秘密"}])),
            "reason: classification 内部 < 秘密"
        );
        assert_eq!(readable(&json!({"GNOME": 900})), "GNOME: 900");
        assert_eq!(readable(&json!("at least 10")), "at least 10");
        assert_eq!(readable(&json!(true)), "true");
    }
}
