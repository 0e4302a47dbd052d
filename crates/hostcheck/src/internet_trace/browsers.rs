//! Browser history (`spec/inspection-checks.md`, "user:NAME — browser
//! history"): visits to external hosts in Firefox/Firefox ESR and the
//! Chromium family (Chromium, Google Chrome, Microsoft Edge, and the
//! Chromium-layout 360/QQ browsers), per (browser, profile, host) with the
//! count and first/last visit. Full URLs, titles and queries never leave
//! this module: only the host is kept.

use crate::inspection::{join, rfc3339};
use crate::netaddr::{Classifier, normal_host};
use crate::root::Root;
use crate::sqlite;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// At most this many (browser, profile, host) entries per user; the rest
/// are counted in one `more_hosts` entry (a report must stay small).
const MAX_HOSTS: usize = 2000;

/// Seconds between 1601-01-01 and 1970-01-01 (Chromium's epoch).
const CHROMIUM_EPOCH_OFFSET: i64 = 11_644_473_600;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Firefox,
    Chromium,
}

/// One history database to read.
struct Source {
    browser: &'static str,
    profile: String,
    db: String,
    kind: Kind,
}

#[derive(Default)]
struct Agg {
    count: u64,
    first: Option<i64>,
    last: Option<i64>,
}

/// Findings (one per browser/profile/host) and unreadable DBs of one user.
pub(crate) fn scan(root: &Root, home: &str, cls: &Classifier) -> (Vec<Value>, Vec<Value>) {
    let mut findings = Vec::new();
    let mut errors = Vec::new();
    let mut more = 0usize;
    for src in sources(root, home, &mut errors) {
        match read_db(root, &src, cls) {
            Ok(hosts) => {
                for (host, a) in hosts {
                    if findings.len() >= MAX_HOSTS {
                        more += 1;
                        continue;
                    }
                    findings.push(json!({
                        "browser": src.browser,
                        "profile": src.profile,
                        "db": src.db,
                        "host": host,
                        "count": a.count,
                        "first_visit": a.first.and_then(rfc3339),
                        "last_visit": a.last.and_then(rfc3339),
                    }));
                }
            }
            Err(reason) => errors.push(json!({
                "browser": src.browser,
                "profile": src.profile,
                "db": src.db,
                "reason": reason,
            })),
        }
    }
    if more > 0 {
        findings.push(json!({"more_hosts": more}));
    }
    (findings, errors)
}

fn sources(root: &Root, home: &str, errors: &mut Vec<Value>) -> Vec<Source> {
    let mut out: Vec<Source> = Vec::new();
    let mut seen: Vec<std::path::PathBuf> = Vec::new();
    let mut push = |root: &Root, s: Source, out: &mut Vec<Source>| {
        // Each DB once, however it was reached (listed and found, symlinks).
        let key = root
            .resolve(&s.db)
            .map(|(p, _)| p)
            .unwrap_or_else(|_| s.db.clone().into());
        if !seen.contains(&key) {
            seen.push(key);
            out.push(s);
        }
    };
    // Firefox: profiles.ini sections, then every subfolder with places.sqlite.
    // Beyond the spec's two folders: the snap (Ubuntu, Kylin desktop) and
    // flatpak packagings keep the same layout under their own homes.
    for base in [
        ".mozilla/firefox",
        ".config/mozilla/firefox",
        "snap/firefox/common/.mozilla/firefox",
        ".var/app/org.mozilla.firefox/.mozilla/firefox",
        ".var/app/org.mozilla.firefox/config/mozilla/firefox",
    ] {
        let dir = join(home, base);
        match root.read(&join(&dir, "profiles.ini")) {
            Ok(Some(f)) => {
                for (path, relative) in ini_profiles(&f.text()) {
                    let pdir = if relative {
                        join(&dir, &path)
                    } else {
                        path.clone()
                    };
                    let db = join(&pdir, "places.sqlite");
                    if root.exists(&db) {
                        let profile = pdir
                            .trim_end_matches('/')
                            .rsplit('/')
                            .next()
                            .unwrap_or(&path)
                            .to_string();
                        push(
                            root,
                            Source {
                                browser: "firefox",
                                profile,
                                db,
                                kind: Kind::Firefox,
                            },
                            &mut out,
                        );
                    }
                }
            }
            Ok(None) => {}
            Err(e) => errors.push(json!({"browser": "firefox", "file": join(&dir, "profiles.ini"), "reason": e.to_string()})),
        }
        for name in root.list_dir(&dir).unwrap_or_default() {
            let db = join(&join(&dir, &name), "places.sqlite");
            if root.exists(&db) {
                push(
                    root,
                    Source {
                        browser: "firefox",
                        profile: name,
                        db,
                        kind: Kind::Firefox,
                    },
                    &mut out,
                );
            }
        }
    }
    for (browser, base) in [
        ("chromium", ".config/chromium"),
        ("chromium", "snap/chromium/common/chromium"),
        ("chromium", ".var/app/org.chromium.Chromium/config/chromium"),
        ("google-chrome", ".config/google-chrome"),
        ("google-chrome", ".config/google-chrome-beta"),
        ("google-chrome", ".config/google-chrome-unstable"),
        (
            "google-chrome",
            ".var/app/com.google.Chrome/config/google-chrome",
        ),
        ("microsoft-edge", ".config/microsoft-edge"),
        ("microsoft-edge", ".config/microsoft-edge-beta"),
        ("microsoft-edge", ".config/microsoft-edge-dev"),
        ("browser360", ".config/browser360"),
        ("qqbrowser", ".config/qqbrowser"),
    ] {
        let dir = join(home, base);
        for name in root.list_dir(&dir).unwrap_or_default() {
            let db = join(&join(&dir, &name), "History");
            let is_file = root.resolve(&db).map(|(p, _)| p.is_file()).unwrap_or(false);
            if is_file {
                push(
                    root,
                    Source {
                        browser,
                        profile: name,
                        db,
                        kind: Kind::Chromium,
                    },
                    &mut out,
                );
            }
        }
    }
    out
}

