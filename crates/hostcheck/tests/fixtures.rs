//! Every host fixture under `fixtures/hosts/<case>/root` against its
//! `expected.json`: exactly one result per (check id, subject), with the
//! expected status. `UPDATE_EXPECT=1` rewrites the files (review the diff).

use mijian_hostcheck::{Root, check_host};
use mijian_policy::Baseline;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn hosts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hosts")
}

#[test]
fn every_fixture_case_matches_expected() {
    let t = Baseline::default().thresholds(Default::default());
    let mut cases: Vec<PathBuf> = std::fs::read_dir(hosts())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("root").is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 8, "fixture cases missing: {cases:?}");
    let mut failures = Vec::new();
    for case in &cases {
        let out = check_host(&Root::at(case.join("root")), &t);
        let mut seen = BTreeSet::new();
        for c in &out.checks {
            assert!(
                seen.insert((c.id.clone(), c.subject.clone())),
                "{}: two results for ({}, {})",
                case.display(),
                c.id,
                c.subject
            );
            if matches!(
                c.status,
                mijian_report::CheckStatus::Fail | mijian_report::CheckStatus::Error
            ) {
                assert!(
                    c.remedy.is_some(),
                    "{}: {} {} has no remedy",
                    case.display(),
                    c.id,
                    c.subject
                );
            }
            assert!(
                c.evidence.is_some(),
                "{}: {} {} has no evidence",
                case.display(),
                c.id,
                c.subject
            );
        }
        let got: Vec<Value> = out
            .checks
            .iter()
            .map(|c| json!({"id": c.id, "subject": c.subject, "status": c.status.as_str()}))
            .collect();
        let file = case.join("expected.json");
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&file, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
            let detail: Vec<Value> = out
                .checks
                .iter()
                .map(|c| serde_json::to_value(c).unwrap())
                .collect();
            std::fs::write(
                case.join("actual-detail.json"),
                serde_json::to_string_pretty(&detail).unwrap(),
            )
            .unwrap();
            continue;
        }
        let want: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let key = |v: &Value| format!("{} {} {}", v["id"], v["subject"], v["status"]);
        let mut w: Vec<String> = want.iter().map(key).collect();
        let mut g: Vec<String> = got.iter().map(key).collect();
        w.sort();
        g.sort();
        if w != g {
            failures.push(format!("{}:\n  want {w:#?}\n  got {g:#?}", case.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The live host (this machine): one result per pair, never a panic. Run
/// as root in CI; as an ordinary user the shadow-based results are `error`
/// with "permission denied: run as root" and a note says so.
#[test]
fn live_host_gives_one_result_per_pair() {
    let t = Baseline::default().thresholds(Default::default());
    let out = check_host(&Root::live(), &t);
    let mut seen = BTreeSet::new();
    for c in &out.checks {
        assert!(
            seen.insert((c.id.clone(), c.subject.clone())),
            "duplicate {} {}",
            c.id,
            c.subject
        );
    }
    for id in [
        "password.min_length",
        "password.complexity",
        "password.max_age",
        "login.autologin",
    ] {
        assert!(
            seen.contains(&(id.to_string(), "host".to_string())),
            "{id} host missing"
        );
    }
    assert!(seen.contains(&(
        "account.empty_password".to_string(),
        "user:root".to_string()
    )));
}

/// Paths outside the root are never read: a fixture whose symlinks point at
/// absolute paths that exist on every machine (`/etc/authselect/...` does
/// not, `/etc/passwd` does) only sees files inside it.
#[test]
fn rhel_symlinks_resolve_inside_the_root() {
    let t = Baseline::default().thresholds(Default::default());
    let out = check_host(&Root::at(hosts().join("rhel-authselect/root")), &t);
    let c = out
        .checks
        .iter()
        .find(|c| c.id == "password.min_length")
        .unwrap();
    let ev = c.evidence.as_ref().unwrap().to_string();
    assert!(
        ev.contains("/etc/pam.d/password-auth -> /etc/authselect/password-auth"),
        "{ev}"
    );
    assert_eq!(c.actual, Some(json!(9)));
}
