//! `screen_lock.enabled` and `screen_lock.idle_timeout` for each interactive
//! user (`spec/host-checks.md`, "screen_lock"; UKUI and DDE:
//! `docs/spec-desktops-cn.md`). Session files decide which desktops are
//! installed; each is evaluated for the user with its own files and the
//! results are combined: error > fail > pass.

mod gsettings_desktops;
mod kde;
mod xfce;
mod xscreensaver;

use crate::accounts::Account;
use crate::gsettings::Sources;
use crate::root::Root;
use mijian_policy::Thresholds;
use mijian_report::{Check, CheckStatus};
use serde_json::{Map, Value, json};

/// One check's result for one desktop.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Pass { actual: Value, evidence: Value },
    Fail { actual: Value, evidence: Value },
    Error { evidence: Value },
}

impl Outcome {
    pub(crate) fn judge(ok: bool, actual: Value, evidence: Value) -> Outcome {
        if ok {
            Outcome::Pass { actual, evidence }
        } else {
            Outcome::Fail { actual, evidence }
        }
    }
    pub(crate) fn error(msg: impl Into<String>) -> Outcome {
        Outcome::Error {
            evidence: json!({"error": msg.into()}),
        }
    }
}

/// Both checks for one desktop.
#[derive(Debug, Clone)]
pub(crate) struct Eval {
    pub enabled: Outcome,
    pub idle: Outcome,
}

impl Eval {
    pub(crate) fn error(msg: &str) -> Eval {
        Eval {
            enabled: Outcome::error(msg),
            idle: Outcome::error(msg),
        }
    }
}

/// The desktops the checker knows, by the lockers they use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Desktop {
    Gnome,
    Kde,
    Mate,
    Cinnamon,
    Xfce,
    Xscreensaver,
    Ukui,
    Dde,
}

impl Desktop {
    fn name(self) -> &'static str {
        match self {
            Desktop::Gnome => "GNOME",
            Desktop::Kde => "KDE",
            Desktop::Mate => "MATE",
            Desktop::Cinnamon => "Cinnamon",
            Desktop::Xfce => "XFCE",
            Desktop::Xscreensaver => "xscreensaver (LXDE)",
            Desktop::Ukui => "UKUI",
            Desktop::Dde => "DDE",
        }
    }

    /// Map a session file basename (without `.desktop`).
    fn from_session(base: &str) -> Option<Desktop> {
        Some(match base {
            "gnome" | "gnome-xorg" | "gnome-wayland" => Desktop::Gnome,
            b if b.starts_with("gnome-classic") || b.starts_with("ubuntu") => Desktop::Gnome,
            "plasma" | "plasmawayland" | "plasmax11" => Desktop::Kde,
            "mate" => Desktop::Mate,
            "cinnamon" | "cinnamon2d" | "cinnamon-wayland" => Desktop::Cinnamon,
            "xfce" | "xfce-wayland" => Desktop::Xfce,
            "LXDE" => Desktop::Xscreensaver,
            "ukui" | "ukui-wayland" => Desktop::Ukui,
            "deepin" | "dde-x11" | "dde-wayland" => Desktop::Dde,
            _ => return None,
        })
    }
}

/// Installed desktops and the session files that were not evaluated.
#[derive(Debug, Clone, Default)]
pub(crate) struct Installed {
    pub desktops: Vec<(Desktop, Vec<String>)>,
    pub unknown: Vec<String>,
    pub errors: Vec<String>,
}

pub(crate) fn installed(root: &Root) -> Installed {
    let mut inst = Installed::default();
    for dir in ["/usr/share/xsessions", "/usr/share/wayland-sessions"] {
        let names = match root.list_dir(dir) {
            Ok(n) => n,
            Err(e) => {
                inst.errors.push(e.to_string());
                continue;
            }
        };
        for n in names {
            let Some(base) = n.strip_suffix(".desktop") else {
                continue;
            };
            let file = format!("{dir}/{n}");
            match Desktop::from_session(base) {
                Some(d) => match inst.desktops.iter_mut().find(|(x, _)| *x == d) {
                    Some((_, files)) => files.push(file),
                    None => inst.desktops.push((d, vec![file])),
                },
                None => inst.unknown.push(file),
            }
        }
    }
    inst.desktops.sort();
    inst
}

/// Host-wide inputs shared by every user's evaluation.
pub(crate) struct Context<'a> {
    pub root: &'a Root,
    pub max_idle: i64,
    pub gsettings: Sources,
}

