//! PDF text extraction (ISO 32000-1), including Chinese text in Type0 fonts
//! that have no `/ToUnicode` and rely on predefined CMaps (UniGB-UCS2-H,
//! GBK-EUC-H, Identity-H + Adobe-GB1): the common case in government PDFs.
//!
//! Hand-written rather than built on lopdf or pdf-extract: those decode
//! every object eagerly without a byte budget, panic on hostile input and
//! know nothing of the predefined CJK CMaps. Here the file is scanned for
//! objects ([`file`]), which also recovers files with a broken xref; pages
//! are read in page-tree order; content streams are interpreted for text
//! only ([`content`]); fonts map codes to Unicode ([`font`], [`cmap`]).
//! Images are never decoded. Every stream goes through the `Ctx` budget.
//!
//! Encrypted files that open with the empty user password (owner
//! restrictions only) are decrypted and scanned ([`crypt`]); the others are
//! `Encrypted`. A file cut short whose pages or contents are
//! missing is `Truncated`; a document whose text is mostly (half or more of
//! its character codes) in fonts with no Unicode mapping is `Unsupported`
//! (it must not pass for a clean document). Pages that draw images and no
//! text at all (a scanned document) are scanned for what text the file
//! has, and the file is also reported `unscannable` (`unsupported`, image
//! only): without OCR its content is unread, not clean.
//!
//! An incrementally updated file (ISO 32000-1 §7.5.6: updates appended,
//! each ending in `startxref … %%EOF`) is read as its latest revision: that
//! is the text a reader sees, and the head (GB/T 9704 markings) comes from
//! its first page only. The older revisions are still in the file, and a
//! keyword deleted by an update can be recovered by anyone who truncates
//! the file at an earlier `%%EOF`; so the earlier revisions
//! ([`MAX_REVISIONS`] newest) are read too, and their lines (and metadata
//! values) that the latest revision does not have are appended to the text
//! after a line naming them: keyword text, never head lines.

mod cmap;
mod content;
mod crypt;
mod file;
mod font;
mod glyphs;
mod syntax;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;

use content::{Interp, PageText};
use file::Pdf;
use syntax::{Dict, Obj};

use super::{Ctx, Document, ExtractError, ExtractResult};

/// Deepest page-tree nesting followed.
const MAX_TREE_DEPTH: u32 = 64;
/// Earlier revisions of an incrementally updated file read, newest first.
const MAX_REVISIONS: usize = 8;
/// The line that introduces text found only in earlier revisions.
const PREVIOUS_REVISION: &str = "[PDF: text of an earlier revision]";

pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    // Defence in depth: the extractor is written not to panic, and the
    // engine runs it in a worker process anyway.
    std::panic::catch_unwind(AssertUnwindSafe(|| extract_with_revisions(data, ctx))).unwrap_or_else(
        |_| {
            Err(ExtractError::Corrupt(
                "PDF parser failed on this file".into(),
            ))
        },
    )
}

/// The latest revision, plus the text only earlier revisions hold.
fn extract_with_revisions(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    let mut doc = extract_inner(data, ctx)?;
    let ends = revision_ends(data);
    if ends.is_empty() {
        return Ok(doc);
    }
    let mut seen: HashSet<String> = doc.text.lines().map(|l| l.trim().to_string()).collect();
    seen.extend(doc.properties.iter().map(|(_, v)| v.trim().to_string()));
    let mut old = String::new();
    for &end in ends.iter().rev().take(MAX_REVISIONS) {
        match extract_inner(&data[..end], ctx) {
            Ok(prev) => {
                let lines = prev
                    .text
                    .lines()
                    .map(str::trim)
                    .chain(prev.properties.iter().map(|(_, v)| v.trim()));
                for line in lines {
                    if old.len() >= ctx.limits.max_text_chars {
                        doc.truncated = true;
                        break;
                    }
                    if !line.is_empty() && seen.insert(line.to_string()) {
                        old.push_str(line);
                        old.push('\n');
                    }
                }
            }
            // The latest revision is read; an earlier one the budget did
            // not allow is not: the file must say it was read in part.
            Err(e @ (ExtractError::Limit(_) | ExtractError::Timeout)) => {
                doc.incomplete = Some(e);
                break;
            }
            // A prefix that is no whole revision (the first-page section of
            // a linearized file, a `%%EOF` inside a stream): nothing to add.
            Err(_) => {}
        }
    }
    if !old.is_empty() {
        doc.text.push('\n');
        doc.text.push_str(PREVIOUS_REVISION);
        doc.text.push('\n');
        doc.text.push_str(&old);
    }
    Ok(doc)
}

