//! How long a hidden term of two CJK characters survives a copied bundle
//! (issue 13, docs/collector.md "What hidden mode protects"): hide one term
//! under a random-looking salt, then try every pair of the 20,992 CJK
//! Unified Ideographs (U+4E00..U+9FFF) against its `LEN:FP:MAC`, the
//! fingerprint first, the salted SHA-256 only on a fingerprint hit.
//! `cargo run --release -p mijian-policy --example hidden_guess [TERM]`
//! (one thread).

use mijian_policy::hashed::{self, HashedTerm};
use std::time::Instant;

fn main() {
    let term = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "天枢".to_string());
    let salt = *b"\x8c\x1f\x52\xe0\x07\x9a\x3b\x44\xd1\x6e\x25\xb8\x90\x13\x7f\xca";
    let target = HashedTerm::of(&salt, &term);
    let base = hashed::base(&salt);
    let t0 = Instant::now();
    let (mut tried, mut macs, mut found) = (0u64, 0u64, None);
    let mut buf = [0u8; 8];
    'outer: for a in 0x4E00u32..=0x9FFF {
        let Some(ca) = char::from_u32(a) else {
            continue;
        };
        let la = ca.encode_utf8(&mut buf).len();
        // The first character's share of the polynomial, once per `a`.
        let ha = hashed::poly(base, &buf[..la]);
        for b in 0x4E00u32..=0x9FFF {
            let Some(cb) = char::from_u32(b) else {
                continue;
            };
            let mut tail = [0u8; 4];
            let lb = cb.encode_utf8(&mut tail).len();
            tried += 1;
            if (la + lb) as u32 != target.len {
                continue;
            }
            let h = tail[..lb]
                .iter()
                .fold(ha, |h, &x| h.wrapping_mul(base).wrapping_add(x as u64 + 1));
            if hashed::fp_of(h) != target.fp {
                continue;
            }
            macs += 1;
            buf[la..la + lb].copy_from_slice(&tail[..lb]);
            if hashed::mac(&salt, &buf[..la + lb]) == target.mac {
                found = Some(format!("{ca}{cb}"));
                break 'outer;
            }
        }
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "{} after {tried} guesses ({macs} SHA-256) in {s:.2} s: {:.0} M guesses/s",
        found.map_or("not found".to_string(), |f| format!("found {f:?}")),
        tried as f64 / s / 1e6
    );
}
