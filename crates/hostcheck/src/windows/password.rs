//! `password.min_length`, `password.complexity` and `password.max_age` on
//! Windows (docs/spec-windows.md): judged from the account policy the SAM
//! holds (`NetUserModalsGet` level 0) and the local security policy export
//! (`secedit`, `[System Access]`), plus each account's
//! `UF_DONT_EXPIRE_PASSWD` flag for the per-user maximum age.
//!
//! Pure: the live readers in `live.rs` fill [`PolicySources`]; tests inject
//! them (Wine implements neither `NetUserModalsGet` level 0 nor secedit).

use super::accounts::LocalUser;
use super::secedit::SystemAccess;
use mijian_policy::Thresholds;
use mijian_report::{Check, CheckStatus};
use serde_json::{Value, json};

/// `USER_MODALS_INFO_0`, as `NetUserModalsGet(NULL, 0, …)` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modals0 {
    pub min_passwd_len: u32,
    /// Seconds; `TIMEQ_FOREVER` (0xFFFFFFFF) = never expires.
    pub max_passwd_age: u32,
    pub min_passwd_age: u32,
    pub force_logoff: u32,
    pub password_hist_len: u32,
}

/// `TIMEQ_FOREVER` (lmaccess.h).
pub const TIMEQ_FOREVER: u32 = u32::MAX;

/// Where the password policy came from (each may have failed).
#[derive(Debug, Clone)]
pub struct PolicySources {
    pub modals: Result<Modals0, String>,
    pub secedit: Result<SystemAccess, String>,
}

fn src_modals(m: &Modals0) -> Value {
    json!({"source": "NetUserModalsGet level 0",
           "usrmod0_min_passwd_len": m.min_passwd_len,
           "usrmod0_max_passwd_age": m.max_passwd_age,
           "usrmod0_min_passwd_age": m.min_passwd_age,
           "usrmod0_password_hist_len": m.password_hist_len})
}

fn secedit_loc(sa: &SystemAccess, name: &str) -> Value {
    json!({"source": "secedit /export [System Access]", "setting": name,
           "value": sa.settings.get(name).map(|s| s.value.clone()),
           "line": sa.line(name)})
}

/// Lockout and history settings, for the evidence of every password check.
fn extras(src: &PolicySources) -> Value {
    let mut v = serde_json::Map::new();
    if let Ok(sa) = &src.secedit {
        for k in [
            "PasswordHistorySize",
            "LockoutBadCount",
            "LockoutDuration",
            "ResetLockoutCount",
            "ClearTextPassword",
        ] {
            if let Some(s) = sa.settings.get(k) {
                v.insert(k.into(), Value::from(s.value.clone()));
            }
        }
    }
    Value::Object(v)
}

fn errors(src: &PolicySources) -> Vec<String> {
    let mut e = Vec::new();
    if let Err(m) = &src.modals {
        e.push(format!("NetUserModalsGet level 0: {m}"));
    }
    if let Err(s) = &src.secedit {
        e.push(format!("secedit export: {s}"));
    }
    e
}

/// `password.min_length` (host): the SAM's minimum length; secedit's
/// `MinimumPasswordLength` when the SAM could not be asked.
pub fn min_length(src: &PolicySources, t: &Thresholds) -> Check {
    const ID: &str = "password.min_length";
    let expected = format!(">= {}", t.min_length);
    let (value, decided_by) = match (&src.modals, &src.secedit) {
        (Ok(m), _) => (Ok(i64::from(m.min_passwd_len)), src_modals(m)),
        (Err(_), Ok(sa)) => match sa.int("MinimumPasswordLength") {
            Some(v) => (v, secedit_loc(sa, "MinimumPasswordLength")),
            None => (
                Err("MinimumPasswordLength missing from [System Access]".into()),
                Value::Null,
            ),
        },
        (Err(_), Err(_)) => (Err("no source could be read".into()), Value::Null),
    };
    let ev = json!({"decided_by": decided_by, "policy": extras(src), "errors": errors(src)});
    match value {
        Ok(n) => Check::new(ID, "host", status(n >= i64::from(t.min_length)))
            .expected(expected)
            .actual(n)
            .evidence(ev)
            .remedy(format!(
                "Set \"Minimum password length\" to at least {} (secpol.msc → Account Policies → Password Policy, or the domain GPO).",
                t.min_length
            )),
        Err(e) => error(ID, &e, ev),
    }
}

