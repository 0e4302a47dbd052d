//! USB storage history: which U盘 have been used on this machine (a standard
//! 保密检查 question). The kernel logs every USB device it enumerates
//! (`drivers/usb/core/hub.c`, `generic.c`): `usb 1-1: New USB device found,
//! idVendor=0781, idProduct=5581`, then `Product:`, `Manufacturer:`,
//! `SerialNumber:` lines, and `usb-storage 1-1:1.0: USB Mass Storage device
//! detected` (or a `uas` line) when it is storage. These lines survive in the
//! journal (`journalctl -o json`, live host or `<root>/var/log/journal`), in
//! `/var/log/kern.log*`, `syslog*`, `messages*` (plain or .gz) and, on a live
//! host, in the `dmesg` ring buffer.
//!
//! Only storage devices are reported, one finding per distinct (vendor,
//! product, serial), matched against the register on the fields a log can
//! show. Reading is bounded per source; a broken log line is skipped.

use crate::identity::{Identity, serial_quality};
use mijian_policy::MediaRegister;
use mijian_report::{Finding, FindingKind, Severity};
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Upper bound on the bytes read from one log source (decompressed).
const SOURCE_MAX: u64 = 256 * 1024 * 1024;
/// At most this many times are kept per device.
const TIMES_MAX: usize = 50;

/// One enumeration of a USB device as the kernel logged it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsbInsertion {
    pub port: String,
    pub vendor_id: Option<String>,
    pub product_id: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub serial: Option<String>,
    /// Whether a mass-storage driver (usb-storage, uas) bound to it.
    pub storage: bool,
    /// When, as the source wrote it (RFC 3339, syslog `Mon DD HH:MM:SS`, or
    /// `boot+SECONDSs` for the ring buffer).
    pub time: Option<String>,
    /// Where it was read (file path, `journal`, `dmesg`).
    pub source: String,
}

/// Parse kernel log text (any of the supported line formats, one message
/// per line) into insertions, in order. `source` names where it came from.
pub fn parse_log(text: &str, source: &str) -> Vec<UsbInsertion> {
    let mut p = Parser::new(source);
    for line in text.lines() {
        p.line(line);
    }
    p.finish()
}

struct Parser {
    source: String,
    open: BTreeMap<String, UsbInsertion>,
    done: Vec<UsbInsertion>,
    /// The port enumerated last: `scsi hostN: uas` names no port.
    last_port: Option<String>,
}

impl Parser {
    fn new(source: &str) -> Self {
        Parser {
            source: source.to_string(),
            open: BTreeMap::new(),
            done: Vec::new(),
            last_port: None,
        }
    }

