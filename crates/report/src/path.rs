//! Lossless path encoding for reports (CONTRACT §4): a path that is not valid
//! UTF-8 is written with `\xNN` escapes for the bad bytes, and its raw bytes
//! go to `path_b64` so nothing is lost.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::path::Path;

/// A path as the report writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPath {
    /// Display form: UTF-8, with `\xNN` for bytes that are not.
    pub path: String,
    /// Base64 (standard, padded) of the raw bytes when `path` had to escape.
    pub path_b64: Option<String>,
}

/// Encode raw path bytes.
pub fn encode_path_bytes(bytes: &[u8]) -> EncodedPath {
    match std::str::from_utf8(bytes) {
        Ok(s) => EncodedPath {
            path: s.to_string(),
            path_b64: None,
        },
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02X}"));
                }
            }
            EncodedPath {
                path: out,
                path_b64: Some(STANDARD.encode(bytes)),
            }
        }
    }
}

/// Encode a filesystem path.
pub fn encode_path(path: &Path) -> EncodedPath {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        encode_path_bytes(path.as_os_str().as_bytes())
    }
    // Windows: a name that is not valid UTF-16 (an unpaired surrogate) is
    // kept losslessly as its WTF-8 bytes (std's encoding of OsStr there):
    // the surrogate's three bytes are escaped in `path`, all bytes are in
    // `path_b64`. Valid names are plain UTF-8 as on Linux.
    #[cfg(not(unix))]
    {
        encode_path_bytes(path.as_os_str().as_encoded_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_name_is_escaped_and_kept() {
        // "机密" in GBK is BB FA C3 DC.
        let e = encode_path_bytes(b"/home/a/\xBB\xFA\xC3\xDC.txt");
        assert_eq!(e.path, "/home/a/\\xBB\\xFA\\xC3\\xDC.txt");
        let raw = STANDARD.decode(e.path_b64.unwrap()).unwrap();
        assert_eq!(raw, b"/home/a/\xBB\xFA\xC3\xDC.txt");
    }

    #[cfg(windows)]
    #[test]
    fn unpaired_surrogate_is_kept() {
        use std::os::windows::ffi::OsStringExt;
        // "a" + lone high surrogate D800 + ".txt"
        let name = std::ffi::OsString::from_wide(&[0x61, 0xD800, 0x2E, 0x74, 0x78, 0x74]);
        let e = encode_path(Path::new(&name));
        assert_eq!(e.path, "a\\xED\\xA0\\x80.txt");
        let raw = STANDARD.decode(e.path_b64.unwrap()).unwrap();
        assert_eq!(raw, b"a\xED\xA0\x80.txt");
    }

    #[test]
    fn utf8_name_is_plain() {
        let e = encode_path_bytes("/home/a/机密.txt".as_bytes());
        assert_eq!(e.path, "/home/a/机密.txt");
        assert!(e.path_b64.is_none());
    }
}
