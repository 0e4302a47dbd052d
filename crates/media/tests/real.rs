//! Real filesystems on real loop devices, mounted under a temporary media
//! root: identity, register matching, the live watcher and its latency,
//! enforcement. Needs root and loop devices (skipped with a message
//! otherwise); cleans up through the guards in `util`.

mod util;

use mijian_media::watch::{MountEvent, MountWatcher};
use mijian_media::{
    Enforcement, MatchStatus, MediaOptions, RemovableReason, enforce, mounted_now, try_mounted_now,
};
use mijian_policy::{MediaRegister, MediumEntry};
use mijian_report::{Finding, FindingKind, Marking, Severity};
use std::path::Path;
use std::time::{Duration, Instant};
use util::*;

fn entry(id: &str, uuid: Option<&str>, label: Option<&str>) -> MediumEntry {
    MediumEntry {
        id: id.into(),
        serial: None,
        vendor_id: None,
        product_id: None,
        fs_uuid: uuid.map(Into::into),
        label: label.map(Into::into),
        level: Some(mijian_policy::Classification::Secret),
        holder: Some("张三".into()),
        kind: Some("U盘".into()),
        description: None,
    }
}

fn opts(root: &Path) -> MediaOptions {
    MediaOptions::with_roots(vec![root.to_path_buf()])
}

const UUID_A: &str = "6f1d3c2e-0a0b-4c4d-8e8f-101112131415";
const UUID_B: &str = "0b7c9a44-2e2e-4f4f-9a9a-aaaaaaaaaaab";

#[test]
fn ext4_media_registered_unregistered_and_cloned() {
    if skip_without_loop("ext4_media_registered_unregistered_and_cloned") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let media = tmp.path().join("media");
    let reg = MediaRegister {
        media: vec![
            entry("BM-U-001", Some(UUID_A), Some("BM001")),
            entry(
                "BM-U-002",
                Some("11111111-2222-4333-8444-555555555555"),
                Some("BM002"),
            ),
        ],
    };
    // Registered: UUID and label agree.
    let a = make_image(
        tmp.path(),
        "a.img",
        16,
        "mkfs.ext4",
        &["-q", "-F", "-U", UUID_A, "-L", "BM001"],
    );
    // Unregistered: nothing in common.
    let b = make_image(
        tmp.path(),
        "b.img",
        16,
        "mkfs.ext4",
        &["-q", "-F", "-U", UUID_B, "-L", "PRIVATE"],
    );
    // Cloned identity: the label of BM-U-002, another UUID.
    let c = make_image(
        tmp.path(),
        "c.img",
        16,
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-U",
            "99999999-8888-4777-8666-555555555555",
            "-L",
            "BM002",
        ],
    );
    let mut la = LoopMount::attach(&a);
    la.mount(&media.join("a-usb1"), "ext4");
    let mut lb = LoopMount::attach(&b);
    lb.mount(&media.join("b usb2"), "ext4");
    let mut lc = LoopMount::attach(&c);
    lc.mount(&media.join("c-usb3"), "ext4");

    let mut found = try_mounted_now(&opts(&media), &reg).unwrap();
    found.sort_by(|x, y| x.mount_point.cmp(&y.mount_point));
    assert_eq!(found.len(), 3, "{found:#?}");

    let m = &found[0];
    assert_eq!(m.mount_point, media.join("a-usb1"));
    assert_eq!(m.removable, RemovableReason::MediaRoot);
    assert_eq!(m.device, la.dev);
    assert_eq!(m.identity.fs_type.as_deref(), Some("ext4"));
    assert_eq!(m.identity.fs_uuid.as_deref(), Some(UUID_A));
    assert_eq!(m.identity.label.as_deref(), Some("BM001"));
    assert_eq!(m.identity.bus.as_deref(), Some("loop"));
    assert_eq!(m.identity.backing_file.as_deref(), a.to_str());
    assert_eq!(m.identity.size_bytes, Some(16 * 1024 * 1024));
    assert_eq!(m.matched.status, MatchStatus::Registered);
    let f = &m.finding;
    assert_eq!(f.kind, FindingKind::RemovableMedia);
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.registered, Some(true));
    assert_eq!(f.medium_id.as_deref(), Some("BM-U-001"));
    assert_eq!(f.device.as_deref(), Some(la.dev.as_str()));
    assert_eq!(f.mount_point.as_deref(), media.join("a-usb1").to_str());
    let d = f.detail.as_ref().unwrap();
    assert_eq!(d["event"], "present");
    assert_eq!(d["identity"]["fs_uuid"], UUID_A);
    assert_eq!(d["match"]["status"], "registered");

    // A mount point with a space (mountinfo writes `\040`).
    let m = &found[1];
    assert_eq!(m.mount_point, media.join("b usb2"));
    assert_eq!(m.matched.status, MatchStatus::Unregistered);
    assert_eq!(m.finding.severity, Severity::High);
    assert_eq!(m.finding.registered, Some(false));
    assert_eq!(m.finding.medium_id, None);

    let m = &found[2];
    assert_eq!(m.matched.status, MatchStatus::Suspicious, "{:?}", m.matched);
    assert_eq!(m.finding.severity, Severity::High);
    assert_eq!(m.finding.registered, Some(false));
    let msg = m.finding.message.as_deref().unwrap();
    assert!(
        msg.contains("BM-U-002") && msg.contains("agrees on label"),
        "{msg}"
    );
    assert!(
        msg.contains("fs_uuid 99999999-8888-4777-8666-555555555555"),
        "{msg}"
    );

    // Classified content: on the unregistered medium it is the worst case.
    let mut content = Finding::new(FindingKind::MarkedClassified, Severity::Medium);
    content.path = Some(format!("{}/报告.docx", m.mount_point.display()));
    content.marking = Some(Marking {
        level: "机密".into(),
        period: None,
        source: None,
    });
    found[1].tag(&mut content);
    assert_eq!(content.severity, Severity::Critical);
    assert_eq!(content.registered, Some(false));
    assert!(
        content.detail.as_ref().unwrap()["medium"]["worst_case"]
            .as_str()
            .unwrap()
            .contains("the worst case")
    );
    // On the registered medium (level 秘密) a 机密 marking is over its level.
    let mut content2 = Finding::new(FindingKind::MarkedClassified, Severity::Medium);
    content2.marking = Some(Marking {
        level: "机密".into(),
        period: None,
        source: None,
    });
    found[0].tag(&mut content2);
    assert_eq!(content2.severity, Severity::High);
    assert_eq!(content2.medium_id.as_deref(), Some("BM-U-001"));
    assert_eq!(content2.mount_point, found[0].finding.mount_point);

    // Outside the media root, the same loop mount is not a medium.
    let other = tmp.path().join("elsewhere");
    assert!(mounted_now(&opts(&other), &reg).is_empty());
}

