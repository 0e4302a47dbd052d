//! Throughput of normalisation and matching on a generated buffer:
//! `cargo run --release -p mijian-scanner --example match_speed [MB] [out.txt]`.
//! Prints MB/s for UTF-8 validation, full normalisation, and the matcher
//! (prefiltered) with the built-in rules and with literal terms only. With
//! an output path it also writes the buffer, e.g. to compare with `rg -F -c`.

use mijian_policy::{KeywordRule, Keywords, Policy};
use mijian_report::Severity;
use mijian_scanner::matcher::Matcher;
use mijian_scanner::normalise;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mb: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100);
    let lines = [
        "为做好相关工作，现将有关事项通知如下，请各单位认真贯彻执行。\n",
        "The quick brown fox jumps over the lazy dog; version 1.2.3 released.\n",
        "会议纪要：与会人员讨论了下一阶段的工作安排和人员分工情况。\n",
        "    let value = compute(input, &config)?; // 计算结果\n",
        "第三季度经费预算执行情况良好，各项指标均达到预期。\n",
    ];
    let mut text = String::with_capacity(mb << 20);
    let mut i = 0usize;
    while text.len() < mb << 20 {
        text.push_str(lines[i % lines.len()]);
        if i % 50_000 == 7 {
            text.push_str("关于玄鸟柒号的说明\n");
        }
        i += 1;
    }
    if let Some(out) = args.get(2) {
        std::fs::write(out, &text).unwrap();
    }
    let size = text.len() as f64 / (1 << 20) as f64;
    // CPU time of this thread as well as wall time: on a loaded machine the
    // wall time says more about the neighbours than about the code.
    let cpu = || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes into the timespec we own.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    };
    let rate = |name: &str, t: (Instant, f64)| {
        let s = t.0.elapsed().as_secs_f64();
        let c = cpu() - t.1;
        println!(
            "{name:<42} {:>7.0} MB/s wall ({s:.3} s), {:>7.0} MB/s cpu",
            size / s,
            size / c
        );
    };
    let t = (Instant::now(), cpu());
    normalise::init();
    println!(
        "fold table built in {:.1} ms",
        t.0.elapsed().as_secs_f64() * 1000.0
    );
    let t = (Instant::now(), cpu());
    assert!(std::str::from_utf8(text.as_bytes()).is_ok());
    rate("utf-8 validation (std)", t);
    let t = (Instant::now(), cpu());
    let d = mijian_scanner::text::decode(text.as_bytes());
    rate(&format!("text::decode ({})", d.encoding), t);
    let t = (Instant::now(), cpu());
    let n = normalise::normalise(&text);
    rate("normalise (whole text)", t);
    drop(n);
    let policy = Policy::example().unwrap();
    let m = Matcher::new(&policy.keywords).unwrap();
    println!(
        "  prefilter (literals, candidates, regions, bytes): {:?}",
        m.prefilter_stats(&text)
    );
    let t = (Instant::now(), cpu());
    let h = m.scan(&text);
    rate(
        &format!("matcher, built-in rules (prefilter {})", m.has_prefilter()),
        t,
    );
    println!(
        "  hits {:?}",
        h.per_rule.iter().map(|r| r.count).collect::<Vec<_>>()
    );
    let terms = Keywords {
        rules: vec![KeywordRule {
            id: "t".into(),
            terms: vec!["玄鸟柒号".into(), "示例工程".into(), "XN-07A型".into()],
            regex: None,
            severity: Severity::High,
            description: None,
            file: "bench".into(),
        }],
    };
    let m = Matcher::new(&terms).unwrap();
    let t = (Instant::now(), cpu());
    println!(
        "  prefilter (literals, candidates, regions, bytes): {:?}",
        m.prefilter_stats(&text)
    );
    rate("  prefilter stats pass", t);
    let t = (Instant::now(), cpu());
    let h = m.scan(&text);
    rate(
        &format!("matcher, 3 literal terms (prefilter {})", m.has_prefilter()),
        t,
    );
    println!(
        "  hits {:?}",
        h.per_rule.iter().map(|r| r.count).collect::<Vec<_>>()
    );
    let absent = Keywords {
        rules: vec![KeywordRule {
            id: "absent".into(),
            terms: vec!["不存在的词".into(), "示例工程".into()],
            regex: None,
            severity: Severity::High,
            description: None,
            file: "bench".into(),
        }],
    };
    let m = Matcher::new(&absent).unwrap();
    let t = (Instant::now(), cpu());
    let h = m.scan(&text);
    rate("matcher, 2 absent CJK terms", t);
    println!(
        "  hits {:?}",
        h.per_rule.iter().map(|r| r.count).collect::<Vec<_>>()
    );
}
