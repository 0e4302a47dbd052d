//! gzip (`.gz`, and the outer layer of `.tar.gz`/`.tgz`): one compressed
//! stream, handed out as one child and analysed like a file of its own
//! (`a.tar.gz!/a.tar!/dir/b.docx`). Concatenated members are read as one
//! stream, as `gzip -d` does.
//!
//! Decompression goes through [`Ctx::read_bounded`] — shared budget, ratio cap,
//! deadline — so a gzip bomb is a `Limit`, never an allocation; nesting is
//! bounded by `Ctx::depth` like zip archives.

use super::{Child, Ctx, Document, ExtractResult};
use flate2::read::MultiGzDecoder;

/// Extract the one member of a gzip stream.
pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    ctx.check_archive_depth()?;
    let decoder = MultiGzDecoder::new(data);
    // The stored name (FNAME) when the producer kept one, as `gzip -N` would;
    // else empty, and the analysis names it after the file (`a.tar.gz!/a.tar`).
    let name = decoder
        .header()
        .and_then(|h| h.filename())
        .map(super::archive::member_name)
        .map(|n| n.rsplit('/').next().unwrap_or_default().to_string())
        .unwrap_or_default();
    let content = ctx.read_bounded(decoder, data.len() as u64)?;
    Ok(Document {
        format: "gzip",
        text: format!("{name}\n"),
        children: vec![Child {
            name,
            data: content,
        }],
        ..Document::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{ExtractError, Limits};
    use flate2::{Compression, GzBuilder};
    use std::io::Write;

    fn gz(name: Option<&str>, data: &[u8]) -> Vec<u8> {
        let mut b = GzBuilder::new();
        if let Some(n) = name {
            b = b.filename(n);
        }
        let mut w = b.write(Vec::new(), Compression::default());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn the_stream_is_one_child_named_as_stored() {
        let mut ctx = Ctx::new(Limits::default());
        let doc = extract(&gz(Some("dir/报告.txt"), b"hello"), &mut ctx).unwrap();
        assert_eq!(doc.format, "gzip");
        assert_eq!(doc.children.len(), 1);
        assert_eq!(doc.children[0].name, "报告.txt");
        assert_eq!(doc.children[0].data, b"hello");
        let doc = extract(&gz(None, b"x"), &mut Ctx::new(Limits::default())).unwrap();
        assert_eq!(
            doc.children[0].name, "",
            "named by the analysis after the file"
        );
    }

    #[test]
    fn concatenated_members_read_as_one_stream() {
        let mut two = gz(None, b"abc");
        two.extend(gz(None, b"def"));
        let doc = extract(&two, &mut Ctx::new(Limits::default())).unwrap();
        assert_eq!(doc.children[0].data, b"abcdef");
    }

    #[test]
    fn bombs_truncation_and_junk_are_errors() {
        let bomb = gz(None, &vec![0u8; 16 << 20]);
        assert!(matches!(
            extract(&bomb, &mut Ctx::new(Limits::default())),
            Err(ExtractError::Limit(_))
        ));
        let ok = gz(None, "机密文件内容".repeat(100).as_bytes());
        for cut in [3, 10, ok.len() / 2, ok.len() - 4] {
            assert!(
                extract(&ok[..cut], &mut Ctx::new(Limits::default())).is_err(),
                "cut {cut}"
            );
        }
        let mut flipped = ok.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        let _ = extract(&flipped, &mut Ctx::new(Limits::default()));
        let mut ctx = Ctx::new(Limits::default());
        ctx.depth = ctx.limits.max_depth;
        assert!(matches!(
            extract(&ok, &mut ctx),
            Err(ExtractError::Limit(_))
        ));
    }
}
