//! Removable media on Windows (issue 12): the drive letters are the mount
//! table. A letter is a medium when `GetDriveTypeW` says removable or
//! CD-ROM, or when a fixed drive sits on a USB/SD/FireWire bus (USB hard
//! disks report `DRIVE_FIXED`). Its identity is the volume's serial, label
//! and filesystem (`GetVolumeInformationW`) plus the device's storage
//! descriptor (bus, vendor, product, serial; [`crate::storage_descriptor`]).
//! The same register matching and findings as on Linux follow.
//!
//! Also here: USB storage history from the registry ([`usb_history`],
//! parsed by [`crate::usbstor`]) and enforcement (`detach`: lock, dismount
//! and eject the volume; a read-only remount does not exist on Windows).

pub mod watch;

use crate::register::match_register;
use crate::storage_descriptor::{self, BUS_1394, BUS_MMC, BUS_SD, BUS_USB, StorageDescriptor};
use crate::usbstor::{self, RawUsbStor};
use crate::{
    Identity, MediaError, MediaEvent, MediaOptions, MountedMedium, RemovableReason, identity,
    medium_finding,
};
use mijian_policy::MediaRegister;
use mijian_report::{Finding, FindingKind, Severity};
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use windows_sys::Win32::Foundation::{
    CloseHandle, GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_SHARE_READ, FILE_SHARE_WRITE, GetDriveTypeW, GetLogicalDrives,
    GetVolumeInformationW, OPEN_EXISTING,
};
use windows_sys::Win32::System::IO::DeviceIoControl;

const DRIVE_REMOVABLE: u32 = 2;
const DRIVE_FIXED: u32 = 3;
const DRIVE_CDROM: u32 = 5;
const FILE_READ_ONLY_VOLUME: u32 = 0x0008_0000;

/// A path as report text (CONTRACT §4: lossless; names that are not valid
/// UTF-16 are escaped, see `mijian_report::path`).
pub fn path_text(p: &Path) -> String {
    mijian_report::encode_path(p).path
}

fn wide(s: &str) -> Vec<u16> {
    std::ffi::OsStr::new(s)
        .encode_wide()
        .chain(Some(0))
        .collect()
}

/// `A:\` … `Z:\` for every letter in use.
pub fn drive_roots() -> Vec<String> {
    // SAFETY: no arguments.
    let mask = unsafe { GetLogicalDrives() };
    (0..26u8)
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| format!("{}:\\", (b'A' + i) as char))
        .collect()
}

struct Handle(HANDLE);
impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: a handle we opened.
        unsafe { CloseHandle(self.0) };
    }
}

fn open_volume(letter: char, access: u32) -> io::Result<Handle> {
    let path = wide(&format!(r"\\.\{letter}:"));
    // SAFETY: NUL-terminated path; the handle is closed by `Handle`.
    let h = unsafe {
        CreateFileW(
            path.as_ptr(),
            access,
            FILE_SHARE_READ | FILE_SHARE_WRITE,
            std::ptr::null(),
            OPEN_EXISTING,
            0,
            std::ptr::null_mut(),
        )
    };
    if h == INVALID_HANDLE_VALUE {
        Err(io::Error::last_os_error())
    } else {
        Ok(Handle(h))
    }
}

