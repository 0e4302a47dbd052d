//! The agent-wide bound on a report's size (issue 11): a report must never
//! be larger than the collector accepts, or it blocks delivery for good. The
//! scanner summarises per archive; this is the safety net for everything
//! else (a folder of ten thousand marked files, a bomb the scanner did not
//! summarise). Findings are kept most severe first while they fit; the rest
//! are counted by kind and keyword rule with their first few paths in the
//! report's `truncated` member — never dropped silently.

use mijian_report::{Finding, OmittedCount, Report, Truncated};
use std::collections::BTreeMap;

/// The body limit of a collector that did not announce one: the collector's
/// documented default (`[limits] max_body_bytes`, 4 MiB).
pub const DEFAULT_MAX_REPORT_BYTES: u64 = 4 * 1024 * 1024;

/// Paths kept per omitted (kind, rule).
const FIRST_PATHS: usize = 5;
/// Omitted groups listed one by one; the rest are summed into one.
const MAX_GROUPS: usize = 200;

/// An upper estimate of the signed size of a payload of `payload` bytes
/// (agent_id, seq and prev not yet filled; base64 adds a third; header and
/// signature).
pub fn jws_len(payload: u64) -> u64 {
    (payload + 200) * 4 / 3 + 512
}

/// Shorten `report` so that its signed form stays within `max_jws` bytes.
/// Returns whether anything was left out.
pub fn bound(report: &mut Report, max_jws: u64) -> bool {
    let whole = report.to_payload().len() as u64;
    if jws_len(whole) <= max_jws {
        return false;
    }
    // What the scanner already counted instead of keeping (its own bound)
    // is merged into what this bound leaves out.
    let earlier = report.truncated.take();
    let total = report.findings.len() as u64;
    let mut findings = std::mem::take(&mut report.findings);
    // Most severe first; the order within a severity is the scan's.
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let base = report.to_payload().len() as u64;
    // Reserve room for the `truncated` member as if every finding were left
    // out (the most groups it can have), plus slack for number widths.
    let reserve = serde_json::to_vec(&truncated(&findings, 0, max_jws, total))
        .map_or(64 * 1024, |v| v.len() as u64)
        + 1024;
    // Payload bytes allowed: invert `jws_len`.
    let budget = (max_jws.saturating_sub(512) * 3 / 4).saturating_sub(200);
    let mut used = base + reserve;
    let mut keep = 0;
    for f in &findings {
        let n = serde_json::to_vec(f).map_or(u64::MAX / 4, |v| v.len() as u64) + 1;
        if used + n > budget {
            break;
        }
        used += n;
        keep += 1;
    }
    let mut t = truncated(&findings, keep, max_jws, total);
    if let Some(e) = earlier {
        t.findings_total += e.findings_total.saturating_sub(e.findings_kept);
        t.reason = format!("{}; {}", e.reason, t.reason);
        mijian_scanner::pipeline::kept::merge_counts(&mut t.omitted, e.omitted);
    }
    findings.truncate(keep);
    report.findings = findings;
    report.truncated = Some(t);
    let msg = format!(
        "report shortened to fit {max_jws} bytes: {keep} of {total} findings kept, the rest counted in `truncated`"
    );
    log::warn!("{msg}");
    report.notes.push(msg);
    true
}

/// Findings the scanner counted but did not keep (`Limits::max_findings`),
/// as the report's `truncated`: call once the report holds every finding
/// it will carry, before [`bound`].
pub fn attach_omitted(report: &mut Report, omitted: mijian_scanner::Omitted, cap: usize) {
    if omitted.total == 0 {
        return;
    }
    let kept = report.findings.len() as u64;
    let t = report.truncated.get_or_insert_with(|| Truncated {
        findings_total: kept,
        findings_kept: kept,
        omitted: Vec::new(),
        reason: format!("scan bound: at most {cap} findings kept per scan, most severe first"),
    });
    t.findings_total += omitted.total;
    mijian_scanner::pipeline::kept::merge_counts(&mut t.omitted, omitted.counts);
    let msg = format!(
        "the content scan found more findings than it keeps: {} counted by kind and rule in `truncated`",
        omitted.total
    );
    log::warn!("{msg}");
    report.notes.push(msg);
}

