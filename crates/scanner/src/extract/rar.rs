//! RAR archives, v4 (`Rar!\x1a\x07\x00`) and v5 (`Rar!\x1a\x07\x01\x00`):
//! the block structure is walked by hand, every member is named (names are
//! scanned like file names), stored members become children scanned as
//! `ARCHIVE!/member`, and every member whose data is compressed or
//! encrypted is reported `unscannable` with its reason — never clean.
//!
//! Why hand-written: the block walk needs no decoder, reads from memory,
//! and decides names, encryption and truncation the same way whether or
//! not compressed members can be decoded. The block layout follows
//! RARLAB's technical notes (`technote.htm`, RAR 5.0 and RAR 4.x).
//!
//! Compressed members. With the cargo feature `rar-decode` (default) they are
//! decoded by the `rars` crate (pure Rust, `#![forbid(unsafe_code)]`,
//! Apache-2.0, github.com/bitplane/rars — an independent implementation of
//! RAR 1.3 to 7; not RARLAB code, so the UnRAR licence does not apply) from
//! memory, member by member, checksum verified, under the file's budgets:
//! output per member and in total bounded by the decompressed budget left
//! and the ratio limit, the dictionary a member may ask for bounded by
//! 128 MiB (`decode::MAX_DICTIONARY`), headers by the element budget; encrypted members
//! stay `encrypted`, a member cut short or failing its checksum is
//! `truncated`/`corrupt`, never clean. Without the feature they are
//! `unscannable` ("unsupported"), their names still matched.
//!
//! The alternative, the `unrar` crate, binds RARLAB's UnRAR C++ source
//! (`unrar_sys`). The crate builds here (g++ 12), but its licence is not an
//! open-source one: free use and redistribution, but the source "may not be
//! used to develop a RAR (WinRAR) compatible archiver" or to re-create the
//! RAR compression algorithm (Debian ships it in non-free only); it opens
//! archives by path, not from memory (the extractors do no I/O), and needs
//! a C++ toolchain on every build host, mingw included. Not used.
//!
//! Bounds: each block is charged one element, sizes are checked against
//! the archive's length before any slice is taken (a lying size is
//! `truncated`), stored members are charged to the decompressed budget, and
//! nesting is bounded by `Ctx::depth`.

use super::{Child, Ctx, Document, ExtractError, ExtractResult, FailedChild};

pub const MAGIC4: &[u8] = b"Rar!\x1a\x07\x00";
pub const MAGIC5: &[u8] = b"Rar!\x1a\x07\x01\x00";

/// Is this a RAR archive (either version)?
pub fn is_rar(data: &[u8]) -> bool {
    data.starts_with(MAGIC5) || data.starts_with(MAGIC4)
}

/// Extract a RAR archive held in memory.
pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    ctx.check_archive_depth()?;
    let mut doc = Document {
        format: "rar",
        ..Document::default()
    };
    let res = if data.starts_with(MAGIC5) {
        walk5(data, ctx, &mut doc)
    } else if data.starts_with(MAGIC4) {
        walk4(data, ctx, &mut doc)
    } else {
        Err(ExtractError::Corrupt("not a RAR archive".into()))
    };
    #[cfg(feature = "rar-decode")]
    decode::compressed_members_guarded(data, ctx, &mut doc)?;
    match res {
        Ok(()) => Ok(doc),
        // Whatever was read before the damage is kept; the archive itself
        // is reported with the reason.
        Err(e @ (ExtractError::Truncated(_) | ExtractError::Corrupt(_)))
            if !(doc.children.is_empty() && doc.failed_children.is_empty()) =>
        {
            doc.incomplete = Some(e);
            Ok(doc)
        }
        Err(e) => Err(e),
    }
}

/// Why a compressed member is not read (without `rar-decode`, or until
/// the decoder has read it).
const COMPRESSED: &str =
    "RAR-compressed member: RAR compression is not decoded in this build; the name was scanned";

