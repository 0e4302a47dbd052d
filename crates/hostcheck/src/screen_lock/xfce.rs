//! XFCE's xfce4-screensaver 4.18 (`spec/host-checks.md`, "XFCE"): the
//! xfconf channel `xfce4-screensaver` from the system file under
//! `etc/xdg/xfce4/xfconf/xfce-perchannel-xml/` and the user's file, nested
//! `<property>` elements; a property the system file marks `locked="*"` (or
//! locked for this user) keeps the system value (xfconf's kiosk rule).
//! Defaults from xfce4-screensaver `src/gs-prefs.h`.

use super::{Context, Eval, Outcome};
use crate::accounts::Account;
use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const CHANNEL: &str = "xfce-perchannel-xml/xfce4-screensaver.xml";

#[derive(Debug, Clone)]
struct Prop {
    value: String,
    locked: bool,
    from: Value,
}

fn locked_for(attr: &str, user: &str) -> bool {
    attr.split(';').any(|x| x.trim() == "*" || x.trim() == user)
}

/// Flatten a channel file into `/a/b` → value.
fn parse(text: &str, file: &str, user: &str) -> Result<BTreeMap<String, Prop>, String> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    let mut out = BTreeMap::new();
    let mut channel_locked = false;
    let mut saw_channel = false;
    loop {
        let ev = reader.read_event().map_err(|e| {
            format!(
                "{file}: not well-formed XML at byte {}: {e}",
                reader.error_position()
            )
        })?;
        let (start, empty) = match &ev {
            Event::Start(s) => (Some(s.clone()), false),
            Event::Empty(s) => (Some(s.clone()), true),
            Event::End(e) => {
                if e.name().as_ref() == b"property" {
                    stack.pop();
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let Some(s) = start else { continue };
        let mut attrs = BTreeMap::new();
        for a in s.attributes() {
            let a = a.map_err(|e| format!("{file}: bad attribute: {e}"))?;
            let v = a
                .unescape_value()
                .map_err(|e| format!("{file}: bad attribute value: {e}"))?;
            attrs.insert(
                String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                v.into_owned(),
            );
        }
        match s.name().as_ref() {
            b"channel" => {
                saw_channel = true;
                channel_locked = attrs.get("locked").is_some_and(|l| locked_for(l, user));
            }
            b"property" => {
                let name = attrs.get("name").cloned().unwrap_or_default();
                stack.push(name);
                let path = format!("/{}", stack.join("/"));
                if let Some(v) = attrs.get("value") {
                    let line = text
                        .get(..(reader.buffer_position() as usize).min(text.len()))
                        .map(|t| t.lines().count())
                        .unwrap_or(0);
                    out.insert(
                        path.clone(),
                        Prop {
                            value: v.clone(),
                            locked: channel_locked
                                || attrs.get("locked").is_some_and(|l| locked_for(l, user)),
                            from: json!({"file": file, "line": line, "property": path, "value": v,
                                "type": attrs.get("type")}),
                        },
                    );
                }
                if empty {
                    stack.pop();
                }
            }
            _ => {}
        }
    }
    if !saw_channel {
        return Err(format!("{file}: no <channel> element"));
    }
    Ok(out)
}

pub(crate) fn evaluate(ctx: &Context, user: &Account) -> Eval {
    let mut props: BTreeMap<String, Prop> = BTreeMap::new();
    for (host, system) in [
        (format!("/etc/xdg/xfce4/xfconf/{CHANNEL}"), true),
        (
            format!("{}/.config/xfce4/xfconf/{CHANNEL}", user.home),
            false,
        ),
    ] {
        match ctx.root.read(&host) {
            Err(e) => return Eval::error(&e.to_string()),
            Ok(None) => {}
            Ok(Some(f)) => match parse(&f.text(), &f.shown(), &user.name) {
                Err(e) => return Eval::error(&e),
                Ok(map) => {
                    for (k, mut p) in map {
                        if !system {
                            if props.get(&k).is_some_and(|old| old.locked) {
                                continue;
                            }
                            p.locked = false;
                        }
                        props.insert(k, p);
                    }
                }
            },
        }
    }
    let get = |k: &str, default: &str| -> (String, Value) {
        match props.get(k) {
            Some(p) => (p.value.clone(), json!({"from": p.from, "locked": p.locked})),
            None => (
                default.to_string(),
                json!({"property": k, "value": default, "from": "xfce4-screensaver default (gs-prefs.h)"}),
            ),
        }
    };
    let boolean = |k: &str, d: &str| -> Result<(bool, Value), String> {
        let (v, ev) = get(k, d);
        match v.as_str() {
            "true" => Ok((true, ev)),
            "false" => Ok((false, ev)),
            _ => Err(format!("{k}: `{v}` is not a boolean")),
        }
    };
    let int = |k: &str, d: &str| -> Result<(i64, Value), String> {
        let (v, ev) = get(k, d);
        v.trim()
            .parse::<i64>()
            .map(|n| (n, ev))
            .map_err(|_| format!("{k}: `{v}` is not an integer"))
    };
    let enabled = match (
        boolean("/saver/enabled", "true"),
        boolean("/lock/enabled", "true"),
    ) {
        (Err(e), _) | (_, Err(e)) => Outcome::error(e),
        (Ok((s, se)), Ok((l, le))) => Outcome::judge(
            s && l,
            json!(s && l),
            json!({"/saver/enabled": se, "/lock/enabled": le}),
        ),
    };
    let idle = match (
        int("/saver/idle-activation/delay", "5"),
        int("/lock/saver-activation/delay", "0"),
    ) {
        (Err(e), _) | (_, Err(e)) => Outcome::error(e),
        (Ok((d, de)), Ok((l, le))) => {
            let total = (d + l) * 60;
            Outcome::judge(
                d > 0 && total <= ctx.max_idle,
                json!(total),
                json!({"/saver/idle-activation/delay": de, "/lock/saver-activation/delay": le, "seconds": total}),
            )
        }
    };
    Eval { enabled, idle }
}
