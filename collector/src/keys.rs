//! Agent public keys, ready to verify with, kept in memory.
//!
//! Why: turning a stored JWK into a usable Ed25519 key (read the row, parse,
//! decompress the point, hash the thumbprint) cost as much per report as
//! storing it. A `kid` *is* the RFC 7638 thumbprint of its key, so the key of
//! a kid can never change: caching it is always correct. Whether the agent is
//! still enrolled and unrevoked is not cached — the store decides that inside
//! the transaction that stores the report ([`mijian_store::Outcome::Revoked`]).
//!
//! Bounded: past [`MAX_KEYS`] entries the cache starts over.

use mijian_report::PublicKey;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

/// Enough for the largest fleets (100,000 workstations) with room to spare;
/// an entry is a few hundred bytes.
const MAX_KEYS: usize = 262_144;

fn cache() -> &'static RwLock<HashMap<String, Arc<PublicKey>>> {
    static KEYS: OnceLock<RwLock<HashMap<String, Arc<PublicKey>>>> = OnceLock::new();
    KEYS.get_or_init(Default::default)
}

/// The cached key of `kid`, if any.
pub fn get(kid: &str) -> Option<Arc<PublicKey>> {
    cache()
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(kid)
        .cloned()
}

/// Remember `key` under its own kid (never under another name).
pub fn put(key: PublicKey) -> Arc<PublicKey> {
    let key = Arc::new(key);
    let mut c = cache().write().unwrap_or_else(|p| p.into_inner());
    if c.len() >= MAX_KEYS {
        c.clear();
    }
    c.insert(key.kid().to_string(), key.clone());
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use mijian_report::{AgentKey, Jwk};

    #[test]
    fn keys_are_found_by_their_own_kid_only() {
        let k = AgentKey::generate();
        let jwk = Jwk::parse(&serde_json::to_vec(&k.public_jwk()).unwrap()).unwrap();
        assert!(get(&k.kid()).is_none());
        put(jwk.public_key().unwrap());
        assert_eq!(get(&k.kid()).unwrap().kid(), k.kid());
        assert!(get("someone-else").is_none());
    }
}
