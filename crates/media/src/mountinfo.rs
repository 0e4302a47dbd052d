//! `/proc/<pid>/mountinfo` parser (proc(5), `Documentation/filesystems/proc.rst`
//! §3.5). Exact: the kernel escapes space, tab, newline and backslash in paths
//! as `\040` `\011` `\012` `\134`; the optional fields are a variable list ended
//! by a lone `-`. Hostile or truncated lines yield an error for that line,
//! never a panic, and never stop the rest of the table from being read.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Unique id of the mount (may be reused after an unmount).
    pub mount_id: u64,
    pub parent_id: u64,
    /// `st_dev` of files on this filesystem.
    pub major: u32,
    pub minor: u32,
    /// The directory of the filesystem that forms the root of this mount.
    pub root: PathBuf,
    /// Where it is mounted, relative to the process's root.
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub mount_options: String,
    /// Optional fields (`shared:1`, `master:2`, `propagate_from:3`, `unbindable`).
    pub optional: Vec<String>,
    /// Filesystem type, e.g. `ext4`, `vfat`, `fuse.fusefat`.
    pub fs_type: String,
    /// Mount source (`/dev/sdb1`, `fusefat`, `none`), unescaped; lossy UTF-8.
    pub source: String,
    /// Per-superblock options.
    pub super_options: String,
}

impl MountEntry {
    /// Whether the mount is read-only (per-mount or superblock option).
    pub fn read_only(&self) -> bool {
        has_opt(&self.mount_options, "ro") || has_opt(&self.super_options, "ro")
    }

    /// `major:minor` as the kernel writes it.
    pub fn devno(&self) -> String {
        format!("{}:{}", self.major, self.minor)
    }
}

fn has_opt(opts: &str, name: &str) -> bool {
    opts.split(',').any(|o| o == name)
}

/// Why a mountinfo line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mountinfo line {line}: {reason}")]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

/// Parse a whole mountinfo table. Bad lines are returned beside the good ones.
pub fn parse(text: &[u8]) -> (Vec<MountEntry>, Vec<LineError>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match parse_line(line) {
            Ok(e) => entries.push(e),
            Err(reason) => errors.push(LineError {
                line: i + 1,
                reason,
            }),
        }
    }
    (entries, errors)
}

/// Parse one line (without its newline).
pub fn parse_line(line: &[u8]) -> Result<MountEntry, String> {
    // Fields are separated by single spaces; escaped characters never contain
    // a literal space, so splitting is exact. Tolerate runs of spaces.
    let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
    let mut next = |what: &str| fields.next().ok_or_else(|| format!("missing {what}"));
    let mount_id = number(next("mount id")?, "mount id")?;
    let parent_id = number(next("parent id")?, "parent id")?;
    let devno = next("major:minor")?;
    let (major, minor) = parse_devno(devno)?;
    let root = PathBuf::from(OsString::from_vec(unescape(next("root")?)));
    let mount_point = PathBuf::from(OsString::from_vec(unescape(next("mount point")?)));
    let mount_options = text(next("mount options")?);
    let mut optional = Vec::new();
    loop {
        let f = next("`-` separator")?;
        if f == b"-" {
            break;
        }
        if optional.len() >= 64 {
            return Err("more than 64 optional fields (no `-` separator?)".into());
        }
        optional.push(text(f));
    }
    let fs_type = text(&unescape(next("filesystem type")?));
    let source = text(&unescape(next("mount source")?));
    // Super options may be missing on very old kernels; tolerate it.
    let super_options = fields.next().map(text).unwrap_or_default();
    Ok(MountEntry {
        mount_id,
        parent_id,
        major,
        minor,
        root,
        mount_point,
        mount_options,
        optional,
        fs_type,
        source,
        super_options,
    })
}

fn number(f: &[u8], what: &str) -> Result<u64, String> {
    std::str::from_utf8(f)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| format!("{what} `{}` is not a number", text(f)))
}

/// `8:17` → (8, 17).
pub fn parse_devno(f: &[u8]) -> Result<(u32, u32), String> {
    let s = std::str::from_utf8(f).map_err(|_| "major:minor is not text".to_string())?;
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("major:minor `{s}` has no colon"))?;
    let major = a
        .parse::<u32>()
        .map_err(|_| format!("major `{a}` is not a number"))?;
    let minor = b
        .parse::<u32>()
        .map_err(|_| format!("minor `{b}` is not a number"))?;
    Ok((major, minor))
}

fn text(f: &[u8]) -> String {
    String::from_utf8_lossy(f).into_owned()
}

