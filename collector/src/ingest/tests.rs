//! Ingest decisions over a real SQLite store.

use super::*;
use mijian_report::{
    AgentKey, Check, CheckStatus, Finding, FindingKind, Jws, Report, Severity, Trigger,
};

pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub store: Box<dyn Store>,
    pub key: AgentKey,
}

pub(crate) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store =
        mijian_store::open(&format!("sqlite:{}", dir.path().join("c.db").display())).unwrap();
    let key = AgentKey::generate();
    store
        .add_agent(
            &key.kid(),
            &serde_json::to_string(&key.public_jwk()).unwrap(),
            Some("ws"),
            1,
        )
        .unwrap();
    Fixture {
        _dir: dir,
        store,
        key,
    }
}

pub(crate) fn report(key: &AgentKey, seq: u64, prev: Option<String>) -> Report {
    let mut r = Report::new(&key.kid(), seq, prev, Trigger::Schedule);
    r.host.hostname = "ws-01".into();
    r.host.classification = "内部".into();
    r.policy.digest = sha256_hex(b"rules");
    r.checks
        .push(Check::new("password.min_length", "host", CheckStatus::Fail));
    let mut f = Finding::new(FindingKind::UnmarkedClassified, Severity::High);
    f.path = Some(format!("/home/a/{seq}.docx"));
    r.findings.push(f);
    r
}

fn sign(key: &AgentKey, r: &Report) -> Vec<u8> {
    Jws::sign(&r.to_payload(), key).to_json()
}

#[test]
fn chain_of_decisions() {
    let fx = fixture();
    let r1 = report(&fx.key, 1, None);
    let b1 = sign(&fx.key, &r1);
    assert_eq!(ingest(&*fx.store, &b1, 10).status(), 202);
    assert_eq!(ingest(&*fx.store, &b1, 11).status(), 200);
    // Kept compressed, given back byte for byte.
    let kept = fx.store.report_jws(&fx.key.kid(), 1).unwrap().unwrap();
    assert!(kept.starts_with(b"MJZ1"), "stored in the compact form");
    let back = crate::archive::signed_report(&*fx.store, &fx.key.kid(), 1, 1 << 20).unwrap();
    assert_eq!(back.as_deref(), Some(b1.as_slice()));
    let r2 = report(&fx.key, 2, Some(sha256_hex(&r1.to_payload())));
    assert_eq!(ingest(&*fx.store, &sign(&fx.key, &r2), 12).status(), 202);
    let forged = report(&fx.key, 2, Some(sha256_hex(&r1.to_payload())));
    let d = ingest(&*fx.store, &sign(&fx.key, &forged), 13);
    assert_eq!(d.status(), 409, "{d:?}");
    let bad_prev = report(&fx.key, 3, Some("0".repeat(64)));
    assert_eq!(
        ingest(&*fx.store, &sign(&fx.key, &bad_prev), 14).status(),
        409
    );
    let h = fx.store.host(&fx.key.kid()).unwrap().unwrap();
    assert_eq!(h.summary.latest_seq, Some(2));
    assert_eq!(h.summary.tamper_alerts, 2);
    assert_eq!(h.summary.open_findings, 1);
    assert_eq!(h.summary.failed_checks, 1);
}

#[test]
fn refusals_carry_their_reason() {
    let fx = fixture();
    let good = sign(&fx.key, &report(&fx.key, 1, None));
    let other = AgentKey::generate();
    let stranger = sign(&other, &report(&other, 1, None));
    let mut none: serde_json::Value = serde_json::from_slice(&good).unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    none["protected"] = b64
        .encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, fx.key.kid()))
        .into();
    let not_report = Jws::sign(br#"{"hello":"world"}"#, &fx.key).to_json();
    let wrong_agent = {
        let mut r = report(&fx.key, 1, None);
        r.agent_id = other.kid();
        sign(&fx.key, &r)
    };
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"not json".to_vec(), 400, "malformed_jws"),
        (
            br#"{"protected":"!!","payload":"a","signature":"b"}"#.to_vec(),
            400,
            "malformed_jws",
        ),
        (serde_json::to_vec(&none).unwrap(), 401, "bad_alg"),
        (stranger, 401, "unknown_key"),
        (not_report, 400, "invalid_report"),
        (wrong_agent, 400, "agent_id_mismatch"),
    ];
    for (bytes, status, reason) in cases {
        let d = ingest(&*fx.store, &bytes, 1);
        assert_eq!((d.status(), d.label()), (status, reason), "{d:?}");
    }
    fx.store.revoke_agent(&fx.key.kid(), 2).unwrap();
    let d = ingest(&*fx.store, &good, 3);
    assert_eq!((d.status(), d.label()), (401, "revoked_key"));
    assert_eq!(fx.store.stats().unwrap().reports, 0);
}

#[test]
fn fingerprints_follow_identity_not_severity() {
    let mut a = Finding::new(FindingKind::UnmarkedClassified, Severity::High);
    a.path = Some("/x".into());
    let mut b = a.clone();
    b.severity = Severity::Low;
    assert_eq!(fingerprint(&a), fingerprint(&b));
    b.path = Some("/y".into());
    assert_ne!(fingerprint(&a), fingerprint(&b));
}

#[test]
fn revocation_counts_even_when_the_key_is_cached() {
    let fx = fixture();
    let r1 = report(&fx.key, 1, None);
    assert_eq!(ingest(&*fx.store, &sign(&fx.key, &r1), 10).status(), 202);
    assert!(crate::keys::get(&fx.key.kid()).is_some(), "key is cached");
    assert!(fx.store.revoke_agent(&fx.key.kid(), 11).unwrap());
    let r2 = report(&fx.key, 2, Some(sha256_hex(&r1.to_payload())));
    let d = ingest(&*fx.store, &sign(&fx.key, &r2), 12);
    assert_eq!((d.status(), d.label()), (401, "revoked_key"));
    assert_eq!(fx.store.stats().unwrap().reports, 1);
}

/// A report shortened by the agent's bound (`truncated`) resolves no
/// finding it does not carry: the finding may be among those only counted.
#[test]
fn a_truncated_report_resolves_nothing_it_left_out() {
    let fx = fixture();
    let r1 = report(&fx.key, 1, None);
    assert_eq!(ingest(&*fx.store, &sign(&fx.key, &r1), 10).status(), 202);
    let mut r2 = report(&fx.key, 2, Some(sha256_hex(&r1.to_payload())));
    r2.trigger = Trigger::Boot;
    r2.scope = Some(mijian_report::Scope::full());
    r2.truncated = Some(mijian_report::Truncated {
        findings_total: 20_001,
        findings_kept: 1,
        omitted: vec![mijian_report::OmittedCount {
            kind: "unmarked_classified".into(),
            rule: None,
            count: 20_000,
            first_paths: vec!["/home/a/x.txt".into()],
        }],
        reason: "scan bound".into(),
    });
    assert_eq!(ingest(&*fx.store, &sign(&fx.key, &r2), 11).status(), 202);
    let h = fx.store.host(&fx.key.kid()).unwrap().unwrap();
    assert_eq!(h.summary.open_findings, 2, "1.docx must stay open");
    // The same full report, not shortened, does resolve it.
    let mut r3 = report(&fx.key, 3, Some(sha256_hex(&r2.to_payload())));
    r3.scope = Some(mijian_report::Scope::full());
    assert_eq!(ingest(&*fx.store, &sign(&fx.key, &r3), 12).status(), 202);
    let h = fx.store.host(&fx.key.kid()).unwrap().unwrap();
    assert_eq!(h.summary.open_findings, 1);
}