/// `password.complexity` (host): Windows' "Password must meet complexity
/// requirements" demands 3 of the 4 classes (upper, lower, digit, symbol;
/// Unicode letters count as a fifth), so enabled means 3 classes.
pub fn complexity(src: &PolicySources, t: &Thresholds) -> Check {
    const ID: &str = "password.complexity";
    let expected = format!(">= {} character classes", t.min_classes);
    let ev_base = |d: Value| {
        json!({"decided_by": d, "policy": extras(src), "errors": errors(src),
        "rule": "PasswordComplexity = 1 requires characters from 3 of: uppercase, lowercase, digits, symbols (Unicode letters count as a fifth class), and no account name"})
    };
    let sa = match &src.secedit {
        Ok(sa) => sa,
        Err(e) => return error(ID, &format!("secedit export: {e}"), ev_base(Value::Null)),
    };
    match sa.int("PasswordComplexity") {
        Some(Ok(v)) => {
            let classes: u32 = if v != 0 { 3 } else { 0 };
            Check::new(ID, "host", status(classes >= t.min_classes))
                .expected(expected)
                .actual(format!("{classes} character classes"))
                .evidence(ev_base(secedit_loc(sa, "PasswordComplexity")))
                .remedy("Enable \"Password must meet complexity requirements\" (secpol.msc → Account Policies → Password Policy).")
        }
        Some(Err(e)) => error(ID, &e, ev_base(secedit_loc(sa, "PasswordComplexity"))),
        None => error(
            ID,
            "PasswordComplexity missing from [System Access]",
            ev_base(Value::Null),
        ),
    }
}

/// The host's maximum age in days (`None` = never expires), and what decided it.
fn host_max_age(src: &PolicySources) -> Result<(Option<u64>, Value), String> {
    match (&src.modals, &src.secedit) {
        (Ok(m), _) => {
            let days = (m.max_passwd_age != TIMEQ_FOREVER && m.max_passwd_age != 0)
                .then(|| u64::from(m.max_passwd_age).div_ceil(86_400));
            Ok((days, src_modals(m)))
        }
        (Err(_), Ok(sa)) => match sa.int("MaximumPasswordAge") {
            // -1 and 0 both mean "never expires" (secedit writes -1).
            Some(Ok(d)) => Ok((
                (d > 0).then_some(d as u64),
                secedit_loc(sa, "MaximumPasswordAge"),
            )),
            Some(Err(e)) => Err(e),
            None => Err("MaximumPasswordAge missing from [System Access]".into()),
        },
        (Err(_), Err(_)) => Err("no source could be read".into()),
    }
}

/// `password.max_age`: `host`, then `user:NAME` for every account in `users`.
/// An account with `UF_DONT_EXPIRE_PASSWD` never expires; otherwise it
/// has the host's maximum.
pub fn max_age(src: &PolicySources, users: &[&LocalUser], t: &Thresholds) -> Vec<Check> {
    const ID: &str = "password.max_age";
    let expected = format!("<= {} days", t.max_age_days);
    let host = host_max_age(src);
    let ok = |d: Option<u64>| d.is_some_and(|d| d <= u64::from(t.max_age_days));
    let show =
        |d: Option<u64>| d.map_or(Value::from("never"), |d| Value::from(format!("{d} days")));
    let mut out = Vec::new();
    match &host {
        Ok((days, by)) => out.push(
            Check::new(ID, "host", status(ok(*days)))
                .expected(expected.clone())
                .actual(show(*days))
                .evidence(json!({"decided_by": by, "errors": errors(src)}))
                .remedy(format!(
                    "Set \"Maximum password age\" to 1..{} days.",
                    t.max_age_days
                )),
        ),
        Err(e) => out.push(error(ID, e, json!({"errors": errors(src)}))),
    }
    for u in users {
        let subject = u.subject();
        let never = u.flags & super::accounts::UF_DONT_EXPIRE_PASSWD != 0;
        let c = if never {
            Check::new(ID, subject, CheckStatus::Fail)
                .expected(expected.clone())
                .actual("never")
                .evidence(json!({"account": u.name, "flags": format!("0x{:08x}", u.flags),
                    "decided_by": "UF_DONT_EXPIRE_PASSWD (\"Password never expires\") is set"}))
                .remedy(format!("Clear \"Password never expires\" for {} (lusrmgr.msc, or `net user` / Set-LocalUser -PasswordNeverExpires $false).", u.name))
        } else {
            match &host {
                Ok((days, by)) => Check::new(ID, subject, status(ok(*days)))
                    .expected(expected.clone())
                    .actual(show(*days))
                    .evidence(json!({"account": u.name, "flags": format!("0x{:08x}", u.flags),
                        "decided_by": by, "note": "no UF_DONT_EXPIRE_PASSWD: the host's maximum age applies"}))
                    .remedy(format!("Set \"Maximum password age\" to 1..{} days.", t.max_age_days)),
                Err(e) => error(ID, e, json!({"account": u.name}))
                    .subject_of(subject),
            }
        };
        out.push(c);
    }
    out
}

