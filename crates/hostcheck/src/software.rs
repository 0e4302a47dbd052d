//! `software.prohibited` and `software.antivirus`
//! (`spec/inspection-checks.md`): what is installed, from dpkg's status
//! file, rpm's SQLite database (rpm >= 4.16), `.desktop` files (menus and
//! autostart) and install folders, judged against `software.toml`; and
//! whether an antivirus is installed with fresh signatures (ClamAV's daily
//! database header, libclamav's `cl_cvdhead` layout).
//!
//! Berkeley DB / NDB rpm databases (RHEL 7/8, Kylin V10 server) have no
//! reader here: such a database is reported as unreadable, never silently
//! skipped.

use crate::accounts::Account;
use crate::inspection::{InspectionConfig, Outcome, join, rfc3339};
use crate::internet_trace::netconf::parse_keyfile;
use crate::live::Live;
use crate::root::Root;
use crate::sqlite;
use mijian_report::{Check, CheckStatus};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const DPKG_STATUS: &str = "/var/lib/dpkg/status";
const RPMDB_SQLITE: &str = "/var/lib/rpm/rpmdb.sqlite";
const RPMDB_BDB: [&str; 2] = ["/var/lib/rpm/Packages", "/var/lib/rpm/Packages.db"];
const SYSTEM_DESKTOP_DIRS: [&str; 5] = [
    "/usr/share/applications",
    "/usr/local/share/applications",
    "/var/lib/flatpak/exports/share/applications",
    "/var/lib/snapd/desktop/applications",
    "/etc/xdg/autostart",
];
const USER_DESKTOP_DIRS: [&str; 2] = [".local/share/applications", ".config/autostart"];
const CLAMAV_DIR: &str = "/var/lib/clamav";

/// A `.desktop` file: where, whose, its basename and its program.
#[derive(Debug, Clone)]
pub struct Desktop {
    pub file: String,
    pub user: Option<String>,
    pub basename: String,
    pub exec: Option<String>,
}

/// What the package databases and menus say is installed.
#[derive(Debug, Default)]
pub struct Installed {
    pub dpkg: BTreeSet<String>,
    pub rpm: BTreeSet<String>,
    pub desktops: Vec<Desktop>,
    /// Sources that exist but could not be read: `{source, file, reason}`.
    pub errors: Vec<Value>,
}

impl Installed {
    pub fn load(root: &Root, users: &[Account]) -> Installed {
        let mut i = Installed::default();
        match root.read(DPKG_STATUS) {
            Ok(Some(f)) => i.dpkg = dpkg_installed(&f.text()),
            Ok(None) => {}
            Err(e) => i
                .errors
                .push(json!({"source": "dpkg", "file": DPKG_STATUS, "reason": e.to_string()})),
        }
        match sqlite::open(root, RPMDB_SQLITE) {
            Ok(Some(db)) => {
                let r = sqlite::with_deadline(&db, |c| {
                    let mut st = c.prepare("SELECT key FROM Name")?;
                    let mut rows = st.query([])?;
                    let mut names = BTreeSet::new();
                    while let Some(row) = rows.next()? {
                        match row.get_ref(0)? {
                            rusqlite::types::ValueRef::Text(t)
                            | rusqlite::types::ValueRef::Blob(t) => {
                                names.insert(String::from_utf8_lossy(t).into_owned());
                            }
                            _ => {}
                        }
                    }
                    Ok(names)
                });
                match r {
                    Ok(n) => i.rpm = n,
                    Err(reason) => i
                        .errors
                        .push(json!({"source": "rpm", "file": RPMDB_SQLITE, "reason": reason})),
                }
            }
            Ok(None) => {
                for f in RPMDB_BDB {
                    if root.exists(f) {
                        i.errors.push(json!({"source": "rpm", "file": f,
                            "reason": "Berkeley DB / NDB rpm database: no reader (only rpmdb.sqlite, rpm >= 4.16, is read)"}));
                    }
                }
            }
            Err(reason) => i
                .errors
                .push(json!({"source": "rpm", "file": RPMDB_SQLITE, "reason": reason})),
        }
        for d in SYSTEM_DESKTOP_DIRS {
            i.desktop_dir(root, d, None);
        }
        for u in users {
            for d in USER_DESKTOP_DIRS {
                i.desktop_dir(root, &join(&u.home, d), Some(&u.name));
            }
        }
        i
    }

