//! A reader for GVDB files: dconf databases (`~/.config/dconf/user`,
//! `/etc/dconf/db/X`) and `gschemas.compiled`. Hand-written because the
//! checker must read them without running GLib (no `gsettings`, no D-Bus)
//! and must turn a broken file into an `error` instead of GLib's silent
//! "empty database"; no maintained Rust crate reads dconf databases.
//!
//! Format (GLib `gio/gvdb/gvdb-format.h`, `gvdb-reader.c`):
//! * header, 24 bytes: signature `GVariant` (two u32 words 'GVar' 'iant'
//!   in the file's byte order; a big-endian file therefore starts with
//!   `raVGtnai`), u32 version (0), u32 options, then the root pointer
//!   `{u32 start, u32 end}` of the top hash table;
//! * hash table at `[start, end)`: u32 `n_bloom_words` (low 27 bits; top 5
//!   bits are the bloom shift), u32 `n_buckets`, the bloom words, the bucket
//!   words, then 24-byte items `{u32 hash, u32 parent, u32 key_start,
//!   u16 key_size, u8 type, u8 unused, pointer value}`;
//! * an item's full name is its parent's full name + its own key bytes
//!   (`parent` = 0xffffffff for none); type `v` = a serialized GVariant of
//!   type `v` (value, NUL, type string), `H` = a nested hash table (dconf's
//!   `.locks`, one table per schema in gschemas.compiled), `L` = a list.
//!
//! Lookup enumerates every item and builds the full names instead of
//! hashing (the djb hash and bloom filter are only an accelerator), which
//! also means a file with a corrupt hash chain is still read correctly.
//! Every offset is bounds-checked: a bad signature, a pointer beyond the
//! end (a truncated file) or a parent loop is an [`GvdbError`].

use std::collections::BTreeMap;
use std::fmt;

/// Longest parent chain accepted.
const MAX_DEPTH: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GvdbError(pub String);

impl fmt::Display for GvdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(s: impl Into<String>) -> Result<T, GvdbError> {
    Err(GvdbError(s.into()))
}

/// A decoded GVariant value of the basic types the checks need.
#[derive(Debug, Clone, PartialEq)]
pub enum Variant {
    Bool(bool),
    Int32(i32),
    Uint32(u32),
    Int64(i64),
    Uint64(u64),
    Double(f64),
    Str(String),
    /// Any other type, kept as its type string (for the "wrong type" error).
    Other(String),
}

impl Variant {
    /// The GVariant type string (`b`, `i`, `u`, `s` ...).
    pub fn type_str(&self) -> String {
        match self {
            Variant::Bool(_) => "b".into(),
            Variant::Int32(_) => "i".into(),
            Variant::Uint32(_) => "u".into(),
            Variant::Int64(_) => "x".into(),
            Variant::Uint64(_) => "t".into(),
            Variant::Double(_) => "d".into(),
            Variant::Str(_) => "s".into(),
            Variant::Other(t) => t.clone(),
        }
    }

    /// Written the way `gsettings get` prints it (`uint32 300`, `true`, `5`).
    pub fn display(&self) -> String {
        match self {
            Variant::Bool(b) => b.to_string(),
            Variant::Int32(i) => i.to_string(),
            Variant::Uint32(u) => format!("uint32 {u}"),
            Variant::Int64(i) => format!("int64 {i}"),
            Variant::Uint64(u) => format!("uint64 {u}"),
            Variant::Double(d) => d.to_string(),
            Variant::Str(s) => format!("'{s}'"),
            Variant::Other(t) => format!("<value of type {t}>"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Item {
    kind: u8,
    start: u32,
    end: u32,
}

/// One hash table of a GVDB file: full key name → item.
#[derive(Debug, Clone)]
pub struct Table<'a> {
    data: &'a [u8],
    be: bool,
    items: BTreeMap<String, Item>,
}

/// A parsed GVDB file (borrowing its bytes).
#[derive(Debug, Clone)]
pub struct Gvdb<'a> {
    root: Table<'a>,
}

fn u32_at(data: &[u8], off: usize, be: bool) -> Result<u32, GvdbError> {
    let b = data.get(off..off.saturating_add(4)).ok_or_else(|| {
        GvdbError(format!(
            "offset {off} beyond the end of the file ({} bytes): truncated",
            data.len()
        ))
    })?;
    let a = [b[0], b[1], b[2], b[3]];
    Ok(if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    })
}

fn u16_at(data: &[u8], off: usize, be: bool) -> Result<u16, GvdbError> {
    let b = data.get(off..off.saturating_add(2)).ok_or_else(|| {
        GvdbError(format!(
            "offset {off} beyond the end of the file: truncated"
        ))
    })?;
    let a = [b[0], b[1]];
    Ok(if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    })
}

