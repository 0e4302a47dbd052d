//! The per-file analysis: bytes in, findings out. Sniff the format, extract
//! text (in-crate for text and HTML, `extract::<fmt>` for the rest), recurse
//! into embedded files as `parent!/child`, normalise and match content and
//! file name, detect the marking, and judge (`verdict`).
//!
//! This is the seam the engine (walk, cache, worker processes) calls for
//! every regular file and that the worker runs on bytes it receives; see
//! `SEAM.md`. It never touches the filesystem and never panics on input:
//! an extractor that fails — or panics — makes the file `unscannable`.

use crate::extract::{self, Ctx, Document, ExtractError};
use crate::markings::{Detector, Found};
use crate::matcher::{Hits, Matcher, RuleInfo};
use crate::sniff::{Format, sniff};
use crate::{ScanError, html, text, verdict};
use mijian_policy::{Classification, Policy};
use mijian_report::{Finding, FindingKind, RuleMatch};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A policy compiled for matching: keyword automaton, regexes, marking
/// patterns, and the host level that sets severities. Build once, share.
pub struct Compiled {
    pub matcher: Matcher,
    /// The same terms as byte patterns in every encoding (`raw`).
    pub raw: crate::raw::RawSearcher,
    /// Whether legacy-encoded text can hold a match at all (`raw`).
    pub legacy: Option<crate::raw::LegacyPrefilter>,
    /// Whether a legacy-encoded head can hold a marking at all (`raw`).
    pub marking_bytes: Option<crate::raw::AnyBytes>,
    pub markings: Detector,
    pub host_level: Classification,
    /// The policy digest the findings were judged under.
    pub policy_digest: String,
}

impl Compiled {
    pub fn new(policy: &Policy, host_level: Classification) -> Result<Compiled, ScanError> {
        crate::normalise::init();
        let matcher = Matcher::new(&policy.keywords)?;
        let legacy = crate::raw::LegacyPrefilter::new(matcher.anchor_literals());
        let markings = Detector::new(&policy.markings)?;
        Ok(Compiled {
            legacy,
            matcher,
            raw: crate::raw::RawSearcher::new(&policy.keywords),
            marking_bytes: markings
                .anchor_chars()
                .and_then(|c| crate::raw::AnyBytes::new(&c)),
            markings,
            host_level,
            policy_digest: policy.digest.clone(),
        })
    }
}

/// What the analysis of one file found.
#[derive(Debug, Default, Clone)]
pub struct Analysis {
    pub findings: Vec<Finding>,
    /// Format of the top-level file (`text`, `html`, `docx`, `zip`, `binary` ...).
    pub format: &'static str,
    /// Binary content that was not scanned (the name was).
    pub skipped: bool,
    /// Files analysed, embedded members included.
    pub files: u64,
}

/// Analyse one file (or member) held in memory. `path` is what findings
/// say (`a.zip!/dir/b.docx` for members).
pub fn analyse(path: &Path, data: &[u8], ctx: &mut Ctx, c: &Compiled) -> Analysis {
    let mut a = Analysis::default();
    a.format = one(path, data, ctx, c, &mut a);
    let max = ctx.limits.max_findings_per_file;
    if a.findings.len() > max {
        let format = a.format;
        summarise(&mut a.findings, path, data, format, max);
    }
    a
}

/// Paths of summarised findings listed by name in the summary.
const SUMMARY_PATHS: usize = 10;

