//! The agent's state directory: its signing key and the report chain.
//!
//! Design note (on-disk format, crash safety):
//! - `agent-key.jwk` — the private JWK, mode 0600, created on first use.
//! - `chain.json` — `{ "seq": N, "last": "<sha256 of report N's payload>",
//!   "report_id": "..." }`: the last report that was *sealed*.
//! - `collector.json` — the collector URL saved by `enroll`.
//! - `lock` — an flock held while sealing, so two processes (the daemon and
//!   a `check --sign` by hand) never hand out the same `seq`.
//!
//! Sealing writes `chain.json` (temp file, fsync, rename, fsync dir) *before*
//! the sealed report is handed out, and the sealed report is in it
//! (`pending`) until the caller confirms it is queued ([`AgentState::settle`]).
//! A crash in between leaves the report there; the daemon queues it on
//! restart ([`AgentState::pending`]), so a SIGKILL at any instant leaves no
//! gap (issue 11). A report that is sealed but cannot be queued (outbox
//! refused it) is declared in the next report's `declared_gaps`. The next
//! report links to every sealed one by `prev`, so the chain never forks. The opposite order could
//! hand out two different reports with the same `seq` — a fork the collector
//! must treat as tampering. Key creation uses the same write-then-rename, so
//! a crash never leaves a half-written key.

use anyhow::{Context, Result, bail};
use mijian_report::{AgentKey, Jws, Report, sha256_hex};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::AgentConfig;

const KEY_FILE: &str = "agent-key.jwk";
const CHAIN_FILE: &str = "chain.json";
const COLLECTOR_FILE: &str = "collector.json";
const LOCK_FILE: &str = "lock";

/// The default state directory: `paths.state_dir`, else `/var/lib/mijian` as
/// root, else `$XDG_STATE_HOME/mijian` (`~/.local/state/mijian`).
pub fn default_state_dir(cfg: &AgentConfig) -> PathBuf {
    if let Some(d) = &cfg.paths.state_dir {
        return d.clone();
    }
    if is_root() {
        return crate::platform::system_state_dir();
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("mijian");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(h).join(".local/state/mijian");
    }
    PathBuf::from(".mijian-state")
}

pub fn is_root() -> bool {
    crate::platform::is_privileged()
}

/// The chain position after the last sealed report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    pub seq: u64,
    pub last: Option<String>,
    #[serde(default)]
    pub report_id: Option<String>,
    /// Sealed reports not yet known to be queued (see the module note).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingReport>,
}

/// A sealed report whose queueing has not been confirmed: written in the
/// same atomic write that spends its `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReport {
    pub seq: u64,
    /// The JWS JSON text.
    pub jws: String,
}

/// A sealed report: numbered, linked, signed.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub report: Report,
    /// The payload bytes that were signed (and that the next `prev` hashes).
    pub payload: Vec<u8>,
    /// The JWS JSON bytes (what is sent, queued or written to a file).
    pub jws: Vec<u8>,
}

/// An open state directory.
pub struct AgentState {
    dir: PathBuf,
    key: AgentKey,
}

