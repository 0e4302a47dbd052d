use super::*;
use crate::extract::Limits;

fn compiled() -> Compiled {
    Compiled::new(&Policy::example().unwrap(), Classification::Unclassified).unwrap()
}

fn run(name: &str, data: &[u8]) -> Analysis {
    let mut ctx = Ctx::new(Limits::default());
    analyse(Path::new(name), data, &mut ctx, &compiled())
}

#[test]
fn name_is_scanned_like_content() {
    let a = run("/h/玄鸟柒号方案.txt", b"harmless");
    assert_eq!(a.findings.len(), 1);
    let f = &a.findings[0];
    assert_eq!(f.kind, FindingKind::UnmarkedClassified);
    assert_eq!(f.matches[0].first_offset, None);
    assert_eq!(f.detail.as_ref().unwrap()["matched_in"], "name");
}

#[test]
fn binary_content_is_searched_raw_and_named() {
    // Issue 15: binary-looking content is still searched for term bytes.
    let elf = [&b"\x7fELF\x02\x01\x01\0\0\0"[..], "玄鸟柒号".as_bytes()].concat();
    let a = run("/h/x.bin", &elf);
    assert!(a.skipped);
    assert_eq!(a.findings.len(), 1, "{:?}", a.findings);
    assert_eq!(a.findings[0].kind, FindingKind::UnmarkedClassified);
    assert_eq!(a.findings[0].format.as_deref(), Some("binary"));
    assert_eq!(
        a.findings[0].detail.as_ref().unwrap()["raw_rules"][0],
        "example-codename"
    );
    let clean = [&b"\x7fELF\x02\x01\x01\0\0\0"[..], "普通内容".as_bytes()].concat();
    assert!(run("/h/x.bin", &clean).findings.is_empty());
    let a = run("/h/玄鸟柒号.bin", &clean);
    assert_eq!(a.findings.len(), 1);
    assert_eq!(a.findings[0].format.as_deref(), Some("binary"));
}

/// Issue 15, "evasion by one byte": each of these once gave no finding.
#[test]
fn one_byte_does_not_hide_a_term() {
    let term = "玄鸟柒号";
    let body = format!("关于{term}项目的说明，请各单位认真学习。\n第二行正文内容。\n");
    let (gbk, _, _) = encoding_rs::GBK.encode(&body);
    let (big5, _, _) = encoding_rs::BIG5.encode("關於玄鳥柒號項目的說明，請各單位認真學習。\n");
    let utf16le: Vec<u8> = body.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf16be: Vec<u8> = body.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("NUL after", format!("hello {term}\0").into_bytes()),
        ("NUL before", [b"\0".as_slice(), body.as_bytes()].concat()),
        (
            "NUL inside",
            body.replacen("玄鸟", "玄鸟\0", 1).into_bytes(),
        ),
        (
            "invalid byte",
            [body.as_bytes(), b"\xff\xfe\x80 end"].concat(),
        ),
        (
            "invalid first",
            [b"\xc3".as_slice(), body.as_bytes()].concat(),
        ),
        ("GBK", gbk.to_vec()),
        ("GBK + NUL", [gbk.as_ref(), b"\0\0"].concat()),
        ("Big5", big5.to_vec()),
        ("UTF-16LE no BOM", utf16le.clone()),
        ("UTF-16BE no BOM", utf16be),
        ("UTF-16LE cut odd", utf16le[1..].to_vec()),
        (
            "mixed UTF-8 and GBK lines",
            [
                "第一行是UTF-8的普通日志\n".as_bytes(),
                &encoding_rs::GBK.encode("第二行是GBK的普通日志\n").0,
                format!("第三行{term}\n").as_bytes(),
            ]
            .concat(),
        ),
        (
            "GBK line among UTF-8 lines",
            [
                "第一行是UTF-8的普通日志，比较长一些。\n"
                    .repeat(20)
                    .as_bytes(),
                &encoding_rs::GBK.encode(&format!("第二行{term}\n")).0,
            ]
            .concat(),
        ),
        ("HZ-GB-2312", b"HZ text: ~{P~DqFb:E~} end\n".to_vec()),
    ];
    for (what, data) in cases {
        let a = run("/h/x.dat", &data);
        let hit = a
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::UnmarkedClassified);
        assert!(hit, "{what}: {:?}", a.findings);
    }
}

