//! `password.min_length`, `password.complexity`, `password.max_age`
//! (`spec/host-checks.md`, the sections of those names).
//!
//! pwquality settings are resolved like libpwquality 1.4.5
//! `pwquality_read_config` (defaults → `pwquality.conf.d/*.conf` in bytewise
//! order → `pwquality.conf` last → module arguments), pam_cracklib like
//! Linux-PAM's `pam_cracklib.c` (arguments only). Unlike the real library,
//! an unknown setting or a non-integer value is an `error`, never skipped.

use crate::accounts::Accounts;
use crate::pam::{PamLine, password_lines};
use crate::root::{ReadError, Root};
use crate::util::{error_check, loc};
use mijian_policy::Thresholds;
use mijian_report::{Check, CheckStatus};
use serde_json::{Map, Value, json};

const CREDITS: [&str; 4] = ["dcredit", "ucredit", "lcredit", "ocredit"];

/// libpwquality 1.4.5 integer settings (`src/settings.c`, `s_int_settings`).
const PWQ_INT: [&str; 16] = [
    "difok",
    "minlen",
    "dcredit",
    "ucredit",
    "lcredit",
    "ocredit",
    "minclass",
    "maxrepeat",
    "maxsequence",
    "maxclassrepeat",
    "gecoscheck",
    "dictcheck",
    "usercheck",
    "usersubstr",
    "enforcing",
    "retry",
];
/// String settings and flags (`s_str_settings`, and the flags the PAM
/// module and the library accept without a value).
const PWQ_OTHER: [&str; 4] = [
    "badwords",
    "dictpath",
    "enforce_for_root",
    "local_users_only",
];

/// One resolved setting and where its value came from.
#[derive(Debug, Clone)]
struct Setting {
    value: i64,
    /// `None` for a built-in default.
    origin: Option<Value>,
}

/// Settings of the quality module of one stack file.
#[derive(Debug, Clone)]
struct Quality {
    module: String,
    /// The PAM line that loads the module.
    pam: Value,
    minlen: Setting,
    credits: [Setting; 4],
    minclass: Setting,
    /// Files that were read, in order, for the evidence.
    read: Vec<String>,
    /// Module arguments the module ignores (unknown names).
    ignored: Vec<String>,
}

impl Quality {
    fn effective_min(&self) -> i64 {
        let positive: i64 = self.credits.iter().map(|c| c.value.max(0)).sum();
        (self.minlen.value.max(6) - positive).max(6)
    }

    fn classes(&self) -> i64 {
        let negative = self.credits.iter().filter(|c| c.value < 0).count() as i64;
        self.minclass.value.max(negative)
    }

    fn settings_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |name: &str, s: &Setting| {
            m.insert(
                name.to_string(),
                match &s.origin {
                    Some(o) => json!({"value": s.value, "from": o}),
                    None => json!({"value": s.value, "from": "default"}),
                },
            );
        };
        put("minlen", &self.minlen);
        for (n, s) in CREDITS.iter().zip(self.credits.iter()) {
            put(n, s);
        }
        put("minclass", &self.minclass);
        Value::Object(m)
    }
}

/// What one stack file enforces.
#[derive(Debug, Clone)]
enum Policy {
    Quality(Box<Quality>),
    /// No quality module: pam_unix's `minlen`.
    Unix {
        minlen: i64,
        origin: Option<Value>,
    },
}

#[derive(Debug, Clone)]
struct FileEval {
    file: String,
    policy: Policy,
}

/// Why the settings cannot be judged.
#[derive(Debug, Clone)]
struct Broken {
    evidence: Value,
    message: String,
}

fn broken(file: &str, line: usize, text: &str, why: &str) -> Broken {
    Broken {
        evidence: json!({"file": file, "line": line, "setting": text, "error": why}),
        message: format!("{file}:{line}: {why}"),
    }
}

fn read_broken(e: &ReadError) -> Broken {
    Broken {
        evidence: json!({"error": e.to_string()}),
        message: e.to_string(),
    }
}