/// Bound the findings of one top-level file to `max` (issue 15): the file's
/// own findings and the first members' are kept as they are; the rest
/// become one finding on the file, of the worst kind and severity among
/// them (so the verdict on the host does not change), whose `matches` add
/// up their rule counts and whose `detail.summary` counts them per kind,
/// rule and reason, lists the first paths and says how many were left out.
fn summarise(findings: &mut Vec<Finding>, path: &Path, data: &[u8], format: &str, max: usize) {
    use std::collections::BTreeMap;
    let top = mijian_report::encode_path(path).path;
    let keep_n = max.saturating_sub(1).max(1);
    let (mut kept, mut rest): (Vec<Finding>, Vec<Finding>) = (Vec::new(), Vec::new());
    for f in findings.drain(..) {
        let own = f.path.as_deref() == Some(top.as_str());
        if own || kept.len() < keep_n {
            kept.push(f);
        } else {
            rest.push(f);
        }
    }
    if rest.is_empty() {
        *findings = kept;
        return;
    }
    let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut worst: Option<&Finding> = None;
    for f in &rest {
        *by_kind.entry(f.kind.as_str()).or_default() += 1;
        for m in &f.matches {
            *by_rule.entry(m.rule.clone()).or_default() += m.count;
        }
        if let Some(r) = &f.reason {
            *by_reason.entry(r.clone()).or_default() += 1;
        }
        let rank = |f: &Finding| (f.severity, f.kind != FindingKind::Unscannable);
        if worst.is_none_or(|w| rank(f) > rank(w)) {
            worst = Some(f);
        }
    }
    let Some(worst) = worst else {
        *findings = kept;
        return;
    };
    let mut s = verdict::unscannable_reason(path, Some(data), format, "limit", String::new());
    s.kind = worst.kind.clone();
    s.severity = worst.severity;
    s.reason = match worst.kind {
        FindingKind::Unscannable => by_reason
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(r, _)| r.clone()),
        _ => None,
    };
    s.marking = worst.marking.clone();
    s.matches = by_rule
        .iter()
        .map(|(rule, count)| RuleMatch {
            rule: rule.clone(),
            count: *count,
            first_offset: None,
        })
        .collect();
    let first_paths: Vec<&str> = rest
        .iter()
        .filter_map(|f| f.path.as_deref())
        .take(SUMMARY_PATHS)
        .collect();
    s.message = Some(format!(
        "{} more findings inside this file, summarised (only the first {} are listed)",
        rest.len(),
        kept.len()
    ));
    s.detail = Some(serde_json::json!({
        "summary": {
            "omitted": rest.len(),
            "by_kind": by_kind,
            "by_rule": by_rule,
            "by_reason": by_reason,
            "first_paths": first_paths,
            "more_paths": rest.len().saturating_sub(first_paths.len()),
        }
    }));
    kept.push(s);
    *findings = kept;
}

/// The findings for a file that could not be read at all (permission
/// denied, vanished, not a regular file): kind `unscannable`.
pub fn unreadable(path: &Path, reason: &str, message: String) -> Finding {
    verdict::unscannable_reason(path, None, "unknown", reason, message)
}

/// Hits in a file's name (its last component; for members, the member's).
/// A name that is not UTF-8 was most likely written by a GBK or Big5 system
/// (Windows, old zip tools): it is decoded as both and the better reading
/// counts, so a GBK-named `玄鸟柒号.doc` is still caught.
fn name_hits(path: &Path, c: &Compiled) -> Hits {
    let Some(name) = path.file_name() else {
        return Hits::default();
    };
    if let Some(s) = name.to_str() {
        return c.matcher.scan(s);
    }
    let bytes = name.as_encoded_bytes();
    let mut best = Hits::default();
    let mut best_n = 0;
    for enc in [encoding_rs::GB18030, encoding_rs::BIG5] {
        let (s, _) = enc.decode_without_bom_handling(bytes);
        let h = c.matcher.scan(&s);
        let n: u64 = h.per_rule.iter().map(|r| r.count).sum();
        if n > best_n {
            (best, best_n) = (h, n);
        }
    }
    best
}

fn child_path(parent: &Path, name: &str) -> PathBuf {
    let mut s = OsString::from(parent.as_os_str());
    s.push("!/");
    if name.is_empty() {
        // A compressed file's one unnamed member: the parent's name without
        // its compression suffix (`a.tar.gz!/a.tar`, `b.tgz!/b.tar`).
        s.push(decompressed_name(parent));
    } else {
        s.push(name.trim_start_matches('/'));
    }
    PathBuf::from(s)
}

