//! The raw-byte safety net (issue 15, "evasion by one byte"): every keyword
//! term, encoded in every supported encoding (UTF-8, GB18030/GBK, Big5,
//! UTF-16LE, UTF-16BE), searched for in the *undecoded* bytes of a file.
//!
//! Decoding can be fooled by one byte: a NUL makes text look binary, one
//! invalid UTF-8 byte sends charset detection to another encoding, a damaged
//! OLE directory makes the parser give up. None of that moves the bytes of a
//! term, so whenever a file's text was not read cleanly (binary-looking
//! content, a lossy or guessed decode, an extractor that failed) the engine
//! also runs this search and keeps, per rule, the larger of the two counts.
//!
//! Byte patterns of double-byte encodings can match across character
//! boundaries (PITFALLS) and short patterns occur by chance in compressed
//! data, so a hit of a pattern shorter than [`SURE_LEN`] bytes counts only
//! when the bytes around it read as text in the same encoding. Regex rules
//! are not searched here (they need decoded text); their literal-free form
//! has no byte pattern. Hidden rules (issue 13) are searched from their
//! hashed byte spellings by `crate::hidden::raw`, counted alike.

use crate::matcher::{Hits, Matcher, RuleHit};
use crate::normalise;
use aho_corasick::{AhoCorasick, MatchKind};
use mijian_policy::Keywords;

/// Patterns at least this long count without a context check.
pub(crate) const SURE_LEN: usize = 8;
/// Bytes of context checked on each side of a short hit.
const CONTEXT: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Enc {
    Utf8,
    Gb18030,
    Big5,
    Utf16Le,
    Utf16Be,
}

/// The compiled byte patterns of one policy's terms.
pub struct RawSearcher {
    ac: Option<AhoCorasick>,
    /// The UTF-16 patterns alone (see [`RawSearcher::utf16_match`]).
    utf16: Option<AhoCorasick>,
    /// Per pattern: rule index and encoding.
    meta: Vec<(usize, Enc)>,
    rules: usize,
    /// Hidden rules' byte spellings (issue 13, `crate::hidden::raw`).
    hidden: crate::hidden::raw::HiddenRaw,
}

impl Enc {
    /// In tag order (`mijian_policy::hashed::RAW_TAGS`).
    pub(crate) const ALL: [Enc; 5] = [
        Enc::Utf8,
        Enc::Gb18030,
        Enc::Big5,
        Enc::Utf16Le,
        Enc::Utf16Be,
    ];
}

/// Every byte pattern of `term` the raw search looks for: (bytes, encoding
/// tag: 0 UTF-8, 1 GB18030, 2 Big5, 3 UTF-16LE, 4 UTF-16BE). Hidden mode
/// stores their salted hashes (`mijian_policy::bundle::hide`), so both
/// modes search alike.
pub fn byte_spellings(term: &str) -> Vec<(Vec<u8>, u8)> {
    let mut v = Vec::new();
    for s in spellings(term) {
        for (tag, enc) in Enc::ALL.into_iter().enumerate() {
            if let Some(b) = encode(&s, enc)
                && b.len() >= 2
            {
                v.push((b, tag as u8));
            }
        }
    }
    v
}

/// A term's spellings worth searching for as bytes: as written, folded
/// (simplified, lower case), and a traditional spelling (for Big5 text).
fn spellings(term: &str) -> Vec<String> {
    let norm = normalise::normalise(term);
    let mut v = vec![term.to_string(), norm.clone(), norm.to_uppercase()];
    let trad: String = norm
        .chars()
        .map(|c| {
            if (c as u32) < 0x2E80 {
                return c;
            }
            normalise::preimages(c)
                .and_then(|p| {
                    p.into_iter()
                        .find(|&t| t != c && (0x4E00..=0x9FFF).contains(&(t as u32)))
                })
                .unwrap_or(c)
        })
        .collect();
    v.push(trad);
    v.retain(|s| !s.trim().is_empty());
    v.sort();
    v.dedup();
    v
}

