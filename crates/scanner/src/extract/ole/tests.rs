use super::*;
use crate::extract::Limits;

fn fixture(rel: &str) -> Vec<u8> {
    let p = format!(
        "{}/../../fixtures/formats/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn run(rel: &str) -> ExtractResult {
    extract(&fixture(rel), &mut Ctx::new(Limits::default()))
}

fn ok(rel: &str) -> Document {
    run(rel).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn head(d: &Document) -> String {
    d.head.clone().unwrap_or_else(|| d.text.clone())
}

fn first_lines(s: &str, n: usize) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(n)
        .map(str::to_owned)
        .collect()
}

fn prop<'a>(d: &'a Document, k: &str) -> Option<&'a str> {
    d.properties
        .iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
}

#[test]
fn doc_marked() {
    let d = ok("doc/marked.doc");
    assert_eq!(d.format, "doc");
    assert!(d.text.contains("玄鸟柒号"), "{}", d.text);
    assert!(d.text.contains("XN-07A型"));
    assert!(d.text.contains("cell phone"));
    assert_eq!(first_lines(&head(&d), 1), vec!["机密★5年"]);
}

#[test]
fn doc_unmarked_and_header() {
    let d = ok("doc/unmarked.doc");
    assert!(d.text.contains("示例工程"));
    assert_eq!(first_lines(&head(&d), 1), vec!["工作通报"]);
    let d = ok("doc/marked_header.doc");
    assert!(d.text.contains("示例工程"));
    assert_eq!(
        first_lines(&head(&d), 1),
        vec!["秘密★1年"],
        "head: {:?}",
        d.head
    );
}

#[test]
fn doc_custom_property() {
    let d = ok("doc/custom_prop.doc");
    assert_eq!(prop(&d, "密级"), Some("机密"), "{:?}", d.properties);
    assert!(d.text.contains("玄鸟柒号"));
}

#[test]
fn doc_encrypted_truncated_garbage() {
    assert!(matches!(
        run("doc/encrypted.doc"),
        Err(ExtractError::Encrypted(_))
    ));
    assert!(run("doc/truncated.doc").is_err());
    assert!(run("doc/garbage.doc").is_err());
}

#[test]
fn wps_family() {
    let d = ok("wps/marked.wps");
    assert_eq!(d.format, "wps");
    assert_eq!(first_lines(&head(&d), 1), vec!["机密★5年"]);
    assert!(prop(&d, "KSOProductBuildVer").is_none());
    let d = ok("et/marked.et");
    assert_eq!(d.format, "et");
    assert!(d.text.contains("玄鸟柒号"));
    let d = ok("dps/marked.dps");
    assert_eq!(d.format, "dps");
    assert!(d.text.contains("玄鸟柒号"));
}

#[test]
fn xls_cells_sst_continue() {
    let d = ok("xls/marked.xls");
    assert_eq!(d.format, "xls");
    assert_eq!(first_lines(&head(&d), 1), vec!["机密★5年"]);
    assert!(d.text.contains("玄鸟柒号"));
    assert!(d.text.contains("XN-07A型"));
    assert!(d.text.contains("42"));
    // the long string spans CONTINUE records and must arrive whole
    let long = format!("{}玄鸟柒号", "长文本".repeat(3000));
    assert!(d.text.contains(&long), "long SST string split");
    assert!(
        d.text.contains("明细") && d.text.contains("汇总"),
        "sheet names"
    );
    assert!(d.text.contains("english\tplain"));
    let d = ok("xls/unmarked.xls");
    assert!(d.text.contains("示例工程"));
    assert!(
        d.text.contains("批注：型号 XN-12B型"),
        "cell comment (TXO): {}",
        d.text
    );
    let d = ok("xls/custom_prop.xls");
    assert_eq!(prop(&d, "密级"), Some("机密"), "{:?}", d.properties);
}

#[test]
fn xls_encrypted_truncated() {
    assert!(matches!(
        run("xls/encrypted.xls"),
        Err(ExtractError::Encrypted(_))
    ));
    assert!(run("xls/truncated.xls").is_err());
}

#[test]
fn ppt_slides() {
    let d = ok("ppt/marked.ppt");
    assert_eq!(d.format, "ppt");
    assert!(d.text.contains("玄鸟柒号"), "{}", d.text);
    assert!(d.text.contains("XN-07A型"));
    let h = head(&d);
    assert_eq!(first_lines(&h, 1), vec!["机密★5年"], "head {h:?}");
    assert!(!h.contains("XN-07A"), "head is the first slide only");
    assert!(!d.text.contains("Click to edit"), "master text skipped");
    let d = ok("ppt/unmarked.ppt");
    assert!(d.text.contains("示例工程"));
    assert!(run("ppt/truncated.ppt").is_err());
}

