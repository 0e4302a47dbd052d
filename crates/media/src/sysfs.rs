//! Removable detection and device identity from sysfs
//! (`Documentation/ABI/stable/sysfs-block`, `sysfs-bus-usb`).
//!
//! `/sys/dev/block/MAJ:MIN` is a symlink into `/sys/devices/...`; walking up
//! from the block device through its parents tells the transport (a `usb`
//! device, an `mmc` host, a SCSI device) the way `lsblk` decides HOTPLUG.
//! The symlink is resolved lexically inside the given sysfs root so captured
//! trees under `fixtures/media/` behave like the real `/sys` and nothing
//! outside the root is read. Attribute files are read with a size bound.

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Why a block device counts as removable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovableReason {
    /// A USB device is in the ancestry (U盘, 移动硬盘, card reader).
    Usb,
    /// An MMC/SD host is in the ancestry (SD card in a built-in reader).
    Mmc,
    /// Optical drive (`sr*`, SCSI type 5): 光盘.
    Optical,
    /// FireWire, PCMCIA, memory stick and other hot-plug buses.
    Hotplug,
    /// `removable` is 1 on the disk (or `removable` on a parent device).
    RemovableFlag,
    /// Mounted under a configured media root, whatever its device.
    MediaRoot,
}

impl RemovableReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RemovableReason::Usb => "usb",
            RemovableReason::Mmc => "mmc",
            RemovableReason::Optical => "optical",
            RemovableReason::Hotplug => "hotplug",
            RemovableReason::RemovableFlag => "removable_flag",
            RemovableReason::MediaRoot => "media_root",
        }
    }
}

/// What sysfs says about one block device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockInfo {
    /// The resolved device directory (inside the sysfs root).
    pub path: PathBuf,
    /// Kernel name of the device itself (`sdb1`) and of its disk (`sdb`).
    pub name: String,
    pub disk: String,
    /// `major:minor` of the whole disk when the device is a partition.
    pub disk_devno: Option<String>,
    pub is_partition: bool,
    pub size_bytes: Option<u64>,
    pub removable: Option<RemovableReason>,
    /// `usb`, `mmc`, `scsi`, `ata`, `nvme`, `loop`, `virtual`.
    pub bus: Option<String>,
    pub usb_vendor_id: Option<String>,
    pub usb_product_id: Option<String>,
    pub usb_serial: Option<String>,
    pub usb_manufacturer: Option<String>,
    pub usb_product: Option<String>,
    pub mmc_serial: Option<String>,
    pub mmc_name: Option<String>,
    pub scsi_vendor: Option<String>,
    pub scsi_model: Option<String>,
    pub loop_backing_file: Option<String>,
}

/// Errors reading sysfs: the device is unknown there.
#[derive(Debug, thiserror::Error)]
pub enum SysfsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: link leaves the sysfs root")]
    Escapes { path: PathBuf },
}

const ATTR_MAX: u64 = 4096;

/// Read a small attribute file, trimmed; `None` when absent or unreadable.
pub(crate) fn attr(dir: &Path, name: &str) -> Option<String> {
    let f = fs::File::open(dir.join(name)).ok()?;
    let mut buf = Vec::new();
    f.take(ATTR_MAX).read_to_end(&mut buf).ok()?;
    let s = String::from_utf8_lossy(&buf).trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// Lexical normalisation: `..` pops a component, `.` vanishes. `None` when
/// `..` would climb above the start.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    Some(out)
}

/// Lexically resolve `base.join(rel)` and require the result to stay inside
/// `root` (both already normalised).
fn resolve_inside(root: &Path, base: &Path, rel: &Path) -> Option<PathBuf> {
    let joined = if rel.is_absolute() {
        // An absolute target (captures made with `cp -a` of absolute links)
        // is taken relative to the root.
        root.join(rel.strip_prefix("/").ok()?)
    } else {
        base.join(rel)
    };
    let out = normalize(&joined)?;
    out.starts_with(root).then_some(out)
}

