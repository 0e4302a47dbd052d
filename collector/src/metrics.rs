//! Prometheus metrics, hand-written in the text exposition format (v0.0.4):
//! a handful of counters and one histogram do not need a metrics framework.
//! Counters live in memory per process; gauges about hosts are read from the
//! store's current state at scrape time, so every process reports the same.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the ingest latency histogram, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
pub struct Metrics {
    results: Mutex<BTreeMap<&'static str, u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// Gauges read from the store at scrape time.
pub struct Gauges {
    pub silent_after_secs: u64,
    pub silent_hosts: i64,
    pub stats: mijian_store::Stats,
}

impl Metrics {
    /// Count one ingest decision (`Decision::label`) and its latency.
    pub fn observe(&self, label: &'static str, took: Duration) {
        *self
            .results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(label)
            .or_default() += 1;
        let secs = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        let results = self
            .results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        out.push_str("# HELP mijian_reports_accepted_total Signed reports accepted, by result (stored, duplicate).\n");
        out.push_str("# TYPE mijian_reports_accepted_total counter\n");
        for result in ["stored", "duplicate"] {
            let n = results.get(result).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "mijian_reports_accepted_total{{result=\"{result}\"}} {n}"
            );
        }
        out.push_str("# HELP mijian_reports_rejected_total Signed reports refused, by reason (chain_conflict is a tamper alert).\n");
        out.push_str("# TYPE mijian_reports_rejected_total counter\n");
        for reason in [
            "malformed_jws",
            "bad_alg",
            "unknown_key",
            "revoked_key",
            "bad_signature",
            "invalid_report",
            "agent_id_mismatch",
            "chain_conflict",
            "too_large",
            "timeout",
            "store_error",
        ] {
            let n = results.get(reason).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "mijian_reports_rejected_total{{reason=\"{reason}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP mijian_ingest_duration_seconds Time from request body received to decision.\n",
        );
        out.push_str("# TYPE mijian_ingest_duration_seconds histogram\n");
        for (i, b) in BUCKETS.iter().enumerate() {
            let n = self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "mijian_ingest_duration_seconds_bucket{{le=\"{b}\"}} {n}"
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "mijian_ingest_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "mijian_ingest_duration_seconds_sum {sum}");
        let _ = writeln!(out, "mijian_ingest_duration_seconds_count {count}");
        out.push_str("# HELP mijian_hosts_silent Enrolled, unrevoked hosts not heard from for longer than the threshold.\n");
        out.push_str("# TYPE mijian_hosts_silent gauge\n");
        let _ = writeln!(
            out,
            "mijian_hosts_silent{{longer_than_seconds=\"{}\"}} {}",
            g.silent_after_secs, g.silent_hosts
        );
        for (name, help, v) in [
            ("mijian_agents", "Registered agent keys.", g.stats.agents),
            (
                "mijian_agents_revoked",
                "Revoked agent keys.",
                g.stats.revoked_agents,
            ),
            (
                "mijian_reports_stored",
                "Reports in the store (after retention).",
                g.stats.reports,
            ),
            (
                "mijian_tamper_alerts",
                "Reports kept as tamper alerts.",
                g.stats.tamper_alerts,
            ),
            (
                "mijian_findings_open",
                "Open findings across hosts.",
                g.stats.open_findings,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.observe("stored", Duration::from_micros(700));
        m.observe("bad_alg", Duration::from_millis(30));
        let text = m.render(&Gauges {
            silent_after_secs: 60,
            silent_hosts: 3,
            stats: Default::default(),
        });
        assert!(text.contains("mijian_reports_accepted_total{result=\"stored\"} 1\n"));
        assert!(text.contains("mijian_reports_rejected_total{reason=\"bad_alg\"} 1\n"));
        assert!(text.contains("mijian_ingest_duration_seconds_bucket{le=\"0.001\"} 1\n"));
        assert!(text.contains("mijian_ingest_duration_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("mijian_ingest_duration_seconds_count 2\n"));
        assert!(text.contains("mijian_hosts_silent{longer_than_seconds=\"60\"} 3\n"));
    }
}
