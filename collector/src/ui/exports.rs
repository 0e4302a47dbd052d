//! The media register (涉密载体台账) and the inspection report (检查报告):
//! pages, and the files a unit hands on — `media.toml` (the agents'
//! register format, CONTRACT §3), `.xlsx` ledgers (rust_xlsxwriter), the
//! report as `.docx` (docx-rs; what offices edit and file, WPS opens it)
//! and findings as CSV. Cells are written as strings, never formulas; CSV
//! cells that a spreadsheet would run as a formula get a leading `'`.

use super::pages::{FindingFilter, finding_view, host_view};
use super::{UiError, UiResult, fmt_day, fmt_time, lang, page_ctx, parse_day, render, tr};
use crate::api::App;
use crate::auth::{Perm, Staff, now};
use axum::Form;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use mijian_store::console::{FindingPageQuery, HostPageQuery, Medium, TriageFilter};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Most hosts and findings one report or export holds.
const MAX_HOSTS: i64 = 1000;
const MAX_FINDINGS: i64 = 5000;

fn download(content_type: &str, name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

// ---------------------------------------------------------------- media

/// Media seen in the fleet, with the register entry each matched.
struct SeenMedium {
    key: String,
    medium_id: Option<String>,
    registered: bool,
    device: Option<String>,
    identity: BTreeMap<String, String>,
    hosts: Vec<String>,
    last_seen: i64,
    count: usize,
}

fn seen_media(rows: &[mijian_store::FindingRow]) -> Vec<SeenMedium> {
    let mut by_key: HashMap<String, SeenMedium> = HashMap::new();
    for f in rows {
        let body: Value = serde_json::from_str(&f.body).unwrap_or(Value::Null);
        let medium_id = body
            .get("medium_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut identity = BTreeMap::new();
        for k in ["serial", "vendor_id", "product_id", "fs_uuid", "label"] {
            if let Some(v) = body
                .pointer(&format!("/detail/{k}"))
                .or_else(|| body.get(k))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
            {
                identity.insert(k.to_string(), v.chars().take(200).collect());
            }
        }
        let key = medium_id
            .clone()
            .or_else(|| identity.get("serial").cloned())
            .or_else(|| identity.get("fs_uuid").cloned())
            .unwrap_or_else(|| f.fingerprint.clone());
        let e = by_key.entry(key.clone()).or_insert_with(|| SeenMedium {
            key,
            medium_id: medium_id.clone(),
            registered: false,
            device: body
                .get("device")
                .and_then(Value::as_str)
                .map(str::to_string),
            identity: identity.clone(),
            hosts: Vec::new(),
            last_seen: 0,
            count: 0,
        });
        e.registered |= body.get("registered").and_then(Value::as_bool) == Some(true);
        let host = f.hostname.clone().unwrap_or_else(|| f.agent_id.clone());
        if !e.hosts.contains(&host) && e.hosts.len() < 10 {
            e.hosts.push(host);
        }
        e.last_seen = e.last_seen.max(f.last_seen);
        e.count += 1;
    }
    let mut v: Vec<SeenMedium> = by_key.into_values().collect();
    v.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.key.cmp(&b.key)));
    v
}

