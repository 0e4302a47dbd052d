//! Cost of hidden keyword matching (issue 13) against plain matching, on a
//! generated buffer of office prose with occasional hits:
//! `cargo run -p mijian-scanner --example hidden_speed [MB] [TERMS]`
//! (build optimised: `--release`, or `--config 'profile.dev.package.mijian-scanner.opt-level=3'`).
//! TERMS keyword terms of assorted lengths (default 200) in one rule set,
//! hidden with a fixed salt. Prints MB/s (wall and thread CPU) and the
//! compiled matchers' memory in both modes (text side and raw-byte side).
//! Whole-scan figures (CPU, wall, peak RSS): `bench/scan/run.sh hidden`.

use mijian_policy::Policy;
use mijian_scanner::hidden::HiddenTerms;
use mijian_scanner::hidden::raw::HiddenRaw;
use mijian_scanner::matcher::Matcher;
use mijian_scanner::normalise;
use mijian_scanner::raw::RawSearcher;
use std::path::Path;
use std::time::Instant;

fn cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mb: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(32);
    let nterms: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    // Terms: code names of 2..=9 CJK characters plus some model numbers.
    let pool: Vec<char> = "玄鸟柒号青龙九型天枢星河北斗长征神舟嫦娥鲲鹏蛟龙雪豹猎鹰"
        .chars()
        .collect();
    let mut terms = Vec::new();
    for i in 0..nterms {
        if i % 5 == 4 {
            terms.push(format!(
                "xq-{:02}{}型",
                i % 97,
                (b'a' + (i % 26) as u8) as char
            ));
            continue;
        }
        let len = 2 + i % 8;
        let t: String = (0..len)
            .map(|k| pool[(i * 7 + k * 3) % pool.len()])
            .collect();
        terms.push(t);
    }
    let list: Vec<String> = terms.iter().map(|t| format!("{t:?}")).collect();
    let files = vec![(
        "keywords/bench.toml".to_string(),
        format!(
            "[[keyword]]\nid = \"bench\"\nterms = [{}]\nseverity = \"high\"\n",
            list.join(", ")
        )
        .into_bytes(),
    )];
    let plain = Policy::from_files(Path::new("<bench>"), &files, None).unwrap();
    let (hidden_files, _) = mijian_policy::bundle::hide(
        &files,
        &[9u8; 16],
        &normalise::normalise,
        &mijian_scanner::raw::byte_spellings,
    )
    .unwrap();
    let hidden = Policy::from_files(Path::new("<bench>"), &hidden_files, None).unwrap();

    let lines = [
        "为做好相关工作，现将有关事项通知如下，请各单位认真贯彻执行。\n",
        "The quick brown fox jumps over the lazy dog; version 1.2.3 released.\n",
        "会议纪要：与会人员讨论了下一阶段的工作安排和人员分工情况。\n",
        "第三季度经费预算执行情况良好，各项指标均达到预期。\n",
    ];
    let mut text = String::with_capacity(mb << 20);
    let mut i = 0usize;
    while text.len() < mb << 20 {
        text.push_str(lines[i % lines.len()]);
        if i % 5_000 == 7 {
            text.push_str(&format!("关于{}的说明\n", terms[i % terms.len()]));
        }
        i += 1;
    }
    let size = text.len() as f64 / (1 << 20) as f64;
    normalise::init();
    println!("{size:.0} MB of text, {} terms", terms.len());
    let mut counts = Vec::new();
    for (name, policy) in [("plain", &plain), ("hidden", &hidden)] {
        let m = Matcher::new(&policy.keywords).unwrap();
        let (t, c) = (Instant::now(), cpu());
        let h = m.scan(&text);
        let (s, c) = (t.elapsed().as_secs_f64(), cpu() - c);
        println!(
            "{name:<7} {:>7.0} MB/s wall, {:>7.0} MB/s cpu, prefilter {}, hits {}",
            size / s,
            size / c,
            m.has_prefilter(),
            h.per_rule[0].count
        );
        counts.push(h);
    }
    assert_eq!(counts[0], counts[1], "hidden and plain disagree");
    let mut ht = HiddenTerms::default();
    for r in &hidden.keywords.rules {
        if let Some(h) = &r.hidden {
            ht.add(0, &h.salt, &h.terms);
        }
    }
    let hr = HiddenRaw::new(&hidden.keywords);
    let kib = |b: usize| b as f64 / 1024.0;
    for (name, policy) in [("plain", &plain), ("hidden", &hidden)] {
        let m = Matcher::new(&policy.keywords).unwrap();
        let r = RawSearcher::new(&policy.keywords);
        println!(
            "{name:<7} matcher {:>8.1} KiB text, {:>8.1} KiB raw bytes",
            kib(m.memory_usage()),
            kib(r.memory_usage())
        );
    }
    println!(
        "hidden: {} distinct term lengths (text), {} distinct byte-spelling lengths (raw)",
        ht.lengths(),
        hr.lengths()
    );
}
