//! Excel 97-2003 BIFF8 ([MS-XLS]): the `Workbook` stream is a flat list of
//! records (u16 type, u16 length). The globals substream holds the shared
//! string table (SST, continued over CONTINUE records, with the fHighByte
//! flag repeated at each continuation) and the sheet names (BOUNDSHEET8);
//! each sheet substream (BOF .. EOF) holds cells: LABELSST (index into the
//! SST), LABEL/RSTRING (inline strings), STRING (formula results), NUMBER/RK.
//! FILEPASS in the globals means the workbook is encrypted.

use super::{
    Container, Ctx, Document, ExtractError, HEAD_CHARS, Text, head_of, latin1, u16_at, u32_at,
    utf16le,
};

const BOF: u16 = 0x0809;
const EOF: u16 = 0x000A;
const FILEPASS: u16 = 0x002F;
const CODEPAGE: u16 = 0x0042;
const BOUNDSHEET: u16 = 0x0085;
const SST: u16 = 0x00FC;
const CONTINUE: u16 = 0x003C;
const LABELSST: u16 = 0x00FD;
const LABEL: u16 = 0x0204;
const RSTRING: u16 = 0x00D6;
const STRING: u16 = 0x0207;
const NUMBER: u16 = 0x0203;
const RK: u16 = 0x027E;
const TXO: u16 = 0x01B6;
const HEADER: u16 = 0x0014;
const FOOTER: u16 = 0x0015;
/// Shared strings accepted (the SST count field is not trusted).
const MAX_SST: usize = 4_000_000;

