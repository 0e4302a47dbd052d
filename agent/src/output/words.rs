//! A check's JSON values in words, for the table: the report keeps
//! `expected`, `actual` and `evidence` as data (any JSON value, CONTRACT §4);
//! an officer reads "15 分钟", "是", "GNOME：否" — never `{"GNOME":900}`.
//!
//! What it knows: the phrases the host checks write (`>= 10`, `<= 90 days`,
//! `locked after 0 < idle + lock delay <= 600 s`, ...), seconds (as minutes),
//! booleans, per-desktop objects and arrays. Anything else is written as
//! plain text, never as JSON. Check names and remedies are translated per
//! check id; a check this agent does not know keeps its id and the remedy its
//! checker wrote.

use super::lang::Lang;
use mijian_report::{Check, CheckStatus};
use serde_json::Value;

/// A check's name for people.
pub fn check_name(id: &str, lang: Lang) -> String {
    let (zh, en) = match id {
        "password.min_length" => ("口令最小长度", "Password minimum length"),
        "password.complexity" => ("口令复杂度", "Password complexity"),
        "password.max_age" => ("口令最长使用期限", "Password maximum age"),
        "account.empty_password" => ("空口令账户", "Account without password"),
        "login.autologin" => ("自动登录", "Automatic login"),
        "screen_lock.enabled" => ("屏幕锁定", "Screen lock"),
        "screen_lock.idle_timeout" => ("锁屏等待时间", "Screen lock idle time"),
        "network.internet_trace" => ("上网痕迹", "Internet traces"),
        "hardware.wireless" => ("无线网卡", "Wireless adapters"),
        "hardware.bluetooth" => ("蓝牙", "Bluetooth"),
        "trace.recent_files" => ("介质文件使用痕迹", "Recent files on media"),
        "software.prohibited" => ("违规软件", "Prohibited software"),
        "software.antivirus" => ("防病毒软件", "Antivirus"),
        "services.remote_access" => ("远程访问服务", "Remote access services"),
        "services.shares" => ("共享服务", "File shares"),
        "audit.enabled" => ("安全审计", "Audit"),
        _ => return id.to_string(),
    };
    lang.t(zh, en).to_string()
}

/// The subject (`host`, `user:NAME`) for people.
pub fn subject(s: &str, lang: Lang) -> String {
    match (s, s.strip_prefix("user:")) {
        ("host", _) => lang.t("本机", "host").to_string(),
        (_, Some(name)) => format!("{}{name}", lang.t("用户 ", "user ")),
        _ => s.to_string(),
    }
}

/// Seconds as minutes (and seconds) in words.
pub fn duration(secs: i64, lang: Lang) -> String {
    let (m, s) = (secs / 60, secs % 60);
    match (lang, m, s) {
        (Lang::Zh, 0, s) => format!("{s} 秒"),
        (Lang::Zh, m, 0) => format!("{m} 分钟"),
        (Lang::Zh, m, s) => format!("{m} 分 {s} 秒"),
        (Lang::En, 0, s) => format!("{s} s"),
        (Lang::En, m, 0) => format!("{m} min"),
        (Lang::En, m, s) => format!("{m} min {s} s"),
    }
}

fn yes_no(b: bool, lang: Lang) -> &'static str {
    if b {
        lang.t("是", "yes")
    } else {
        lang.t("否", "no")
    }
}

/// A number after a prefix such as `>= `, if the rest is one.
fn num_after<'a>(s: &'a str, prefix: &str) -> Option<(i64, &'a str)> {
    let rest = s.strip_prefix(prefix)?.trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let n = rest[..end].parse().ok()?;
    Some((n, rest[end..].trim()))
}

/// Known phrases of the host checks, in Chinese.
fn phrase_zh(s: &str) -> Option<String> {
    let fixed = match s {
        "a password or a locked password field" => "设有口令或口令已锁定",
        "password locked" => "口令已锁定",
        "password set" => "已设口令",
        "empty password field" => "口令为空",
        "no shadow entry" => "shadow 中无此账户",
        "no automatic or timed login" => "无自动登录或定时登录",
        "enabled" => "已启用",
        "disabled" => "未启用",
        "not set (never expires)" => "未设置（永不过期）",
        "screen lock enabled on every installed desktop" => "每个已安装的桌面均启用锁屏",
        "error" => "无法判定",
        "not set" => "未设置",
        "none" => "无",
        "no antivirus installed" => "未安装防病毒软件",
        _ => "",
    };
    if !fixed.is_empty() {
        return Some(fixed.to_string());
    }
    None
}

