//! `file_change`: changes under the content paths (create, modify, rename),
//! through `notify` (inotify on Linux, one watch per directory).
//!
//! Inotify watches are a per-user kernel budget (`fs.inotify.max_user_watches`)
//! shared with desktop programs, and each costs kernel and agent memory. So
//! directories are watched breadth-first up to a budget (`[daemon]
//! max_watches`, default the smaller of half the kernel limit and 8192); the
//! subtrees that did not fit are rescanned every `rescan_interval` through
//! the scanner's cache, which reads only files that changed. The log says
//! which mode is in use: `watch` (everything watched), `watch+rescan`, or
//! `rescan` (no watching possible). Mount points below a content path are not
//! crossed (removable media have their own source). Fanotify would avoid the
//! per-directory cost but needs CAP_SYS_ADMIN and whole-mount marks; not used
//! yet.

use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use super::super::Event;

/// Default cap on watches when `max_watches = 0`.
pub const DEFAULT_MAX_WATCHES: u64 = 8192;

/// How file changes are noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Every directory is watched.
    Watch,
    /// Some directories are watched; the rest is rescanned periodically.
    WatchAndRescan,
    /// Nothing is watched (no inotify); everything is rescanned periodically.
    Rescan(String),
}

/// The watcher and what it does not cover.
pub struct FileWatch {
    watcher: Option<notify::RecommendedWatcher>,
    watched: usize,
    budget: usize,
    /// Subtrees not watched: rescanned every `rescan_interval`.
    pub rescan_roots: Vec<PathBuf>,
    /// Every directory seen at setup (watched or not).
    pub dirs_seen: usize,
}

/// The watch budget: `configured`, or the smaller of half the kernel's
/// per-user limit and [`DEFAULT_MAX_WATCHES`].
pub fn budget(configured: u64) -> usize {
    if configured > 0 {
        return configured as usize;
    }
    let kernel = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    match kernel {
        Some(k) => (k / 2).min(DEFAULT_MAX_WATCHES) as usize,
        None => DEFAULT_MAX_WATCHES as usize,
    }
}

/// Paths under any of `ignore` (the agent's own state directory) never
/// produce events, or the agent would rescan its own writes forever.
fn ignored(p: &Path, ignore: &[PathBuf]) -> bool {
    ignore.iter().any(|i| p.starts_with(i))
}

