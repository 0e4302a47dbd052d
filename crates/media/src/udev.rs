//! The udev database (`/run/udev/data/b<major>:<minor>`), written by
//! systemd-udevd: one record per line, `E:KEY=value` for properties (the
//! blkid results `ID_FS_*`, `ID_PART_TABLE_*` and the USB ids `ID_VENDOR_ID`,
//! `ID_SERIAL_SHORT` ...), `S:` symlinks, `I:`/`G:`/`Q:`/`V:` bookkeeping.
//! Only `E:` lines are used; the file is read with a size bound and any other
//! content is ignored.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;

const DB_MAX: u64 = 256 * 1024;

/// Properties of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UdevProps(pub BTreeMap<String, String>);

impl UdevProps {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A value from a `*_ENC` key (`\x20` escapes decoded), else the plain key.
    pub fn get_enc(&self, key: &str) -> Option<String> {
        if let Some(v) = self.get(&format!("{key}_ENC")) {
            let s = decode_hex_escapes(v);
            if !s.is_empty() {
                return Some(s);
            }
        }
        self.get(key).map(str::to_string)
    }
}

/// Read `udev_root/data/b<major>:<minor>`; `None` when udev has no record.
pub fn block_props(udev_root: &Path, major: u32, minor: u32) -> Option<UdevProps> {
    let path = udev_root.join("data").join(format!("b{major}:{minor}"));
    let f = fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    f.take(DB_MAX).read_to_end(&mut buf).ok()?;
    Some(parse(&buf))
}

/// Parse a database file.
pub fn parse(bytes: &[u8]) -> UdevProps {
    let text = String::from_utf8_lossy(bytes);
    let mut map = BTreeMap::new();
    for line in text.lines() {
        if let Some(kv) = line.strip_prefix("E:")
            && let Some((k, v)) = kv.split_once('=')
        {
            map.insert(k.to_string(), v.to_string());
        }
    }
    UdevProps(map)
}

/// Decode udev's `\xNN` escapes (used by `ID_FS_LABEL_ENC`, `ID_MODEL_ENC`).
/// Decoded bytes that are not UTF-8 are tried as GBK (Chinese FAT labels),
/// then shown lossily.
pub fn decode_hex_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1] == b'x'
            && let Ok(h) = std::str::from_utf8(&b[i + 2..i + 4])
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    crate::superblock::decode_label_bytes(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_properties() {
        let db = b"S:disk/by-uuid/1A2B-3C4D\nI:123\nE:ID_FS_UUID=1A2B-3C4D\nE:ID_FS_LABEL=MY_STICK\nE:ID_FS_LABEL_ENC=MY\\x20STICK\nE:EMPTY=\nE:bad line\nG:systemd\n";
        let p = parse(db);
        assert_eq!(p.get("ID_FS_UUID"), Some("1A2B-3C4D"));
        assert_eq!(p.get_enc("ID_FS_LABEL").as_deref(), Some("MY STICK"));
        assert_eq!(p.get("EMPTY"), None);
        assert_eq!(p.get("S"), None);
    }

    #[test]
    fn decodes_escapes_and_gbk() {
        assert_eq!(decode_hex_escapes("a\\x2fb"), "a/b");
        assert_eq!(decode_hex_escapes("\\x"), "\\x");
        assert_eq!(decode_hex_escapes("\\xzz1"), "\\xzz1");
        // 机要 in GBK.
        assert_eq!(decode_hex_escapes("\\xbb\\xfa\\xd2\\xaa01"), "机要01");
        assert_eq!(decode_hex_escapes("\\xe6\\x9c\\xba"), "机");
    }
}
