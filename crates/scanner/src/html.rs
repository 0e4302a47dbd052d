//! HTML: the visible text of a page, for matching and marking detection.
//!
//! Hand-written rather than a full HTML5 parser (html5ever and its DOM are
//! heavy for "drop the tags"): the charset comes from a BOM or a
//! `<meta charset>` / `http-equiv` declaration (else the text detector),
//! scripts, styles and comments are dropped, block elements end a line,
//! inline elements join (so `玄<b>鸟</b>` reads `玄鸟`), entities are
//! decoded (numeric and the named ones that occur in Chinese office pages).
//! The `<title>` goes to the properties: scanned for keywords, but it is not
//! the top of the page where GB/T 9704 puts a marking.

use crate::extract::{Ctx, Document, ExtractResult};
use encoding_rs::Encoding;

/// Decode HTML bytes using the declared charset.
pub fn decode(data: &[u8]) -> String {
    if Encoding::for_bom(data).is_none()
        && let Some(enc) = declared_charset(&data[..data.len().min(4096)])
    {
        // HTML: a declared UTF-16 in a byte-oriented document means UTF-8.
        let enc = if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
            encoding_rs::UTF_8
        } else {
            enc
        };
        return enc.decode_without_bom_handling(data).0.into_owned();
    }
    crate::text::decode(data).text.into_owned()
}

fn declared_charset(head: &[u8]) -> Option<&'static Encoding> {
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&lower[from..], b"<meta") {
        let tag_start = from + i;
        let tag_end = lower[tag_start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |p| tag_start + p);
        let tag = &lower[tag_start..tag_end];
        if let Some(c) = memchr::memmem::find(tag, b"charset") {
            let mut rest = &tag[c + 7..];
            while let [b' ' | b'=' | b'"' | b'\'', r @ ..] = rest {
                rest = r;
            }
            let end = rest
                .iter()
                .position(|b| {
                    !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
                })
                .unwrap_or(rest.len());
            if let Some(enc) = Encoding::for_label(&rest[..end]) {
                return Some(enc);
            }
        }
        from = tag_end;
    }
    None
}

const BLOCK: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "tr",
    "td",
    "th",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "ul",
    "ol",
    "section",
    "article",
    "header",
    "footer",
    "blockquote",
    "pre",
    "hr",
    "dt",
    "dd",
    "body",
    "head",
    "nav",
    "aside",
    "form",
    "option",
    "caption",
    "figure",
    "figcaption",
    "main",
    "address",
    "center",
    "dl",
    "fieldset",
    "legend",
    "tbody",
    "thead",
    "tfoot",
];

