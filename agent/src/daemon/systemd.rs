//! systemd integration (`Type=notify`): READY when the daemon is up,
//! WATCHDOG pings at half of `WatchdogSec`, STOPPING on shutdown, RELOADING
//! on SIGHUP. `sd-notify` is Linux-only (PITFALLS: it does not build for
//! Windows); elsewhere these are no-ops. Outside systemd (`NOTIFY_SOCKET`
//! unset) they do nothing either.

use std::time::Duration;

pub fn ready(status: &str) {
    #[cfg(target_os = "linux")]
    {
        let _ = sd_notify::notify(
            false,
            &[
                sd_notify::NotifyState::Ready,
                sd_notify::NotifyState::Status(status),
            ],
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = status;
}

pub fn status(status: &str) {
    #[cfg(target_os = "linux")]
    {
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Status(status)]);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = status;
}

pub fn reloading() {
    #[cfg(target_os = "linux")]
    {
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
    }
}

pub fn stopping() {
    #[cfg(target_os = "linux")]
    {
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    }
}

pub fn watchdog() {
    #[cfg(target_os = "linux")]
    {
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
    }
}

/// How often to ping the watchdog: half of `WatchdogSec`, if enabled.
pub fn watchdog_interval() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        let mut usec = 0u64;
        if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
            return Some(Duration::from_micros(usec / 2));
        }
    }
    None
}
