//! `media.toml`: the register of removable media (涉密载体登记). Only parsed
//! and validated here; matching a medium against it is the media crate's job.

use crate::{Classification, PolicyError, line_of, toml_error};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;

/// One registered medium.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediumEntry {
    /// 登记编号.
    pub id: String,
    pub serial: Option<String>,
    pub vendor_id: Option<String>,
    pub product_id: Option<String>,
    pub fs_uuid: Option<String>,
    pub label: Option<String>,
    pub level: Option<Classification>,
    pub holder: Option<String>,
    /// Free text: U盘, 移动硬盘, 光盘 ...
    pub kind: Option<String>,
    pub description: Option<String>,
}

impl MediumEntry {
    /// Whether the entry gives at least one identity field.
    pub fn has_identity(&self) -> bool {
        self.serial.is_some()
            || self.vendor_id.is_some()
            || self.product_id.is_some()
            || self.fs_uuid.is_some()
            || self.label.is_some()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaRegister {
    pub media: Vec<MediumEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    medium: Vec<toml::Spanned<MediumEntry>>,
}

impl MediaRegister {
    pub(crate) fn parse(path: &Path, text: &str) -> Result<MediaRegister, PolicyError> {
        let f: File = toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
        let mut ids = HashSet::new();
        let mut media = Vec::new();
        for m in f.medium {
            let line = line_of(text.as_bytes(), m.span().start);
            let m = m.into_inner();
            let err = |reason: &str| PolicyError::Parse {
                path: path.to_path_buf(),
                line,
                reason: format!("medium `{}`: {reason}", m.id),
            };
            if m.id.trim().is_empty() {
                return Err(err("id (登记编号) is empty"));
            }
            if !ids.insert(m.id.clone()) {
                return Err(err("id is registered twice"));
            }
            if !m.has_identity() {
                return Err(err(
                    "gives no identity field (serial, vendor_id, product_id, fs_uuid or label)",
                ));
            }
            media.push(m);
        }
        Ok(MediaRegister { media })
    }
}