fn cut(what: &str) -> ExtractError {
    ExtractError::Truncated(format!("RAR {what} runs past the end of the archive"))
}

/// A member's stored data, or why it cannot be read.
fn member(
    doc: &mut Document,
    ctx: &mut Ctx,
    name: String,
    data: &[u8],
    stored: bool,
    encrypted: bool,
    unpacked: u64,
) -> Result<(), ExtractError> {
    doc.text.push_str(&name);
    doc.text.push('\n');
    let error = if encrypted {
        ExtractError::Encrypted("RAR member is encrypted".into())
    } else if !stored {
        ExtractError::Unsupported(COMPRESSED.into())
    } else if unpacked != data.len() as u64 {
        ExtractError::Corrupt("stored RAR member whose sizes disagree".into())
    } else {
        let remaining = ctx
            .limits
            .max_decompressed_bytes
            .saturating_sub(ctx.decompressed);
        if data.len() as u64 > remaining {
            return Err(ExtractError::Limit(format!(
                "more than {} bytes decompressed",
                ctx.limits.max_decompressed_bytes
            )));
        }
        ctx.decompressed += data.len() as u64;
        doc.children.push(Child {
            name,
            data: data.to_vec(),
        });
        return Ok(());
    };
    doc.failed_children.push(FailedChild { name, error });
    Ok(())
}

// ------------------------------------------------------------------ RAR 5 --

/// A RAR5 variable-length integer at `*pos` (7 bits per byte, at most 10 bytes).
fn vint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let x = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(x & 0x7f) << (7 * i);
        if x & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn walk5(data: &[u8], ctx: &mut Ctx, doc: &mut Document) -> Result<(), ExtractError> {
    let mut pos = MAGIC5.len();
    loop {
        ctx.tick(1)?;
        if pos == data.len() {
            return Err(cut("end-of-archive block"));
        }
        let mut p = pos.checked_add(4).ok_or_else(|| cut("header"))?;
        let size_at = p;
        let size = vint(data, &mut p).ok_or_else(|| cut("header"))?;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| p.checked_add(s))
            .filter(|&e| e <= data.len())
            .ok_or_else(|| cut("header"))?;
        let crc = u32::from_le_bytes(data[pos..pos + 4].try_into().map_err(|_| cut("header"))?);
        if crc32(&data[size_at..end]) != crc {
            return Err(ExtractError::Corrupt("RAR header checksum mismatch".into()));
        }
        let h = &data[..end];
        let htype = vint(h, &mut p).ok_or_else(|| cut("header"))?;
        let hflags = vint(h, &mut p).ok_or_else(|| cut("header"))?;
        let extra = if hflags & 1 != 0 {
            vint(h, &mut p).ok_or_else(|| cut("header"))?
        } else {
            0
        };
        let data_size = if hflags & 2 != 0 {
            vint(h, &mut p).ok_or_else(|| cut("header"))?
        } else {
            0
        };
        let data_end = usize::try_from(data_size)
            .ok()
            .and_then(|s| end.checked_add(s))
            .filter(|&e| e <= data.len())
            .ok_or_else(|| cut("member data"))?;
        let extra_start = usize::try_from(extra)
            .ok()
            .and_then(|x| end.checked_sub(x))
            .filter(|&s| s >= p)
            .ok_or_else(|| ExtractError::Corrupt("RAR extra area larger than its header".into()))?;
        match htype {
            1 => {
                let flags = vint(h, &mut p).unwrap_or(0);
                if flags & 0x0001 != 0 {
                    return Err(ExtractError::Unsupported(
                        "multi-volume RAR archive (only one part is here)".into(),
                    ));
                }
            }
            2 => {
                let fflags = vint(h, &mut p).ok_or_else(|| cut("file header"))?;
                let unpacked = vint(h, &mut p).ok_or_else(|| cut("file header"))?;
                let _attributes = vint(h, &mut p);
                if fflags & 0x02 != 0 {
                    p += 4;
                }
                if fflags & 0x04 != 0 {
                    p += 4;
                }
                let comp = vint(h, &mut p).ok_or_else(|| cut("file header"))?;
                let _host = vint(h, &mut p);
                let nlen = vint(h, &mut p).ok_or_else(|| cut("file header"))?;
                let name_end = usize::try_from(nlen)
                    .ok()
                    .and_then(|n| p.checked_add(n))
                    .filter(|&e| e <= extra_start)
                    .ok_or_else(|| cut("file name"))?;
                let name = super::archive::member_name(&h[p..name_end]);
                let encrypted = has_record5(&h[extra_start..end], 0x01);
                let method = (comp >> 7) & 0x07;
                if fflags & 0x01 == 0 {
                    member(
                        doc,
                        ctx,
                        name,
                        &data[end..data_end],
                        method == 0,
                        encrypted,
                        unpacked,
                    )?;
                }
            }
            4 => {
                return Err(ExtractError::Encrypted(
                    "RAR archive headers are encrypted (names and content)".into(),
                ));
            }
            5 => return Ok(()),
            // Service headers (comments, quick open, recovery) and unknown
            // blocks are skipped by their sizes.
            _ => {}
        }
        ctx.check_time()?;
        pos = data_end;
    }
}