#[test]
fn expected_json_agrees() {
    // Every fixture with "unscannable" set fails, every other one extracts
    // with the expected format name.
    for fmt in ["doc", "xls", "ppt", "wps", "et", "dps"] {
        let dir = format!(
            "{}/../../fixtures/formats/{fmt}",
            env!("CARGO_MANIFEST_DIR")
        );
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let Some(case) = name.strip_suffix(".expected.json") else {
                continue;
            };
            let exp: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            let r = run(&format!("{fmt}/{case}.{fmt}"));
            match exp["unscannable"].as_str() {
                Some(reason) => {
                    let err = r.expect_err(&name);
                    if reason == "encrypted" {
                        assert_eq!(err.reason(), "encrypted", "{name}");
                    } else {
                        assert!(
                            matches!(err.reason(), "corrupt" | "truncated"),
                            "{name}: {err}"
                        );
                    }
                }
                None => {
                    let d = r.unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(d.format, exp["format"].as_str().unwrap(), "{name}");
                }
            }
        }
    }
}

#[test]
fn not_an_office_file_is_unsupported() {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut cf = cfb::CompoundFile::create(&mut buf).unwrap();
        std::io::Write::write_all(
            &mut cf.create_stream("/__substg1.0_0037001F").unwrap(),
            b"x",
        )
        .unwrap();
    }
    let r = extract(buf.get_ref(), &mut Ctx::new(Limits::default()));
    assert!(matches!(r, Err(ExtractError::Unsupported(_))), "{r:?}");
}

#[test]
fn encrypted_ooxml_still_detected() {
    let r = run("docx/encrypted.docx");
    assert!(matches!(r, Err(ExtractError::Encrypted(_))), "{r:?}");
}

#[test]
fn embedded_package_becomes_child() {
    let inner = fixture("docx/unmarked.docx");
    let doc = fixture("doc/unmarked.doc");
    // Add an ObjectPool/_1/Package stream to a copy of a real .doc.
    let mut cf = cfb::CompoundFile::open(std::io::Cursor::new(doc)).unwrap();
    cf.create_storage_all("/ObjectPool/_1").unwrap();
    std::io::Write::write_all(
        &mut cf.create_stream("/ObjectPool/_1/Package").unwrap(),
        &inner,
    )
    .unwrap();
    cf.flush().unwrap();
    let bytes = cf.into_inner().into_inner();
    let d = extract(&bytes, &mut Ctx::new(Limits::default())).unwrap();
    assert_eq!(d.children.len(), 1);
    assert_eq!(d.children[0].name, "ObjectPool/_1/Package");
    assert_eq!(d.children[0].data, inner);
}

/// Deterministic mutations of every fixture: flipped bytes and truncations
/// must give Ok or an error, never a panic. `OLE_MUTATIONS=N` runs N per
/// fixture instead of 200 (a longer local fuzz run).
#[test]
fn mutated_fixtures_never_panic() {
    let rounds: usize = std::env::var("OLE_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let cases = [
        "doc/marked.doc",
        "doc/marked_header.doc",
        "doc/custom_prop.doc",
        "xls/marked.xls",
        "xls/custom_prop.xls",
        "ppt/marked.ppt",
        "dps/marked.dps",
        "et/marked.et",
    ];
    for case in cases {
        let good = fixture(case);
        for i in 0..rounds {
            let mut m = good.clone();
            if i % 50 == 7 {
                // one mutation in the sector chains/directory area only
                let at = 512 + (rnd() as usize) % (m.len() - 512);
                m[at] ^= 1 << (rnd() % 8);
            } else if i % 5 == 4 {
                let n = (rnd() as usize) % m.len();
                m.truncate(n);
            } else {
                for _ in 0..1 + rnd() % 16 {
                    let at = (rnd() as usize) % m.len();
                    m[at] = rnd() as u8;
                }
            }
            let mut ctx = Ctx::new(Limits {
                max_elements: 2_000_000,
                ..Limits::default()
            });
            let _ = extract(&m, &mut ctx);
        }
    }
}

/// A compound file with the given root streams.
fn cfb_with(streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut cf = cfb::CompoundFile::create(&mut buf).unwrap();
        for (name, data) in streams {
            if let Some((dir, _)) = name.rsplit_once('/') {
                cf.create_storage_all(dir).unwrap();
            }
            std::io::Write::write_all(&mut cf.create_stream(name).unwrap(), data).unwrap();
        }
        cf.flush().unwrap();
    }
    buf.into_inner()
}

