//! `hardware.wireless` and `hardware.bluetooth` (`spec/inspection-checks.md`):
//! radios present and not blocked by rfkill (classified computers must have
//! no working Wi-Fi or Bluetooth). Read from sysfs: the live `/sys`, or a
//! captured `sys/class` under `--root`.

use crate::inspection::join;
use crate::root::Root;
use mijian_report::{Check, CheckStatus};
use serde_json::{Value, json};

struct Switch {
    name: String,
    kind: String,
    soft: String,
    hard: String,
}

impl Switch {
    fn blocked(&self) -> bool {
        self.soft == "1" || self.hard == "1"
    }
    fn evidence(&self) -> Value {
        json!({"rfkill": self.name, "type": self.kind, "soft": self.soft, "hard": self.hard})
    }
}

fn read_trim(root: &Root, p: &str) -> Option<String> {
    root.read(p)
        .ok()
        .flatten()
        .map(|f| f.text().trim().to_string())
}

pub fn checks(root: &Root) -> Vec<Check> {
    if !root.is_live() && !root.is_dir("/sys/class") {
        return ["hardware.wireless", "hardware.bluetooth"]
            .into_iter()
            .map(|id| {
                Check::new(id, "host", CheckStatus::NotApplicable)
                    .evidence(json!([{"reason": "no sysfs in root"}]))
            })
            .collect();
    }
    let mut switches = Vec::new();
    for name in root.list_dir("/sys/class/rfkill").unwrap_or_default() {
        if !name.starts_with("rfkill") {
            continue;
        }
        let d = join("/sys/class/rfkill", &name);
        switches.push(Switch {
            kind: read_trim(root, &join(&d, "type")).unwrap_or_default(),
            soft: read_trim(root, &join(&d, "soft")).unwrap_or_default(),
            hard: read_trim(root, &join(&d, "hard")).unwrap_or_default(),
            name,
        });
    }
    let mut wifi = Vec::new();
    for name in root.list_dir("/sys/class/net").unwrap_or_default() {
        let d = join("/sys/class/net", &name);
        if root.exists(&join(&d, "wireless")) || root.exists(&join(&d, "phy80211")) {
            wifi.push(json!({"interface": name, "address": read_trim(root, &join(&d, "address"))}));
        }
    }
    let mut bt = Vec::new();
    for name in root.list_dir("/sys/class/bluetooth").unwrap_or_default() {
        if name.starts_with("hci") && !name.contains(':') {
            let d = join("/sys/class/bluetooth", &name);
            bt.push(json!({"adapter": name, "address": read_trim(root, &join(&d, "address"))}));
        }
    }
    vec![
        judge(
            "hardware.wireless",
            wifi,
            &switches,
            "wlan",
            "remove the wireless card, or block it permanently (rfkill / BIOS) on this classified computer",
        ),
        judge(
            "hardware.bluetooth",
            bt,
            &switches,
            "bluetooth",
            "remove the Bluetooth adapter, or block it permanently (rfkill / BIOS) on this classified computer",
        ),
    ]
}

fn judge(id: &str, radios: Vec<Value>, switches: &[Switch], kind: &str, remedy: &str) -> Check {
    let mine: Vec<&Switch> = switches.iter().filter(|s| s.kind == kind).collect();
    let pass = radios.is_empty() || (!mine.is_empty() && mine.iter().all(|s| s.blocked()));
    let actual = format!(
        "{}{}",
        crate::inspection::summary(&radios),
        if mine.is_empty() {
            ", no rfkill switch"
        } else {
            ", not blocked"
        }
    );
    let none = radios.is_empty();
    let mut ev = radios;
    if none {
        ev.push(json!({"found": format!("no {} device", if kind == "wlan" { "wireless" } else { "Bluetooth" })}));
    }
    ev.extend(mine.iter().map(|s| s.evidence()));
    let c = Check::new(
        id,
        "host",
        if pass {
            CheckStatus::Pass
        } else {
            CheckStatus::Fail
        },
    )
    .evidence(Value::Array(ev));
    if pass {
        c
    } else {
        c.actual(actual).remedy(remedy)
    }
}
