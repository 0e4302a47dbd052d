//! Text normalisation before matching (CONTRACT §6): Unicode NFKC, case
//! folding, traditional → simplified Chinese, and removal of whitespace, line
//! breaks and invisible (default-ignorable) characters, so `機　密`,
//! `ＸＮ－０７Ａ型`, `玄鸟\u{200b}柒号` and a term broken by a line wrap all
//! read as their plain simplified, lower-case, gap-free form.
//!
//! Speed matters (plain text must scan near ripgrep's speed), so the fold of
//! every BMP character is precomputed once into a table: a character maps to
//! one character, to nothing, to a short string (`㈱` → `(株)`), or is marked
//! context-dependent (combining marks and other characters that NFKC may
//! compose with their predecessor). Only that last, rare class runs the real
//! NFKC algorithm, over the mark run and the character before it. Keyword
//! terms go through the very same function, so both sides always agree.

use std::collections::HashMap;
use std::sync::OnceLock;
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// Table value: the character disappears.
const REMOVE: u32 = 0x11_0000;
/// Table value: the character folds to several characters (see `complex`).
const COMPLEX: u32 = 0x11_0001;
/// Table value: NFKC may combine it with the previous character.
const CONTEXT: u32 = 0x11_0002;

/// What one character folds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    Remove,
    One(char),
    Many,
    Context,
}

struct Table {
    bmp: Box<[u32]>,
    astral: HashMap<u32, u32>,
    complex: HashMap<u32, Box<str>>,
}

/// Whitespace, line breaks, default-ignorable code points (zero-width
/// space/joiners, word joiner, BOM, soft hyphen, bidi controls, variation
/// selectors, tags) and the other format characters (Unicode Cf): all
/// invisible or blank, all removed. Combining marks left over after NFKC
/// (Unicode Mn with a combining class) are removed in `slow_path`.
pub fn is_removable(c: char) -> bool {
    if c.is_whitespace() {
        return true;
    }
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5
        | 0x180B..=0x180F | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F
        | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB
        // Other format characters (Unicode Cf): Arabic number signs, the
        // Syriac abbreviation mark, Egyptian format controls, ...
        | 0x0600..=0x0605 | 0x06DD | 0x070F | 0x0890 | 0x0891 | 0x08E2
        | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// Lower-case, simplify and drop removable characters of an NFKC output.
fn post_fold(c: char, out: &mut String) {
    let mut lower = c.to_lowercase();
    let (Some(l), None) = (lower.next(), lower.next()) else {
        for l in c.to_lowercase() {
            if !is_removable(l) {
                out.push(crate::t2s::simplify(l));
            }
        }
        return;
    };
    if !is_removable(l) {
        out.push(crate::t2s::simplify(l));
    }
}

/// Compute the table entry of one character (the slow, exact definition).
fn compute(c: char) -> (u32, Option<Box<str>>) {
    if is_removable(c) {
        return (REMOVE, None);
    }
    if canonical_combining_class(c) != 0 || is_nfkc_quick(std::iter::once(c)) == IsNormalized::Maybe
    {
        return (CONTEXT, None);
    }
    let mut s = String::new();
    for d in std::iter::once(c).nfkc() {
        // An output that composes with what precedes it (half-width voiced
        // marks: ｶﾞ → ガ) needs the slow path too.
        if canonical_combining_class(d) != 0
            || is_nfkc_quick(std::iter::once(d)) == IsNormalized::Maybe
        {
            return (CONTEXT, None);
        }
        post_fold(d, &mut s);
    }
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (None, _) => (REMOVE, None),
        (Some(one), None) => (one as u32, None),
        _ => (COMPLEX, Some(s.into_boxed_str())),
    }
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut bmp: Box<[u32]> = (0u32..0x10000).collect();
        let mut astral = HashMap::new();
        let mut complex = HashMap::new();
        // Planes beyond these hold nothing that folds (no compatibility
        // forms, no traditional characters, no ignorables).
        let ranges = [0u32..0x3_23B0, 0xE_0000..0xE_1000];
        for cp in ranges.into_iter().flatten() {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            // Most characters fold to themselves; skip the exact computation
            // for the obvious ones.
            if !is_removable(c)
                && canonical_combining_class(c) == 0
                && is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes
                && c.to_lowercase().eq(std::iter::once(c))
                && crate::t2s::simplify(c) == c
            {
                continue;
            }
            let (v, s) = compute(c);
            if let Some(s) = s {
                complex.insert(cp, s);
            }
            if cp < 0x10000 {
                bmp[cp as usize] = v;
            } else if v != cp {
                astral.insert(cp, v);
            }
        }
        Table {
            bmp,
            astral,
            complex,
        }
    })
}

/// Build the fold table now (it is otherwise built on first use).
pub fn init() {
    let _ = table();
}

#[inline]
fn entry(t: &Table, cp: u32) -> u32 {
    if cp < 0x10000 {
        t.bmp[cp as usize]
    } else {
        t.astral.get(&cp).copied().unwrap_or(cp)
    }
}

