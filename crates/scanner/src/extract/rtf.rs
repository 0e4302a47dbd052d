//! RTF 1.9 text, Chinese-aware.
//!
//! Hand-written because no maintained crate gets Chinese RTF right: Word and
//! WPS write `\ansicpg936` (or fonts with `\fcharset134`) and GBK text as
//! `\'xx` byte pairs that must be gathered and decoded together, mixed with
//! `\uN` (signed 16-bit, negative means +65536) followed by `\ucN` fallback
//! characters that must be skipped, and a trail byte may even arrive as an
//! escaped `\\`, `\{` or `\}`. The tokenizer is a flat loop over an explicit
//! group stack (bounded depth, no recursion); destinations that are not text
//! (`\*`, font/colour/style tables, pictures, object data, field
//! instructions) are skipped; `\info` keeps title/subject/keywords as
//! properties. Head (GB/T 9704): header text first, then the body up to the
//! first `\page`/`\sect`.

use super::{Ctx, Document, ExtractError, ExtractResult};
use encoding_rs::Encoding;

/// Deepest group nesting accepted; Word rarely exceeds 30.
const MAX_DEPTH: usize = 512;
const HEAD_CHARS: usize = 4000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dest {
    Body,
    Header,
    /// `\headerf`: the first page's header when `\titlepg` is set.
    HeaderFirst,
    Footer,
    /// Parsed for font charsets, no text.
    FontTable,
    Title,
    Subject,
    Keywords,
    /// `{\*\userprops ...}`: custom document properties (e.g. 密级).
    UserProps,
    PropName,
    PropValue,
    Skip,
}

#[derive(Clone, Copy, Debug)]
struct Group {
    dest: Dest,
    /// Fallback characters after `\uN`.
    uc: u32,
    /// Code page for `\'xx` bytes in this group (from `\fN` or the document).
    enc: &'static Encoding,
    /// The next control word names an ignorable destination (`\*`).
    star: bool,
}

struct State {
    out_body: String,
    out_header: String,
    out_header_first: String,
    header_first_done: bool,
    title_pg: bool,
    out_footer: String,
    title: String,
    subject: String,
    keywords: String,
    prop_name: String,
    prop_value: String,
    user_props: Vec<(String, String)>,
    pending: Vec<u8>,
    pending_enc: &'static Encoding,
    pending_dest: Dest,
    doc_enc: &'static Encoding,
    fonts: Vec<(i32, &'static Encoding)>,
    font_no: Option<i32>,
    first_page_end: Option<usize>,
    header_done: bool,
    chars: usize,
    max_chars: usize,
    truncated: bool,
}

impl State {
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.pending);
        let (s, _, _) = self.pending_enc.decode(&bytes);
        let s = s.into_owned();
        self.emit(self.pending_dest, &s);
    }

    fn emit(&mut self, dest: Dest, s: &str) {
        if self.truncated {
            return;
        }
        let n = s.chars().count();
        let s = if self.chars + n > self.max_chars {
            self.truncated = true;
            s.chars()
                .take(self.max_chars - self.chars)
                .collect::<String>()
        } else {
            s.to_owned()
        };
        self.chars += s.chars().count();
        let buf = match dest {
            Dest::Body => &mut self.out_body,
            Dest::Header => {
                if self.header_done {
                    &mut self.out_footer
                } else {
                    &mut self.out_header
                }
            }
            Dest::HeaderFirst => {
                if self.header_first_done {
                    &mut self.out_footer
                } else {
                    &mut self.out_header_first
                }
            }
            Dest::Footer => &mut self.out_footer,
            Dest::Title => &mut self.title,
            Dest::Subject => &mut self.subject,
            Dest::Keywords => &mut self.keywords,
            Dest::PropName => &mut self.prop_name,
            Dest::PropValue => &mut self.prop_value,
            Dest::FontTable | Dest::UserProps | Dest::Skip => return,
        };
        buf.push_str(&s);
    }

    fn byte(&mut self, g: &Group, b: u8) {
        if matches!(g.dest, Dest::Skip | Dest::FontTable | Dest::UserProps) {
            return;
        }
        if !self.pending.is_empty() && (self.pending_enc != g.enc || self.pending_dest != g.dest) {
            self.flush();
        }
        self.pending_enc = g.enc;
        self.pending_dest = g.dest;
        self.pending.push(b);
    }

    fn text(&mut self, g: &Group, s: &str) {
        if matches!(g.dest, Dest::Skip | Dest::FontTable | Dest::UserProps) {
            return;
        }
        self.flush();
        self.emit(g.dest, s);
    }
}