pub(crate) fn extract(c: &mut Container<'_>, ctx: &mut Ctx) -> Result<Document, ExtractError> {
    let wb = match c.read("Workbook", ctx)? {
        Some(b) => b,
        None => c
            .read("Book", ctx)?
            .ok_or_else(|| ExtractError::Corrupt("no Workbook stream".into()))?,
    };
    // Records as (type, body).
    let mut recs: Vec<(u16, &[u8])> = Vec::new();
    let mut pos = 0usize;
    while let (Some(ty), Some(len)) = (u16_at(&wb, pos), u16_at(&wb, pos + 2)) {
        let start = pos + 4;
        let end = start + len as usize;
        let Some(body) = wb.get(start..end) else {
            break; // last record cut short: keep what came before
        };
        recs.push((ty, body));
        pos = end;
    }
    ctx.tick(recs.len() as u64)?;
    if recs.first().map(|r| r.0) != Some(BOF) {
        return Err(ExtractError::Unsupported(
            "Workbook stream does not start with BOF".into(),
        ));
    }
    // BIFF8 = BOF version 0x0600; BIFF5/7 strings are 8-bit in the codepage.
    let biff8 = u16_at(recs[0].1, 0) == Some(0x0600);
    let mut codepage = 1252u16;
    let mut sst: Vec<String> = Vec::new();
    let mut sheets: Vec<String> = Vec::new();
    let mut text = Text::new(ctx.limits.max_text_chars);
    let mut head: Option<String> = None;
    let mut substream = 0usize; // 0 = globals, then 1.. per BOF
    let mut row: Option<u16> = None;
    let mut sheet_start = 0usize;
    let mut hf = String::new();
    let mut i = 0usize;
    while i < recs.len() {
        let (ty, body) = recs[i];
        i += 1;
        match ty {
            BOF if i > 1 => {
                substream += 1;
                row = None;
                text.newline();
                sheet_start = text.s.len();
                hf.clear();
            }
            EOF if substream == 1 && head.is_none() => {
                let mut h = hf.clone();
                h.push('\n');
                h.push_str(&head_of(
                    text.s.get(sheet_start..).unwrap_or(""),
                    HEAD_CHARS,
                ));
                head = Some(h);
            }
            FILEPASS => {
                return Err(ExtractError::Encrypted(
                    "password-protected workbook (FILEPASS)".into(),
                ));
            }
            CODEPAGE => codepage = u16_at(body, 0).unwrap_or(1252),
            BOUNDSHEET => {
                let name = if biff8 {
                    xl_string(body.get(6..).unwrap_or(&[]), false).map(|(s, _)| s)
                } else {
                    let n = body.get(6).copied().unwrap_or(0) as usize;
                    body.get(7..7 + n)
                        .map(|b| super::props::decode(b, codepage))
                };
                if let Some(n) = name {
                    sheets.push(n);
                }
            }
            SST => {
                let mut segs = vec![body];
                while let Some(&(CONTINUE, b)) = recs.get(i) {
                    segs.push(b);
                    i += 1;
                }
                sst = read_sst(&segs, ctx)?;
            }
            LABELSST | LABEL | RSTRING | NUMBER | RK | STRING => {
                let r = u16_at(body, 0);
                let cell = match ty {
                    LABELSST => u32_at(body, 6).and_then(|k| sst.get(k as usize).cloned()),
                    LABEL | RSTRING if biff8 => {
                        xl_string(body.get(6..).unwrap_or(&[]), true).map(|(s, _)| s)
                    }
                    LABEL | RSTRING => {
                        let n = u16_at(body, 6).unwrap_or(0) as usize;
                        body.get(8..8 + n)
                            .map(|b| super::props::decode(b, codepage))
                    }
                    STRING if biff8 => xl_string(body, true).map(|(s, _)| s),
                    STRING => None,
                    NUMBER => body
                        .get(6..14)
                        .map(|b| {
                            f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
                        })
                        .map(number),
                    _ => u32_at(body, 6).map(rk).map(number),
                };
                let Some(cell) = cell else { continue };
                // STRING follows its FORMULA in the same row.
                if ty != STRING {
                    if row.is_some() && row != r {
                        text.newline();
                    } else if row.is_some() {
                        text.push('\t');
                    }
                    row = r;
                } else if row.is_some() {
                    text.push('\t');
                }
                text.push_str(&cell);
                if text.full() {
                    break;
                }
            }
            TXO if biff8 => {
                // Text box / cell comment: cchText at 10, the characters in
                // the following CONTINUE records (each starting with its
                // fHighByte flag), then the formatting runs.
                let mut left = u16_at(body, 10).unwrap_or(0) as usize;
                let mut t = String::new();
                while left > 0
                    && let Some(&(CONTINUE, b)) = recs.get(i)
                {
                    i += 1;
                    let high = b.first().is_some_and(|f| f & 1 != 0);
                    let raw = b.get(1..).unwrap_or(&[]);
                    let k = left.min(if high { raw.len() / 2 } else { raw.len() });
                    if k == 0 {
                        break;
                    }
                    let part = raw.get(..if high { k * 2 } else { k }).unwrap_or(&[]);
                    t.push_str(&if high { utf16le(part) } else { latin1(part) });
                    left -= k;
                }
                text.newline();
                text.push_str(&t.replace('\r', "\n"));
                text.newline();
                row = None;
            }
            HEADER | FOOTER if biff8 && substream >= 1 => {
                if let Some((s, _)) = xl_string(body, true) {
                    // &L/&C/&R and other codes around the actual text
                    hf.push_str(&strip_hf_codes(&s));
                    hf.push('\n');
                }
            }
            _ => {}
        }
    }
    text.newline();
    for s in &sheets {
        text.push_str(s);
        text.newline();
    }
    if head.is_none() && !hf.is_empty() {
        head = Some(hf);
    }
    Ok(Document {
        head: head.filter(|h| !h.trim().is_empty()),
        truncated: text.truncated,
        text: text.s,
        ..Document::default()
    })
}

fn number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

fn rk(v: u32) -> f64 {
    let mut f = if v & 2 != 0 {
        ((v as i32) >> 2) as f64
    } else {
        f64::from_bits(((v & 0xFFFF_FFFC) as u64) << 32)
    };
    if v & 1 != 0 {
        f /= 100.0;
    }
    f
}

/// Header/footer strings carry `&L`, `&C`, `&"font"`, `&12` codes.
fn strip_hf_codes(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '&' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('"') => {
                for d in it.by_ref() {
                    if d == '"' {
                        break;
                    }
                }
            }
            Some(d) if d.is_ascii_digit() => {
                while it.peek().is_some_and(|d| d.is_ascii_digit()) {
                    it.next();
                }
            }
            Some('L' | 'C' | 'R') => out.push('\n'),
            Some('&') => out.push('&'),
            _ => {}
        }
    }
    out
}