fn encode(s: &str, enc: Enc) -> Option<Vec<u8>> {
    match enc {
        Enc::Utf8 => Some(s.as_bytes().to_vec()),
        Enc::Gb18030 | Enc::Big5 => {
            let e = if enc == Enc::Big5 {
                encoding_rs::BIG5
            } else {
                encoding_rs::GB18030
            };
            let (b, _, errors) = e.encode(s);
            // A spelling with no ASCII-free form in this encoding, or one
            // that is pure ASCII (already the UTF-8 pattern), is skipped.
            (!errors && !s.is_ascii()).then(|| b.into_owned())
        }
        Enc::Utf16Le => Some(s.encode_utf16().flat_map(u16::to_le_bytes).collect()),
        Enc::Utf16Be => Some(s.encode_utf16().flat_map(u16::to_be_bytes).collect()),
    }
}

impl RawSearcher {
    pub fn new(kw: &Keywords) -> RawSearcher {
        let mut pats: Vec<(Vec<u8>, usize, Enc)> = Vec::new();
        for (rule, r) in kw.rules.iter().enumerate() {
            for t in &r.terms {
                for (b, tag) in byte_spellings(t) {
                    pats.push((b, rule, Enc::ALL[tag as usize]));
                }
            }
        }
        pats.sort();
        pats.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let ac = if pats.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(pats.iter().map(|p| &p.0))
                .ok()
        };
        let wide: Vec<&Vec<u8>> = pats
            .iter()
            .filter(|p| matches!(p.2, Enc::Utf16Le | Enc::Utf16Be))
            .map(|p| &p.0)
            .collect();
        let utf16 = if wide.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(wide)
                .ok()
        };
        RawSearcher {
            meta: pats.iter().map(|p| (p.1, p.2)).collect(),
            ac,
            utf16,
            rules: kw.rules.len(),
            hidden: crate::hidden::raw::HiddenRaw::new(kw),
        }
    }

    /// Heap bytes of the byte patterns (automata and hidden tables).
    pub fn memory_usage(&self) -> usize {
        self.ac.as_ref().map_or(0, |a| a.memory_usage())
            + self.utf16.as_ref().map_or(0, |a| a.memory_usage())
            + self.meta.capacity() * 16
            + self.hidden.heap_bytes()
    }

    /// Whether some term occurs in `data` as UTF-16 (either byte order).
    pub fn utf16_match(&self, data: &[u8]) -> bool {
        self.utf16.as_ref().is_some_and(|ac| ac.is_match(data))
    }

    /// Count term occurrences in raw bytes, per rule (no offsets: they would
    /// not be offsets into any decoded text).
    pub fn scan(&self, data: &[u8]) -> Hits {
        let mut hits = Hits {
            per_rule: vec![RuleHit::default(); self.rules],
        };
        self.hidden.scan(data, &mut hits);
        let Some(ac) = &self.ac else {
            return hits;
        };
        // Most files hold no pattern at all: the unanchored check runs with
        // the automaton's prefilter, the overlapping walk only after a hit.
        if !ac.is_match(data) {
            return hits;
        }
        let mut next_free = vec![0usize; self.rules];
        for m in ac.find_overlapping_iter(data) {
            let (rule, enc) = self.meta[m.pattern().as_usize()];
            if m.start() < next_free[rule] {
                continue;
            }
            if m.len() < SURE_LEN && !texty_context(data, m.start(), m.end(), enc) {
                continue;
            }
            next_free[rule] = m.end();
            hits.per_rule[rule].count += 1;
        }
        hits
    }
}

