//! The policy: the rules directory of CONTRACT §3 loaded into typed values.
//!
//! [`Policy::load`] reads `baseline.toml`, `markings.toml`, `keywords/*.toml`
//! and `media.toml` from a directory; [`Policy::builtin`] gives the defaults
//! embedded in the binary (the repository's `rules/`). Either all files load
//! or the whole load fails with an error naming the file, line and problem:
//! the agent never runs with half a policy.
//!
//! [`Policy::digest`] is the SHA-256 over the rule files actually used, so
//! a report says exactly which policy judged it and a scan cache knows when
//! to rescan.
//!
//! Invariants: no I/O beyond reading the rules directory; no matching here
//! (the scanner compiles keywords and markings into its own automata).

mod baseline;
pub mod bundle;
mod classification;
mod error;
pub mod hashed;
mod keywords;
mod markings;
mod media;
mod network;
mod software;

pub use baseline::{
    AntivirusBaseline, Baseline, LevelProfile, PasswordBaseline, ScreenLockBaseline, Thresholds,
};
pub use classification::Classification;
pub use error::PolicyError;
pub use keywords::{KeywordRule, Keywords};
pub use markings::{MarkingPattern, Markings};
pub use media::{MediaRegister, MediumEntry};
pub use network::NetworkRules;
pub use software::{AntivirusProduct, ProhibitedSoftware, SoftwareCategory, SoftwareRules};

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The embedded default rules: (relative path, contents).
const BUILTIN: &[(&str, &str)] = &[
    (
        "baseline.toml",
        include_str!("../../../rules/baseline.toml"),
    ),
    (
        "markings.toml",
        include_str!("../../../rules/markings.toml"),
    ),
    ("media.toml", include_str!("../../../rules/media.toml")),
    ("network.toml", include_str!("../../../rules/network.toml")),
    (
        "software.toml",
        include_str!("../../../rules/software.toml"),
    ),
];

const BUILTIN_SOFTWARE: &str = include_str!("../../../rules/software.toml");

/// The documented example keyword set (`docs/examples/keywords/example.toml`):
/// never active in a shipped policy (issue 18: its terms gave real false
/// positives), loaded only by [`Policy::example`] for tests and demos.
const EXAMPLE_KEYWORDS: (&str, &str) = (
    "keywords/example.toml",
    include_str!("../../../docs/examples/keywords/example.toml"),
);

/// A complete, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub baseline: Baseline,
    pub markings: Markings,
    pub keywords: Keywords,
    pub media: MediaRegister,
    /// `network.toml`: internal names and networks (empty when absent).
    pub network: NetworkRules,
    /// `software.toml`: prohibited programs and antivirus products (the
    /// built-in list when the rules directory has no `software.toml`).
    pub software: SoftwareRules,
    /// Lowercase hex SHA-256 over the rule files used (path, length, bytes).
    pub digest: String,
    /// Where the rules came from: a directory, or `None` for the built-ins.
    pub source: Option<PathBuf>,
    /// The signed bundle's version when the rules came from one (issue 13).
    pub version: Option<u64>,
    /// Triage exceptions of that bundle (issue 13).
    pub exceptions: Vec<bundle::Exception>,
}

impl Policy {
    /// The rules embedded in the binary: thresholds, markings and an empty
    /// media register; no keyword set (each unit writes its own).
    pub fn builtin() -> Result<Policy, PolicyError> {
        let files: Vec<(String, Vec<u8>)> = BUILTIN
            .iter()
            .map(|(p, s)| (p.to_string(), s.as_bytes().to_vec()))
            .collect();
        Self::from_files(Path::new("<built-in>"), &files, None)
    }

    /// The built-in rules plus the documented example keyword set
    /// (`docs/examples/keywords/example.toml`): for tests, benchmarks and
    /// demonstrations only, never a workstation's policy.
    pub fn example() -> Result<Policy, PolicyError> {
        Self::from_files(Path::new("<built-in>"), &Self::example_files(), None)
    }

    /// The files of [`Policy::example`] (to hide them in benchmarks and tests).
    pub fn example_files() -> Vec<(String, Vec<u8>)> {
        BUILTIN
            .iter()
            .chain(std::iter::once(&EXAMPLE_KEYWORDS))
            .map(|(p, s)| (p.to_string(), s.as_bytes().to_vec()))
            .collect()
    }

