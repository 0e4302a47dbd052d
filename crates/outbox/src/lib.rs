//! The agent's durable outbox: a FIFO of opaque signed reports on disk
//! (issue 6, "nothing is lost").
//!
//! The daemon seals a report, pushes its JWS bytes here, and only then tries
//! to deliver it; delivery (HTTPS or `export`) calls [`Outbox::ack`] after the
//! collector answered 202/200 or after the exported file is synced. This crate
//! never parses a report and knows nothing about HTTP: it stores bytes with a
//! [`Class`] the caller chose, in order.
//!
//! # Design note
//!
//! ## Invariants
//! 1. [`Outbox::push`] returns `Ok` only when the entry's bytes and its name
//!    are durable (file `fsync`, rename, directory `fsync`). An entry whose
//!    push returned is never lost by a crash (`kill -9`, power loss on a
//!    filesystem that honours `fsync`), only by [`Outbox::ack`] or by the
//!    eviction rule below, which the push that caused it reports.
//! 2. A visible entry is always complete: it appears under its final name by
//!    an atomic `rename` of a fully written and synced temporary file. A crash
//!    at any instant leaves at most one `*.tmp` file, which [`Outbox::open`]
//!    deletes (its push never returned, so nobody was told it was queued).
//! 3. Entries come out in push order (ids grow monotonically within a
//!    process and resume above the largest id on disk after a restart).
//! 4. Every entry carries a CRC-32 of its bytes; an entry that fails it (disk
//!    corruption, a filesystem that lied about `fsync`) is moved to
//!    `quarantine/`, never deleted, and listed in [`Recovery`].
//! 5. The size bound never silently drops evidence: only entries of class
//!    [`Class::Heartbeat`] and superseded [`Class::Full`] entries are ever
//!    evicted; [`Class::Findings`] and [`Class::Alarm`] entries never are. When
//!    nothing evictable is left, `push` refuses with [`Error::Full`] and the
//!    caller raises an alarm (the daemon queues an `agent_alarm` finding,
//!    which may use a small reserve above the bound).
//! 6. One process at a time: `open` takes an exclusive `flock` on `lock`, so
//!    `mijian-agent export` and a running daemon never deliver the same entry.
//!
//! ## On-disk layout
//! ```text
//! <dir>/lock                          flock target, empty
//! <dir>/00000000000000000042.f.msg    one entry: id 42, class f (full)
//! <dir>/00000000000000000043.tmp      a push in progress (deleted by open)
//! <dir>/quarantine/...                entries that failed their checksum
//! <dir>/rejected/...                  entries the collector refused for good
//!                                     (400, 413), set aside so the queue goes on
//! ```
//! An entry file is a 16-byte header followed by the bytes:
//! `b"MJOB"`, version `1` (u8), class code (u8), two zero bytes, the length
//! (u32 LE) and the CRC-32 of the bytes (u32 LE). The class is also in the
//! file name so that [`Outbox::open`] and eviction never need to read files.
//!
//! ## Crash recovery
//! `open` lists the directory: `*.tmp` files are deleted; `*.msg` files are
//! checked (length and CRC) and indexed; anything unreadable or corrupt is
//! moved to `quarantine/`. An `ack` is an `unlink` plus a directory `fsync`; a
//! crash between the collector's 202 and the unlink redelivers the entry after
//! restart, which the collector answers with 200 (idempotent by `report_id`),
//! so delivery is at-least-once on the wire and exactly-once in the store.
//!
//! ## Eviction
//! A push that would exceed [`Limits::max_bytes`] or [`Limits::max_entries`]
//! first evicts, oldest first, heartbeats (every queued heartbeat is
//! superseded by the newer push), then [`Class::Full`] entries superseded by a
//! later `Full` or `Findings` entry (or by the push itself when it is one).
//! The newest full report and every `Findings`/`Alarm` entry stay. A push of
//! class [`Class::Alarm`] may use [`Limits::alarm_reserve_bytes`] and
//! [`ALARM_RESERVE_ENTRIES`] beyond the bound, so the alarm that says "the
//! outbox is full" can still be queued.
//!
//! ```
//! use mijian_outbox::{Class, Limits, Outbox};
//! let dir = tempfile::tempdir().unwrap();
//! let mut ob = Outbox::open(dir.path(), Limits::default()).unwrap();
//! let pushed = ob.push(b"signed report", Class::Full).unwrap();
//! let head = ob.peek().unwrap().unwrap();
//! assert_eq!((head.id, head.bytes.as_slice()), (pushed.id, &b"signed report"[..]));
//! ob.ack(head.id).unwrap();
//! assert!(ob.is_empty());
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Position of an entry in the outbox; grows with every push.
pub type Id = u64;

/// Extra entries a [`Class::Alarm`] push may use beyond [`Limits::max_entries`].
pub const ALARM_RESERVE_ENTRIES: usize = 64;

