//! `screen_lock.enabled` and `screen_lock.idle_timeout` per user on Windows
//! (docs/spec-windows.md, "Screen lock"), as the user really gets it: the
//! user's own `Control Panel\Desktop` values, overridden value by value by
//! the policy key `Software\Policies\Microsoft\Windows\Control Panel\Desktop`
//! in the same hive, plus the machine-wide inactivity limit
//! (`InactivityTimeoutSecs`) that locks every session.
//!
//! Pure over [`UserScreen`]/[`Machine`]; `live.rs` reads each profile's
//! hive (loaded read-only when the user is not logged on).

use super::reg::RegValue;
use mijian_policy::Thresholds;
use mijian_report::{Check, CheckStatus};
use serde_json::{Value, json};

pub const DESKTOP: &str = r"Control Panel\Desktop";
pub const POLICY_DESKTOP: &str = r"Software\Policies\Microsoft\Windows\Control Panel\Desktop";
pub const SYSTEM_POLICIES: &str = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System";

/// The four screen-saver values of one `Desktop` key (`None` = absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desktop {
    pub active: Option<RegValue>,
    pub secure: Option<RegValue>,
    pub timeout: Option<RegValue>,
    pub exe: Option<RegValue>,
}

/// Names of the values, in [`Desktop`] field order.
pub const VALUE_NAMES: [&str; 4] = [
    "ScreenSaveActive",
    "ScreenSaverIsSecure",
    "ScreenSaveTimeOut",
    "SCRNSAVE.EXE",
];

/// One profile's hive, read.
#[derive(Debug, Clone)]
pub struct UserScreen {
    pub name: String,
    pub sid: String,
    /// Where the hive was read: `HKU\<SID>` (logged on) or the NTUSER.DAT path.
    pub hive: String,
    /// `Err` when the hive could not be opened.
    pub values: Result<(Desktop, Desktop), String>,
}

/// Machine-wide values.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// `HKLM\…\Policies\System\InactivityTimeoutSecs`.
    pub inactivity: Option<RegValue>,
    /// `HKLM\…\Winlogon\ScreenSaverGracePeriod` (seconds, default 5).
    pub grace: Option<RegValue>,
}

/// Windows' default screen-saver grace period (seconds).
pub const DEFAULT_GRACE: i64 = 5;

struct Effective {
    evidence: Value,
    /// Screen saver runs and asks for the password on return.
    saver_locks: bool,
    /// Seconds until the screen saver starts (when it runs at all) plus the grace period.
    saver_idle: Option<i64>,
    /// Machine inactivity limit in seconds (> 0).
    inactivity: Option<i64>,
}

fn pick(
    user: &Option<RegValue>,
    policy: &Option<RegValue>,
    name: &str,
) -> (Option<RegValue>, Value) {
    match (policy, user) {
        (Some(p), _) => (
            Some(p.clone()),
            json!({"value": name, "data": p.shown(), "from": "policy", "key": POLICY_DESKTOP}),
        ),
        (None, Some(u)) => (
            Some(u.clone()),
            json!({"value": name, "data": u.shown(), "from": "user", "key": DESKTOP}),
        ),
        (None, None) => (None, json!({"value": name, "data": null, "from": "absent"})),
    }
}

fn flag(v: &Option<RegValue>) -> Result<bool, String> {
    match v {
        None => Ok(false),
        Some(v) => v.as_int().map(|n| n == 1),
    }
}

