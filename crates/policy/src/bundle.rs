//! The signed policy bundle (issue 13): one version of the fleet's rules,
//! published by the collector and applied by every agent.
//!
//! Format: a flattened JWS (RFC 7515 §7.2.2, EdDSA) like a report, with
//! `typ` `mijian-policy+jws`, signed by the collector's own key; its payload
//! is the JSON [`Bundle`]: `schema`, `version`, `created_at`, `digest`,
//! `mode`, `rules` (the rule files, path and text, in [`Policy::read_files`]
//! order) and `exceptions` (triage feedback). `digest` is the very digest
//! [`Policy`] computes over those files, so the `policy.digest` of a report
//! made with the applied bundle equals the bundle's.
//!
//! Round trip: rules directory → [`Policy::read_files`] → [`Bundle::new`] →
//! [`Bundle::write_dir`] → [`Policy::load`] gives the same files byte for
//! byte and the same digest. Every bundle is hostile input until verified:
//! size, file count and paths are bounded ([`MAX_BUNDLE_BYTES`],
//! [`MAX_FILES`], [`safe_path`]) and the rules are parsed in full before an
//! agent swaps them in.

use crate::hashed::{HashedTerm, SALT_BYTES};
use crate::{Policy, PolicyError};
use mijian_report::{AgentKey, Jws, JwsError, POLICY_TYP, PublicKey};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `schema` of a bundle payload.
pub const SCHEMA: &str = "mijian.policy/1";
/// Largest signed bundle accepted, bytes.
pub const MAX_BUNDLE_BYTES: usize = 16 * 1024 * 1024;
/// Most rule files in one bundle.
pub const MAX_FILES: usize = 1024;
/// `typ` of the proof an agent sends to fetch the bundle (header
/// `X-Mijian-Agent-Proof`: a compact JWS over `{"agent_id","iat","aud":"policy"}`
/// made with its enrolled key), so only enrolled agents and staff read the rules.
pub const FETCH_TYP: &str = "mijian-fetch+jws";
/// How far an agent's proof `iat` may be from the collector's clock, seconds.
pub const FETCH_SKEW_SECS: i64 = 600;
/// Most exceptions in one bundle.
pub const MAX_EXCEPTIONS: usize = 100_000;

/// Plain: keyword terms in clear. Hidden: keyword terms as salted hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Plain,
    Hidden,
}

/// One rule file: its path relative to the rules directory and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub path: String,
    pub content: String,
}

/// A triage exception: findings of `rule` in the file whose content hashes
/// to `sha256` are marked `excepted` until `expires` (RFC 3339 UTC, `Z`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub id: String,
    pub sha256: String,
    pub rule: String,
    pub expires: String,
    pub justification: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

impl Exception {
    /// Whether it covers a match of `rule` in a file of content `sha256` at
    /// time `now` (RFC 3339 UTC with `Z`, as [`mijian_report::now_rfc3339`]).
    pub fn covers(&self, sha256: &str, rule: &str, now: &str) -> bool {
        self.sha256 == sha256 && self.rule == rule && now < self.expires.as_str()
    }
}

/// The bundle payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub schema: String,
    pub version: u64,
    pub created_at: String,
    pub digest: String,
    #[serde(default)]
    pub mode: Mode,
    pub rules: Vec<RuleFile>,
    #[serde(default)]
    pub exceptions: Vec<Exception>,
}

/// Why a bundle was refused.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("not a policy bundle: {0}")]
    Malformed(String),
    #[error("bundle is signed by key {kid}, not by the pinned collector key {pinned}")]
    UnknownKey { kid: String, pinned: String },
    #[error("bundle signature does not verify: {0}")]
    Signature(JwsError),
    #[error("bundle digest {claimed} does not match its rules ({actual})")]
    Digest { claimed: String, actual: String },
    #[error("bundle rules are invalid: {0}")]
    Rules(#[from] PolicyError),
    #[error("bundle rule path {0:?} is not allowed (NAME.toml or keywords/NAME.toml)")]
    BadPath(String),
    #[error("bad exception: {0}")]
    BadException(String),
}

/// The HTTP `ETag` of a bundle version: the collector sends it, an agent
/// sends it back in `If-None-Match` (and gets 304 while nothing changed).
pub fn etag(version: u64, digest: &str) -> String {
    format!("\"v{version}-{}\"", digest.get(..16).unwrap_or(digest))
}