fn ioctl(h: &Handle, code: u32, input: &[u8], out: &mut [u8]) -> io::Result<usize> {
    let mut n = 0u32;
    // SAFETY: buffers with their true lengths; synchronous handle.
    let ok = unsafe {
        DeviceIoControl(
            h.0,
            code,
            input.as_ptr().cast(),
            input.len() as u32,
            out.as_mut_ptr().cast(),
            out.len() as u32,
            &mut n,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// The storage descriptor of the device behind a drive letter.
pub fn descriptor(letter: char) -> io::Result<StorageDescriptor> {
    use windows_sys::Win32::System::Ioctl::IOCTL_STORAGE_QUERY_PROPERTY;
    let h = open_volume(letter, 0)?;
    // STORAGE_PROPERTY_QUERY { PropertyId: StorageDeviceProperty (0),
    // QueryType: PropertyStandardQuery (0), AdditionalParameters: [0] }.
    let query = [0u8; 12];
    let mut out = vec![0u8; 4096];
    let n = ioctl(&h, IOCTL_STORAGE_QUERY_PROPERTY, &query, &mut out)?;
    out.truncate(n);
    storage_descriptor::parse(&out).ok_or_else(|| io::Error::other("short storage descriptor"))
}

/// Volume label, serial (`XXXX-XXXX`, as blkid prints a FAT volume id),
/// filesystem (blkid's names) and read-only flag.
fn volume_info(root: &str) -> Option<(Option<String>, String, String, bool)> {
    let w = wide(root);
    let mut label = [0u16; 261];
    let mut fs = [0u16; 261];
    let (mut serial, mut maxc, mut flags) = (0u32, 0u32, 0u32);
    // SAFETY: buffers with their lengths.
    let ok = unsafe {
        GetVolumeInformationW(
            w.as_ptr(),
            label.as_mut_ptr(),
            label.len() as u32,
            &mut serial,
            &mut maxc,
            &mut flags,
            fs.as_mut_ptr(),
            fs.len() as u32,
        )
    };
    if ok == 0 {
        return None;
    }
    let s = |b: &[u16]| {
        String::from_utf16_lossy(&b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())])
    };
    let label = Some(s(&label)).filter(|l| !l.is_empty());
    let fs = match s(&fs).to_ascii_uppercase().as_str() {
        "FAT" | "FAT12" | "FAT16" | "FAT32" => "vfat".to_string(),
        "EXFAT" => "exfat".into(),
        "NTFS" => "ntfs".into(),
        "CDFS" => "iso9660".into(),
        "UDF" => "udf".into(),
        "REFS" => "refs".into(),
        other => other.to_ascii_lowercase(),
    };
    let serial = format!("{:04X}-{:04X}", serial >> 16, serial & 0xffff);
    Some((label, serial, fs, flags & FILE_READ_ONLY_VOLUME != 0))
}

/// Why a drive is removable media, or `None`.
pub fn removable_reason(
    drive_type: u32,
    desc: Option<&StorageDescriptor>,
) -> Option<RemovableReason> {
    let bus = desc.map(|d| d.bus_type);
    match (drive_type, bus) {
        (DRIVE_CDROM, _) => Some(RemovableReason::Optical),
        (DRIVE_REMOVABLE | DRIVE_FIXED, Some(BUS_USB)) => Some(RemovableReason::Usb),
        (DRIVE_REMOVABLE | DRIVE_FIXED, Some(BUS_SD | BUS_MMC)) => Some(RemovableReason::Mmc),
        (DRIVE_REMOVABLE | DRIVE_FIXED, Some(BUS_1394)) => Some(RemovableReason::Hotplug),
        (DRIVE_REMOVABLE, _) => Some(RemovableReason::RemovableFlag),
        _ => None,
    }
}

/// The medium at drive root `root` (`E:\`), if it is one.
pub fn medium_for_drive(
    root: &str,
    register: &MediaRegister,
    event: MediaEvent,
) -> Option<MountedMedium> {
    let letter = root.chars().next()?;
    let w = wide(root);
    // SAFETY: NUL-terminated root path.
    let drive_type = unsafe { GetDriveTypeW(w.as_ptr()) };
    if !matches!(drive_type, DRIVE_REMOVABLE | DRIVE_FIXED | DRIVE_CDROM) {
        return None;
    }
    let desc = descriptor(letter).ok();
    let removable = removable_reason(drive_type, desc.as_ref())?;
    let mut id = Identity {
        device: Some(format!(r"\\.\{letter}:")),
        ..Identity::default()
    };
    let mut read_only = false;
    if let Some((label, serial, fs, ro)) = volume_info(root) {
        id.label = label;
        id.fs_uuid = Some(serial);
        id.fs_type = Some(fs);
        read_only = ro;
        id.add_source("volume");
    }
    if let Some(d) = &desc {
        id.bus = Some(d.bus_name().to_string());
        id.scsi_vendor = d.vendor.clone();
        id.scsi_model = d.product.clone();
        id.product = d.product.clone();
        id.serial = d.serial.clone();
        id.add_source("storage_descriptor");
    }
    id.serial_quality = identity::serial_quality(id.serial.as_deref());
    let matched = match_register(&id, register);
    let mut m = MountedMedium {
        mount_point: PathBuf::from(root),
        mount_id: u64::from(letter as u32),
        device: format!(r"\\.\{letter}:"),
        major: 0,
        minor: 0,
        fs_type: id.fs_type.clone().unwrap_or_default(),
        read_only,
        removable,
        identity: id,
        matched,
        finding: Finding::new(FindingKind::RemovableMedia, Severity::Info),
    };
    m.finding = medium_finding(&m, event);
    Some(m)
}

/// Removable media present now (every drive letter).
pub fn try_mounted_now(
    _opts: &MediaOptions,
    register: &MediaRegister,
) -> Result<Vec<MountedMedium>, MediaError> {
    Ok(drive_roots()
        .iter()
        .filter_map(|r| medium_for_drive(r, register, MediaEvent::Present))
        .collect())
}

pub fn mounted_now(opts: &MediaOptions, register: &MediaRegister) -> Vec<MountedMedium> {
    try_mounted_now(opts, register).unwrap_or_default()
}

/// Not possible on Windows for a mounted volume without a filter driver.
pub fn remount_read_only(_mount_point: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Windows cannot remount a volume read-only; deny write access with the \"Removable Disks: Deny write access\" policy",
    ))
}

