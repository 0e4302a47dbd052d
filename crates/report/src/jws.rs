//! The signed report: a JWS in the flattened JSON serialization
//! (RFC 7515 §7.2.2) with `alg` EdDSA over Ed25519 (RFC 8037).
//!
//! Verification is strict on purpose: exactly the members `protected`,
//! `payload` and `signature`; `alg` must be `EdDSA` (so `none` and every
//! algorithm-confusion trick is refused before any key is touched); `kid`
//! must name the key used; `crit` is refused; base64url must be unpadded and
//! canonical. Each refusal says which of these it was.
//! Hand-written because JOSE crates either do compact JWT only or pull a
//! crypto stack we do not need (PITFALLS: jsonwebtoken).

use crate::jwk::{AgentKey, Jwk, JwkError, PublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::{Deserialize, Serialize};

/// The only accepted `alg`.
pub const ALG: &str = "EdDSA";
/// The `typ` of a mijian report.
pub const TYP: &str = "mijian-report+jws";
/// The `typ` of a signed policy bundle (issue 13): same JWS form, another
/// `typ`, so a report can never be replayed as a policy or the reverse.
pub const POLICY_TYP: &str = "mijian-policy+jws";

/// A flattened JSON JWS, members still base64url-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jws {
    pub protected: String,
    pub payload: String,
    pub signature: String,
}

/// The decoded protected header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protected {
    pub alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit: Option<serde_json::Value>,
}

/// A verified JWS: the key id and the exact payload bytes that were signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub kid: String,
    pub header: Protected,
    pub payload: Vec<u8>,
}

