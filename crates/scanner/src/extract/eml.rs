//! Internet mail (RFC 5322 + MIME, .eml) text and attachments.
//!
//! mail-parser (0.11: the last release that builds with rustc 1.95) does the
//! MIME work: transfer encodings (base64, quoted-printable), RFC 2047
//! headers and charsets (GBK/GB2312/GB18030/Big5 through its `full_encoding`
//! feature). The body is the text/plain parts, or the HTML parts reduced to
//! text; the Subject counts for keywords but is appended after the body, and
//! the head (GB/T 9704 marking) is the start of the body. Attachments,
//! nested `message/rfc822` included, become children scanned as files of
//! their own (`mail.eml!/附件.docx`), bounded by `Ctx::depth`.

use super::ooxml::common::TextBuf;
use super::{Child, Ctx, Document, ExtractError, ExtractResult};
use mail_parser::{MessageParser, MimeHeaders, PartType};

const HEAD_CHARS: usize = 4000;
/// Attachments handed out per message; the rest is reported as a limit.
const MAX_ATTACHMENTS: usize = 1000;

pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    ctx.check_time()?;
    // mail-parser is total on the inputs we have fuzzed it with, but one bad
    // file must not take the scan down with it.
    let max_chars = ctx.limits.max_text_chars;
    let parsed = std::panic::catch_unwind(|| parse(data, max_chars));
    let (mut doc, attachments) = match parsed {
        Ok(r) => r?,
        Err(_) => return Err(ExtractError::Corrupt("MIME parser failed".into())),
    };
    ctx.tick(attachments as u64 + 1)?;
    if attachments > MAX_ATTACHMENTS {
        return Err(ExtractError::Limit(format!(
            "more than {MAX_ATTACHMENTS} attachments"
        )));
    }
    ctx.check_time()?;
    doc.format = "eml";
    Ok(doc)
}

/// Old Chinese mailers send raw 8-bit GBK/Big5 bodies without a charset
/// parameter; mail-parser then decodes them as UTF-8 into U+FFFD. For such
/// a part (no transfer encoding, no charset), detect the charset from the
/// raw bytes instead.
fn undeclared_8bit(
    msg: &mail_parser::Message<'_>,
    part: &mail_parser::MessagePart<'_>,
) -> Option<String> {
    if part.encoding != mail_parser::Encoding::None
        || part
            .content_type()
            .and_then(|c| c.attribute("charset"))
            .is_some()
    {
        return None;
    }
    let raw = msg
        .raw_message()
        .get(part.raw_body_offset() as usize..part.raw_end_offset() as usize)?;
    let mut det = chardetng::EncodingDetector::new();
    det.feed(raw, true);
    let enc = det.guess(None, true);
    let (text, _, bad) = enc.decode(raw);
    (!bad).then(|| text.into_owned())
}

