//! Hidden keyword terms (issue 13): a keyword file in a hidden-mode bundle
//! carries, per term, its length, a 32-bit rolling fingerprint and a salted
//! SHA-256 of the *normalised* term — never the term itself. The salt is
//! per bundle (a file-level `salt = "hex"`).
//!
//! The scanner (`mijian_scanner::hidden`) slides a rolling hash of each
//! length present over the normalised text; a window whose fingerprint
//! matches is confirmed by the salted SHA-256. Both sides use the functions
//! here, so the collector that hides and the agent that matches agree.
//!
//! The raw-byte safety net (`mijian_scanner::raw`: terms searched as bytes
//! in UTF-8, GB18030, Big5 and UTF-16 when text did not decode cleanly) has
//! its hidden form too: per rule, `hashed_raw` entries `LEN:FP:MAC` of each
//! byte spelling of each term, `LEN` in bytes of that encoding, `FP` the same
//! rolling fingerprint over those bytes, and `MAC` a salted SHA-256 over the
//! encoding's tag ([`mac_raw`]) and the bytes — so the entry does not say
//! which encoding it is; the agent tries each tag on a fingerprint hit.
//!
//! What this protects against: a copied rules file or bundle reveals no term
//! without a dictionary guess (each guess costs a SHA-256 per salt). What it
//! does not: short or guessable terms fall to a dictionary attack, and a
//! debugger on a running agent sees each matched window in memory.

use sha2::{Digest, Sha256};

/// Longest hidden term, bytes of normalised UTF-8 (bounds the rolling window).
pub const MAX_TERM_BYTES: usize = 1024;
/// Longest hidden byte spelling, bytes (UTF-16 doubles ASCII; a spelling as
/// written may be longer than its normalised form).
pub const MAX_RAW_BYTES: usize = 4 * MAX_TERM_BYTES;
/// Encoding tags of raw spellings: `0..RAW_TAGS` (UTF-8, GB18030, Big5,
/// UTF-16LE, UTF-16BE, in the scanner's order).
pub const RAW_TAGS: u8 = 5;
/// Salt length, bytes.
pub const SALT_BYTES: usize = 16;

/// One hidden term: `LEN:FP:MAC` in the file (decimal, 8 hex, 64 hex).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HashedTerm {
    /// Length of the normalised term, bytes.
    pub len: u32,
    /// Rolling fingerprint ([`fingerprint`]).
    pub fp: u32,
    /// Salted SHA-256 ([`mac`]).
    pub mac: [u8; 32],
}

/// The hidden terms of one rule and their bundle's salt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hidden {
    pub salt: Vec<u8>,
    pub terms: Vec<HashedTerm>,
    /// Byte spellings for the raw-byte search ([`HashedTerm::of_raw`]);
    /// empty in a bundle made before they existed (no raw-byte net then).
    pub raw: Vec<HashedTerm>,
}

impl HashedTerm {
    /// Hash one *normalised* term.
    pub fn of(salt: &[u8], normalised: &str) -> HashedTerm {
        let b = normalised.as_bytes();
        HashedTerm {
            len: b.len() as u32,
            fp: fingerprint(base(salt), b),
            mac: mac(salt, b),
        }
    }

    /// Hash one byte spelling of a term in the encoding of tag `tag`.
    pub fn of_raw(salt: &[u8], tag: u8, bytes: &[u8]) -> HashedTerm {
        HashedTerm {
            len: bytes.len() as u32,
            fp: fingerprint(base(salt), bytes),
            mac: mac_raw(salt, tag, bytes),
        }
    }

    /// Parse `LEN:FP:MAC` of a normalised term.
    pub fn parse(s: &str) -> Result<HashedTerm, String> {
        HashedTerm::parse_max(s, MAX_TERM_BYTES)
    }

    /// Parse `LEN:FP:MAC` of a byte spelling.
    pub fn parse_raw(s: &str) -> Result<HashedTerm, String> {
        HashedTerm::parse_max(s, MAX_RAW_BYTES)
    }