const MAGIC: &[u8; 4] = b"MJOB";
const VERSION: u8 = 1;
const HEADER: usize = 16;
const QUARANTINE: &str = "quarantine";
const REJECTED: &str = "rejected";

/// What kind of report an entry is, as the caller classifies it; decides what
/// eviction may drop (see the design note).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// A liveness report: superseded by any later entry; first to go.
    Heartbeat,
    /// A report without findings or failed checks (a clean full check, a clean
    /// rescan): superseded by a later `Full` or `Findings` entry.
    Full,
    /// A report with findings or failed checks: evidence, never evicted.
    Findings,
    /// A report raising an agent alarm (e.g. "outbox full"): never evicted,
    /// may use the reserve above the bound.
    Alarm,
}

impl Class {
    fn code(self) -> char {
        match self {
            Class::Heartbeat => 'h',
            Class::Full => 'f',
            Class::Findings => 'x',
            Class::Alarm => 'a',
        }
    }

    fn from_code(c: &str) -> Option<Class> {
        Some(match c {
            "h" => Class::Heartbeat,
            "f" => Class::Full,
            "x" => Class::Findings,
            "a" => Class::Alarm,
            _ => return None,
        })
    }

    /// Lowercase name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Heartbeat => "heartbeat",
            Class::Full => "full",
            Class::Findings => "findings",
            Class::Alarm => "alarm",
        }
    }
}

/// The size bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of queued entries (headers included).
    pub max_bytes: u64,
    /// Number of queued entries.
    pub max_entries: usize,
    /// Bytes a [`Class::Alarm`] push may use beyond `max_bytes`.
    pub alarm_reserve_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 256 << 20,
            max_entries: 100_000,
            alarm_reserve_bytes: 1 << 20,
        }
    }
}

/// One queued entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: Id,
    pub class: Class,
    pub bytes: Vec<u8>,
}

/// What a successful push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub id: Id,
    /// Entries evicted to make room (the caller logs them; never evidence).
    pub evicted: Vec<(Id, Class)>,
}

/// What [`Outbox::open`] (and later reads) had to clean up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Half-written `*.tmp` files of pushes that never returned.
    pub removed_partial: usize,
    /// Files moved to `quarantine/` (bad name, bad header, bad checksum).
    pub quarantined: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("outbox {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "outbox full: {len} more bytes ({class}) do not fit in {used}/{limit} bytes, {entries} entries, and only evidence is left (raise [daemon] outbox_max_bytes or deliver/export the queue)",
        class = class.as_str()
    )]
    Full {
        len: u64,
        class: Class,
        used: u64,
        limit: u64,
        entries: usize,
    },
    #[error(
        "outbox {}: locked by another process (is `mijian-agent run` running? stop it before `export`)",
        path.display()
    )]
    Locked { path: PathBuf },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    class: Class,
    /// Stored size: header + bytes.
    size: u64,
}

/// The durable queue. Single writer; wrap it in a `Mutex` to share it between
/// the producer and the delivery thread.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    _lock: File,
    index: BTreeMap<Id, Meta>,
    used: u64,
    next: Id,
    limits: Limits,
    recovery: Recovery,
}

impl Outbox {
    /// Open (creating if needed) the outbox in `dir`, recovering from any
    /// crash (see the design note).
    pub fn open(dir: &Path, limits: Limits) -> Result<Outbox> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        lock_exclusive(&lock, &lock_path)?;