/// Whether a RAR5 extra area holds a record of type `want`.
fn has_record5(mut extra: &[u8], want: u64) -> bool {
    while !extra.is_empty() {
        let mut p = 0;
        let (Some(size), Some(ty)) = (vint(extra, &mut p), {
            let mut q = p;
            vint(extra, &mut q)
        }) else {
            return false;
        };
        if ty == want {
            return true;
        }
        let Some(next) = usize::try_from(size).ok().and_then(|s| p.checked_add(s)) else {
            return false;
        };
        if next == 0 || next > extra.len() {
            return false;
        }
        extra = &extra[next..];
    }
    false
}

// ------------------------------------------------------------------ RAR 4 --

fn u16le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn walk4(data: &[u8], ctx: &mut Ctx, doc: &mut Document) -> Result<(), ExtractError> {
    let mut pos = MAGIC4.len();
    loop {
        ctx.tick(1)?;
        if pos == data.len() {
            // RAR 4 archives written without an end block exist (old
            // versions); a clean end of data after a whole block is fine.
            return Ok(());
        }
        let h = data.get(pos..pos + 7).ok_or_else(|| cut("header"))?;
        let htype = h[2];
        let flags = u16le(h, 3).unwrap_or(0);
        let size = usize::from(u16le(h, 5).unwrap_or(0));
        if size < 7 {
            return Err(ExtractError::Corrupt(
                "RAR header shorter than 7 bytes".into(),
            ));
        }
        let hend = pos
            .checked_add(size)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| cut("header"))?;
        let head = &data[pos..hend];
        let crc = u16le(head, 0).unwrap_or(0);
        if (crc32(&head[2..]) & 0xffff) as u16 != crc && htype != 0x73 {
            return Err(ExtractError::Corrupt("RAR header checksum mismatch".into()));
        }
        let add = if flags & 0x8000 != 0 || htype == 0x74 {
            u64::from(u32le(head, 7).ok_or_else(|| cut("header"))?)
        } else {
            0
        };
        let high = if htype == 0x74 && flags & 0x0100 != 0 {
            u64::from(u32le(head, 32).ok_or_else(|| cut("header"))?) << 32
        } else {
            0
        };
        let data_end = usize::try_from(add | high)
            .ok()
            .and_then(|s| hend.checked_add(s))
            .filter(|&e| e <= data.len())
            .ok_or_else(|| cut("member data"))?;
        match htype {
            0x73 => {
                if flags & 0x0080 != 0 {
                    return Err(ExtractError::Encrypted(
                        "RAR archive headers are encrypted (names and content)".into(),
                    ));
                }
                if flags & 0x0001 != 0 {
                    return Err(ExtractError::Unsupported(
                        "multi-volume RAR archive (only one part is here)".into(),
                    ));
                }
            }
            0x74 => {
                let unpacked_lo = u64::from(u32le(head, 11).ok_or_else(|| cut("file header"))?);
                let method = *head.get(25).ok_or_else(|| cut("file header"))?;
                let nlen = usize::from(u16le(head, 26).ok_or_else(|| cut("file header"))?);
                let mut name_at = 32;
                let mut unpacked = unpacked_lo;
                if flags & 0x0100 != 0 {
                    unpacked |= u64::from(u32le(head, 36).ok_or_else(|| cut("file header"))?) << 32;
                    name_at += 8;
                }
                let raw = head
                    .get(name_at..name_at + nlen)
                    .ok_or_else(|| cut("file name"))?;
                let name = name4(raw, flags & 0x0200 != 0);
                let is_dir = flags & 0x00e0 == 0x00e0;
                if !is_dir {
                    member(
                        doc,
                        ctx,
                        name,
                        &data[hend..data_end],
                        method == 0x30,
                        flags & 0x0004 != 0,
                        unpacked,
                    )?;
                }
            }
            0x7b => return Ok(()),
            _ => {}
        }
        ctx.check_time()?;
        pos = data_end;
    }
}

