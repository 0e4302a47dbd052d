//! Optional enforcement, off by default: remount a medium that is not
//! registered read-only (`mount(2)` with `MS_REMOUNT|MS_RDONLY`) or detach it
//! (`umount2(2)` with `MNT_DETACH`). Registered media are never touched.
//! Every action attempted — done or failed — yields an `enforcement_action`
//! finding, so an inspector sees what the agent did to the user's medium.

use crate::{MountedMedium, path_text};
use mijian_policy::Classification;
use mijian_report::{Finding, FindingKind, Severity};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
#[cfg(unix)]
use std::ffi::CString;
#[cfg(unix)]
use std::io;
#[cfg(unix)]
use std::os::unix::ffi::OsStrExt;
#[cfg(unix)]
use std::path::Path;
// Windows: lock, dismount and eject instead of umount2; no read-only remount.
#[cfg(windows)]
pub use crate::windows::{detach, remount_read_only};

/// What to do with a medium that is not registered (per host level, chosen
/// by the agent's configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Report only.
    #[default]
    None,
    /// Remount read-only: nothing can be copied onto it.
    ReadOnly,
    /// Detach it from the file tree.
    Unmount,
}

impl Enforcement {
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::None => "none",
            Enforcement::ReadOnly => "read_only",
            Enforcement::Unmount => "unmount",
        }
    }
}

impl std::str::FromStr for Enforcement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "none" | "" => Ok(Enforcement::None),
            "read_only" | "readonly" | "ro" => Ok(Enforcement::ReadOnly),
            "unmount" | "umount" => Ok(Enforcement::Unmount),
            other => Err(format!(
                "unknown enforcement `{other}` (use none, read_only or unmount)"
            )),
        }
    }
}

/// Enforcement per host classification level, for the agent's config, e.g.
/// (TOML) `enforcement = { default = "none", by_level = { "机密" = "read_only", "绝密" = "unmount" } }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnforcementPolicy {
    /// For levels not listed. Off unless configured.
    #[serde(default)]
    pub default: Enforcement,
    #[serde(default)]
    pub by_level: BTreeMap<Classification, Enforcement>,
}

impl EnforcementPolicy {
    /// What to do on a host of this classification.
    pub fn for_level(&self, level: Classification) -> Enforcement {
        self.by_level.get(&level).copied().unwrap_or(self.default)
    }
}

#[cfg(unix)]
fn c_path(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Remount the filesystem at `mount_point` read-only.
#[cfg(unix)]
pub fn remount_read_only(mount_point: &Path) -> io::Result<()> {
    let target = c_path(mount_point)?;
    // SAFETY: valid NUL-terminated target; null source/type/data are allowed
    // for MS_REMOUNT.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_REMOUNT | libc::MS_RDONLY,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Lazily detach the filesystem at `mount_point`.
#[cfg(unix)]
pub fn detach(mount_point: &Path) -> io::Result<()> {
    let target = c_path(mount_point)?;
    // SAFETY: valid NUL-terminated target.
    let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Apply `mode` to `m` if it is not registered; the finding says what was
/// done. `None` when nothing was to be done.
pub fn enforce(m: &MountedMedium, mode: Enforcement) -> Option<Finding> {
    if m.registered() || mode == Enforcement::None {
        return None;
    }
    if mode == Enforcement::ReadOnly && m.read_only {
        return None;
    }
    let result = match mode {
        Enforcement::None => return None,
        Enforcement::ReadOnly => remount_read_only(&m.mount_point),
        Enforcement::Unmount => detach(&m.mount_point),
    };
    let mut f = Finding::new(
        FindingKind::EnforcementAction,
        if result.is_ok() {
            Severity::Medium
        } else {
            Severity::High
        },
    );
    f.device = Some(m.device.clone());
    f.mount_point = Some(path_text(&m.mount_point));
    f.registered = Some(false);
    f.medium_id = None;
    let what = match mode {
        Enforcement::ReadOnly => "remounted read-only",
        _ => "unmounted",
    };
    f.message = Some(match &result {
        Ok(()) => format!(
            "{} removable medium {} at {} {what}",
            m.matched.status.as_str(),
            m.device,
            path_text(&m.mount_point)
        ),
        Err(e) => format!(
            "could not enforce `{}` on {} removable medium {} at {}: {e}",
            mode.as_str(),
            m.matched.status.as_str(),
            m.device,
            path_text(&m.mount_point)
        ),
    });
    f.detail = Some(json!({
        "action": mode.as_str(),
        "result": if result.is_ok() { "done" } else { "failed" },
        "error": result.as_ref().err().map(|e| e.to_string()),
        "medium_status": m.matched.status.as_str(),
        "identity": m.identity.summary(),
    }));
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_per_level() {
        let p: EnforcementPolicy = serde_json::from_str(
            r#"{"default": "none", "by_level": {"机密": "read_only", "绝密": "unmount"}}"#,
        )
        .unwrap();
        assert_eq!(p.for_level(Classification::Unclassified), Enforcement::None);
        assert_eq!(
            p.for_level(Classification::Confidential),
            Enforcement::ReadOnly
        );
        assert_eq!(p.for_level(Classification::TopSecret), Enforcement::Unmount);
        assert_eq!(
            EnforcementPolicy::default().for_level(Classification::TopSecret),
            Enforcement::None
        );
        assert!(serde_json::from_str::<EnforcementPolicy>(r#"{"defualt": "none"}"#).is_err());
        assert_eq!("ro".parse::<Enforcement>(), Ok(Enforcement::ReadOnly));
        assert!("kill".parse::<Enforcement>().is_err());
    }
}
