//! The human table (issue 18): results grouped by inspection category in the
//! checklist order (系统安全, 违规外联, 痕迹检查, 载体管理, 文件检查); per check
//! its status, name, subject, expected and actual in words, where it was
//! decided (file:line, never cut), and for every `fail` the remedy, for every
//! `error` the reason; then the findings; then what the content scan covered;
//! then the verdict. Laid out by comfy-table: wrapped to the terminal when it
//! is narrow, never truncated; below 120 columns the checks become one block
//! each (seven columns would break words in the middle); no width limit when
//! stdout is not a terminal (unless `COLUMNS` says otherwise). Every cell goes through
//! [`super::escape::visible`].

use super::escape::visible;
use super::lang::Lang;
use super::words;
use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, presets};
use mijian_report::{
    Category, Check, CheckStatus, Coverage, Finding, FindingKind, Report, Severity,
};
use std::fmt::Write;

/// How the table is laid out: the width to wrap to (`None`: no wrapping)
/// and whether to colour it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub width: Option<u16>,
    pub color: bool,
}

impl Style {
    /// Width from `COLUMNS` or the terminal on stdout; colour when stdout is
    /// a terminal and `NO_COLOR` is unset (anstream's rules).
    pub fn detect() -> Style {
        let columns = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<u16>().ok())
            .filter(|c| *c >= 20);
        let width = columns
            .or_else(|| terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| w.0));
        let color = matches!(
            anstream::AutoStream::choice(&std::io::stdout()),
            anstream::ColorChoice::Always | anstream::ColorChoice::AlwaysAnsi
        );
        Style { width, color }
    }
}

/// Render a full report.
pub fn render(report: &Report, lang: Lang, style: Style) -> String {
    let mut out = String::new();
    let host = &report.host;
    let digest = report
        .policy
        .digest
        .get(..12)
        .unwrap_or(&report.policy.digest);
    let _ = match lang {
        Lang::Zh => writeln!(
            out,
            "主机 {}（{}，密级 {}，策略 {}）",
            visible(&host.hostname),
            visible(&host.os),
            visible(&host.classification),
            digest
        ),
        Lang::En => writeln!(
            out,
            "Host {} ({}, level {}, policy {})",
            visible(&host.hostname),
            visible(&host.os),
            visible(&host.classification),
            digest
        ),
    };
    if let Some(root) = &host.root {
        let _ = writeln!(
            out,
            "{} {}",
            lang.t("检查的文件树：", "Inspected tree:"),
            visible(root)
        );
    }
    for cat in Category::ALL {
        let checks: Vec<&Check> = report
            .checks
            .iter()
            .filter(|c| c.category() == cat)
            .collect();
        let findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| Category::for_finding(&f.kind) == cat && !is_noise(f))
            .collect();
        if checks.is_empty() && findings.is_empty() {
            continue;
        }
        let name = match lang {
            Lang::Zh => cat.as_str().to_string(),
            Lang::En => format!("{} ({})", cat.english(), cat.as_str()),
        };
        let _ = writeln!(out, "\n■ {name}");
        if !checks.is_empty() {
            let _ = writeln!(out, "{}", checks_block(&checks, lang, style));
        }
        if !findings.is_empty() {
            let _ = writeln!(out, "{}", findings_table(&findings, lang, style));
        }
    }
    if !report.notes.is_empty() {
        out.push('\n');
        for n in &report.notes {
            let n = match lang {
                Lang::Zh if n == crate::inspect::NOTE_ROOT_MEDIA => {
                    "移动存储介质：在 --root 下不检查本机的实时挂载"
                }
                Lang::Zh if n == crate::inspect::NOTE_PARTIAL_SCAN => {
                    "部分报告：仅扫描所列路径的内容（scope.paths），不含主机检查和移动存储介质"
                }
                _ => n.as_str(),
            };
            let _ = writeln!(out, "{}{}", lang.t("注意：", "note: "), visible(n));
        }
    }
    out.push('\n');
    out.push_str(&coverage_line(report.coverage.as_ref(), lang));
    out.push('\n');
    out.push_str(&verdict(report, lang));
    out.push('\n');
    out
}