    fn desktop_dir(&mut self, root: &Root, dir: &str, user: Option<&str>) {
        let names = match root.list_dir(dir) {
            Ok(n) => n,
            Err(e) => {
                self.errors
                    .push(json!({"source": "desktop", "file": dir, "reason": e.to_string()}));
                return;
            }
        };
        for name in names {
            let Some(base) = name.strip_suffix(".desktop") else {
                continue;
            };
            let file = join(dir, &name);
            let exec = match root.read(&file) {
                Ok(Some(f)) => desktop_exec(&f.text()),
                // A dangling link: nothing installed behind it.
                Ok(None) => continue,
                Err(e) => {
                    // A folder named x.desktop is not a menu entry.
                    if !root.is_dir(&file) {
                        self.errors.push(
                            json!({"source": "desktop", "file": file, "reason": e.to_string()}),
                        );
                    }
                    None
                }
            };
            self.desktops.push(Desktop {
                file,
                user: user.map(str::to_string),
                basename: base.to_string(),
                exec,
            });
        }
    }

    fn has_package(&self, p: &str) -> Option<&'static str> {
        if self.dpkg.contains(p) {
            Some("dpkg")
        } else if self.rpm.contains(p) {
            Some("rpm")
        } else {
            None
        }
    }
}

/// Packages of dpkg's status file whose `Status:` third word is not
/// `not-installed` or `config-files`.
pub fn dpkg_installed(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for stanza in text.split("\n\n") {
        let mut name = None;
        let mut status = None;
        for line in stanza.lines() {
            if line.starts_with([' ', '\t']) {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("Package") {
                    name = Some(v.trim().to_string());
                } else if k.eq_ignore_ascii_case("Status") {
                    status = Some(v.trim().to_string());
                }
            }
        }
        if let (Some(n), Some(s)) = (name, status)
            && let Some(third) = s.split_whitespace().nth(2)
            && third != "not-installed"
            && third != "config-files"
        {
            out.insert(n);
        }
    }
    out
}

/// The program of the `[Desktop Entry]` `Exec=` line: the basename of its
/// first word after `env VAR=...` prefixes, quotes removed.
pub fn desktop_exec(text: &str) -> Option<String> {
    let exec = match parse_keyfile(text) {
        Ok(g) => g
            .get("Desktop Entry")
            .and_then(|m| m.get("Exec"))
            .map(|(v, _)| v.clone()),
        // Menus are read leniently: a stray line does not hide the Exec key.
        Err(_) => {
            let mut in_entry = false;
            let mut found = None;
            for l in text.lines().map(str::trim) {
                if l.starts_with('[') {
                    in_entry = l == "[Desktop Entry]";
                } else if in_entry
                    && let Some(v) = l.strip_prefix("Exec")
                    && let Some(v) = v.trim_start().strip_prefix('=')
                {
                    found = Some(v.trim().to_string());
                    break;
                }
            }
            found
        }
    }?;
    let words = split_words(&exec);
    let mut it = words.iter().peekable();
    let mut first = it.next()?;
    if basename(first) == "env" {
        loop {
            match it.next() {
                Some(w) if w.starts_with('-') || w.contains('=') => continue,
                Some(w) => {
                    first = w;
                    break;
                }
                None => return None,
            }
        }
    }
    let b = basename(first);
    (!b.is_empty()).then(|| b.to_string())
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Split an Exec value into words: blanks separate, double quotes group,
/// `\` escapes inside quotes (the Desktop Entry Specification's rules).
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_q = false;
    let mut has = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_q = !in_q;
                has = true;
            }
            '\\' if in_q => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
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

/// `software.prohibited` for the host.
pub fn prohibited(
    root: &Root,
    _users: &[Account],
    cfg: &InspectionConfig,
    sw: &Installed,
    live: &Live,
) -> Check {
    let mut o = Outcome::new();
    for rule in &cfg.software.prohibited {
        let m = |source: &str, what: &str, user: Option<&str>| {
            let mut v = json!({"rule": rule.id, "name": rule.name, "category": rule.category.as_str(),
                "source": source, "what": what});
            if let Some(u) = user {
                v["user"] = json!(u);
            }
            v
        };
        for p in &rule.packages {
            if sw.dpkg.contains(p) {
                o.findings.push(m("dpkg", p, None));
            }
            if sw.rpm.contains(p) {
                o.findings.push(m("rpm", p, None));
            }
        }
        for d in &sw.desktops {
            let by_name = rule.desktop.contains(&d.basename);
            let by_exec = d.exec.as_ref().is_some_and(|e| rule.exec.contains(e));
            if by_name || by_exec {
                let mut v = m("desktop", &d.file, d.user.as_deref());
                v["matched"] = json!(if by_name { "desktop" } else { "exec" });
                if let Some(e) = &d.exec {
                    v["exec"] = json!(e);
                }
                o.findings.push(v);
            }
        }
        for p in &rule.paths {
            if root.exists(p) {
                o.findings.push(m("path", p, None));
            }
        }
        for p in live.running(&rule.exec) {
            let mut v = m("process", p.exe.as_deref().unwrap_or(&p.name), None);
            v["pid"] = json!(p.pid);
            o.findings.push(v);
        }
    }
    o.errors.extend(sw.errors.iter().cloned());
    if live.processes.is_none() {
        o.notes
            .push(json!({"skipped": "running processes (live only)"}));
    }
    o.check(
        "software.prohibited",
        "host",
        "uninstall the listed programs (instant messaging, cloud drives and remote desktop move data off \
         the host and are not allowed here) and remove their leftover folders and autostart entries",
    )
}

