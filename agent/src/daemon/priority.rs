//! Keeping inspections out of the user's way: the inspection thread runs at
//! a lower CPU priority (nice) and in the idle I/O class (Linux `ioprio`),
//! and a CPU budget spaces inspections so that their average CPU use stays
//! under `[daemon] cpu_budget_percent` of one core. Child processes the
//! scanner starts inherit the thread's nice value and I/O class.
//!
//! The budget is enforced between inspections (the scanner has no pause
//! points): after an inspection that used C seconds of CPU in W seconds, the
//! worker waits until C / (W + wait) ≤ budget. The systemd unit adds a hard
//! `CPUQuota` for the service as a whole.

use std::time::Duration;

/// Lower the calling thread's CPU and I/O priority. Failures are logged,
/// never fatal (an unprivileged user cannot raise them back, only lower).
pub fn lower_current_thread(nice: i32, io_idle: bool) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid/setpriority/ioprio_set take plain integers; on
        // Linux `PRIO_PROCESS` with a thread id affects only that thread.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            if nice > 0 && libc::setpriority(libc::PRIO_PROCESS, tid, nice) != 0 {
                log::warn!(
                    "cannot lower CPU priority: {}",
                    std::io::Error::last_os_error()
                );
            }
            if io_idle {
                const IOPRIO_WHO_PROCESS: libc::c_long = 1;
                const IOPRIO_CLASS_IDLE: libc::c_long = 3;
                const IOPRIO_CLASS_SHIFT: libc::c_long = 13;
                let rc = libc::syscall(
                    libc::SYS_ioprio_set,
                    IOPRIO_WHO_PROCESS,
                    tid as libc::c_long,
                    IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT,
                );
                if rc != 0 {
                    log::warn!(
                        "cannot set the idle I/O class: {}",
                        std::io::Error::last_os_error()
                    );
                }
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (nice, io_idle);
    }
}

/// CPU time used by this process and its waited-for children.
pub fn process_cpu() -> Duration {
    #[cfg(unix)]
    {
        let get = |who| {
            // SAFETY: getrusage fills the zeroed struct we pass.
            let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
            if unsafe { libc::getrusage(who, &mut ru) } != 0 {
                return Duration::ZERO;
            }
            let tv = |t: libc::timeval| {
                Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32) * 1000)
            };
            tv(ru.ru_utime) + tv(ru.ru_stime)
        };
        get(libc::RUSAGE_SELF) + get(libc::RUSAGE_CHILDREN)
    }
    #[cfg(not(unix))]
    {
        Duration::ZERO
    }
}

/// How long to pause after an inspection that used `cpu` in `wall`, so that
/// the average stays within `budget_percent` of one core.
pub fn pause_for(cpu: Duration, wall: Duration, budget_percent: u32) -> Duration {
    if budget_percent >= 100 || budget_percent == 0 {
        return Duration::ZERO;
    }
    let needed = cpu.mul_f64(100.0 / budget_percent as f64);
    needed.saturating_sub(wall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_keeps_the_average_within_budget() {
        let s = Duration::from_secs;
        // 1 s of CPU in 1 s at 25%: 4 s in total, so 3 s of pause.
        assert_eq!(pause_for(s(1), s(1), 25), s(3));
        // An I/O-bound inspection already within budget: no pause.
        assert_eq!(pause_for(s(1), s(10), 25), Duration::ZERO);
        assert_eq!(pause_for(s(5), s(1), 100), Duration::ZERO);
    }

    #[test]
    fn process_cpu_grows() {
        let a = process_cpu();
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(process_cpu() >= a, "{x}");
    }
}
