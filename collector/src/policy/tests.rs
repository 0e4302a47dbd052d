//! Policy versions, exceptions and hidden bundles on a real SQLite store (issue 13).

use super::*;
use mijian_policy::bundle::Bundle;

fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let d = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", d.path().join("c.db").display());
    (d, mijian_store::open(&url).unwrap().into())
}

use std::sync::Arc;

/// A rules directory: the repository's rules plus the documented example
/// keyword set (since issue 18 in `docs/examples/`, before in `rules/`).
fn rules_in(d: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = d.join("rules");
    std::fs::create_dir_all(dir.join("keywords")).unwrap();
    for f in ["baseline.toml", "markings.toml", "media.toml"] {
        std::fs::copy(root.join("rules").join(f), dir.join(f)).unwrap();
    }
    let example = [
        "docs/examples/keywords/example.toml",
        "rules/keywords/example.toml",
    ]
    .iter()
    .find_map(|p| std::fs::read(root.join(p)).ok())
    .unwrap();
    std::fs::write(dir.join("keywords/example.toml"), example).unwrap();
    dir
}

#[test]
fn import_except_and_hidden_mode_make_signed_versions() {
    let (d, store) = store();
    let key = collector_key(&d.path().join("k/collector-key.jwk")).unwrap();
    // The key persists and is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.path().join("k/collector-key.jwk"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = collector_key(&d.path().join("k/collector-key.jwk")).unwrap();
    assert_eq!(again.kid(), key.kid());
    let pk = key.public_jwk().public_key().unwrap();
    let rules_dir = rules_in(d.path());
    let rules = || rules_dir.clone();

    let p1 = import(&*store, &key, &rules(), None, "test", None).unwrap();
    assert_eq!((p1.version, p1.unchanged), (1, false));
    assert_eq!(p1.digest, Policy::load(&rules()).unwrap().digest);
    let p = import(&*store, &key, &rules(), None, "test", None).unwrap();
    assert!(p.unchanged && p.version == 1);

    let ex = Exception {
        id: String::new(),
        sha256: "a".repeat(64),
        rule: "example-codename".into(),
        expires: "2999-01-01T00:00:00Z".into(),
        justification: "published".into(),
        created_by: None,
    };
    let (p2, id) = add_exception(&*store, &key, ex, "test").unwrap();
    assert_eq!(p2.version, 2);
    let v2 = store.policy_latest().unwrap().unwrap();
    let b = Bundle::verify(&v2.bundle, &pk).unwrap();
    assert_eq!(b.exceptions.len(), 1);
    assert_eq!(b.exceptions[0].id, id);
    assert_eq!(
        b.digest, p1.digest,
        "exceptions do not change the rules digest"
    );
    let d12 = diff(&store.policy_version(1).unwrap().unwrap(), &v2).unwrap();
    assert!(d12.contains("published"), "{d12}");

    let p3 = import(&*store, &key, &rules(), Some(Mode::Hidden), "test", None).unwrap();
    assert_eq!(p3.version, 3);
    assert_eq!(p3.warnings.len(), 1, "the example regex stays in clear");
    let v3 = store.policy_latest().unwrap().unwrap();
    let text = String::from_utf8_lossy(&v3.bundle).into_owned();
    let b3 = Bundle::verify(&v3.bundle, &pk).unwrap();
    assert_eq!(b3.mode, Mode::Hidden);
    assert_eq!(b3.exceptions.len(), 1, "exceptions carried over");
    let payload = String::from_utf8(b3.to_payload()).unwrap();
    for term in ["玄鸟柒号", "示例工程"] {
        assert!(!payload.contains(term) && !text.contains(term));
    }
    // The clear rules stay on the collector for show and diff.
    assert!(
        files_of(&v3)
            .unwrap()
            .iter()
            .any(|(_, c)| String::from_utf8_lossy(c).contains("玄鸟柒号"))
    );
    assert_eq!(
        store
            .policy_history()
            .unwrap()
            .iter()
            .map(|v| v.action.as_str())
            .collect::<Vec<_>>(),
        vec!["import", "except", "import"]
    );
    remove_exception(&*store, &key, &id, "test").unwrap();
    assert!(
        exceptions_of(&store.policy_latest().unwrap().unwrap())
            .unwrap()
            .is_empty()
    );
}
