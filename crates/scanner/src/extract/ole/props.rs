//! [MS-OLEPS] property set streams: `\x05SummaryInformation` (title,
//! subject, keywords, comments, application name) and
//! `\x05DocumentSummaryInformation`, whose second section (FMTID
//! D5CDD505-2E9C-101B-9397-08002B2CF9AE) holds the user-defined properties:
//! a dictionary (property id -> name) plus the values.

use super::{Ctx, ExtractError, u16_at, u32_at, utf16le};

/// FMTID_SummaryInformation F29F85E0-4FF9-1068-AB91-08002B27B3D9 (on-disk GUID layout).
const FMTID_SUMMARY: [u8; 16] = [
    0xE0, 0x85, 0x9F, 0xF2, 0xF9, 0x4F, 0x68, 0x10, 0xAB, 0x91, 0x08, 0x00, 0x2B, 0x27, 0xB3, 0xD9,
];
/// FMTID_DocSummaryInformation D5CDD502-2E9C-101B-9397-08002B2CF9AE.
const FMTID_DOC_SUMMARY: [u8; 16] = [
    0x02, 0xD5, 0xCD, 0xD5, 0x9C, 0x2E, 0x1B, 0x10, 0x93, 0x97, 0x08, 0x00, 0x2B, 0x2C, 0xF9, 0xAE,
];
/// FMTID_UserDefinedProperties D5CDD505-2E9C-101B-9397-08002B2CF9AE.
const FMTID_USER: [u8; 16] = [
    0x05, 0xD5, 0xCD, 0xD5, 0x9C, 0x2E, 0x1B, 0x10, 0x93, 0x97, 0x08, 0x00, 0x2B, 0x2C, 0xF9, 0xAE,
];
const MAX_PROPS: u32 = 4096;
const MAX_VALUE: usize = 1 << 16;

pub(crate) struct Props {
    pub(crate) props: Vec<(String, String)>,
    /// PIDSI_APPNAME of the summary information.
    pub(crate) app: Option<String>,
}

/// Parse a property set stream. Malformed parts are skipped (never an error,
/// except element limits and timeouts).
pub(crate) fn parse(b: &[u8], ctx: &mut Ctx) -> Result<Props, ExtractError> {
    let mut out = Props {
        props: Vec::new(),
        app: None,
    };
    if u16_at(b, 0) != Some(0xFFFE) {
        return Ok(out);
    }
    let n = u32_at(b, 24).unwrap_or(0).min(4);
    for i in 0..n as usize {
        let Some(at) = i.checked_mul(20).and_then(|x| x.checked_add(28)) else {
            break;
        };
        let Some(fmtid) = b.get(at..at + 16) else {
            break;
        };
        let Some(off) = u32_at(b, at + 16) else {
            break;
        };
        let Some(set) = b.get(off as usize..) else {
            continue;
        };
        let vals = section(set, ctx)?;
        if fmtid == FMTID_SUMMARY {
            for (pid, _, v) in vals {
                let name = match pid {
                    2 => "title",
                    3 => "subject",
                    5 => "keywords",
                    6 => "comments",
                    0x12 => {
                        out.app = Some(v);
                        continue;
                    }
                    _ => continue,
                };
                if !v.trim().is_empty() {
                    out.props.push((name.to_owned(), v.trim().to_owned()));
                }
            }
        } else if fmtid == FMTID_DOC_SUMMARY {
            // PIDDSI_CATEGORY; the rest (company, manager ...) is not text
            // a marking or keyword rule is about.
            for (pid, _, v) in vals {
                if pid == 2 && !v.trim().is_empty() {
                    out.props.push(("category".to_owned(), v.trim().to_owned()));
                }
            }
        } else if fmtid == FMTID_USER {
            for (_, name, v) in vals {
                if let Some(name) = name
                    && !name.is_empty()
                {
                    out.props.push((name, v.trim().to_owned()));
                }
            }
        }
    }
    Ok(out)
}