fn effective(user: &Desktop, policy: &Desktop, m: &Machine) -> Result<Effective, (String, Value)> {
    let (active, ea) = pick(&user.active, &policy.active, VALUE_NAMES[0]);
    let (secure, es) = pick(&user.secure, &policy.secure, VALUE_NAMES[1]);
    let (timeout, et) = pick(&user.timeout, &policy.timeout, VALUE_NAMES[2]);
    let (exe, ee) = pick(&user.exe, &policy.exe, VALUE_NAMES[3]);
    let inactivity = match &m.inactivity {
        None => Ok(None),
        Some(v) => v.as_int().map(|n| (n > 0).then_some(n)),
    };
    let grace = match &m.grace {
        None => Ok(DEFAULT_GRACE),
        Some(v) => v.as_int(),
    };
    let evidence = json!({
        "values": [ea, es, et, ee],
        "InactivityTimeoutSecs": m.inactivity.as_ref().map(RegValue::shown),
        "ScreenSaverGracePeriod": m.grace.as_ref().map(RegValue::shown),
        "machine_key": format!(r"HKLM\{SYSTEM_POLICIES}"),
    });
    let run = (|| -> Result<Effective, String> {
        let active = flag(&active).map_err(|e| format!("ScreenSaveActive: {e}"))?;
        let secure = flag(&secure).map_err(|e| format!("ScreenSaverIsSecure: {e}"))?;
        let timeout = match &timeout {
            None => None,
            Some(v) => Some(v.as_int().map_err(|e| format!("ScreenSaveTimeOut: {e}"))?),
        };
        let exe = matches!(&exe, Some(RegValue::Sz(s)) if !s.trim().is_empty());
        let inactivity = inactivity.map_err(|e| format!("InactivityTimeoutSecs: {e}"))?;
        let grace = grace.map_err(|e| format!("ScreenSaverGracePeriod: {e}"))?;
        let runs = active && exe && timeout.is_some_and(|t| t > 0);
        Ok(Effective {
            evidence: Value::Null,
            saver_locks: runs && secure,
            saver_idle: if runs {
                timeout.map(|t| t + if secure { grace.max(0) } else { 0 })
            } else {
                None
            },
            inactivity,
        })
    })();
    match run {
        Ok(mut e) => {
            e.evidence = evidence;
            Ok(e)
        }
        Err(msg) => Err((msg, evidence)),
    }
}