/// Undo the kernel's `mangle()`: `\ooo` (three octal digits) is one byte.
/// Anything else after a backslash is kept literally.
pub fn unescape(f: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(f.len());
    let mut i = 0;
    while i < f.len() {
        if f[i] == b'\\' && i + 3 < f.len() {
            let d = &f[i + 1..i + 4];
            if d.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = u32::from(d[0] - b'0') * 64
                    + u32::from(d[1] - b'0') * 8
                    + u32::from(d[2] - b'0');
                if let Ok(b) = u8::try_from(v) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(f[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    #[test]
    fn parses_the_proc_rst_example() {
        let l = b"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue";
        let e = parse_line(l).unwrap();
        assert_eq!(e.mount_id, 36);
        assert_eq!(e.parent_id, 35);
        assert_eq!((e.major, e.minor), (98, 0));
        assert_eq!(e.root, PathBuf::from("/mnt1"));
        assert_eq!(e.mount_point, PathBuf::from("/mnt2"));
        assert_eq!(e.mount_options, "rw,noatime");
        assert_eq!(e.optional, vec!["master:1"]);
        assert_eq!(e.fs_type, "ext3");
        assert_eq!(e.source, "/dev/root");
        assert_eq!(e.super_options, "rw,errors=continue");
        assert!(!e.read_only());
    }

    #[test]
    fn unescapes_octal_in_paths_and_source() {
        let l = br"100 29 8:17 / /media/u/My\040Stick\011x\012y\134z rw,nosuid shared:60 master:3 - vfat /dev/sd\134b1 ro,fmask=0022";
        let e = parse_line(l).unwrap();
        assert_eq!(
            e.mount_point.as_os_str().as_bytes(),
            b"/media/u/My Stick\tx\ny\\z"
        );
        assert_eq!(e.optional, vec!["shared:60", "master:3"]);
        assert_eq!(e.source, "/dev/sd\\b1");
        assert!(e.read_only());
    }

    #[test]
    fn no_optional_fields_and_non_utf8_paths() {
        let l = b"7 1 7:0 / /mnt/\xff\xfe rw - ext4 /dev/loop0 rw";
        let e = parse_line(l).unwrap();
        assert!(e.optional.is_empty());
        assert_eq!(e.mount_point.as_os_str().as_bytes(), b"/mnt/\xff\xfe");
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        for l in [
            &b""[..],
            b"x",
            b"1 2 3 / / rw - ext4 src",
            b"1 2 3:x / / rw - ext4 src",
            b"1 2 3:4 / / rw shared:1",
            b"1 2 3:4 / / rw - ext4",
            b"99999999999999999999999 2 3:4 / / rw - a b c",
            b"1 2 :4 / / rw - a b c",
            b"\\ \\\\ \\0 \\01 \\777 - - - -",
        ] {
            assert!(parse_line(l).is_err(), "{:?}", String::from_utf8_lossy(l));
        }
        let (ok, bad) = parse(b"junk\n1 2 3:4 / /m rw - ext4 /dev/x rw\n\n5 6\n");
        assert_eq!(ok.len(), 1);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].line, 1);
        assert_eq!(bad[1].line, 4);
    }

    #[test]
    fn unescape_edges() {
        assert_eq!(unescape(br"\"), b"\\");
        assert_eq!(unescape(br"\04"), b"\\04");
        assert_eq!(unescape(br"a\040"), b"a ");
        assert_eq!(unescape(br"\777"), b"\\777");
        assert_eq!(unescape(br"\0400"), b" 0");
    }

    #[test]
    fn parses_this_hosts_table() {
        let text = std::fs::read("/proc/self/mountinfo").unwrap();
        let (ok, bad) = parse(&text);
        assert!(bad.is_empty(), "{bad:?}");
        assert!(ok.iter().any(|e| e.mount_point == Path::new("/")));
    }

    /// Cheap deterministic fuzz: random bytes and mutated real lines never panic.
    #[test]
    fn fuzz_never_panics() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let base = b"36 35 98:0 /mnt\\0401 /mnt2 rw,noatime master:1 - ext3 /dev/root rw".to_vec();
        for _ in 0..20_000 {
            let mut l = base.clone();
            for _ in 0..(rnd() % 6) {
                let i = (rnd() as usize) % l.len();
                match rnd() % 4 {
                    0 => l[i] = rnd() as u8,
                    1 => {
                        l.remove(i);
                    }
                    2 => l.insert(i, b"\\ -:0"[(rnd() % 5) as usize]),
                    _ => l.truncate(i),
                }
                if l.is_empty() {
                    break;
                }
            }
            let _ = parse(&l);
        }
    }
}
