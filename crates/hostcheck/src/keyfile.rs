//! Key files: GLib's `GKeyFile` syntax used by GDM and LightDM, SDDM's
//! QSettings-like files, and KDE's KConfig (`[$i]` markers are kept in the
//! raw key/group so the KDE reader can apply immutability). Lines are kept
//! with their numbers, so every value can be shown with file and line.

/// One `key=value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The group header without brackets, as written (`Seat:*`, `Daemon][$i`).
    pub group: String,
    pub key: String,
    pub value: String,
    pub line: usize,
    /// The line as written, trimmed.
    pub text: String,
}

/// Parse a key file: `[group]` headers, `key=value` (blanks around `=`
/// allowed), `#` comment lines. Lines before any group have group `""`.
pub fn parse(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut group = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(g) = line.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            group = g.to_string();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        out.push(Entry {
            group: group.clone(),
            key: k.trim().to_string(),
            value: v.trim().to_string(),
            line: i + 1,
            text: line.to_string(),
        });
    }
    out
}

/// GLib's `g_key_file_parse_value_as_boolean`: exactly `true`/`1` or
/// `false`/`0` (case-sensitive, trailing blanks ignored); anything else is
/// not a boolean (`None`) and GDM then keeps its default, false.
pub fn glib_bool(v: &str) -> Option<bool> {
    match v.trim_end() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keys_and_booleans() {
        let e = parse(
            "# c\n[daemon]\n AutomaticLoginEnable = true \n[debug]\nEnable=true\nnot a pair\n",
        );
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].group, "daemon");
        assert_eq!(e[0].key, "AutomaticLoginEnable");
        assert_eq!(e[0].value, "true");
        assert_eq!(e[0].line, 3);
        assert_eq!(glib_bool("1"), Some(true));
        assert_eq!(glib_bool("True"), None);
        assert_eq!(glib_bool("false "), Some(false));
    }
}
