//! Drive arrival and removal on Windows, with the API of the Linux
//! `MountWatcher` so the daemon's media source is the same code: the
//! drive letters are polled (`GetLogicalDrives`, cheap: one call) every
//! [`POLL`]; a new removable letter is identified and reported `Mounted`,
//! a vanished one `Unmounted`. Polling instead of `WM_DEVICECHANGE` needs
//! no window or service control handler and also works in a console run.

use crate::windows::{drive_roots, medium_for_drive};
use crate::{MediaError, MediaEvent, MediaOptions, MountedMedium, medium_finding};
use mijian_policy::MediaRegister;
use mijian_report::Finding;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How often the drive letters are looked at.
pub const POLL: Duration = Duration::from_secs(2);

/// A change of the removable media present (same shape as on Linux).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum MountEvent {
    Mounted(MountedMedium),
    Unmounted {
        mount_point: PathBuf,
        device: String,
        medium: MountedMedium,
        finding: Finding,
    },
}

impl MountEvent {
    pub fn finding(&self) -> &Finding {
        match self {
            MountEvent::Mounted(m) => &m.finding,
            MountEvent::Unmounted { finding, .. } => finding,
        }
    }
}

/// Stops a [`MountWatcher`] from any thread.
#[derive(Debug, Clone)]
pub struct StopHandle(Arc<(Mutex<bool>, Condvar)>);

impl StopHandle {
    pub fn stop(&self) {
        let (m, c) = &*self.0;
        if let Ok(mut s) = m.lock() {
            *s = true;
        }
        c.notify_all();
    }
}

pub struct MountWatcher {
    register: MediaRegister,
    known: BTreeMap<String, MountedMedium>,
    /// Letters judged not removable (not re-examined while present).
    ignored: BTreeSet<String>,
    stop: Arc<(Mutex<bool>, Condvar)>,
}

impl MountWatcher {
    pub fn new(_opts: MediaOptions, register: MediaRegister) -> Result<Self, MediaError> {
        let mut w = MountWatcher {
            register,
            known: BTreeMap::new(),
            ignored: BTreeSet::new(),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
        };
        w.rescan_with(MediaEvent::Present);
        Ok(w)
    }

    pub fn present(&self) -> Vec<MountedMedium> {
        self.known.values().cloned().collect()
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(Arc::clone(&self.stop))
    }

    pub fn is_stopped(&self) -> bool {
        self.stop.0.lock().map(|s| *s).unwrap_or(true)
    }

    pub fn set_register(&mut self, register: MediaRegister) {
        self.register = register;
    }

    pub fn rescan(&mut self) -> io::Result<Vec<MountEvent>> {
        Ok(self.rescan_with(MediaEvent::Mount))
    }

    fn rescan_with(&mut self, event: MediaEvent) -> Vec<MountEvent> {
        let now: BTreeSet<String> = drive_roots().into_iter().collect();
        let mut events = Vec::new();
        let gone: Vec<String> = self
            .known
            .keys()
            .filter(|k| !now.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(m) = self.known.remove(&k) {
                let finding = medium_finding(&m, MediaEvent::Unmount);
                events.push(MountEvent::Unmounted {
                    mount_point: m.mount_point.clone(),
                    device: m.device.clone(),
                    medium: m,
                    finding,
                });
            }
        }
        self.ignored.retain(|k| now.contains(k));
        for root in now {
            if self.known.contains_key(&root) || self.ignored.contains(&root) {
                continue;
            }
            match medium_for_drive(&root, &self.register, event) {
                Some(m) => {
                    self.known.insert(root, m.clone());
                    events.push(MountEvent::Mounted(m));
                }
                None => {
                    self.ignored.insert(root);
                }
            }
        }
        events
    }

    /// Block until media arrive or leave, the timeout passes or the
    /// watcher is stopped (both: `Ok` with no events).
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<Vec<MountEvent>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let wait = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(POLL),
                None => POLL,
            };
            {
                let (m, c) = &*self.stop;
                let guard = m
                    .lock()
                    .map_err(|_| io::Error::other("stop flag poisoned"))?;
                if *guard {
                    return Ok(Vec::new());
                }
                let (guard, _) = c
                    .wait_timeout(guard, wait)
                    .map_err(|_| io::Error::other("stop flag poisoned"))?;
                if *guard {
                    return Ok(Vec::new());
                }
            }
            let events = self.rescan()?;
            if !events.is_empty() {
                return Ok(events);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Vec::new());
            }
        }
    }
}
