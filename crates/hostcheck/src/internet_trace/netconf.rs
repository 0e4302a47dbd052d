//! The host's network configuration (`spec/inspection-checks.md`, "host —
//! network configuration"): saved Wi-Fi, mobile and VPN connections of
//! NetworkManager, public resolvers, wpa_supplicant networks, and — live
//! only — default routes through a gateway that is not internal.

use crate::inspection::{Outcome, join, rfc3339};
use crate::netaddr::Classifier;
use crate::root::Root;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const NM_DIR: &str = "/etc/NetworkManager/system-connections";
const NM_TIMESTAMPS: &str = "/var/lib/NetworkManager/timestamps";

/// One group → key → (value, line) of a GLib key file.
type Groups = BTreeMap<String, BTreeMap<String, (String, usize)>>;

/// GLib's key-file syntax, strictly: every non-blank, non-comment line is a
/// `[group]` header or a `key=value` inside a group. Anything else is the
/// "not a valid key file" that NetworkManager would refuse to load.
pub(crate) fn parse_keyfile(text: &str) -> Result<Groups, String> {
    let mut groups: Groups = BTreeMap::new();
    let mut group: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            let l = line.trim_end();
            let Some(g) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
                return Err(format!("line {}: invalid group header", i + 1));
            };
            group = Some(g.to_string());
            groups.entry(g.to_string()).or_default();
            continue;
        }
        let Some(g) = &group else {
            return Err(format!(
                "line {}: key file does not start with a group",
                i + 1
            ));
        };
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {}: not a group header or key=value", i + 1));
        };
        let k = k.trim_end();
        if k.is_empty() {
            return Err(format!("line {}: empty key", i + 1));
        }
        groups
            .entry(g.clone())
            .or_default()
            .insert(k.to_string(), (v.trim().to_string(), i + 1));
    }
    Ok(groups)
}

fn get<'a>(g: &'a Groups, group: &str, key: &str) -> Option<&'a str> {
    g.get(group)
        .and_then(|m| m.get(key))
        .map(|(v, _)| v.as_str())
}

/// An SSID as NetworkManager writes it: text, or `;`-separated byte values.
fn ssid_text(v: &str) -> String {
    let parts: Vec<&str> = v.trim_end_matches(';').split(';').collect();
    if v.contains(';') && parts.iter().all(|p| p.parse::<u8>().is_ok()) {
        let bytes: Vec<u8> = parts.iter().filter_map(|p| p.parse().ok()).collect();
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    v.to_string()
}

pub(crate) fn scan(root: &Root, cls: &Classifier, out: &mut Outcome) {
    network_manager(root, cls, out);
    resolv_conf(root, cls, out);
    wpa_supplicant(root, out);
    routes(root, cls, out);
    out.notes.push(json!({
        "skipped": "netplan, DHCP leases and listening sockets (not evaluated yet)"
    }));
}

fn network_manager(root: &Root, cls: &Classifier, out: &mut Outcome) {
    let names = match root.list_dir(NM_DIR) {
        Ok(n) => n,
        Err(e) => {
            out.errors
                .push(json!({"file": NM_DIR, "reason": e.to_string()}));
            return;
        }
    };
    let stamps: BTreeMap<String, i64> = match root.read(NM_TIMESTAMPS) {
        Ok(Some(f)) => parse_keyfile(&f.text())
            .ok()
            .and_then(|g| g.get("timestamps").cloned())
            .map(|m| {
                m.into_iter()
                    .filter_map(|(k, (v, _))| v.parse().ok().map(|t| (k, t)))
                    .collect()
            })
            .unwrap_or_default(),
        _ => BTreeMap::new(),
    };
    for name in names.iter().filter(|n| n.ends_with(".nmconnection")) {
        let file = join(NM_DIR, name);
        let text = match root.read(&file) {
            Ok(Some(f)) => match String::from_utf8(f.bytes) {
                Ok(t) => t,
                Err(_) => {
                    out.errors
                        .push(json!({"file": file, "reason": "not a valid key file: not UTF-8"}));
                    continue;
                }
            },
            Ok(None) => continue,
            Err(e) => {
                out.errors
                    .push(json!({"file": file, "reason": e.to_string()}));
                continue;
            }
        };
        let g = match parse_keyfile(&text) {
            Ok(g) => g,
            Err(e) => {
                out.errors
                    .push(json!({"file": file, "reason": format!("not a valid key file: {e}")}));
                continue;
            }
        };
        let ctype = get(&g, "connection", "type").unwrap_or("");
        let kind = match ctype {
            "wifi" | "802-11-wireless" => Some("wifi"),
            "gsm" => Some("gsm"),
            "cdma" => Some("cdma"),
            "vpn" => Some("vpn"),
            _ => None,
        };
        if let Some(kind) = kind {
            let uuid = get(&g, "connection", "uuid").unwrap_or("").to_string();
            let last = stamps
                .get(&uuid)
                .copied()
                .or_else(|| get(&g, "connection", "timestamp").and_then(|t| t.parse().ok()))
                .filter(|&t| t > 0)
                .and_then(rfc3339);
            let ssid = get(&g, "wifi", "ssid")
                .or_else(|| get(&g, "802-11-wireless", "ssid"))
                .map(ssid_text);
            out.findings.push(json!({
                "source": "networkmanager",
                "file": file,
                "id": get(&g, "connection", "id").unwrap_or(""),
                "uuid": uuid,
                "type": kind,
                "ssid": ssid,
                "last_connected": last,
            }));
        }
        for group in ["ipv4", "ipv6"] {
            if let Some(dns) = get(&g, group, "dns") {
                for a in dns
                    .split([';', ','])
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                {
                    if let Some(ip) = parse_addr(a)
                        && cls.address_is_external(ip)
                    {
                        out.findings.push(json!({
                            "source": format!("{file} [{group}] dns"),
                            "address": ip.to_string(),
                        }));
                    }
                }
            }
        }
    }
}

/// An address as written in resolv.conf or a keyfile (`%scope` dropped).
fn parse_addr(a: &str) -> Option<IpAddr> {
    let a = a.split('%').next().unwrap_or(a).trim();
    let a = a
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(a);
    a.parse().ok()
}

fn resolv_conf(root: &Root, cls: &Classifier, out: &mut Outcome) {
    let file = "/etc/resolv.conf";
    // A dangling symlink (to /run/systemd/resolve/stub-resolv.conf in an
    // image) reads as absent.
    let f = match root.read(file) {
        Ok(Some(f)) => f,
        Ok(None) => return,
        Err(e) => {
            out.errors
                .push(json!({"file": file, "reason": e.to_string()}));
            return;
        }
    };
    for (i, line) in f.text().lines().enumerate() {
        let mut w = line.split_whitespace();
        if w.next() != Some("nameserver") {
            continue;
        }
        if let Some(ip) = w.next().and_then(parse_addr)
            && cls.address_is_external(ip)
        {
            out.findings.push(json!({
                "source": f.shown(),
                "line": i + 1,
                "address": ip.to_string(),
            }));
        }
    }
}

fn wpa_supplicant(root: &Root, out: &mut Outcome) {
    let dir = "/etc/wpa_supplicant";
    let names = match root.list_dir(dir) {
        Ok(n) => n,
        Err(e) => {
            out.errors
                .push(json!({"file": dir, "reason": e.to_string()}));
            return;
        }
    };
    for name in names.iter().filter(|n| n.ends_with(".conf")) {
        let file = join(dir, name);
        let text = match root.read(&file) {
            Ok(Some(f)) => f.text(),
            Ok(None) => continue,
            Err(e) => {
                out.errors
                    .push(json!({"file": file, "reason": e.to_string()}));
                continue;
            }
        };
        let mut block: Option<(usize, Option<String>)> = None;
        for (i, raw) in text.lines().enumerate() {
            let l = raw.trim();
            if l.starts_with('#') {
                continue;
            }
            let compact: String = l.chars().filter(|c| !c.is_whitespace()).collect();
            if block.is_none() {
                if compact == "network={" {
                    block = Some((i + 1, None));
                }
                continue;
            }
            if compact == "}" {
                if let Some((line, ssid)) = block.take() {
                    out.findings.push(json!({"source": "wpa_supplicant", "file": file, "line": line, "ssid": ssid}));
                }
                continue;
            }
            if let Some(v) = l.strip_prefix("ssid=")
                && let Some((_, ssid)) = block.as_mut()
            {
                *ssid = Some(wpa_ssid(v.trim()));
            }
        }
        // An unterminated block still names a network.
        if let Some((line, ssid)) = block {
            out.findings.push(
                json!({"source": "wpa_supplicant", "file": file, "line": line, "ssid": ssid}),
            );
        }
    }
}

/// `ssid="text"` or hex bytes `ssid=74657374`.
fn wpa_ssid(v: &str) -> String {
    if let Some(s) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return s.to_string();
    }
    if v.len().is_multiple_of(2) && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes: Vec<u8> = (0..v.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&v[i..i + 2], 16).ok())
            .collect();
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    v.to_string()
}