/// The last component of a symlink's target (`subsystem` → `usb`).
fn link_name(p: &Path) -> Option<String> {
    let t = fs::read_link(p).ok()?;
    t.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// Inspect block device `major:minor` under `sysfs_root` (normally `/sys`).
pub fn block_info(sysfs_root: &Path, major: u32, minor: u32) -> Result<BlockInfo, SysfsError> {
    let normalized = normalize(sysfs_root).ok_or_else(|| SysfsError::Escapes {
        path: sysfs_root.to_path_buf(),
    })?;
    let sysfs_root = normalized.as_path();
    let link_dir = sysfs_root.join("dev").join("block");
    let link = link_dir.join(format!("{major}:{minor}"));
    let path = match fs::read_link(&link) {
        Ok(target) => resolve_inside(sysfs_root, &link_dir, &target)
            .ok_or_else(|| SysfsError::Escapes { path: link.clone() })?,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => link.clone(),
        Err(e) => {
            return Err(SysfsError::Io {
                path: link,
                source: e,
            });
        }
    };
    if !path.is_dir() {
        return Err(SysfsError::Io {
            path,
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let mut info = BlockInfo {
        name: file_name(&path),
        path: path.clone(),
        ..BlockInfo::default()
    };
    info.is_partition = path.join("partition").exists();
    info.size_bytes = attr(&path, "size")
        .and_then(|s| s.parse::<u64>().ok())
        .and_then(|sectors| sectors.checked_mul(512));
    let disk_dir = if info.is_partition {
        path.parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| path.clone())
    } else {
        path.clone()
    };
    info.disk = file_name(&disk_dir);
    if info.is_partition {
        info.disk_devno = attr(&disk_dir, "dev");
    }
    if let Some(b) = attr(&disk_dir, "loop/backing_file") {
        info.loop_backing_file = Some(b);
        info.bus = Some("loop".into());
    }
    let disk_removable = attr(&disk_dir, "removable").as_deref() == Some("1");
    if info.disk.starts_with("sr") || attr(&disk_dir, "device/type").as_deref() == Some("5") {
        info.removable = Some(RemovableReason::Optical);
    }

    // Walk up the parents: the first USB device (the one with idVendor) is
    // the stick or the card reader; SCSI devices give INQUIRY vendor/model.
    let devices = sysfs_root.join("devices");
    let mut dir = disk_dir.parent().map(Path::to_path_buf);
    let mut hops = 0;
    let mut parent_removable = false;
    while let Some(d) = dir {
        if !d.starts_with(&devices) || d == devices || hops > 64 {
            break;
        }
        hops += 1;
        let subsystem = link_name(&d.join("subsystem"));
        match subsystem.as_deref() {
            Some("usb") => {
                if info.usb_vendor_id.is_none() && d.join("idVendor").exists() {
                    info.usb_vendor_id = attr(&d, "idVendor").map(|s| s.to_ascii_lowercase());
                    info.usb_product_id = attr(&d, "idProduct").map(|s| s.to_ascii_lowercase());
                    info.usb_serial = attr(&d, "serial");
                    info.usb_manufacturer = attr(&d, "manufacturer");
                    info.usb_product = attr(&d, "product");
                }
                info.removable.get_or_insert(RemovableReason::Usb);
                info.bus.get_or_insert_with(|| "usb".into());
            }
            Some("mmc") => {
                if info.mmc_serial.is_none() {
                    info.mmc_serial = attr(&d, "serial");
                    info.mmc_name = attr(&d, "name");
                }
                info.removable.get_or_insert(RemovableReason::Mmc);
                info.bus.get_or_insert_with(|| "mmc".into());
            }
            Some("mmc_host") => {
                info.removable.get_or_insert(RemovableReason::Mmc);
                info.bus.get_or_insert_with(|| "mmc".into());
            }
            Some("scsi") if info.scsi_vendor.is_none() && d.join("vendor").exists() => {
                info.scsi_vendor = attr(&d, "vendor");
                info.scsi_model = attr(&d, "model");
            }
            Some("ieee1394" | "firewire" | "pcmcia" | "memstick" | "ccw") => {
                info.removable.get_or_insert(RemovableReason::Hotplug);
            }
            Some("nvme") => {
                info.bus.get_or_insert_with(|| "nvme".into());
            }
            Some("ata") => {
                info.bus.get_or_insert_with(|| "ata".into());
            }
            _ => {}
        }
        // PCI/ACPI devices say `removable` (vs `fixed`) for hot-plug slots.
        if attr(&d, "removable").as_deref() == Some("removable") {
            parent_removable = true;
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    if info.scsi_vendor.is_some() {
        info.bus.get_or_insert_with(|| "scsi".into());
    }
    if disk_removable || parent_removable {
        info.removable.get_or_insert(RemovableReason::RemovableFlag);
    }
    if info.bus.is_none() && disk_dir.starts_with(devices.join("virtual")) {
        info.bus = Some("virtual".into());
    }
    Ok(info)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

// Live sysfs and mountinfo: Linux only.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn resolve_stays_inside() {
        let root = Path::new("/x/sys");
        let base = Path::new("/x/sys/dev/block");
        assert_eq!(
            resolve_inside(root, base, Path::new("../../devices/a/b")),
            Some(PathBuf::from("/x/sys/devices/a/b"))
        );
        assert_eq!(resolve_inside(root, base, Path::new("../../../etc")), None);
        assert_eq!(
            resolve_inside(root, base, Path::new("/devices/v/block/loop0")),
            Some(PathBuf::from("/x/sys/devices/v/block/loop0"))
        );
    }

    #[test]
    fn live_loop_or_root_device_is_readable() {
        // Whatever backs `/` here, its sysfs entry (if any) never panics.
        // And a device the kernel lists under /sys/dev/block resolves, with
        // the kernel name that its uevent file gives.
        let text = std::fs::read("/proc/self/mountinfo").unwrap_or_default();
        let (entries, _) = crate::mountinfo::parse(&text);
        for e in entries {
            let r = block_info(Path::new("/sys"), e.major, e.minor);
            let link = format!("/sys/dev/block/{}:{}", e.major, e.minor);
            let Ok(uevent) = std::fs::read_to_string(format!("{link}/uevent")) else {
                continue;
            };
            let info = r.unwrap_or_else(|err| panic!("{link} exists but: {err}"));
            let devname = uevent
                .lines()
                .find_map(|l| l.strip_prefix("DEVNAME="))
                .unwrap_or_default();
            assert_eq!(info.name, devname, "{link}");
        }
    }
}
