//! USB storage history on Windows from the registry (issue 12): every USB
//! storage device Windows ever installed has a key
//! `HKLM\SYSTEM\CurrentControlSet\Enum\USBSTOR\<Class>&Ven_<V>&Prod_<P>&Rev_<R>\<instance>`,
//! whose instance id is the device's USB serial number plus `&<LUN>` — or,
//! when the device reports no serial, an id Windows invented (its second
//! character is `&`, e.g. `7&2a4b1c9&0`), which names the port, not the
//! device. The instance's device properties
//! (`Properties\{83da6326-97a6-4088-9453-a1923f573b29}\0064`/`0066`/`0067`,
//! FILETIMEs) record the first install, last arrival and last removal;
//! `Enum\USB\VID_xxxx&PID_yyyy\<serial>` gives the USB ids for the same
//! serial, and `MountedDevices` the drive letter last given.
//!
//! Pure parsing over [`RawUsbStor`] (what the Windows reader collects, or
//! what a test injects), so it is tested on every host; the registry
//! reader is in `windows/`.

use crate::identity::{Identity, serial_quality};
use mijian_policy::MediaRegister;
use mijian_report::{Finding, FindingKind, Severity};
use serde::Serialize;
use serde_json::json;

/// The class key's name: `Disk&Ven_SanDisk&Prod_Cruzer_Blade&Rev_1.00`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeviceKey {
    pub class: String,
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub revision: Option<String>,
}

