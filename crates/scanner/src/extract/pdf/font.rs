//! Fonts: from the bytes of a shown string to Unicode text.
//!
//! Simple fonts (Type1, TrueType, Type3) map one byte through a base
//! encoding plus `/Differences` glyph names; Type0 fonts split bytes into
//! codes by their CMap and map codes through `/ToUnicode` when present,
//! else through the predefined encoding or the Adobe CID tables
//! ([`super::cmap`]). What cannot be mapped is counted, never guessed.

use super::cmap::{CidTable, CodeToCid, Codec, ToUnicode, code_value};
use super::file::Pdf;
use super::glyphs::GLYPHS;
use super::syntax::{Dict, Obj};
use crate::extract::{Ctx, ExtractError};

/// Codes shown and codes that had no Unicode mapping.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stats {
    pub(crate) shown: u64,
    pub(crate) unmapped: u64,
}

enum Kind {
    Simple(Box<[Option<char>; 256]>),
    Composite {
        codec: Codec,
        cids: Option<CidTable>,
    },
}

pub(crate) struct Font {
    kind: Kind,
    to_unicode: Option<ToUnicode>,
    /// Vertical writing mode (`-V` CMaps): lines advance along x.
    pub(crate) vertical: bool,
    /// Glyph widths (thousandths of an em) for codes from `first_char`
    /// (simple fonts' `/Widths`); only used to place the next string
    /// drawn without a new position, so an estimate is enough.
    widths: Vec<f32>,
    first_char: u32,
    /// Width of a code without an entry: `/DW` (composite, default 1000)
    /// or `/MissingWidth` (simple, else 500 as an estimate).
    default_width: f32,
}

/// Most `/Widths` entries kept (a simple font has 256 codes).
const MAX_WIDTHS: usize = 256;

impl Font {
    /// A font used without (or with a broken) font dictionary.
    pub(crate) fn fallback() -> Font {
        Font {
            kind: Kind::Simple(Box::new(base_encoding(b"WinAnsiEncoding"))),
            to_unicode: None,
            vertical: false,
            widths: Vec::new(),
            first_char: 0,
            default_width: 500.0,
        }
    }

    /// The advance of string `s` in this font: the sum of its glyph widths
    /// in em, its number of codes, and its single-byte spaces (code 32,
    /// which word spacing applies to).
    pub(crate) fn advance(&self, s: &[u8]) -> (f64, usize, usize) {
        let width = |code: u32| -> f64 {
            code.checked_sub(self.first_char)
                .and_then(|i| self.widths.get(i as usize))
                .map_or(f64::from(self.default_width), |&w| f64::from(w))
                .clamp(0.0, 4000.0)
                / 1000.0
        };
        match &self.kind {
            Kind::Simple(_) => {
                let w = s.iter().map(|&b| width(u32::from(b))).sum();
                let spaces = s.iter().filter(|&&b| b == b' ').count();
                (w, s.len(), spaces)
            }
            Kind::Composite { codec, .. } => {
                let dw = f64::from(self.default_width).clamp(0.0, 4000.0) / 1000.0;
                let (mut w, mut n, mut spaces) = (0.0, 0, 0);
                let mut rest = s;
                while !rest.is_empty() {
                    let len = codec.code_len(rest).clamp(1, rest.len());
                    let (code, tail) = rest.split_at(len);
                    rest = tail;
                    n += 1;
                    if len == 1 {
                        // A one-byte code in a CJK encoding: half width (ASCII).
                        w += dw / 2.0;
                        spaces += usize::from(code[0] == b' ');
                    } else {
                        w += dw;
                    }
                }
                (w, n, spaces)
            }
        }
    }

    /// Whether this is a Type0 (CID-keyed) font: CJK text, no word spaces.
    pub(crate) fn is_composite(&self) -> bool {
        matches!(self.kind, Kind::Composite { .. })
    }

