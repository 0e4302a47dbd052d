//! Legacy OLE office documents: Word 97-2003 `.doc`, Excel BIFF8 `.xls`,
//! PowerPoint 97-2003 `.ppt`, and the WPS Office equivalents `.wps`/`.et`/
//! `.dps` (Kingsoft writes the same binary formats).
//!
//! The compound-file container is read with the `cfb` crate. Everything
//! inside it is hand-written because no maintained Rust crate extracts text
//! from these binary formats: the Word piece table ([MS-DOC] FIB, Clx,
//! PlcPcd), BIFF8 records ([MS-XLS] SST/CONTINUE, LABELSST, LABEL,
//! BOUNDSHEET, FILEPASS), PowerPoint records ([MS-PPT] TextCharsAtom,
//! TextBytesAtom, CryptSession10Container) and property sets ([MS-OLEPS]
//! SummaryInformation, DocumentSummaryInformation with the user-defined
//! section, where a 密级 marking may live).
//!
//! Hostile input: every offset and length read from the file goes through
//! checked arithmetic and `get(..)`; record walks are loops (no recursion on
//! file-controlled depth); elements are counted with `ctx.tick`; every call
//! into `cfb` runs under `catch_unwind` (it has panicked on fuzzed input) and
//! stream reads are bounded by the file size and `ctx.read_bounded`. The
//! extractor still runs in the engine's worker process, which bounds what a
//! stack overflow could do.
//!
//! Embedded objects become children (bounded by `ctx.depth`): `Package`,
//! `CONTENTS` and `\x01Ole10Native` streams and whole Word/Excel/PowerPoint
//! storages under `ObjectPool`/`MBD*` (copied into a compound file of their
//! own), and PowerPoint's zlib-compressed ExOleObjStg records.
//!
//! Not handled: Word 6/95 (`Unsupported`), BIFF5 workbooks only roughly
//! (8-bit strings in the CODEPAGE), slides in persist-directory order (stream
//! order is used), decryption of any kind.
//!
//! Password-protected OOXML is also an OLE container (`EncryptionInfo` +
//! `EncryptedPackage`): reported `Encrypted`.

mod doc;
mod ppt;
mod props;
mod xls;

use super::{Child, Ctx, Document, ExtractError, ExtractResult};
use std::io::{Cursor, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Characters of text kept in a head built from the start of the body.
const HEAD_CHARS: usize = 4000;
/// Streams and storages listed from one compound file.
const MAX_ENTRIES: usize = 100_000;
/// Embedded objects taken from one file.
const MAX_CHILDREN: usize = 256;

/// An opened compound file plus its entry list.
pub(crate) struct Container<'a> {
    cf: cfb::CompoundFile<Cursor<&'a [u8]>>,
    /// (path without the leading '/', is_stream, length)
    entries: Vec<(String, bool, u64)>,
    file_len: u64,
}

fn cfb_error(e: std::io::Error) -> ExtractError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        ExtractError::Truncated(format!("compound file: {e}"))
    } else {
        ExtractError::Corrupt(format!("compound file: {e}"))
    }
}

fn panicked() -> ExtractError {
    ExtractError::Corrupt("compound file structure rejected (parser panic caught)".into())
}

impl<'a> Container<'a> {
    pub(crate) fn open(data: &'a [u8], ctx: &mut Ctx) -> Result<Container<'a>, ExtractError> {
        let cf = catch_unwind(|| cfb::CompoundFile::open(Cursor::new(data)))
            .map_err(|_| panicked())?
            .map_err(cfb_error)?;
        let listed = catch_unwind(AssertUnwindSafe(|| {
            cf.walk()
                .take(MAX_ENTRIES + 1)
                .map(|e| {
                    let p = e
                        .path()
                        .to_string_lossy()
                        .trim_start_matches('/')
                        .to_owned();
                    (p, e.is_stream(), e.len())
                })
                .collect::<Vec<_>>()
        }))
        .map_err(|_| panicked())?;
        if listed.len() > MAX_ENTRIES {
            return Err(ExtractError::Limit(format!(
                "more than {MAX_ENTRIES} compound-file entries"
            )));
        }
        ctx.tick(listed.len() as u64)?;
        Ok(Container {
            cf,
            entries: listed,
            file_len: data.len() as u64,
        })
    }

    /// True when a stream with this path exists (case-insensitive, as OLE is).
    fn find(&self, path: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(p, s, _)| *s && p.eq_ignore_ascii_case(path))
            .map(|(p, _, _)| p.as_str())
    }

