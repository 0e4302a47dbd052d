//! Hidden matching must find exactly what plain matching finds (issue 13).

use crate::extract::{Ctx, Limits};
use crate::file::{Compiled, analyse};
use crate::matcher::Matcher;
use crate::normalise;
use mijian_policy::{Classification, Policy};
use std::path::{Path, PathBuf};

/// The repository's rules plus the documented example keyword set (the
/// fixtures' terms; since issue 18 in `docs/examples/`, before in `rules/`).
fn example_files() -> Vec<(String, Vec<u8>)> {
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

fn hidden_of(files: &[(String, Vec<u8>)]) -> Policy {
    let salt = [0x5au8; mijian_policy::hashed::SALT_BYTES];
    let (hidden, _warnings) = mijian_policy::bundle::hide(
        files,
        &salt,
        &normalise::normalise,
        &crate::raw::byte_spellings,
    )
    .unwrap();
    let p = Policy::from_files(Path::new("<hidden>"), &hidden, None).unwrap();
    for f in &hidden {
        if f.0.starts_with("keywords/") {
            let text = String::from_utf8_lossy(&f.1);
            assert!(!text.contains("玄鸟柒号") && !text.contains("示例工程"));
        }
    }
    p
}

fn policy_with(keywords: &str) -> Vec<(String, Vec<u8>)> {
    vec![("keywords/k.toml".into(), keywords.as_bytes().to_vec())]
}

#[test]
fn hidden_equals_plain_on_overlaps_and_normalisation() {
    let files = policy_with(
        r#"
[[keyword]]
id = "code"
terms = ["玄鸟柒号", "柒号", "XN-07A型", "号玄"]
severity = "high"
[[keyword]]
id = "lvl"
terms = ["機密文件"]
severity = "low"
"#,
    );
    let plain = Policy::from_files(Path::new("<plain>"), &files, None).unwrap();
    let hidden = hidden_of(&files);
    let mp = Matcher::new(&plain.keywords).unwrap();
    let mh = Matcher::new(&hidden.keywords).unwrap();
    assert!(!mh.has_prefilter());
    let mut text = String::new();
    for i in 0..500 {
        text.push_str(match i % 6 {
            0 => "玄鸟柒号玄鸟柒号",
            1 => "关于玄鳥\u{200b}柒號的ＸＮ－０７Ａ型",
            2 => "机 密 文 件；",
            3 => "柒号号玄",
            4 => "普通的一行字。\n",
            _ => "xn-07a型x",
        });
    }
    let a = mp.scan(&text);
    let b = mh.scan(&text);
    assert_eq!(a, b);
    assert!(
        a.per_rule[0].count > 300 && a.per_rule[1].count > 50,
        "{a:?}"
    );
    // Streams: the carry split counts the same.
    let split = text.len() / 2;
    let split = (split..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap();
    assert_eq!(mp.scan_from(&text, split), mh.scan_from(&text, split));
}

fn fixture_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            fixture_files(&p, out);
        } else if !p.to_string_lossy().ends_with(".json") && p.extension().is_none_or(|x| x != "py")
        {
            out.push(p);
        }
    }
}

#[test]
fn hidden_mode_finds_exactly_what_plain_mode_finds_on_the_fixtures() {
    let files = example_files();
    let plain = Policy::from_files(Path::new("<plain>"), &files, None).unwrap();
    let hidden = hidden_of(&files);
    let cp = Compiled::new(&plain, Classification::default()).unwrap();
    let ch = Compiled::new(&hidden, Classification::default()).unwrap();
    let mut paths = Vec::new();
    fixture_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/formats"),
        &mut paths,
    );
    paths.sort();
    assert!(paths.len() > 50, "{} fixtures", paths.len());
    let mut with_matches = 0;
    let mut with_raw = 0;
    for p in &paths {
        let data = std::fs::read(p).unwrap();
        let a = analyse(p, &data, &mut Ctx::new(Limits::default()), &cp);
        let b = analyse(p, &data, &mut Ctx::new(Limits::default()), &ch);
        let ja = serde_json::to_string(&a.findings).unwrap();
        let jb = serde_json::to_string(&b.findings).unwrap();
        // Raw-byte findings included (`hidden::raw`): no difference at all.
        if ja.contains("\"raw_rules\"") {
            with_raw += 1;
        }
        assert_eq!(ja, jb, "{}", p.display());
        if a.findings.iter().any(|f| !f.matches.is_empty()) {
            with_matches += 1;
        }
    }
    assert!(
        with_matches >= 40,
        "only {with_matches} fixtures with keyword matches"
    );
    println!(
        "{} fixtures, {with_matches} with matches, {with_raw} with raw-byte findings: equal",
        paths.len()
    );
    // The raw-byte search must be exercised, or equality proves little.
    assert!(
        with_raw >= 5,
        "only {with_raw} fixtures with raw-byte findings"
    );
}