pub async fn media(staff: Staff, State(app): State<App>, headers: HeaderMap) -> UiResult {
    staff.require(Perm::ReadFleet)?;
    let lang = lang(&headers);
    let (register, seen) = app
        .blocking(|s| {
            Ok((
                s.console().media_register()?,
                s.console().media_seen(20_000)?,
            ))
        })
        .await?;
    let seen = seen_media(&seen);
    let by_id: HashMap<&str, &SeenMedium> = seen
        .iter()
        .filter_map(|m| m.medium_id.as_deref().map(|id| (id, m)))
        .collect();
    let registered: Vec<Value> = register
        .iter()
        .map(|m| {
            let s = by_id.get(m.medium_id.as_str());
            json!({"m": m, "last_seen": s.map(|s| s.last_seen), "hosts": s.map(|s| s.hosts.clone())})
        })
        .collect();
    let known: std::collections::HashSet<&str> =
        register.iter().map(|m| m.medium_id.as_str()).collect();
    let unregistered: Vec<Value> = seen
        .iter()
        .filter(|m| !m.registered && m.medium_id.as_deref().is_none_or(|id| !known.contains(id)))
        .take(500)
        .map(|m| {
            // The draft register entry: the identity as the agent saw it.
            let draft = format!(
                "DRAFT-{}",
                &mijian_report::sha256_hex(m.key.as_bytes())[..8]
            );
            json!({"key": m.key, "device": m.device, "identity": m.identity, "hosts": m.hosts,
                   "last_seen": m.last_seen, "count": m.count, "draft_id": draft,
                   "serial": m.identity.get("serial"), "vendor_id": m.identity.get("vendor_id"),
                   "product_id": m.identity.get("product_id"), "fs_uuid": m.identity.get("fs_uuid"),
                   "label": m.identity.get("label")})
        })
        .collect();
    Ok(render(
        "media.html",
        page_ctx(&staff, lang, "media"),
        json!({"registered": registered, "unregistered": unregistered,
               "levels": ["内部", "秘密", "机密", "绝密"]}),
    ))
}

#[derive(Deserialize)]
pub struct MediumForm {
    id: String,
    #[serde(default)]
    serial: String,
    #[serde(default)]
    vendor_id: String,
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    fs_uuid: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    holder: String,
    #[serde(default)]
    note: String,
}

fn opt(s: String) -> Option<String> {
    let s = s.trim().to_string();
    (!s.is_empty()).then(|| s.chars().take(256).collect())
}

pub async fn media_save(
    staff: Staff,
    State(app): State<App>,
    Form(f): Form<MediumForm>,
) -> UiResult {
    staff.require(Perm::EditMedia)?;
    let id = f.id.trim().to_string();
    if id.is_empty() || id.chars().count() > 128 || id.chars().any(char::is_control) {
        return Err(UiError::bad("登记编号 (id) must be 1-128 characters"));
    }
    let m = Medium {
        medium_id: id.clone(),
        serial: opt(f.serial),
        vendor_id: opt(f.vendor_id),
        product_id: opt(f.product_id),
        fs_uuid: opt(f.fs_uuid),
        label: opt(f.label),
        level: opt(f.level),
        holder: opt(f.holder),
        note: opt(f.note),
    };
    if m.serial.is_none() && m.fs_uuid.is_none() && m.label.is_none() && m.vendor_id.is_none() {
        return Err(UiError::bad(
            "give at least one identity field (serial, fs_uuid, label, vendor_id)",
        ));
    }
    let detail = serde_json::to_string(&m).ok();
    let actor = staff.name.clone();
    app.blocking(move |s| s.console().put_medium(&m, &actor, now()))
        .await?;
    app.auth
        .audit_staff(&staff, "media.save", Some(id), detail)
        .await?;
    Ok(Redirect::to("/media").into_response())
}

#[derive(Deserialize)]
pub struct IdForm {
    id: String,
}

pub async fn media_delete(staff: Staff, State(app): State<App>, Form(f): Form<IdForm>) -> UiResult {
    staff.require(Perm::EditMedia)?;
    let id = f.id.clone();
    let found = app
        .blocking(move |s| s.console().delete_medium(&id))
        .await?;
    if !found {
        return Err(UiError::not_found());
    }
    app.auth
        .audit_staff(&staff, "media.delete", Some(f.id), None)
        .await?;
    Ok(Redirect::to("/media").into_response())
}

/// The register as `media.toml`, for the agents' rules directory.
pub async fn media_toml(staff: Staff, State(app): State<App>) -> UiResult {
    staff.require(Perm::Export)?;
    let register = app.blocking(|s| s.console().media_register()).await?;
    #[derive(serde::Serialize)]
    struct File {
        medium: Vec<Medium>,
    }
    let text = toml::to_string(&File { medium: register })
        .map_err(|e| UiError::from(crate::api::ApiError::internal(e)))?;
    let out = format!(
        "# 涉密载体台账 — exported by mijian-collector {}\n\n{text}",
        fmt_time(now())
    );
    app.auth
        .audit_staff(&staff, "export.media_toml", None, None)
        .await?;
    Ok(download(
        "application/toml; charset=utf-8",
        "media.toml",
        out.into_bytes(),
    ))
}

