//! Plain text and its encodings: UTF-8 with or without BOM, UTF-16 LE/BE
//! with BOM (or ASCII-heavy UTF-16 without one), and legacy Chinese
//! encodings (GBK/GB18030, Big5) detected without a BOM by `chardetng`.
//! Text is always decoded to Unicode before matching: byte-matching GBK gives
//! false hits across character boundaries (PITFALLS).
//!
//! Valid UTF-8 — nearly every file — is borrowed as is, without a copy.
//!
//! Decoding is never all-or-nothing (issue 15): text that is not valid
//! UTF-8 is decoded line by line, each line as UTF-8 when it reads as UTF-8
//! with at most a few bad bytes (those become U+FFFD) and else in the legacy
//! encoding detected from the non-UTF-8 lines, so a log mixing UTF-8 and GBK
//! lines, or a UTF-8 file with one stray byte, keeps every readable term.
//! HZ-GB-2312 (`~{…~}`, RFC 1843), which `encoding_rs` leaves out on
//! purpose, is decoded here (a dozen lines). Whatever was guessed is marked
//! `lossy`, and the caller then also searches the raw bytes (`raw`).

use crate::extract::{Ctx, Document, ExtractResult};
use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use std::borrow::Cow;

/// Text decoded from bytes.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub text: Cow<'a, str>,
    /// WHATWG name of the encoding used (`UTF-8`, `GBK`, `Big5`, `UTF-16LE` ...;
    /// `HZ-GB-2312`; for mixed text the legacy encoding of its non-UTF-8 lines).
    pub encoding: &'static str,
    /// The text was not decoded exactly (a guessed encoding, replaced bytes,
    /// mixed encodings): the raw bytes deserve a search of their own.
    pub lossy: bool,
}

/// Bytes of the start of a file inspected for binary content / detection.
const SAMPLE: usize = 8192;
/// Bytes fed to chardetng. Detection dominated the cost of scanning GBK
/// text (bench/scan: ~56% of CPU at 64 KiB, ~45% at 16 KiB); 4 KiB of
/// Chinese text holds about 2,000 double-byte characters, plenty to tell GBK
/// from Big5 (the encoding fixtures under fixtures/formats/text agree).
const DETECT: usize = 4 * 1024;

/// Does this look like binary data rather than text in any encoding?
/// NUL bytes (outside UTF-16) or many control bytes in the first kilobytes.
pub fn looks_binary(data: &[u8]) -> bool {
    if Encoding::for_bom(data).is_some() {
        return false;
    }
    let s = &data[..data.len().min(SAMPLE)];
    if s.is_empty() {
        return false;
    }
    if s.contains(&0) {
        return utf16_without_bom(s).is_none() && !sparse_nuls(s);
    }
    control_bytes(s) * 10 > s.len()
}

/// Control bytes other than NUL, tab, line breaks, form feed and escape
/// (0x01..=0x08, 0x0e..=0x1a, 0x7f). Counted branch-free in byte-wide
/// lanes so the compiler vectorises it: every file's head goes through
/// here twice (the engine's routing and the sniff), and the plain filter
/// was 5-9% of a text scan's CPU (issue 15 profile).
fn control_bytes(s: &[u8]) -> usize {
    s.chunks(255)
        .map(|chunk| {
            let mut n = 0u8;
            for &b in chunk {
                n += u8::from(b.wrapping_sub(1) < 8)
                    | u8::from(b.wrapping_sub(0x0e) < 13)
                    | u8::from(b == 0x7f);
            }
            usize::from(n)
        })
        .sum()
}

/// A few NUL bytes in what is otherwise text (one NUL must not hide a file,
/// issue 15): at most one in 256 bytes, no other control bytes to speak of,
/// and the rest valid UTF-8 or mostly printable. NULs fold away in
/// normalisation, so the text still matches.
fn sparse_nuls(s: &[u8]) -> bool {
    let nuls = memchr::memchr_iter(0, s).count();
    if nuls * 256 > s.len().max(256) {
        return false;
    }
    control_bytes(s) * 100 <= s.len()
}