/// Why a JWS was refused. Messages say which part was wrong.
#[derive(Debug, thiserror::Error)]
pub enum JwsError {
    #[error("not a signed report: {0} (is the file truncated or not a JWS?)")]
    NotJson(String),
    #[error("JWS member `{0}` is missing")]
    MissingMember(&'static str),
    #[error("JWS has unexpected member `{0}` (only protected, payload, signature are allowed)")]
    ExtraMember(String),
    #[error("JWS member `{0}` is not a string")]
    NotString(&'static str),
    #[error("JWS member `{0}` is not valid base64url")]
    Base64(&'static str),
    #[error("protected header is not a JSON object: {0}")]
    Header(String),
    #[error("protected header `alg` is `{0}`; only EdDSA is accepted")]
    Alg(String),
    #[error("protected header has no `kid`")]
    NoKid,
    #[error("protected header `typ` is `{0}`; expected `{1}`")]
    Typ(String, &'static str),
    #[error("protected header has `crit`, which this verifier does not support")]
    Crit,
    #[error("report is signed by key {header_kid}, not by the given key {key_kid}")]
    KidMismatch { header_kid: String, key_kid: String },
    #[error("verification key is unusable: {0}")]
    Key(#[from] JwkError),
    #[error("signature is not 64 bytes (truncated?)")]
    SignatureLength,
    #[error(
        "signature does not verify: the protected header or the payload was altered, or another key signed it"
    )]
    BadSignature,
}

impl Jws {
    /// Sign payload bytes with the agent key.
    pub fn sign(payload: &[u8], key: &AgentKey) -> Jws {
        Self::sign_typed(payload, key, TYP)
    }

    /// Sign payload bytes with `typ` in the protected header (reports:
    /// [`TYP`]; policy bundles: [`POLICY_TYP`]).
    pub fn sign_typed(payload: &[u8], key: &AgentKey, typ: &str) -> Jws {
        let header = Protected {
            alg: ALG.into(),
            kid: Some(key.kid()),
            typ: Some(typ.into()),
            crit: None,
        };
        let protected = B64URL.encode(serde_json::to_vec(&header).expect("header serialises"));
        let payload = B64URL.encode(payload);
        let signing_input = format!("{protected}.{payload}");
        let signature = B64URL.encode(key.sign(signing_input.as_bytes()));
        Jws {
            protected,
            payload,
            signature,
        }
    }

    /// The JSON text of the JWS (what goes on the wire and into files).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("jws serialises")
    }

    /// Parse the flattened JSON serialization, strictly.
    pub fn parse(bytes: &[u8]) -> Result<Jws, JwsError> {
        /// The well-formed case, read without building a JSON tree (the
        /// payload string is most of the bytes and is borrowed, then copied
        /// once). Anything else takes the slow path below, which says what
        /// is wrong.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Members<'a> {
            #[serde(borrow)]
            protected: std::borrow::Cow<'a, str>,
            #[serde(borrow)]
            payload: std::borrow::Cow<'a, str>,
            #[serde(borrow)]
            signature: std::borrow::Cow<'a, str>,
        }
        if let Ok(m) = serde_json::from_slice::<Members>(bytes) {
            return Ok(Jws {
                protected: m.protected.into_owned(),
                payload: m.payload.into_owned(),
                signature: m.signature.into_owned(),
            });
        }
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| JwsError::NotJson(e.to_string()))?;
        let serde_json::Value::Object(mut obj) = v else {
            return Err(JwsError::NotJson("top level is not a JSON object".into()));
        };
        for k in obj.keys() {
            if !matches!(k.as_str(), "protected" | "payload" | "signature") {
                return Err(JwsError::ExtraMember(k.clone()));
            }
        }
        // Members are moved out, not copied: the payload is most of the bytes.
        let mut member = |name: &'static str| -> Result<String, JwsError> {
            match obj.remove(name) {
                None => Err(JwsError::MissingMember(name)),
                Some(serde_json::Value::String(s)) => Ok(s),
                Some(_) => Err(JwsError::NotString(name)),
            }
        };
        Ok(Jws {
            protected: member("protected")?,
            payload: member("payload")?,
            signature: member("signature")?,
        })
    }

    /// Decode and check the protected header (alg, kid, typ, crit); no key needed.
    pub fn header(&self) -> Result<Protected, JwsError> {
        self.header_typed(TYP)
    }

    /// [`Jws::header`] for a JWS of another `typ`; here `typ` is required.
    pub fn header_typed(&self, expected_typ: &'static str) -> Result<Protected, JwsError> {
        let raw = b64("protected", &self.protected)?;
        let value: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|e| JwsError::Header(e.to_string()))?;
        if !value.is_object() {
            return Err(JwsError::Header("not an object".into()));
        }
        let alg = value.get("alg").cloned().unwrap_or(serde_json::Value::Null);
        match alg.as_str() {
            Some(ALG) => {}
            Some(other) => return Err(JwsError::Alg(other.to_string())),
            None => return Err(JwsError::Alg(alg.to_string())),
        }
        let header: Protected =
            serde_json::from_value(value).map_err(|e| JwsError::Header(e.to_string()))?;
        if header.crit.is_some() {
            return Err(JwsError::Crit);
        }
        match &header.typ {
            Some(typ) if typ != expected_typ => {
                return Err(JwsError::Typ(typ.clone(), expected_typ));
            }
            // Reports may omit `typ` (older agents); anything else must say what it is.
            None if expected_typ != TYP => {
                return Err(JwsError::Typ(String::new(), expected_typ));
            }
            _ => {}
        }
        if header.kid.as_deref().unwrap_or("").is_empty() {
            return Err(JwsError::NoKid);
        }
        Ok(header)
    }

    /// The `kid` from the protected header, after the header checks.
    pub fn kid(&self) -> Result<String, JwsError> {
        self.header()?.kid.ok_or(JwsError::NoKid)
    }

    /// Verify against a public JWK and return the signed payload bytes.
    pub fn verify(&self, jwk: &Jwk) -> Result<Verified, JwsError> {
        self.verify_with(&jwk.public_key()?)
    }

    /// Verify against a prepared public key ([`Jwk::public_key`]).
    pub fn verify_with(&self, key: &PublicKey) -> Result<Verified, JwsError> {
        self.verify_typed(key, TYP)
    }

    /// Verify a JWS of `typ` `expected_typ` (e.g. [`POLICY_TYP`]).
    pub fn verify_typed(
        &self,
        key: &PublicKey,
        expected_typ: &'static str,
    ) -> Result<Verified, JwsError> {
        let header = self.header_typed(expected_typ)?;
        let header_kid = header.kid.clone().ok_or(JwsError::NoKid)?;
        if header_kid != key.kid() {
            return Err(JwsError::KidMismatch {
                header_kid,
                key_kid: key.kid().to_string(),
            });
        }
        let sig = b64("signature", &self.signature)?;
        let sig: [u8; 64] = sig.try_into().map_err(|_| JwsError::SignatureLength)?;
        let payload = b64("payload", &self.payload)?;
        let mut signing_input = Vec::with_capacity(self.protected.len() + 1 + self.payload.len());
        signing_input.extend_from_slice(self.protected.as_bytes());
        signing_input.push(b'.');
        signing_input.extend_from_slice(self.payload.as_bytes());
        key.key
            .verify_strict(&signing_input, &ed25519_dalek::Signature::from_bytes(&sig))
            .map_err(|_| JwsError::BadSignature)?;
        Ok(Verified {
            kid: header_kid,
            header,
            payload,
        })
    }
}

