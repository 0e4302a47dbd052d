//! `mijian-agent run`: the daemon (issue 6). It inspects at boot, on a
//! schedule, on removable-media mounts and on file changes, sends a small
//! heartbeat, and delivers every report through the durable outbox.
//!
//! Threads, each blocked when idle (no timer faster than the next deadline):
//! - the **coordinator** (the caller of [`run`]): owns the deadlines
//!   (schedule, heartbeat, debounce, rescan, watchdog), receives [`Event`]s
//!   from the sources and signals, and hands jobs to the worker. It never
//!   inspects, so SIGTERM is answered within milliseconds even mid-scan.
//! - the **worker**: runs one inspection at a time at low CPU/I-O priority,
//!   seals the report into the chain (`state`) and pushes it into the outbox.
//!   Jobs coalesce: ten schedule ticks during a long scan are one full check.
//! - **delivery** (`delivery`): drains the outbox to the collector.
//! - sources: media watch, file watch (notify's thread), signals.
//!
//! Shutdown takes the commit lock (so no report is half sealed-and-queued),
//! never gives it back, and returns: an inspection in progress is abandoned;
//! everything already queued is on disk and is delivered after restart.

pub mod delivery;
pub mod logging;
pub mod priority;
pub mod sources;
pub mod systemd;

