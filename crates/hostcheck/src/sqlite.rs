//! Reading another program's SQLite database safely
//! (`spec/inspection-checks.md`, "Reading a DB safely"): browsers' history
//! and rpm's `rpmdb.sqlite`, possibly open in the running program.
//!
//! Never write to the database and never take its lock. When `DB-wal` or
//! `DB-journal` lies next to it, `DB` and that file are copied into a private
//! temp folder and the copy is opened, so SQLite replays the WAL (Firefox
//! keeps its latest visits only there) or rolls back a hot journal exactly
//! as the owner would. Otherwise the file is opened `immutable=1` read-only,
//! which takes no lock at all. (`immutable=1` with a WAL present would
//! silently miss the WAL's pages.) Size and time are bounded.

use crate::root::Root;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// DB + WAL/journal larger than this is not read.
pub const MAX_BYTES: u64 = 512 * 1024 * 1024;
/// A query taking longer than this is interrupted.
pub const MAX_QUERY: Duration = Duration::from_secs(30);

/// An open database; keeps the private copy alive while it is used.
pub struct Db {
    pub conn: Connection,
    _copy: Option<tempfile::TempDir>,
}

/// Open host path `db` (resolved inside the root) safely. `Ok(None)` when it
/// does not exist.
pub fn open(root: &Root, db: &str) -> Result<Option<Db>, String> {
    let (real, _) = root.resolve(db).map_err(|e| e.to_string())?;
    let meta = match std::fs::metadata(&real) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut side: Option<(PathBuf, &str)> = None;
    for suffix in ["-wal", "-journal"] {
        let host = format!("{db}{suffix}");
        let (p, _) = root.resolve(&host).map_err(|e| e.to_string())?;
        if std::fs::metadata(&p).map(|m| m.is_file()).unwrap_or(false) {
            side = Some((p, suffix));
            break;
        }
    }
    let side_len = side
        .as_ref()
        .and_then(|(p, _)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .unwrap_or(0);
    let total = meta.len().saturating_add(side_len);
    if total > MAX_BYTES {
        return Err(format!(
            "{total} bytes with its WAL/journal, larger than the {MAX_BYTES} bytes read"
        ));
    }
    match side {
        Some((side_path, suffix)) => {
            let dir = tempfile::Builder::new()
                .prefix("mijian-db-")
                .tempdir()
                .map_err(|e| format!("cannot make a private copy: {e}"))?;
            let name = "db";
            let copy = dir.path().join(name);
            copy_file(&real, &copy)?;
            copy_file(&side_path, &dir.path().join(format!("{name}{suffix}")))?;
            // Read-write on the private copy only: replaying a WAL or rolling
            // back a hot journal writes to the copy, never to the original.
            let conn = Connection::open_with_flags(
                &copy,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| e.to_string())?;
            Ok(Some(Db {
                conn,
                _copy: Some(dir),
            }))
        }
        None => {
            let uri = format!("file:{}?immutable=1", uri_path(&real));
            let conn = Connection::open_with_flags(
                uri,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| e.to_string())?;
            Ok(Some(Db { conn, _copy: None }))
        }
    }
}

fn copy_file(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {}: {e}", from.display()))
}

/// A path written for a `file:` URI: `%`, `?`, `#` and non-ASCII escaped.
fn uri_path(p: &Path) -> String {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        p.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = p.to_string_lossy().replace('\\', "/").into_bytes();
    let mut out = String::new();
    for &b in &bytes {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Run `f` with a watchdog that interrupts the connection after
/// [`MAX_QUERY`].
pub fn with_deadline<T>(
    db: &Db,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> Result<T, String> {
    let handle = db.conn.get_interrupt_handle();
    let (tx, rx) = mpsc::channel::<()>();
    let dog = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(MAX_QUERY) {
            handle.interrupt();
        }
    });
    let r = f(&db.conn);
    let _ = tx.send(());
    let _ = dog.join();
    r.map_err(|e| match e {
        rusqlite::Error::SqliteFailure(err, _)
            if err.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            format!("query took more than {} s", MAX_QUERY.as_secs())
        }
        e => e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row committed only to the WAL (the writer still holds the
    /// database open, no checkpoint) is seen through the private copy;
    /// `immutable=1` on the same files would miss it. The original files
    /// are left byte for byte as they were.
    #[test]
    fn wal_rows_are_seen_and_the_original_is_untouched() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("home/u/My Profile?x");
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("places.sqlite");
        let w = Connection::open(&db).unwrap();
        w.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
             CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1);",
        )
        .unwrap();
        w.execute("INSERT INTO t VALUES (2)", []).unwrap();
        assert!(dir.join("places.sqlite-wal").exists());
        let before: Vec<Vec<u8>> = ["places.sqlite", "places.sqlite-wal"]
            .iter()
            .map(|n| std::fs::read(dir.join(n)).unwrap())
            .collect();
        let root = Root::at(d.path());
        let host = "/home/u/My Profile?x/places.sqlite";
        let got = open(&root, host).unwrap().unwrap();
        let n: i64 = with_deadline(&got, |c| {
            c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        })
        .unwrap();
        assert_eq!(n, 2);
        // What immutable=1 alone would have seen.
        let imm = Connection::open_with_flags(
            format!("file:{}?immutable=1", uri_path(&db)),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
        )
        .unwrap();
        let m: i64 = imm
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap_or(0);
        assert!(m < 2, "immutable saw {m}");
        drop(got);
        let after: Vec<Vec<u8>> = ["places.sqlite", "places.sqlite-wal"]
            .iter()
            .map(|n| std::fs::read(dir.join(n)).unwrap())
            .collect();
        assert!(before == after, "the original database or WAL changed");
        drop(w);
    }

    #[test]
    fn missing_and_not_sqlite() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("History"), b"not sqlite at all, just text").unwrap();
        let root = Root::at(d.path());
        assert!(open(&root, "/nope").unwrap().is_none());
        let db = open(&root, "/History").unwrap().unwrap();
        assert!(
            with_deadline(&db, |c| c
                .query_row("SELECT count(*) FROM urls", [], |r| r.get::<_, i64>(0)))
            .is_err()
        );
    }
}
