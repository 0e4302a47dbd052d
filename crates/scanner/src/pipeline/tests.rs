use super::*;
use crate::worker::{Init, Rlimits, TEST_HOOKS_ENV, WireLimits};
use mijian_report::{FindingKind, Severity};
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

/// A stand-in for the real per-file analysis: "secret" anywhere in the
/// content is a finding; content starting with `DOC` or `MIJIAN-TEST` is a
/// "document" (worker material). Counts content reads.
#[derive(Default)]
struct Fake {
    reads: AtomicUsize,
}

impl Analyser for Fake {
    fn analyse(&self, path: &Path, data: &[u8], _ctx: &mut Ctx) -> FileResult {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let mut findings = Vec::new();
        if data.windows(6).any(|w| w == b"secret") {
            let mut f = Finding::new(FindingKind::UnmarkedClassified, Severity::High);
            f.path = Some(path.to_string_lossy().into_owned());
            f.message = Some(format!("pid {}", std::process::id()));
            findings.push(f);
        }
        FileResult {
            findings,
            files: 1,
            skipped: 0,
        }
    }
    fn analyse_reader(&self, path: &Path, r: &mut dyn Read, ctx: &mut Ctx) -> FileResult {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        self.analyse(path, &v, ctx)
    }
    fn is_plain_text(&self, head: &[u8]) -> bool {
        !head.starts_with(b"DOC") && !head.starts_with(b"MIJIAN-TEST")
    }
    fn unreadable(&self, path: &Path, reason: &str, message: String) -> Finding {
        let mut f = Finding::new(FindingKind::Unscannable, Severity::Medium);
        f.path = Some(path.to_string_lossy().into_owned());
        f.reason = Some(reason.to_string());
        f.message = Some(message);
        f
    }
}

const WORKER_ENV: &str = "MIJIAN_PIPELINE_TEST_WORKER";

/// When this test binary is started as a scan worker (by the worker tests
/// below), this is its entry point; in a normal run it checks that a
/// `FileResult` survives the wire format.
#[test]
fn worker_entry() {
    if std::env::var_os(WORKER_ENV).is_some() {
        std::process::exit(crate::worker::serve(|_| Ok(Box::new(Fake::default()))));
    }
    let mut f = Finding::new(FindingKind::Unscannable, Severity::Low);
    f.reason = Some("x".into());
    let r = FileResult {
        findings: vec![f],
        files: 3,
        skipped: 1,
    };
    let back: FileResult = serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
    assert_eq!(back, r);
}

fn worker_config(timeout: Duration) -> WorkerConfig {
    let limits = Limits {
        timeout,
        ..Limits::default()
    };
    WorkerConfig {
        exe: std::env::current_exe().unwrap(),
        args: [
            "--exact",
            "pipeline::tests::worker_entry",
            "--nocapture",
            "--test-threads=1",
        ]
        .iter()
        .map(Into::into)
        .collect(),
        env: vec![
            (WORKER_ENV.into(), "1".into()),
            (TEST_HOOKS_ENV.into(), "1".into()),
        ],
        init: Init {
            rules_dir: None,
            policy_digest: "test".into(),
            host_level: "非涉密".into(),
            limits: WireLimits::from(&limits),
            rlimits: Rlimits::default(),
        },
    }
}

fn by_name(out: &EngineOutcome, name: &str) -> Vec<Finding> {
    out.findings
        .iter()
        .filter(|f| f.path.as_deref().is_some_and(|p| p.ends_with(name)))
        .cloned()
        .collect()
}

