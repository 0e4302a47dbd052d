//! Plain text and its encodings: UTF-8 with or without BOM, UTF-16 LE/BE
//! with BOM (or ASCII-heavy UTF-16 without one), and legacy Chinese
//! encodings (GBK/GB18030, Big5) detected without a BOM by `chardetng`.
//! Text is always decoded to Unicode before matching: byte-matching GBK gives
//! false hits across character boundaries (PITFALLS).
//!
//! Valid UTF-8 — nearly every file — is borrowed as is, without a copy.

use crate::extract::{Ctx, Document, ExtractResult};
use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use std::borrow::Cow;

/// Text decoded from bytes.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub text: Cow<'a, str>,
    /// WHATWG name of the encoding used (`UTF-8`, `GBK`, `Big5`, `UTF-16LE` ...).
    pub encoding: &'static str,
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
        return utf16_without_bom(s).is_none();
    }
    let ctrl = s
        .iter()
        .filter(|&&b| matches!(b, 0x01..=0x08 | 0x0e..=0x1a | 0x7f))
        .count();
    ctrl * 10 > s.len()
}

/// UTF-16 without a BOM, recognised by NULs in every other byte (mostly
/// ASCII text). Returns the encoding when the pattern is clear.
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
        Some(UTF_16LE)
    } else if even0 * 10 >= pairs * 4 && odd0 * 20 < pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Decode text bytes to Unicode.
pub fn decode(data: &[u8]) -> Decoded<'_> {
    if let Some((enc, bom)) = Encoding::for_bom(data) {
        let body = &data[bom..];
        if enc == UTF_8
            && let Some(t) = utf8_prefix(body)
        {
            return Decoded {
                text: Cow::Borrowed(t),
                encoding: "UTF-8",
            };
        }
        let (text, _) = enc.decode_without_bom_handling(body);
        return Decoded {
            text,
            encoding: enc.name(),
        };
    }
    let sample = &data[..data.len().min(SAMPLE)];
    if memchr::memchr(0, sample).is_some()
        && let Some(enc) = utf16_without_bom(sample)
    {
        let (text, _) = enc.decode_without_bom_handling(data);
        return Decoded {
            text,
            encoding: enc.name(),
        };
    }
    if let Some(t) = utf8_prefix(data) {
        return Decoded {
            text: Cow::Borrowed(t),
            encoding: "UTF-8",
        };
    }
    let mut det = chardetng::EncodingDetector::new();
    let probe = &data[..data.len().min(DETECT)];
    det.feed(probe, probe.len() == data.len());
    let enc = det.guess(None, false);
    let (text, _) = enc.decode_without_bom_handling(data);
    Decoded {
        text,
        encoding: enc.name(),
    }
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
    fn utf8_cut_mid_character_is_still_utf8() {
        let s = "玄鸟柒号".as_bytes();
        let d = decode(&s[..s.len() - 1]);
        assert_eq!((d.text.as_ref(), d.encoding), ("玄鸟柒", "UTF-8"));
    }
}
