//! Inspection categories (检查类别): how an inspector groups a 保密检查, in the
//! order the checklists use (`shared/spec/inspection-checks.md`): 系统安全,
//! 违规外联, 痕迹检查, 载体管理, 文件检查. Checks carry their category in the
//! report; findings get theirs from their kind. The mapping lives here so the
//! agent's table, the collector and the console group results the same way.

use crate::model::FindingKind;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One inspection category; `Ord` follows the checklist order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Category {
    /// 系统安全: passwords, accounts, screen lock, software, services, audit.
    #[serde(rename = "系统安全")]
    SystemSecurity,
    /// 违规外联: internet traces, radios.
    #[serde(rename = "违规外联")]
    Network,
    /// 痕迹检查: usage traces (recent documents on removable media).
    #[serde(rename = "痕迹检查")]
    Traces,
    /// 载体管理: removable media and their history.
    #[serde(rename = "载体管理")]
    Media,
    /// 文件检查: content findings.
    #[serde(rename = "文件检查")]
    Files,
}

impl Category {
    /// Every category, in checklist order.
    pub const ALL: [Category; 5] = [
        Category::SystemSecurity,
        Category::Network,
        Category::Traces,
        Category::Media,
        Category::Files,
    ];

    /// The Chinese name, as written in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::SystemSecurity => "系统安全",
            Category::Network => "违规外联",
            Category::Traces => "痕迹检查",
            Category::Media => "载体管理",
            Category::Files => "文件检查",
        }
    }

    /// An English name for English output.
    pub fn english(self) -> &'static str {
        match self {
            Category::SystemSecurity => "System security",
            Category::Network => "Internet connection",
            Category::Traces => "Usage traces",
            Category::Media => "Removable media",
            Category::Files => "Files",
        }
    }

    /// Parse the Chinese name written in a report.
    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The category of a check id. Ids not named by the spec fall under
    /// 系统安全 (every host check so far is a system-security item).
    pub fn for_check(id: &str) -> Category {
        let family = id.split('.').next().unwrap_or(id);
        match (family, id) {
            (_, "network.internet_trace" | "hardware.wireless" | "hardware.bluetooth") => {
                Category::Network
            }
            ("network", _) => Category::Network,
            ("trace", _) => Category::Traces,
            ("media", _) => Category::Media,
            _ => Category::SystemSecurity,
        }
    }

    /// The category of a finding kind: media kinds are 载体管理, agent alarms
    /// 系统安全, content findings (and unknown kinds) 文件检查.
    pub fn for_finding(kind: &FindingKind) -> Category {
        match kind {
            FindingKind::RemovableMedia
            | FindingKind::UsbHistory
            | FindingKind::EnforcementAction => Category::Media,
            FindingKind::AgentAlarm => Category::SystemSecurity,
            FindingKind::UnmarkedClassified
            | FindingKind::MarkedClassified
            | FindingKind::Unscannable
            | FindingKind::Other(_) => Category::Files,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table_maps_checks_to_categories() {
        assert_eq!(
            Category::for_check("password.min_length"),
            Category::SystemSecurity
        );
        assert_eq!(
            Category::for_check("screen_lock.enabled"),
            Category::SystemSecurity
        );
        assert_eq!(
            Category::for_check("network.internet_trace"),
            Category::Network
        );
        assert_eq!(Category::for_check("hardware.wireless"), Category::Network);
        assert_eq!(Category::for_check("hardware.bluetooth"), Category::Network);
        assert_eq!(Category::for_check("trace.recent_files"), Category::Traces);
        assert_eq!(
            Category::for_check("software.prohibited"),
            Category::SystemSecurity
        );
        assert_eq!(
            Category::for_check("audit.enabled"),
            Category::SystemSecurity
        );
        assert_eq!(
            Category::for_finding(&FindingKind::RemovableMedia),
            Category::Media
        );
        assert_eq!(
            Category::for_finding(&FindingKind::UnmarkedClassified),
            Category::Files
        );
    }

    #[test]
    fn serialises_as_the_chinese_name_in_checklist_order() {
        assert_eq!(
            serde_json::to_string(&Category::Traces).unwrap(),
            "\"痕迹检查\""
        );
        let c: Category = serde_json::from_str("\"违规外联\"").unwrap();
        assert_eq!(c, Category::Network);
        let mut all = Category::ALL;
        all.reverse();
        all.sort();
        assert_eq!(all, Category::ALL);
        assert_eq!(Category::parse("载体管理"), Some(Category::Media));
    }
}
