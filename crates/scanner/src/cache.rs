//! Persistent scan cache: a rescan of an unchanged tree reads no content.
//!
//! Design note.
//! - **Key**: the path's bytes → the file's identity and metadata (device,
//!   inode, size, mtime ns, ctime ns). An entry is used only when all five
//!   match the current `lstat`; any write, rename-over, chmod or
//!   truncation changes ctime. The path is part of the key because the file
//!   name is scanned too and findings carry the path (hard links, renames).
//! - **Scope**: the whole file is tied to one policy digest and host level,
//!   written in its header; a different policy or level starts empty, so a
//!   policy change rescans everything.
//! - **Value**: opaque bytes (the engine stores its serialised findings).
//! - **Layout**: `MIJIANC1` | u32 header len | header (digest, level) |
//!   entries (u32 path len, path, 5 × u64/i64, u32 value len, value)* |
//!   SHA-256 of everything before it. All integers little endian.
//! - **Crash safety**: [`Cache::save`] writes a temporary file next to the
//!   cache, fsyncs it and renames it over the old one, so a crash leaves the
//!   old or the new file, never a torn one. A file that fails its checksum
//!   or does not parse is treated as empty (and logged): a rescan is always
//!   correct, a wrong cache hit never is.
//! - **Bounds**: at most [`MAX_ENTRIES`] entries are kept; entries not seen
//!   in the last scan go first.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::Metadata;
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"MIJIANC1";
/// Entries kept at most (about 100 bytes each).
pub const MAX_ENTRIES: usize = 2_000_000;
/// Largest cache file read back (anything bigger is treated as corrupt).
const MAX_FILE: u64 = 1 << 30;

/// A file's identity and metadata: the cache key besides its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl FileStamp {
    /// The stamp of a file from its metadata.
    #[cfg(unix)]
    pub fn of(m: &Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            ctime_ns: m
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.ctime_nsec()),
        }
    }

    /// The stamp of a file from its metadata (no inode on this platform:
    /// size and times only).
    #[cfg(not(unix))]
    pub fn of(m: &Metadata) -> FileStamp {
        let ns = |t: std::io::Result<std::time::SystemTime>| {
            t.ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0)
        };
        FileStamp {
            dev: 0,
            ino: 0,
            size: m.len(),
            mtime_ns: ns(m.modified()),
            ctime_ns: ns(m.created()),
        }
    }
}

struct Entry {
    stamp: FileStamp,
    value: Vec<u8>,
    seen: bool,
}

/// The cache of one policy digest and host level.
pub struct Cache {
    path: PathBuf,
    scope: Vec<u8>,
    entries: HashMap<Vec<u8>, Entry>,
    dirty: bool,
}

fn path_bytes(p: &Path) -> std::borrow::Cow<'_, [u8]> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::borrow::Cow::Borrowed(p.as_os_str().as_bytes())
    }
    #[cfg(not(unix))]
    {
        std::borrow::Cow::Owned(p.to_string_lossy().into_owned().into_bytes())
    }
}

impl Cache {
    /// Open the cache at `path` for `policy_digest` and `host_level`. A
    /// missing, corrupt or other-policy file gives an empty cache.
    pub fn open(path: &Path, policy_digest: &str, host_level: &str) -> Cache {
        let scope = format!("{policy_digest}\n{host_level}").into_bytes();
        let mut cache = Cache {
            path: path.to_path_buf(),
            scope,
            entries: HashMap::new(),
            dirty: false,
        };
        match std::fs::metadata(path) {
            Ok(m) if m.len() > MAX_FILE => {
                log::warn!("scan cache {} is too large; starting empty", path.display());
                cache.dirty = true;
            }
            Ok(_) => match std::fs::read(path) {
                Ok(bytes) => match cache.parse(&bytes) {
                    Ok(true) => {}
                    Ok(false) => {
                        log::info!(
                            "scan cache {}: policy or level changed; rescanning all",
                            path.display()
                        );
                        cache.dirty = true;
                    }
                    Err(why) => {
                        log::warn!(
                            "scan cache {} is corrupt ({why}); starting empty",
                            path.display()
                        );
                        cache.entries.clear();
                        cache.dirty = true;
                    }
                },
                Err(e) => log::warn!(
                    "cannot read scan cache {}: {e}; starting empty",
                    path.display()
                ),
            },
            Err(_) => {}
        }
        cache
    }

    /// Parse a cache file. `Ok(false)`: valid but for another scope.
    fn parse(&mut self, bytes: &[u8]) -> Result<bool, &'static str> {
        if bytes.len() < MAGIC.len() + 4 + 32 || &bytes[..8] != MAGIC {
            return Err("bad magic");
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != sum {
            return Err("checksum mismatch");
        }
        let mut r = Reader { b: body, pos: 8 };
        let scope = r.bytes()?;
        if scope != self.scope.as_slice() {
            return Ok(false);
        }
        while r.pos < body.len() {
            let path = r.bytes()?.to_vec();
            let stamp = FileStamp {
                dev: r.u64()?,
                ino: r.u64()?,
                size: r.u64()?,
                mtime_ns: r.u64()? as i64,
                ctime_ns: r.u64()? as i64,
            };
            let value = r.bytes()?.to_vec();
            self.entries.insert(
                path,
                Entry {
                    stamp,
                    value,
                    seen: false,
                },
            );
        }
        Ok(true)
    }

    /// The cached value for `path` if its stamp is unchanged. Marks the
    /// entry as seen in this scan.
    pub fn get(&mut self, path: &Path, stamp: &FileStamp) -> Option<&[u8]> {
        let e = self.entries.get_mut(path_bytes(path).as_ref())?;
        if e.stamp != *stamp {
            return None;
        }
        e.seen = true;
        Some(&e.value)
    }

    /// Record the value for `path` at `stamp`.
    pub fn put(&mut self, path: &Path, stamp: FileStamp, value: Vec<u8>) {
        self.entries.insert(
            path_bytes(path).into_owned(),
            Entry {
                stamp,
                value,
                seen: true,
            },
        );
        self.dirty = true;
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Write the cache atomically (temp file, fsync, rename). Does nothing
    /// when nothing changed.
    pub fn save(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if self.entries.len() > MAX_ENTRIES {
            self.entries.retain(|_, e| e.seen);
        }
        let mut out = Vec::with_capacity(64 + self.entries.len() * 96);
        out.extend_from_slice(MAGIC);
        put_bytes(&mut out, &self.scope);
        for (path, e) in self.entries.iter().take(MAX_ENTRIES) {
            put_bytes(&mut out, path);
            for v in [
                e.stamp.dev,
                e.stamp.ino,
                e.stamp.size,
                e.stamp.mtime_ns as u64,
                e.stamp.ctime_ns as u64,
            ] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            put_bytes(&mut out, &e.value);
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        let res = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&out)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent()
                && let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                })
            {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
        } else {
            self.dirty = false;
        }
        res
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Values and paths are far below 4 GiB; anything larger is cut to an
    // empty value rather than written inconsistently.
    let b = if b.len() > u32::MAX as usize {
        &[][..]
    } else {
        b
    };
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self.b.get(self.pos..end).ok_or("truncated entry")?;
        self.pos = end;
        Ok(s)
    }
    fn u64(&mut self) -> Result<u64, &'static str> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    fn bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let s = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(s);
        let n = u32::from_le_bytes(a) as usize;
        self.take(n)
    }
}

#[cfg(test)]
mod tests;
