//! tar archives (ustar, GNU and pax; `.tar`, and what is inside `.tar.gz`):
//! every regular file becomes a child scanned as `ARCHIVE!/member`, like zip
//! members. The `tar` crate parses headers, long names and pax records; each
//! member read goes through [`Ctx::read_bounded`] and each entry is charged
//! one element, so a tar of a million empty files or a lying size field ends
//! as a `Limit` or `Truncated`, not a hang.

use super::{Child, Ctx, Document, ExtractError, ExtractResult, FailedChild};
use std::io::Cursor;

/// Extract a tar archive held in memory.
pub fn extract(data: &[u8], ctx: &mut Ctx) -> ExtractResult {
    ctx.check_archive_depth()?;
    let mut archive = tar::Archive::new(Cursor::new(data));
    let entries = archive
        .entries()
        .map_err(|e| ExtractError::Corrupt(format!("tar: {e}")))?;
    let mut doc = Document {
        format: "tar",
        ..Document::default()
    };
    for (i, entry) in entries.enumerate() {
        ctx.tick(1)?;
        ctx.check_time()?;
        let entry = match entry {
            Ok(e) => e,
            // A broken header ends the archive: what follows cannot be found.
            Err(e) if i == 0 => return Err(ExtractError::Corrupt(format!("tar: {e}"))),
            Err(e) => {
                doc.failed_children.push(FailedChild {
                    name: format!("#{i}"),
                    error: ExtractError::Corrupt(format!("tar: {e}")),
                });
                break;
            }
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        // `tar -C dir .` writes `./a/b`; the member is `a/b`.
        let raw = super::archive::member_name(&entry.path_bytes());
        let name = raw.trim_start_matches("./").to_string();
        doc.text.push_str(&name);
        doc.text.push('\n');
        let size = entry.header().size().unwrap_or(0).max(1);
        match ctx.read_bounded(entry, size) {
            Ok(data) => doc.children.push(Child { name, data }),
            Err(e @ (ExtractError::Timeout | ExtractError::Limit(_))) => return Err(e),
            Err(error) => doc.failed_children.push(FailedChild { name, error }),
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Limits;

    fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn regular_files_become_children_with_their_paths() {
        let long = format!("{}/深层/报告.txt", "d".repeat(150));
        let data = tar_of(&[("a/b.txt", b"hello"), (&long, b"long name"), ("c", b"")]);
        let doc = extract(&data, &mut Ctx::new(Limits::default())).unwrap();
        assert_eq!(doc.format, "tar");
        let names: Vec<_> = doc.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a/b.txt", long.as_str(), "c"]);
        assert_eq!(doc.children[1].data, b"long name");
        assert!(doc.text.contains("报告.txt"));
        assert!(doc.failed_children.is_empty());
    }

    #[test]
    fn truncated_and_corrupt_tars_are_errors_not_panics() {
        let data = tar_of(&[("a.txt", &[b'x'; 5000]), ("b.txt", b"second")]);
        for cut in [0, 100, 511, 512, 700, 3000, 5632, data.len() - 600] {
            let _ = extract(&data[..cut], &mut Ctx::new(Limits::default()));
        }
        let truncated = extract(&data[..3000], &mut Ctx::new(Limits::default()));
        assert!(
            truncated.is_err()
                || truncated
                    .as_ref()
                    .is_ok_and(|d| !d.failed_children.is_empty()),
            "{truncated:?}"
        );
        let mut flipped = data.clone();
        for i in (0..1024).step_by(7) {
            flipped[i] ^= 0x5a;
            let _ = extract(&flipped, &mut Ctx::new(Limits::default()));
            flipped[i] ^= 0x5a;
        }
    }

    #[test]
    fn many_entries_hit_the_element_limit() {
        let names: Vec<String> = (0..200).map(|i| format!("f{i}")).collect();
        let members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let mut ctx = Ctx::new(Limits {
            max_elements: 50,
            ..Limits::default()
        });
        assert!(matches!(
            extract(&tar_of(&members), &mut ctx),
            Err(ExtractError::Limit(_))
        ));
    }
}
