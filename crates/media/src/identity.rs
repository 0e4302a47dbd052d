//! The composite identity of a medium. No single field is trusted (serials are
//! cloned, vendor/product ids are shared by every stick of a model), so the
//! identity keeps every field it could read and where it came from, and
//! grades the serial number.

use serde::Serialize;

/// Everything known about a medium. Absent fields are unknown, not empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Block device node (`/dev/sdb1`), or the mount source when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// `major:minor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devno: Option<String>,
    /// Kernel name of the whole disk (`sdb`, `mmcblk0`, `sr0`, `loop3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<String>,
    /// Transport: `usb`, `mmc`, `ata`, `scsi`, `loop`, `virtual`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
    /// USB idVendor / idProduct, 4 lowercase hex digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// USB iSerialNumber (or the MMC card serial), as the device reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    pub serial_quality: SerialQuality,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// SCSI INQUIRY vendor and model (trimmed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scsi_vendor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scsi_model: Option<String>,
    /// Size of the mounted block device in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Partition table of the whole disk: `dos` or `gpt`, and its id as blkid
    /// prints PTUUID (`1a2b3c4d`, or a lowercase GUID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pt_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pt_uuid: Option<String>,
    /// Filesystem type, UUID and label as blkid prints them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Loop devices: the backing file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backing_file: Option<String>,
    /// Where the fields came from: `mountinfo`, `sysfs`, `udev`, `superblock`.
    pub sources: Vec<&'static str>,
}

impl Identity {
    pub(crate) fn add_source(&mut self, s: &'static str) {
        if !self.sources.contains(&s) {
            self.sources.push(s);
        }
    }

    /// A short human description: `vfat 1A2B-3C4D "BM017" (0781:5581 serial 4C53…)`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.fs_type {
            parts.push(t.clone());
        }
        if let Some(u) = &self.fs_uuid {
            parts.push(u.clone());
        }
        if let Some(l) = &self.label {
            parts.push(format!("\"{l}\""));
        }
        let mut usb = Vec::new();
        if let (Some(v), Some(p)) = (&self.vendor_id, &self.product_id) {
            usb.push(format!("{v}:{p}"));
        }
        if let Some(m) = self.product.as_ref().or(self.scsi_model.as_ref()) {
            usb.push(m.clone());
        }
        if let Some(s) = &self.serial {
            usb.push(format!("serial {s}"));
        }
        if !usb.is_empty() {
            parts.push(format!("({})", usb.join(" ")));
        }
        if parts.is_empty() {
            "unidentified medium".to_string()
        } else {
            parts.join(" ")
        }
    }
}

/// How much a serial number can be relied on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SerialQuality {
    /// Looks like a real, individual serial.
    Ok,
    /// The device reports none (or it could not be read).
    #[default]
    Missing,
    /// Control characters, non-ASCII bytes or similar garbage.
    Garbage,
    /// A value many devices share (controller defaults such as `0123456789ABCDEF`).
    KnownDuplicate,
    /// One character repeated, or too short to tell devices apart.
    Weak,
}

impl SerialQuality {
    pub fn as_str(self) -> &'static str {
        match self {
            SerialQuality::Ok => "ok",
            SerialQuality::Missing => "missing",
            SerialQuality::Garbage => "garbage",
            SerialQuality::KnownDuplicate => "known_duplicate",
            SerialQuality::Weak => "weak",
        }
    }

    /// Whether the serial identifies one device.
    pub fn trustworthy(self) -> bool {
        self == SerialQuality::Ok
    }
}

/// Serial numbers that cheap controllers ship on every unit (collected from
/// usb.ids discussions, udev bug reports and vendors' mass-production tools).
const KNOWN_DUPLICATES: &[&str] = &[
    "0123456789ABCDEF",
    "0123456789",
    "123456789ABCDEF",
    "1234567890",
    "1234567890ABCDEF",
    "000000000000",
    "0000000000000000",
    "00000000000000000000",
    "000000000001",
    "0000000000000001",
    "AA00000000000489",
    "AA00000000000485",
    "AA04012700007245",
    "FFFFFFFFFFFF",
    "FFFFFFFFFFFFFFFF",
    "1234567890ABCD",
    "12345678",
    "0",
    "USB",
    "SERIAL",
    "0000000000000000000000000000",
];

/// Grade a serial number.
pub fn serial_quality(serial: Option<&str>) -> SerialQuality {
    let Some(s) = serial else {
        return SerialQuality::Missing;
    };
    let t = s.trim();
    if t.is_empty() {
        return SerialQuality::Missing;
    }
    if !t.chars().all(|c| c.is_ascii_graphic() || c == ' ') || t.contains('\u{fffd}') {
        return SerialQuality::Garbage;
    }
    if KNOWN_DUPLICATES.iter().any(|k| k.eq_ignore_ascii_case(t)) {
        return SerialQuality::KnownDuplicate;
    }
    let first = t.chars().next();
    if t.len() < 4 || t.chars().all(|c| Some(c) == first) {
        return SerialQuality::Weak;
    }
    SerialQuality::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_serials() {
        assert_eq!(serial_quality(None), SerialQuality::Missing);
        assert_eq!(serial_quality(Some("  ")), SerialQuality::Missing);
        assert_eq!(
            serial_quality(Some("4C530001230915103392")),
            SerialQuality::Ok
        );
        assert_eq!(
            serial_quality(Some("0123456789abcdef")),
            SerialQuality::KnownDuplicate
        );
        assert_eq!(
            serial_quality(Some("AA00000000000489")),
            SerialQuality::KnownDuplicate
        );
        assert_eq!(
            serial_quality(Some("000000000000")),
            SerialQuality::KnownDuplicate
        );
        assert_eq!(serial_quality(Some("7777777777")), SerialQuality::Weak);
        assert_eq!(serial_quality(Some("ab")), SerialQuality::Weak);
        assert_eq!(serial_quality(Some("ab\u{1}cd")), SerialQuality::Garbage);
        assert_eq!(serial_quality(Some("序列号1234")), SerialQuality::Garbage);
        assert_eq!(serial_quality(Some("ab\u{fffd}cd")), SerialQuality::Garbage);
    }

    #[test]
    fn summary_reads_well() {
        let id = Identity {
            fs_type: Some("vfat".into()),
            fs_uuid: Some("1A2B-3C4D".into()),
            label: Some("BM017".into()),
            vendor_id: Some("0781".into()),
            product_id: Some("5581".into()),
            product: Some("Ultra".into()),
            serial: Some("4C53".into()),
            ..Identity::default()
        };
        assert_eq!(
            id.summary(),
            "vfat 1A2B-3C4D \"BM017\" (0781:5581 Ultra serial 4C53)"
        );
        assert_eq!(Identity::default().summary(), "unidentified medium");
    }
}
