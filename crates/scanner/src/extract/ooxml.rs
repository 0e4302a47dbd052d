//! OOXML (ECMA-376 / ISO/IEC 29500) text: .docx/.xlsx/.pptx and their
//! macro-enabled siblings.
//!
//! Parts are found through the OPC relationships, as Office itself does, and
//! only the XML parts that carry text are inflated (body, headers/footers,
//! foot/endnotes, comments, shared strings, sheets, slides, notes, document
//! properties); media is never decompressed. The head for marking detection
//! (GB/T 9704: first page, header first) is the first page's header plus the
//! body up to the first page or section break. Encrypted OOXML is not a zip
//! but an OLE container; [`is_encrypted_ooxml`] names it for the OLE family.

#[path = "office_common.rs"]
pub(crate) mod common;

use super::{Child, Ctx, Document, ExtractError, ExtractResult, FailedChild};
use common::{Package, TextBuf, attr, next, part_rels, text_of, xml_error, xml_reader};
use quick_xml::events::Event;

/// Characters of body text kept in the head when no page break is found.
const HEAD_CHARS: usize = 4000;

/// True when the stream names of an OLE compound file are those of an
/// ECMA-376 encrypted package (`EncryptionInfo` + `EncryptedPackage`): a
/// password-protected .docx/.xlsx/.pptx, to be reported `unscannable`
/// (encrypted) by whoever opens OLE files.
pub fn is_encrypted_ooxml<S: AsRef<str>>(stream_names: &[S]) -> bool {
    let has = |want: &str| {
        stream_names.iter().any(|n| {
            n.as_ref()
                .trim_start_matches('/')
                .eq_ignore_ascii_case(want)
        })
    };
    has("EncryptionInfo") && has("EncryptedPackage")
}

/// Look into an OLE compound file's root storage for an encrypted OOXML
/// package. `Some(Encrypted)` when it is one; `None` otherwise (including when
/// the container cannot be read: that is the OLE extractor's call).
pub fn encrypted_ooxml_in_cfb(data: &[u8]) -> Option<ExtractError> {
    let names = std::panic::catch_unwind(|| {
        let cf = cfb::CompoundFile::open(std::io::Cursor::new(data)).ok()?;
        let names: Vec<String> = cf
            .read_root_storage()
            .take(1024)
            .map(|e| e.name().to_owned())
            .collect();
        Some(names)
    })
    .ok()
    .flatten()?;
    if is_encrypted_ooxml(&names) {
        Some(ExtractError::Encrypted(
            "password-protected OOXML (EncryptedPackage)".into(),
        ))
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Sheet,
    Slides,
    /// Another OPC package (Visio, XPS, a custom one): generic XML text.
    Other,
}

pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    if data.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Err(encrypted_ooxml_in_cfb(data)
            .unwrap_or_else(|| ExtractError::Unsupported("OLE container, not OOXML".into())));
    }
    let mut pkg = Package::open(data, ctx)?;
    let main = main_part(&mut pkg, ctx)?;
    let main_xml = match &main {
        Some(m) => pkg.read_required(m, ctx)?,
        None => Vec::new(),
    };
    let kind = match &main {
        Some(m) => root_kind(&main_xml, m)?,
        None => Kind::Other,
    };
    let main = main.unwrap_or_default();
    let macro_enabled = main.to_ascii_lowercase().contains("macro")
        || content_type_has_macro(&mut pkg, ctx).unwrap_or(false);
    let mut doc = Document::default();
    let mut tb = TextBuf::new(ctx.limits.max_text_chars);
    match kind {
        Kind::Word => {
            doc.format = if macro_enabled { "docm" } else { "docx" };
            doc.head = Some(word(&mut pkg, &main, &main_xml, ctx, &mut tb)?);
        }
        Kind::Sheet => {
            doc.format = if macro_enabled { "xlsm" } else { "xlsx" };
            doc.head = sheets(&mut pkg, &main, &main_xml, ctx, &mut tb)?;
        }
        Kind::Slides => {
            doc.format = if macro_enabled { "pptm" } else { "pptx" };
            doc.head = Some(slides(&mut pkg, &main, &main_xml, ctx, &mut tb)?);
        }
        Kind::Other => {
            doc.format = "ooxml";
            generic(&mut pkg, ctx, &mut tb)?;
        }
    }
    drop(main_xml);
    if kind != Kind::Other {
        extra_parts(&mut pkg, ctx, &mut tb, kind == Kind::Slides)?;
    }
    doc.properties = properties(&mut pkg, ctx)?;
    embeddings(&mut pkg, ctx, &mut doc)?;
    doc.truncated = tb.truncated;
    doc.text = tb.text;
    Ok(doc)
}

/// The main document part: the `officeDocument` relationship of the
/// package (`None`: an OPC package of another kind).
fn main_part(pkg: &mut Package<'_>, ctx: &mut Ctx) -> Result<Option<String>, ExtractError> {
    // The package relationships (`_rels/.rels`).
    for (_, ty, target) in part_rels(pkg, "", ctx)? {
        if ty.ends_with("/officeDocument") && pkg.has(&target) {
            return Ok(Some(target));
        }
    }
    for p in [
        "word/document.xml",
        "xl/workbook.xml",
        "ppt/presentation.xml",
    ] {
        if pkg.has(p) {
            return Ok(Some(p.to_owned()));
        }
    }
    Ok(None)
}

/// Any other OPC package (Visio drawings, XPS, custom formats): the text
/// nodes of every XML part and the `UnicodeString` of XPS glyphs, one
/// element's text per line. Relationship and content-type parts are skipped.
fn generic(pkg: &mut Package<'_>, ctx: &mut Ctx, tb: &mut TextBuf) -> Result<(), ExtractError> {
    let parts: Vec<String> = pkg
        .names()
        .iter()
        .filter(|n| {
            let l = n.to_ascii_lowercase();
            (l.ends_with(".xml") || l.ends_with(".fpage"))
                && !l.ends_with(".rels")
                && l != "[content_types].xml"
                && !l.starts_with("docprops/")
        })
        .cloned()
        .collect();
    for part in parts {
        let Some(xml) = pkg.read(&part, ctx)? else {
            continue;
        };
        let mut r = xml_reader(&xml);
        loop {
            match next(&mut r, &part, ctx)? {
                Event::Start(e) | Event::Empty(e) => {
                    if let Some(u) = attr(&e, b"UnicodeString") {
                        tb.push_str(&u);
                        tb.newline();
                    }
                }
                Event::Text(t) => {
                    let t = text_of(&t);
                    if !t.trim().is_empty() {
                        tb.push_str(&t);
                    }
                }
                Event::End(_) => tb.newline(),
                Event::Eof => break,
                _ => {}
            }
            if tb.truncated {
                return Ok(());
            }
        }
    }
    Ok(())
}

