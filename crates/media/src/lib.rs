//! Removable media (issue 5): which removable media are mounted, who they
//! are, whether the register (`media.toml`, CONTRACT §3) knows them, and the
//! `removable_media` findings (CONTRACT §4) that say so.
//!
//! The pipeline for one mount: [`mountinfo`] line → removable? ([`sysfs`]
//! ancestry: USB, MMC/SD, optical, `removable=1`; or mounted under a media
//! root) → composite [`identity::Identity`] (sysfs, the [`udev`] database,
//! and the [`superblock`] itself when udev has nothing) → [`register`] match
//! → [`MountedMedium`] carrying its finding. [`watch::MountWatcher`] turns
//! changes of the mount table into [`watch::MountEvent`]s without busy
//! polling; [`history`] reads earlier USB storage insertions from the kernel
//! logs; [`enforce`] optionally remounts or unmounts unregistered media.
//!
//! This crate never signs, queues or sends: the agent turns findings into
//! reports. It never panics on hostile input (mountinfo lines, sysfs and
//! udev files, crafted superblocks): bad data becomes unknown fields.
//!
//! ```no_run
//! use mijian_media::{MediaOptions, mounted_now};
//! let register = mijian_policy::MediaRegister::default();
//! for m in mounted_now(&MediaOptions::default(), &register) {
//!     println!("{} {:?}", m.mount_point.display(), m.finding.registered);
//! }
//! ```

pub mod enforce;
pub mod history;
pub mod identity;
#[cfg(unix)]
pub mod mountinfo;
pub mod register;
pub mod storage_descriptor;
pub mod superblock;
pub mod sysfs;
pub mod udev;
pub mod usbstor;
#[cfg(unix)]
pub mod watch;
// Windows (issue 12): drive letters instead of mountinfo, the device's
// storage descriptor instead of sysfs/udev, USBSTOR instead of kernel logs;
// the same `MountedMedium`, findings, watcher API and register matching.
#[cfg(windows)]
pub mod windows;
#[cfg(windows)]
pub use windows::watch;
#[cfg(windows)]
pub use windows::{mounted_now, path_text, try_mounted_now, usb_history};

pub use enforce::{Enforcement, EnforcementPolicy, enforce};
#[cfg(unix)]
pub use history::usb_history;
pub use identity::{Identity, SerialQuality};
#[cfg(unix)]
pub use mountinfo::MountEntry;
pub use register::{MatchResult, MatchStatus, match_register};
pub use sysfs::RemovableReason;

use mijian_policy::Classification;
#[cfg(unix)]
use mijian_policy::MediaRegister;
use mijian_report::{Finding, FindingKind, Severity};
use serde_json::{Value, json};
#[cfg(unix)]
use std::fs;
#[cfg(unix)]
use std::io::Read;
#[cfg(unix)]
use std::os::unix::ffi::OsStrExt;
#[cfg(unix)]
use std::os::unix::fs::{FileTypeExt, MetadataExt};
#[cfg(unix)]
use std::path::Path;
use std::path::PathBuf;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("cannot read the mount table {path}: {source}")]
    MountTable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// Where to look and what to treat as removable.
#[derive(Debug, Clone)]
pub struct MediaOptions {
    /// Anything mounted at or under these is a removable medium, whatever
    /// its device (CONTRACT §8 `[media] roots`).
    pub roots: Vec<PathBuf>,
    /// procfs root; the mount table is `<proc_root>/self/mountinfo`.
    pub proc_root: PathBuf,
    /// sysfs root (`/sys`), or a captured tree.
    pub sysfs_root: PathBuf,
    /// udev runtime dir (`/run/udev`); the database is `<udev_root>/data`.
    pub udev_root: PathBuf,
    /// Device nodes (`/dev`).
    pub dev_root: PathBuf,
    /// Read filesystem superblocks and partition tables from the device when
    /// udev has no identity (needs read access to the device node).
    pub read_superblocks: bool,
}

impl Default for MediaOptions {
    fn default() -> Self {
        MediaOptions {
            roots: ["/media", "/run/media", "/mnt"].map(PathBuf::from).to_vec(),
            proc_root: PathBuf::from("/proc"),
            sysfs_root: PathBuf::from("/sys"),
            udev_root: PathBuf::from("/run/udev"),
            dev_root: PathBuf::from("/dev"),
            read_superblocks: true,
        }
    }
}