#[test]
fn watcher_sees_mount_and_unmount_fast_and_stops() {
    if skip_without_loop("watcher_sees_mount_and_unmount_fast_and_stops") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let media = tmp.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    let reg = MediaRegister {
        media: vec![entry("BM-W-1", Some(UUID_A), None)],
    };
    let img = make_image(
        tmp.path(),
        "w.img",
        16,
        "mkfs.ext4",
        &["-q", "-F", "-U", UUID_A, "-L", "WATCH"],
    );
    let mut w = MountWatcher::new(opts(&media), reg).unwrap();
    assert!(w.present().is_empty());
    let stop = w.stop_handle();

    let mut lm = LoopMount::attach(&img);
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let ev = w.wait(Some(Duration::from_secs(10)));
        let t = Instant::now();
        tx.send((ev.map(|e| e.len()), t)).unwrap();
        w
    });
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    lm.mount_syscall(&media.join("stick"), "ext4").unwrap();
    let t_ret = Instant::now();
    let (n, t_ev) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let mut w = waiter.join().unwrap();
    assert_eq!(n.unwrap(), 1);
    let from_call = t_ev.duration_since(t0);
    let from_return = t_ev.saturating_duration_since(t_ret);
    eprintln!(
        "watcher latency: mount(2) call → event {:.2} ms; mount(2) return → event {:.2} ms",
        from_call.as_secs_f64() * 1e3,
        from_return.as_secs_f64() * 1e3
    );
    assert!(from_call < Duration::from_millis(500), "{from_call:?}");
    let present = w.present();
    assert_eq!(present.len(), 1);
    assert_eq!(present[0].matched.medium_id.as_deref(), Some("BM-W-1"));
    assert_eq!(
        present[0].finding.detail.as_ref().unwrap()["event"],
        "mount"
    );
    assert_eq!(present[0].identity.label.as_deref(), Some("WATCH"));

    // An unrelated mount change (outside the root) yields no event.
    let tmpfs_dir = tmp.path().join("not-media");
    std::fs::create_dir_all(&tmpfs_dir).unwrap();
    run(
        "mount",
        &["-t", "tmpfs", "none", tmpfs_dir.to_str().unwrap()],
    );
    let _tmpfs = FuseMount {
        mount_point: tmpfs_dir.clone(),
    };
    let ev = w.wait(Some(Duration::from_millis(300))).unwrap();
    assert!(ev.is_empty(), "{ev:?}");

    lm.unmount();
    let ev = w.wait(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ev.len(), 1, "{ev:?}");
    match &ev[0] {
        MountEvent::Unmounted {
            mount_point,
            device,
            finding,
            medium,
        } => {
            assert_eq!(mount_point, &media.join("stick"));
            assert_eq!(device, &lm.dev);
            assert_eq!(finding.detail.as_ref().unwrap()["event"], "unmount");
            assert_eq!(finding.medium_id.as_deref(), Some("BM-W-1"));
            assert_eq!(finding.severity, Severity::Info);
            assert_eq!(medium.identity.fs_uuid.as_deref(), Some(UUID_A));
        }
        other => panic!("expected Unmounted, got {other:?}"),
    }
    assert!(w.present().is_empty());

    // Stop wakes a blocked wait at once.
    let t = Instant::now();
    let h = std::thread::spawn(move || {
        let r = w.wait(None).map(|e| e.len());
        (r, w.is_stopped())
    });
    std::thread::sleep(Duration::from_millis(100));
    stop.stop();
    let (r, stopped) = h.join().unwrap();
    assert_eq!(r.unwrap(), 0);
    assert!(stopped);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn watcher_stop_without_root() {
    // Works for any user: the mount table is readable by everyone.
    let tmp = tempfile::tempdir().unwrap();
    let mut w = MountWatcher::new(opts(tmp.path()), MediaRegister::default()).unwrap();
    assert!(!w.is_stopped());
    let t = Instant::now();
    assert!(w.wait(Some(Duration::from_millis(50))).unwrap().is_empty());
    assert!(t.elapsed() >= Duration::from_millis(50));
    w.stop_handle().stop();
    assert!(w.is_stopped());
    assert!(w.wait(None).unwrap().is_empty());
}

