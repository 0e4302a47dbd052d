//! RAR archives, v4 (`Rar!\x1a\x07\x00`) and v5 (`Rar!\x1a\x07\x01\x00`):
//! the block structure is walked by hand, every member is named (names are
//! scanned like file names), stored members become children scanned as
//! `ARCHIVE!/member`, and every member whose data is compressed or
//! encrypted is reported `unscannable` with its reason — never clean.
//!
//! Why hand-written, and why compressed members are not decoded: the only
//! complete RAR decoder is RARLAB's UnRAR source, which the `unrar` crate
//! (MIT/Apache-2.0 itself) compiles in through `unrar_sys`. Its licence is
//! not an open-source one: free to use and redistribute, but the source "may
//! not be used to develop a RAR (WinRAR) compatible archiver" or to
//! re-create the RAR compression algorithm, and Debian ships it in non-free
//! only. It also opens archives by path, not from memory, and needs a C++
//! toolchain on every build host. Until the project decides to accept that
//! licence, RAR members in RAR's own compression are `unscannable`
//! ("unsupported") — reported, with their names matched — rather than
//! silently skipped. The block layout follows RARLAB's technical notes
//! (`technote.htm`, RAR 5.0 and RAR 4.x).
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
        ExtractError::Unsupported(
            "RAR-compressed member: RAR compression is not decoded (its only decoder, UnRAR, is not open source); the name was scanned".into(),
        )
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
        assert_eq!(d.failed_children[0].error.reason(), "unsupported");
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
}