/// PPT record header.
fn rec(ver_inst: u16, ty: u16, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&ver_inst.to_le_bytes());
    v.extend_from_slice(&ty.to_le_bytes());
    v.extend_from_slice(&(body.len() as u32).to_le_bytes());
    v.extend_from_slice(body);
    v
}

#[test]
fn ppt_crypt_session_is_encrypted() {
    let mut doc = rec(0x0F, 0x03E8, &rec(0x0F, 0x2F14, &[0; 8]));
    doc.extend(rec(0, 0x0FA0, &[0x41, 0]));
    let f = cfb_with(&[("/PowerPoint Document", &doc), ("/Current User", &[0; 20])]);
    let r = extract(&f, &mut Ctx::new(Limits::default()));
    assert!(matches!(r, Err(ExtractError::Encrypted(_))), "{r:?}");
    // without the CryptSession container: text, deep nesting costs no stack
    let deep = rec(
        0,
        0x0FA0,
        &"深层文本"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<_>>(),
    );
    // 100,000 nested containers, headers written outermost first
    let levels = 100_000usize;
    let mut nested = Vec::with_capacity(levels * 8 + deep.len());
    for k in 0..levels {
        let inner = (levels - k - 1) * 8 + deep.len();
        nested.extend_from_slice(&0x0Fu16.to_le_bytes());
        nested.extend_from_slice(&0x1000u16.to_le_bytes());
        nested.extend_from_slice(&(inner as u32).to_le_bytes());
    }
    nested.extend_from_slice(&deep);
    let deep = nested;
    let f = cfb_with(&[("/PowerPoint Document", &deep)]);
    let d = extract(&f, &mut Ctx::new(Limits::default())).unwrap();
    assert!(d.text.contains("深层文本"));
}

/// A user-defined property set in code page 936 (GBK names and values), as
/// Chinese Office/WPS versions write it.
#[test]
fn user_properties_in_gbk() {
    let gbk = |s: &str| encoding_rs::GBK.encode(s).0.into_owned();
    let mut sec = Vec::new();
    let name = [gbk("密级"), vec![0]].concat();
    let value = [gbk("机密"), vec![0]].concat();
    // properties: 0 dictionary, 1 codepage, 2 the value
    let mut dict = Vec::new();
    dict.extend_from_slice(&1u32.to_le_bytes());
    dict.extend_from_slice(&2u32.to_le_bytes());
    dict.extend_from_slice(&(name.len() as u32).to_le_bytes());
    dict.extend_from_slice(&name);
    while dict.len() % 4 != 0 {
        dict.push(0);
    }
    let cp = [2u32.to_le_bytes(), 936u32.to_le_bytes()].concat();
    let mut val = Vec::new();
    val.extend_from_slice(&0x1Eu32.to_le_bytes());
    val.extend_from_slice(&(value.len() as u32).to_le_bytes());
    val.extend_from_slice(&value);
    while val.len() % 4 != 0 {
        val.push(0);
    }
    let start = 8 + 3 * 8;
    let offs = [start, start + dict.len(), start + dict.len() + cp.len()];
    let total = offs[2] + val.len();
    sec.extend_from_slice(&(total as u32).to_le_bytes());
    sec.extend_from_slice(&3u32.to_le_bytes());
    for (pid, off) in [(0u32, offs[0]), (1, offs[1]), (2, offs[2])] {
        sec.extend_from_slice(&pid.to_le_bytes());
        sec.extend_from_slice(&(off as u32).to_le_bytes());
    }
    sec.extend(dict);
    sec.extend(cp);
    sec.extend(val);
    let fmtid = [
        0x05u8, 0xD5, 0xCD, 0xD5, 0x9C, 0x2E, 0x1B, 0x10, 0x93, 0x97, 0x08, 0x00, 0x2B, 0x2C, 0xF9,
        0xAE,
    ];
    let mut ps = vec![0xFE, 0xFF, 0, 0, 0, 0, 0, 0];
    ps.extend_from_slice(&[0; 16]);
    ps.extend_from_slice(&1u32.to_le_bytes());
    ps.extend_from_slice(&fmtid);
    ps.extend_from_slice(&48u32.to_le_bytes());
    ps.extend(sec);
    let p = props::parse(&ps, &mut Ctx::new(Limits::default())).unwrap();
    assert_eq!(p.props, vec![("密级".to_string(), "机密".to_string())]);
}

