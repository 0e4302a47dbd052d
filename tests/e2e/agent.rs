//! `mijian-agent check`, `key` and `verify` end to end (issue 2): the JSON
//! output matches the schema; a signed report verifies with an independent
//! JOSE implementation (Python jwcrypto) and one signed by it verifies with
//! `mijian-agent verify`; tampering is refused with a message that says
//! which; a kill during `check --sign` never breaks the chain.

use crate::util::{self, agent, run, stderr, stdout};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn host_fixture() -> PathBuf {
    util::fixtures().join("hosts/debian-gnome/root")
}

/// `check --root <fixture> --no-content --sign --out FILE`: returns the file.
fn signed_report(state: &Path, name: &str) -> PathBuf {
    let out = state.join(name);
    let o = run(agent(state)
        .args([
            "check",
            "--no-content",
            "--format",
            "json",
            "--sign",
            "--out",
        ])
        .arg(&out)
        .arg("--root")
        .arg(host_fixture())
        .arg("--rules")
        .arg(util::rules()));
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "check failed: {}",
        stderr(&o)
    );
    out
}

fn public_jwk(state: &Path) -> PathBuf {
    let o = run(agent(state).arg("key"));
    assert!(o.status.success(), "key failed: {}", stderr(&o));
    let jwk: Value = serde_json::from_slice(&o.stdout).expect("key prints JSON");
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert!(
        jwk.get("d").is_none(),
        "the private key must never be printed"
    );
    assert_eq!(jwk["kid"].as_str().map(str::len), Some(43));
    let p = state.join("agent.jwk");
    std::fs::write(&p, &o.stdout).expect("write jwk");
    p
}

/// The pinned jwcrypto the interop tests use when the system has none.
const JWCRYPTO: &str = "jwcrypto==1.6.1";

/// A Python interpreter that has jwcrypto: the system's `python3` if it
/// imports it, else a virtual environment under `target/e2e-venv` created on
/// first use with the pinned package from PyPI (issue 18: the README's test
/// command must pass on a fresh machine). `Err` holds the command that would
/// provide it, for a `skipped:` line, when that is impossible (no python3,
/// no venv module, no network).
fn jwcrypto_python() -> Result<PathBuf, String> {
    static PY: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    PY.get_or_init(|| {
        let imports = |py: &Path| {
            Command::new(py)
                .args(["-c", "import jwcrypto"])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let system = PathBuf::from("python3");
        if imports(&system) {
            return Ok(system);
        }
        let venv = util::workspace().join("target/e2e-venv");
        let py = venv.join("bin/python");
        let how = format!(
            "python3 -m venv {0} && {0}/bin/pip install {JWCRYPTO}",
            venv.display()
        );
        if imports(&py) {
            return Ok(py);
        }
        // Serialise concurrent first uses (tests run in parallel threads).
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _g = LOCK.lock();
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .is_ok_and(|o| o.status.success())
            && Command::new(&py)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    JWCRYPTO,
                ])
                .output()
                .is_ok_and(|o| o.status.success());
        if made && imports(&py) {
            Ok(py)
        } else {
            Err(how)
        }
    })
    .clone()
}

/// Run the interop script, or `None` after printing `skipped: …` with the
/// command that would enable it.
fn python(args: &[&str]) -> Option<std::process::Output> {
    let script = util::workspace().join("tests/e2e/py/jose_interop.py");
    match jwcrypto_python() {
        Ok(py) => Some(run(Command::new(py).arg(script).args(args))),
        Err(how) => {
            eprintln!(
                "skipped: Python jwcrypto is not available and could not be installed (run: {how})"
            );
            None
        }
    }
}

fn verify(state: &Path, file: &Path, jwk: &Path) -> std::process::Output {
    run(agent(state).arg("verify").arg(file).arg("--jwk").arg(jwk))
}