    /// A raw log line: split off the timestamp prefix, then the message.
    fn line(&mut self, line: &str) {
        // Journal JSON writes non-UTF-8 messages as byte arrays, which do
        // not contain the text `usb`.
        if !line.contains("usb") && !line.contains("uas") && !line.contains("\"MESSAGE\":[") {
            return;
        }
        if line.trim_start().starts_with('{') {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line.trim()) {
                let msg = match &v["MESSAGE"] {
                    serde_json::Value::String(s) => s.clone(),
                    // Non-UTF-8 messages are byte arrays in journal JSON.
                    serde_json::Value::Array(a) => String::from_utf8_lossy(
                        &a.iter()
                            .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                            .collect::<Vec<u8>>(),
                    )
                    .into_owned(),
                    _ => return,
                };
                let time = v["__REALTIME_TIMESTAMP"]
                    .as_str()
                    .and_then(|us| us.parse::<i128>().ok())
                    .and_then(|us| time::OffsetDateTime::from_unix_timestamp_nanos(us * 1000).ok())
                    .and_then(|t| {
                        t.replace_nanosecond(0)
                            .unwrap_or(t)
                            .format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    });
                self.message(&msg, time);
            }
            return;
        }
        // The UAS driver announces itself as `scsi host6: uas`, without the
        // port: it belongs to the device enumerated just before.
        if line.trim_end().ends_with(": uas") && line.contains("scsi host") {
            if let Some(port) = &self.last_port
                && let Some(rec) = self.open.get_mut(port)
            {
                rec.storage = true;
            }
            return;
        }
        let Some((prefix, msg)) = find_message(line) else {
            return;
        };
        self.message(msg, timestamp(prefix));
    }

    /// A kernel message: `usb 1-1: ...`, `usb-storage 1-1:1.0: ...`, `uas 2-2:1.0: ...`.
    fn message(&mut self, msg: &str, time: Option<String>) {
        let Some((driver, rest)) = msg.split_once(' ') else {
            return;
        };
        let Some((dev, text)) = rest.split_once(": ") else {
            return;
        };
        let text = text.trim();
        match driver {
            "usb" if is_port(dev) => {
                let port = dev.to_string();
                if text.starts_with("new ") && text.contains("USB device number") {
                    self.close(&port);
                    self.last_port = Some(port.clone());
                    self.open.insert(
                        port.clone(),
                        UsbInsertion {
                            port,
                            time,
                            source: self.source.clone(),
                            ..UsbInsertion::default()
                        },
                    );
                } else if let Some(ids) = text.strip_prefix("New USB device found,") {
                    let rec = self.get(&port, time);
                    for kv in ids.split(',') {
                        if let Some((k, v)) = kv.trim().split_once('=') {
                            let v = v.trim().to_ascii_lowercase();
                            let valid = v.len() == 4 && v.chars().all(|c| c.is_ascii_hexdigit());
                            match k {
                                "idVendor" if valid => rec.vendor_id = Some(v),
                                "idProduct" if valid => rec.product_id = Some(v),
                                _ => {}
                            }
                        }
                    }
                } else if let Some(v) = text.strip_prefix("Product:") {
                    self.get(&port, time).product = clean(v);
                } else if let Some(v) = text.strip_prefix("Manufacturer:") {
                    self.get(&port, time).manufacturer = clean(v);
                } else if let Some(v) = text.strip_prefix("SerialNumber:") {
                    self.get(&port, time).serial = clean(v);
                } else if text.starts_with("USB disconnect") {
                    self.close(&port);
                }
            }
            "usb-storage" | "uas" => {
                if let Some((port, _intf)) = dev.split_once(':')
                    && is_port(port)
                    && let Some(rec) = self.open.get_mut(port)
                {
                    rec.storage = true;
                }
            }
            _ => {}
        }
    }

    fn get(&mut self, port: &str, time: Option<String>) -> &mut UsbInsertion {
        let source = self.source.clone();
        self.open
            .entry(port.to_string())
            .or_insert_with(|| UsbInsertion {
                port: port.to_string(),
                time,
                source,
                ..UsbInsertion::default()
            })
    }

    fn close(&mut self, port: &str) {
        if let Some(r) = self.open.remove(port) {
            self.done.push(r);
        }
    }

    fn finish(mut self) -> Vec<UsbInsertion> {
        let rest: Vec<UsbInsertion> = std::mem::take(&mut self.open).into_values().collect();
        self.done.extend(rest);
        self.done
    }
}

fn clean(v: &str) -> Option<String> {
    let t = v.trim();
    (!t.is_empty()).then(|| t.chars().take(256).collect())
}

