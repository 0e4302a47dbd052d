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

#[test]
fn network_rules_parse_and_bad_cidr_names_file_and_line() {
    let d = dir_with(&[(
        "network.toml",
        "[internal]\ndomains = [\"Corp.Example.\", \".gov-intra.example.cn\"]\ncidrs = [\"59.255.0.0/16\", \"fd00::/8\"]\n",
    )]);
    let p = Policy::load(d.path()).unwrap();
    assert_eq!(
        p.network.internal_domains,
        vec![
            "corp.example".to_string(),
            "gov-intra.example.cn".to_string()
        ]
    );
    assert_eq!(p.network.internal_cidrs.len(), 2);

    let d = dir_with(&[(
        "network.toml",
        "[internal]\ndomains = []\ncidrs = [\n  \"10.0.0.0/8\",\n  \"300.1.0.0/16\",\n]\n",
    )]);
    let e = Policy::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("network.toml:5:"), "{e}");
    assert!(e.contains("300.1.0.0/16"), "{e}");

    let d = dir_with(&[("network.toml", "[internal]\ndomains = [1]\n")]);
    let e = Policy::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("network.toml:2:"), "{e}");
}

#[test]
fn software_rules_default_and_errors() {
    let p = Policy::builtin().unwrap();
    assert!(p.software.prohibited.iter().any(|r| r.id == "qq"));
    assert!(p.software.antivirus.iter().any(|r| r.id == "clamav"));
    assert_eq!(p.baseline.antivirus.max_signature_age_days, 7);
    // A rules dir without software.toml still gets the default lists.
    let d = dir_with(&[]);
    let p = Policy::load(d.path()).unwrap();
    assert!(p.software.prohibited.iter().any(|r| r.id == "wechat"));
    assert!(p.network.internal_domains.is_empty());

    let d = dir_with(&[(
        "software.toml",
        "[[prohibited]]\nid = \"a\"\nname = \"A\"\ncategory = \"im\"\npackages = [\"a\"]\n\n[[prohibited]]\nid = \"a\"\nname = \"B\"\ncategory = \"im\"\nexec = [\"b\"]\n",
    )]);
    let e = Policy::load(d.path()).unwrap_err().to_string();
    assert!(
        e.contains("software.toml:7:") && e.contains("used twice"),
        "{e}"
    );

    let d = dir_with(&[(
        "software.toml",
        "[[prohibited]]\nid = \"a\"\nname = \"A\"\ncategory = \"game\"\npackages = [\"a\"]\n",
    )]);
    let e = Policy::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("software.toml:4:"), "{e}");

    let d = dir_with(&[("baseline.toml", "[antivirus]\nmax_signature_age_days = 3\n")]);
    assert_eq!(
        Policy::load(d.path())
            .unwrap()
            .baseline
            .antivirus
            .max_signature_age_days,
        3
    );
}
