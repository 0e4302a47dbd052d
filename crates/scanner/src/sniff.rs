//! Format detection from content, never from the extension: a `.docx`
//! renamed `.dat` is still a docx, a `.txt` that is really a PDF is a PDF.
//!
//! Zip containers are told apart by their entries (`[Content_Types].xml` →
//! OOXML, `mimetype` = `application/vnd.oasis.opendocument.*` → ODF,
//! `OFD.xml` → OFD, anything else → archive); gzip, 7z, xz, bzip2 and RAR
//! (v4, v5) by their magic, tar by the ustar magic of its first header. Binary junk (executables,
//! images, media, other compressed formats) is `Binary`: its content is
//! skipped (counted, not called clean) while its name is still scanned.

use std::io::{Cursor, Read};

/// A content format, as far as the scanner cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Text,
    Html,
    Eml,
    Rtf,
    Pdf,
    Ole,
    Ooxml,
    Odf,
    Ofd,
    Zip,
    Gzip,
    Tar,
    SevenZ,
    Xz,
    Bzip2,
    Rar,
    Uof,
    Binary,
}

impl Format {
    /// Name reported in findings when the extractor does not say better.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Html => "html",
            Format::Eml => "eml",
            Format::Rtf => "rtf",
            Format::Pdf => "pdf",
            Format::Ole => "ole",
            Format::Ooxml => "ooxml",
            Format::Odf => "odf",
            Format::Ofd => "ofd",
            Format::Zip => "zip",
            Format::Gzip => "gzip",
            Format::Tar => "tar",
            Format::SevenZ => "7z",
            Format::Xz => "xz",
            Format::Bzip2 => "bzip2",
            Format::Rar => "rar",
            Format::Uof => "uof",
            Format::Binary => "binary",
        }
    }
}

const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

/// Magic numbers of formats that hold no text worth decoding as text.
const BINARY_MAGIC: &[&[u8]] = &[
    b"\x7fELF",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"SQLite format 3\x00",
    b"\x00asm",
    b"\xca\xfe\xba\xbe",
    b"II*\x00",
    b"MM\x00*",
    b"OggS",
    b"fLaC",
    b"\x28\xb5\x2f\xfd",
    b"MSCF",
    b"!<arch>\n",
];

/// Detect the format of `data` (only its first kilobytes are looked at, and
/// for zips the central directory).
pub fn sniff(data: &[u8]) -> Format {
    if data.starts_with(b"PK\x03\x04")
        || data.starts_with(b"PK\x05\x06")
        || data.starts_with(b"PK\x07\x08")
    {
        return sniff_zip(data);
    }
    if data.starts_with(OLE_MAGIC) {
        return Format::Ole;
    }
    if data.starts_with(b"\x1f\x8b\x08") {
        return Format::Gzip;
    }
    // Archives and compressors by their magic, whatever their first member
    // is (a RAR whose first member is a .docx is a RAR).
    if data.starts_with(crate::extract::sevenz::MAGIC) {
        return Format::SevenZ;
    }
    if data.starts_with(crate::extract::compressed::XZ_MAGIC) {
        return Format::Xz;
    }
    if crate::extract::compressed::is_bzip2(data) {
        return Format::Bzip2;
    }
    if crate::extract::rar::is_rar(data) {
        return Format::Rar;
    }
    // ustar ("ustar\0", POSIX) or GNU ("ustar  \0") magic in the first header.
    if data.len() >= 512 && data[257..262] == *b"ustar" {
        return Format::Tar;
    }
    let head = &data[..data.len().min(1024)];
    if memchr::memmem::find(head, b"%PDF-").is_some() {
        return Format::Pdf;
    }
    if BINARY_MAGIC.iter().any(|m| data.starts_with(m))
        || (data.starts_with(b"MZ") && data.len() > 64 && data[..64].contains(&0))
        || (data.len() >= 12 && &data[..4] == b"RIFF")
        || (data.len() >= 12 && &data[4..8] == b"ftyp")
    {
        return Format::Binary;
    }
    if crate::text::looks_binary(data) {
        return Format::Binary;
    }
    // Text-based formats: look at the start, past a BOM and blank space.
    let start = strip_bom_and_space(head);
    // Single-file XML office documents: flat ODF and UOF (GB/T 20916).
    if start.starts_with(b"<?xml") || start.starts_with(b"<office:") || start.starts_with(b"<uof:")
    {
        let wide = &data[..data.len().min(4096)];
        if crate::extract::odf::is_flat(wide) {
            return Format::Odf;
        }
        if crate::extract::uof::is_uof(wide) {
            return Format::Uof;
        }
    }
    if start.starts_with(b"{\\rtf") {
        return Format::Rtf;
    }
    if is_html(start) {
        return Format::Html;
    }
    if is_eml(start) {
        return Format::Eml;
    }
    Format::Text
}

/// Is this a plain-text or HTML file (no parser worth isolating; streamable)?
pub fn is_plain_text(head: &[u8]) -> bool {
    matches!(sniff(head), Format::Text | Format::Html)
}

fn strip_bom_and_space(mut s: &[u8]) -> &[u8] {
    if s.starts_with(b"\xEF\xBB\xBF") {
        s = &s[3..];
    }
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn is_html(start: &[u8]) -> bool {
    let lower: Vec<u8> = start
        .iter()
        .take(1024)
        .map(u8::to_ascii_lowercase)
        .collect();
    if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") {
        return true;
    }
    let probe = |needle: &[u8]| memchr::memmem::find(&lower, needle).is_some();
    (lower.starts_with(b"<") || lower.starts_with(b"<?xml"))
        && (probe(b"<html")
            || probe(b"<meta charset")
            || probe(b"<meta http-equiv")
            || probe(b"<body"))
}

