//! Host checks on Linux (issue 4): password policy, accounts, automatic
//! login and screen lock, judged from the host's files exactly as
//! `spec/host-checks.md` (and `docs/spec-desktops-cn.md` for UKUI and DDE)
//! describes — the way libpwquality, Linux-PAM, dconf/GSettings, KConfig,
//! xscreensaver and xfconf really behave.
//!
//! Everything is read through a [`Root`]: `/` on a live host, or a mounted
//! image / chroot given with `--root DIR`, with symlinks resolved inside it.
//! Reading never changes the host and never runs its programs (no
//! `gsettings`, no D-Bus): PAM stacks, key files, GVDB databases (a
//! hand-written reader, [`gvdb`]), KConfig, xscreensaver resources and
//! xfconf XML are parsed here. A broken file gives `error` with the reason,
//! never a panic or a silent default.
//!
//! ```no_run
//! use mijian_hostcheck::{Root, check_host};
//! let t = mijian_policy::Baseline::default().thresholds(Default::default());
//! let out = check_host(&Root::at("fixtures/hosts/debian-gnome/root"), &t);
//! for c in &out.checks { println!("{} {} {}", c.id, c.subject, c.status.as_str()); }
//! ```
//!
//! Invariants: no signing, queueing or sending (the agent does that);
//! nothing outside the root is read.

pub mod accounts;
pub mod audit;
pub mod autologin;
pub mod gsettings;
pub mod gvdb;
pub mod hardware;
pub mod inspection;
pub mod internet_trace;
pub mod keyfile;
pub mod live;
pub mod netaddr;
pub mod pam;
pub mod password;
pub mod root;
pub mod screen_lock;
pub mod services;
pub mod software;
mod sqlite;
pub mod trace;
mod util;
/// Windows checks (issue 12): the judging logic on every target, the live
/// readers on Windows only.
pub mod windows;

pub use inspection::{InspectionConfig, inspection_checks};
pub use root::{HostFile, ReadError, Root};

use accounts::Accounts;
use mijian_policy::Thresholds;
use mijian_report::Check;
use std::path::PathBuf;

/// Results of the host checks plus what could not be read.
#[derive(Debug, Default)]
pub struct HostOutcome {
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

/// Run every host check of `spec/host-checks.md`: exactly one result per
/// (check id, subject).
pub fn check_host(root: &Root, t: &Thresholds) -> HostOutcome {
    // On Windows the live host is judged from the registry and the SAM; a
    // `--root` tree is still a Linux file tree.
    #[cfg(windows)]
    if root.is_live() {
        return windows::check_host(t);
    }
    let acc = Accounts::load(root);
    let mut notes = acc.notes.clone();
    let mut checks = Vec::new();
    checks.extend(password::quality_checks(root, t));
    checks.extend(password::max_age_checks(root, &acc, t));
    checks.extend(accounts::empty_password(&acc));
    checks.push(autologin::check(root));
    let users = acc.interactive();
    checks.extend(screen_lock::checks(root, &users, t));
    if acc.shadow.as_ref().is_err_and(|e| e.is_permission()) {
        notes.push(
            "/etc/shadow is not readable (permission denied: not running as root), so account.empty_password \
             and the per-user password.max_age results are `error`; run as root for a full check"
                .into(),
        );
    }
    for c in &checks {
        if let Some(ev) = &c.evidence
            && c.status == mijian_report::CheckStatus::Error
            && let Some(e) = ev.get("error").and_then(|e| e.as_str())
            && e.contains("permission denied")
            && !e.contains("/etc/shadow")
        {
            let n = format!("{} {}: {e}", c.id, c.subject);
            if !notes.contains(&n) {
                notes.push(n);
            }
        }
    }
    HostOutcome { checks, notes }
}

/// Home directories of interactive accounts, as real paths under the root
/// (the default content-scan paths). Homes that do not exist are skipped.
pub fn interactive_homes(root: &Root) -> Vec<PathBuf> {
    #[cfg(windows)]
    if root.is_live() {
        return windows::profile_dirs();
    }
    let acc = Accounts::load(root);
    let mut out = Vec::new();
    for a in acc.interactive() {
        if let Ok((real, _)) = root.resolve(&a.home)
            && real.is_dir()
            && !out.contains(&real)
        {
            out.push(real);
        }
    }
    out
}

/// The live host's name where `/proc` and `/etc/hostname` do not exist
/// (Windows: the active computer name); `None` on Linux.
pub fn live_hostname() -> Option<String> {
    #[cfg(windows)]
    return windows::live::hostname();
    #[cfg(not(windows))]
    None
}

/// The live host's OS name where there is no os-release (Windows: product,
/// version and build from the registry); `None` on Linux.
pub fn live_os_name() -> Option<String> {
    #[cfg(windows)]
    return windows::live::os_name();
    #[cfg(not(windows))]
    None
}
