//! Ed25519 keys as JWKs (RFC 7517, RFC 8037 `kty` OKP) and their RFC 7638
//! thumbprint, which is the `kid` of every report and the agent's identity.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Why a JWK was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwkError {
    #[error("not a JWK: {0}")]
    Json(String),
    #[error("JWK has kty `{0}`; expected `OKP` (Ed25519)")]
    Kty(String),
    #[error("JWK has crv `{0}`; expected `Ed25519`")]
    Crv(String),
    #[error("JWK member `{0}` is not base64url of 32 bytes")]
    KeyBytes(&'static str),
    #[error("JWK `kid` is {given} but the key's RFC 7638 thumbprint is {computed}")]
    KidMismatch { given: String, computed: String },
}

/// A public (or, with `d`, private) OKP/Ed25519 JWK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

/// An Ed25519 public key with its RFC 7638 `kid` ([`Jwk::public_key`]).
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub(crate) key: VerifyingKey,
    kid: String,
}

impl PublicKey {
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

impl Jwk {
    /// Parse a JWK from JSON, check it is an Ed25519 key, and check its `kid`
    /// (when present) is the key's thumbprint.
    pub fn parse(json: &[u8]) -> Result<Self, JwkError> {
        let jwk: Jwk = serde_json::from_slice(json).map_err(|e| JwkError::Json(e.to_string()))?;
        jwk.verifying_key()?;
        if let Some(kid) = &jwk.kid {
            let computed = jwk.thumbprint();
            if *kid != computed {
                return Err(JwkError::KidMismatch {
                    given: kid.clone(),
                    computed,
                });
            }
        }
        Ok(jwk)
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> Result<VerifyingKey, JwkError> {
        if self.kty != "OKP" {
            return Err(JwkError::Kty(self.kty.clone()));
        }
        if self.crv != "Ed25519" {
            return Err(JwkError::Crv(self.crv.clone()));
        }
        let bytes = decode32(&self.x).ok_or(JwkError::KeyBytes("x"))?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| JwkError::KeyBytes("x"))
    }

    /// The key ready to verify with: the point decompressed once, and its kid.
    /// Collectors keep these rather than re-deriving them for every report.
    pub fn public_key(&self) -> Result<PublicKey, JwkError> {
        Ok(PublicKey {
            key: self.verifying_key()?,
            kid: self.thumbprint(),
        })
    }

    /// RFC 7638 thumbprint: SHA-256 over the required members in
    /// lexicographic order, no whitespace, base64url without padding.
    pub fn thumbprint(&self) -> String {
        use sha2::{Digest, Sha256};
        // Members are plain base64url/ASCII names, so no JSON escaping is needed,
        // but serde_json keeps that true even for hostile input.
        let canon = format!(
            "{{\"crv\":{},\"kty\":{},\"x\":{}}}",
            serde_json::Value::from(self.crv.as_str()),
            serde_json::Value::from(self.kty.as_str()),
            serde_json::Value::from(self.x.as_str())
        );
        B64URL.encode(Sha256::digest(canon.as_bytes()))
    }

    /// The public part only, with `kid`, `alg` and `use` filled in.
    pub fn public(&self) -> Jwk {
        Jwk {
            kty: self.kty.clone(),
            crv: self.crv.clone(),
            x: self.x.clone(),
            d: None,
            kid: Some(self.thumbprint()),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
        }
    }
}

fn decode32(s: &str) -> Option<[u8; 32]> {
    let v = B64URL.decode(s.trim_end_matches('=')).ok()?;
    v.try_into().ok()
}

/// The agent's signing key.
pub struct AgentKey {
    signing: SigningKey,
}

impl std::fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgentKey({})", self.kid())
    }
}

impl AgentKey {
    /// A new random key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        AgentKey {
            signing: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// From a private JWK (with `d`), as written by [`AgentKey::to_private_jwk`].
    pub fn from_private_jwk(json: &[u8]) -> Result<Self, JwkError> {
        let jwk: Jwk = serde_json::from_slice(json).map_err(|e| JwkError::Json(e.to_string()))?;
        let public = jwk.verifying_key()?;
        let d = jwk.d.as_deref().ok_or(JwkError::KeyBytes("d"))?;
        let secret = decode32(d).ok_or(JwkError::KeyBytes("d"))?;
        let signing = SigningKey::from_bytes(&secret);
        if signing.verifying_key() != public {
            return Err(JwkError::KeyBytes("x"));
        }
        Ok(AgentKey { signing })
    }

    /// The private JWK as JSON (keep it mode 0600).
    pub fn to_private_jwk(&self) -> Vec<u8> {
        let mut jwk = self.public_jwk();
        jwk.d = Some(B64URL.encode(self.signing.to_bytes()));
        serde_json::to_vec_pretty(&jwk).expect("jwk serialises")
    }

    /// The public JWK with `kid`.
    pub fn public_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: B64URL.encode(self.signing.verifying_key().to_bytes()),
            d: None,
            kid: None,
            alg: None,
            use_: None,
        }
        .public()
    }

    /// RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> String {
        self.public_jwk().thumbprint()
    }

    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.signing.sign(msg).to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037 appendix A.3 gives the thumbprint of the A.1 key.
    #[test]
    fn rfc8037_thumbprint_vector() {
        let jwk = Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
            d: None,
            kid: None,
            alg: None,
            use_: None,
        };
        assert_eq!(
            jwk.thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn private_jwk_round_trips() {
        let k = AgentKey::generate();
        let back = AgentKey::from_private_jwk(&k.to_private_jwk()).unwrap();
        assert_eq!(k.kid(), back.kid());
    }

    #[test]
    fn wrong_kid_is_refused() {
        let k = AgentKey::generate();
        let mut jwk = k.public_jwk();
        jwk.kid = Some("not-the-thumbprint".into());
        let err = Jwk::parse(&serde_json::to_vec(&jwk).unwrap()).unwrap_err();
        assert!(matches!(err, JwkError::KidMismatch { .. }));
    }
}