/// Apply one `name=value` (argument) or `name value` (file) setting.
fn apply(
    q: &mut Quality,
    name: &str,
    value: Option<&str>,
    origin: Value,
    file: &str,
    line: usize,
    text: &str,
) -> Result<(), Broken> {
    if PWQ_OTHER.contains(&name) {
        return Ok(());
    }
    if !PWQ_INT.contains(&name) {
        return Err(broken(
            file,
            line,
            text,
            &format!("unknown setting `{name}`"),
        ));
    }
    let v = value.unwrap_or("");
    let Ok(n) = v.trim().parse::<i64>() else {
        return Err(broken(
            file,
            line,
            text,
            &format!("`{name}` needs an integer value, not `{v}`"),
        ));
    };
    let s = Setting {
        value: n,
        origin: Some(origin),
    };
    match name {
        "minlen" => q.minlen = s,
        "minclass" => q.minclass = s,
        _ => {
            if let Some(i) = CREDITS.iter().position(|c| *c == name) {
                q.credits[i] = s;
            }
        }
    }
    Ok(())
}

/// Read one pwquality config file into `q`.
fn read_pwq_file(root: &Root, host: &str, q: &mut Quality) -> Result<(), Broken> {
    let Some(f) = root.read(host).map_err(|e| read_broken(&e))? else {
        return Ok(());
    };
    let shown = f.shown();
    q.read.push(shown.clone());
    for (i, raw) in f.text().lines().enumerate() {
        let line = match raw.find('#') {
            Some(p) => &raw[..p],
            None => raw,
        }
        .trim();
        if line.is_empty() {
            continue;
        }
        // Name ends at a blank or `=`; then blanks and one `=` are skipped.
        let end = line
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(line.len());
        let name = &line[..end];
        let rest = line[end..].trim_start();
        let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
        let value = (!rest.is_empty()).then_some(rest);
        apply(
            q,
            name,
            value,
            loc(&shown, i + 1, line),
            &shown,
            i + 1,
            line,
        )?;
    }
    Ok(())
}

impl Quality {
    /// A module's compiled-in defaults: `minlen`, the same credit for all
    /// four classes, `minclass 0`.
    fn defaults(pam: &PamLine, minlen: i64, credit: i64) -> Quality {
        let default = |v| Setting {
            value: v,
            origin: None,
        };
        Quality {
            module: pam.module.clone(),
            pam: loc(&pam.file, pam.line, pam.text.clone()),
            minlen: default(minlen),
            credits: [
                default(credit),
                default(credit),
                default(credit),
                default(credit),
            ],
            minclass: default(0),
            read: Vec::new(),
            ignored: Vec::new(),
        }
    }
}

fn pwquality(root: &Root, pam: &PamLine) -> Result<Quality, Broken> {
    // libpwquality 1.4.5 defaults.
    let mut q = Quality::defaults(pam, 8, 0);
    let dir = "/etc/security/pwquality.conf.d";
    let names = root.list_dir(dir).map_err(|e| read_broken(&e))?;
    for name in names.iter().filter(|n| n.ends_with(".conf")) {
        read_pwq_file(root, &format!("{dir}/{name}"), &mut q)?;
    }
    read_pwq_file(root, "/etc/security/pwquality.conf", &mut q)?;
    module_args(&mut q, pam, true)?;
    Ok(q)
}

/// Module arguments override everything. pam_pwquality passes every
/// argument it does not know itself to libpwquality, which rejects unknown
/// ones; pam_cracklib ignores arguments it does not know, so only the
/// settings it has are taken from it.
fn module_args(q: &mut Quality, pam: &PamLine, strict: bool) -> Result<(), Broken> {
    const PAM_OWN: [&str; 5] = [
        "debug",
        "use_authtok",
        "authtok_type",
        "try_first_pass",
        "use_first_pass",
    ];
    for a in &pam.args {
        let (name, value) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (a.as_str(), None),
        };
        if PAM_OWN.contains(&name) {
            continue;
        }
        // An argument neither the module nor libpwquality knows is logged
        // and skipped by pam_pwquality (and ignored by pam_cracklib): it
        // changes nothing, so it is shown, not judged.
        if !(PWQ_INT.contains(&name) || PWQ_OTHER.contains(&name)) {
            q.ignored.push(a.clone());
            continue;
        }
        if !(strict || name == "minlen" || name == "minclass" || CREDITS.contains(&name)) {
            continue;
        }
        apply(
            q,
            name,
            value,
            json!({"file": pam.file, "line": pam.line, "setting": a, "argument_of": pam.module}),
            &pam.file,
            pam.line,
            a,
        )?;
    }
    Ok(())
}

