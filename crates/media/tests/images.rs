//! Superblock and partition-table parsing on images made by the real tools
//! (mkfs.vfat, mkfs.exfat, mkntfs, xorriso/genisoimage, sfdisk), checked
//! against `blkid -p` as the oracle. No root needed: the images are files
//! (this kernel has no vfat/exfat/iso9660 driver to mount them anyway).

mod util;

use mijian_media::superblock::{probe_path, probe_pt};
use std::path::Path;
use util::*;

fn check_against_blkid(img: &Path) -> mijian_media::superblock::FsProbe {
    let p = probe_path(img).unwrap().expect("a filesystem");
    if have("blkid") {
        let b = blkid(img);
        assert_eq!(Some(&p.fs_type), b.get("TYPE"), "type; blkid {b:?}");
        assert_eq!(p.uuid.as_ref(), b.get("UUID"), "uuid; blkid {b:?}");
        assert_eq!(p.label.as_ref(), b.get("LABEL"), "label; blkid {b:?}");
    }
    p
}

#[test]
fn vfat_12_16_32() {
    if !have("mkfs.vfat") {
        eprintln!("vfat: skipped: needs mkfs.vfat (dosfstools)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (fat, mb, ver) in [("12", 4, "FAT12"), ("16", 32, "FAT16"), ("32", 64, "FAT32")] {
        let img = make_image(
            tmp.path(),
            &format!("f{fat}.img"),
            mb,
            "mkfs.vfat",
            &["-F", fat, "-i", "1A2B3C4D", "-n", "BM017"],
        );
        let p = check_against_blkid(&img);
        assert_eq!(p.fs_type, "vfat");
        assert_eq!(p.uuid.as_deref(), Some("1A2B-3C4D"));
        assert_eq!(p.label.as_deref(), Some("BM017"));
        assert_eq!(p.version.as_deref(), Some(ver), "FAT{fat}");
    }
    // No label at all.
    let img = make_image(
        tmp.path(),
        "nolabel.img",
        8,
        "mkfs.vfat",
        &["-i", "00C0FFEE"],
    );
    let p = check_against_blkid(&img);
    assert_eq!(p.uuid.as_deref(), Some("00C0-FFEE"));
    assert_eq!(p.label, None);
}

#[test]
fn exfat_serial_and_label() {
    if !have("mkfs.exfat") {
        eprintln!("exfat: skipped: needs mkfs.exfat (exfatprogs)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = make_image(tmp.path(), "x.img", 16, "mkfs.exfat", &["-L", "涉密U盘01"]);
    let p = check_against_blkid(&img);
    assert_eq!(p.fs_type, "exfat");
    assert_eq!(p.label.as_deref(), Some("涉密U盘01"));
    let u = p.uuid.unwrap();
    assert_eq!(u.len(), 9);
    assert_eq!(&u[4..5], "-");
}

#[test]
fn ntfs_serial_and_volume_name() {
    if !have("mkntfs") {
        eprintln!("ntfs: skipped: needs mkntfs (ntfs-3g)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = make_image(
        tmp.path(),
        "n.img",
        16,
        "mkntfs",
        &["-q", "-F", "-f", "-L", "移动硬盘7"],
    );
    let p = check_against_blkid(&img);
    assert_eq!(p.fs_type, "ntfs");
    assert_eq!(p.label.as_deref(), Some("移动硬盘7"));
    assert_eq!(p.uuid.as_ref().map(String::len), Some(16));
}

#[test]
fn iso9660_plain_and_joliet() {
    let tool = if have("xorriso") {
        "xorriso"
    } else if have("genisoimage") {
        "genisoimage"
    } else {
        eprintln!("iso9660: skipped: needs xorriso or genisoimage");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("readme.txt"), b"hello").unwrap();
    for joliet in [false, true] {
        let img = tmp.path().join(format!("d{joliet}.iso"));
        let mut args: Vec<String> = Vec::new();
        if tool == "xorriso" {
            args.extend(["-as", "mkisofs"].map(String::from));
        }
        args.extend(["-quiet", "-V", "GJB_DISC_01"].map(String::from));
        if joliet {
            args.push("-J".into());
        }
        args.extend([
            "-o".into(),
            img.display().to_string(),
            content.display().to_string(),
        ]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(tool, &refs);
        let p = check_against_blkid(&img);
        assert_eq!(p.fs_type, "iso9660");
        assert_eq!(p.label.as_deref(), Some("GJB_DISC_01"));
        let u = p.uuid.unwrap();
        // YYYY-MM-DD-HH-MM-SS-cc
        assert_eq!(u.len(), 22, "{u}");
        assert_eq!(u.matches('-').count(), 6, "{u}");
        assert_eq!(p.version.is_some(), joliet);
    }
}

#[test]
fn partition_tables_dos_and_gpt() {
    if !have("sfdisk") {
        eprintln!("partition tables: skipped: needs sfdisk (fdisk)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (label, script, want_type, want_id) in [
        (
            "dos",
            "label: dos\nlabel-id: 0x1a2b3c4d\n,,c\n",
            "dos",
            "1a2b3c4d",
        ),
        (
            "gpt",
            "label: gpt\nlabel-id: 12345678-9ABC-4DEF-8123-456789ABCDEF\n,,L\n",
            "gpt",
            "12345678-9abc-4def-8123-456789abcdef",
        ),
    ] {
        let img = tmp.path().join(format!("{label}.img"));
        std::fs::File::create(&img)
            .unwrap()
            .set_len(8 * 1024 * 1024)
            .unwrap();
        let mut child = std::process::Command::new("sfdisk")
            .arg("-q")
            .arg(&img)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
        let p = probe_pt(&mut std::fs::File::open(&img).unwrap()).unwrap();
        assert_eq!(p.pt_type, want_type);
        assert_eq!(p.pt_uuid.as_deref(), Some(want_id));
        if have("blkid") {
            let b = blkid(&img);
            assert_eq!(b.get("PTTYPE").map(String::as_str), Some(want_type));
            assert_eq!(b.get("PTUUID").map(String::as_str), Some(want_id));
        }
    }
}

#[test]
fn truncated_and_corrupted_images_do_not_panic() {
    if !have("mkfs.vfat") {
        eprintln!("corruption: skipped: needs mkfs.vfat");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = make_image(
        tmp.path(),
        "c.img",
        8,
        "mkfs.vfat",
        &["-F", "32", "-n", "X"],
    );
    let bytes = std::fs::read(&img).unwrap();
    let mut seed = 7u64;
    for round in 0..300 {
        let mut b = bytes[..(64 * 1024).min(bytes.len())].to_vec();
        for _ in 0..8 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed as usize) % 512;
            b[i] = (seed >> 32) as u8;
        }
        if round % 3 == 0 {
            b.truncate((seed as usize) % b.len());
        }
        let _ = mijian_media::superblock::probe_fs(&mut std::io::Cursor::new(&b));
        let _ = probe_pt(&mut std::io::Cursor::new(&b));
    }
}