use anyhow::{Context, Result};
use mijian_hostcheck::Root;
use mijian_media::watch::MountEvent;
use mijian_outbox::{Class, Limits, Outbox};
use mijian_report::{CheckStatus, Finding, FindingKind, Report, Severity, Trigger};
use std::collections::{BTreeSet, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::config::AgentConfig;
use crate::inspect::Inspector;
use crate::state::{self, AgentState};
use delivery::{Queue, Sink};
use sources::file_change::FileWatch;
use sources::media::MediaSource;
use sources::schedule::Schedule;

/// What the sources and signal handler tell the coordinator.
pub enum Event {
    /// SIGHUP: reload config and rules.
    Reload,
    /// SIGTERM/SIGINT.
    Shutdown(&'static str),
    Media(Box<MountEvent>),
    /// Paths created or modified under a watched directory.
    Changed(Vec<PathBuf>),
    /// The watcher lost events (queue overflow, watch limit): rescan.
    WatchOverflow,
    /// The file watch finished setting up (it walks the trees first).
    WatchReady(Box<FileWatch>, u64),
    /// A new central policy version was applied (issue 13): reload, re-inspect.
    PolicyApplied(u64),
    /// A policy bundle was refused: report it.
    PolicyAlarm(Box<Finding>),
}

/// The outbox's directory inside the state directory.
pub fn outbox_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("outbox")
}

/// The outbox bound from `[daemon]`.
pub fn limits(cfg: &AgentConfig) -> Limits {
    Limits {
        max_bytes: cfg.daemon.outbox_max_mb.saturating_mul(1 << 20),
        max_entries: cfg.daemon.outbox_max_entries,
        ..Limits::default()
    }
}

/// The delivery sink: the collector (`collector.url`, else the URL saved by
/// `enroll`), else `[daemon] export_dir`, else none (reports wait in the
/// outbox for `mijian-agent export`).
fn sink(cfg: &AgentConfig, state: &AgentState) -> Result<Option<Sink>> {
    let url = match &cfg.collector.url {
        Some(u) => Some(u.clone()),
        None => state.collector_url()?,
    };
    if let Some(url) = url {
        let client = delivery::https::Client::new(&url, cfg.collector.ca_file.as_deref())?;
        log::info!("delivering to {url}");
        return Ok(Some(Sink::Https(client)));
    }
    if let Some(dir) = &cfg.daemon.export_dir {
        log::info!(
            "no collector configured: writing signed reports into {}",
            dir.display()
        );
        return Ok(Some(Sink::Dir(dir.clone())));
    }
    log::warn!(
        "no collector configured (collector.url, `mijian-agent enroll`) and no daemon.export_dir: reports stay queued for `mijian-agent export`"
    );
    Ok(None)
}

/// Settings the coordinator reads from the config (re-read on SIGHUP).
struct Timing {
    schedule: Schedule,
    heartbeat: Option<Duration>,
    debounce: Duration,
    rescan: Duration,
}

impl Timing {
    fn from(cfg: &AgentConfig) -> Result<Timing> {
        Ok(Timing {
            schedule: Schedule {
                interval: cfg.schedule.interval()?,
                jitter: cfg.schedule.jitter()?,
                window: cfg.schedule.window()?,
            },
            heartbeat: cfg.daemon.heartbeat()?,
            debounce: cfg.daemon.debounce()?.max(Duration::from_millis(50)),
            rescan: cfg.daemon.rescan_interval()?.max(Duration::from_secs(10)),
        })
    }
}

/// Run the daemon until SIGTERM/SIGINT.
pub fn run(cfg: AgentConfig, config_path: Option<PathBuf>) -> Result<()> {
    logging::init();
    let started = Instant::now();
    // Signals first: a SIGTERM during start-up must not kill the process
    // with the default action in the middle of a seal; it waits in the
    // channel until the loop starts.
    let (tx, rx) = mpsc::channel::<Event>();
    signals(tx.clone())?;
    let state_dir = state::default_state_dir(&cfg);
    let state = AgentState::open(&state_dir)?;
    let mut timing = Timing::from(&cfg)?;
    let outbox = Outbox::open(&outbox_dir(&state_dir), limits(&cfg)).with_context(|| {
        format!(
            "cannot open the outbox in {} (is another `mijian-agent run` or `export` running?)",
            state_dir.display()
        )
    })?;
    let mut outbox = outbox;
    // Sealed reports whose queueing a crash interrupted (issue 11).
    for p in state.pending()? {
        match outbox.push(p.jws.as_bytes(), Class::Findings) {
            Ok(_) => {
                log::warn!(
                    "recovered sealed report seq {} whose queueing a crash interrupted",
                    p.seq
                );
                state.settle(p.seq)?;
            }
            Err(e) => log::error!("cannot queue recovered report seq {}: {e}", p.seq),
        }
    }
    let rec = outbox.recovery().clone();
    if rec.removed_partial > 0 || !rec.quarantined.is_empty() {
        log::warn!(
            "outbox recovered after a crash: {} unfinished write(s) removed, {} corrupt entr(ies) quarantined",
            rec.removed_partial,
            rec.quarantined.len()
        );
    }
    log::info!(
        "agent {} starting; state {}, {} report(s) queued",
        state.key().kid(),
        state_dir.display(),
        outbox.len()
    );
    let queue = Queue::new(outbox, sink(&cfg, &state)?);
    if let Some(l) = state.collector_limit() {
        queue.saved_limit.store(l, Ordering::Relaxed);
    }
    delivery::spawn(
        queue.clone(),
        cfg.daemon.retry_min()?,
        cfg.daemon.retry_max()?,
    )
    .context("cannot start the delivery thread")?;

    start_policy_fetch(&cfg, &state, &state_dir, tx.clone());
    let policy = crate::load_policy(None, &cfg)?;
    let inspector = Inspector::new(cfg.clone(), policy, Root::live(), Some(&state_dir))?;
    let mut content_paths = inspector.content_paths();
    let media_opts = inspector.media_options();
    let register = inspector.policy.media.clone();

    {
        // `mijian-agent enroll` while running: noticed by collector.json's
        // modification time, without SIGHUP.
        let (cfg, dir) = (cfg.clone(), state_dir.clone());
        let mtime = |d: &Path| {
            std::fs::metadata(d.join("collector.json"))
                .and_then(|m| m.modified())
                .ok()
        };
        let seen = Mutex::new(mtime(&dir));
        queue.on_refresh(move || {
            let now = mtime(&dir);
            let mut last = seen.lock().unwrap_or_else(|p| p.into_inner());
            if *last == now {
                return None;
            }
            *last = now;
            match AgentState::open(&dir).and_then(|s| sink(&cfg, &s)) {
                Ok(s) => s,
                Err(e) => {
                    log::error!("new enrollment not usable: {e:#}");
                    None
                }
            }
        });
    }
    let jobs = Arc::new(Jobs::default());
    {
        // A report refused for good: its alarm is a report of its own, and
        // the seq the collector will never have is declared in it.
        let jobs = jobs.clone();
        queue.on_refused(move |f, seq| {
            let mut p = jobs.lock();
            p.alarms.push(f);
            if let Some(s) = seq {
                p.gaps.push(mijian_report::DeclaredGap {
                    from: s,
                    to: s,
                    reason: "refused".into(),
                });
            }
            jobs.cv.notify_all();
        });
    }
    let commit = Arc::new(Mutex::new(()));
    let status = Arc::new(Mutex::new(String::from("file watch: setting up")));
    let flagged = Arc::new(Mutex::new(HashSet::new()));
    let worker = Worker {
        jobs: jobs.clone(),
        state,
        queue: queue.clone(),
        commit: commit.clone(),
        status: status.clone(),
        flagged,
        cpu_budget: cfg.daemon.cpu_budget_percent,
        started,
    };
    let (nice, io_idle) = (cfg.daemon.nice, cfg.daemon.io_idle);
    std::thread::Builder::new()
        .name("inspect".into())
        .spawn(move || {
            priority::lower_current_thread(nice, io_idle);
            worker.run(inspector)
        })
        .context("cannot start the inspection thread")?;

    let now = SystemTime::now();
    let mut next_full = match sources::boot::initial(cfg.daemon.boot_check) {
        Some(trigger) => {
            jobs.lock().full = Some(trigger);
            jobs.cv.notify_all();
            timing.schedule.next_after(now)
        }
        None => timing.schedule.next_after(now),
    };
    let mut next_heartbeat = timing.heartbeat.map(|d| now + d);
    let mut media = cfg
        .daemon
        .media_watch
        .then(|| MediaSource::start(media_opts, register, tx.clone()))
        .flatten();
    let mut watch_gen = 0u64;
    if cfg.daemon.file_watch {
        start_file_watch(&cfg, &content_paths, &state_dir, tx.clone(), watch_gen);
    }
    let mut file_watch: Option<Box<FileWatch>> = None;
    let mut next_rescan: Option<SystemTime> = None;
    let mut changed: BTreeSet<PathBuf> = BTreeSet::new();
    let mut debounce: Option<(Instant, Instant)> = None;
    let watchdog = systemd::watchdog_interval();
    let mut next_watchdog = Instant::now();

    systemd::ready("running");
    log::info!(
        "running (ready after {} ms); next scheduled check in {}",
        started.elapsed().as_millis(),
        humantime::format_duration(Duration::from_secs(
            next_full
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .as_secs()
        ))
    );

    loop {
        // Sleep until the nearest deadline; an hour at most (wall-clock
        // deadlines are re-read after a suspend).
        let wall = SystemTime::now();
        let until = |t: SystemTime| t.duration_since(wall).unwrap_or_default();
        let mut timeout = until(next_full).min(Duration::from_secs(3600));
        if let Some(t) = next_heartbeat {
            timeout = timeout.min(until(t));
        }
        if let Some(t) = next_rescan {
            timeout = timeout.min(until(t));
        }
        if let Some((first, last)) = debounce {
            let due = (last + timing.debounce).min(first + timing.debounce * 5);
            timeout = timeout.min(due.saturating_duration_since(Instant::now()));
        }
        if watchdog.is_some() {
            timeout = timeout.min(next_watchdog.saturating_duration_since(Instant::now()));
        }
        let event = match rx.recv_timeout(timeout) {
            Ok(e) => Some(e),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Event::Shutdown("event channel closed")),
        };
        match event {
            None => {}
            Some(Event::Shutdown(why)) => {
                log::info!("{why}: shutting down");
                systemd::stopping();
                jobs.stop();
                queue.stop();
                if let Some(m) = &media {
                    m.stop();
                }
                // Wait (briefly) for a seal+push in progress, then keep the
                // lock so that none starts before the process exits.
                let deadline = Instant::now() + Duration::from_secs(3);
                loop {
                    match commit.try_lock() {
                        Ok(g) => {
                            std::mem::forget(g);
                            break;
                        }
                        Err(_) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(10))
                        }
                        Err(_) => {
                            log::warn!(
                                "a report was still being queued at shutdown; it is completed or discarded atomically"
                            );
                            break;
                        }
                    }
                }
                log::info!(
                    "stopped; {} report(s) delivered this run, {} queued",
                    queue.delivered.load(Ordering::Relaxed),
                    queue.lock().len()
                );
                return Ok(());
            }
            Some(Event::PolicyAlarm(f)) => jobs.alarm(*f),
            Some(ev @ (Event::Reload | Event::PolicyApplied(_))) => {
                systemd::reloading();
                let policy_applied = match ev {
                    Event::PolicyApplied(v) => {
                        log::info!("policy version {v} applied: reloading the rules");
                        true
                    }
                    _ => false,
                };
                match reload(config_path.as_deref(), &state_dir) {
                    Ok((new_cfg, inspector)) => {
                        let new_timing = Timing::from(&new_cfg)?;
                        let paths = inspector.content_paths();
                        let opts = inspector.media_options();
                        let register = inspector.policy.media.clone();
                        jobs.lock().inspector = Some(Box::new(inspector));
                        jobs.cv.notify_all();
                        match AgentState::open(&state_dir).and_then(|s| sink(&new_cfg, &s)) {
                            Ok(s) => queue.set_sink(s),
                            Err(e) => log::error!("collector settings not applied: {e:#}"),
                        }
                        queue.lock().set_limits(limits(&new_cfg));
                        if new_timing.schedule != timing.schedule {
                            next_full = new_timing.schedule.next_after(SystemTime::now());
                        }
                        next_heartbeat = new_timing.heartbeat.map(|d| SystemTime::now() + d);
                        timing = new_timing;
                        if let Some(m) = media.take() {
                            m.stop();
                        }
                        media = new_cfg
                            .daemon
                            .media_watch
                            .then(|| MediaSource::start(opts, register, tx.clone()))
                            .flatten();
                        file_watch = None;
                        next_rescan = None;
                        watch_gen += 1;
                        if new_cfg.daemon.file_watch {
                            start_file_watch(&new_cfg, &paths, &state_dir, tx.clone(), watch_gen);
                        }
                        content_paths = paths;
                        log::info!("reloaded config and rules");
                        if policy_applied {
                            // A new policy judges the host at once.
                            jobs.lock().full.get_or_insert(Trigger::Schedule);
                            jobs.cv.notify_all();
                        }
                    }
                    Err(e) => {
                        log::error!("reload failed, keeping the running config and rules: {e:#}");
                        jobs.alarm(alarm_finding(
                            "reload_failed",
                            format!("SIGHUP reload failed; the previous config and rules stay in force: {e:#}"),
                        ));
                    }
                }
                systemd::ready("running");
            }
            Some(Event::Media(ev)) => {
                log::info!("{}", sources::media::describe(&ev));
                jobs.lock().media.push_back(*ev);
                jobs.cv.notify_all();
            }
            Some(Event::Changed(paths)) => {
                changed.extend(paths);
                let now = Instant::now();
                debounce = Some(match debounce {
                    Some((first, _)) => (first, now),
                    None => (now, now),
                });
            }
            Some(Event::WatchOverflow) => {
                log::warn!("file watch lost events; rescanning the content paths");
                jobs.lock().rescan.extend(content_paths.iter().cloned());
                jobs.cv.notify_all();
            }
            Some(Event::WatchReady(fw, generation)) if generation == watch_gen => {
                let line = fw.describe(timing.rescan);
                log::info!("{line}");
                systemd::status(&line);
                *status.lock().unwrap_or_else(|p| p.into_inner()) = line;
                next_rescan =
                    (!fw.rescan_roots.is_empty()).then(|| SystemTime::now() + timing.rescan);
                file_watch = Some(fw);
            }
            // A watch set up for the config before the last reload.
            Some(Event::WatchReady(..)) => {}
        }

        // Deadlines.
        let wall = SystemTime::now();
        if wall >= next_full {
            jobs.lock().full.get_or_insert(Trigger::Schedule);
            jobs.cv.notify_all();
            next_full = timing.schedule.next_after(wall);
        }
        if let Some(t) = next_heartbeat
            && wall >= t
        {
            jobs.lock().heartbeat = true;
            jobs.cv.notify_all();
            next_heartbeat = timing.heartbeat.map(|d| wall + d);
        }
        if let Some(t) = next_rescan
            && wall >= t
        {
            if let Some(fw) = &file_watch {
                jobs.lock().rescan.extend(fw.rescan_roots.iter().cloned());
                jobs.cv.notify_all();
            }
            next_rescan = Some(wall + timing.rescan);
        }
        if let Some((first, last)) = debounce {
            let now = Instant::now();
            if now >= last + timing.debounce || now >= first + timing.debounce * 5 {
                debounce = None;
                let paths = std::mem::take(&mut changed);
                let mut scan = BTreeSet::new();
                for p in paths {
                    match std::fs::symlink_metadata(&p) {
                        Ok(m) if m.is_dir() => {
                            // A new directory: watch it too, scan what it holds.
                            if let Some(fw) = file_watch.as_mut() {
                                fw.add_tree(&p, std::slice::from_ref(&state_dir));
                            }
                            scan.insert(p);
                        }
                        Ok(m) if m.is_file() => {
                            scan.insert(p);
                        }
                        // Removed (or renamed away): rescanned as gone, so
                        // the collector resolves what was found there (issue 11).
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            scan.insert(p);
                        }
                        // A special file: nothing to scan.
                        _ => {}
                    }
                }
                if !scan.is_empty() {
                    jobs.lock().files.extend(scan);
                    jobs.cv.notify_all();
                }
            }
        }
        if watchdog.is_some() && Instant::now() >= next_watchdog {
            systemd::watchdog();
            next_watchdog = Instant::now() + watchdog.unwrap_or(Duration::from_secs(3600));
        }
    }
}