/// `1-1`, `2-1.4.3`: bus number, dash, port path.
fn is_port(s: &str) -> bool {
    let Some((bus, path)) = s.split_once('-') else {
        return false;
    };
    !bus.is_empty()
        && bus.chars().all(|c| c.is_ascii_digit())
        && !path.is_empty()
        && path.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Find the kernel message in a log line: after `kernel: ` (syslog), after a
/// `[ 12.345]` stamp (dmesg), or the line itself when it starts with a driver.
fn find_message(line: &str) -> Option<(&str, &str)> {
    let mut best: Option<usize> = None;
    for pat in ["usb ", "usb-storage ", "uas "] {
        let mut from = 0;
        while let Some(i) = line[from..].find(pat) {
            let at = from + i;
            let ok = at == 0 || matches!(line.as_bytes()[at - 1], b' ' | b']' | b'\t');
            if ok {
                best = Some(best.map_or(at, |b: usize| b.min(at)));
                break;
            }
            from = at + pat.len();
        }
    }
    let at = best?;
    Some((&line[..at], &line[at..]))
}

/// The time in a line prefix, as written: RFC 3339 (rsyslog's default on
/// Debian 12), `Mon DD HH:MM:SS` (traditional syslog), `boot+Ns` (dmesg).
fn timestamp(prefix: &str) -> Option<String> {
    let p = prefix.trim_start();
    let first = p.split_whitespace().next()?;
    if first.len() >= 19
        && first.as_bytes()[4] == b'-'
        && first.as_bytes()[10] == b'T'
        && first[..4].chars().all(|c| c.is_ascii_digit())
    {
        return Some(first.replace(',', "."));
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if p.len() >= 15 && MONTHS.iter().any(|m| p.starts_with(m)) {
        return p.get(..15).map(str::to_string);
    }
    if let Some(open) = p.find('[')
        && let Some(close) = p[open..].find(']')
    {
        let secs = p[open + 1..open + close].trim();
        if !secs.is_empty() && secs.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Some(format!("boot+{secs}s"));
        }
    }
    None
}

/// Where to look.
#[derive(Debug, Clone)]
pub struct HistorySources {
    /// The file tree to read logs from (`/`, or `--root DIR`).
    pub root: PathBuf,
    /// Also ask the live system: `journalctl` and `dmesg` (only for `/`).
    pub live: bool,
}

impl HistorySources {
    pub fn for_root(root: &Path) -> Self {
        HistorySources {
            root: root.to_path_buf(),
            live: root == Path::new("/"),
        }
    }
}

/// Every insertion found in the sources (not deduplicated).
pub fn collect(src: &HistorySources) -> Vec<UsbInsertion> {
    let mut out = Vec::new();
    let log_dir = src.root.join("var/log");
    if let Ok(rd) = std::fs::read_dir(&log_dir) {
        let mut files: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let n = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                ["kern.log", "syslog", "messages", "dmesg"]
                    .iter()
                    .any(|b| n == *b || n.starts_with(&format!("{b}.")))
            })
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            out.extend(read_log_file(&f));
        }
    }
    let journal_dir = src.root.join("var/log/journal");
    if src.live {
        out.extend(run_source(
            "journal",
            "journalctl",
            &["-o", "json", "--no-pager", "_TRANSPORT=kernel"],
        ));
        out.extend(run_source("dmesg", "dmesg", &["--time-format=iso"]));
    } else if journal_dir.is_dir() {
        let d = journal_dir.to_string_lossy().into_owned();
        out.extend(run_source(
            "journal",
            "journalctl",
            &["-D", &d, "-o", "json", "--no-pager", "_TRANSPORT=kernel"],
        ));
    }
    out
}

fn read_log_file(path: &Path) -> Vec<UsbInsertion> {
    let Ok(f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let name = path.to_string_lossy().into_owned();
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    parse_reader(BufReader::new(reader.take(SOURCE_MAX)), &name)
}

fn parse_reader<R: BufRead>(mut r: R, source: &str) -> Vec<UsbInsertion> {
    let mut p = Parser::new(source);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => p.line(&String::from_utf8_lossy(&buf)),
        }
    }
    p.finish()
}

fn run_source(source: &str, cmd: &str, args: &[&str]) -> Vec<UsbInsertion> {
    let Ok(mut child) = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return Vec::new();
    };
    let out = match child.stdout.take() {
        Some(stdout) => parse_reader(BufReader::new(stdout.take(SOURCE_MAX)), source),
        None => Vec::new(),
    };
    let _ = child.kill();
    let _ = child.wait();
    out
}

/// One distinct storage device seen in the logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbDevice {
    pub vendor_id: Option<String>,
    pub product_id: Option<String>,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub times: Vec<String>,
    pub count: usize,
    pub sources: BTreeSet<String>,
}

/// (vendor_id, product_id, upper-case serial).
type DeviceKey = (Option<String>, Option<String>, Option<String>);