/// Whether the bytes right before and after a short hit read as text in its
/// encoding: the hit is then most likely a real word, not a chance run of
/// bytes in compressed or machine data. File edges count as text.
pub(crate) fn texty_context(data: &[u8], start: usize, end: usize, enc: Enc) -> bool {
    let before = &data[start.saturating_sub(CONTEXT)..start];
    let after = &data[end..data.len().min(end + CONTEXT)];
    match enc {
        Enc::Utf8 => {
            // Multi-byte UTF-8 of 2+ characters is rarely chance; check the
            // tail anyway (it is cheap): cut characters at the edges are fine.
            utf8_ok(after, true) || utf8_ok(before, false)
        }
        Enc::Gb18030 | Enc::Big5 => {
            let e = if enc == Enc::Big5 {
                encoding_rs::BIG5
            } else {
                encoding_rs::GB18030
            };
            // The last character may be cut by the window: one error allowed.
            let after_ok = {
                let (s, _) = e.decode_without_bom_handling(after);
                s.chars().filter(|&c| c == '\u{fffd}').count() <= 1 && texty(&s)
            };
            // Before: the window may start inside a character; either
            // alignment reading cleanly will do.
            let before_ok = before.is_empty()
                || [0usize, 1].iter().any(|&k| {
                    before.len() > k && {
                        let (s, errors) = e.decode_without_bom_handling(&before[k..]);
                        !errors && texty(&s)
                    }
                });
            after_ok && before_ok
        }
        Enc::Utf16Le | Enc::Utf16Be => {
            let unit = |b: &[u8]| -> Vec<u16> {
                b.chunks_exact(2)
                    .map(|p| {
                        if enc == Enc::Utf16Le {
                            u16::from_le_bytes([p[0], p[1]])
                        } else {
                            u16::from_be_bytes([p[0], p[1]])
                        }
                    })
                    .collect()
            };
            let ok = |units: &[u16]| {
                units.iter().all(|&u| {
                    matches!(u, 0x09 | 0x0a | 0x0d | 0x20..=0x7e | 0x3000..=0x303f | 0x4e00..=0x9fff | 0xff00..=0xffef)
                })
            };
            // Hits start on the pattern's own alignment.
            let b_start = before.len() % 2;
            ok(&unit(&before[b_start..])) && ok(&unit(after))
        }
    }
}

