//! `login.autologin` on Windows (docs/spec-windows.md): Winlogon's
//! `AutoAdminLogon`, `DefaultUserName`, `DefaultDomainName` and
//! `DefaultPassword` under
//! `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon`.
//! A plaintext `DefaultPassword` is a finding by itself, even with
//! automatic logon off; the password is never put into the evidence.

use super::reg::RegValue;
use mijian_report::{Check, CheckStatus};
use serde_json::json;

pub const WINLOGON: &str = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon";

/// The Winlogon values that matter (`None` = value absent).
#[derive(Debug, Clone, Default)]
pub struct Winlogon {
    pub auto_admin_logon: Option<RegValue>,
    pub default_user_name: Option<RegValue>,
    pub default_domain_name: Option<RegValue>,
    pub default_password: Option<RegValue>,
    pub auto_logon_count: Option<RegValue>,
}

/// Winlogon reads `AutoAdminLogon` as a string and enables automatic
/// logon when it is `1`; a DWORD 1 (written by some tools) is honoured too.
fn enabled(v: &RegValue) -> bool {
    match v {
        RegValue::Sz(s) => s.trim().parse::<i64>().is_ok_and(|n| n != 0),
        RegValue::Dword(n) => *n != 0,
        RegValue::Other(_) => false,
    }
}

pub fn check(w: &Result<Winlogon, String>) -> Check {
    const ID: &str = "login.autologin";
    let key = format!(r"HKLM\{WINLOGON}");
    let w = match w {
        Ok(w) => w,
        Err(e) => {
            return Check::new(ID, "host", CheckStatus::Error)
                .expected("no automatic logon")
                .evidence(json!({"key": key, "error": e}))
                .remedy(
                    "Run the agent as SYSTEM or an administrator so it can read the Winlogon key.",
                );
        }
    };
    let auto = w.auto_admin_logon.as_ref().is_some_and(enabled);
    let stored_password = w
        .default_password
        .as_ref()
        .is_some_and(|v| !matches!(v, RegValue::Sz(s) if s.is_empty()));
    let mut enabled_by = Vec::new();
    if auto {
        enabled_by.push(json!({"key": key, "value": "AutoAdminLogon", "data": w.auto_admin_logon.as_ref().map(RegValue::shown)}));
    }
    if stored_password {
        enabled_by.push(json!({"key": key, "value": "DefaultPassword",
            "data": "(a plaintext password is stored; not shown)"}));
    }
    let evidence = json!({
        "key": key,
        "AutoAdminLogon": w.auto_admin_logon.as_ref().map(RegValue::shown),
        "DefaultUserName": w.default_user_name.as_ref().map(RegValue::shown),
        "DefaultDomainName": w.default_domain_name.as_ref().map(RegValue::shown),
        "DefaultPassword": if stored_password { "present (not shown)" } else { "absent" },
        "AutoLogonCount": w.auto_logon_count.as_ref().map(RegValue::shown),
        "enabled_by": enabled_by,
        "note": "a password stored as an LSA secret (Sysinternals Autologon) is not visible in the registry",
    });
    if auto || stored_password {
        let actual = match (auto, stored_password) {
            (true, true) => "enabled, with a plaintext password in the registry",
            (true, false) => "enabled",
            _ => "a plaintext logon password is stored in the registry",
        };
        Check::new(ID, "host", CheckStatus::Fail)
            .expected("no automatic logon and no stored password")
            .actual(actual)
            .evidence(evidence)
            .remedy("Set AutoAdminLogon to 0 and delete DefaultPassword under the Winlogon key (or use netplwiz).")
    } else {
        Check::new(ID, "host", CheckStatus::Pass)
            .expected("no automatic logon and no stored password")
            .actual("disabled")
            .evidence(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sz(s: &str) -> Option<RegValue> {
        Some(RegValue::Sz(s.into()))
    }

    #[test]
    fn autologon_rules() {
        let off = Winlogon {
            auto_admin_logon: sz("0"),
            default_user_name: sz("alice"),
            ..Default::default()
        };
        assert_eq!(check(&Ok(off)).status, CheckStatus::Pass);
        let on = Winlogon {
            auto_admin_logon: sz("1"),
            default_user_name: sz("alice"),
            ..Default::default()
        };
        assert_eq!(check(&Ok(on)).status, CheckStatus::Fail);
        let dword = Winlogon {
            auto_admin_logon: Some(RegValue::Dword(1)),
            ..Default::default()
        };
        assert_eq!(check(&Ok(dword)).status, CheckStatus::Fail);
        // A stored password fails even with AutoAdminLogon 0, and never
        // appears in the evidence.
        let pw = Winlogon {
            auto_admin_logon: sz("0"),
            default_password: sz("S3cret!x"),
            ..Default::default()
        };
        let c = check(&Ok(pw));
        assert_eq!(c.status, CheckStatus::Fail);
        let text = serde_json::to_string(&c).unwrap();
        assert!(!text.contains("S3cret"), "{text}");
        let empty_pw = Winlogon {
            default_password: sz(""),
            ..Default::default()
        };
        assert_eq!(check(&Ok(empty_pw)).status, CheckStatus::Pass);
        assert_eq!(check(&Err("denied".into())).status, CheckStatus::Error);
    }
}
