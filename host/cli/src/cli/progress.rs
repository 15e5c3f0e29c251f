//! The progress bar of load runs: on stderr, only on a terminal, only once a run has lasted
//! more than a moment, never with `-q`. Shows done/total, req/s, errors, elapsed and ETA.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use httptrace::loadgen::Counters;

/// Runs become visible after this long.
const SHOW_AFTER: Duration = Duration::from_millis(400);

/// A running progress display; [`Progress::finish`] clears it.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing (if stderr is a terminal and not `quiet`) for a run of `total`
    /// requests or `duration`.
    pub fn start(counters: Arc<Counters>, total: Option<u64>, duration: Option<Duration>, quiet: bool) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        if quiet || !std::io::stderr().is_terminal() {
            return Progress { stop, thread: None };
        }
        let flag = stop.clone();
        let thread = std::thread::spawn(move || draw(counters, total, duration, flag));
        Progress { stop, thread: Some(thread) }
    }

    /// Stops and clears the bar.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn draw(counters: Arc<Counters>, total: Option<u64>, duration: Option<Duration>, stop: Arc<AtomicBool>) {
    let started = Instant::now();
    let bar = match (total, duration) {
        (Some(n), _) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::hidden()),
        (None, Some(d)) => ProgressBar::with_draw_target(Some(d.as_millis() as u64), ProgressDrawTarget::hidden()),
        (None, None) => ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
    };
    let template = if total.is_some() {
        "{bar:30} {pos}/{len} requests  {msg}  {elapsed} elapsed, ETA {eta}"
    } else {
        "{bar:30} {msg}  {elapsed} elapsed, ETA {eta}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    let mut shown = false;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let elapsed = started.elapsed();
        if !shown && elapsed >= SHOW_AFTER {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            shown = true;
        }
        let done = counters.done.load(Ordering::Relaxed);
        let errors = counters.errors.load(Ordering::Relaxed);
        let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
        if total.is_some() {
            bar.set_position(done);
            bar.set_message(format!("{rate:.0} req/s, {errors} errors"));
        } else {
            bar.set_position(elapsed.as_millis() as u64);
            bar.set_message(format!("{done} requests, {rate:.0} req/s, {errors} errors"));
        }
    }
    bar.finish_and_clear();
}