fn cracklib(pam: &PamLine) -> Result<Quality, Broken> {
    // pam_cracklib.c: CO_MIN_LENGTH 9, CO_*_CREDIT 1.
    let mut q = Quality::defaults(pam, 9, 1);
    module_args(&mut q, pam, false)?;
    Ok(q)
}

fn eval_file(root: &Root, host: &str) -> Result<Option<FileEval>, Broken> {
    let Some(lines) = password_lines(root, host).map_err(|e| read_broken(&e))? else {
        return Ok(None);
    };
    let file = lines
        .first()
        .map(|l| l.file.clone())
        .unwrap_or_else(|| host.to_string());
    let policy = if let Some(l) = lines.iter().find(|l| l.module == "pam_pwquality.so") {
        Policy::Quality(Box::new(pwquality(root, l)?))
    } else if let Some(l) = lines.iter().find(|l| l.module == "pam_cracklib.so") {
        Policy::Quality(Box::new(cracklib(l)?))
    } else {
        let mut minlen = 6;
        let mut origin = None;
        if let Some(l) = lines.iter().find(|l| l.module == "pam_unix.so") {
            for a in &l.args {
                if let Some(v) = a.strip_prefix("minlen=") {
                    let Ok(n) = v.parse::<i64>() else {
                        return Err(broken(
                            &l.file,
                            l.line,
                            a,
                            "pam_unix minlen needs an integer",
                        ));
                    };
                    minlen = n;
                    origin = Some(json!({"file": l.file, "line": l.line, "setting": l.text}));
                }
            }
        }
        Policy::Unix { minlen, origin }
    };
    Ok(Some(FileEval { file, policy }))
}

/// PASS_MIN_LEN / PASS_MAX_DAYS: the last uncommented line.
fn login_defs(root: &Root, key: &str) -> Result<Option<(usize, String)>, ReadError> {
    let Some(f) = root.read("/etc/login.defs")? else {
        return Ok(None);
    };
    let mut found = None;
    for (i, line) in f.text().lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with('#') {
            continue;
        }
        let mut parts = t.split_whitespace();
        if parts.next() == Some(key) {
            found = Some((i + 1, parts.next().unwrap_or("").to_string()));
        }
    }
    Ok(found)
}

/// Results of evaluating the stack: every file, or the reason it is broken.
struct Stack {
    files: Vec<String>,
    evals: Result<Vec<FileEval>, Broken>,
}

fn stack(root: &Root) -> Stack {
    let candidates: Vec<&str> = if root.exists("/etc/pam.d/common-password") {
        vec!["/etc/pam.d/common-password"]
    } else {
        vec!["/etc/pam.d/system-auth", "/etc/pam.d/password-auth"]
    };
    let mut evals = Vec::new();
    let mut files = Vec::new();
    for c in candidates {
        match eval_file(root, c) {
            Ok(Some(e)) => {
                files.push(c.to_string());
                evals.push(e);
            }
            Ok(None) => {}
            Err(b) => {
                return Stack {
                    files: vec![c.to_string()],
                    evals: Err(b),
                };
            }
        }
    }
    Stack {
        files,
        evals: Ok(evals),
    }
}

fn pass_min_len_note(root: &Root) -> Value {
    match login_defs(root, "PASS_MIN_LEN") {
        Ok(Some((line, v))) => json!({"file": "/etc/login.defs", "line": line,
            "setting": format!("PASS_MIN_LEN {v}"), "note": "ignored: the PAM stack decides"}),
        _ => Value::Null,
    }
}

