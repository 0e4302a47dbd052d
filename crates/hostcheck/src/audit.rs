//! `audit.enabled` (`spec/inspection-checks.md`): auditd enabled at boot and
//! a rule watching the agent's own configuration `/etc/mijian`, so tampering
//! with the inspector leaves a trace. augenrules reads only `*.rules` in
//! `rules.d`; `audit.rules` is what auditd loads.

use crate::inspection::{Outcome, join};
use crate::live::Live;
use crate::root::Root;
use mijian_report::Check;
use serde_json::json;
use std::path::Path;

const WANTS: &str = "/etc/systemd/system/multi-user.target.wants/auditd.service";

/// Whether an audit rule line watches /etc/mijian.
fn watches_mijian(line: &str) -> bool {
    let w: Vec<&str> = line.split_whitespace().collect();
    let is_dir = |p: &str| p == "/etc/mijian" || p == "/etc/mijian/";
    let mut watch = false;
    let mut always_exit = false;
    let mut field = false;
    let mut i = 0;
    while i < w.len() {
        let next = w.get(i + 1).copied().unwrap_or("");
        match w[i] {
            "-w" if is_dir(next) => watch = true,
            "-a" if matches!(next, "always,exit" | "exit,always") => always_exit = true,
            "-F" => {
                if let Some(v) = next
                    .strip_prefix("dir=")
                    .or_else(|| next.strip_prefix("path="))
                    && is_dir(v)
                {
                    field = true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    watch || (always_exit && field)
}

pub fn check(root: &Root, live: &Live) -> Check {
    let mut o = Outcome::new();
    let mut missing = Vec::new();
    // The wants link: lstat only, its target need not resolve.
    let linked = root
        .resolve(
            Path::new(WANTS)
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .as_deref()
                .unwrap_or("/"),
        )
        .ok()
        .map(|(d, _)| std::fs::symlink_metadata(d.join("auditd.service")).is_ok())
        .unwrap_or(false);
    let masked = root
        .resolve("/etc/systemd/system")
        .ok()
        .and_then(|(d, _)| std::fs::read_link(d.join("auditd.service")).ok())
        .is_some_and(|t| t == Path::new("/dev/null"));
    if linked && !masked {
        o.notes
            .push(json!({"unit": "auditd.service", "link": WANTS, "enabled": true}));
    } else if masked {
        missing.push(json!({"unit": "auditd.service", "reason": "masked (/etc/systemd/system/auditd.service -> /dev/null)"}));
    } else {
        missing.push(
            json!({"unit": "auditd.service", "reason": format!("not enabled: {WANTS} is missing")}),
        );
    }
    let mut files: Vec<String> = root
        .list_dir("/etc/audit/rules.d")
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.ends_with(".rules"))
        .map(|n| join("/etc/audit/rules.d", &n))
        .collect();
    files.push("/etc/audit/audit.rules".into());
    let mut rule = None;
    for f in &files {
        match root.read(f) {
            Ok(Some(h)) => {
                for (i, l) in h.text().lines().enumerate() {
                    let t = l.trim();
                    if t.starts_with('#') || t.is_empty() {
                        continue;
                    }
                    if rule.is_none() && watches_mijian(t) {
                        rule = Some(json!({"file": f, "line": i + 1, "rule": t}));
                    }
                }
            }
            Ok(None) => {}
            Err(e) => o.notes.push(json!({"file": f, "reason": e.to_string()})),
        }
    }
    match rule {
        Some(r) => o.notes.push(r),
        None => missing.push(json!({"rule": "-w /etc/mijian", "reason": "no audit rule watches /etc/mijian (rules.d/*.rules, audit.rules)"})),
    }
    if live.processes.is_some() {
        let running = !live.running(&["auditd".to_string()]).is_empty();
        o.notes.push(json!({"auditd_running": running}));
    }
    o.findings = missing;
    o.check(
        "audit.enabled",
        "host",
        "enable auditd (systemctl enable --now auditd) and add `-w /etc/mijian -p wa -k mijian` to \
         /etc/audit/rules.d/mijian.rules, then augenrules --load",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_forms() {
        assert!(watches_mijian("-w /etc/mijian -p wa -k mijian"));
        assert!(watches_mijian("-w /etc/mijian/"));
        assert!(watches_mijian(
            "-a always,exit -F dir=/etc/mijian/ -F perm=wa"
        ));
        assert!(watches_mijian("-a exit,always -F path=/etc/mijian"));
        assert!(!watches_mijian("-a never,exit -F dir=/etc/mijian"));
        assert!(!watches_mijian("-w /etc/mijian2"));
        assert!(!watches_mijian("-w /etc"));
    }
}