fn routes(root: &Root, cls: &Classifier, out: &mut Outcome) {
    if !root.is_live() {
        out.notes.push(json!({"skipped": "live routes"}));
        return;
    }
    if let Ok(text) = std::fs::read_to_string("/proc/net/route") {
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 3 || f[1] != "00000000" {
                continue;
            }
            let Ok(gw) = u32::from_str_radix(f[2], 16) else {
                continue;
            };
            // /proc/net/route prints the address in host (little-endian) order.
            let ip = IpAddr::V4(Ipv4Addr::from(gw.swap_bytes()));
            let finding = cls.address_is_external(ip);
            let e = json!({"source": "/proc/net/route", "interface": f[0], "destination": "0.0.0.0/0", "gateway": ip.to_string()});
            if finding {
                out.findings.push(e);
            } else {
                out.notes
                    .push(json!({"default_route": e, "gateway_internal": true}));
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string("/proc/net/ipv6_route") {
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[0] != "00000000000000000000000000000000" || f[1] != "00" {
                continue;
            }
            let Ok(gw) = u128::from_str_radix(f[4], 16) else {
                continue;
            };
            let ip = IpAddr::V6(Ipv6Addr::from(gw));
            let e = json!({"source": "/proc/net/ipv6_route", "interface": f[9], "destination": "::/0", "gateway": ip.to_string()});
            if cls.address_is_external(ip) {
                out.findings.push(e);
            } else if f[9] != "lo" {
                out.notes
                    .push(json!({"default_route": e, "gateway_internal": true}));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyfiles_strict_and_ssids() {
        let g =
            parse_keyfile("[connection]\nid=Office\ntype=wifi\n\n[wifi]\nssid=Cafe;\n").unwrap();
        assert_eq!(get(&g, "connection", "type"), Some("wifi"));
        assert!(parse_keyfile("id=x\n[connection]\n").is_err());
        assert!(parse_keyfile("[connection]\nthis is junk\n").is_err());
        assert!(parse_keyfile("[connection\nid=x\n").is_err());
        assert_eq!(ssid_text("72;101;108;108;111;"), "Hello");
        assert_eq!(wpa_ssid("\"Home Net\""), "Home Net");
        assert_eq!(wpa_ssid("74657374"), "test");
    }
}
