//! Single-stream compressors: xz (`.xz`, and the outer layer of
//! `.tar.xz`/`.txz`) and bzip2 (`.bz2`, `.tar.bz2`/`.tbz2`). Like gzip, the
//! decompressed stream is one child, analysed like a file of its own
//! (`a.tar.xz!/a.tar!/dir/b.docx`).
//!
//! Decoders are `lzma-rs` (pure Rust) and `bzip2` (the reference C library,
//! built from its bundled source) — both already in the tree through the
//! `zip` crate. Output goes through [`Ctx::read_bounded`] or a writer with
//! the same cap (shared budget, ratio, deadline); lzma-rs grows its
//! dictionary only as output is written, so memory follows the cap. A cut or
//! damaged stream is `truncated`/`corrupt`, never clean.

use super::{Child, Ctx, Document, ExtractError, ExtractResult};
use std::io::Write;

pub const XZ_MAGIC: &[u8] = b"\xfd7zXZ\x00";
/// `BZh` + block size digit + the first block's magic (π).
pub fn is_bzip2(data: &[u8]) -> bool {
    data.len() >= 10
        && data.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&data[3])
        && (&data[4..10] == b"\x31\x41\x59\x26\x53\x59"
            || &data[4..10] == b"\x17\x72\x45\x38\x50\x90")
}

/// A `Write` that refuses to grow past `cap` bytes.
struct Capped {
    out: Vec<u8>,
    cap: u64,
    hit: bool,
    deadline: std::time::Instant,
    late: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() as u64 + buf.len() as u64 > self.cap {
            self.hit = true;
            return Err(std::io::Error::other("decompression limit"));
        }
        if std::time::Instant::now() > self.deadline {
            self.late = true;
            return Err(std::io::Error::other("deadline"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn one_child(format: &'static str, content: Vec<u8>) -> Document {
    Document {
        format,
        text: "\n".into(),
        children: vec![Child {
            name: String::new(),
            data: content,
        }],
        ..Document::default()
    }
}

/// Decompress an xz stream.
pub fn extract_xz(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    ctx.check_archive_depth()?;
    let remaining = ctx
        .limits
        .max_decompressed_bytes
        .saturating_sub(ctx.decompressed);
    let ratio_cap = (data.len() as u64)
        .saturating_mul(ctx.limits.max_ratio)
        .max(1 << 20);
    let mut sink = Capped {
        out: Vec::new(),
        cap: remaining.min(ratio_cap),
        hit: false,
        deadline: ctx.deadline,
        late: false,
    };
    let mut input = data;
    match lzma_rs::xz_decompress(&mut input, &mut sink) {
        Ok(()) => {}
        Err(_) if sink.late => return Err(ExtractError::Timeout),
        Err(_) if sink.hit => {
            return Err(ExtractError::Limit(if ratio_cap < remaining {
                format!(
                    "compression ratio above {} (decompression bomb?)",
                    ctx.limits.max_ratio
                )
            } else {
                format!(
                    "more than {} bytes decompressed",
                    ctx.limits.max_decompressed_bytes
                )
            }));
        }
        Err(lzma_rs::error::Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(ExtractError::Truncated(format!("xz: {e}")));
        }
        Err(e) => {
            // lzma-rs reports a cut stream as a missing index or footer.
            let msg = e.to_string();
            return Err(if msg.contains("EOF") || msg.contains("eof") {
                ExtractError::Truncated(format!("xz: {msg}"))
            } else {
                ExtractError::Corrupt(format!("xz: {msg}"))
            });
        }
    }
    ctx.decompressed += sink.out.len() as u64;
    Ok(one_child("xz", sink.out))
}

/// Decompress a bzip2 stream (concatenated streams read as one, as
/// `bzip2 -d` does).
pub fn extract_bz2(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    ctx.check_archive_depth()?;
    let decoder = bzip2::read::MultiBzDecoder::new(data);
    let content = ctx.read_bounded(decoder, data.len() as u64)?;
    Ok(one_child("bzip2", content))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Limits;

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        lzma_rs::xz_compress(&mut &data[..], &mut out).unwrap();
        out
    }

    fn bz2(data: &[u8]) -> Vec<u8> {
        let mut w = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn streams_decompress_to_one_child() {
        let text = "关于玄鸟柒号的说明".repeat(20);
        for (f, packed) in [
            (
                extract_xz as fn(&[u8], &mut Ctx) -> ExtractResult,
                xz(text.as_bytes()),
            ),
            (extract_bz2, bz2(text.as_bytes())),
        ] {
            let d = f(&packed, &mut Ctx::new(Limits::default())).unwrap();
            assert_eq!(d.children.len(), 1);
            assert_eq!(d.children[0].data, text.as_bytes());
        }
        assert!(is_bzip2(&bz2(b"x")));
        assert!(!is_bzip2(b"BZh9 not really"));
    }

    #[test]
    fn bombs_and_cuts_are_errors() {
        let zeros = vec![0u8; 16 << 20];
        // lzma-rs writes xz without compressing: the xz bomb is a fixture
        // written by liblzma (gen_archives.py).
        for (f, packed) in [
            (
                extract_xz as fn(&[u8], &mut Ctx) -> ExtractResult,
                crate::extract::test_support::fixture("xz/bomb.xz"),
            ),
            (extract_bz2, bz2(&zeros)),
        ] {
            assert!(matches!(
                f(&packed, &mut Ctx::new(Limits::default())),
                Err(ExtractError::Limit(_))
            ));
        }
        let ok_text = "内容".repeat(5000);
        for (f, packed) in [
            (
                extract_xz as fn(&[u8], &mut Ctx) -> ExtractResult,
                xz(ok_text.as_bytes()),
            ),
            (extract_bz2, bz2(ok_text.as_bytes())),
        ] {
            for cut in [7, packed.len() / 2, packed.len() - 3] {
                let r = f(&packed[..cut], &mut Ctx::new(Limits::default()));
                assert!(r.is_err(), "cut {cut}: {r:?}");
            }
        }
    }
}