/// Poll the collector for the central policy (issue 13), when a collector
/// is known and `daemon.policy_poll` is not `0s`.
fn start_policy_fetch(cfg: &AgentConfig, state: &AgentState, state_dir: &Path, tx: Sender<Event>) {
    let url = match &cfg.collector.url {
        Some(u) => Some(u.clone()),
        None => state.collector_url().ok().flatten(),
    };
    let (Some(url), Ok(Some(every))) = (url, cfg.daemon.policy_poll()) else {
        return;
    };
    let key = match mijian_report::AgentKey::from_private_jwk(&state.key().to_private_jwk()) {
        Ok(k) => k,
        Err(e) => {
            log::error!("policy fetch off: {e}");
            return;
        }
    };
    if let Err(e) = crate::policy::fetch::spawn(
        url,
        cfg.collector.ca_file.clone(),
        state_dir.to_path_buf(),
        key,
        every,
        tx,
    ) {
        log::error!("policy fetch off: {e:#}");
    }
}

/// Walk and watch the content paths off the coordinator thread.
fn start_file_watch(
    cfg: &AgentConfig,
    paths: &[PathBuf],
    state_dir: &Path,
    tx: Sender<Event>,
    generation: u64,
) {
    let budget = sources::file_change::budget(cfg.daemon.max_watches);
    let paths = paths.to_vec();
    let ignore = vec![state_dir.to_path_buf()];
    let spawned = std::thread::Builder::new()
        .name("watch-setup".into())
        .spawn(move || {
            priority::lower_current_thread(10, true);
            let fw = FileWatch::start(&paths, budget, ignore, tx.clone());
            let _ = tx.send(Event::WatchReady(Box::new(fw), generation));
        });
    if let Err(e) = spawned {
        log::error!("file watch off: cannot start its thread: {e}");
    }
}

