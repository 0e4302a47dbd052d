//! Mutation corpus (issue 15, "evasion by one byte"): every format fixture
//! is mutated the way a user hiding a file — or a damaged disk — would
//! (a NUL in the first kilobytes, one invalid byte, a flipped byte, a cut,
//! a zeroed 512-byte sector, a broken OLE header), and every mutant that
//! still holds the bytes of a keyword term in some encoding must come out
//! with at least one finding of some kind (a hit, a marking, or
//! `unscannable`). A silent miss is the worst defect a scanner can have.

use mijian_policy::{Classification, Policy};
use mijian_scanner::extract::{Ctx, Limits};
use mijian_scanner::file::{Compiled, analyse};
use std::path::{Path, PathBuf};

/// The builtin policy's terms, in every spelling and encoding the scanner
/// promises to find in raw bytes.
fn term_bytes() -> Vec<Vec<u8>> {
    let spellings = ["玄鸟柒号", "玄鳥柒號", "示例工程", "xn-07a型", "XN-07A型"];
    let mut out = Vec::new();
    for s in spellings {
        out.push(s.as_bytes().to_vec());
        for enc in [encoding_rs::GBK, encoding_rs::BIG5] {
            let (b, _, bad) = enc.encode(s);
            if !bad {
                out.push(b.into_owned());
            }
        }
        out.push(s.encode_utf16().flat_map(u16::to_le_bytes).collect());
        out.push(s.encode_utf16().flat_map(u16::to_be_bytes).collect());
    }
    out
}

fn holds_term(data: &[u8], terms: &[Vec<u8>]) -> bool {
    terms
        .iter()
        .any(|t| memchr::memmem::find(data, t).is_some())
}

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/formats");
    let mut v = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.to_string_lossy();
            if name.ends_with(".json") || name.ends_with(".py") || name.ends_with(".toml") {
                continue;
            }
            if std::fs::metadata(&p).map_or(true, |m| m.len() > 4 << 20) {
                continue;
            }
            v.push(p);
        }
    }
    v.sort();
    v
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutants(data: &[u8], rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if data.is_empty() {
        return out;
    }
    let head = data.len().min(8192);
    for _ in 0..4 {
        let at = rng.below(head + 1);
        let mut m = data.to_vec();
        m.insert(at, 0);
        out.push((format!("NUL at {at}"), m));
    }
    for _ in 0..4 {
        let at = rng.below(data.len());
        let mut m = data.to_vec();
        let b = [0xff, 0x80, 0xc3, 0xfe][rng.below(4)];
        m.insert(at, b);
        out.push((format!("byte {b:#x} inserted at {at}"), m));
    }
    for _ in 0..4 {
        let at = rng.below(data.len());
        let mut m = data.to_vec();
        m[at] ^= (rng.below(255) + 1) as u8;
        out.push((format!("byte flipped at {at}"), m));
    }
    for _ in 0..2 {
        let at = rng.below(data.len());
        out.push((format!("cut at {at}"), data[..at].to_vec()));
    }
    for _ in 0..2 {
        let sectors = data.len() / 512;
        if sectors > 1 {
            let s = rng.below(sectors);
            let mut m = data.to_vec();
            m[s * 512..(s + 1) * 512].fill(0);
            out.push((format!("sector {s} zeroed"), m));
        }
    }
    if data.starts_with(b"\xD0\xCF\x11\xE0") && data.len() > 0x50 {
        // Directory start, FAT and mini-FAT locations of the OLE header.
        for (what, at) in [("directory", 0x30), ("minifat", 0x3C), ("fat", 0x4C)] {
            let mut m = data.to_vec();
            m[at..at + 4].copy_from_slice(&[0xfe, 0xff, 0xff, 0x7f]);
            out.push((format!("OLE {what} pointer broken"), m));
        }
    }
    out
}

