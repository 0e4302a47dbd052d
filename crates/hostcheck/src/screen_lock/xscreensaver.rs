//! xscreensaver, the locker of LXDE sessions (`spec/host-checks.md`,
//! "xscreensaver"): `~/.xscreensaver` over the app-defaults file
//! `etc/X11/app-defaults/XScreenSaver` (names prefixed with `*`; on Debian a
//! relative symlink to `XScreenSaver-nogl`) over the built-in defaults.

use super::{Context, Eval, Outcome};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const KEYS: [&str; 3] = ["timeout", "lock", "lockTimeout"];

#[derive(Debug, Clone)]
struct Val {
    value: String,
    from: Value,
}

/// Resources of one file: `name: value`, `\` continuations, `#`/`!`/`;` comments.
fn parse(text: &str, star: bool) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if cur.is_empty() {
            start = i + 1;
            let t = raw.trim_start();
            if t.starts_with('#') || t.starts_with('!') || t.starts_with(';') || t.is_empty() {
                continue;
            }
        }
        if let Some(body) = raw.strip_suffix('\\') {
            cur.push_str(body);
            continue;
        }
        cur.push_str(raw);
        let line = std::mem::take(&mut cur);
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let name = if star {
            match name
                .strip_prefix('*')
                .or_else(|| name.strip_prefix("XScreenSaver."))
            {
                Some(n) => n,
                None => continue,
            }
        } else {
            name
        };
        out.push((start, name.to_string(), value.trim().to_string()));
    }
    out
}

/// `H:MM:SS`, `M:SS`, or a bare number of minutes (xscreensaver's `get_minutes_resource`).
fn seconds(v: &str) -> Option<i64> {
    let parts: Vec<&str> = v.trim().split(':').collect();
    let nums: Option<Vec<i64>> = parts
        .iter()
        .map(|p| p.trim().parse::<i64>().ok().filter(|n| *n >= 0))
        .collect();
    let nums = nums?;
    match nums.as_slice() {
        [m] => Some(m * 60),
        [m, s] => Some(m * 60 + s),
        [h, m, s] => Some(h * 3600 + m * 60 + s),
        _ => None,
    }
}

fn xbool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" => Some(true),
        "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

pub(crate) fn evaluate(ctx: &Context, home: &str) -> Eval {
    let mut vals: BTreeMap<String, Val> = BTreeMap::new();
    for (k, v) in [
        ("timeout", "0:10:00"),
        ("lock", "False"),
        ("lockTimeout", "0:00:00"),
    ] {
        vals.insert(
            k.into(),
            Val {
                value: v.into(),
                from: json!("xscreensaver built-in default"),
            },
        );
    }
    for (host, star) in [
        ("/etc/X11/app-defaults/XScreenSaver", true),
        (&*format!("{home}/.xscreensaver"), false),
    ] {
        match ctx.root.read(host) {
            Err(e) => return Eval::error(&e.to_string()),
            Ok(None) => {}
            Ok(Some(f)) => {
                for (line, name, value) in parse(&f.text(), star) {
                    if KEYS.contains(&name.as_str()) {
                        let setting = format!("{}{name}: {value}", if star { "*" } else { "" });
                        vals.insert(
                            name,
                            Val {
                                value,
                                from: json!({"file": f.shown(), "line": line, "setting": setting}),
                            },
                        );
                    }
                }
            }
        }
    }
    let get = |k: &str| {
        vals.get(k).cloned().unwrap_or(Val {
            value: String::new(),
            from: Value::Null,
        })
    };
    let lock = get("lock");
    let enabled = match xbool(&lock.value) {
        Some(b) => Outcome::judge(b, json!(b), json!({"lock": lock.from})),
        None => Outcome::Error {
            evidence: json!({"error": format!("lock: `{}` is not a boolean", lock.value), "at": lock.from}),
        },
    };
    let (t, lt) = (get("timeout"), get("lockTimeout"));
    let idle = match (seconds(&t.value), seconds(&lt.value)) {
        (Some(a), Some(b)) => Outcome::judge(
            a > 0 && a + b <= ctx.max_idle,
            json!(a + b),
            json!({"timeout": t.from, "lockTimeout": lt.from, "seconds": a + b}),
        ),
        _ => Outcome::Error {
            evidence: json!({"error": format!("timeout `{}` / lockTimeout `{}` is not a time (H:MM:SS)", t.value, lt.value),
                "at": [t.from, lt.from]}),
        },
    };
    Eval { enabled, idle }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_and_times() {
        let r = parse(
            "# c\ntimeout:\t0:05:00\nprograms:\t\\\n  a \\\n  b\nlock:\tTrue\n",
            false,
        );
        assert_eq!(r[0], (2, "timeout".into(), "0:05:00".into()));
        assert_eq!(r[2], (6, "lock".into(), "True".into()));
        assert_eq!(seconds("0:10:00"), Some(600));
        assert_eq!(seconds("1:30"), Some(90));
        assert_eq!(seconds("ten"), None);
    }
}
