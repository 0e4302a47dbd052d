//! The file walk: which paths the scanner looks at, and which it must not.
//!
//! Built on walkdir, not `ignore`: hidden files and ignore files are *not*
//! skipped (that would be an evasion hole, PITFALLS). Only regular files are
//! handed out; FIFOs, sockets and devices are never opened, symlinks below a
//! root are not followed (so loops cannot happen), a symlink given as a root
//! is followed once. Pseudo filesystems (/proc, /sys, /dev, cgroup, ...) are
//! never entered, recognised by path and by `statfs` type, and a walk below a
//! root stays on the root's filesystem unless `one_file_system` is off.
//! What could not be read (a directory or file without permission) is
//! reported, because an inspector must know what was not seen.

use globset::{Glob, GlobSet, GlobSetBuilder};
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use walkdir::WalkDir;

/// How the walk behaves.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    /// Stay on the filesystem of each root (default true). Roots themselves
    /// are always scanned, so a removable medium given as a path is scanned.
    pub one_file_system: bool,
    /// Paths matching any of these globs are skipped (directories pruned).
    pub exclude: GlobSet,
    /// Counts the paths `exclude` skipped (a pruned directory counts once),
    /// for the scan's coverage line (issue 18).
    pub excluded: Arc<AtomicU64>,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            one_file_system: true,
            exclude: GlobSet::empty(),
            excluded: Arc::default(),
        }
    }
}

impl WalkOptions {
    /// Whether `path` is excluded; counts it if so.
    fn excludes(&self, path: &Path) -> bool {
        let hit = self.exclude.is_match(path);
        if hit {
            self.excluded.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }
}

/// Compile exclude patterns (config `content.exclude`). A pattern without a
/// `/` matches a file or directory name anywhere (`*.iso`, `.cache`).
pub fn build_excludes(patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let pat = if p.contains('/') {
            p.clone()
        } else {
            format!("**/{p}")
        };
        let g = Glob::new(&pat).map_err(|e| {
            format!("exclude pattern `{p}`: {e} (use globs such as `*.iso`, `/home/*/.cache/**`)")
        })?;
        b.add(g);
    }
    b.build()
        .map_err(|e| format!("exclude patterns: {e} (use globs such as `*.iso`)"))
}

/// One item of the walk.
#[derive(Debug)]
pub enum WalkItem {
    /// A regular file, with its (lstat, or for a root: stat) metadata.
    File { path: PathBuf, meta: Metadata },
    /// Something that should have been looked at and could not be.
    Unreadable {
        path: PathBuf,
        /// `permission`, `vanished`, `io`.
        reason: &'static str,
        message: String,
    },
}

/// Filesystem types never entered: kernel pseudo filesystems, whose "files"
/// are not user content and can block or have side effects when read.
#[cfg(target_os = "linux")]
const PSEUDO_FS: &[i64] = &[
    0x9fa0,      // proc
    0x6265_6572, // sysfs
    0x1373,      // devtmpfs
    0x1cd1,      // devpts
    0x0027_e0eb, // cgroup
    0x6367_7270, // cgroup2
    0x6462_6720, // debugfs
    0x7472_6163, // tracefs
    0x7363_6673, // securityfs
    0x6165_676c, // pstore
    0xcafe_4a11, // bpf
    0x6265_6570, // configfs
    0x1980_0202, // mqueue
    0x4249_4e4d, // binfmt_misc
    0x0187,      // autofs (entering triggers mounts)
];

/// Paths never entered regardless of filesystem type.
const PSEUDO_PATHS: &[&str] = &["/proc", "/sys", "/dev"];

/// Whether `dir` lies on a pseudo filesystem.
pub fn is_pseudo_fs(dir: &Path) -> bool {
    if PSEUDO_PATHS.iter().any(|p| dir == Path::new(p)) {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
            return false;
        };
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out pointer.
        let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
        if rc == 0 {
            #[allow(clippy::unnecessary_cast)]
            let t = st.f_type as i64;
            return PSEUDO_FS.contains(&t);
        }
    }
    false
}

fn io_reason(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission",
        std::io::ErrorKind::NotFound => "vanished",
        _ => "io",
    }
}

#[cfg(unix)]
fn dev_of(m: &Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.dev()
}
#[cfg(not(unix))]
fn dev_of(_m: &Metadata) -> u64 {
    0
}

/// Walk `roots`, calling `sink` for every regular file and every unreadable
/// path, in walk order. Returns early when `sink` returns false.
pub fn walk(roots: &[PathBuf], opts: &WalkOptions, mut sink: impl FnMut(WalkItem) -> bool) {
    for root in roots {
        if !walk_root(root, opts, &mut sink) {
            return;
        }
    }
}

