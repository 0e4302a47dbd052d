//! Delivery: the thread that drains the outbox to the collector, oldest
//! first, and acks an entry only after the collector answered 202/200 (or 409,
//! see [`https::Outcome::Conflict`]). Like Vector's sinks it defers
//! finalisation until the event is delivered; the outbox makes that survive
//! restarts, so delivery resumes where it stopped, in order.
//!
//! Failures back off exponentially with jitter (`[daemon] retry_min`,
//! `retry_max`), so ten thousand agents do not hammer a collector that just
//! came back. The thread blocks on a condition variable when the outbox is
//! empty: no polling.

pub mod export;
pub mod https;

use mijian_outbox::{Class, Outbox, Pushed};
use rand::Rng;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use https::{Client, Outcome};

/// Where delivered reports go.
pub enum Sink {
    /// The collector's HTTP API.
    Https(Client),
    /// A directory of `<seq>-<report_id>.jws` files for
    /// `mijian-collector import` (`[daemon] export_dir`, air-gapped hosts).
    Dir(std::path::PathBuf),
}

impl Sink {
    fn deliver(&self, bytes: &[u8]) -> Outcome {
        match self {
            Sink::Https(c) => c.post_report(bytes),
            Sink::Dir(dir) => match export::write_report(dir, bytes) {
                Ok(_) => Outcome::Delivered(0),
                Err(e) => Outcome::Retry {
                    reason: format!("{e:#}"),
                    retry_after: None,
                },
            },
        }
    }
}

/// The outbox shared between the producer (the inspection worker) and the
/// delivery thread, with the condition variable that wakes delivery.
pub struct Queue {
    outbox: Mutex<Outbox>,
    changed: Condvar,
    stop: AtomicBool,
    sink: Mutex<Option<Arc<Sink>>>,
    /// Reports acknowledged by the collector since start (for logs/tests).
    pub delivered: AtomicU64,
    /// Called with an `agent_alarm` (and the `seq` the collector will never
    /// have) when a report is refused for good and set aside; the daemon
    /// queues the alarm as a report of its own.
    #[allow(clippy::type_complexity)]
    on_refused: Mutex<Option<Box<dyn Fn(mijian_report::Finding, Option<u64>) + Send + Sync>>>,
    /// Re-reads the enrollment (`collector.json`) and returns a new sink when
    /// it changed: `mijian-agent enroll` while the daemon runs is picked up
    /// without SIGHUP (issue 11).
    #[allow(clippy::type_complexity)]
    refresh: Mutex<Option<Box<dyn Fn() -> Option<Sink> + Send + Sync>>>,
    /// The collector's report size limit as known at start (`enroll`);
    /// the HTTPS client's announced limit wins once it has one.
    pub saved_limit: AtomicU64,
}

impl Queue {
    pub fn new(outbox: Outbox, sink: Option<Sink>) -> Arc<Queue> {
        Arc::new(Queue {
            outbox: Mutex::new(outbox),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            sink: Mutex::new(sink.map(Arc::new)),
            delivered: AtomicU64::new(0),
            on_refused: Mutex::new(None),
            refresh: Mutex::new(None),
            saved_limit: AtomicU64::new(0),
        })
    }