/// Where each revision but the last ends: just after a `%%EOF` that closes
/// a `startxref` section, when more of the file follows it.
fn revision_ends(data: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    for at in memchr::memmem::find_iter(data, b"%%EOF") {
        let before = &data[at.saturating_sub(64)..at];
        if memchr::memmem::find(before, b"startxref").is_none() {
            continue;
        }
        let end = at + 5;
        // More than line ends and whitespace after it: a later revision.
        if data[end..].iter().any(|b| !syntax::is_ws(*b)) {
            ends.push(end);
        }
    }
    ends
}

fn extract_inner(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    if memchr::memmem::find(&data[..data.len().min(1024)], b"%PDF-").is_none() {
        return Err(ExtractError::Corrupt("no %PDF- header".into()));
    }
    let pdf = Pdf::parse(data, ctx)?;
    let root = pdf
        .trailer
        .get(b"Root")
        .and_then(|r| pdf.dict(r))
        .filter(|d| d.get(b"Pages").is_some())
        .or_else(|| {
            pdf.objects_in_file_order()
                .into_iter()
                .rev()
                .filter_map(|(_, o)| o.as_dict())
                .find(|d| d.is(b"Type", b"Catalog"))
        });
    let mut pages: Vec<&Dict> = Vec::new();
    let mut missing = false;
    if let Some(root) = root {
        let mut seen = HashSet::new();
        collect_pages(
            &pdf,
            root.get(b"Pages").unwrap_or(&Obj::Null),
            &mut pages,
            &mut seen,
            &mut missing,
            ctx,
            0,
        )?;
    }
    if pages.is_empty() {
        // Page tree lost (truncated or damaged): every page object, in file order.
        pages = pdf
            .objects_in_file_order()
            .into_iter()
            .filter_map(|(_, o)| o.as_dict())
            .filter(|d| d.is(b"Type", b"Page"))
            .collect();
        missing |= root.is_none();
    }
    if pages.is_empty() {
        return Err(if pdf.complete {
            ExtractError::Corrupt("no pages found".into())
        } else {
            ExtractError::Truncated("file cut short: no pages found".into())
        });
    }

    let mut interp = Interp::new(&pdf, ctx.limits.max_text_chars);
    let mut texts: Vec<String> = Vec::with_capacity(pages.len());
    let mut head = None;
    // Annotation contents and form values: text, never head lines.
    let mut extra = String::new();
    for page in &pages {
        ctx.tick(1)?;
        let resources = inherited(&pdf, page, b"Resources").and_then(|r| pdf.dict(r));
        let mut content = Vec::new();
        let contents: Vec<&Obj> = match page.get(b"Contents") {
            Some(Obj::Array(a)) => a.iter().collect(),
            Some(o @ Obj::Ref(..)) => match pdf.resolve(o) {
                Obj::Array(a) => a.iter().collect(),
                _ => vec![o],
            },
            _ => Vec::new(),
        };
        for c in contents {
            match pdf.stream(c) {
                Some((d, span)) => {
                    if let Some(bytes) = pdf.decode(d, span, ctx)? {
                        content.extend_from_slice(&bytes);
                        content.push(b'\n');
                    }
                }
                None => missing |= !pdf.exists(c),
            }
        }
        let mut out = PageText::default();
        interp.page(&content, resources, &mut out, ctx)?;
        if let Obj::Array(annots) = pdf.get(page, b"Annots") {
            for a in annots {
                ctx.tick(1)?;
                if let Some(a) = pdf.dict(a) {
                    interp.annotation(a, resources, &mut out, ctx)?;
                    // What the appearance does not draw: a note's or
                    // comment's text (/Contents); field values come from the form.
                    for key in [&b"Contents"[..]] {
                        if let Obj::Str(v) = pdf.get(a, key)
                            && extra.len() < ctx.limits.max_text_chars
                        {
                            extra.push_str(&text_string(v));
                            extra.push('\n');
                        }
                    }
                }
            }
        }
        let text = out.finish();
        if head.is_none() {
            // The first page in reading order: its topmost lines first.
            head = Some(text.clone());
        }
        texts.push(text);
        if interp.truncated {
            break;
        }
    }
    missing |= interp.missing;
    if !pdf.complete && (missing || pdf.cut_stream) {
        return Err(ExtractError::Truncated(
            "file cut short: pages or page contents missing".into(),
        ));
    }
    let stats = interp.stats;
    // Most of the text unreadable (say, the body in such a font and only
    // page numbers readable): the document must not pass for clean.
    if stats.unmapped > 0 && stats.unmapped.saturating_mul(2) >= stats.shown {
        return Err(ExtractError::Unsupported(format!(
            "{} of {} character codes are drawn in fonts without a Unicode mapping",
            stats.unmapped, stats.shown
        )));
    }
    // Pages that draw images and no text at all: a scanned document. Its
    // text cannot be read (no OCR), so it must not pass for clean; what
    // text it has (annotations, fields, metadata) is still scanned.
    let image_only = interp.images > 0 && texts.iter().all(|t| t.trim().is_empty());
    form_values(&pdf, root, ctx, &mut extra)?;
    if !extra.is_empty() {
        texts.push(extra);
    }
    Ok(Document {
        format: "pdf",
        head,
        text: texts.join("\n"),
        properties: properties(&pdf, root, ctx),
        truncated: interp.truncated,
        incomplete: image_only.then(|| {
            ExtractError::Unsupported(format!(
                "image-only PDF: {} page(s) draw {} image(s) and no text (a scan?); images are not read (no OCR)",
                pages.len(),
                interp.images
            ))
        }),
        ..Document::default()
    })
}

