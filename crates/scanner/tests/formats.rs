//! Format fixtures: `fixtures/formats/<fmt>/<case>.<ext>` + `<case>.expected.json`,
//! checked by one helper. `UPDATE_EXPECT=1` rewrites the expected files from
//! today's behaviour (review the diff). Schema shared by every format:
//! `{"format", "marking": {"level", "period"} | null, "matches": [rule ids],
//! "unscannable": reason | null}` about the top-level file (members of
//! archives and attachments are reported separately and not compared here);
//! other keys (`note`, ...) are for people and other tests.

use mijian_policy::{Classification, Policy};
use mijian_report::FindingKind;
use mijian_scanner::extract::{Ctx, Limits};
use mijian_scanner::file::{Compiled, analyse};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/formats")
}

/// What the scanner says about one fixture, in the expected.json schema.
fn observe(path: &Path, compiled: &Compiled) -> Value {
    let data = std::fs::read(path).unwrap();
    let mut ctx = Ctx::new(Limits::default());
    let a = analyse(path, &data, &mut ctx, compiled);
    let top = path.to_string_lossy().to_string();
    let mut format = a.format.to_string();
    let (mut marking, mut matches, mut unscannable) =
        (Value::Null, Vec::<String>::new(), Value::Null);
    for f in a
        .findings
        .iter()
        .filter(|f| f.path.as_deref() == Some(top.as_str()))
    {
        assert!(
            f.sha256.is_some() || f.kind == FindingKind::Unscannable,
            "{f:?}"
        );
        if let Some(fm) = &f.format {
            format = fm.clone();
        }
        match f.kind {
            FindingKind::MarkedClassified => {
                let m = f.marking.as_ref().unwrap();
                marking = json!({ "level": m.level, "period": m.period });
            }
            FindingKind::Unscannable => unscannable = json!(f.reason),
            _ => {}
        }
        matches.extend(f.matches.iter().map(|m| m.rule.clone()));
    }
    matches.sort();
    matches.dedup();
    json!({ "format": format, "marking": marking, "matches": matches, "unscannable": unscannable })
}

/// Check every fixture of one format directory; report all mismatches at once.
fn check_dir(dir: &str) {
    let policy = Policy::example().unwrap();
    let compiled = Compiled::new(&policy, Classification::Unclassified).unwrap();
    let base = fixtures().join(dir);
    let mut failures = Vec::new();
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for exp_path in entries
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".expected.json"))
    {
        let case = exp_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".expected.json")
            .to_string();
        let data_path = entries
            .iter()
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                !name.ends_with(".expected.json")
                    && name.rsplit_once('.').map(|(stem, _)| stem) == Some(case.as_str())
            })
            .unwrap_or_else(|| panic!("no data file for {}", exp_path.display()));
        n += 1;
        let got = observe(data_path, &compiled);
        let mut expected: Value =
            serde_json::from_slice(&std::fs::read(exp_path).unwrap()).unwrap();
        let keys = ["format", "marking", "matches", "unscannable"];
        let differs = keys.iter().any(|k| expected.get(*k) != got.get(*k));
        if differs {
            if std::env::var_os("UPDATE_EXPECT").is_some() {
                for k in keys {
                    expected[k] = got[k].clone();
                }
                let mut s = serde_json::to_string_pretty(&expected).unwrap();
                s.push('\n');
                std::fs::write(exp_path, s).unwrap();
            } else {
                failures.push(format!(
                    "{}:\n  expected {}\n  got      {}",
                    data_path.display(),
                    serde_json::to_string(&keys.map(|k| expected.get(k).cloned())).unwrap(),
                    serde_json::to_string(&keys.map(|k| got.get(k).cloned())).unwrap()
                ));
            }
        }
    }
    assert!(n > 0, "no fixtures in {}", base.display());
    assert!(
        failures.is_empty(),
        "{} of {n} fixtures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn text() {
    check_dir("text");
}

#[test]
fn html() {
    check_dir("html");
}

#[test]
fn markings() {
    check_dir("markings");
}

/// A file scanned twice gives the same findings, and findings never carry
/// the matched text.
#[test]
fn findings_never_carry_matched_text() {
    let policy = Policy::example().unwrap();
    let compiled = Compiled::new(&policy, Classification::Unclassified).unwrap();
    for dir in ["text", "html", "markings"] {
        for e in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.to_string_lossy().ends_with(".json") {
                continue;
            }
            let data = std::fs::read(&p).unwrap();
            let a = analyse(&p, &data, &mut Ctx::new(Limits::default()), &compiled);
            let json = serde_json::to_string(&a.findings).unwrap();
            // The path may hold a term (a file named after a project); strip it.
            let json = json.replace(&*p.to_string_lossy(), "");
            for term in ["玄鸟", "柒号", "示例工程", "xn-07a", "XN-12B", "ＸＮ"] {
                assert!(!json.contains(term), "{} leaks {term}: {json}", p.display());
            }
        }
    }
}

/// Severity of a marked file follows the host's level.
#[test]
fn marked_severity_depends_on_host_level() {
    let policy = Policy::example().unwrap();
    let p = fixtures().join("markings/gb9704_confidential.txt");
    let data = std::fs::read(&p).unwrap();
    let sev = |host| {
        let c = Compiled::new(&policy, host).unwrap();
        analyse(&p, &data, &mut Ctx::new(Limits::default()), &c).findings[0]
            .severity
            .as_str()
            .to_string()
    };
    assert_eq!(sev(Classification::Unclassified), "high");
    assert_eq!(sev(Classification::Secret), "high");
    assert_eq!(sev(Classification::Confidential), "info");
    assert_eq!(sev(Classification::TopSecret), "info");
    let p = fixtures().join("markings/gb9704_top_secret.txt");
    let data = std::fs::read(&p).unwrap();
    let c = Compiled::new(&policy, Classification::Confidential).unwrap();
    assert_eq!(
        analyse(&p, &data, &mut Ctx::new(Limits::default()), &c).findings[0]
            .severity
            .as_str(),
        "critical"
    );
}
/// Formats extracted by the other modules, checked by the same helper.
macro_rules! format_dirs {
    ($($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                check_dir(stringify!($name));
            }
        )*
    };
}

format_dirs!(
    docx, xlsx, pptx, odt, ods, odp, rtf, eml, ofd, pdf, doc, xls, ppt, wps, et, dps
);

// Issue 15 archives (fixtures/formats/gen_archives.py). Directory names
// that are not identifiers get a wrapper.
format_dirs!(xz, bz2, rar, fodt, fods, fodp, uof);

// Issue 15 document corners (fixtures/formats/gen_corners.py).
format_dirs!(epub, xps);

#[test]
fn sevenz() {
    check_dir("7z");
}