#[test]
fn check_json_matches_schema_on_a_fixture_and_on_this_host() {
    let d = tempfile::tempdir().expect("tempdir");
    let o = run(agent(d.path())
        .args(["check", "--no-content", "--format", "json", "--root"])
        .arg(host_fixture()));
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("check prints one JSON document");
    util::assert_schema_valid(&v);
    assert_eq!(v["checks"].as_array().map(|a| a.is_empty()), Some(false));
    // The exit status follows the verdict.
    let failing = v["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["status"] != "pass" && c["status"] != "not_applicable");
    assert_eq!(o.status.code() == Some(1), failing);

    let o = run(agent(d.path()).args(["check", "--format", "json"]));
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    util::assert_schema_valid(&v);
}

#[test]
fn table_ends_with_a_verdict_in_the_locale_language() {
    let d = tempfile::tempdir().expect("tempdir");
    for (lang, verdict) in [("C", "Verdict: "), ("zh_CN.UTF-8", "结论：")] {
        let o = run(agent(d.path())
            .env("LANG", lang)
            .args(["check", "--no-content", "--format", "table", "--root"])
            .arg(host_fixture()));
        let out = stdout(&o);
        let last = out.lines().last().unwrap_or_default();
        assert!(last.starts_with(verdict), "{lang}: last line {last:?}");
    }
}

#[test]
fn agent_signature_verifies_with_jwcrypto() {
    let d = tempfile::tempdir().expect("tempdir");
    let file = signed_report(d.path(), "r1.jws");
    let jwk = public_jwk(d.path());
    let Some(o) = python(&[
        "verify",
        file.to_str().expect("utf-8"),
        jwk.to_str().expect("utf-8"),
    ]) else {
        return;
    };
    assert!(
        o.status.success(),
        "jwcrypto refused our JWS: {}",
        stderr(&o)
    );
    let payload: Value = serde_json::from_slice(&o.stdout).expect("payload JSON");
    util::assert_schema_valid(&payload);
    // And our own verify agrees, printing the same payload.
    let ours = verify(d.path(), &file, &jwk);
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert_eq!(ours.stdout.trim_ascii_end(), o.stdout.trim_ascii_end());
}

#[test]
fn jwcrypto_signature_verifies_with_the_agent() {
    let d = tempfile::tempdir().expect("tempdir");
    let o = run(agent(d.path())
        .args(["check", "--no-content", "--format", "json", "--root"])
        .arg(host_fixture()));
    let payload = d.path().join("payload.json");
    std::fs::write(&payload, &o.stdout).expect("write payload");
    let jws = d.path().join("py.jws");
    let jwk = d.path().join("py.jwk");
    let Some(p) = python(&[
        "sign",
        payload.to_str().expect("utf-8"),
        jws.to_str().expect("utf-8"),
        jwk.to_str().expect("utf-8"),
    ]) else {
        return;
    };
    assert!(p.status.success(), "jwcrypto sign: {}", stderr(&p));
    let ours = verify(d.path(), &jws, &jwk);
    assert!(
        ours.status.success(),
        "agent refused a jwcrypto JWS: {}",
        stderr(&ours)
    );
    assert_eq!(ours.stdout.trim_ascii_end(), p.stdout.trim_ascii_end());
    // Our own key is not the signer: verifying without --jwk must fail and say so.
    let o = run(agent(d.path()).arg("verify").arg(&jws));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not by the given key"),
        "{}",
        stderr(&o)
    );
}