impl<'a> Gvdb<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Gvdb<'a>, GvdbError> {
        if data.len() < 24 {
            return err(format!(
                "{} bytes, shorter than the 24-byte GVDB header: truncated or not a GVDB file",
                data.len()
            ));
        }
        let be = match &data[0..8] {
            b"GVariant" => false,
            b"raVGtnai" => true,
            _ => return err("bad signature (not `GVariant`): not a GVDB file"),
        };
        let version = u32_at(data, 8, be)?;
        if version != 0 {
            return err(format!("unsupported GVDB version {version}"));
        }
        let start = u32_at(data, 16, be)?;
        let end = u32_at(data, 20, be)?;
        let root = Table::parse(data, be, start, end)?;
        Ok(Gvdb { root })
    }

    pub fn root(&self) -> &Table<'a> {
        &self.root
    }
}

impl<'a> Table<'a> {
    fn parse(data: &'a [u8], be: bool, start: u32, end: u32) -> Result<Table<'a>, GvdbError> {
        let (s, e) = (start as usize, end as usize);
        if s > e || e > data.len() {
            return err(format!(
                "hash table pointer [{s}, {e}) beyond the end of the file ({} bytes): truncated",
                data.len()
            ));
        }
        if e - s < 8 {
            // An empty table (GLib treats it as no keys).
            return Ok(Table {
                data,
                be,
                items: BTreeMap::new(),
            });
        }
        let n_bloom = (u32_at(data, s, be)? & ((1 << 27) - 1)) as usize;
        let n_buckets = u32_at(data, s + 4, be)? as usize;
        let items_off = n_bloom
            .checked_add(n_buckets)
            .and_then(|n| n.checked_mul(4))
            .and_then(|n| n.checked_add(s + 8))
            .filter(|&o| o <= e)
            .ok_or_else(|| GvdbError("hash table header larger than the table".into()))?;
        let n_items = (e - items_off) / 24;
        let mut raw = Vec::with_capacity(n_items);
        for i in 0..n_items {
            let o = items_off + i * 24;
            let parent = u32_at(data, o + 4, be)?;
            let key_start = u32_at(data, o + 8, be)? as usize;
            let key_size = u16_at(data, o + 12, be)? as usize;
            let kind = data[o + 14];
            let vs = u32_at(data, o + 16, be)?;
            let ve = u32_at(data, o + 20, be)?;
            let key = data
                .get(key_start..key_start.saturating_add(key_size))
                .ok_or_else(|| {
                    GvdbError(format!(
                        "key of item {i} beyond the end of the file: truncated"
                    ))
                })?;
            if vs > ve || ve as usize > data.len() {
                return err(format!(
                    "value of item {i} [{vs}, {ve}) beyond the end of the file ({} bytes): truncated",
                    data.len()
                ));
            }
            raw.push((
                parent,
                String::from_utf8_lossy(key).into_owned(),
                Item {
                    kind,
                    start: vs,
                    end: ve,
                },
            ));
        }
        let mut items = BTreeMap::new();
        for (i, (_, _, item)) in raw.iter().enumerate() {
            let mut name = String::new();
            let mut cur = i;
            let mut depth = 0;
            loop {
                let (parent, key, _) = &raw[cur];
                name.insert_str(0, key);
                if *parent == u32::MAX {
                    break;
                }
                depth += 1;
                // Real files nest a few levels (one per `/` of a dconf path);
                // the cap keeps a hostile chain from costing n² time.
                if depth > n_items.min(MAX_DEPTH) || *parent as usize >= n_items {
                    return err(format!("item {i} has a bad parent chain"));
                }
                cur = *parent as usize;
            }
            items.insert(name, *item);
        }
        Ok(Table { data, be, items })
    }

    /// Full names of every item (dconf: `/org/gnome/...`; directories end in `/`).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.items.keys().map(|s| s.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.items.contains_key(name)
    }