/// `[ProfileN]` sections of a profiles.ini: (Path, IsRelative).
fn ini_profiles(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut in_profile = false;
    let mut path: Option<String> = None;
    let mut relative = true;
    let flush = |path: &mut Option<String>, relative: bool, out: &mut Vec<(String, bool)>| {
        if let Some(p) = path.take() {
            out.push((p, relative));
        }
    };
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            if in_profile {
                flush(&mut path, relative, &mut out);
            }
            in_profile = l.len() > 9 && l[..8].eq_ignore_ascii_case("[profile");
            path = None;
            relative = true;
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((k, v)) = l.split_once('=') {
            match k.trim() {
                "Path" => path = Some(v.trim().to_string()),
                "IsRelative" => relative = v.trim() != "0",
                _ => {}
            }
        }
    }
    if in_profile {
        flush(&mut path, relative, &mut out);
    }
    out
}

fn read_db(root: &Root, src: &Source, cls: &Classifier) -> Result<BTreeMap<String, Agg>, String> {
    let db = sqlite::open(root, &src.db)?.ok_or_else(|| "disappeared while reading".to_string())?;
    let sql = match src.kind {
        Kind::Firefox => {
            "SELECT p.url, v.visit_date FROM moz_historyvisits v JOIN moz_places p ON v.place_id = p.id"
        }
        Kind::Chromium => "SELECT u.url, v.visit_time FROM visits v JOIN urls u ON v.url = u.id",
    };
    let kind = src.kind;
    sqlite::with_deadline(&db, |conn| {
        let mut hosts: BTreeMap<String, Agg> = BTreeMap::new();
        let mut stmt = conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let url: String = match row.get_ref(0)? {
                rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                    String::from_utf8_lossy(t).into_owned()
                }
                _ => continue,
            };
            let Some(host) = url_host(&url) else { continue };
            if !cls.host_is_external(&host) {
                continue;
            }
            let t: Option<i64> = match row.get_ref(1)? {
                rusqlite::types::ValueRef::Integer(i) => Some(i),
                rusqlite::types::ValueRef::Real(r) => Some(r as i64),
                _ => None,
            };
            let secs = t.filter(|&us| us > 0).map(|us| match kind {
                Kind::Firefox => us / 1_000_000,
                Kind::Chromium => us / 1_000_000 - CHROMIUM_EPOCH_OFFSET,
            });
            let a = hosts.entry(host).or_default();
            a.count += 1;
            if let Some(s) = secs {
                a.first = Some(a.first.map_or(s, |f| f.min(s)));
                a.last = Some(a.last.map_or(s, |l| l.max(s)));
            }
        }
        Ok(hosts)
    })
}

/// The host of an `http`, `https` or `ftp` URL, normalised; `None` for any
/// other scheme or an unparsable URL.
pub(crate) fn url_host(url: &str) -> Option<String> {
    let scheme_end = url.find(':')?;
    let scheme = url[..scheme_end].to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https" | "ftp") {
        return None;
    }
    // The url crate applies the WHATWG rules browsers use; a URL it refuses
    // (browsers store what they were given) still has its host read by hand,
    // so no visit is silently dropped.
    let h = match url::Url::parse(url) {
        Ok(parsed) => normal_host(parsed.host_str()?),
        Err(_) => normal_host(&raw_host(&url[scheme_end + 1..])?),
    };
    (!h.is_empty()).then_some(h)
}

/// The host of `//[user@]host[:port]/...`, by hand.
fn raw_host(rest: &str) -> Option<String> {
    let rest = rest.strip_prefix("//")?;
    let auth = rest.split(['/', '?', '#', '\\']).next().unwrap_or(rest);
    let hostport = auth.rsplit_once('@').map(|(_, h)| h).unwrap_or(auth);
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        hostport.split(':').next().unwrap_or(hostport)
    };
    let host: Vec<u8> = percent_encoding::percent_decode_str(host).collect();
    Some(String::from_utf8_lossy(&host).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_urls() {
        assert_eq!(
            url_host("https://WWW.Baidu.com./s?wd=secret").as_deref(),
            Some("www.baidu.com")
        );
        assert_eq!(
            url_host("http://[2400:3200::1]:8080/x").as_deref(),
            Some("2400:3200::1")
        );
        assert_eq!(
            url_host("ftp://ftp.example.org/pub").as_deref(),
            Some("ftp.example.org")
        );
        assert_eq!(url_host("file:///media/x"), None);
        assert_eq!(url_host("about:config"), None);
        assert_eq!(url_host("view-source:https://a.example.com/"), None);
        assert_eq!(url_host("moz-extension://abc/x"), None);
        assert_eq!(url_host("chrome://settings"), None);
        // Refused by the WHATWG parser (bad port), host still read.
        assert_eq!(
            url_host("http://user@Bad.Example.com:99999/x").as_deref(),
            Some("bad.example.com")
        );
    }

    #[test]
    fn profiles_ini_sections() {
        let ini = "[Install4F96D1932A9F858E]\nDefault=abc.default-esr\n\n[Profile1]\nName=x\nIsRelative=0\nPath=/home/a/ff/other\n\n[Profile0]\nName=default-esr\nIsRelative=1\nPath=abc.default-esr\nDefault=1\n\n[General]\nStartWithLastProfile=1\n";
        assert_eq!(
            ini_profiles(ini),
            vec![
                ("/home/a/ff/other".to_string(), false),
                ("abc.default-esr".to_string(), true)
            ]
        );
    }
}