/// A string value in words: host-check phrases translated, durations in minutes.
fn string_words(check: &str, s: &str, lang: Lang) -> String {
    if let Some((n, rest)) = num_after(s, ">=") {
        return match (rest, lang) {
            ("character classes", Lang::Zh) => format!("至少 {n} 类字符"),
            ("character classes", Lang::En) => format!("at least {n} character classes"),
            ("", Lang::Zh) if check == "password.min_length" => format!("至少 {n} 个字符"),
            ("", Lang::En) if check == "password.min_length" => {
                format!("at least {n} characters")
            }
            (r, Lang::Zh) => format!("至少 {n} {r}").trim_end().to_string(),
            (r, Lang::En) => format!("at least {n} {r}").trim_end().to_string(),
        };
    }
    if let Some((n, rest)) = num_after(s, "<=") {
        return match (rest, lang) {
            ("days", Lang::Zh) => format!("不超过 {n} 天"),
            ("days", Lang::En) => format!("at most {n} days"),
            ("s", _) => format!("{} {}", lang.t("不超过", "at most"), duration(n, lang)),
            (r, Lang::Zh) => format!("不超过 {n} {r}").trim_end().to_string(),
            (r, Lang::En) => format!("at most {n} {r}").trim_end().to_string(),
        };
    }
    if let Some(rest) = s.strip_prefix("locked after 0 < idle + lock delay <=")
        && let Some((n, "s")) = num_after(rest.trim(), "")
    {
        return match lang {
            Lang::Zh => format!("空闲后 {} 内锁屏（空闲时间加锁定延迟）", duration(n, lang)),
            Lang::En => format!(
                "locked within {} of idle (idle delay plus lock delay)",
                duration(n, lang)
            ),
        };
    }
    if lang == Lang::Zh
        && let Some(z) = phrase_zh(s)
    {
        return z;
    }
    s.to_string()
}

/// A JSON value of `expected`/`actual` in words.
pub fn value(check: &str, v: &Value, lang: Lang) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => yes_no(*b, lang).to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => number_words(check, i, lang),
            None => n.to_string(),
        },
        Value::String(s) => string_words(check, s, lang),
        Value::Array(a) => a
            .iter()
            .map(|x| value(check, x, lang))
            .collect::<Vec<_>>()
            .join(lang.t("、", ", ")),
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| format!("{k}{}{}", lang.t("：", ": "), value(check, x, lang)))
            .collect::<Vec<_>>()
            .join(lang.t("；", "; ")),
    }
}

/// A bare number, with the unit its check measures in.
fn number_words(check: &str, n: i64, lang: Lang) -> String {
    match check {
        "password.min_length" => format!("{n} {}", lang.t("个字符", "characters")),
        "password.complexity" => format!("{n} {}", lang.t("类字符", "character classes")),
        "password.max_age" if n >= 99999 => {
            format!("{n} {}", lang.t("天（永不过期）", "days (never expires)"))
        }
        "password.max_age" => format!("{n} {}", lang.t("天", "days")),
        "screen_lock.idle_timeout" if n <= 0 => lang.t("从不锁屏", "never locks").to_string(),
        "screen_lock.idle_timeout" => duration(n, lang),
        _ => n.to_string(),
    }
}

/// Every `file:line` (or bare file) the evidence names, in order, without
/// repeats: where the officer goes to fix it.
pub fn places(evidence: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = evidence {
        collect_places(v, &mut out, 0);
    }
    out
}

