//! Reading a host's files through its [`Root`] (`spec/host-checks.md`,
//! "Invocation"): every path is a host path (`/etc/pam.d/system-auth`), and
//! symlinks are resolved *inside* the root, like `oscap-chroot` or a chroot
//! would see them. An absolute target is re-rooted, `..` stops at the root,
//! and a hop limit stops loops, so nothing outside the root is ever opened.
//!
//! The resolution is done by hand, component by component with `lstat`,
//! because `std::fs::canonicalize` follows absolute links to the machine
//! running the checker, which is exactly what `--root` must never do.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Linux's own limit on symlinks followed in one lookup (`MAXSYMLINKS`).
const MAX_HOPS: usize = 40;

/// Files larger than this are not read (a hostile image could hold a huge
/// "config file"); every file the checks need is far smaller.
const MAX_FILE: u64 = 64 * 1024 * 1024;

/// The file tree a host is read through: `/` on a live host, or `--root DIR`.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
    live: bool,
}

/// Why a file inside the root could not be read (a missing file is not an
/// error: the readers return `Ok(None)` for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The file exists but this process may not read it.
    PermissionDenied { path: String },
    /// More than 40 symlinks on the way: a loop.
    SymlinkLoop { path: String },
    /// The file is bigger than the checker reads.
    TooLarge { path: String, size: u64 },
    /// Any other I/O error (a directory where a file was expected, EIO ...).
    Io { path: String, reason: String },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::PermissionDenied { path } => {
                write!(f, "{path}: permission denied: run as root")
            }
            ReadError::SymlinkLoop { path } => {
                write!(f, "{path}: too many levels of symbolic links")
            }
            ReadError::TooLarge { path, size } => {
                write!(
                    f,
                    "{path}: {size} bytes, larger than the {MAX_FILE} bytes read"
                )
            }
            ReadError::Io { path, reason } => write!(f, "{path}: {reason}"),
        }
    }
}

impl std::error::Error for ReadError {}

impl ReadError {
    /// Whether the error is a permission problem (an ordinary user on a live host).
    pub fn is_permission(&self) -> bool {
        matches!(self, ReadError::PermissionDenied { .. })
    }
}

/// A file read through the root: its host path, the host path it resolved
/// to (differs when a symlink was followed), and its bytes.
#[derive(Debug, Clone)]
pub struct HostFile {
    pub path: String,
    pub resolved: String,
    pub bytes: Vec<u8>,
}

impl HostFile {
    /// The contents as text; invalid UTF-8 is replaced (config files are ASCII).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Evidence value naming the file, and its link target when it was a link.
    pub fn shown(&self) -> String {
        if self.path == self.resolved {
            self.path.clone()
        } else {
            format!("{} -> {}", self.path, self.resolved)
        }
    }
}

impl Root {
    /// The running system.
    pub fn live() -> Root {
        Root {
            path: PathBuf::from("/"),
            live: true,
        }
    }

