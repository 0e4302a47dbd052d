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
fn binary_content_is_skipped_but_named() {
    let elf = [&b"\x7fELF\x02\x01\x01\0\0\0"[..], "玄鸟柒号".as_bytes()].concat();
    let a = run("/h/x.bin", &elf);
    assert!(a.skipped);
    assert!(a.findings.is_empty());
    let a = run("/h/玄鸟柒号.bin", &elf);
    assert_eq!(a.findings.len(), 1);
    assert_eq!(a.findings[0].format.as_deref(), Some("binary"));
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