/// A RAR 4 file name: OEM bytes (GBK on Chinese Windows), or with the
/// UNICODE flag an OEM part, a NUL and RARLAB's compact Unicode encoding.
fn name4(raw: &[u8], unicode: bool) -> String {
    if unicode && let Some(nul) = raw.iter().position(|&b| b == 0) {
        let (ascii, enc) = (&raw[..nul], &raw[nul + 1..]);
        if let Some(s) = decode_rar_unicode(ascii, enc) {
            return s;
        }
        return super::archive::member_name(ascii);
    }
    super::archive::member_name(raw)
}

/// RARLAB's file name encoding (UnRAR `EncodeFileName::Decode`).
fn decode_rar_unicode(name: &[u8], enc: &[u8]) -> Option<String> {
    let high = u16::from(*enc.first()?) << 8;
    let mut out: Vec<u16> = Vec::new();
    let (mut pos, mut flags, mut bits) = (1usize, 0u8, 0u32);
    while pos < enc.len() && out.len() < 4096 {
        if bits == 0 {
            flags = enc[pos];
            pos += 1;
            bits = 8;
        }
        match flags >> 6 {
            0 => {
                out.push(u16::from(*enc.get(pos)?));
                pos += 1;
            }
            1 => {
                out.push(u16::from(*enc.get(pos)?) | high);
                pos += 1;
            }
            2 => {
                out.push(u16::from_le_bytes([*enc.get(pos)?, *enc.get(pos + 1)?]));
                pos += 2;
            }
            _ => {
                let len = *enc.get(pos)?;
                pos += 1;
                if len & 0x80 != 0 {
                    let corr = *enc.get(pos)?;
                    pos += 1;
                    for _ in 0..(len & 0x7f) + 2 {
                        let b = *name.get(out.len())?;
                        out.push(u16::from(b.wrapping_add(corr)) | high);
                    }
                } else {
                    for _ in 0..len + 2 {
                        out.push(u16::from(*name.get(out.len())?));
                    }
                }
            }
        }
        flags <<= 2;
        bits -= 2;
    }
    Some(String::from_utf16_lossy(&out))
}