    /// Set how a changed enrollment is noticed (see the field).
    pub fn on_refresh(&self, f: impl Fn() -> Option<Sink> + Send + Sync + 'static) {
        *self.refresh.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(f));
    }

    /// Take up a changed enrollment, if any; true when the sink changed.
    fn refresh(&self) -> bool {
        let new = self
            .refresh
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|f| f());
        match new {
            Some(s) => {
                log::info!("enrollment changed: delivering with the new collector settings");
                *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(s));
                true
            }
            None => false,
        }
    }

    /// Set what happens when a report is refused for good.
    pub fn on_refused(
        &self,
        f: impl Fn(mijian_report::Finding, Option<u64>) + Send + Sync + 'static,
    ) {
        *self.on_refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(f));
    }

    /// The largest signed report the collector takes: as it announced it
    /// (response header), else as saved at enrollment, else its documented
    /// default.
    pub fn max_report_bytes(&self) -> u64 {
        let announced = match self.sink().as_deref() {
            Some(Sink::Https(c)) => c.limit.load(Ordering::Relaxed),
            _ => 0,
        };
        match (announced, self.saved_limit.load(Ordering::Relaxed)) {
            (0, 0) => crate::bound::DEFAULT_MAX_REPORT_BYTES,
            (0, s) => s,
            (a, _) => a,
        }
    }

    /// The outbox, locked. A poisoned lock (a panic elsewhere) is taken
    /// over: the outbox's own state is consistent at every step.
    pub fn lock(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Durable push, then wake delivery.
    pub fn push(&self, bytes: &[u8], class: Class) -> Result<Pushed, mijian_outbox::Error> {
        let r = self.lock().push(bytes, class);
        self.changed.notify_all();
        r
    }

    /// Replace the sink (config reload); `None` stops delivery (reports
    /// stay queued for `export`).
    pub fn set_sink(&self, sink: Option<Sink>) {
        *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = sink.map(Arc::new);
        self.changed.notify_all();
    }

    fn sink(&self) -> Option<Arc<Sink>> {
        self.sink.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Ask the delivery thread to stop at its next wait.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleep until `d` has passed or stop is requested (pushes do not cut a
    /// backoff short).
    fn pause(&self, d: Duration) {
        let deadline = Instant::now() + d;
        let mut g = self.lock();
        while !self.stopped() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let step = (deadline - now).min(REFRESH_EVERY);
            g = match self.changed.wait_timeout(g, step) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
            drop(g);
            // A new enrollment ends the wait: try it now.
            if self.refresh() {
                return;
            }
            g = self.lock();
        }
    }
}

/// How often a waiting delivery thread looks for a changed enrollment.
const REFRESH_EVERY: Duration = Duration::from_secs(2);

/// Exponential backoff with jitter: each failure doubles the delay up to
/// `max`; the actual wait is uniform in `[d/2, d]` ("equal jitter").
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let min = min.max(Duration::from_millis(10));
        Backoff {
            min,
            max: max.max(min),
            current: min,
        }
    }

    pub fn reset(&mut self) {
        self.current = self.min;
    }

    /// The next wait, and double the delay for the one after.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = d / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }
}

/// Start the delivery thread.
pub fn spawn(
    queue: Arc<Queue>,
    retry_min: Duration,
    retry_max: Duration,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("delivery".into())
        .spawn(move || deliver(&queue, Backoff::new(retry_min, retry_max)))
}

