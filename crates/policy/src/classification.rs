//! Host and document classification levels (密级), ordered from 非涉密 to 绝密.
//! Written in reports and config exactly as the contract spells them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum Classification {
    #[default]
    #[serde(rename = "非涉密")]
    Unclassified,
    #[serde(rename = "内部")]
    Internal,
    #[serde(rename = "秘密")]
    Secret,
    #[serde(rename = "机密")]
    Confidential,
    #[serde(rename = "绝密")]
    TopSecret,
}

impl Classification {
    pub const ALL: [Classification; 5] = [
        Classification::Unclassified,
        Classification::Internal,
        Classification::Secret,
        Classification::Confidential,
        Classification::TopSecret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Unclassified => "非涉密",
            Classification::Internal => "内部",
            Classification::Secret => "秘密",
            Classification::Confidential => "机密",
            Classification::TopSecret => "绝密",
        }
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Classification {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        Classification::ALL
            .into_iter()
            .find(|c| c.as_str() == t)
            .or(match t {
                "機密" => Some(Classification::Confidential),
                "絕密" => Some(Classification::TopSecret),
                "非涉密" | "none" | "unclassified" => Some(Classification::Unclassified),
                _ => None,
            })
            .ok_or_else(|| {
                format!("unknown classification `{s}` (use one of 非涉密, 内部, 秘密, 机密, 绝密)")
            })
    }
}