#[test]
fn enforcement_remounts_read_only_and_unmounts() {
    if skip_without_loop("enforcement_remounts_read_only_and_unmounts") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let media = tmp.path().join("media");
    let img = make_image(
        tmp.path(),
        "e.img",
        16,
        "mkfs.ext4",
        &["-q", "-F", "-L", "ROGUE"],
    );
    let mut lm = LoopMount::attach(&img);
    lm.mount(&media.join("rogue"), "ext4");
    let reg = MediaRegister::default();
    let found = mounted_now(&opts(&media), &reg);
    assert_eq!(found.len(), 1);
    assert!(enforce(&found[0], Enforcement::None).is_none());

    let f = enforce(&found[0], Enforcement::ReadOnly).unwrap();
    assert_eq!(f.kind, FindingKind::EnforcementAction);
    assert_eq!(f.detail.as_ref().unwrap()["result"], "done", "{f:?}");
    let err = std::fs::write(media.join("rogue/copied.txt"), b"x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    let again = mounted_now(&opts(&media), &reg);
    assert!(again[0].read_only);
    assert!(
        enforce(&again[0], Enforcement::ReadOnly).is_none(),
        "already read-only"
    );

    let f = enforce(&again[0], Enforcement::Unmount).unwrap();
    assert_eq!(f.detail.as_ref().unwrap()["action"], "unmount");
    assert_eq!(f.detail.as_ref().unwrap()["result"], "done");
    assert!(mounted_now(&opts(&media), &reg).is_empty());
    lm.mount_point = None; // already detached; the guard still detaches the loop

    // A registered medium is never touched.
    let img2 = make_image(
        tmp.path(),
        "r.img",
        16,
        "mkfs.ext4",
        &["-q", "-F", "-U", UUID_B],
    );
    let mut lr = LoopMount::attach(&img2);
    lr.mount(&media.join("ok"), "ext4");
    let reg = MediaRegister {
        media: vec![entry("BM-OK", Some(UUID_B), None)],
    };
    let found = mounted_now(&opts(&media), &reg);
    assert_eq!(found.len(), 1);
    assert!(enforce(&found[0], Enforcement::Unmount).is_none());
    assert_eq!(mounted_now(&opts(&media), &reg).len(), 1);
}

#[test]
fn xfs_and_btrfs_media() {
    if skip_without_loop("xfs_and_btrfs_media") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let media = tmp.path().join("media");
    let mut guards = Vec::new();
    let mut expect = Vec::new();
    if have("mkfs.xfs") {
        let u = "3a3a3a3a-1b1b-4c4c-8d8d-0e0e0e0e0e0e";
        let img = make_image(
            tmp.path(),
            "x.img",
            300,
            "mkfs.xfs",
            &["-q", "-f", "-m", &format!("uuid={u}"), "-L", "XFSLBL"],
        );
        let mut g = LoopMount::attach(&img);
        g.mount(&media.join("x"), "xfs");
        guards.push(g);
        expect.push(("xfs", u, "XFSLBL"));
    } else {
        eprintln!("xfs part skipped: mkfs.xfs missing (apt install xfsprogs)");
    }
    if have("mkfs.btrfs") {
        let u = "4b4b4b4b-2c2c-4d4d-8e8e-1f1f1f1f1f1f";
        let img = make_image(
            tmp.path(),
            "b.img",
            128,
            "mkfs.btrfs",
            &["-q", "-f", "-U", u, "-L", "BTRLBL"],
        );
        let mut g = LoopMount::attach(&img);
        g.mount(&media.join("y"), "btrfs");
        guards.push(g);
        expect.push(("btrfs", u, "BTRLBL"));
    } else {
        eprintln!("btrfs part skipped: mkfs.btrfs missing (apt install btrfs-progs)");
    }
    let mut found = mounted_now(&opts(&media), &MediaRegister::default());
    found.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
    assert_eq!(found.len(), expect.len());
    for (m, (ty, u, l)) in found.iter().zip(expect) {
        assert_eq!(m.identity.fs_type.as_deref(), Some(ty));
        assert_eq!(m.identity.fs_uuid.as_deref(), Some(u));
        assert_eq!(m.identity.label.as_deref(), Some(l));
    }
}

#[test]
fn a_filesystem_that_fails_to_mount_is_not_reported() {
    if skip_without_loop("a_filesystem_that_fails_to_mount_is_not_reported") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let media = tmp.path().join("media");
    let img = make_image(tmp.path(), "bad.img", 16, "mkfs.ext4", &["-q", "-F"]);
    // Wreck the superblock magic.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        f.seek(SeekFrom::Start(1024 + 0x38)).unwrap();
        f.write_all(&[0, 0]).unwrap();
    }
    let mut w = MountWatcher::new(opts(&media), MediaRegister::default()).unwrap();
    let mut lm = LoopMount::attach(&img);
    assert!(lm.mount_syscall(&media.join("bad"), "ext4").is_err());
    lm.mount_point = None;
    assert!(w.wait(Some(Duration::from_millis(300))).unwrap().is_empty());
    assert!(mounted_now(&opts(&media), &MediaRegister::default()).is_empty());
}