fn truncated(findings: &[Finding], keep: usize, max_jws: u64, total: u64) -> Truncated {
    let mut groups: BTreeMap<(String, Option<String>), (u64, Vec<String>)> = BTreeMap::new();
    for f in &findings[keep..] {
        let rule = f.matches.first().map(|m| m.rule.clone());
        let g = groups
            .entry((f.kind.as_str().to_string(), rule))
            .or_default();
        g.0 += 1;
        if g.1.len() < FIRST_PATHS
            && let Some(p) = &f.path
        {
            g.1.push(p.chars().take(1024).collect());
        }
    }
    let mut omitted: Vec<OmittedCount> = Vec::new();
    let mut rest = 0u64;
    for (i, ((kind, rule), (count, first_paths))) in groups.into_iter().enumerate() {
        if i < MAX_GROUPS {
            omitted.push(OmittedCount {
                kind,
                rule,
                count,
                first_paths,
            });
        } else {
            rest += count;
        }
    }
    if rest > 0 {
        omitted.push(OmittedCount {
            kind: "*".into(),
            rule: None,
            count: rest,
            first_paths: Vec::new(),
        });
    }
    Truncated {
        findings_total: total,
        findings_kept: keep as u64,
        omitted,
        reason: format!("report bound: {max_jws} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mijian_report::{AgentKey, FindingKind, Jws, RuleMatch, Severity, Trigger};

    fn many(n: usize) -> Report {
        let mut r = Report::new("", 0, None, Trigger::Boot);
        for i in 0..n {
            let mut f = Finding::new(
                if i % 3 == 0 {
                    FindingKind::MarkedClassified
                } else {
                    FindingKind::Unscannable
                },
                if i == n - 1 {
                    Severity::Critical
                } else {
                    Severity::Low
                },
            );
            f.path = Some(format!("/home/u/42.zip!/{i}/0.zip!/1.zip!/book-{i}.txt"));
            f.reason = Some("limit".into());
            f.sha256 = Some("a".repeat(64));
            f.matches = vec![RuleMatch {
                rule: format!("rule-{}", i % 4),
                count: 1,
                first_offset: None,
            }];
            r.findings.push(f);
        }
        r
    }

    #[test]
    fn a_huge_report_fits_and_counts_what_it_left_out() {
        let key = AgentKey::generate();
        let mut r = many(64_786);
        let limit = 1 << 20;
        assert!(bound(&mut r, limit));
        r.agent_id = key.kid();
        r.seq = u64::MAX / 2;
        r.prev = Some("f".repeat(64));
        let jws = Jws::sign(&r.to_payload(), &key).to_json();
        assert!((jws.len() as u64) <= limit, "{} > {limit}", jws.len());
        let t = r.truncated.as_ref().unwrap();
        assert_eq!(t.findings_total, 64_786);
        assert_eq!(t.findings_kept, r.findings.len() as u64);
        let omitted: u64 = t.omitted.iter().map(|o| o.count).sum();
        assert_eq!(
            omitted + t.findings_kept,
            t.findings_total,
            "nothing silent"
        );
        assert!(t.omitted.iter().all(|o| o.first_paths.len() <= FIRST_PATHS));
        assert!(t.findings_kept > 1000, "{}", t.findings_kept);
        // The most severe finding is kept.
        assert_eq!(r.findings[0].severity, Severity::Critical);
        assert!(r.notes.iter().any(|n| n.contains("shortened")));
    }

    #[test]
    fn a_small_report_is_untouched() {
        let mut r = many(10);
        let before = r.clone();
        assert!(!bound(&mut r, DEFAULT_MAX_REPORT_BYTES));
        assert_eq!(r, before);
    }

    #[test]
    fn scan_omissions_are_carried_and_merged_with_the_report_bound() {
        let mut r = many(2_000);
        let omitted = mijian_scanner::Omitted {
            total: 50_000,
            counts: vec![OmittedCount {
                kind: "marked_classified".into(),
                rule: Some("rule-0".into()),
                count: 50_000,
                first_paths: vec!["/home/u/a.txt".into()],
            }],
        };
        attach_omitted(&mut r, omitted, 10_000);
        let t = r.truncated.clone().unwrap();
        assert_eq!((t.findings_total, t.findings_kept), (52_000, 2_000));
        // The report bound then leaves out more: the totals still add up.
        assert!(bound(&mut r, 64 * 1024));
        let t = r.truncated.unwrap();
        assert_eq!(t.findings_total, 52_000);
        assert_eq!(t.findings_kept, r.findings.len() as u64);
        assert_eq!(
            t.omitted.iter().map(|c| c.count).sum::<u64>(),
            52_000 - t.findings_kept
        );
        assert!(t.reason.starts_with("scan bound"), "{}", t.reason);
    }
}