/// Named entities: the HTML4 core plus the punctuation and symbols common in
/// Chinese office pages (stars included: `&starf;` is ★).
const ENTITIES: &[(&str, &str)] = &[
    ("amp", "&"),
    ("lt", "<"),
    ("gt", ">"),
    ("quot", "\""),
    ("apos", "'"),
    ("nbsp", "\u{a0}"),
    ("ensp", "\u{2002}"),
    ("emsp", "\u{2003}"),
    ("thinsp", "\u{2009}"),
    ("zwnj", "\u{200c}"),
    ("zwj", "\u{200d}"),
    ("lrm", "\u{200e}"),
    ("rlm", "\u{200f}"),
    ("shy", "\u{ad}"),
    ("copy", "©"),
    ("reg", "®"),
    ("trade", "™"),
    ("middot", "·"),
    ("bull", "•"),
    ("hellip", "…"),
    ("mdash", "—"),
    ("ndash", "–"),
    ("lsquo", "‘"),
    ("rsquo", "’"),
    ("ldquo", "“"),
    ("rdquo", "”"),
    ("laquo", "«"),
    ("raquo", "»"),
    ("times", "×"),
    ("divide", "÷"),
    ("deg", "°"),
    ("plusmn", "±"),
    ("sup1", "¹"),
    ("sup2", "²"),
    ("sup3", "³"),
    ("frac12", "½"),
    ("frac14", "¼"),
    ("frac34", "¾"),
    ("yen", "¥"),
    ("cent", "¢"),
    ("pound", "£"),
    ("euro", "€"),
    ("sect", "§"),
    ("para", "¶"),
    ("star", "☆"),
    ("starf", "★"),
    ("bigstar", "★"),
    ("ast", "*"),
    ("lowast", "∗"),
    ("midast", "*"),
    ("larr", "←"),
    ("rarr", "→"),
    ("uarr", "↑"),
    ("darr", "↓"),
    ("harr", "↔"),
    ("le", "≤"),
    ("ge", "≥"),
    ("ne", "≠"),
    ("minus", "−"),
    ("sim", "∼"),
    ("hyphen", "‐"),
    ("dash", "‐"),
    ("colon", ":"),
    ("comma", ","),
    ("period", "."),
    ("lpar", "("),
    ("rpar", ")"),
    ("sol", "/"),
    ("num", "#"),
    ("percnt", "%"),
    ("excl", "!"),
    ("quest", "?"),
    ("iexcl", "¡"),
    ("iquest", "¿"),
    ("micro", "µ"),
    ("not", "¬"),
    ("macr", "¯"),
    ("acute", "´"),
    ("uml", "¨"),
    ("cedil", "¸"),
    ("ordf", "ª"),
    ("ordm", "º"),
    ("circ", "ˆ"),
    ("tilde", "˜"),
    ("dagger", "†"),
    ("Dagger", "‡"),
    ("permil", "‰"),
    ("prime", "′"),
    ("Prime", "″"),
    ("oline", "‾"),
    ("frasl", "⁄"),
    ("loz", "◊"),
    ("square", "□"),
    ("squf", "▪"),
    ("cir", "○"),
    ("check", "✓"),
    ("cross", "✗"),
    ("sext", "✶"),
    ("eacute", "é"),
    ("Eacute", "É"),
    ("egrave", "è"),
    ("agrave", "à"),
    ("aacute", "á"),
    ("uuml", "ü"),
    ("ouml", "ö"),
    ("auml", "ä"),
    ("szlig", "ß"),
    ("ccedil", "ç"),
    ("ntilde", "ñ"),
];

fn entity(name: &str) -> Option<&'static str> {
    ENTITIES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// Find `needle` (ASCII, lower-case) case-insensitively in `hay` from `from`.