impl FileWatch {
    /// Set up watches on `roots` (breadth-first, up to `budget`). Blocking:
    /// walks the directory trees; run it off the coordinator thread.
    pub fn start(
        roots: &[PathBuf],
        budget: usize,
        ignore: Vec<PathBuf>,
        tx: Sender<Event>,
    ) -> FileWatch {
        let ignore2 = ignore.clone();
        let watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(ev) => {
                    if ev.need_rescan() {
                        let _ = tx.send(Event::WatchOverflow);
                        return;
                    }
                    let relevant = matches!(
                        ev.kind,
                        EventKind::Create(_)
                            | EventKind::Modify(_)
                            | EventKind::Remove(_)
                            | EventKind::Any
                    ) && !matches!(
                        ev.kind,
                        EventKind::Modify(notify::event::ModifyKind::Metadata(_))
                    );
                    if !relevant {
                        return;
                    }
                    let paths: Vec<PathBuf> = ev
                        .paths
                        .into_iter()
                        .filter(|p| !ignored(p, &ignore2))
                        .collect();
                    if !paths.is_empty() {
                        let _ = tx.send(Event::Changed(paths));
                    }
                }
                Err(e) => {
                    log::warn!("file watch: {e}");
                    if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
                        let _ = tx.send(Event::WatchOverflow);
                    }
                }
            });
        let mut fw = FileWatch {
            watcher: None,
            watched: 0,
            budget,
            rescan_roots: Vec::new(),
            dirs_seen: 0,
        };
        match watcher {
            Ok(w) => fw.watcher = Some(w),
            Err(e) => {
                log::warn!("file watch: cannot watch ({e}); falling back to periodic rescans");
                fw.rescan_roots = roots.to_vec();
                return fw;
            }
        }
        for r in roots {
            if !ignored(r, &ignore) {
                fw.add_tree(r, &ignore);
            }
        }
        fw
    }

    /// Watch `root` and the directories below it, breadth-first, while the
    /// budget lasts; what does not fit goes to [`FileWatch::rescan_roots`].
    /// Also used for directories created later.
    pub fn add_tree(&mut self, root: &Path, ignore: &[PathBuf]) {
        let Some(watcher) = self.watcher.as_mut() else {
            self.rescan_roots.push(root.to_path_buf());
            return;
        };
        let root_dev = dev_of(root);
        let mut queue = VecDeque::from([root.to_path_buf()]);
        while let Some(dir) = queue.pop_front() {
            if self.watched >= self.budget {
                self.rescan_roots.push(dir);
                self.rescan_roots.extend(queue.drain(..));
                break;
            }
            self.dirs_seen += 1;
            match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => self.watched += 1,
                Err(e) => {
                    if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
                        log::warn!(
                            "file watch: the kernel's inotify limit was reached after {} watches (fs.inotify.max_user_watches)",
                            self.watched
                        );
                        self.budget = self.watched;
                        self.rescan_roots.push(dir);
                        self.rescan_roots.extend(queue.drain(..));
                        break;
                    }
                    // Unreadable or vanished: nothing to watch there.
                    log::debug!("file watch: {}: {e}", dir.display());
                    continue;
                }
            }
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            // Sorted, so which directories fit in the budget is reproducible.
            let mut children: Vec<PathBuf> = rd
                .flatten()
                .filter(|de| de.file_type().is_ok_and(|t| t.is_dir()))
                .map(|de| de.path())
                .filter(|p| !ignored(p, ignore) && dev_of(p) == root_dev)
                .collect();
            children.sort();
            queue.extend(children);
        }
    }

    pub fn mode(&self) -> Mode {
        match (&self.watcher, self.rescan_roots.is_empty()) {
            (None, _) => Mode::Rescan("no file watching on this system".into()),
            (Some(_), true) => Mode::Watch,
            (Some(_), false) => Mode::WatchAndRescan,
        }
    }

    /// Number of directories watched.
    pub fn watched(&self) -> usize {
        self.watched
    }

    /// The log line naming the mode.
    pub fn describe(&self, rescan_every: std::time::Duration) -> String {
        let every = humantime::format_duration(rescan_every);
        match self.mode() {
            Mode::Watch => format!(
                "file watch mode: watch ({} directories watched)",
                self.watched()
            ),
            Mode::WatchAndRescan => format!(
                "file watch mode: watch+rescan ({} directories watched, budget {}; {} subtrees beyond it rescanned every {every})",
                self.watched,
                self.budget,
                self.rescan_roots.len()
            ),
            Mode::Rescan(why) => {
                format!("file watch mode: rescan ({why}; content paths rescanned every {every})")
            }
        }
    }
}

#[cfg(unix)]
fn dev_of(p: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p).ok().map(|m| m.dev())
}

#[cfg(not(unix))]
fn dev_of(_p: &Path) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn budget_splits_watched_and_rescanned() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["a/x", "a/y", "b", "c/z/w"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let (tx, _rx) = mpsc::channel();
        // root, a, b, c, a/x, a/y, c/z, c/z/w = 8 directories.
        let fw = FileWatch::start(&[dir.path().to_path_buf()], 3, vec![], tx.clone());
        assert_eq!(fw.watched(), 3);
        assert_eq!(fw.mode(), Mode::WatchAndRescan);
        // Breadth-first: root, a, b watched; c and the children of a are rescanned.
        let mut roots: Vec<_> = fw
            .rescan_roots
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().to_path_buf())
            .collect();
        roots.sort();
        assert_eq!(roots, ["a/x", "a/y", "c"].map(PathBuf::from));
        let fw = FileWatch::start(&[dir.path().to_path_buf()], 100, vec![], tx);
        assert_eq!((fw.watched(), fw.mode()), (8, Mode::Watch));
        assert!(
            fw.describe(Duration::from_secs(3600))
                .contains("mode: watch (")
        );
    }

    #[test]
    fn created_file_is_reported_and_ignored_dir_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        let (tx, rx) = mpsc::channel();
        let _fw = FileWatch::start(&[dir.path().to_path_buf()], 100, vec![state.clone()], tx);
        std::fs::write(state.join("noise"), b"x").unwrap();
        std::fs::write(dir.path().join("new.txt"), b"hello").unwrap();
        let mut seen = Vec::new();
        while let Ok(ev) = rx.recv_timeout(Duration::from_secs(10)) {
            if let Event::Changed(p) = ev {
                seen.extend(p);
            }
            if seen.iter().any(|p| p.ends_with("new.txt")) {
                break;
            }
        }
        assert!(seen.iter().any(|p| p.ends_with("new.txt")), "{seen:?}");
        assert!(!seen.iter().any(|p| p.starts_with(&state)), "{seen:?}");
    }
}