/// Header names that open RFC 822 / 5322 messages.
const MAIL_HEADERS: &[&str] = &[
    "received",
    "return-path",
    "from",
    "to",
    "subject",
    "date",
    "mime-version",
    "message-id",
    "delivered-to",
    "reply-to",
    "sender",
    "cc",
    "content-type",
    "dkim-signature",
    "authentication-results",
    "x-mailer",
    "user-agent",
    "thread-topic",
    "envelope-to",
];

fn is_eml(start: &[u8]) -> bool {
    // The first line must be a header, and within the first lines there must
    // be From:, Subject:, MIME-Version: or Received:.
    let text = String::from_utf8_lossy(&start[..start.len().min(4096)]);
    let mut lines = text.lines();
    let Some(first) = lines.next() else {
        return false;
    };
    let header_name = |l: &str| -> Option<String> {
        let (name, _) = l.split_once(':')?;
        (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            .then(|| name.to_ascii_lowercase())
    };
    let Some(name) = header_name(first) else {
        return false;
    };
    if !(MAIL_HEADERS.contains(&name.as_str())
        || name.starts_with("x-")
        || name.starts_with("arc-"))
    {
        return false;
    }
    std::iter::once(first)
        .chain(lines.take(60))
        .filter_map(header_name)
        .any(|n| matches!(n.as_str(), "from" | "subject" | "mime-version" | "received"))
}

fn sniff_zip(data: &[u8]) -> Format {
    // ODF puts an uncompressed `mimetype` member first (ODF 1.2 §3.3).
    if data.len() > 38 && &data[30..38] == b"mimetype" {
        let tail = &data[38..data.len().min(38 + 200)];
        if memchr::memmem::find(tail, b"application/vnd.oasis.opendocument").is_some() {
            return Format::Odf;
        }
    }
    let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(data)) else {
        // Unreadable directory: let the archive extractor say why.
        return Format::Zip;
    };
    let mut odf_mimetype = false;
    let (mut ooxml, mut ofd) = (false, false);
    for name in zip.file_names() {
        match name {
            "[Content_Types].xml" => ooxml = true,
            "OFD.xml" => ofd = true,
            "mimetype" => odf_mimetype = true,
            _ => {}
        }
    }
    if ooxml {
        return Format::Ooxml;
    }
    if ofd {
        return Format::Ofd;
    }
    if odf_mimetype && let Ok(f) = zip.by_name("mimetype") {
        let mut buf = Vec::new();
        if f.take(200).read_to_end(&mut buf).is_ok()
            && buf.starts_with(b"application/vnd.oasis.opendocument")
        {
            return Format::Odf;
        }
    }
    Format::Zip
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(names: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (n, d) in names {
            w.start_file(*n, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(d).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn zip_containers_by_entries() {
        assert_eq!(
            sniff(&zip_with(&[
                ("[Content_Types].xml", b"<x/>"),
                ("word/document.xml", b"")
            ])),
            Format::Ooxml
        );
        assert_eq!(
            sniff(&zip_with(&[
                ("mimetype", b"application/vnd.oasis.opendocument.text"),
                ("content.xml", b"")
            ])),
            Format::Odf
        );
        assert_eq!(sniff(&zip_with(&[("OFD.xml", b"<x/>")])), Format::Ofd);
        assert_eq!(sniff(&zip_with(&[("a.txt", b"hello")])), Format::Zip);
        assert_eq!(sniff(b"PK\x03\x04garbage"), Format::Zip);
    }

    #[test]
    fn magic_numbers_and_text_formats() {
        assert_eq!(
            sniff(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0\0"),
            Format::Ole
        );
        assert_eq!(sniff(b"%PDF-1.7\n"), Format::Pdf);
        assert_eq!(sniff(b"\n\n   junk\n%PDF-1.4\n"), Format::Pdf);
        assert_eq!(sniff(b"{\\rtf1\\ansi "), Format::Rtf);
        assert_eq!(
            sniff(b"From: a@b.cn\r\nSubject: x\r\n\r\nbody"),
            Format::Eml
        );
        assert_eq!(sniff(b"Received: from x\nFrom: a\n\nbody"), Format::Eml);
        assert_eq!(sniff(b"<!DOCTYPE html><html><body>x"), Format::Html);
        assert_eq!(
            sniff(b"\xEF\xBB\xBF  <HTML><meta charset=gbk>"),
            Format::Html
        );
        assert_eq!(sniff("# 标题\n正文".as_bytes()), Format::Text);
        assert_eq!(sniff(b"name: x\nvalue: 1\n"), Format::Text);
        assert_eq!(sniff(b"a,b,c\n1,2,3\n"), Format::Text);
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01\0\0\0"), Format::Binary);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Format::Binary);
        assert_eq!(
            sniff(&[0u8, 1, 2, 3, 0, 0, 7, 8, 0, 0, 200, 3, 0, 4]),
            Format::Binary
        );
        // Issue 15: archives by magic; a RAR starting with an OOXML member
        // is still a RAR.
        assert_eq!(sniff(b"7z\xbc\xaf\x27\x1c\0\x04"), Format::SevenZ);
        assert_eq!(sniff(b"\xfd7zXZ\x00\x00\x04"), Format::Xz);
        assert_eq!(sniff(b"BZh91AY&SY\x00\x00\x00\x00"), Format::Bzip2);
        assert_eq!(sniff(b"BZh9 is not bzip2"), Format::Text);
        let rar = crate::extract::test_support::fixture("rar/first_member_ooxml.rar");
        assert_eq!(sniff(&rar), Format::Rar);
        assert_eq!(sniff(b"Rar!\x1a\x07\x00\x01\x02"), Format::Rar);
        assert!(is_plain_text(b"hello"));
        assert!(!is_plain_text(b"%PDF-1.4"));
    }
}
