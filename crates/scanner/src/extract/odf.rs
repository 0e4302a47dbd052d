//! OpenDocument (ISO/IEC 26300, ODF 1.2/1.3) text: .odt/.ods/.odp and
//! their templates, as written by LibreOffice, WPS and Yozo Office.
//!
//! Reads `content.xml` (paragraphs, headings, spans, lists, tables, frames,
//! notes), the header/footer regions of the master pages in `styles.xml`,
//! `meta.xml` (user-defined properties such as 密级, title/subject/keywords)
//! and embedded sub-documents (`Object N/content.xml`). Head (GB/T 9704):
//! the first master page's header, then the text up to the first page break
//! (`text:soft-page-break` or a paragraph style breaking the page); for
//! presentations the first slide. A manifest with `manifest:encryption-data`
//! means the members are ciphertext: `Encrypted`.

use super::ooxml::common::{Package, TextBuf, attr, next, text_of, xml_reader};
use super::{Child, Ctx, Document, ExtractError, ExtractResult, FailedChild};
use quick_xml::events::Event;
use std::collections::HashSet;

const HEAD_CHARS: usize = 4000;

pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    let mut pkg = Package::open(data, ctx)?;
    let mime = match pkg.read("mimetype", ctx)? {
        Some(m) if m.len() < 256 => String::from_utf8_lossy(&m).trim().to_owned(),
        _ => String::new(),
    };
    let format = format_of(&mime);
    if let Some(manifest) = pkg.read("META-INF/manifest.xml", ctx)?
        && memchr::memmem::find(&manifest, b"encryption-data").is_some()
    {
        return Err(ExtractError::Encrypted(
            "ODF package with manifest:encryption-data (password-protected)".into(),
        ));
    }
    let mut body = TextBuf::new(ctx.limits.max_text_chars);
    let (first_break, first_master) = match pkg.read("content.xml", ctx)? {
        Some(content) => content_text(&content, "content.xml", ctx, &mut body)?,
        // A styles-only package has no body: LibreOffice's own templates
        // (share/template/common/styles/Default.ott) are mimetype, manifest,
        // meta.xml and styles.xml. Its text is in styles.xml (issue 18).
        None if pkg.names().iter().any(|n| n == "styles.xml") => (None, None),
        None => return Err(ExtractError::Corrupt("missing part content.xml".into())),
    };

    // Headers and footers of the master pages; the first header found heads
    // page 1 (LibreOffice writes the page style of page 1 first).
    let mut header = TextBuf::new(ctx.limits.max_text_chars);
    let mut other = TextBuf::new(ctx.limits.max_text_chars);
    if let Some(styles) = pkg.read("styles.xml", ctx)? {
        master_pages(
            &styles,
            first_master.as_deref(),
            ctx,
            &mut header,
            &mut other,
        )?;
    }

    let mut doc = Document {
        format,
        ..Document::default()
    };
    let body_head: String = match first_break {
        Some(at) => body.text[..at].to_owned(),
        None => body.text.chars().take(HEAD_CHARS).collect(),
    };
    let mut head = header.text.clone();
    if !head.is_empty() && !head.ends_with('\n') {
        head.push('\n');
    }
    head.push_str(&body_head);
    doc.head = Some(head);

    let mut tb = TextBuf::new(ctx.limits.max_text_chars);
    tb.push_str(&header.text);
    tb.newline();
    tb.push_str(&body.text);
    tb.newline();
    tb.push_str(&other.text);
    tb.newline();
    drop(body);

    // Embedded sub-documents: `Object N/content.xml` is ODF text of its own;
    // a bare `Object N` member is a foreign (OLE) object, scanned as a child.
    let names: Vec<String> = pkg.names().to_vec();
    for n in &names {
        if tb.truncated {
            break;
        }
        if n.ends_with("/content.xml") && n.matches('/').count() == 1 && n.starts_with("Object") {
            if let Some(xml) = pkg.read(n, ctx)? {
                content_text(&xml, n, ctx, &mut tb)?;
            }
        } else if n.starts_with("Object") && !n.contains('/') {
            match pkg.read(n, ctx) {
                Ok(Some(data)) => doc.children.push(Child {
                    name: n.clone(),
                    data,
                }),
                Ok(None) => {}
                Err(ExtractError::Timeout) => return Err(ExtractError::Timeout),
                Err(error) => doc.failed_children.push(FailedChild {
                    name: n.clone(),
                    error,
                }),
            }
        }
    }

    if let Some(meta) = pkg.read("meta.xml", ctx)? {
        doc.properties = meta_properties(&meta, ctx)?;
    }
    doc.truncated = tb.truncated || header.truncated || other.truncated;
    doc.text = tb.text;
    Ok(doc)
}