/// `password.min_length` and `password.complexity` (host).
pub fn quality_checks(root: &Root, t: &Thresholds) -> Vec<Check> {
    let st = stack(root);
    let evals = match st.evals {
        Err(b) => {
            let remedy = "Fix the named line of the password-quality configuration (a known setting with an integer value).";
            let mk = |id: &str| {
                Check::new(id, "host", CheckStatus::Error)
                    .evidence(json!({"stack": st.files, "error": b.message, "at": b.evidence}))
                    .remedy(remedy)
            };
            return vec![mk("password.min_length"), mk("password.complexity")];
        }
        Ok(e) => e,
    };
    let min_len = t.min_length as i64;
    let min_classes = t.min_classes as i64;
    let pml = pass_min_len_note(root);

    // password.min_length: the weaker file decides.
    let mut worst: Option<(i64, Value)> = None;
    for e in &evals {
        let (eff, ev) = match &e.policy {
            Policy::Quality(q) => {
                let minlen_from = q.minlen.origin.clone().unwrap_or_else(|| json!("default"));
                (
                    q.effective_min(),
                    json!({"stack_file": e.file, "module": q.pam, "decided_by": minlen_from,
                        "settings": q.settings_json(), "config_files_read": q.read,
                        "ignored_arguments": q.ignored,
                        "rule": format!("{}: minlen minus positive credits, never below 6", q.module)}),
                )
            }
            Policy::Unix { minlen, origin } => (
                (*minlen).max(1),
                json!({"stack_file": e.file, "module": "pam_unix.so",
                    "decided_by": origin.clone().unwrap_or_else(|| json!("pam_unix default minlen 6")),
                    "note": "no pam_pwquality/pam_cracklib in the stack; pwquality.conf is not used"}),
            ),
        };
        if worst.as_ref().is_none_or(|(w, _)| eff < *w) {
            worst = Some((eff, ev));
        }
    }
    let (eff, mut ev) = worst.unwrap_or_else(|| {
        (
            6,
            json!({"note": "no PAM password stack found (/etc/pam.d/common-password, system-auth, password-auth)", "decided_by": "pam_unix default minlen 6"}),
        )
    });
    if let Value::Object(m) = &mut ev {
        if !pml.is_null() {
            m.insert("pass_min_len".into(), pml.clone());
        }
        m.insert("stack".into(), json!(st.files));
    }
    let status = if eff >= min_len {
        CheckStatus::Pass
    } else {
        CheckStatus::Fail
    };
    let mut len_check = Check::new("password.min_length", "host", status)
        .expected(format!(">= {min_len}"))
        .actual(eff)
        .evidence(ev);
    if status == CheckStatus::Fail {
        len_check = len_check.remedy(format!(
            "Set `minlen = {min_len}` in /etc/security/pwquality.conf (and no positive credits) with pam_pwquality.so in the password stack."
        ));
    }

    // password.complexity.
    let mut worst: Option<(i64, Value)> = None;
    for e in &evals {
        let (c, ev) = match &e.policy {
            Policy::Quality(q) => (
                q.classes(),
                json!({"stack_file": e.file, "module": q.pam, "settings": q.settings_json(),
                    "rule": "max(minclass, number of negative credits)"}),
            ),
            Policy::Unix { .. } => (
                0,
                json!({"stack_file": e.file, "note": "neither pam_pwquality nor pam_cracklib in the password stack"}),
            ),
        };
        if worst.as_ref().is_none_or(|(w, _)| c < *w) {
            worst = Some((c, ev));
        }
    }
    let (classes, ev) = worst.unwrap_or((0, json!({"note": "no PAM password stack found"})));
    let has_module =
        evals.iter().all(|e| matches!(e.policy, Policy::Quality(_))) && !evals.is_empty();
    let status = if has_module && classes >= min_classes {
        CheckStatus::Pass
    } else {
        CheckStatus::Fail
    };
    let mut cx = Check::new("password.complexity", "host", status)
        .expected(format!(">= {min_classes} character classes"))
        .actual(classes)
        .evidence(ev);
    if status == CheckStatus::Fail {
        cx = cx.remedy(format!(
            "Load pam_pwquality.so in the password stack and set `minclass = {min_classes}` in /etc/security/pwquality.conf."
        ));
    }
    vec![len_check, cx]
}

fn parse_days(v: &str) -> Option<i64> {
    v.trim().parse::<i64>().ok()
}

