//! Keyword matching: one Aho-Corasick automaton over every normalised term of
//! the policy plus the regex rules, run over normalised text (CONTRACT §6),
//! counting matches per rule and the first offset. Built once per policy.
//!
//! Normalising every byte of a large text costs more than searching it, so
//! when it is sound the matcher first searches the *raw* text for the
//! characters that can fold into one chosen "anchor" character of each term
//! (its preimages under the fold: `机`, `機`, the compatibility ideograph ...)
//! and normalises only regions around those candidates, wide enough to hold
//! any match through that anchor (counted in characters that produce output,
//! so whitespace and zero-width padding inside a term is walked over, not
//! guessed). Regions are merged, so each match lies in exactly one region.
//! A candidate opens a region only when the characters it stands between
//! can belong to a match (issue 15, speed): the first output-producing
//! character after it must be one that follows that anchor in some term,
//! and the last one before it one that precedes it (whitespace and
//! invisible characters are walked over; a combining mark, a character that
//! folds to several, or a long run of invisibles makes the check say yes).
//! In Chinese prose a term's rarest character is often an ordinary one
//! (示 of 示例工程); its neighbours almost never are the term's.
//! Regex rules join the prefilter when their matches start with a known set
//! of literals and have a bounded length; otherwise the whole text is
//! normalised. Reported offsets are character offsets into the normalised
//! text and are computed only for the first match of each rule.

use crate::ScanError;
use crate::normalise::{self, Fold};
use aho_corasick::{AhoCorasick, MatchKind};
use mijian_policy::Keywords;
use mijian_report::Severity;
use regex::Regex;

/// A rule as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    pub id: String,
    pub severity: Severity,
}

/// Matches of one rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleHit {
    pub count: u64,
    /// Character offset of the first match in the normalised text.
    pub first: Option<u64>,
}

/// Matches per rule, indexed like [`Matcher::rules`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hits {
    pub per_rule: Vec<RuleHit>,
}

impl Hits {
    pub fn any(&self) -> bool {
        self.per_rule.iter().any(|h| h.count > 0)
    }
    /// Add `other`'s counts; keep the smaller first offset.
    pub fn merge(&mut self, other: &Hits) {
        if self.per_rule.len() < other.per_rule.len() {
            self.per_rule
                .resize(other.per_rule.len(), RuleHit::default());
        }
        for (a, b) in self.per_rule.iter_mut().zip(&other.per_rule) {
            a.count += b.count;
            a.first = match (a.first, b.first) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
        }
    }
}

/// A searcher for a small set of literals: SIMD Teddy when the CPU has it
/// (several times faster than the automaton's rare-byte prefilter on CJK
/// text, whose UTF-8 bytes are all common), else the automaton.
enum Literals {
    Packed(aho_corasick::packed::Searcher, usize),
    Automaton(AhoCorasick),
}

impl Literals {
    fn find_iter<'a>(&'a self, raw: &'a str) -> Box<dyn Iterator<Item = (usize, usize)> + 'a> {
        match self {
            Literals::Packed(s, _) => Box::new(s.find_iter(raw).map(|m| (m.start(), m.end()))),
            Literals::Automaton(a) => Box::new(a.find_iter(raw).map(|m| (m.start(), m.end()))),
        }
    }

    fn len(&self) -> usize {
        match self {
            Literals::Packed(_, n) => *n,
            Literals::Automaton(a) => a.patterns_len(),
        }
    }
}

struct Prefilter {
    /// Preimages of every anchor, as UTF-8 literals over raw text.
    ac: Literals,
    /// Per anchor (normalised): what may stand beside it in a match.
    beside: std::collections::HashMap<char, Beside>,
    /// The same literals as strings (for byte prefilters in other encodings).
    lits: Vec<String>,
    /// Output-producing characters needed before / after a candidate.
    back: usize,
    fwd: usize,
}