/// Parse a USBSTOR device key name. `_` stands for spaces in the INQUIRY
/// strings (Windows replaces them); it is turned back into spaces.
pub fn parse_device_key(name: &str) -> Option<DeviceKey> {
    let mut parts = name.split('&');
    let class = parts.next().filter(|c| !c.is_empty())?.to_string();
    let mut k = DeviceKey {
        class,
        ..DeviceKey::default()
    };
    for p in parts {
        let field = |prefix: &str| {
            p.strip_prefix(prefix)
                .map(|v| v.replace('_', " ").trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if let Some(v) = field("Ven_") {
            k.vendor = Some(v);
        } else if let Some(v) = field("Prod_") {
            k.product = Some(v);
        } else if let Some(v) = field("Rev_") {
            k.revision = Some(v);
        }
    }
    (k.vendor.is_some() || k.product.is_some()).then_some(k)
}

/// The serial in a USBSTOR instance id (`4C530001231219117583&0` →
/// `4C530001231219117583`), and whether Windows invented it (second
/// character `&`: the device reported no serial).
pub fn serial_of_instance(instance: &str) -> (Option<String>, bool) {
    let generated = instance.chars().nth(1) == Some('&');
    if generated {
        return (None, true);
    }
    let serial = match instance.rsplit_once('&') {
        Some((s, lun)) if !lun.is_empty() && lun.chars().all(|c| c.is_ascii_digit()) => s,
        _ => instance,
    };
    ((!serial.is_empty()).then(|| serial.to_string()), false)
}

/// A FILETIME (100 ns since 1601-01-01 UTC) as RFC 3339.
pub fn filetime_rfc3339(ft: u64) -> Option<String> {
    const EPOCH_DIFF_SECS: i64 = 11_644_473_600;
    if ft == 0 {
        return None;
    }
    let secs = i64::try_from(ft / 10_000_000).ok()? - EPOCH_DIFF_SECS;
    let t = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A FILETIME property value (`REG_BINARY` or the `0xFFFF0010` property
/// type, 8 little-endian bytes).
pub fn filetime_from_bytes(b: &[u8]) -> Option<String> {
    let a: [u8; 8] = b.get(..8)?.try_into().ok()?;
    filetime_rfc3339(u64::from_le_bytes(a))
}

/// `VID_0781&PID_5581` → (`0781`, `5581`), lowercase as the register writes them.
pub fn parse_usb_ids(key: &str) -> Option<(String, String)> {
    let mut vid = None;
    let mut pid = None;
    for p in key.split('&') {
        let up = p.to_ascii_uppercase();
        if let Some(v) = up.strip_prefix("VID_") {
            vid = Some(v.to_ascii_lowercase());
        } else if let Some(v) = up.strip_prefix("PID_") {
            pid = Some(v.to_ascii_lowercase());
        }
    }
    let ok = |s: &String| s.len() == 4 && s.chars().all(|c| c.is_ascii_hexdigit());
    match (vid, pid) {
        (Some(v), Some(p)) if ok(&v) && ok(&p) => Some((v, p)),
        _ => None,
    }
}

/// A `MountedDevices` value: `\DosDevices\E:` with data naming a USBSTOR
/// device (`_??_USBSTOR#Disk&Ven_…#<instance>#{53f56307-…}`, UTF-16LE).
/// Returns the drive letter and the instance id.
pub fn parse_mounted_device(name: &str, data: &[u8]) -> Option<(String, String)> {
    let letter = name.strip_prefix(r"\DosDevices\")?.to_string();
    if !data.len().is_multiple_of(2) || data.len() > 4096 {
        return None;
    }
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let text = String::from_utf16(&units).ok()?;
    let rest = text
        .strip_prefix(r"\??\")
        .or_else(|| text.strip_prefix("_??_"))?;
    let mut parts = rest.split('#');
    if !parts.next()?.eq_ignore_ascii_case("USBSTOR") {
        return None;
    }
    let _device = parts.next()?;
    let instance = parts.next()?.to_string();
    Some((letter, instance))
}

/// What the reader found for one USBSTOR instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RawUsbStor {
    /// The device key name (`Disk&Ven_…`).
    pub device_key: String,
    /// The instance key name (`<serial>&0`).
    pub instance: String,
    pub friendly_name: Option<String>,
    /// FILETIMEs of properties 0064 (first install), 0066 (last arrival),
    /// 0067 (last removal), when readable (SYSTEM only).
    pub first_install: Option<String>,
    pub last_arrival: Option<String>,
    pub last_removal: Option<String>,
    /// The instance key's last write time (a fallback for "last seen").
    pub key_written: Option<String>,
    /// From `Enum\USB\VID_…&PID_…\<serial>`.
    pub vendor_id: Option<String>,
    pub product_id: Option<String>,
    /// Drive letters `MountedDevices` last gave it.
    pub drive_letters: Vec<String>,
}

/// One `usb_history` finding per instance, matched against the register
/// on the fields the registry shows (USB ids and serial).
pub fn findings(devices: &[RawUsbStor], register: &MediaRegister) -> Vec<Finding> {
    let mut out = Vec::new();
    for d in devices {
        let key = parse_device_key(&d.device_key).unwrap_or_default();
        let (serial, generated) = serial_of_instance(&d.instance);
        let id = Identity {
            vendor_id: d.vendor_id.clone(),
            product_id: d.product_id.clone(),
            serial: serial.clone(),
            serial_quality: serial_quality(serial.as_deref()),
            bus: Some("usb".into()),
            scsi_vendor: key.vendor.clone(),
            scsi_model: key.product.clone(),
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
        let first = d.first_install.clone();
        let last = d.last_arrival.clone().or_else(|| d.key_written.clone());
        let name = d.friendly_name.clone().unwrap_or_else(|| {
            format!(
                "{} {}",
                key.vendor.as_deref().unwrap_or(""),
                key.product.as_deref().unwrap_or("")
            )
            .trim()
            .to_string()
        });
        f.message = Some(format!(
            "USB storage {}:{} {} serial {}{}{}: {}",
            d.vendor_id.as_deref().unwrap_or("????"),
            d.product_id.as_deref().unwrap_or("????"),
            if name.is_empty() {
                "(no name)"
            } else {
                name.as_str()
            },
            if generated {
                "(none: Windows-generated instance id)"
            } else {
                serial.as_deref().unwrap_or("(none)")
            },
            first
                .as_deref()
                .map(|t| format!(", first seen {t}"))
                .unwrap_or_default(),
            last.as_deref()
                .map(|t| format!(", last seen {t}"))
                .unwrap_or_default(),
            explanation
        ));
        f.detail = Some(json!({
            "source": "registry USBSTOR",
            "vendor_id": d.vendor_id,
            "product_id": d.product_id,
            "vendor": key.vendor,
            "product": key.product,
            "revision": key.revision,
            "class": key.class,
            "friendly_name": d.friendly_name,
            "serial": serial,
            "serial_quality": id.serial_quality.as_str(),
            "windows_generated_serial": generated,
            "instance_id": d.instance,
            "first_seen": first,
            "last_seen": last,
            "last_removal": d.last_removal,
            "drive_letters": d.drive_letters,
            "match": explanation,
        }));
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_key_and_instance() {
        let k = parse_device_key("Disk&Ven_SanDisk&Prod_Cruzer_Blade&Rev_1.00").unwrap();
        assert_eq!(k.class, "Disk");
        assert_eq!(k.vendor.as_deref(), Some("SanDisk"));
        assert_eq!(k.product.as_deref(), Some("Cruzer Blade"));
        assert_eq!(k.revision.as_deref(), Some("1.00"));
        assert!(parse_device_key("Other").is_none());
        assert_eq!(
            serial_of_instance("4C530001231219117583&0"),
            (Some("4C530001231219117583".into()), false)
        );
        assert_eq!(serial_of_instance("7&2a4b1c9&0"), (None, true));
        assert_eq!(
            serial_of_instance("AA00000000000489"),
            (Some("AA00000000000489".into()), false)
        );
        assert_eq!(serial_of_instance(""), (None, false));
    }

    #[test]
    fn times_ids_and_letters() {
        // 2024-03-01T08:00:00Z as FILETIME.
        let ft: u64 = (1_709_280_000 + 11_644_473_600) * 10_000_000;
        assert_eq!(
            filetime_from_bytes(&ft.to_le_bytes()).as_deref(),
            Some("2024-03-01T08:00:00Z")
        );
        assert!(filetime_from_bytes(&[1, 2, 3]).is_none());
        assert_eq!(filetime_rfc3339(0), None);
        assert!(filetime_rfc3339(u64::MAX).is_none());
        assert_eq!(
            parse_usb_ids("VID_0781&PID_5581"),
            Some(("0781".into(), "5581".into()))
        );
        assert_eq!(
            parse_usb_ids("VID_0781&PID_5581&MI_00"),
            Some(("0781".into(), "5581".into()))
        );
        assert!(parse_usb_ids("ROOT_HUB30").is_none());
        let data: Vec<u8> = r"_??_USBSTOR#Disk&Ven_SanDisk&Prod_Cruzer_Blade&Rev_1.00#4C530001231219117583&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(
            parse_mounted_device(r"\DosDevices\E:", &data),
            Some(("E:".into(), "4C530001231219117583&0".into()))
        );
        assert!(
            parse_mounted_device(
                r"\DosDevices\C:",
                &[0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0, 0, 0, 0]
            )
            .is_none()
        );
        assert!(parse_mounted_device(r"\DosDevices\E:", &[1]).is_none());
    }

    #[test]
    fn findings_match_register_and_flag_generated_serials() {
        let reg = MediaRegister {
            media: vec![mijian_policy::MediumEntry {
                id: "BM-001".into(),
                serial: Some("4C530001231219117583".into()),
                vendor_id: Some("0781".into()),
                product_id: Some("5581".into()),
                fs_uuid: None,
                label: None,
                level: None,
                holder: None,
                kind: None,
                description: None,
            }],
        };
        let known = RawUsbStor {
            device_key: "Disk&Ven_SanDisk&Prod_Cruzer_Blade&Rev_1.00".into(),
            instance: "4C530001231219117583&0".into(),
            vendor_id: Some("0781".into()),
            product_id: Some("5581".into()),
            first_install: Some("2024-03-01T08:00:00Z".into()),
            ..RawUsbStor::default()
        };
        let anon = RawUsbStor {
            device_key: "Disk&Ven_Generic&Prod_Flash_Disk&Rev_8.07".into(),
            instance: "7&2a4b1c9&0".into(),
            ..RawUsbStor::default()
        };
        let f = findings(&[known, anon], &reg);
        assert_eq!(f[0].registered, Some(true));
        assert_eq!(f[0].medium_id.as_deref(), Some("BM-001"));
        assert_eq!(f[0].severity, Severity::Info);
        let d1 = f[1].detail.as_ref().unwrap();
        assert_eq!(f[1].registered, Some(false));
        assert_eq!(d1["windows_generated_serial"], true);
        assert_eq!(d1["serial"], serde_json::Value::Null);
        assert_eq!(d1["vendor"], "Generic");
    }
}
