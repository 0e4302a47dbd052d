//! Word 97-2003 binary ([MS-DOC]): FIB -> Clx in the table stream -> piece
//! table (PlcPcd) -> each piece's characters in the WordDocument stream,
//! 8-bit ("compressed", cp1252) or UTF-16LE. The character positions are
//! split into stories by the FIB counts: main text (ccpText), footnotes
//! (ccpFtn), headers/footers (ccpHdd, split by PlcfHdd), and the rest.

use super::{Container, Ctx, Document, ExtractError, HEAD_CHARS, Text, u16_at, u32_at};

const FIB_IDENT: u16 = 0xA5EC;
/// Pieces accepted in one piece table.
const MAX_PIECES: usize = 1 << 20;

pub(crate) fn extract(c: &mut Container<'_>, ctx: &mut Ctx) -> Result<Document, ExtractError> {
    let wd = c
        .read("WordDocument", ctx)?
        .ok_or_else(|| ExtractError::Corrupt("no WordDocument stream".into()))?;
    if wd.len() < 32 {
        return Err(ExtractError::Truncated("FIB shorter than 32 bytes".into()));
    }
    if u16_at(&wd, 0) != Some(FIB_IDENT) {
        return Err(ExtractError::Unsupported(
            "WordDocument without a Word 97+ FIB (Word 6/95 or older)".into(),
        ));
    }
    let flags = u16_at(&wd, 0x0A).unwrap_or(0);
    if flags & 0x0100 != 0 {
        return Err(ExtractError::Encrypted(if flags & 0x8000 != 0 {
            "Word document obfuscated (XOR)".into()
        } else {
            "password-protected Word document (FIB fEncrypted)".into()
        }));
    }
    let table_name = if flags & 0x0200 != 0 {
        "1Table"
    } else {
        "0Table"
    };
    // FibRgW97 (csw u16 + words), FibRgLw97 (cslw u16 + longs), FibRgFcLcb.
    let csw = u16_at(&wd, 32).ok_or_else(fib_short)? as usize;
    let lw_at = 34 + csw * 2;
    let cslw = u16_at(&wd, lw_at).ok_or_else(fib_short)? as usize;
    let lw = |i: usize| -> u32 {
        if i < cslw {
            u32_at(&wd, lw_at + 2 + i * 4).unwrap_or(0)
        } else {
            0
        }
    };
    let ccp_text = lw(3) as u64;
    let ccp_ftn = lw(4) as u64;
    let ccp_hdd = lw(5) as u64;
    let fc_at = lw_at + 2 + cslw * 4;
    let cb_fclcb = u16_at(&wd, fc_at).ok_or_else(fib_short)? as usize;
    let fclcb = |i: usize| -> Option<(usize, usize)> {
        if i >= cb_fclcb {
            return None;
        }
        let at = fc_at + 2 + i * 8;
        Some((u32_at(&wd, at)? as usize, u32_at(&wd, at + 4)? as usize))
    };
    let (fc_clx, lcb_clx) = fclcb(33).ok_or_else(fib_short)?;
    let table = c
        .read(table_name, ctx)?
        .ok_or_else(|| ExtractError::Corrupt(format!("no {table_name} stream")))?;
    let clx = table
        .get(fc_clx..fc_clx.checked_add(lcb_clx).ok_or_else(clx_bad)?)
        .ok_or_else(|| ExtractError::Corrupt("Clx outside the table stream".into()))?;
    let pieces = piece_table(clx, ctx)?;

    // Decode all character positions story by story.
    let max = ctx.limits.max_text_chars;
    let main_end = ccp_text;
    let hdd_start = ccp_text.saturating_add(ccp_ftn);
    let hdd_end = hdd_start.saturating_add(ccp_hdd);
    let mut all = Text::new(max);
    let raw = chars(&wd, &pieces, 0, u64::MAX, max, ctx)?;
    // One UTF-16 unit per cp (as Word counts them), so story boundaries are
    // plain indices and memory is two bytes per character.
    let n = raw.len() as u64;
    let idx = |cp: u64| cp.min(n) as usize;
    let main = raw.get(..idx(main_end)).unwrap_or(&[]);
    let rest_before_hdd = raw.get(idx(main_end)..idx(hdd_start)).unwrap_or(&[]);
    let hdd = raw.get(idx(hdd_start)..idx(hdd_end)).unwrap_or(&[]);
    let after = raw.get(idx(hdd_end)..).unwrap_or(&[]);
    clean_into(main, &mut all);
    all.newline();
    clean_into(rest_before_hdd, &mut all);
    all.newline();
    clean_into(after, &mut all);
    all.newline();
    clean_into(hdd, &mut all);

    // Head: first-page/odd header of the first section, then the main text.
    let mut head = Text::new(HEAD_CHARS * 2);
    if let Some((fc_hdd, lcb_hdd)) = fclcb(11)
        && lcb_hdd >= 8
        && let Some(plc) = fc_hdd
            .checked_add(lcb_hdd)
            .and_then(|end| table.get(fc_hdd..end))
    {
        let cps: Vec<u64> = plc
            .chunks_exact(4)
            .take(64)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64)
            .collect();
        // Stories 0-5 are note separators; then per section: even header,
        // odd header, even footer, odd footer, first header, first footer.
        for story in [10usize, 7] {
            if let (Some(&a), Some(&b)) = (cps.get(story), cps.get(story + 1))
                && a < b
            {
                let s = hdd
                    .get(idx(a).min(hdd.len())..idx(b).min(hdd.len()))
                    .unwrap_or(&[]);
                clean_into(s, &mut head);
                head.newline();
            }
        }
    }
    clean_into(
        main.get(..HEAD_CHARS.min(main.len())).unwrap_or(&[]),
        &mut head,
    );
    Ok(Document {
        // No main text counted (a damaged FIB): the start of the text is the head.
        head: Some(head.s).filter(|h| !h.trim().is_empty()),
        truncated: all.truncated || raw.len() >= max,
        text: all.s,
        ..Document::default()
    })
}

