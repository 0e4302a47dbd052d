//! The raw-byte safety net for hidden rules (issue 13): `crate::raw`
//! searches every term as bytes in UTF-8, GB18030, Big5 and UTF-16 in the
//! undecoded bytes of a file that did not read cleanly; a hidden rule has
//! no term to encode, so the collector stores salted hashes of the very
//! byte patterns `crate::raw::byte_spellings` gives (`hashed_raw`,
//! `LEN:FP:MAC`, the encoding folded into the MAC). Here a rolling hash of
//! each byte length present slides over the raw bytes; a window whose
//! fingerprint is present is confirmed by the salted SHA-256 under each
//! encoding tag, and then counted exactly as `crate::raw::RawSearcher`
//! counts its automaton's hits: per rule, non-overlapping in order of end,
//! and a pattern shorter than `raw::SURE_LEN` only with text around it in
//! its encoding (`raw::texty_context`, which also keeps UTF-16 hits on
//! their own alignment). So hidden mode finds in raw bytes what plain mode
//! finds.

use super::Table;
use crate::matcher::Hits;
use crate::raw::{Enc, SURE_LEN, texty_context};
use mijian_policy::Keywords;
use mijian_policy::hashed::{self, RAW_TAGS};

/// Hidden rules' byte spellings, ready to search raw bytes.
#[derive(Default)]
pub struct HiddenRaw {
    table: Table,
}

impl HiddenRaw {
    /// The `hashed_raw` entries of every hidden rule of `kw` (rule indexes
    /// as in `kw.rules`, like the matcher's).
    pub fn new(kw: &Keywords) -> HiddenRaw {
        let mut table = Table::default();
        for (rule, r) in kw.rules.iter().enumerate() {
            if let Some(h) = &r.hidden {
                table.add(rule, &h.salt, &h.raw);
            }
        }
        HiddenRaw { table }
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Add the per-rule counts of hidden byte spellings in `data` to `hits`
    /// (whose `per_rule` covers every rule of the policy).
    pub fn scan(&self, data: &[u8], hits: &mut Hits) {
        if self.table.is_empty() {
            return;
        }
        // (end, start, rule, encoding) of every confirmed window.
        let mut found: Vec<(usize, usize, usize, Enc)> = Vec::new();
        self.table.windows(data, |salt, start, len, cands| {
            let window = &data[start..start + len];
            for tag in 0..RAW_TAGS {
                let mac = hashed::mac_raw(salt, tag, window);
                for (m, rule) in cands {
                    if *m == mac {
                        found.push((start + len, start, *rule, Enc::ALL[tag as usize]));
                    }
                }
            }
        });
        if found.is_empty() {
            return;
        }
        // The automaton reports overlapping matches in order of end; among
        // matches ending together the order does not change a count.
        found.sort_unstable();
        let mut next_free = vec![0usize; hits.per_rule.len()];
        for (end, start, rule, enc) in found {
            let Some(free) = next_free.get_mut(rule) else {
                continue;
            };
            if start < *free {
                continue;
            }
            if end - start < SURE_LEN && !texty_context(data, start, end, enc) {
                continue;
            }
            *free = end;
            hits.per_rule[rule].count += 1;
        }
    }

    /// Heap bytes held (for the benchmark's memory line).
    pub fn heap_bytes(&self) -> usize {
        self.table.heap_bytes()
    }

    /// Rolling passes over the bytes per byte (distinct spelling lengths).
    pub fn lengths(&self) -> usize {
        self.table.lengths()
    }
}

#[cfg(test)]
mod tests {
    use crate::raw::{RawSearcher, byte_spellings};
    use mijian_policy::Policy;
    use std::path::Path;

    fn pair(terms: &str) -> (RawSearcher, RawSearcher) {
        let files = vec![(
            "keywords/k.toml".to_string(),
            format!("[[keyword]]\nid = \"a\"\nterms = [{terms}]\nseverity = \"high\"\n[[keyword]]\nid = \"b\"\nterms = [\"机密\"]\nseverity = \"low\"\n")
                .into_bytes(),
        )];
        let plain = Policy::from_files(Path::new("<p>"), &files, None).unwrap();
        let (hidden, _) = mijian_policy::bundle::hide(
            &files,
            &[0x11; 16],
            &crate::normalise::normalise,
            &byte_spellings,
        )
        .unwrap();
        let text = String::from_utf8(hidden[0].1.clone()).unwrap();
        assert!(
            !text.contains("玄") && text.contains("hashed_raw"),
            "{text}"
        );
        let hidden = Policy::from_files(Path::new("<h>"), &hidden, None).unwrap();
        (
            RawSearcher::new(&plain.keywords),
            RawSearcher::new(&hidden.keywords),
        )
    }

    #[test]
    fn hidden_raw_counts_equal_plain_in_every_encoding_and_context() {
        let (p, h) = pair("\"玄鸟柒号\", \"XN-07A型\", \"柒号\"");
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for (enc, text) in [
            (encoding_rs::UTF_8, "玄鸟柒号 玄鸟柒号柒号"),
            (encoding_rs::GBK, "这是机密文件，玄鸟柒号"),
            (encoding_rs::BIG5, "玄鳥柒號與柒號"),
        ] {
            let (b, _, _) = enc.encode(text);
            cases.push([&b"\0\x01binary\0"[..], &b, b"\0\0tail"].concat());
            cases.push(b.to_vec());
        }
        for be in [false, true] {
            let w: Vec<u8> = "内容玄鸟柒号。机密"
                .encode_utf16()
                .flat_map(|u| if be { u.to_be_bytes() } else { u.to_le_bytes() })
                .collect();
            cases.push([&b"\0\x07"[..], &w].concat());
            // Misaligned by one byte.
            cases.push([&b"\0"[..], &w].concat());
        }
        cases.push(b"\0\0model xn-07a\xe5\x9e\x8b\0XN-07A\xe5\x9e\x8b".to_vec());
        // Short patterns among noise: not counted in either mode.
        let (gbk, _, _) = encoding_rs::GBK.encode("机密");
        let noise: Vec<u8> = (0u32..64)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x01)
            .collect();
        cases.push([&noise[..32], &gbk, &[0x03, 0x9f, 0x00, 0x11], &noise[32..]].concat());
        let mut total = 0;
        for (i, data) in cases.iter().enumerate() {
            let a = p.scan(data);
            let b = h.scan(data);
            assert_eq!(a, b, "case {i}");
            total += a.per_rule.iter().map(|r| r.count).sum::<u64>();
        }
        assert!(
            total >= 15,
            "{total} hits: the cases must exercise the search"
        );
    }

    #[test]
    fn hidden_raw_equals_plain_on_pseudo_random_bytes_seeded_with_terms() {
        let (p, h) = pair("\"示例工程\", \"玄鸟柒号\", \"柒号\"");
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut data = Vec::new();
        let pieces: Vec<Vec<u8>> = ["示例工程", "玄鸟柒号", "柒号", "机密", "正文。"]
            .iter()
            .flat_map(|t| {
                [
                    t.as_bytes().to_vec(),
                    encoding_rs::GBK.encode(t).0.into_owned(),
                    encoding_rs::BIG5.encode(t).0.into_owned(),
                    t.encode_utf16().flat_map(u16::to_le_bytes).collect(),
                ]
            })
            .collect();
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(7) {
                data.extend_from_slice(&pieces[(x >> 8) as usize % pieces.len()]);
            } else {
                data.push((x >> 24) as u8);
            }
        }
        let a = p.scan(&data);
        assert_eq!(a, h.scan(&data));
        assert!(a.per_rule[0].count > 100, "{a:?}");
    }
}