fn xlsx_err(e: rust_xlsxwriter::XlsxError) -> UiError {
    UiError::from(crate::api::ApiError::internal(e))
}

/// Write a sheet: a bold header row, then string cells.
fn sheet(
    wb: &mut rust_xlsxwriter::Workbook,
    name: &str,
    head: &[String],
    rows: &[Vec<String>],
) -> Result<(), rust_xlsxwriter::XlsxError> {
    let bold = rust_xlsxwriter::Format::new()
        .set_bold()
        .set_background_color(rust_xlsxwriter::Color::RGB(0xE8EEF7));
    let ws = wb.add_worksheet();
    ws.set_name(name)?;
    for (c, h) in head.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, h, &bold)?;
        ws.set_column_width(c as u16, 18)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string((r + 1) as u32, c as u16, v)?;
        }
    }
    Ok(())
}

pub async fn media_xlsx(staff: Staff, State(app): State<App>, headers: HeaderMap) -> UiResult {
    staff.require(Perm::Export)?;
    let lang = lang(&headers);
    let (register, seen) = app
        .blocking(|s| {
            Ok((
                s.console().media_register()?,
                s.console().media_seen(20_000)?,
            ))
        })
        .await?;
    let seen = seen_media(&seen);
    let by_id: HashMap<&str, &SeenMedium> = seen
        .iter()
        .filter_map(|m| m.medium_id.as_deref().map(|id| (id, m)))
        .collect();
    let t = |k: &str| tr(lang, k);
    let head: Vec<String> = [
        "media.id",
        "media.level",
        "media.holder",
        "media.serial",
        "media.vendor_id",
        "media.product_id",
        "media.fs_uuid",
        "media.label",
        "media.last_seen",
        "media.hosts",
        "media.note",
    ]
    .iter()
    .map(|k| t(k))
    .collect();
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    let rows: Vec<Vec<String>> = register
        .iter()
        .map(|m| {
            let seen = by_id.get(m.medium_id.as_str());
            vec![
                m.medium_id.clone(),
                s(&m.level),
                s(&m.holder),
                s(&m.serial),
                s(&m.vendor_id),
                s(&m.product_id),
                s(&m.fs_uuid),
                s(&m.label),
                seen.map(|x| fmt_time(x.last_seen)).unwrap_or_default(),
                seen.map(|x| x.hosts.join(", ")).unwrap_or_default(),
                s(&m.note),
            ]
        })
        .collect();
    let unreg: Vec<Vec<String>> = seen
        .iter()
        .filter(|m| !m.registered)
        .map(|m| {
            vec![
                m.device.clone().unwrap_or_default(),
                m.identity.get("serial").cloned().unwrap_or_default(),
                m.identity.get("fs_uuid").cloned().unwrap_or_default(),
                m.identity.get("label").cloned().unwrap_or_default(),
                fmt_time(m.last_seen),
                m.hosts.join(", "),
            ]
        })
        .collect();
    let mut wb = rust_xlsxwriter::Workbook::new();
    sheet(&mut wb, &t("media.sheet_register"), &head, &rows).map_err(xlsx_err)?;
    let head2: Vec<String> = [
        "media.device",
        "media.serial",
        "media.fs_uuid",
        "media.label",
        "media.last_seen",
        "media.hosts",
    ]
    .iter()
    .map(|k| t(k))
    .collect();
    sheet(&mut wb, &t("media.sheet_unregistered"), &head2, &unreg).map_err(xlsx_err)?;
    let bytes = wb.save_to_buffer().map_err(xlsx_err)?;
    app.auth
        .audit_staff(&staff, "export.media_xlsx", None, None)
        .await?;
    Ok(download(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "media.xlsx",
        bytes,
    ))
}

// ---------------------------------------------------------------- inspection report

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct ReportForm {
    from: Option<String>,
    to: Option<String>,
    /// Host name substring; empty: every host.
    q: Option<String>,
    classification: Option<String>,
    unit: Option<String>,
}