/// CRC-32 (IEEE), as RAR headers use; flate2 already carries one.
fn crc32(b: &[u8]) -> u32 {
    let mut h = flate2::Crc::new();
    h.update(b);
    h.sum()
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
    fn stored_members_of_both_versions_are_children() {
        for f in ["rar/stored5.rar", "rar/stored4.rar"] {
            let d = run(f).unwrap();
            let names: Vec<&str> = d.children.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(
                names,
                ["文件/marked.txt", "文件/unmarked.txt", "clean.txt"],
                "{f}"
            );
            assert!(String::from_utf8_lossy(&d.children[0].data).contains("玄鸟柒号"));
            assert!(d.failed_children.is_empty() && d.incomplete.is_none());
        }
    }

    #[test]
    fn compressed_encrypted_and_cut_archives_are_never_clean() {
        let d = run("rar/compressed5.rar").unwrap();
        assert!(d.children.is_empty());
        assert_eq!(d.failed_children.len(), 1);
        // Flagged compressed, but its data is no RAR stream.
        let want = if cfg!(feature = "rar-decode") {
            "corrupt"
        } else {
            "unsupported"
        };
        assert_eq!(d.failed_children[0].error.reason(), want);
        assert!(d.text.contains("玄鸟柒号"));
        assert!(matches!(
            run("rar/encrypted5.rar"),
            Err(ExtractError::Encrypted(_))
        ));
        let d = run("rar/truncated.rar").unwrap();
        assert!(matches!(d.incomplete, Some(ExtractError::Truncated(_))));
        assert_eq!(d.children.len(), 2);
        let good = fixture("rar/stored5.rar");
        for n in 0..good.len() {
            let _ = extract(&good[..n], &mut Ctx::new(Limits::default()));
        }
        let mut bad = good.clone();
        for i in 8..bad.len() {
            bad[i] ^= 0x55;
            let _ = extract(&bad, &mut Ctx::new(Limits::default()));
            bad[i] ^= 0x55;
        }
    }

    #[test]
    fn rar_unicode_names_decode() {
        // "ab" + U+7384 U+9E1F (玄鸟): flags 00 00 10 10 → two plain bytes,
        // then two full 16-bit characters.
        let enc = [0x00, 0b0000_1010, b'a', b'b', 0x84, 0x73, 0x1f, 0x9e];
        assert_eq!(
            decode_rar_unicode(b"ab??", &enc[..]).as_deref(),
            Some("ab玄鸟")
        );
    }

    /// RAR 5, RAR 4 (2.9 format) and solid RAR 5 written by rars: the
    /// compressed members are read with `rar-decode`, reported without.
    #[test]
    fn compressed_members_written_by_a_real_archiver() {
        for f in [
            "rar/compressed5_rars.rar",
            "rar/compressed4_rars.rar",
            "rar/solid5_rars.rar",
        ] {
            let d = run(f).unwrap();
            if cfg!(feature = "rar-decode") {
                let names: Vec<&str> = d.children.iter().map(|c| c.name.as_str()).collect();
                assert_eq!(names, ["通知/试验安排.txt", "说明.txt"], "{f}");
                let first = String::from_utf8_lossy(&d.children[0].data).into_owned();
                assert!(first.starts_with("机密★5年\n关于玄鸟柒号"), "{f}");
                assert_eq!(first.matches("玄鸟柒号").count(), 40, "{f}");
                assert!(d.failed_children.is_empty(), "{f}: {:?}", d.failed_children);
            } else {
                assert!(d.children.is_empty(), "{f}");
                assert_eq!(d.failed_children.len(), 2, "{f}");
            }
        }
    }

    /// A member far over the ratio limit is not decoded to its end.
    #[test]
    fn compressed_bomb_is_a_limit() {
        let d = run("rar/bomb5_rars.rar").unwrap();
        assert!(d.children.is_empty());
        let want = if cfg!(feature = "rar-decode") {
            "limit"
        } else {
            "unsupported"
        };
        assert_eq!(d.failed_children[0].error.reason(), want);
    }

    /// Every truncation and many byte flips of compressed archives: no
    /// panic, and never a child that the decoder did not verify.
    #[test]
    fn damaged_compressed_archives_never_panic() {
        for f in [
            "rar/compressed5_rars.rar",
            "rar/compressed4_rars.rar",
            "rar/solid5_rars.rar",
        ] {
            let data = fixture(f);
            for cut in 0..data.len() {
                let _ = extract(&data[..cut], &mut Ctx::new(Limits::default()));
            }
            for i in 0..data.len() {
                for x in [0x01u8, 0x80, 0xff] {
                    let mut m = data.clone();
                    m[i] ^= x;
                    if let Ok(d) = extract(&m, &mut Ctx::new(Limits::default())) {
                        for c in &d.children {
                            assert!(c.data.len() <= 1 << 20, "{f}: byte {i}");
                        }
                    }
                }
            }
        }
    }
}

