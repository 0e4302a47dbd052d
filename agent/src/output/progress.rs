//! Progress of a long content scan on stderr (issue 18), drawn by indicatif
//! from the scanner's live counters (`mijian_scanner::pipeline::Progress`):
//! files and bytes done, the current rate and an estimate of the time left.
//! Only when stderr is a terminal; nothing at all otherwise (logs, pipes,
//! the daemon). The walk runs ahead of the analysis, so until it has
//! finished the total is a lower bound and the estimate is marked `≥`.

use super::lang::Lang;
use super::table::bytes;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mijian_scanner::pipeline::Progress;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A running progress display; stops and clears itself when dropped.
pub struct Display {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Display {
    /// Start drawing `progress` on stderr, if stderr is a terminal.
    pub fn start(progress: Arc<Progress>, lang: Lang) -> Option<Display> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || draw(&progress, &s, lang))
            .ok()?;
        Some(Display {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn draw(p: &Progress, stop: &AtomicBool, lang: Lang) {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let start = Instant::now();
    // The rate over the last few seconds, not since the start: a cache-hit
    // prefix would otherwise promise far too much.
    let mut window: std::collections::VecDeque<(Instant, u64)> = Default::default();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        // A short scan shows nothing.
        if start.elapsed() < Duration::from_secs(1) {
            continue;
        }
        let now = Instant::now();
        let files = p.files_done.load(Ordering::Relaxed);
        let done = p.bytes_done.load(Ordering::Relaxed);
        let found_files = p.files_found.load(Ordering::Relaxed);
        let found = p.bytes_found.load(Ordering::Relaxed);
        let walked = p.walk_done.load(Ordering::Relaxed);
        window.push_back((now, done));
        while window.len() > 2 && now.duration_since(window[0].0) > Duration::from_secs(5) {
            window.pop_front();
        }
        let rate = match window.front() {
            Some((t0, b0)) if now.duration_since(*t0) > Duration::from_millis(200) => {
                (done - b0) as f64 / now.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        };
        let left = found.saturating_sub(done);
        let eta = if rate > 0.0 {
            let secs = left as f64 / rate;
            let ge = if walked { "" } else { "≥" };
            format!("{ge}{}", clock(secs as u64))
        } else {
            "?".into()
        };
        let total = if walked {
            found_files.to_string()
        } else {
            format!("{found_files}+")
        };
        let msg = match lang {
            Lang::Zh => format!(
                "内容扫描：{files}/{total} 个文件，{}/{}，{}/秒，预计还需 {eta}（已用 {}）",
                bytes(done),
                bytes(found),
                bytes(rate as u64),
                clock(start.elapsed().as_secs())
            ),
            Lang::En => format!(
                "scanning: {files}/{total} files, {}/{}, {}/s, {eta} left ({} elapsed)",
                bytes(done),
                bytes(found),
                bytes(rate as u64),
                clock(start.elapsed().as_secs())
            ),
        };
        bar.set_message(msg);
        bar.tick();
    }
    bar.finish_and_clear();
}

fn clock(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}