        let mut ob = Outbox {
            dir: dir.to_path_buf(),
            _lock: lock,
            index: BTreeMap::new(),
            used: 0,
            next: 1,
            limits,
            recovery: Recovery::default(),
        };
        let mut changed = false;
        for de in fs::read_dir(dir).map_err(io_err(dir))? {
            let de = de.map_err(io_err(dir))?;
            let path = de.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                ob.quarantine(&path)?;
                changed = true;
                continue;
            };
            if name == "lock" || name == QUARANTINE || name == REJECTED {
                continue;
            }
            if let Some(stem) = name.strip_suffix(".tmp") {
                // Its id was never announced, but do not hand it out again.
                if let Ok(id) = stem.parse::<Id>() {
                    ob.next = ob.next.max(id.saturating_add(1));
                }
                fs::remove_file(&path).map_err(io_err(&path))?;
                ob.recovery.removed_partial += 1;
                changed = true;
                continue;
            }
            match parse_name(&name) {
                Some((id, class)) => match read_entry(&path, class) {
                    Ok(Some(bytes)) => {
                        ob.index.insert(
                            id,
                            Meta {
                                class,
                                size: (HEADER + bytes.len()) as u64,
                            },
                        );
                        ob.used += (HEADER + bytes.len()) as u64;
                        ob.next = ob.next.max(id + 1);
                    }
                    Ok(None) => {
                        ob.quarantine(&path)?;
                        changed = true;
                    }
                    Err(e) => return Err(io_err(&path)(e)),
                },
                None => {
                    ob.quarantine(&path)?;
                    changed = true;
                }
            }
        }
        if changed {
            sync_dir(dir)?;
        }
        Ok(ob)
    }

    /// Queue `bytes` durably (see invariant 1), evicting per the rule in the
    /// design note if the bound requires it.
    pub fn push(&mut self, bytes: &[u8], class: Class) -> Result<Pushed> {
        let evict = self.plan(bytes.len() as u64, class)?;
        let id = self.next;
        let tmp = self.dir.join(format!("{id:020}.tmp"));
        let fin = self.dir.join(entry_name(id, class));
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(MAGIC);
        header[4] = VERSION;
        header[5] = class.code() as u8;
        let len = u32::try_from(bytes.len()).map_err(|_| Error::Full {
            len: bytes.len() as u64,
            class,
            used: self.used,
            limit: u32::MAX as u64,
            entries: self.index.len(),
        })?;
        header[8..12].copy_from_slice(&len.to_le_bytes());
        header[12..16].copy_from_slice(&crc32fast::hash(bytes).to_le_bytes());
        let write = || -> io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(&header)?;
            f.write_all(bytes)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&tmp)(e));
        }
        // Only once the id is spent on disk may it never be reused.
        self.next = id + 1;
        fs::rename(&tmp, &fin).map_err(io_err(&fin))?;
        for (eid, eclass) in &evict {
            let p = self.dir.join(entry_name(*eid, *eclass));
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&p)(e)),
            }
            if let Some(m) = self.index.remove(eid) {
                self.used -= m.size;
            }
        }
        // One directory sync makes the rename and the evictions durable.
        sync_dir(&self.dir)?;
        let size = (HEADER + bytes.len()) as u64;
        self.index.insert(id, Meta { class, size });
        self.used += size;
        Ok(Pushed { id, evicted: evict })
    }

    /// Would a push of `len` bytes of `class` fit, and what would it evict?
    /// Lets the caller decide before sealing a report (a sealed report that
    /// is then refused would leave a `seq` gap).
    pub fn check_room(&self, len: u64, class: Class) -> Result<Vec<(Id, Class)>> {
        self.plan(len, class)
    }

    fn plan(&self, len: u64, class: Class) -> Result<Vec<(Id, Class)>> {
        let (byte_limit, entry_limit) = if class == Class::Alarm {
            (
                self.limits
                    .max_bytes
                    .saturating_add(self.limits.alarm_reserve_bytes),
                self.limits
                    .max_entries
                    .saturating_add(ALARM_RESERVE_ENTRIES),
            )
        } else {
            (self.limits.max_bytes, self.limits.max_entries)
        };
        let size = len + HEADER as u64;
        let fits = |used: u64, entries: usize| used + size <= byte_limit && entries < entry_limit;
        let mut used = self.used;
        let mut entries = self.index.len();
        if fits(used, entries) {
            return Ok(Vec::new());
        }
        let mut evict = Vec::new();
        // Heartbeats first: every queued one is superseded by this push.
        for (id, m) in &self.index {
            if fits(used, entries) {
                break;
            }
            if m.class == Class::Heartbeat {
                evict.push((*id, m.class));
                used -= m.size;
                entries -= 1;
            }
        }
        // Then full reports superseded by a later full/findings report.
        if !fits(used, entries) {
            let superseder = if matches!(class, Class::Full | Class::Findings) {
                Some(Id::MAX)
            } else {
                self.index
                    .iter()
                    .rev()
                    .find(|(_, m)| matches!(m.class, Class::Full | Class::Findings))
                    .map(|(id, _)| *id)
            };
            if let Some(sup) = superseder {
                for (id, m) in self.index.range(..sup) {
                    if fits(used, entries) {
                        break;
                    }
                    if m.class == Class::Full {
                        evict.push((*id, m.class));
                        used -= m.size;
                        entries -= 1;
                    }
                }
            }
        }
        if fits(used, entries) {
            Ok(evict)
        } else {
            Err(Error::Full {
                len,
                class,
                used: self.used,
                limit: byte_limit,
                entries: self.index.len(),
            })
        }
    }

    /// The oldest entry, read from disk. A corrupt entry is quarantined and
    /// skipped (see [`Outbox::recovery`]).
    pub fn peek(&mut self) -> Result<Option<Entry>> {
        while let Some((&id, &m)) = self.index.iter().next() {
            if let Some(e) = self.get(id)? {
                return Ok(Some(e));
            }
            // `get` quarantined it; it is no longer in the index.
            debug_assert!(!self.index.contains_key(&id), "{m:?}");
        }
        Ok(None)
    }

    /// The entry `id`, if queued. A corrupt entry is quarantined, `None`.
    pub fn get(&mut self, id: Id) -> Result<Option<Entry>> {
        let Some(m) = self.index.get(&id).copied() else {
            return Ok(None);
        };
        let path = self.dir.join(entry_name(id, m.class));
        match read_entry(&path, m.class) {
            Ok(Some(bytes)) => Ok(Some(Entry {
                id,
                class: m.class,
                bytes,
            })),
            Ok(None) => {
                self.quarantine(&path)?;
                sync_dir(&self.dir)?;
                self.forget(id);
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.forget(id);
                Ok(None)
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Ids and classes of all queued entries, oldest first.
    pub fn entries(&self) -> Vec<(Id, Class)> {
        self.index.iter().map(|(id, m)| (*id, m.class)).collect()
    }

    /// Remove a delivered (or exported) entry durably. `Ok(false)` if it was
    /// not queued (already acked or evicted).
    pub fn ack(&mut self, id: Id) -> Result<bool> {
        let Some(m) = self.index.get(&id).copied() else {
            return Ok(false);
        };
        let path = self.dir.join(entry_name(id, m.class));
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path)(e)),
        }
        sync_dir(&self.dir)?;
        self.forget(id);
        Ok(true)
    }

    /// Move an entry the receiver refused for good (HTTP 400, 413) out of
    /// the queue into `rejected/`, never deleting it, so the queue goes on
    /// and an operator can still look at it. Returns where it went.
    pub fn set_aside(&mut self, id: Id) -> Result<Option<PathBuf>> {
        let Some(m) = self.index.get(&id).copied() else {
            return Ok(None);
        };
        let name = entry_name(id, m.class);
        let path = self.dir.join(&name);
        let rdir = self.dir.join(REJECTED);
        fs::create_dir_all(&rdir).map_err(io_err(&rdir))?;
        let dest = rdir.join(&name);
        fs::rename(&path, &dest).map_err(io_err(&path))?;
        sync_dir(&rdir)?;
        sync_dir(&self.dir)?;
        self.forget(id);
        Ok(Some(dest))
    }

    fn forget(&mut self, id: Id) {
        if let Some(m) = self.index.remove(&id) {
            self.used -= m.size;
        }
    }

    fn quarantine(&mut self, path: &Path) -> Result<()> {
        let qdir = self.dir.join(QUARANTINE);
        fs::create_dir_all(&qdir).map_err(io_err(&qdir))?;
        let name = path.file_name().map(|n| n.to_owned()).unwrap_or_default();
        let mut dest = qdir.join(&name);
        let mut n = 1;
        while dest.exists() {
            let mut alt = name.clone();
            alt.push(format!(".{n}"));
            dest = qdir.join(alt);
            n += 1;
        }
        fs::rename(path, &dest).map_err(io_err(path))?;
        sync_dir(&qdir)?;
        log::error!(
            "outbox: {} is corrupt; moved to {}",
            path.display(),
            dest.display()
        );
        self.recovery.quarantined.push(dest);
        Ok(())
    }

    /// Number of queued entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Bytes of queued entries (headers included), as counted by the bound.
    pub fn used_bytes(&self) -> u64 {
        self.used
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Change the bound (config reload); takes effect at the next push.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// What `open` and later reads cleaned up.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn entry_name(id: Id, class: Class) -> String {
    format!("{id:020}.{}.msg", class.code())
}

