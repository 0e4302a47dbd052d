//! CMaps: `/ToUnicode` maps, embedded code→CID maps, the predefined CJK
//! encodings and the Adobe CID→Unicode tables.
//!
//! Chinese government PDFs commonly use Type0 fonts with a predefined
//! `/Encoding` (UniGB-UCS2-H, GBK-EUC-H, …) and no `/ToUnicode`. The
//! predefined encodings are decoded directly (a UCS-2/UTF-16 code is the
//! character; an EUC/GBK/Big5 code is a GBK/Big5 byte sequence, decoded by
//! encoding_rs) — exact and faster than a CID round trip. Identity-H fonts
//! without `/ToUnicode` go through the embedded Adobe-GB1 / Adobe-CNS1
//! CID→Unicode tables, generated from Adobe's `Adobe-*-UCS2` CMaps
//! (BSD-3-Clause, see `crates/scanner/data/cmap/`).

use std::collections::HashMap;

use encoding_rs::Encoding;

use super::syntax::{Lexer, Tok};
use crate::extract::{Ctx, ExtractError};

/// Most entries a single CMap may define (bfrange included).
const MAX_CMAP_ENTRIES: u64 = 1 << 20;

/// How a composite font's string bytes split into codes, and what a code
/// means when no `/ToUnicode` says otherwise.
#[derive(Debug, Clone)]
pub(crate) enum Codec {
    /// Identity-H/V: 2-byte codes equal to CIDs.
    Identity,
    /// Uni*-UCS2-*: 2-byte codes equal to UCS-2 code points.
    Ucs2,
    /// Uni*-UTF16-*: UTF-16BE code units.
    Utf16,
    /// A legacy multi-byte charset (GBK, GB18030, Big5, Shift_JIS, EUC-KR…):
    /// the code bytes are text in that charset.
    Charset(&'static Encoding),
    /// An embedded CMap stream: codespace ranges plus code→CID.
    Embedded(CodeToCid),
    /// An encoding we do not know: 2-byte codes, no meaning.
    Unknown,
}

impl Codec {
    /// A predefined CMap name (ISO 32000-1 §9.7.5.2, Adobe tech notes).
    /// Returns the codec and whether the writing mode is vertical.
    pub(crate) fn predefined(name: &[u8]) -> (Codec, bool) {
        let vertical = name.ends_with(b"-V");
        let n = std::str::from_utf8(name).unwrap_or("");
        let codec = if n.starts_with("Identity-") {
            Codec::Identity
        } else if n.starts_with("Uni") && n.contains("-UCS2-") {
            Codec::Ucs2
        } else if n.starts_with("Uni") && n.contains("-UTF16-") {
            Codec::Utf16
        } else if n.starts_with("GBK2K-") {
            Codec::Charset(encoding_rs::GB18030)
        } else if n.starts_with("GB") && n.contains("EUC-") {
            // GB-EUC, GBpc-EUC, GBK-EUC, GBKp-EUC, GBT-EUC, GBTpc-EUC: EUC-CN
            // and its GBK extensions, all decodable as GBK.
            Codec::Charset(encoding_rs::GBK)
        } else if n.starts_with("B5") || n.starts_with("ETen") || n.starts_with("HK") {
            Codec::Charset(encoding_rs::BIG5)
        } else if n.contains("RKSJ") {
            Codec::Charset(encoding_rs::SHIFT_JIS)
        } else if n.starts_with("EUC-") {
            Codec::Charset(encoding_rs::EUC_JP)
        } else if n.starts_with("KSC") {
            Codec::Charset(encoding_rs::EUC_KR)
        } else {
            Codec::Unknown
        };
        (codec, vertical)
    }