/// A ClamAV `.cvd`/`.cld` header: version (field 2) and build time (field 8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CvdHeader {
    pub version: u64,
    pub build_time: i64,
}

/// Parse the 512-byte header of a `.cvd`/`.cld` file.
pub fn parse_cvd_header(bytes: &[u8]) -> Result<CvdHeader, String> {
    let head = &bytes[..bytes.len().min(512)];
    let text = String::from_utf8_lossy(head);
    let text = text.trim_end_matches(['\0', ' ', '\n']);
    let f: Vec<&str> = text.split(':').collect();
    if f.first() != Some(&"ClamAV-VDB") {
        return Err("header does not start with `ClamAV-VDB:`".into());
    }
    let version = f
        .get(2)
        .and_then(|v| v.trim().parse().ok())
        .ok_or("header field 2 (version) is not a number")?;
    let build_time = f
        .get(8)
        .and_then(|v| v.trim().parse().ok())
        .ok_or("header field 8 (build time) is not a number")?;
    Ok(CvdHeader {
        version,
        build_time,
    })
}

/// `software.antivirus` for the host.
pub fn antivirus(root: &Root, cfg: &InspectionConfig, sw: &Installed, live: &Live) -> Check {
    let id = "software.antivirus";
    let mut installed: Vec<Value> = Vec::new();
    let mut clamav_installed = false;
    let mut other_installed = false;
    for p in &cfg.software.antivirus {
        let mut how = None;
        for pkg in &p.packages {
            if let Some(src) = sw.has_package(pkg) {
                how = Some((src, pkg.clone()));
                break;
            }
        }
        if how.is_none() {
            how = p
                .paths
                .iter()
                .find(|x| root.exists(x))
                .map(|x| ("path", x.clone()));
        }
        let Some((source, what)) = how else { continue };
        let mut v = json!({"product": p.name, "id": p.id, "source": source, "what": what});
        if p.id == "clamav" {
            clamav_installed = true;
        } else {
            other_installed = true;
            v["signatures"] = json!("not evaluated");
        }
        if live.processes.is_some() {
            let names: Vec<String> = if p.id == "clamav" {
                vec!["clamd".into(), "freshclam".into()]
            } else {
                Vec::new()
            };
            if !names.is_empty() {
                v["running"] = json!(
                    live.running(&names)
                        .iter()
                        .map(|p| p.name.clone())
                        .collect::<Vec<_>>()
                );
            }
        }
        installed.push(v);
    }
    let fail = |ev: Vec<Value>, remedy: &str| {
        Check::new(id, "host", CheckStatus::Fail)
            .actual("no antivirus installed")
            .evidence(Value::Array(ev))
            .remedy(remedy)
    };
    if installed.is_empty() {
        return fail(
            vec![json!({"reason": "no antivirus product of software.toml is installed"})],
            "install the unit's antivirus product (or ClamAV) and keep its signatures current",
        );
    }
    if other_installed {
        let mut ev = installed;
        if clamav_installed {
            ev.extend(clamav_db_evidence(root, cfg));
        }
        return Check::new(id, "host", CheckStatus::Pass).evidence(Value::Array(ev));
    }
    // ClamAV is the only product: its daily signatures decide.
    let mut ev = installed;
    let (status, mut db_ev) = clamav_status(root, cfg);
    // The database item also names how the product was found, so one
    // object holds product, source, db, version, build_time and age_days.
    if let Some(inst) = ev.first().cloned() {
        for d in db_ev.iter_mut().filter(|d| d.get("version").is_some()) {
            d["source"] = inst["source"].clone();
            d["what"] = inst["what"].clone();
        }
    }
    ev.extend(db_ev);
    let actual = crate::inspection::summary(&db_ev_summary(&ev));
    let c = Check::new(id, "host", status).evidence(Value::Array(ev));
    let c = if status == CheckStatus::Pass {
        c
    } else {
        c.actual(actual)
    };
    match status {
        CheckStatus::Pass => c,
        _ => c.remedy(format!(
            "update ClamAV's signatures (freshclam, or copy current daily.cvd from the unit's update \
             server for offline hosts); they may be at most {} days old",
            cfg.max_signature_age_days
        )),
    }
}