    pub(crate) fn load(pdf: &Pdf, dict: &Dict, ctx: &mut Ctx) -> Result<Font, ExtractError> {
        let to_unicode = match pdf.stream(dict.get(b"ToUnicode").unwrap_or(&Obj::Null)) {
            Some((d, span)) => match pdf.decode(d, span, ctx)? {
                Some(bytes) => Some(ToUnicode::parse(&bytes, ctx)?).filter(|t| !t.is_empty()),
                None => None,
            },
            None => None,
        };
        if dict.is(b"Subtype", b"Type0") {
            let enc = dict.get(b"Encoding").unwrap_or(&Obj::Null);
            let (codec, vertical) = match pdf.resolve(enc) {
                Obj::Name(n) => Codec::predefined(n),
                _ => match pdf.stream(enc) {
                    Some((d, span)) => {
                        let vertical = pdf.get(d, b"WMode").as_i64() == Some(1);
                        match pdf.decode(d, span, ctx)? {
                            Some(bytes) => {
                                (Codec::Embedded(CodeToCid::parse(&bytes, ctx)?), vertical)
                            }
                            None => (Codec::Unknown, vertical),
                        }
                    }
                    None => (Codec::Identity, false),
                },
            };
            let descendant = match pdf.get(dict, b"DescendantFonts") {
                Obj::Array(a) => a.first().and_then(|o| pdf.dict(o)),
                Obj::Dict(d) => Some(d),
                _ => None,
            };
            let ordering = descendant
                .and_then(|d| pdf.dict(d.get(b"CIDSystemInfo").unwrap_or(&Obj::Null)))
                .map(|info| match pdf.get(info, b"Ordering") {
                    Obj::Str(s) | Obj::Name(s) => s.clone(),
                    _ => Vec::new(),
                })
                .unwrap_or_default();
            // An embedded TrueType CID font addresses glyphs, not collection
            // CIDs, whatever its CIDSystemInfo says: the Adobe table would
            // produce confident garbage there.
            let glyph_ids = descendant.is_some_and(|d| {
                d.is(b"Subtype", b"CIDFontType2")
                    && pdf
                        .dict(d.get(b"FontDescriptor").unwrap_or(&Obj::Null))
                        .is_some_and(|fd| fd.get(b"FontFile2").is_some())
            });
            let cids = if glyph_ids {
                None
            } else {
                CidTable::for_ordering(&ordering)
            };
            let default_width = descendant
                .and_then(|d| pdf.get(d, b"DW").as_f64())
                .unwrap_or(1000.0) as f32;
            return Ok(Font {
                kind: Kind::Composite { codec, cids },
                to_unicode,
                vertical,
                widths: Vec::new(),
                first_char: 0,
                default_width,
            });
        }
        // Older Chinese office software writes simple, non-embedded fonts
        // named after a Chinese system font (宋体, 仿宋_GB2312, … — the
        // name itself in GBK bytes), declares WinAnsiEncoding, and shows
        // two-byte GBK codes: the viewer's font substitution makes that
        // readable, so the text is GBK (issue 15).
        if to_unicode.is_none()
            && !embedded(pdf, dict)
            && pdf
                .get(dict, b"BaseFont")
                .as_name()
                .is_some_and(is_chinese_font_name)
        {
            return Ok(Font {
                kind: Kind::Composite {
                    codec: Codec::Charset(encoding_rs::GBK),
                    cids: None,
                },
                to_unicode: None,
                vertical: false,
                widths: Vec::new(),
                first_char: 0,
                default_width: 1000.0,
            });
        }
        let default_base: &[u8] = if dict.is(b"Subtype", b"Type1") {
            b"StandardEncoding"
        } else {
            b"WinAnsiEncoding"
        };
        let table = match pdf.get(dict, b"Encoding") {
            Obj::Name(n) => base_encoding(n),
            Obj::Dict(e) => {
                let base = pdf
                    .get(e, b"BaseEncoding")
                    .as_name()
                    .unwrap_or(default_base);
                let mut t = base_encoding(base);
                if let Obj::Array(diffs) = pdf.get(e, b"Differences") {
                    let mut code: i64 = 0;
                    for d in diffs {
                        match pdf.resolve(d) {
                            Obj::Int(c) => code = *c,
                            Obj::Name(n) => {
                                if let Ok(i) = usize::try_from(code)
                                    && let Some(slot) = t.get_mut(i)
                                {
                                    *slot = glyph_to_char(n);
                                }
                                code += 1;
                            }
                            _ => {}
                        }
                    }
                }
                t
            }
            _ => base_encoding(default_base),
        };
        let (widths, first_char, default_width) = simple_widths(pdf, dict);
        Ok(Font {
            kind: Kind::Simple(Box::new(table)),
            to_unicode,
            vertical: false,
            widths,
            first_char,
            default_width,
        })
    }