#[test]
fn no_mutant_holding_a_term_comes_out_without_a_finding() {
    let policy = Policy::example().expect("builtin policy");
    let compiled = Compiled::new(&policy, Classification::Unclassified).expect("compile");
    let terms = term_bytes();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut total, mut holding) = (0usize, 0usize);
    let mut silent = Vec::new();
    for f in fixtures() {
        let Ok(data) = std::fs::read(&f) else {
            continue;
        };
        for (what, m) in mutants(&data, &mut rng) {
            total += 1;
            if !holds_term(&m, &terms) {
                continue;
            }
            holding += 1;
            let mut ctx = Ctx::new(Limits::default());
            // A neutral name: the file name must not be what is found.
            let a = analyse(Path::new("/m/mutant"), &m, &mut ctx, &compiled);
            if a.findings.is_empty() {
                silent.push(format!("{}: {what}", f.display()));
            }
        }
    }
    eprintln!(
        "{total} mutants, {holding} holding a term's bytes, {} silent",
        silent.len()
    );
    assert!(total > 1000, "only {total} mutants: fixtures missing?");
    assert!(holding > 200, "only {holding} mutants hold a term");
    assert!(
        silent.is_empty(),
        "{} silent misses:\n{}",
        silent.len(),
        silent.join("\n")
    );
}

/// Hidden mode (issue 13) on the mutation corpus: the mutants are exactly
/// the files whose text does not read cleanly, so the raw-byte search
/// decides many of them; the hidden form of the same keyword set must give
/// the very same findings on every mutant.
#[test]
fn hidden_mode_equals_plain_mode_on_every_mutant() {
    let plain = Policy::example().expect("builtin policy");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let files: Vec<(String, Vec<u8>)> = Policy::read_files(&root.join("rules"))
        .expect("rules")
        .into_iter()
        .filter(|(p, _)| !p.starts_with("keywords/"))
        .chain([(
            "keywords/example.toml".to_string(),
            std::fs::read(root.join("docs/examples/keywords/example.toml")).expect("example"),
        )])
        .collect();
    let (hidden_files, _) = mijian_policy::bundle::hide(
        &files,
        &[0xa5; mijian_policy::hashed::SALT_BYTES],
        &mijian_scanner::normalise::normalise,
        &mijian_scanner::raw::byte_spellings,
    )
    .expect("hide");
    let hidden = Policy::from_files(Path::new("<hidden>"), &hidden_files, None).expect("hidden");
    assert!(hidden.keywords.rules.iter().any(|r| r.hidden.is_some()));
    let cp = Compiled::new(&plain, Classification::Unclassified).expect("compile");
    let ch = Compiled::new(&hidden, Classification::Unclassified).expect("compile");
    let terms = term_bytes();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut total, mut raw, mut differ) = (0usize, 0usize, Vec::new());
    for f in fixtures() {
        let Ok(data) = std::fs::read(&f) else {
            continue;
        };
        for (what, m) in mutants(&data, &mut rng) {
            if !holds_term(&m, &terms) {
                continue;
            }
            total += 1;
            let p = Path::new("/m/mutant");
            let a = analyse(p, &m, &mut Ctx::new(Limits::default()), &cp);
            let b = analyse(p, &m, &mut Ctx::new(Limits::default()), &ch);
            let ja = serde_json::to_string(&a.findings).expect("json");
            let jb = serde_json::to_string(&b.findings).expect("json");
            raw += usize::from(ja.contains("\"raw_rules\""));
            if ja != jb {
                differ.push(format!("{}: {what}", f.display()));
            }
        }
    }
    eprintln!(
        "{total} mutants holding a term, {raw} with raw-byte findings, {} differ",
        differ.len()
    );
    assert!(total > 200, "only {total} mutants hold a term");
    assert!(raw > 20, "only {raw} mutants with raw-byte findings");
    assert!(
        differ.is_empty(),
        "{} mutants differ between plain and hidden mode:\n{}",
        differ.len(),
        differ.join("\n")
    );
}
