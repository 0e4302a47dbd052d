//! Hidden keyword matching (issue 13): rules whose terms arrive only as
//! salted hashes (`mijian_policy::hashed`) are matched by hashing candidate
//! windows of the normalised text. For every term length present, a
//! polynomial rolling hash (multiplier derived from the salt) slides over
//! the bytes; a window whose 32-bit fingerprint is one of that length's
//! passes a 64 Ki-bit filter and a map lookup, and is then confirmed by the
//! salted SHA-256 (a fingerprint alone never counts as a match).
//!
//! Equal results to plain matching: terms are normalised with the same
//! function before hashing (by the collector), windows are byte windows of
//! the same normalised text, and [`crate::matcher::Matcher`] applies the
//! same per-rule counting (non-overlapping, ordered by end then start) to
//! these matches as to the automaton's. Cost: one multiply-add per byte per
//! distinct term length, and no raw-text prefilter (its anchor characters
//! would reveal the terms), so the whole text is normalised.
//!
//! The raw-byte safety net has its hidden form in [`raw`]: the terms' byte
//! spellings in every encoding, hashed alike (`hashed_raw`), searched in
//! undecoded bytes with the same context checks as `crate::raw`.
//!
//! Protects: a copied rules file or bundle names no term. Does not protect:
//! a debugger on a running agent sees each confirmed window, and short or
//! guessable terms fall to a dictionary attack against the salted hashes.

use mijian_policy::hashed::{self, HashedTerm};
use std::collections::HashMap;

/// Terms of one length under one salt.
struct Length {
    len: usize,
    /// `B^(len-1)`, to remove the byte leaving the window.
    pow: u64,
    /// Bit `fp & 0xffff` set for every fingerprint present.
    filter: Box<[u64; 1024]>,
    /// Fingerprint → (MAC, rule index).
    terms: HashMap<u32, Vec<([u8; 32], usize)>>,
}

/// Terms hashed under one salt.
struct Salted {
    salt: Vec<u8>,
    base: u64,
    lengths: Vec<Length>,
}

/// Hashed entries (`LEN:FP:MAC`) by salt and length, and the rolling
/// search for windows whose fingerprint is one of them. Shared by the
/// text side ([`HiddenTerms`]) and the raw-byte side ([`raw::HiddenRaw`]);
/// each confirms a candidate with its own MAC.
#[derive(Default)]
struct Table {
    groups: Vec<Salted>,
}

impl Table {
    fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    fn add(&mut self, rule: usize, salt: &[u8], terms: &[HashedTerm]) {
        let gi = match self.groups.iter().position(|g| g.salt == salt) {
            Some(i) => i,
            None => {
                self.groups.push(Salted {
                    salt: salt.to_vec(),
                    base: hashed::base(salt),
                    lengths: Vec::new(),
                });
                self.groups.len() - 1
            }
        };
        let g = &mut self.groups[gi];
        for t in terms {
            let len = t.len as usize;
            let li = match g.lengths.iter().position(|l| l.len == len) {
                Some(i) => i,
                None => {
                    let pow = (1..len).fold(1u64, |p, _| p.wrapping_mul(g.base));
                    g.lengths.push(Length {
                        len,
                        pow,
                        filter: Box::new([0u64; 1024]),
                        terms: HashMap::new(),
                    });
                    g.lengths.len() - 1
                }
            };
            let l = &mut g.lengths[li];
            let bit = (t.fp & 0xffff) as usize;
            l.filter[bit >> 6] |= 1 << (bit & 63);
            l.terms.entry(t.fp).or_default().push((t.mac, rule));
        }
    }

    /// Call `f(salt, start, len, candidates)` for every window of `bytes`
    /// whose fingerprint is present (candidates: (MAC, rule) of that
    /// fingerprint; not yet confirmed).
    fn windows(&self, bytes: &[u8], mut f: impl FnMut(&[u8], usize, usize, &[([u8; 32], usize)])) {
        for g in &self.groups {
            for l in &g.lengths {
                if l.len > bytes.len() {
                    continue;
                }
                let mut h = hashed::poly(g.base, &bytes[..l.len]);
                let mut start = 0;
                loop {
                    let fp = hashed::fp_of(h);
                    let bit = (fp & 0xffff) as usize;
                    if l.filter[bit >> 6] & (1 << (bit & 63)) != 0
                        && let Some(cands) = l.terms.get(&fp)
                    {
                        f(&g.salt, start, l.len, cands);
                    }
                    let next = start + l.len;
                    if next >= bytes.len() {
                        break;
                    }
                    h = h
                        .wrapping_sub((bytes[start] as u64 + 1).wrapping_mul(l.pow))
                        .wrapping_mul(g.base)
                        .wrapping_add(bytes[next] as u64 + 1);
                    start += 1;
                }
            }
        }
    }

    /// Heap bytes held (for the benchmark's memory line).
    fn heap_bytes(&self) -> usize {
        self.groups
            .iter()
            .flat_map(|g| &g.lengths)
            .map(|l| {
                8 * 1024
                    + l.terms.capacity() * (4 + 24)
                    + l.terms.values().map(|v| v.capacity() * 40).sum::<usize>()
            })
            .sum()
    }

    /// Distinct (salt, length) pairs: rolling passes per byte.
    fn lengths(&self) -> usize {
        self.groups.iter().map(|g| g.lengths.len()).sum()
    }
}

/// Every hidden term of a policy, ready to match.
#[derive(Default)]
pub struct HiddenTerms {
    table: Table,
}

impl HiddenTerms {
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Add the hidden terms of rule `rule`.
    pub fn add(&mut self, rule: usize, salt: &[u8], terms: &[HashedTerm]) {
        self.table.add(rule, salt, terms);
    }

    /// Every (start, end, rule) whose window of `norm` is a hidden term, in
    /// no particular order.
    pub fn find(&self, norm: &str, out: &mut Vec<(usize, usize, usize)>) {
        self.table
            .windows(norm.as_bytes(), |salt, start, len, cands| {
                // Terms are whole characters: a window cut inside one cannot match.
                if norm.is_char_boundary(start) && norm.is_char_boundary(start + len) {
                    let mac = hashed::mac(salt, &norm.as_bytes()[start..start + len]);
                    for (m, rule) in cands {
                        if *m == mac {
                            out.push((start, start + len, *rule));
                        }
                    }
                }
            });
    }

    /// Heap bytes held (for the benchmark's memory line).
    pub fn heap_bytes(&self) -> usize {
        self.table.heap_bytes()
    }

    /// Rolling passes over the text per byte (distinct term lengths).
    pub fn lengths(&self) -> usize {
        self.table.lengths()
    }
}

pub mod raw;

#[cfg(test)]
mod tests;
