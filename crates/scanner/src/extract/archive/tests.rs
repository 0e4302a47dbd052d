use super::*;
use crate::extract::Limits;
use std::io::Write;
use zip::write::SimpleFileOptions;

fn build(members: &[(&str, &[u8], zip::CompressionMethod)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data, method) in members {
        let opts = SimpleFileOptions::default().compression_method(*method);
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/formats/zip")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn members_become_children_with_their_paths() {
    let data = build(&[
        ("dir/b.txt", b"hello", zip::CompressionMethod::Deflated),
        ("c.txt", b"world", zip::CompressionMethod::Stored),
    ]);
    let mut ctx = Ctx::new(Limits::default());
    let doc = extract(&data, &mut ctx).unwrap();
    assert_eq!(doc.format, "zip");
    let names: Vec<_> = doc.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["dir/b.txt", "c.txt"]);
    assert_eq!(doc.children[0].data, b"hello");
    assert!(doc.text.contains("dir/b.txt"));
    assert!(doc.failed_children.is_empty());
}

#[test]
fn read_member_charges_the_budget() {
    let data = build(&[("x", &[b'a'; 10_000], zip::CompressionMethod::Deflated)]);
    let mut ctx = Ctx::new(Limits::default());
    let mut zip = open_zip(&data, &mut ctx).unwrap();
    assert!(has_member(&zip, "x"));
    let got = read_member(&mut zip, "x", &mut ctx).unwrap();
    assert_eq!(got.len(), 10_000);
    assert_eq!(ctx.decompressed, 10_000);
    assert!(matches!(
        read_member(&mut zip, "nope", &mut ctx),
        Err(ExtractError::Corrupt(_))
    ));
}

#[test]
fn high_ratio_member_is_refused_with_limit() {
    // 8 MB of zeros deflate to ~8 kB: a ratio near 1000, above the cap of 200.
    let zeros = vec![0u8; 8 << 20];
    let data = build(&[("bomb.bin", &zeros, zip::CompressionMethod::Deflated)]);
    let mut ctx = Ctx::new(Limits::default());
    let doc = extract(&data, &mut ctx).unwrap();
    assert!(doc.children.is_empty());
    assert_eq!(doc.failed_children.len(), 1);
    assert_eq!(doc.failed_children[0].error.reason(), "limit");
}

#[test]
fn total_budget_ends_the_archive() {
    let chunk: Vec<u8> = (0..600_000u64).map(|i| (i * 7919 % 251) as u8).collect();
    let data = build(&[
        ("a", &chunk, zip::CompressionMethod::Stored),
        ("b", &chunk, zip::CompressionMethod::Stored),
    ]);
    let limits = Limits {
        max_decompressed_bytes: 1_000_000,
        ..Limits::default()
    };
    let mut ctx = Ctx::new(limits);
    let err = extract(&data, &mut ctx).unwrap_err();
    assert_eq!(err.reason(), "limit");
}

#[test]
fn depth_limit_refuses_deep_archives() {
    let data = build(&[("a", b"x", zip::CompressionMethod::Stored)]);
    let mut ctx = Ctx::new(Limits::default());
    ctx.depth = ctx.limits.max_depth;
    assert_eq!(extract(&data, &mut ctx).unwrap_err().reason(), "limit");
}

#[test]
fn garbage_is_corrupt_not_a_panic() {
    let mut ctx = Ctx::new(Limits::default());
    for data in [
        &b""[..],
        b"PK\x03\x04",
        b"PK\x05\x06\0\0\0\0\xff\xff\xff\xff",
    ] {
        assert!(extract(data, &mut ctx).is_err());
    }
    // Truncate a real archive at every length: never a panic.
    let real = build(&[("a.txt", b"some text here", zip::CompressionMethod::Deflated)]);
    for n in 0..real.len() {
        let _ = extract(&real[..n], &mut Ctx::new(Limits::default()));
    }
}

#[test]
fn overlapping_entries_fixture_is_refused() {
    let data = fixture("overlap_bomb.zip");
    let mut ctx = Ctx::new(Limits::default());
    let err = extract(&data, &mut ctx).unwrap_err();
    assert_eq!(err.reason(), "limit", "{err}");
}

#[test]
fn encrypted_member_fixture_fails_alone() {
    let data = fixture("encrypted_member.zip");
    let mut ctx = Ctx::new(Limits::default());
    let doc = extract(&data, &mut ctx).unwrap();
    let names: Vec<_> = doc.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["plain.txt"]);
    assert_eq!(doc.failed_children.len(), 1);
    assert_eq!(doc.failed_children[0].name, "secret.txt");
    assert_eq!(doc.failed_children[0].error.reason(), "encrypted");
}

#[test]
fn nested_fixture_yields_inner_zip_as_child() {
    let data = fixture("nested.zip");
    let mut ctx = Ctx::new(Limits::default());
    let doc = extract(&data, &mut ctx).unwrap();
    let inner = doc
        .children
        .iter()
        .find(|c| c.name == "b.zip")
        .expect("b.zip member");
    ctx.depth += 1;
    let doc2 = extract(&inner.data, &mut ctx).unwrap();
    assert!(doc2.children.iter().any(|c| c.name == "c.txt"));
}

#[test]
fn bzip2_member_is_read() {
    let data = fixture("bzip2_member.zip");
    let mut ctx = Ctx::new(Limits::default());
    let doc = extract(&data, &mut ctx).unwrap();
    assert_eq!(doc.children.len(), 1, "{:?}", doc.failed_children);
    assert!(String::from_utf8_lossy(&doc.children[0].data).contains("玄鸟柒号"));
}

#[test]
fn gbk_member_names_are_decoded() {
    assert_eq!(member_name(b"\xbb\xfa\xc3\xdc.txt"), "机密.txt");
    assert_eq!(member_name("/a/机密.txt".as_bytes()), "a/机密.txt");
}

#[test]
fn nested_bomb_layers_stop_at_the_depth_limit() {
    // deep.zip: six zip layers around one text file (the shape of 42.zip).
    let mut data = fixture("deep.zip");
    let mut ctx = Ctx::new(Limits::default());
    let mut layers = 0;
    let err = loop {
        match extract(&data, &mut ctx) {
            Ok(doc) => {
                assert_eq!(doc.children.len(), 1);
                data = doc.children[0].data.clone();
                ctx.depth += 1;
                layers += 1;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err.reason(), "limit");
    assert_eq!(layers, Limits::default().max_depth);
}