/// The normalised characters allowed right before / after an anchor in a
/// match (`None`: any — the anchor starts or ends a term, or a regex's).
#[derive(Debug, Clone)]
struct Beside {
    prev: Option<Vec<char>>,
    next: Option<Vec<char>>,
}

impl Beside {
    fn allow(slot: &mut Option<Vec<char>>, c: Option<char>) {
        match (slot.as_mut(), c) {
            (_, None) => *slot = None,
            (Some(v), Some(c)) => {
                if !v.contains(&c) {
                    v.push(c);
                }
            }
            (None, Some(_)) => {}
        }
    }
}

/// Characters walked over (invisible, blank) beside a candidate before the
/// neighbour check gives up and says yes.
const BESIDE_WALK: usize = 64;

/// The output a neighbour produces, as far as one character can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Char(char),
    Unknown,
}

/// The first output-producing character of `after`, unless context can
/// change it (a combining mark after it), it folds to several characters,
/// or it is a replacement character (a decode that went wrong).
fn next_output(after: &str) -> Side {
    let mut it = after.chars().take(BESIDE_WALK).peekable();
    while let Some(c) = it.next() {
        let out = match normalise::fold_char(c) {
            Fold::Remove => continue,
            Fold::One(x) if c != '\u{fffd}' => x,
            _ => return Side::Unknown,
        };
        return match it.peek() {
            Some(&n) if !n.is_ascii() && normalise::fold_of(n) == Fold::Context => Side::Unknown,
            _ => Side::Char(out),
        };
    }
    Side::Unknown
}

/// The last output-producing character of `before` (see [`next_output`]).
fn prev_output(before: &str) -> Side {
    for c in before.chars().rev().take(BESIDE_WALK) {
        return match normalise::fold_char(c) {
            Fold::Remove => continue,
            Fold::One(x) if c != '\u{fffd}' => Side::Char(x),
            _ => Side::Unknown,
        };
    }
    Side::Unknown
}

/// The compiled keyword rules of one policy.
pub struct Matcher {
    rules: Vec<RuleInfo>,
    terms: Option<AhoCorasick>,
    term_rule: Vec<usize>,
    regexes: Vec<(usize, Regex)>,
    prefilter: Option<Prefilter>,
    /// Rules given as salted hashes (issue 13, `crate::hidden`).
    hidden: crate::hidden::HiddenTerms,
}

/// A raw character's weight when choosing the rarest anchor of a term.
fn char_cost(c: char) -> u64 {
    match c {
        'e' | 't' | 'a' | 'o' | 'i' | 'n' | 's' | 'r' | 'h' | 'l' | ' ' => 400,
        'a'..='z' | 'A'..='Z' => 200,
        '0'..='9' => 150,
        '\0'..='\x7f' => 100,
        '的' | '一' | '是' | '在' | '了' | '和' | '有' | '中' | '人' | '国' | '不' | '为'
        | '这' | '上' | '个' | '大' | '年' | '工' | '作' | '出' | '会' | '发' | '行' | '理'
        | '号' | '文' | '密' | '部' | '公' | '管' => 30,
        '\u{80}'..='\u{2fff}' => 20,
        _ => 3,
    }
}

