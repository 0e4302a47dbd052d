//! `boot`: the full check the daemon runs once at start (`[daemon]
//! boot_check`). Its report also carries the removable media present at
//! start, so the media watcher's baseline is not reported twice.

use mijian_report::Trigger;

/// The trigger of the first inspection, if the config asks for one.
pub fn initial(enabled: bool) -> Option<Trigger> {
    enabled.then_some(Trigger::Boot)
}
