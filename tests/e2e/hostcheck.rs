//! `mijian-agent check --root fixtures/hosts/<case>/root --format json
//! --no-content` on every host fixture: exactly one result per (check,
//! subject), with the statuses of the case's `expected.json` (issue 4).

use crate::util;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[test]
fn check_root_on_every_host_fixture() {
    let hosts = util::fixtures().join("hosts");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&hosts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("root").is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    let state = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for case in &cases {
        let out = util::agent(state.path())
            .arg("check")
            .arg("--root")
            .arg(case.join("root"))
            .arg("--rules")
            .arg(util::rules())
            .args(["--format", "json", "--no-content"])
            .output()
            .unwrap();
        let code = out.status.code();
        assert!(
            code == Some(0) || code == Some(1),
            "{}: exit {code:?}: {}",
            case.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: stdout is not JSON: {e}", case.display()));
        let mut seen = BTreeSet::new();
        let mut got = Vec::new();
        for c in report["checks"].as_array().unwrap() {
            let id = c["id"].as_str().unwrap().to_string();
            let subject = c["subject"].as_str().unwrap().to_string();
            assert!(
                seen.insert((id.clone(), subject.clone())),
                "{}: two results for ({id}, {subject})",
                case.display()
            );
            got.push(format!("{id} {subject} {}", c["status"].as_str().unwrap()));
        }
        let want: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
                .unwrap();
        let mut want: Vec<String> = want
            .iter()
            .map(|v| {
                format!(
                    "{} {} {}",
                    v["id"].as_str().unwrap(),
                    v["subject"].as_str().unwrap(),
                    v["status"].as_str().unwrap()
                )
            })
            .collect();
        want.sort();
        got.sort();
        if want != got {
            failures.push(format!(
                "{}:\n want {want:#?}\n got {got:#?}",
                case.display()
            ));
        }
        // Every fixture has a failing check, so the host is non-compliant.
        assert_eq!(
            code,
            Some(1),
            "{}: expected exit 1 (non-compliant)",
            case.display()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
