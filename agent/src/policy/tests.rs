//! Refusals and atomic apply of policy bundles (issue 13).

use super::*;
use mijian_policy::bundle::{Exception, Mode};
use mijian_report::{AgentKey, Finding, FindingKind, RuleMatch, Severity, Trigger};

/// Rule files as the collector bundles them: `Policy::read_files` of a
/// directory (which also carries the loader's defaults, e.g. software.toml).
fn rules(extra_term: &str) -> Vec<(String, Vec<u8>)> {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("keywords")).unwrap();
    std::fs::write(
        d.path().join("keywords/k.toml"),
        format!(
            "[[keyword]]\nid = \"code\"\nterms = [\"玄鸟柒号\", \"{extra_term}\"]\nseverity = \"high\"\n"
        ),
    )
    .unwrap();
    Policy::read_files(d.path()).unwrap()
}

fn signed(key: &AgentKey, version: u64, term: &str, exceptions: Vec<Exception>) -> Vec<u8> {
    Bundle::new(
        version,
        "2026-01-01T00:00:00Z".into(),
        &rules(term),
        exceptions,
        Mode::Plain,
    )
    .unwrap()
    .sign(key)
}

fn setup() -> (tempfile::TempDir, AgentKey) {
    let d = tempfile::tempdir().unwrap();
    let key = AgentKey::generate();
    pin(d.path(), &key.public_jwk()).unwrap();
    (d, key)
}

#[test]
fn applies_then_refuses_rollback_unknown_key_and_tampering() {
    let (d, key) = setup();
    assert_eq!(
        accept(d.path(), &signed(&key, 2, "甲", vec![])).unwrap(),
        Accepted::Applied {
            version: 2,
            from: None
        }
    );
    let p = load_applied(d.path()).unwrap().unwrap();
    assert_eq!(p.version, Some(2));
    assert_eq!(p.keywords.rules[0].terms[1], "甲");
    assert_eq!(
        accept(d.path(), &signed(&key, 2, "甲", vec![])).unwrap(),
        Accepted::Unchanged(2)
    );

    // An older version: rollback.
    let r = accept(d.path(), &signed(&key, 1, "乙", vec![])).unwrap_err();
    assert_eq!(r.reason, "policy_rollback");
    // Same version, other content.
    let r = accept(d.path(), &signed(&key, 2, "丙", vec![])).unwrap_err();
    assert_eq!(r.reason, "policy_version_conflict");
    // Another key.
    let other = AgentKey::generate();
    let r = accept(d.path(), &signed(&other, 9, "丁", vec![])).unwrap_err();
    assert_eq!(r.reason, "policy_unknown_key");
    assert_eq!(r.kid.as_deref(), Some(other.kid().as_str()));
    // Tampered: one byte of the payload changed.
    let mut jws: serde_json::Value =
        serde_json::from_slice(&signed(&key, 3, "戊", vec![])).unwrap();
    let payload = jws["payload"].as_str().unwrap().to_string();
    let mut bytes = payload.into_bytes();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    jws["payload"] = String::from_utf8(bytes).unwrap().into();
    let r = accept(d.path(), &serde_json::to_vec(&jws).unwrap()).unwrap_err();
    assert!(
        matches!(r.reason, "policy_tampered" | "policy_invalid"),
        "{r}"
    );
    // Garbage.
    assert_eq!(
        accept(d.path(), b"not a bundle").unwrap_err().reason,
        "policy_invalid"
    );

    // Nothing refused changed the policy in force.
    let p = load_applied(d.path()).unwrap().unwrap();
    assert_eq!(p.version, Some(2));
    assert_eq!(p.keywords.rules[0].terms[1], "甲");

    // A newer version several steps ahead applies in one go; old dirs go.
    assert_eq!(
        accept(d.path(), &signed(&key, 7, "己", vec![])).unwrap(),
        Accepted::Applied {
            version: 7,
            from: Some(2)
        }
    );
    assert!(!dir(d.path()).join("v2").exists());
    assert_eq!(load_applied(d.path()).unwrap().unwrap().version, Some(7));
}

#[test]
fn no_pinned_key_refuses() {
    let d = tempfile::tempdir().unwrap();
    let key = AgentKey::generate();
    let r = accept(d.path(), &signed(&key, 1, "甲", vec![])).unwrap_err();
    assert_eq!(r.reason, "policy_no_pinned_key");
    assert!(applied(d.path()).unwrap().is_none());
}

#[test]
fn refusals_of_apply_file_wait_for_the_next_report() {
    let (d, key) = setup();
    let f = d.path().join("b.jws");
    std::fs::write(&f, signed(&AgentKey::generate(), 1, "甲", vec![])).unwrap();
    assert_eq!(apply_file(d.path(), &f).unwrap(), 1);
    std::fs::write(&f, signed(&key, 1, "甲", vec![])).unwrap();
    assert_eq!(apply_file(d.path(), &f).unwrap(), 0);
    let alarms = take_alarms(d.path());
    assert_eq!(alarms.len(), 1);
    assert_eq!(alarms[0].kind, FindingKind::AgentAlarm);
    assert_eq!(alarms[0].reason.as_deref(), Some("policy_unknown_key"));
    assert!(take_alarms(d.path()).is_empty(), "taken once");
}

#[test]
fn exceptions_mark_findings_until_expiry_or_change() {
    let sha = "ab".repeat(32);
    let ex = |expires: &str| Exception {
        id: "ex-1".into(),
        sha256: sha.clone(),
        rule: "code".into(),
        expires: expires.into(),
        justification: "published brochure".into(),
        created_by: None,
    };
    let finding = |sha256: &str| {
        let mut f = Finding::new(FindingKind::UnmarkedClassified, Severity::High);
        f.path = Some("/home/a.txt".into());
        f.sha256 = Some(sha256.into());
        f.matches = vec![RuleMatch {
            rule: "code".into(),
            count: 2,
            first_offset: None,
        }];
        f
    };
    let mut policy = Policy::from_files(Path::new("<t>"), &rules("甲"), None).unwrap();
    policy.exceptions = vec![ex("2999-01-01T00:00:00Z")];
    let mut r = Report::new("a", 1, None, Trigger::Manual);
    r.findings = vec![finding(&sha), finding(&"cd".repeat(32))];
    apply_exceptions(&policy, &mut r);
    assert_eq!(r.findings.len(), 2, "never dropped");
    assert_eq!(r.findings[0].excepted.as_ref().unwrap()["id"], "ex-1");
    assert!(r.findings[1].excepted.is_none(), "the file changed");
    assert!(!r.compliant());
    r.findings.pop();
    assert!(r.compliant(), "an excepted finding does not count");
    // Expired.
    policy.exceptions = vec![ex("2000-01-01T00:00:00Z")];
    let mut r = Report::new("a", 1, None, Trigger::Manual);
    r.findings = vec![finding(&sha)];
    apply_exceptions(&policy, &mut r);
    assert!(r.findings[0].excepted.is_none());
}