    fn has(&self, path: &str) -> bool {
        self.find(path).is_some()
    }

    /// Read a whole stream, bounded by the file size and the ctx budget.
    /// `Ok(None)` when the stream does not exist.
    pub(crate) fn read(
        &mut self,
        path: &str,
        ctx: &mut Ctx,
    ) -> Result<Option<Vec<u8>>, ExtractError> {
        let Some(real) = self.find(path).map(str::to_owned) else {
            return Ok(None);
        };
        let len = self
            .entries
            .iter()
            .find(|(p, _, _)| *p == real)
            .map(|e| e.2)
            .unwrap_or(0);
        // A stream cannot hold more than the file it lives in (a chain that
        // claims so loops or points outside).
        if len > self.file_len {
            return Err(ExtractError::Corrupt(format!(
                "stream {real} claims {len} bytes in a {}-byte file",
                self.file_len
            )));
        }
        ctx.tick(len / 512 + 1)?;
        let cf = &mut self.cf;
        let opened = catch_unwind(AssertUnwindSafe(|| cf.open_stream(format!("/{real}"))))
            .map_err(|_| panicked())?
            .map_err(cfb_error)?;
        let mut stream = opened;
        let mut out = Vec::new();
        let res = catch_unwind(AssertUnwindSafe(|| {
            (&mut stream).take(len).read_to_end(&mut out)
        }))
        .map_err(|_| panicked())?;
        res.map_err(cfb_error)?;
        if (out.len() as u64) < len {
            return Err(ExtractError::Truncated(format!("stream {real} ends early")));
        }
        ctx.decompressed = ctx.decompressed.saturating_add(out.len() as u64);
        if ctx.decompressed > ctx.limits.max_decompressed_bytes {
            return Err(ExtractError::Limit(format!(
                "more than {} bytes read from streams",
                ctx.limits.max_decompressed_bytes
            )));
        }
        ctx.check_time()?;
        Ok(Some(out))
    }
}

/// Appends text with the `max_text_chars` limit.
pub(crate) struct Text {
    pub(crate) s: String,
    chars: usize,
    max: usize,
    pub(crate) truncated: bool,
}

impl Text {
    pub(crate) fn new(max: usize) -> Text {
        Text {
            s: String::new(),
            chars: 0,
            max,
            truncated: false,
        }
    }

    pub(crate) fn push(&mut self, c: char) {
        if self.chars >= self.max {
            self.truncated = true;
            return;
        }
        self.chars += 1;
        self.s.push(c);
    }

    pub(crate) fn push_str(&mut self, t: &str) {
        for c in t.chars() {
            self.push(c);
            if self.truncated {
                return;
            }
        }
    }

    /// End the current line (no empty lines are produced twice in a row).
    pub(crate) fn newline(&mut self) {
        if !self.s.is_empty() && !self.s.ends_with('\n') {
            self.push('\n');
        }
    }

    pub(crate) fn full(&self) -> bool {
        self.truncated
    }
}

