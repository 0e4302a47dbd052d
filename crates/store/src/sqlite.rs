//! SQLite backend: one file in WAL mode, `synchronous=NORMAL` (a commit is
//! durable against a process crash; against power loss the last commits may
//! roll back, never corrupt), one writer connection behind a mutex (SQLite
//! has one writer anyway) and a small pool of reader connections, which WAL
//! lets read while the writer writes.
//!
//! Checkpoints (copying the WAL back into the database file, with an fsync)
//! run on a thread of their own every 250 ms instead of inside whichever
//! commit crosses SQLite's threshold, so no ingest waits for the disk. The
//! thread stops when the store is dropped; the last connection to close
//! checkpoints what is left, as SQLite always does.

use crate::sql::{Backend, Conn, Dialect, V};
use crate::{Result, StoreError};
use rusqlite::types::{ToSqlOutput, ValueRef};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_scope_merge.sql")),
    (3, include_str!("../migrations/sqlite/0003_console.sql")),
    (4, include_str!("../migrations/sqlite/0004_policy.sql")),
    (5, include_str!("../migrations/sqlite/0005_host_policy.sql")),
];

pub(crate) struct Sqlite {
    path: PathBuf,
    writer: Mutex<SqliteConn>,
    readers: Mutex<Vec<SqliteConn>>,
    /// Dropping it stops the checkpoint thread.
    _checkpointer: Option<std::sync::mpsc::Sender<()>>,
}

/// Checkpoint period.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// WAL frames after which a passive checkpoint becomes a RESTART (waits for
/// readers, so the file starts over instead of growing without bound).
const WAL_RESTART_FRAMES: i64 = 65_536;

/// Keep the WAL copied back into the database; returns when `stop` is dropped.
fn checkpoint_loop(conn: rusqlite::Connection, stop: std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let frames = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1));
        match frames {
            Ok(n) if n > WAL_RESTART_FRAMES => {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())) {
                    log::warn!("SQLite checkpoint (restart): {e}");
                }
            }
            Ok(_) => {}
            Err(e) => log::warn!("SQLite checkpoint: {e}"),
        }
    }
}

pub(crate) struct SqliteConn(rusqlite::Connection);

fn connect(path: &Path) -> Result<SqliteConn> {
    let c = rusqlite::Connection::open(path)?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    // Ingest touches the hosts and findings of every agent in turn: 8 MiB of
    // page cache (SQLite's default is 2 MiB) keeps the hot pages. Not more:
    // every commit walks the cache's hash table (pcache1Truncate), which at
    // 64 MiB cost ~2.5% of the collector's CPU in profiles.
    c.pragma_update(None, "cache_size", -8_192)?;
    c.set_prepared_statement_cache_capacity(64);
    Ok(SqliteConn(c))
}

impl Sqlite {
    pub(crate) fn open(path: &Path) -> Result<Sqlite> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        private_file(path)?;
        let writer = connect(path)?;
        // If the thread cannot start, SQLite's own automatic checkpoints stay on.
        let checkpointer = connect(path).ok().and_then(|c| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("sqlite-checkpoint".into())
                .spawn(move || checkpoint_loop(c.0, rx))
                .ok()?;
            Some(tx)
        });
        if checkpointer.is_some() {
            writer.0.pragma_update(None, "wal_autocheckpoint", 0)?;
        }
        Ok(Sqlite {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            _checkpointer: checkpointer,
        })
    }
}

/// The database holds password hashes and findings: create it 0600 (SQLite
/// gives its `-wal` and `-shm` files the database file's mode), and warn at
/// start when an existing file, or its WAL/SHM, is readable by others.
#[cfg(unix)]
fn private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(StoreError::Dir {
                path: path.display().to_string(),
                source: e,
            });
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(m) = std::fs::metadata(&p)
            && m.permissions().mode() & 0o077 != 0
        {
            log::warn!(
                "{} is readable by other users (mode {:o}); it holds password hashes and findings: chmod 600 it",
                std::path::Path::new(&p).display(),
                m.permissions().mode() & 0o777
            );
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_file(_path: &Path) -> Result<()> {
    Ok(())
}

impl Backend for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn with_conn<R>(&self, write: bool, f: impl FnOnce(&mut dyn Conn) -> Result<R>) -> Result<R> {
        if write {
            // A panic while holding the lock leaves the connection usable
            // (rusqlite rolls back on the next BEGIN failure path), so a
            // poisoned mutex is recovered rather than propagated.
            let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            return f(&mut *w);
        }
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let out = f(&mut conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }

    fn migrations(&self) -> &'static [(i64, &'static str)] {
        MIGRATIONS
    }

    fn group_commit(&self) -> bool {
        true
    }
}

impl rusqlite::ToSql for V {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            V::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            V::I(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            V::T(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            V::B(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

impl Conn for SqliteConn {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn exec(&mut self, sql: &str, params: &[V]) -> Result<u64> {
        let mut st = self.0.prepare_cached(sql)?;
        Ok(st.execute(rusqlite::params_from_iter(params.iter()))? as u64)
    }

    fn rows(&mut self, sql: &str, params: &[V]) -> Result<Vec<Vec<V>>> {
        let mut st = self.0.prepare_cached(sql)?;
        let n = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(match r.get_ref(i)? {
                    ValueRef::Null => V::Null,
                    ValueRef::Integer(i) => V::I(i),
                    ValueRef::Real(f) => V::I(f as i64),
                    ValueRef::Text(t) => V::T(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => V::B(b.to_vec()),
                });
            }
            out.push(row);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.0.execute_batch(sql)?)
    }

    fn begin(&mut self) -> Result<()> {
        self.batch("BEGIN IMMEDIATE")
    }

    fn is_unique_violation(&self, err: &StoreError) -> bool {
        matches!(err, StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    }
}
