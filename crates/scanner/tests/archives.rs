//! Archive members (issue 15): every `members` entry of an archive
//! fixture's expected.json (fixtures/formats/gen_archives.py) must be
//! reported under `ARCHIVE!/member` with the expected kind — marked,
//! unmarked, or unscannable — through 7z, xz, bzip2, tar, RAR and nesting.

use mijian_policy::{Classification, Policy};
use mijian_report::FindingKind;
use mijian_scanner::extract::{Ctx, Limits};
use mijian_scanner::file::{Compiled, analyse};
use serde_json::Value;
use std::path::Path;

#[test]
fn archive_members_are_found_with_their_kind() {
    let policy = Policy::example().expect("builtin policy");
    let compiled = Compiled::new(&policy, Classification::Unclassified).expect("compile");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/formats");
    let mut checked = 0;
    let mut failures = Vec::new();
    for dir in ["7z", "xz", "bz2", "rar", "eml", "epub"] {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("fixture dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for exp in entries
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".expected.json"))
        {
            let v: Value =
                serde_json::from_slice(&std::fs::read(exp).expect("read")).expect("json");
            // RAR-compressed members are read only with the `rar-decode` feature.
            let key = if cfg!(feature = "rar-decode") && v.get("members_rar_decode").is_some() {
                "members_rar_decode"
            } else {
                "members"
            };
            let Some(members) = v.get(key).and_then(Value::as_object) else {
                continue;
            };
            let case = exp
                .to_string_lossy()
                .trim_end_matches(".expected.json")
                .to_string();
            let data_path = entries
                .iter()
                .find(|p| {
                    let s = p.to_string_lossy();
                    !s.ends_with(".json")
                        && s.rsplit_once('.').map(|(a, _)| a) == Some(case.as_str())
                })
                .expect("data file");
            let data = std::fs::read(data_path).expect("read");
            let a = analyse(
                data_path,
                &data,
                &mut Ctx::new(Limits::default()),
                &compiled,
            );
            for (member, want) in members {
                checked += 1;
                let path = format!("{}!/{member}", data_path.display());
                let kinds: Vec<&FindingKind> = a
                    .findings
                    .iter()
                    .filter(|f| f.path.as_deref() == Some(path.as_str()))
                    .map(|f| &f.kind)
                    .collect();
                let ok = match want.as_str() {
                    Some("marked") => kinds.contains(&&FindingKind::MarkedClassified),
                    Some("unmarked") => kinds.contains(&&FindingKind::UnmarkedClassified),
                    Some("unscannable") => kinds.contains(&&FindingKind::Unscannable),
                    _ => false,
                };
                if !ok {
                    failures.push(format!("{path}: want {want}, got {kinds:?}"));
                }
            }
        }
    }
    assert!(checked >= 15, "only {checked} members checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
