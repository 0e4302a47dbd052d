//! GSettings desktops: GNOME, MATE, Cinnamon (`spec/host-checks.md`, the
//! "Keys and units" table) and UKUI and DDE (`docs/spec-desktops-cn.md`).
//! Each is a table of (schema, key) pairs and a unit; the values come from
//! [`crate::gsettings::lookup`], so locks, profiles and vendor overrides
//! apply the same way to all of them.

use super::{Context, Eval, Outcome};
use crate::gsettings::{UserDb, lookup};
use crate::gvdb::Variant;
use serde_json::{Value, json};

/// A desktop whose lock is driven by three GSettings keys.
pub(crate) struct GDesktop {
    pub enabled: (&'static str, &'static str),
    pub idle: (&'static str, &'static str),
    pub lock_delay: (&'static str, &'static str),
    /// Seconds per unit of the idle and lock-delay keys (60 for minutes).
    pub unit: i64,
    /// Keys reported when they defeat the lock: (schema, key, defeating value).
    pub defeats: &'static [(&'static str, &'static str, bool)],
}

pub(crate) const GNOME: GDesktop = GDesktop {
    enabled: ("org.gnome.desktop.screensaver", "lock-enabled"),
    idle: ("org.gnome.desktop.session", "idle-delay"),
    lock_delay: ("org.gnome.desktop.screensaver", "lock-delay"),
    unit: 1,
    defeats: &[
        (
            "org.gnome.desktop.screensaver",
            "idle-activation-enabled",
            false,
        ),
        ("org.gnome.desktop.lockdown", "disable-lock-screen", true),
    ],
};

pub(crate) const MATE: GDesktop = GDesktop {
    enabled: ("org.mate.screensaver", "lock-enabled"),
    idle: ("org.mate.session", "idle-delay"),
    lock_delay: ("org.mate.screensaver", "lock-delay"),
    unit: 60,
    defeats: &[
        ("org.mate.screensaver", "idle-activation-enabled", false),
        ("org.mate.lockdown", "disable-lock-screen", true),
    ],
};

pub(crate) const CINNAMON: GDesktop = GDesktop {
    enabled: ("org.cinnamon.desktop.screensaver", "lock-enabled"),
    idle: ("org.cinnamon.desktop.session", "idle-delay"),
    lock_delay: ("org.cinnamon.desktop.screensaver", "lock-delay"),
    unit: 1,
    defeats: &[
        (
            "org.cinnamon.desktop.screensaver",
            "idle-activation-enabled",
            false,
        ),
        ("org.cinnamon.desktop.lockdown", "disable-lock-screen", true),
    ],
};

/// UKUI 3.x (ukui-screensaver, ukui-session-manager): `docs/spec-desktops-cn.md`.
pub(crate) const UKUI: GDesktop = GDesktop {
    enabled: ("org.ukui.screensaver", "lock-enabled"),
    idle: ("org.ukui.session", "idle-delay"),
    lock_delay: ("org.ukui.screensaver", "lock-delay"),
    unit: 60,
    defeats: &[("org.ukui.screensaver", "idle-activation-enabled", false)],
};

fn int(v: &Variant) -> Option<i64> {
    match v {
        Variant::Int32(i) => Some(*i as i64),
        Variant::Uint32(u) => Some(*u as i64),
        Variant::Int64(i) => Some(*i),
        _ => None,
    }
}

fn defeats(ctx: &Context, udb: &UserDb, list: &[(&str, &str, bool)]) -> Value {
    let mut out = Vec::new();
    for (schema, key, bad) in list {
        if let Ok(e) = lookup(&ctx.gsettings, udb, schema, key)
            && e.value == Variant::Bool(*bad)
        {
            out.push(
                json!({"schema": schema, "key": key, "effective": e.evidence,
                "note": "defeats the lock (reported; not judged by this check)"}),
            );
        }
    }
    Value::Array(out)
}

pub(crate) fn evaluate(ctx: &Context, d: &GDesktop, udb: &UserDb) -> Eval {
    let get = |(s, k): (&str, &str)| lookup(&ctx.gsettings, udb, s, k);
    let dbs = ctx.gsettings.describe();
    let enabled = match get(d.enabled) {
        Err(e) => Outcome::error(e),
        Ok(e) => match e.value {
            Variant::Bool(b) => Outcome::judge(
                b,
                json!(b),
                json!({"lock_enabled": e.evidence, "dconf": dbs, "defeated_by": defeats(ctx, udb, d.defeats)}),
            ),
            other => Outcome::error(format!(
                "{}: expected a boolean, found {}",
                d.enabled.1,
                other.type_str()
            )),
        },
    };
    let idle = match (get(d.idle), get(d.lock_delay)) {
        (Err(e), _) | (_, Err(e)) => Outcome::error(e),
        (Ok(i), Ok(l)) => match (int(&i.value), int(&l.value)) {
            (Some(iv), Some(lv)) => {
                let total = (iv + lv) * d.unit;
                Outcome::judge(
                    iv > 0 && total <= ctx.max_idle,
                    json!(if iv > 0 {
                        json!(total)
                    } else {
                        json!("never (idle-delay 0)")
                    }),
                    json!({"idle_delay": i.evidence, "lock_delay": l.evidence,
                        "unit_seconds": d.unit, "seconds": total, "dconf": dbs}),
                )
            }
            _ => Outcome::error("idle-delay or lock-delay is not an integer"),
        },
    };
    Eval { enabled, idle }
}

/// DDE (deepin/UOS): `com.deepin.dde.power` `line-power-lock-delay` and
/// `battery-lock-delay`, seconds, 0 = never (`docs/spec-desktops-cn.md`).
pub(crate) fn evaluate_dde(ctx: &Context, udb: &UserDb) -> Eval {
    const SCHEMA: &str = "com.deepin.dde.power";
    let dbs = ctx.gsettings.describe();
    let line = lookup(&ctx.gsettings, udb, SCHEMA, "line-power-lock-delay");
    let batt = lookup(&ctx.gsettings, udb, SCHEMA, "battery-lock-delay");
    let (line, batt) = match (line, batt) {
        (Err(e), _) | (_, Err(e)) => return Eval::error(&e),
        (Ok(l), Ok(b)) => (l, b),
    };
    let (Some(lv), Some(bv)) = (int(&line.value), int(&batt.value)) else {
        return Eval::error("line-power-lock-delay or battery-lock-delay is not an integer");
    };
    let ev = json!({"line_power_lock_delay": line.evidence, "battery_lock_delay": batt.evidence, "dconf": dbs});
    let enabled = Outcome::judge(lv > 0 && bv > 0, json!(lv > 0 && bv > 0), ev.clone());
    let worst = lv.max(bv);
    let idle = Outcome::judge(
        lv > 0 && bv > 0 && worst <= ctx.max_idle,
        json!(if lv > 0 && bv > 0 {
            json!(worst)
        } else {
            json!("never (a lock delay is 0)")
        }),
        ev,
    );
    Eval { enabled, idle }
}