/// encoding_rs for a Windows code page number (`\ansicpgN`).
fn codepage(cp: i32) -> Option<&'static Encoding> {
    use encoding_rs::*;
    Some(match cp {
        936 => GBK,
        54936 => GB18030,
        950 => BIG5,
        932 => SHIFT_JIS,
        949 => EUC_KR,
        874 => WINDOWS_874,
        1250 => WINDOWS_1250,
        1251 => WINDOWS_1251,
        1252 => WINDOWS_1252,
        1253 => WINDOWS_1253,
        1254 => WINDOWS_1254,
        1255 => WINDOWS_1255,
        1256 => WINDOWS_1256,
        1257 => WINDOWS_1257,
        1258 => WINDOWS_1258,
        10000 => MACINTOSH,
        65001 => UTF_8,
        _ => return None,
    })
}

/// encoding_rs for a font charset (`\fcharsetN`); `None` means "the
/// document's code page" (ANSI/default/symbol).
fn charset(cs: i32) -> Option<&'static Encoding> {
    use encoding_rs::*;
    Some(match cs {
        134 => GBK,
        136 => BIG5,
        128 => SHIFT_JIS,
        129 => EUC_KR,
        238 => WINDOWS_1250,
        204 => WINDOWS_1251,
        161 => WINDOWS_1253,
        162 => WINDOWS_1254,
        177 => WINDOWS_1255,
        178 => WINDOWS_1256,
        186 => WINDOWS_1257,
        163 => WINDOWS_1258,
        222 => WINDOWS_874,
        77 => MACINTOSH,
        _ => return None,
    })
}

/// Destinations whose content is not document text.
fn skipped_destination(word: &[u8]) -> bool {
    matches!(
        word,
        b"colortbl"
            | b"stylesheet"
            | b"info"
            | b"pict"
            | b"objdata"
            | b"fldinst"
            | b"listtable"
            | b"listoverridetable"
            | b"revtbl"
            | b"rsidtbl"
            | b"generator"
            | b"themedata"
            | b"colorschememapping"
            | b"datastore"
            | b"latentstyles"
            | b"xmlnstbl"
            | b"filetbl"
            | b"pn"
            | b"pntext"
            | b"listtext"
            | b"bkmkstart"
            | b"bkmkend"
            | b"nonshppict"
            | b"template"
            | b"author"
            | b"operator"
            | b"company"
            | b"manager"
            | b"category"
            | b"doccomm"
            | b"hlinkbase"
            | b"creatim"
            | b"revtim"
            | b"printim"
            | b"buptim"
    )
}

pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len());
    if !data[start..].starts_with(b"{\\rtf") {
        return Err(ExtractError::Corrupt("not an RTF document".into()));
    }
    let win1252 = encoding_rs::WINDOWS_1252;
    let mut st = State {
        out_body: String::new(),
        out_header: String::new(),
        out_header_first: String::new(),
        header_first_done: false,
        title_pg: false,
        out_footer: String::new(),
        title: String::new(),
        subject: String::new(),
        keywords: String::new(),
        prop_name: String::new(),
        prop_value: String::new(),
        user_props: Vec::new(),
        pending: Vec::new(),
        pending_enc: win1252,
        pending_dest: Dest::Body,
        doc_enc: win1252,
        fonts: Vec::new(),
        font_no: None,
        first_page_end: None,
        header_done: false,
        chars: 0,
        max_chars: ctx.limits.max_text_chars,
        truncated: false,
    };
    let mut stack: Vec<Group> = Vec::new();
    let mut g = Group {
        dest: Dest::Body,
        uc: 1,
        enc: win1252,
        star: false,
    };
    // Fallback units still to skip after a \uN.
    let mut skip_units: u32 = 0;
    let mut high_surrogate: Option<u32> = None;
    let mut i = start;
    let n = data.len();
    let mut ended = false;
    while i < n {
        let c = data[i];
        match c {
            b'{' => {
                // Groups and control words are the "elements" of RTF; plain
                // text bytes are bounded by the file size.
                ctx.tick(1)?;
                st.flush();
                if stack.len() >= MAX_DEPTH {
                    return Err(ExtractError::Limit(format!(
                        "RTF groups nested deeper than {MAX_DEPTH}"
                    )));
                }
                stack.push(g);
                g.star = false;
                skip_units = 0;
                i += 1;
            }
            b'}' => {
                st.flush();
                if g.dest == Dest::Header && stack.last().is_some_and(|p| p.dest != Dest::Header) {
                    st.header_done = st.header_done || !st.out_header.trim().is_empty();
                }
                if g.dest == Dest::HeaderFirst
                    && stack.last().is_some_and(|p| p.dest != Dest::HeaderFirst)
                {
                    st.header_first_done =
                        st.header_first_done || !st.out_header_first.trim().is_empty();
                }
                if g.dest == Dest::PropValue
                    && stack.last().is_some_and(|p| p.dest != Dest::PropValue)
                    && st.user_props.len() < 1024
                {
                    let name = std::mem::take(&mut st.prop_name).trim().to_owned();
                    let value = std::mem::take(&mut st.prop_value).trim().to_owned();
                    if !name.is_empty() {
                        st.user_props.push((name, value));
                    }
                }
                match stack.pop() {
                    Some(prev) => g = prev,
                    None => {
                        ended = true;
                        break;
                    }
                }
                skip_units = 0;
                i += 1;
                if stack.is_empty() {
                    ended = true;
                    break;
                }
            }
            b'\\' => {
                ctx.tick(1)?;
                i += 1;
                if i >= n {
                    break;
                }
                let c2 = data[i];
                if c2.is_ascii_alphabetic() {
                    let ws = i;
                    while i < n && data[i].is_ascii_alphabetic() && i - ws < 32 {
                        i += 1;
                    }
                    let word = &data[ws..i];
                    let mut param: Option<i32> = None;
                    let ps = i;
                    if i < n && (data[i] == b'-' || data[i].is_ascii_digit()) {
                        i += 1;
                        while i < n && data[i].is_ascii_digit() && i - ps < 11 {
                            i += 1;
                        }
                        param = std::str::from_utf8(&data[ps..i])
                            .ok()
                            .and_then(|s| s.parse::<i64>().ok())
                            .map(|v| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
                    }
                    if i < n && data[i] == b' ' {
                        i += 1;
                    }
                    if skip_units > 0 && word != b"bin" {
                        skip_units -= 1;
                        continue;
                    }
                    if word != b"u" {
                        high_surrogate = None;
                    }
                    control_word(
                        word,
                        param,
                        &mut g,
                        &mut st,
                        &mut skip_units,
                        &mut high_surrogate,
                        &mut i,
                        n,
                    );
                } else if c2 == b'\'' {
                    let hex = data.get(i + 1..i + 3);
                    i += 3;
                    if skip_units > 0 {
                        skip_units -= 1;
                        continue;
                    }
                    if let Some(b) =
                        hex.and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
                    {
                        st.byte(&g, b);
                    }
                } else {
                    i += 1;
                    if skip_units > 0 {
                        skip_units -= 1;
                        continue;
                    }
                    match c2 {
                        b'*' => g.star = true,
                        // Literal bytes in the current code page (may be a
                        // GBK trail byte).
                        b'\\' | b'{' | b'}' => st.byte(&g, c2),
                        b'~' => st.text(&g, "\u{a0}"),
                        b'_' => st.text(&g, "-"),
                        b'\n' | b'\r' => st.text(&g, "\n"),
                        _ => {}
                    }
                }
            }
            b'\r' | b'\n' => i += 1,
            _ => {
                i += 1;
                if skip_units > 0 {
                    skip_units -= 1;
                    continue;
                }
                if g.star {
                    // `{\* ...}` without a control word: ignorable all the same.
                    g.dest = Dest::Skip;
                }
                if g.dest == Dest::FontTable {
                    continue;
                }
                st.byte(&g, c);
            }
        }
        if st.truncated {
            break;
        }
    }
    st.flush();
    if !ended && !st.truncated {
        return Err(ExtractError::Truncated(format!(
            "RTF ends inside {} open group(s)",
            stack.len() + 1
        )));
    }

    let mut doc = Document {
        format: "rtf",
        ..Document::default()
    };
    let body_head: String = match st.first_page_end {
        Some(at) => st.out_body[..at].to_owned(),
        None => st.out_body.chars().take(HEAD_CHARS).collect(),
    };
    // The header printed on page 1: the first-page header when the
    // document has a distinct title page, else the default one.
    let (page1, other) = if st.title_pg && !st.out_header_first.trim().is_empty() {
        (st.out_header_first, st.out_header)
    } else {
        (st.out_header, st.out_header_first)
    };
    let mut head = page1.clone();
    if !head.is_empty() && !head.ends_with('\n') {
        head.push('\n');
    }
    head.push_str(&body_head);
    doc.head = Some(head);
    let mut text = page1;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&st.out_body);
    for extra in [other, st.out_footer] {
        if !extra.is_empty() {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&extra);
        }
    }
    doc.text = text;
    for (k, v) in [
        ("title", st.title),
        ("subject", st.subject),
        ("keywords", st.keywords),
    ] {
        if !v.trim().is_empty() {
            doc.properties.push((k.to_owned(), v.trim().to_owned()));
        }
    }
    doc.properties.extend(st.user_props);
    doc.truncated = st.truncated;
    Ok(doc)
}