/// Load config and rules anew; any error keeps the old ones.
fn reload(config_path: Option<&Path>, state_dir: &Path) -> Result<(AgentConfig, Inspector)> {
    let cfg = AgentConfig::load(config_path)?;
    let new_state_dir = state::default_state_dir(&cfg);
    if new_state_dir != state_dir {
        anyhow::bail!(
            "paths.state_dir changed to {}; that takes a restart (the outbox and chain live there)",
            new_state_dir.display()
        );
    }
    let policy = crate::load_policy(None, &cfg)?;
    let inspector = Inspector::new(cfg.clone(), policy, Root::live(), Some(state_dir))?;
    Ok((cfg, inspector))
}

#[cfg(unix)]
fn signals(tx: Sender<Event>) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGTERM, SIGINT])
        .context("cannot install signal handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let ev = match sig {
                    SIGHUP => Event::Reload,
                    SIGTERM => Event::Shutdown("SIGTERM"),
                    _ => Event::Shutdown("SIGINT"),
                };
                if tx.send(ev).is_err() {
                    return;
                }
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}

/// Windows: the service control manager's Stop and Ctrl-C (`service.rs`).
#[cfg(windows)]
fn signals(tx: Sender<Event>) -> Result<()> {
    crate::service::stop_requests(tx)
}