fn decompressed_name(parent: &Path) -> OsString {
    let name = parent.file_name().and_then(|n| n.to_str()).unwrap_or("");
    // ASCII lowercasing keeps byte offsets, and the suffixes are ASCII.
    let lower = name.to_ascii_lowercase();
    for (suffix, tar) in [
        (".tgz", true),
        (".txz", true),
        (".tbz2", true),
        (".tbz", true),
        (".gz", false),
        (".xz", false),
        (".bz2", false),
    ] {
        if lower.ends_with(suffix) && name.len() > suffix.len() {
            let stem = &name[..name.len() - suffix.len()];
            return if tar {
                format!("{stem}.tar").into()
            } else {
                stem.into()
            };
        }
    }
    "content".into()
}

/// Analyse one file; returns its format name.
fn one(path: &Path, data: &[u8], ctx: &mut Ctx, c: &Compiled, a: &mut Analysis) -> &'static str {
    a.files += 1;
    let names = name_hits(path, c);
    let fmt = sniff(data);
    match fmt {
        Format::Binary => {
            // Binary-looking content is still searched for the bytes of
            // every term in every encoding (issue 15: one NUL byte must not
            // hide a file).
            a.skipped = a.skipped || ctx.depth == 0;
            let raw = c.raw.scan(data);
            judge(path, data, "binary", None, &raw, &names, c, a);
            mark_raw(a, path, c.matcher.rules(), &Hits::default(), &raw);
            "binary"
        }
        Format::Text => {
            let d = match text::decode_unless_legacy(data) {
                Some(d) => d,
                None => {
                    // Legacy-encoded (GBK, Big5, mixed) text in which no
                    // anchor of any term occurs in any encoding, with
                    // neighbours a match could have, cannot match: only its
                    // head is decoded, for the marking, and only when it
                    // holds a level word's character (issue 15).
                    let no_terms = c.matcher.rules().is_empty();
                    let no_candidates = c.legacy.as_ref().is_some_and(|pf| {
                        !pf.candidates(data, Some(&c.matcher)) && !c.raw.utf16_match(data)
                    });
                    if no_terms || no_candidates {
                        let head = &data[..data.len().min(LEGACY_HEAD)];
                        let head = match memchr::memrchr(b'\n', head) {
                            Some(i) if head.len() < data.len() => &head[..=i],
                            _ => head,
                        };
                        // Read in GB18030, then Big5 (no charset detection:
                        // it cost more than all the rest of such a file).
                        let marking = if c.marking_bytes.as_ref().is_none_or(|m| m.is_match(head)) {
                            [encoding_rs::GB18030, encoding_rs::BIG5]
                                .into_iter()
                                .find_map(|e| c.markings.head(&text::decode_as(head, e).text))
                        } else {
                            None
                        };
                        judge(path, data, "text", marking, &Hits::default(), &names, c, a);
                        return "text";
                    }
                    text::decode(data)
                }
            };
            let decoded = c.matcher.scan(&d.text);
            let mut content = decoded.clone();
            if d.lossy {
                crate::raw::max_merge(&mut content, &c.raw.scan(data));
            }
            let marking = c.markings.head(&d.text);
            judge(path, data, "text", marking, &content, &names, c, a);
            mark_raw(a, path, c.matcher.rules(), &decoded, &content);
            "text"
        }
        _ => {
            let res = run_extractor(fmt, data, ctx);
            match res {
                Ok(doc) => document(path, data, doc, ctx, c, a, &names, fmt),
                Err(e) => {
                    a.findings
                        .push(verdict::unscannable(path, Some(data), fmt.name(), &e));
                    // A damaged document (an OLE file with a broken
                    // directory, a cut RTF) still holds its text's bytes:
                    // search them raw, so the unreadable file is not only
                    // `unscannable` but also says what it holds.
                    let raw = c.raw.scan(data);
                    judge(path, data, fmt.name(), None, &raw, &names, c, a);
                    mark_raw(a, path, c.matcher.rules(), &Hits::default(), &raw);
                    fmt.name()
                }
            }
        }
    }
}

