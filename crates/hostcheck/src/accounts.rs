//! Accounts from `etc/passwd` and `etc/shadow` (`spec/host-checks.md`,
//! "Accounts"), and the interactive-account rule that decides which users
//! get per-user results. Also `account.empty_password`.
//!
//! Only the files are read (no NSS, no `getent`): under `--root` the running
//! machine's users must never leak into another tree's report.

use crate::root::{ReadError, Root};
use crate::util::{error_check, loc};
use mijian_report::{Check, CheckStatus};
use serde_json::json;
use std::collections::BTreeMap;

/// One passwd line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub home: String,
    pub shell: String,
    /// Line number in `/etc/passwd`.
    pub line: usize,
}

impl Account {
    /// uid >= 1000, not 65534, and a shell that does not end in `nologin`/`false`.
    pub fn interactive(&self) -> bool {
        self.uid >= 1000 && self.uid != 65534 && !no_login_shell(&self.shell)
    }

    pub fn subject(&self) -> String {
        format!("user:{}", self.name)
    }
}

fn no_login_shell(shell: &str) -> bool {
    shell.ends_with("nologin") || shell.ends_with("false")
}

/// One shadow line: field 2 (password) and field 5 (max days).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow {
    pub password: String,
    pub max_days: String,
    pub line: usize,
}

/// What the account files said.
#[derive(Debug, Clone)]
pub struct Accounts {
    pub users: Vec<Account>,
    /// `Err` when `/etc/shadow` could not be read (permission, I/O).
    pub shadow: Result<BTreeMap<String, Shadow>, ReadError>,
    /// Problems worth telling the inspector (malformed lines skipped ...).
    pub notes: Vec<String>,
    /// `Err` when `/etc/passwd` could not be read at all.
    pub passwd_error: Option<ReadError>,
}

impl Accounts {
    pub fn load(root: &Root) -> Accounts {
        let mut notes = Vec::new();
        let mut users = Vec::new();
        let mut passwd_error = None;
        match root.read("/etc/passwd") {
            Ok(Some(f)) => {
                for (i, line) in f.text().lines().enumerate() {
                    if line.trim().is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let fields: Vec<&str> = line.split(':').collect();
                    if fields.len() < 7 {
                        notes.push(format!(
                            "/etc/passwd:{}: malformed entry ({} fields, expected 7) skipped",
                            i + 1,
                            fields.len()
                        ));
                        continue;
                    }
                    let Ok(uid) = fields[2].parse::<u32>() else {
                        notes.push(format!(
                            "/etc/passwd:{}: uid `{}` is not a number; entry skipped",
                            i + 1,
                            fields[2]
                        ));
                        continue;
                    };
                    users.push(Account {
                        name: fields[0].to_string(),
                        uid,
                        home: fields[5].to_string(),
                        shell: fields[6].to_string(),
                        line: i + 1,
                    });
                }
            }
            Ok(None) => notes.push("/etc/passwd does not exist: no accounts to check".into()),
            Err(e) => {
                notes.push(format!("cannot read /etc/passwd: {e}"));
                passwd_error = Some(e);
            }
        }
        let shadow = match root.read("/etc/shadow") {
            Ok(Some(f)) => {
                let mut map = BTreeMap::new();
                for (i, line) in f.text().lines().enumerate() {
                    let fields: Vec<&str> = line.split(':').collect();
                    if line.trim().is_empty() || fields.len() < 2 {
                        continue;
                    }
                    map.insert(
                        fields[0].to_string(),
                        Shadow {
                            password: fields[1].to_string(),
                            max_days: fields.get(4).unwrap_or(&"").to_string(),
                            line: i + 1,
                        },
                    );
                }
                Ok(map)
            }
            Ok(None) => Ok(BTreeMap::new()),
            // A permission problem is noted once by `check_host`.
            Err(e) => {
                if !e.is_permission() {
                    notes.push(format!(
                        "cannot read /etc/shadow ({e}): account.empty_password and the per-user \
                         password.max_age results are `error`"
                    ));
                }
                Err(e)
            }
        };
        Accounts {
            users,
            shadow,
            notes,
            passwd_error,
        }
    }

    /// Interactive accounts, in passwd order, first entry per name.
    pub fn interactive(&self) -> Vec<&Account> {
        let mut seen = std::collections::BTreeSet::new();
        self.users
            .iter()
            .filter(|a| a.interactive() && seen.insert(a.name.clone()))
            .collect()
    }
}

/// `account.empty_password` for root and every interactive account.
pub fn empty_password(acc: &Accounts) -> Vec<Check> {
    const ID: &str = "account.empty_password";
    let mut subjects: Vec<(String, Option<&crate::accounts::Account>)> = vec![(
        "root".to_string(),
        acc.users.iter().find(|a| a.name == "root"),
    )];
    for a in acc.interactive() {
        if a.name != "root" {
            subjects.push((a.name.clone(), Some(a)));
        }
    }
    let mut out = Vec::new();
    for (name, _) in subjects {
        let subject = format!("user:{name}");
        let check = match &acc.shadow {
            Err(e) => error_check(ID, &subject, e, "Run the check as root so /etc/shadow can be read."),
            Ok(map) => match map.get(&name) {
                None => Check::new(ID, &subject, CheckStatus::Pass)
                    .expected("a password or a locked password field")
                    .actual("no shadow entry")
                    .evidence(json!({"file": "/etc/shadow", "note": format!("no entry for {name}: pam_unix finds no empty password to accept")})),
                Some(s) if s.password.is_empty() => Check::new(ID, &subject, CheckStatus::Fail)
                    .expected("a password or a locked password field")
                    .actual("empty password field")
                    .evidence(loc("/etc/shadow", s.line, format!("{name}::…")))
                    .remedy(format!("Set a password (`passwd {name}`) or lock the account (`passwd -l {name}`).")),
                Some(s) => {
                    let what = if s.password.starts_with('!') || s.password == "*" {
                        "locked"
                    } else {
                        "set"
                    };
                    Check::new(ID, &subject, CheckStatus::Pass)
                        .expected("a password or a locked password field")
                        .actual(format!("password {what}"))
                        .evidence(json!({"file": "/etc/shadow", "line": s.line, "setting": format!("{name}: password field {what}")}))
                }
            },
        };
        out.push(check);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(uid: u32, shell: &str) -> Account {
        Account {
            name: "x".into(),
            uid,
            home: "/home/x".into(),
            shell: shell.into(),
            line: 1,
        }
    }

    #[test]
    fn interactive_rule() {
        assert!(acct(1000, "/bin/bash").interactive());
        assert!(acct(1000, "/bin/sh").interactive());
        assert!(!acct(999, "/bin/bash").interactive());
        assert!(!acct(65534, "/bin/bash").interactive());
        assert!(!acct(1001, "/usr/sbin/nologin").interactive());
        assert!(!acct(1001, "/sbin/nologin").interactive());
        assert!(!acct(1001, "/bin/false").interactive());
        assert!(!acct(1001, "/usr/bin/false").interactive());
        assert!(!acct(0, "/bin/bash").interactive());
    }
}