/// No control characters other than line breaks and tabs.
fn texty(s: &str) -> bool {
    s.chars()
        .all(|c| c == '\u{fffd}' || !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
}

/// `b` is valid UTF-8 text, allowing a character cut at the window's edge
/// (`at_end`: the cut is at the end, else at the start).
fn utf8_ok(b: &[u8], at_end: bool) -> bool {
    if b.is_empty() {
        return true;
    }
    let s = if at_end {
        match std::str::from_utf8(b) {
            Ok(s) => s,
            Err(e) if e.error_len().is_none() => match std::str::from_utf8(&b[..e.valid_up_to()]) {
                Ok(s) => s,
                Err(_) => return false,
            },
            Err(_) => return false,
        }
    } else {
        // Skip continuation bytes of a character cut at the start.
        let skip = b.iter().take(3).take_while(|&&x| x & 0xC0 == 0x80).count();
        match std::str::from_utf8(&b[skip..]) {
            Ok(s) => s,
            Err(_) => return false,
        }
    };
    texty(s)
}

/// A byte prefilter for text in a legacy encoding (issue 15, speed): the
/// matcher's anchor characters (every term and regex literal needs one) in
/// UTF-8, GB18030, Big5 and UTF-16. Text in which none of those byte
/// sequences occurs cannot hold a match in any of these encodings, so it is
/// neither charset-detected nor decoded beyond its head (for the marking).
/// Chance hits across character boundaries only send a file down the full
/// path; they never drop one. An aligned hit counts only when its
/// neighbours, decoded from a small window in that hit's encoding, can
/// stand beside that anchor in a match ([`Matcher::candidate_ok`]): so
/// neither charset detection nor a whole-file decode runs on a legacy file
/// whose anchors are only ordinary words (issue 15, speed).
pub struct LegacyPrefilter {
    find: Finder,
    /// Every pattern with its encoding (a byte string may stand for a
    /// character in two encodings: both are checked).
    pats: Vec<(Vec<u8>, Enc)>,
}

/// The leftmost hit of a small literal set: SIMD Teddy when the CPU has it
/// (several times faster on double-byte text than an automaton's
/// overlapping walk, 14% of a text scan's CPU before), else the automaton.
enum Finder {
    Packed(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl Finder {
    fn find_from(&self, data: &[u8], at: usize) -> Option<usize> {
        match self {
            Finder::Packed(s) => s
                .find_in(data, aho_corasick::Span::from(at..data.len()))
                .map(|m| m.start()),
            Finder::Automaton(a) => a
                .find(aho_corasick::Input::new(data).span(at..data.len()))
                .map(|m| m.start()),
        }
    }
}

/// Bytes looked back for a point where double-byte text is surely aligned.
const SYNC_WINDOW: usize = 512;

impl LegacyPrefilter {
    /// `None` when there is no sound prefilter: no anchors (an unbounded
    /// regex), or an ASCII anchor (its byte is everywhere). UTF-16 is left
    /// to [`RawSearcher::utf16_match`] (whole terms: two-byte anchors
    /// would match everywhere in double-byte text).
    pub fn new(anchors: Option<&[String]>) -> Option<LegacyPrefilter> {
        let mut pats: Vec<(Vec<u8>, Enc)> = Vec::new();
        for lit in anchors? {
            if lit.is_ascii() {
                return None;
            }
            for enc in [Enc::Utf8, Enc::Gb18030, Enc::Big5] {
                if let Some(b) = encode(lit, enc) {
                    pats.push((b, enc));
                }
            }
        }
        pats.sort();
        pats.dedup();
        if pats.is_empty() {
            return None;
        }
        let mut uniq: Vec<&[u8]> = pats.iter().map(|p| p.0.as_slice()).collect();
        uniq.dedup();
        let packed = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(&uniq)
            .build();
        let find = match packed {
            Some(s) => Finder::Packed(s),
            None => Finder::Automaton(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(&uniq)
                    .ok()?,
            ),
        };
        Some(LegacyPrefilter { find, pats })
    }

    /// Whether any anchor's bytes occur in `data` where a character can
    /// start: a double-byte hit counts unless decoding from the last byte
    /// that cannot be a trail byte (below 0x40) puts it mid-character; and,
    /// given the matcher, unless its decoded neighbours rule out a match.
    pub fn candidates(&self, data: &[u8], m: Option<&Matcher>) -> bool {
        // Every position where some pattern starts: the leftmost hit, then
        // on from the next byte (hits may overlap), each pattern there.
        let mut at = 0;
        while let Some(start) = self.find.find_from(data, at) {
            for (p, enc) in &self.pats {
                if data[start..].starts_with(p)
                    && (*enc == Enc::Utf8 || aligned(data, start))
                    && m.is_none_or(|m| neighbours_ok(m, data, start, start + p.len(), *enc))
                {
                    return true;
                }
            }
            at = start + 1;
        }
        false
    }
}

/// Bytes decoded after a legacy candidate (and before a UTF-8 one).
const BESIDE_BYTES: usize = 256;

/// [`Matcher::candidate_ok`], then [`Matcher::window_match`], for an
/// anchor hit at `start..end` of raw
/// bytes in `enc`: the window after it is decoded from the hit on, the one
/// before from the nearest byte that cannot be inside a character (UTF-8:
/// the window's first character boundary). Replacement characters (a cut or
/// bad byte) make the check say yes, as does a missing sync point.
fn neighbours_ok(m: &Matcher, data: &[u8], start: usize, end: usize, enc: Enc) -> bool {
    let after = &data[end..data.len().min(end + BESIDE_BYTES)];
    match enc {
        Enc::Utf8 => {
            let floor = start.saturating_sub(BESIDE_BYTES);
            let Some(anchor) = std::str::from_utf8(&data[start..end])
                .ok()
                .and_then(|s| s.chars().next())
            else {
                return true;
            };
            let skip = data[floor..start]
                .iter()
                .take(3)
                .take_while(|&&b| b & 0xC0 == 0x80)
                .count();
            let before = String::from_utf8_lossy(&data[floor + skip..start]);
            let after = String::from_utf8_lossy(after);
            let whole = (floor == 0, end + BESIDE_BYTES >= data.len());
            m.candidate_ok(&before, anchor, &after)
                && m.window_match(&before, &data[start..end], &after, whole)
        }
        Enc::Gb18030 | Enc::Big5 => {
            let e = if enc == Enc::Big5 {
                encoding_rs::BIG5
            } else {
                encoding_rs::GB18030
            };
            let (a, _) = e.decode_without_bom_handling(&data[start..end]);
            let Some(anchor) = a.chars().next() else {
                return true;
            };
            // A window cut mid-character ends with a replacement: the walk
            // forward stops there and says yes.
            let (after, _) = e.decode_without_bom_handling(after);
            // Before: from the start of the text, or from the earliest byte
            // of the window that is neither a trail byte nor a GB18030
            // four-byte digit (so a character of its own): the characters
            // stay aligned. With none, from each of the first four bytes
            // (one of them starts a character): a candidate is ruled out
            // only when every reading rules it out.
            let floor = start.saturating_sub(SYNC_WINDOW);
            let sync = data[floor..start]
                .iter()
                .position(|&b| b < 0x40 && !b.is_ascii_digit());
            let starts = match sync {
                _ if floor == 0 => 0..1,
                Some(i) => floor + i..floor + i + 1,
                None => floor..(floor + 4).min(start + 1),
            };
            starts.into_iter().any(|from| {
                let (before, _) = e.decode_without_bom_handling(&data[from..start]);
                let whole = (from == 0, end + BESIDE_BYTES >= data.len());
                m.candidate_ok(&before, anchor, &after)
                    && m.window_match(&before, a.as_bytes(), &after, whole)
            })
        }
        Enc::Utf16Le | Enc::Utf16Be => true,
    }
}

/// Whether some character's bytes occur anywhere in text, in UTF-8,
/// GB18030 or Big5 (the encodings a legacy head is read in for its
/// marking): the byte prefilter for the marking of a legacy-encoded head (a
/// marking needs a level word, so one of its characters). No alignment
/// check: it only spares a head's decoding.
pub struct AnyBytes {
    ac: AhoCorasick,
}

impl AnyBytes {
    /// `None` when there is nothing to look for or a character is ASCII.
    pub fn new(chars: &[char]) -> Option<AnyBytes> {
        let mut pats: Vec<Vec<u8>> = Vec::new();
        for &c in chars {
            if c.is_ascii() {
                return None;
            }
            let s = c.to_string();
            pats.push(s.as_bytes().to_vec());
            for e in [encoding_rs::GB18030, encoding_rs::BIG5] {
                let (b, _, errors) = e.encode(&s);
                if !errors {
                    pats.push(b.into_owned());
                }
            }
        }
        pats.sort();
        pats.dedup();
        if pats.is_empty() {
            return None;
        }
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&pats)
            .ok()?;
        Some(AnyBytes { ac })
    }

    pub fn is_match(&self, data: &[u8]) -> bool {
        self.ac.is_match(data)
    }
}

/// Whether `at` is a character boundary of double-byte (GBK, Big5) text,
/// judged from the nearest earlier byte below 0x40 (a single-byte
/// character in both); unknown (true) when none is near.
fn aligned(data: &[u8], at: usize) -> bool {
    let floor = at.saturating_sub(SYNC_WINDOW);
    let Some(sync) = data[floor..at].iter().rposition(|&b| b < 0x40) else {
        return true;
    };
    let mut i = floor + sync + 1;
    while i < at {
        // A lead byte takes the next byte with it; ASCII stands alone.
        // (GB18030's four-byte forms start with a lead and a digit: two
        // steps of two, which keeps the parity.)
        i += if data[i] >= 0x81 { 2 } else { 1 };
    }
    i == at
}

/// Per rule, the larger count of `a` and `b` (the same occurrence found
/// both in decoded text and in raw bytes must not count twice); `a`'s
/// offsets are kept.
pub fn max_merge(a: &mut Hits, b: &Hits) {
    if a.per_rule.len() < b.per_rule.len() {
        a.per_rule.resize(b.per_rule.len(), RuleHit::default());
    }
    for (x, y) in a.per_rule.iter_mut().zip(&b.per_rule) {
        x.count = x.count.max(y.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mijian_policy::KeywordRule;
    use mijian_report::Severity;

    fn searcher(terms: &[&str]) -> RawSearcher {
        RawSearcher::new(&Keywords {
            rules: vec![KeywordRule {
                id: "a".into(),
                terms: terms.iter().map(|t| t.to_string()).collect(),
                regex: None,
                severity: Severity::High,
                description: None,
                file: "t.toml".into(),
                hidden: None,
            }],
        })
    }

    fn count(s: &RawSearcher, data: &[u8]) -> u64 {
        s.scan(data).per_rule[0].count
    }

    #[test]
    fn every_encoding_of_a_term_is_found_in_binary_surroundings() {
        let s = searcher(&["玄鸟柒号", "XN-07A型"]);
        for (enc, text) in [
            (encoding_rs::UTF_8, "玄鸟柒号"),
            (encoding_rs::GBK, "玄鸟柒号"),
            (encoding_rs::BIG5, "玄鳥柒號"),
        ] {
            let (b, _, _) = enc.encode(text);
            let data = [&b"\0\x01binary\0"[..], &b, b"\0\0tail"].concat();
            assert_eq!(count(&s, &data), 1, "{}", enc.name());
        }
        let le: Vec<u8> = "内容玄鸟柒号。"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let be: Vec<u8> = "内容玄鸟柒号。"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(count(&s, &[&b"\0\x07"[..], &le].concat()), 1);
        assert_eq!(count(&s, &[&b"\0"[..], &be].concat()), 1);
        assert_eq!(count(&s, b"\0\0model xn-07a\xe5\x9e\x8b\0"), 1);
    }

    #[test]
    fn short_patterns_need_text_around_them() {
        let s = searcher(&["机密"]);
        let (gbk, _, _) = encoding_rs::GBK.encode("机密");
        // Among text: found.
        let (t, _, _) = encoding_rs::GBK.encode("这是机密文件");
        assert_eq!(count(&s, &t), 1);
        // Among random-looking bytes: a chance match, not counted.
        let noise: Vec<u8> = (0u32..64)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x01)
            .collect();
        let data = [&noise[..32], &gbk, &[0x03, 0x9f, 0x00, 0x11], &noise[32..]].concat();
        assert_eq!(count(&s, &data), 0);
    }

    #[test]
    fn legacy_prefilter_ignores_misaligned_double_byte_hits() {
        let lits: Vec<String> = ["示".to_string()].into();
        let pf = LegacyPrefilter::new(Some(&lits)).unwrap();
        let (shi, _, _) = encoding_rs::GBK.encode("示");
        assert_eq!(&shi[..], b"\xca\xbe");
        // Two GBK characters whose bytes straddle CA BE: no 示 there.
        let (pair, _, bad) = encoding_rs::GBK.decode(b"\xb0\xca\xbe\xa1");
        assert!(!bad && !pair.contains('示'));
        assert!(!pf.candidates(b"line\n\xb0\xca\xbe\xa1\xb0\xca\xbe\xa1", None));
        assert!(pf.candidates(b"line\n\xb0\xca\xca\xbe", None));
        assert!(pf.candidates("UTF-8 示".as_bytes(), None));
        assert!(LegacyPrefilter::new(Some(&["x".to_string()])).is_none());
    }

    #[test]
    fn max_merge_does_not_double_count() {
        let mut a = Hits {
            per_rule: vec![
                RuleHit {
                    count: 2,
                    first: Some(4),
                },
                RuleHit::default(),
            ],
        };
        let b = Hits {
            per_rule: vec![
                RuleHit {
                    count: 1,
                    first: None,
                },
                RuleHit {
                    count: 3,
                    first: None,
                },
            ],
        };
        max_merge(&mut a, &b);
        assert_eq!(
            a.per_rule[0],
            RuleHit {
                count: 2,
                first: Some(4)
            }
        );
        assert_eq!(a.per_rule[1].count, 3);
    }
}