/// Each tampering is refused (exit 1) with a message naming the problem.
#[test]
fn tampered_reports_are_refused_with_the_reason() {
    let d = tempfile::tempdir().expect("tempdir");
    let file = signed_report(d.path(), "r.jws");
    let jwk = public_jwk(d.path());
    let original: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("JWS members");
    let header: Value =
        serde_json::from_slice(&B64.decode(&original["protected"]).expect("b64")).expect("json");

    let with = |member: &str, value: String| {
        let mut m = original.clone();
        m.insert(member.to_string(), value);
        serde_json::to_vec(&m).expect("json")
    };
    let flip = |s: &str| {
        let mut raw = B64.decode(s).expect("b64");
        let i = raw.len() / 2;
        raw[i] ^= 0x01;
        B64.encode(raw)
    };
    let header_with = |alg: &str, kid: &str| {
        let mut h = header.clone();
        h["alg"] = Value::from(alg);
        h["kid"] = Value::from(kid);
        B64.encode(serde_json::to_vec(&h).expect("json"))
    };
    let kid = header["kid"].as_str().expect("kid").to_string();
    let other = tempfile::tempdir().expect("tempdir");
    let other_jwk = public_jwk(other.path());
    let bytes = std::fs::read(&file).expect("read");

    // Each case: what was done, the file, the key, and the messages that
    // correctly name the problem (a flipped header byte may land in `alg`,
    // `kid` or the JSON syntax, so several are right there).
    let cases: Vec<(&str, Vec<u8>, &Path, &[&str])> = vec![
        (
            "payload byte flipped",
            with("payload", flip(&original["payload"])),
            &jwk,
            &["signature does not verify"][..],
        ),
        (
            "header byte flipped",
            with("protected", flip(&original["protected"])),
            &jwk,
            &[
                "protected header",
                "not by the given key",
                "signature does not verify",
                "base64url",
            ][..],
        ),
        (
            "alg none",
            with("protected", header_with("none", &kid)),
            &jwk,
            &["`alg` is `none`"][..],
        ),
        (
            "alg HS256",
            with("protected", header_with("HS256", &kid)),
            &jwk,
            &["`alg` is `HS256`"][..],
        ),
        (
            "another key's kid",
            with(
                "protected",
                header_with("EdDSA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            ),
            &jwk,
            &["not by the given key"][..],
        ),
        (
            "verified with another key",
            bytes.clone(),
            &other_jwk,
            &["not by the given key"][..],
        ),
        (
            "truncated file",
            bytes[..bytes.len() / 2].to_vec(),
            &jwk,
            &["truncated"][..],
        ),
        (
            "signature truncated",
            with("signature", original["signature"][..40].to_string()),
            &jwk,
            &["signature is not 64 bytes"][..],
        ),
    ];
    for (name, content, key, expect) in cases {
        let f = d.path().join("tampered.jws");
        std::fs::write(&f, content).expect("write");
        let o = verify(d.path(), &f, key);
        assert_eq!(o.status.code(), Some(1), "{name}: must be invalid");
        assert!(
            expect.iter().any(|e| stderr(&o).contains(e)),
            "{name}: message should say one of {expect:?}, got {}",
            stderr(&o)
        );
        assert!(
            o.stdout.is_empty(),
            "{name}: nothing may be printed as payload"
        );
        // The independent implementation agrees that it is invalid.
        if let Some(p) = python(&[
            "verify",
            f.to_str().expect("utf-8"),
            key.to_str().expect("utf-8"),
        ]) {
            assert!(!p.status.success(), "{name}: jwcrypto accepted it");
        }
    }
}

/// Kill `check --sign` at random instants; every report that was written,
/// and the next one, must form one chain: distinct seqs, each `prev` the hash
/// of its predecessor's payload.
#[test]
fn killing_check_sign_never_forks_the_chain() {
    let d = tempfile::tempdir().expect("tempdir");
    let state = d.path();
    // Create the key first so kills exercise sealing, not key creation only.
    public_jwk(state);
    let mut written = Vec::new();
    for i in 0..24u64 {
        let out = state.join(format!("k{i}.jws"));
        let mut child = agent(state)
            .args([
                "check",
                "--no-content",
                "--format",
                "json",
                "--sign",
                "--out",
            ])
            .arg(&out)
            .arg("--root")
            .arg(host_fixture())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        // Spread the kill over the run (a run takes tens of ms).
        std::thread::sleep(std::time::Duration::from_micros((i * 2_500) % 40_000));
        let _ = child.kill();
        let _ = child.wait();
        if out.exists() {
            written.push(out);
        }
    }
    written.push(signed_report(state, "final.jws"));
    let jwk = public_jwk(state);
    let mut by_seq: BTreeMap<u64, (Value, Vec<u8>)> = BTreeMap::new();
    for f in &written {
        let o = verify(state, f, &jwk);
        assert!(o.status.success(), "{}: {}", f.display(), stderr(&o));
        let payload = o.stdout.trim_ascii_end().to_vec();
        let v: Value = serde_json::from_slice(&payload).expect("json");
        let seq = v["seq"].as_u64().expect("seq");
        assert!(
            by_seq.insert(seq, (v, payload)).is_none(),
            "two reports carry seq {seq}: the chain forked"
        );
    }
    let last = *by_seq.keys().last().expect("at least the final report");
    let final_v: Value =
        serde_json::from_slice(&verify(state, written.last().expect("final"), &jwk).stdout)
            .expect("json");
    assert_eq!(
        final_v["seq"].as_u64(),
        Some(last),
        "the final report continues the chain"
    );
    for (seq, (v, _)) in &by_seq {
        if let Some((_, prev_payload)) = by_seq.get(&(seq - 1)) {
            assert_eq!(
                v["prev"].as_str(),
                Some(mijian_report::sha256_hex(prev_payload).as_str()),
                "seq {seq} does not link to seq {}",
                seq - 1
            );
        }
    }
}

#[test]
fn exit_status_two_when_it_cannot_run() {
    let d = tempfile::tempdir().expect("tempdir");
    let bad = d.path().join("rules");
    std::fs::create_dir_all(bad.join("keywords")).expect("mkdir");
    std::fs::write(
        bad.join("keywords/x.toml"),
        "[[keyword]]\nid = \"a\"\nseverity = \"high\"\n",
    )
    .expect("write");
    let o = run(agent(d.path())
        .args(["check", "--no-content", "--rules"])
        .arg(&bad));
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("x.toml:1:") && e.contains("terms"), "{e}");
    let o = run(agent(d.path()).args(["check", "--root", "/nonexistent/dir"]));
    assert_eq!(o.status.code(), Some(2));
}

// ---- issue 18: what an officer reads at the workstation ----

/// A copy of a fixture host tree, to add files to.
fn host_copy(name: &str, into: &Path) -> PathBuf {
    let root = into.join("root");
    let st = Command::new("cp")
        .arg("-a")
        .arg(util::fixtures().join("hosts").join(name).join("root"))
        .arg(&root)
        .status()
        .expect("cp");
    assert!(st.success());
    root
}

fn table(state: &Path, envs: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String, String) {
    let mut c = agent(state);
    c.env_remove("LC_MESSAGES").env_remove("LANGUAGE");
    for (k, v) in envs {
        c.env(k, v);
    }
    let o = run(c.args(args));
    (o.status.code(), stdout(&o), stderr(&o))
}

#[test]
fn check_table_gives_reasons_remedies_and_words_grouped_by_category() {
    let d = tempfile::tempdir().expect("tempdir");
    let root = util::fixtures().join("hosts/broken-pwquality/root");
    let root = root.to_str().expect("utf-8");
    let args = ["check", "--no-content", "--format", "table", "--root", root];
    let (code, out, err) = table(d.path(), &[("COLUMNS", "300")], &args);
    assert_eq!(code, Some(1), "{err}");
    // error rows: the reason, with file and line, not only in the JSON.
    assert!(
        out.contains(
            "reason: /etc/security/pwquality.conf:1: `minlen` needs an integer value, not `twelve`"
        ),
        "{out}"
    );
    // every FAIL row carries a remedy.
    for line in out.lines().filter(|l| l.contains(" FAIL ")) {
        assert!(line.contains("remedy: "), "no remedy: {line}");
    }
    // values in words, never JSON.
    assert!(out.contains("KDE: 15 min 30 s"), "{out}");
    assert!(!out.contains("{\""), "{out}");
    assert!(out.contains("■ System security (系统安全)"), "{out}");
    // WHERE is never cut on a wide terminal.
    assert!(out.contains("/home/bob/.config/kscreenlockerrc:3"), "{out}");
    // Wrapped, not cut, when narrow.
    let (_, narrow, _) = table(d.path(), &[("COLUMNS", "80")], &args);
    for l in narrow.lines().filter(|l| l.starts_with('│')) {
        assert!(l.chars().count() <= 80, "{l}");
    }
    // Wrapped onto more lines, never cut with an ellipsis.
    assert!(narrow.lines().count() > out.lines().count(), "{narrow}");
    assert!(!narrow.contains('…') && !out.contains('…'), "{narrow}");
    // Narrow: checks as blocks, with the same reason and places as the table.
    assert!(narrow.contains("reason: "), "{narrow}");
    assert!(
        narrow.contains("/home/bob/.config/kscreenlockerrc:3"),
        "{narrow}"
    );
}

#[test]
fn check_table_is_all_chinese_under_a_chinese_locale_and_all_english_otherwise() {
    let d = tempfile::tempdir().expect("tempdir");
    let root = util::fixtures().join("hosts/broken-pwquality/root");
    let root = root.to_str().expect("utf-8");
    let args = ["check", "--no-content", "--format", "table", "--root", root];
    for env in [
        vec![("LANG", "zh_CN.UTF-8")],
        vec![("LANG", "C"), ("LC_ALL", "zh_CN.UTF-8")],
        vec![("LANG", "C"), ("LC_MESSAGES", "zh_CN.UTF-8")],
    ] {
        let (_, out, _) = table(d.path(), &env, &args);
        for w in [
            "■ 系统安全",
            "无法判定",
            "原因：",
            "处理：",
            "KDE：15 分 30 秒",
            "结论：不合规",
            "内容扫描：未进行",
            "口令最小长度",
            "用户 bob",
            "注意：移动存储介质",
        ] {
            assert!(out.contains(w), "{env:?}: {w} missing:\n{out}");
        }
        for w in [
            "FAIL",
            "ERROR",
            "remedy",
            "reason",
            "Verdict",
            "never expires",
            "min ",
            "yes",
            "note:",
        ] {
            assert!(!out.contains(w), "{env:?}: English {w:?} in:\n{out}");
        }
    }
    let (_, out, _) = table(d.path(), &[("LANG", "en_US.UTF-8")], &args);
    assert!(out.contains("Verdict: NON-COMPLIANT"), "{out}");
    assert!(!out.contains("结论") && !out.contains("处理："), "{out}");
}

#[test]
fn check_and_check_no_content_do_not_print_the_same_summary() {
    let d = tempfile::tempdir().expect("tempdir");
    let home = d.path().join("home");
    std::fs::create_dir_all(&home).expect("mkdir");
    std::fs::write(home.join("a.txt"), "普通文本\n").expect("write");
    std::fs::write(home.join("b.txt"), "more text\n").expect("write");
    util::write_config(
        d.path(),
        &format!("[content]\npaths = [{:?}]\n", home.display().to_string()),
    );
    let cfg = d.path().join("agent.toml");
    let run_table = |extra: &[&str]| {
        let mut c = Command::new(util::bin("mijian-agent"));
        c.env("MIJIAN_CONFIG", &cfg)
            .env("LANG", "C")
            .env_remove("LC_ALL");
        let o = run(c
            .args(["check", "--format", "table", "--rules"])
            .arg(util::rules())
            .args(extra));
        stdout(&o)
    };
    let full = run_table(&[]);
    let none = run_table(&["--no-content"]);
    let summary = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with("Content scan:") || l.starts_with("Verdict:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_ne!(summary(&full), summary(&none));
    assert!(full.contains("Content scan: 2 files"), "{full}");
    assert!(none.contains("Content scan: not run"), "{none}");
}

#[test]
fn scan_json_validates_against_the_schema_and_reports_coverage() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path().join("docs");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("m.txt"), "机密★5年\n关于测试的报告\n").expect("write");
    std::fs::write(dir.join("plain.txt"), "nothing here\n").expect("write");
    std::fs::write(dir.join("bin.dat"), [0u8, 1, 2, 3, 0, 0, 0, 9]).expect("write");
    let o = run(agent(d.path())
        .args(["scan", "--format", "json", "--rules"])
        .arg(util::rules())
        .arg(&dir));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // Not a terminal: no progress on stderr.
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    util::assert_schema_valid(&v);
    assert_eq!(v["agent_id"].as_str().map(str::len), Some(43), "{v}");
    let c = &v["coverage"];
    assert_eq!(c["files"], 3, "{c}");
    let bytes: u64 = ["m.txt", "plain.txt", "bin.dat"]
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).expect("stat").len())
        .sum();
    assert_eq!(c["bytes"], bytes, "{c}");
    assert_eq!(c["unreadable"], 0, "{c}");
    assert!(c["duration_ms"].is_u64(), "{c}");
}

