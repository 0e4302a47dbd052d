//! `trace.recent_files` (`spec/inspection-checks.md`): recent-document
//! lists (GTK/GNOME `recently-used.xbel`, KDE `RecentDocuments/*.desktop`,
//! LibreOffice's PickList in `registrymodifications.xcu`) that point under
//! a removable-media root — a document was opened from a stick on this
//! computer (痕迹检查, 交叉使用). The paths are evidence: the inspector must
//! find the medium.

use crate::accounts::{Account, Accounts};
use crate::inspection::{InspectionConfig, Outcome, join};
use crate::internet_trace::netconf::parse_keyfile;
use crate::root::Root;
use mijian_report::Check;
use quick_xml::events::Event;
use serde_json::{Value, json};
use std::path::{Component, Path, PathBuf};

const ID: &str = "trace.recent_files";
const XBEL: &str = ".local/share/recently-used.xbel";
const KDE_DIR: &str = ".local/share/RecentDocuments";
const LO_XCU: &str = ".config/libreoffice/4/user/registrymodifications.xcu";
/// Entries read from one list at most (a hostile list cannot exhaust memory).
const MAX_ENTRIES: usize = 100_000;

/// One entry of a recent list.
struct Entry {
    url: String,
    time: Option<String>,
}

pub fn checks(
    root: &Root,
    users: &[Account],
    acc: &Accounts,
    cfg: &InspectionConfig,
) -> Vec<Check> {
    let names: Vec<&str> = acc.users.iter().map(|a| a.name.as_str()).collect();
    users
        .iter()
        .map(|u| {
            let mut o = Outcome::new();
            type Parser = fn(&str) -> Result<Vec<Entry>, String>;
            let xml_lists: [(&str, String, Parser); 2] = [
                ("gtk", join(&u.home, XBEL), parse_xbel),
                ("libreoffice", join(&u.home, LO_XCU), parse_xcu),
            ];
            for (source, file, parse) in xml_lists.iter() {
                match root.read(file) {
                    Ok(Some(f)) => match parse(&f.text()) {
                        Ok(entries) => {
                            for e in entries {
                                judge(source, file, &e, &cfg.media_roots, &names, &mut o);
                            }
                        }
                        Err(r) => o.errors.push(json!({"source": source, "file": file, "reason": r})),
                    },
                    Ok(None) => {}
                    Err(e) => o.errors.push(json!({"source": source, "file": file, "reason": e.to_string()})),
                }
            }
            kde(root, &u.home, &cfg.media_roots, &names, &mut o);
            o.notes.push(json!({"skipped": "WPS Office recent list (no primary description of its format; not evaluated)"}));
            o.check(
                ID,
                &u.subject(),
                "documents were opened from removable media on this computer: identify each medium by its \
                 path and check that it is registered and of this computer's level (交叉使用)",
            )
        })
        .collect()
}

fn kde(root: &Root, home: &str, roots: &[String], names: &[&str], o: &mut Outcome) {
    let dir = join(home, KDE_DIR);
    let files = match root.list_dir(&dir) {
        Ok(f) => f,
        Err(e) => {
            o.errors
                .push(json!({"source": "kde", "file": dir, "reason": e.to_string()}));
            return;
        }
    };
    for name in files.iter().filter(|n| n.ends_with(".desktop")) {
        let file = join(&dir, name);
        let text = match root.read(&file) {
            Ok(Some(f)) => f.text(),
            Ok(None) => continue,
            Err(e) => {
                o.errors
                    .push(json!({"source": "kde", "file": file, "reason": e.to_string()}));
                continue;
            }
        };
        let g = match parse_keyfile(&text) {
            Ok(g) => g,
            Err(r) => {
                o.errors.push(json!({"source": "kde", "file": file, "reason": format!("not a valid key file: {r}")}));
                continue;
            }
        };
        let Some(de) = g.get("Desktop Entry") else {
            continue;
        };
        let Some((url, _)) = de.get("URL[$e]").or_else(|| de.get("URL")) else {
            continue;
        };
        let url = kde_url(url, home);
        judge("kde", &file, &Entry { url, time: None }, roots, names, o);
    }
}