/// `password.max_age`: host (login.defs) and each interactive account (shadow field 5).
pub fn max_age_checks(root: &Root, acc: &Accounts, t: &Thresholds) -> Vec<Check> {
    const ID: &str = "password.max_age";
    let max = t.max_age_days as i64;
    let expected = format!("<= {max} days");
    let mut out = Vec::new();
    let host = match login_defs(root, "PASS_MAX_DAYS") {
        Err(e) => error_check(ID, "host", &e, "Make /etc/login.defs readable."),
        Ok(None) => Check::new(ID, "host", CheckStatus::Fail)
            .expected(expected.clone())
            .actual("not set (never expires)")
            .evidence(
                json!({"file": "/etc/login.defs", "note": "no uncommented PASS_MAX_DAYS line"}),
            )
            .remedy(format!("Set `PASS_MAX_DAYS {max}` in /etc/login.defs.")),
        Ok(Some((line, v))) => match parse_days(&v) {
            None => Check::new(ID, "host", CheckStatus::Error)
                .expected(expected.clone())
                .evidence(json!({"file": "/etc/login.defs", "line": line,
                    "setting": format!("PASS_MAX_DAYS {v}"), "error": "not an integer"}))
                .remedy(format!("Set `PASS_MAX_DAYS {max}` in /etc/login.defs.")),
            Some(n) => {
                let ok = (0..=max).contains(&n) && n != 99999;
                let c = Check::new(
                    ID,
                    "host",
                    if ok {
                        CheckStatus::Pass
                    } else {
                        CheckStatus::Fail
                    },
                )
                .expected(expected.clone())
                .actual(n)
                .evidence(loc(
                    "/etc/login.defs",
                    line,
                    format!("PASS_MAX_DAYS {v}"),
                ));
                if ok {
                    c
                } else {
                    c.remedy(format!(
                        "Set `PASS_MAX_DAYS {max}` in /etc/login.defs (new accounts) and `chage -M {max} USER` for existing ones."
                    ))
                }
            }
        },
    };
    out.push(host);
    for a in acc.interactive() {
        let subject = a.subject();
        let c = match &acc.shadow {
            Err(e) => error_check(
                ID,
                &subject,
                e,
                "Run the check as root so /etc/shadow can be read.",
            ),
            Ok(map) => {
                let remedy = format!("Run `chage -M {max} {}`.", a.name);
                match map.get(&a.name) {
                    None => Check::new(ID, &subject, CheckStatus::Fail)
                        .expected(expected.clone())
                        .actual("no shadow entry")
                        .evidence(json!({"file": "/etc/shadow", "note": format!("no entry for {}", a.name)}))
                        .remedy(remedy),
                    Some(s) if s.max_days.is_empty() => Check::new(ID, &subject, CheckStatus::Fail)
                        .expected(expected.clone())
                        .actual("not set (never expires)")
                        .evidence(loc("/etc/shadow", s.line, format!("{}: field 5 (max days) empty", a.name)))
                        .remedy(remedy),
                    Some(s) => match parse_days(&s.max_days) {
                        None => Check::new(ID, &subject, CheckStatus::Error)
                            .expected(expected.clone())
                            .evidence(json!({"file": "/etc/shadow", "line": s.line,
                                "setting": format!("{}: field 5 = {}", a.name, s.max_days), "error": "not an integer"}))
                            .remedy(remedy),
                        Some(n) => {
                            let ok = (0..=max).contains(&n);
                            let c = Check::new(
                                ID,
                                &subject,
                                if ok { CheckStatus::Pass } else { CheckStatus::Fail },
                            )
                            .expected(expected.clone())
                            .actual(n)
                            .evidence(loc("/etc/shadow", s.line, format!("{}: field 5 (max days) = {n}", a.name)));
                            if ok { c } else { c.remedy(remedy) }
                        }
                    },
                }
            }
        };
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(minlen: i64, credits: [i64; 4], minclass: i64) -> Quality {
        let s = |v| Setting {
            value: v,
            origin: None,
        };
        Quality {
            module: "pam_pwquality.so".into(),
            pam: Value::Null,
            minlen: s(minlen),
            credits: credits.map(s),
            minclass: s(minclass),
            read: vec![],
            ignored: vec![],
        }
    }

    fn host(files: &[(&str, &str)]) -> (tempfile::TempDir, Root) {
        let d = tempfile::tempdir().unwrap();
        for (p, text) in files {
            let f = d.path().join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, text).unwrap();
        }
        let r = Root::at(d.path());
        (d, r)
    }

    fn statuses(root: &Root) -> Vec<(String, CheckStatus, Option<Value>)> {
        let t = mijian_policy::Baseline::default().thresholds(Default::default());
        quality_checks(root, &t)
            .into_iter()
            .map(|c| (c.id, c.status, c.actual))
            .collect()
    }

    const STACK: &str = "password requisite pam_pwquality.so retry=3\n";

    #[test]
    fn name_value_syntax_and_module_arguments() {
        let (_d, r) = host(&[
            (
                "etc/pam.d/common-password",
                "password requisite pam_pwquality.so retry=3 minlen=11 minclass=3\n",
            ),
            (
                "etc/security/pwquality.conf",
                "minlen 14   # space-separated form\nocredit -1\n",
            ),
        ]);
        let s = statuses(&r);
        assert_eq!(
            s[0],
            (
                "password.min_length".into(),
                CheckStatus::Pass,
                Some(json!(11))
            )
        );
        assert_eq!(
            s[1],
            (
                "password.complexity".into(),
                CheckStatus::Pass,
                Some(json!(3))
            )
        );
    }

    #[test]
    fn unknown_module_argument_is_shown_but_a_bad_value_is_an_error() {
        let (_d, r) = host(&[(
            "etc/pam.d/common-password",
            "password requisite pam_pwquality.so retry=3 reject_username minlen=12\n",
        )]);
        assert_eq!(statuses(&r)[0].1, CheckStatus::Pass);
        let (_d, r) = host(&[(
            "etc/pam.d/common-password",
            "password requisite pam_pwquality.so minlen=twelve\n",
        )]);
        assert_eq!(statuses(&r)[0].1, CheckStatus::Error);
    }

    #[test]
    fn unknown_setting_is_an_error() {
        let (_d, r) = host(&[
            ("etc/pam.d/common-password", STACK),
            (
                "etc/security/pwquality.conf.d/10-x.conf",
                "minlenght = 12\n",
            ),
        ]);
        let s = statuses(&r);
        assert_eq!(s[0].1, CheckStatus::Error);
        assert_eq!(s[1].1, CheckStatus::Error);
    }

    #[test]
    fn conf_d_in_bytewise_order_then_main_file() {
        let (_d, r) = host(&[
            ("etc/pam.d/common-password", STACK),
            ("etc/security/pwquality.conf.d/B.conf", "minlen = 20\n"),
            ("etc/security/pwquality.conf.d/a.conf", "minlen = 7\n"),
            (
                "etc/security/pwquality.conf.d/Z.conf.disabled",
                "minlen = 30\n",
            ),
        ]);
        // `B.conf` < `a.conf` bytewise: a.conf (7) is read last.
        assert_eq!(statuses(&r)[0].2, Some(json!(7)));
        let (_d, r) = host(&[
            ("etc/pam.d/common-password", STACK),
            ("etc/security/pwquality.conf.d/a.conf", "minlen = 20\n"),
            ("etc/security/pwquality.conf", "minlen = 11\n"),
        ]);
        assert_eq!(statuses(&r)[0].2, Some(json!(11)));
    }

    #[test]
    fn credits_and_floor() {
        assert_eq!(q(12, [2, 1, 0, 0], 0).effective_min(), 9);
        assert_eq!(q(12, [-1, -1, 0, 0], 0).effective_min(), 12);
        assert_eq!(q(4, [0; 4], 0).effective_min(), 6);
        assert_eq!(q(8, [1, 1, 1, 1], 0).effective_min(), 6);
        assert_eq!(q(12, [-1, -1, 0, 0], 2).classes(), 2);
        assert_eq!(q(12, [-1, -1, -1, 0], 2).classes(), 3);
    }
}