/// Walk the page tree depth-first, in order; loops and missing kids are
/// tolerated (and noted).
fn collect_pages<'p>(
    pdf: &'p Pdf<'_>,
    node: &'p Obj,
    pages: &mut Vec<&'p Dict>,
    seen: &mut HashSet<u32>,
    missing: &mut bool,
    ctx: &mut Ctx,
    depth: u32,
) -> Result<(), ExtractError> {
    ctx.tick(1)?;
    if depth > MAX_TREE_DEPTH {
        return Ok(());
    }
    if let Obj::Ref(n, _) = node
        && !seen.insert(*n)
    {
        return Ok(()); // a loop in the page tree
    }
    let Some(d) = pdf.dict(node) else {
        *missing |= !pdf.exists(node);
        return Ok(());
    };
    match pdf.get(d, b"Kids") {
        Obj::Array(kids) if !d.is(b"Type", b"Page") => {
            for k in kids {
                collect_pages(pdf, k, pages, seen, missing, ctx, depth + 1)?;
            }
        }
        _ => pages.push(d),
    }
    Ok(())
}

/// A page attribute, inherited through `/Parent` (ISO 32000-1 §7.7.3.4).
fn inherited<'p>(pdf: &'p Pdf<'_>, page: &'p Dict, key: &[u8]) -> Option<&'p Obj> {
    let mut node = page;
    for _ in 0..MAX_TREE_DEPTH {
        if let Some(v) = node.get(key) {
            return Some(v);
        }
        node = pdf.dict(node.get(b"Parent")?)?;
    }
    None
}

/// Most metadata properties kept, and the longest value.
const MAX_PROPERTIES: usize = 256;
const MAX_PROPERTY_CHARS: usize = 1 << 16;

/// Document information dictionary entries that are text (custom entries
/// such as `/密级` included), then XMP properties of the catalog's
/// `/Metadata` stream (`dc:title`, `pdf:Keywords`, custom `pdfx:*`).
fn properties(pdf: &Pdf<'_>, root: Option<&Dict>, ctx: &mut Ctx) -> Vec<(String, String)> {
    let mut props = info_properties(pdf);
    if let Some((d, span)) = root.and_then(|r| pdf.stream(r.get(b"Metadata").unwrap_or(&Obj::Null)))
        && span.end.saturating_sub(span.start) < 4 << 20
        && let Ok(Some(xml)) = pdf.decode(d, span, ctx)
    {
        for p in xmp_properties(&xml) {
            if !props.contains(&p) && props.len() < MAX_PROPERTIES {
                props.push(p);
            }
        }
    }
    props
}