#[allow(clippy::too_many_arguments)]
fn control_word(
    word: &[u8],
    param: Option<i32>,
    g: &mut Group,
    st: &mut State,
    skip_units: &mut u32,
    high_surrogate: &mut Option<u32>,
    i: &mut usize,
    n: usize,
) {
    // A destination word right after `{` (or `{\*`) decides the group.
    if g.star {
        g.star = false;
        if word == b"userprops" {
            st.flush();
            g.dest = Dest::UserProps;
            return;
        }
        if !matches!(word, b"header" | b"footer") {
            st.flush();
            g.dest = Dest::Skip;
            return;
        }
    }
    if g.dest == Dest::FontTable {
        match word {
            b"f" => st.font_no = param,
            b"fcharset" => {
                if let (Some(f), Some(enc)) = (st.font_no, param.and_then(charset)) {
                    st.fonts.push((f, enc));
                }
            }
            _ => {}
        }
        return;
    }
    match word {
        b"ansicpg" => {
            if let Some(enc) = param.and_then(codepage) {
                st.doc_enc = enc;
                g.enc = enc;
            }
        }
        b"mac" => {
            st.doc_enc = encoding_rs::MACINTOSH;
            g.enc = st.doc_enc;
        }
        b"fonttbl" => {
            st.flush();
            g.dest = Dest::FontTable;
        }
        b"f" if g.dest != Dest::Skip => {
            let f = param.unwrap_or(0);
            g.enc = st
                .fonts
                .iter()
                .rev()
                .find(|(n, _)| *n == f)
                .map(|(_, e)| *e)
                .unwrap_or(st.doc_enc);
        }
        b"plain" => g.enc = st.doc_enc,
        b"titlepg" => st.title_pg = true,
        b"headerf" => {
            st.flush();
            if g.dest != Dest::Skip {
                g.dest = Dest::HeaderFirst;
            }
        }
        b"header" | b"headerl" | b"headerr" => {
            st.flush();
            if g.dest != Dest::Skip {
                g.dest = Dest::Header;
            }
        }
        b"footer" | b"footerl" | b"footerr" | b"footerf" => {
            st.flush();
            if g.dest != Dest::Skip {
                g.dest = Dest::Footer;
            }
        }
        b"propname" if g.dest == Dest::UserProps => {
            st.flush();
            st.prop_name.clear();
            g.dest = Dest::PropName;
        }
        b"staticval" if g.dest == Dest::UserProps => {
            st.flush();
            st.prop_value.clear();
            g.dest = Dest::PropValue;
        }
        b"pagebb" => {
            // The paragraph starts a new page: page 1 ends before it.
            st.flush();
            if g.dest == Dest::Body && st.first_page_end.is_none() && !st.out_body.trim().is_empty()
            {
                st.first_page_end = Some(st.out_body.len());
            }
        }
        b"title" if g.dest == Dest::Skip => {
            st.flush();
            g.dest = Dest::Title;
        }
        b"subject" if g.dest == Dest::Skip => {
            st.flush();
            g.dest = Dest::Subject;
        }
        b"keywords" if g.dest == Dest::Skip => {
            st.flush();
            g.dest = Dest::Keywords;
        }
        w if skipped_destination(w) => {
            st.flush();
            g.dest = Dest::Skip;
        }
        b"bin" => {
            let len = param.unwrap_or(0).max(0) as usize;
            *i = i.saturating_add(len).min(n);
        }
        b"uc" => g.uc = param.unwrap_or(1).clamp(0, 16) as u32,
        b"u" => {
            let v = param.unwrap_or(0);
            let u = if v < 0 { v + 65536 } else { v } as u32;
            let mut emit = None;
            if (0xD800..0xDC00).contains(&u) {
                *high_surrogate = Some(u);
            } else if (0xDC00..0xE000).contains(&u) {
                if let Some(h) = high_surrogate.take() {
                    emit = char::from_u32(0x10000 + ((h - 0xD800) << 10) + (u - 0xDC00));
                }
            } else {
                *high_surrogate = None;
                emit = char::from_u32(u);
            }
            if let Some(c) = emit {
                let mut b = [0u8; 4];
                st.text(g, c.encode_utf8(&mut b));
            }
            *skip_units = g.uc;
        }
        b"par" | b"line" | b"row" | b"cell" | b"nestcell" | b"lbr" => st.text(g, "\n"),
        b"sect" | b"page" => {
            st.text(g, "\n");
            if g.dest == Dest::Body && st.first_page_end.is_none() && !st.out_body.trim().is_empty()
            {
                st.first_page_end = Some(st.out_body.len());
            }
        }
        b"tab" => st.text(g, "\t"),
        b"emdash" => st.text(g, "—"),
        b"endash" => st.text(g, "–"),
        b"lquote" => st.text(g, "‘"),
        b"rquote" => st.text(g, "’"),
        b"ldblquote" => st.text(g, "“"),
        b"rdblquote" => st.text(g, "”"),
        b"bullet" => st.text(g, "•"),
        b"emspace" | b"enspace" | b"qmspace" => st.text(g, " "),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Limits;
    use crate::extract::test_support::{first_lines, fixture};

    fn run_bytes(b: &[u8]) -> ExtractResult {
        extract(b, &mut Ctx::new(Limits::default()))
    }

    fn run(rel: &str) -> ExtractResult {
        run_bytes(&fixture(rel))
    }

    #[test]
    fn gbk_pairs_unicode_fallback_and_header() {
        let d = run("rtf/gbk_escapes.rtf").unwrap();
        assert_eq!(d.format, "rtf");
        assert_eq!(
            first_lines(d.head.as_deref().unwrap(), 2),
            ["秘密★1年", "关于玄鸟柒号"]
        );
        assert!(d.text.contains("关于玄鸟柒号\n"), "{:?}", d.text);
        // \uc2\u22411 skips both GBK fallback bytes; \uc1\u22411? skips one
        assert!(d.text.contains("\n型 XN-07A型\n"), "{:?}", d.text);
        assert!(!d.text.contains("宋体"), "font table leaked: {:?}", d.text);
        assert!(!d.text.contains("Msftedit"), "\\* destination leaked");
        assert!(!d.text.contains("89504e47"), "picture data leaked");
        assert_eq!(
            d.properties,
            vec![("title".to_owned(), "工作报告".to_owned())]
        );
    }

    #[test]
    fn libreoffice_rtf() {
        let d = run("rtf/marked_header.rtf").unwrap();
        let head = d.head.clone().unwrap();
        assert_eq!(first_lines(&head, 1), ["机密★5年"], "{head}");
        assert!(
            d.text.contains("本报告介绍玄鸟柒号的研制进展。"),
            "{}",
            d.text
        );
        assert!(d.text.contains("XN-07A型"));
        assert!(d.text.contains("第二页正文"));
        assert!(!head.contains("第二页正文"), "{head}");
    }

    #[test]
    fn title_page_header() {
        let d = run("rtf/first_page_header.rtf").unwrap();
        let head = d.head.clone().unwrap();
        assert_eq!(
            first_lines(&head, 2),
            ["绝密★长期", "关于示例工程的报告"],
            "{head}"
        );
        assert!(d.text.contains("内部资料 注意保存"));
    }

    #[test]
    fn libreoffice_userprops() {
        let d = run("rtf/custom_prop.rtf").unwrap();
        assert!(
            d.properties.contains(&("密级".into(), "秘密".into())),
            "{:?}",
            d.properties
        );
        assert!(d.properties.contains(&("保密期限".into(), "1年".into())));
    }

    #[test]
    fn big5_and_escaped_trail_byte() {
        // 許 is 0xB3 0x5C in Big5: the trail byte is a backslash, written `\\`.
        let d = run_bytes(b"{\\rtf1\\ansi\\ansicpg950 \\'b3\\\\\\'a5\\'69\\par}").unwrap();
        assert_eq!(d.text, "許可\n");
    }

    #[test]
    fn hostile_input() {
        let deep = format!("{{\\rtf1 {}x", "{".repeat(100_000));
        assert!(matches!(
            run_bytes(deep.as_bytes()),
            Err(ExtractError::Limit(_))
        ));
        assert!(matches!(
            run_bytes(b"{\\rtf1 abc"),
            Err(ExtractError::Truncated(_))
        ));
        assert!(matches!(run_bytes(b"hello"), Err(ExtractError::Corrupt(_))));
        let _ = run_bytes(b"{\\rtf1 \\bin999999999999 }");
        let _ = run_bytes(b"{\\rtf1 \\u-99999999999999\\'");
        let d = run_bytes(b"{\\rtf1 \\u-10179?\\u-8704?}").unwrap();
        assert_eq!(d.text, "\u{1F600}");
    }
}