/// Both checks for every profile.
pub fn checks(
    users: &[UserScreen],
    machine: &Result<Machine, String>,
    t: &Thresholds,
) -> Vec<Check> {
    let mut out = Vec::new();
    for u in users {
        let subject = format!("user:{}", u.name);
        let base = |mut ev: Value| {
            ev["sid"] = Value::from(u.sid.clone());
            ev["hive"] = Value::from(u.hive.clone());
            ev
        };
        let m = match machine {
            Ok(m) => m,
            Err(e) => {
                for id in ["screen_lock.enabled", "screen_lock.idle_timeout"] {
                    out.push(
                        Check::new(id, subject.clone(), CheckStatus::Error)
                            .evidence(base(json!({"error": format!("machine policy: {e}")})))
                            .remedy("Run the agent as SYSTEM so it can read the machine policy."),
                    );
                }
                continue;
            }
        };
        let eff = match &u.values {
            Ok((user, policy)) => effective(user, policy, m),
            Err(e) => Err((e.clone(), json!({}))),
        };
        let e = match eff {
            Ok(e) => e,
            Err((msg, ev)) => {
                let mut ev = base(ev);
                ev["error"] = Value::from(msg);
                for id in ["screen_lock.enabled", "screen_lock.idle_timeout"] {
                    out.push(Check::new(id, subject.clone(), CheckStatus::Error)
                        .evidence(ev.clone())
                        .remedy("Make the user's registry hive readable (run the agent as SYSTEM) and fix the value named in the evidence."));
                }
                continue;
            }
        };
        let ev = base(e.evidence.clone());
        let enabled = e.saver_locks || e.inactivity.is_some();
        let how = match (e.saver_locks, e.inactivity) {
            (true, Some(_)) => "password-protected screen saver and machine inactivity limit",
            (true, None) => "password-protected screen saver",
            (false, Some(_)) => "machine inactivity limit (InactivityTimeoutSecs)",
            (false, None) => "no lock on idle",
        };
        out.push(
            Check::new("screen_lock.enabled", subject.clone(), if enabled { CheckStatus::Pass } else { CheckStatus::Fail })
                .expected("the session locks when idle")
                .actual(how)
                .evidence(ev.clone())
                .remedy("Enable a password-protected screen saver by policy (User Configuration → Administrative Templates → Control Panel → Personalization) or set \"Interactive logon: Machine inactivity limit\"."),
        );
        let idle = match (e.saver_idle, e.inactivity) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let max = i64::from(t.max_idle_seconds);
        let pass = idle.is_some_and(|s| s > 0 && s <= max);
        out.push(
            Check::new("screen_lock.idle_timeout", subject.clone(), if pass { CheckStatus::Pass } else { CheckStatus::Fail })
                .expected(format!("<= {max} s"))
                .actual(idle.map_or(Value::from("never"), |s| Value::from(format!("{s} s"))))
                .evidence(ev)
                .remedy(format!("Set \"Screen saver timeout\" (ScreenSaveTimeOut) so that it plus the grace period is at most {max} s, or \"Interactive logon: Machine inactivity limit\" to at most {max} s.")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mijian_policy::Baseline;

    fn sz(s: &str) -> Option<RegValue> {
        Some(RegValue::Sz(s.into()))
    }
    fn user(values: Result<(Desktop, Desktop), String>) -> UserScreen {
        UserScreen {
            name: "alice".into(),
            sid: "S-1-5-21-1-2-3-1001".into(),
            hive: "test".into(),
            values,
        }
    }
    fn run(user_d: Desktop, policy: Desktop, m: Machine) -> (CheckStatus, CheckStatus, Value) {
        let t = Baseline::default().thresholds(Default::default());
        let c = checks(&[user(Ok((user_d, policy)))], &Ok(m), &t);
        (
            c[0].status,
            c[1].status,
            c[1].actual.clone().unwrap_or_default(),
        )
    }
    fn saver(active: &str, secure: &str, timeout: &str) -> Desktop {
        Desktop {
            active: sz(active),
            secure: sz(secure),
            timeout: sz(timeout),
            exe: sz(r"C:\Windows\system32\scrnsave.scr"),
        }
    }

    #[test]
    fn user_values_alone() {
        let (e, i, a) = run(
            saver("1", "1", "300"),
            Desktop::default(),
            Machine::default(),
        );
        assert_eq!((e, i), (CheckStatus::Pass, CheckStatus::Pass));
        assert_eq!(a, "305 s"); // plus the default 5 s grace period
        // Not secure: the screen saver starts but does not lock.
        let (e, i, _) = run(
            saver("1", "0", "300"),
            Desktop::default(),
            Machine::default(),
        );
        assert_eq!((e, i), (CheckStatus::Fail, CheckStatus::Pass));
        // 600 s + 5 s grace is over 600.
        let (_, i, _) = run(
            saver("1", "1", "600"),
            Desktop::default(),
            Machine::default(),
        );
        assert_eq!(i, CheckStatus::Fail);
        // No screen saver program: nothing runs.
        let mut d = saver("1", "1", "300");
        d.exe = None;
        assert_eq!(
            run(d, Desktop::default(), Machine::default()).0,
            CheckStatus::Fail
        );
    }

    #[test]
    fn policy_wins_value_by_value() {
        let policy = Desktop {
            secure: sz("1"),
            timeout: sz("900"),
            ..Default::default()
        };
        let (e, i, a) = run(saver("1", "0", "120"), policy, Machine::default());
        assert_eq!(e, CheckStatus::Pass);
        assert_eq!((i, a), (CheckStatus::Fail, Value::from("905 s")));
        let off = Desktop {
            active: sz("0"),
            ..Default::default()
        };
        assert_eq!(
            run(saver("1", "1", "60"), off, Machine::default()).0,
            CheckStatus::Fail
        );
    }

    #[test]
    fn machine_inactivity_limit_locks_everyone() {
        let m = Machine {
            inactivity: Some(RegValue::Dword(540)),
            grace: sz("0"),
        };
        let (e, i, a) = run(Desktop::default(), Desktop::default(), m);
        assert_eq!(
            (e, i, a),
            (CheckStatus::Pass, CheckStatus::Pass, Value::from("540 s"))
        );
        let m = Machine {
            inactivity: Some(RegValue::Dword(0)),
            grace: None,
        };
        assert_eq!(
            run(Desktop::default(), Desktop::default(), m).0,
            CheckStatus::Fail
        );
    }

    #[test]
    fn broken_values_and_hives_are_errors() {
        let (e, i, _) = run(
            saver("1", "1", "ten"),
            Desktop::default(),
            Machine::default(),
        );
        assert_eq!((e, i), (CheckStatus::Error, CheckStatus::Error));
        let t = Baseline::default().thresholds(Default::default());
        let c = checks(
            &[user(Err("RegLoadAppKey: access denied".into()))],
            &Ok(Machine::default()),
            &t,
        );
        assert!(c.iter().all(|c| c.status == CheckStatus::Error));
        assert_eq!(c.len(), 2);
    }
}