/// Values of the interactive form's fields (`/AcroForm /Fields`, with
/// their `/Kids`), also of fields no page shows; bounded by the element
/// budget and a depth of 32.
fn form_values(
    pdf: &Pdf<'_>,
    root: Option<&Dict>,
    ctx: &mut Ctx,
    out: &mut String,
) -> Result<(), ExtractError> {
    let Some(form) = root.and_then(|r| pdf.dict(r.get(b"AcroForm").unwrap_or(&Obj::Null))) else {
        return Ok(());
    };
    let mut stack: Vec<(&Obj, u32)> = match pdf.get(form, b"Fields") {
        Obj::Array(a) => a.iter().map(|f| (f, 0)).collect(),
        _ => return Ok(()),
    };
    while let Some((f, depth)) = stack.pop() {
        ctx.tick(1)?;
        let Some(d) = pdf.dict(f) else {
            continue;
        };
        if let Obj::Str(v) = pdf.get(d, b"V")
            && out.len() < ctx.limits.max_text_chars
        {
            out.push_str(&text_string(v));
            out.push('\n');
        }
        if depth < 32
            && let Obj::Array(kids) = pdf.get(d, b"Kids")
        {
            stack.extend(kids.iter().map(|k| (k, depth + 1)));
        }
    }
    Ok(())
}

/// XMP (ISO 16684-1) leaf values under the namespaces documents use for
/// their description and custom properties.
fn xmp_properties(xml: &[u8]) -> Vec<(String, String)> {
    use quick_xml::events::Event;
    let mut out = Vec::new();
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let key_of = |qname: &[u8]| -> Option<String> {
        let (prefix, local) = match qname.iter().position(|&b| b == b':') {
            Some(i) => (&qname[..i], &qname[i + 1..]),
            None => (&b""[..], qname),
        };
        let local = String::from_utf8_lossy(local).into_owned();
        match (prefix, local.as_str()) {
            (b"dc", "title") => Some("Title".into()),
            (b"dc", "description") => Some("Subject".into()),
            (b"dc", "subject") | (b"pdf", "Keywords") => Some("Keywords".into()),
            (b"pdfx", _) => Some(local),
            _ => None,
        }
    };
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if stack.len() > 64 {
                    break;
                }
                // Properties written as attributes of rdf:Description.
                for a in e.attributes().flatten() {
                    if let Some(k) = key_of(a.key.as_ref())
                        && let Ok(v) = a.unescape_value()
                        && !v.trim().is_empty()
                    {
                        out.push((k, v.chars().take(MAX_PROPERTY_CHARS).collect()));
                    }
                }
                stack.push(e.name().as_ref().to_vec());
            }
            Ok(Event::End(_)) => {
                stack.pop();
            }
            Ok(Event::Text(t)) => {
                let prop = stack.iter().rev().find(|n| !n.starts_with(b"rdf:"));
                if let Some(k) = prop.and_then(|n| key_of(n))
                    && let Ok(v) = t.unescape()
                    && !v.trim().is_empty()
                {
                    out.push((k, v.trim().chars().take(MAX_PROPERTY_CHARS).collect()));
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        if out.len() >= MAX_PROPERTIES {
            break;
        }
    }
    out
}

/// Document information dictionary entries that are text.
fn info_properties(pdf: &Pdf<'_>) -> Vec<(String, String)> {
    let mut props = Vec::new();
    if let Some(info) = pdf.trailer.get(b"Info").and_then(|i| pdf.dict(i)) {
        for (k, v) in &info.0 {
            if matches!(k.as_slice(), b"CreationDate" | b"ModDate" | b"Trapped") {
                continue;
            }
            if let Obj::Str(s) = pdf.resolve(v) {
                let value: String = text_string(s).chars().take(MAX_PROPERTY_CHARS).collect();
                if !value.is_empty() && props.len() < MAX_PROPERTIES {
                    // Custom keys are names: UTF-8 as a rule, GBK from some
                    // Chinese producers.
                    props.push((text_string(k), value));
                }
            }
        }
    }
    props
}

/// A PDF text string: UTF-16BE or UTF-8 with BOM, else PDFDocEncoding
/// (read as Latin-1, which it equals for text characters); producers that
/// write raw UTF-8 or GBK without a BOM are recognised too.
fn text_string(s: &[u8]) -> String {
    if let Some(b) = s.strip_prefix(b"\xfe\xff") {
        return encoding_rs::UTF_16BE
            .decode_without_bom_handling(b)
            .0
            .into_owned();
    }
    if let Some(b) = s.strip_prefix(b"\xef\xbb\xbf") {
        return String::from_utf8_lossy(b).into_owned();
    }
    if s.is_ascii() {
        return String::from_utf8_lossy(s).into_owned();
    }
    if let Ok(u) = std::str::from_utf8(s) {
        return u.to_owned();
    }
    let (gbk, bad) = encoding_rs::GBK.decode_without_bom_handling(s);
    if !bad {
        return gbk.into_owned();
    }
    s.iter().map(|&b| char::from(b)).collect()
}
