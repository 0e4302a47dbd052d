//! Zip archives: the bounded zip reader every zip-based format shares (OOXML,
//! ODF, OFD and plain `.zip`), and the extractor for plain zip archives.
//!
//! The `zip` crate enforces no decompression limits (PITFALLS), so every
//! member read goes through [`read_member`], which charges `Ctx`'s
//! decompressed budget and ratio cap, and [`open_zip`] refuses archives whose
//! entries overlap (David Fifield's non-recursive bombs, `zbsm.zip`). Nested
//! archives (`42.zip`) are bounded by `Ctx::depth` and the shared budget,
//! because children are analysed with the same `Ctx`.
//!
//! The archive extractor does not look into members itself: it hands them out
//! as [`Child`]ren named by their path inside the archive, and the per-file
//! analysis scans each one like a file of its own (`a.zip!/dir/b.docx`).
//! Members that cannot be read (encrypted, bombs, corrupt) go to
//! [`Document::failed_children`] so each becomes its own `unscannable`.

use super::{Child, Ctx, Document, ExtractError, ExtractResult, FailedChild};
use std::io::Cursor;
use zip::ZipArchive;
use zip::result::ZipError;

/// A zip archive over bytes in memory, opened by [`open_zip`].
pub type Zip<'a> = ZipArchive<Cursor<&'a [u8]>>;

/// Size of a local file header without its variable parts.
const LOCAL_HEADER_LEN: u64 = 30;

/// Open a zip archive held in memory. Refuses (with `Limit`) archives whose
/// entries overlap each other, and charges one element per entry.
pub fn open_zip<'a>(data: &'a [u8], ctx: &mut Ctx) -> Result<Zip<'a>, ExtractError> {
    let mut zip = ZipArchive::new(Cursor::new(data)).map_err(zip_error)?;
    ctx.tick(zip.len() as u64)?;
    check_overlap(&mut zip, data.len() as u64)?;
    Ok(zip)
}

/// Entries whose bytes (local header + compressed data) share bytes with
/// another entry are how a 42 kB file expands to petabytes without nesting.
/// No producer writes them; refuse the whole archive.
fn check_overlap(zip: &mut Zip<'_>, total: u64) -> Result<(), ExtractError> {
    let mut spans: Vec<(u64, u64)> = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let f = match zip.by_index_raw(i) {
            Ok(f) => f,
            // A member whose local header is unreadable is reported when it is read.
            Err(_) => continue,
        };
        let start = f.header_start();
        let end = f
            .data_start()
            .max(start.saturating_add(LOCAL_HEADER_LEN))
            .saturating_add(f.compressed_size());
        if end > total.saturating_add(1) {
            return Err(ExtractError::Truncated(format!(
                "zip member `{}` extends past the end of the archive",
                f.name()
            )));
        }
        spans.push((start, end));
    }
    spans.sort_unstable();
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(ExtractError::Limit(
                "zip entries overlap each other (a zip bomb); refusing the archive".into(),
            ));
        }
    }
    Ok(())
}

/// Map a zip crate error to the reason reported to the inspector.
pub fn zip_error(e: ZipError) -> ExtractError {
    match e {
        ZipError::UnsupportedArchive(m) if m == ZipError::PASSWORD_REQUIRED => {
            ExtractError::Encrypted("zip member is encrypted".into())
        }
        ZipError::InvalidPassword => ExtractError::Encrypted("zip member is encrypted".into()),
        ZipError::UnsupportedArchive(m) => ExtractError::Unsupported(format!("zip: {m}")),
        ZipError::FileNotFound => ExtractError::Corrupt("zip member not found".into()),
        ZipError::InvalidArchive(m) => ExtractError::Corrupt(format!("zip: {m}")),
        ZipError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            ExtractError::Truncated(format!("zip: {e}"))
        }
        ZipError::Io(e) => ExtractError::Corrupt(format!("zip: {e}")),
        other => ExtractError::Corrupt(format!("zip: {other}")),
    }
}

