//! Crate-level unit tests: media-root rule, report text of paths, findings
//! and the tagging of content findings.

use super::*;
use mijian_report::Marking;
use std::ffi::OsStr;

fn entry(line: &str) -> MountEntry {
    mountinfo::parse_line(line.as_bytes()).unwrap()
}

fn opts() -> MediaOptions {
    MediaOptions {
        // Nothing real: these tests must not depend on the host.
        sysfs_root: PathBuf::from("/nonexistent/sys"),
        udev_root: PathBuf::from("/nonexistent/udev"),
        dev_root: PathBuf::from("/nonexistent/dev"),
        read_superblocks: false,
        ..MediaOptions::default()
    }
}

#[test]
fn media_root_rule() {
    let o = opts();
    let e = entry("1 2 0:50 / /media/u/X rw - fuse.fusefat fusefat rw");
    assert_eq!(
        removable_reason(&o, &e, None),
        Some(RemovableReason::MediaRoot)
    );
    // The root itself counts: `mount /dev/sdb1 /mnt` is the classic case.
    let e = entry("1 2 0:50 / /mnt rw - ext4 /dev/x rw");
    assert_eq!(
        removable_reason(&o, &e, None),
        Some(RemovableReason::MediaRoot)
    );
    // Pseudo filesystems under a root are not media.
    let e = entry("1 2 0:50 / /run/media rw - tmpfs tmpfs rw");
    assert_eq!(removable_reason(&o, &e, None), None);
    // Component-wise: /mediaX is not under /media.
    let e = entry("1 2 0:50 / /mediaX/a rw - ext4 /dev/x rw");
    assert_eq!(removable_reason(&o, &e, None), None);
    let e = entry("1 2 0:50 / /home rw - ext4 /dev/x rw");
    assert_eq!(removable_reason(&o, &e, None), None);
}

#[test]
fn path_text_escapes_bad_bytes() {
    use std::os::unix::ffi::OsStrExt;
    assert_eq!(path_text(Path::new("/media/U盘")), "/media/U盘");
    let p = Path::new(OsStr::from_bytes(b"/media/\xff\xfeok\xe6"));
    assert_eq!(path_text(p), "/media/\\xff\\xfeok\\xe6");
}

fn medium(reg: &MediaRegister) -> MountedMedium {
    let e = entry("9 2 0:77 / /media/u/stick rw - ext4 /dev/sdz1 rw");
    let mut m = medium_for(&opts(), reg, &e, MediaEvent::Mount).unwrap();
    // Identity as if read from the device.
    m.identity.fs_uuid = Some("1A2B-3C4D".into());
    m.matched = match_register(&m.identity, reg);
    m.finding = medium_finding(&m, MediaEvent::Mount);
    m
}

fn register() -> MediaRegister {
    MediaRegister {
        media: vec![mijian_policy::MediumEntry {
            id: "BM-1".into(),
            serial: None,
            vendor_id: None,
            product_id: None,
            fs_uuid: Some("1A2B-3C4D".into()),
            label: None,
            level: Some(Classification::Secret),
            holder: None,
            kind: None,
            description: None,
        }],
    }
}

#[test]
fn findings_for_registered_and_unregistered() {
    let m = medium(&register());
    assert!(m.registered());
    let f = &m.finding;
    assert_eq!(f.kind, FindingKind::RemovableMedia);
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.medium_id.as_deref(), Some("BM-1"));
    assert_eq!(f.mount_point.as_deref(), Some("/media/u/stick"));
    assert_eq!(f.device.as_deref(), Some("/dev/sdz1"));
    assert_eq!(f.detail.as_ref().unwrap()["event"], "mount");
    let un = medium_finding(&m, MediaEvent::Unmount);
    assert_eq!(un.severity, Severity::Info);
    assert_eq!(un.detail.as_ref().unwrap()["event"], "unmount");
    assert!(un.message.as_deref().unwrap().contains("unmounted from"));

    let m = medium(&MediaRegister::default());
    assert!(!m.registered());
    assert_eq!(m.finding.severity, Severity::High);
    assert_eq!(m.finding.registered, Some(false));
    assert_eq!(m.finding.medium_id, None);
    assert!(
        m.finding
            .message
            .as_deref()
            .unwrap()
            .starts_with("unregistered removable medium /dev/sdz1")
    );
}

#[test]
fn tag_marks_the_worst_case_and_over_level() {
    let unreg = medium(&MediaRegister::default());
    let mut f = Finding::new(FindingKind::UnmarkedClassified, Severity::High);
    f.detail = Some(Value::from("scanner detail"));
    unreg.tag(&mut f);
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.registered, Some(false));
    assert_eq!(f.mount_point.as_deref(), Some("/media/u/stick"));
    let d = f.detail.unwrap();
    assert_eq!(d["detail"], "scanner detail", "earlier detail kept");
    assert!(
        d["medium"]["worst_case"]
            .as_str()
            .unwrap()
            .contains("worst case")
    );

    // Not classified content (unscannable): tied, severity unchanged.
    let mut f = Finding::new(FindingKind::Unscannable, Severity::Low);
    unreg.tag(&mut f);
    assert_eq!(f.severity, Severity::Low);
    assert_eq!(f.registered, Some(false));

    let reg = medium(&register());
    let mark = |level: &str| {
        let mut f = Finding::new(FindingKind::MarkedClassified, Severity::Medium);
        f.marking = Some(Marking {
            level: level.into(),
            period: None,
            source: None,
        });
        reg.tag(&mut f);
        f
    };
    let ok = mark("秘密");
    assert_eq!(ok.severity, Severity::Medium);
    assert_eq!(ok.medium_id.as_deref(), Some("BM-1"));
    let over = mark("绝密");
    assert_eq!(over.severity, Severity::High);
    assert!(
        over.detail.unwrap()["medium"]["over_level"]
            .as_str()
            .unwrap()
            .contains("exceeds")
    );
}