    /// Load a rules directory. Missing files fall back to built-in defaults
    /// (an empty keyword set, an empty media register, default thresholds).
    pub fn load(dir: &Path) -> Result<Policy, PolicyError> {
        let files = Self::read_files(dir)?;
        Self::from_files(dir, &files, Some(dir.to_path_buf()))
    }

    /// The rule files [`Policy::load`] reads from `dir`, as (relative path,
    /// bytes) in load order: what a policy bundle carries (issue 13).
    pub fn read_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, PolicyError> {
        let meta = std::fs::metadata(dir).map_err(|e| PolicyError::Io {
            path: dir.to_path_buf(),
            reason: format!("{e} (give a rules directory with --rules DIR)"),
        })?;
        if !meta.is_dir() {
            return Err(PolicyError::Io {
                path: dir.to_path_buf(),
                reason: "not a directory (give a rules directory with --rules DIR)".into(),
            });
        }
        let mut files = Vec::new();
        for name in [
            "baseline.toml",
            "markings.toml",
            "media.toml",
            "network.toml",
        ] {
            if let Some(bytes) = read_optional(&dir.join(name))? {
                files.push((name.to_string(), bytes));
            }
        }
        // A rules directory written before software.toml existed still gets
        // the default lists (hashed into the digest: they are rules used).
        match read_optional(&dir.join("software.toml"))? {
            Some(bytes) => files.push(("software.toml".to_string(), bytes)),
            None => files.push((
                "software.toml".to_string(),
                BUILTIN_SOFTWARE.as_bytes().to_vec(),
            )),
        }
        let kw_dir = dir.join("keywords");
        if kw_dir.is_dir() {
            let rd = std::fs::read_dir(&kw_dir).map_err(|e| PolicyError::Io {
                path: kw_dir.clone(),
                reason: e.to_string(),
            })?;
            let mut names = Vec::new();
            for entry in rd {
                let entry = entry.map_err(|e| PolicyError::Io {
                    path: kw_dir.clone(),
                    reason: e.to_string(),
                })?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if name.ends_with(".toml") && !name.starts_with('.') {
                    names.push(name.to_string());
                }
            }
            names.sort();
            for name in names {
                if let Some(bytes) = read_optional(&kw_dir.join(&name))? {
                    files.push((format!("keywords/{name}"), bytes));
                }
            }
        }
        Ok(files)
    }

    /// Build a policy from rule files (relative path, bytes) as
    /// [`Policy::read_files`] gives them; `dir` names them in messages.
    pub fn from_files(
        dir: &Path,
        files: &[(String, Vec<u8>)],
        source: Option<PathBuf>,
    ) -> Result<Policy, PolicyError> {
        let mut hasher = Sha256::new();
        let mut baseline = Baseline::default();
        let mut markings = Markings::default();
        let mut keywords = Keywords::default();
        let mut media = MediaRegister::default();
        let mut network = NetworkRules::default();
        let mut software = SoftwareRules::default();
        for (rel, bytes) in files {
            let path = dir.join(rel);
            hasher.update(rel.as_bytes());
            hasher.update([0]);
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
            let text = std::str::from_utf8(bytes).map_err(|e| PolicyError::Parse {
                path: path.clone(),
                line: line_of(bytes, e.valid_up_to()),
                reason: "file is not valid UTF-8 (save it as UTF-8)".into(),
            })?;
            match rel.as_str() {
                "baseline.toml" => baseline = Baseline::parse(&path, text)?,
                "markings.toml" => markings = Markings::parse(&path, text)?,
                "media.toml" => media = MediaRegister::parse(&path, text)?,
                "network.toml" => network = NetworkRules::parse(&path, text)?,
                "software.toml" => software = SoftwareRules::parse(&path, text)?,
                _ => keywords.add_file(&path, text)?,
            }
        }
        Ok(Policy {
            baseline,
            markings,
            keywords,
            media,
            network,
            software,
            digest: hex::encode(hasher.finalize()),
            source,
            version: None,
            exceptions: Vec::new(),
        })
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, PolicyError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PolicyError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// 1-based line number of a byte offset.
pub(crate) fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Turn a toml deserialisation error into one that names file and line.
pub(crate) fn toml_error(path: &Path, text: &str, e: toml::de::Error) -> PolicyError {
    let line = e
        .span()
        .map(|s| line_of(text.as_bytes(), s.start))
        .unwrap_or(0);
    PolicyError::Parse {
        path: path.to_path_buf(),
        line,
        reason: e.message().to_string(),
    }
}

#[cfg(test)]
mod tests;