/// Keep storage devices only, one per (vendor, product, serial).
pub fn dedupe(ins: Vec<UsbInsertion>) -> Vec<UsbDevice> {
    let mut map: BTreeMap<DeviceKey, UsbDevice> = BTreeMap::new();
    // rsyslog writes kernel lines to kern.log and syslog, and the journal
    // has them too: one event, several sources.
    let mut events = BTreeSet::new();
    for i in ins.into_iter().filter(|i| i.storage) {
        let event = (
            i.time.clone(),
            i.port.clone(),
            i.vendor_id.clone(),
            i.product_id.clone(),
            i.serial.clone(),
        );
        let repeat = i.time.is_some() && !events.insert(event);
        let key = (
            i.vendor_id.clone(),
            i.product_id.clone(),
            i.serial.as_ref().map(|s| s.to_ascii_uppercase()),
        );
        let d = map.entry(key).or_insert_with(|| UsbDevice {
            vendor_id: i.vendor_id.clone(),
            product_id: i.product_id.clone(),
            serial: i.serial.clone(),
            manufacturer: None,
            product: None,
            times: Vec::new(),
            count: 0,
            sources: BTreeSet::new(),
        });
        d.sources.insert(i.source.clone());
        if repeat {
            continue;
        }
        d.count += 1;
        if d.manufacturer.is_none() {
            d.manufacturer = i.manufacturer;
        }
        if d.product.is_none() {
            d.product = i.product;
        }
        if let Some(t) = i.time
            && !d.times.contains(&t)
            && d.times.len() < TIMES_MAX
        {
            d.times.push(t);
        }
    }
    map.into_values().collect()
}

/// `usb_history` findings for a file tree (`/` on a live host also asks
/// `journalctl` and `dmesg`), matched against the register.
pub fn usb_history(root: &Path, register: &MediaRegister) -> Vec<Finding> {
    findings(dedupe(collect(&HistorySources::for_root(root))), register)
}