#[test]
fn fusefat_medium_is_seen_under_a_media_root() {
    if skip_without_loop("fusefat_medium_is_seen_under_a_media_root") {
        return;
    }
    if !Path::new("/dev/fuse").exists() || !have("fusefat") || !have("mkfs.vfat") {
        eprintln!(
            "fusefat_medium_is_seen_under_a_media_root: skipped: needs /dev/fuse, fusefat and mkfs.vfat"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let media = tmp.path().join("media");
    let mp = media.join("fat");
    std::fs::create_dir_all(&mp).unwrap();
    let img = make_image(
        tmp.path(),
        "f.img",
        16,
        "mkfs.vfat",
        &["-i", "1A2B3C4D", "-n", "FUSEFAT"],
    );
    run(
        "fusefat",
        &["-o", "rw+", img.to_str().unwrap(), mp.to_str().unwrap()],
    );
    let guard = FuseMount {
        mount_point: mp.clone(),
    };
    std::fs::write(mp.join("report.txt"), "机密★5年\n玄鸟柒号 试验大纲\n").unwrap();
    let reg = MediaRegister {
        media: vec![entry("BM-FAT", Some("1A2B-3C4D"), Some("FUSEFAT"))],
    };
    let found = mounted_now(&opts(&media), &reg);
    assert_eq!(found.len(), 1, "{found:#?}");
    let m = &found[0];
    assert_eq!(m.mount_point, mp);
    assert_eq!(m.removable, RemovableReason::MediaRoot);
    assert_eq!(m.fs_type, "fuse.fusefat");
    assert_eq!(m.device, "fusefat");
    // A FUSE mount shows no block device: the filesystem identity cannot be
    // read, so even a registered image is not recognised (the safe side).
    assert_eq!(m.identity.fs_uuid, None);
    assert_eq!(m.identity.label, None);
    assert_eq!(m.matched.status, MatchStatus::Unregistered);
    assert_eq!(m.finding.severity, Severity::High);
    assert_eq!(
        std::fs::read_to_string(m.mount_point.join("report.txt")).unwrap(),
        "机密★5年\n玄鸟柒号 试验大纲\n"
    );
    drop(guard);
    // The same image, read directly, is the registered medium's filesystem.
    let p = mijian_media::superblock::probe_path(&img).unwrap().unwrap();
    assert_eq!(p.uuid.as_deref(), Some("1A2B-3C4D"));
    assert_eq!(p.label.as_deref(), Some("FUSEFAT"));
}