fn evaluate(ctx: &Context, d: Desktop, user: &Account, udb: &crate::gsettings::UserDb) -> Eval {
    match d {
        Desktop::Gnome => gsettings_desktops::evaluate(ctx, &gsettings_desktops::GNOME, udb),
        Desktop::Mate => gsettings_desktops::evaluate(ctx, &gsettings_desktops::MATE, udb),
        Desktop::Cinnamon => gsettings_desktops::evaluate(ctx, &gsettings_desktops::CINNAMON, udb),
        Desktop::Ukui => gsettings_desktops::evaluate(ctx, &gsettings_desktops::UKUI, udb),
        Desktop::Dde => gsettings_desktops::evaluate_dde(ctx, udb),
        Desktop::Kde => kde::evaluate(ctx, &user.home),
        Desktop::Xscreensaver => xscreensaver::evaluate(ctx, &user.home),
        Desktop::Xfce => xfce::evaluate(ctx, user),
    }
}

fn combine(
    id: &str,
    subject: &str,
    per: &[(Desktop, Outcome)],
    extra: &Value,
    expected: &str,
    remedy: &str,
) -> Check {
    let mut actual = Map::new();
    let mut evidence = Map::new();
    let mut any_error = false;
    let mut any_fail = false;
    for (d, o) in per {
        let (a, e) = match o {
            Outcome::Pass { actual, evidence } => (actual.clone(), evidence.clone()),
            Outcome::Fail { actual, evidence } => {
                any_fail = true;
                (actual.clone(), evidence.clone())
            }
            Outcome::Error { evidence } => {
                any_error = true;
                (Value::String("error".into()), evidence.clone())
            }
        };
        actual.insert(d.name().to_string(), a);
        evidence.insert(d.name().to_string(), e);
    }
    if let Value::Object(m) = extra {
        for (k, v) in m {
            evidence.insert(k.clone(), v.clone());
        }
    }
    let status = if any_error {
        CheckStatus::Error
    } else if any_fail {
        CheckStatus::Fail
    } else {
        CheckStatus::Pass
    };
    let mut c = Check::new(id, subject, status)
        .expected(expected)
        .actual(Value::Object(actual))
        .evidence(Value::Object(evidence));
    if status == CheckStatus::Error {
        c = c.remedy(
            "Repair or remove the broken file named in the evidence, then re-run the check.",
        );
    } else if status == CheckStatus::Fail {
        c = c.remedy(remedy);
    }
    c
}

/// Both screen-lock checks for every interactive user.
pub fn checks(root: &Root, users: &[&Account], t: &Thresholds) -> Vec<Check> {
    let inst = installed(root);
    let max_idle = t.max_idle_seconds as i64;
    let ctx = Context {
        root,
        max_idle,
        gsettings: Sources::load(root),
    };
    let mut out = Vec::new();
    let extra = {
        let mut m = Map::new();
        m.insert(
            "sessions".into(),
            json!(
                inst.desktops
                    .iter()
                    .map(|(d, f)| json!({"desktop": d.name(), "files": f}))
                    .collect::<Vec<_>>()
            ),
        );
        if !inst.unknown.is_empty() {
            m.insert(
                "not_evaluated".into(),
                json!(
                    inst.unknown
                        .iter()
                        .map(|f| format!("{f}: desktop not evaluated by mijian"))
                        .collect::<Vec<_>>()
                ),
            );
        }
        if !inst.errors.is_empty() {
            m.insert("session_dir_errors".into(), json!(inst.errors));
        }
        Value::Object(m)
    };
    for u in users {
        let subject = u.subject();
        if inst.desktops.is_empty() {
            let note = if inst.unknown.is_empty() {
                "no session file in /usr/share/xsessions or /usr/share/wayland-sessions: no graphical desktop"
            } else {
                "only session files of desktops mijian does not evaluate"
            };
            let mut ev = extra.clone();
            if let Value::Object(m) = &mut ev {
                m.insert("note".into(), json!(note));
            }
            for id in ["screen_lock.enabled", "screen_lock.idle_timeout"] {
                out.push(Check::new(id, &subject, CheckStatus::NotApplicable).evidence(ev.clone()));
            }
            continue;
        }
        let udb = crate::gsettings::UserDb::load(root, &u.home, &ctx.gsettings);
        let mut en = Vec::new();
        let mut idle = Vec::new();
        for (d, _) in &inst.desktops {
            let e = evaluate(&ctx, *d, u, &udb);
            en.push((*d, e.enabled));
            idle.push((*d, e.idle));
        }
        out.push(combine(
            "screen_lock.enabled",
            &subject,
            &en,
            &extra,
            "screen lock enabled on every installed desktop",
            "Enable locking for this user on each desktop named as failing (and lock the setting system-wide, e.g. a dconf lock).",
        ));
        out.push(combine(
            "screen_lock.idle_timeout",
            &subject,
            &idle,
            &extra,
            &format!("locked after 0 < idle + lock delay <= {max_idle} s"),
            &format!("Set the idle delay plus lock delay to at most {max_idle} seconds on each desktop named as failing, and lock it system-wide."),
        ));
    }
    out
}