/// A KDE `URL[$e]=` value with KConfig's path translation undone: `$HOME`
/// (also after `file://`, as `writePathEntry` writes it) or `~` at the
/// start is the user's home, `$$` is a literal `$`.
fn kde_url(raw: &str, home: &str) -> String {
    let (scheme, rest) = match raw.strip_prefix("file://") {
        Some(r) if r.starts_with('$') || r.starts_with('~') => ("file://", r),
        _ => ("", raw),
    };
    for prefix in ["$HOME", "~"] {
        if let Some(tail) = rest.strip_prefix(prefix)
            && (tail.is_empty() || tail.starts_with('/'))
        {
            let path = format!("{}{}", home.trim_end_matches('/'), tail.replace("$$", "$"));
            // Re-encode nothing: a plain path is taken as is.
            return if scheme.is_empty() {
                path
            } else {
                format!("{scheme}{path}")
            };
        }
    }
    raw.replace("$$", "$")
}

fn judge(source: &str, file: &str, e: &Entry, roots: &[String], names: &[&str], o: &mut Outcome) {
    let Some(path) = local_path(&e.url) else {
        return;
    };
    let Some(mount_root) = under_media(&path, roots, names) else {
        return;
    };
    let mut v: Value = json!({
        "source": source,
        "file": file,
        "path": path,
        "mount_root": mount_root,
    });
    if let Some(t) = &e.time {
        v["time"] = json!(t);
    }
    o.findings.push(v);
}

/// The local path of a list entry: a `file://` URL percent-decoded, or a
/// plain absolute path; `None` for other schemes.
fn local_path(url: &str) -> Option<String> {
    if url.starts_with('/') {
        return Some(url.to_string());
    }
    let rest = url.strip_prefix("file://")?;
    // file:///x or file://localhost/x; another host is not a local path.
    let path = if rest.starts_with('/') {
        rest
    } else {
        let (host, p) = rest.split_at(rest.find('/')?);
        if !host.eq_ignore_ascii_case("localhost") {
            return None;
        }
        p
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The mount root when `path` is strictly under a media root, by whole
/// components: the root plus its next component, plus one more under
/// `/media` or `/run/media` when that component is an account name.
fn under_media(path: &str, roots: &[String], names: &[&str]) -> Option<String> {
    let p = lexical(Path::new(path));
    for r in roots {
        let root = lexical(Path::new(r));
        let Ok(rest) = p.strip_prefix(&root) else {
            continue;
        };
        let comps: Vec<String> = rest
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let Some(first) = comps.first() else { continue };
        let mut m = root.join(first);
        let r_str = root.to_string_lossy();
        if (r_str == "/media" || r_str == "/run/media")
            && names.contains(&first.as_str())
            && let Some(second) = comps.get(1)
        {
            m = m.join(second);
        }
        return Some(m.to_string_lossy().into_owned());
    }
    None
}

/// `.`, `..` and repeated separators removed without touching the disk.
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn xml_reader(text: &str) -> quick_xml::Reader<&[u8]> {
    let mut r = quick_xml::Reader::from_str(text);
    r.config_mut().check_end_names = true;
    r
}

fn attr(e: &quick_xml::events::BytesStart, name: &[u8]) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        if a.key.as_ref() == name {
            return a
                .unescape_value()
                .map(|v| Some(v.into_owned()))
                .map_err(|e| e.to_string());
        }
    }
    Ok(None)
}