impl AgentState {
    /// Open (creating if needed) the state directory and the agent key.
    pub fn open(dir: &Path) -> Result<AgentState> {
        create_private_dir(dir)?;
        let key_path = dir.join(KEY_FILE);
        let key = match fs::read(&key_path) {
            Ok(bytes) => AgentKey::from_private_jwk(&bytes).with_context(|| {
                format!(
                    "agent key {} is unreadable; move it away to create a new key (the collector must then enroll the new key)",
                    key_path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _lock = lock(dir)?;
                // Another process may have created it while we waited.
                match fs::read(&key_path) {
                    Ok(bytes) => AgentKey::from_private_jwk(&bytes)
                        .with_context(|| format!("agent key {} is unreadable", key_path.display()))?,
                    Err(_) => {
                        let key = AgentKey::generate();
                        write_atomic(&key_path, &key.to_private_jwk(), 0o600)?;
                        key
                    }
                }
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot read agent key {} (run as root, or set paths.state_dir)",
                        key_path.display()
                    )
                });
            }
        };
        Ok(AgentState {
            dir: dir.to_path_buf(),
            key,
        })
    }

    /// The public key of the agent key in `dir`, without creating one:
    /// `None` when there is no key yet (`verify` must never make one).
    pub fn existing_public_key(dir: &Path) -> Result<Option<mijian_report::Jwk>> {
        let key_path = dir.join(KEY_FILE);
        match fs::read(&key_path) {
            Ok(bytes) => Ok(Some(
                AgentKey::from_private_jwk(&bytes)
                    .with_context(|| format!("agent key {} is unreadable", key_path.display()))?
                    .public_jwk(),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                Err(e).with_context(|| format!("cannot read agent key {}", key_path.display()))
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn key(&self) -> &AgentKey {
        &self.key
    }

    /// The chain position as persisted.
    pub fn chain(&self) -> Result<Chain> {
        read_chain(&self.dir)
    }

    /// Fill `agent_id`, `seq` and `prev` with the *next* position without
    /// advancing the chain (for an unsigned `check`).
    pub fn preview(&self, report: &mut Report) -> Result<()> {
        let chain = self.chain()?;
        report.agent_id = self.key.kid();
        report.seq = chain.seq + 1;
        report.prev = chain.last;
        Ok(())
    }

    /// Number, link and sign a report, persisting the chain first (see the
    /// module note). Serialised against other processes by the state lock.
    pub fn seal(&self, mut report: Report) -> Result<Sealed> {
        let _lock = lock(&self.dir)?;
        let chain = self.chain()?;
        report.agent_id = self.key.kid();
        report.seq = chain.seq + 1;
        report.prev = chain.last;
        let payload = report.to_payload();
        let jws = Jws::sign(&payload, &self.key).to_json();
        // The report travels with the seq it spends, in one atomic write:
        // a crash before the caller queued it leaves it here to recover.
        let mut pending = chain.pending;
        pending.push(PendingReport {
            seq: report.seq,
            jws: String::from_utf8_lossy(&jws).into_owned(),
        });
        let next = Chain {
            seq: report.seq,
            last: Some(sha256_hex(&payload)),
            report_id: Some(report.report_id.clone()),
            pending,
        };
        let bytes = serde_json::to_vec_pretty(&next).context("serialise chain state")?;
        write_atomic(&self.dir.join(CHAIN_FILE), &bytes, 0o600)?;
        Ok(Sealed {
            report,
            payload,
            jws,
        })
    }

    /// The sealed report `seq` is queued (or written out): forget it.
    pub fn settle(&self, seq: u64) -> Result<()> {
        let _lock = lock(&self.dir)?;
        let mut chain = self.chain()?;
        let before = chain.pending.len();
        chain.pending.retain(|p| p.seq != seq);
        if chain.pending.len() == before {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(&chain).context("serialise chain state")?;
        write_atomic(&self.dir.join(CHAIN_FILE), &bytes, 0o600)
    }

    /// Sealed reports whose queueing was never confirmed (a crash between
    /// sealing and queueing): the caller queues each, then [`Self::settle`]s
    /// it. Queueing one twice is harmless: the collector answers 200.
    pub fn pending(&self) -> Result<Vec<PendingReport>> {
        Ok(self.chain()?.pending)
    }

    /// The collector URL saved by `enroll`.
    pub fn collector_url(&self) -> Result<Option<String>> {
        match fs::read(self.dir.join(COLLECTOR_FILE)) {
            Ok(b) => {
                let v: serde_json::Value = serde_json::from_slice(&b)
                    .with_context(|| format!("{} is corrupt", COLLECTOR_FILE))?;
                Ok(v.get("url").and_then(|u| u.as_str()).map(str::to_string))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).context("read collector.json"),
        }
    }

    /// The collector's report size limit saved by `enroll` (bytes of a
    /// signed report), if the collector announced one.
    pub fn collector_limit(&self) -> Option<u64> {
        let b = fs::read(self.dir.join(COLLECTOR_FILE)).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
        v.get("max_report_bytes").and_then(|m| m.as_u64())
    }

    /// Save the collector URL and its announced report size limit (after a
    /// successful enrollment).
    pub fn set_collector(&self, url: &str, max_report_bytes: Option<u64>) -> Result<()> {
        let v = serde_json::json!({ "url": url, "max_report_bytes": max_report_bytes });
        write_atomic(
            &self.dir.join(COLLECTOR_FILE),
            &serde_json::to_vec_pretty(&v)?,
            0o600,
        )
    }
}

fn read_chain(dir: &Path) -> Result<Chain> {
    let path = dir.join(CHAIN_FILE);
    match fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).with_context(|| {
            format!(
                "chain state {} is corrupt (it is written atomically, so this is outside damage; restore it from a backup or contact the collector's administrator)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Chain::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    crate::platform::create_private_dir(dir)
}

/// An exclusive advisory lock on the state directory, released on drop.
struct Lock(File);

fn lock(dir: &Path) -> Result<Lock> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .with_context(|| format!("cannot open lock file in {}", dir.display()))?;
    // std's lock is flock(2) on Linux and LockFileEx on Windows.
    if let Err(e) = f.lock() {
        bail!("cannot lock {}: {e}", dir.display());
    }
    Ok(Lock(f))
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Write a file atomically: temp file in the same directory, fsync, rename,
/// fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    // Windows: files inherit the state directory's ACL instead of a mode.
    #[cfg(not(unix))]
    let _ = mode;
    // A bare file name (`--out r.jws`) has an empty parent: the current dir.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(mode);
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(f);
    fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    // A directory cannot be opened as a file on Windows; NTFS journals
    // the rename itself.
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mijian_report::Trigger;

    #[test]
    fn chain_continues_across_reopen() {
        let d = tempfile::tempdir().unwrap();
        let s = AgentState::open(d.path()).unwrap();
        let a = s.seal(Report::new("", 0, None, Trigger::Manual)).unwrap();
        assert_eq!(a.report.seq, 1);
        assert!(a.report.prev.is_none());
        drop(s);
        let s = AgentState::open(d.path()).unwrap();
        let b = s.seal(Report::new("", 0, None, Trigger::Manual)).unwrap();
        assert_eq!(b.report.seq, 2);
        assert_eq!(
            b.report.prev.as_deref(),
            Some(sha256_hex(&a.payload).as_str())
        );
        assert_eq!(b.report.agent_id, s.key().kid());
    }

    #[cfg(unix)]
    #[test]
    fn a_sealed_report_stays_pending_until_settled() {
        let d = tempfile::tempdir().unwrap();
        let s = AgentState::open(d.path()).unwrap();
        let a = s.seal(Report::new("", 0, None, Trigger::Manual)).unwrap();
        let b = s.seal(Report::new("", 0, None, Trigger::Manual)).unwrap();
        // As after a SIGKILL: reopen, both are there to queue.
        drop(s);
        let s = AgentState::open(d.path()).unwrap();
        let p = s.pending().unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].jws.as_bytes(), a.jws.as_slice());
        s.settle(a.report.seq).unwrap();
        let p = s.pending().unwrap();
        assert_eq!((p.len(), p[0].seq), (1, b.report.seq));
        s.settle(b.report.seq).unwrap();
        assert!(s.pending().unwrap().is_empty());
        assert_eq!(s.chain().unwrap().seq, 2);
    }

    #[test]
    fn key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        AgentState::open(d.path()).unwrap();
        let mode = fs::metadata(d.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn atomic_write_to_a_bare_file_name() {
        let d = tempfile::tempdir().unwrap();
        let back = std::env::current_dir().unwrap();
        std::env::set_current_dir(d.path()).unwrap();
        let r = write_atomic(Path::new("bare.jws"), b"x", 0o644);
        std::env::set_current_dir(back).unwrap();
        r.unwrap();
        assert_eq!(fs::read(d.path().join("bare.jws")).unwrap(), b"x");
    }

    #[test]
    fn preview_does_not_advance() {
        let d = tempfile::tempdir().unwrap();
        let s = AgentState::open(d.path()).unwrap();
        let mut r = Report::new("", 0, None, Trigger::Manual);
        s.preview(&mut r).unwrap();
        assert_eq!(r.seq, 1);
        assert_eq!(s.chain().unwrap().seq, 0);
    }
}