impl Matcher {
    pub fn new(kw: &Keywords) -> Result<Matcher, ScanError> {
        let mut rules = Vec::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut term_rule = Vec::new();
        let mut regexes = Vec::new();
        // Prefilter inputs: anchor characters and how far matches reach.
        let mut anchors: Vec<char> = Vec::new();
        let mut beside: std::collections::HashMap<char, Beside> = Default::default();
        let (mut back, mut fwd) = (0usize, 0usize);
        let mut prefilter_ok = true;
        let mut hidden = crate::hidden::HiddenTerms::default();
        for r in &kw.rules {
            let idx = rules.len();
            rules.push(RuleInfo {
                id: r.id.clone(),
                severity: r.severity,
            });
            if let Some(h) = &r.hidden {
                // No anchor characters are known for a hidden term.
                hidden.add(idx, &h.salt, &h.terms);
                prefilter_ok = false;
            }
            for t in &r.terms {
                let n = normalise::normalise(t);
                if n.is_empty() {
                    continue;
                }
                let chars: Vec<char> = n.chars().collect();
                let best = chars
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &c)| {
                        normalise::preimages(c)
                            .map(|p| (p.iter().map(|&x| char_cost(x)).sum::<u64>(), i, c))
                    })
                    .min();
                match best {
                    Some((_, i, c)) => {
                        anchors.push(c);
                        let b = beside.entry(c).or_insert(Beside {
                            prev: Some(Vec::new()),
                            next: Some(Vec::new()),
                        });
                        Beside::allow(&mut b.prev, i.checked_sub(1).map(|j| chars[j]));
                        Beside::allow(&mut b.next, chars.get(i + 1).copied());
                        back = back.max(i);
                        fwd = fwd.max(chars.len() - 1 - i);
                    }
                    None => prefilter_ok = false,
                }
                patterns.push(n);
                term_rule.push(idx);
            }
            if let Some(re) = &r.regex {
                let compiled = regex::RegexBuilder::new(re)
                    .case_insensitive(true)
                    .size_limit(1 << 22)
                    .build()
                    .map_err(|e| {
                        ScanError::Setup(format!("keyword `{}`: invalid regex: {e}", r.id))
                    })?;
                match regex_anchors(re) {
                    Some((chars, max_len)) => {
                        for &c in &chars {
                            beside.insert(
                                c,
                                Beside {
                                    prev: None,
                                    next: None,
                                },
                            );
                        }
                        anchors.extend(chars);
                        back = back.max(max_len);
                        fwd = fwd.max(max_len);
                    }
                    None => prefilter_ok = false,
                }
                regexes.push((idx, compiled));
            }
        }
        let terms = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&patterns)
                    .map_err(|e| ScanError::Setup(format!("keyword automaton: {e}")))?,
            )
        };
        let prefilter = if prefilter_ok && !(patterns.is_empty() && regexes.is_empty()) {
            build_prefilter(&anchors, beside, back, fwd)
        } else {
            None
        };
        Ok(Matcher {
            rules,
            terms,
            term_rule,
            regexes,
            prefilter,
            hidden,
        })
    }

    /// Where the carry of a stream should start in `raw`: far enough back
    /// that any match ending after `raw` still has its start in the carry
    /// (bounded to 64 KiB of padding).
    pub fn carry_start(&self, raw: &str) -> usize {
        let need = self.prefilter.as_ref().map_or(4096, |p| p.back + p.fwd + 2);
        let mut i = raw.len();
        let mut n = 0;
        let floor = raw.len().saturating_sub(64 * 1024);
        while i > floor && n < need {
            let Some(c) = raw[..i].chars().next_back() else {
                break;
            };
            if i - c.len_utf8() < floor {
                break;
            }
            i -= c.len_utf8();
            if counts(c) {
                n += 1;
            }
        }
        i
    }

    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }

    /// The characters any match must contain one of (every anchor's
    /// preimages), when the prefilter is in use: text holding none of
    /// them, in any encoding, cannot match.
    pub fn anchor_literals(&self) -> Option<&[String]> {
        self.prefilter.as_ref().map(|p| p.lits.as_slice())
    }

    /// Heap bytes of the compiled literals: automata, prefilter, hidden
    /// tables (regexes not counted: the regex crate does not say). For the
    /// benchmark's memory line (issue 13).
    pub fn memory_usage(&self) -> usize {
        let lits = |l: &Literals| match l {
            Literals::Packed(s, _) => s.memory_usage(),
            Literals::Automaton(a) => a.memory_usage(),
        };
        self.terms.as_ref().map_or(0, |a| a.memory_usage())
            + self.term_rule.capacity() * 8
            + self.prefilter.as_ref().map_or(0, |p| {
                lits(&p.ac) + p.lits.iter().map(|l| l.capacity() + 24).sum::<usize>()
            })
            + self.hidden.heap_bytes()
    }

    /// Whether an anchor candidate — the raw character `anchor`, with the
    /// text before and after it — can be part of a match: its neighbours
    /// are what some term has beside that anchor (see the module doc).
    /// True whenever it cannot tell; always true without a prefilter.
    pub fn candidate_ok(&self, before: &str, anchor: char, after: &str) -> bool {
        self.prefilter
            .as_ref()
            .is_none_or(|pf| pf.candidate_ok(before, anchor, after))
    }

    /// Whether the text around a candidate (`before`, the anchor's bytes,
    /// `after`: decoded windows of undecoded bytes) holds a match. True
    /// when it cannot tell: no prefilter, an anchor that is not UTF-8, or
    /// a window with fewer output-producing characters on a side than a
    /// match through the anchor may need, unless that side ends at the
    /// text's edge (`whole`: (start of text, end of text)).
    pub fn window_match(
        &self,
        before: &str,
        anchor: &[u8],
        after: &str,
        whole: (bool, bool),
    ) -> bool {
        let Some(pf) = &self.prefilter else {
            return true;
        };
        let Ok(anchor) = std::str::from_utf8(anchor) else {
            return true;
        };
        let before_n = before
            .chars()
            .rev()
            .filter(|&c| counts(c))
            .take(pf.back)
            .count();
        let after_n = after.chars().filter(|&c| counts(c)).take(pf.fwd).count();
        if (before_n < pf.back && !whole.0) || (after_n < pf.fwd && !whole.1) {
            return true;
        }
        let mut s = String::with_capacity(before.len() + anchor.len() + after.len());
        s.push_str(before);
        s.push_str(anchor);
        s.push_str(after);
        self.scan(&s).any()
    }

    /// Whether the raw-text prefilter is in use (diagnostics, tests).
    pub fn has_prefilter(&self) -> bool {
        self.prefilter.is_some()
    }

    /// Prefilter statistics over `raw`: (literals, candidates, regions,
    /// bytes inside regions). For benchmarks and diagnostics.
    pub fn prefilter_stats(&self, raw: &str) -> Option<(usize, usize, usize, usize)> {
        let pf = self.prefilter.as_ref()?;
        let cands = pf.ac.find_iter(raw).count();
        let r = regions(pf, raw);
        let bytes = r.iter().map(|(a, b)| b - a).sum();
        Some((pf.ac.len(), cands, r.len(), bytes))
    }

    fn empty_hits(&self) -> Hits {
        Hits {
            per_rule: vec![RuleHit::default(); self.rules.len()],
        }
    }

    /// Match raw (not yet normalised) text.
    pub fn scan(&self, raw: &str) -> Hits {
        self.scan_from(raw, 0)
    }

    /// Match raw text, counting only matches that end after byte `split`
    /// (the text before it was already counted: the carry of a stream).
    /// Offsets are relative to the normalised `raw`.
    pub fn scan_from(&self, raw: &str, split: usize) -> Hits {
        let mut hits = self.empty_hits();
        if self.rules.is_empty() || raw.is_empty() {
            return hits;
        }
        let Some(pf) = &self.prefilter else {
            let mut norm = normalise::normalise(&raw[..split]);
            let min_end = norm.len();
            normalise::normalise_into(&raw[split..], &mut norm);
            let mut firsts = Vec::new();
            self.scan_normalised(&norm, min_end, &mut hits, &mut firsts);
            for (rule, byte) in firsts {
                hits.per_rule[rule].first = Some(norm[..byte].chars().count() as u64);
            }
            return hits;
        };
        let mut buf = String::new();
        // (region start in raw, rule, char offset within the region)
        let mut pending: Vec<(usize, usize, u64)> = Vec::new();
        let mut firsts = Vec::new();
        for (start, end) in regions(pf, raw) {
            if end <= split {
                continue;
            }
            buf.clear();
            let mut min_end = 0;
            if start < split {
                normalise::normalise_into(&raw[start..split], &mut buf);
                min_end = buf.len();
                normalise::normalise_into(&raw[split..end], &mut buf);
            } else {
                normalise::normalise_into(&raw[start..end], &mut buf);
            }
            firsts.clear();
            self.scan_normalised(&buf, min_end, &mut hits, &mut firsts);
            for &(rule, byte) in &firsts {
                pending.push((start, rule, buf[..byte].chars().count() as u64));
            }
        }
        // Offsets: characters the normalised text holds before each rule's
        // first region (counted only up to the last of those).
        pending.sort_unstable();
        let mut done = vec![false; self.rules.len()];
        pending.retain(|&(_, rule, _)| !std::mem::replace(&mut done[rule], true));
        let (mut at, mut chars) = (0usize, 0u64);
        for (start, rule, within) in pending {
            if start > at {
                chars += normalise::normalised_chars(&raw[at..start]);
                at = start;
            }
            if hits.per_rule[rule].first.is_none() {
                hits.per_rule[rule].first = Some(chars + within);
            }
        }
        hits
    }

    /// Match already normalised text (a file name, a property value).
    pub fn scan_normalised_text(&self, norm: &str) -> Hits {
        let mut hits = self.empty_hits();
        let mut firsts = Vec::new();
        self.scan_normalised(norm, 0, &mut hits, &mut firsts);
        for (rule, byte) in firsts {
            hits.per_rule[rule].first = Some(norm[..byte].chars().count() as u64);
        }
        hits
    }

    /// Count matches in `norm` into `hits`; push (rule, byte offset) for
    /// rules whose first match (in this call) has no offset yet.
    fn scan_normalised(
        &self,
        norm: &str,
        min_end: usize,
        hits: &mut Hits,
        firsts: &mut Vec<(usize, usize)>,
    ) {
        if norm.is_empty() {
            return;
        }
        // Non-overlapping per rule; different rules may overlap each other.
        let mut next_free = vec![0usize; self.rules.len()];
        let mut seen_here = vec![false; self.rules.len()];
        if let Some(ac) = &self.terms {
            for m in ac.find_overlapping_iter(norm) {
                let rule = self.term_rule[m.pattern().as_usize()];
                if m.start() < next_free[rule] {
                    continue;
                }
                if m.end() <= min_end {
                    continue;
                }
                next_free[rule] = m.end();
                let h = &mut hits.per_rule[rule];
                h.count += 1;
                if h.first.is_none() && !seen_here[rule] {
                    seen_here[rule] = true;
                    firsts.push((rule, m.start()));
                }
            }
        }
        if !self.hidden.is_empty() {
            // Same order as the automaton's overlapping matches: by end,
            // then the longer (earlier start) first.
            let mut found = Vec::new();
            self.hidden.find(norm, &mut found);
            found.sort_unstable_by_key(|&(s, e, r)| (e, s, r));
            for (start, end, rule) in found {
                if start < next_free[rule] || end <= min_end {
                    continue;
                }
                next_free[rule] = end;
                let h = &mut hits.per_rule[rule];
                h.count += 1;
                if h.first.is_none() && !seen_here[rule] {
                    seen_here[rule] = true;
                    firsts.push((rule, start));
                }
            }
        }
        for (rule, re) in &self.regexes {
            for m in re.find_iter(norm) {
                if m.end() <= min_end {
                    continue;
                }
                let h = &mut hits.per_rule[*rule];
                h.count += 1;
                if h.first.is_none() && !seen_here[*rule] {
                    seen_here[*rule] = true;
                    firsts.push((*rule, m.start()));
                } else if seen_here[*rule] {
                    // Terms and regex of one rule cannot coexist (policy), but keep
                    // the earliest offset anyway.
                    if let Some(f) = firsts.iter_mut().find(|(r, _)| r == rule) {
                        f.1 = f.1.min(m.start());
                    }
                }
            }
        }
    }
}