/// XLUnicodeString (u16 count when `long`, else u8; flags; chars) in one
/// record. Returns the string and the bytes used.
fn xl_string(b: &[u8], long: bool) -> Option<(String, usize)> {
    let (cch, mut pos) = if long {
        (u16_at(b, 0)? as usize, 2)
    } else {
        (*b.first()? as usize, 1)
    };
    let flags = *b.get(pos)?;
    pos += 1;
    let mut runs = 0usize;
    let mut ext = 0usize;
    if flags & 0x08 != 0 {
        runs = u16_at(b, pos)? as usize;
        pos += 2;
    }
    if flags & 0x04 != 0 {
        ext = u32_at(b, pos)? as usize;
        pos += 4;
    }
    let n = if flags & 1 != 0 { cch * 2 } else { cch };
    let raw = b.get(pos..pos + n).or_else(|| b.get(pos..))?;
    let s = if flags & 1 != 0 {
        utf16le(raw)
    } else {
        latin1(raw)
    };
    let used = pos
        .saturating_add(n)
        .saturating_add(runs * 4)
        .saturating_add(ext);
    Some((s, used))
}

/// Reads across the SST record and its CONTINUE records.
struct Segs<'a> {
    segs: &'a [&'a [u8]],
    i: usize,
    pos: usize,
}

impl<'a> Segs<'a> {
    /// Bytes left in the current segment, moving to the next one when empty.
    fn cur(&mut self) -> Option<&'a [u8]> {
        loop {
            let s = self.segs.get(self.i)?;
            if self.pos < s.len() {
                return s.get(self.pos..);
            }
            self.i += 1;
            self.pos = 0;
        }
    }

    fn u8(&mut self) -> Option<u8> {
        let v = *self.cur()?.first()?;
        self.pos += 1;
        Some(v)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }

    fn skip(&mut self, mut n: usize) -> Option<()> {
        while n > 0 {
            let c = self.cur()?;
            let k = n.min(c.len());
            self.pos += k;
            n -= k;
        }
        Some(())
    }

    /// `cch` characters, 16-bit when `high`; a continuation starts with a
    /// new flags byte whose bit 0 is the new fHighByte.
    fn chars(&mut self, mut cch: usize, mut high: bool, out: &mut String) -> Option<()> {
        while cch > 0 {
            let s = self.segs.get(self.i)?;
            if self.pos >= s.len() {
                self.i += 1;
                self.pos = 0;
                let f = *self.segs.get(self.i)?.first()?;
                high = f & 1 != 0;
                self.pos = 1;
                continue;
            }
            let rest = s.get(self.pos..)?;
            let width = if high { 2 } else { 1 };
            let k = cch.min(rest.len() / width);
            if k == 0 {
                // half a UTF-16 unit at a record end: malformed
                return None;
            }
            let bytes = rest.get(..k * width)?;
            if high {
                out.push_str(&utf16le(bytes));
            } else {
                out.push_str(&latin1(bytes));
            }
            self.pos += k * width;
            cch -= k;
        }
        Some(())
    }
}

fn read_sst(segs: &[&[u8]], ctx: &mut Ctx) -> Result<Vec<String>, ExtractError> {
    let mut r = Segs { segs, i: 0, pos: 0 };
    let (Some(_total), Some(unique)) = (r.u32(), r.u32()) else {
        return Ok(Vec::new());
    };
    let unique = (unique as usize).min(MAX_SST);
    let mut out = Vec::with_capacity(unique.min(1 << 16));
    for _ in 0..unique {
        ctx.tick(1)?;
        let Some(s) = sst_entry(&mut r) else { break };
        out.push(s);
    }
    Ok(out)
}

/// XLUnicodeRichExtendedString.
fn sst_entry(r: &mut Segs<'_>) -> Option<String> {
    let cch = r.u16()? as usize;
    let flags = r.u8()?;
    let runs = if flags & 0x08 != 0 {
        r.u16()? as usize
    } else {
        0
    };
    let ext = if flags & 0x04 != 0 {
        r.u32()? as usize
    } else {
        0
    };
    let mut s = String::with_capacity(cch.min(1 << 16));
    r.chars(cch, flags & 1 != 0, &mut s)?;
    r.skip(runs * 4)?;
    r.skip(ext)?;
    Some(s)
}
