//! OFD (GB/T 33190-2016, the Chinese fixed-layout format) text.
//!
//! `OFD.xml` → each `DocBody/DocRoot` → `Document.xml` → `Pages/Page/@BaseLoc`
//! in order, each page plus the `TemplatePage`s it references. Converters
//! write one `TextObject`/`TextCode` per character in no particular order, so
//! text is rebuilt from geometry: every TextCode gets its absolute position
//! (`Boundary` origin + `CTM` + `X`/`Y`), glyphs are grouped into lines by
//! their baseline, each line is read left to right and joined without
//! separators. `DocInfo/CustomDatas/CustomData[@Name]` (e.g. 密级) and
//! title/subject/keywords go to the properties. Paths resolve relative to
//! the referencing file and may not climb out of the package. Head: page 1.

use super::ooxml::common::{Package, TextBuf, attr, next, resolve, text_of, xml_reader};
use super::{Child, Ctx, Document, ExtractError, ExtractResult, FailedChild};
use quick_xml::events::Event;
use std::collections::HashMap;

type Properties = Vec<(String, String)>;
/// Template page ID -> content location.
type Templates = HashMap<String, String>;

/// Pages read per document; more is a limit, not silence.
const MAX_PAGES: usize = 100_000;

pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    let mut pkg = Package::open(data, ctx)?;
    let ofd_name = pkg
        .find("OFD.xml")
        .map(str::to_owned)
        .ok_or_else(|| ExtractError::Corrupt("OFD package without OFD.xml".into()))?;
    let ofd_xml = pkg.read_required(&ofd_name, ctx)?;
    let (roots, properties) = entry(&ofd_xml, &ofd_name, ctx)?;
    if roots.is_empty() {
        return Err(ExtractError::Corrupt("OFD.xml names no DocRoot".into()));
    }
    let mut tb = TextBuf::new(ctx.limits.max_text_chars);
    let mut head: Option<String> = None;
    let mut children = Vec::new();
    let mut failed = Vec::new();
    for root in roots {
        let root = resolve("", &root)
            .ok_or_else(|| ExtractError::Corrupt(format!("DocRoot {root} outside the package")))?;
        let doc_xml = pkg.read_required(&root, ctx)?;
        let (pages, templates, attachments) = document(&doc_xml, &root, ctx)?;
        drop(doc_xml);
        if let Some(list) = attachments {
            attach(&mut pkg, &list, ctx, &mut children, &mut failed)?;
        }
        let mut tpl_cache: HashMap<String, Vec<Glyph>> = HashMap::new();
        for page_loc in pages {
            let xml = pkg.read_required(&page_loc, ctx)?;
            let page = page_glyphs(&xml, &page_loc, ctx)?;
            drop(xml);
            let mut glyphs = Vec::new();
            for id in &page.templates {
                let Some(loc) = templates.get(id) else {
                    continue;
                };
                if !tpl_cache.contains_key(id) {
                    let xml = pkg.read_required(loc, ctx)?;
                    let tpl = page_glyphs(&xml, loc, ctx)?;
                    tpl_cache.insert(id.clone(), tpl.glyphs);
                }
                if let Some(g) = tpl_cache.get(id) {
                    ctx.tick(g.len() as u64)?;
                    glyphs.extend(g.iter().cloned());
                }
            }
            glyphs.extend(page.glyphs);
            let before = tb.len();
            lines(glyphs, &mut tb);
            tb.newline();
            if head.is_none() {
                head = Some(tb.text[before..].to_owned());
            }
            if tb.truncated {
                break;
            }
        }
        if tb.truncated {
            break;
        }
    }
    // Text outside the pages' own objects: annotations (stamps, notes,
    // watermarks: `Annotations.xml` and the per-page files it lists) and
    // resources (`CompositeGraphicUnit`s that pages place with
    // `CompositeObject`, in PublicRes/DocumentRes). Never head lines.
    if !tb.truncated {
        extra_text(&mut pkg, ctx, &mut tb)?;
    }
    // Built field by field (not a full literal) so fields added to
    // Document later keep their defaults here.
    let mut doc = Document {
        format: "ofd",
        ..Document::default()
    };
    doc.head = head;
    doc.truncated = tb.truncated;
    doc.text = tb.text;
    doc.properties = properties;
    doc.children = children;
    doc.failed_children = failed;
    Ok(doc)
}

