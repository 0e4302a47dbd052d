//! The security template `secedit /export /cfg FILE /areas SECURITYPOLICY`
//! writes: an INF file, UTF-16LE with a byte-order mark as secedit writes it
//! (UTF-8 accepted too), whose `[System Access]` section holds the local
//! security policy as `Name = value` lines (`MinimumPasswordLength = 14`,
//! `PasswordComplexity = 1`, `MaximumPasswordAge = -1`, …).
//!
//! Hand-written because the format is a few lines of INF with no crate for
//! it; the parser is pure so it is tested on real secedit output on any
//! host. Malformed lines are kept as notes, never a panic.

use std::collections::BTreeMap;

/// Largest export accepted (a real one is a few KiB).
pub const MAX_INF_BYTES: usize = 4 << 20;

/// One `Name = value` setting of `[System Access]` and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub line: usize,
}

/// The `[System Access]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemAccess {
    pub settings: BTreeMap<String, Setting>,
    /// Lines in the section that are not `Name = value`.
    pub notes: Vec<String>,
}

impl SystemAccess {
    /// An integer setting: `Some(Ok(n))`, `Some(Err(text))` when it is not
    /// an integer, `None` when absent.
    pub fn int(&self, name: &str) -> Option<Result<i64, String>> {
        let s = self.settings.get(name)?;
        Some(
            s.value
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("{name} = {} (line {}) is not an integer", s.value, s.line)),
        )
    }

    pub fn line(&self, name: &str) -> Option<usize> {
        self.settings.get(name).map(|s| s.line)
    }
}

/// Decode an export: UTF-16LE (BOM `FF FE`, or no BOM but NUL high bytes),
/// UTF-16BE with BOM, or UTF-8 (BOM optional).
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    if bytes.len() > MAX_INF_BYTES {
        return Err(format!("export of {} bytes is too large", bytes.len()));
    }
    let utf16 = |b: &[u8], le: bool| -> Result<String, String> {
        if !b.len().is_multiple_of(2) {
            return Err("UTF-16 export with an odd number of bytes".into());
        }
        let units = b.chunks_exact(2).map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|e| format!("invalid UTF-16 in export: {e}"))
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        utf16(rest, true)
    } else if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        utf16(rest, false)
    } else if bytes.len() >= 2 && bytes[1] == 0 && bytes[0] != 0 {
        utf16(bytes, true)
    } else {
        let b = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
        String::from_utf8(b.to_vec())
            .map_err(|e| format!("export is neither UTF-16 nor UTF-8: {e}"))
    }
}

/// Parse the `[System Access]` section of decoded INF text. Section names
/// compare case-insensitively (as INF does); `;` starts a comment line.
/// A setting given twice: the last wins.
pub fn parse(text: &str) -> SystemAccess {
    let mut out = SystemAccess::default();
    let mut inside = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            inside = line.eq_ignore_ascii_case("[System Access]");
            continue;
        }
        if !inside {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) => {
                out.settings.insert(
                    k.trim().to_string(),
                    Setting {
                        value: v.trim().trim_matches('"').to_string(),
                        line: i + 1,
                    },
                );
            }
            None => out.notes.push(format!(
                "line {}: not `Name = value` in [System Access]",
                i + 1
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `secedit /export /cfg x.inf /areas SECURITYPOLICY` writes on a
    /// Windows 10 22H2 workstation (values changed by local policy).
    pub const REAL_EXPORT: &str = "[Unicode]\r\nUnicode=yes\r\n[System Access]\r\nMinimumPasswordAge = 0\r\nMaximumPasswordAge = 42\r\nMinimumPasswordLength = 12\r\nPasswordComplexity = 1\r\nPasswordHistorySize = 24\r\nLockoutBadCount = 5\r\nResetLockoutCount = 15\r\nLockoutDuration = 15\r\nAllowAdministratorLockout = 1\r\nRequireLogonToChangePassword = 0\r\nForceLogoffWhenHourExpire = 0\r\nNewAdministratorName = \"Administrator\"\r\nNewGuestName = \"Guest\"\r\nClearTextPassword = 0\r\nLSAAnonymousNameLookup = 0\r\nEnableAdminAccount = 0\r\nEnableGuestAccount = 0\r\n[Event Audit]\r\nAuditSystemEvents = 0\r\n[Version]\r\nsignature=\"$CHICAGO$\"\r\nRevision=1\r\n";

    fn utf16le_bom(s: &str) -> Vec<u8> {
        let mut v = vec![0xFF, 0xFE];
        for u in s.encode_utf16() {
            v.extend_from_slice(&u.to_le_bytes());
        }
        v
    }

    #[test]
    fn utf16le_export_as_secedit_writes_it() {
        let text = decode(&utf16le_bom(REAL_EXPORT)).unwrap();
        let sa = parse(&text);
        assert_eq!(sa.int("MinimumPasswordLength"), Some(Ok(12)));
        assert_eq!(sa.int("MaximumPasswordAge"), Some(Ok(42)));
        assert_eq!(sa.int("PasswordComplexity"), Some(Ok(1)));
        assert_eq!(sa.int("LockoutBadCount"), Some(Ok(5)));
        assert_eq!(sa.line("MinimumPasswordLength"), Some(6));
        assert_eq!(sa.settings["NewGuestName"].value, "Guest");
        // Keys of other sections are not taken.
        assert!(sa.int("AuditSystemEvents").is_none());
        assert!(sa.notes.is_empty());
    }

    #[test]
    fn utf16le_without_bom_and_utf8_agree() {
        let mut no_bom = utf16le_bom(REAL_EXPORT);
        no_bom.drain(..2);
        assert_eq!(decode(&no_bom).unwrap(), REAL_EXPORT);
        assert_eq!(decode(REAL_EXPORT.as_bytes()).unwrap(), REAL_EXPORT);
    }

    #[test]
    fn hostile_exports_are_errors_not_panics() {
        assert!(decode(&[0xFF, 0xFE, 0x41]).is_err()); // odd length
        assert!(decode(&[0xFF, 0xFE, 0x00, 0xD8]).is_err()); // lone surrogate
        assert!(decode(&[0xC3, 0x28]).is_err());
        assert!(decode(&vec![b'a'; MAX_INF_BYTES + 1]).is_err());
        let sa = parse("[system access]\nMinimumPasswordLength = ten\ngarbage\n");
        assert!(matches!(sa.int("MinimumPasswordLength"), Some(Err(_))));
        assert_eq!(sa.notes.len(), 1);
    }
}
