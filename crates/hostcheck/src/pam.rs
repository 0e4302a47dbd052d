//! Parsing a Linux-PAM stack file the way `libpam/pam_handlers.c` does
//! (`spec/host-checks.md`, password.min_length steps 1–2): `#` starts a
//! comment, a trailing `\` joins lines, the type may carry a leading `-`,
//! the control is one word or a bracketed list with spaces, the module is
//! compared by basename, the rest are its arguments (an argument may be a
//! bracketed list too). `include`/`substack`/`@include` are followed inside
//! the root, with a depth limit.

use crate::root::{ReadError, Root};

/// One `password` line of a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PamLine {
    /// Host path of the file the line is in (after `include`).
    pub file: String,
    pub line: usize,
    /// Module basename (`pam_pwquality.so`).
    pub module: String,
    pub args: Vec<String>,
    /// The line as written, for evidence.
    pub text: String,
}

/// Split a PAM line into fields: bracketed fields keep their spaces.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut f = String::new();
        if first == '[' {
            // Up to the matching `]` (Linux-PAM does not nest; `\]` escapes).
            chars.next();
            f.push('[');
            let mut prev = '\0';
            for c in chars.by_ref() {
                f.push(c);
                if c == ']' && prev != '\\' {
                    break;
                }
                prev = c;
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                f.push(c);
                chars.next();
            }
        }
        out.push(f);
    }
    out
}

/// Logical lines with their first physical line number: comments removed,
/// `\` continuations joined.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        let no_comment = match raw.find('#') {
            Some(p) => &raw[..p],
            None => raw,
        };
        if cur.is_empty() {
            start = i + 1;
        }
        if let Some(body) = no_comment.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
            continue;
        }
        cur.push_str(no_comment);
        if !cur.trim().is_empty() {
            out.push((start, std::mem::take(&mut cur)));
        } else {
            cur.clear();
        }
    }
    if !cur.trim().is_empty() {
        out.push((start, cur));
    }
    out
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// The `password` lines of stack file `/etc/pam.d/NAME`, following includes.
/// `Ok(None)` when the file does not exist.
pub fn password_lines(root: &Root, host: &str) -> Result<Option<Vec<PamLine>>, ReadError> {
    let mut out = Vec::new();
    let found = collect(root, host, 0, &mut out)?;
    Ok(found.then_some(out))
}

fn collect(
    root: &Root,
    host: &str,
    depth: usize,
    out: &mut Vec<PamLine>,
) -> Result<bool, ReadError> {
    let Some(f) = root.read(host)? else {
        return Ok(false);
    };
    let shown = f.shown();
    for (n, line) in logical_lines(&f.text()) {
        let fs = fields(&line);
        let Some(first) = fs.first() else { continue };
        if first == "@include" {
            if let Some(name) = fs.get(1)
                && depth < 8
            {
                collect(
                    root,
                    &format!("/etc/pam.d/{}", basename(name)),
                    depth + 1,
                    out,
                )?;
            }
            continue;
        }
        let ty = first.strip_prefix('-').unwrap_or(first);
        if !ty.eq_ignore_ascii_case("password") || fs.len() < 3 {
            continue;
        }
        let control = fs[1].as_str();
        if (control == "include" || control == "substack") && depth < 8 {
            let target = if fs[2].starts_with('/') {
                fs[2].clone()
            } else {
                format!("/etc/pam.d/{}", fs[2])
            };
            collect(root, &target, depth + 1, out)?;
            continue;
        }
        out.push(PamLine {
            file: shown.clone(),
            line: n,
            module: basename(&fs[2]).to_string(),
            args: fs[3..].to_vec(),
            text: line.split_whitespace().collect::<Vec<_>>().join(" "),
        });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_dashes_and_comments() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc/pam.d")).unwrap();
        std::fs::write(
            d.path().join("etc/pam.d/common-password"),
            "# password requisite pam_cracklib.so minlen=20\n\
             password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt minlen=8\n\
             -password  optional  /usr/lib/x86_64-linux-gnu/security/pam_pwquality.so retry=3 \\\n  minlen=14 # trailing\n\
             auth required pam_unix.so\n",
        )
        .unwrap();
        let lines = password_lines(&Root::at(d.path()), "/etc/pam.d/common-password")
            .unwrap()
            .unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].module, "pam_unix.so");
        assert_eq!(lines[0].line, 2);
        assert_eq!(lines[0].args, ["obscure", "yescrypt", "minlen=8"]);
        assert_eq!(lines[1].module, "pam_pwquality.so");
        assert_eq!(lines[1].args, ["retry=3", "minlen=14"]);
    }
}