#[cfg(not(any(unix, windows)))]
fn signals(_tx: Sender<Event>) -> Result<()> {
    Ok(())
}

/// An `agent_alarm` finding.
pub fn alarm_finding(reason: &str, message: String) -> Finding {
    let mut f = Finding::new(FindingKind::AgentAlarm, Severity::High);
    f.reason = Some(reason.to_string());
    f.message = Some(message);
    f
}

/// The `seq` of a queued signed report (the agent's own bytes), if readable,
/// and the gaps it declares: an evicted report's declarations are carried
/// into the report that evicts it, or they would be lost with it.
fn entry_seq(bytes: &[u8]) -> Option<(u64, Vec<mijian_report::DeclaredGap>)> {
    use base64::Engine as _;
    let jws = mijian_report::Jws::parse(bytes).ok()?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jws.payload.as_bytes())
        .ok()?;
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
        #[serde(default)]
        declared_gaps: Vec<mijian_report::DeclaredGap>,
    }
    serde_json::from_slice::<Seq>(&payload)
        .ok()
        .map(|s| (s.seq, s.declared_gaps))
}

/// Sort and join overlapping or adjacent gaps of the same reason, so
/// declarations carried from report to report while the outbox stays full
/// stay as few ranges as there are kept reports between them.
fn merge_gaps(gaps: &mut Vec<mijian_report::DeclaredGap>) {
    gaps.sort_by(|a, b| (&a.reason, a.from).cmp(&(&b.reason, b.from)));
    let mut out: Vec<mijian_report::DeclaredGap> = Vec::with_capacity(gaps.len());
    for g in gaps.drain(..) {
        match out.last_mut() {
            Some(l) if l.reason == g.reason && g.from <= l.to.saturating_add(1) => {
                l.to = l.to.max(g.to);
            }
            _ => out.push(g),
        }
    }
    out.sort_by_key(|g| g.from);
    *gaps = out;
}

/// Evicted seqs as `declared_gaps` entries (reason `evicted`), adjacent seqs
/// joined into one range.
fn evicted_gaps(mut seqs: Vec<u64>) -> Vec<mijian_report::DeclaredGap> {
    seqs.sort_unstable();
    seqs.dedup();
    let mut out: Vec<mijian_report::DeclaredGap> = Vec::new();
    for s in seqs {
        match out.last_mut() {
            Some(g) if g.to + 1 == s => g.to = s,
            _ => out.push(mijian_report::DeclaredGap {
                from: s,
                to: s,
                reason: "evicted".into(),
            }),
        }
    }
    out
}

/// The outbox class of a report (what eviction may drop).
pub fn classify(r: &Report) -> Class {
    if r.findings.iter().any(|f| f.kind == FindingKind::AgentAlarm) {
        Class::Alarm
    } else if !r.findings.is_empty()
        || r.checks
            .iter()
            .any(|c| matches!(c.status, CheckStatus::Fail | CheckStatus::Error))
    {
        Class::Findings
    } else if r.trigger == Trigger::Heartbeat {
        Class::Heartbeat
    } else {
        Class::Full
    }
}

