//! `baseline.toml`: thresholds for the host checks, and per-classification
//! profiles that tighten them (`[levels.机密]` ...). A missing key keeps the
//! built-in default; a profile can only make a threshold stricter.

use crate::{Classification, PolicyError, toml_error};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordBaseline {
    pub min_length: u32,
    pub min_classes: u32,
    pub max_age_days: u32,
}

impl Default for PasswordBaseline {
    fn default() -> Self {
        PasswordBaseline {
            min_length: 10,
            min_classes: 3,
            max_age_days: 90,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScreenLockBaseline {
    pub max_idle_seconds: u32,
}

impl Default for ScreenLockBaseline {
    fn default() -> Self {
        ScreenLockBaseline {
            max_idle_seconds: 600,
        }
    }
}

/// `[antivirus]`: how old the antivirus signatures may be
/// (`spec/inspection-checks.md`, "software.antivirus").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AntivirusBaseline {
    pub max_signature_age_days: u32,
}

impl Default for AntivirusBaseline {
    fn default() -> Self {
        AntivirusBaseline {
            max_signature_age_days: 7,
        }
    }
}

/// A `[levels.X]` profile: any subset of the thresholds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelProfile {
    pub min_length: Option<u32>,
    pub min_classes: Option<u32>,
    pub max_age_days: Option<u32>,
    pub max_idle_seconds: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Baseline {
    pub password: PasswordBaseline,
    pub screen_lock: ScreenLockBaseline,
    pub antivirus: AntivirusBaseline,
    pub levels: BTreeMap<Classification, LevelProfile>,
}

/// The thresholds in force for one host level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub min_length: u32,
    pub min_classes: u32,
    pub max_age_days: u32,
    pub max_idle_seconds: u32,
    /// The host level these were computed for.
    pub level: Classification,
}

impl Baseline {
    pub(crate) fn parse(path: &Path, text: &str) -> Result<Baseline, PolicyError> {
        let b: Baseline = toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
        let bad = |what: &str| PolicyError::Parse {
            path: path.to_path_buf(),
            line: 0,
            reason: format!("{what} (check the value in {})", path.display()),
        };
        if b.password.min_classes > 4 {
            return Err(bad("password.min_classes must be between 0 and 4"));
        }
        for (level, p) in &b.levels {
            if p.min_classes.is_some_and(|c| c > 4) {
                return Err(bad(&format!(
                    "levels.{level}.min_classes must be between 0 and 4"
                )));
            }
        }
        Ok(b)
    }

    /// The thresholds for a host of `level`: the baseline tightened by every
    /// profile at or below that level (a 机密 host also gets the 秘密 profile).
    pub fn thresholds(&self, level: Classification) -> Thresholds {
        let mut t = Thresholds {
            min_length: self.password.min_length,
            min_classes: self.password.min_classes,
            max_age_days: self.password.max_age_days,
            max_idle_seconds: self.screen_lock.max_idle_seconds,
            level,
        };
        for (l, p) in &self.levels {
            if *l > level {
                continue;
            }
            if let Some(v) = p.min_length {
                t.min_length = t.min_length.max(v);
            }
            if let Some(v) = p.min_classes {
                t.min_classes = t.min_classes.max(v);
            }
            if let Some(v) = p.max_age_days {
                t.max_age_days = t.max_age_days.min(v);
            }
            if let Some(v) = p.max_idle_seconds {
                t.max_idle_seconds = t.max_idle_seconds.min(v);
            }
        }
        t
    }
}
