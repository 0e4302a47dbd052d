//! Delivery into a directory: each signed report becomes a file
//! `<seq>-<report_id>.jws` for `mijian-collector import` (air-gapped hosts).
//! A file is written to a temporary name, synced, renamed, and the directory
//! synced, before the caller may ack the outbox entry; a crash in between
//! rewrites the same file (same bytes) on the next attempt.

use anyhow::{Context, Result, bail};
use mijian_report::{Jws, Report, sha256_hex};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file name for a signed report: `<seq>-<report_id>.jws`, or
/// `unparsed-<sha256>.jws` for bytes that are not a report (kept, not lost).
pub fn file_name(jws: &[u8]) -> String {
    let report = Jws::parse(jws)
        .ok()
        .and_then(|j| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(j.payload.as_bytes())
                .ok()
        })
        .and_then(|p| Report::from_payload(&p).ok());
    match report {
        Some(r) if is_safe(&r.report_id) => format!("{}-{}.jws", r.seq, r.report_id),
        _ => format!("unparsed-{}.jws", sha256_hex(jws)),
    }
}

/// A report id is a UUID; anything else must not become a path.
fn is_safe(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Write one signed report into `dir` durably; returns its path.
pub fn write_report(dir: &Path, jws: &[u8]) -> Result<PathBuf> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = file_name(jws);
    let path = dir.join(&name);
    match fs::read(&path) {
        Ok(existing) if existing == jws => return Ok(path),
        Ok(_) => bail!(
            "{} exists with other contents; move it away (two reports must never share a seq and report_id)",
            path.display()
        ),
        Err(_) => {}
    }
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(jws)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        sync_dir(dir)
    };
    write().with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mijian_report::{AgentKey, Trigger};

    #[test]
    fn names_by_seq_and_report_id_and_is_idempotent() {
        let key = AgentKey::generate();
        let r = Report::new(&key.kid(), 7, None, Trigger::Manual);
        let jws = Jws::sign(&r.to_payload(), &key).to_json();
        let dir = tempfile::tempdir().unwrap();
        let p = write_report(dir.path(), &jws).unwrap();
        assert_eq!(
            p.file_name().unwrap().to_str().unwrap(),
            format!("7-{}.jws", r.report_id)
        );
        assert_eq!(fs::read(&p).unwrap(), jws);
        assert_eq!(
            write_report(dir.path(), &jws).unwrap(),
            p,
            "rewriting the same report is fine"
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        assert!(file_name(b"garbage").starts_with("unparsed-"));
    }
}