/// Compressed members through the `rars` decoder (feature `rar-decode`).
#[cfg(feature = "rar-decode")]
mod decode {
    use std::cell::RefCell;
    use std::io::Write;
    use std::rc::Rc;

    use rars::{ArchiveReadOptions, ArchiveReader, ErrorKind, ExtractionDecision};

    use super::{COMPRESSED, Child, Ctx, Document, ExtractError};

    /// Largest dictionary a member may ask for (RAR 5 allows 4 GiB, RAR 7
    /// 64 GiB; WinRAR's default is 32 MiB): the decoder allocates it, in a
    /// worker whose address space is 1 GiB.
    pub(super) const MAX_DICTIONARY: u64 = 128 << 20;

    /// A member's output, shared with the writer the decoder holds.
    type Buffer = Rc<RefCell<Vec<u8>>>;

    /// One member's output, refused beyond its cap.
    struct Capped {
        buf: Buffer,
        cap: u64,
    }

    impl Write for Capped {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            let mut b = self.buf.borrow_mut();
            if b.len() as u64 + data.len() as u64 > self.cap {
                return Err(std::io::Error::other("member output over its limit"));
            }
            b.extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn reason(e: &rars::Error, over_cap: bool) -> ExtractError {
        let msg = format!("RAR decoder: {e}");
        if over_cap {
            return ExtractError::Limit(msg);
        }
        match e.kind() {
            ErrorKind::PasswordRequired | ErrorKind::BadPassword => ExtractError::Encrypted(msg),
            ErrorKind::ResourceLimit => ExtractError::Limit(msg),
            ErrorKind::ChecksumMismatch => ExtractError::Corrupt(msg),
            ErrorKind::UnsupportedFeature | ErrorKind::UnsupportedFormat => {
                ExtractError::Unsupported(msg)
            }
            _ if msg.contains("truncat") || msg.contains("end of") => ExtractError::Truncated(msg),
            _ => ExtractError::Corrupt(msg),
        }
    }

