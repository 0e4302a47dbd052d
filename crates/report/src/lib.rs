//! The mijian report: its model (CONTRACT §4), its canonical bytes, and its
//! signature (CONTRACT §5, a flattened JSON JWS with Ed25519).
//!
//! Everything an agent says travels as a [`Report`], serialised once into the
//! *payload bytes* ([`Report::to_payload`]) and signed into a [`Jws`]. Those
//! bytes are what the chain hashes (`prev` = SHA-256 of the previous payload
//! bytes) and what the collector stores, so they are produced exactly once and
//! never re-serialised.
//!
//! Invariants: this crate does no I/O and nothing async; it never decides a
//! compliance question, it only carries the answer.
//!
//! ```
//! use mijian_report::{AgentKey, Jws, Report, Trigger};
//! let key = AgentKey::generate();
//! let report = Report::new(&key.kid(), 1, None, Trigger::Manual);
//! let jws = Jws::sign(&report.to_payload(), &key);
//! let verified = jws.verify(&key.public_jwk()).unwrap();
//! assert_eq!(verified.payload, report.to_payload());
//! ```

mod category;
mod jwk;
mod jws;
mod model;
mod path;

pub use category::Category;
pub use jwk::{AgentKey, Jwk, JwkError, PublicKey};
pub use jws::{ALG, Jws, JwsError, POLICY_TYP, Protected, TYP, Verified};
pub use model::*;
pub use path::{EncodedPath, encode_path, encode_path_bytes};

/// Lowercase hex SHA-256 of `bytes`: how `prev`, `sha256` and policy digests are written.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
