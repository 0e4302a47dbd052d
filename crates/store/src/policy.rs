//! The central policy's versions (issue 13): every change (an import, an
//! exception) makes a new version with its signed bundle; versions are never
//! rewritten, so the table is also the change log. The store keeps bytes
//! and text; the collector builds, signs and parses them.

use crate::Result;
use serde::Serialize;

/// A policy version to store.
#[derive(Debug, Clone)]
pub struct NewPolicyVersion {
    pub version: i64,
    pub created_at: i64,
    /// Who made the change (a user name, `cli`).
    pub actor: String,
    /// `import`, `except`, ...
    pub action: String,
    pub message: String,
    pub digest: String,
    /// `plain` or `hidden`.
    pub mode: String,
    /// The rules in clear, JSON `[{path, content}]`.
    pub files: String,
    /// JSON array of exceptions.
    pub exceptions: String,
    /// The signed bundle (JWS JSON bytes).
    pub bundle: Vec<u8>,
}

/// A stored version (without `files`, `exceptions` and `bundle` in lists).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyVersion {
    pub version: i64,
    pub created_at: i64,
    pub actor: String,
    pub action: String,
    pub message: String,
    pub digest: String,
    pub mode: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub files: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub exceptions: String,
    #[serde(skip)]
    pub bundle: Vec<u8>,
}

/// Storage of policy versions.
pub trait PolicyStore {
    /// Store a new version; `Ok(false)` when `version` already exists (a
    /// concurrent change won: read the latest and retry).
    fn policy_insert(&self, v: &NewPolicyVersion) -> Result<bool>;
    /// The newest version, in full.
    fn policy_latest(&self) -> Result<Option<PolicyVersion>>;
    /// One version, in full.
    fn policy_version(&self, version: i64) -> Result<Option<PolicyVersion>>;
    /// Every version, newest first, without files, exceptions or bundle.
    fn policy_history(&self) -> Result<Vec<PolicyVersion>>;
}