fn fib_short() -> ExtractError {
    ExtractError::Truncated("FIB cut short".into())
}

fn clx_bad() -> ExtractError {
    ExtractError::Corrupt("Clx offset overflows".into())
}

/// One piece: character positions [cp_start, cp_end), stored at byte `fc`,
/// 8-bit when `compressed`.
struct Piece {
    cp_start: u64,
    cp_end: u64,
    fc: usize,
    compressed: bool,
}

/// Parse the Clx: skip Prc entries (0x01), then the Pcdt (0x02) with PlcPcd.
fn piece_table(clx: &[u8], ctx: &mut Ctx) -> Result<Vec<Piece>, ExtractError> {
    let mut pos = 0usize;
    loop {
        match clx.get(pos) {
            Some(1) => {
                let cb = u16_at(clx, pos + 1).ok_or_else(clx_short)? as usize;
                pos = pos.checked_add(3 + cb).ok_or_else(clx_short)?;
                ctx.tick(1)?;
            }
            Some(2) => break,
            Some(_) => return Err(ExtractError::Corrupt("Clx: unknown entry".into())),
            None => return Err(clx_short()),
        }
    }
    let lcb = u32_at(clx, pos + 1).ok_or_else(clx_short)? as usize;
    let plc = clx
        .get(pos + 5..(pos + 5).checked_add(lcb).ok_or_else(clx_short)?)
        .ok_or_else(clx_short)?;
    if plc.len() < 4 {
        return Err(clx_short());
    }
    let n = (plc.len() - 4) / 12;
    if n > MAX_PIECES {
        return Err(ExtractError::Limit(format!(
            "more than {MAX_PIECES} text pieces"
        )));
    }
    ctx.tick(n as u64)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let cp_start = u32_at(plc, i * 4).ok_or_else(clx_short)? as u64;
        let cp_end = u32_at(plc, (i + 1) * 4).ok_or_else(clx_short)? as u64;
        let pcd = (n + 1) * 4 + i * 8;
        let fc_raw = u32_at(plc, pcd + 2).ok_or_else(clx_short)?;
        let compressed = fc_raw & 0x4000_0000 != 0;
        let fc = (fc_raw & 0x3FFF_FFFF) as usize;
        out.push(Piece {
            cp_start,
            cp_end,
            fc: if compressed { fc / 2 } else { fc },
            compressed,
        });
    }
    Ok(out)
}

fn clx_short() -> ExtractError {
    ExtractError::Corrupt("piece table (Clx) cut short".into())
}