fn root_kind(xml: &[u8], part: &str) -> Result<Kind, ExtractError> {
    let mut r = xml_reader(xml);
    loop {
        match r.read_event().map_err(|e| xml_error(part, e))? {
            Event::Start(e) | Event::Empty(e) => {
                return match e.local_name().as_ref() {
                    b"document" => Ok(Kind::Word),
                    b"workbook" => Ok(Kind::Sheet),
                    b"presentation" => Ok(Kind::Slides),
                    _ => Ok(Kind::Other),
                };
            }
            Event::Eof => return Err(ExtractError::Corrupt(format!("{part}: empty"))),
            _ => {}
        }
    }
}

fn content_type_has_macro(pkg: &mut Package<'_>, ctx: &mut Ctx) -> Result<bool, ExtractError> {
    let Some(ct) = pkg.read("[Content_Types].xml", ctx)? else {
        return Ok(false);
    };
    Ok(memchr::memmem::find(&ct, b"macroEnabled.main+xml").is_some())
}

/// The relationship id of an element: the prefixed `id` attribute (`r:id`),
/// not a bare `id`.
fn rel_id(e: &quick_xml::events::BytesStart<'_>) -> Option<String> {
    for a in e.attributes().with_checks(false).flatten() {
        if a.key.local_name().as_ref() == b"id" && a.key.prefix().is_some() {
            return Some(String::from_utf8_lossy(&a.value).into_owned());
        }
    }
    None
}

// ------------------------------------------------------------------ word --

/// What a WordprocessingML walk learns besides the text.
#[derive(Default)]
struct WordInfo {
    /// Byte offset in the text where the first page ends (page/section break).
    first_break: Option<usize>,
    /// Header references of the first section: (type, relationship id).
    header_refs: Vec<(String, String)>,
    /// The first section has a distinct first-page header.
    title_pg: bool,
    /// Text of tracked deletions (`w:del`, `w:moveFrom`): keyword text, but
    /// not what a reader of the final document sees, so never head lines.
    deleted: String,
}