/// Decode UTF-16LE bytes (an odd trailing byte is ignored).
pub(crate) fn utf16le(b: &[u8]) -> String {
    let units = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Latin-1 ("compressed" UTF-16: the high byte is zero).
pub(crate) fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

pub(crate) fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// The first `n` characters of `s`.
pub(crate) fn head_of(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Is this OLE file (per its user-defined properties or streams) from WPS Office?
fn is_wps(c: &Container<'_>, props: &[(String, String)], app: Option<&str>) -> bool {
    let app_wps = app.is_some_and(|a| {
        let l = a.to_ascii_lowercase();
        l.contains("wps") || l.contains("kingsoft")
    });
    app_wps
        || props.iter().any(|(k, _)| k.starts_with("KSO"))
        || c.entries.iter().any(|(p, _, _)| {
            let l = p.to_ascii_lowercase();
            l.starts_with("wpscustomdata") || l.starts_with("ksotemplate") || l.contains("kso")
        })
}

pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    if let Some(e) = super::ooxml::encrypted_ooxml_in_cfb(data) {
        return Err(e);
    }
    let mut c = Container::open(data, ctx)?;
    let kind = if c.has("WordDocument") {
        Kind::Doc
    } else if c.has("Workbook") || c.has("Book") {
        Kind::Xls
    } else if c.has("PowerPoint Document") {
        Kind::Ppt
    } else {
        return Err(ExtractError::Unsupported(
            "OLE compound file that is not a Word, Excel or PowerPoint document".into(),
        ));
    };
    // Properties first: cheap, and they tell WPS from Microsoft Office.
    // A damaged property stream must not hide the body text: errors here
    // only drop the properties (limits and timeouts still stop).
    let mut properties = Vec::new();
    let mut app = None;
    for name in ["\u{5}SummaryInformation", "\u{5}DocumentSummaryInformation"] {
        match c.read(name, ctx) {
            Ok(Some(bytes)) => {
                let p = props::parse(&bytes, ctx)?;
                if app.is_none() {
                    app = p.app;
                }
                properties.extend(p.props);
            }
            Ok(None) => {}
            Err(e @ (ExtractError::Limit(_) | ExtractError::Timeout)) => return Err(e),
            Err(_) => {}
        }
    }
    if c.has("EncryptedSummary") {
        return Err(ExtractError::Encrypted(
            "encrypted OLE document (EncryptedSummary)".into(),
        ));
    }
    let wps = is_wps(&c, &properties, app.as_deref());
    let mut doc = match kind {
        Kind::Doc => {
            let mut d = doc::extract(&mut c, ctx)?;
            d.format = if wps { "wps" } else { "doc" };
            d
        }
        Kind::Xls => {
            let mut d = xls::extract(&mut c, ctx)?;
            d.format = if wps { "et" } else { "xls" };
            d
        }
        Kind::Ppt => {
            let mut d = ppt::extract(&mut c, ctx)?;
            d.format = if wps { "dps" } else { "ppt" };
            d
        }
    };
    properties.retain(|(k, _)| k != "KSOProductBuildVer");
    doc.properties = properties;
    embedded(&mut c, ctx, &mut doc)?;
    Ok(doc)
}

enum Kind {
    Doc,
    Xls,
    Ppt,
}

/// Embedded objects: `Package` (an embedded OOXML file), `CONTENTS` and
/// `\x01Ole10Native` (OLE Packager: a file with its name) streams under
/// `ObjectPool` (Word) or `MBD*` (Excel) storages become children.
fn embedded(c: &mut Container<'_>, ctx: &mut Ctx, doc: &mut Document) -> Result<(), ExtractError> {
    if ctx.depth >= ctx.limits.max_depth {
        return Ok(());
    }
    let candidates: Vec<String> = c
        .entries
        .iter()
        .filter(|(p, s, _)| {
            let top = p.split('/').next().unwrap_or("");
            let leaf = p.rsplit('/').next().unwrap_or("");
            *s && p.contains('/')
                && (top.eq_ignore_ascii_case("ObjectPool")
                    || top.to_ascii_uppercase().starts_with("MBD")
                    || top.eq_ignore_ascii_case("Embeddings"))
                && (leaf.eq_ignore_ascii_case("Package")
                    || leaf.eq_ignore_ascii_case("CONTENTS")
                    || leaf == "\u{1}Ole10Native")
        })
        .map(|(p, _, _)| p.clone())
        .take(MAX_CHILDREN)
        .collect();
    // Embedded Word/Excel/PowerPoint objects are storages, not streams:
    // copy such a storage into a compound file of its own.
    let mut storages: Vec<String> = Vec::new();
    for (p, s, _) in &c.entries {
        let Some((dir, leaf)) = p.rsplit_once('/') else {
            continue;
        };
        let top = dir.split('/').next().unwrap_or("");
        if *s
            && (top.eq_ignore_ascii_case("ObjectPool")
                || top.to_ascii_uppercase().starts_with("MBD"))
            && ["WordDocument", "Workbook", "Book", "PowerPoint Document"]
                .iter()
                .any(|w| leaf.eq_ignore_ascii_case(w))
            && !storages.iter().any(|d| d == dir)
            && storages.len() < MAX_CHILDREN
        {
            storages.push(dir.to_owned());
        }
    }
    for dir in storages {
        // cfb's writer on names taken from the file: keep a panic contained.
        let copied = catch_unwind(AssertUnwindSafe(|| substorage(c, &dir, ctx)))
            .unwrap_or_else(|_| Err(panicked()));
        match copied {
            Ok(data) => doc.children.push(Child { name: dir, data }),
            Err(e @ (ExtractError::Limit(_) | ExtractError::Timeout)) => return Err(e),
            Err(e) => doc.failed_children.push(super::FailedChild {
                name: dir,
                error: e,
            }),
        }
    }
    for path in candidates {
        let data = match c.read(&path, ctx) {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e @ (ExtractError::Limit(_) | ExtractError::Timeout)) => return Err(e),
            Err(e) => {
                doc.failed_children.push(super::FailedChild {
                    name: path.replace('\u{1}', ""),
                    error: e,
                });
                continue;
            }
        };
        let (name, data) = if path.ends_with("\u{1}Ole10Native") {
            match ole10native(&data) {
                Some((n, d)) => (
                    format!("{}/{}", path.replace("/\u{1}Ole10Native", ""), n),
                    d,
                ),
                None => continue,
            }
        } else {
            (path.clone(), data)
        };
        if !data.is_empty() {
            doc.children.push(Child { name, data });
        }
    }
    Ok(())
}