#[test]
fn ole10native_package_child() {
    let payload = b"hello \xe7\x8e\x84\xe9\xb8\x9f";
    let mut n = Vec::new();
    n.extend_from_slice(&0u32.to_le_bytes());
    n.extend_from_slice(&2u16.to_le_bytes());
    n.extend_from_slice(b"note.txt\0C:\\tmp\\note.txt\0");
    n.extend_from_slice(&[0; 8]);
    n.extend_from_slice(b"C:\\tmp\\note.txt\0");
    n.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    n.extend_from_slice(payload);
    let doc = fixture("doc/unmarked.doc");
    let mut cf = cfb::CompoundFile::open(std::io::Cursor::new(doc)).unwrap();
    cf.create_storage_all("/ObjectPool/_7").unwrap();
    std::io::Write::write_all(
        &mut cf.create_stream("/ObjectPool/_7/\u{1}Ole10Native").unwrap(),
        &n,
    )
    .unwrap();
    cf.flush().unwrap();
    let bytes = cf.into_inner().into_inner();
    let d = extract(&bytes, &mut Ctx::new(Limits::default())).unwrap();
    assert_eq!(d.children.len(), 1);
    assert_eq!(d.children[0].name, "ObjectPool/_7/note.txt");
    assert_eq!(d.children[0].data, payload);
    // at the depth limit no children are taken
    let mut ctx = Ctx::new(Limits::default());
    ctx.depth = ctx.limits.max_depth;
    assert!(extract(&bytes, &mut ctx).unwrap().children.is_empty());
}

#[test]
fn embedded_workbook_storage_becomes_child() {
    let xls = fixture("xls/unmarked.xls");
    let wb = {
        let mut cf = cfb::CompoundFile::open(std::io::Cursor::new(xls)).unwrap();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut cf.open_stream("/Workbook").unwrap(), &mut v).unwrap();
        v
    };
    let f = cfb_with(&[
        (
            "/WordDocument",
            &fixture_stream("doc/marked.doc", "/WordDocument"),
        ),
        ("/1Table", &fixture_stream("doc/marked.doc", "/1Table")),
        ("/ObjectPool/_99/Workbook", &wb),
    ]);
    let d = extract(&f, &mut Ctx::new(Limits::default())).unwrap();
    assert!(d.text.contains("玄鸟柒号"));
    assert_eq!(d.children.len(), 1, "{:?}", d.failed_children);
    assert_eq!(d.children[0].name, "ObjectPool/_99");
    let inner = extract(&d.children[0].data, &mut Ctx::new(Limits::default())).unwrap();
    assert_eq!(inner.format, "xls");
    assert!(inner.text.contains("示例工程"));
}

fn fixture_stream(rel: &str, stream: &str) -> Vec<u8> {
    let mut cf = cfb::CompoundFile::open(std::io::Cursor::new(fixture(rel))).unwrap();
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut cf.open_stream(stream).unwrap(), &mut v).unwrap();
    v
}

#[test]
fn ppt_embedded_object_storage_becomes_child() {
    use std::io::Write;
    let xls = fixture("xls/unmarked.xls");
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&xls).unwrap();
    let mut body = (xls.len() as u32).to_le_bytes().to_vec();
    body.extend(z.finish().unwrap());
    let mut doc = rec(0x0F, 0x03E8, &[]);
    doc.extend(rec(0x10, 0x1011, &body));
    let f = cfb_with(&[("/PowerPoint Document", &doc)]);
    let d = extract(&f, &mut Ctx::new(Limits::default())).unwrap();
    assert_eq!(d.children.len(), 1);
    assert_eq!(d.children[0].name, "ExOleObjStg/1");
    assert_eq!(d.children[0].data, xls);
    // a broken zlib stream is a failed child, not a failed presentation
    let mut doc = rec(0x0F, 0x03E8, &[]);
    doc.extend(rec(0x10, 0x1011, &[1, 0, 0, 0, 0x78, 0x9C, 0xFF, 0xFF]));
    let f = cfb_with(&[("/PowerPoint Document", &doc)]);
    let d = extract(&f, &mut Ctx::new(Limits::default())).unwrap();
    assert!(d.children.is_empty());
    assert_eq!(d.failed_children.len(), 1);
}

#[test]
fn doc_table_cells() {
    let d = ok("doc/table.doc");
    let lines = first_lines(&d.text, 7);
    assert_eq!(
        lines,
        vec![
            "表格测试",
            "项目",
            "型号",
            "玄鸟柒号",
            "xn-07a型",
            "表后段落"
        ],
        "{:?}",
        d.text
    );
}