/// Read one member by name, bounded by `ctx` (decompressed budget, ratio,
/// deadline). Encrypted members give `Encrypted`; a missing member `Corrupt`.
pub fn read_member(zip: &mut Zip<'_>, name: &str, ctx: &mut Ctx) -> Result<Vec<u8>, ExtractError> {
    let index = zip
        .index_for_name(name)
        .ok_or_else(|| ExtractError::Corrupt(format!("zip member `{name}` missing")))?;
    read_member_at(zip, index, ctx)
}

/// Read one member by index, bounded by `ctx`.
pub fn read_member_at(
    zip: &mut Zip<'_>,
    index: usize,
    ctx: &mut Ctx,
) -> Result<Vec<u8>, ExtractError> {
    ctx.check_time()?;
    let total = zip.clone().into_inner().get_ref().len() as u64;
    let file = zip.by_index(index).map_err(zip_error)?;
    if file.encrypted() {
        return Err(ExtractError::Encrypted("zip member is encrypted".into()));
    }
    // The central directory may lie about the compressed size; the ratio is
    // computed against what the archive can actually hold.
    let compressed = file.compressed_size().min(total).max(1);
    ctx.read_bounded(file, compressed)
}

/// Whether a member name is present.
pub fn has_member(zip: &Zip<'_>, name: &str) -> bool {
    zip.index_for_name(name).is_some()
}

/// Extract a plain zip archive: every file member becomes a child, to be
/// scanned as `ARCHIVE!/member`. The document text is the member names, so
/// a telling file name inside an archive is matched like any file name.
pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    ctx.check_archive_depth()?;
    let mut zip = open_zip(data, ctx)?;
    let mut doc = Document {
        format: "zip",
        ..Document::default()
    };
    for i in 0..zip.len() {
        let (name, is_dir, encrypted) = match zip.by_index_raw(i) {
            Ok(f) => (member_name(f.name_raw()), f.is_dir(), f.encrypted()),
            Err(e) => {
                doc.failed_children.push(FailedChild {
                    name: format!("#{i}"),
                    error: zip_error(e),
                });
                continue;
            }
        };
        if is_dir {
            continue;
        }
        doc.text.push_str(&name);
        doc.text.push('\n');
        if encrypted {
            doc.failed_children.push(FailedChild {
                name,
                error: ExtractError::Encrypted("zip member is encrypted".into()),
            });
            continue;
        }
        let remaining = ctx
            .limits
            .max_decompressed_bytes
            .saturating_sub(ctx.decompressed);
        match read_member_at(&mut zip, i, ctx) {
            Ok(data) => doc.children.push(Child { name, data }),
            // Running out of the shared budget or time ends the archive: the
            // rest cannot be read either, and the archive itself says so. A
            // member over the ratio cap fails alone.
            Err(e @ ExtractError::Timeout) => return Err(e),
            Err(ExtractError::Limit(m)) if !ratio_bound(&zip, i, ctx, remaining) => {
                return Err(ExtractError::Limit(m));
            }
            Err(error) => doc.failed_children.push(FailedChild { name, error }),
        }
    }
    Ok(doc)
}

/// Whether reading member `index` was capped by its ratio rather than by
/// the archive's remaining budget (mirrors `Ctx::read_bounded`).
fn ratio_bound(zip: &Zip<'_>, index: usize, ctx: &Ctx, remaining: u64) -> bool {
    let total = zip.clone().into_inner().get_ref().len() as u64;
    let compressed = zip
        .clone()
        .by_index_raw(index)
        .map(|f| f.compressed_size())
        .unwrap_or(0)
        .min(total)
        .max(1);
    compressed.saturating_mul(ctx.limits.max_ratio).max(1 << 20) < remaining
}

/// Member names are UTF-8 when the archive says so and CP437 or, in practice
/// in China, GBK otherwise; the zip crate already decoded flagged UTF-8 and
/// CP437. Raw bytes that are valid GBK and not ASCII are decoded as GBK,
/// because Chinese Windows archivers write GBK without the UTF-8 flag.
pub(crate) fn member_name(raw: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(raw) {
        return s.trim_start_matches('/').to_string();
    }
    let (s, _, had_errors) = encoding_rs::GBK.decode(raw);
    if !had_errors {
        return s.trim_start_matches('/').to_string();
    }
    String::from_utf8_lossy(raw)
        .trim_start_matches('/')
        .to_string()
}

#[cfg(test)]
mod tests;