/// The database item of the evidence (the one with a version or a reason).
fn db_ev_summary(ev: &[Value]) -> Vec<Value> {
    ev.iter()
        .filter(|v| v.get("db").is_some() || v.get("reason").is_some())
        .map(|v| match v.get("age_days") {
            Some(a) => json!({"db": v["db"], "reason": format!("{a} days old")}),
            None => v.clone(),
        })
        .collect()
}

fn clamav_db_evidence(root: &Root, cfg: &InspectionConfig) -> Vec<Value> {
    clamav_status(root, cfg).1
}

fn clamav_status(root: &Root, cfg: &InspectionConfig) -> (CheckStatus, Vec<Value>) {
    let mut parsed: Vec<(String, CvdHeader)> = Vec::new();
    let mut bad: Vec<Value> = Vec::new();
    for name in ["daily.cvd", "daily.cld"] {
        let path = join(CLAMAV_DIR, name);
        match root.read(&path) {
            Ok(Some(f)) => match parse_cvd_header(&f.bytes) {
                Ok(h) => parsed.push((path, h)),
                Err(r) => bad.push(json!({"db": path, "reason": r})),
            },
            Ok(None) => {}
            Err(e) => bad.push(json!({"db": path, "reason": e.to_string()})),
        }
    }
    let Some((db, h)) = parsed.into_iter().max_by_key(|(_, h)| h.version) else {
        if !bad.is_empty() {
            return (CheckStatus::Error, bad);
        }
        return (
            CheckStatus::Fail,
            vec![
                json!({"db": format!("{CLAMAV_DIR}/daily.cvd"), "reason": "ClamAV's daily signature database is missing"}),
            ],
        );
    };
    let now = match &cfg.now {
        Ok(n) => *n,
        Err(r) => {
            bad.push(json!({"reason": r}));
            return (CheckStatus::Error, bad);
        }
    };
    let age = now - h.build_time;
    let max = i64::from(cfg.max_signature_age_days) * 86_400;
    let mut ev = vec![json!({
        "product": "ClamAV",
        "db": db,
        "version": h.version,
        "build_time": rfc3339(h.build_time),
        "age_days": (age as f64 / 86_400.0 * 100.0).round() / 100.0,
        "max_age_days": cfg.max_signature_age_days,
    })];
    ev.extend(bad);
    (
        if age <= max {
            CheckStatus::Pass
        } else {
            CheckStatus::Fail
        },
        ev,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_words() {
        let s = "Package: linuxqq\nStatus: install ok installed\nVersion: 3\n\nPackage: anydesk\nStatus: deinstall ok config-files\n\nPackage: todesk\nStatus: hold ok installed\nDescription: x\n multi\n\nPackage: gone\nStatus: purge ok not-installed\n\nPackage: wechat\nStatus: deinstall ok installed\n";
        let i = dpkg_installed(s);
        assert_eq!(
            i.into_iter().collect::<Vec<_>>(),
            vec!["linuxqq", "todesk", "wechat"]
        );
    }

    #[test]
    fn exec_program() {
        let d = |e: &str| {
            desktop_exec(&format!(
                "[Desktop Entry]\nName=x\nExec={e}\n[Desktop Action n]\nExec=other\n"
            ))
        };
        assert_eq!(
            d("/usr/local/sunlogin/bin/sunloginclient --mod=autostart").as_deref(),
            Some("sunloginclient")
        );
        assert_eq!(
            d("env GTK_IM_MODULE=fcitx /opt/QQ/qq %U").as_deref(),
            Some("qq")
        );
        assert_eq!(
            d("\"/opt/My App/bin/ToDesk\" %u").as_deref(),
            Some("ToDesk")
        );
        assert_eq!(d("qqmusic %U").as_deref(), Some("qqmusic"));
        assert_eq!(desktop_exec("[Desktop Entry]\nName=x\n"), None);
    }

    #[test]
    fn cvd_header_fields() {
        let mut h = b"ClamAV-VDB:05 Dec 2026 09-30 +0000:27480:2071234:90:abcdef0123456789abcdef0123456789:sig:builder:1796463000".to_vec();
        h.resize(512, b' ');
        assert_eq!(
            parse_cvd_header(&h).unwrap(),
            CvdHeader {
                version: 27480,
                build_time: 1796463000
            }
        );
        assert!(parse_cvd_header(b"PK\x03\x04 not a cvd").is_err());
        let mut h =
            b"ClamAV-VDB:05 Dec 2026 09-30 +0000:27480:2071234:90:abc:sig:builder:soon".to_vec();
        h.resize(512, b' ');
        assert!(parse_cvd_header(&h).is_err());
    }
}