fn find_ci(hay: &str, from: usize, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (from..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Decode one entity at `s` (which starts after `&`): (text, bytes consumed).
fn decode_entity(s: &str) -> Option<(String, usize)> {
    let end = s.bytes().take(40).position(|b| b == b';')?;
    let body = &s[..end];
    let text = if let Some(num) = body.strip_prefix('#') {
        let cp = if let Some(hex) = num.strip_prefix(['x', 'X']) {
            u32::from_str_radix(hex, 16).ok()?
        } else {
            num.parse::<u32>().ok()?
        };
        char::from_u32(cp).unwrap_or('\u{fffd}').to_string()
    } else {
        entity(body)?.to_string()
    };
    Some((text, end + 1))
}

/// Visible text and title of an HTML document.
pub fn visible_text(
    html: &str,
    ctx: &mut Ctx,
) -> Result<(String, Option<String>), crate::extract::ExtractError> {
    let mut out = String::with_capacity(html.len() / 2);
    let mut title: Option<String> = None;
    let b = html.as_bytes();
    let mut i = 0;
    let mut in_title = false;
    while i < b.len() {
        match b[i] {
            b'<' => {
                ctx.tick(1)?;
                let rest = &html[i..];
                if rest.starts_with("<!--") {
                    i = html[i + 4..].find("-->").map_or(b.len(), |p| i + 4 + p + 3);
                    continue;
                }
                // Tag name.
                let name_start = i + 1 + usize::from(b.get(i + 1) == Some(&b'/'));
                let name_len = b[name_start.min(b.len())..]
                    .iter()
                    .position(|c| !c.is_ascii_alphanumeric())
                    .unwrap_or(b.len() - name_start.min(b.len()));
                let closing = b.get(i + 1) == Some(&b'/');
                let starts_tag = name_len > 0 || matches!(b.get(i + 1), Some(b'!' | b'?'));
                if !starts_tag {
                    push_text(&mut out, &mut title, in_title, "<");
                    i += 1;
                    continue;
                }
                let name = html[name_start..name_start + name_len].to_ascii_lowercase();
                // End of the tag, skipping quoted attribute values.
                let mut j = name_start + name_len;
                let mut quote = 0u8;
                while j < b.len() {
                    let c = b[j];
                    if quote != 0 {
                        if c == quote {
                            quote = 0;
                        }
                    } else if c == b'"' || c == b'\'' {
                        quote = c;
                    } else if c == b'>' {
                        break;
                    }
                    j += 1;
                }
                i = (j + 1).min(b.len());
                if !closing && (name == "script" || name == "style" || name == "template") {
                    let close = format!("</{name}");
                    i = find_ci(html, i, &close)
                        .and_then(|p| html[p..].find('>').map(|q| p + q + 1))
                        .unwrap_or(b.len());
                    continue;
                }
                if name == "title" {
                    in_title = !closing;
                    if !closing {
                        title.get_or_insert_with(String::new);
                    }
                    continue;
                }
                if BLOCK.contains(&name.as_str()) && !in_title {
                    out.push('\n');
                }
            }
            b'&' => {
                if let Some((t, n)) = decode_entity(&html[i + 1..]) {
                    push_text(&mut out, &mut title, in_title, &t);
                    i += 1 + n;
                } else {
                    push_text(&mut out, &mut title, in_title, "&");
                    i += 1;
                }
            }
            _ => {
                let next = html[i..].find(['<', '&']).map_or(b.len(), |p| i + p);
                push_text(&mut out, &mut title, in_title, &html[i..next]);
                i = next;
            }
        }
    }
    Ok((out, title))
}

fn push_text(out: &mut String, title: &mut Option<String>, in_title: bool, s: &str) {
    match (in_title, title) {
        (true, Some(t)) => t.push_str(s),
        _ => out.push_str(s),
    }
}

/// The HTML extractor.
pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    let html = decode(data);
    let (text, title) = visible_text(&html, ctx)?;
    let mut properties = Vec::new();
    if let Some(t) = title
        && !t.trim().is_empty()
    {
        properties.push(("title".to_string(), t));
    }
    Ok(Document {
        format: "html",
        text,
        properties,
        ..Document::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Limits;

    fn text(html: &str) -> String {
        let mut ctx = Ctx::new(Limits::default());
        visible_text(html, &mut ctx).unwrap().0
    }

    #[test]
    fn tags_scripts_and_entities() {
        let h = "<html><head><title>标题</title><style>p{x:1}</style><script>var a='玄鸟柒号';</script></head>\
                 <body><p>机密&starf;5年</p><!-- 玄鸟柒号 --><div>玄<b>鸟</b>&#26578;&#x53F7; &amp; a&lt;b</div></body></html>";
        let t = text(h);
        assert!(t.contains("机密★5年"), "{t}");
        assert!(t.contains("玄鸟柒号 & a<b"), "{t}");
        assert!(!t.contains("var a"), "{t}");
        assert_eq!(t.matches("玄鸟").count(), 1, "{t}");
        assert!(!t.contains("标题"));
    }

    #[test]
    fn charset_declarations() {
        let body = "<html><head><meta charset=\"gb2312\"></head><body>玄鸟柒号</body></html>";
        let (gbk, _, _) = encoding_rs::GBK.encode(body);
        assert!(decode(&gbk).contains("玄鸟柒号"));
        let body = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=big5\"></head><body>機密</body></html>";
        let (big5, _, _) = encoding_rs::BIG5.encode(body);
        assert!(decode(&big5).contains("機密"));
    }

    #[test]
    fn hostile_markup_does_not_hang_or_panic() {
        for h in [
            "<",
            "<<<<",
            "<a href='>",
            "&#99999999;",
            "&#x;",
            "<script>",
            "<!--",
            "<title>",
            "&",
        ] {
            let _ = text(h);
        }
    }
}