pub async fn report_form(staff: Staff, headers: HeaderMap) -> UiResult {
    staff.require(Perm::Export)?;
    let lang = lang(&headers);
    Ok(render(
        "reports.html",
        page_ctx(&staff, lang, "reports"),
        json!({"from": fmt_day(now() - 30 * 86400), "to": fmt_day(now())}),
    ))
}

/// Everything an inspection report holds, gathered once for every format.
struct Inspection {
    period: (String, String),
    unit: String,
    hosts: Vec<Value>,
    findings: Vec<Value>,
    exceptions: Vec<Value>,
    summary: Value,
    generated: String,
    by: String,
}

async fn inspection(
    app: &App,
    staff: &Staff,
    lang: &str,
    f: &ReportForm,
) -> Result<Inspection, UiError> {
    let from = f
        .from
        .as_deref()
        .and_then(parse_day)
        .unwrap_or(now() - 30 * 86400);
    let to =
        f.to.as_deref()
            .and_then(parse_day)
            .map(|d| d + 86400)
            .unwrap_or(now());
    if to <= from {
        return Err(UiError::bad("the period ends before it starts"));
    }
    let hq = HostPageQuery {
        hostname: f.q.clone().filter(|s| !s.trim().is_empty()),
        classification: f.classification.clone().filter(|s| !s.trim().is_empty()),
        limit: MAX_HOSTS,
        ..Default::default()
    };
    let fq = FindingPageQuery {
        hostname: hq.hostname.clone(),
        status: Some("open".into()),
        until: Some(to),
        limit: MAX_FINDINGS,
        ..Default::default()
    };
    let eq = FindingPageQuery {
        triage: TriageFilter::Exception,
        hostname: hq.hostname.clone(),
        status: None,
        limit: MAX_FINDINGS,
        ..Default::default()
    };
    let (hosts, details, findings, exceptions) = app
        .blocking(move |s| {
            let hosts = s.console().host_page(&hq)?;
            // Failed checks per host, from its latest checks.
            let mut details = HashMap::new();
            for h in &hosts {
                if let Some(d) = s.host(&h.agent_id)? {
                    details.insert(h.agent_id.clone(), d.latest_checks);
                }
            }
            let findings = s.console().finding_page(&fq, now())?;
            let exceptions = s.console().finding_page(&eq, now())?;
            Ok((hosts, details, findings, exceptions))
        })
        .await?;
    let classification_filter = f.classification.clone().filter(|s| !s.trim().is_empty());
    let in_scope: std::collections::HashSet<&str> =
        hosts.iter().map(|h| h.agent_id.as_str()).collect();
    let keep = |agent: &str| classification_filter.is_none() || in_scope.contains(agent);
    let silent_since = now() - app.silent_after_secs.min(i64::MAX as u64 / 2) as i64;
    let host_rows: Vec<Value> = hosts
        .iter()
        .map(|h| {
            let mut v = host_view(lang, h, silent_since);
            let mut failed: Vec<String> = details
                .get(&h.agent_id)
                .and_then(|c| c.as_deref())
                .and_then(|c| serde_json::from_str::<Vec<Value>>(c).ok())
                .unwrap_or_default()
                .iter()
                .filter(|c| c.get("status").and_then(Value::as_str) == Some("fail"))
                .filter_map(|c| c.get("id").and_then(Value::as_str))
                .map(|id| tr(lang, &format!("check.{id}")))
                .collect();
            // One line per check, however many users failed it.
            let mut seen = std::collections::HashSet::new();
            failed.retain(|f| seen.insert(f.clone()));
            v["failed"] = json!(failed);
            v
        })
        .collect();
    let findings: Vec<Value> = findings
        .iter()
        .filter(|t| keep(&t.finding.agent_id))
        .map(|t| finding_view(lang, t))
        .collect();
    let exceptions: Vec<Value> = exceptions
        .iter()
        .filter(|t| keep(&t.finding.agent_id))
        .map(|t| finding_view(lang, t))
        .collect();
    let count = |st: &str| host_rows.iter().filter(|h| h["status"] == st).count();
    let reporting = host_rows
        .iter()
        .filter(|h| h["status"] != "unknown")
        .count();
    let compliant = count("compliant") + count("silent");
    let sev = |s: &str| findings.iter().filter(|f| f["severity"] == s).count();
    let summary = json!({
        "hosts": host_rows.len(), "reporting": reporting, "compliant": compliant,
        "noncompliant": count("noncompliant") + count("tamper"), "silent": count("silent"),
        "rate": if reporting > 0 { format!("{:.1}", compliant as f64 * 100.0 / reporting as f64) } else { "—".into() },
        "critical": sev("critical"), "high": sev("high"), "medium": sev("medium"),
        "low": sev("low") + sev("info"), "findings": findings.len(), "exceptions": exceptions.len(),
        "truncated": findings.len() as i64 >= MAX_FINDINGS || host_rows.len() as i64 >= MAX_HOSTS,
    });
    Ok(Inspection {
        period: (fmt_day(from), fmt_day(to - 1)),
        unit: f
            .unit
            .clone()
            .unwrap_or_default()
            .chars()
            .take(100)
            .collect(),
        hosts: host_rows,
        findings,
        exceptions,
        summary,
        generated: fmt_time(now()),
        by: staff.name.clone(),
    })
}

