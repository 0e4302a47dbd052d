//! Local accounts on Windows (docs/spec-windows.md, "Accounts") and
//! `account.empty_password` / `account.guest_enabled`.
//!
//! An account is judged from its `USER_INFO` flags as `NetUserEnum`
//! returns them: `UF_PASSWD_NOTREQD` exempts it from the password policy,
//! so it may have an empty password; the built-in Guest (RID 501, whatever
//! it was renamed to) must be disabled. Pure over [`LocalUser`]s so tests
//! inject them; `live.rs` reads the real ones.

use mijian_report::{Check, CheckStatus};
use serde_json::json;

pub const UF_ACCOUNTDISABLE: u32 = 0x0002;
pub const UF_LOCKOUT: u32 = 0x0010;
pub const UF_PASSWD_NOTREQD: u32 = 0x0020;
pub const UF_NORMAL_ACCOUNT: u32 = 0x0200;
pub const UF_DONT_EXPIRE_PASSWD: u32 = 0x10000;

/// The well-known relative ids of the built-in accounts.
pub const RID_ADMINISTRATOR: u32 = 500;
pub const RID_GUEST: u32 = 501;
/// DefaultAccount (503) and WDAGUtilityAccount (504): system-managed,
/// disabled by Windows, never logged on interactively.
pub const RID_DEFAULT_ACCOUNT: u32 = 503;
pub const RID_WDAG: u32 = 504;

/// One local account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    pub name: String,
    /// Relative id (last SID component) when known.
    pub rid: Option<u32>,
    pub flags: u32,
}

impl LocalUser {
    pub fn subject(&self) -> String {
        format!("user:{}", self.name)
    }
    pub fn enabled(&self) -> bool {
        self.flags & UF_ACCOUNTDISABLE == 0
    }
    /// The Guest account: RID 501, or (when the RID is unknown) the name.
    pub fn is_guest(&self) -> bool {
        match self.rid {
            Some(r) => r == RID_GUEST,
            None => self.name.eq_ignore_ascii_case("Guest"),
        }
    }
    /// An account a person logs on with: a normal, enabled account other
    /// than Guest and the system-managed built-ins.
    pub fn interactive(&self) -> bool {
        self.enabled()
            && self.flags & UF_NORMAL_ACCOUNT != 0
            && !self.is_guest()
            && !matches!(self.rid, Some(RID_DEFAULT_ACCOUNT | RID_WDAG))
    }
}

/// `account.empty_password` for every interactive account.
pub fn empty_password(users: &[&LocalUser], min_len: Option<u32>) -> Vec<Check> {
    const ID: &str = "account.empty_password";
    users
        .iter()
        .map(|u| {
            let notreqd = u.flags & UF_PASSWD_NOTREQD != 0;
            let mut ev = json!({"account": u.name, "rid": u.rid, "flags": format!("0x{:08x}", u.flags),
                "UF_PASSWD_NOTREQD": notreqd});
            if min_len == Some(0) {
                ev["note"] = json!("the minimum password length is 0: any account may be given an empty password");
            }
            if notreqd {
                Check::new(ID, u.subject(), CheckStatus::Fail)
                    .expected("a password is required")
                    .actual("no password required (UF_PASSWD_NOTREQD)")
                    .evidence(ev)
                    .remedy(format!("Require a password for {0} (`net user {0} /passwordreq:yes`) and set one.", u.name))
            } else {
                Check::new(ID, u.subject(), CheckStatus::Pass)
                    .expected("a password is required")
                    .actual("required")
                    .evidence(ev)
            }
        })
        .collect()
}

/// `account.guest_enabled` (host): the built-in Guest account is disabled.
pub fn guest_enabled(all: &Result<Vec<LocalUser>, String>) -> Check {
    const ID: &str = "account.guest_enabled";
    let users = match all {
        Ok(u) => u,
        Err(e) => {
            return Check::new(ID, "host", CheckStatus::Error)
                .evidence(json!({"error": e}))
                .remedy(
                    "Run the agent as SYSTEM or an administrator so it can list local accounts.",
                );
        }
    };
    match users.iter().find(|u| u.is_guest()) {
        Some(g) if g.enabled() => Check::new(ID, "host", CheckStatus::Fail)
            .expected("disabled")
            .actual("enabled")
            .evidence(
                json!({"account": g.name, "rid": g.rid, "flags": format!("0x{:08x}", g.flags)}),
            )
            .remedy(format!(
                "Disable the Guest account: `net user {} /active:no`.",
                g.name
            )),
        Some(g) => Check::new(ID, "host", CheckStatus::Pass)
            .expected("disabled")
            .actual("disabled")
            .evidence(
                json!({"account": g.name, "rid": g.rid, "flags": format!("0x{:08x}", g.flags)}),
            ),
        None => Check::new(ID, "host", CheckStatus::Pass)
            .expected("disabled")
            .actual("no Guest account")
            .evidence(json!({"accounts": users.len()})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(name: &str, rid: u32, flags: u32) -> LocalUser {
        LocalUser {
            name: name.into(),
            rid: Some(rid),
            flags,
        }
    }

    #[test]
    fn interactive_and_empty_password() {
        let all = vec![
            u("Administrator", 500, UF_NORMAL_ACCOUNT | UF_ACCOUNTDISABLE),
            u("Gast", 501, UF_NORMAL_ACCOUNT | UF_PASSWD_NOTREQD),
            u("DefaultAccount", 503, UF_NORMAL_ACCOUNT | UF_PASSWD_NOTREQD),
            u("alice", 1001, UF_NORMAL_ACCOUNT),
            u("kiosk", 1002, UF_NORMAL_ACCOUNT | UF_PASSWD_NOTREQD),
        ];
        let inter: Vec<&LocalUser> = all.iter().filter(|u| u.interactive()).collect();
        assert_eq!(
            inter.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
            ["alice", "kiosk"]
        );
        let c = empty_password(&inter, Some(8));
        assert_eq!(c[0].status, CheckStatus::Pass);
        assert_eq!(
            (c[1].subject.as_str(), c[1].status),
            ("user:kiosk", CheckStatus::Fail)
        );
        // A renamed, enabled Guest is found by its RID.
        let g = guest_enabled(&Ok(all.clone()));
        assert_eq!(g.status, CheckStatus::Fail);
        assert_eq!(g.evidence.unwrap()["account"], "Gast");
        let mut off = all;
        off[1].flags |= UF_ACCOUNTDISABLE;
        assert_eq!(guest_enabled(&Ok(off)).status, CheckStatus::Pass);
        assert_eq!(
            guest_enabled(&Err("denied".into())).status,
            CheckStatus::Error
        );
    }
}