    /// The nested hash table of item `name` (type `H`).
    pub fn table(&self, name: &str) -> Result<Option<Table<'a>>, GvdbError> {
        match self.items.get(name) {
            Some(it) if it.kind == b'H' => {
                Table::parse(self.data, self.be, it.start, it.end).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The value of item `name` (type `v`), unwrapped from its variant.
    pub fn value(&self, name: &str) -> Result<Option<(String, &'a [u8])>, GvdbError> {
        let Some(it) = self.items.get(name) else {
            return Ok(None);
        };
        if it.kind != b'v' {
            return Ok(None);
        }
        let bytes = &self.data[it.start as usize..it.end as usize];
        unwrap_variant(bytes).map(Some)
    }

    /// The value of item `name` decoded as a basic type.
    pub fn basic(&self, name: &str) -> Result<Option<Variant>, GvdbError> {
        match self.value(name)? {
            None => Ok(None),
            Some((ty, bytes)) => decode(&ty, bytes, self.be).map(Some),
        }
    }

    /// gschemas.compiled: the default value of a key (first member of the
    /// key's tuple `(default, extras...)`).
    pub fn schema_default(&self, key: &str) -> Result<Option<Variant>, GvdbError> {
        let Some((ty, bytes)) = self.value(key)? else {
            return Ok(None);
        };
        let members = tuple_members(&ty).ok_or_else(|| {
            GvdbError(format!(
                "key `{key}`: schema entry of type {ty} is not a tuple"
            ))
        })?;
        let first = members
            .first()
            .ok_or_else(|| GvdbError(format!("key `{key}`: empty schema tuple")))?;
        let size = fixed_size(first);
        let slice = match size {
            Some(n) => bytes
                .get(..n)
                .ok_or_else(|| GvdbError(format!("key `{key}`: default value truncated")))?,
            None if members.len() == 1 => bytes,
            None => {
                // Non-last variable-size member: its end is the last framing
                // offset of the tuple (offsets are stored in reverse order).
                let osz = offset_size(bytes.len());
                if bytes.len() < osz {
                    return err(format!("key `{key}`: tuple too short"));
                }
                let end = read_uint(&bytes[bytes.len() - osz..], self.be);
                bytes
                    .get(..end)
                    .ok_or_else(|| GvdbError(format!("key `{key}`: bad framing offset")))?
            }
        };
        decode(first, slice, self.be).map(Some)
    }
}

/// Size of a GVariant framing offset for a container of `len` bytes.
fn offset_size(len: usize) -> usize {
    if len <= 0xff {
        1
    } else if len <= 0xffff {
        2
    } else {
        4
    }
}

fn read_uint(b: &[u8], be: bool) -> usize {
    let mut v: usize = 0;
    if be {
        for &x in b {
            v = (v << 8) | x as usize;
        }
    } else {
        for &x in b.iter().rev() {
            v = (v << 8) | x as usize;
        }
    }
    v
}

/// A serialized `v`: the value bytes, a NUL, then the type string.
fn unwrap_variant(bytes: &[u8]) -> Result<(String, &[u8]), GvdbError> {
    let nul = bytes
        .iter()
        .rposition(|&b| b == 0)
        .ok_or_else(|| GvdbError("variant value without a type string".into()))?;
    let ty = std::str::from_utf8(&bytes[nul + 1..])
        .map_err(|_| GvdbError("variant type string is not UTF-8".into()))?;
    // The length cap bounds `one_type`'s recursion on a hostile `aaaa…` type.
    if ty.is_empty() || ty.len() > 1024 || one_type(ty) != Some(ty.len()) {
        return err(format!("bad variant type string `{ty}`"));
    }
    Ok((ty.to_string(), &bytes[..nul]))
}

/// Length of the first complete type in `s`, or `None` when it is not one.
fn one_type(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let c = *b.first()?;
    match c {
        b'b' | b'y' | b'n' | b'q' | b'i' | b'u' | b'x' | b't' | b'h' | b'd' | b's' | b'o'
        | b'g' | b'v' | b'*' | b'?' | b'r' => Some(1),
        b'a' | b'm' => Some(1 + one_type(&s[1..])?),
        b'(' | b'{' => {
            let close = if c == b'(' { b')' } else { b'}' };
            let mut i = 1;
            while *b.get(i)? != close {
                i += one_type(&s[i..])?;
            }
            Some(i + 1)
        }
        _ => None,
    }
}

fn tuple_members(ty: &str) -> Option<Vec<String>> {
    let inner = ty.strip_prefix('(')?.strip_suffix(')')?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < inner.len() {
        let n = one_type(&inner[i..])?;
        out.push(inner[i..i + n].to_string());
        i += n;
    }
    Some(out)
}

fn fixed_size(ty: &str) -> Option<usize> {
    match ty {
        "b" | "y" => Some(1),
        "n" | "q" => Some(2),
        "i" | "u" | "h" => Some(4),
        "x" | "t" | "d" => Some(8),
        _ => None,
    }
}

/// Decode a basic value; a fixed-size value of the wrong length is an error
/// (GLib would read it as the zero value).
pub fn decode(ty: &str, b: &[u8], be: bool) -> Result<Variant, GvdbError> {
    let need = |n: usize| -> Result<(), GvdbError> {
        if b.len() == n {
            Ok(())
        } else {
            err(format!(
                "value of type {ty} has {} bytes, expected {n}",
                b.len()
            ))
        }
    };
    let arr4 = || [b[0], b[1], b[2], b[3]];
    let arr8 = || [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
    Ok(match ty {
        "b" => {
            need(1)?;
            Variant::Bool(b[0] != 0)
        }
        "i" => {
            need(4)?;
            Variant::Int32(if be {
                i32::from_be_bytes(arr4())
            } else {
                i32::from_le_bytes(arr4())
            })
        }
        "u" => {
            need(4)?;
            Variant::Uint32(if be {
                u32::from_be_bytes(arr4())
            } else {
                u32::from_le_bytes(arr4())
            })
        }
        "x" => {
            need(8)?;
            Variant::Int64(if be {
                i64::from_be_bytes(arr8())
            } else {
                i64::from_le_bytes(arr8())
            })
        }
        "t" => {
            need(8)?;
            Variant::Uint64(if be {
                u64::from_be_bytes(arr8())
            } else {
                u64::from_le_bytes(arr8())
            })
        }
        "d" => {
            need(8)?;
            Variant::Double(if be {
                f64::from_be_bytes(arr8())
            } else {
                f64::from_le_bytes(arr8())
            })
        }
        "s" | "o" | "g" => {
            let body = b
                .strip_suffix(&[0])
                .ok_or_else(|| GvdbError("string value without its NUL terminator".into()))?;
            Variant::Str(String::from_utf8_lossy(body).into_owned())
        }
        other => Variant::Other(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_strings() {
        assert_eq!(one_type("u"), Some(1));
        assert_eq!(one_type("(u(y(uu)))"), Some(10));
        assert_eq!(
            tuple_members("(s(y(ss))(yv))").unwrap(),
            ["s", "(y(ss))", "(yv)"]
        );
        assert_eq!(one_type("(u"), None);
    }

    fn fixture(rel: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/hosts")
            .join(rel);
        std::fs::read(p).unwrap()
    }

    #[test]
    fn reads_real_dconf_and_schema_files() {
        // Made by `dconf compile` (fixtures/hosts/build.sh).
        let db = fixture("debian-gnome/root/etc/dconf/db/local");
        let g = Gvdb::parse(&db).unwrap();
        assert_eq!(
            g.root()
                .basic("/org/gnome/desktop/session/idle-delay")
                .unwrap(),
            Some(Variant::Uint32(300))
        );
        let locks = g.root().table(".locks").unwrap().unwrap();
        assert!(locks.has("/org/gnome/desktop/screensaver/lock-enabled"));
        // Made by `glib-compile-schemas`, with the vendor override applied.
        let sc = fixture("debian-gnome/root/usr/share/glib-2.0/schemas/gschemas.compiled");
        let g = Gvdb::parse(&sc).unwrap();
        let session = g
            .root()
            .table("org.gnome.desktop.session")
            .unwrap()
            .unwrap();
        assert_eq!(
            session.basic(".path").unwrap(),
            Some(Variant::Str("/org/gnome/desktop/session/".into()))
        );
        assert_eq!(
            session.schema_default("idle-delay").unwrap(),
            Some(Variant::Uint32(1200))
        );
        let saver = g
            .root()
            .table("org.gnome.desktop.screensaver")
            .unwrap()
            .unwrap();
        assert_eq!(
            saver.schema_default("lock-enabled").unwrap(),
            Some(Variant::Bool(true))
        );
        assert!(matches!(
            saver.schema_default("picture-uri").unwrap(),
            Some(Variant::Str(_))
        ));
        let mate =
            fixture("cracklib-mate-cinnamon/root/usr/share/glib-2.0/schemas/gschemas.compiled");
        let g = Gvdb::parse(&mate).unwrap();
        let t = g.root().table("org.mate.session").unwrap().unwrap();
        assert_eq!(
            t.schema_default("idle-delay").unwrap(),
            Some(Variant::Int32(5))
        );
        assert_eq!(
            t.basic(".path").unwrap(),
            Some(Variant::Str("/org/mate/desktop/session/".into()))
        );
    }

    /// Hostile input: every truncation and many single-byte corruptions of
    /// real files either parse or give an error, never a panic.
    #[test]
    fn corrupted_files_never_panic() {
        for rel in [
            "debian-gnome/root/etc/dconf/db/local",
            "debian-gnome/root/usr/share/glib-2.0/schemas/gschemas.compiled",
        ] {
            let data = fixture(rel);
            let probe = |d: &[u8]| {
                if let Ok(g) = Gvdb::parse(d) {
                    let names: Vec<String> = g.root().names().map(str::to_string).collect();
                    for n in names {
                        let _ = g.root().basic(&n);
                        let _ = g.root().schema_default(&n);
                        if let Ok(Some(t)) = g.root().table(&n) {
                            let inner: Vec<String> = t.names().map(str::to_string).collect();
                            for k in inner {
                                let _ = t.basic(&k);
                                let _ = t.schema_default(&k);
                            }
                        }
                    }
                }
            };
            for len in (0..data.len()).step_by(7) {
                probe(&data[..len]);
            }
            for i in (0..data.len()).step_by(3) {
                for x in [0x00u8, 0xff, 0x7f] {
                    let mut d = data.clone();
                    d[i] = x;
                    probe(&d);
                }
            }
        }
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(Gvdb::parse(b"short").is_err());
        assert!(Gvdb::parse(&[0u8; 40]).is_err());
        let mut h = b"GVariant".to_vec();
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&100u32.to_le_bytes());
        h.extend_from_slice(&200u32.to_le_bytes());
        let e = Gvdb::parse(&h).unwrap_err();
        assert!(e.0.contains("beyond the end"), "{e}");
    }
}
