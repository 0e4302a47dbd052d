//! Plumbing shared by the zip + XML document formats (OOXML, ODF, OFD).
//!
//! Every member goes through [`Package::read`], which charges the file's
//! decompression budget and refuses bomb ratios ([`Ctx::read_bounded`]); no
//! member is ever decompressed unless an extractor asks for it by name, so
//! images and other binary parts are never inflated. [`TextBuf`] caps the text
//! at `max_text_chars`. The XML helpers are flat event loops (no recursion), so
//! nesting depth costs no stack.

use crate::extract::archive::{self, Zip};
use crate::extract::{Ctx, ExtractError};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, BytesText};
use std::borrow::Cow;
use std::collections::HashMap;

/// A zip package opened for bounded, by-name member reads.
pub(crate) struct Package<'a> {
    zip: Zip<'a>,
    names: Vec<String>,
    /// ASCII-lowercased name -> index in `names` (first wins): O(1) part
    /// lookups even in packages with hundreds of thousands of members.
    by_lower: HashMap<String, usize>,
}

impl<'a> Package<'a> {
    /// Open the central directory through the engine's bounded zip reader
    /// (overlapping-entry bombs refused). A zip that starts with a local
    /// header but has no end-of-central-directory record was cut short.
    pub(crate) fn open(data: &'a [u8], ctx: &mut Ctx) -> Result<Package<'a>, ExtractError> {
        match archive::open_zip(data, ctx) {
            Ok(zip) => {
                let names: Vec<String> = (0..zip.len())
                    // index-aligned with the archive (index_for_name)
                    .map(|i| zip.name_for_index(i).unwrap_or_default().to_owned())
                    .collect();
                let mut by_lower = HashMap::with_capacity(names.len());
                for (i, n) in names.iter().enumerate() {
                    by_lower.entry(n.to_ascii_lowercase()).or_insert(i);
                }
                Ok(Package {
                    zip,
                    names,
                    by_lower,
                })
            }
            Err(ExtractError::Corrupt(m))
                if data.starts_with(b"PK\x03\x04")
                    && (m.contains("EOCD") || m.contains("end of central directory")) =>
            {
                Err(ExtractError::Truncated(m))
            }
            Err(e) => Err(e),
        }
    }

    /// Member names in central-directory order.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// The stored name of a part: exact, without a leading `/`, or (OPC part
    /// names are case-insensitive) ignoring ASCII case.
    pub(crate) fn find(&self, name: &str) -> Option<&str> {
        let name = name.trim_start_matches('/');
        if let Some(i) = self.zip.index_for_name(name) {
            return self.names.get(i).map(String::as_str);
        }
        self.by_lower
            .get(&name.to_ascii_lowercase())
            .and_then(|&i| self.names.get(i))
            .map(String::as_str)
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// Read one member, bounded; `Ok(None)` when it does not exist.
    pub(crate) fn read(
        &mut self,
        name: &str,
        ctx: &mut Ctx,
    ) -> Result<Option<Vec<u8>>, ExtractError> {
        let Some(stored) = self.find(name).map(str::to_owned) else {
            return Ok(None);
        };
        let Some(index) = self.zip.index_for_name(&stored) else {
            return Ok(None);
        };
        let data = archive::read_member_at(&mut self.zip, index, ctx).map_err(|e| match e {
            ExtractError::Corrupt(m) => ExtractError::Corrupt(format!("{stored}: {m}")),
            ExtractError::Truncated(m) => ExtractError::Truncated(format!("{stored}: {m}")),
            ExtractError::Encrypted(m) => ExtractError::Encrypted(format!("{stored}: {m}")),
            other => other,
        })?;
        Ok(Some(data))
    }

    /// Read a member that must exist.
    pub(crate) fn read_required(
        &mut self,
        name: &str,
        ctx: &mut Ctx,
    ) -> Result<Vec<u8>, ExtractError> {
        self.read(name, ctx)?
            .ok_or_else(|| ExtractError::Corrupt(format!("missing part {name}")))
    }
}

/// Resolve `target` relative to the folder of `base` (a part name), the way
/// OPC relationships and OFD `BaseLoc`s are written. A leading `/` means the
/// package root. `None` when the path climbs out of the package.
pub(crate) fn resolve(base: &str, target: &str) -> Option<String> {
    let target = target.trim();
    let mut parts: Vec<&str> = Vec::new();
    if !target.starts_with('/') {
        let dir = match base.rfind('/') {
            Some(i) => &base[..i],
            None => "",
        };
        parts.extend(dir.split('/').filter(|s| !s.is_empty()));
    }
    for seg in target.split(['/', '\\']) {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

/// Text capped at `max_text_chars`, with the line discipline every extractor
/// needs: runs append without separators, paragraphs end with one `\n`.
#[derive(Debug, Default)]
pub(crate) struct TextBuf {
    pub(crate) text: String,
    chars: usize,
    max: usize,
    pub(crate) truncated: bool,
}

impl TextBuf {
    pub(crate) fn new(max: usize) -> TextBuf {
        TextBuf {
            text: String::new(),
            chars: 0,
            max,
            truncated: false,
        }
    }

    /// The character cap this buffer was made with.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    pub(crate) fn push_str(&mut self, s: &str) {
        if self.truncated || s.is_empty() {
            return;
        }
        let n = s.chars().count();
        if self.chars + n <= self.max {
            self.text.push_str(s);
            self.chars += n;
        } else {
            let room = self.max - self.chars;
            self.text.extend(s.chars().take(room));
            self.chars = self.max;
            self.truncated = true;
        }
    }

    pub(crate) fn push(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.push_str(c.encode_utf8(&mut b));
    }

    /// End a line: one `\n`, never a blank line at the start.
    pub(crate) fn newline(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.push('\n');
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }
}

/// A reader over one XML part: text kept verbatim, end names checked (a
/// mismatched end tag is corruption, not silently skipped).
pub(crate) fn xml_reader(data: &[u8]) -> Reader<&[u8]> {
    let mut r = Reader::from_reader(data);
    let cfg = r.config_mut();
    cfg.trim_text(false);
    cfg.check_end_names = true;
    cfg.expand_empty_elements = false;
    r
}

/// The next XML event of `part`; each element (start or empty tag) is
/// charged to the element budget, text and end tags are not (their number
/// is bounded by the elements and the part's size).
pub(crate) fn next<'b>(
    r: &mut Reader<&'b [u8]>,
    part: &str,
    ctx: &mut Ctx,
) -> Result<quick_xml::events::Event<'b>, ExtractError> {
    let ev = r.read_event().map_err(|e| xml_error(part, e))?;
    if matches!(
        ev,
        quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_)
    ) {
        ctx.tick(1)?;
    }
    Ok(ev)
}