/// A new compound file holding the streams (and sub-storages) of `dir`.
fn substorage(c: &mut Container<'_>, dir: &str, ctx: &mut Ctx) -> Result<Vec<u8>, ExtractError> {
    let prefix = format!("{dir}/");
    let members: Vec<(String, bool)> = c
        .entries
        .iter()
        .filter_map(|(p, s, _)| p.strip_prefix(&prefix).map(|r| (r.to_owned(), *s)))
        .collect();
    let mut out = cfb::CompoundFile::create(Cursor::new(Vec::new()))
        .map_err(|e| ExtractError::Corrupt(format!("embedded storage {dir}: {e}")))?;
    // Storages first (walk order lists a storage before its members).
    for (rel, is_stream) in &members {
        if *is_stream {
            continue;
        }
        out.create_storage_all(format!("/{rel}"))
            .map_err(|e| ExtractError::Corrupt(format!("embedded storage {dir}: {e}")))?;
    }
    for (rel, is_stream) in &members {
        if !*is_stream {
            continue;
        }
        let Some(data) = c.read(&format!("{prefix}{rel}"), ctx)? else {
            continue;
        };
        let mut st = out
            .create_stream(format!("/{rel}"))
            .map_err(|e| ExtractError::Corrupt(format!("embedded storage {dir}: {e}")))?;
        std::io::Write::write_all(&mut st, &data)
            .map_err(|e| ExtractError::Corrupt(format!("embedded storage {dir}: {e}")))?;
    }
    out.flush()
        .map_err(|e| ExtractError::Corrupt(format!("embedded storage {dir}: {e}")))?;
    Ok(out.into_inner().into_inner())
}

/// `\x01Ole10Native`: u32 total size, u16 flags, label (C string), source
/// path (C string), u32, u32, temp path (C string), u32 size, data.
fn ole10native(b: &[u8]) -> Option<(String, Vec<u8>)> {
    let mut pos = 6usize;
    let cstr = |pos: &mut usize| -> Option<Vec<u8>> {
        let rest = b.get(*pos..)?;
        let end = rest.iter().position(|&c| c == 0)?;
        let s = rest.get(..end)?.to_vec();
        *pos = pos.checked_add(end + 1)?;
        Some(s)
    };
    let label = cstr(&mut pos)?;
    let _src = cstr(&mut pos)?;
    pos = pos.checked_add(8)?;
    let _tmp = cstr(&mut pos)?;
    let size = u32_at(b, pos)? as usize;
    pos = pos.checked_add(4)?;
    let data = b.get(pos..pos.checked_add(size)?)?.to_vec();
    let (name, _, _) = encoding_rs::GBK.decode(&label);
    let name = name.replace(['/', '\\', '\0'], "_");
    Some((
        if name.is_empty() {
            "object".into()
        } else {
            name
        },
        data,
    ))
}

#[cfg(test)]
mod tests;