fn deliver(queue: &Queue, mut backoff: Backoff) {
    loop {
        // Wait for an entry and a client.
        let (entry, client) = {
            let mut ob = queue.lock();
            loop {
                if queue.stopped() {
                    return;
                }
                let client = queue.sink();
                let head = match (&client, ob.peek()) {
                    (None, _) => None,
                    (Some(_), Ok(h)) => h,
                    (Some(_), Err(e)) => {
                        log::error!("outbox: {e}; retrying in 60 s");
                        drop(ob);
                        queue.pause(Duration::from_secs(60));
                        ob = queue.lock();
                        continue;
                    }
                };
                match (head, client) {
                    (Some(e), Some(c)) => break (e, c),
                    (Some(_), None) => {
                        // Reports wait for a collector: look for an enrollment.
                        ob = match queue.changed.wait_timeout(ob, REFRESH_EVERY) {
                            Ok((g, _)) => g,
                            Err(p) => p.into_inner().0,
                        };
                        drop(ob);
                        queue.refresh();
                        ob = queue.lock();
                    }
                    _ => {
                        ob = match queue.changed.wait(ob) {
                            Ok(g) => g,
                            Err(p) => p.into_inner(),
                        }
                    }
                }
            }
        };
        // The network call runs without the lock: pushes go on meanwhile.
        match client.deliver(&entry.bytes) {
            Outcome::Delivered(status) => {
                log::debug!("delivered outbox entry {} (HTTP {status})", entry.id);
                ack(queue, entry.id);
                backoff.reset();
            }
            Outcome::Conflict(body) => {
                log::error!(
                    "collector answered 409 for outbox entry {}: it conflicts with the chain the collector holds for this agent and was kept there as a tamper alert ({body}); not resending",
                    entry.id
                );
                ack(queue, entry.id);
                backoff.reset();
            }
            Outcome::Retry {
                reason,
                retry_after,
            } => {
                let d = retry_after.unwrap_or_else(|| backoff.next_delay());
                log::warn!(
                    "delivery of outbox entry {} failed: {reason}; retrying in {:.1} s ({} queued)",
                    entry.id,
                    d.as_secs_f64(),
                    queue.lock().len()
                );
                queue.pause(d);
            }
            Outcome::Refused { status, body } => {
                set_aside(queue, &entry, status, &body);
                backoff.reset();
            }
            Outcome::Rejected { status, body } => {
                let d = backoff
                    .next_delay()
                    .max(Duration::from_secs(60).min(backoff.max));
                log::error!(
                    "COLLECTOR REJECTED outbox entry {} with HTTP {status}: {body}. The report stays queued; {}retrying in {:.0} s",
                    entry.id,
                    if status == 401 {
                        "is this agent enrolled (`mijian-agent enroll`) and its key not revoked? "
                    } else {
                        ""
                    },
                    d.as_secs_f64()
                );
                queue.pause(d);
            }
        }
    }
}

/// A report the collector refused for good (400, 413): move it aside,
/// never delete it, and raise an alarm that is itself delivered, so the
/// queue goes on (issue 11).
fn set_aside(queue: &Queue, entry: &mijian_outbox::Entry, status: u16, body: &str) {
    let seq = seq_of(&entry.bytes);
    let kept = match queue.lock().set_aside(entry.id) {
        Ok(p) => p,
        Err(e) => {
            log::error!("outbox: cannot set aside refused entry {}: {e}", entry.id);
            queue.pause(Duration::from_secs(60));
            return;
        }
    };
    let kept = kept.map(|p| p.display().to_string()).unwrap_or_default();
    log::error!(
        "COLLECTOR REFUSED outbox entry {} (seq {}) with HTTP {status}: {body}. Sending it again cannot help: set aside as {kept}; delivery goes on and an agent_alarm reports it",
        entry.id,
        seq.map_or("?".to_string(), |s| s.to_string()),
    );
    let mut f = crate::daemon::alarm_finding(
        "report_refused",
        format!(
            "the collector refused a report for good (HTTP {status}); it was set aside on the host as {kept}"
        ),
    );
    f.detail = Some(serde_json::json!({
        "status": status, "seq": seq, "bytes": entry.bytes.len(),
        "answer": body.chars().take(300).collect::<String>(),
    }));
    if let Some(hook) = queue
        .on_refused
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        hook(f, seq);
    }
}

/// The `seq` of a queued signed report (our own bytes; `None` if unreadable).
pub fn seq_of(jws: &[u8]) -> Option<u64> {
    use base64::Engine;
    let j = mijian_report::Jws::parse(jws).ok()?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(j.payload.as_bytes())
        .ok()?;
    mijian_report::Report::from_payload(&payload)
        .ok()
        .map(|r| r.seq)
}

fn ack(queue: &Queue, id: mijian_outbox::Id) {
    match queue.lock().ack(id) {
        Ok(_) => {
            queue.delivered.fetch_add(1, Ordering::Relaxed);
        }
        // The entry stays; it is delivered again and the collector answers 200.
        Err(e) => log::error!("outbox: cannot remove delivered entry {id}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        let waits: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        let expect = [1, 2, 4, 8, 8, 8];
        for (w, e) in waits.iter().zip(expect) {
            let e = Duration::from_secs(e);
            assert!(*w >= e / 2 && *w <= e, "{w:?} vs {e:?}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }
}