    /// Append the text of string `s` shown in this font.
    pub(crate) fn decode(&self, s: &[u8], out: &mut String, stats: &mut Stats) {
        match &self.kind {
            Kind::Simple(table) => {
                for &b in s {
                    stats.shown += 1;
                    if let Some(tu) = &self.to_unicode
                        && tu.lookup(u32::from(b), out)
                    {
                        continue;
                    }
                    match table[usize::from(b)] {
                        Some(c) => out.push(c),
                        None => stats.unmapped += 1,
                    }
                }
            }
            Kind::Composite { codec, cids } => {
                if self.to_unicode.is_none() {
                    // Fast paths: whole-string decoding of predefined encodings.
                    match codec {
                        Codec::Charset(enc) => {
                            let (text, _) = enc.decode_without_bom_handling(s);
                            for c in text.chars() {
                                stats.shown += 1;
                                if c == '\u{FFFD}' {
                                    stats.unmapped += 1;
                                } else if c != '\0' {
                                    out.push(c);
                                }
                            }
                            return;
                        }
                        Codec::Ucs2 | Codec::Utf16 => {
                            let units = s.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                            for c in char::decode_utf16(units) {
                                stats.shown += 1;
                                match c {
                                    Ok('\0') => {}
                                    Ok(c) => out.push(c),
                                    Err(_) => stats.unmapped += 1,
                                }
                            }
                            return;
                        }
                        _ => {}
                    }
                }
                let mut rest = s;
                while !rest.is_empty() {
                    let n = codec.code_len(rest).max(1);
                    let (code, tail) = rest.split_at(n);
                    rest = tail;
                    stats.shown += 1;
                    let v = code_value(code);
                    if let Some(tu) = &self.to_unicode
                        && tu.lookup(v, out)
                    {
                        continue;
                    }
                    if !fallback(codec, cids.as_ref(), code, v, out) {
                        stats.unmapped += 1;
                    }
                }
            }
        }
    }
}

/// A simple font's `/FirstChar`, `/Widths` (at most [`MAX_WIDTHS`]) and
/// the width of codes outside them.
fn simple_widths(pdf: &Pdf, dict: &Dict) -> (Vec<f32>, u32, f32) {
    let first = pdf
        .get(dict, b"FirstChar")
        .as_i64()
        .and_then(|f| u32::try_from(f).ok())
        .unwrap_or(0);
    let widths: Vec<f32> = match pdf.get(dict, b"Widths") {
        Obj::Array(a) => a
            .iter()
            .take(MAX_WIDTHS)
            .map(|w| pdf.resolve(w).as_f64().unwrap_or(500.0) as f32)
            .collect(),
        _ => Vec::new(),
    };
    let missing = pdf
        .dict(dict.get(b"FontDescriptor").unwrap_or(&Obj::Null))
        .and_then(|fd| pdf.get(fd, b"MissingWidth").as_f64())
        .filter(|w| *w > 0.0)
        .unwrap_or(500.0) as f32;
    (widths, first, missing)
}

/// Whether a simple font carries its own glyphs (then its codes are its own).
fn embedded(pdf: &Pdf, dict: &Dict) -> bool {
    pdf.dict(dict.get(b"FontDescriptor").unwrap_or(&Obj::Null))
        .is_some_and(|fd| {
            fd.get(b"FontFile").is_some()
                || fd.get(b"FontFile2").is_some()
                || fd.get(b"FontFile3").is_some()
        })
}

/// A BaseFont naming a Chinese (GB) system font: its name in UTF-8 or GBK
/// bytes, or its Latin name; a subset tag (`ABCDEF+`) and a style suffix
/// (`,Bold`) are ignored.
pub(crate) fn is_chinese_font_name(raw: &[u8]) -> bool {
    let name = match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::GBK
            .decode_without_bom_handling(raw)
            .0
            .into_owned(),
    };
    let name = match name.split_once('+') {
        Some((tag, rest)) if tag.len() == 6 && tag.bytes().all(|b| b.is_ascii_uppercase()) => rest,
        _ => name.as_str(),
    };
    let name = name.split([',', '-']).next().unwrap_or(name);
    const CJK: &[&str] = &[
        "宋体",
        "新宋体",
        "仿宋",
        "黑体",
        "楷体",
        "隶书",
        "幼圆",
        "华文",
        "方正",
        "微软雅黑",
        "等线",
    ];
    const LATIN: &[&str] = &[
        "simsun",
        "nsimsun",
        "simhei",
        "fangsong",
        "kaiti",
        "stsong",
        "stkaiti",
        "stfangsong",
        "stheiti",
        "stxihei",
        "microsoftyahei",
        "dengxian",
        "lisu",
        "youyuan",
        "fzsong",
        "fzhei",
        "fzkai",
        "fzfangsong",
    ];
    if CJK.iter().any(|c| name.starts_with(c)) {
        return true;
    }
    let latin: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    LATIN.iter().any(|l| latin.starts_with(l))
}