/// A file deleted while the scan ran: counted in the coverage line, not
/// listed as something to act on.
pub fn is_noise(f: &Finding) -> bool {
    f.kind == FindingKind::Unscannable
        && f.reason.as_deref() == Some("vanished")
        && f.severity <= Severity::Info
}

fn new_table(header: Vec<&str>, style: Style) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    match style.width {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic);
            t.set_width(w);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    if style.color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t.set_header(
        header
            .into_iter()
            .map(|h| Cell::new(h).add_attribute(Attribute::Bold)),
    );
    t
}

/// One check in words: what both layouts (table, list) show.
struct CheckRow {
    status: CheckStatus,
    name: String,
    subject: String,
    expected: String,
    actual: String,
    places: Vec<String>,
    note: Vec<String>,
}

fn check_row(c: &Check, lang: Lang) -> CheckRow {
    let v = |x: &Option<serde_json::Value>| {
        x.as_ref()
            .map(|x| words::value(&c.id, x, lang))
            .unwrap_or_default()
    };
    let actual = match c.status {
        CheckStatus::Error if c.actual.is_none() => lang.t("无法判定", "unknown").to_string(),
        _ => v(&c.actual),
    };
    let mut note = Vec::new();
    if c.status == CheckStatus::Error {
        note.push(format!(
            "{}{}",
            lang.t("原因：", "reason: "),
            words::reason(c, lang)
        ));
    }
    if c.status == CheckStatus::NotApplicable
        && let Some(why) = words::not_applicable(c, lang)
    {
        note.push(why);
    }
    if let Some(r) = words::remedy(c, lang) {
        note.push(format!("{}{r}", lang.t("处理：", "remedy: ")));
    }
    CheckRow {
        status: c.status,
        name: visible(&words::check_name(&c.id, lang)).into_owned(),
        subject: visible(&words::subject(&c.subject, lang)).into_owned(),
        expected: visible(&v(&c.expected)).into_owned(),
        actual: visible(&actual).into_owned(),
        places: words::places(c.evidence.as_ref()),
        note,
    }
}

/// Below this terminal width the seven columns of the checks table break
/// words in the middle; the checks are then listed one block each.
const LIST_BELOW: u16 = 120;

/// The checks of one category: a table, or on a narrow terminal a list of
/// blocks (status and name on the first line, then expected/actual, where
/// and the reason or remedy, each wrapped under an indent).
fn checks_block(checks: &[&Check], lang: Lang, style: Style) -> String {
    match style.width {
        Some(w) if w < LIST_BELOW => checks_list(checks, lang, style, usize::from(w)),
        _ => checks_table(checks, lang, style).to_string(),
    }
}

fn checks_list(checks: &[&Check], lang: Lang, style: Style, width: usize) -> String {
    const INDENT: &str = "    ";
    let width = width.max(30);
    let mut out = String::new();
    for (i, c) in checks.iter().enumerate() {
        let r = check_row(c, lang);
        if i > 0 {
            out.push('\n');
        }
        let (label, color) = status_words(r.status, lang);
        let head = format!("{label}  {} · {}", r.name, r.subject);
        for (n, l) in wrap(&head, width, INDENT).into_iter().enumerate() {
            // Colour after wrapping: escape codes take no columns.
            let l = match l.strip_prefix(label) {
                Some(rest) if n == 0 && style.color => {
                    format!("{}{label}\x1b[0m{rest}", ansi(color))
                }
                _ => l,
            };
            let _ = writeln!(out, "{l}");
        }
        let mut fields: Vec<String> = Vec::new();
        if !r.expected.is_empty() {
            fields.push(format!("{}{}", lang.t("要求：", "expected: "), r.expected));
        }
        if !r.actual.is_empty() {
            fields.push(format!("{}{}", lang.t("实际：", "actual: "), r.actual));
        }
        for p in &r.places {
            fields.push(format!("{}{p}", lang.t("依据：", "where: ")));
        }
        fields.extend(r.note);
        for f in fields {
            for l in wrap(&format!("{INDENT}{f}"), width, INDENT) {
                let _ = writeln!(out, "{l}");
            }
        }
    }
    out
}

fn ansi(c: Color) -> &'static str {
    match c {
        Color::Green => "\x1b[32m",
        Color::Red => "\x1b[31m",
        Color::Yellow => "\x1b[33m",
        Color::DarkGrey => "\x1b[90m",
        _ => "\x1b[0m",
    }
}

