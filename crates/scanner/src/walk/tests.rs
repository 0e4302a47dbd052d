use super::*;
use std::os::unix::fs::PermissionsExt;

fn collect(roots: &[PathBuf], opts: &WalkOptions) -> (Vec<PathBuf>, Vec<(PathBuf, &'static str)>) {
    let mut files = Vec::new();
    let mut bad = Vec::new();
    walk(roots, opts, |item| {
        match item {
            WalkItem::File { path, .. } => files.push(path),
            WalkItem::Unreadable { path, reason, .. } => bad.push((path, reason)),
        }
        true
    });
    files.sort();
    (files, bad)
}

fn names(root: &Path, files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn hidden_files_and_ignore_files_are_not_skipped() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    std::fs::create_dir_all(r.join(".hidden/sub")).unwrap();
    std::fs::write(r.join(".hidden/sub/a.txt"), "x").unwrap();
    std::fs::write(r.join(".gitignore"), "*.txt\n").unwrap();
    std::fs::write(r.join(".ignore"), "*\n").unwrap();
    std::fs::write(r.join("b.txt"), "y").unwrap();
    let (files, bad) = collect(&[r.to_path_buf()], &WalkOptions::default());
    assert_eq!(
        names(r, &files),
        [".gitignore", ".hidden/sub/a.txt", ".ignore", "b.txt"]
    );
    assert!(bad.is_empty());
}

#[test]
fn fifo_socket_and_device_are_never_opened() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    std::fs::write(r.join("plain.txt"), "x").unwrap();
    let fifo = std::ffi::CString::new(r.join("fifo").to_str().unwrap()).unwrap();
    // SAFETY: valid C string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let _sock = std::os::unix::net::UnixListener::bind(r.join("sock")).unwrap();
    // A character device (needs root; where it cannot be made the FIFO and
    // socket still prove the rule).
    let dev = std::ffi::CString::new(r.join("null").to_str().unwrap()).unwrap();
    // SAFETY: valid C string; makedev(1, 3) is /dev/null.
    let _ = unsafe { libc::mknod(dev.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    // The FIFO given directly as a root is skipped too, without blocking.
    let (files, bad) = collect(
        &[r.to_path_buf(), r.join("fifo"), r.join("null")],
        &WalkOptions::default(),
    );
    assert_eq!(names(r, &files), ["plain.txt"]);
    assert!(bad.is_empty());
}

#[test]
fn symlink_loops_are_survived_and_links_not_followed() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    std::fs::create_dir_all(r.join("a/b")).unwrap();
    std::fs::write(r.join("a/b/f.txt"), "x").unwrap();
    std::os::unix::fs::symlink(r.join("a"), r.join("a/b/loop")).unwrap();
    std::os::unix::fs::symlink("self", r.join("self")).unwrap();
    std::os::unix::fs::symlink(r.join("a/b/f.txt"), r.join("link.txt")).unwrap();
    let (files, _) = collect(&[r.to_path_buf()], &WalkOptions::default());
    assert_eq!(names(r, &files), ["a/b/f.txt"]);
    // A symlink given as a root is followed once.
    let (files, _) = collect(&[r.join("link.txt")], &WalkOptions::default());
    assert_eq!(files, [r.join("link.txt")]);
    let (files, _) = collect(&[r.join("a/b/loop")], &WalkOptions::default());
    assert_eq!(files.len(), 1, "{files:?}");
}

#[test]
fn excluded_globs_are_pruned() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    std::fs::create_dir_all(r.join("cache/deep")).unwrap();
    std::fs::write(r.join("cache/deep/x.txt"), "x").unwrap();
    std::fs::write(r.join("a.iso"), "x").unwrap();
    std::fs::write(r.join("keep.txt"), "x").unwrap();
    let opts = WalkOptions {
        exclude: build_excludes(&["*.iso".into(), "cache".into()]).unwrap(),
        ..WalkOptions::default()
    };
    let (files, _) = collect(&[r.to_path_buf()], &opts);
    assert_eq!(names(r, &files), ["keep.txt"]);
    assert!(build_excludes(&["a[".into()]).unwrap_err().contains("a["));
}