#[test]
fn crashing_and_hanging_parsers_cost_one_file_each() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    std::fs::write(r.join("a.doc"), "DOC with a secret").unwrap();
    std::fs::write(r.join("abort.doc"), "MIJIAN-TEST-ABORT").unwrap();
    std::fs::write(r.join("stack.doc"), "MIJIAN-TEST-STACK").unwrap();
    std::fs::write(r.join("hang.doc"), "MIJIAN-TEST-HANG").unwrap();
    std::fs::write(r.join("z.doc"), "DOC another secret").unwrap();
    std::fs::write(r.join("plain.txt"), "plain secret").unwrap();
    let opts = EngineOptions {
        threads: 1,
        worker: Some(worker_config(Duration::from_millis(800))),
        ..EngineOptions::default()
    };
    let fake = Fake::default();
    let t0 = std::time::Instant::now();
    let out = run(&[r.to_path_buf()], &opts, &fake);
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    let reason = |name| by_name(&out, name).first().and_then(|f| f.reason.clone());
    assert_eq!(reason("abort.doc").as_deref(), Some("crash"));
    assert_eq!(reason("stack.doc").as_deref(), Some("crash"));
    assert_eq!(reason("hang.doc").as_deref(), Some("timeout"));
    // Documents were analysed in the worker process, text in-process.
    let me = format!("pid {}", std::process::id());
    for name in ["a.doc", "z.doc"] {
        let f = by_name(&out, name);
        assert_eq!(f.len(), 1, "{name}: {:?}", out.findings);
        assert_eq!(f[0].kind, FindingKind::UnmarkedClassified);
        assert_ne!(f[0].message.as_deref(), Some(me.as_str()));
    }
    let f = by_name(&out, "plain.txt");
    assert_eq!(f[0].message.as_deref(), Some(me.as_str()));
    assert_eq!(fake.reads.load(Ordering::SeqCst), 1);
    assert_eq!(out.files_scanned, 6);
}

#[test]
fn without_a_worker_documents_are_analysed_in_process() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.doc"), "DOC secret").unwrap();
    let fake = Fake::default();
    let out = run(&[d.path().to_path_buf()], &EngineOptions::default(), &fake);
    assert_eq!(out.findings.len(), 1);
    assert_eq!(fake.reads.load(Ordering::SeqCst), 1);
}

#[test]
fn a_missing_worker_executable_falls_back_in_process() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.doc"), "DOC secret").unwrap();
    let mut cfg = worker_config(Duration::from_secs(5));
    cfg.exe = d.path().join("no-such-worker");
    let opts = EngineOptions {
        worker: Some(cfg),
        ..EngineOptions::default()
    };
    let fake = Fake::default();
    let out = run(&[d.path().to_path_buf()], &opts, &fake);
    assert_eq!(out.findings.len(), 1);
    assert_eq!(out.findings[0].kind, FindingKind::UnmarkedClassified);
}

fn tree(n: usize) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for i in 0..n {
        let sub = d.path().join(format!("d{}", i % 7));
        std::fs::create_dir_all(&sub).unwrap();
        let body = if i % 5 == 0 {
            "a secret line"
        } else {
            "nothing"
        };
        std::fs::write(sub.join(format!("f{i}.txt")), body).unwrap();
    }
    d
}

#[test]
fn unchanged_tree_is_answered_from_the_cache_without_reading() {
    let d = tree(60);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache_file = cache_dir.path().join("scan.cache");
    let opts = |digest: &str| EngineOptions {
        cache: Some((cache_file.clone(), digest.to_string(), "非涉密".to_string())),
        ..EngineOptions::default()
    };
    let roots = [d.path().to_path_buf()];

    let fake = Fake::default();
    let first = run(&roots, &opts("p1"), &fake);
    assert_eq!(fake.reads.load(Ordering::SeqCst), 60);
    assert_eq!(first.findings.len(), 12);

    let fake = Fake::default();
    let second = run(&roots, &opts("p1"), &fake);
    assert_eq!(fake.reads.load(Ordering::SeqCst), 0, "no content read");
    assert_eq!(second.cache_hits, 60);
    assert_eq!(second.files_scanned, 60);
    assert_eq!(second.findings, first.findings);

    // A changed file (size and mtime) is read again, and only it.
    std::thread::sleep(Duration::from_millis(10));
    std::fs::write(d.path().join("d1/f1.txt"), "now a secret too").unwrap();
    let fake = Fake::default();
    let third = run(&roots, &opts("p1"), &fake);
    assert_eq!(fake.reads.load(Ordering::SeqCst), 1);
    assert_eq!(third.findings.len(), 13);

    // Same size, new mtime: read again.
    std::thread::sleep(Duration::from_millis(10));
    std::fs::write(d.path().join("d1/f1.txt"), "now a secret two").unwrap();
    let fake = Fake::default();
    run(&roots, &opts("p1"), &fake);
    assert_eq!(fake.reads.load(Ordering::SeqCst), 1);

    // Another policy: everything again.
    let fake = Fake::default();
    run(&roots, &opts("p2"), &fake);
    assert_eq!(fake.reads.load(Ordering::SeqCst), 60);

    // A corrupt cache file: everything again, same answer.
    let mut bytes = std::fs::read(&cache_file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&cache_file, &bytes).unwrap();
    let fake = Fake::default();
    let again = run(&roots, &opts("p2"), &fake);
    assert_eq!(fake.reads.load(Ordering::SeqCst), 60);
    assert_eq!(again.findings.len(), 13);
}