#[test]
fn markings_survive_a_stray_byte() {
    let data = [
        "机密★5年\n关于玄鸟柒号项目的说明。\n".as_bytes(),
        b"\xff tail\n",
    ]
    .concat();
    let a = run("/h/x.txt", &data);
    assert_eq!(
        a.findings[0].kind,
        FindingKind::MarkedClassified,
        "{:?}",
        a.findings
    );
}

#[test]
fn streamed_text_matches_across_chunks() {
    let c = compiled();
    let mut data = "普通文字。".repeat(CHUNK / 15 + 1).into_bytes();
    // Put a term right across the first chunk boundary.
    let t = "玄鸟柒号".as_bytes();
    let at = CHUNK - 5;
    data.splice(at..at, t.iter().copied());
    data.extend_from_slice("结尾玄鸟柒号".as_bytes());
    let mut ctx = Ctx::new(Limits::default());
    let a = analyse_reader(Path::new("/big.txt"), &mut &data[..], &mut ctx, &c);
    assert_eq!(a.findings.len(), 1, "{:?}", a.findings);
    assert_eq!(
        summary(&a.findings[0]),
        vec![("example-codename".to_string(), 2)]
    );
    assert_eq!(
        a.findings[0].sha256.as_deref(),
        Some(mijian_report::sha256_hex(&data).as_str())
    );
    // The whole-buffer path agrees.
    let b = analyse(
        Path::new("/big.txt"),
        &data,
        &mut Ctx::new(Limits::default()),
        &c,
    );
    assert_eq!(summary(&b.findings[0]), summary(&a.findings[0]));
}

#[cfg(unix)]
#[test]
fn non_utf8_names_are_decoded_for_matching_and_reported_losslessly() {
    use std::os::unix::ffi::OsStrExt;
    // "玄鸟柒号.txt" as GBK bytes, the way a Windows zip tool writes it.
    let (gbk, _, _) = encoding_rs::GBK.encode("玄鸟柒号.txt");
    let mut raw = b"/h/".to_vec();
    raw.extend_from_slice(&gbk);
    let p = Path::new(std::ffi::OsStr::from_bytes(&raw));
    let mut ctx = Ctx::new(Limits::default());
    let a = analyse(p, b"harmless", &mut ctx, &compiled());
    assert_eq!(a.findings.len(), 1, "{:?}", a.findings);
    let f = &a.findings[0];
    assert!(f.path.as_deref().unwrap().contains("\\x"), "{:?}", f.path);
    assert!(f.path_b64.is_some());
}

