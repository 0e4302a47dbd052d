//! PowerPoint 97-2003 ([MS-PPT]): the `PowerPoint Document` stream is a tree
//! of records (recVer:4 recInstance:12, recType u16, recLen u32; recVer 0xF
//! marks a container). The walk is a flat loop over the stream (entering a
//! container is just stepping over its 8-byte header), so a deep tree costs
//! no stack. Text lives in TextCharsAtom (UTF-16LE) and TextBytesAtom
//! (8-bit), either in the SlideListWithText of the document or in the
//! slides' drawings. Masters (template text such as "Click to edit") are
//! skipped. Encryption: CryptSession10Container, or the `Current User`
//! header token 0xF3D1C4DF.

use super::super::FailedChild;
use super::{
    Child, Container, Ctx, Document, ExtractError, HEAD_CHARS, Text, head_of, latin1, u16_at,
    u32_at, utf16le,
};

const SLIDE: u16 = 0x03EE;
const NOTES: u16 = 0x03F0;
const SLIDE_PERSIST: u16 = 0x03F3;
const MAIN_MASTER: u16 = 0x03F8;
const SLIDE_LIST_WITH_TEXT: u16 = 0x0FF0;
const TEXT_CHARS: u16 = 0x0FA0;
const TEXT_BYTES: u16 = 0x0FA8;
const CRYPT_SESSION: u16 = 0x2F14;
/// ExOleObjStg: an embedded OLE object's storage (a compound file),
/// zlib-compressed when recInstance is 1 (u32 decompressed size first).
const EX_OLE_OBJ_STG: u16 = 0x1011;
const MAX_OBJECTS: usize = 256;
const TOKEN_ENCRYPTED: u32 = 0xF3D1_C4DF;

pub(crate) fn extract(c: &mut Container<'_>, ctx: &mut Ctx) -> Result<Document, ExtractError> {
    if let Some(cu) = c.read("Current User", ctx)?
        && u32_at(&cu, 12) == Some(TOKEN_ENCRYPTED)
    {
        return Err(ExtractError::Encrypted(
            "password-protected presentation (Current User token)".into(),
        ));
    }
    let s = c
        .read("PowerPoint Document", ctx)?
        .ok_or_else(|| ExtractError::Corrupt("no PowerPoint Document stream".into()))?;
    let mut text = Text::new(ctx.limits.max_text_chars);
    // Slide units (a SlideContainer, or a SlidePersistAtom in the slides'
    // SlideListWithText); the head is the text of the first one with text.
    let mut units = Units {
        cur: None,
        head: None,
    };
    let mut in_slide_list = 0usize; // end offset of a slides SLWT, 0 if none
    let mut children = Vec::new();
    let mut failed = Vec::new();
    let mut pos = 0usize;
    while let (Some(vi), Some(ty), Some(len)) =
        (u16_at(&s, pos), u16_at(&s, pos + 2), u32_at(&s, pos + 4))
    {
        ctx.tick(1)?;
        let ver = vi & 0x0F;
        let inst = vi >> 4;
        let body = pos + 8;
        let end = body.saturating_add(len as usize);
        if in_slide_list != 0 && pos >= in_slide_list {
            in_slide_list = 0;
        }
        match ty {
            CRYPT_SESSION => {
                return Err(ExtractError::Encrypted(
                    "password-protected presentation (CryptSession10Container)".into(),
                ));
            }
            EX_OLE_OBJ_STG
                if ctx.depth < ctx.limits.max_depth
                    && children.len() + failed.len() < MAX_OBJECTS =>
            {
                let b = s.get(body..end.min(s.len())).unwrap_or(&[]);
                let name = format!("ExOleObjStg/{}", children.len() + failed.len() + 1);
                let data = if inst == 1 {
                    let z = b.get(4..).unwrap_or(&[]);
                    ctx.read_bounded(flate2::read::ZlibDecoder::new(z), z.len() as u64)
                } else {
                    Ok(b.to_vec())
                };
                match data {
                    Ok(data) => children.push(Child { name, data }),
                    Err(e @ (ExtractError::Limit(_) | ExtractError::Timeout)) => return Err(e),
                    Err(error) => failed.push(FailedChild { name, error }),
                }
            }
            MAIN_MASTER => {
                pos = end;
                continue;
            }
            SLIDE_LIST_WITH_TEXT if inst == 0 => in_slide_list = end,
            SLIDE_PERSIST if in_slide_list != 0 => units.start(&mut text),
            SLIDE => units.start(&mut text),
            NOTES => {
                // Speaker notes (and the notes master) belong to no slide.
                units.start(&mut text);
                units.cur = None;
            }
            TEXT_CHARS | TEXT_BYTES => {
                let b = s.get(body..end.min(s.len())).unwrap_or(&[]);
                let t = if ty == TEXT_CHARS {
                    utf16le(b)
                } else {
                    latin1(b)
                };
                text.newline();
                for ch in t.chars() {
                    // \r ends a paragraph, \x0b is a vertical tab (line break)
                    text.push(if ch == '\r' || ch == '\u{b}' {
                        '\n'
                    } else {
                        ch
                    });
                }
                text.newline();
                if text.full() {
                    break;
                }
            }
            _ => {}
        }
        pos = if ver == 0x0F { body } else { end };
    }
    let at = text.s.len();
    units.close(&text.s, at);
    let head = units
        .head
        .and_then(|(a, b)| text.s.get(a..b))
        .map(|h| head_of(h, HEAD_CHARS));
    Ok(Document {
        head,
        truncated: text.truncated,
        text: text.s,
        children,
        failed_children: failed,
        ..Document::default()
    })
}

/// Slide units seen so far and the head found.
struct Units {
    /// Start (byte offset in the text) of the current unit, once one started.
    cur: Option<usize>,
    head: Option<(usize, usize)>,
}

impl Units {
    /// The current unit ends at `at`: it is the head if it is the first unit
    /// with text (SlideListWithText may list slides without holding their
    /// text, which then lives in the slides' drawings).
    fn close(&mut self, text: &str, at: usize) {
        if self.head.is_none()
            && let Some(a) = self.cur
            && text.get(a..at).is_some_and(|t| !t.trim().is_empty())
        {
            self.head = Some((a, at));
        }
    }

    fn start(&mut self, text: &mut Text) {
        text.newline();
        let at = text.s.len();
        self.close(&text.s, at);
        self.cur = Some(at);
    }
}
