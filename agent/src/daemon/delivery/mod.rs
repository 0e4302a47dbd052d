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
}

impl Queue {
    pub fn new(outbox: Outbox, sink: Option<Sink>) -> Arc<Queue> {
        Arc::new(Queue {
            outbox: Mutex::new(outbox),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            sink: Mutex::new(sink.map(Arc::new)),
            delivered: AtomicU64::new(0),
        })
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
            g = match self.changed.wait_timeout(g, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

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