fn report_qs(raw: &Option<String>) -> Result<ReportForm, UiError> {
    crate::api::query(raw.as_deref()).map_err(UiError::from)
}

pub async fn report_html(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> UiResult {
    staff.require(Perm::Export)?;
    let lang = lang(&headers);
    let f = report_qs(&raw)?;
    let r = inspection(&app, &staff, lang, &f).await?;
    app.auth
        .audit_staff(&staff, "report.view", None, raw.clone())
        .await?;
    Ok(render(
        "inspection.html",
        page_ctx(&staff, lang, "reports"),
        json!({"r": {"from": r.period.0, "to": r.period.1, "unit": r.unit, "hosts": r.hosts,
                     "findings": r.findings, "exceptions": r.exceptions, "summary": r.summary,
                     "generated": r.generated, "by": r.by},
               "qs": raw.unwrap_or_default()}),
    ))
}

pub async fn report_docx(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> UiResult {
    staff.require(Perm::Export)?;
    let lang = lang(&headers);
    let f = report_qs(&raw)?;
    let r = inspection(&app, &staff, lang, &f).await?;
    let bytes = docx(lang, &r).map_err(|e| UiError::from(crate::api::ApiError::internal(e)))?;
    app.auth
        .audit_staff(&staff, "export.report_docx", None, raw)
        .await?;
    Ok(download(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "inspection-report.docx",
        bytes,
    ))
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// The inspection report as a Word document: title, summary table, per-host
/// results, open findings, exceptions in force. 仿宋/黑体 as offices use them.
fn docx(lang: &str, r: &Inspection) -> anyhow::Result<Vec<u8>> {
    use docx_rs::*;
    let t = |k: &str| tr(lang, k);
    let body_font = RunFonts::new().east_asia("仿宋").ascii("Times New Roman");
    let head_font = RunFonts::new().east_asia("黑体").ascii("Arial");
    let para = |text: String| {
        Paragraph::new().add_run(Run::new().add_text(text).fonts(body_font.clone()).size(24))
    };
    let heading = |text: String| {
        Paragraph::new().add_run(
            Run::new()
                .add_text(text)
                .bold()
                .fonts(head_font.clone())
                .size(30),
        )
    };
    let cell = |text: String, header: bool| {
        let mut run = Run::new().add_text(text).size(21).fonts(body_font.clone());
        if header {
            run = run.bold();
        }
        let c = TableCell::new().add_paragraph(Paragraph::new().add_run(run));
        if header {
            c.shading(Shading::new().fill("E8EEF7"))
        } else {
            c
        }
    };
    let table = |head: Vec<String>, rows: Vec<Vec<String>>| {
        let mut all = vec![TableRow::new(
            head.into_iter().map(|h| cell(h, true)).collect(),
        )];
        all.extend(
            rows.into_iter()
                .map(|row| TableRow::new(row.into_iter().map(|c| cell(c, false)).collect())),
        );
        Table::new(all)
    };
    let sm = &r.summary;
    let mut doc = Docx::new()
        .page_size(11906, 16838)
        .page_margin(
            PageMargin::new()
                .top(1440)
                .bottom(1440)
                .left(1588)
                .right(1474),
        )
        .default_fonts(body_font.clone())
        .add_paragraph(
            Paragraph::new().align(AlignmentType::Center).add_run(
                Run::new()
                    .add_text(t("report.title"))
                    .bold()
                    .fonts(RunFonts::new().east_asia("方正小标宋简体").ascii("Arial"))
                    .size(40),
            ),
        )
        .add_paragraph(
            Paragraph::new().align(AlignmentType::Center).add_run(
                Run::new()
                    .add_text(format!(
                        "{}{}  {} {} — {}",
                        r.unit,
                        if r.unit.is_empty() { "" } else { "  " },
                        t("report.period"),
                        r.period.0,
                        r.period.1
                    ))
                    .fonts(body_font.clone())
                    .size(24),
            ),
        )
        .add_paragraph(heading(format!("一、{}", t("report.summary"))))
        .add_table(table(
            vec![
                t("report.hosts"),
                t("report.reporting"),
                t("report.compliant"),
                t("report.noncompliant"),
                t("report.rate"),
                t("report.open_findings"),
                t("report.exceptions"),
            ],
            vec![vec![
                s(&sm["hosts"]),
                s(&sm["reporting"]),
                s(&sm["compliant"]),
                s(&sm["noncompliant"]),
                format!("{}%", s(&sm["rate"])),
                s(&sm["findings"]),
                s(&sm["exceptions"]),
            ]],
        ))
        .add_paragraph(para(format!(
            "{}: {} {}, {} {}, {} {}, {} {}",
            t("report.by_severity"),
            t("severity.critical"),
            s(&sm["critical"]),
            t("severity.high"),
            s(&sm["high"]),
            t("severity.medium"),
            s(&sm["medium"]),
            t("severity.low"),
            s(&sm["low"])
        )))
        .add_paragraph(heading(format!("二、{}", t("report.per_host"))))
        .add_table(table(
            vec![
                t("hosts.hostname"),
                t("hosts.classification"),
                t("hosts.status"),
                t("hosts.last_seen"),
                t("report.failed_checks"),
                t("hosts.open_findings"),
            ],
            r.hosts
                .iter()
                .map(|h| {
                    vec![
                        s(&h["hostname"]),
                        s(&h["classification"]),
                        s(&h["status_label"]),
                        h["last_seen"].as_i64().map(fmt_time).unwrap_or_default(),
                        h["failed"]
                            .as_array()
                            .map(|a| a.iter().map(s).collect::<Vec<_>>().join("、"))
                            .unwrap_or_default(),
                        s(&h["open_findings"]),
                    ]
                })
                .collect(),
        ))
        .add_paragraph(heading(format!("三、{}", t("report.open_findings"))));
    let frow = |f: &Value| {
        vec![
            s(&f["hostname"]),
            s(&f["severity_label"]),
            s(&f["kind_label"]),
            s(&f["subject"]),
            f["rules"]
                .as_array()
                .map(|a| a.iter().map(s).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
            s(&f["state_label"]),
        ]
    };
    let fhead = vec![
        t("findings.host"),
        t("findings.severity"),
        t("findings.kind"),
        t("findings.subject"),
        t("findings.rules"),
        t("findings.state"),
    ];
    doc = if r.findings.is_empty() {
        doc.add_paragraph(para(t("report.none")))
    } else {
        doc.add_table(table(fhead.clone(), r.findings.iter().map(frow).collect()))
    };
    doc = doc.add_paragraph(heading(format!("四、{}", t("report.exceptions_in_force"))));
    doc = if r.exceptions.is_empty() {
        doc.add_paragraph(para(t("report.none")))
    } else {
        doc.add_table(table(
            vec![
                t("findings.host"),
                t("findings.subject"),
                t("finding.justification"),
                t("finding.expires"),
                t("finding.by"),
            ],
            r.exceptions
                .iter()
                .map(|f| {
                    vec![
                        s(&f["hostname"]),
                        s(&f["subject"]),
                        s(&f["justification"]),
                        f["expires_at"].as_i64().map(fmt_time).unwrap_or_default(),
                        s(&f["triaged_by"]),
                    ]
                })
                .collect(),
        ))
    };
    doc = doc.add_paragraph(para(format!(
        "{} {} · {} {}",
        t("report.generated"),
        r.generated,
        t("report.generated_by"),
        r.by
    )));
    let mut buf = std::io::Cursor::new(Vec::new());
    doc.build().pack(&mut buf)?;
    Ok(buf.into_inner())
}

/// Findings of a filter (as the findings page takes it), bounded.
async fn findings_for_export(
    app: &App,
    lang: &str,
    raw: &Option<String>,
) -> Result<Vec<Value>, UiError> {
    let f: FindingFilter = crate::api::query(raw.as_deref()).map_err(UiError::from)?;
    let q = f.query(MAX_FINDINGS)?;
    let rows = app
        .blocking(move |s| s.console().finding_page(&q, now()))
        .await?;
    Ok(rows.iter().map(|t| finding_view(lang, t)).collect())
}

fn finding_table(lang: &str, rows: &[Value]) -> (Vec<String>, Vec<Vec<String>>) {
    let t = |k: &str| tr(lang, k);
    let head = vec![
        t("findings.host"),
        t("findings.severity"),
        t("findings.kind"),
        t("findings.subject"),
        t("findings.rules"),
        t("findings.state"),
        t("findings.first_seen"),
        t("findings.last_seen"),
        "agent_id".into(),
        "sha256".into(),
    ];
    let body = rows
        .iter()
        .map(|f| {
            vec![
                s(&f["hostname"]),
                s(&f["severity_label"]),
                s(&f["kind_label"]),
                s(&f["subject"]),
                f["rules"]
                    .as_array()
                    .map(|a| a.iter().map(s).collect::<Vec<_>>().join(" "))
                    .unwrap_or_default(),
                s(&f["state_label"]),
                f["first_seen"].as_i64().map(fmt_time).unwrap_or_default(),
                f["last_seen"].as_i64().map(fmt_time).unwrap_or_default(),
                s(&f["agent_id"]),
                s(&f["sha256"]),
            ]
        })
        .collect();
    (head, body)
}

pub async fn findings_xlsx(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> UiResult {
    staff.require(Perm::Export)?;
    let lang = lang(&headers);
    let rows = findings_for_export(&app, lang, &raw).await?;
    let (head, body) = finding_table(lang, &rows);
    let mut wb = rust_xlsxwriter::Workbook::new();
    sheet(&mut wb, &tr(lang, "nav.findings"), &head, &body).map_err(xlsx_err)?;
    let bytes = wb.save_to_buffer().map_err(xlsx_err)?;
    app.auth
        .audit_staff(&staff, "export.findings_xlsx", None, raw)
        .await?;
    Ok(download(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "findings.xlsx",
        bytes,
    ))
}

/// A CSV cell a spreadsheet would not run: `=`, `+`, `-`, `@`, tab and CR
/// at the start get a leading apostrophe (OWASP CSV injection).
pub fn csv_cell(v: &str) -> String {
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_string()
    }
}

pub async fn findings_csv(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> UiResult {
    staff.require(Perm::Export)?;
    let lang = lang(&headers);
    let rows = findings_for_export(&app, lang, &raw).await?;
    let (head, body) = finding_table(lang, &rows);
    // UTF-8 with a BOM, so spreadsheet programs read the Chinese right.
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let write =
        |w: &mut csv::Writer<Vec<u8>>, r: &[String]| w.write_record(r.iter().map(|c| csv_cell(c)));
    let mut res = write(&mut w, &head);
    for r in &body {
        res = res.and_then(|_| write(&mut w, r));
    }
    res.map_err(|e| UiError::from(crate::api::ApiError::internal(e)))?;
    let bytes = w
        .into_inner()
        .map_err(|e| UiError::from(crate::api::ApiError::internal(e)))?;
    app.auth
        .audit_staff(&staff, "export.findings_csv", None, raw)
        .await?;
    Ok(download("text/csv; charset=utf-8", "findings.csv", bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_never_become_formulas() {
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("ws-01"), "ws-01");
    }
}