/// UTF-16 without a BOM, recognised by NULs in every other byte (mostly
/// ASCII text), or — for Chinese text with few ASCII characters — by every
/// NUL sitting at the same parity, each next to a line break, space or other
/// ASCII character. Returns the encoding when the pattern is clear.
fn utf16_without_bom(s: &[u8]) -> Option<&'static Encoding> {
    let pairs = s.len() / 2;
    if pairs < 4 {
        return None;
    }
    let (mut even0, mut odd0) = (0usize, 0usize);
    for p in s.chunks_exact(2) {
        even0 += usize::from(p[0] == 0);
        odd0 += usize::from(p[1] == 0);
    }
    if odd0 * 10 >= pairs * 4 && even0 * 20 < pairs {
        return Some(UTF_16LE);
    } else if even0 * 10 >= pairs * 4 && odd0 * 20 < pairs {
        return Some(UTF_16BE);
    }
    // Mostly non-ASCII UTF-16: NULs are the high bytes of ASCII characters
    // (line breaks, digits), all at one parity, paired with printable ASCII.
    let ascii_pair = |hi: u8, lo: u8| {
        hi == 0 && (lo == b'\n' || lo == b'\r' || lo == b'\t' || (0x20..0x7f).contains(&lo))
    };
    let (mut le, mut be) = (0usize, 0usize);
    for p in s.chunks_exact(2) {
        le += usize::from(ascii_pair(p[1], p[0]));
        be += usize::from(ascii_pair(p[0], p[1]));
    }
    if le >= 2 && odd0 == le && even0 == 0 && utf16_plausible(s, true) {
        Some(UTF_16LE)
    } else if be >= 2 && even0 == be && odd0 == 0 && utf16_plausible(s, false) {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Whether `s` reads as UTF-16 text in that byte order: not valid UTF-8
/// (text with stray NULs usually is), and nearly every unit a CJK
/// character, CJK punctuation, a full-width form or printable ASCII.
fn utf16_plausible(s: &[u8], le: bool) -> bool {
    if simdutf8::basic::from_utf8(s).is_ok() {
        return false;
    }
    let units = s.chunks_exact(2).map(|p| {
        if le {
            u16::from_le_bytes([p[0], p[1]])
        } else {
            u16::from_be_bytes([p[0], p[1]])
        }
    });
    let (mut n, mut good) = (0usize, 0usize);
    for u in units {
        n += 1;
        good += usize::from(
            matches!(u, 0x09 | 0x0a | 0x0d | 0x20..=0x7e | 0x3000..=0x303f | 0x4e00..=0x9fff | 0xff00..=0xffef),
        );
    }
    good * 10 >= n * 9
}

/// Decode text bytes to Unicode.
pub fn decode(data: &[u8]) -> Decoded<'_> {
    decode_unless_legacy(data).unwrap_or_else(|| mixed(data))
}

/// [`decode`] for text with a BOM, UTF-16, valid UTF-8 or HZ; `None` for
/// text in a legacy encoding (or mixed), which [`decode`] would detect and
/// decode line by line — the caller may first check whether that is worth
/// doing at all.
pub fn decode_unless_legacy(data: &[u8]) -> Option<Decoded<'_>> {
    if let Some((enc, bom)) = Encoding::for_bom(data) {
        let body = &data[bom..];
        if enc == UTF_8
            && let Some(t) = utf8_prefix(body)
        {
            return Some(Decoded {
                text: Cow::Borrowed(t),
                encoding: "UTF-8",
                lossy: false,
            });
        }
        if enc == UTF_8 {
            return Some(mixed(body));
        }
        let (text, errors) = enc.decode_without_bom_handling(body);
        return Some(Decoded {
            text,
            encoding: enc.name(),
            lossy: errors,
        });
    }
    let sample = &data[..data.len().min(SAMPLE)];
    if memchr::memchr(0, sample).is_some()
        && let Some(enc) = utf16_without_bom(sample)
    {
        let (text, _) = enc.decode_without_bom_handling(data);
        return Some(Decoded {
            text,
            encoding: enc.name(),
            // Detected without a BOM: a guess, however good.
            lossy: true,
        });
    }
    if let Some(t) = utf8_prefix(data) {
        if let Some(hz) = hz_decode(data) {
            return Some(Decoded {
                text: Cow::Owned(hz),
                encoding: "HZ-GB-2312",
                lossy: true,
            });
        }
        return Some(Decoded {
            text: Cow::Borrowed(t),
            encoding: "UTF-8",
            lossy: false,
        });
    }
    None
}