/// When raw-byte hits added to what the decoded text gave, say so on the
/// file's finding (`detail.raw_rules`), so an inspector knows the text was
/// found in the bytes rather than in a clean decode.
fn mark_raw(a: &mut Analysis, path: &Path, rules: &[RuleInfo], decoded: &Hits, all: &Hits) {
    let more: Vec<usize> = all
        .per_rule
        .iter()
        .enumerate()
        .filter(|(i, h)| h.count > decoded.per_rule.get(*i).map_or(0, |d| d.count))
        .map(|(i, _)| i)
        .collect();
    if more.is_empty() {
        return;
    }
    let want = mijian_report::encode_path(path).path;
    let Some(f) =
        a.findings.iter_mut().rev().find(|f| {
            f.path.as_deref() == Some(want.as_str()) && f.kind != FindingKind::Unscannable
        })
    else {
        return;
    };
    let ids: Vec<&str> = more
        .iter()
        .filter_map(|&i| rules.get(i).map(|r| r.id.as_str()))
        .collect();
    let mut detail = f.detail.take().unwrap_or_else(|| serde_json::json!({}));
    if let Some(o) = detail.as_object_mut() {
        o.insert("raw_rules".into(), serde_json::json!(ids));
    }
    f.detail = Some(detail);
}

fn run_extractor(fmt: Format, data: &[u8], ctx: &mut Ctx) -> Result<Document, ExtractError> {
    let f: fn(&[u8], &mut Ctx) -> extract::ExtractResult = match fmt {
        Format::Html => html::extract,
        Format::Eml => extract::eml::extract,
        Format::Rtf => extract::rtf::extract,
        Format::Pdf => extract::pdf::extract,
        Format::Ole => extract::ole::extract,
        Format::Ooxml => extract::ooxml::extract,
        Format::Odf => extract::odf::extract,
        Format::Ofd => extract::ofd::extract,
        Format::Zip => extract::archive::extract,
        Format::Gzip => extract::gzip::extract,
        Format::Tar => extract::tar::extract,
        Format::SevenZ => extract::sevenz::extract,
        Format::Xz => extract::compressed::extract_xz,
        Format::Bzip2 => extract::compressed::extract_bz2,
        Format::Rar => extract::rar::extract,
        Format::Uof => extract::uof::extract,
        Format::Text => text::extract,
        Format::Binary => return Err(ExtractError::Unsupported("binary content".into())),
    };
    // Extractors must be total; should one still panic, that file alone is
    // unscannable (stack overflows are the worker process's business).
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(data, ctx))) {
        Ok(r) => r,
        Err(_) => Err(ExtractError::Corrupt(format!(
            "the {} parser failed on this file",
            fmt.name()
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
fn document(
    path: &Path,
    data: &[u8],
    doc: Document,
    ctx: &mut Ctx,
    c: &Compiled,
    a: &mut Analysis,
    names: &Hits,
    fmt: Format,
) -> &'static str {
    let format = if doc.format.is_empty() {
        fmt.name()
    } else {
        doc.format
    };
    let mut content = c.matcher.scan(&doc.text);
    for (_, v) in &doc.properties {
        let mut h = c.matcher.scan(v);
        // Offsets point into the text; property hits carry none.
        h.per_rule.iter_mut().for_each(|r| r.first = None);
        content.merge(&h);
    }
    // What the parser did not read (a sector it lost, a hidden part, a
    // script or comment) may still hold a term's bytes: keep, per rule, the
    // larger of the decoded and the raw count (issue 15). Archives are left
    // out: their members are analysed, and found, on their own.
    let decoded = content.clone();
    if !matches!(
        fmt,
        Format::Zip
            | Format::Gzip
            | Format::Tar
            | Format::SevenZ
            | Format::Xz
            | Format::Bzip2
            | Format::Rar
    ) {
        crate::raw::max_merge(&mut content, &c.raw.scan(data));
    }
    let marking = c
        .markings
        .metadata(&doc.properties)
        .or_else(|| c.markings.head(doc.head.as_deref().unwrap_or(&doc.text)));
    judge(path, data, format, marking, &content, names, c, a);
    mark_raw(a, path, c.matcher.rules(), &decoded, &content);
    if doc.truncated {
        a.findings.push(verdict::unscannable_reason(
            path,
            Some(data),
            format,
            "limit",
            format!(
                "text beyond {} characters was not scanned",
                ctx.limits.max_text_chars
            ),
        ));
    }
    if let Some(e) = &doc.incomplete {
        a.findings
            .push(verdict::unscannable(path, Some(data), format, e));
    }
    for f in &doc.failed_children {
        let p = child_path(path, &f.name);
        a.findings
            .push(verdict::unscannable(&p, None, "unknown", &f.error));
    }
    for child in &doc.children {
        let p = child_path(path, &child.name);
        if ctx.depth + 1 > ctx.limits.max_depth {
            a.findings.push(verdict::unscannable_reason(
                &p,
                Some(&child.data),
                "unknown",
                "limit",
                format!("nested deeper than {} levels", ctx.limits.max_depth),
            ));
            continue;
        }
        if let Err(e) = ctx.check_time() {
            a.findings
                .push(verdict::unscannable(&p, Some(&child.data), "unknown", &e));
            continue;
        }
        ctx.depth += 1;
        one(&p, &child.data, ctx, c, a);
        ctx.depth -= 1;
    }
    format
}

#[allow(clippy::too_many_arguments)]
fn judge(
    path: &Path,
    data: &[u8],
    format: &str,
    marking: Option<Found>,
    content: &Hits,
    names: &Hits,
    c: &Compiled,
    a: &mut Analysis,
) {
    let ev = verdict::Evidence {
        path,
        data,
        format,
        marking,
        content,
        name: names,
    };
    if let Some(f) = verdict::judge(&ev, c.matcher.rules(), c.host_level) {
        a.findings.push(f);
    }
}

/// Bytes of a legacy-encoded text decoded for its marking when the rest
/// need not be decoded (the marking is in its first non-empty lines).
const LEGACY_HEAD: usize = 64 * 1024;

/// Chunk size for streamed text.
const CHUNK: usize = 8 << 20;

/// Analyse a file read from `r`. Plain text larger than one chunk is
/// streamed (decoded and matched chunk by chunk with an overlap, hashed on
/// the way); anything else is read whole, up to `max_file_bytes`.
pub fn analyse_reader(path: &Path, r: &mut dyn Read, ctx: &mut Ctx, c: &Compiled) -> Analysis {
    let mut first = Vec::new();
    if let Err(e) = (&mut *r).take(CHUNK as u64).read_to_end(&mut first) {
        return failed_read(path, e);
    }
    if first.len() < CHUNK {
        return analyse(path, &first, ctx, c);
    }
    if sniff(&first) != Format::Text {
        let cap = ctx.limits.max_file_bytes;
        if let Err(e) = (&mut *r)
            .take(cap.saturating_sub(first.len() as u64) + 1)
            .read_to_end(&mut first)
        {
            return failed_read(path, e);
        }
        if first.len() as u64 > cap {
            let mut a = Analysis {
                format: sniff(&first).name(),
                files: 1,
                ..Analysis::default()
            };
            a.findings.push(verdict::unscannable_reason(
                path,
                None,
                a.format,
                "limit",
                format!("file larger than {cap} bytes"),
            ));
            return a;
        }
        return analyse(path, &first, ctx, c);
    }
    stream_text(path, first, r, ctx, c)
}

fn failed_read(path: &Path, e: std::io::Error) -> Analysis {
    let reason = if e.kind() == std::io::ErrorKind::PermissionDenied {
        "permission"
    } else {
        "io"
    };
    Analysis {
        findings: vec![unreadable(path, reason, format!("could not read: {e}"))],
        format: "unknown",
        files: 1,
        ..Analysis::default()
    }
}

fn stream_text(
    path: &Path,
    first: Vec<u8>,
    r: &mut dyn Read,
    ctx: &mut Ctx,
    c: &Compiled,
) -> Analysis {
    let mut a = Analysis {
        format: "text",
        files: 1,
        ..Analysis::default()
    };
    let names = name_hits(path, c);
    let mut hasher = Sha256::new();
    hasher.update(&first);
    // UTF-16 is decided on the first chunk (later chunks have no BOM) and
    // decoded as one stream; anything else is decoded chunk by chunk, cut at
    // line ends, with the same tolerant line-wise decoding as small files,
    // so a log that turns from UTF-8 to GBK halfway is read right.
    let utf16 = {
        let d = text::decode(&first);
        d.encoding
            .starts_with("UTF-16")
            .then(|| encoding_rs::Encoding::for_label(d.encoding.as_bytes()))
            .flatten()
    };
    let mut decoder = utf16.map(|e| e.new_decoder_with_bom_removal());
    let mut pending: Vec<u8> = Vec::new();
    let mut raw_hits = Hits::default();
    let mut carry = String::new();
    let mut piece = String::new();
    let mut content = Hits::default();
    let mut marking = None;
    let mut chunk = first;
    let mut is_first = true;
    let mut total = 0u64;
    loop {
        let last = chunk.len() < CHUNK;
        total += chunk.len() as u64;
        piece.clear();
        piece.push_str(&carry);
        let split = piece.len();
        match &mut decoder {
            Some(decoder) => {
                piece.reserve(
                    decoder
                        .max_utf8_buffer_length(chunk.len())
                        .unwrap_or(chunk.len() * 3),
                );
                let _ = decoder.decode_to_string(&chunk, &mut piece, last);
            }
            None => {
                pending.extend_from_slice(&chunk);
                let cut = if last {
                    pending.len()
                } else {
                    memchr::memrchr(b'\n', &pending).map_or_else(|| utf8_cut(&pending), |i| i + 1)
                };
                let d = text::decode(&pending[..cut]);
                piece.push_str(&d.text);
                if d.lossy {
                    raw_hits.merge(&c.raw.scan(&pending[..cut]));
                }
                pending.drain(..cut);
            }
        }
        if is_first {
            marking = c.markings.head(&piece);
        }
        let mut h = c.matcher.scan_from(&piece, split);
        if !is_first {
            // Offsets are only known within the first chunk.
            h.per_rule.iter_mut().for_each(|r| r.first = None);
        }
        content.merge(&h);
        is_first = false;
        if last {
            break;
        }
        let keep = c.matcher.carry_start(&piece);
        carry.clear();
        carry.push_str(&piece[keep..]);
        if ctx.check_time().is_err() {
            a.findings.push(verdict::unscannable_reason(
                path,
                None,
                "text",
                "timeout",
                format!("stopped after {total} bytes"),
            ));
            break;
        }
        chunk = Vec::with_capacity(CHUNK);
        if let Err(e) = (&mut *r).take(CHUNK as u64).read_to_end(&mut chunk) {
            let mut f = failed_read(path, e);
            a.findings.append(&mut f.findings);
            break;
        }
        hasher.update(&chunk);
    }
    let sha = hex::encode(hasher.finalize());
    let decoded = content.clone();
    crate::raw::max_merge(&mut content, &raw_hits);
    // Judge with an empty byte slice, then put the streamed hash in.
    let ev = verdict::Evidence {
        path,
        data: &[],
        format: "text",
        marking,
        content: &content,
        name: &names,
    };
    if let Some(mut f) = verdict::judge(&ev, c.matcher.rules(), c.host_level) {
        f.sha256 = Some(sha.clone());
        a.findings.push(f);
        mark_raw(&mut a, path, c.matcher.rules(), &decoded, &content);
    }
    for f in &mut a.findings {
        if f.kind == FindingKind::Unscannable {
            f.sha256 = None;
        }
    }
    a
}

/// Where to cut a line-less chunk: before a UTF-8 character split by the
/// chunk's end (the rest is decoded with the next chunk).
fn utf8_cut(b: &[u8]) -> usize {
    let n = b.len();
    for back in 1..=3.min(n) {
        let x = b[n - back];
        if x & 0xC0 == 0x80 {
            continue;
        }
        let need = match x {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if need > back { n - back } else { n };
    }
    n
}

/// Rule ids and counts of a finding, for tests and summaries.
pub fn summary(f: &Finding) -> Vec<(String, u64)> {
    f.matches
        .iter()
        .map(|RuleMatch { rule, count, .. }| (rule.clone(), *count))
        .collect()
}

#[cfg(test)]
mod tests;