#[test]
fn transient_failures_are_not_cached() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("hang.doc"), "MIJIAN-TEST-HANG").unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        threads: 1,
        worker: Some(worker_config(Duration::from_millis(300))),
        cache: Some((cache_dir.path().join("c"), "p".into(), "l".into())),
        ..EngineOptions::default()
    };
    let fake = Fake::default();
    let out = run(&[d.path().to_path_buf()], &opts, &fake);
    assert_eq!(out.findings[0].reason.as_deref(), Some("timeout"));
    let out = run(&[d.path().to_path_buf()], &opts, &fake);
    assert_eq!(out.cache_hits, 0);
}

#[test]
fn big_plain_text_is_streamed_and_big_documents_hit_the_limit() {
    let d = tempfile::tempdir().unwrap();
    let mut big = vec![b'x'; (WHOLE_TEXT_BYTES + 10) as usize];
    big.extend_from_slice(b"secret");
    std::fs::write(d.path().join("big.txt"), &big).unwrap();
    let mut doc = b"DOC".to_vec();
    doc.resize(3000, b'y');
    std::fs::write(d.path().join("big.doc"), &doc).unwrap();
    let opts = EngineOptions {
        limits: Limits {
            max_file_bytes: 2000,
            ..Limits::default()
        },
        ..EngineOptions::default()
    };
    let out = run(&[d.path().to_path_buf()], &opts, &Fake::default());
    assert_eq!(
        by_name(&out, "big.txt")[0].kind,
        FindingKind::UnmarkedClassified
    );
    assert_eq!(by_name(&out, "big.doc")[0].reason.as_deref(), Some("limit"));
}

#[test]
fn a_file_swapped_for_a_fifo_is_not_opened() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("f");
    std::fs::write(&p, "x").unwrap();
    let meta = std::fs::symlink_metadata(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let stamp = FileStamp::of(&meta);
    let r = analyse_file(
        &p,
        &stamp,
        &EngineOptions::default(),
        &Fake::default(),
        None,
    );
    assert_eq!(r.findings[0].reason.as_deref(), Some("vanished"));
}

/// A tree where every file is a finding: the scan keeps `max_findings` of
/// them and counts the rest (bounded memory), never losing the count.
#[test]
fn findings_past_the_limit_are_counted_not_kept() {
    let d = tempfile::tempdir().unwrap();
    for i in 0..300 {
        std::fs::write(d.path().join(format!("n{i:03}.txt")), "plain secret").unwrap();
    }
    let opts = EngineOptions {
        threads: 2,
        limits: crate::extract::Limits {
            max_findings: 25,
            ..Default::default()
        },
        ..EngineOptions::default()
    };
    let out = run(&[d.path().to_path_buf()], &opts, &Fake::default());
    assert_eq!(out.findings.len(), 25);
    assert_eq!(out.omitted.total, 275);
    assert_eq!(out.omitted.counts.iter().map(|c| c.count).sum::<u64>(), 275);
    assert_eq!(out.files_scanned, 300);
}