/// How `c` folds.
pub fn fold_of(c: char) -> Fold {
    match entry(table(), c as u32) {
        REMOVE => Fold::Remove,
        COMPLEX => Fold::Many,
        CONTEXT => Fold::Context,
        v => Fold::One(char::from_u32(v).unwrap_or(c)),
    }
}

/// How `c` folds as [`normalise_into`] writes it: like [`fold_of`], and
/// for ASCII the fast path's rule (blanks and NUL vanish, letters lower-case).
pub fn fold_char(c: char) -> Fold {
    if c.is_ascii() {
        let v = ASCII[c as usize];
        return if v == 0 {
            Fold::Remove
        } else {
            Fold::One(v as char)
        };
    }
    fold_of(c)
}

/// The folded string of a `Fold::Many` character.
pub fn fold_many(c: char) -> Option<&'static str> {
    table().complex.get(&(c as u32)).map(|s| &**s)
}

/// ASCII fold: 0 = removed, else the byte to write.
const fn ascii_table() -> [u8; 128] {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        t[i] = match b {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0x1c..=0x1f => 0,
            b'A'..=b'Z' => b + 32,
            _ => b,
        };
        i += 1;
    }
    t
}
static ASCII: [u8; 128] = ascii_table();

/// Decode the char starting at `i` (valid UTF-8 guaranteed by `&str`).
#[inline]
fn decode(b: &[u8], i: usize) -> (u32, usize) {
    let b0 = b[i] as u32;
    if b0 < 0xE0 {
        (((b0 & 0x1F) << 6) | (b[i + 1] as u32 & 0x3F), 2)
    } else if b0 < 0xF0 {
        (
            ((b0 & 0x0F) << 12) | ((b[i + 1] as u32 & 0x3F) << 6) | (b[i + 2] as u32 & 0x3F),
            3,
        )
    } else {
        (
            ((b0 & 0x07) << 18)
                | ((b[i + 1] as u32 & 0x3F) << 12)
                | ((b[i + 2] as u32 & 0x3F) << 6)
                | (b[i + 3] as u32 & 0x3F),
            4,
        )
    }
}

/// Normalise `input` and append the result to `out`.
pub fn normalise_into(input: &str, out: &mut String) {
    let t = table();
    let b = input.as_bytes();
    out.reserve(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c < 0x80 {
            let v = ASCII[c as usize];
            if v != 0 {
                out.push(v as char);
            }
            i += 1;
            continue;
        }
        let (cp, len) = decode(b, i);
        match entry(t, cp) {
            REMOVE => {}
            COMPLEX => {
                if let Some(s) = t.complex.get(&cp) {
                    out.push_str(s);
                }
            }
            CONTEXT => {
                i = slow_path(t, input, i, out);
                continue;
            }
            v => {
                if let Some(ch) = char::from_u32(v) {
                    out.push(ch);
                }
            }
        }
        i += len;
    }
}

/// Run real NFKC over the context-dependent run starting at byte `i`,
/// together with the character before it (which it may compose with).
/// Returns the byte index after the run.
fn slow_path(t: &Table, input: &str, i: usize, out: &mut String) -> usize {
    let b = input.as_bytes();
    // End of the run of context-dependent characters.
    let mut j = i;
    while j < b.len() && b[j] >= 0x80 {
        let (cp, len) = decode(b, j);
        if entry(t, cp) != CONTEXT {
            break;
        }
        j += len;
    }
    // The previous character, if it produced output, is re-done with the run.
    let mut start = i;
    if let Some(prev) = input[..i].chars().next_back() {
        let p = i - prev.len_utf8();
        let produced = if prev.is_ascii() {
            usize::from(ASCII[prev as usize] != 0)
        } else {
            match entry(t, prev as u32) {
                REMOVE | CONTEXT => 0,
                COMPLEX => t.complex.get(&(prev as u32)).map_or(0, |s| s.len()),
                v => char::from_u32(v).map_or(0, char::len_utf8),
            }
        };
        if produced > 0 && out.len() >= produced && out.is_char_boundary(out.len() - produced) {
            out.truncate(out.len() - produced);
            start = p;
        }
    }
    for d in input[start..j].nfkc() {
        match entry(t, d as u32) {
            REMOVE => {}
            // A combining mark NFKC did not compose into its base (`机` +
            // U+0301) is invisible decoration: dropped, so it cannot split
            // a term (issue 15).
            CONTEXT if canonical_combining_class(d) != 0 => {}
            CONTEXT => out.push(d),
            COMPLEX => {
                if let Some(s) = t.complex.get(&(d as u32)) {
                    out.push_str(s);
                }
            }
            v => out.push(char::from_u32(v).unwrap_or(d)),
        }
    }
    j.max(i + 1)
}

/// Normalise `input` into a new string.
pub fn normalise(input: &str) -> String {
    let mut s = String::new();
    normalise_into(input, &mut s);
    s
}