/// Walk one WordprocessingML part (body, header, notes, comments), appending
/// its text to `tb`. Runs join without separators, paragraphs end in `\n`.
fn word_part(
    xml: &[u8],
    part: &str,
    ctx: &mut Ctx,
    tb: &mut TextBuf,
) -> Result<WordInfo, ExtractError> {
    let mut info = WordInfo::default();
    let mut r = xml_reader(xml);
    let start_len = tb.len();
    let mut depth = 0usize;
    let mut skip_at: Option<usize> = None;
    let mut in_text = false;
    let mut runs = 0usize;
    let mut p_start = tb.len();
    let mut sect = 0usize; // >0 inside a sectPr
    let mut sect_seen = false;
    let mut collecting = false;
    let mut p_has_sect = false;
    let mut del_at: Option<usize> = None;
    // Only a break after some visible text ends the first page.
    let mark = |tb: &TextBuf, at: usize, info: &mut WordInfo| {
        if info.first_break.is_none() && tb.text[start_len..at].chars().any(|c| !c.is_whitespace())
        {
            info.first_break = Some(at);
        }
    };
    loop {
        let ev = next(&mut r, part, ctx)?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_start = matches!(ev, Event::Start(_));
                if is_start {
                    depth += 1;
                }
                if skip_at.is_some() {
                    continue;
                }
                let name = e.local_name();
                match name.as_ref() {
                    // Alternate renderings of the same text box; the Choice is kept.
                    b"Fallback" | b"instrText" | b"delInstrText" if is_start => {
                        skip_at = Some(depth - 1);
                    }
                    b"p" if is_start => {
                        p_start = tb.len();
                        p_has_sect = false;
                    }
                    b"del" | b"moveFrom" if is_start && del_at.is_none() => {
                        del_at = Some(depth - 1);
                    }
                    b"r" if is_start => runs += 1,
                    b"t" | b"delText" if is_start => in_text = true,
                    b"tab" if runs > 0 => tb.push('\t'),
                    b"br" | b"cr" if runs > 0 => {
                        if attr(e, b"type").as_deref() == Some("page") {
                            mark(tb, tb.len(), &mut info);
                        }
                        tb.push('\n');
                    }
                    b"noBreakHyphen" if runs > 0 => tb.push('-'),
                    b"lastRenderedPageBreak" => mark(tb, tb.len(), &mut info),
                    b"pageBreakBefore"
                        if !matches!(attr(e, b"val").as_deref(), Some("0" | "false" | "off")) =>
                    {
                        mark(tb, p_start, &mut info);
                    }
                    b"sectPr" => {
                        if is_start {
                            sect += 1;
                            if !sect_seen {
                                collecting = true;
                            }
                        }
                        p_has_sect = true;
                        sect_seen = true;
                    }
                    b"headerReference" if collecting => {
                        if let (Some(t), Some(id)) = (attr(e, b"type"), attr(e, b"id")) {
                            info.header_refs.push((t, id));
                        }
                    }
                    b"titlePg" if collecting => {
                        info.title_pg =
                            !matches!(attr(e, b"val").as_deref(), Some("0" | "false" | "off"));
                    }
                    _ => {}
                }
            }
            Event::End(ref e) => {
                depth = depth.saturating_sub(1);
                if let Some(at) = skip_at {
                    if depth == at {
                        skip_at = None;
                    }
                    continue;
                }
                if del_at == Some(depth) {
                    del_at = None;
                    info.deleted.push('\n');
                }
                match e.local_name().as_ref() {
                    b"t" | b"delText" => in_text = false,
                    b"r" => runs = runs.saturating_sub(1),
                    b"p" => {
                        tb.newline();
                        if p_has_sect {
                            mark(tb, tb.len(), &mut info);
                            p_has_sect = false;
                        }
                    }
                    b"tc" | b"tr" => tb.newline(),
                    b"sectPr" => {
                        sect = sect.saturating_sub(1);
                        if sect == 0 {
                            collecting = false;
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(ref t)
                if in_text
                    && skip_at.is_none()
                    && del_at.is_some()
                    && info.deleted.len() < ctx.limits.max_text_chars =>
            {
                info.deleted.push_str(&text_of(t));
            }
            // Deleted text beyond the cap is dropped, never made visible.
            Event::Text(_) if del_at.is_some() => {}
            Event::Text(ref t) if in_text && skip_at.is_none() => tb.push_str(&text_of(t)),
            Event::CData(ref t) if in_text && skip_at.is_none() => {
                tb.push_str(&String::from_utf8_lossy(t.as_ref()))
            }
            Event::Eof => break,
            _ => {}
        }
        if tb.truncated {
            break;
        }
    }
    tb.newline();
    Ok(info)
}

/// A .docx: header of the first page, body, the other headers and footers,
/// foot/endnotes, comments. Returns the head.
fn word(
    pkg: &mut Package<'_>,
    main: &str,
    main_xml: &[u8],
    ctx: &mut Ctx,
    tb: &mut TextBuf,
) -> Result<String, ExtractError> {
    let rels = part_rels(pkg, main, ctx)?;
    let mut body = TextBuf::new(ctx.limits.max_text_chars);
    let info = word_part(main_xml, main, ctx, &mut body)?;

    // The header printed on page 1: the first section's "first" header when
    // it has a distinct title page, else its "default" one.
    let pick = |want: &str| {
        info.header_refs
            .iter()
            .find(|(t, _)| t == want)
            .map(|(_, id)| id.clone())
    };
    let first_id = if info.title_pg { pick("first") } else { None }
        .or_else(|| pick("default"))
        .or_else(|| info.header_refs.first().map(|(_, id)| id.clone()));
    let first_target = first_id.and_then(|id| {
        rels.iter()
            .find(|(rid, _, _)| *rid == id)
            .map(|(_, _, t)| t.clone())
    });
    let mut header = TextBuf::new(ctx.limits.max_text_chars);
    let mut deleted = info.deleted.clone();
    if let Some(t) = &first_target
        && let Some(xml) = pkg.read(t, ctx)?
    {
        deleted.push_str(&word_part(&xml, t, ctx, &mut header)?.deleted);
    }

    let body_head: String = match info.first_break {
        Some(at) => body.text[..at].to_owned(),
        None => body.text.chars().take(HEAD_CHARS).collect(),
    };
    let mut head = header.text.clone();
    if !head.is_empty() && !head.ends_with('\n') {
        head.push('\n');
    }
    head.push_str(&body_head);

    tb.push_str(&header.text);
    tb.newline();
    tb.push_str(&body.text);
    tb.newline();
    drop(body);
    // The rest in a stable order: headers, footers, footnotes, endnotes, comments.
    for want in ["header", "footer", "footnotes", "endnotes", "comments"] {
        for (_, ty, target) in &rels {
            if ty.rsplit('/').next() != Some(want) || first_target.as_deref() == Some(target) {
                continue;
            }
            if let Some(xml) = pkg.read(target, ctx)? {
                deleted.push_str(&word_part(&xml, target, ctx, tb)?.deleted);
            }
        }
    }
    // Tracked deletions last, after every visible story.
    tb.push_str(&deleted);
    tb.newline();
    Ok(head)
}

// ----------------------------------------------------------------- sheets --

/// Strings of `<si>`/`<is>`-like containers: the `t` elements' text joined,
/// phonetic runs (`rPh`) left out.
fn shared_strings(xml: &[u8], ctx: &mut Ctx) -> Result<Vec<String>, ExtractError> {
    let mut out = Vec::new();
    let mut r = xml_reader(xml);
    let mut cur: Option<String> = None;
    let mut in_t = false;
    let mut in_rph = 0usize;
    let mut total = 0usize;
    loop {
        match next(&mut r, "xl/sharedStrings.xml", ctx)? {
            Event::Start(e) => match e.local_name().as_ref() {
                b"si" => cur = Some(String::new()),
                b"t" => in_t = true,
                b"rPh" => in_rph += 1,
                _ => {}
            },
            Event::Empty(e) if e.local_name().as_ref() == b"si" => out.push(String::new()),
            Event::End(e) => match e.local_name().as_ref() {
                b"si" => out.push(cur.take().unwrap_or_default()),
                b"t" => in_t = false,
                b"rPh" => in_rph = in_rph.saturating_sub(1),
                _ => {}
            },
            Event::Text(t) if in_t && in_rph == 0 => {
                if let Some(c) = cur.as_mut() {
                    let s = text_of(&t);
                    total += s.len();
                    if total > ctx.limits.max_text_chars.saturating_mul(4) {
                        return Err(ExtractError::Limit("shared strings too large".into()));
                    }
                    c.push_str(&s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// Printed header/footer text of a sheet without its `&` codes
/// (`&C`, `&P`, `&"宋体,加粗"`, `&12`, `&K00FF00`; `&&` is a literal `&`).
fn header_footer_text(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '&' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('&') => out.push('&'),
            Some('"') => {
                for c in it.by_ref() {
                    if c == '"' {
                        break;
                    }
                }
            }
            Some('K') => {
                for _ in 0..6 {
                    it.next();
                }
            }
            Some(d) if d.is_ascii_digit() => {
                while it.peek().is_some_and(|c| c.is_ascii_digit()) {
                    it.next();
                }
            }
            Some('L' | 'C' | 'R') => out.push('\n'),
            _ => {}
        }
    }
    out
}

/// One worksheet: each non-empty cell's value on its own line. Returns the
/// printed header (first-page header if the sheet has one, else the odd one).
fn sheet(
    xml: &[u8],
    part: &str,
    shared: &[String],
    ctx: &mut Ctx,
    tb: &mut TextBuf,
) -> Result<String, ExtractError> {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut hf: Option<String> = None;
    let mut r = xml_reader(xml);
    let mut cell_type: Option<String> = None;
    let mut in_cell = false;
    let mut in_v = false;
    let mut in_is = false;
    let mut in_t = false;
    let mut in_rph = 0usize;
    let mut value = String::new();
    loop {
        match next(&mut r, part, ctx)? {
            Event::Start(e) => match e.local_name().as_ref() {
                b"c" => {
                    in_cell = true;
                    cell_type = attr(&e, b"t");
                    value.clear();
                }
                b"v" if in_cell => in_v = true,
                b"is" if in_cell => in_is = true,
                b"t" if in_is => in_t = true,
                b"rPh" => in_rph += 1,
                n @ (b"oddHeader" | b"evenHeader" | b"firstHeader" | b"oddFooter"
                | b"evenFooter" | b"firstFooter") => {
                    hf = Some(String::from_utf8_lossy(n).into_owned());
                    value.clear();
                }
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                n @ (b"oddHeader" | b"evenHeader" | b"firstHeader" | b"oddFooter"
                | b"evenFooter" | b"firstFooter")
                    if hf.as_deref().map(str::as_bytes) == Some(n) =>
                {
                    let name = hf.take().unwrap_or_default();
                    headers.push((name, header_footer_text(&value)));
                    value.clear();
                }
                b"c" => {
                    in_cell = false;
                    let v = match cell_type.as_deref() {
                        Some("s") => value
                            .trim()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| shared.get(i))
                            .map(String::as_str)
                            .unwrap_or(""),
                        _ => value.as_str(),
                    };
                    if !v.trim().is_empty() {
                        tb.push_str(v);
                        tb.newline();
                    }
                }
                b"v" => in_v = false,
                b"is" => in_is = false,
                b"t" => in_t = false,
                b"rPh" => in_rph = in_rph.saturating_sub(1),
                _ => {}
            },
            Event::Text(t)
                if (in_v || (in_t && in_rph == 0) || hf.is_some()) && value.len() < 1 << 20 =>
            {
                value.push_str(&text_of(&t))
            }
            Event::Eof => break,
            _ => {}
        }
        if tb.truncated {
            break;
        }
    }
    let mut head = String::new();
    for (name, text) in &headers {
        if name.ends_with("Footer") {
            tb.push_str(text);
            tb.newline();
        }
    }
    let first = headers
        .iter()
        .find(|(n, t)| n == "firstHeader" && !t.trim().is_empty())
        .or_else(|| headers.iter().find(|(n, _)| n == "oddHeader"));
    for (name, text) in &headers {
        if name.ends_with("Header") {
            if first.is_some_and(|(n, _)| n == name) {
                head = text.clone();
            }
            tb.push_str(text);
            tb.newline();
        }
    }
    Ok(head)
}

/// A .xlsx: sheets in workbook order, then sheet names and cell comments.
/// Returns the head when the first sheet has a printed header (header,
/// then the sheet's cells); `None` means the text starts with the head.
fn sheets(
    pkg: &mut Package<'_>,
    main: &str,
    main_xml: &[u8],
    ctx: &mut Ctx,
    tb: &mut TextBuf,
) -> Result<Option<String>, ExtractError> {
    let mut head: Option<String> = None;
    let rels = part_rels(pkg, main, ctx)?;
    let shared = match rels
        .iter()
        .find(|(_, ty, _)| ty.ends_with("/sharedStrings"))
        .map(|(_, _, t)| t.clone())
        .or_else(|| Some("xl/sharedStrings.xml".to_owned()))
        .and_then(|t| pkg.find(&t).map(str::to_owned))
    {
        Some(t) => match pkg.read(&t, ctx)? {
            Some(xml) => shared_strings(&xml, ctx)?,
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    // Sheets in tab order: <sheet name=".." r:id=".."/>.
    let mut order = Vec::new();
    let mut r = xml_reader(main_xml);
    loop {
        match next(&mut r, main, ctx)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"sheet" => {
                order.push((attr(&e, b"name").unwrap_or_default(), rel_id(&e)));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut comments = Vec::new();
    let by_id: std::collections::HashMap<&str, &str> = rels
        .iter()
        .map(|(rid, _, t)| (rid.as_str(), t.as_str()))
        .collect();
    for (_, id) in &order {
        let Some(target) = id
            .as_deref()
            .and_then(|id| by_id.get(id))
            .map(|t| t.to_string())
        else {
            continue;
        };
        let Some(xml) = pkg.read(&target, ctx)? else {
            continue;
        };
        let before = tb.len();
        let header = sheet(&xml, &target, &shared, ctx, tb)?;
        drop(xml);
        if head.is_none() {
            // The first sheet decides the head either way.
            let mut h = header.clone();
            if !h.trim().is_empty() {
                h.push('\n');
                h.extend(tb.text[before..].chars().take(HEAD_CHARS));
                head = Some(h);
            } else {
                head = Some(String::new());
            }
        }
        for (_, ty, t) in part_rels(pkg, &target, ctx)? {
            if ty.ends_with("/comments") {
                comments.push(t);
            }
        }
    }
    for (name, _) in &order {
        tb.push_str(name);
        tb.newline();
    }
    for c in comments {
        if let Some(xml) = pkg.read(&c, ctx)? {
            drawing_text(&xml, &c, b"t", ctx, tb)?;
        }
    }
    Ok(head.filter(|h| !h.is_empty()))
}

// ----------------------------------------------------------------- slides --

/// DrawingML (and comment) text: `text_el` elements' text joined within a
/// paragraph (`a:p`/`si`/`comment`), paragraphs on their own lines.
fn drawing_text(
    xml: &[u8],
    part: &str,
    text_el: &[u8],
    ctx: &mut Ctx,
    tb: &mut TextBuf,
) -> Result<(), ExtractError> {
    let mut r = xml_reader(xml);
    let mut in_t = false;
    let mut depth = 0usize;
    let mut skip_at: Option<usize> = None;
    loop {
        let ev = next(&mut r, part, ctx)?;
        match ev {
            Event::Start(ref e) => {
                depth += 1;
                if skip_at.is_some() {
                    continue;
                }
                let name = e.local_name();
                if name.as_ref() == b"Fallback" || name.as_ref() == b"rPh" {
                    skip_at = Some(depth - 1);
                } else if name.as_ref() == text_el {
                    in_t = true;
                }
            }
            Event::Empty(ref e) if skip_at.is_none() && e.local_name().as_ref() == b"br" => {
                tb.push('\n')
            }
            Event::End(ref e) => {
                depth = depth.saturating_sub(1);
                if let Some(at) = skip_at {
                    if depth == at {
                        skip_at = None;
                    }
                    continue;
                }
                let name = e.local_name();
                if name.as_ref() == text_el {
                    in_t = false;
                }
                if matches!(name.as_ref(), b"p" | b"comment" | b"si" | b"tc") {
                    tb.newline();
                }
            }
            Event::Text(ref t) if in_t && skip_at.is_none() => tb.push_str(&text_of(t)),
            Event::Eof => break,
            _ => {}
        }
        if tb.truncated {
            break;
        }
    }
    tb.newline();
    Ok(())
}

/// A .pptx: slides in presentation order, each followed by its speaker
/// notes. Returns the head: the first slide's text.
fn slides(
    pkg: &mut Package<'_>,
    main: &str,
    main_xml: &[u8],
    ctx: &mut Ctx,
    tb: &mut TextBuf,
) -> Result<String, ExtractError> {
    let rels = part_rels(pkg, main, ctx)?;
    let mut ids = Vec::new();
    let mut r = xml_reader(main_xml);
    loop {
        match next(&mut r, main, ctx)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"sldId" => {
                // `id` is the numeric slide id, `r:id` the relationship.
                if let Some(rid) = rel_id(&e) {
                    ids.push(rid);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let slide_by_id: std::collections::HashMap<&str, &str> = rels
        .iter()
        .filter(|(_, ty, _)| ty.ends_with("/slide"))
        .map(|(rid, _, t)| (rid.as_str(), t.as_str()))
        .collect();
    let mut head = None;
    for id in ids {
        let Some(target) = slide_by_id.get(id.as_str()).map(|t| t.to_string()) else {
            continue;
        };
        let Some(xml) = pkg.read(&target, ctx)? else {
            continue;
        };
        let before = tb.len();
        drawing_text(&xml, &target, b"t", ctx, tb)?;
        if head.is_none() {
            // What the first slide shows from its layout and master (a
            // marking placed once on the master is on every slide) comes
            // first, then the slide's own text.
            let mut h = first_slide_furniture(pkg, &target, ctx)?;
            h.push_str(&tb.text[before..]);
            head = Some(h);
        }
        drop(xml);
        for (_, ty, t) in part_rels(pkg, &target, ctx)? {
            if ty.ends_with("/notesSlide")
                && let Some(xml) = pkg.read(&t, ctx)?
            {
                drawing_text(&xml, &t, b"t", ctx, tb)?;
            }
        }
        if tb.truncated {
            break;
        }
    }
    Ok(head.unwrap_or_default())
}

/// The text a slide shows from its layout and that layout's master: the
/// shapes that are not placeholders (placeholder prompts such as 单击此处编辑
/// 母版标题样式 are replaced by the slide's own text and never shown).
fn first_slide_furniture(
    pkg: &mut Package<'_>,
    slide: &str,
    ctx: &mut Ctx,
) -> Result<String, ExtractError> {
    let mut out = String::new();
    let layout = part_rels(pkg, slide, ctx)?
        .into_iter()
        .find(|(_, ty, _)| ty.ends_with("/slideLayout"))
        .map(|(_, _, t)| t);
    let Some(layout) = layout else {
        return Ok(out);
    };
    let master = part_rels(pkg, &layout, ctx)?
        .into_iter()
        .find(|(_, ty, _)| ty.ends_with("/slideMaster"))
        .map(|(_, _, t)| t);
    for part in master.iter().chain(std::iter::once(&layout)) {
        if let Some(xml) = pkg.read(part, ctx)? {
            out.push_str(&shapes_text(&xml, part, ctx)?);
        }
    }
    Ok(out)
}

/// Text of the shapes of a master or layout that are not placeholders,
/// one paragraph per line.
fn shapes_text(xml: &[u8], part: &str, ctx: &mut Ctx) -> Result<String, ExtractError> {
    let mut out = String::new();
    let mut r = xml_reader(xml);
    // Text of the shape being read, and whether it is a placeholder.
    let mut shape: Option<(String, bool)> = None;
    let mut in_t = false;
    loop {
        let ev = next(&mut r, part, ctx)?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_start = matches!(ev, Event::Start(_));
                match e.local_name().as_ref() {
                    b"sp" if is_start => shape = Some((String::new(), false)),
                    b"ph" => {
                        if let Some(s) = shape.as_mut() {
                            s.1 = true;
                        }
                    }
                    b"t" if is_start => in_t = true,
                    _ => {}
                }
            }
            Event::End(ref e) => match e.local_name().as_ref() {
                b"t" => in_t = false,
                b"p" => {
                    if let Some(s) = shape.as_mut() {
                        s.0.push('\n');
                    }
                }
                b"sp" => {
                    if let Some((text, false)) = shape.take() {
                        out.push_str(&text);
                    }
                }
                _ => {}
            },
            Event::Text(ref t) if in_t => {
                if let Some(s) = shape.as_mut()
                    && s.0.len() < 64 * 1024
                {
                    s.0.push_str(&text_of(t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// Parts that hold visible text outside the main story, found by name:
/// SmartArt data (`diagrams/data*.xml`), charts (titles, series names,
/// categories: `a:t` and cached `c:v`), threaded comments, text boxes and
/// shapes drawn on sheets (`xl/drawings/drawing*.xml`), and for slides
/// the masters and layouts (their non-placeholder shapes) and the slides'
/// comments (`ppt/comments/`: legacy `p:cm/p:text`, modern comments'
/// `a:t`).
fn extra_parts(
    pkg: &mut Package<'_>,
    ctx: &mut Ctx,
    tb: &mut TextBuf,
    slides: bool,
) -> Result<(), ExtractError> {
    let parts: Vec<String> = pkg
        .names()
        .iter()
        .filter(|n| {
            let l = n.to_ascii_lowercase();
            l.ends_with(".xml")
                && (l.contains("/diagrams/data")
                    || l.contains("/charts/chart")
                    || l.contains("/threadedcomments/")
                    || l.starts_with("xl/drawings/drawing")
                    || (slides
                        && (l.contains("/slidemasters/")
                            || l.contains("/slidelayouts/")
                            || l.starts_with("ppt/comments/"))))
        })
        .cloned()
        .collect();
    for part in parts {
        if tb.truncated {
            break;
        }
        let Some(xml) = pkg.read(&part, ctx)? else {
            continue;
        };
        let l = part.to_ascii_lowercase();
        if l.contains("/slidemasters/") || l.contains("/slidelayouts/") {
            let t = shapes_text(&xml, &part, ctx)?;
            tb.push_str(&t);
            tb.newline();
        } else if l.contains("/charts/chart") {
            drawing_text(&xml, &part, b"t", ctx, tb)?;
            drawing_text(&xml, &part, b"v", ctx, tb)?;
        } else if l.contains("/threadedcomments/") {
            drawing_text(&xml, &part, b"text", ctx, tb)?;
        } else if l.starts_with("ppt/comments/") {
            drawing_text(&xml, &part, b"text", ctx, tb)?;
            drawing_text(&xml, &part, b"t", ctx, tb)?;
        } else {
            drawing_text(&xml, &part, b"t", ctx, tb)?;
        }
    }
    Ok(())
}

// ------------------------------------------------------------- properties --

/// Core (title, subject, keywords, description, category) and custom
/// properties (name -> value, e.g. 密级 -> 机密).
fn properties(pkg: &mut Package<'_>, ctx: &mut Ctx) -> Result<Vec<(String, String)>, ExtractError> {
    let mut props = Vec::new();
    // Locate the parts through the package relationships, falling back to
    // the usual names.
    let mut core = "docProps/core.xml".to_owned();
    let mut custom = "docProps/custom.xml".to_owned();
    // The package relationships (`_rels/.rels`).
    for (_, ty, t) in part_rels(pkg, "", ctx)? {
        if ty.ends_with("/core-properties") {
            core = t;
        } else if ty.ends_with("/custom-properties") {
            custom = t;
        }
    }
    if let Some(xml) = pkg.read(&core, ctx)? {
        let mut r = xml_reader(&xml);
        let mut cur: Option<&'static str> = None;
        let mut val = String::new();
        loop {
            match next(&mut r, &core, ctx)? {
                Event::Start(e) => {
                    cur = match e.local_name().as_ref() {
                        b"title" => Some("title"),
                        b"subject" => Some("subject"),
                        b"keywords" => Some("keywords"),
                        b"description" => Some("description"),
                        b"category" => Some("category"),
                        _ => None,
                    };
                    val.clear();
                }
                Event::Text(t) if cur.is_some() && val.len() < 1 << 16 => {
                    val.push_str(&text_of(&t))
                }
                Event::End(_) => {
                    if let Some(k) = cur.take()
                        && !val.trim().is_empty()
                    {
                        props.push((k.to_owned(), val.trim().to_owned()));
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
    }
    if let Some(xml) = pkg.read(&custom, ctx)? {
        let mut r = xml_reader(&xml);
        let mut name: Option<String> = None;
        let mut val = String::new();
        loop {
            match next(&mut r, &custom, ctx)? {
                Event::Start(e) if e.local_name().as_ref() == b"property" => {
                    name = attr(&e, b"name");
                    val.clear();
                }
                Event::Text(t) if name.is_some() && val.len() < 1 << 16 => {
                    val.push_str(&text_of(&t))
                }
                Event::End(e) if e.local_name().as_ref() == b"property" => {
                    if let Some(n) = name.take() {
                        props.push((n, val.trim().to_owned()));
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
    }
    Ok(props)
}

/// Embedded packages and OLE objects (`*/embeddings/*`) and imported
/// `altChunk` parts, scanned as files of their own. Media and other binary parts are never inflated.
fn embeddings(
    pkg: &mut Package<'_>,
    ctx: &mut Ctx,
    doc: &mut Document,
) -> Result<(), ExtractError> {
    let names: Vec<String> = pkg
        .names()
        .iter()
        .filter(|n| {
            let l = n.to_ascii_lowercase();
            !l.ends_with('/')
                && (l.starts_with("word/embeddings/")
                    || l.starts_with("xl/embeddings/")
                    || l.starts_with("ppt/embeddings/")
                    // w:altChunk imports (HTML, RTF, text, another docx)
                    || (l.starts_with("word/")
                        && l.rsplit('/').next().is_some_and(|f| f.starts_with("afchunk"))))
        })
        .cloned()
        .collect();
    for n in names {
        match pkg.read(&n, ctx) {
            Ok(Some(data)) => doc.children.push(Child { name: n, data }),
            Ok(None) => {}
            // The deadline is the whole file's; anything else spoils only this object.
            Err(ExtractError::Timeout) => return Err(ExtractError::Timeout),
            Err(error) => doc.failed_children.push(FailedChild { name: n, error }),
        }
    }
    Ok(())
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
    fn docx_header_runs_table_comment() {
        let d = run("docx/marked_header.docx").unwrap();
        assert_eq!(d.format, "docx");
        let head = d.head.clone().unwrap();
        assert_eq!(first_lines(&head, 1), ["机密★5年"]);
        // the first page ends at the explicit page break
        assert!(head.contains("请审阅。"), "{head}");
        assert!(!head.contains("第二页正文"), "{head}");
        // runs joined without separators, cells on their own lines
        assert!(
            d.text.contains("本报告介绍玄鸟柒号的研制进展。"),
            "{}",
            d.text
        );
        assert!(d.text.contains("\nXN-07A型\n"), "{}", d.text);
        assert!(d.text.contains("第二页正文"));
        assert!(
            d.text.contains("与示例工程协调"),
            "comment missing: {}",
            d.text
        );
        assert!(d.text.contains("第1页"), "footer missing");
        assert!(
            d.properties
                .contains(&("title".into(), "关于项目进展的报告".into()))
        );
        assert!(d.children.is_empty());
    }

    #[test]
    fn docx_distinct_first_page_header() {
        let d = run("docx/first_page_header.docx").unwrap();
        let head = d.head.clone().unwrap();
        assert_eq!(
            first_lines(&head, 2),
            ["绝密★长期", "关于示例工程的报告"],
            "{head}"
        );
        assert!(!head.contains("第二页"));
        assert!(
            d.text.contains("内部资料 注意保存"),
            "running header kept in the text"
        );
    }

    #[test]
    fn other_opc_packages_give_their_xml_text() {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default();
        w.start_file("[Content_Types].xml", o).unwrap();
        w.write_all(b"<Types/>").unwrap();
        w.start_file("visio/pages/page1.xml", o).unwrap();
        w.write_all(
            "<PageContents><Shape><Text>玄鸟<cp/>柒号</Text></Shape></PageContents>".as_bytes(),
        )
        .unwrap();
        w.start_file("Documents/1/Pages/1.fpage", o).unwrap();
        w.write_all(r#"<FixedPage><Glyphs UnicodeString="示例工程"/></FixedPage>"#.as_bytes())
            .unwrap();
        let data = w.finish().unwrap().into_inner();
        let d = extract(&data, &mut Ctx::new(Limits::default())).unwrap();
        assert_eq!(d.format, "ooxml");
        assert!(d.text.contains("玄鸟柒号"), "{:?}", d.text);
        assert!(d.text.contains("示例工程"), "{:?}", d.text);
    }

    #[test]
    fn docx_custom_property() {
        let d = run("docx/custom_prop.docx").unwrap();
        assert!(
            d.properties.contains(&("密级".into(), "秘密".into())),
            "{:?}",
            d.properties
        );
        assert!(d.properties.contains(&("保密期限".into(), "1年".into())));
        assert_eq!(
            first_lines(d.head.as_deref().unwrap(), 1),
            ["示例工程阶段小结"]
        );
    }

    #[test]
    fn docx_embedded_workbook_is_a_child() {
        let d = run("docx/embedded_xlsx.docx").unwrap();
        assert_eq!(d.children.len(), 1);
        assert_eq!(
            d.children[0].name,
            "word/embeddings/Microsoft_Excel_Worksheet.xlsx"
        );
        let inner = extract(&d.children[0].data, &mut Ctx::new(Limits::default())).unwrap();
        assert_eq!(inner.format, "xlsx");
        assert!(inner.text.contains("玄鸟柒号"));
    }

    #[test]
    fn xlsx_shared_and_inline_strings() {
        let d = run("xlsx/marked.xlsx").unwrap();
        assert_eq!(d.format, "xlsx");
        assert_eq!(d.head, None);
        assert_eq!(first_lines(&d.text, 3), ["秘密★1年", "项目", "玄鸟柒号"]);
        assert!(d.text.contains("\n42\n"), "{}", d.text);
        // inline string split over two rich-text runs, on the second sheet
        assert!(d.text.contains("\nXN-07A型\n"), "{}", d.text);
        assert!(d.text.contains("明细"), "sheet names kept");
        assert!(d.properties.contains(&("title".into(), "汇总表".into())));
    }

    /// A text box drawn on a sheet (Excel writes it to xl/drawings/).
    #[test]
    fn xlsx_text_box_on_a_sheet() {
        use std::io::Write;
        let src = fixture("xlsx/unmarked.xlsx");
        let mut zin = zip::ZipArchive::new(std::io::Cursor::new(&src[..])).unwrap();
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for i in 0..zin.len() {
            w.raw_copy_file(zin.by_index_raw(i).unwrap()).unwrap();
        }
        w.start_file(
            "xl/drawings/drawing1.xml",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        w.write_all(r#"<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><xdr:twoCellAnchor><xdr:sp><xdr:txBody><a:bodyPr/><a:p><a:r><a:t>文本框：玄鸟</a:t></a:r><a:r><a:t>柒号</a:t></a:r></a:p></xdr:txBody></xdr:sp></xdr:twoCellAnchor></xdr:wsDr>"#.as_bytes()).unwrap();
        let data = w.finish().unwrap().into_inner();
        let d = extract(&data, &mut Ctx::new(Limits::default())).unwrap();
        assert!(d.text.contains("文本框：玄鸟柒号"), "{}", d.text);
    }

    #[test]
    fn docx_textbox_once_tabs_fields_footnotes() {
        let d = run("docx/structures.docx").unwrap();
        assert_eq!(
            d.text.matches("文本框里的示例工程").count(),
            1,
            "{}",
            d.text
        );
        assert!(d.text.contains("\n甲\t乙\n"), "{:?}", d.text);
        assert!(d.text.contains("\n第 1 页\n"), "{:?}", d.text);
        assert!(!d.text.contains("MERGEFORMAT"), "field code leaked");
        assert!(d.text.contains("内容控件&文字"));
        assert!(d.text.contains("脚注：型号XN-07A型"), "{}", d.text);
    }

    #[test]
    fn xlsx_printed_header_is_the_head() {
        let d = run("xlsx/printed_header.xlsx").unwrap();
        let head = d.head.clone().unwrap();
        assert_eq!(first_lines(&head, 3), ["机密★5年", "名单", "示例工程"]);
        assert!(d.text.contains("第  页"), "footer: {:?}", d.text);
        // no printed header: the text itself is the head
        assert_eq!(run("xlsx/unmarked.xlsx").unwrap().head, None);
    }

    #[test]
    fn xlsx_printed_header_codes() {
        assert_eq!(
            header_footer_text("&L&\"宋体,加粗\"&12机密★&K00FF005年&R第&P页 && 共&N页"),
            "\n机密★5年\n第页 & 共页"
        );
    }

    #[test]
    fn pptx_slides_in_order_and_notes() {
        let d = run("pptx/marked.pptx").unwrap();
        assert_eq!(d.format, "pptx");
        let head = d.head.clone().unwrap();
        assert_eq!(first_lines(&head, 2), ["绝密★长期", "项目汇报"]);
        assert!(!head.contains("进展"));
        assert!(d.text.contains("型号 XN-07A型"), "{}", d.text);
        assert!(d.text.contains("口述：玄鸟柒号节点"), "notes: {}", d.text);
        let slide2 = d.text.find("进展").unwrap();
        assert!(d.text.find("项目汇报").unwrap() < slide2);
    }

    #[test]
    fn hostile_and_broken_packages() {
        let e = run("docx/truncated.docx").unwrap_err();
        assert!(
            matches!(e, ExtractError::Truncated(_) | ExtractError::Corrupt(_)),
            "{e:?}"
        );
        let e = run("docx/corrupt_xml.docx").unwrap_err();
        assert!(matches!(e, ExtractError::Corrupt(_)), "{e:?}");
        let e = run("docx/bomb.docx").unwrap_err();
        assert!(matches!(e, ExtractError::Limit(_)), "{e:?}");
        let e = run("docx/encrypted.docx").unwrap_err();
        assert!(matches!(e, ExtractError::Encrypted(_)), "{e:?}");
        assert!(encrypted_ooxml_in_cfb(&fixture("docx/encrypted.docx")).is_some());
        assert!(is_encrypted_ooxml(&[
            "/EncryptionInfo",
            "EncryptedPackage",
            "\u{6}DataSpaces"
        ]));
        assert!(!is_encrypted_ooxml(&["WordDocument", "1Table"]));
        // garbage never panics
        for n in [0usize, 1, 22, 100, 1000] {
            let data = fixture("docx/unmarked.docx");
            let _ = extract(&data[..n.min(data.len())], &mut Ctx::new(Limits::default()));
        }
    }

    /// Deterministic fuzzing of every office fixture: XML members are
    /// mutated (bytes flipped, ranges cut or repeated) and re-zipped, raw
    /// files are truncated and flipped; every extractor must return, never
    /// panic or hang.
    #[test]
    fn mutated_fixtures_never_panic() {
        use crate::extract::{eml, odf, ofd, rtf};
        use std::io::{Read, Write};
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        type Extract = fn(&[u8], &mut Ctx) -> ExtractResult;
        let dirs: [(&str, Extract); 9] = [
            ("docx", extract),
            ("xlsx", extract),
            ("pptx", extract),
            ("odt", odf::extract),
            ("ods", odf::extract),
            ("odp", odf::extract),
            ("ofd", ofd::extract),
            ("rtf", rtf::extract),
            ("eml", eml::extract),
        ];
        let base = format!("{}/../../fixtures/formats", env!("CARGO_MANIFEST_DIR"));
        let mut runs = 0;
        for (dir, f) in dirs {
            let mut paths: Vec<_> = std::fs::read_dir(format!("{base}/{dir}"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| !p.to_string_lossy().ends_with(".json"))
                .collect();
            paths.sort();
            for p in paths {
                let data = std::fs::read(&p).unwrap();
                if data.len() > 200_000 {
                    continue; // the bomb: covered by its own test
                }
                let zipped = data.starts_with(b"PK\x03\x04");
                for _ in 0..std::env::var("OFFICE_FUZZ_ITERS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(12)
                {
                    let mutated = if zipped {
                        let Ok(mut z) = zip::ZipArchive::new(std::io::Cursor::new(&data[..]))
                        else {
                            break;
                        };
                        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
                        for i in 0..z.len() {
                            let mut m = z.by_index(i).unwrap();
                            let name = m.name().to_owned();
                            let mut buf = Vec::new();
                            m.read_to_end(&mut buf).unwrap();
                            if name.ends_with(".xml") && !buf.is_empty() && rnd(2) == 0 {
                                mutate(&mut buf, &mut rnd);
                            }
                            let opts = zip::write::SimpleFileOptions::default()
                                .compression_method(zip::CompressionMethod::Stored);
                            w.start_file(name, opts).unwrap();
                            w.write_all(&buf).unwrap();
                        }
                        w.finish().unwrap().into_inner()
                    } else {
                        let mut d = data.clone();
                        mutate(&mut d, &mut rnd);
                        d
                    };
                    let mut ctx = Ctx::new(Limits::default());
                    let _ = f(&mutated, &mut ctx);
                    runs += 1;
                }
                for cut in [1, 2, 3, 5, 8] {
                    let _ = f(
                        &data[..data.len() * cut / 9],
                        &mut Ctx::new(Limits::default()),
                    );
                }
            }
        }
        assert!(runs > 300, "{runs}");
    }

    fn mutate(buf: &mut Vec<u8>, rnd: &mut impl FnMut(usize) -> usize) {
        for _ in 0..1 + rnd(4) {
            let n = buf.len();
            if n == 0 {
                return;
            }
            match rnd(4) {
                0 => {
                    let i = rnd(n);
                    buf[i] ^= 1 << rnd(8);
                }
                1 => {
                    let i = rnd(n);
                    buf[i] = b"<>&/\"\\{}'"[rnd(9)];
                }
                2 => {
                    let i = rnd(n);
                    let j = (i + rnd(64)).min(n);
                    buf.drain(i..j);
                }
                _ => {
                    let i = rnd(n);
                    let j = (i + rnd(64)).min(n);
                    let chunk = buf[i..j].to_vec();
                    for _ in 0..rnd(8) {
                        buf.splice(i..i, chunk.iter().copied());
                    }
                }
            }
        }
    }

    #[test]
    fn text_cap_sets_truncated() {
        let mut ctx = Ctx::new(Limits {
            max_text_chars: 10,
            ..Limits::default()
        });
        let d = extract(&fixture("docx/marked_header.docx"), &mut ctx).unwrap();
        assert!(d.truncated);
        assert!(d.text.chars().count() <= 10);
    }

    #[test]
    fn element_budget_is_enforced() {
        let mut ctx = Ctx::new(Limits {
            max_elements: 50,
            ..Limits::default()
        });
        let e = extract(&fixture("docx/marked_header.docx"), &mut ctx).unwrap_err();
        assert!(matches!(e, ExtractError::Limit(_)), "{e:?}");
    }

    /// A package from (name, xml) parts, written with the zip crate.
    fn package(parts: &[(&str, &str)]) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (n, d) in parts {
            w.start_file(*n, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(d.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    const CT: &str = r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#;
    const W: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
    const R: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

    fn rels(items: &[(&str, &str, &str)]) -> String {
        let mut s = String::from(
            r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
        );
        for (id, ty, target) in items {
            s.push_str(&format!(
                r#"<Relationship Id="{id}" Type="{R}/{ty}" Target="{target}"/>"#
            ));
        }
        s.push_str("</Relationships>");
        s
    }

    #[test]
    fn tracked_deletions_are_text_but_not_head() {
        let body = format!(
            r#"<w:document xmlns:w="{W}"><w:body>
            <w:p><w:del w:id="1" w:author="a"><w:r><w:delText>机密★5年</w:delText></w:r></w:del></w:p>
            <w:p><w:r><w:t>关于</w:t></w:r><w:del w:id="2" w:author="a"><w:r><w:delText>玄鸟柒号</w:delText></w:r></w:del><w:r><w:t>项目的通知</w:t></w:r></w:p>
            </w:body></w:document>"#
        );
        let root = rels(&[("r1", "officeDocument", "word/document.xml")]);
        let data = package(&[
            ("[Content_Types].xml", CT),
            ("_rels/.rels", &root),
            ("word/document.xml", &body),
        ]);
        let d = extract(&data, &mut Ctx::new(Limits::default())).unwrap();
        let head = d.head.unwrap();
        assert!(!head.contains("机密"), "{head}");
        assert!(head.contains("关于项目的通知"), "{head}");
        assert!(d.text.contains("玄鸟柒号"), "{}", d.text);
        assert!(d.text.contains("机密★5年"), "{}", d.text);
    }

    #[test]
    fn slide_master_layout_smartart_and_chart_text() {
        let p = "http://schemas.openxmlformats.org/presentationml/2006/main";
        let a = "http://schemas.openxmlformats.org/drawingml/2006/main";
        let shape = |text: &str, ph: bool| {
            format!(
                r#"<p:sp><p:nvSpPr><p:cNvPr id="2" name="x"/><p:cNvSpPr/><p:nvPr>{}</p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sp>"#,
                if ph { r#"<p:ph type="title"/>"# } else { "" }
            )
        };
        let tree = |shapes: String, root: &str| {
            format!(
                r#"<p:{root} xmlns:p="{p}" xmlns:a="{a}" xmlns:r="{R}"><p:cSld><p:spTree>{shapes}</p:spTree></p:cSld></p:{root}>"#
            )
        };
        let master = tree(
            shape("单击此处编辑母版标题样式", true) + &shape("机密★五年", false),
            "sldMaster",
        );
        let layout = tree(shape("单击此处编辑标题", true), "sldLayout");
        let slide = tree(shape("汇报", true) + &shape("第一页正文", false), "sld");
        let pres = format!(
            r#"<p:presentation xmlns:p="{p}" xmlns:r="{R}"><p:sldIdLst><p:sldId id="256" r:id="rId2"/></p:sldIdLst></p:presentation>"#
        );
        let chart = r#"<c:chartSpace xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><c:chart><c:title><c:tx><c:rich><a:p><a:r><a:t>进度图</a:t></a:r></a:p></c:rich></c:tx></c:title><c:plotArea><c:barChart><c:ser><c:tx><c:strRef><c:strCache><c:pt idx="0"><c:v>示例工程</c:v></c:pt></c:strCache></c:strRef></c:tx></c:ser></c:barChart></c:plotArea></c:chart></c:chartSpace>"#;
        let smartart = r#"<dgm:dataModel xmlns:dgm="http://schemas.openxmlformats.org/drawingml/2006/diagram" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><dgm:ptLst><dgm:pt modelId="1"><dgm:t><a:p><a:r><a:t>玄鸟柒号</a:t></a:r></a:p></dgm:t></dgm:pt></dgm:ptLst></dgm:dataModel>"#;
        let legacy_comment = r#"<p:cmLst xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"><p:cm authorId="0" idx="1"><p:pos x="10" y="10"/><p:text>旧式批注：玄鸟批注甲</p:text></p:cm></p:cmLst>"#;
        let modern_comment = r#"<p188:cmLst xmlns:p188="http://schemas.microsoft.com/office/powerpoint/2018/8/main" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><p188:cm id="{1}" authorId="{2}"><p188:txBody><a:bodyPr/><a:p><a:r><a:t>新式批注乙</a:t></a:r></a:p></p188:txBody></p188:cm></p188:cmLst>"#;
        let root = rels(&[("r1", "officeDocument", "ppt/presentation.xml")]);
        let pres_rels = rels(&[("rId2", "slide", "slides/slide1.xml")]);
        let slide_rels = rels(&[("rId1", "slideLayout", "../slideLayouts/slideLayout1.xml")]);
        let layout_rels = rels(&[("rId1", "slideMaster", "../slideMasters/slideMaster1.xml")]);
        let data = package(&[
            ("[Content_Types].xml", CT),
            ("_rels/.rels", &root),
            ("ppt/presentation.xml", &pres),
            ("ppt/_rels/presentation.xml.rels", &pres_rels),
            ("ppt/slides/slide1.xml", &slide),
            ("ppt/slides/_rels/slide1.xml.rels", &slide_rels),
            ("ppt/slideLayouts/slideLayout1.xml", &layout),
            ("ppt/slideLayouts/_rels/slideLayout1.xml.rels", &layout_rels),
            ("ppt/slideMasters/slideMaster1.xml", &master),
            ("ppt/charts/chart1.xml", chart),
            ("ppt/diagrams/data1.xml", smartart),
            ("ppt/comments/comment1.xml", legacy_comment),
            ("ppt/comments/modernComment_100_0.xml", modern_comment),
        ]);
        let d = extract(&data, &mut Ctx::new(Limits::default())).unwrap();
        assert_eq!(d.format, "pptx");
        let head = d.head.unwrap();
        assert_eq!(first_lines(&head, 1), ["机密★五年"], "{head}");
        assert!(!head.contains("单击此处"), "{head}");
        for want in [
            "进度图",
            "示例工程",
            "玄鸟柒号",
            "第一页正文",
            "旧式批注：玄鸟批注甲",
            "新式批注乙",
        ] {
            assert!(d.text.contains(want), "{want}: {}", d.text);
        }
        assert!(!d.text.contains("单击此处编辑母版"), "{}", d.text);
        assert!(
            !head.contains("批注"),
            "comments are text, not head: {head}"
        );
    }
}