    fn parse_max(s: &str, max: usize) -> Result<HashedTerm, String> {
        let mut it = s.split(':');
        let (Some(len), Some(fp), Some(m), None) = (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(format!("hashed term {s:?} is not LEN:FP:MAC"));
        };
        let len: u32 = len
            .parse()
            .map_err(|_| format!("hashed term {s:?}: bad length"))?;
        if len == 0 || len as usize > max {
            return Err(format!("hashed term {s:?}: length must be 1..={max}"));
        }
        let fp = u32::from_str_radix(fp, 16)
            .map_err(|_| format!("hashed term {s:?}: bad fingerprint"))?;
        let mut mac = [0u8; 32];
        if m.len() != 64 || hex::decode_to_slice(m, &mut mac).is_err() {
            return Err(format!("hashed term {s:?}: MAC is not 64 hex digits"));
        }
        Ok(HashedTerm { len, fp, mac })
    }

    /// The `LEN:FP:MAC` form.
    pub fn encode(&self) -> String {
        format!("{}:{:08x}:{}", self.len, self.fp, hex::encode(self.mac))
    }
}

/// The rolling hash's multiplier, derived from the salt (odd, so it is
/// invertible mod 2^64 and every byte position counts).
pub fn base(salt: &[u8]) -> u64 {
    let d = Sha256::new()
        .chain_update(b"mijian-hidden-base\0")
        .chain_update(salt)
        .finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b) | 1
}

/// Polynomial hash mod 2^64 of `bytes`: `Σ (b_i + 1)·B^(n-1-i)`.
#[inline]
pub fn poly(base: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |h, &b| {
        h.wrapping_mul(base).wrapping_add(b as u64 + 1)
    })
}

/// The stored 32-bit fingerprint of a polynomial hash (its high half: the
/// low bits of a hash mod 2^64 mix poorly).
#[inline]
pub fn fp_of(poly: u64) -> u32 {
    (poly >> 32) as u32
}

/// Fingerprint of a normalised term.
pub fn fingerprint(base: u64, bytes: &[u8]) -> u32 {
    fp_of(poly(base, bytes))
}

/// Salted SHA-256 of a normalised term (the confirmation hash).
pub fn mac(salt: &[u8], bytes: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"mijian-hidden-term\0")
        .chain_update(salt)
        .chain_update(bytes)
        .finalize()
        .into()
}

/// Salted SHA-256 of a term's byte spelling in the encoding of tag `tag`
/// (the raw-byte confirmation hash; another domain than [`mac`]).
pub fn mac_raw(salt: &[u8], tag: u8, bytes: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"mijian-hidden-raw\0")
        .chain_update(salt)
        .chain_update([tag])
        .chain_update(bytes)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_parse_round_trip_and_bounds() {
        let t = HashedTerm::of(b"0123456789abcdef", "玄鸟柒号");
        assert_eq!(t.len, 12);
        assert_eq!(HashedTerm::parse(&t.encode()).unwrap(), t);
        assert!(HashedTerm::parse("0:00000000:00").is_err());
        assert!(HashedTerm::parse("5000:00000000:".to_string().as_str()).is_err());
        assert!(HashedTerm::parse("12:zz:00").is_err());
        assert!(HashedTerm::parse("a:b").is_err());
        let r = HashedTerm::of_raw(b"0123456789abcdef", 3, &[0x84, 0x73, 0x1f, 0x9e]);
        assert_eq!(HashedTerm::parse_raw(&r.encode()).unwrap(), r);
        assert_ne!(
            r.mac,
            HashedTerm::of_raw(b"0123456789abcdef", 4, &[0x84, 0x73, 0x1f, 0x9e]).mac
        );
        let z = "0".repeat(64);
        assert!(HashedTerm::parse_raw(&format!("4096:00000000:{z}")).is_ok());
        assert!(HashedTerm::parse_raw(&format!("4097:00000000:{z}")).is_err());
        assert!(HashedTerm::parse(&format!("1025:00000000:{z}")).is_err());
        // Another salt, another hash.
        assert_ne!(HashedTerm::of(b"other-salt-16byt", "玄鸟柒号").mac, t.mac);
    }

    #[test]
    fn rolling_update_equals_direct_hash() {
        let b = base(b"salt");
        let text = "abc玄鸟柒号def".as_bytes();
        let l = 6;
        let pow = (0..l - 1).fold(1u64, |p, _| p.wrapping_mul(b));
        let mut h = poly(b, &text[..l]);
        for i in l..text.len() {
            h = h
                .wrapping_sub((text[i - l] as u64 + 1).wrapping_mul(pow))
                .wrapping_mul(b)
                .wrapping_add(text[i] as u64 + 1);
            assert_eq!(h, poly(b, &text[i + 1 - l..=i]));
        }
    }
}
