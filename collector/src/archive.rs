//! The stored form of a signed report: compact, and exact.
//!
//! Why: the signed JWS is the evidence and is kept whole, but as received it
//! is base64 of a JSON document — a 36 KB report is a 48 KB JWS, and writing
//! those bytes is most of what the database does per report. Stored instead
//! are the protected header and the signature as received (base64url text)
//! and the payload bytes compressed with zstd (a realistic report shrinks
//! about twelvefold, in ~20 µs). Base64url without padding is canonical
//! (the decoder refuses non-zero trailing bits), so re-encoding the payload
//! gives back the exact `payload` member: [`unpack`] returns byte for byte the
//! JWS that [`pack`] was given, and it still verifies with the agent's key.
//!
//! Layout: `MJZ1`, then `u16` LE length + protected, `u16` LE length +
//! signature, then one zstd frame of the payload. Rows written before this
//! format start with `{` (the JWS JSON itself) and are returned unchanged.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use mijian_report::Jws;

const MAGIC: &[u8; 4] = b"MJZ1";
/// zstd level: 1 is ~2 GB/s on report JSON and already ~12× smaller.
const LEVEL: i32 = 1;

/// Why a stored report could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("stored report is truncated or not in a known format")]
    Format,
    #[error("stored report does not decompress: {0}")]
    Zstd(std::io::Error),
    #[error("stored report is larger than {0} bytes once decompressed")]
    TooLarge(usize),
}

/// The stored form of `jws`, whose payload bytes (already decoded by
/// verification) are `payload`.
pub fn pack(jws: &Jws, payload: &[u8]) -> Vec<u8> {
    let (p, s) = (jws.protected.as_bytes(), jws.signature.as_bytes());
    // Headers and signatures of real JWSs are short; anything that does not
    // fit the length fields is kept as plain JSON rather than truncated.
    let (Ok(pl), Ok(sl)) = (u16::try_from(p.len()), u16::try_from(s.len())) else {
        return jws.to_json();
    };
    let Ok(z) = compress(payload) else {
        return jws.to_json();
    };
    let mut out = Vec::with_capacity(8 + p.len() + s.len() + z.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&pl.to_le_bytes());
    out.extend_from_slice(p);
    out.extend_from_slice(&sl.to_le_bytes());
    out.extend_from_slice(s);
    out.extend_from_slice(&z);
    out
}

/// The JWS JSON text of a stored report; `max_payload` bounds decompression.
pub fn unpack(stored: &[u8], max_payload: usize) -> Result<Vec<u8>, ArchiveError> {
    let Some(rest) = stored.strip_prefix(MAGIC) else {
        return match stored.first() {
            Some(b'{') => Ok(stored.to_vec()),
            _ => Err(ArchiveError::Format),
        };
    };
    let (protected, rest) = field(rest)?;
    let (signature, z) = field(rest)?;
    let payload = decompress(z, max_payload)?;
    let jws = Jws {
        protected: protected.to_string(),
        payload: B64URL.encode(payload),
        signature: signature.to_string(),
    };
    Ok(jws.to_json())
}

/// The signed report `(agent_id, seq)` exactly as verified (JWS JSON), if stored.
/// `max_payload` bounds decompression (the body limit is the natural one).
pub fn signed_report(
    store: &dyn mijian_store::Store,
    agent_id: &str,
    seq: i64,
    max_payload: usize,
) -> anyhow::Result<Option<Vec<u8>>> {
    match store.report_jws(agent_id, seq)? {
        None => Ok(None),
        Some(b) => Ok(Some(unpack(&b, max_payload)?)),
    }
}

fn field(b: &[u8]) -> Result<(&str, &[u8]), ArchiveError> {
    let (len, rest) = b.split_first_chunk::<2>().ok_or(ArchiveError::Format)?;
    let len = u16::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err(ArchiveError::Format);
    }
    let (s, rest) = rest.split_at(len);
    let s = std::str::from_utf8(s).map_err(|_| ArchiveError::Format)?;
    Ok((s, rest))
}