/// Map a quick-xml error of `part` to an extraction error.
pub(crate) fn xml_error(part: &str, e: quick_xml::Error) -> ExtractError {
    ExtractError::Corrupt(format!("{part}: {e}"))
}

/// Unescaped text of a text event. Predefined and numeric character
/// references are decoded; any other reference (a DTD entity, which XML
/// parts of office files never need) stays verbatim: nothing is expanded.
pub(crate) fn text_of<'b>(t: &'b BytesText<'_>) -> Cow<'b, str> {
    match String::from_utf8_lossy(t.as_ref()) {
        Cow::Borrowed(s) => unescape(s),
        Cow::Owned(s) => Cow::Owned(unescape(&s).into_owned()),
    }
}

/// XML reference decoding that never fails (see [`text_of`]).
pub(crate) fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest[1..]
            .char_indices()
            .take(12)
            .find(|&(_, c)| c == ';')
            .and_then(|(end, _)| {
                let name = &rest[1..1 + end];
                let c = match name {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    n if n.starts_with("#x") || n.starts_with("#X") => {
                        u32::from_str_radix(&n[2..], 16)
                            .ok()
                            .and_then(char::from_u32)
                    }
                    n if n.starts_with('#') => n[1..].parse::<u32>().ok().and_then(char::from_u32),
                    _ => None,
                };
                c.map(|c| (c, end + 2))
            });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The unescaped value of the attribute whose local name is `local`