    /// [`compressed_members`], with a panic of the decoder (a young crate
    /// fed hostile input) turned into `corrupt` members: defence in depth,
    /// the engine runs extractors in worker processes anyway.
    pub(super) fn compressed_members_guarded(
        data: &[u8],
        ctx: &mut Ctx,
        doc: &mut Document,
    ) -> Result<(), ExtractError> {
        let before = (doc.children.len(), doc.failed_children.clone());
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            compressed_members(data, ctx, doc)
        }));
        match run {
            Ok(r) => r,
            Err(_) => {
                doc.children.truncate(before.0);
                doc.failed_children = before.1;
                for f in &mut doc.failed_children {
                    if matches!(&f.error, ExtractError::Unsupported(m) if m == COMPRESSED) {
                        f.error =
                            ExtractError::Corrupt("the RAR decoder failed on this member".into());
                    }
                }
                Ok(())
            }
        }
    }

    /// Decode the members the walk left as compressed; each one read
    /// becomes a child, each one not read keeps a failure with its reason.
    pub(super) fn compressed_members(
        data: &[u8],
        ctx: &mut Ctx,
        doc: &mut Document,
    ) -> Result<(), ExtractError> {
        let pending: Vec<usize> = doc
            .failed_children
            .iter()
            .enumerate()
            .filter(|(_, f)| matches!(&f.error, ExtractError::Unsupported(m) if m == COMPRESSED))
            .map(|(i, _)| i)
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let remaining = ctx
            .limits
            .max_decompressed_bytes
            .saturating_sub(ctx.decompressed);
        let headers = ctx.limits.max_elements.saturating_sub(ctx.elements).max(1);
        let mut options = ArchiveReadOptions::new()
            .with_max_header_count(headers)
            .with_max_header_bytes(64 << 20)
            .with_max_member_output_bytes(remaining)
            .with_max_total_output_bytes(remaining);
        options.rar50_dictionary_size_limit = Some(MAX_DICTIONARY);
        let set_all = |doc: &mut Document, from: usize, e: &ExtractError| {
            for &i in &pending[from..] {
                if let Some(f) = doc.failed_children.get_mut(i) {
                    f.error = e.clone();
                }
            }
        };
        let archive = match ArchiveReader::read_with_options(data, options) {
            Ok(a) => a,
            Err(e) => {
                set_all(doc, 0, &reason(&e, false));
                return Ok(());
            }
        };
        // Outputs in archive order of the compressed, unencrypted members
        // (the walk's order); a member is kept only once the decoder has
        // moved past it (verified) or finished.
        let outputs: Rc<RefCell<Vec<Buffer>>> = Rc::default();
        let over_cap = Rc::new(RefCell::new(false));
        let max_ratio = ctx.limits.max_ratio;
        let deadline = ctx.deadline;
        let result = {
            let outputs = outputs.clone();
            let over_cap = over_cap.clone();
            archive.extract_with_control(options, move |m| {
                let meta = &m.meta;
                if std::time::Instant::now() > deadline {
                    return Ok(ExtractionDecision::Stop);
                }
                let wanted = !meta.is_directory
                    && !meta.is_redirection
                    && !meta.is_stored
                    && !meta.is_encrypted
                    && !meta.is_split_before;
                if !wanted {
                    // Stored members were read by the walk; a solid archive
                    // must still decode them for its history.
                    return Ok(if m.is_solid() && !meta.is_encrypted {
                        ExtractionDecision::Extract(Box::new(std::io::sink()))
                    } else {
                        ExtractionDecision::Skip
                    });
                }
                let cap = meta
                    .packed_size
                    .saturating_mul(max_ratio)
                    .max(1 << 20)
                    .min(remaining);
                let buf = Rc::new(RefCell::new(Vec::new()));
                outputs.borrow_mut().push(buf.clone());
                *over_cap.borrow_mut() = meta.unpacked_size > cap;
                Ok(ExtractionDecision::Extract(Box::new(Capped { buf, cap })))
            })
        };
        let outputs = std::mem::take(&mut *outputs.borrow_mut());
        let (done, failure) = match result {
            Ok(rars::ExtractionOutcome::Stopped) => (outputs.len(), Some(ExtractError::Timeout)),
            Ok(_) => (outputs.len(), None),
            Err(e) => (
                outputs.len().saturating_sub(1),
                Some(reason(
                    &e,
                    *over_cap.borrow() || e.to_string().contains("over its limit"),
                )),
            ),
        };
        let mut taken = Vec::new();
        for (k, out) in outputs.into_iter().take(done).enumerate() {
            let Some(&i) = pending.get(k) else { break };
            let bytes = std::mem::take(&mut *out.borrow_mut());
            ctx.decompressed = ctx.decompressed.saturating_add(bytes.len() as u64);
            let name = doc.failed_children[i].name.clone();
            doc.children.push(Child { name, data: bytes });
            taken.push(i);
        }
        let failure = failure.unwrap_or_else(|| {
            ExtractError::Corrupt("the RAR decoder did not find this member".into())
        });
        if taken.len() < pending.len() {
            set_all(doc, taken.len(), &failure);
        }
        let mut k = 0;
        doc.failed_children.retain(|_| {
            let keep = !taken.contains(&k);
            k += 1;
            keep
        });
        ctx.check_time()
    }
}