/// An upper estimate of a report's JWS size before sealing (agent_id, seq
/// and prev are not filled yet; base64 adds a third; header and signature).
fn estimate_jws_len(r: &Report) -> u64 {
    let payload = r.to_payload().len() as u64 + 200;
    payload * 4 / 3 + 512
}

/// Work waiting for the worker; coalesces repeats.
#[derive(Default)]
struct Pending {
    full: Option<Trigger>,
    heartbeat: bool,
    media: VecDeque<MountEvent>,
    files: BTreeSet<PathBuf>,
    rescan: BTreeSet<PathBuf>,
    alarms: Vec<Finding>,
    /// Seq spent without a report, declared in the next report sealed.
    gaps: Vec<mijian_report::DeclaredGap>,
    inspector: Option<Box<Inspector>>,
    stop: bool,
}

enum Job {
    Alarms(Vec<Finding>),
    Heartbeat,
    Media(Box<MountEvent>),
    Full(Trigger),
    Files(Vec<PathBuf>),
    Rescan(Vec<PathBuf>),
}

impl Pending {
    fn take(&mut self) -> Option<Job> {
        if !self.alarms.is_empty() {
            return Some(Job::Alarms(std::mem::take(&mut self.alarms)));
        }
        if std::mem::take(&mut self.heartbeat) {
            return Some(Job::Heartbeat);
        }
        if let Some(m) = self.media.pop_front() {
            return Some(Job::Media(Box::new(m)));
        }
        if let Some(t) = self.full.take() {
            // A full check covers pending file changes and rescans too.
            self.files.clear();
            self.rescan.clear();
            return Some(Job::Full(t));
        }
        if !self.files.is_empty() {
            return Some(Job::Files(
                std::mem::take(&mut self.files).into_iter().collect(),
            ));
        }
        if !self.rescan.is_empty() {
            return Some(Job::Rescan(
                std::mem::take(&mut self.rescan).into_iter().collect(),
            ));
        }
        None
    }
}

#[derive(Default)]
struct Jobs {
    m: Mutex<Pending>,
    cv: Condvar,
}

impl Jobs {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.m.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn stop(&self) {
        self.lock().stop = true;
        self.cv.notify_all();
    }
    fn alarm(&self, f: Finding) {
        self.lock().alarms.push(f);
        self.cv.notify_all();
    }
}

struct Worker {
    jobs: Arc<Jobs>,
    state: AgentState,
    queue: Arc<Queue>,
    commit: Arc<Mutex<()>>,
    status: Arc<Mutex<String>>,
    /// Paths with content findings in recent reports: a clean rescan of one
    /// of them is reported (the finding is resolved); other clean file
    /// changes are not, or every saved document would make a report.
    flagged: Arc<Mutex<HashSet<String>>>,
    cpu_budget: u32,
    started: Instant,
}