impl MediaOptions {
    /// Live-host defaults with these media roots.
    pub fn with_roots(roots: Vec<PathBuf>) -> Self {
        MediaOptions {
            roots,
            ..MediaOptions::default()
        }
    }

    /// The mount table this process sees.
    pub fn mountinfo_path(&self) -> PathBuf {
        self.proc_root.join("self").join("mountinfo")
    }
}

/// What happened to the medium, written as `detail.event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// Found mounted at a check or at daemon start.
    Present,
    /// Mounted while the daemon watched.
    Mount,
    /// Unmounted while the daemon watched.
    Unmount,
}

impl MediaEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaEvent::Present => "present",
            MediaEvent::Mount => "mount",
            MediaEvent::Unmount => "unmount",
        }
    }
}

/// A removable medium mounted now.
#[derive(Debug, Clone)]
pub struct MountedMedium {
    pub mount_point: PathBuf,
    /// Mount id from mountinfo (unique while mounted).
    pub mount_id: u64,
    /// Device node, or the mount source when there is none (`fusefat`).
    pub device: String,
    pub major: u32,
    pub minor: u32,
    pub fs_type: String,
    pub read_only: bool,
    pub removable: RemovableReason,
    pub identity: Identity,
    pub matched: MatchResult,
    /// The `removable_media` finding for this medium.
    pub finding: Finding,
}

impl MountedMedium {
    /// Whether the register knows this medium.
    pub fn registered(&self) -> bool {
        self.matched.status == MatchStatus::Registered
    }

    /// Tie a content finding made on this medium to it: `mount_point`,
    /// `registered`, `medium_id`, `device`. A classified file on a medium
    /// that is not registered is the worst case: severity `critical`. A
    /// marking above the medium's registered level is at least `high`.
    pub fn tag(&self, f: &mut Finding) {
        f.mount_point = self.finding.mount_point.clone();
        f.registered = Some(self.registered());
        f.medium_id = self.matched.medium_id.clone();
        if f.device.is_none() {
            f.device = Some(self.device.clone());
        }
        let classified = matches!(
            f.kind,
            FindingKind::MarkedClassified | FindingKind::UnmarkedClassified
        );
        let mut medium = json!({
            "status": self.matched.status.as_str(),
            "identity": self.identity.summary(),
        });
        if classified && !self.registered() {
            f.severity = Severity::Critical;
            medium["worst_case"] = Value::from(format!(
                "classified content on an {} removable medium: the worst case",
                self.matched.status.as_str()
            ));
        } else if classified
            && let (Some(registered), Some(level)) = (
                self.matched.level,
                f.marking
                    .as_ref()
                    .and_then(|m| m.level.parse::<Classification>().ok()),
            )
            && level > registered
        {
            f.severity = f.severity.max(Severity::High);
            medium["over_level"] = Value::from(format!(
                "marking {level} exceeds the medium's registered level {registered}"
            ));
        }
        merge_detail(f, "medium", medium);
    }
}

fn merge_detail(f: &mut Finding, key: &str, v: Value) {
    match &mut f.detail {
        Some(Value::Object(map)) => {
            map.insert(key.to_string(), v);
        }
        Some(other) => {
            let old = other.take();
            f.detail = Some(json!({ "detail": old, key: v }));
        }
        None => f.detail = Some(json!({ key: v })),
    }
}

/// A path as report text: UTF-8 as is, other bytes as `\xNN`.
#[cfg(unix)]
pub fn path_text(p: &Path) -> String {
    let b = p.as_os_str().as_bytes();
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let mut out = String::new();
            let mut rest = b;
            while !rest.is_empty() {
                match std::str::from_utf8(rest) {
                    Ok(s) => {
                        out.push_str(s);
                        break;
                    }
                    Err(e) => {
                        let (good, bad) = rest.split_at(e.valid_up_to());
                        out.push_str(std::str::from_utf8(good).unwrap_or_default());
                        let n = e.error_len().unwrap_or(bad.len()).max(1);
                        for byte in &bad[..n] {
                            out.push_str(&format!("\\x{byte:02x}"));
                        }
                        rest = &bad[n..];
                    }
                }
            }
            out
        }
    }
}

/// Filesystems that are never media even under a media root.
#[cfg(unix)]
const PSEUDO_FS: &[&str] = &[
    "autofs",
    "tmpfs",
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "tracefs",
    "fusectl",
    "binfmt_misc",
    "mqueue",
    "configfs",
    "efivarfs",
    "pstore",
    "bpf",
    "hugetlbfs",
    "ramfs",
    "nsfs",
    "overlay",
    "rpc_pipefs",
    "nfsd",
];