/// Text that is not valid UTF-8. With no UTF-8 line that holds non-ASCII
/// characters it is one legacy encoding, decoded in one go (the common GBK
/// file); otherwise each line is decoded on its own.
fn mixed(data: &[u8]) -> Decoded<'static> {
    let mut utf8_lines = 0usize;
    let mut probe: Vec<u8> = Vec::new();
    let mut lines = 0usize;
    // First pass, cheap: SIMD validation only (a GBK line fails at its
    // first character). Lines that are UTF-8 with a few bad bytes are told
    // apart in the second pass, which only mixed text reaches.
    for line in data.split(|&b| b == b'\n') {
        lines += 1;
        if line.is_ascii() {
            continue;
        }
        if simdutf8::basic::from_utf8(line).is_ok() {
            utf8_lines += 1;
        } else if probe.len() < DETECT {
            probe.extend_from_slice(&line[..line.len().min(DETECT)]);
            probe.push(b'\n');
        }
    }
    let mut det = chardetng::EncodingDetector::new();
    det.feed(&probe, true);
    let mut legacy = det.guess(None, false);
    if legacy == UTF_8 || legacy == encoding_rs::WINDOWS_1252 && probe.iter().any(|&b| b >= 0x81) {
        // Non-UTF-8 Chinese text chardetng cannot place (a few bytes only):
        // GB18030 is the superset Chinese systems write.
        legacy = encoding_rs::GB18030;
    }
    lines_as(data, legacy, utf8_lines > 0, lines)
}

/// Text that is not valid UTF-8 read with a given legacy encoding for its
/// non-UTF-8 lines (UTF-8 lines stay UTF-8), without charset detection: a
/// legacy file's head read for its marking in each encoding the issue
/// names, when the rest of the file needs no decoding (issue 15, speed).
pub fn decode_as(data: &[u8], legacy: &'static Encoding) -> Decoded<'static> {
    let mut utf8_lines = 0usize;
    let mut lines = 0usize;
    for line in data.split(|&b| b == b'\n') {
        lines += 1;
        if !line.is_ascii() && simdutf8::basic::from_utf8(line).is_ok() {
            utf8_lines += 1;
        }
    }
    lines_as(data, legacy, utf8_lines > 0, lines)
}

/// Decode `data` in `legacy`, line by line when it also has UTF-8 lines.
fn lines_as(data: &[u8], legacy: &'static Encoding, utf8: bool, lines: usize) -> Decoded<'static> {
    if !utf8 {
        let (text, _) = legacy.decode_without_bom_handling(data);
        return Decoded {
            text: Cow::Owned(text.into_owned()),
            encoding: legacy.name(),
            lossy: true,
        };
    }
    let mut out = String::with_capacity(data.len() + lines);
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match line_kind(line) {
            LineKind::Ascii | LineKind::Utf8 | LineKind::MostlyUtf8 => {
                out.push_str(&String::from_utf8_lossy(line));
            }
            LineKind::Legacy => {
                let (t, _) = legacy.decode_without_bom_handling(line);
                out.push_str(&t);
            }
        }
    }
    Decoded {
        text: Cow::Owned(out),
        encoding: legacy.name(),
        lossy: true,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Ascii,
    Utf8,
    /// UTF-8 with a few bad bytes: at least two valid multi-byte characters
    /// per bad sequence.
    MostlyUtf8,
    Legacy,
}

fn line_kind(line: &[u8]) -> LineKind {
    if line.is_ascii() {
        return LineKind::Ascii;
    }
    if simdutf8::basic::from_utf8(line).is_ok() {
        return LineKind::Utf8;
    }
    let (mut good, mut bad) = (0usize, 0usize);
    let mut rest = line;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                good += s.bytes().filter(|&b| b >= 0xC0).count();
                break;
            }
            Err(e) => {
                let ok = &rest[..e.valid_up_to()];
                good += ok.iter().filter(|&&b| b >= 0xC0).count();
                bad += 1;
                if bad > 8 && good < bad {
                    return LineKind::Legacy;
                }
                let skip = e.valid_up_to() + e.error_len().unwrap_or(rest.len() - e.valid_up_to());
                rest = &rest[skip.min(rest.len())..];
            }
        }
    }
    if good >= 2 * bad {
        LineKind::MostlyUtf8
    } else {
        LineKind::Legacy
    }
}

