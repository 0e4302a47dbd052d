//! Captured sysfs/udev/mountinfo trees of real kinds of media
//! (`fixtures/media/<case>/`, format in `fixtures/media/README.md`): every
//! case's `case.json` names the register and the media the crate must report,
//! with the identity fields it must read.

use mijian_media::{MediaOptions, path_text, try_mounted_now};
use mijian_policy::{MediaRegister, MediumEntry};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/media")
}

fn options(case: &Path) -> MediaOptions {
    MediaOptions {
        proc_root: case.join("proc"),
        sysfs_root: case.join("sys"),
        udev_root: case.join("run/udev"),
        dev_root: case.join("dev"),
        // Captures hold no device contents: identity comes from sysfs/udev.
        read_superblocks: false,
        ..MediaOptions::default()
    }
}

fn check(case: &Path) {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("case.json")).unwrap()).unwrap();
    let register = MediaRegister {
        media: spec["register"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| serde_json::from_value::<MediumEntry>(e.clone()).unwrap())
            .collect(),
    };
    let found = try_mounted_now(&options(case), &register).unwrap();
    let want = spec["media"].as_array().unwrap();
    assert_eq!(
        found.len(),
        want.len(),
        "{name}: found {:#?}",
        found.iter().map(|m| &m.mount_point).collect::<Vec<_>>()
    );
    for (m, w) in found.iter().zip(want) {
        assert_eq!(path_text(&m.mount_point), w["mount_point"], "{name}");
        assert_eq!(m.removable.as_str(), w["removable"], "{name}");
        assert_eq!(
            m.matched.status.as_str(),
            w["status"],
            "{name}: {}",
            m.matched.explanation
        );
        assert_eq!(
            m.matched
                .medium_id
                .as_deref()
                .map(Value::from)
                .unwrap_or(Value::Null),
            w["medium_id"],
            "{name}"
        );
        assert_eq!(m.finding.medium_id, m.matched.medium_id);
        assert_eq!(m.finding.registered, Some(w["status"] == "registered"));
        let got = serde_json::to_value(&m.identity).unwrap();
        for (k, v) in w["identity"].as_object().unwrap() {
            assert_eq!(&got[k], v, "{name}: identity.{k}; identity {got:#}");
        }
    }
}

#[test]
fn every_captured_case() {
    let mut n = 0;
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.json").exists())
        .collect();
    cases.sort();
    for case in cases {
        check(&case);
        n += 1;
    }
    assert!(n >= 5, "expected the captured cases, found {n}");
}

#[test]
fn hostile_sysfs_links_stay_inside_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let sys = tmp.path().join("sys");
    std::fs::create_dir_all(sys.join("dev/block")).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc", sys.join("dev/block/8:1")).unwrap();
    assert!(mijian_media::sysfs::block_info(&sys, 8, 1).is_err());
    // A link loop and a garbage attribute.
    std::os::unix::fs::symlink("8:2", sys.join("dev/block/8:2")).unwrap();
    assert!(mijian_media::sysfs::block_info(&sys, 8, 2).is_err());
    let d = sys.join("devices/virtual/block/x");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("size"), b"\xff\xfe not a number").unwrap();
    std::fs::write(d.join("removable"), vec![b'1'; 100_000]).unwrap();
    std::os::unix::fs::symlink("../../devices/virtual/block/x", sys.join("dev/block/8:3")).unwrap();
    let info = mijian_media::sysfs::block_info(&sys, 8, 3).unwrap();
    assert_eq!(info.size_bytes, None);
    assert_eq!(info.removable, None);
}
