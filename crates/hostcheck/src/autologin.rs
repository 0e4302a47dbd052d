//! `login.autologin` (`spec/host-checks.md`, "login.autologin"): GDM,
//! LightDM and SDDM key files, only the sections each display manager
//! reads the key from. Within one display manager, files are read in the
//! order it reads them and the last value of a key wins. GDM's three files
//! are alternatives (each build reads one of them), so each is judged
//! alone and any that enables automatic or timed login fails the host.

use crate::keyfile::{self, glib_bool};
use crate::root::Root;
use mijian_report::{Check, CheckStatus};
use serde_json::{Value, json};

const ID: &str = "login.autologin";

struct Found {
    enabling: Vec<Value>,
    read: Vec<String>,
    notes: Vec<Value>,
    errors: Vec<String>,
}

fn conf_d(root: &Root, dir: &str, f: &mut Found) -> Vec<String> {
    match root.list_dir(dir) {
        Ok(names) => names
            .into_iter()
            .filter(|n| n.ends_with(".conf"))
            .map(|n| format!("{dir}/{n}"))
            .collect(),
        Err(e) => {
            f.errors.push(e.to_string());
            Vec::new()
        }
    }
}

/// The last value of `key` in one of `groups` over `files`, in order.
fn last_value(
    root: &Root,
    files: &[String],
    groups: &[&str],
    key: &str,
    f: &mut Found,
) -> Option<(String, Value)> {
    let mut last = None;
    for path in files {
        match root.read(path) {
            Ok(Some(file)) => {
                f.read.push(file.shown());
                for e in keyfile::parse(&file.text()) {
                    if groups.contains(&e.group.as_str()) && e.key == key {
                        last = Some((
                            e.value.clone(),
                            json!({"file": file.shown(), "line": e.line, "section": e.group, "setting": e.text}),
                        ));
                    }
                }
            }
            Ok(None) => {}
            Err(e) => f.errors.push(e.to_string()),
        }
    }
    last
}

pub fn check(root: &Root) -> Check {
    let mut f = Found {
        enabling: Vec::new(),
        read: Vec::new(),
        notes: Vec::new(),
        errors: Vec::new(),
    };
    // GDM.
    for path in [
        "/etc/gdm3/daemon.conf",
        "/etc/gdm3/custom.conf",
        "/etc/gdm/custom.conf",
    ] {
        let files = [path.to_string()];
        for key in ["AutomaticLoginEnable", "TimedLoginEnable"] {
            if let Some((v, at)) = last_value(root, &files, &["daemon"], key, &mut f) {
                match glib_bool(&v) {
                    Some(true) => f.enabling.push(at),
                    Some(false) => {}
                    None => f.notes.push(json!({"at": at, "note": "not a GLib boolean (true/false/1/0): GDM keeps its default, false"})),
                }
            }
        }
    }
    f.read.sort();
    f.read.dedup();
    // LightDM.
    let mut files = Vec::new();
    for dir in [
        "/usr/share/lightdm/lightdm.conf.d",
        "/etc/xdg/lightdm/lightdm.conf.d",
        "/etc/lightdm/lightdm.conf.d",
    ] {
        files.extend(conf_d(root, dir, &mut f));
    }
    files.push("/etc/lightdm/lightdm.conf".into());
    if let Some((v, at)) = last_value(
        root,
        &files,
        &["Seat:*", "SeatDefaults"],
        "autologin-user",
        &mut f,
    ) && !v.is_empty()
    {
        f.enabling.push(at);
    }
    // SDDM.
    let mut files = Vec::new();
    for dir in ["/usr/lib/sddm/sddm.conf.d", "/etc/sddm.conf.d"] {
        files.extend(conf_d(root, dir, &mut f));
    }
    files.push("/etc/sddm.conf".into());
    if let Some((v, at)) = last_value(root, &files, &["Autologin"], "User", &mut f)
        && !v.is_empty()
    {
        f.enabling.push(at);
    }
    f.read.sort();
    f.read.dedup();

    let evidence = json!({"enabled_by": f.enabling, "files_read": f.read, "notes": f.notes, "errors": f.errors});
    if !f.enabling.is_empty() {
        Check::new(ID, "host", CheckStatus::Fail)
            .expected("no automatic or timed login")
            .actual("enabled")
            .evidence(evidence)
            .remedy("Remove the automatic/timed login setting named in the evidence (or set it to false / empty).")
    } else if !f.errors.is_empty() {
        Check::new(ID, "host", CheckStatus::Error)
            .expected("no automatic or timed login")
            .evidence(evidence)
            .remedy("Make the display-manager configuration readable (run as root) and re-run the check.")
    } else {
        Check::new(ID, "host", CheckStatus::Pass)
            .expected("no automatic or timed login")
            .actual("disabled")
            .evidence(evidence)
    }
}
