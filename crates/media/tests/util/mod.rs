//! Helpers for tests with real images, loop devices and mounts. Every mount
//! and loop device is owned by a guard whose `Drop` runs `umount -l` and
//! `losetup -d`, so a failing assertion never leaves one behind.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether this process may create loop devices and mount (root + loop).
pub fn can_loop_mount() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && Path::new("/dev/loop-control").exists() && have("losetup") && have("mount")
}

/// Print the skip line and return true when loop mounts are unavailable.
pub fn skip_without_loop(test: &str) -> bool {
    if can_loop_mount() {
        return false;
    }
    eprintln!("{test}: skipped: needs root and loop devices");
    true
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run a command; panic with its output on failure.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A sparse image file of `mb` MiB, formatted with `mkfs` + `args` + file.
pub fn make_image(dir: &Path, name: &str, mb: u64, mkfs: &str, args: &[&str]) -> PathBuf {
    let img = dir.join(name);
    let f = std::fs::File::create(&img).expect("create image");
    f.set_len(mb * 1024 * 1024).expect("size image");
    drop(f);
    let mut all: Vec<&str> = args.to_vec();
    let p = img.to_str().expect("utf-8 temp path");
    all.push(p);
    run(mkfs, &all);
    img
}

/// `blkid -p -o udev FILE` as TYPE/UUID/LABEL/PTTYPE/PTUUID (the oracle for
/// superblocks). The udev format keeps non-ASCII labels exact
/// (`ID_FS_LABEL_ENC` with `\xNN` escapes) where `-o export` mangles them.
pub fn blkid(path: &Path) -> std::collections::BTreeMap<String, String> {
    let out = Command::new("blkid")
        .args(["-p", "-o", "udev"])
        .arg(path)
        .output()
        .expect("blkid");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| {
            let key = match k {
                "ID_FS_TYPE" => "TYPE",
                "ID_FS_UUID" => "UUID",
                "ID_FS_LABEL_ENC" => "LABEL",
                "ID_PART_TABLE_TYPE" => "PTTYPE",
                "ID_PART_TABLE_UUID" => "PTUUID",
                _ => return None,
            };
            let val = if key == "LABEL" {
                mijian_media::udev::decode_hex_escapes(v)
            } else {
                v.to_string()
            };
            Some((key.to_string(), val))
        })
        .collect()
}

/// A loop device and, once mounted, its mount point. Dropping it unmounts
/// (lazily) and detaches, whatever state the test left it in.
pub struct LoopMount {
    pub dev: String,
    pub mount_point: Option<PathBuf>,
}

impl LoopMount {
    /// Attach `img` to a free loop device.
    pub fn attach(img: &Path) -> LoopMount {
        let dev = run(
            "losetup",
            &["-f", "--show", img.to_str().expect("utf-8 path")],
        )
        .trim()
        .to_string();
        LoopMount {
            dev,
            mount_point: None,
        }
    }

    /// Mount it at `dir` (created) with the `mount` command.
    pub fn mount(&mut self, dir: &Path, fstype: &str) {
        std::fs::create_dir_all(dir).expect("mount point");
        self.mount_point = Some(dir.to_path_buf());
        run(
            "mount",
            &["-t", fstype, &self.dev, dir.to_str().expect("utf-8 path")],
        );
    }

    /// Mount with mount(2) directly (for latency measurements).
    pub fn mount_syscall(&mut self, dir: &Path, fstype: &str) -> std::io::Result<()> {
        use std::ffi::CString;
        std::fs::create_dir_all(dir)?;
        self.mount_point = Some(dir.to_path_buf());
        let src = CString::new(self.dev.clone()).expect("no NUL");
        let dst = CString::new(dir.to_str().expect("utf-8").to_string()).expect("no NUL");
        let ty = CString::new(fstype).expect("no NUL");
        // SAFETY: valid NUL-terminated strings; null data.
        let rc =
            unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// Unmount now (the guard then has nothing left to unmount).
    pub fn unmount(&mut self) {
        if let Some(d) = self.mount_point.take() {
            run("umount", &[d.to_str().expect("utf-8 path")]);
        }
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        if let Some(d) = self.mount_point.take() {
            let _ = Command::new("umount").arg("-l").arg(&d).output();
        }
        let _ = Command::new("losetup").args(["-d", &self.dev]).output();
    }
}

/// A FUSE mount (fusefat, fuseiso): dropped → `umount -l`.
pub struct FuseMount {
    pub mount_point: PathBuf,
}

impl Drop for FuseMount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .output();
    }
}