impl Worker {
    fn run(self, mut inspector: Inspector) {
        let mut last_rescan: Option<BTreeSet<(String, String)>> = None;
        let mut first = true;
        loop {
            let job = {
                let mut p = self.jobs.lock();
                loop {
                    if p.stop {
                        return;
                    }
                    if let Some(i) = p.inspector.take() {
                        inspector = *i;
                        last_rescan = None;
                        continue;
                    }
                    if let Some(j) = p.take() {
                        break j;
                    }
                    p = self.jobs.cv.wait(p).unwrap_or_else(|e| e.into_inner());
                }
            };
            let cpu0 = priority::process_cpu();
            let t0 = Instant::now();
            let report = match job {
                Job::Alarms(alarms) => {
                    let mut r = inspector.blank(Trigger::Heartbeat);
                    r.findings = alarms;
                    Some(r)
                }
                Job::Heartbeat => {
                    let mut r = inspector.blank(Trigger::Heartbeat);
                    let (n, bytes) = {
                        let ob = self.queue.lock();
                        (ob.len(), ob.used_bytes())
                    };
                    r.notes
                        .push(format!("outbox: {n} report(s) queued, {bytes} bytes"));
                    r.notes.push(
                        self.status
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .clone(),
                    );
                    Some(r)
                }
                Job::Media(ev) => Some(match *ev {
                    MountEvent::Mounted(m) => inspector.media_report(&m),
                    MountEvent::Unmounted { finding, .. } => {
                        let mut r = inspector.blank(Trigger::Media);
                        r.findings.push(finding);
                        r
                    }
                }),
                Job::Full(trigger) => {
                    let r = inspector.inspect(trigger, true);
                    let mut fl = self.flagged.lock().unwrap_or_else(|p| p.into_inner());
                    fl.clear();
                    fl.extend(r.findings.iter().filter_map(|f| f.path.clone()));
                    last_rescan = None;
                    Some(r)
                }
                Job::Files(paths) => {
                    let r = inspector.scan_files(Trigger::FileChange, &paths);
                    let mut fl = self.flagged.lock().unwrap_or_else(|p| p.into_inner());
                    // A flagged finding at or below a changed path: the report
                    // resolves or confirms it, so it is sent even when clean.
                    let scope = r.effective_scope();
                    let before = fl.len();
                    fl.retain(|f| !scope.covers_path(f));
                    let resolved = fl.len() != before;
                    fl.extend(r.findings.iter().filter_map(|f| f.path.clone()));
                    if r.findings.is_empty() && !resolved {
                        log::debug!(
                            "file change: {} path(s) rescanned, nothing to report",
                            paths.len()
                        );
                        None
                    } else {
                        Some(r)
                    }
                }
                Job::Rescan(roots) => {
                    let r = inspector.scan_files(Trigger::FileChange, &roots);
                    let now: BTreeSet<(String, String)> = r
                        .findings
                        .iter()
                        .map(|f| {
                            (
                                f.path.clone().unwrap_or_default(),
                                f.sha256.clone().unwrap_or_default(),
                            )
                        })
                        .collect();
                    let same = last_rescan.as_ref() == Some(&now);
                    last_rescan = Some(now);
                    (!same).then_some(r)
                }
            };
            if let Some(mut r) = report {
                crate::policy::finish_report(&inspector.policy, self.state.dir(), &mut r);
                self.commit(r);
                if first {
                    first = false;
                    log::info!(
                        "first report queued {} ms after start",
                        self.started.elapsed().as_millis()
                    );
                }
            }
            // The CPU budget: pause in proportion to the CPU just used.
            let pause = priority::pause_for(
                priority::process_cpu().saturating_sub(cpu0),
                t0.elapsed(),
                self.cpu_budget,
            );
            if !pause.is_zero() {
                log::debug!("cpu budget: pausing {} ms", pause.as_millis());
                let deadline = Instant::now() + pause;
                let mut p = self.jobs.lock();
                while !p.stop && Instant::now() < deadline {
                    p = match self.jobs.cv.wait_timeout(p, deadline - Instant::now()) {
                        Ok((g, _)) => g,
                        Err(e) => e.into_inner().0,
                    };
                }
            }
        }
    }

    /// Seal and queue one report. If the outbox cannot take it, it is not
    /// sealed (no `seq` gap) and an alarm report is queued instead.
    fn commit(&self, mut report: Report) {
        crate::bound::bound(&mut report, self.queue.max_report_bytes());
        let gaps = std::mem::take(&mut self.jobs.lock().gaps);
        report.declared_gaps.extend(gaps.iter().cloned());
        let class = classify(&report);
        let trigger = report.trigger;
        let nfind = report.findings.len();
        let _c = self.commit.lock().unwrap_or_else(|p| p.into_inner());
        // The seq of each entry this push may evict, read before it goes:
        // this report itself declares them (signed, so the declaration is
        // never lost with the daemon's memory), and the collector sees a
        // declared gap, not what a suppressed report looks like. A planned
        // entry delivered meanwhile is not missing, so its declaration is
        // harmless; one evicted beyond the plan goes into the next report.
        let planned = match self
            .queue
            .lock()
            .check_room(estimate_jws_len(&report), class)
        {
            Ok(evict) => evict,
            Err(e) => {
                self.refused(trigger, nfind, class, &e.to_string());
                self.jobs.lock().gaps.extend(gaps);
                return;
            }
        };
        let mut carried = Vec::new();
        let evictable_seqs: Vec<(mijian_outbox::Id, Option<u64>)> = {
            let mut q = self.queue.lock();
            planned
                .iter()
                .map(|(id, _)| {
                    let read = q.get(*id).ok().flatten().and_then(|e| entry_seq(&e.bytes));
                    let seq = read.map(|(seq, declared)| {
                        carried.extend(declared);
                        seq
                    });
                    (*id, seq)
                })
                .collect()
        };
        let planned_gaps = evicted_gaps(evictable_seqs.iter().filter_map(|(_, s)| *s).collect());
        report.declared_gaps.extend(planned_gaps.iter().cloned());
        report.declared_gaps.extend(carried);
        merge_gaps(&mut report.declared_gaps);
        let sealed = match self.state.seal(report) {
            Ok(s) => s,
            Err(e) => {
                log::error!("cannot seal a {} report: {e:#}", trigger.as_str());
                self.jobs.lock().gaps.extend(gaps);
                return;
            }
        };
        match self.queue.push(&sealed.jws, class) {
            Ok(p) => {
                if let Err(e) = self.state.settle(sealed.report.seq) {
                    // Still pending: queued again after a restart, answered 200.
                    log::warn!("cannot settle seq {}: {e:#}", sealed.report.seq);
                }
                log::info!(
                    "queued report seq {} ({}, {} finding(s), class {}, {} payload bytes) as outbox entry {}",
                    sealed.report.seq,
                    trigger.as_str(),
                    nfind,
                    class.as_str(),
                    sealed.payload.len(),
                    p.id
                );
                let mut evicted = Vec::new();
                for (id, c) in p.evicted {
                    let seq = evictable_seqs
                        .iter()
                        .find(|(e, _)| *e == id)
                        .and_then(|(_, s)| *s);
                    log::warn!(
                        "outbox bound reached: dropped superseded {} entry {id} (seq {})",
                        c.as_str(),
                        seq.map_or_else(|| "unknown".to_string(), |s| s.to_string())
                    );
                    if !planned_gaps
                        .iter()
                        .any(|g| seq.is_some_and(|s| (g.from..=g.to).contains(&s)))
                    {
                        evicted.extend(seq);
                    }
                }
                if !evicted.is_empty() {
                    self.jobs.lock().gaps.extend(evicted_gaps(evicted));
                }
            }
            Err(e) => {
                // Sealed, not queued: the seq is spent. Declare it in the
                // next report rather than leave an unexplained gap.
                let seq = sealed.report.seq;
                if self.state.settle(seq).is_ok() {
                    let mut p = self.jobs.lock();
                    p.gaps.extend(gaps);
                    p.gaps.push(mijian_report::DeclaredGap {
                        from: seq,
                        to: seq,
                        reason: "unqueued".into(),
                    });
                }
                self.refused(trigger, nfind, class, &e.to_string())
            }
        }
    }