/// Lock, dismount and eject the volume at `E:\`.
pub fn detach(mount_point: &Path) -> io::Result<()> {
    use windows_sys::Win32::System::Ioctl::{
        FSCTL_DISMOUNT_VOLUME, FSCTL_LOCK_VOLUME, IOCTL_STORAGE_EJECT_MEDIA,
    };
    let letter = mount_point
        .to_str()
        .and_then(|s| s.chars().next())
        .filter(|c| c.is_ascii_alphabetic())
        .ok_or_else(|| io::Error::other("not a drive letter"))?;
    let h = open_volume(letter, GENERIC_READ | GENERIC_WRITE)?;
    ioctl(&h, FSCTL_LOCK_VOLUME, &[], &mut [])?;
    ioctl(&h, FSCTL_DISMOUNT_VOLUME, &[], &mut [])?;
    // Ejecting fails for fixed USB disks; dismounted is enough.
    let _ = ioctl(&h, IOCTL_STORAGE_EJECT_MEDIA, &[], &mut []);
    Ok(())
}

pub const USBSTOR: &str = r"SYSTEM\CurrentControlSet\Enum\USBSTOR";
pub const ENUM_USB: &str = r"SYSTEM\CurrentControlSet\Enum\USB";
pub const MOUNTED_DEVICES: &str = r"SYSTEM\MountedDevices";
const DEVPKEY_DEVICE_TIMES: &str = r"Properties\{83da6326-97a6-4088-9453-a1923f573b29}";

/// USB storage history. On the live host (`/`): the registry under `hklm`;
/// under `--root DIR` (a Linux tree): that tree's kernel logs.
pub fn usb_history(root: &Path, register: &MediaRegister) -> Vec<Finding> {
    if root != Path::new("/") {
        return crate::history::usb_history(root, register);
    }
    let hklm = winreg::RegKey::predef(winreg::enums::HKEY_LOCAL_MACHINE);
    usbstor::findings(&read_usbstor(&hklm), register)
}

fn sz(k: &winreg::RegKey, name: &str) -> Option<String> {
    k.get_value::<String, _>(name)
        .ok()
        .filter(|s| !s.is_empty())
}

fn property_time(inst: &winreg::RegKey, id: &str) -> Option<String> {
    let k = inst
        .open_subkey_with_flags(
            format!(r"{DEVPKEY_DEVICE_TIMES}\{id}"),
            winreg::enums::KEY_READ,
        )
        .ok()?;
    let v = k.get_raw_value("").ok()?;
    usbstor::filetime_from_bytes(&v.bytes)
}

/// Read `Enum\USBSTOR`, `Enum\USB` and `MountedDevices` under `hklm` (the
/// real HKLM, or a test subtree with the same layout). Bounded.
pub fn read_usbstor(hklm: &winreg::RegKey) -> Vec<RawUsbStor> {
    use winreg::enums::KEY_READ;
    let mut out = Vec::new();
    let Ok(stor) = hklm.open_subkey_with_flags(USBSTOR, KEY_READ) else {
        return out;
    };
    // serial (upper case) → (vid, pid) from Enum\USB.
    let mut ids = std::collections::BTreeMap::new();
    if let Ok(usb) = hklm.open_subkey_with_flags(ENUM_USB, KEY_READ) {
        for dev in usb.enum_keys().flatten().take(4096) {
            let Some((vid, pid)) = usbstor::parse_usb_ids(&dev) else {
                continue;
            };
            if let Ok(k) = usb.open_subkey_with_flags(&dev, KEY_READ) {
                for inst in k.enum_keys().flatten().take(1024) {
                    ids.insert(inst.to_ascii_uppercase(), (vid.clone(), pid.clone()));
                }
            }
        }
    }
    let mut letters: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    if let Ok(md) = hklm.open_subkey_with_flags(MOUNTED_DEVICES, KEY_READ) {
        for (name, v) in md.enum_values().flatten().take(4096) {
            if let Some((l, inst)) = usbstor::parse_mounted_device(&name, &v.bytes) {
                letters
                    .entry(inst.to_ascii_uppercase())
                    .or_default()
                    .push(l);
            }
        }
    }
    for dev in stor.enum_keys().flatten().take(4096) {
        let Ok(dk) = stor.open_subkey_with_flags(&dev, KEY_READ) else {
            continue;
        };
        for inst in dk.enum_keys().flatten().take(1024) {
            let Ok(ik) = dk.open_subkey_with_flags(&inst, KEY_READ) else {
                continue;
            };
            let (serial, _) = usbstor::serial_of_instance(&inst);
            let (vendor_id, product_id) = serial
                .as_ref()
                .and_then(|s| ids.get(&s.to_ascii_uppercase()).cloned())
                .unzip();
            let key_written = ik.query_info().ok().and_then(|i| {
                let ft = (u64::from(i.last_write_time.dwHighDateTime) << 32)
                    | u64::from(i.last_write_time.dwLowDateTime);
                usbstor::filetime_rfc3339(ft)
            });
            out.push(RawUsbStor {
                device_key: dev.clone(),
                instance: inst.clone(),
                friendly_name: sz(&ik, "FriendlyName"),
                first_install: property_time(&ik, "0064"),
                last_arrival: property_time(&ik, "0066"),
                last_removal: property_time(&ik, "0067"),
                key_written,
                vendor_id,
                product_id,
                drive_letters: letters
                    .get(&inst.to_ascii_uppercase())
                    .cloned()
                    .unwrap_or_default(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