/// `text` cut into lines of at most `width` columns (CJK characters count
/// two), breaking after a space or between CJK characters, a word longer
/// than a line cut where it must; lines after the first start with `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    use unicode_width::UnicodeWidthChar;
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut cols = 0usize;
    // Byte index in `line` after which a break may go, and the columns up to it.
    let mut brk: Option<(usize, usize)> = None;
    for ch in text.chars() {
        let w = ch.width().unwrap_or(0);
        if cols + w > width && cols > indent.len() {
            let at = brk
                .filter(|(_, c)| *c > indent.len())
                .map_or(line.len(), |(at, _)| at);
            let rest = line.split_off(at);
            lines.push(line.trim_end().to_string());
            line = format!("{indent}{}", rest.trim_start());
            cols = line.chars().map(|c| c.width().unwrap_or(0)).sum();
            brk = None;
        }
        if ch == ' ' && line.len() == indent.len() && !lines.is_empty() {
            continue; // no space at the start of a continued line
        }
        line.push(ch);
        cols += w;
        if ch == ' ' || w == 2 {
            brk = Some((line.len(), cols));
        }
    }
    if !line.trim().is_empty() {
        lines.push(line);
    }
    lines
}

fn checks_table(checks: &[&Check], lang: Lang, style: Style) -> Table {
    let mut t = new_table(
        vec![
            lang.t("结果", "STATUS"),
            lang.t("检查项", "CHECK"),
            lang.t("对象", "SUBJECT"),
            lang.t("要求", "EXPECTED"),
            lang.t("实际", "ACTUAL"),
            lang.t("依据", "WHERE"),
            lang.t("原因 / 处理", "REASON / REMEDY"),
        ],
        style,
    );
    for c in checks {
        let r = check_row(c, lang);
        t.add_row(vec![
            status_cell(r.status, lang),
            Cell::new(r.name),
            Cell::new(r.subject),
            Cell::new(r.expected),
            Cell::new(r.actual),
            Cell::new(lines(&r.places)),
            Cell::new(lines(&r.note)),
        ]);
    }
    // On a terminal: when the table does not fit unwrapped, give each
    // column its natural width up to a share of the terminal (a file:line
    // is read whole while it can be), and the reason/remedy the rest.
    if let Some(w) = style.width
        && !fits(&mut t, w)
    {
        let w = usize::from(w);
        let natural: Vec<usize> = t
            .column_max_content_widths()
            .iter()
            .map(|x| usize::from(*x))
            .collect();
        let caps = [
            usize::MAX,
            w / 5,
            w / 7,
            w * 16 / 100,
            w * 16 / 100,
            w * 2 / 5,
        ];
        let mut alloc: Vec<usize> = natural
            .iter()
            .zip(caps)
            .map(|(n, c)| (*n).min(c).max(1))
            .collect();
        let borders = 3 * natural.len() + 1;
        let used = |a: &[usize]| a.iter().sum::<usize>() + borders;
        // The reason/remedy column gets a third of the width (less if its
        // text is shorter): expected and actual give way first, then the
        // subject, then the check's name (six CJK characters stay on one
        // line), the place (file:line) last.
        let want = (w / 3).max(20).min(natural.get(6).copied().unwrap_or(20));
        for (cols, floor) in [
            (&[3usize, 4][..], 12usize),
            (&[2][..], 10),
            (&[1][..], 12),
            (&[5][..], 12),
            (&[1, 2, 3, 4, 5][..], 4),
        ] {
            while w.saturating_sub(used(&alloc)) < want {
                let Some(&i) = cols
                    .iter()
                    .filter(|i| alloc.get(**i).is_some_and(|a| *a > floor))
                    .max_by_key(|i| alloc[**i])
                else {
                    break;
                };
                alloc[i] -= 1;
            }
        }
        let rest = w.saturating_sub(used(&alloc)).max(10);
        alloc.push(rest);
        use comfy_table::{ColumnConstraint, Width};
        for (i, a) in alloc.into_iter().enumerate() {
            if let Some(col) = t.column_mut(i) {
                let a = u16::try_from(a + 2).unwrap_or(u16::MAX);
                col.set_constraint(ColumnConstraint::Absolute(Width::Fixed(a)));
            }
        }
    }
    t
}

