//! A minimal scan driver for benchmarks and manual testing of the engine
//! (`bench/scan/run.sh`), independent of the agent's CLI:
//!
//! `scan [--rules DIR] [--hidden] [--cache FILE] [--threads N] [--in-process] PATH...`
//!
//! `--hidden`: hide the keyword terms first (issue 13, as `mijian-collector
//! policy import --hidden` does, with a fixed salt), to compare the cost of
//! hidden matching with plain matching on the same corpus
//! (`bench/scan/run.sh hidden`); the summary then also gives the compiled
//! matchers' memory.
//!
//! Prints the findings as JSON lines on stdout and a summary on stderr; exit
//! 0 no finding, 1 findings, 2 error. Document parsers run in worker
//! processes (this same binary, `scan __scan-worker`) unless `--in-process`.

use mijian_policy::Policy;
use mijian_scanner::{ScanOptions, Scanner};
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__scan-worker") {
        std::process::exit(mijian_scanner::worker::main());
    }
    std::process::exit(match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("scan: {e}");
            2
        }
    });
}

fn run(args: Vec<String>) -> Result<i32, String> {
    let mut rules = None;
    let mut opts = ScanOptions::default();
    let mut in_process = false;
    let mut hidden = false;
    let mut paths = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rules" => rules = Some(PathBuf::from(it.next().ok_or("--rules needs DIR")?)),
            "--cache" => {
                opts.cache_path = Some(PathBuf::from(it.next().ok_or("--cache needs FILE")?))
            }
            "--threads" => {
                opts.threads = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--threads needs a number")?
            }
            "--in-process" => in_process = true,
            "--hidden" => hidden = true,
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() {
        return Err(
            "usage: scan [--rules DIR] [--hidden] [--cache FILE] [--threads N] [--in-process] PATH..."
                .into(),
        );
    }
    let mut files = match &rules {
        Some(d) => Policy::read_files(d).map_err(|e| e.to_string())?,
        None => Policy::example_files(),
    };
    if hidden {
        let (h, warnings) = mijian_policy::bundle::hide(
            &files,
            &[0x5a; mijian_policy::hashed::SALT_BYTES],
            &mijian_scanner::normalise::normalise,
            &mijian_scanner::raw::byte_spellings,
        )
        .map_err(|e| e.to_string())?;
        for w in warnings {
            eprintln!("scan: warning: {w}");
        }
        files = h;
    }
    let origin = rules.clone().unwrap_or_else(|| PathBuf::from("<built-in>"));
    let policy = Policy::from_files(&origin, &files, rules.clone()).map_err(|e| e.to_string())?;
    {
        let m =
            mijian_scanner::matcher::Matcher::new(&policy.keywords).map_err(|e| e.to_string())?;
        let r = mijian_scanner::raw::RawSearcher::new(&policy.keywords);
        eprintln!(
            "scan: {} keyword matching, matcher {:.1} KiB (text {:.1} KiB, raw bytes {:.1} KiB)",
            if hidden { "hidden" } else { "plain" },
            (m.memory_usage() + r.memory_usage()) as f64 / 1024.0,
            m.memory_usage() as f64 / 1024.0,
            r.memory_usage() as f64 / 1024.0
        );
    }
    if !in_process {
        opts.worker_exe = Some(std::env::current_exe().map_err(|e| e.to_string())?);
        opts.worker_args = vec!["__scan-worker".into()];
    }
    let t0 = Instant::now();
    let scanner = Scanner::new(&policy, opts).map_err(|e| e.to_string())?;
    let out = scanner.scan(&paths);
    for f in &out.findings {
        println!("{}", serde_json::to_string(f).map_err(|e| e.to_string())?);
    }
    eprintln!(
        "scan: {} files, {} findings in {:.2}s",
        out.files_scanned,
        out.findings.len(),
        t0.elapsed().as_secs_f64()
    );
    if out.omitted.total > 0 {
        eprintln!(
            "scan: {} more findings counted, not kept (the scan keeps the most severe {})",
            out.omitted.total,
            out.findings.len()
        );
    }
    Ok(if out.findings.is_empty() { 0 } else { 1 })
}