    /// A file tree inspected as if it were the host's `/`.
    pub fn at(dir: impl Into<PathBuf>) -> Root {
        Root {
            path: dir.into(),
            live: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_live(&self) -> bool {
        self.live
    }

    /// The real path of host path `host` with every symlink resolved inside
    /// the root, and the host path it resolved to. The final component may
    /// be missing (the caller then sees `NotFound` when it opens it).
    pub fn resolve(&self, host: &str) -> Result<(PathBuf, String), ReadError> {
        let mut queue: VecDeque<String> = components(host);
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = queue.pop_front() {
            if c == ".." {
                done.pop();
                continue;
            }
            done.push(c);
            let real = self.real(&done);
            let meta = match std::fs::symlink_metadata(&real) {
                Ok(m) => m,
                // A missing component: the rest cannot exist either; let the
                // open report it.
                Err(_) => {
                    done.extend(queue.drain(..));
                    break;
                }
            };
            if !meta.file_type().is_symlink() {
                continue;
            }
            hops += 1;
            if hops > MAX_HOPS {
                return Err(ReadError::SymlinkLoop {
                    path: host.to_string(),
                });
            }
            let target = std::fs::read_link(&real).map_err(|e| io_error(host, e))?;
            done.pop();
            let target = target.to_string_lossy().into_owned();
            if target.starts_with('/') {
                done.clear();
            }
            let mut next = components(&target);
            next.extend(queue.drain(..));
            queue = next;
        }
        let shown = format!("/{}", done.join("/"));
        Ok((self.real(&done), shown))
    }

    fn real(&self, parts: &[String]) -> PathBuf {
        let mut p = self.path.clone();
        for c in parts {
            p.push(c);
        }
        p
    }

    /// Read a file; `Ok(None)` when it does not exist.
    pub fn read(&self, host: &str) -> Result<Option<HostFile>, ReadError> {
        let (real, resolved) = self.resolve(host)?;
        let meta = match std::fs::metadata(&real) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(host, e)),
        };
        if meta.is_dir() {
            return Err(ReadError::Io {
                path: host.to_string(),
                reason: "is a directory, expected a file".into(),
            });
        }
        if !meta.is_file() {
            // A device node or FIFO (a hostile image linking a config file to
            // `/dev/zero`) would never end or would block.
            return Err(ReadError::Io {
                path: host.to_string(),
                reason: "not a regular file".into(),
            });
        }
        if meta.len() > MAX_FILE {
            return Err(ReadError::TooLarge {
                path: host.to_string(),
                size: meta.len(),
            });
        }
        match std::fs::read(&real) {
            Ok(bytes) => Ok(Some(HostFile {
                path: normal(host),
                resolved,
                bytes,
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(host, e)),
        }
    }

    /// Names of the entries of a directory, sorted bytewise; `Ok(vec![])`
    /// when the directory does not exist.
    pub fn list_dir(&self, host: &str) -> Result<Vec<String>, ReadError> {
        let (real, _) = self.resolve(host)?;
        let rd = match std::fs::read_dir(&real) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) if e.raw_os_error() == Some(libc_enotdir()) => return Ok(Vec::new()),
            Err(e) => return Err(io_error(host, e)),
        };
        let mut names: Vec<String> = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| io_error(host, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        // Bytewise order, like the C programs' `alphasort` in the C locale.
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        Ok(names)
    }

    /// Whether a host path exists (after resolving links inside the root).
    pub fn exists(&self, host: &str) -> bool {
        self.resolve(host)
            .map(|(real, _)| real.exists())
            .unwrap_or(false)
    }

    /// Whether a host path is a directory (after resolving links inside the root).
    pub fn is_dir(&self, host: &str) -> bool {
        self.resolve(host)
            .map(|(real, _)| real.is_dir())
            .unwrap_or(false)
    }
}

fn libc_enotdir() -> i32 {
    20
}

fn components(p: &str) -> VecDeque<String> {
    Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect()
}

/// A host path written with one leading `/` and no `.`/`//`.
fn normal(host: &str) -> String {
    let parts: Vec<String> = components(host).into_iter().collect();
    format!("/{}", parts.join("/"))
}

fn io_error(host: &str, e: io::Error) -> ReadError {
    if e.kind() == io::ErrorKind::PermissionDenied {
        ReadError::PermissionDenied { path: normal(host) }
    } else {
        ReadError::Io {
            path: normal(host),
            reason: e.to_string(),
        }
    }
}

// Symlink fixtures: Linux trees.
#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_links_stay_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("etc/authselect")).unwrap();
        std::fs::create_dir_all(r.join("etc/pam.d")).unwrap();
        std::fs::write(r.join("etc/authselect/system-auth"), "inside\n").unwrap();
        symlink(
            "/etc/authselect/system-auth",
            r.join("etc/pam.d/system-auth"),
        )
        .unwrap();
        // A link to a file that exists on every machine but not in the root.
        symlink("/etc/passwd", r.join("etc/pam.d/escape")).unwrap();
        symlink("../../../../../../etc/passwd", r.join("etc/pam.d/dotdot")).unwrap();
        let root = Root::at(r);
        let f = root.read("/etc/pam.d/system-auth").unwrap().unwrap();
        assert_eq!(f.text(), "inside\n");
        assert_eq!(f.resolved, "/etc/authselect/system-auth");
        assert!(root.read("/etc/pam.d/escape").unwrap().is_none());
        assert!(root.read("/etc/pam.d/dotdot").unwrap().is_none());
    }

    #[test]
    fn loops_are_an_error_not_a_hang() {
        let d = tempfile::tempdir().unwrap();
        symlink("b", d.path().join("a")).unwrap();
        symlink("/a", d.path().join("b")).unwrap();
        let root = Root::at(d.path());
        assert!(matches!(
            root.read("/a"),
            Err(ReadError::SymlinkLoop { .. })
        ));
    }

    #[test]
    fn relative_links_resolve_from_their_directory() {
        let d = tempfile::tempdir().unwrap();
        let ad = d.path().join("etc/X11/app-defaults");
        std::fs::create_dir_all(&ad).unwrap();
        std::fs::write(ad.join("XScreenSaver-nogl"), "*lock: True\n").unwrap();
        symlink("XScreenSaver-nogl", ad.join("XScreenSaver")).unwrap();
        let f = Root::at(d.path())
            .read("etc/X11/app-defaults/XScreenSaver")
            .unwrap()
            .unwrap();
        assert_eq!(f.resolved, "/etc/X11/app-defaults/XScreenSaver-nogl");
        assert_eq!(f.path, "/etc/X11/app-defaults/XScreenSaver");
    }
}