/// Whether the table fits `width` unwrapped; if so, lay it out unwrapped
/// (comfy-table's dynamic layout wraps wide columns even when all would fit).
fn fits(t: &mut Table, width: u16) -> bool {
    let widths = t.column_max_content_widths();
    // Each column adds two spaces of padding and one border.
    let natural: usize = widths.iter().map(|w| usize::from(*w) + 3).sum::<usize>() + 1;
    let fit = natural <= usize::from(width);
    if fit {
        t.set_content_arrangement(ContentArrangement::Disabled);
    }
    fit
}

/// Lines of one cell, each made visible (a newline inside one is escaped).
fn lines(items: &[String]) -> String {
    items
        .iter()
        .map(|i| visible(i).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn status_words(s: CheckStatus, lang: Lang) -> (&'static str, Color) {
    let (zh, en, color) = match s {
        CheckStatus::Pass => ("通过", "pass", Color::Green),
        CheckStatus::Fail => ("不通过", "FAIL", Color::Red),
        CheckStatus::Error => ("无法判定", "ERROR", Color::Yellow),
        CheckStatus::NotApplicable => ("不适用", "n/a", Color::DarkGrey),
    };
    (lang.t(zh, en), color)
}

fn status_cell(s: CheckStatus, lang: Lang) -> Cell {
    let (label, color) = status_words(s, lang);
    Cell::new(label).fg(color)
}

fn findings_table(findings: &[&Finding], lang: Lang, style: Style) -> Table {
    let mut t = new_table(
        vec![
            lang.t("严重性", "SEVERITY"),
            lang.t("发现", "FINDING"),
            lang.t("位置", "WHERE"),
            lang.t("说明", "DETAIL"),
        ],
        style,
    );
    for f in findings {
        let color = match f.severity {
            Severity::Critical | Severity::High => Color::Red,
            Severity::Medium => Color::Yellow,
            Severity::Low | Severity::Info => Color::Reset,
        };
        let mut place = f
            .path
            .clone()
            .or_else(|| f.mount_point.clone())
            .or_else(|| f.device.clone())
            .unwrap_or_default();
        place = visible(&place).into_owned();
        if let Some(s) = &f.scan_path {
            place = format!("{place}\n({} {})", lang.t("读自", "read at"), visible(s));
        }
        t.add_row(vec![
            Cell::new(severity_label(f.severity, lang)).fg(color),
            Cell::new(kind_label(&f.kind, lang)),
            Cell::new(place),
            Cell::new(visible(&detail(f, lang))),
        ]);
    }
    if let Some(w) = style.width {
        fits(&mut t, w);
    }
    t
}

/// What the content scan covered, or that it did not run.
pub fn coverage_line(c: Option<&Coverage>, lang: Lang) -> String {
    let Some(c) = c else {
        return lang
            .t(
                "内容扫描：未进行（--no-content 或无内容扫描）",
                "Content scan: not run (--no-content, or none for this report)",
            )
            .to_string();
    };
    let secs = c.duration_ms as f64 / 1000.0;
    match lang {
        Lang::Zh => format!(
            "内容扫描：{} 个文件（{}，其中 {} 个来自缓存），解析 {} 个文件及压缩包成员，{} 个二进制文件仅查文件名，按规则排除 {} 项，无法读取 {} 个，无法解析 {} 个，扫描中消失 {} 个，用时 {secs:.1} 秒",
            c.files,
            bytes(c.bytes),
            c.cached,
            c.analysed,
            c.binary,
            c.excluded,
            c.unreadable,
            c.unscannable,
            c.vanished
        ),
        Lang::En => format!(
            "Content scan: {} files ({}, {} from the cache), {} files and archive members analysed, {} binary (name only), {} excluded by rule, {} unreadable, {} unscannable, {} vanished during the scan, {secs:.1} s",
            c.files,
            bytes(c.bytes),
            c.cached,
            c.analysed,
            c.binary,
            c.excluded,
            c.unreadable,
            c.unscannable,
            c.vanished
        ),
    }
}

/// Bytes in binary units (`12.3 MiB`).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
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
    if report.checks.is_empty() {
        // A content scan (`scan`, a file-change report): no checks to pass.
        let to_act = report.findings.iter().filter(|f| !is_noise(f)).count();
        return match lang {
            Lang::Zh => format!(
                "结论：{}（{to_act} 条发现，其中 {serious} 条需处理）",
                if to_act == 0 {
                    "未发现问题"
                } else {
                    "有发现"
                }
            ),
            Lang::En => format!(
                "Result: {} ({to_act} findings, {serious} to act on)",
                if to_act == 0 {
                    "nothing found"
                } else {
                    "FINDINGS"
                }
            ),
        };
    }
    if report.compliant() {
        match lang {
            Lang::Zh => format!(
                "结论：合规（{} 项检查，{} 条发现，均无需处理）",
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
        FindingKind::Unscannable => "无法检查的文件",
        FindingKind::RemovableMedia => "移动存储介质",
        FindingKind::UsbHistory => "U盘使用记录",
        FindingKind::AgentAlarm => "代理告警",
        FindingKind::EnforcementAction => "处置动作",
        FindingKind::Other(s) => return visible(s).into_owned(),
    };
    lang.t(zh, k.as_str()).to_string()
}

/// An `unscannable` reason word in the reader's language.
fn reason_label(r: &str, lang: Lang) -> String {
    let zh = match r {
        "encrypted" => "已加密",
        "corrupt" => "文件损坏",
        "truncated" => "文件不完整",
        "limit" => "超出大小或数量限制",
        "permission" => "无权读取",
        "timeout" => "解析超时",
        "crash" => "解析程序崩溃",
        "vanished" => "扫描中被删除或替换",
        "io" => "读取出错",
        "worker" => "解析进程不可用",
        "unsupported" => "格式不支持",
        _ => return r.to_string(),
    };
    lang.t(zh, r).to_string()
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
        parts.push(format!(
            "{}{}",
            lang.t("命中规则：", "rules: "),
            rules.join(lang.t("，", ", "))
        ));
    }
    if let Some(r) = &f.reason {
        // The English message usually starts with the reason word already.
        let said = lang == Lang::En
            && f.message
                .as_deref()
                .is_some_and(|m| m.starts_with(r.as_str()));
        if !said {
            parts.push(reason_label(r, lang));
        }
    }
    if let Some(reg) = f.registered {
        parts.push(match (reg, &f.medium_id) {
            (true, Some(id)) => format!("{} {id}", lang.t("已登记", "registered")),
            (true, None) => lang.t("已登记", "registered").to_string(),
            (false, _) => lang.t("未登记", "NOT registered").to_string(),
        });
    }
    // The message is the checker's English sentence: shown in English
    // output only (the Chinese table says the same through the labels).
    if lang == Lang::En
        && let Some(m) = &f.message
    {
        parts.push(m.clone());
    }
    parts.join(lang.t("；", "; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mijian_report::Trigger;
    use serde_json::json;

    fn report() -> Report {
        let mut r = Report::new("kid", 1, None, Trigger::Manual);
        r.checks.push(
            Check::new("password.min_length", "host", CheckStatus::Error)
                .evidence(json!({"error": "minlen = twelve: not an integer",
                                 "at": {"file": "/etc/security/pwquality.conf.d/50-very-long-file-name-for-the-unit.conf", "line": 3}}))
                .remedy("Fix the named line."),
        );
        r.checks.push(
            Check::new("screen_lock.idle_timeout", "user:alice", CheckStatus::Fail)
                .expected("locked after 0 < idle + lock delay <= 600 s")
                .actual(json!({"GNOME": 900}))
                .remedy("Set the idle delay."),
        );
        r.checks.push(Check::new(
            "network.internet_trace",
            "host",
            CheckStatus::Pass,
        ));
        let mut f = Finding::new(FindingKind::RemovableMedia, Severity::Medium);
        f.mount_point = Some("/media/u\x1b[31mred".into());
        f.registered = Some(false);
        r.findings.push(f);
        let mut v = Finding::new(FindingKind::Unscannable, Severity::Info);
        v.path = Some("/tmp/gone.txt".into());
        v.reason = Some("vanished".into());
        r.findings.push(v);
        r
    }

    #[test]
    fn error_rows_give_their_reason_and_fail_rows_their_remedy() {
        let s = render(&report(), Lang::En, Style::default());
        assert!(s.contains("reason: minlen = twelve: not an integer"), "{s}");
        assert!(s.contains("remedy: Set the idle delay."), "{s}");
        assert!(s.contains("GNOME: 15 min"), "{s}");
        assert!(!s.contains("{\"GNOME\""), "{s}");
        assert!(
            s.contains("/etc/security/pwquality.conf.d/50-very-long-file-name-for-the-unit.conf:3"),
            "{s}"
        );
    }

    #[test]
    fn chinese_table_is_chinese() {
        let s = render(&report(), Lang::Zh, Style::default());
        for w in [
            "原因：",
            "处理：",
            "GNOME：15 分钟",
            "无法判定",
            "不通过",
            "未登记",
            "结论：不合规",
        ] {
            assert!(s.contains(w), "{w}: {s}");
        }
        for w in ["FAIL", "remedy", "Verdict", "registered", "minutes"] {
            assert!(!s.contains(w), "{w}: {s}");
        }
    }

    #[test]
    fn grouped_by_category_in_checklist_order() {
        let s = render(&report(), Lang::Zh, Style::default());
        let at = |w: &str| s.find(w).unwrap_or_else(|| panic!("{w}: {s}"));
        assert!(at("■ 系统安全") < at("■ 违规外联"));
        assert!(at("■ 违规外联") < at("■ 载体管理"));
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let s = render(&report(), Lang::En, Style::default());
        assert!(!s.contains('\x1b'), "{s:?}");
        assert!(s.contains("\\x1b[31mred"), "{s}");
    }

    #[test]
    fn vanished_files_are_counted_not_listed() {
        let mut r = report();
        r.coverage = Some(Coverage {
            files: 10,
            vanished: 1,
            ..Coverage::default()
        });
        let s = render(&r, Lang::En, Style::default());
        assert!(!s.contains("/tmp/gone.txt"), "{s}");
        assert!(s.contains("1 vanished during the scan"), "{s}");
    }

    #[test]
    fn a_scan_reports_findings_not_compliance() {
        let mut r = Report::new("kid", 1, None, Trigger::Manual);
        assert_eq!(
            verdict(&r, Lang::En),
            "Result: nothing found (0 findings, 0 to act on)"
        );
        let mut v = Finding::new(FindingKind::Unscannable, Severity::Info);
        v.reason = Some("vanished".into());
        r.findings.push(v);
        assert_eq!(
            verdict(&r, Lang::Zh),
            "结论：未发现问题（0 条发现，其中 0 条需处理）"
        );
    }

    #[test]
    fn narrow_terminals_wrap_and_wide_ones_do_not_cut() {
        let r = report();
        let wide = render(
            &r,
            Lang::En,
            Style {
                width: Some(300),
                color: false,
            },
        );
        assert!(
            wide.contains("50-very-long-file-name-for-the-unit.conf:3"),
            "{wide}"
        );
        let narrow = render(
            &r,
            Lang::En,
            Style {
                width: Some(80),
                color: false,
            },
        );
        use unicode_width::UnicodeWidthStr;
        for line in narrow
            .lines()
            .filter(|l| !l.starts_with("Scanned") && !l.starts_with("Verdict"))
        {
            assert!(line.width() <= 80, "{line}");
        }
        // Below 120 columns the checks are blocks, not a table whose seven
        // columns would break words in the middle; nothing is lost.
        assert!(!narrow.contains("┆ CHECK"), "{narrow}");
        for part in ["50-very-long-file-name-for-the-unit.conf:3", "remedy: "] {
            assert!(narrow.contains(part), "{part} missing: {narrow}");
        }
    }

    #[test]
    fn wrap_breaks_at_spaces_and_between_cjk_characters() {
        use unicode_width::UnicodeWidthStr;
        let l = wrap(
            "处理：在口令栈中加载 pam_pwquality.so，并设置 minclass",
            20,
            "  ",
        );
        assert!(l.iter().all(|x| x.width() <= 20), "{l:?}");
        assert_eq!(
            l.concat().replace(' ', ""),
            "处理：在口令栈中加载pam_pwquality.so，并设置minclass"
        );
        assert!(l[1..].iter().all(|x| x.starts_with("  ")), "{l:?}");
        // A word longer than the line is cut, never lost.
        let long = "x".repeat(45);
        let l = wrap(&long, 20, "");
        assert_eq!(l.concat(), long);
    }
}
