use super::*;
use std::fs;

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (p, s) in files {
        let path = d.path().join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, s).unwrap();
    }
    d
}

#[test]
fn builtin_rules_load() {
    let p = Policy::builtin().unwrap();
    assert_eq!(p.baseline.password.min_length, 10);
    assert_eq!(p.digest.len(), 64);
}

/// Issue 18: the example keyword set (示例工程 ...) gave real false positives
/// on workstations; it is documentation, loaded only by `Policy::example`.
#[test]
fn example_keywords_are_never_active_rules() {
    let p = Policy::builtin().unwrap();
    assert!(p.keywords.rules.is_empty(), "{:?}", p.keywords.rules);
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    assert!(Policy::load(&shipped).unwrap().keywords.rules.is_empty());
    let e = Policy::example().unwrap();
    assert!(e.keywords.rules.iter().any(|r| r.id == "example-codename"));
    assert_ne!(e.digest, p.digest);
}

#[test]
fn repository_rules_equal_builtin() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let p = Policy::load(&dir).unwrap();
    assert_eq!(p.digest, Policy::builtin().unwrap().digest);
}

#[test]
fn missing_files_fall_back_to_defaults() {
    let d = dir_with(&[]);
    let p = Policy::load(d.path()).unwrap();
    assert_eq!(p.baseline, Baseline::default());
    assert!(p.keywords.rules.is_empty());
}

#[test]
fn bad_toml_names_file_and_line() {
    let d = dir_with(&[(
        "baseline.toml",
        "[password]\nmin_length = 10\nmax_age_days = \"ninety\"\n",
    )]);
    let e = Policy::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("baseline.toml:3:"), "{e}");
}

#[test]
fn unknown_key_is_an_error() {
    let d = dir_with(&[("baseline.toml", "[password]\nmin_lenght = 12\n")]);
    let e = Policy::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("min_lenght"), "{e}");
}

#[test]
fn bad_regex_and_duplicate_ids_name_the_rule() {
    let d = dir_with(&[(
        "keywords/a.toml",
        "[[keyword]]\nid = \"x\"\nterms=[\"a\"]\nseverity=\"high\"\n\n[[keyword]]\nid = \"y\"\nregex = \"(\"\nseverity = \"low\"\n",
    )]);
    let e = Policy::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("a.toml:6:") && e.contains("keyword `y`"), "{e}");
    let d = dir_with(&[
        (
            "keywords/a.toml",
            "[[keyword]]\nid = \"x\"\nterms=[\"a\"]\nseverity=\"high\"\n",
        ),
        (
            "keywords/b.toml",
            "[[keyword]]\nid = \"x\"\nterms=[\"b\"]\nseverity=\"high\"\n",
        ),
    ]);
    let e = Policy::load(d.path()).unwrap_err().to_string();
    assert!(
        e.contains("b.toml:1:") && e.contains("already defined"),
        "{e}"
    );
}

#[test]
fn digest_changes_with_any_rule_file() {
    let a = dir_with(&[(
        "keywords/a.toml",
        "[[keyword]]\nid = \"x\"\nterms=[\"a\"]\nseverity=\"high\"\n",
    )]);
    let b = dir_with(&[(
        "keywords/a.toml",
        "[[keyword]]\nid = \"x\"\nterms=[\"b\"]\nseverity=\"high\"\n",
    )]);
    assert_ne!(
        Policy::load(a.path()).unwrap().digest,
        Policy::load(b.path()).unwrap().digest
    );
}

#[test]
fn level_profiles_only_tighten_and_accumulate() {
    let d = dir_with(&[(
        "baseline.toml",
        "[password]\nmin_length = 10\nmax_age_days = 90\n[levels.\"秘密\"]\nmax_age_days = 60\nmin_length = 8\n[levels.\"机密\"]\nmin_length = 12\n",
    )]);
    let b = Policy::load(d.path()).unwrap().baseline;
    let t = b.thresholds(Classification::Unclassified);
    assert_eq!((t.min_length, t.max_age_days), (10, 90));
    let t = b.thresholds(Classification::Secret);
    assert_eq!((t.min_length, t.max_age_days), (10, 60));
    let t = b.thresholds(Classification::Confidential);
    assert_eq!((t.min_length, t.max_age_days), (12, 60));
}

#[test]
fn media_entry_without_identity_is_refused() {
    let d = dir_with(&[(
        "media.toml",
        "[[medium]]\nid = \"BM-1\"\nholder = \"张三\"\n",
    )]);
    let e = Policy::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("media.toml:1:") && e.contains("BM-1"), "{e}");
}