    /// Length in bytes of the code starting at `s[0]`.
    pub(crate) fn code_len(&self, s: &[u8]) -> usize {
        let b0 = s[0];
        let n = match self {
            Codec::Identity | Codec::Ucs2 | Codec::Unknown => 2,
            Codec::Utf16 => {
                if (0xD8..=0xDB).contains(&b0) {
                    4
                } else {
                    2
                }
            }
            Codec::Charset(enc) => {
                if *enc == encoding_rs::SHIFT_JIS {
                    if (0x81..=0x9F).contains(&b0) || (0xE0..=0xFC).contains(&b0) {
                        2
                    } else {
                        1
                    }
                } else if b0 >= 0x81 && b0 != 0xFF {
                    if *enc == encoding_rs::GB18030 && s.get(1).is_some_and(|b| b.is_ascii_digit())
                    {
                        4
                    } else {
                        2
                    }
                } else {
                    1
                }
            }
            Codec::Embedded(c) => c.code_len(s),
        };
        n.min(s.len())
    }
}

/// Big-endian value of a code's bytes.
/// The `<lo> <hi>` pairs of a `begincodespacerange` section: (code length,
/// low, high). Pairs of unequal or unsupported length are skipped.
fn read_codespace(lx: &mut Lexer<'_>, out: &mut Vec<(usize, u32, u32)>) {
    while let (Some(Tok::Str(lo)), Some(Tok::Str(hi))) = (lx.next_tok(), lx.next_tok()) {
        if !lo.is_empty() && lo.len() == hi.len() && lo.len() <= 4 {
            out.push((lo.len(), code_value(&lo), code_value(&hi)));
        }
    }
}

pub(crate) fn code_value(code: &[u8]) -> u32 {
    code.iter()
        .take(4)
        .fold(0u32, |a, &b| a << 8 | u32::from(b))
}

/// Code→Unicode from a `/ToUnicode` CMap (bfchar/bfrange, UTF-16BE values).
#[derive(Debug, Default)]
pub(crate) struct ToUnicode {
    singles: HashMap<u32, String>,
    /// (lo, hi, first value as UTF-16 units): the last unit is incremented.
    ranges: Vec<(u32, u32, Vec<u16>)>,
    /// Codespace ranges (byte length, lo, hi); used for simple segmentation
    /// when the encoding does not define one.
    pub(crate) codespace: Vec<(usize, u32, u32)>,
}

impl ToUnicode {
    pub(crate) fn lookup(&self, code: u32, out: &mut String) -> bool {
        if let Some(s) = self.singles.get(&code) {
            out.push_str(s);
            return true;
        }
        // Ranges are sorted by their start: look at the few that start at
        // or below `code` (a hostile CMap may hold a million of them).
        let end = self.ranges.partition_point(|r| r.0 <= code);
        for (lo, hi, base) in self.ranges[..end].iter().rev().take(8) {
            if (*lo..=*hi).contains(&code) {
                let mut units = base.clone();
                if let Some(last) = units.last_mut() {
                    *last = last.wrapping_add((code - lo) as u16);
                }
                push_utf16(&units, out);
                return true;
            }
        }
        false
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.singles.is_empty() && self.ranges.is_empty()
    }

    pub(crate) fn parse(data: &[u8], ctx: &mut Ctx) -> Result<ToUnicode, ExtractError> {
        let mut tu = ToUnicode::default();
        let mut lx = Lexer::new(data, 0);
        let mut entries = 0u64;
        let mut count = |ctx: &mut Ctx, n: u64| -> Result<(), ExtractError> {
            entries += n;
            if entries > MAX_CMAP_ENTRIES {
                return Err(ExtractError::Limit("CMap with too many entries".into()));
            }
            ctx.tick(1)
        };
        while let Some(tok) = lx.next_tok() {
            let Tok::Kw(kw) = tok else { continue };
            match kw {
                b"begincodespacerange" => read_codespace(&mut lx, &mut tu.codespace),
                b"beginbfchar" => {
                    while let (Some(Tok::Str(src)), Some(Tok::Str(dst))) =
                        (lx.next_tok(), lx.next_tok())
                    {
                        count(ctx, 1)?;
                        tu.singles.insert(code_value(&src), utf16be(&dst));
                    }
                }
                b"beginbfrange" => {
                    while let (Some(Tok::Str(lo)), Some(Tok::Str(hi))) =
                        (lx.next_tok(), lx.next_tok())
                    {
                        let (lo, hi) = (code_value(&lo), code_value(&hi));
                        if hi < lo {
                            // Skip the destination of a bogus range.
                            let _ = lx.next_tok();
                            continue;
                        }
                        match lx.next_tok() {
                            Some(Tok::Str(dst)) => {
                                count(ctx, 1)?;
                                let units: Vec<u16> = dst
                                    .chunks(2)
                                    .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                                    .collect();
                                tu.ranges.push((lo, hi, units));
                            }
                            Some(Tok::ArrOpen) => {
                                let mut code = lo;
                                while let Some(Tok::Str(dst)) = lx.next_tok() {
                                    count(ctx, 1)?;
                                    if code <= hi {
                                        tu.singles.insert(code, utf16be(&dst));
                                    }
                                    code = code.saturating_add(1);
                                }
                            }
                            _ => break,
                        }
                    }
                }
                b"endcmap" => break,
                _ => {}
            }
        }
        tu.ranges.sort_by_key(|r| r.0);
        Ok(tu)
    }
}

/// An embedded (non-predefined) encoding CMap: codespace and code→CID.
#[derive(Debug, Clone, Default)]
pub(crate) struct CodeToCid {
    codespace: Vec<(usize, u32, u32)>,
    singles: HashMap<u32, u32>,
    ranges: Vec<(u32, u32, u32)>,
}

impl CodeToCid {
    pub(crate) fn parse(data: &[u8], ctx: &mut Ctx) -> Result<CodeToCid, ExtractError> {
        let mut m = CodeToCid::default();
        let mut lx = Lexer::new(data, 0);
        let mut entries = 0u64;
        while let Some(tok) = lx.next_tok() {
            let Tok::Kw(kw) = tok else { continue };
            match kw {
                b"begincodespacerange" => read_codespace(&mut lx, &mut m.codespace),
                b"begincidchar" => {
                    while let (Some(Tok::Str(src)), Some(Tok::Int(cid))) =
                        (lx.next_tok(), lx.next_tok())
                    {
                        m.singles
                            .insert(code_value(&src), cid.clamp(0, 0xFFFF) as u32);
                        entries += 1;
                    }
                }
                b"begincidrange" => {
                    while let (Some(Tok::Str(lo)), Some(Tok::Str(hi)), Some(Tok::Int(cid))) =
                        (lx.next_tok(), lx.next_tok(), lx.next_tok())
                    {
                        m.ranges.push((
                            code_value(&lo),
                            code_value(&hi),
                            cid.clamp(0, 0xFFFF) as u32,
                        ));
                        entries += 1;
                    }
                }
                b"endcmap" => break,
                _ => {}
            }
            if entries > MAX_CMAP_ENTRIES {
                return Err(ExtractError::Limit("CMap with too many entries".into()));
            }
            ctx.tick(1)?;
        }
        m.ranges.sort_by_key(|r| r.0);
        Ok(m)
    }