/// Strict base64url: no padding, no whitespace, canonical trailing bits.
fn b64(member: &'static str, s: &str) -> Result<Vec<u8>, JwsError> {
    B64URL.decode(s).map_err(|_| JwsError::Base64(member))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed() -> (AgentKey, Jws) {
        let key = AgentKey::generate();
        let jws = Jws::sign(br#"{"schema":"mijian.report/1"}"#, &key);
        (key, jws)
    }

    #[test]
    fn sign_then_verify() {
        let (key, jws) = signed();
        let back = Jws::parse(&jws.to_json()).unwrap();
        let v = back.verify(&key.public_jwk()).unwrap();
        assert_eq!(v.payload, br#"{"schema":"mijian.report/1"}"#);
        assert_eq!(v.kid, key.kid());
    }

    #[test]
    fn altered_payload_is_bad_signature() {
        let (key, mut jws) = signed();
        jws.payload = B64URL.encode(br#"{"schema":"mijian.report/2"}"#);
        assert!(matches!(
            jws.verify(&key.public_jwk()),
            Err(JwsError::BadSignature)
        ));
    }

    #[test]
    fn alg_none_is_refused_before_the_key() {
        let (key, mut jws) = signed();
        jws.protected = B64URL.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, key.kid()));
        assert!(matches!(jws.verify(&key.public_jwk()), Err(JwsError::Alg(a)) if a == "none"));
    }

    #[test]
    fn other_key_is_kid_mismatch() {
        let (_, jws) = signed();
        let other = AgentKey::generate();
        assert!(matches!(
            jws.verify(&other.public_jwk()),
            Err(JwsError::KidMismatch { .. })
        ));
    }

    #[test]
    fn policy_typ_is_not_a_report_and_the_reverse() {
        let key = AgentKey::generate();
        let pk = key.public_jwk().public_key().unwrap();
        let policy = Jws::sign_typed(b"{}", &key, POLICY_TYP);
        assert!(policy.verify_typed(&pk, POLICY_TYP).is_ok());
        assert!(matches!(policy.verify_with(&pk), Err(JwsError::Typ(..))));
        let report = Jws::sign(b"{}", &key);
        assert!(matches!(
            report.verify_typed(&pk, POLICY_TYP),
            Err(JwsError::Typ(..))
        ));
    }

    #[test]
    fn members_are_strict() {
        assert!(matches!(
            Jws::parse(br#"{"protected":"a","payload":"b"}"#),
            Err(JwsError::MissingMember("signature"))
        ));
        assert!(matches!(
            Jws::parse(br#"{"protected":"a","payload":"b","signature":"c","header":{}}"#),
            Err(JwsError::ExtraMember(m)) if m == "header"
        ));
        assert!(matches!(
            Jws::parse(br#"{"protected":"a","payl"#),
            Err(JwsError::NotJson(_))
        ));
    }
}