fn status(pass: bool) -> CheckStatus {
    if pass {
        CheckStatus::Pass
    } else {
        CheckStatus::Fail
    }
}

fn error(id: &str, e: &str, mut ev: Value) -> Check {
    if let Value::Object(m) = &mut ev {
        m.insert("error".into(), Value::from(e));
    }
    Check::new(id, "host", CheckStatus::Error)
        .evidence(ev)
        .remedy("Run the agent as SYSTEM or an administrator so it can read the account policy.")
}

trait SubjectOf {
    fn subject_of(self, s: String) -> Self;
}
impl SubjectOf for Check {
    fn subject_of(mut self, s: String) -> Self {
        self.subject = s;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::windows::accounts::{UF_DONT_EXPIRE_PASSWD, UF_NORMAL_ACCOUNT};
    use crate::windows::secedit;

    fn t() -> Thresholds {
        mijian_policy::Baseline::default().thresholds(Default::default())
    }
    fn modals(len: u32, age_secs: u32) -> Modals0 {
        Modals0 {
            min_passwd_len: len,
            max_passwd_age: age_secs,
            min_passwd_age: 0,
            force_logoff: TIMEQ_FOREVER,
            password_hist_len: 0,
        }
    }
    fn sa(text: &str) -> Result<SystemAccess, String> {
        Ok(secedit::parse(text))
    }

    #[test]
    fn the_sam_decides_length_and_age_secedit_is_the_fallback() {
        // Windows' defaults: length 0, 42 days.
        let src = PolicySources {
            modals: Ok(modals(0, 42 * 86_400)),
            secedit: sa("[System Access]\nPasswordComplexity = 0\n"),
        };
        let c = min_length(&src, &t());
        assert_eq!(
            (c.status, c.actual.clone()),
            (CheckStatus::Fail, Some(Value::from(0)))
        );
        assert_eq!(complexity(&src, &t()).status, CheckStatus::Fail);
        let alice = LocalUser {
            name: "alice".into(),
            rid: Some(1001),
            flags: UF_NORMAL_ACCOUNT,
        };
        let kiosk = LocalUser {
            name: "kiosk".into(),
            rid: Some(1002),
            flags: UF_NORMAL_ACCOUNT | UF_DONT_EXPIRE_PASSWD,
        };
        let ages = max_age(&src, &[&alice, &kiosk], &t());
        assert_eq!(
            ages.iter()
                .map(|c| (c.subject.as_str(), c.status))
                .collect::<Vec<_>>(),
            [
                ("host", CheckStatus::Pass),
                ("user:alice", CheckStatus::Pass),
                ("user:kiosk", CheckStatus::Fail)
            ]
        );
        // Never expires.
        let never = PolicySources {
            modals: Ok(modals(14, TIMEQ_FOREVER)),
            secedit: Err("x".into()),
        };
        assert_eq!(max_age(&never, &[], &t())[0].status, CheckStatus::Fail);
        assert_eq!(min_length(&never, &t()).status, CheckStatus::Pass);
        assert_eq!(complexity(&never, &t()).status, CheckStatus::Error);
        // NetUserModalsGet failed (Wine): secedit decides.
        let fb = PolicySources {
            modals: Err("error 50".into()),
            secedit: sa(
                "[System Access]\nMinimumPasswordLength = 12\nMaximumPasswordAge = -1\nPasswordComplexity = 1\n",
            ),
        };
        let c = min_length(&fb, &t());
        assert_eq!(c.status, CheckStatus::Pass);
        assert_eq!(c.evidence.as_ref().unwrap()["decided_by"]["line"], 2);
        assert_eq!(max_age(&fb, &[], &t())[0].status, CheckStatus::Fail);
        assert_eq!(complexity(&fb, &t()).status, CheckStatus::Pass);
        let bad = PolicySources {
            modals: Err("e".into()),
            secedit: sa("[System Access]\nMinimumPasswordLength = x\n"),
        };
        assert_eq!(min_length(&bad, &t()).status, CheckStatus::Error);
        let none = PolicySources {
            modals: Err("e".into()),
            secedit: Err("f".into()),
        };
        let ages = max_age(&none, &[&alice], &t());
        assert!(ages.iter().all(|c| c.status == CheckStatus::Error));
        assert_eq!(ages[1].subject, "user:alice");
    }
}
