//! 7z archives (`.7z`): every file member becomes a child scanned as
//! `ARCHIVE!/member`, like zip members. Decoding is `sevenz-rust2` (pure
//! Rust, Apache-2.0: LZMA, LZMA2, BCJ/BCJ2/ARM filters, delta, copy), built
//! without AES, so an encrypted archive — content or header — is reported
//! `encrypted`, never opened and never called clean.
//!
//! Bounds: the decoder's dictionary and header buffers are capped
//! (`MEMORY_LIMIT_KB`), every member read goes through
//! [`Ctx::read_bounded`] (shared budget, ratio against the archive's size,
//! deadline), entries are charged as elements, and nesting is bounded by
//! `Ctx::depth`. A cut archive (its header lives at the end) is `truncated`.

use super::{Child, Ctx, Document, ExtractError, ExtractResult, FailedChild};
use sevenz_rust2::{ArchiveReader, Error, Password};
use std::io::Cursor;

/// Largest dictionary / header buffer the decoder may allocate (KiB). 7-Zip's
/// strongest preset uses a 64 MiB dictionary; a hostile header may ask for 4 GiB.
const MEMORY_LIMIT_KB: usize = 256 * 1024;

/// The 7z signature.
pub const MAGIC: &[u8] = b"7z\xbc\xaf\x27\x1c";

fn map_error(e: Error, data_len: usize) -> ExtractError {
    match e {
        Error::PasswordRequired | Error::MaybeBadPassword(_) => {
            ExtractError::Encrypted("7z archive is encrypted".into())
        }
        Error::UnsupportedCompressionMethod(m) if m.to_ascii_uppercase().contains("AES") => {
            ExtractError::Encrypted("7z archive is encrypted (AES-256)".into())
        }
        Error::UnsupportedCompressionMethod(m) => {
            ExtractError::Unsupported(format!("7z compression method {m}"))
        }
        Error::MaxMemLimited { actaul_kb, .. } => {
            ExtractError::Limit(format!("7z decoder would need {actaul_kb} KiB of memory"))
        }
        Error::Io(e, _) | Error::FileOpen(e, _)
            if e.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            ExtractError::Truncated(format!("7z: {e} ({data_len} bytes)"))
        }
        other => ExtractError::Corrupt(format!("7z: {other}")),
    }
}

/// Whether the start header says the archive is longer than `data`.
fn cut_short(data: &[u8]) -> bool {
    let (Some(off), Some(len)) = (data.get(12..20), data.get(20..28)) else {
        return true;
    };
    let le = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0xff; 8]));
    32u64.saturating_add(le(off)).saturating_add(le(len)) > data.len() as u64
}

/// Extract a 7z archive held in memory.
pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    ctx.check_archive_depth()?;
    if cut_short(data) {
        return Err(ExtractError::Truncated(
            "7z archive is cut short (its header is past the end)".into(),
        ));
    }
    let mut reader =
        ArchiveReader::new_with_memory_limit(Cursor::new(data), Password::empty(), MEMORY_LIMIT_KB)
            .map_err(|e| map_error(e, data.len()))?;
    reader.set_thread_count(1);
    ctx.tick(reader.archive().files.len() as u64)?;
    let mut doc = Document {
        format: "7z",
        ..Document::default()
    };
    let compressed = (data.len() as u64).max(1);
    // The extractor's own error stops the walk; the crate's error is mapped.
    let mut stop: Option<ExtractError> = None;
    let res = reader.for_each_entries(|entry, r| {
        if entry.is_directory || entry.is_anti_item {
            return Ok(true);
        }
        let name = entry.name.trim_start_matches('/').to_string();
        doc.text.push_str(&name);
        doc.text.push('\n');
        if !entry.has_stream {
            doc.children.push(Child {
                name,
                data: Vec::new(),
            });
            return Ok(true);
        }
        match ctx.read_bounded(r, compressed) {
            Ok(data) => {
                doc.children.push(Child { name, data });
                Ok(true)
            }
            Err(e) => {
                let fatal = matches!(e, ExtractError::Limit(_) | ExtractError::Timeout);
                if fatal {
                    stop = Some(e);
                    return Err(Error::Other("stopped by the scanner's limits".into()));
                }
                doc.failed_children.push(FailedChild { name, error: e });
                Ok(true)
            }
        }
    });
    if let Some(e) = stop {
        return Err(e);
    }
    if let Err(e) = res {
        let e = map_error(e, data.len());
        // Encryption or damage in one block: what was read stays; the
        // archive says why the rest could not be.
        if doc.children.is_empty() {
            return Err(e);
        }
        doc.incomplete = Some(e);
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Limits;
    use crate::extract::test_support::fixture;

    fn run(rel: &str) -> ExtractResult {
        extract(&fixture(rel), &mut Ctx::new(Limits::default()))
    }

    #[test]
    fn members_of_real_7z_files_are_children() {
        // 7-Zip (LZMA2 solid, BCJ+LZMA, stored) and py7zr.
        for f in [
            "7z/lzma2.7z",
            "7z/bcj_lzma.7z",
            "7z/store.7z",
            "7z/py7zr.7z",
        ] {
            let d = run(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            let mut names: Vec<&str> = d.children.iter().map(|c| c.name.as_str()).collect();
            names.sort();
            assert_eq!(
                names,
                ["clean.txt", "文件/marked.txt", "文件/unmarked.txt"],
                "{f}"
            );
            let marked = d
                .children
                .iter()
                .find(|c| c.name.ends_with("marked.txt") && !c.name.contains("un"));
            assert!(
                String::from_utf8_lossy(&marked.unwrap().data).contains("玄鸟柒号"),
                "{f}"
            );
        }
    }

    #[test]
    fn encrypted_and_cut_archives_are_errors() {
        for f in ["7z/encrypted_header.7z", "7z/encrypted_content.7z"] {
            assert!(
                matches!(run(f), Err(ExtractError::Encrypted(_))),
                "{f}: {:?}",
                run(f)
            );
        }
        assert!(matches!(
            run("7z/truncated.7z"),
            Err(ExtractError::Truncated(_))
        ));
        let good = fixture("7z/lzma2.7z");
        for n in 0..good.len() {
            let _ = extract(&good[..n], &mut Ctx::new(Limits::default()));
        }
        let mut bad = good.clone();
        for i in 0..bad.len() {
            bad[i] ^= 0xa5;
            let _ = extract(&bad, &mut Ctx::new(Limits::default()));
            bad[i] ^= 0xa5;
        }
        let mut ctx = Ctx::new(Limits::default());
        ctx.depth = ctx.limits.max_depth;
        assert!(matches!(
            extract(&good, &mut ctx),
            Err(ExtractError::Limit(_))
        ));
    }
}