#[test]
fn archive_members_are_reported_as_parent_bang_member() {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("dir/note.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all("机密★5年\n正文".as_bytes()).unwrap();
    w.start_file("clean.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"nothing").unwrap();
    let data = w.finish().unwrap().into_inner();
    let a = run("/h/a.zip", &data);
    assert_eq!(a.format, "zip");
    assert_eq!(a.files, 3);
    assert_eq!(a.findings.len(), 1, "{:?}", a.findings);
    assert_eq!(
        a.findings[0].path.as_deref(),
        Some("/h/a.zip!/dir/note.txt")
    );
    assert_eq!(a.findings[0].kind, FindingKind::MarkedClassified);
}

#[test]
fn tar_gz_members_are_reported_through_both_layers() {
    use std::io::Write;
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("dir/note.txt", "机密★5年\n正文".as_bytes()),
        ("clean.txt", b"nothing"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut w = flate2::GzBuilder::new()
        .filename("a.tar")
        .write(Vec::new(), flate2::Compression::default());
    w.write_all(&tar).unwrap();
    let data = w.finish().unwrap();
    let a = run("/h/a.tar.gz", &data);
    assert_eq!(a.format, "gzip");
    assert_eq!(a.files, 4, "the gzip, the tar and two members");
    assert_eq!(a.findings.len(), 1, "{:?}", a.findings);
    assert_eq!(
        a.findings[0].path.as_deref(),
        Some("/h/a.tar.gz!/a.tar!/dir/note.txt")
    );
    assert_eq!(a.findings[0].kind, FindingKind::MarkedClassified);
}

#[test]
fn an_unnamed_gzip_member_is_named_after_the_file() {
    use std::io::Write;
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    w.write_all("机密★5年\n正文".as_bytes()).unwrap();
    let data = w.finish().unwrap();
    for (name, member) in [
        ("/h/报告.TXT.GZ", "/h/报告.TXT.GZ!/报告.TXT"),
        ("/h/b.tgz", "/h/b.tgz!/b.tar"),
        ("/h/noext", "/h/noext!/content"),
    ] {
        let a = run(name, &data);
        assert_eq!(a.findings.len(), 1, "{:?}", a.findings);
        assert_eq!(a.findings[0].path.as_deref(), Some(member));
    }
}

/// A zip of `width` copies of `inner`, named like 42.zip's layers.
fn zip_of(width: usize, name: &str, inner: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..width {
        w.start_file(
            format!("{name}{i:x}"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        w.write_all(inner).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn a_42_zip_shaped_archive_gives_a_small_report() {
    // 16 × 16 × 16 = 4,096 leaves, each a text naming a keyword term: one
    // finding each, before the summary (issue 15).
    let leaf = "关于玄鸟柒号项目的说明\n".repeat(4).into_bytes();
    let l3 = zip_of(16, "lib ", &leaf);
    let l2 = zip_of(16, "book ", &l3);
    let top = zip_of(16, "chapter ", &l2);
    let a = run("/h/42.zip", &top);
    let max = Limits::default().max_findings_per_file;
    assert!(a.findings.len() <= max, "{} findings", a.findings.len());
    let json = serde_json::to_vec(&a.findings).unwrap();
    assert!(json.len() < 64 * 1024, "{} bytes of findings", json.len());
    let summary = a.findings.last().unwrap();
    assert_eq!(summary.kind, FindingKind::UnmarkedClassified);
    assert_eq!(summary.path.as_deref(), Some("/h/42.zip"));
    let d = &summary.detail.as_ref().unwrap()["summary"];
    let omitted = d["omitted"].as_u64().unwrap();
    assert_eq!(omitted as usize + a.findings.len() - 1, 4096);
    assert_eq!(d["by_kind"]["unmarked_classified"].as_u64(), Some(omitted));
    assert_eq!(d["first_paths"].as_array().unwrap().len(), 10);
    assert_eq!(d["more_paths"].as_u64(), Some(omitted - 10));
    // Counts are kept: every leaf's 4 hits, in the listed and the summarised.
    let total: u64 = a
        .findings
        .iter()
        .flat_map(|f| f.matches.iter())
        .map(|m| m.count)
        .sum();
    assert_eq!(total, 4096 * 4);
    // Below the bound nothing is summarised.
    let small = zip_of(3, "a", &leaf);
    let a = run("/h/small.zip", &small);
    assert_eq!(a.findings.len(), 3);
    assert!(a.findings.iter().all(|f| f.detail.is_none()));
}

/// Issue 15 document corners: each of these shapes once hid its text.
#[test]
fn mail_and_web_archive_corners() {
    let html_only = "From: a@example.cn\r\nTo: b@example.cn\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
请查看网页版。\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>关于<b>玄鸟</b>柒号</p></body></html>\r\n--b1--\r\n";
    let a = run("/m/a.eml", html_only.as_bytes());
    assert!(
        a.findings
            .iter()
            .any(|f| f.kind == FindingKind::UnmarkedClassified),
        "html-only alternative: {:?}",
        a.findings
    );
    let inner = "From: c@example.cn\r\nSubject: inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n示例工程的安排\r\n";
    let rfc822 = format!(
        "From: a@example.cn\r\nSubject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n\
--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n转发。\r\n--b2\r\nContent-Type: message/rfc822\r\n\
Content-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\n{inner}\r\n--b2--\r\n"
    );
    let a = run("/m/b.eml", rfc822.as_bytes());
    assert!(
        a.findings
            .iter()
            .any(|f| f.kind == FindingKind::UnmarkedClassified),
        "message/rfc822: {:?}",
        a.findings
    );
    // RFC 2231 attachment name: 玄鸟柒号.txt, percent-encoded UTF-8.
    let rfc2231 = "From: a@example.cn\r\nSubject: att\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b3\"\r\n\r\n\
--b3\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n见附件。\r\n--b3\r\nContent-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename*=UTF-8''%E7%8E%84%E9%B8%9F%E6%9F%92%E5%8F%B7.txt\r\n\
Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b3--\r\n";
    let a = run("/m/c.eml", rfc2231.as_bytes());
    assert!(
        a.findings.iter().any(|f| f
            .path
            .as_deref()
            .is_some_and(|p| p.contains("玄鸟柒号.txt"))
            && f.kind == FindingKind::UnmarkedClassified),
        "RFC 2231 name: {:?}",
        a.findings
    );
    // MHT (a web page saved by IE/Word): MIME with an HTML part.
    let mht = "From: <Saved by Windows Internet Explorer 8>\r\nSubject: page\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/related; type=\"text/html\"; boundary=\"b4\"\r\n\r\n--b4\r\nContent-Type: text/html; charset=\"gb2312\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\nContent-Location: file:///C:/a.htm\r\n\r\n<html><body>=D0=FE=C4=F1=C6=E2=BA=C5</body></html>\r\n--b4--\r\n";
    let a = run("/m/d.mht", mht.as_bytes());
    assert!(
        a.findings
            .iter()
            .any(|f| f.kind == FindingKind::UnmarkedClassified),
        "MHT: {:?}",
        a.findings
    );
}

#[test]
fn epub_and_xps_corners() {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("mimetype", stored).unwrap();
    w.write_all(b"application/epub+zip").unwrap();
    w.start_file("OEBPS/ch1.xhtml", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>c</title></head><body><p>关于玄鸟柒号</p></body></html>"
            .as_bytes(),
    )
    .unwrap();
    let epub = w.finish().unwrap().into_inner();
    let a = run("/m/book.epub", &epub);
    assert!(
        a.findings
            .iter()
            .any(|f| f.kind == FindingKind::UnmarkedClassified),
        "EPUB: {:?}",
        a.findings
    );
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    w.start_file("[Content_Types].xml", o).unwrap();
    w.write_all(b"<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>")
        .unwrap();
    w.start_file("FixedDocumentSequence.fdseq", o).unwrap();
    w.write_all(b"<FixedDocumentSequence/>").unwrap();
    w.start_file("Documents/1/Pages/1.fpage", o).unwrap();
    w.write_all(
        "<FixedPage><Glyphs UnicodeString=\"机密★5年\"/><Glyphs UnicodeString=\"关于示例工程\"/></FixedPage>"
            .as_bytes(),
    )
    .unwrap();
    let xps = w.finish().unwrap().into_inner();
    let a = run("/m/a.xps", &xps);
    assert!(!a.findings.is_empty(), "XPS: {:?}", a.findings);
    assert!(
        a.findings
            .iter()
            .any(|f| f.matches.iter().any(|m| m.rule == "example-codename")),
        "XPS: {:?}",
        a.findings
    );
}

#[test]
fn alternative_halves_are_not_counted_twice() {
    let both = "From: a@example.cn\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
关于玄鸟柒号的说明\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>关于玄鸟柒号的说明</p></body></html>\r\n--b1--\r\n";
    let mut ctx = Ctx::new(Limits::default());
    let d = extract::eml::extract(both.as_bytes(), &mut ctx).unwrap();
    assert_eq!(d.text.matches("玄鸟柒号").count(), 1, "{}", d.text);
}

#[test]
fn legacy_text_without_anchors_is_decoded_only_for_its_head() {
    let c = compiled();
    let pf = c.legacy.as_ref().expect("builtin terms have CJK anchors");
    let clean = encoding_rs::GBK
        .encode(&"秘密★1年\n普通的工作安排，没有敏感内容。\n".repeat(50))
        .0
        .into_owned();
    assert!(!pf.candidates(&clean, Some(&c.matcher)));
    let a = run("/h/gbk.txt", &clean);
    assert_eq!(a.findings.len(), 1, "{:?}", a.findings);
    assert_eq!(a.findings[0].kind, FindingKind::MarkedClassified);
    // One term anywhere, in any encoding, takes the full path.
    for tail in [
        encoding_rs::GBK.encode("关于玄鸟柒号").0.into_owned(),
        encoding_rs::BIG5.encode("關於玄鳥柒號").0.into_owned(),
        "关于玄鸟柒号".as_bytes().to_vec(),
        "关于ＸＮ－０７Ａ型".as_bytes().to_vec(),
    ] {
        let unmarked = [&encoding_rs::GBK.encode("普通的工作安排。\n").0[..], &tail].concat();
        assert!(pf.candidates(&unmarked, Some(&c.matcher)));
        let a = run("/h/gbk.txt", &unmarked);
        assert_eq!(
            a.findings[0].kind,
            FindingKind::UnmarkedClassified,
            "{:?}",
            a.findings
        );
    }
}

/// Issue 15, speed: the legacy prefilter rules out a file only when no
/// anchor of a term has a match's neighbours. Prose full of a term's
/// ordinary anchor characters (示 of 示例工程, 型 of xn-07a型) is spared
/// its decoding; every hidden, folded or re-encoded form of a term is not.
#[test]
fn legacy_prefilter_spares_ordinary_anchors_and_keeps_hidden_terms() {
    let c = compiled();
    let pf = c.legacy.as_ref().expect("example terms have CJK anchors");
    let prose = "表示同意，指示如下。展示大型模型。\n".repeat(40);
    let gbk = |s: &str| encoding_rs::GBK.encode(s).0.into_owned();
    let gb18030 = |s: &str| encoding_rs::GB18030.encode(s).0.into_owned();
    let big5 = |s: &str| encoding_rs::BIG5.encode(s).0.into_owned();
    // The anchors are there, aligned, but never beside a term's neighbours.
    assert!(pf.candidates(&gbk(&prose), None));
    assert!(!pf.candidates(&gbk(&prose), Some(&c.matcher)));
    assert!(run("/h/p.txt", &gbk(&prose)).findings.is_empty());
    let hidden: Vec<(&str, Vec<u8>)> = vec![
        ("GBK", gbk(&format!("{prose}关于示例工程的说明\n"))),
        (
            "GBK, line break",
            gbk(&format!("{prose}关于示\r\n例工程\n")),
        ),
        ("GBK, spaces", gbk(&format!("{prose}关于示　 例 工程\n"))),
        (
            "GB18030, zero-width space",
            gb18030(&format!("{prose}关于示\u{200b}例工程\n")),
        ),
        (
            "GB18030, combining mark",
            gb18030(&format!("{prose}关于示\u{301}例工程\n")),
        ),
        (
            "GB18030, zero-width before the anchor",
            gb18030(&format!("{prose}型号XN-07A\u{200d}型\n")),
        ),
        (
            "GBK, full-width",
            gbk(&format!("{prose}型号ＸＮ－０７Ａ型\n")),
        ),
        ("GBK, upper case", gbk(&format!("{prose}型号XN-07A型\n"))),
        (
            "Big5, traditional",
            big5("關於玄鳥柒號的說明，指示如下。\n"),
        ),
        (
            "GBK + UTF-8 line",
            [gbk(&prose), "关于玄\u{200b}鸟柒号\n".as_bytes().to_vec()].concat(),
        ),
    ];
    for (what, data) in &hidden {
        assert!(pf.candidates(data, Some(&c.matcher)), "{what}");
        let a = run("/h/p.txt", data);
        assert!(
            a.findings
                .iter()
                .any(|f| f.kind == FindingKind::UnmarkedClassified),
            "{what}: {:?}",
            a.findings
        );
    }
    // UTF-16 without a BOM and a file with one NUL byte take their own
    // paths and are still found.
    let body = format!("{prose}关于示\u{200b}例工程\n");
    let le: Vec<u8> = body.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut nul = gb18030(&body);
    nul.insert(3, 0);
    for (what, data) in [("UTF-16LE, no BOM", le), ("GBK with a NUL", nul)] {
        let a = run("/h/p.txt", &data);
        assert!(
            a.findings
                .iter()
                .any(|f| f.kind == FindingKind::UnmarkedClassified),
            "{what}: {:?}",
            a.findings
        );
    }
    // A marking in a legacy head is still read; a head with no level
    // word's character is not decoded at all.
    for marked in [
        gbk(&format!("机密★5年\n{prose}")),
        big5(&format!("機密★5年\n{}", "指示如下。\n".repeat(20))),
        gbk(&format!("密级：秘密\n{prose}")),
    ] {
        let a = run("/h/m.txt", &marked);
        assert_eq!(a.findings.len(), 1, "{:?}", a.findings);
        assert_eq!(a.findings[0].kind, FindingKind::MarkedClassified);
    }
    let m = c.marking_bytes.as_ref().expect("marking anchors");
    assert!(!m.is_match(&gbk(&prose)));
}

/// Issue 15: the prefilters never drop a match. Random prose made of the
/// terms' own characters and their neighbours, with one term hidden by
/// blanks, zero-width characters, combining marks, full-width or
/// traditional forms, in UTF-8, GB18030 or Big5: whenever the path without
/// prefilters (whole decode, every character normalised, raw search) finds
/// a term, the file has a finding. (That path itself can miss: charset
/// detection may misread a short GB18030 text full of four-byte forms; the
/// prefilters do not make that worse.)
#[test]
fn prefilters_never_drop_a_match_in_random_text() {
    let c = compiled();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let alphabet: Vec<char> = "示例工程玄鸟柒号型模大展表同意，。\nxnaA-07 "
        .chars()
        .collect();
    let gaps = [
        "",
        "",
        "\u{200b}",
        " ",
        "\r\n",
        "\u{3000}",
        "\u{301}",
        "\u{feff}\u{2060}",
    ];
    let terms = [
        "示例工程",
        "玄鸟柒号",
        "xn-07a型",
        "玄鳥柒號",
        "ＸＮ－０７Ａ型",
    ];
    let (mut found, mut readable_n) = (0, 0);
    for case in 0..400 {
        let mut text = String::new();
        for _ in 0..rnd(300) {
            text.push(alphabet[rnd(alphabet.len())]);
        }
        if case % 3 != 0 {
            let term = terms[rnd(terms.len())];
            let mut hidden = String::new();
            for ch in term.chars() {
                hidden.push(ch);
                hidden.push_str(gaps[rnd(gaps.len())]);
            }
            let at = text
                .char_indices()
                .nth(rnd(text.chars().count() + 1))
                .map_or(text.len(), |(i, _)| i);
            text.insert_str(at, &hidden);
        }
        for _ in 0..rnd(200) {
            text.push(alphabet[rnd(alphabet.len())]);
        }
        let enc = rnd(3);
        let (data, reading) = match enc {
            0 => (text.as_bytes().to_vec(), text.clone()),
            1 => {
                let (b, _, _) = encoding_rs::GB18030.encode(&text);
                (b.into_owned(), text.clone())
            }
            _ => {
                // Big5 cannot write every character: compare with what it
                // did write.
                let (b, _, _) = encoding_rs::BIG5.encode(&text);
                let back = encoding_rs::BIG5
                    .decode_without_bom_handling(&b)
                    .0
                    .into_owned();
                (b.into_owned(), back)
            }
        };
        let decoded = text::decode(&data);
        let want = c
            .matcher
            .scan_normalised_text(&crate::normalise::normalise(&decoded.text))
            .any()
            || c.raw.scan(&data).any();
        let readable = c
            .matcher
            .scan_normalised_text(&crate::normalise::normalise(&reading))
            .any();
        readable_n += usize::from(readable);
        let a = run("/h/r.txt", &data);
        let got = a.findings.iter().any(|f| !f.matches.is_empty());
        if want {
            found += 1;
            if !got {
                let _ = std::fs::write("/tmp/h15s/case.bin", &data);
            }
            assert!(
                got,
                "case {case}, encoding {enc}: {text:?} -> {:?}",
                a.findings
            );
        }
    }
    assert!(found > 150, "{found} of {readable_n} cases held a term");
}
