//! `services.remote_access` and `services.shares`
//! (`spec/inspection-checks.md`): sshd with password login (sshd's own
//! `Include` and first-value-wins rules), enabled remote-desktop and telnet
//! units, telnet in inetd; Samba shares and NFS exports.

use crate::inspection::{Outcome, join};
use crate::root::Root;
use mijian_report::Check;
use serde_json::json;
use std::path::Path;

/// OpenSSH's `SERVCONF_MAX_DEPTH`.
const MAX_INCLUDE_DEPTH: usize = 16;
const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";

/// What decided PasswordAuthentication.
#[derive(Debug, Default)]
struct Sshd {
    /// First value outside a Match block: (value, file, line).
    value: Option<(String, String, usize)>,
    /// `PasswordAuthentication yes` inside Match blocks.
    match_yes: Vec<(String, usize, String)>,
    errors: Vec<serde_json::Value>,
}

/// Words of an sshd_config line: `Key value`, `Key=value`, quotes grouping.
fn sshd_words(line: &str) -> Vec<String> {
    let line = line.trim();
    let (key, rest) = match line.find(|c: char| c.is_whitespace() || c == '=') {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, ""),
    };
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    let mut out = vec![key.to_string()];
    let mut cur = String::new();
    let mut in_q = false;
    let mut has = false;
    for c in rest.chars() {
        match c {
            '"' => {
                in_q = !in_q;
                has = true;
            }
            c if c.is_whitespace() && !in_q => {
                if has || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => cur.push(c),
        }
    }
    if has || !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn read_sshd(root: &Root, file: &str, in_match: bool, depth: usize, s: &mut Sshd) {
    if depth > MAX_INCLUDE_DEPTH {
        s.errors
            .push(json!({"file": file, "reason": "Include nested too deeply"}));
        return;
    }
    let text = match root.read(file) {
        Ok(Some(f)) => f.text(),
        Ok(None) => return,
        Err(e) => {
            s.errors
                .push(json!({"file": file, "reason": e.to_string()}));
            return;
        }
    };
    // A Match block opened in an included file ends with that file.
    let mut in_match = in_match;
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let w = sshd_words(l);
        let key = w[0].to_ascii_lowercase();
        match key.as_str() {
            "match" => in_match = true,
            "include" => {
                for arg in &w[1..] {
                    for f in expand_include(root, arg) {
                        read_sshd(root, &f, in_match, depth + 1, s);
                    }
                }
            }
            "passwordauthentication" => {
                let v = w.get(1).map(|v| v.to_ascii_lowercase()).unwrap_or_default();
                if v != "yes" && v != "no" {
                    s.errors.push(json!({"file": file, "line": i + 1,
                        "reason": format!("PasswordAuthentication `{v}` is not yes or no (sshd refuses to start)")}));
                    continue;
                }
                if in_match {
                    if v == "yes" {
                        s.match_yes.push((file.to_string(), i + 1, l.to_string()));
                    }
                } else if s.value.is_none() {
                    s.value = Some((v, file.to_string(), i + 1));
                }
            }
            _ => {}
        }
    }
}

/// An Include argument: relative to /etc/ssh, globs in the last component
/// expanded in name order.
fn expand_include(root: &Root, arg: &str) -> Vec<String> {
    let full = if arg.starts_with('/') {
        arg.to_string()
    } else {
        join("/etc/ssh", arg)
    };
    let p = Path::new(&full);
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?', '[']) {
        return vec![full];
    }
    let dir = p
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let Ok(glob) = globset::GlobBuilder::new(&name)
        .literal_separator(true)
        .build()
    else {
        return Vec::new();
    };
    let m = glob.compile_matcher();
    root.list_dir(&dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| !n.starts_with('.') && m.is_match(n))
        .map(|n| join(&dir, &n))
        .collect()
}

const REMOTE_UNITS: &[&str] = &[
    "xrdp.service",
    "xrdp-sesman.service",
    "vncserver@*.service",
    "tigervncserver@*.service",
    "x11vnc.service",
    "telnet.socket",
    "telnet@*.service",
];