/// Number of characters `normalise(input)` would produce (for reporting
/// offsets into the normalised text without keeping it). Counts without
/// writing: a context-dependent character (a combining mark) counts as one,
/// so text where NFKC composes marks may count a little high.
pub fn normalised_chars(input: &str) -> u64 {
    let t = table();
    let b = input.as_bytes();
    let mut n = 0u64;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c < 0x80 {
            n += u64::from(ASCII[c as usize] != 0);
            i += 1;
            continue;
        }
        let (cp, len) = decode(b, i);
        n += match entry(t, cp) {
            REMOVE => 0,
            COMPLEX => t.complex.get(&cp).map_or(0, |s| s.chars().count() as u64),
            _ => 1,
        };
        i += len;
    }
    n
}

/// Does `c` start a new character for NFKC (i.e. is it not context-dependent)?
pub fn is_starter(c: char) -> bool {
    entry(table(), c as u32) != CONTEXT
}

/// Every character whose fold contains `target` (its preimages under the
/// fold, including `target` itself when it folds to itself). Used to build
/// a prefilter over raw text. `None` when `target` may also arise from
/// canonical composition (it has a canonical decomposition), which a
/// preimage set cannot capture.
pub fn preimages(target: char) -> Option<Vec<char>> {
    let mut nfd = std::iter::once(target).nfd();
    if nfd.next() != Some(target) || nfd.next().is_some() {
        return None;
    }
    if canonical_combining_class(target) != 0 {
        return None;
    }
    let t = table();
    let mut v = Vec::new();
    let tv = target as u32;
    for (cp, &e) in t.bmp.iter().enumerate() {
        let cp = cp as u32;
        if e == tv
            && let Some(c) = char::from_u32(cp)
        {
            v.push(c);
        }
    }
    for (&cp, &e) in &t.astral {
        if e == tv
            && let Some(c) = char::from_u32(cp)
        {
            v.push(c);
        }
    }
    for (&cp, s) in &t.complex {
        if s.contains(target)
            && let Some(c) = char::from_u32(cp)
        {
            v.push(c);
        }
    }
    v.sort_unstable();
    v.dedup();
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_examples_fold_to_the_plain_term() {
        assert_eq!(normalise("機　密"), "机密");
        assert_eq!(normalise("ＸＮ－０７Ａ型"), "xn-07a型");
        assert_eq!(normalise("玄鸟\u{200b}柒号"), "玄鸟柒号");
        assert_eq!(normalise("玄鸟\n柒号"), "玄鸟柒号");
        assert_eq!(normalise("玄鳥\r\n  柒號"), "玄鸟柒号");
        assert_eq!(normalise("機密★６個月"), "机密★6个月");
        assert_eq!(normalise("机密 ＊ 5 年"), "机密*5年");
    }

    #[test]
    fn invisible_and_blank_characters_vanish() {
        for c in [
            '\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}', '\u{3000}', '\u{a0}',
            '\u{ad}', '\u{2028}', '\t', '\u{fe0f}',
        ] {
            assert_eq!(normalise(&format!("a{c}b")), "ab", "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn case_and_compatibility_forms_fold() {
        assert_eq!(normalise("HeLLo WORLD"), "helloworld");
        assert_eq!(normalise("ﬁle"), "file");
        assert_eq!(normalise("㈱"), "(株)");
        assert_eq!(normalise("Ⅻ"), "xii");
        assert_eq!(normalise("𝐀𝐁"), "ab");
        // Composition with the previous character: e + combining acute.
        assert_eq!(normalise("Cafe\u{301}"), "café");
        // A mark that composes with nothing is dropped (issue 15).
        assert_eq!(
            normalise("玄\u{301}鸟\u{0316}\u{0300}柒\u{0600}号"),
            "玄鸟柒号"
        );
        assert_eq!(normalise("CAFÉ"), "café");
        // Hangul jamo compose into a syllable.
        assert_eq!(normalise("\u{1100}\u{1161}"), "\u{ac00}");
    }

    #[test]
    fn fold_matches_reference_nfkc_on_mixed_text() {
        let s = "Ａｂｃ　機密★６個月，ｘｎ－０７ａ型 e\u{301}\u{0327} ①② ｶﾞ ﾊﾟ";
        let mut reference = String::new();
        // Marks left uncomposed by NFKC are dropped (issue 15).
        for c in s.nfkc().filter(|&c| canonical_combining_class(c) == 0) {
            post_fold(c, &mut reference);
        }
        // Half-width katakana with voiced marks compose under NFKC.
        assert_eq!(normalise(s), reference);
    }

    #[test]
    fn preimages_include_traditional_and_fullwidth_forms() {
        let p = preimages('机').unwrap();
        assert!(p.contains(&'机') && p.contains(&'機'), "{p:?}");
        let x = preimages('x').unwrap();
        assert!(x.contains(&'X') && x.contains(&'Ｘ') && x.contains(&'x'));
        assert!(preimages('é').is_none());
        assert!(preimages('株').unwrap().contains(&'㈱'));
    }

    #[test]
    fn normalised_chars_counts_output_characters() {
        assert_eq!(normalised_chars("機　密 ab"), 4);
    }
}