/// Like [`walk`], on `threads` threads: each root's first level is read
/// here, and its subdirectories are walked in parallel (one filesystem
/// rule, pseudo filesystems and excludes applied at the split as below).
/// Items arrive in no particular order. Stops early once `sink` returns false.
pub fn walk_parallel(
    roots: &[PathBuf],
    opts: &WalkOptions,
    threads: usize,
    sink: &(impl Fn(WalkItem) -> bool + Sync),
) {
    let mut subdirs: Vec<PathBuf> = Vec::new();
    for root in roots {
        if !split_root(root, opts, sink, &mut subdirs) {
            return;
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                use std::sync::atomic::Ordering;
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(dir) = subdirs.get(i) else { break };
                    let mut f = |item| sink(item);
                    if !walk_root(dir, opts, &mut f) {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
}

/// The item for a root (or directory) that could not be read.
fn cannot_read(root: &Path, e: &std::io::Error) -> WalkItem {
    WalkItem::Unreadable {
        path: root.to_path_buf(),
        reason: io_reason(e),
        message: format!("cannot read {}: {e}", root.display()),
    }
}

/// Hand out a root's files and first-level entries; collect the
/// subdirectories to walk. Returns false when the sink asked to stop.
fn split_root(
    root: &Path,
    opts: &WalkOptions,
    sink: &impl Fn(WalkItem) -> bool,
    subdirs: &mut Vec<PathBuf>,
) -> bool {
    let meta = match std::fs::metadata(root) {
        Ok(m) => m,
        Err(e) => {
            return sink(cannot_read(root, &e));
        }
    };
    if !meta.is_dir() || is_pseudo_fs(root) {
        // Files, special files and pseudo filesystems: the sequential rules.
        let mut f = |item| sink(item);
        return walk_root(root, opts, &mut f);
    }
    let root_dev = dev_of(&meta);
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) => {
            return sink(cannot_read(root, &e));
        }
    };
    for entry in rd {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                if !sink(cannot_read(root, &e)) {
                    return false;
                }
                continue;
            }
        };
        let path = entry.path();
        if opts.excludes(&path) {
            continue;
        }
        let m = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                if !sink(WalkItem::Unreadable {
                    reason: io_reason(&e),
                    message: format!("cannot stat {}: {e}", path.display()),
                    path,
                }) {
                    return false;
                }
                continue;
            }
        };
        let ft = m.file_type();
        if ft.is_file() {
            if !sink(WalkItem::File { path, meta: m }) {
                return false;
            }
        } else if ft.is_dir() {
            if dev_of(&m) != root_dev && (opts.one_file_system || is_pseudo_fs(&path)) {
                continue;
            }
            if PSEUDO_PATHS.iter().any(|p| path == Path::new(p)) {
                continue;
            }
            subdirs.push(path);
        }
    }
    true
}

fn walk_root(root: &Path, opts: &WalkOptions, sink: &mut impl FnMut(WalkItem) -> bool) -> bool {
    // A root is followed once if it is a symlink.
    let meta = match std::fs::metadata(root) {
        Ok(m) => m,
        Err(e) => {
            return sink(cannot_read(root, &e));
        }
    };
    if meta.is_file() {
        if opts.excludes(root) {
            return true;
        }
        return sink(WalkItem::File {
            path: root.to_path_buf(),
            meta,
        });
    }
    if !meta.is_dir() {
        // FIFO, socket, device given by name: never opened.
        log::info!(
            "skipping {}: not a regular file or directory",
            root.display()
        );
        return true;
    }
    if is_pseudo_fs(root) {
        log::info!("skipping {}: a kernel pseudo filesystem", root.display());
        return true;
    }
    let root_dev = dev_of(&meta);
    let it = WalkDir::new(root)
        .follow_links(false)
        .follow_root_links(true)
        .into_iter()
        .filter_entry(|e| {
            if e.depth() == 0 {
                return true;
            }
            if opts.excludes(e.path()) {
                return false;
            }
            if e.file_type().is_dir() {
                // A directory on another filesystem is a mount point: check
                // its type (never enter /proc-like mounts) and the
                // one-file-system rule. statfs only runs at mount points.
                if let Ok(m) = e.metadata()
                    && dev_of(&m) != root_dev
                {
                    if opts.one_file_system {
                        log::info!(
                            "not crossing into another filesystem at {}",
                            e.path().display()
                        );
                        return false;
                    }
                    if is_pseudo_fs(e.path()) {
                        return false;
                    }
                }
                if PSEUDO_PATHS.iter().any(|p| e.path() == Path::new(p)) {
                    return false;
                }
            }
            true
        });
    for entry in it {
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                let path = err.path().map(Path::to_path_buf).unwrap_or_default();
                let (reason, message) = match err.io_error() {
                    Some(io) => (
                        io_reason(io),
                        format!("cannot read {}: {io}", path.display()),
                    ),
                    None => ("io", format!("{err}")),
                };
                if !sink(WalkItem::Unreadable {
                    path,
                    reason,
                    message,
                }) {
                    return false;
                }
                continue;
            }
        };
        let ft = entry.file_type();
        if !ft.is_file() {
            // Directories are descended; symlinks, FIFOs, sockets and
            // devices are never opened.
            continue;
        }
        let item = match entry.metadata() {
            Ok(meta) => WalkItem::File {
                path: entry.into_path(),
                meta,
            },
            Err(err) => {
                let path = entry.into_path();
                let (reason, message) = match err.io_error() {
                    Some(io) => (
                        io_reason(io),
                        format!("cannot stat {}: {io}", path.display()),
                    ),
                    None => ("io", format!("{err}")),
                };
                WalkItem::Unreadable {
                    path,
                    reason,
                    message,
                }
            }
        };
        if !sink(item) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests;
