//! Control characters made visible in everything printed for people.
//!
//! A file name is attacker-chosen: an ESC sequence can rewrite the terminal,
//! a CR can overprint the line, U+202E (right-to-left override) can make
//! `gpj.exe` read as `exe.jpg`. Every human-readable string the agent prints
//! (table cells, notes, error messages) goes through [`visible`], which
//! writes such characters as `\x1b`, `\r`, `\u{202e}`. The JSON report keeps
//! the exact text (serde_json escapes C0 controls itself).

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as itself.
fn hostile(c: char) -> bool {
    c.is_control() // C0, DEL, C1 (tab and newline included: cells are one line)
        || matches!(c,
            '\u{061c}'                  // Arabic letter mark
            | '\u{200b}'..='\u{200f}'   // zero-width space/joiners, LRM, RLM
            | '\u{2028}' | '\u{2029}'   // line and paragraph separators
            | '\u{202a}'..='\u{202e}'   // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}'   // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}'   // bidi isolates
            | '\u{feff}'                // zero-width no-break space / BOM
            | '\u{fff9}'..='\u{fffb}') // interlinear annotations
}

/// `s` with every control, bidi and invisible format character escaped.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hostile) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !hostile(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn hostile_names_are_escaped_and_plain_ones_untouched() {
        assert_eq!(visible("报告.docx"), "报告.docx");
        assert_eq!(visible("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(visible("x\ry"), "x\\ry");
        assert_eq!(visible("del\x7f"), "del\\x7f");
        assert_eq!(visible("c1\u{9b}"), "c1\\x9b");
        assert_eq!(visible("gpj\u{202e}.exe"), "gpj\\u{202e}.exe");
        assert_eq!(visible("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(visible("zw\u{200b}x\u{feff}"), "zw\\u{200b}x\\u{feff}");
    }
}
