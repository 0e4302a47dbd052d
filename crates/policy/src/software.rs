//! `software.toml` (`spec/inspection-checks.md`, "software.prohibited" and
//! "software.antivirus"): the programs banned on 内部-and-above hosts
//! (messengers, cloud drives, remote desktop) and the antivirus products
//! that count as installed. Only parsed and validated here; finding them on
//! a host is `mijian-hostcheck`'s job.

use crate::{PolicyError, line_of, toml_error};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;

/// What a prohibited program is, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SoftwareCategory {
    Im,
    CloudDrive,
    RemoteDesktop,
    Other,
}

impl SoftwareCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            SoftwareCategory::Im => "im",
            SoftwareCategory::CloudDrive => "cloud_drive",
            SoftwareCategory::RemoteDesktop => "remote_desktop",
            SoftwareCategory::Other => "other",
        }
    }
}

/// One `[[prohibited]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProhibitedSoftware {
    pub id: String,
    pub name: String,
    pub category: SoftwareCategory,
    /// dpkg/rpm package names, exact.
    #[serde(default)]
    pub packages: Vec<String>,
    /// `.desktop` basenames without `.desktop`, exact.
    #[serde(default)]
    pub desktop: Vec<String>,
    /// Basenames of the program in `Exec=`, exact.
    #[serde(default)]
    pub exec: Vec<String>,
    /// Folders whose existence means installed (host paths).
    #[serde(default)]
    pub paths: Vec<String>,
}

/// One `[[antivirus]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AntivirusProduct {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoftwareRules {
    pub prohibited: Vec<ProhibitedSoftware>,
    pub antivirus: Vec<AntivirusProduct>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    prohibited: Vec<toml::Spanned<ProhibitedSoftware>>,
    #[serde(default)]
    antivirus: Vec<toml::Spanned<AntivirusProduct>>,
}

impl SoftwareRules {
    pub(crate) fn parse(path: &Path, text: &str) -> Result<SoftwareRules, PolicyError> {
        let f: File = toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
        let err = |start: usize, reason: String| PolicyError::Parse {
            path: path.to_path_buf(),
            line: line_of(text.as_bytes(), start),
            reason,
        };
        let mut out = SoftwareRules::default();
        let mut ids = HashSet::new();
        for p in f.prohibited {
            let start = p.span().start;
            let p = p.into_inner();
            check_entry(&p.id, &p.paths, &mut ids).map_err(|r| err(start, r))?;
            if p.packages.is_empty()
                && p.desktop.is_empty()
                && p.exec.is_empty()
                && p.paths.is_empty()
            {
                return Err(err(
                    start,
                    format!(
                        "prohibited `{}`: gives nothing to look for (add packages, desktop, exec or paths)",
                        p.id
                    ),
                ));
            }
            out.prohibited.push(p);
        }
        let mut av_ids = HashSet::new();
        for a in f.antivirus {
            let start = a.span().start;
            let a = a.into_inner();
            check_entry(&a.id, &a.paths, &mut av_ids).map_err(|r| err(start, r))?;
            if a.packages.is_empty() && a.paths.is_empty() {
                return Err(err(
                    start,
                    format!(
                        "antivirus `{}`: gives nothing to look for (add packages or paths)",
                        a.id
                    ),
                ));
            }
            out.antivirus.push(a);
        }
        Ok(out)
    }
}

fn check_entry(id: &str, paths: &[String], ids: &mut HashSet<String>) -> Result<(), String> {
    if id.trim().is_empty() {
        return Err("id is empty".into());
    }
    if !ids.insert(id.to_string()) {
        return Err(format!("id `{id}` is used twice"));
    }
    for p in paths {
        if !p.starts_with('/') {
            return Err(format!(
                "`{id}`: path `{p}` is not absolute (write a host path such as \"/opt/QQ\")"
            ));
        }
    }
    Ok(())
}
