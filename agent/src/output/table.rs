//! The human table: checks, then findings, then a one-line verdict. Columns
//! are aligned by display width (CJK characters are two columns wide).

use super::lang::Lang;
use mijian_report::{CheckStatus, Finding, FindingKind, Report, Severity};
use serde_json::Value;
use std::fmt::Write;
use unicode_width::UnicodeWidthStr;

/// Render a full report.
pub fn render(report: &Report, lang: Lang) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}  ({} {}, {} {})",
        lang.t("主机", "Host"),
        report.host.hostname,
        lang.t("密级", "level"),
        report.host.classification,
        lang.t("策略", "policy"),
        &report
            .policy
            .digest
            .get(..12)
            .unwrap_or(&report.policy.digest),
    );
    if !report.checks.is_empty() {
        out.push('\n');
        let header = [
            lang.t("检查项", "CHECK"),
            lang.t("对象", "SUBJECT"),
            lang.t("结果", "STATUS"),
            lang.t("要求", "EXPECTED"),
            lang.t("实际", "ACTUAL"),
        ];
        let rows: Vec<Vec<String>> = report
            .checks
            .iter()
            .map(|c| {
                vec![
                    c.id.clone(),
                    c.subject.clone(),
                    status_label(c.status, lang).to_string(),
                    c.expected.as_ref().map(short).unwrap_or_default(),
                    c.actual.as_ref().map(short).unwrap_or_default(),
                ]
            })
            .collect();
        table(&mut out, &header, &rows);
    }
    if !report.findings.is_empty() {
        out.push('\n');
        let header = [
            lang.t("发现", "FINDING"),
            lang.t("严重性", "SEVERITY"),
            lang.t("位置", "WHERE"),
            lang.t("说明", "DETAIL"),
        ];
        let rows: Vec<Vec<String>> = report
            .findings
            .iter()
            .map(|f| {
                vec![
                    kind_label(&f.kind, lang).to_string(),
                    severity_label(f.severity, lang).to_string(),
                    f.path
                        .clone()
                        .or_else(|| f.mount_point.clone())
                        .or_else(|| f.device.clone())
                        .unwrap_or_default(),
                    detail(f, lang),
                ]
            })
            .collect();
        table(&mut out, &header, &rows);
    }
    for n in &report.notes {
        let _ = writeln!(out, "{}: {n}", lang.t("注意", "note"));
    }
    out.push('\n');
    out.push_str(&verdict(report, lang));
    out.push('\n');
    out
}

/// The one-line verdict.
pub fn verdict(report: &Report, lang: Lang) -> String {
    let failed = report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .count();
    let errors = report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Error)
        .count();
    let serious = report
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .count();
    if report.compliant() {
        match lang {
            Lang::Zh => format!(
                "结论：合规（{} 项检查，{} 条发现，均无问题）",
                report.checks.len(),
                report.findings.len()
            ),
            Lang::En => format!(
                "Verdict: COMPLIANT ({} checks, {} findings, none above info)",
                report.checks.len(),
                report.findings.len()
            ),
        }
    } else {
        match lang {
            Lang::Zh => format!(
                "结论：不合规（{failed} 项检查未通过，{errors} 项无法判定，{serious} 条需处理的发现）"
            ),
            Lang::En => format!(
                "Verdict: NON-COMPLIANT ({failed} checks failed, {errors} could not be judged, {serious} findings to act on)"
            ),
        }
    }
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    const MAX: usize = 60;
    let cols = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.width()).collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clip(c, MAX)).collect())
        .collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            width[i] = width[i].max(c.width());
        }
    }
    let line = |out: &mut String, cells: &[&str]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(width[i].saturating_sub(c.width()) + 2));
            }
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(out, header);
    let rule: Vec<String> = width.iter().map(|w| "─".repeat(*w)).collect();
    line(out, &rule.iter().map(String::as_str).collect::<Vec<_>>());
    for r in &rows {
        line(out, &r.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

fn clip(s: &str, max: usize) -> String {
    let s = s.replace(['\n', '\t'], " ");
    if s.width() <= max {
        return s;
    }
    let mut out = String::new();
    for ch in s.chars() {
        if out.width() + 2 > max {
            break;
        }
        out.push(ch);
    }
    out.push('…');
    out
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn status_label(s: CheckStatus, lang: Lang) -> &'static str {
    match (s, lang) {
        (CheckStatus::Pass, Lang::Zh) => "通过",
        (CheckStatus::Fail, Lang::Zh) => "不通过",
        (CheckStatus::Error, Lang::Zh) => "错误",
        (CheckStatus::NotApplicable, Lang::Zh) => "不适用",
        (CheckStatus::Pass, Lang::En) => "pass",
        (CheckStatus::Fail, Lang::En) => "FAIL",
        (CheckStatus::Error, Lang::En) => "ERROR",
        (CheckStatus::NotApplicable, Lang::En) => "n/a",
    }
}

fn severity_label(s: Severity, lang: Lang) -> &'static str {
    match lang {
        Lang::En => s.as_str(),
        Lang::Zh => match s {
            Severity::Info => "提示",
            Severity::Low => "低",
            Severity::Medium => "中",
            Severity::High => "高",
            Severity::Critical => "严重",
        },
    }
}

fn kind_label(k: &FindingKind, lang: Lang) -> String {
    let zh = match k {
        FindingKind::UnmarkedClassified => "未标密级的涉密内容",
        FindingKind::MarkedClassified => "标有密级的文件",
        FindingKind::Unscannable => "无法检查",
        FindingKind::RemovableMedia => "移动存储介质",
        FindingKind::UsbHistory => "U盘使用记录",
        FindingKind::AgentAlarm => "代理告警",
        FindingKind::EnforcementAction => "处置动作",
        FindingKind::Other(s) => s.as_str(),
    };
    lang.t(zh, k.as_str()).to_string()
}

fn detail(f: &Finding, lang: Lang) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &f.marking {
        parts.push(format!(
            "{}{}",
            m.level,
            m.period
                .as_deref()
                .map(|p| format!("★{p}"))
                .unwrap_or_default()
        ));
    }
    if !f.matches.is_empty() {
        let rules: Vec<String> = f
            .matches
            .iter()
            .map(|m| format!("{}×{}", m.rule, m.count))
            .collect();
        parts.push(rules.join(","));
    }
    if let Some(r) = &f.reason {
        parts.push(r.clone());
    }
    if let Some(reg) = f.registered {
        parts.push(match (reg, &f.medium_id) {
            (true, Some(id)) => format!("{} {id}", lang.t("已登记", "registered")),
            (true, None) => lang.t("已登记", "registered").to_string(),
            (false, _) => lang.t("未登记", "NOT registered").to_string(),
        });
    }
    if let Some(m) = &f.message {
        parts.push(m.clone());
    }
    parts.join("; ")
}