/// Turn devices into findings: `info` when the register knows the device by
/// its serial, `medium` otherwise.
pub fn findings(devices: Vec<UsbDevice>, register: &MediaRegister) -> Vec<Finding> {
    devices
        .into_iter()
        .map(|d| {
            let id = Identity {
                vendor_id: d.vendor_id.clone(),
                product_id: d.product_id.clone(),
                serial: d.serial.clone(),
                serial_quality: serial_quality(d.serial.as_deref()),
                ..Identity::default()
            };
            let (medium_id, explanation) = crate::register::match_usb_only(&id, register);
            let registered = medium_id.is_some();
            let mut f = Finding::new(
                FindingKind::UsbHistory,
                if registered {
                    Severity::Info
                } else {
                    Severity::Medium
                },
            );
            f.registered = Some(registered);
            f.medium_id = medium_id;
            let name = [d.manufacturer.as_deref(), d.product.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            f.message = Some(format!(
                "USB storage {}:{} {} serial {} used {} time(s){}: {}",
                d.vendor_id.as_deref().unwrap_or("????"),
                d.product_id.as_deref().unwrap_or("????"),
                if name.is_empty() {
                    "(no name)"
                } else {
                    name.as_str()
                },
                d.serial.as_deref().unwrap_or("(none)"),
                d.count,
                d.times
                    .first()
                    .map(|t| format!(", first seen {t}"))
                    .unwrap_or_default(),
                explanation
            ));
            f.detail = Some(json!({
                "vendor_id": d.vendor_id,
                "product_id": d.product_id,
                "manufacturer": d.manufacturer,
                "product": d.product,
                "serial": d.serial,
                "serial_quality": id.serial_quality.as_str(),
                "count": d.count,
                "times": d.times,
                "sources": d.sources,
                "match": explanation,
            }));
            f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_line_formats() {
        let text = "\
Nov 23 01:02:03 ws kernel: [  101.000001] usb 1-1: new high-speed USB device number 5 using xhci_hcd
Nov 23 01:02:03 ws kernel: [  101.200000] usb 1-1: New USB device found, idVendor=0781, idProduct=5581, bcdDevice= 1.00
Nov 23 01:02:03 ws kernel: [  101.200002] usb 1-1: Product: Ultra
Nov 23 01:02:03 ws kernel: [  101.200003] usb 1-1: Manufacturer: SanDisk
Nov 23 01:02:03 ws kernel: [  101.200004] usb 1-1: SerialNumber: 4C530001230915103392
Nov 23 01:02:04 ws kernel: [  101.300000] usb-storage 1-1:1.0: USB Mass Storage device detected
2024-03-01T09:00:00.123456+08:00 ws kernel: [ 5.0] usb 1-2: New USB device found, idVendor=046d, idProduct=c52b, bcdDevice=12.11
2024-03-01T09:00:00.123456+08:00 ws kernel: [ 5.1] usb 1-2: Product: USB Receiver
[  200.5] usb 2-1.4: new SuperSpeed USB device number 3 using xhci_hcd
[  200.6] usb 2-1.4: New USB device found, idVendor=058F, idProduct=6387, bcdDevice= 1.00
[  200.7] usb 2-1.4: SerialNumber: 0123456789ABCDEF
[  200.8] uas 2-1.4:1.0: UAS is ignored for this device, using usb-storage instead
[  201.0] usb 2-1.4: USB disconnect, device number 3
garbage usb line without colon
usb 9-: New USB device found, idVendor=zzzz
";
        let ins = parse_log(text, "t");
        assert_eq!(ins.len(), 3, "{ins:#?}");
        let a = ins.iter().find(|i| i.port == "1-1").unwrap();
        assert_eq!(a.vendor_id.as_deref(), Some("0781"));
        assert_eq!(a.product.as_deref(), Some("Ultra"));
        assert_eq!(a.manufacturer.as_deref(), Some("SanDisk"));
        assert_eq!(a.serial.as_deref(), Some("4C530001230915103392"));
        assert!(a.storage);
        assert_eq!(a.time.as_deref(), Some("Nov 23 01:02:03"));
        let b = ins.iter().find(|i| i.port == "2-1.4").unwrap();
        assert!(b.storage);
        assert_eq!(b.vendor_id.as_deref(), Some("058f"));
        assert_eq!(b.time.as_deref(), Some("boot+200.5s"));
        let mouse = ins.iter().find(|i| i.port == "1-2").unwrap();
        assert!(!mouse.storage);
        assert_eq!(
            mouse.time.as_deref(),
            Some("2024-03-01T09:00:00.123456+08:00")
        );
        let devs = dedupe(ins);
        assert_eq!(devs.len(), 2, "the receiver is not storage");
    }

    #[test]
    fn parses_journal_json() {
        let text = r#"{"__REALTIME_TIMESTAMP":"1700000000000000","MESSAGE":"usb 3-1: new high-speed USB device number 2 using ehci-pci"}
{"__REALTIME_TIMESTAMP":"1700000000100000","MESSAGE":"usb 3-1: New USB device found, idVendor=0951, idProduct=1666, bcdDevice= 1.10"}
{"__REALTIME_TIMESTAMP":"1700000000200000","MESSAGE":[117,115,98,32,51,45,49,58,32,83,101,114,105,97,108,78,117,109,98,101,114,58,32,255,65]}
{"__REALTIME_TIMESTAMP":"1700000000300000","MESSAGE":"usb-storage 3-1:1.0: USB Mass Storage device detected"}
{"MESSAGE": 5}
{not json usb
"#;
        let ins = parse_log(text, "journal");
        assert_eq!(ins.len(), 1);
        assert_eq!(ins[0].vendor_id.as_deref(), Some("0951"));
        assert_eq!(ins[0].time.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(ins[0].serial.as_deref(), Some("\u{fffd}A"));
        assert!(ins[0].storage);
        let f = findings(dedupe(ins), &MediaRegister::default());
        assert_eq!(f[0].detail.as_ref().unwrap()["serial_quality"], "garbage");
        assert_eq!(f[0].severity, Severity::Medium);
    }

    #[test]
    fn port_syntax() {
        assert!(is_port("1-1"));
        assert!(is_port("2-1.4.3"));
        assert!(!is_port("1-"));
        assert!(!is_port("-1"));
        assert!(!is_port("usb1"));
        assert!(!is_port("1-1:1.0"));
    }
}