/// HZ-GB-2312 (RFC 1843): 7-bit text where `~{` switches to GB2312 pairs
/// written without their high bits and `~}` switches back; `~~` is `~`,
/// `~` + newline a line continuation. `None` unless `data` is ASCII with at
/// least one well-formed `~{` … `~}` run in its first 64 KiB.
pub fn hz_decode(data: &[u8]) -> Option<String> {
    let head = &data[..data.len().min(64 * 1024)];
    let start = memchr::memmem::find(head, b"~{")?;
    if !data.is_ascii() {
        return None;
    }
    // The first run must be pairs of 0x21..=0x7E closed by `~}`.
    let run = &data[start + 2..];
    let end = memchr::memmem::find(run, b"~}")?;
    if end == 0 || end % 2 != 0 || !run[..end].iter().all(|b| (0x21..=0x7e).contains(b)) {
        return None;
    }
    let mut out = String::with_capacity(data.len());
    let mut gb = false;
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b == b'~' && i + 1 < data.len() {
            match data[i + 1] {
                b'{' => {
                    gb = true;
                    i += 2;
                    continue;
                }
                b'}' => {
                    gb = false;
                    i += 2;
                    continue;
                }
                b'~' if !gb => {
                    out.push('~');
                    i += 2;
                    continue;
                }
                b'\n' => {
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        if gb {
            if b == b'\n' || b == b'\r' {
                // A line break ends a GB run (RFC 1843 keeps runs on one line).
                gb = false;
                out.push(b as char);
                i += 1;
                continue;
            }
            if i + 1 < data.len() {
                let pair = [b | 0x80, data[i + 1] | 0x80];
                let (t, _) = encoding_rs::GBK.decode_without_bom_handling(&pair);
                out.push_str(&t);
                i += 2;
                continue;
            }
            out.push('\u{fffd}');
            i += 1;
            continue;
        }
        out.push(b as char);
        i += 1;
    }
    Some(out)
}

/// `data` as UTF-8 if it is valid, allowing one character cut off at the
/// very end (a file read up to a byte limit).
fn utf8_prefix(data: &[u8]) -> Option<&str> {
    // SIMD validation (the common case); the compat API also gives the
    // error position at SIMD speed.
    match simdutf8::compat::from_utf8(data) {
        Ok(s) => Some(s),
        Err(e) if e.error_len().is_none() && data.len() - e.valid_up_to() < 4 => {
            simdutf8::basic::from_utf8(&data[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    }
}

/// The text extractor (for callers that want a [`Document`]).
pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    let d = decode(data);
    let mut text = d.text.into_owned();
    let mut truncated = false;
    if text.len() > ctx.limits.max_text_chars.saturating_mul(4) {
        let mut cut = ctx.limits.max_text_chars.saturating_mul(4);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        truncated = true;
    }
    Ok(Document {
        format: "text",
        text,
        truncated,
        ..Document::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_decode_to_the_same_text() {
        let s = "机密★5年\n关于玄鸟柒号项目的说明，请各单位认真学习并贯彻执行。";
        assert_eq!(decode(s.as_bytes()).text, s);
        assert!(matches!(decode(s.as_bytes()).text, Cow::Borrowed(_)));
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(s.as_bytes());
        assert_eq!(decode(&bom).text, s);
        let (gbk, _, _) = encoding_rs::GBK.encode(s);
        let d = decode(&gbk);
        assert_eq!((d.text.as_ref(), d.encoding), (s, "GBK"));
        let t = "機密★6個月\n關於玄鳥柒號專案的說明，請各單位認真學習並貫徹執行。";
        let (big5, _, _) = encoding_rs::BIG5.encode(t);
        let d = decode(&big5);
        assert_eq!((d.text.as_ref(), d.encoding), (t, "Big5"));
        let mut le = vec![0xFF, 0xFE];
        for u in s.encode_utf16() {
            le.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode(&le).text, s);
        let mut be = vec![0xFE, 0xFF];
        for u in s.encode_utf16() {
            be.extend_from_slice(&u.to_be_bytes());
        }
        assert_eq!(decode(&be).text, s);
    }

    #[test]
    fn utf16_without_bom_and_binary() {
        let s = "plain ascii text in utf-16 without a byte order mark";
        let mut le = Vec::new();
        for u in s.encode_utf16() {
            le.extend_from_slice(&u.to_le_bytes());
        }
        assert!(!looks_binary(&le));
        assert_eq!(decode(&le).text, s);
        assert!(looks_binary(&[
            0u8, 1, 2, 3, 4, 5, 200, 0, 0, 9, 0, 0, 0, 0, 1, 1
        ]));
        assert!(!looks_binary("普通文本\n".as_bytes()));
    }

    #[test]
    fn control_bytes_counts_the_same_bytes_as_the_plain_filter() {
        let all: Vec<u8> = (0..=255u8).cycle().take(4096 + 17).collect();
        let plain = all
            .iter()
            .filter(|&&b| matches!(b, 0x01..=0x08 | 0x0e..=0x1a | 0x7f))
            .count();
        assert_eq!(control_bytes(&all), plain);
        assert_eq!(control_bytes(&[0x01; 1000]), 1000);
        assert_eq!(control_bytes(b"text\t\r\n\x0c\x1b"), 0);
    }

    #[test]
    fn utf8_cut_mid_character_is_still_utf8() {
        let s = "玄鸟柒号".as_bytes();
        let d = decode(&s[..s.len() - 1]);
        assert_eq!((d.text.as_ref(), d.encoding), ("玄鸟柒", "UTF-8"));
    }

    #[test]
    fn mixed_lines_hz_and_chinese_utf16_without_bom() {
        let mut data = "第一行UTF-8\n".as_bytes().to_vec();
        data.extend_from_slice(&encoding_rs::GBK.encode("第二行GBK\n").0);
        data.extend_from_slice("第三行".as_bytes());
        data.push(0xff);
        data.extend_from_slice("坏字节后仍是UTF-8\n".as_bytes());
        data.push(0xff);
        data.extend_from_slice("第四行".as_bytes());
        let d = decode(&data);
        assert!(d.lossy);
        for want in ["第一行UTF-8", "第二行GBK", "坏字节后仍是UTF-8", "第四行"] {
            assert!(d.text.contains(want), "{want} in {:?}", d.text);
        }
        let d = decode(b"plain ~{P~DqFb:E~} text\n");
        assert_eq!(
            (d.text.as_ref(), d.encoding),
            ("plain 玄鸟柒号 text\n", "HZ-GB-2312")
        );
        assert_eq!(decode(b"a ~{ not hz\n").encoding, "UTF-8");
        let s = "关于玄鸟柒号项目的说明\n第二行正文\n第3行\n";
        let le: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(!looks_binary(&le));
        assert_eq!(decode(&le).text, s);
        let be: Vec<u8> = s.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode(&be).text, s);
        // A few NULs in ordinary text do not make it binary.
        let mut t = "hello 玄鸟柒号 world, ordinary text here.\n"
            .repeat(10)
            .into_bytes();
        t.insert(7, 0);
        assert!(!looks_binary(&t));
    }
}