    fn code_len(&self, s: &[u8]) -> usize {
        for len in 1..=4usize.min(s.len()) {
            let v = code_value(&s[..len]);
            if self
                .codespace
                .iter()
                .any(|&(l, lo, hi)| l == len && (lo..=hi).contains(&v))
            {
                return len;
            }
        }
        2
    }

    pub(crate) fn cid(&self, code: u32) -> Option<u32> {
        if let Some(&c) = self.singles.get(&code) {
            return Some(c);
        }
        let end = self.ranges.partition_point(|r| r.0 <= code);
        self.ranges[..end]
            .iter()
            .rev()
            .take(8)
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&code))
            .map(|(lo, _, base)| base.saturating_add(code - lo))
    }
}

/// Decode UTF-16BE bytes (a ToUnicode value) leniently.
fn utf16be(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
        .collect();
    let mut s = String::new();
    push_utf16(&units, &mut s);
    s
}

fn push_utf16(units: &[u16], out: &mut String) {
    for c in char::decode_utf16(units.iter().copied()) {
        match c {
            Ok('\0') => {}
            Ok(c) => out.push(c),
            Err(_) => out.push('\u{FFFD}'),
        }
    }
}

/// An Adobe character collection's CID→Unicode table.
pub(crate) struct CidTable(&'static [u8]);

static ADOBE_GB1: &[u8] = include_bytes!("../../../data/cmap/Adobe-GB1.bin");
static ADOBE_CNS1: &[u8] = include_bytes!("../../../data/cmap/Adobe-CNS1.bin");

impl CidTable {
    /// The table for a `/CIDSystemInfo` ordering (`GB1`, `CNS1`).
    pub(crate) fn for_ordering(ordering: &[u8]) -> Option<CidTable> {
        match ordering {
            b"GB1" => Some(CidTable(ADOBE_GB1)),
            b"CNS1" => Some(CidTable(ADOBE_CNS1)),
            _ => None,
        }
    }

    /// Unicode of `cid`; the table is a little-endian `u32` per CID, 0 for
    /// unmapped.
    pub(crate) fn get(&self, cid: u32) -> Option<char> {
        let i = cid as usize * 4;
        let b = self.0.get(i..i + 4)?;
        let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if v == 0 { None } else { char::from_u32(v) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tounicode_bfchar_bfrange_arrays_and_surrogates() {
        let cmap = b"1 begincodespacerange <0000> <FFFF> endcodespacerange
            2 beginbfchar <0003> <0020> <0010> <D840DC00> endbfchar
            2 beginbfrange <0020> <0022> <673A> <0030> <0031> [<5BC6> <004100420043>] endbfrange endcmap";
        let mut ctx = Ctx::new(Default::default());
        let tu = ToUnicode::parse(cmap, &mut ctx).unwrap();
        let mut s = String::new();
        for code in [0x20, 0x21, 0x22, 0x30, 0x31, 0x10, 0x03] {
            assert!(tu.lookup(code, &mut s));
        }
        assert_eq!(s, "机朻朼密ABC\u{20000} ");
        assert!(!tu.lookup(0x99, &mut s));
    }

    #[test]
    fn predefined_names() {
        assert!(matches!(
            Codec::predefined(b"UniGB-UCS2-H"),
            (Codec::Ucs2, false)
        ));
        assert!(matches!(
            Codec::predefined(b"GBK-EUC-V"),
            (Codec::Charset(_), true)
        ));
        assert!(matches!(
            Codec::predefined(b"Identity-H"),
            (Codec::Identity, false)
        ));
        let (gbk, _) = Codec::predefined(b"GBK-EUC-H");
        assert_eq!(gbk.code_len(b"A\xbb\xfa"), 1);
        assert_eq!(gbk.code_len(b"\xbb\xfa"), 2);
    }

    #[test]
    fn adobe_gb1_table() {
        let t = CidTable::for_ordering(b"GB1").unwrap();
        assert_eq!(t.get(34), Some('A'));
        assert_eq!(t.get(0), None);
    }
}
