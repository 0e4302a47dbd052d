//! `media`: removable-media mounts and unmounts, from
//! `mijian_media::watch::MountWatcher` (poll on `/proc/self/mountinfo`, no
//! busy loop). The watcher blocks in its own thread and forwards events to
//! the coordinator; the media present at start are left to the boot check.

use mijian_media::MediaOptions;
use mijian_media::watch::{MountEvent, MountWatcher, StopHandle};
use mijian_policy::MediaRegister;
use std::sync::mpsc::Sender;

use super::super::Event;

/// A running media watcher; [`MediaSource::stop`] ends its thread.
pub struct MediaSource {
    stop: StopHandle,
}

impl MediaSource {
    /// Start watching, or `None` (logged) where the mount table cannot be
    /// watched.
    pub fn start(
        opts: MediaOptions,
        register: MediaRegister,
        tx: Sender<Event>,
    ) -> Option<MediaSource> {
        let mut watcher = match MountWatcher::new(opts, register) {
            Ok(w) => w,
            Err(e) => {
                log::warn!("media watch off: {e}");
                return None;
            }
        };
        let stop = watcher.stop_handle();
        let spawned = std::thread::Builder::new()
            .name("media-watch".into())
            .spawn(move || {
                loop {
                    match watcher.wait(None) {
                        Ok(events) => {
                            if watcher.is_stopped() {
                                return;
                            }
                            for e in events {
                                if tx.send(Event::Media(Box::new(e))).is_err() {
                                    return;
                                }
                            }
                        }
                        Err(e) => {
                            log::error!("media watch failed: {e}; media mounts are now seen only by full checks");
                            return;
                        }
                    }
                }
            });
        match spawned {
            Ok(_) => Some(MediaSource { stop }),
            Err(e) => {
                log::warn!("media watch off: cannot start its thread: {e}");
                None
            }
        }
    }

    pub fn stop(&self) {
        self.stop.stop();
    }
}

/// Log line for an event.
pub fn describe(e: &MountEvent) -> String {
    match e {
        MountEvent::Mounted(m) => format!(
            "removable medium mounted at {} ({})",
            m.mount_point.display(),
            m.device
        ),
        MountEvent::Unmounted {
            mount_point,
            device,
            ..
        } => {
            format!(
                "removable medium unmounted from {} ({device})",
                mount_point.display()
            )
        }
    }
}
