//! The engine with the real per-file analysis, document parsers in worker
//! processes (this test binary, re-run as a worker).

use crate::{ScanOptions, Scanner};
use mijian_policy::Policy;
use mijian_report::{Finding, FindingKind};
use std::path::{Path, PathBuf};

/// Passed as `--skip MARKER` (a no-op filter) to tell a test-binary child
/// it is a worker, without touching this process's environment.
const WORKER_MARKER: &str = "mijian-engine-test-worker";

/// Entry point when this test binary runs as a scan worker; otherwise it
/// checks that a worker refuses to start on another policy digest.
#[test]
fn worker_entry() {
    if std::env::args().any(|a| a == WORKER_MARKER) {
        std::process::exit(super::worker_main());
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("a.zip"),
        std::fs::read(zip_dir().join("nested.zip")).unwrap(),
    )
    .unwrap();
    let mut opts = worker_opts();
    opts.threads = 1;
    // The worker reloads the built-in rules; a scanner with another digest
    // makes it refuse, and the engine falls back to in-process parsing:
    // the result is still right.
    let mut policy = Policy::example().unwrap();
    policy.digest = "0".repeat(64);
    let out = Scanner::new(&policy, opts)
        .unwrap()
        .scan(&[d.path().to_path_buf()]);
    assert!(
        find(&out.findings, "a.zip!/b.zip!/c.txt").is_some(),
        "{:?}",
        out.findings
    );
}

fn zip_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/formats/zip")
}

fn worker_opts() -> ScanOptions {
    ScanOptions {
        worker_exe: Some(std::env::current_exe().unwrap()),
        worker_args: [
            "--exact",
            "engine::tests::worker_entry",
            "--nocapture",
            "--test-threads=1",
            "--skip",
            WORKER_MARKER,
        ]
        .iter()
        .map(Into::into)
        .collect(),
        ..ScanOptions::default()
    }
}

fn find<'a>(findings: &'a [Finding], suffix: &str) -> Option<&'a Finding> {
    findings
        .iter()
        .find(|f| f.path.as_deref().is_some_and(|p| p.ends_with(suffix)))
}

#[test]
fn zip_fixtures_through_worker_processes() {
    let d = tempfile::tempdir().unwrap();
    for name in [
        "nested.zip",
        "overlap_bomb.zip",
        "encrypted_member.zip",
        "deep.zip",
        "bzip2_member.zip",
    ] {
        std::fs::copy(zip_dir().join(name), d.path().join(name)).unwrap();
    }
    let policy = Policy::example().unwrap();
    let mut opts = worker_opts();
    opts.threads = 1;
    opts.cache_path = Some(d.path().join("cache/scan.cache"));
    let scanner = Scanner::new(&policy, opts).unwrap();
    let roots = [d.path().to_path_buf()];
    let out = scanner.scan(&roots);
    let f = find(&out.findings, "nested.zip!/b.zip!/c.txt").expect("nested member found");
    assert_eq!(f.kind, FindingKind::UnmarkedClassified);
    assert!(find(&out.findings, "bzip2_member.zip!/notes.txt").is_some());
    let f = find(&out.findings, "overlap_bomb.zip").expect("bomb reported");
    assert_eq!(f.reason.as_deref(), Some("limit"));
    let f = find(&out.findings, "encrypted_member.zip!/secret.txt").expect("encrypted member");
    assert_eq!(f.reason.as_deref(), Some("encrypted"));
    assert!(
        out.findings.iter().any(
            |f| f.path.as_deref().is_some_and(|p| p.contains("deep.zip!/"))
                && f.reason.as_deref() == Some("limit")
        ),
        "{:?}",
        out.findings
    );
    // A second scan answers from the cache with the same findings.
    let again = scanner.scan(&roots);
    assert_eq!(again.findings, out.findings);
}

#[test]
fn non_utf8_names_are_reported_losslessly() {
    use std::os::unix::ffi::OsStrExt;
    let d = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"\xbb\xfa\xc3\xdc-\xd0\xfe\xc4\xf1.txt");
    std::fs::write(d.path().join(name), "关于玄鸟柒号的说明").unwrap();
    let policy = Policy::example().unwrap();
    let out = Scanner::new(&policy, ScanOptions::default())
        .unwrap()
        .scan(&[d.path().to_path_buf()]);
    assert_eq!(out.findings.len(), 1, "{:?}", out.findings);
    let f = &out.findings[0];
    assert!(
        f.path
            .as_deref()
            .unwrap()
            .ends_with("\\xBB\\xFA\\xC3\\xDC-\\xD0\\xFE\\xC4\\xF1.txt")
    );
    assert!(f.path_b64.is_some());
}
