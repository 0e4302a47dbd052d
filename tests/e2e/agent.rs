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

fn python(args: &[&str]) -> std::process::Output {
    let script = util::workspace().join("tests/e2e/py/jose_interop.py");
    run(Command::new("python3").arg(script).args(args))
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
    let o = python(&[
        "verify",
        file.to_str().expect("utf-8"),
        jwk.to_str().expect("utf-8"),
    ]);
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
    let p = python(&[
        "sign",
        payload.to_str().expect("utf-8"),
        jws.to_str().expect("utf-8"),
        jwk.to_str().expect("utf-8"),
    ]);
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
        let p = python(&[
            "verify",
            f.to_str().expect("utf-8"),
            key.to_str().expect("utf-8"),
        ]);
        assert!(!p.status.success(), "{name}: jwcrypto accepted it");
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
