use super::*;
use mijian_report::AgentKey;

/// The repository's rules plus the documented example keyword set (since
/// issue 18 no longer part of `rules/`; before it, `rules/keywords/`).
fn repo_files() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files: Vec<_> = Policy::read_files(&root.join("rules"))
        .unwrap()
        .into_iter()
        .filter(|(p, _)| !p.starts_with("keywords/"))
        .collect();
    let example = [
        "docs/examples/keywords/example.toml",
        "rules/keywords/example.toml",
    ]
    .iter()
    .find_map(|p| std::fs::read(root.join(p)).ok())
    .unwrap();
    files.push(("keywords/example.toml".into(), example));
    files
}

fn bundle(version: u64) -> Bundle {
    Bundle::new(
        version,
        "2026-01-01T00:00:00Z".into(),
        &repo_files(),
        vec![],
        Mode::Plain,
    )
    .unwrap()
}

#[test]
fn rules_dir_to_bundle_to_rules_dir_round_trip() {
    let b = bundle(3);
    let src = tempfile::tempdir().unwrap();
    b.write_dir(src.path()).unwrap();
    assert_eq!(Policy::read_files(src.path()).unwrap(), repo_files());
    assert_eq!(b.digest, Policy::load(src.path()).unwrap().digest);
    let b = Bundle::new(
        3,
        "2026-01-01T00:00:00Z".into(),
        &Policy::read_files(src.path()).unwrap(),
        vec![],
        Mode::Plain,
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    b.write_dir(out.path()).unwrap();
    let back = Policy::load(out.path()).unwrap();
    assert_eq!(back.digest, b.digest);
    assert_eq!(Policy::read_files(out.path()).unwrap(), repo_files());
}

#[test]
fn signed_bundle_verifies_only_with_the_pinned_key() {
    let key = AgentKey::generate();
    let pk = key.public_jwk().public_key().unwrap();
    let signed = bundle(1).sign(&key);
    assert_eq!(Bundle::verify(&signed, &pk).unwrap(), bundle(1));
    let other = AgentKey::generate();
    let opk = other.public_jwk().public_key().unwrap();
    assert!(matches!(
        Bundle::verify(&signed, &opk),
        Err(BundleError::UnknownKey { .. })
    ));
    // Another key claiming the pinned kid: the signature fails.
    let forged = {
        let mut mine: serde_json::Value = serde_json::from_slice(&signed).unwrap();
        let theirs: serde_json::Value = serde_json::from_slice(&bundle(1).sign(&other)).unwrap();
        mine["signature"] = theirs["signature"].clone();
        serde_json::to_vec(&mine).unwrap()
    };
    assert!(matches!(
        Bundle::verify(&forged, &pk),
        Err(BundleError::Signature(_))
    ));
}

#[test]
fn tampered_payload_and_lying_digest_are_refused() {
    let key = AgentKey::generate();
    let pk = key.public_jwk().public_key().unwrap();
    let signed = bundle(2).sign(&key);
    let mut jws: serde_json::Value = serde_json::from_slice(&signed).unwrap();
    let mut b = bundle(2);
    b.rules[0].content.push_str("\n# changed\n");
    use base64::Engine;
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    jws["payload"] = e.encode(b.to_payload()).into();
    let tampered = serde_json::to_vec(&jws).unwrap();
    assert!(matches!(
        Bundle::verify(&tampered, &pk),
        Err(BundleError::Signature(_))
    ));
    // Correctly signed but the digest does not describe the rules.
    let lying = b.sign(&key);
    assert!(matches!(
        Bundle::verify(&lying, &pk),
        Err(BundleError::Digest { .. })
    ));
    // A report JWS is not a bundle.
    let report = mijian_report::Jws::sign(&bundle(2).to_payload(), &key).to_json();
    assert!(matches!(
        Bundle::verify(&report, &pk),
        Err(BundleError::Malformed(_))
    ));
}

#[test]
fn hostile_paths_are_refused() {
    for p in [
        "../x.toml",
        "/etc/x.toml",
        "keywords/../../x.toml",
        ".hidden.toml",
        "keywords/a/b.toml",
        "x.txt",
        "",
        "keywords/.toml",
    ] {
        assert!(!safe_path(p), "{p}");
    }
    assert!(safe_path("keywords/proj-1_a.toml"));
    assert!(safe_path("baseline.toml"));
    let files = vec![("../evil.toml".to_string(), b"".to_vec())];
    assert!(matches!(
        Bundle::new(1, "t".into(), &files, vec![], Mode::Plain),
        Err(BundleError::BadPath(_))
    ));
}

#[test]
fn exceptions_are_checked() {
    let ex = |expires: &str, sha: &str| Exception {
        id: "e1".into(),
        sha256: sha.into(),
        rule: "r".into(),
        expires: expires.into(),
        justification: "training material".into(),
        created_by: None,
    };
    let sha = "a".repeat(64);
    let ok = ex("2027-01-01T00:00:00Z", &sha);
    assert!(ok.covers(&sha, "r", "2026-12-31T23:59:59Z"));
    assert!(!ok.covers(&sha, "r", "2027-01-01T00:00:00Z"));
    assert!(!ok.covers(&sha, "other", "2026-01-01T00:00:00Z"));
    assert!(!ok.covers(&"b".repeat(64), "r", "2026-01-01T00:00:00Z"));
    let files = repo_files();
    assert!(Bundle::new(1, "t".into(), &files, vec![ok], Mode::Plain).is_ok());
    for bad in [ex("2027-01-01", &sha), ex("2027-01-01T00:00:00Z", "ABC")] {
        assert!(matches!(
            Bundle::new(1, "t".into(), &files, vec![bad], Mode::Plain),
            Err(BundleError::BadException(_))
        ));
    }
}

#[test]
fn hide_removes_every_term_and_warns_on_regex() {
    let files = repo_files();
    let salt = [7u8; SALT_BYTES];
    let lower = |s: &str| s.to_lowercase();
    let utf8 = |s: &str| {
        vec![
            (s.as_bytes().to_vec(), 0u8),
            (s.to_uppercase().into_bytes(), 0u8),
        ]
    };
    let (hidden, warnings) = hide(&files, &salt, &lower, &utf8).unwrap();
    let kw = hidden
        .iter()
        .find(|(p, _)| p == "keywords/example.toml")
        .unwrap();
    let text = std::str::from_utf8(&kw.1).unwrap();
    for term in ["玄鸟柒号", "示例工程", "xn-07a型", "示例：工程代号"] {
        assert!(!text.contains(term), "{term} in clear:\n{text}");
    }
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("example-model-pattern"));
    let b = Bundle::new(1, "t".into(), &hidden, vec![], Mode::Hidden).unwrap();
    let p = b.policy().unwrap();
    let rule = p
        .keywords
        .rules
        .iter()
        .find(|r| r.id == "example-codename")
        .unwrap();
    let h = rule.hidden.as_ref().unwrap();
    assert_eq!(h.terms.len(), 3);
    assert_eq!(h.terms[0], HashedTerm::of(&salt, "玄鸟柒号"));
    assert!(rule.terms.is_empty());
    // Byte spellings: one per distinct byte string ("玄鸟柒号" has no upper case).
    assert_eq!(h.raw.len(), 4, "{:?}", h.raw);
    assert!(
        h.raw
            .contains(&HashedTerm::of_raw(&salt, 0, "XN-07A型".as_bytes()))
    );
    assert!(!text.contains("XN-07A"));
}

#[test]
fn hide_warns_on_short_terms_and_keeps_raw_spellings_on_reimport() {
    let files = vec![(
        "keywords/k.toml".to_string(),
        "[[keyword]]\nid = \"short\"\nterms = [\"天枢\", \"北斗长征\"]\nseverity = \"high\"\n\
         [[keyword]]\nid = \"long\"\nterms = [\"鲲鹏蛟龙\"]\nseverity = \"low\"\n"
            .as_bytes()
            .to_vec(),
    )];
    let salt = [3u8; SALT_BYTES];
    let id = |s: &str| s.to_string();
    let utf8 = |s: &str| vec![(s.as_bytes().to_vec(), 0u8)];
    let (hidden, warnings) = hide(&files, &salt, &id, &utf8).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("`short`") && warnings[0].contains("1 term"));
    // Hiding a hidden file again keeps both lists as they are.
    let (again, w2) = hide(&hidden, &salt, &id, &utf8).unwrap();
    assert_eq!(again, hidden);
    assert!(w2.is_empty());
    let p = Policy::from_files(Path::new("<h>"), &hidden, None).unwrap();
    assert_eq!(p.keywords.rules[0].hidden.as_ref().unwrap().raw.len(), 2);
}
