//! Host checks on Windows (issue 12; semantics in docs/spec-windows.md):
//! the same check ids and evidence as on Linux, from the SAM
//! (`NetUserModalsGet`, `NetUserEnum`), the local security policy
//! (`secedit /export`), Winlogon, and every profile's registry hive.
//!
//! The judging modules ([`password`], [`accounts`], [`autologon`],
//! [`screen_lock`]) and the [`secedit`] parser are pure and compiled on
//! every target, so their logic is tested on injected data everywhere; the
//! readers in `live` exist only on Windows (tested under Wine).

pub mod accounts;
pub mod autologon;
pub mod password;
pub mod reg;
pub mod screen_lock;
pub mod secedit;

#[cfg(windows)]
pub mod live;

/// Run every Windows host check on the live host.
#[cfg(windows)]
pub fn check_host(t: &mijian_policy::Thresholds) -> crate::HostOutcome {
    check_with(
        &live::Hives::live(),
        &live::policy_sources(),
        live::local_users(),
        t,
    )
}

/// The checks over given sources (the live registry or a test subtree).
#[cfg(windows)]
pub fn check_with(
    hives: &live::Hives,
    policy: &password::PolicySources,
    users: Result<Vec<accounts::LocalUser>, String>,
    t: &mijian_policy::Thresholds,
) -> crate::HostOutcome {
    let mut notes = Vec::new();
    let mut checks = Vec::new();
    checks.push(password::min_length(policy, t));
    checks.push(password::complexity(policy, t));
    let interactive: Vec<&accounts::LocalUser> = match &users {
        Ok(u) => u.iter().filter(|u| u.interactive()).collect(),
        Err(e) => {
            notes.push(format!("local accounts could not be listed: {e}"));
            Vec::new()
        }
    };
    checks.extend(password::max_age(policy, &interactive, t));
    let min_len = policy.modals.as_ref().ok().map(|m| m.min_passwd_len);
    checks.extend(accounts::empty_password(&interactive, min_len));
    checks.push(accounts::guest_enabled(&users));
    checks.push(autologon::check(&live::winlogon(hives)));
    match live::profiles(hives) {
        Ok(profiles) => {
            let screens = live::screens(hives, &profiles);
            checks.extend(screen_lock::checks(&screens, &live::machine(hives), t));
        }
        Err(e) => notes.push(format!(
            "ProfileList could not be read, so no screen-lock results: {e}"
        )),
    }
    for c in &checks {
        if c.status == mijian_report::CheckStatus::Error
            && let Some(e) = c
                .evidence
                .as_ref()
                .and_then(|e| e.get("error"))
                .and_then(|e| e.as_str())
        {
            let n = format!("{} {}: {e}", c.id, c.subject);
            if !notes.contains(&n) {
                notes.push(n);
            }
        }
    }
    crate::HostOutcome { checks, notes }
}

/// The profile folders of people (default content-scan paths).
#[cfg(windows)]
pub fn profile_dirs() -> Vec<std::path::PathBuf> {
    let mut out: Vec<std::path::PathBuf> = Vec::new();
    if let Ok(ps) = live::profiles(&live::Hives::live()) {
        for p in ps {
            if p.path.is_dir() && !out.contains(&p.path) {
                out.push(p.path);
            }
        }
    }
    out
}

#[cfg(all(test, windows))]
mod wine_tests;