fn collect_places(v: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > 6 || out.len() >= 12 {
        return;
    }
    match v {
        Value::Object(m) => {
            let file = ["file", "path", "stack_file"]
                .iter()
                .find_map(|k| m.get(*k).and_then(Value::as_str));
            if let Some(f) = file {
                let p = match m.get("line").and_then(Value::as_u64) {
                    Some(l) => format!("{f}:{l}"),
                    None => f.to_string(),
                };
                if !out.contains(&p) && !out.iter().any(|o| o.starts_with(&format!("{f}:"))) {
                    out.retain(|o| o != f);
                    out.push(p);
                }
            }
            for (k, x) in m {
                if !matches!(k.as_str(), "file" | "path" | "stack_file" | "line") {
                    collect_places(x, out, depth + 1);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_places(x, out, depth + 1)),
        _ => {}
    }
}

/// Why a check could not be judged: every `error` the evidence carries.
pub fn reason(c: &Check, lang: Lang) -> String {
    let mut errs = Vec::new();
    if let Some(v) = &c.evidence {
        collect_errors(v, &mut errs, 0);
    }
    if errs.is_empty() {
        return lang
            .t(
                "证据中未说明原因（见 JSON 报告）",
                "no reason given in the evidence (see the JSON report)",
            )
            .to_string();
    }
    let errs: Vec<String> = errs.into_iter().map(|e| error_words(&e, lang)).collect();
    errs.join(lang.t("；", "; "))
}

fn collect_errors(v: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > 6 || out.len() >= 6 {
        return;
    }
    match v {
        Value::Object(m) => {
            for key in ["error", "errors", "session_dir_errors"] {
                match m.get(key) {
                    Some(Value::String(s)) => {
                        let at = m
                            .get("file")
                            .and_then(Value::as_str)
                            .map(|f| match m.get("line").and_then(Value::as_u64) {
                                Some(l) => format!("{f}:{l}: "),
                                None => format!("{f}: "),
                            })
                            .filter(|a| !s.contains(a.trim_end_matches(": ")))
                            .unwrap_or_default();
                        let e = format!("{at}{s}");
                        if !out.contains(&e) {
                            out.push(e);
                        }
                    }
                    Some(Value::Array(a)) => {
                        for x in a.iter().filter_map(Value::as_str) {
                            if !out.iter().any(|o| o == x) {
                                out.push(x.to_string());
                            }
                        }
                    }
                    _ => {}
                }
            }
            for (k, x) in m {
                if !matches!(k.as_str(), "error" | "errors" | "session_dir_errors") {
                    collect_errors(x, out, depth + 1);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_errors(x, out, depth + 1)),
        _ => {}
    }
}

/// The usual error words in Chinese; file names and values stay as written.
fn error_words(e: &str, lang: Lang) -> String {
    if lang == Lang::En {
        return e.to_string();
    }
    let mut s = e.to_string();
    for (en, zh) in [
        ("Permission denied (os error 13)", "无权读取"),
        ("permission denied", "无权读取"),
        ("No such file or directory (os error 2)", "文件不存在"),
        ("not an integer", "不是整数"),
        ("needs an integer value, not", "需要整数值，而不是"),
        ("unknown setting", "未知设置"),
        ("cannot read", "无法读取"),
        ("cannot parse", "无法解析"),
        ("invalid", "无效"),
    ] {
        s = s.replace(en, zh);
    }
    s
}

/// Why a check does not apply here, from its evidence (`note` or `reason`).
pub fn not_applicable(c: &Check, lang: Lang) -> Option<String> {
    let ev = c.evidence.as_ref()?;
    let first = |v: &Value| {
        ["note", "reason"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
    };
    let why = first(ev).or_else(|| ev.as_array().and_then(|a| a.iter().find_map(first)))?;
    if lang == Lang::En {
        return Some(why);
    }
    Some(if why.contains("no graphical desktop") {
        "未安装图形桌面".to_string()
    } else if why.contains("desktops mijian does not evaluate") {
        "只有 mijian 不评估的桌面".to_string()
    } else if let Some(rest) = why.strip_prefix("classification ") {
        format!("不适用于密级 {rest}")
    } else {
        why
    })
}

/// What to do about a failed (or unjudged) check, in the reader's language.
pub fn remedy(c: &Check, lang: Lang) -> Option<String> {
    if !matches!(c.status, CheckStatus::Fail | CheckStatus::Error) {
        return None;
    }
    if lang == Lang::En {
        return Some(c.remedy.clone().unwrap_or_else(|| {
            "No remedy given by the check; see its evidence in the JSON report.".into()
        }));
    }
    let user = c.subject.strip_prefix("user:").unwrap_or("USER");
    let num = |prefix: &str| -> Option<i64> {
        c.expected
            .as_ref()
            .and_then(Value::as_str)
            .and_then(|s| num_after(s, prefix))
            .map(|(n, _)| n)
    };
    let last_num = || -> Option<i64> {
        c.expected.as_ref().and_then(Value::as_str).and_then(|s| {
            s.split(|ch: char| !ch.is_ascii_digit())
                .rfind(|t| !t.is_empty())
                .and_then(|t| t.parse().ok())
        })
    };
    let zh = match (c.id.as_str(), c.status) {
        (_, CheckStatus::Error) if c.id.starts_with("screen_lock.") => {
            "修复或移除证据中指出的损坏文件，然后重新检查。".to_string()
        }
        ("login.autologin", CheckStatus::Error) => {
            "使显示管理器配置可读（以 root 运行）后重新检查。".to_string()
        }
        ("password.min_length" | "password.complexity", CheckStatus::Error) => {
            "修正口令质量配置中指出的那一行（已知设置，取值为整数）。".to_string()
        }
        ("password.min_length", _) => format!(
            "在 /etc/security/pwquality.conf 中设置 `minlen = {}`（且不设正的 credit），并在口令栈中加载 pam_pwquality.so。",
            num(">=").unwrap_or(10)
        ),
        ("password.complexity", _) => format!(
            "在口令栈中加载 pam_pwquality.so，并在 /etc/security/pwquality.conf 中设置 `minclass = {}`。",
            num(">=").unwrap_or(3)
        ),
        ("password.max_age", _) => {
            let n = num("<=").unwrap_or(90);
            if c.subject == "host" {
                format!(
                    "在 /etc/login.defs 中设置 `PASS_MAX_DAYS {n}`（新账户），并对已有账户执行 `chage -M {n} 用户名`。"
                )
            } else {
                format!("执行 `chage -M {n} {user}`。")
            }
        }
        ("account.empty_password", _) => {
            format!("为该账户设置口令（`passwd {user}`）或锁定账户（`passwd -l {user}`）。")
        }
        ("login.autologin", _) => {
            "删除证据中指出的自动登录或定时登录设置（或设为 false/空）。".to_string()
        }
        ("screen_lock.enabled", _) => {
            "为该用户在每个未通过的桌面上启用锁屏，并在系统范围锁定该设置（如 dconf 锁）。"
                .to_string()
        }
        ("network.internet_trace", CheckStatus::Fail) if c.subject == "host" => {
            "删除无线、移动网络和 VPN 连接及 wpa_supplicant 网络配置，使用本单位内部域名解析，\
             撤除本机的互联网路由（涉密不上网），并向保密员报告该连接。"
                .to_string()
        }
        ("network.internet_trace", CheckStatus::Fail) => {
            "浏览器历史显示这台涉密计算机访问过互联网地址：先向保密员报告（违规外联），\
             不要先删除记录。"
                .to_string()
        }
        ("hardware.wireless", CheckStatus::Fail) => {
            "拆除无线网卡，或在 BIOS / rfkill 中永久禁用（涉密计算机不得有无线连接）。".to_string()
        }
        ("hardware.bluetooth", CheckStatus::Fail) => {
            "拆除蓝牙模块，或在 BIOS / rfkill 中永久禁用（涉密计算机不得有蓝牙）。".to_string()
        }
        ("trace.recent_files", CheckStatus::Fail) => {
            "本机打开过移动介质上的文件：按路径逐一查明介质，核实其已登记且密级与本机相符（防止交叉使用）。"
                .to_string()
        }
        ("software.prohibited", CheckStatus::Fail) => {
            "卸载所列程序（即时通信、网盘、远程桌面会把数据带出本机，此处不允许），\
             并删除其残留目录和自启动项。"
                .to_string()
        }
        ("software.antivirus", CheckStatus::Fail) if c.remedy.as_deref().is_some_and(|r| r.contains("ClamAV's signatures")) => {
            "更新 ClamAV 病毒库（freshclam，离线主机从本单位升级服务器拷入最新的 daily.cvd）。".to_string()
        }
        ("software.antivirus", CheckStatus::Fail) => {
            "安装本单位指定的防病毒软件（或 ClamAV），并保持病毒库为最新。".to_string()
        }
        ("services.remote_access", CheckStatus::Fail) => {
            "在 sshd_config 中设置 `PasswordAuthentication no`（以第一个值为准：检查 sshd_config.d \
             中的配置片段和 Match 块），停用并屏蔽远程桌面、VNC、telnet 服务，从 inetd.conf 中删除 telnet。"
                .to_string()
        }
        ("services.shares", CheckStatus::Fail) => {
            "删除 Samba 共享（包括 Debian 默认的 [homes]）和 NFS 导出，或设置 `available = no`；\
             涉密计算机不共享任何目录。"
                .to_string()
        }
        ("audit.enabled", CheckStatus::Fail) => {
            "启用 auditd（`systemctl enable --now auditd`），在 /etc/audit/rules.d/mijian.rules 中加入 \
             `-w /etc/mijian -p wa -k mijian`，再执行 `augenrules --load`。"
                .to_string()
        }
        (id, CheckStatus::Error)
            if ["network.", "hardware.", "trace.", "software.", "services.", "audit."]
                .iter()
                .any(|p| id.starts_with(p)) =>
        {
            "证据中列出的文件无法读取：以 root 运行后重新检查；文件损坏时按证据修复。".to_string()
        }
        ("screen_lock.idle_timeout", _) => format!(
            "在每个未通过的桌面上把空闲时间加锁定延迟设为不超过 {}，并在系统范围锁定该设置。",
            duration(last_num().unwrap_or(600), Lang::Zh)
        ),
        _ => {
            return Some(
                c.remedy
                    .clone()
                    .unwrap_or_else(|| "检查未给出处理方法，请查看 JSON 报告中的证据。".into()),
            );
        }
    };
    Some(zh)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_in_words_never_json() {
        let zh = Lang::Zh;
        let en = Lang::En;
        let idle = "screen_lock.idle_timeout";
        assert_eq!(value(idle, &json!({"GNOME": 900}), zh), "GNOME：15 分钟");
        assert_eq!(
            value(idle, &json!({"GNOME": 900, "UKUI": 90}), en),
            "GNOME: 15 min; UKUI: 1 min 30 s"
        );
        assert_eq!(
            value(
                "screen_lock.enabled",
                &json!({"GNOME": true, "DDE": false}),
                zh
            ),
            "DDE：否；GNOME：是"
        );
        assert_eq!(
            value("password.min_length", &json!(">= 10"), zh),
            "至少 10 个字符"
        );
        assert_eq!(value("password.min_length", &json!(6), en), "6 characters");
        assert_eq!(
            value("password.max_age", &json!("<= 90 days"), zh),
            "不超过 90 天"
        );
        assert_eq!(
            value(
                idle,
                &json!("locked after 0 < idle + lock delay <= 600 s"),
                zh
            ),
            "空闲后 10 分钟 内锁屏（空闲时间加锁定延迟）"
        );
        assert_eq!(value("login.autologin", &json!("disabled"), zh), "未启用");
        assert_eq!(value("x.y", &json!([true, false]), zh), "是、否");
    }

    #[test]
    fn places_and_reasons_come_from_the_evidence() {
        let ev = json!({"stack": ["/etc/pam.d/common-password"], "error": "minlen = twelve: not an integer",
                        "at": {"file": "/etc/security/pwquality.conf", "line": 7}});
        assert_eq!(places(Some(&ev)), ["/etc/security/pwquality.conf:7"]);
        let c = Check::new("password.min_length", "host", CheckStatus::Error).evidence(ev);
        assert_eq!(reason(&c, Lang::En), "minlen = twelve: not an integer");
        assert_eq!(reason(&c, Lang::Zh), "minlen = twelve: 不是整数");
        let per = json!({"GNOME": {"idle_delay": {"file": "/etc/dconf/db/local.d/00", "line": 3}}});
        assert_eq!(places(Some(&per)), ["/etc/dconf/db/local.d/00:3"]);
    }

    #[test]
    fn inspection_check_remedies_speak_chinese() {
        let fail = |id: &str, remedy: &str| {
            Check::new(id, "host", CheckStatus::Fail)
                .actual("x")
                .remedy(remedy)
        };
        for id in [
            "network.internet_trace",
            "hardware.wireless",
            "hardware.bluetooth",
            "trace.recent_files",
            "software.prohibited",
            "software.antivirus",
            "services.remote_access",
            "services.shares",
            "audit.enabled",
        ] {
            let zh = remedy(&fail(id, "english remedy"), Lang::Zh).unwrap_or_default();
            assert!(!zh.contains("english"), "{id}: {zh}");
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{id}: {zh}"
            );
            assert_eq!(
                remedy(&fail(id, "english remedy"), Lang::En).as_deref(),
                Some("english remedy")
            );
        }
        let old_db = fail(
            "software.antivirus",
            "update ClamAV's signatures (freshclam, …)",
        );
        assert!(
            remedy(&old_db, Lang::Zh)
                .unwrap_or_default()
                .contains("freshclam")
        );
        let err = Check::new("services.shares", "host", CheckStatus::Error).remedy("e");
        assert!(remedy(&err, Lang::Zh).unwrap_or_default().contains("root"));
        assert_eq!(
            value(
                "software.antivirus",
                &json!("no antivirus installed"),
                Lang::Zh
            ),
            "未安装防病毒软件"
        );
    }
}