fn parse_name(name: &str) -> Option<(Id, Class)> {
    let stem = name.strip_suffix(".msg")?;
    let (id, code) = stem.split_once('.')?;
    if id.len() != 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((id.parse().ok()?, Class::from_code(code)?))
}

/// `Ok(None)`: the file is not a valid entry of `class`.
fn read_entry(path: &Path, class: Class) -> io::Result<Option<Vec<u8>>> {
    let mut f = File::open(path)?;
    let mut data = Vec::new();
    f.read_to_end(&mut data)?;
    if data.len() < HEADER || &data[..4] != MAGIC || data[4] != VERSION {
        return Ok(None);
    }
    if data[5] != class.code() as u8 {
        return Ok(None);
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&data[8..12]);
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&data[12..16]);
    let body = data.split_off(HEADER);
    if body.len() != u32::from_le_bytes(len) as usize
        || crc32fast::hash(&body) != u32::from_le_bytes(crc)
    {
        return Ok(None);
    }
    Ok(Some(body))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Windows cannot open a directory for `fsync`; NTFS journals the rename.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn lock_exclusive(f: &File, path: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::WouldBlock {
        Err(Error::Locked {
            path: path.to_path_buf(),
        })
    } else {
        Err(io_err(path)(e))
    }
}

#[cfg(not(unix))]
fn lock_exclusive(_f: &File, _path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests;