/// Anchor characters of a regex's matches and the maximum byte length of a
/// match, if both are known: every match starts with one of a finite set of
/// literals (or ends with one), and its length is bounded. The cheaper of
/// the prefix and suffix sets is used; the region around an anchor spans the
/// maximum length both ways, so its position inside the literal is free.
fn regex_anchors(re: &str) -> Option<(Vec<char>, usize)> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(true)
        .build()
        .parse(re)
        .ok()?;
    let max_len = hir.properties().maximum_len()?;
    if max_len > 4096 {
        return None;
    }
    let mut best: Option<(u64, Vec<char>)> = None;
    for (kind, is_prefix) in [(ExtractKind::Prefix, true), (ExtractKind::Suffix, false)] {
        let mut ex = Extractor::new();
        ex.kind(kind);
        let seq = ex.extract(&hir);
        let Some(lits) = seq.literals() else {
            continue;
        };
        if lits.is_empty() || lits.len() > 64 {
            continue;
        }
        let mut anchors = Vec::new();
        let mut cost = 0u64;
        let mut ok = true;
        for l in lits {
            let bytes = l.as_bytes();
            // Literals may cut a character; keep the whole characters.
            let valid = match std::str::from_utf8(bytes) {
                Ok(s) => s,
                Err(e) if is_prefix => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
                Err(_) => {
                    let mut i = 0;
                    while i < bytes.len() && std::str::from_utf8(&bytes[i..]).is_err() {
                        i += 1;
                    }
                    std::str::from_utf8(&bytes[i..]).unwrap_or("")
                }
            };
            // The cheapest character of the literal, as normalised text holds it.
            let pick = valid
                .chars()
                .filter_map(|c| match normalise::fold_of(c) {
                    Fold::One(f) => normalise::preimages(f)
                        .map(|p| (p.iter().map(|&x| char_cost(x)).sum::<u64>(), f)),
                    _ => None,
                })
                .min();
            match pick {
                Some((c, f)) => {
                    cost += c;
                    anchors.push(f);
                }
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && best.as_ref().is_none_or(|(c, _)| cost < *c) {
            best = Some((cost, anchors));
        }
    }
    let (_, mut out) = best?;
    out.sort_unstable();
    out.dedup();
    Some((out, max_len))
}

fn build_prefilter(
    anchors: &[char],
    beside: std::collections::HashMap<char, Beside>,
    back: usize,
    fwd: usize,
) -> Option<Prefilter> {
    let mut lits: Vec<String> = Vec::new();
    let mut uniq: Vec<char> = anchors.to_vec();
    uniq.sort_unstable();
    uniq.dedup();
    for a in uniq {
        for p in normalise::preimages(a)? {
            lits.push(p.to_string());
        }
    }
    lits.sort_unstable();
    lits.dedup();
    if lits.is_empty() || lits.len() > 4096 {
        return None;
    }
    let packed = aho_corasick::packed::Config::new()
        .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
        .builder()
        .extend(&lits)
        .build();
    let ac = match packed {
        Some(s) => Literals::Packed(s, lits.len()),
        None => Literals::Automaton(
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(&lits)
                .ok()?,
        ),
    };
    Some(Prefilter {
        ac,
        beside,
        lits,
        back,
        fwd,
    })
}

impl Prefilter {
    fn candidate_ok(&self, before: &str, anchor: char, after: &str) -> bool {
        let Fold::One(c) = normalise::fold_char(anchor) else {
            return true;
        };
        let Some(b) = self.beside.get(&c) else {
            return true;
        };
        let ok = |set: &Option<Vec<char>>, side: Side| match (set, side) {
            (Some(v), Side::Char(x)) => v.contains(&x),
            _ => true,
        };
        ok(&b.next, next_output(after)) && ok(&b.prev, prev_output(before))
    }
}

/// Does this raw character produce output and start an NFKC unit?
#[inline]
fn counts(c: char) -> bool {
    if c.is_ascii() {
        return !c.is_ascii_whitespace() && !matches!(c, '\x0b' | '\x1c'..='\x1f');
    }
    !matches!(normalise::fold_of(c), Fold::Remove | Fold::Context)
}

/// Raw byte ranges to normalise: around every prefilter candidate, merged.
fn regions(pf: &Prefilter, raw: &str) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (p, e) in pf.ac.find_iter(raw) {
        let Some(anchor) = raw[p..e].chars().next() else {
            continue;
        };
        if !pf.candidate_ok(&raw[..p], anchor, &raw[e..]) {
            continue;
        }
        let last_end = out.last().map_or(0, |r| r.1);
        let start = if p < last_end {
            p
        } else {
            // Walk back over `back` output-producing characters.
            let mut i = p;
            let mut n = 0;
            while n < pf.back && i > last_end {
                let Some(c) = raw[..i].chars().next_back() else {
                    break;
                };
                i -= c.len_utf8();
                if counts(c) {
                    n += 1;
                }
            }
            i
        };
        // Walk forward over `fwd` output-producing characters, then over any
        // marks that attach to the last one.
        let mut j = e;
        let mut n = 0;
        let mut it = raw[e..].chars();
        for c in it.by_ref() {
            if n >= pf.fwd && counts(c) {
                break;
            }
            j += c.len_utf8();
            if counts(c) {
                n += 1;
            }
        }
        match out.last_mut() {
            Some(r) if start <= r.1 => r.1 = r.1.max(j),
            _ => out.push((start, j)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mijian_policy::KeywordRule;

    fn kw(rules: &[(&str, &[&str], Option<&str>)]) -> Keywords {
        Keywords {
            rules: rules
                .iter()
                .map(|(id, terms, re)| KeywordRule {
                    id: id.to_string(),
                    terms: terms.iter().map(|t| t.to_string()).collect(),
                    regex: re.map(str::to_string),
                    severity: Severity::High,
                    description: None,
                    file: "t.toml".into(),
                    hidden: None,
                })
                .collect(),
        }
    }

    fn counts_of(m: &Matcher, text: &str) -> Vec<u64> {
        m.scan(text).per_rule.iter().map(|h| h.count).collect()
    }

    #[test]
    fn terms_match_through_every_normalisation() {
        let m = Matcher::new(&kw(&[
            ("code", &["玄鸟柒号", "XN-07A型"], None),
            ("lvl", &["机密"], None),
        ]))
        .unwrap();
        assert!(m.has_prefilter());
        assert_eq!(counts_of(&m, "今天天气很好"), vec![0, 0]);
        assert_eq!(counts_of(&m, "玄鸟柒号"), vec![1, 0]);
        assert_eq!(counts_of(&m, "关于玄鳥柒號的"), vec![1, 0]);
        assert_eq!(counts_of(&m, "玄鸟\u{200b}柒号"), vec![1, 0]);
        assert_eq!(counts_of(&m, "…玄鸟\n  柒号…"), vec![1, 0]);
        assert_eq!(counts_of(&m, "型号ＸＮ－０７Ａ型和xn-07a型"), vec![2, 0]);
        assert_eq!(counts_of(&m, "機　密"), vec![0, 1]);
        let padded = format!("玄{}鸟柒号", "\u{200b}".repeat(10_000));
        assert_eq!(counts_of(&m, &padded), vec![1, 0]);
    }

    #[test]
    fn prefilter_and_full_normalisation_agree() {
        let rules = kw(&[
            ("a", &["玄鸟柒号", "示例工程"], None),
            ("b", &["ab-12"], None),
        ]);
        let m = Matcher::new(&rules).unwrap();
        assert!(m.has_prefilter());
        let mut text = String::new();
        for i in 0..2000 {
            text.push_str(match i % 7 {
                0 => "玄鸟 柒号 ",
                1 => "示例\r\n工程。",
                2 => "AB－１２ ",
                3 => "普通的文字，没有什么。\n",
                4 => "玄鸟",
                5 => "柒号",
                _ => "ａｂ-12x ",
            });
        }
        let fast = m.scan(&text);
        let full = m.scan_normalised_text(&normalise::normalise(&text));
        assert_eq!(fast, full);
        assert!(fast.per_rule[0].count > 500);
    }

    #[test]
    fn anchors_open_regions_only_beside_a_match_s_neighbours() {
        let m = Matcher::new(&kw(&[
            ("a", &["示例工程", "玄鸟柒号"], None),
            ("b", &["xn-07a型"], None),
        ]))
        .unwrap();
        // 示 and 型 everywhere, never beside 例 / a: no region at all.
        let prose = "表示同意，指示如下。展示大型模型。\n".repeat(50);
        let (_, cands, regions, _) = m.prefilter_stats(&prose).unwrap();
        assert!(
            cands >= 100 && regions == 0,
            "{cands} candidates, {regions} regions"
        );
        // Every way a term can be written still opens its region.
        for hidden in [
            "示例工程",
            "示\u{200b}例工程",
            "示\r\n  例工程",
            "示\u{301}例工程",
            "示\u{3000}例工程",
            "玄鳥柒號",
            "玄\u{2060}\u{feff}鳥柒號",
            "ＸＮ－０７Ａ型",
            "XN-07A\u{200d}型",
            "xn-07a\n型",
            "xn-07ａ型",
        ] {
            let text = format!("{prose}{hidden}{prose}");
            let h = m.scan(&text);
            let full = m.scan_normalised_text(&normalise::normalise(&text));
            assert_eq!(h, full, "{hidden:?}");
            assert_eq!(
                h.per_rule.iter().map(|r| r.count).sum::<u64>(),
                1,
                "{hidden:?}"
            );
        }
        // Padding longer than the walk makes the check say yes, not no.
        let padded = format!("示{}例工程", "\u{200b}".repeat(200));
        assert_eq!(counts_of(&m, &padded), vec![1, 0]);
    }

    #[test]
    fn first_offset_is_a_character_offset_into_normalised_text() {
        let m = Matcher::new(&kw(&[("a", &["柒号"], None)])).unwrap();
        let h = m.scan("一 二\n三四五 柒号 柒号");
        assert_eq!(
            h.per_rule[0],
            RuleHit {
                count: 2,
                first: Some(5)
            }
        );
    }

    #[test]
    fn regex_rules_run_over_normalised_text() {
        let m = Matcher::new(&kw(&[("re", &[], Some(r"xn-\d{2}[a-z]型"))])).unwrap();
        assert!(m.has_prefilter());
        assert_eq!(counts_of(&m, "ＸＮ－０７Ａ型 xn-9b型 XN-12Z型"), vec![2]);
        // Upper case in the rule still matches the lower-cased text.
        let m = Matcher::new(&kw(&[("re", &[], Some(r"型号\s*[A-Z]{2}-\d{3}"))])).unwrap();
        assert_eq!(counts_of(&m, "型号 AB-123"), vec![1]);
        // The built-in example regex is anchored on its rare suffix 型.
        let builtin = mijian_policy::Policy::example().unwrap();
        let m2 = Matcher::new(&builtin.keywords).unwrap();
        let (lits, cands, _, _) = m2.prefilter_stats("the fox and the xenon box xx").unwrap();
        assert!(
            lits < 20 && cands == 0,
            "{lits} literals, {cands} candidates"
        );
        // Unbounded regexes fall back to normalising everything.
        let m = Matcher::new(&kw(&[("re", &[], Some(r"\d+型"))])).unwrap();
        assert!(!m.has_prefilter());
        assert_eq!(counts_of(&m, "１２３型"), vec![1]);
    }

    #[test]
    fn overlapping_terms_count_per_rule() {
        let m = Matcher::new(&kw(&[
            ("long", &["玄鸟柒号"], None),
            ("short", &["玄鸟"], None),
        ]))
        .unwrap();
        assert_eq!(counts_of(&m, "玄鸟柒号"), vec![1, 1]);
    }
}
