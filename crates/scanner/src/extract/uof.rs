//! UOF 1.0 (GB/T 20916-2007, 中文办公软件文档格式): `.uot` text, `.uos`
//! spreadsheets, `.uop` presentations, one XML file each (root `uof:UOF`),
//! as written by RedOffice, older WPS/Yozo versions and LibreOffice.
//!
//! The element names are Chinese: text sits in `字:文本串` runs, joined per
//! `字:段落` paragraph (one line each; table cells end lines too). Head
//! (GB/T 9704): the first page's header (`字:首页页眉`, else the first
//! `字:奇数页页眉`/`字:页眉` text) and the body's first characters; for a
//! presentation, the text of the shapes the first slide (`演:幻灯片`)
//! anchors (`uof:锚点` → `图:图形` by 标识符; shapes live in the object
//! set, not in the slide) — the masters' placeholder prompts never count. Metadata (`uof:元数据`: title, subject, keywords,
//! user-defined entries such as 密级) become properties. Hand-written: no
//! crate reads UOF; quick-xml does the parsing, bounded like every XML part.

use super::ooxml::common::{TextBuf, attr, next, text_of, xml_reader};
use super::{Ctx, Document, ExtractResult};
use quick_xml::events::Event;

const HEAD_CHARS: usize = 4000;

/// Whether `head` (a file's first kilobytes) is a UOF document.
pub fn is_uof(head: &[u8]) -> bool {
    memchr::memmem::find(head, b"<uof:UOF").is_some()
        && memchr::memmem::find(head, b"schemas.uof.org").is_some()
}

fn is(local: &[u8], name: &str) -> bool {
    local == name.as_bytes()
}

pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    let mut r = xml_reader(data);
    let mut tb = TextBuf::new(ctx.limits.max_text_chars);
    let mut body = String::new();
    let mut first_header: Option<String> = None;
    let mut odd_header: Option<String> = None;
    let mut first_slide: Option<String> = None;
    let mut format = "uot";
    // Open containers, by kind.
    let (mut in_run, mut header_depth, mut footer_depth) = (0usize, 0usize, 0usize);
    let (mut slide_depth, mut master_depth, mut meta_depth) = (0usize, 0usize, 0usize);
    let mut header_is_first = false;
    let mut header_text = String::new();
    let mut slide_text = String::new();
    let mut meta_key: Option<String> = None;
    let mut meta_val = String::new();
    let mut props: Vec<(String, String)> = Vec::new();
    // Presentations: text per shape id, and the shapes slide 1 anchors.
    let mut shapes: std::collections::HashMap<String, String> = Default::default();
    let mut shape_stack: Vec<(String, String)> = Vec::new();
    let mut slide1_refs: Vec<String> = Vec::new();
    let (mut slides_seen, mut notes_depth) = (0usize, 0usize);
    loop {
        let ev = next(&mut r, "uof", ctx)?;
        match ev {
            Event::Empty(ref e) | Event::Start(ref e)
                if is(e.local_name().as_ref(), "锚点")
                    && slide_depth > 0
                    && notes_depth == 0
                    && slides_seen == 1 =>
            {
                if let Some(r) = attr(e, "图形引用".as_bytes())
                    && slide1_refs.len() < 4096
                {
                    slide1_refs.push(r);
                }
            }
            Event::Start(ref e) => {
                let local = e.local_name();
                let l = local.as_ref();
                if is(l, "图形") {
                    let id = attr(e, "标识符".as_bytes()).unwrap_or_default();
                    shape_stack.push((id, String::new()));
                } else if is(l, "幻灯片备注") {
                    notes_depth += 1;
                }
                if is(l, "UOF") {
                    format = match attr(e, b"mimetype").as_deref() {
                        Some(m) if m.contains("spreadsheet") => "uos",
                        Some(m) if m.contains("presentation") || m.contains("slideshow") => "uop",
                        _ => "uot",
                    };
                } else if is(l, "文本串") {
                    in_run += 1;
                } else if is(l, "首页页眉")
                    || is(l, "奇数页页眉")
                    || is(l, "偶数页页眉")
                    || is(l, "页眉")
                {
                    if header_depth == 0 {
                        header_is_first = is(l, "首页页眉");
                        header_text.clear();
                    }
                    header_depth += 1;
                } else if is(l, "页脚") || l.ends_with("页页脚".as_bytes()) {
                    footer_depth += 1;
                } else if is(l, "幻灯片") {
                    if slide_depth == 0 {
                        slides_seen += 1;
                    }
                    slide_depth += 1;
                } else if is(l, "母版") || is(l, "主母版") {
                    master_depth += 1;
                } else if is(l, "元数据") {
                    meta_depth += 1;
                } else if meta_depth > 0 {
                    meta_key = Some(match l {
                        _ if is(l, "用户自定义元数据") => {
                            attr(e, "名称".as_bytes()).unwrap_or_else(|| "用户自定义".into())
                        }
                        _ if is(l, "标题") => "title".into(),
                        _ if is(l, "主题") => "subject".into(),
                        _ if is(l, "关键字") => "keywords".into(),
                        _ => String::from_utf8_lossy(l).into_owned(),
                    });
                    meta_val.clear();
                }
            }
            Event::End(ref e) => {
                let local = e.local_name();
                let l = local.as_ref();
                if is(l, "图形") {
                    if let Some((id, text)) = shape_stack.pop()
                        && !id.is_empty()
                        && shapes.len() < 65_536
                    {
                        shapes.insert(id, text);
                    }
                } else if is(l, "幻灯片备注") {
                    notes_depth = notes_depth.saturating_sub(1);
                }
                if is(l, "文本串") {
                    in_run = in_run.saturating_sub(1);
                } else if is(l, "段落") || is(l, "单元格") {
                    tb.newline();
                    if let Some((_, t)) = shape_stack.last_mut() {
                        t.push('\n');
                    }
                    if header_depth > 0 {
                        header_text.push('\n');
                    } else if slide_depth > 0 {
                        slide_text.push('\n');
                    } else if footer_depth == 0 && master_depth == 0 && body.len() < HEAD_CHARS * 4
                    {
                        body.push('\n');
                    }
                } else if is(l, "首页页眉")
                    || is(l, "奇数页页眉")
                    || is(l, "偶数页页眉")
                    || is(l, "页眉")
                {
                    header_depth = header_depth.saturating_sub(1);
                    if header_depth == 0 {
                        let slot = if header_is_first {
                            &mut first_header
                        } else {
                            &mut odd_header
                        };
                        if slot.is_none() {
                            *slot = Some(std::mem::take(&mut header_text));
                        }
                    }
                } else if is(l, "页脚") || l.ends_with("页页脚".as_bytes()) {
                    footer_depth = footer_depth.saturating_sub(1);
                } else if is(l, "幻灯片") {
                    slide_depth = slide_depth.saturating_sub(1);
                    if slide_depth == 0 && first_slide.is_none() {
                        first_slide = Some(std::mem::take(&mut slide_text));
                    }
                } else if is(l, "母版") || is(l, "主母版") {
                    master_depth = master_depth.saturating_sub(1);
                } else if is(l, "元数据") {
                    meta_depth = meta_depth.saturating_sub(1);
                } else if meta_depth > 0
                    && let Some(k) = meta_key.take()
                {
                    let v = meta_val.trim();
                    if !v.is_empty() {
                        props.push((k, v.to_owned()));
                    }
                }
            }
            Event::Text(ref t) if in_run > 0 => {
                let t = text_of(t);
                tb.push_str(&t);
                if let Some((_, s)) = shape_stack.last_mut()
                    && s.len() < 1 << 16
                {
                    s.push_str(&t);
                }
                if header_depth > 0 {
                    if header_text.len() < 1 << 16 {
                        header_text.push_str(&t);
                    }
                } else if slide_depth > 0 {
                    if first_slide.is_none() && slide_text.len() < HEAD_CHARS * 4 {
                        slide_text.push_str(&t);
                    }
                } else if footer_depth == 0 && master_depth == 0 && body.len() < HEAD_CHARS * 4 {
                    body.push_str(&t);
                }
            }
            Event::Text(ref t) if meta_key.is_some() && meta_val.len() < 1 << 16 => {
                meta_val.push_str(&text_of(t));
            }
            Event::Eof => break,
            _ => {}
        }
        if tb.truncated {
            break;
        }
    }
    let head = if format == "uop" {
        let mut h = String::new();
        for r in &slide1_refs {
            if let Some(t) = shapes.get(r) {
                h.push_str(t);
                h.push('\n');
            }
        }
        h.push_str(&first_slide.unwrap_or_default());
        h
    } else {
        let mut h = first_header.or(odd_header).unwrap_or_default();
        if !h.is_empty() && !h.ends_with('\n') {
            h.push('\n');
        }
        h.extend(body.chars().take(HEAD_CHARS));
        h
    };
    Ok(Document {
        format,
        head: Some(head),
        truncated: tb.truncated,
        text: tb.text,
        properties: props,
        ..Document::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Limits;
    use crate::extract::test_support::{first_lines, fixture};

    fn run(rel: &str) -> Document {
        extract(&fixture(rel), &mut Ctx::new(Limits::default())).unwrap()
    }

    #[test]
    fn libreoffice_uof_text_and_presentation() {
        let d = run("uof/marked_header.uot");
        assert_eq!(d.format, "uot");
        assert_eq!(first_lines(d.head.as_deref().unwrap(), 1), ["机密★5年"]);
        assert!(d.text.contains("玄鸟柒号"), "{}", d.text);
        assert!(
            d.properties
                .iter()
                .any(|(k, v)| k == "title" && v.contains("报告"))
        );
        let p = run("uof/marked.uop");
        assert_eq!(p.format, "uop");
        let head = p.head.unwrap();
        assert_eq!(first_lines(&head, 1), ["绝密★长期"], "{head}");
        assert!(!head.contains("Click to edit"), "{head}");
        assert!(p.text.contains("玄鸟柒号"));
    }

    #[test]
    fn hostile_uof_is_an_error_not_a_panic() {
        let good = fixture("uof/marked_header.uot");
        for cut in [0, 10, 100, good.len() / 2] {
            let _ = extract(&good[..cut], &mut Ctx::new(Limits::default()));
        }
        let mut ctx = Ctx::new(Limits {
            max_elements: 20,
            ..Limits::default()
        });
        assert!(extract(&good, &mut ctx).is_err());
    }
}
