//! `schedule`: when the next full check is due — every `[schedule] interval`
//! plus a random `jitter` (so ten thousand hosts do not all scan at 09:00),
//! moved into the optional local-time `window`. Wall-clock times, so a laptop
//! that slept past a due time checks soon after it wakes.

use rand::Rng;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A schedule parsed from `[schedule]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub interval: Duration,
    pub jitter: Duration,
    /// Minutes after local midnight, `(start, end)`; may wrap midnight.
    pub window: Option<(u32, u32)>,
}

impl Schedule {
    /// The next due time after a check that ran at `last`.
    pub fn next_after(&self, last: SystemTime) -> SystemTime {
        let jitter = random_upto(self.jitter);
        let due = last + self.interval + jitter;
        match self.window {
            None => due,
            Some(w) => {
                let offset = local_offset_minutes(due);
                into_window(due, w, offset, |len| random_upto(self.jitter.min(len)))
            }
        }
    }
}

fn random_upto(d: Duration) -> Duration {
    if d.is_zero() {
        return Duration::ZERO;
    }
    rand::thread_rng().gen_range(Duration::ZERO..d)
}

/// Move `t` into the window `(start, end)` (minutes of the local day, with
/// the local offset from UTC `offset` minutes). A `t` inside stays; one
/// outside moves to the next opening plus `spread(window length)`.
pub fn into_window(
    t: SystemTime,
    (start, end): (u32, u32),
    offset: i64,
    spread: impl Fn(Duration) -> Duration,
) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let local_min = ((secs / 60 + offset).rem_euclid(1440)) as u32;
    let inside = if start < end {
        (start..end).contains(&local_min)
    } else {
        local_min >= start || local_min < end
    };
    if inside {
        return t;
    }
    let wait_min = (start + 1440 - local_min) % 1440;
    let len_min = (end + 1440 - start) % 1440;
    let opening =
        t + Duration::from_secs(wait_min as u64 * 60) - Duration::from_secs((secs % 60) as u64);
    opening + spread(Duration::from_secs(len_min as u64 * 60))
}

/// The local offset from UTC in minutes at `t` (`localtime_r`).
#[cfg(unix)]
fn local_offset_minutes(t: SystemTime) -> i64 {
    // The type is inferred from `localtime_r` (`time_t`, whose name the libc
    // crate deprecates on musl ahead of its 64-bit change).
    let Ok(secs) = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        .try_into()
    else {
        return 0;
    };
    // SAFETY: localtime_r writes into the zeroed struct we pass and reads `secs`.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff as i64 / 60
    }
}

#[cfg(not(unix))]
fn local_offset_minutes(_t: SystemTime) -> i64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u64, m: u64) -> SystemTime {
        // 2026-01-05 00:00 UTC plus h:m.
        UNIX_EPOCH + Duration::from_secs(1_767_571_200 + h * 3600 + m * 60)
    }

    #[test]
    fn inside_window_stays() {
        let t = at(10, 30);
        assert_eq!(into_window(t, (9 * 60, 17 * 60), 0, |_| Duration::ZERO), t);
    }

    #[test]
    fn before_and_after_window_move_to_next_opening() {
        let w = (9 * 60, 17 * 60);
        assert_eq!(into_window(at(7, 0), w, 0, |_| Duration::ZERO), at(9, 0));
        assert_eq!(into_window(at(18, 0), w, 0, |_| Duration::ZERO), at(33, 0));
        // The spread is bounded by the window's length.
        let t = into_window(at(18, 0), w, 0, |len| {
            assert_eq!(len, Duration::from_secs(8 * 3600));
            len / 2
        });
        assert_eq!(t, at(37, 0));
    }

    #[test]
    fn window_wrapping_midnight_and_local_offset() {
        let w = (22 * 60, 6 * 60);
        assert_eq!(into_window(at(23, 0), w, 0, |_| Duration::ZERO), at(23, 0));
        assert_eq!(into_window(at(3, 0), w, 0, |_| Duration::ZERO), at(3, 0));
        assert_eq!(into_window(at(12, 0), w, 0, |_| Duration::ZERO), at(22, 0));
        // UTC+8: 12:00 UTC is 20:00 local; the window opens at 22:00 local = 14:00 UTC.
        assert_eq!(
            into_window(at(12, 0), w, 480, |_| Duration::ZERO),
            at(14, 0)
        );
    }

    #[test]
    fn jitter_is_bounded() {
        let s = Schedule {
            interval: Duration::from_secs(3600),
            jitter: Duration::from_secs(600),
            window: None,
        };
        for _ in 0..100 {
            let d = s.next_after(at(0, 0)).duration_since(at(0, 0)).unwrap();
            assert!(
                d >= Duration::from_secs(3600) && d < Duration::from_secs(4200),
                "{d:?}"
            );
        }
    }
}