/// The characters of cp range [from, to), one per cp, in cp order (pieces
/// are in cp order; gaps or overlaps in a hostile table are tolerated).
fn chars(
    wd: &[u8],
    pieces: &[Piece],
    from: u64,
    to: u64,
    max: usize,
    ctx: &mut Ctx,
) -> Result<Vec<u16>, ExtractError> {
    let mut out: Vec<u16> = Vec::new();
    for p in pieces {
        if p.cp_end <= p.cp_start || p.cp_end <= from || p.cp_start >= to {
            continue;
        }
        let count = (p.cp_end.min(to) - p.cp_start.max(from)) as usize;
        let skip = p.cp_start.max(from).saturating_sub(p.cp_start) as usize;
        let count = count.min(max.saturating_sub(out.len()));
        if count == 0 {
            break;
        }
        ctx.tick(count as u64 / 64 + 1)?;
        if p.compressed {
            let start = p.fc.checked_add(skip).ok_or_else(piece_bad)?;
            let bytes = wd.get(start..start.checked_add(count).ok_or_else(piece_bad)?);
            let Some(bytes) = bytes else {
                return Err(ExtractError::Corrupt(
                    "text piece outside WordDocument".into(),
                ));
            };
            let (s, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            // cp1252 is all in the BMP: one unit per byte
            out.extend(s.encode_utf16());
        } else {
            let start =
                p.fc.checked_add(skip.checked_mul(2).ok_or_else(piece_bad)?)
                    .ok_or_else(piece_bad)?;
            let len = count.checked_mul(2).ok_or_else(piece_bad)?;
            let Some(bytes) = wd.get(start..start.checked_add(len).ok_or_else(piece_bad)?) else {
                return Err(ExtractError::Corrupt(
                    "text piece outside WordDocument".into(),
                ));
            };
            out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]])),
            );
        }
    }
    Ok(out)
}

fn piece_bad() -> ExtractError {
    ExtractError::Corrupt("text piece offset overflows".into())
}

/// Word's special characters to text: paragraph/cell/line ends become `\n`,
/// field codes (0x13 .. 0x14) are dropped while field results (0x14 .. 0x15)
/// are kept, object anchors and separators are dropped.
fn clean_into(src: &[u16], out: &mut Text) {
    // One entry per open field: true while in its code part.
    let mut fields: Vec<bool> = Vec::new();
    let mut in_code = 0usize;
    for c in char::decode_utf16(src.iter().copied()) {
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        if out.full() {
            return;
        }
        match c {
            '\u{13}' => {
                if fields.len() < 256 {
                    fields.push(true);
                    in_code += 1;
                }
            }
            '\u{14}' => {
                if let Some(f) = fields.last_mut()
                    && *f
                {
                    *f = false;
                    in_code -= 1;
                }
            }
            '\u{15}' => {
                if let Some(f) = fields.pop()
                    && f
                {
                    in_code -= 1;
                }
            }
            _ if in_code > 0 => {}
            '\r' | '\u{7}' | '\u{b}' | '\u{c}' | '\u{e}' => out.push('\n'),
            '\u{1e}' => out.push('-'),
            '\u{9}' => out.push('\t'),
            c if (c as u32) < 0x20 || c == '\u{1f}' => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(s: &str) -> String {
        let units: Vec<u16> = s.encode_utf16().collect();
        let mut t = Text::new(1000);
        clean_into(&units, &mut t);
        t.s
    }

    #[test]
    fn fields_cells_and_breaks() {
        // field code dropped, result kept; nested fields too
        assert_eq!(
            clean("见\u{13} HYPERLINK \"x\" \u{14}玄鸟\u{13}PAGE\u{14}柒\u{15}号\u{15}。\r"),
            "见玄鸟柒号。\n"
        );
        // table cells and row ends, line break, page break, soft hyphen
        assert_eq!(
            clean("a\u{7}b\u{7}\u{7}c\u{b}d\u{c}e\u{1f}f"),
            "a\nb\n\nc\nd\nef"
        );
        // unbalanced field marks from a hostile file do not panic
        assert_eq!(clean("\u{15}\u{14}x\u{13}y"), "x");
        let many: String = "\u{13}".repeat(10_000) + "z";
        assert_eq!(clean(&many), "");
    }

    #[test]
    fn surrogate_pairs_survive() {
        assert_eq!(clean("𠮷野家"), "𠮷野家");
    }
}