/// zstd with one compression context per thread (making a context costs
/// about as much as compressing a report).
fn compress(payload: &[u8]) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static CTX: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    CTX.with(|c| {
        let mut c = c.try_borrow_mut().map_err(std::io::Error::other)?;
        if c.is_none() {
            *c = Some(zstd::bulk::Compressor::new(LEVEL)?);
        }
        match c.as_mut() {
            Some(z) => z.compress(payload),
            None => zstd::bulk::compress(payload, LEVEL),
        }
    })
}

fn decompress(z: &[u8], max: usize) -> Result<Vec<u8>, ArchiveError> {
    // The frame header states the content size (bulk compression writes it);
    // refuse before allocating when it is over the bound.
    match zstd::zstd_safe::get_frame_content_size(z) {
        Ok(Some(n)) if n > max as u64 => return Err(ArchiveError::TooLarge(max)),
        Err(_) => return Err(ArchiveError::Format),
        _ => {}
    }
    zstd::bulk::decompress(z, max).map_err(ArchiveError::Zstd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mijian_report::{AgentKey, Jwk};

    fn signed(payload: &[u8]) -> (AgentKey, Jws) {
        let key = AgentKey::generate();
        let jws = Jws::sign(payload, &key);
        (key, jws)
    }

    #[test]
    fn round_trip_is_byte_exact_and_still_verifies() {
        let payload = br#"{"schema":"mijian.report/1","findings":[],"note":"\u4e2d\u6587 \u2605"}"#;
        for n in [0usize, 1, 2, 3, 1000] {
            let mut p = payload.to_vec();
            p.extend(std::iter::repeat_n(b' ', n));
            let (key, jws) = signed(&p);
            let stored = pack(&jws, &p);
            assert!(stored.starts_with(MAGIC));
            let back = unpack(&stored, 1 << 20).unwrap();
            assert_eq!(back, jws.to_json(), "payload length {}", p.len());
            let jwk = Jwk::parse(&serde_json::to_vec(&key.public_jwk()).unwrap()).unwrap();
            assert_eq!(Jws::parse(&back).unwrap().verify(&jwk).unwrap().payload, p);
        }
    }

    #[test]
    fn compresses_repetitive_reports() {
        let mut p = String::from("{\"checks\":[");
        for i in 0..50 {
            p.push_str(&format!(
                "{{\"id\":\"password.minlen\",\"subject\":\"user:u{i}\",\"status\":\"fail\"}},"
            ));
        }
        p.push_str("null]}");
        let (_, jws) = signed(p.as_bytes());
        let stored = pack(&jws, p.as_bytes());
        assert!(
            stored.len() * 4 < jws.to_json().len(),
            "{} bytes",
            stored.len()
        );
    }

    #[test]
    fn plain_json_rows_pass_through() {
        let (_, jws) = signed(b"{}");
        assert_eq!(unpack(&jws.to_json(), 100).unwrap(), jws.to_json());
    }

    #[test]
    fn broken_stored_forms_are_errors_not_panics() {
        let (_, jws) = signed(&[b'x'; 5000]);
        let stored = pack(&jws, &[b'x'; 5000]);
        assert!(matches!(
            unpack(&stored, 100),
            Err(ArchiveError::TooLarge(100))
        ));
        for cut in 0..stored.len() {
            let _ = unpack(&stored[..cut], 1 << 20);
        }
        let mut flipped = stored.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0x55;
            let _ = unpack(&flipped, 1 << 20);
            flipped[i] ^= 0x55;
        }
        assert!(matches!(unpack(b"", 10), Err(ArchiveError::Format)));
        assert!(matches!(
            unpack(b"MJZ1\xff\xff", 10),
            Err(ArchiveError::Format)
        ));
    }
}