fn format_of(mime: &str) -> &'static str {
    let m = mime.trim_start_matches("application/vnd.oasis.opendocument.");
    match m {
        m if m.starts_with("text") => "odt",
        m if m.starts_with("spreadsheet") => "ods",
        m if m.starts_with("presentation") => "odp",
        m if m.starts_with("graphics") => "odg",
        _ => "odt",
    }
}

/// Walk a content.xml (or an embedded object's): text inside paragraphs
/// and headings. Returns the byte offset in `tb` where the first page (odt)
/// or first slide (odp) ends, if seen, and the master page (page style)
/// the first paragraph or table asks for.
fn content_text(
    xml: &[u8],
    part: &str,
    ctx: &mut Ctx,
    tb: &mut TextBuf,
) -> Result<(Option<usize>, Option<String>), ExtractError> {
    let start_len = tb.len();
    let mut masters: std::collections::HashMap<String, String> = Default::default();
    let mut first_master: Option<Option<String>> = None;
    let mut r = xml_reader(xml);
    let mut breaks_before: HashSet<String> = HashSet::new();
    let mut breaks_after: HashSet<String> = HashSet::new();
    let mut cur_style: Option<String> = None;
    let mut in_auto_styles = false;
    let mut paras = 0usize;
    let mut para_stack: Vec<bool> = Vec::new(); // break-after pending per open paragraph
    let mut first_break: Option<usize> = None;
    let mut pages = 0usize;
    let mark = |tb: &TextBuf, at: usize, fb: &mut Option<usize>| {
        if fb.is_none() && tb.text[start_len..at].chars().any(|c| !c.is_whitespace()) {
            *fb = Some(at);
        }
    };
    loop {
        let ev = next(&mut r, part, ctx)?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_start = matches!(ev, Event::Start(_));
                let qn = e.name();
                if first_master.is_none()
                    && matches!(qn.as_ref(), b"text:p" | b"text:h" | b"table:table")
                {
                    first_master =
                        Some(attr(e, b"style-name").and_then(|s| masters.get(&s).cloned()));
                }
                match qn.as_ref() {
                    b"office:automatic-styles" if is_start => in_auto_styles = true,
                    b"style:style" if in_auto_styles => {
                        cur_style = attr(e, b"name");
                        // A paragraph that switches page style starts a page.
                        if let (Some(n), Some(mp)) = (&cur_style, attr(e, b"master-page-name"))
                            && !mp.is_empty()
                        {
                            breaks_before.insert(n.clone());
                            masters.insert(n.clone(), mp);
                        }
                    }
                    b"style:paragraph-properties" | b"style:table-properties" if in_auto_styles => {
                        if let Some(n) = &cur_style {
                            if attr(e, b"break-before").as_deref() == Some("page") {
                                breaks_before.insert(n.clone());
                            }
                            if attr(e, b"break-after").as_deref() == Some("page") {
                                breaks_after.insert(n.clone());
                            }
                        }
                    }
                    b"text:p" | b"text:h" => {
                        let style = attr(e, b"style-name");
                        if style.as_ref().is_some_and(|s| breaks_before.contains(s)) {
                            mark(tb, tb.len(), &mut first_break);
                        }
                        let after = style.as_ref().is_some_and(|s| breaks_after.contains(s));
                        if is_start {
                            paras += 1;
                            para_stack.push(after);
                        } else {
                            tb.newline();
                            if after {
                                mark(tb, tb.len(), &mut first_break);
                            }
                        }
                    }
                    b"table:table"
                        if attr(e, b"style-name").is_some_and(|s| breaks_before.contains(&s)) =>
                    {
                        mark(tb, tb.len(), &mut first_break);
                    }
                    b"text:s" if paras > 0 => {
                        let n = attr(e, b"c")
                            .and_then(|c| c.parse::<usize>().ok())
                            .unwrap_or(1)
                            .min(64);
                        for _ in 0..n {
                            tb.push(' ');
                        }
                    }
                    b"text:tab" if paras > 0 => tb.push('\t'),
                    b"text:line-break" if paras > 0 => tb.push('\n'),
                    b"text:soft-page-break" => mark(tb, tb.len(), &mut first_break),
                    b"presentation:notes" if pages == 0 && is_start => {
                        // slide 1 ends before its speaker notes
                        mark(tb, tb.len(), &mut first_break);
                    }
                    _ => {}
                }
            }
            Event::End(ref e) => match e.name().as_ref() {
                b"office:automatic-styles" => in_auto_styles = false,
                b"style:style" => cur_style = None,
                b"text:p" | b"text:h" => {
                    paras = paras.saturating_sub(1);
                    tb.newline();
                    if para_stack.pop().unwrap_or(false) {
                        mark(tb, tb.len(), &mut first_break);
                    }
                }
                b"table:table-cell" | b"table:covered-table-cell" | b"table:table-row" => {
                    tb.newline()
                }
                b"draw:page" => {
                    pages += 1;
                    tb.newline();
                    mark(tb, tb.len(), &mut first_break);
                }
                _ => {}
            },
            Event::Text(ref t) if paras > 0 => tb.push_str(&text_of(t)),
            Event::CData(ref t) if paras > 0 => tb.push_str(&String::from_utf8_lossy(t.as_ref())),
            Event::Eof => break,
            _ => {}
        }
        if tb.truncated {
            break;
        }
    }
    tb.newline();
    Ok((first_break, first_master.flatten()))
}