/// GTK's XBEL: `<bookmark href= added= modified= visited=>`.
fn parse_xbel(text: &str) -> Result<Vec<Entry>, String> {
    let mut r = xml_reader(text);
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut seen_root = false;
    loop {
        let ev = r
            .read_event()
            .map_err(|e| format!("not well-formed XML: {e}"))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if depth == 0 {
                    seen_root = true;
                }
                if matches!(ev, Event::Start(_)) {
                    depth += 1;
                }
                if e.name().as_ref() == b"bookmark"
                    && out.len() < MAX_ENTRIES
                    && let Some(href) = attr(e, b"href")?
                {
                    let time = attr(e, b"visited")?
                        .or(attr(e, b"modified")?)
                        .or(attr(e, b"added")?);
                    out.push(Entry { url: href, time });
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root || depth != 0 {
        return Err("not well-formed XML: no root element or unclosed elements".into());
    }
    Ok(out)
}

/// LibreOffice's registrymodifications.xcu: the `oor:name` of each `node`
/// in the `item` whose `oor:path` ends in `HistoryInfo['PickList']/ItemList`.
fn parse_xcu(text: &str) -> Result<Vec<Entry>, String> {
    let mut r = xml_reader(text);
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut seen_root = false;
    // Depth of the open PickList item, if any.
    let mut in_item: Option<usize> = None;
    loop {
        let ev = r
            .read_event()
            .map_err(|e| format!("not well-formed XML: {e}"))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if depth == 0 {
                    seen_root = true;
                }
                let name = e.name();
                let local = name.local_name();
                if local.as_ref() == b"item" {
                    let path = attr(e, b"oor:path")?.unwrap_or_default();
                    if path.ends_with("HistoryInfo['PickList']/ItemList")
                        && matches!(ev, Event::Start(_))
                    {
                        in_item = Some(depth);
                    }
                } else if local.as_ref() == b"node"
                    && in_item == Some(depth.saturating_sub(1))
                    && out.len() < MAX_ENTRIES
                    && let Some(n) = attr(e, b"oor:name")?
                {
                    out.push(Entry { url: n, time: None });
                }
                if matches!(ev, Event::Start(_)) {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if in_item == Some(depth) {
                    in_item = None;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root || depth != 0 {
        return Err("not well-formed XML: no root element or unclosed elements".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_media_roots() {
        let roots: Vec<String> = ["/media", "/run/media", "/mnt"].map(String::from).to_vec();
        let names = ["lily", "root"];
        assert_eq!(
            local_path("file:///media/lily/KINGSTON/%E6%B5%8B%E8%AF%95.docx").as_deref(),
            Some("/media/lily/KINGSTON/测试.docx")
        );
        assert_eq!(local_path("smb://srv/x"), None);
        assert_eq!(local_path("file://otherhost/x"), None);
        assert_eq!(
            under_media("/media/lily/KINGSTON/a.docx", &roots, &names).as_deref(),
            Some("/media/lily/KINGSTON")
        );
        assert_eq!(
            under_media("/run/media/lily/U/x", &roots, &names).as_deref(),
            Some("/run/media/lily/U")
        );
        assert_eq!(
            under_media("/media/USB/x", &roots, &names).as_deref(),
            Some("/media/USB")
        );
        assert_eq!(
            under_media("/mnt/disk/x", &roots, &names).as_deref(),
            Some("/mnt/disk")
        );
        assert_eq!(under_media("/mnt2/x", &roots, &names), None);
        assert_eq!(under_media("/media-archive/x", &roots, &names), None);
        assert_eq!(under_media("/home/a/media/x", &roots, &names), None);
        assert_eq!(under_media("/media", &roots, &names), None);
    }

    #[test]
    fn kde_values() {
        assert_eq!(kde_url("$HOME/a.txt", "/home/b"), "/home/b/a.txt");
        assert_eq!(
            kde_url("file://$HOME/a.txt", "/home/b"),
            "file:///home/b/a.txt"
        );
        assert_eq!(kde_url("~/x", "/home/b/"), "/home/b/x");
        assert_eq!(kde_url("/media/b/U/$$x", "/home/b"), "/media/b/U/$x");
        assert_eq!(kde_url("$HOMEX/y", "/home/b"), "$HOMEX/y");
    }

    #[test]
    fn lists_parse_and_broken_lists_are_errors() {
        let x = r#"<?xml version="1.0" encoding="UTF-8"?>
<xbel version="1.0" xmlns:bookmark="http://www.freedesktop.org/standards/desktop-bookmarks">
  <bookmark href="file:///media/lily/U/a%20b.odt" added="2026-12-01T08:00:00.000000Z" modified="2026-12-01T08:00:00.000000Z" visited="2026-12-02T08:00:00.000000Z">
    <info/>
  </bookmark>
</xbel>"#;
        let e = parse_xbel(x).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].time.as_deref(), Some("2026-12-02T08:00:00.000000Z"));
        assert!(parse_xbel("<xbel><bookmark href='x'></xbel>").is_err());
        let xcu = r#"<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry">
<item oor:path="/org.openoffice.Office.Histories/Histories/org.openoffice.Office.Histories:HistoryInfo['PickList']/OrderList"><node oor:name="0" oor:op="replace"><prop oor:name="HistoryItemRef" oor:op="fuse"><value>file:///media/x/U/dup.odt</value></prop></node></item>
<item oor:path="/org.openoffice.Office.Histories/Histories/org.openoffice.Office.Histories:HistoryInfo['PickList']/ItemList"><node oor:name="file:///media/x/U/a.odt" oor:op="replace"><prop oor:name="Title" oor:op="fuse"><value>a</value></prop></node></item>
</oor:items>"#;
        let e = parse_xcu(xcu).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].url, "file:///media/x/U/a.odt");
    }
}