#[test]
fn pseudo_filesystems_are_recognised() {
    assert!(is_pseudo_fs(Path::new("/proc")));
    assert!(is_pseudo_fs(Path::new("/sys")));
    assert!(!is_pseudo_fs(Path::new("/tmp")));
    // Given as a root, /proc is not walked at all.
    let (files, bad) = collect(&[PathBuf::from("/proc")], &WalkOptions::default());
    assert!(files.is_empty() && bad.is_empty());
}

#[test]
fn non_utf8_names_are_walked() {
    use std::os::unix::ffi::OsStrExt;
    let d = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"\xbb\xfa\xc3\xdc.txt");
    std::fs::write(d.path().join(name), "x").unwrap();
    let (files, _) = collect(&[d.path().to_path_buf()], &WalkOptions::default());
    assert_eq!(files, [d.path().join(name)]);
}

/// Root reads everything, so as root the check runs in a child process of
/// this test binary that has dropped to `nobody`.
#[test]
fn permission_denied_directory_is_reported() {
    let as_child = std::env::var_os("MIJIAN_WALK_PERM_DIR");
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if let Some(dir) = as_child {
        let r = PathBuf::from(dir);
        let (files, bad) = collect(std::slice::from_ref(&r), &WalkOptions::default());
        assert_eq!(names(&r, &files), ["open.txt"]);
        assert_eq!(bad, [(r.join("closed"), "permission")]);
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let r = d.path().to_path_buf();
    std::fs::create_dir(r.join("closed")).unwrap();
    std::fs::write(r.join("closed/secret.txt"), "x").unwrap();
    std::fs::write(r.join("open.txt"), "x").unwrap();
    std::fs::set_permissions(r.join("closed"), std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::set_permissions(&r, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(r.join("open.txt"), std::fs::Permissions::from_mode(0o644)).unwrap();
    if euid != 0 {
        let (files, bad) = collect(std::slice::from_ref(&r), &WalkOptions::default());
        assert_eq!(names(&r, &files), ["open.txt"]);
        assert_eq!(bad, [(r.join("closed"), "permission")]);
        return;
    }
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "--exact",
        "walk::tests::permission_denied_directory_is_reported",
    ])
    .env("MIJIAN_WALK_PERM_DIR", &r);
    // SAFETY: setgid/setuid are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "child as nobody failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}

#[test]
fn parallel_walk_sees_what_the_sequential_walk_sees() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    for (i, dir) in ["a", "a/b", ".h", ".h/x/y", "skip", "c"].iter().enumerate() {
        std::fs::create_dir_all(r.join(dir)).unwrap();
        std::fs::write(r.join(dir).join(format!("f{i}.txt")), "x").unwrap();
        std::fs::write(r.join(dir).join("z.iso"), "x").unwrap();
    }
    std::fs::write(r.join("top.txt"), "x").unwrap();
    std::os::unix::fs::symlink(r.join("a"), r.join("a/b/loop")).unwrap();
    let opts = WalkOptions {
        exclude: build_excludes(&["*.iso".into(), "skip".into()]).unwrap(),
        ..WalkOptions::default()
    };
    let roots = [r.to_path_buf(), r.join("top.txt")];
    let (seq, seq_bad) = collect(&roots, &opts);
    let got = std::sync::Mutex::new(Vec::new());
    walk_parallel(&roots, &opts, 3, &|item| {
        if let WalkItem::File { path, .. } = item {
            got.lock().unwrap().push(path);
        }
        true
    });
    let mut par = got.into_inner().unwrap();
    par.sort();
    assert_eq!(par, seq);
    // Five files in the tree (f4 is excluded with `skip`) + top.txt, given twice.
    assert_eq!(names(r, &seq).len(), 7, "{seq:?}");
    assert!(seq_bad.is_empty());
}