/// Header and footer text of the master pages in styles.xml. The header
/// printed on page 1 goes to `header`: that of the master page the first
/// paragraph asks for (else `Standard`, else the first one), its first-page
/// variant (`style:header-first`, `loext:header-first`) when it has one. All
/// other regions go to `other`.
fn master_pages(
    xml: &[u8],
    first_master: Option<&str>,
    ctx: &mut Ctx,
    header: &mut TextBuf,
    other: &mut TextBuf,
) -> Result<(), ExtractError> {
    // Collect each region's text separately, then choose.
    let mut regions: Vec<(String, String, String)> = Vec::new(); // (master page, region, text)
    let mut r = xml_reader(xml);
    let mut in_master = false;
    let mut master = String::new();
    let mut region: Option<(String, TextBuf)> = None;
    let mut region_depth = 0usize;
    let mut paras = 0usize;
    loop {
        let ev = next(&mut r, "styles.xml", ctx)?;
        match ev {
            Event::Start(ref e) => {
                let qn = e.name();
                let local = e.local_name();
                match qn.as_ref() {
                    b"office:master-styles" => in_master = true,
                    b"style:master-page" if region.is_none() => {
                        master = attr(e, b"name").unwrap_or_default();
                    }
                    _ if region.is_some() => {
                        region_depth += 1;
                        if matches!(qn.as_ref(), b"text:p" | b"text:h") {
                            paras += 1;
                        }
                    }
                    _ if in_master
                        && (local.as_ref().starts_with(b"header")
                            || local.as_ref().starts_with(b"footer")) =>
                    {
                        let name = String::from_utf8_lossy(local.as_ref()).into_owned();
                        region = Some((name, TextBuf::new(ctx.limits.max_text_chars)));
                        region_depth = 0;
                    }
                    _ => {}
                }
            }
            Event::Empty(ref e) => {
                if let Some((_, tb)) = region.as_mut() {
                    match e.name().as_ref() {
                        b"text:s" if paras > 0 => tb.push(' '),
                        b"text:tab" if paras > 0 => tb.push('\t'),
                        b"text:line-break" if paras > 0 => tb.push('\n'),
                        _ => {}
                    }
                }
            }
            Event::End(ref e) => {
                let qn = e.name();
                if let Some((_, tb)) = region.as_mut() {
                    if region_depth == 0 {
                        if let Some((name, tb)) = region.take() {
                            regions.push((master.clone(), name, tb.text));
                        }
                        paras = 0;
                        continue;
                    }
                    region_depth -= 1;
                    if matches!(qn.as_ref(), b"text:p" | b"text:h") {
                        paras = paras.saturating_sub(1);
                        tb.newline();
                    }
                    continue;
                }
                if qn.as_ref() == b"office:master-styles" {
                    in_master = false;
                }
            }
            Event::Text(ref t) if paras > 0 => {
                if let Some((_, tb)) = region.as_mut() {
                    tb.push_str(&text_of(t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let nonempty = |t: &str| t.chars().any(|c| !c.is_whitespace());
    let has = |m: &str| regions.iter().any(|r| r.0 == m);
    let page1 = match first_master {
        Some(m) if has(m) => m.to_owned(),
        _ if has("Standard") => "Standard".to_owned(),
        _ => regions.first().map(|r| r.0.clone()).unwrap_or_default(),
    };
    let first = regions
        .iter()
        .position(|(m, n, t)| *m == page1 && n == "header-first" && nonempty(t))
        .or_else(|| {
            regions
                .iter()
                .position(|(m, n, t)| *m == page1 && n == "header" && nonempty(t))
        });
    for (i, (_, _, t)) in regions.iter().enumerate() {
        if Some(i) == first {
            header.push_str(t);
            header.newline();
        } else if nonempty(t) {
            other.push_str(t);
            other.newline();
        }
    }
    Ok(())
}

/// meta.xml: user-defined properties by name, plus title/subject/keywords/
/// description.
fn meta_properties(xml: &[u8], ctx: &mut Ctx) -> Result<Vec<(String, String)>, ExtractError> {
    let mut props = Vec::new();
    let mut r = xml_reader(xml);
    let mut cur: Option<String> = None;
    let mut val = String::new();
    loop {
        match next(&mut r, "meta.xml", ctx)? {
            Event::Start(e) => {
                cur = match e.name().as_ref() {
                    b"meta:user-defined" => attr(&e, b"name"),
                    b"dc:title" => Some("title".into()),
                    b"dc:subject" => Some("subject".into()),
                    b"meta:keyword" => Some("keywords".into()),
                    b"dc:description" => Some("description".into()),
                    _ => None,
                };
                val.clear();
            }
            Event::Text(t) if cur.is_some() && val.len() < 1 << 16 => val.push_str(&text_of(&t)),
            Event::End(_) => {
                if let Some(k) = cur.take() {
                    let v = val.trim();
                    if !v.is_empty() || !matches!(k.as_str(), "title" | "subject" | "keywords") {
                        props.push((k, v.to_owned()));
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(props)
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
    fn odt_header_first_page_and_runs() {
        let d = run("odt/marked_header.odt").unwrap();
        assert_eq!(d.format, "odt");
        let head = d.head.clone().unwrap();
        assert_eq!(first_lines(&head, 2), ["机密★5年", "关于项目进展的报告"]);
        assert!(!head.contains("第二页正文"), "{head}");
        assert!(
            d.text.contains("本报告介绍玄鸟柒号的研制进展。"),
            "{}",
            d.text
        );
        assert!(d.text.contains("\nXN-07A型\n"), "{}", d.text);
        assert!(d.text.contains("第二页正文"));
        assert!(d.text.contains("第1页"), "footer");
        assert!(d.text.contains("与示例工程协调"), "annotation: {}", d.text);
    }

    #[test]
    fn odt_first_page_master() {
        let d = run("odt/first_page_header.odt").unwrap();
        let head = d.head.clone().unwrap();
        assert_eq!(
            first_lines(&head, 2),
            ["绝密★长期", "关于示例工程的报告"],
            "{head}"
        );
        assert!(!head.contains("内部资料"), "{head}");
        assert!(d.text.contains("内部资料 注意保存"));
    }

    #[test]
    fn odt_user_defined_metadata() {
        let d = run("odt/custom_prop.odt").unwrap();
        assert!(
            d.properties.contains(&("密级".into(), "秘密".into())),
            "{:?}",
            d.properties
        );
    }

    #[test]
    fn ods_and_odp() {
        let d = run("ods/marked.ods").unwrap();
        assert_eq!(d.format, "ods");
        assert_eq!(
            first_lines(d.head.as_deref().unwrap(), 3),
            ["秘密★1年", "项目", "玄鸟柒号"]
        );
        assert!(d.text.contains("XN-07A型"), "{}", d.text);
        let d = run("odp/marked.odp").unwrap();
        assert_eq!(d.format, "odp");
        let head = d.head.clone().unwrap();
        assert_eq!(first_lines(&head, 2), ["绝密★长期", "项目汇报"]);
        assert!(!head.contains("进展"), "{head}");
        assert!(d.text.contains("口述：玄鸟柒号节点"), "notes: {}", d.text);
    }

    /// Issue 18: LibreOffice's styles template `Default.ott` (copied from
    /// Debian's libreoffice-common 7.4, MPL-2.0) has no content.xml and was
    /// reported `corrupt: missing part content.xml`.
    #[test]
    fn styles_only_template_is_scanned() {
        let d = run("odt/libreoffice_styles_template.ott").unwrap();
        assert_eq!(d.format, "odt");
        assert!(d.head.is_some());
        // A styles.xml-only template with a classified header is still seen.
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default();
        use std::io::Write;
        w.start_file("mimetype", o).unwrap();
        w.write_all(b"application/vnd.oasis.opendocument.text-template")
            .unwrap();
        w.start_file("styles.xml", o).unwrap();
        w.write_all(
            concat!(
                r#"<office:document-styles xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" "#,
                r#"xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" "#,
                r#"xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0">"#,
                r#"<office:master-styles><style:master-page style:name="Standard"><style:header>"#,
                r#"<text:p>机密★5年</text:p></style:header></style:master-page></office:master-styles>"#,
                r#"</office:document-styles>"#
            )
            .as_bytes(),
        )
        .unwrap();
        let data = w.finish().unwrap().into_inner();
        let d = extract(&data, &mut Ctx::new(Limits::default())).unwrap();
        assert_eq!(first_lines(d.head.as_deref().unwrap(), 1), ["机密★5年"]);
        // Neither content.xml nor styles.xml: still corrupt, never clean.
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("mimetype", o).unwrap();
        w.write_all(b"application/vnd.oasis.opendocument.text")
            .unwrap();
        let data = w.finish().unwrap().into_inner();
        let e = extract(&data, &mut Ctx::new(Limits::default())).unwrap_err();
        assert!(matches!(e, ExtractError::Corrupt(_)), "{e:?}");
    }

    #[test]
    fn encrypted_odt() {
        let e = run("odt/encrypted.odt").unwrap_err();
        assert!(matches!(e, ExtractError::Encrypted(_)), "{e:?}");
    }
}