fn unit_matches(name: &str) -> bool {
    REMOTE_UNITS.iter().any(|pat| match pat.split_once('*') {
        Some((a, b)) => name.len() >= a.len() + b.len() && name.starts_with(a) && name.ends_with(b),
        None => name == *pat,
    })
}

/// Whether `etc/systemd/system/UNIT` is a symlink to /dev/null.
fn masked(root: &Root, unit: &str) -> bool {
    let Ok((dir, _)) = root.resolve("/etc/systemd/system") else {
        return false;
    };
    std::fs::read_link(dir.join(unit))
        .map(|t| t == Path::new("/dev/null"))
        .unwrap_or(false)
}

/// The template of an instance unit: `vncserver@:1.service` → `vncserver@.service`.
fn template(unit: &str) -> Option<String> {
    let (a, rest) = unit.split_once('@')?;
    let ext = rest.rsplit_once('.').map(|(_, e)| e)?;
    Some(format!("{a}@.{ext}"))
}

pub fn remote_access(root: &Root) -> Check {
    let mut o = Outcome::new();
    if root.exists(SSHD_CONFIG) {
        let mut s = Sshd::default();
        read_sshd(root, SSHD_CONFIG, false, 0, &mut s);
        match &s.value {
            Some((v, file, line)) if v == "yes" => o.findings.push(json!({
                "source": "sshd", "file": file, "line": line, "setting": "PasswordAuthentication yes"})),
            Some((_, file, line)) => o.notes.push(json!({
                "source": "sshd", "file": file, "line": line, "setting": "PasswordAuthentication no"})),
            None => o.findings.push(json!({"source": "sshd", "file": SSHD_CONFIG,
                "setting": "PasswordAuthentication not set (OpenSSH default: yes)"})),
        }
        for (file, line, text) in &s.match_yes {
            o.findings.push(json!({"source": "sshd", "file": file, "line": line,
                "setting": text, "note": "inside a Match block: password login for matching clients"}));
        }
        o.errors.extend(s.errors);
    }
    let sys = "/etc/systemd/system";
    for wants in root.list_dir(sys).unwrap_or_default() {
        if !wants.ends_with(".wants") {
            continue;
        }
        let wdir = join(sys, &wants);
        let Ok((real_dir, _)) = root.resolve(&wdir) else {
            continue;
        };
        for unit in root.list_dir(&wdir).unwrap_or_default() {
            if !unit_matches(&unit) {
                continue;
            }
            let is_link = std::fs::symlink_metadata(real_dir.join(&unit))
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false);
            if !is_link {
                continue;
            }
            if masked(root, &unit) || template(&unit).is_some_and(|t| masked(root, &t)) {
                o.notes.push(json!({"source": "systemd", "unit": unit, "link": join(&wdir, &unit), "masked": true}));
                continue;
            }
            o.findings
                .push(json!({"source": "systemd", "unit": unit, "link": join(&wdir, &unit)}));
        }
    }
    match root.read("/etc/inetd.conf") {
        Ok(Some(f)) => {
            for (i, l) in f.text().lines().enumerate() {
                let l = l.trim();
                if l.starts_with('#') {
                    continue;
                }
                if l.split_whitespace().next() == Some("telnet") {
                    o.findings.push(json!({"source": "inetd", "file": "/etc/inetd.conf", "line": i + 1, "service": "telnet"}));
                }
            }
        }
        Ok(None) => {}
        Err(e) => o
            .errors
            .push(json!({"file": "/etc/inetd.conf", "reason": e.to_string()})),
    }
    o.check(
        "services.remote_access",
        "host",
        "set `PasswordAuthentication no` in sshd_config (first value wins: check drop-ins in sshd_config.d \
         and Match blocks), disable and mask remote-desktop/VNC/telnet units, remove telnet from inetd.conf",
    )
}

