//! A minimal stderr logger for the daemon, enroll and export (no logging
//! framework: a few hundred bytes of code instead of a dependency tree).
//! Level from `MIJIAN_LOG` (`error`, `warn`, `info` — the default —,
//! `debug`, `trace`). Under systemd (`JOURNAL_STREAM` set) lines carry the
//! `<N>` syslog priority prefix journald understands; elsewhere a UTC time.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct Stderr {
    journal: bool,
}

impl Log for Stderr {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let line = if self.journal {
            let pri = match r.level() {
                Level::Error => 3,
                Level::Warn => 4,
                Level::Info => 6,
                Level::Debug | Level::Trace => 7,
            };
            format!("<{pri}>{}\n", r.args())
        } else {
            format!(
                "{} mijian-agent {}: {}\n",
                mijian_report::now_rfc3339(),
                r.level().as_str().to_lowercase(),
                r.args()
            )
        };
        // One write per line, so lines of different threads do not interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Install the logger (once; later calls do nothing).
pub fn init() {
    let level = match std::env::var("MIJIAN_LOG")
        .unwrap_or_default()
        .to_lowercase()
        .as_str()
    {
        "error" => LevelFilter::Error,
        "warn" => LevelFilter::Warn,
        "debug" => LevelFilter::Debug,
        "trace" => LevelFilter::Trace,
        "off" => LevelFilter::Off,
        _ => LevelFilter::Info,
    };
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    if log::set_boxed_logger(Box::new(Stderr { journal })).is_ok() {
        log::set_max_level(level);
    }
}
