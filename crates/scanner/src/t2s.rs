//! Traditional → simplified Chinese, one character at a time (CONTRACT §6).
//!
//! The table is OpenCC's `TSCharacters.txt` (Apache-2.0, see
//! `data/README.md`), embedded as data: zhconv is GPL and opencc-rust needs
//! the C++ library on every endpoint (PITFALLS). Only single characters are
//! folded; phrase tables are not needed because terms and text go through the
//! same fold, so both sides agree even where OpenCC's first candidate is not
//! the linguistically right one (乾 → 干).

use std::collections::HashMap;
use std::sync::OnceLock;

const TABLE: &str = include_str!("../data/TSCharacters.txt");

fn table() -> &'static HashMap<char, char> {
    static T: OnceLock<HashMap<char, char>> = OnceLock::new();
    T.get_or_init(|| {
        let mut m = HashMap::with_capacity(4200);
        for line in TABLE.lines() {
            let mut parts = line.split('\t');
            let (Some(from), Some(to)) = (parts.next(), parts.next()) else {
                continue;
            };
            let mut fc = from.chars();
            let (Some(f), None) = (fc.next(), fc.next()) else {
                continue;
            };
            // Several candidates are separated by spaces; OpenCC uses the first.
            let Some(first) = to.split(' ').next() else {
                continue;
            };
            let mut tc = first.chars();
            if let (Some(t), None) = (tc.next(), tc.next())
                && t != f
            {
                m.insert(f, t);
            }
        }
        m
    })
}

/// The simplified form of `c`, or `c` itself.
pub fn simplify(c: char) -> char {
    if (c as u32) < 0x2E80 {
        return c;
    }
    table().get(&c).copied().unwrap_or(c)
}

/// Number of characters the table folds (for tests and diagnostics).
pub fn len() -> usize {
    table().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_marking_and_codename_characters() {
        assert_eq!(simplify('機'), '机');
        assert_eq!(simplify('絕'), '绝');
        assert_eq!(simplify('個'), '个');
        assert_eq!(simplify('長'), '长');
        assert_eq!(simplify('鳥'), '鸟');
        assert_eq!(simplify('號'), '号');
        assert_eq!(simplify('机'), '机');
        assert_eq!(simplify('a'), 'a');
        assert!(len() > 3500, "table has {} entries", len());
    }
}
