//! Why a host is non-compliant, for the overview: each host's latest checks
//! and open findings reduced to a few cause bits, kept in `host_causes` by a
//! background task that revisits only hosts whose latest report changed
//! (the overview then counts 10,000 hosts' causes from one small table
//! instead of parsing every host's checks on each view). The same task
//! writes today's point of the compliance trend every few minutes.

use crate::api::App;
use mijian_store::Store;
use mijian_store::console::StaleHost;
use serde_json::Value;
use std::time::Duration;

/// Cause bits of `host_causes.causes`. Silent hosts and tamper alerts come
/// from the host row itself and are counted beside these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// 口令与账户: password.*, account.*, login.* checks failed.
    Password = 0,
    /// 屏幕保护: screen_lock.* checks failed.
    ScreenLock = 1,
    /// Any other failed check.
    OtherCheck = 2,
    /// 未标密级的涉密内容: `unmarked_classified`.
    Unmarked = 3,
    /// 密级高于主机的文件: `marked_classified` above the host's level.
    MarkedAbove = 4,
    /// 未登记或可疑载体: `removable_media` not registered.
    Media = 5,
}

impl Cause {
    pub const ALL: [Cause; 6] = [
        Cause::Password,
        Cause::ScreenLock,
        Cause::OtherCheck,
        Cause::Unmarked,
        Cause::MarkedAbove,
        Cause::Media,
    ];
    pub fn key(self) -> &'static str {
        match self {
            Cause::Password => "cause.password",
            Cause::ScreenLock => "cause.screen_lock",
            Cause::OtherCheck => "cause.other_check",
            Cause::Unmarked => "cause.unmarked",
            Cause::MarkedAbove => "cause.marked_above",
            Cause::Media => "cause.media",
        }
    }
    /// Findings filter of the page that lists this cause's findings.
    pub fn findings_query(self) -> Option<&'static str> {
        match self {
            Cause::Unmarked => Some("kind=unmarked_classified"),
            Cause::MarkedAbove => Some("kind=marked_classified"),
            Cause::Media => Some("kind=removable_media"),
            _ => None,
        }
    }
}

/// Rank of a classification level: 非涉密 0 … 绝密 4 (unknown words 0).
pub fn level_rank(level: &str) -> i64 {
    match level.trim() {
        "内部" => 1,
        "秘密" => 2,
        "机密" => 3,
        "绝密" => 4,
        _ => 0,
    }
}

/// The cause bits of one host.
pub fn causes_of(h: &StaleHost) -> i64 {
    let mut bits = 0i64;
    let mut set = |c: Cause| bits |= 1 << c as i64;
    if let Some(checks) = h
        .latest_checks
        .as_deref()
        .and_then(|c| serde_json::from_str::<Vec<Value>>(c).ok())
    {
        for c in &checks {
            if c.get("status").and_then(Value::as_str) != Some("fail") {
                continue;
            }
            let id = c.get("id").and_then(Value::as_str).unwrap_or("");
            let family = id.split('.').next().unwrap_or("");
            match family {
                "password" | "account" | "login" => set(Cause::Password),
                "screen_lock" => set(Cause::ScreenLock),
                _ => set(Cause::OtherCheck),
            }
        }
    }
    let host_level = level_rank(h.classification.as_deref().unwrap_or(""));
    for (kind, body) in &h.open {
        match kind.as_str() {
            "unmarked_classified" => set(Cause::Unmarked),
            "marked_classified" => {
                let level = serde_json::from_str::<Value>(body)
                    .ok()
                    .and_then(|v| {
                        v.pointer("/marking/level")
                            .and_then(Value::as_str)
                            .map(level_rank)
                    })
                    .unwrap_or(0);
                if level > host_level {
                    set(Cause::MarkedAbove);
                }
            }
            "removable_media" => {
                let registered = serde_json::from_str::<Value>(body)
                    .ok()
                    .and_then(|v| v.get("registered").and_then(Value::as_bool));
                if registered != Some(true) {
                    set(Cause::Media);
                }
            }
            _ => {}
        }
    }
    bits
}

/// Bring every host's cause bits up to date; returns hosts updated.
pub fn refresh(store: &dyn Store) -> mijian_store::Result<usize> {
    let mut total = 0;
    loop {
        let stale = store.console().stale_causes(500)?;
        if stale.is_empty() {
            return Ok(total);
        }
        let rows: Vec<(String, Option<i64>, i64)> = stale
            .iter()
            .map(|h| (h.agent_id.clone(), h.seq, causes_of(h)))
            .collect();
        store.console().put_causes(&rows)?;
        total += rows.len();
        if stale.len() < 500 {
            return Ok(total);
        }
    }
}

/// Write today's point of the trend (UTC+8 days).
pub fn snapshot(store: &dyn Store, silent_after: u64) -> mijian_store::Result<()> {
    let now = crate::auth::now();
    let day = (now + 8 * 3600).div_euclid(86400);
    store
        .console()
        .snapshot_day(day, now - silent_after.min(i64::MAX as u64 / 2) as i64)
}

pub(super) fn spawn(app: App) {
    tokio::spawn(async move {
        let mut round: u64 = 0;
        loop {
            let store = app.store.clone();
            let silent = app.silent_after_secs;
            let snap = round.is_multiple_of(60);
            let res = tokio::task::spawn_blocking(move || {
                let n = refresh(&*store)?;
                if snap || n > 0 {
                    snapshot(&*store, silent)?;
                }
                Ok::<_, mijian_store::StoreError>(n)
            })
            .await;
            match res {
                Ok(Ok(n)) if n > 0 => log::debug!("console: causes of {n} host(s) updated"),
                Ok(Err(e)) => log::warn!("console: causes: {e}"),
                Err(e) => log::warn!("console: causes: {e}"),
                _ => {}
            }
            round += 1;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(class: &str, checks: &str, open: &[(&str, &str)]) -> StaleHost {
        StaleHost {
            agent_id: "a".into(),
            seq: Some(1),
            classification: Some(class.into()),
            latest_checks: Some(checks.into()),
            open: open
                .iter()
                .map(|(k, b)| (k.to_string(), b.to_string()))
                .collect(),
        }
    }

    #[test]
    fn causes_follow_checks_and_findings() {
        let h = host(
            "秘密",
            r#"[{"id":"password.min_length","status":"fail"},{"id":"screen_lock.enabled","status":"pass"}]"#,
            &[
                ("marked_classified", r#"{"marking":{"level":"机密"}}"#),
                ("removable_media", r#"{"registered":true}"#),
            ],
        );
        let bits = causes_of(&h);
        assert_eq!(
            bits,
            (1 << Cause::Password as i64) | (1 << Cause::MarkedAbove as i64)
        );
        // The same marking on a 机密 host is in place; an unregistered medium is not.
        let h = host(
            "机密",
            "[]",
            &[
                ("marked_classified", r#"{"marking":{"level":"机密"}}"#),
                ("removable_media", r#"{"registered":false}"#),
            ],
        );
        assert_eq!(causes_of(&h), 1 << Cause::Media as i64);
        // Garbage from an agent is no cause and no panic.
        let h = host("x", "not json", &[("marked_classified", "{")]);
        assert_eq!(causes_of(&h), 0);
    }
}