    fn refused(&self, trigger: Trigger, nfind: usize, class: Class, why: &str) {
        log::error!(
            "OUTBOX FULL: a {} report with {nfind} finding(s) could not be queued: {why}",
            trigger.as_str()
        );
        if class != Class::Alarm {
            let mut f = alarm_finding(
                "outbox_full",
                format!(
                    "the outbox is full of undelivered evidence; a {} report with {nfind} finding(s) could not be queued (the files remain and are found again by the next check)",
                    trigger.as_str()
                ),
            );
            f.detail = Some(serde_json::json!({ "trigger": trigger.as_str(), "findings": nfind }));
            self.jobs.lock().alarms.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mijian_report::Check;

    #[test]
    fn gaps_merge_by_reason_and_adjacency() {
        let g = |from, to, reason: &str| mijian_report::DeclaredGap {
            from,
            to,
            reason: reason.into(),
        };
        let mut v = vec![
            g(7, 7, "evicted"),
            g(2, 3, "evicted"),
            g(4, 5, "evicted"),
            g(5, 5, "crash"),
            g(3, 4, "evicted"),
        ];
        merge_gaps(&mut v);
        assert_eq!(
            v,
            vec![g(2, 5, "evicted"), g(5, 5, "crash"), g(7, 7, "evicted")]
        );
        assert_eq!(
            evicted_gaps(vec![9, 3, 4, 4, 6]),
            vec![g(3, 4, "evicted"), g(6, 6, "evicted"), g(9, 9, "evicted")]
        );
    }

    #[test]
    fn classes_follow_content() {
        let mut r = Report::new("a", 1, None, Trigger::Heartbeat);
        assert_eq!(classify(&r), Class::Heartbeat);
        r.trigger = Trigger::Schedule;
        r.checks
            .push(Check::new("password.min_length", "host", CheckStatus::Pass));
        assert_eq!(classify(&r), Class::Full);
        r.checks
            .push(Check::new("login.autologin", "host", CheckStatus::Fail));
        assert_eq!(classify(&r), Class::Findings);
        r.findings.push(alarm_finding("x", "y".into()));
        assert_eq!(classify(&r), Class::Alarm);
    }

    #[test]
    fn pending_coalesces_and_orders() {
        let mut p = Pending::default();
        p.files.insert("/a".into());
        p.rescan.insert("/b".into());
        p.full = Some(Trigger::Schedule);
        p.heartbeat = true;
        assert!(matches!(p.take(), Some(Job::Heartbeat)));
        assert!(matches!(p.take(), Some(Job::Full(Trigger::Schedule))));
        assert!(
            p.take().is_none(),
            "the full check covered the file changes"
        );
    }

    #[test]
    fn estimate_is_an_upper_bound() {
        let key = mijian_report::AgentKey::generate();
        let mut r = Report::new("", 0, None, Trigger::Schedule);
        for i in 0..50 {
            r.checks
                .push(Check::new(format!("c{i}"), "host", CheckStatus::Pass));
        }
        let est = estimate_jws_len(&r);
        r.agent_id = key.kid();
        r.seq = u64::MAX;
        r.prev = Some("f".repeat(64));
        let jws = mijian_report::Jws::sign(&r.to_payload(), &key).to_json();
        assert!(est >= jws.len() as u64, "{est} < {}", jws.len());
    }
}