pub fn shares(root: &Root) -> Check {
    let mut o = Outcome::new();
    let smb = "/etc/samba/smb.conf";
    match root.read(smb) {
        Ok(Some(f)) => samba(&f.text(), smb, &mut o),
        Ok(None) => {}
        Err(e) => o.errors.push(json!({"file": smb, "reason": e.to_string()})),
    }
    let mut files = vec!["/etc/exports".to_string()];
    for n in root.list_dir("/etc/exports.d").unwrap_or_default() {
        if n.ends_with(".exports") {
            files.push(join("/etc/exports.d", &n));
        }
    }
    for file in files {
        match root.read(&file) {
            Ok(Some(f)) => {
                for (i, l) in f.text().lines().enumerate() {
                    let t = l.trim();
                    if t.is_empty() || t.starts_with('#') {
                        continue;
                    }
                    o.findings
                        .push(json!({"source": "nfs", "file": file, "line": i + 1, "export": t}));
                }
            }
            Ok(None) => {}
            Err(e) => o
                .errors
                .push(json!({"file": file, "reason": e.to_string()})),
        }
    }
    o.check(
        "services.shares",
        "host",
        "remove the Samba shares (including Debian's default [homes]) and the NFS exports, or set \
         `available = no`; a classified computer shares no folders",
    )
}

fn samba(text: &str, file: &str, o: &mut Outcome) {
    // (name, line, path, available)
    let mut cur: Option<(String, usize, Option<String>, bool)> = None;
    let flush = |cur: &mut Option<(String, usize, Option<String>, bool)>, o: &mut Outcome| {
        if let Some((name, line, path, available)) = cur.take() {
            let lower = name.to_ascii_lowercase();
            if available && !matches!(lower.as_str(), "global" | "printers" | "print$") {
                o.findings.push(json!({"source": "samba", "file": file, "line": line, "share": name, "path": path}));
            }
        }
    };
    // Join `\` continuation lines first.
    let mut lines: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let (n, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        if let Some(stripped) = raw.trim_end().strip_suffix('\\') {
            acc.push_str(stripped);
            pending = Some((n, acc));
        } else {
            acc.push_str(raw);
            lines.push((n, acc));
        }
    }
    if let Some(p) = pending {
        lines.push(p);
    }
    for (n, raw) in lines {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if let Some(name) = l
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .map(|(n, _)| n.trim())
        {
            flush(&mut cur, o);
            cur = Some((name.to_string(), n, None, true));
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let key: String = k
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        let v = v.trim();
        if let Some(c) = cur.as_mut() {
            match key.as_str() {
                "available" => {
                    c.3 = !matches!(v.to_ascii_lowercase().as_str(), "no" | "false" | "0")
                }
                "path" | "directory" => c.2 = Some(v.to_string()),
                _ => {}
            }
        }
    }
    flush(&mut cur, o);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sshd_words_forms() {
        assert_eq!(
            sshd_words("PasswordAuthentication=no"),
            vec!["PasswordAuthentication", "no"]
        );
        assert_eq!(
            sshd_words("passwordauthentication   yes"),
            vec!["passwordauthentication", "yes"]
        );
        assert_eq!(
            sshd_words("Include = \"/etc/ssh/a b.conf\" x"),
            vec!["Include", "/etc/ssh/a b.conf", "x"]
        );
    }

    #[test]
    fn units_and_templates() {
        assert!(unit_matches("vncserver@:1.service"));
        assert!(unit_matches("xrdp.service"));
        assert!(!unit_matches("xrdp2.service"));
        assert!(unit_matches("telnet@0-10.0.0.1:23-10.0.0.2:5000.service"));
        assert_eq!(
            template("vncserver@:1.service").as_deref(),
            Some("vncserver@.service")
        );
    }

    #[test]
    fn samba_sections() {
        let mut o = Outcome::new();
        samba(
            "[global]\n workgroup = W\n;[homes]\n#[x]\n[homes]\n   comment = Home\n   browseable = no\n[off]\n path = /srv/off\n Available = False\n[printers]\n[data]\n path = /srv/\\\ndata\n",
            "/etc/samba/smb.conf",
            &mut o,
        );
        let names: Vec<_> = o
            .findings
            .iter()
            .map(|f| f["share"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, vec!["homes", "data"]);
        assert_eq!(o.findings[1]["path"], "/srv/data");
    }
}