/// One section: (pid, dictionary name, string value) of its string-valued
/// properties.
fn section(s: &[u8], ctx: &mut Ctx) -> Result<Vec<(u32, Option<String>, String)>, ExtractError> {
    let mut out = Vec::new();
    let size = u32_at(s, 0).unwrap_or(0) as usize;
    let s = s.get(..size.min(s.len())).unwrap_or(&[]);
    let count = u32_at(s, 4).unwrap_or(0).min(MAX_PROPS);
    ctx.tick(count as u64)?;
    let mut index = Vec::new();
    for i in 0..count as usize {
        let at = 8 + i * 8;
        let (Some(pid), Some(off)) = (u32_at(s, at), u32_at(s, at + 4)) else {
            break;
        };
        index.push((pid, off as usize));
    }
    // Codepage (pid 1, VT_I2) decides how 8-bit strings and the dictionary read.
    let codepage = index
        .iter()
        .find(|(p, _)| *p == 1)
        .and_then(|&(_, off)| {
            (u16_at(s, off)? == 2).then_some(())?;
            u16_at(s, off + 4)
        })
        .unwrap_or(1252);
    let mut names: Vec<(u32, String)> = Vec::new();
    if let Some(&(_, off)) = index.iter().find(|(p, _)| *p == 0) {
        names = dictionary(s, off, codepage, ctx)?;
    }
    for &(pid, off) in &index {
        if pid < 2 || pid == 0x8000_0000 {
            continue;
        }
        let Some(v) = value(s, off, codepage) else {
            continue;
        };
        let name = names
            .iter()
            .find(|(p, _)| *p == pid)
            .map(|(_, n)| n.clone());
        out.push((pid, name, v));
    }
    Ok(out)
}

fn dictionary(
    s: &[u8],
    off: usize,
    codepage: u16,
    ctx: &mut Ctx,
) -> Result<Vec<(u32, String)>, ExtractError> {
    let mut out = Vec::new();
    let n = u32_at(s, off).unwrap_or(0).min(MAX_PROPS);
    ctx.tick(n as u64)?;
    let mut pos = off + 4;
    for _ in 0..n {
        let (Some(pid), Some(len)) = (u32_at(s, pos), u32_at(s, pos + 4)) else {
            break;
        };
        pos += 8;
        let len = len as usize;
        if len > MAX_VALUE {
            break;
        }
        if codepage == 1200 {
            let Some(bytes) = s.get(pos..pos + len * 2) else {
                break;
            };
            out.push((pid, utf16le(bytes).trim_end_matches('\0').to_owned()));
            pos += len * 2;
            pos = pos.next_multiple_of(4).max(pos);
            // Entries are padded to 4 bytes relative to the section start.
        } else {
            let Some(bytes) = s.get(pos..pos + len) else {
                break;
            };
            out.push((
                pid,
                decode(bytes, codepage).trim_end_matches('\0').to_owned(),
            ));
            pos += len;
        }
    }
    Ok(out)
}

/// A string value (VT_LPSTR, VT_LPWSTR); other types are not text.
fn value(s: &[u8], off: usize, codepage: u16) -> Option<String> {
    let vt = u16_at(s, off)?;
    let len = u32_at(s, off + 4)? as usize;
    if len > MAX_VALUE {
        return None;
    }
    let start = off.checked_add(8)?;
    let v = match vt {
        0x1E => decode(s.get(start..start.checked_add(len)?)?, codepage),
        0x1F => utf16le(s.get(start..start.checked_add(len.checked_mul(2)?)?)?),
        _ => return None,
    };
    Some(v.trim_end_matches('\0').to_owned())
}

/// Decode 8-bit text in a Windows code page.
pub(crate) fn decode(b: &[u8], codepage: u16) -> String {
    let enc = match codepage {
        1200 => return super::utf16le(b),
        65001 => encoding_rs::UTF_8,
        936 => encoding_rs::GBK,
        54936 => encoding_rs::GB18030,
        950 => encoding_rs::BIG5,
        932 => encoding_rs::SHIFT_JIS,
        949 => encoding_rs::EUC_KR,
        874 => encoding_rs::WINDOWS_874,
        1250 => encoding_rs::WINDOWS_1250,
        1251 => encoding_rs::WINDOWS_1251,
        1253 => encoding_rs::WINDOWS_1253,
        1254 => encoding_rs::WINDOWS_1254,
        1255 => encoding_rs::WINDOWS_1255,
        1256 => encoding_rs::WINDOWS_1256,
        1257 => encoding_rs::WINDOWS_1257,
        1258 => encoding_rs::WINDOWS_1258,
        _ => encoding_rs::WINDOWS_1252,
    };
    enc.decode_without_bom_handling(b).0.into_owned()
}
