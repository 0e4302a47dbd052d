//! `STORAGE_DEVICE_DESCRIPTOR`, as `IOCTL_STORAGE_QUERY_PROPERTY`
//! (`StorageDeviceProperty`) returns it for a Windows volume or disk: the
//! bus (USB, SD, …), the removable-media bit and the INQUIRY vendor,
//! product and serial strings at offsets inside the buffer (ntddstor.h).
//!
//! Parsed from the raw bytes by hand (rather than by casting to the C
//! struct) so that every offset is bounds-checked — a driver's buffer is
//! input like any other — and so the parser is tested on every host.

use serde::Serialize;

/// `STORAGE_BUS_TYPE` values that matter here (ntddstor.h).
pub const BUS_USB: i32 = 7;
pub const BUS_1394: i32 = 4;
pub const BUS_SD: i32 = 12;
pub const BUS_MMC: i32 = 13;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StorageDescriptor {
    pub bus_type: i32,
    pub removable_media: bool,
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub revision: Option<String>,
    pub serial: Option<String>,
}

impl StorageDescriptor {
    /// The bus as the identity names it.
    pub fn bus_name(&self) -> &'static str {
        match self.bus_type {
            BUS_USB => "usb",
            BUS_SD | BUS_MMC => "mmc",
            BUS_1394 => "firewire",
            1 => "scsi",
            3 | 11 => "ata",
            17 => "nvme",
            _ => "other",
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn string_at(b: &[u8], off: u32) -> Option<String> {
    let off = usize::try_from(off).ok()?;
    if off == 0 || off >= b.len() {
        return None;
    }
    let rest = &b[off..];
    let end = rest
        .iter()
        .position(|&c| c == 0)
        .unwrap_or(rest.len())
        .min(256);
    let s: String = rest[..end]
        .iter()
        .map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                c as char
            } else {
                '\u{fffd}'
            }
        })
        .collect();
    let s = s.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// Parse the descriptor; `None` when the buffer is too short to hold its
/// fixed part.
pub fn parse(b: &[u8]) -> Option<StorageDescriptor> {
    if b.len() < 36 {
        return None;
    }
    // `Size` may claim more than was returned; only what is here is read.
    let size = usize::try_from(u32_at(b, 4)?).ok()?.min(b.len());
    let b = &b[..size.max(36).min(b.len())];
    Some(StorageDescriptor {
        removable_media: b[10] != 0,
        vendor: string_at(b, u32_at(b, 12)?),
        product: string_at(b, u32_at(b, 16)?),
        revision: string_at(b, u32_at(b, 20)?),
        serial: string_at(b, u32_at(b, 24)?),
        bus_type: u32_at(b, 28)? as i32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(bus: i32, strings: &[&str]) -> Vec<u8> {
        let mut b = vec![0u8; 40];
        b[10] = 1;
        b[28..32].copy_from_slice(&bus.to_le_bytes());
        for (i, s) in strings.iter().enumerate() {
            let off = b.len() as u32;
            b[12 + 4 * i..16 + 4 * i].copy_from_slice(&off.to_le_bytes());
            b.extend_from_slice(s.as_bytes());
            b.push(0);
        }
        let n = b.len() as u32;
        b[4..8].copy_from_slice(&n.to_le_bytes());
        b
    }

    #[test]
    fn usb_stick_descriptor() {
        let d = parse(&desc(
            BUS_USB,
            &[
                "SanDisk ",
                "Cruzer Blade    ",
                "1.00",
                "4C530001231219117583",
            ],
        ))
        .unwrap();
        assert_eq!(d.bus_name(), "usb");
        assert!(d.removable_media);
        assert_eq!(d.vendor.as_deref(), Some("SanDisk"));
        assert_eq!(d.product.as_deref(), Some("Cruzer Blade"));
        assert_eq!(d.serial.as_deref(), Some("4C530001231219117583"));
    }

    #[test]
    fn hostile_descriptors() {
        assert!(parse(&[0; 10]).is_none());
        let mut b = desc(BUS_SD, &["X"]);
        // Offsets past the end, and a Size larger than the buffer.
        b[16..20].copy_from_slice(&9999u32.to_le_bytes());
        b[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let d = parse(&b).unwrap();
        assert_eq!(d.vendor.as_deref(), Some("X"));
        assert!(d.product.is_none());
        assert_eq!(d.bus_name(), "mmc");
    }
}