fn parse(data: &[u8], max_chars: usize) -> Result<(Document, usize), ExtractError> {
    let msg = MessageParser::default()
        .parse(data)
        .ok_or_else(|| ExtractError::Corrupt("not a MIME message".into()))?;
    if msg.headers().is_empty() {
        return Err(ExtractError::Corrupt("mail without headers".into()));
    }
    let mut tb = TextBuf::new(max_chars);
    // Every text part: the plain-text bodies first (they make the head),
    // then HTML bodies that are not the same part — a multipart/alternative
    // whose words are only in its HTML half must not hide them (issue 15).
    let mut ids: Vec<u32> = msg.text_body.clone();
    for id in &msg.html_body {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    // The HTML half of an alternative usually repeats the plain half: it is
    // added only when its words differ, so counts are not doubled.
    let squeeze = |s: &str| -> String { s.chars().filter(|c| !c.is_whitespace()).collect() };
    let mut plain_seen: Vec<String> = Vec::new();
    for (i, part) in ids.iter().filter_map(|&id| msg.part(id)).enumerate() {
        let from_html_list = i >= msg.text_body.len();
        match &part.body {
            PartType::Text(t) if from_html_list && plain_seen.contains(&squeeze(t)) => continue,
            PartType::Text(t) if t.contains('\u{FFFD}') => match undeclared_8bit(&msg, part) {
                Some(fixed) => tb.push_str(&fixed),
                None => tb.push_str(t),
            },
            PartType::Text(t) => {
                tb.push_str(t);
                if plain_seen.len() < 16 {
                    plain_seen.push(squeeze(t));
                }
            }
            PartType::Html(h) => {
                let text = mail_parser::decoders::html::html_to_text(h);
                if from_html_list && plain_seen.contains(&squeeze(&text)) {
                    continue;
                }
                tb.push_str(&text);
            }
            _ => {}
        }
        tb.newline();
    }
    let head: String = tb.text.chars().take(HEAD_CHARS).collect();
    if let Some(s) = msg.subject() {
        tb.newline();
        tb.push_str(s);
        tb.newline();
    }

    let mut children: Vec<Child> = Vec::new();
    let mut count = 0usize;
    for (i, part) in msg.attachments().enumerate() {
        count += 1;
        if count > MAX_ATTACHMENTS {
            break;
        }
        let base = match (part.attachment_name(), &part.body) {
            (Some(n), _) if !n.trim().is_empty() => n.trim().to_owned(),
            (_, PartType::Message(m)) => match m.subject() {
                Some(s) if !s.trim().is_empty() => format!("{}.eml", s.trim()),
                _ => format!("attachment-{}.eml", i + 1),
            },
            _ => format!("attachment-{}", i + 1),
        };
        // Keep names unique and free of path separators: they become
        // `mail.eml!/name` in findings.
        let base = base.replace(['/', '\\'], "_");
        let mut name = base.clone();
        let mut k = 1;
        while children.iter().any(|c| c.name == name) {
            k += 1;
            name = format!("{base}~{k}");
        }
        children.push(Child {
            name,
            data: part.contents().to_vec(),
        });
    }
    let doc = Document {
        format: "eml",
        head: Some(head),
        truncated: tb.truncated,
        text: tb.text,
        children,
        ..Document::default()
    };
    Ok((doc, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Limits;
    use crate::extract::test_support::{first_lines, fixture};

    fn run(rel: &str) -> ExtractResult {
        extract(&fixture(rel), &mut Ctx::new(Limits::default()))
    }

    #[test]
    fn gbk_base64_body_subject_and_attachment() {
        let d = run("eml/gbk_marked.eml").unwrap();
        assert_eq!(d.format, "eml");
        let head = d.head.clone().unwrap();
        assert_eq!(
            first_lines(&head, 2),
            ["机密★3个月", "各位：附件为会议材料，请查收。"]
        );
        assert!(
            !head.contains("玄鸟柒号"),
            "subject must not be a head line"
        );
        assert!(d.text.contains("转发：玄鸟柒号资料"), "{}", d.text);
        assert_eq!(d.children.len(), 1);
        assert_eq!(d.children[0].name, "方案.docx");
        assert!(d.children[0].data.starts_with(b"PK\x03\x04"));
    }

    #[test]
    fn quoted_printable_utf8() {
        let d = run("eml/qp_utf8.eml").unwrap();
        assert_eq!(
            first_lines(d.head.as_deref().unwrap(), 1),
            ["本周完成XN-07A型联调。"]
        );
        assert!(d.text.contains("周报"));
        assert!(d.children.is_empty());
    }

    #[test]
    fn big5_html_and_nested_message() {
        let d = run("eml/html_big5_nested.eml").unwrap();
        assert!(d.text.contains("會議"), "{}", d.text);
        assert!(d.text.contains("三樓"), "{}", d.text);
        assert!(!d.text.contains("p{}"), "style leaked: {}", d.text);
        assert!(!d.text.contains("<p>"));
        assert_eq!(
            d.children.len(),
            1,
            "{:?}",
            d.children.iter().map(|c| &c.name).collect::<Vec<_>>()
        );
        let inner = extract(&d.children[0].data, &mut Ctx::new(Limits::default())).unwrap();
        assert_eq!(
            first_lines(inner.head.as_deref().unwrap(), 2),
            ["秘密★1年", "示例工程附件说明"]
        );
    }

    #[test]
    fn undeclared_8bit_gbk_body() {
        let d = run("eml/gbk_8bit_nocharset.eml").unwrap();
        assert_eq!(
            first_lines(d.head.as_deref().unwrap(), 2),
            ["秘密★1年", "玄鸟柒号试验安排。"]
        );
    }

    #[test]
    fn garbage_is_not_a_panic() {
        let mut ctx = Ctx::new(Limits::default());
        assert!(extract(b"", &mut ctx).is_err());
        let deep = "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n".repeat(20_000);
        let _ = extract(deep.as_bytes(), &mut ctx);
    }
}
