//! Filesystem and partition-table identity read from the medium itself, for
//! when udev has no record (no udevd in containers and minimal installs, or a
//! `--root` image). Formats: vfat (FAT12/16/32, label from the root-directory
//! volume entry, else the boot sector), exfat (serial, label entry in the root
//! directory), ntfs (serial, `$Volume` name), ext2/3/4, xfs, btrfs, iso9660
//! (PVD/Joliet label, date-UUID); MBR disk signature and GPT disk GUID.
//! Strings are formatted the way `blkid` prints them, so register entries can
//! be copied from `blkid` output.
//!
//! Every read is bounded (at most ~1 MiB per medium) and every offset comes
//! from checked arithmetic: a crafted image yields `None`, never a panic.

use std::io::{Read, Seek, SeekFrom};

/// Filesystem identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsProbe {
    /// `vfat`, `exfat`, `ntfs`, `ext2`, `ext3`, `ext4`, `xfs`, `btrfs`, `iso9660`.
    pub fs_type: String,
    pub uuid: Option<String>,
    pub label: Option<String>,
    /// `FAT12`/`FAT16`/`FAT32` for vfat, `Joliet Extension` for iso9660.
    pub version: Option<String>,
}

/// Partition-table identity (`PTTYPE`, `PTUUID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtProbe {
    pub pt_type: String,
    pub pt_uuid: Option<String>,
}

/// Upper bound on the bytes read while following a directory's clusters.
const DIR_READ_MAX: u64 = 1024 * 1024;

fn read_at<R: Read + Seek>(r: &mut R, off: u64, len: usize) -> Option<Vec<u8>> {
    r.seek(SeekFrom::Start(off)).ok()?;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).ok()?;
    Some(buf)
}