/// (any prefix: `w:val`, `r:id`, `meta:name`).
pub(crate) fn attr(e: &BytesStart<'_>, local: &[u8]) -> Option<String> {
    for a in e.attributes().with_checks(false).flatten() {
        if a.key.local_name().as_ref() == local {
            let raw = String::from_utf8_lossy(&a.value);
            return Some(unescape(&raw).into_owned());
        }
    }
    None
}

/// Parse an OPC relationships part into (Id, Type, resolved target) triples;
/// external targets are dropped. `source` is the part the rels belong to.
pub(crate) fn parse_rels(
    data: &[u8],
    source: &str,
    ctx: &mut Ctx,
) -> Result<Vec<(String, String, String)>, ExtractError> {
    use quick_xml::events::Event;
    let mut r = xml_reader(data);
    let mut out = Vec::new();
    loop {
        match next(&mut r, "relationships", ctx)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"Relationship" => {
                if attr(&e, b"TargetMode").is_some_and(|m| m.eq_ignore_ascii_case("External")) {
                    continue;
                }
                let (Some(id), Some(ty), Some(target)) =
                    (attr(&e, b"Id"), attr(&e, b"Type"), attr(&e, b"Target"))
                else {
                    continue;
                };
                if let Some(t) = resolve(source, &target) {
                    out.push((id, ty, t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// The relationships of `part` (empty when it has no rels part).
pub(crate) fn part_rels(
    pkg: &mut Package<'_>,
    part: &str,
    ctx: &mut Ctx,
) -> Result<Vec<(String, String, String)>, ExtractError> {
    match pkg.read(&rels_name(part), ctx)? {
        Some(r) => parse_rels(&r, part, ctx),
        None => Ok(Vec::new()),
    }
}

/// The relationships part of `part`: `word/document.xml` ->
/// `word/_rels/document.xml.rels`.
pub(crate) fn rels_name(part: &str) -> String {
    match part.rfind('/') {
        Some(i) => format!("{}/_rels/{}.rels", &part[..i], &part[i + 1..]),
        None => format!("_rels/{part}.rels"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_paths() {
        assert_eq!(
            resolve("word/document.xml", "header1.xml").as_deref(),
            Some("word/header1.xml")
        );
        assert_eq!(
            resolve("ppt/slides/slide1.xml", "../notesSlides/notesSlide1.xml").as_deref(),
            Some("ppt/notesSlides/notesSlide1.xml")
        );
        assert_eq!(
            resolve("Doc_0/Document.xml", "/Doc_0/Pages/Page_0/Content.xml").as_deref(),
            Some("Doc_0/Pages/Page_0/Content.xml")
        );
        assert_eq!(resolve("Doc_0/Document.xml", "../../etc/passwd"), None);
        assert_eq!(
            rels_name("word/document.xml"),
            "word/_rels/document.xml.rels"
        );
    }

    /// Internal DTD entities are never expanded (no billion laughs):
    /// an undefined reference stays verbatim, predefined and numeric ones decode.
    #[test]
    fn entities_are_not_expanded() {
        let xml = br#"<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><r>&b;&amp;&#26426;</r>"#;
        let mut r = xml_reader(xml);
        let mut ctx = Ctx::new(crate::extract::Limits::default());
        let mut out = String::new();
        loop {
            match next(&mut r, "t", &mut ctx).unwrap() {
                quick_xml::events::Event::Text(t) => out.push_str(&text_of(&t)),
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(out, "&b;&机");
        assert_eq!(
            unescape("a&lt;b&#x41;&#65;&bogus;&;&#xFFFFFFFF;&"),
            "a<bAA&bogus;&;&#xFFFFFFFF;&"
        );
    }

    #[test]
    fn textbuf_caps_and_lines() {
        let mut t = TextBuf::new(5);
        t.newline();
        t.push_str("ab");
        t.newline();
        t.newline();
        t.push_str("cdef");
        assert_eq!(t.text, "ab\ncd");
        assert!(t.truncated);
    }
}