/// Map one composite-font code without `/ToUnicode`.
fn fallback(codec: &Codec, cids: Option<&CidTable>, code: &[u8], v: u32, out: &mut String) -> bool {
    let c = match codec {
        Codec::Identity => cids.and_then(|t| t.get(v)),
        Codec::Embedded(m) => m.cid(v).and_then(|cid| cids.and_then(|t| t.get(cid))),
        Codec::Ucs2 => char::from_u32(v),
        Codec::Utf16 => {
            let (t, bad) = encoding_rs::UTF_16BE.decode_without_bom_handling(code);
            if bad {
                return false;
            }
            out.push_str(&t);
            return true;
        }
        Codec::Charset(enc) => {
            let (t, bad) = enc.decode_without_bom_handling(code);
            if bad {
                return false;
            }
            out.push_str(&t);
            return true;
        }
        Codec::Unknown => None,
    };
    match c {
        Some(c) => {
            if c != '\0' {
                out.push(c);
            }
            true
        }
        None => false,
    }
}

/// The 256-entry table of a standard simple-font encoding.
fn base_encoding(name: &[u8]) -> [Option<char>; 256] {
    let mut t = [None; 256];
    let enc = match name {
        b"MacRomanEncoding" => Some(encoding_rs::MACINTOSH),
        b"WinAnsiEncoding" => Some(encoding_rs::WINDOWS_1252),
        _ => None, // StandardEncoding, MacExpert, font built-ins: ASCII-like
    };
    for (i, slot) in t.iter_mut().enumerate() {
        let b = i as u8;
        *slot = match (b, enc) {
            (0..=0x1f, _) => None,
            (0x20..=0x7e, None) => Some(match b {
                b'\'' => '\u{2019}',
                b'`' => '\u{2018}',
                _ => char::from(b),
            }),
            (0x20..=0x7e, Some(_)) => Some(char::from(b)),
            (_, Some(enc)) => {
                let byte = [b];
                let (s, bad) = enc.decode_without_bom_handling(&byte);
                if bad { None } else { s.chars().next() }
            }
            _ => None,
        };
    }
    t
}

/// A glyph name to its character (Adobe Glyph List subset, `uniXXXX`,
/// `uXXXX[XX]`, suffixes such as `.sc` dropped).
pub(crate) fn glyph_to_char(name: &[u8]) -> Option<char> {
    let name = std::str::from_utf8(name).ok()?;
    let base = name.split('.').next().unwrap_or(name);
    if let Ok(i) = GLYPHS.binary_search_by(|(n, _)| (*n).cmp(base)) {
        return Some(GLYPHS[i].1);
    }
    let hex = |h: &str| u32::from_str_radix(h, 16).ok().and_then(char::from_u32);
    if let Some(h) = base.strip_prefix("uni")
        && h.len() >= 4
    {
        return h.get(..4).and_then(hex);
    }
    if let Some(h) = base.strip_prefix('u')
        && (4..=6).contains(&h.len())
    {
        return hex(h);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyph_names() {
        assert_eq!(glyph_to_char(b"A"), Some('A'));
        assert_eq!(glyph_to_char(b"space"), Some(' '));
        assert_eq!(glyph_to_char(b"uni673A"), Some('机'));
        assert_eq!(glyph_to_char(b"u5BC6"), Some('密'));
        assert_eq!(glyph_to_char(b"eacute.sc"), Some('é'));
        assert_eq!(glyph_to_char(b"g123"), None);
    }

    #[test]
    fn glyph_table_is_sorted() {
        assert!(GLYPHS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn base_encodings() {
        let w = base_encoding(b"WinAnsiEncoding");
        assert_eq!(w[0x80], Some('€'));
        assert_eq!(w[b'A' as usize], Some('A'));
        let s = base_encoding(b"StandardEncoding");
        assert_eq!(s[0x27], Some('\u{2019}'));
    }
}