#[test]
fn control_characters_in_file_names_are_escaped_in_the_table() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path().join("docs");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let name = "x\u{1b}[2J\r\u{7f}gpj\u{202e}.txt";
    std::fs::write(dir.join(name), "机密★5年\n关于测试的报告\n").expect("write");
    for lang in ["C", "zh_CN.UTF-8"] {
        let o = run(agent(d.path())
            .env("LANG", lang)
            .args(["scan", "--format", "table", "--rules"])
            .arg(util::rules())
            .arg(&dir));
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let out = stdout(&o);
        for bad in ['\u{1b}', '\r', '\u{7f}', '\u{202e}'] {
            assert!(!out.contains(bad), "{lang}: raw {bad:?} in {out:?}");
        }
        assert!(out.contains("x\\x1b[2J\\r\\x7fgpj\\u{202e}.txt"), "{out}");
    }
}

#[test]
fn verify_never_creates_a_key_and_a_missing_file_is_exit_two() {
    let d = tempfile::tempdir().expect("tempdir");
    let state = d.path().join("state");
    let o = run(agent(d.path()).args(["verify", "/nonexistent/report.jws"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(agent(d.path())
        .env("LANG", "zh_CN.UTF-8")
        .args(["verify", "/nonexistent/report.jws"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("无法读取报告文件"), "{}", stderr(&o));
    // A real report from another agent, and no key here: a clear error.
    let other = tempfile::tempdir().expect("tempdir");
    let file = signed_report(other.path(), "r.jws");
    let o = run(agent(d.path()).arg("verify").arg(&file));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--jwk"), "{}", stderr(&o));
    assert!(
        !state.join("agent-key.jwk").exists(),
        "verify created an agent key"
    );
}

#[test]
fn check_root_findings_show_the_path_on_the_inspected_system() {
    let d = tempfile::tempdir().expect("tempdir");
    let root = host_copy("debian-gnome", d.path());
    let doc = root.join("home/alice/报告.txt");
    std::fs::create_dir_all(doc.parent().expect("parent")).expect("mkdir");
    std::fs::write(&doc, "机密★5年\n关于测试的报告\n").expect("write");
    util::write_config(d.path(), "[content]\npaths = [\"/home\"]\n");
    let o = run(agent(d.path())
        .args(["check", "--format", "json", "--rules"])
        .arg(util::rules())
        .arg("--root")
        .arg(&root));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    util::assert_schema_valid(&v);
    let f = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["kind"] == "marked_classified")
        .unwrap_or_else(|| panic!("no finding: {v}"));
    assert_eq!(f["path"], "/home/alice/报告.txt", "{f}");
    assert_eq!(f["scan_path"], doc.to_str().expect("utf-8"), "{f}");
}

#[test]
fn every_option_has_help_and_man_pages_and_completions_are_generated() {
    let d = tempfile::tempdir().expect("tempdir");
    for sub in ["check", "scan", "run", "enroll", "export", "key", "verify"] {
        let o = run(agent(d.path()).args([sub, "--help"]));
        assert!(o.status.success(), "{sub}");
        let text = stdout(&o);
        let mut lines = text.lines().peekable();
        while let Some(l) = lines.next() {
            let t = l.trim_start();
            if t.starts_with("--") || t.starts_with("-h") || t.starts_with('<') {
                // ripgrep style: the option on one line, its description below.
                let next = lines.peek().map(|n| n.trim()).unwrap_or("");
                assert!(!next.is_empty(), "{sub}: `{t}` has no description:\n{text}");
            }
        }
        assert!(
            text.contains("Default") || sub == "key",
            "{sub}: no default named:\n{text}"
        );
    }
    let man = d.path().join("man");
    let o = run(agent(d.path()).arg("__man").arg(&man));
    assert!(o.status.success(), "{}", stderr(&o));
    for page in [
        "mijian-agent.1",
        "mijian-agent-check.1",
        "mijian-agent-verify.1",
    ] {
        let text = std::fs::read_to_string(man.join(page)).expect(page);
        assert!(text.contains(".TH"), "{page}");
    }
    let check = std::fs::read_to_string(man.join("mijian-agent-check.1")).expect("page");
    assert!(check.contains("no\\-content"), "{check}");
    let o = run(agent(d.path()).args(["__completions", "bash"]));
    assert!(o.status.success());
    assert!(stdout(&o).contains("--no-content"), "{}", stdout(&o));
    // The hidden commands stay out of the help.
    let o = run(agent(d.path()).arg("--help"));
    assert!(!stdout(&o).contains("__man"), "{}", stdout(&o));
}