/// Why a mount is a removable medium, or `None`.
#[cfg(unix)]
pub fn removable_reason(
    opts: &MediaOptions,
    entry: &MountEntry,
    block: Option<&sysfs::BlockInfo>,
) -> Option<RemovableReason> {
    if let Some(r) = block.and_then(|b| b.removable) {
        return Some(r);
    }
    let under_root = opts.roots.iter().any(|r| entry.mount_point.starts_with(r));
    (under_root && !PSEUDO_FS.contains(&entry.fs_type.as_str()))
        .then_some(RemovableReason::MediaRoot)
}

#[cfg(unix)]
fn dev_major(rdev: u64) -> u32 {
    (((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff)) as u32
}
#[cfg(unix)]
fn dev_minor(rdev: u64) -> u32 {
    (((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff)) as u32
}

#[cfg(unix)]
fn is_block_dev(p: &Path, major: u32, minor: u32) -> bool {
    fs::metadata(p).is_ok_and(|m| {
        m.file_type().is_block_device()
            && dev_major(m.rdev()) == major
            && dev_minor(m.rdev()) == minor
    })
}

/// The block device behind a mount: `major:minor` from mountinfo, or, for
/// filesystems that report an anonymous device (btrfs, ntfs-3g's `fuseblk`:
/// `0:NN`), the device named by the mount source: `/sys/class/block/<name>/dev`
/// for `/dev/<name>`, else the source node's `st_rdev`.
#[cfg(unix)]
pub fn block_devno(opts: &MediaOptions, entry: &MountEntry) -> Option<(u32, u32)> {
    if entry.major != 0 {
        return Some((entry.major, entry.minor));
    }
    let src = Path::new(&entry.source);
    if let Ok(name) = src.strip_prefix("/dev")
        && name.components().count() == 1
        && let Some(dev) = sysfs::attr(
            &opts.sysfs_root.join("class").join("block").join(name),
            "dev",
        )
        && let Ok(d) = mountinfo::parse_devno(dev.as_bytes())
    {
        return Some(d);
    }
    if !src.is_absolute() {
        return None;
    }
    let m = fs::metadata(src).ok()?;
    m.file_type()
        .is_block_device()
        .then(|| (dev_major(m.rdev()), dev_minor(m.rdev())))
}

/// The device node of `major:minor`: the mount source if it is that node,
/// `/dev/block/MAJ:MIN`, or `/dev/<kernel name>`.
#[cfg(unix)]
fn device_node(
    opts: &MediaOptions,
    entry: &MountEntry,
    devno: Option<(u32, u32)>,
    name: Option<&str>,
) -> Option<PathBuf> {
    let (major, minor) = devno?;
    let src = Path::new(&entry.source);
    if src.is_absolute() && is_block_dev(src, major, minor) {
        return Some(src.to_path_buf());
    }
    let by_devno = opts.dev_root.join("block").join(format!("{major}:{minor}"));
    if is_block_dev(&by_devno, major, minor) {
        return Some(by_devno);
    }
    let by_name = opts.dev_root.join(name?);
    is_block_dev(&by_name, major, minor).then_some(by_name)
}

#[cfg(unix)]
fn node_for(opts: &MediaOptions, devno: &str, name: &str) -> Option<PathBuf> {
    let (ma, mi) = mountinfo::parse_devno(devno.as_bytes()).ok()?;
    let by_devno = opts.dev_root.join("block").join(devno);
    if is_block_dev(&by_devno, ma, mi) {
        return Some(by_devno);
    }
    let by_name = opts.dev_root.join(name);
    is_block_dev(&by_name, ma, mi).then_some(by_name)
}

/// Build the composite identity of a mounted filesystem.
#[cfg(unix)]
pub fn identify(
    opts: &MediaOptions,
    entry: &MountEntry,
    block: Option<&sysfs::BlockInfo>,
) -> Identity {
    let devno = block_devno(opts, entry);
    let mut id = Identity {
        devno: Some(devno.map_or_else(|| entry.devno(), |(a, b)| format!("{a}:{b}"))),
        fs_type: Some(entry.fs_type.clone()),
        ..Identity::default()
    };
    id.add_source("mountinfo");
    let node = device_node(opts, entry, devno, block.map(|b| b.name.as_str()));
    id.device = Some(
        node.as_deref()
            .map(path_text)
            .unwrap_or_else(|| entry.source.clone()),
    );

    if let Some(b) = block {
        id.add_source("sysfs");
        id.disk = Some(b.disk.clone());
        id.bus = b.bus.clone();
        id.size_bytes = b.size_bytes;
        id.vendor_id = b.usb_vendor_id.clone();
        id.product_id = b.usb_product_id.clone();
        id.serial = b.usb_serial.clone().or_else(|| b.mmc_serial.clone());
        id.manufacturer = b.usb_manufacturer.clone();
        id.product = b.usb_product.clone().or_else(|| b.mmc_name.clone());
        id.scsi_vendor = b.scsi_vendor.clone();
        id.scsi_model = b.scsi_model.clone();
        id.backing_file = b.loop_backing_file.clone();
    }

    if let Some((major, minor)) = devno {
        let props = udev::block_props(&opts.udev_root, major, minor);
        let disk_props = block
            .and_then(|b| b.disk_devno.as_deref())
            .and_then(|d| mountinfo::parse_devno(d.as_bytes()).ok())
            .and_then(|(ma, mi)| udev::block_props(&opts.udev_root, ma, mi));
        for p in [props.as_ref(), disk_props.as_ref()].into_iter().flatten() {
            id.add_source("udev");
            let fill = |slot: &mut Option<String>, v: Option<String>| {
                if slot.is_none() {
                    *slot = v;
                }
            };
            if entry.fs_type == "fuseblk"
                && let Some(t) = p.get("ID_FS_TYPE")
            {
                id.fs_type = Some(t.to_string());
            }
            fill(&mut id.fs_uuid, p.get("ID_FS_UUID").map(str::to_string));
            fill(&mut id.label, p.get_enc("ID_FS_LABEL"));
            fill(
                &mut id.pt_type,
                p.get("ID_PART_TABLE_TYPE").map(str::to_string),
            );
            fill(
                &mut id.pt_uuid,
                p.get("ID_PART_TABLE_UUID").map(str::to_string),
            );
            if p.get("ID_BUS") == Some("usb") || p.get("ID_USB_DRIVER").is_some() {
                fill(
                    &mut id.vendor_id,
                    p.get("ID_USB_VENDOR_ID")
                        .or(p.get("ID_VENDOR_ID"))
                        .map(str::to_ascii_lowercase),
                );
                fill(
                    &mut id.product_id,
                    p.get("ID_USB_MODEL_ID")
                        .or(p.get("ID_MODEL_ID"))
                        .map(str::to_ascii_lowercase),
                );
                fill(
                    &mut id.serial,
                    p.get("ID_USB_SERIAL_SHORT")
                        .or(p.get("ID_SERIAL_SHORT"))
                        .map(str::to_string),
                );
                fill(&mut id.bus, Some("usb".into()));
            }
            fill(&mut id.serial, p.get("ID_SERIAL_SHORT").map(str::to_string));
            fill(&mut id.scsi_vendor, p.get_enc("ID_VENDOR"));
            fill(&mut id.scsi_model, p.get_enc("ID_MODEL"));
        }
    }

    if opts.read_superblocks
        && let Some(node) = &node
    {
        if (id.fs_uuid.is_none() || id.label.is_none() || entry.fs_type == "fuseblk")
            && let Ok(Some(p)) = superblock::probe_path(node)
        {
            id.add_source("superblock");
            if entry.fs_type == "fuseblk" {
                id.fs_type = Some(p.fs_type.clone());
            }
            if id.fs_uuid.is_none() {
                id.fs_uuid = p.uuid;
            }
            if id.label.is_none() {
                id.label = p.label;
            }
        }
        if id.pt_type.is_none()
            && let Some(b) = block
            && b.is_partition
            && let Some(disk_node) = b
                .disk_devno
                .as_deref()
                .and_then(|d| node_for(opts, d, &b.disk))
            && let Ok(mut f) = fs::File::open(&disk_node)
            && let Some(pt) = superblock::probe_pt(&mut f)
        {
            id.add_source("superblock");
            id.pt_type = Some(pt.pt_type);
            id.pt_uuid = pt.pt_uuid;
        }
    }
    id.serial_quality = identity::serial_quality(id.serial.as_deref());
    id
}

/// Turn one mount into a medium, if it is removable.
#[cfg(unix)]
pub fn medium_for(
    opts: &MediaOptions,
    register: &MediaRegister,
    entry: &MountEntry,
    event: MediaEvent,
) -> Option<MountedMedium> {
    let devno = block_devno(opts, entry);
    let block = devno.and_then(|(ma, mi)| sysfs::block_info(&opts.sysfs_root, ma, mi).ok());
    let removable = removable_reason(opts, entry, block.as_ref())?;
    let identity = identify(opts, entry, block.as_ref());
    let matched = match_register(&identity, register);
    let mut m = MountedMedium {
        mount_point: entry.mount_point.clone(),
        mount_id: entry.mount_id,
        device: identity
            .device
            .clone()
            .unwrap_or_else(|| entry.source.clone()),
        major: devno.map_or(entry.major, |d| d.0),
        minor: devno.map_or(entry.minor, |d| d.1),
        fs_type: identity
            .fs_type
            .clone()
            .unwrap_or_else(|| entry.fs_type.clone()),
        read_only: entry.read_only(),
        removable,
        identity,
        matched,
        finding: Finding::new(FindingKind::RemovableMedia, Severity::Info),
    };
    m.finding = medium_finding(&m, event);
    Some(m)
}

/// The `removable_media` finding for a medium and event.
pub fn medium_finding(m: &MountedMedium, event: MediaEvent) -> Finding {
    let severity = match (event, m.matched.status) {
        (MediaEvent::Unmount, _) => Severity::Info,
        (_, MatchStatus::Registered) if m.matched.weak => Severity::Low,
        (_, MatchStatus::Registered) => Severity::Info,
        (_, MatchStatus::Suspicious | MatchStatus::Unregistered) => Severity::High,
    };
    let mut f = Finding::new(FindingKind::RemovableMedia, severity);
    f.device = Some(m.device.clone());
    f.registered = Some(m.registered());
    f.medium_id = m.matched.medium_id.clone();
    f.mount_point = Some(path_text(&m.mount_point));
    let verb = match event {
        MediaEvent::Present => "mounted at",
        MediaEvent::Mount => "mounted at",
        MediaEvent::Unmount => "unmounted from",
    };
    let who = match m.matched.status {
        MatchStatus::Registered => format!(
            "registered medium {}",
            m.matched.medium_id.as_deref().unwrap_or("?")
        ),
        MatchStatus::Suspicious => "SUSPICIOUS removable medium".to_string(),
        MatchStatus::Unregistered => "unregistered removable medium".to_string(),
    };
    f.message = Some(format!(
        "{who} {} [{}] {verb} {}: {}",
        m.device,
        m.identity.summary(),
        path_text(&m.mount_point),
        m.matched.explanation
    ));
    let mut notes = Vec::new();
    if let Some(n) = register::serial_note(m.identity.serial_quality)
        && m.identity.bus.as_deref() == Some("usb")
    {
        notes.push(n);
    }
    f.detail = Some(json!({
        "event": event.as_str(),
        "removable": m.removable.as_str(),
        "read_only": m.read_only,
        "identity": m.identity,
        "match": m.matched,
        "notes": notes,
    }));
    f
}

/// Read the mount table named by the options.
#[cfg(unix)]
pub fn read_mount_table(opts: &MediaOptions) -> Result<Vec<MountEntry>, MediaError> {
    let path = opts.mountinfo_path();
    let mut buf = Vec::new();
    fs::File::open(&path)
        .and_then(|f| f.take(16 * 1024 * 1024).read_to_end(&mut buf))
        .map_err(|source| MediaError::MountTable {
            path: path.clone(),
            source,
        })?;
    Ok(mountinfo::parse(&buf).0)
}

/// Removable media mounted now, or why the mount table could not be read.
#[cfg(unix)]
pub fn try_mounted_now(
    opts: &MediaOptions,
    register: &MediaRegister,
) -> Result<Vec<MountedMedium>, MediaError> {
    Ok(read_mount_table(opts)?
        .iter()
        .filter_map(|e| medium_for(opts, register, e, MediaEvent::Present))
        .collect())
}

/// Removable media mounted now (live host only). Empty when the mount table
/// cannot be read; use [`try_mounted_now`] to learn why.
#[cfg(unix)]
pub fn mounted_now(opts: &MediaOptions, register: &MediaRegister) -> Vec<MountedMedium> {
    try_mounted_now(opts, register).unwrap_or_default()
}

#[cfg(test)]
#[cfg(unix)]
mod tests;
