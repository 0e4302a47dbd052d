//! The findings one scan keeps (issue 15, bounded memory): a tree where
//! every file is a finding must not grow the scanning process without limit
//! (100,000 findings held ~124 MB). At most `cap` findings are kept, the most
//! severe first (then by path, so the choice does not depend on thread
//! timing); the others are counted by kind and keyword rule with their first
//! few paths, in the shape of a report's `truncated` member — never dropped
//! silently. The agent's report bound applies the same rule afterwards.

use mijian_report::{Finding, OmittedCount};
use std::cmp::Reverse;
use std::collections::BTreeMap;

/// Paths kept per omitted (kind, rule).
const FIRST_PATHS: usize = 5;
/// Omitted groups listed one by one; the rest are summed into one (`*`).
const MAX_GROUPS: usize = 200;

/// Findings kept, and the count of those let go.
#[derive(Debug)]
pub struct Kept {
    cap: usize,
    findings: Vec<Finding>,
    groups: BTreeMap<(String, Option<String>), (u64, Vec<String>)>,
    omitted: u64,
}

impl Kept {
    pub fn new(cap: usize) -> Kept {
        Kept {
            cap: cap.max(1),
            findings: Vec::new(),
            groups: BTreeMap::new(),
            omitted: 0,
        }
    }

    /// Add findings; past twice the cap the least severe are counted and
    /// let go (amortised: one sort per `cap` findings).
    pub fn extend(&mut self, more: impl IntoIterator<Item = Finding>) {
        for f in more {
            self.findings.push(f);
            if self.findings.len() >= self.cap.saturating_mul(2) {
                self.shrink();
            }
        }
    }

    fn shrink(&mut self) {
        if self.findings.len() <= self.cap {
            return;
        }
        self.findings.sort_by(|a, b| {
            Reverse(a.severity)
                .cmp(&Reverse(b.severity))
                .then_with(|| a.path.cmp(&b.path))
        });
        for f in self.findings.drain(self.cap..) {
            self.omitted += 1;
            let rule = f.matches.first().map(|m| m.rule.clone());
            let key = (f.kind.as_str().to_string(), rule);
            if self.groups.len() >= MAX_GROUPS && !self.groups.contains_key(&key) {
                let g = self.groups.entry(("*".to_string(), None)).or_default();
                g.0 += 1;
                continue;
            }
            let g = self.groups.entry(key).or_default();
            g.0 += 1;
            if g.1.len() < FIRST_PATHS
                && let Some(p) = f.path
            {
                g.1.push(p.chars().take(1024).collect());
            }
        }
    }

    /// The kept findings and, when some were let go, their counts.
    pub fn finish(mut self) -> (Vec<Finding>, Omitted) {
        self.shrink();
        let counts = self
            .groups
            .into_iter()
            .map(|((kind, rule), (count, first_paths))| OmittedCount {
                kind,
                rule,
                count,
                first_paths,
            })
            .collect();
        (
            self.findings,
            Omitted {
                total: self.omitted,
                counts,
            },
        )
    }
}

/// Findings a scan counted but did not keep.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Omitted {
    /// How many.
    pub total: u64,
    /// By kind and keyword rule, with their first paths.
    pub counts: Vec<OmittedCount>,
}

impl Omitted {
    /// Add another scan's counts (same kind and rule summed).
    pub fn merge(&mut self, other: Omitted) {
        self.total += other.total;
        merge_counts(&mut self.counts, other.counts);
    }
}

/// Add `more` into `into`: the same kind and rule summed, first paths kept
/// up to five. Also used by the agent's report bound.
pub fn merge_counts(into: &mut Vec<OmittedCount>, more: Vec<OmittedCount>) {
    for c in more {
        match into
            .iter_mut()
            .find(|x| x.kind == c.kind && x.rule == c.rule)
        {
            Some(x) => {
                x.count += c.count;
                let room = FIRST_PATHS.saturating_sub(x.first_paths.len());
                x.first_paths.extend(c.first_paths.into_iter().take(room));
            }
            None => into.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mijian_report::{FindingKind, RuleMatch, Severity};

    fn finding(i: usize, sev: Severity) -> Finding {
        let mut f = Finding::new(FindingKind::UnmarkedClassified, sev);
        f.path = Some(format!("/home/u/{i:06}.txt"));
        f.matches = vec![RuleMatch {
            rule: format!("rule-{}", i % 3),
            count: 1,
            first_offset: None,
        }];
        f
    }

    #[test]
    fn keeps_the_most_severe_and_counts_every_other() {
        let mut k = Kept::new(100);
        let n = 10_000;
        k.extend((0..n).map(|i| {
            finding(
                i,
                if i % 1000 == 7 {
                    Severity::Critical
                } else {
                    Severity::Low
                },
            )
        }));
        let (kept, omitted) = k.finish();
        assert_eq!(kept.len(), 100);
        assert_eq!(omitted.total, (n - 100) as u64);
        assert_eq!(
            omitted.counts.iter().map(|c| c.count).sum::<u64>(),
            omitted.total
        );
        // All ten critical ones are kept.
        assert_eq!(
            kept.iter()
                .filter(|f| f.severity == Severity::Critical)
                .count(),
            10
        );
        assert!(
            omitted
                .counts
                .iter()
                .all(|c| c.first_paths.len() <= FIRST_PATHS)
        );
        assert_eq!(omitted.counts.len(), 3, "{:?}", omitted.counts);
    }

    #[test]
    fn under_the_cap_nothing_is_omitted() {
        let mut k = Kept::new(100);
        k.extend((0..100).map(|i| finding(i, Severity::High)));
        let (kept, omitted) = k.finish();
        assert_eq!(kept.len(), 100);
        assert_eq!(omitted, Omitted::default());
    }

    #[test]
    fn merge_sums_the_same_kind_and_rule() {
        let mut a = Omitted::default();
        for _ in 0..2 {
            let mut k = Kept::new(1);
            k.extend((0..4).map(|i| finding(i * 3, Severity::Low)));
            a.merge(k.finish().1);
        }
        assert_eq!(a.total, 6);
        assert_eq!(a.counts.len(), 1);
        assert_eq!(a.counts[0].count, 6);
    }
}