/// `TextCode` text of annotation and resource parts, one text object per
/// line.
fn extra_text(pkg: &mut Package<'_>, ctx: &mut Ctx, tb: &mut TextBuf) -> Result<(), ExtractError> {
    let parts: Vec<String> = pkg
        .names()
        .iter()
        .filter(|n| {
            let l = n.to_ascii_lowercase();
            l.ends_with(".xml")
                && (l.contains("annot") || l.ends_with("res.xml") || l.contains("/res/"))
        })
        .cloned()
        .collect();
    for part in parts {
        let Some(xml) = pkg.read(&part, ctx)? else {
            continue;
        };
        let mut r = xml_reader(&xml);
        let mut in_code = false;
        loop {
            match next(&mut r, &part, ctx)? {
                Event::Start(e) if e.local_name().as_ref() == b"TextCode" => in_code = true,
                Event::End(e) => match e.local_name().as_ref() {
                    b"TextCode" => in_code = false,
                    b"TextObject" => tb.newline(),
                    _ => {}
                },
                Event::Text(t) if in_code => tb.push_str(&text_of(&t)),
                Event::Eof => break,
                _ => {}
            }
            if tb.truncated {
                return Ok(());
            }
        }
        tb.newline();
    }
    Ok(())
}

/// `Attachments.xml`: files carried inside the OFD (`Attachment/FileLoc`),
/// handed out as children named after the attachment.
fn attach(
    pkg: &mut Package<'_>,
    list: &str,
    ctx: &mut Ctx,
    children: &mut Vec<Child>,
    failed: &mut Vec<FailedChild>,
) -> Result<(), ExtractError> {
    let Some(xml) = pkg.read(list, ctx)? else {
        return Ok(());
    };
    let mut r = xml_reader(&xml);
    let mut name: Option<String> = None;
    let mut in_loc = false;
    let mut locs: Vec<(String, String)> = Vec::new();
    loop {
        match next(&mut r, list, ctx)? {
            Event::Start(e) if e.local_name().as_ref() == b"Attachment" => {
                name = attr(&e, b"Name").or_else(|| attr(&e, b"ID"));
            }
            Event::Start(e) if e.local_name().as_ref() == b"FileLoc" => in_loc = true,
            Event::End(e) if e.local_name().as_ref() == b"FileLoc" => in_loc = false,
            Event::Text(t) if in_loc => {
                let l = text_of(&t).trim().to_owned();
                if let Some(p) = resolve(list, &l) {
                    let n = name.clone().unwrap_or_else(|| l.clone());
                    locs.push((n, p));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    drop(xml);
    for (n, p) in locs {
        let n = n.replace(['/', '\\'], "_");
        match pkg.read(&p, ctx) {
            Ok(Some(data)) => children.push(Child { name: n, data }),
            Ok(None) => failed.push(FailedChild {
                name: n,
                error: ExtractError::Corrupt(format!("attachment {p} missing")),
            }),
            Err(ExtractError::Timeout) => return Err(ExtractError::Timeout),
            Err(error) => failed.push(FailedChild { name: n, error }),
        }
    }
    Ok(())
}

/// OFD.xml: the DocRoot of every DocBody, and DocInfo's properties.
fn entry(xml: &[u8], part: &str, ctx: &mut Ctx) -> Result<(Vec<String>, Properties), ExtractError> {
    let mut roots = Vec::new();
    let mut props = Vec::new();
    let mut r = xml_reader(xml);
    let mut cur: Option<String> = None;
    let mut val = String::new();
    loop {
        match next(&mut r, part, ctx)? {
            Event::Start(e) => {
                cur = match e.local_name().as_ref() {
                    b"DocRoot" => Some("\0root".into()),
                    b"CustomData" => attr(&e, b"Name"),
                    b"Title" => Some("title".into()),
                    b"Subject" => Some("subject".into()),
                    b"Keyword" => Some("keywords".into()),
                    _ => None,
                };
                val.clear();
            }
            Event::Text(t) if cur.is_some() && val.len() < 1 << 16 => val.push_str(&text_of(&t)),
            Event::End(_) => {
                if let Some(k) = cur.take() {
                    let v = val.trim().to_owned();
                    if k == "\0root" {
                        if !v.is_empty() {
                            roots.push(v);
                        }
                    } else if !v.is_empty() || !matches!(k.as_str(), "title" | "subject") {
                        props.push((k, v));
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok((roots, props))
}

/// Document.xml: page content locations in order and template pages by ID,
/// and the attachment list, all resolved to package paths.
fn document(
    xml: &[u8],
    part: &str,
    ctx: &mut Ctx,
) -> Result<(Vec<String>, Templates, Option<String>), ExtractError> {
    let mut pages = Vec::new();
    let mut templates = HashMap::new();
    let mut attachments = None;
    let mut in_attachments = false;
    let mut r = xml_reader(xml);
    let mut in_pages = false;
    let loc = |l: String| {
        resolve(part, &l).ok_or_else(|| {
            ExtractError::Corrupt(format!("{part}: location {l} outside the package"))
        })
    };
    loop {
        match next(&mut r, part, ctx)? {
            Event::Start(e) if e.local_name().as_ref() == b"Attachments" => in_attachments = true,
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"Pages" => in_pages = true,
                b"Page" if in_pages => {
                    if let Some(l) = attr(&e, b"BaseLoc") {
                        if pages.len() >= MAX_PAGES {
                            return Err(ExtractError::Limit(format!(
                                "more than {MAX_PAGES} pages"
                            )));
                        }
                        pages.push(loc(l)?);
                    }
                }
                b"TemplatePage" => {
                    if let (Some(id), Some(l)) = (attr(&e, b"ID"), attr(&e, b"BaseLoc")) {
                        templates.insert(id, loc(l)?);
                    }
                }
                _ => {}
            },
            Event::End(e) if e.local_name().as_ref() == b"Pages" => in_pages = false,
            Event::End(e) if e.local_name().as_ref() == b"Attachments" => in_attachments = false,
            Event::Text(t) if in_attachments => {
                let l = text_of(&t).trim().to_owned();
                if !l.is_empty() {
                    attachments = Some(loc(l)?);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok((pages, templates, attachments))
}

#[derive(Clone, Debug)]
struct Glyph {
    x: f64,
    y: f64,
    size: f64,
    text: String,
}

struct PageGlyphs {
    templates: Vec<String>,
    glyphs: Vec<Glyph>,
}

fn nums(s: &str) -> Vec<f64> {
    s.split_ascii_whitespace()
        .filter_map(|t| t.parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .take(8)
        .collect()
}

/// A page (or template) content: template references and positioned text.
fn page_glyphs(xml: &[u8], part: &str, ctx: &mut Ctx) -> Result<PageGlyphs, ExtractError> {
    let mut out = PageGlyphs {
        templates: Vec::new(),
        glyphs: Vec::new(),
    };
    let mut r = xml_reader(xml);
    // Current TextObject: origin, size, CTM (a b c d e f).
    let mut obj: Option<(f64, f64, f64, [f64; 6])> = None;
    let mut code: Option<(f64, f64)> = None;
    let mut last = (0.0f64, 0.0f64);
    let mut text = String::new();
    loop {
        match next(&mut r, part, ctx)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"Template" => {
                if let Some(id) = attr(&e, b"TemplateID") {
                    out.templates.push(id);
                }
            }
            Event::Start(e) if e.local_name().as_ref() == b"TextObject" => {
                let b = attr(&e, b"Boundary").map(|s| nums(&s)).unwrap_or_default();
                let size = attr(&e, b"Size")
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .filter(|v| v.is_finite() && *v > 0.0)
                    .unwrap_or(3.5);
                let m = attr(&e, b"CTM").map(|s| nums(&s)).unwrap_or_default();
                let ctm = if m.len() == 6 {
                    [m[0], m[1], m[2], m[3], m[4], m[5]]
                } else {
                    [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
                };
                // Glyph size after the CTM's vertical scale.
                let scale = (ctm[2] * ctm[2] + ctm[3] * ctm[3]).sqrt();
                let size = if scale > 0.0 { size * scale } else { size };
                obj = Some((
                    b.first().copied().unwrap_or(0.0),
                    b.get(1).copied().unwrap_or(0.0),
                    size,
                    ctm,
                ));
                last = (0.0, 0.0);
            }
            Event::End(e) if e.local_name().as_ref() == b"TextObject" => obj = None,
            Event::Start(e) if e.local_name().as_ref() == b"TextCode" => {
                let x = attr(&e, b"X").and_then(|s| s.trim().parse::<f64>().ok());
                let y = attr(&e, b"Y").and_then(|s| s.trim().parse::<f64>().ok());
                // A TextCode without X/Y continues where the previous one was.
                let p = (x.unwrap_or(last.0), y.unwrap_or(last.1));
                last = p;
                code = Some(p);
                text.clear();
            }
            Event::Text(t) if code.is_some() && text.len() < 1 << 20 => text.push_str(&text_of(&t)),
            Event::CData(t) if code.is_some() && text.len() < 1 << 20 => {
                text.push_str(&String::from_utf8_lossy(t.as_ref()))
            }
            Event::End(e) if e.local_name().as_ref() == b"TextCode" => {
                if let Some((cx, cy)) = code.take() {
                    let (ox, oy, size, m) =
                        obj.unwrap_or((0.0, 0.0, 3.5, [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]));
                    let tx = m[0] * cx + m[2] * cy + m[4];
                    let ty = m[1] * cx + m[3] * cy + m[5];
                    let t = text.trim_matches(['\r', '\n']);
                    if !t.is_empty() {
                        out.glyphs.push(Glyph {
                            x: sane(ox + tx),
                            y: sane(oy + ty),
                            size,
                            text: t.to_owned(),
                        });
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

fn sane(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

/// Group glyphs into lines by baseline (top to bottom), each line left to
/// right, joined without separators.
fn lines(mut glyphs: Vec<Glyph>, tb: &mut TextBuf) {
    glyphs.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
    let mut line: Vec<Glyph> = Vec::new();
    let mut base = f64::NAN;
    let flush = |line: &mut Vec<Glyph>, tb: &mut TextBuf| {
        line.sort_by(|a, b| a.x.total_cmp(&b.x));
        for g in line.drain(..) {
            tb.push_str(&g.text);
        }
        tb.newline();
    };
    for g in glyphs {
        // Same line while the baseline moves less than 40% of the glyph size
        // (superscripts and mixed sizes stay on their line).
        let tol = (g.size * 0.4).max(0.3);
        if !line.is_empty() && (g.y - base).abs() > tol {
            flush(&mut line, tb);
        }
        if line.is_empty() {
            base = g.y;
        }
        line.push(g);
    }
    if !line.is_empty() {
        flush(&mut line, tb);
    }
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
    fn one_char_per_textcode_rebuilt_into_lines() {
        let d = run("ofd/marked.ofd").unwrap();
        assert_eq!(d.format, "ofd");
        let head = d.head.clone().unwrap();
        // template line (y=15) above the marking (y=30), title (y=60) after
        assert_eq!(
            first_lines(&head, 4),
            [
                "示例单位文件",
                "机密★5年",
                "关于玄鸟柒号的通知",
                "各单位：现将有关事项通知如下。"
            ]
        );
        assert!(!head.contains("XN-07A型"));
        assert!(d.text.contains("\n型号XN-07A型试验安排。\n"), "{}", d.text);
        assert!(d.properties.contains(&("文种".into(), "通知".into())));
        assert!(d.properties.contains(&("title".into(), "通知".into())));
    }

    #[test]
    fn custom_data_property() {
        let d = run("ofd/customdata.ofd").unwrap();
        assert!(
            d.properties.contains(&("密级".into(), "绝密".into())),
            "{:?}",
            d.properties
        );
        let d = run("ofd/unmarked.ofd").unwrap();
        assert_eq!(
            first_lines(&d.text, 2),
            ["技术交流纪要", "会议讨论了示例工程。"]
        );
        assert_eq!(d.children.len(), 1);
        assert_eq!(d.children[0].name, "附件1.docx");
        assert!(d.children[0].data.starts_with(b"PK\x03\x04"));
    }

    #[test]
    fn escaping_page_location_is_corrupt() {
        let e = run("ofd/bad_pageloc.ofd").unwrap_err();
        assert!(matches!(e, ExtractError::Corrupt(_)), "{e:?}");
    }

    #[test]
    fn ctm_and_continued_textcodes() {
        let page = br#"<ofd:Page xmlns:ofd="http://www.ofdspec.org/2016"><ofd:Content><ofd:Layer>
            <ofd:TextObject Boundary="10 50 100 10" Size="1" CTM="5 0 0 5 0 0"><ofd:TextCode X="1" Y="1">B</ofd:TextCode></ofd:TextObject>
            <ofd:TextObject Boundary="10 50 100 10" Size="5"><ofd:TextCode X="0" Y="5">A</ofd:TextCode><ofd:TextCode>C</ofd:TextCode></ofd:TextObject>
            <ofd:TextObject Boundary="10 20 100 10" Size="5"><ofd:TextCode X="0" Y="5">top</ofd:TextCode></ofd:TextObject>
            </ofd:Layer></ofd:Content></ofd:Page>"#;
        let mut ctx = Ctx::new(Limits::default());
        let p = page_glyphs(page, "p.xml", &mut ctx).unwrap();
        let mut tb = TextBuf::new(1000);
        lines(p.glyphs, &mut tb);
        assert_eq!(tb.text, "top\nACB\n");
    }

    /// Issue 15: annotations and composite graphic units hold text too.
    #[test]
    fn annotations_and_composite_units_are_text() {
        use std::io::Write;
        let src = fixture("ofd/unmarked.ofd");
        let mut zin = zip::ZipArchive::new(std::io::Cursor::new(&src[..])).unwrap();
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for i in 0..zin.len() {
            w.raw_copy_file(zin.by_index_raw(i).unwrap()).unwrap();
        }
        let o = zip::write::SimpleFileOptions::default();
        w.start_file("Doc_0/Annots/Page_0/Annotation.xml", o)
            .unwrap();
        w.write_all(
            "<ofd:PageAnnot xmlns:ofd=\"http://www.ofdspec.org/2016\"><ofd:Annot Type=\"Stamp\"><ofd:Appearance Boundary=\"0 0 50 20\"><ofd:TextObject ID=\"90\" Boundary=\"0 0 50 20\" Font=\"1\" Size=\"5\"><ofd:TextCode X=\"0\" Y=\"5\">玄鸟柒号</ofd:TextCode></ofd:TextObject></ofd:Appearance></ofd:Annot></ofd:PageAnnot>"
                .as_bytes(),
        )
        .unwrap();
        w.start_file("Doc_0/DocumentRes.xml", o).unwrap();
        w.write_all(
            "<ofd:Res xmlns:ofd=\"http://www.ofdspec.org/2016\"><ofd:CompositeGraphicUnits><ofd:CompositeGraphicUnit ID=\"91\" Width=\"50\" Height=\"20\"><ofd:Content><ofd:TextObject ID=\"92\" Boundary=\"0 0 50 20\" Font=\"1\" Size=\"5\"><ofd:TextCode X=\"0\" Y=\"5\">示例工程资源单元</ofd:TextCode></ofd:TextObject></ofd:Content></ofd:CompositeGraphicUnit></ofd:CompositeGraphicUnits></ofd:Res>"
                .as_bytes(),
        )
        .unwrap();
        let data = w.finish().unwrap().into_inner();
        let d = extract(&data, &mut Ctx::new(Limits::default())).unwrap();
        assert!(d.text.contains("玄鸟柒号"), "{}", d.text);
        assert!(d.text.contains("示例工程"), "{}", d.text);
        assert!(d.text.contains("示例工程资源单元"));
        assert!(!d.head.unwrap().contains("资源单元"));
    }
}
