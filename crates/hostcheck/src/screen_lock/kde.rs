//! KDE Plasma's kscreenlocker 5.27 (`spec/host-checks.md`, "KDE Plasma"):
//! `[Daemon]` of `etc/xdg/kscreenlockerrc` then `~/.config/kscreenlockerrc`,
//! with KConfig's `[$i]` immutability (a key, a whole group, or the whole
//! system file) letting the system value win. Defaults from
//! `settings/kscreenlockersettings.kcfg`.

use super::{Context, Eval, Outcome};
use crate::keyfile;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
struct Val {
    value: String,
    from: Value,
}

/// KConfig booleans (`KConfigGroup::readEntry<bool>`).
fn kbool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Some(true),
        "false" | "off" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// Read `[Daemon]` of one file into `vals`; returns the keys that are immutable.
fn read(
    ctx: &Context,
    host: &str,
    vals: &mut BTreeMap<String, Val>,
    locked: &mut Vec<String>,
    system: bool,
) -> Result<(), String> {
    let Some(f) = ctx.root.read(host).map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let text = f.text();
    let file_immutable = system
        && text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            == Some("[$i]");
    for e in keyfile::parse(&text) {
        let (group, group_imm) = match e.group.strip_suffix("][$i") {
            Some(g) => (g, true),
            None => (e.group.as_str(), false),
        };
        if group != "Daemon" {
            continue;
        }
        let (key, key_imm) = match e.key.find('[') {
            Some(p) => (&e.key[..p], e.key[p..].contains("$i")),
            None => (e.key.as_str(), false),
        };
        if locked.iter().any(|k| k == key) {
            continue;
        }
        vals.insert(
            key.to_string(),
            Val {
                value: e.value.clone(),
                from: json!({"file": f.shown(), "line": e.line, "setting": e.text}),
            },
        );
        if system && (key_imm || group_imm || file_immutable) {
            locked.push(key.to_string());
        }
    }
    Ok(())
}

pub(crate) fn evaluate(ctx: &Context, home: &str) -> Eval {
    let mut vals = BTreeMap::new();
    let mut locked = Vec::new();
    if let Err(e) = read(
        ctx,
        "/etc/xdg/kscreenlockerrc",
        &mut vals,
        &mut locked,
        true,
    ) {
        return Eval::error(&e);
    }
    if let Err(e) = read(
        ctx,
        &format!("{home}/.config/kscreenlockerrc"),
        &mut vals,
        &mut locked,
        false,
    ) {
        return Eval::error(&e);
    }
    let shown = |k: &str, default: &str| -> Value {
        match vals.get(k) {
            Some(v) => {
                json!({"value": v.value, "from": v.from, "immutable": locked.iter().any(|l| l == k)})
            }
            None => json!({"value": default, "from": "kscreenlockersettings.kcfg default"}),
        }
    };
    let extra =
        json!({"Lock": shown("Lock", "true"), "LockOnResume": shown("LockOnResume", "true")});

    let enabled = match vals.get("Autolock") {
        None => Outcome::judge(
            true,
            json!(true),
            json!({"Autolock": shown("Autolock", "true"), "other": extra}),
        ),
        Some(v) => match kbool(&v.value) {
            Some(b) => Outcome::judge(
                b,
                json!(b),
                json!({"Autolock": shown("Autolock", "true"), "other": extra}),
            ),
            None => Outcome::Error {
                evidence: json!({"error": format!("Autolock={} is not a boolean", v.value), "at": v.from}),
            },
        },
    };
    let int = |k: &str, default: i64, lo: i64, hi: i64| -> Result<i64, Value> {
        match vals.get(k) {
            None => Ok(default),
            Some(v) => match v.value.trim().parse::<i64>() {
                Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                Ok(n) => Err(
                    json!({"error": format!("{k}={n} is outside the kcfg range {lo}..={hi}"), "at": v.from}),
                ),
                Err(_) => Err(
                    json!({"error": format!("{k}={} is not an integer", v.value), "at": v.from}),
                ),
            },
        }
    };
    let idle = match (
        int("Timeout", 5, 1, i64::from(i32::MAX)),
        int("LockGrace", 5, 0, 300),
    ) {
        (Err(e), _) | (_, Err(e)) => Outcome::Error { evidence: e },
        (Ok(t), Ok(g)) => {
            let total = t * 60 + g;
            Outcome::judge(
                t > 0 && total <= ctx.max_idle,
                json!(total),
                json!({"Timeout": shown("Timeout", "5"), "LockGrace": shown("LockGrace", "5"),
                    "rule": "Timeout (minutes) x 60 + LockGrace (seconds)", "seconds": total}),
            )
        }
    };
    Eval { enabled, idle }
}