/// Whether a bundle rule path may be written into a rules directory:
/// `NAME.toml` or `keywords/NAME.toml`, NAME of letters, digits, `-`, `_`,
/// `.` and not starting with `.` (so never `..`, never absolute, no hidden
/// file a loader skips).
pub fn safe_path(p: &str) -> bool {
    let name = p.strip_prefix("keywords/").unwrap_or(p);
    let Some(stem) = name.strip_suffix(".toml") else {
        return false;
    };
    !stem.is_empty()
        && stem.len() <= 200
        && !stem.starts_with('.')
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `YYYY-MM-DDTHH:MM:SSZ`: the one form exceptions use, so that plain
/// string comparison orders times.
pub fn is_utc_seconds(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

impl Bundle {
    /// A bundle of `files` (as [`Policy::read_files`] gives them), validated:
    /// the rules must load as a whole.
    pub fn new(
        version: u64,
        created_at: String,
        files: &[(String, Vec<u8>)],
        exceptions: Vec<Exception>,
        mode: Mode,
    ) -> Result<Bundle, BundleError> {
        let mut rules = Vec::with_capacity(files.len());
        for (path, bytes) in files {
            let content = String::from_utf8(bytes.clone()).map_err(|_| {
                BundleError::Malformed(format!("{path} is not UTF-8 (save it as UTF-8)"))
            })?;
            rules.push(RuleFile {
                path: path.clone(),
                content,
            });
        }
        let mut b = Bundle {
            schema: SCHEMA.into(),
            version,
            created_at,
            digest: String::new(),
            mode,
            rules,
            exceptions,
        };
        b.digest = b.check_rules()?.digest;
        b.check_exceptions()?;
        Ok(b)
    }

    /// The rule files as (path, bytes).
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        self.rules
            .iter()
            .map(|r| (r.path.clone(), r.content.as_bytes().to_vec()))
            .collect()
    }

    fn check_rules(&self) -> Result<Policy, BundleError> {
        if self.rules.len() > MAX_FILES {
            return Err(BundleError::Malformed(format!(
                "{} rule files (at most {MAX_FILES})",
                self.rules.len()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for r in &self.rules {
            if !safe_path(&r.path) {
                return Err(BundleError::BadPath(r.path.clone()));
            }
            if !seen.insert(r.path.as_str()) {
                return Err(BundleError::Malformed(format!(
                    "rule file {} appears twice",
                    r.path
                )));
            }
        }
        let origin = format!("<policy bundle v{}>", self.version);
        Ok(Policy::from_files(Path::new(&origin), &self.files(), None)?)
    }

    fn check_exceptions(&self) -> Result<(), BundleError> {
        if self.exceptions.len() > MAX_EXCEPTIONS {
            return Err(BundleError::BadException(format!(
                "{} exceptions (at most {MAX_EXCEPTIONS})",
                self.exceptions.len()
            )));
        }
        for e in &self.exceptions {
            let hex64 = e.sha256.len() == 64
                && e.sha256
                    .bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
            if !hex64 {
                return Err(BundleError::BadException(format!(
                    "{}: sha256 is not lowercase hex SHA-256",
                    e.id
                )));
            }
            if !is_utc_seconds(&e.expires) {
                return Err(BundleError::BadException(format!(
                    "{}: expires {:?} is not YYYY-MM-DDTHH:MM:SSZ",
                    e.id, e.expires
                )));
            }
            if e.rule.is_empty() || e.id.is_empty() {
                return Err(BundleError::BadException("empty id or rule".into()));
            }
        }
        Ok(())
    }

    /// The policy the bundle carries, after checking paths, rules and that
    /// `digest` is the digest of those rules.
    pub fn policy(&self) -> Result<Policy, BundleError> {
        let p = self.check_rules()?;
        if p.digest != self.digest {
            return Err(BundleError::Digest {
                claimed: self.digest.clone(),
                actual: p.digest,
            });
        }
        self.check_exceptions()?;
        Ok(p)
    }

    /// The payload bytes (what is signed).
    pub fn to_payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("bundle serialises")
    }

    /// Sign with the collector's key: the JWS JSON bytes.
    pub fn sign(&self, key: &AgentKey) -> Vec<u8> {
        Jws::sign_typed(&self.to_payload(), key, POLICY_TYP).to_json()
    }

    /// The `kid` a signed bundle names (for messages), if it parses.
    pub fn signer(bytes: &[u8]) -> Option<String> {
        Jws::parse(bytes).ok()?.header_typed(POLICY_TYP).ok()?.kid
    }

    /// Verify a signed bundle against the pinned collector key and check it
    /// in full (schema, paths, rules, digest, exceptions).
    pub fn verify(bytes: &[u8], pinned: &PublicKey) -> Result<Bundle, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::Malformed(format!(
                "{} bytes (at most {MAX_BUNDLE_BYTES})",
                bytes.len()
            )));
        }
        let jws = Jws::parse(bytes).map_err(|e| BundleError::Malformed(e.to_string()))?;
        let header = jws
            .header_typed(POLICY_TYP)
            .map_err(|e| BundleError::Malformed(e.to_string()))?;
        let kid = header.kid.unwrap_or_default();
        if kid != pinned.kid() {
            return Err(BundleError::UnknownKey {
                kid,
                pinned: pinned.kid().to_string(),
            });
        }
        let v = jws
            .verify_typed(pinned, POLICY_TYP)
            .map_err(BundleError::Signature)?;
        let b: Bundle = serde_json::from_slice(&v.payload)
            .map_err(|e| BundleError::Malformed(format!("payload: {e}")))?;
        if b.schema != SCHEMA {
            return Err(BundleError::Malformed(format!(
                "schema {:?}, expected {SCHEMA:?}",
                b.schema
            )));
        }
        if b.version == 0 {
            return Err(BundleError::Malformed("version 0".into()));
        }
        b.policy()?;
        Ok(b)
    }

    /// Write the rule files into `dir` (which must exist and be empty),
    /// each synced; the caller renames `dir` into place (all or nothing).
    pub fn write_dir(&self, dir: &Path) -> Result<(), BundleError> {
        let io = |p: &Path, e: std::io::Error| {
            BundleError::Rules(PolicyError::Io {
                path: p.to_path_buf(),
                reason: e.to_string(),
            })
        };
        for r in &self.rules {
            if !safe_path(&r.path) {
                return Err(BundleError::BadPath(r.path.clone()));
            }
            let path = dir.join(&r.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            let mut f = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
            use std::io::Write;
            f.write_all(r.content.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| io(&path, e))?;
        }
        for sub in [dir.join("keywords"), dir.to_path_buf()] {
            if sub.is_dir() {
                std::fs::File::open(&sub)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| io(&sub, e))?;
            }
        }
        Ok(())
    }
}

/// Rule files as (relative path, bytes).
pub type Files = Vec<(String, Vec<u8>)>;

/// A term's byte spellings for the raw-byte search: (bytes, encoding tag
/// `0..RAW_TAGS`). The scanner's `raw::byte_spellings`.
pub type RawSpellings<'a> = &'a dyn Fn(&str) -> Vec<(Vec<u8>, u8)>;

/// Terms shorter than this many characters (after normalisation) are
/// brute-forceable from their salted hash: `hide` warns.
pub const MIN_HIDDEN_CHARS: usize = 4;

/// Hide the keyword terms of `files` (hidden mode): every `keywords/*.toml`
/// is rewritten with the bundle's `salt` and, per rule, `hashed` entries of
/// the normalised terms (`normalise` must be the scanner's own fold, so the
/// agent's windows hash alike) and `hashed_raw` entries of every byte
/// spelling `raw_spellings` gives (the scanner's raw-byte search, so hidden
/// mode finds in undecoded bytes what plain mode finds). Descriptions are
/// dropped (they often name the project). Regex rules cannot be hidden and
/// stay in clear: each one gives a warning; so does a rule with a term of
/// fewer than [`MIN_HIDDEN_CHARS`] characters (guessable by brute force).
/// Returns the new files and the warnings.
pub fn hide(
    files: &[(String, Vec<u8>)],
    salt: &[u8; SALT_BYTES],
    normalise: &dyn Fn(&str) -> String,
    raw_spellings: RawSpellings<'_>,
) -> Result<(Files, Vec<String>), BundleError> {
    let policy = Policy::from_files(Path::new("<rules>"), files, None)?;
    let mut out = Vec::with_capacity(files.len());
    let mut warnings = Vec::new();
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    for (path, bytes) in files {
        if !path.starts_with("keywords/") {
            out.push((path.clone(), bytes.clone()));
            continue;
        }
        let file = Path::new("<rules>").join(path);
        let mut text = String::from(
            "# Hidden keyword terms (mijian policy bundle, issue 13): each term is\n\
             # LEN:FP:MAC of its normalised form (`hashed`) and of its byte spellings\n\
             # (`hashed_raw`), salted per bundle; no term in clear.\n",
        );
        text.push_str(&format!("salt = \"{}\"\n", hex::encode(salt)));
        for r in policy.keywords.rules.iter().filter(|r| r.file == file) {
            text.push_str(&format!(
                "\n[[keyword]]\nid = {}\nseverity = \"{}\"\n",
                q(&r.id),
                r.severity
            ));
            if let Some(re) = &r.regex {
                warnings.push(format!(
                    "{path}: keyword `{}` is a regex and stays in clear (regex rules cannot be hidden)",
                    r.id
                ));
                text.push_str(&format!("regex = {}\n", q(re)));
                continue;
            }
            if let Some(h) = &r.hidden {
                // Already hidden (re-import of a hidden bundle): keep, re-salting is impossible.
                if h.salt != salt {
                    return Err(BundleError::Malformed(format!(
                        "{path}: keyword `{}` is already hidden with another salt",
                        r.id
                    )));
                }
                let list: Vec<String> = h.terms.iter().map(|t| q(&t.encode())).collect();
                text.push_str(&format!("hashed = [{}]\n", list.join(", ")));
                if !h.raw.is_empty() {
                    let list: Vec<String> = h.raw.iter().map(|t| q(&t.encode())).collect();
                    text.push_str(&format!("hashed_raw = [{}]\n", list.join(", ")));
                }
                continue;
            }
            let mut list = Vec::new();
            let mut raw: Vec<(Vec<u8>, u8)> = Vec::new();
            let mut short = 0;
            for t in &r.terms {
                // The raw search takes every term as written, even one that
                // normalises to nothing (as `raw::RawSearcher` does).
                for (b, tag) in raw_spellings(t) {
                    if b.len() > crate::hashed::MAX_RAW_BYTES {
                        return Err(BundleError::Malformed(format!(
                            "{path}: keyword `{}`: a term's byte spelling is longer than {} bytes and cannot be hidden",
                            r.id,
                            crate::hashed::MAX_RAW_BYTES
                        )));
                    }
                    raw.push((b, tag));
                }
                let n = normalise(t);
                if n.is_empty() {
                    continue;
                }
                if n.chars().count() < MIN_HIDDEN_CHARS {
                    short += 1;
                }
                if n.len() > crate::hashed::MAX_TERM_BYTES {
                    return Err(BundleError::Malformed(format!(
                        "{path}: keyword `{}`: a term is longer than {} bytes and cannot be hidden",
                        r.id,
                        crate::hashed::MAX_TERM_BYTES
                    )));
                }
                list.push(q(&HashedTerm::of(salt, &n).encode()));
            }
            if list.is_empty() {
                return Err(BundleError::Malformed(format!(
                    "{path}: keyword `{}` has no term left after normalisation",
                    r.id
                )));
            }
            text.push_str(&format!("hashed = [{}]\n", list.join(", ")));
            // One entry per distinct byte string, with the first encoding
            // in tag order (the scanner dedups its patterns alike).
            raw.sort();
            raw.dedup_by(|a, b| a.0 == b.0);
            if !raw.is_empty() {
                let list: Vec<String> = raw
                    .iter()
                    .map(|(b, tag)| q(&HashedTerm::of_raw(salt, *tag, b).encode()))
                    .collect();
                text.push_str(&format!("hashed_raw = [{}]\n", list.join(", ")));
            }
            if short > 0 {
                warnings.push(format!(
                    "{path}: keyword `{}` has {short} term(s) shorter than {MIN_HIDDEN_CHARS} characters: \
                     their salted hashes can be reversed by trying every such string \
                     (e.g. all pairs of the ~20,000 common CJK characters); hidden mode does not keep them secret",
                    r.id
                ));
            }
        }
        out.push((path.clone(), text.into_bytes()));
    }
    // The hidden files must load as a policy themselves.
    Policy::from_files(Path::new("<hidden rules>"), &out, None)?;
    Ok((out, warnings))
}

#[cfg(test)]
mod tests;