fn le16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(off..off.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn le32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn le64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Decode label bytes: UTF-8, else GBK (Chinese Windows writes FAT labels in
/// the OEM code page 936), else lossy.
pub fn decode_label_bytes(b: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(b) {
        return s.to_string();
    }
    let (s, _, had_errors) = encoding_rs::GBK.decode(b);
    if !had_errors {
        return s.into_owned();
    }
    String::from_utf8_lossy(b).into_owned()
}

fn utf16(b: &[u8], big_endian: bool) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| {
            if big_endian {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        })
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

fn trimmed(s: String) -> Option<String> {
    let t = s.trim_end_matches(['\0', ' ']).to_string();
    (!t.is_empty()).then_some(t)
}

/// Lowercase dashed form of 16 UUID bytes as stored (ext, xfs, btrfs).
fn uuid_dashed(b: &[u8]) -> Option<String> {
    if b.len() != 16 || b.iter().all(|&x| x == 0) {
        return None;
    }
    let h = hex::encode(b);
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// A GUID stored mixed-endian (GPT): first three fields little-endian.
fn guid_mixed(b: &[u8]) -> Option<String> {
    if b.len() != 16 || b.iter().all(|&x| x == 0) {
        return None;
    }
    let mut s = [0u8; 16];
    s[0..4].copy_from_slice(&[b[3], b[2], b[1], b[0]]);
    s[4..6].copy_from_slice(&[b[5], b[4]]);
    s[6..8].copy_from_slice(&[b[7], b[6]]);
    s[8..16].copy_from_slice(&b[8..16]);
    uuid_dashed(&s)
}

/// `1A2B-3C4D` from a little-endian 32-bit volume serial (vfat, exfat).
fn serial_dashed(v: u32) -> String {
    format!("{:04X}-{:04X}", v >> 16, v & 0xffff)
}

/// Probe a filesystem at the start of `r` (a partition or a whole image).
pub fn probe_fs<R: Read + Seek>(r: &mut R) -> Option<FsProbe> {
    probe_iso9660(r)
        .or_else(|| probe_ext(r))
        .or_else(|| probe_xfs(r))
        .or_else(|| probe_btrfs(r))
        .or_else(|| probe_ntfs(r))
        .or_else(|| probe_exfat(r))
        .or_else(|| probe_vfat(r))
}

/// Probe a filesystem in a file or block device node.
pub fn probe_path(path: &std::path::Path) -> std::io::Result<Option<FsProbe>> {
    let mut f = std::fs::File::open(path)?;
    Ok(probe_fs(&mut f))
}

// ---------------------------------------------------------------- FAT ----

struct FatGeometry {
    bps: u64,
    spc: u64,
    reserved: u64,
    nfats: u64,
    fat_size: u64,
    root_entries: u64,
    total: u64,
    fat32: bool,
}

fn fat_geometry(bs: &[u8]) -> Option<FatGeometry> {
    if !(bs[0] == 0xEB || bs[0] == 0xE9) {
        return None;
    }
    let bps = u64::from(le16(bs, 11)?);
    let spc = u64::from(bs[13]);
    let reserved = u64::from(le16(bs, 14)?);
    let nfats = u64::from(bs[16]);
    let root_entries = u64::from(le16(bs, 17)?);
    let total16 = u64::from(le16(bs, 19)?);
    let media = bs[21];
    let fat16 = u64::from(le16(bs, 22)?);
    let total32 = u64::from(le32(bs, 32)?);
    let fat32sz = u64::from(le32(bs, 36)?);
    if ![512, 1024, 2048, 4096].contains(&bps)
        || spc == 0
        || !spc.is_power_of_two()
        || reserved == 0
        || !(1..=4).contains(&nfats)
        || !(media == 0xF0 || media >= 0xF8)
    {
        return None;
    }
    let fat32 = fat16 == 0;
    let fat_size = if fat32 { fat32sz } else { fat16 };
    if fat_size == 0 {
        return None;
    }
    let total = if total16 != 0 { total16 } else { total32 };
    Some(FatGeometry {
        bps,
        spc,
        reserved,
        nfats,
        fat_size,
        root_entries,
        total,
        fat32,
    })
}

/// The volume-label entry of a FAT directory region, if any.
/// `Err(())` means the end-of-directory marker was seen.
fn fat_dir_label(buf: &[u8]) -> Result<Option<Vec<u8>>, ()> {
    for e in buf.chunks_exact(32) {
        match e[0] {
            0x00 => return Err(()),
            0xE5 => continue,
            _ => {}
        }
        let attr = e[11];
        if attr == 0x0F || attr & 0x10 != 0 || attr & 0x08 == 0 {
            continue;
        }
        let mut name = e[0..11].to_vec();
        if name[0] == 0x05 {
            name[0] = 0xE5;
        }
        return Ok(Some(name));
    }
    Ok(None)
}

fn fat_label(raw: &[u8]) -> Option<String> {
    let s = trimmed(decode_label_bytes(raw))?;
    (s != "NO NAME").then_some(s)
}

fn probe_vfat<R: Read + Seek>(r: &mut R) -> Option<FsProbe> {
    let bs = read_at(r, 0, 512)?;
    let g = fat_geometry(&bs)?;
    let (sig_off, id_off, label_off, type_off) = if g.fat32 {
        (66, 67, 71, 82)
    } else {
        (38, 39, 43, 54)
    };
    let sig = bs[sig_off];
    // Old DOS 2.x/3.x FAT has no extended boot signature: then require the
    // 0x55AA trailer so random data is not taken for FAT.
    if !(sig == 0x29 || sig == 0x28) && bs[510..512] != [0x55, 0xAA] {
        return None;
    }
    let uuid = (sig == 0x29 || sig == 0x28)
        .then(|| le32(&bs, id_off).map(serial_dashed))
        .flatten();
    let boot_label = (sig == 0x29)
        .then(|| fat_label(&bs[label_off..label_off + 11]))
        .flatten();
    let _ = type_off;

    let root_dir_sectors = (g.root_entries * 32).div_ceil(g.bps);
    let first_data = g
        .reserved
        .checked_add(g.nfats.checked_mul(g.fat_size)?)?
        .checked_add(root_dir_sectors)?;
    let clusters = g.total.saturating_sub(first_data) / g.spc;
    let version = if clusters < 4085 {
        "FAT12"
    } else if clusters < 65525 {
        "FAT16"
    } else {
        "FAT32"
    };

    let mut root_label = None;
    if !g.fat32 {
        let start = (g.reserved + g.nfats * g.fat_size) * g.bps;
        let len = (g.root_entries * 32).min(DIR_READ_MAX);
        if let Some(buf) = read_at(r, start, usize::try_from(len).ok()?)
            && let Ok(Some(l)) = fat_dir_label(&buf)
        {
            root_label = fat_label(&l);
        }
    } else {
        let cluster_bytes = g.spc.checked_mul(g.bps)?;
        let fat_start = g.reserved.checked_mul(g.bps)?;
        let mut cluster = u64::from(le32(&bs, 44)?);
        let mut read = 0u64;
        while (2..0x0FFF_FFF7).contains(&cluster) && read < DIR_READ_MAX {
            let off = first_data
                .checked_add((cluster - 2).checked_mul(g.spc)?)?
                .checked_mul(g.bps)?;
            let Some(buf) = read_at(r, off, usize::try_from(cluster_bytes).ok()?) else {
                break;
            };
            read += cluster_bytes;
            match fat_dir_label(&buf) {
                Ok(Some(l)) => {
                    root_label = fat_label(&l);
                    break;
                }
                Err(()) => break,
                Ok(None) => {}
            }
            let Some(next) = read_at(r, fat_start.checked_add(cluster.checked_mul(4)?)?, 4) else {
                break;
            };
            cluster = u64::from(le32(&next, 0)? & 0x0FFF_FFFF);
        }
    }
    Some(FsProbe {
        fs_type: "vfat".into(),
        uuid,
        label: root_label.or(boot_label),
        version: Some(version.into()),
    })
}

// -------------------------------------------------------------- exFAT ----

fn probe_exfat<R: Read + Seek>(r: &mut R) -> Option<FsProbe> {
    let bs = read_at(r, 0, 512)?;
    if &bs[3..11] != b"EXFAT   " {
        return None;
    }
    let bps_shift = u32::from(bs[108]);
    let spc_shift = u32::from(bs[109]);
    if !(9..=12).contains(&bps_shift) || bps_shift + spc_shift > 25 {
        return None;
    }
    let fat_off = u64::from(le32(&bs, 80)?) << bps_shift;
    let heap = u64::from(le32(&bs, 88)?) << bps_shift;
    let serial = le32(&bs, 100)?;
    let cluster_bytes = 1u64 << (bps_shift + spc_shift);
    let mut cluster = u64::from(le32(&bs, 96)?);
    let mut label = None;
    let mut read = 0u64;
    'chain: while (2..0xFFFF_FFF7).contains(&cluster) && read < DIR_READ_MAX {
        let off = heap.checked_add((cluster - 2).checked_mul(cluster_bytes)?)?;
        let len = cluster_bytes.min(DIR_READ_MAX);
        let Some(buf) = read_at(r, off, usize::try_from(len).ok()?) else {
            break;
        };
        read += len;
        for e in buf.chunks_exact(32) {
            match e[0] {
                0x00 => break 'chain,
                0x83 => {
                    let n = usize::from(e[1]).min(11);
                    label = trimmed(utf16(&e[2..2 + 2 * n], false));
                    break 'chain;
                }
                _ => {}
            }
        }
        let Some(next) = read_at(r, fat_off.checked_add(cluster.checked_mul(4)?)?, 4) else {
            break;
        };
        cluster = u64::from(le32(&next, 0)?);
    }
    Some(FsProbe {
        fs_type: "exfat".into(),
        uuid: Some(serial_dashed(serial)),
        label,
        version: None,
    })
}

// --------------------------------------------------------------- NTFS ----

fn probe_ntfs<R: Read + Seek>(r: &mut R) -> Option<FsProbe> {
    let bs = read_at(r, 0, 512)?;
    if &bs[3..11] != b"NTFS    " {
        return None;
    }
    let serial = le64(&bs, 0x48)?;
    Some(FsProbe {
        fs_type: "ntfs".into(),
        uuid: (serial != 0).then(|| format!("{serial:016X}")),
        label: ntfs_label(r, &bs),
        version: None,
    })
}

/// The volume name: attribute 0x60 of MFT record 3 (`$Volume`).
fn ntfs_label<R: Read + Seek>(r: &mut R, bs: &[u8]) -> Option<String> {
    let bps = u64::from(le16(bs, 11)?);
    if ![512, 1024, 2048, 4096].contains(&bps) {
        return None;
    }
    let spc_raw = bs[13];
    let cluster = if spc_raw <= 0x80 {
        u64::from(spc_raw) * bps
    } else {
        1u64.checked_shl(256 - u32::from(spc_raw))?
    };
    let cpr = bs[0x40] as i8;
    let rec_size = if cpr > 0 {
        u64::try_from(cpr).ok()?.checked_mul(cluster)?
    } else {
        1u64.checked_shl(u32::from(cpr.unsigned_abs()))?
    };
    if cluster == 0 || !(256..=65536).contains(&rec_size) {
        return None;
    }
    let mft = le64(bs, 0x30)?.checked_mul(cluster)?;
    let mut rec = read_at(
        r,
        mft.checked_add(rec_size.checked_mul(3)?)?,
        usize::try_from(rec_size).ok()?,
    )?;
    if &rec[0..4] != b"FILE" {
        return None;
    }
    // Update sequence fix-ups: the last two bytes of every 512-byte stride
    // were replaced by the sequence number; put the saved bytes back.
    let usa_off = usize::from(le16(&rec, 4)?);
    let usa_count = usize::from(le16(&rec, 6)?);
    for i in 1..usa_count {
        let saved = rec.get(usa_off + 2 * i..usa_off + 2 * i + 2)?.to_vec();
        let end = i * 512;
        if end > rec.len() {
            break;
        }
        rec[end - 2..end].copy_from_slice(&saved);
    }
    let mut a = usize::from(le16(&rec, 0x14)?);
    for _ in 0..64 {
        let ty = le32(&rec, a)?;
        if ty == 0xFFFF_FFFF {
            return None;
        }
        let len = usize::try_from(le32(&rec, a + 4)?).ok()?;
        if len < 24 {
            return None;
        }
        if ty == 0x60 && *rec.get(a + 8)? == 0 {
            let vlen = usize::try_from(le32(&rec, a + 0x10)?).ok()?;
            let voff = usize::from(le16(&rec, a + 0x14)?);
            let start = a.checked_add(voff)?;
            let v = rec.get(start..start.checked_add(vlen)?)?;
            return trimmed(utf16(v, false));
        }
        a = a.checked_add(len)?;
    }
    None
}

// ----------------------------------------------------------- ext2/3/4 ----

fn probe_ext<R: Read + Seek>(r: &mut R) -> Option<FsProbe> {
    let sb = read_at(r, 1024, 1024)?;
    if le16(&sb, 0x38)? != 0xEF53 {
        return None;
    }
    let compat = le32(&sb, 0x5C)?;
    let incompat = le32(&sb, 0x60)?;
    let ro_compat = le32(&sb, 0x64)?;
    if incompat & 0x8 != 0 {
        // An external journal device, not a filesystem.
        return None;
    }
    // As libblkid: anything ext3 cannot handle makes it ext4.
    const EXT3_INCOMPAT_SUPPORTED: u32 = 0x2 | 0x4 | 0x10;
    const EXT3_RO_COMPAT_SUPPORTED: u32 = 0x1 | 0x2 | 0x4;
    let fs_type =
        if incompat & !EXT3_INCOMPAT_SUPPORTED != 0 || ro_compat & !EXT3_RO_COMPAT_SUPPORTED != 0 {
            "ext4"
        } else if compat & 0x4 != 0 {
            "ext3"
        } else {
            "ext2"
        };
    Some(FsProbe {
        fs_type: fs_type.into(),
        uuid: uuid_dashed(&sb[0x68..0x78]),
        label: trimmed(decode_label_bytes(nul_cut(&sb[0x78..0x88]))),
        version: None,
    })
}

fn nul_cut(b: &[u8]) -> &[u8] {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..n]
}

// ---------------------------------------------------------- xfs/btrfs ----

fn probe_xfs<R: Read + Seek>(r: &mut R) -> Option<FsProbe> {
    let sb = read_at(r, 0, 512)?;
    if &sb[0..4] != b"XFSB" {
        return None;
    }
    Some(FsProbe {
        fs_type: "xfs".into(),
        uuid: uuid_dashed(&sb[32..48]),
        label: trimmed(decode_label_bytes(nul_cut(&sb[108..120]))),
        version: None,
    })
}

fn probe_btrfs<R: Read + Seek>(r: &mut R) -> Option<FsProbe> {
    let sb = read_at(r, 0x10000, 4096)?;
    if &sb[0x40..0x48] != b"_BHRfS_M" {
        return None;
    }
    Some(FsProbe {
        fs_type: "btrfs".into(),
        uuid: uuid_dashed(&sb[0x20..0x30]),
        label: trimmed(decode_label_bytes(nul_cut(&sb[0x12b..0x12b + 256]))),
        version: None,
    })
}

// ------------------------------------------------------------ iso9660 ----

/// `YYYY-MM-DD-HH-MM-SS-cc` from a 17-byte ISO 9660 date, as blkid.
fn iso_date_uuid(d: &[u8]) -> Option<String> {
    let digits = d.get(0..16)?;
    if !digits.iter().all(u8::is_ascii_digit) || digits.iter().all(|&c| c == b'0') {
        return None;
    }
    let s = std::str::from_utf8(digits).ok()?;
    Some(format!(
        "{}-{}-{}-{}-{}-{}-{}",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[8..10],
        &s[10..12],
        &s[12..14],
        &s[14..16]
    ))
}

fn probe_iso9660<R: Read + Seek>(r: &mut R) -> Option<FsProbe> {
    let mut pvd: Option<Vec<u8>> = None;
    let mut joliet: Option<String> = None;
    for i in 0..32u64 {
        let Some(vd) = read_at(r, 32768 + i * 2048, 2048) else {
            break;
        };
        if &vd[1..6] != b"CD001" {
            break;
        }
        match vd[0] {
            1 if pvd.is_none() => pvd = Some(vd),
            2 if matches!(&vd[88..91], b"%/@" | b"%/C" | b"%/E") => {
                joliet = trimmed(utf16(&vd[40..72], true));
            }
            255 => break,
            _ => {}
        }
    }
    let pvd = pvd?;
    let pvd_label = trimmed(decode_label_bytes(&pvd[40..72]));
    // libblkid takes the modification date, else the creation date.
    let uuid = iso_date_uuid(&pvd[830..847]).or_else(|| iso_date_uuid(&pvd[813..830]));
    Some(FsProbe {
        fs_type: "iso9660".into(),
        uuid,
        version: joliet.as_ref().map(|_| "Joliet Extension".to_string()),
        label: joliet.or(pvd_label),
    })
}

// ---------------------------------------------------- partition table ----

/// Probe a partition table on a whole disk.
pub fn probe_pt<R: Read + Seek>(r: &mut R) -> Option<PtProbe> {
    for sector in [512u64, 4096] {
        if let Some(h) = read_at(r, sector, 92)
            && &h[0..8] == b"EFI PART"
        {
            return Some(PtProbe {
                pt_type: "gpt".into(),
                pt_uuid: guid_mixed(&h[56..72]),
            });
        }
    }
    let mbr = read_at(r, 0, 512)?;
    if mbr[510..512] != [0x55, 0xAA] {
        return None;
    }
    // A boot sector of a filesystem on the whole disk also ends in 55AA.
    if fat_geometry(&mbr).is_some() || &mbr[3..11] == b"NTFS    " || &mbr[3..11] == b"EXFAT   " {
        return None;
    }
    let entries = &mbr[446..510];
    if !entries.chunks_exact(16).all(|e| e[0] == 0 || e[0] == 0x80) {
        return None;
    }
    let sig = le32(&mbr, 440)?;
    Some(PtProbe {
        pt_type: "dos".into(),
        pt_uuid: (sig != 0).then(|| format!("{sig:08x}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn formats_like_blkid() {
        assert_eq!(serial_dashed(0x1A2B_3C4D), "1A2B-3C4D");
        assert_eq!(
            guid_mixed(&[
                0x78, 0x56, 0x34, 0x12, 0x34, 0x12, 0x78, 0x56, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc,
                0xde, 0xf0
            ])
            .as_deref(),
            Some("12345678-1234-5678-1234-56789abcdef0")
        );
        assert_eq!(
            iso_date_uuid(b"2024010203040500\0").as_deref(),
            Some("2024-01-02-03-04-05-00")
        );
        assert_eq!(iso_date_uuid(b"0000000000000000\0"), None);
    }

    #[test]
    fn empty_and_random_inputs_are_none() {
        assert_eq!(probe_fs(&mut Cursor::new(Vec::new())), None);
        assert_eq!(probe_fs(&mut Cursor::new(vec![0u8; 70000])), None);
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..200 {
            let mut v = vec![0u8; 70000];
            for b in v.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *b = seed as u8;
            }
            let _ = probe_fs(&mut Cursor::new(&v));
            let _ = probe_pt(&mut Cursor::new(&v));
        }
    }

    #[test]
    fn hand_made_fat16_boot_sector_with_root_label() {
        // 512-byte sectors, 4 per cluster, 1 reserved, 2 FATs of 8 sectors,
        // 512 root entries; volume id 1A2B3C4D; boot label "BOOTLBL".
        let mut img = vec![0u8; 64 * 1024];
        img[0] = 0xEB;
        img[1] = 0x3C;
        img[2] = 0x90;
        img[11..13].copy_from_slice(&512u16.to_le_bytes());
        img[13] = 4;
        img[14..16].copy_from_slice(&1u16.to_le_bytes());
        img[16] = 2;
        img[17..19].copy_from_slice(&512u16.to_le_bytes());
        img[19..21].copy_from_slice(&128u16.to_le_bytes());
        img[21] = 0xF8;
        img[22..24].copy_from_slice(&8u16.to_le_bytes());
        img[38] = 0x29;
        img[39..43].copy_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        img[43..54].copy_from_slice(b"BOOTLBL    ");
        img[510] = 0x55;
        img[511] = 0xAA;
        let root = (1 + 2 * 8) * 512;
        // A deleted entry, an LFN entry, then the label entry.
        img[root] = 0xE5;
        img[root + 11] = 0x08;
        img[root + 32] = b'A';
        img[root + 32 + 11] = 0x0F;
        img[root + 64..root + 75].copy_from_slice(b"ROOTLABEL  ");
        img[root + 64 + 11] = 0x08;
        let p = probe_fs(&mut Cursor::new(&img)).unwrap();
        assert_eq!(p.fs_type, "vfat");
        assert_eq!(p.uuid.as_deref(), Some("1A2B-3C4D"));
        assert_eq!(p.label.as_deref(), Some("ROOTLABEL"));
        assert_eq!(p.version.as_deref(), Some("FAT12"));
        // Without the root entry the boot-sector label is used.
        img[root + 64] = 0;
        let p = probe_fs(&mut Cursor::new(&img)).unwrap();
        assert_eq!(p.label.as_deref(), Some("BOOTLBL"));
        // A crafted geometry pointing past the end does not panic.
        img[14..16].copy_from_slice(&0xFFFFu16.to_le_bytes());
        img[22..24].copy_from_slice(&0xFFFFu16.to_le_bytes());
        let p = probe_fs(&mut Cursor::new(&img)).unwrap();
        assert_eq!(p.label.as_deref(), Some("BOOTLBL"));
        assert_eq!(
            probe_pt(&mut Cursor::new(&img)),
            None,
            "a FAT boot sector is not an MBR"
        );
    }

    #[test]
    fn mbr_signature() {
        let mut img = vec![0u8; 4096];
        img[440..444].copy_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        img[446] = 0x80;
        img[510] = 0x55;
        img[511] = 0xAA;
        let p = probe_pt(&mut Cursor::new(&img)).unwrap();
        assert_eq!(p.pt_type, "dos");
        assert_eq!(p.pt_uuid.as_deref(), Some("1a2b3c4d"));
    }
}
