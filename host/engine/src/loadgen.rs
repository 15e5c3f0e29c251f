//! Load mode: many requests, by count or duration, closed loop (`-c` workers) or open loop
//! (`--rate`: requests start on schedule whether or not earlier ones finished; each request's
//! clock starts at its scheduled time, so queueing delay is measured, not hidden).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{Client, RequestSpec};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Requests, used round-robin.
    pub requests: Vec<RequestSpec>,
    /// Stop after this many requests (`-n`).
    pub total: Option<u64>,
    /// Stop starting requests after this long (`--duration`).
    pub duration: Option<Duration>,
    /// Concurrent workers (`-c`); with `rate`, the most requests in flight.
    pub concurrency: usize,
    /// Open loop: requests started per second (`--rate`).
    pub rate: Option<f64>,
}

/// Live counters of a run, for progress display.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests finished.
    pub done: AtomicU64,
    /// Requests that failed (a transport error, not an HTTP status).
    pub errors: AtomicU64,
    /// Requests whose final response had a status of 400 or more.
    pub http_errors: AtomicU64,
    /// Open loop: requests that started more than [`LATE`] after their scheduled time (the
    /// in-flight limit was reached, or the machine could not keep up): k6's "dropped
    /// iterations", except that these still run, with the wait counted in their latency.
    pub late: AtomicU64,
    /// Open loop: the most any request started after its scheduled time, in ns.
    pub max_late_ns: AtomicU64,
    /// Responses whose first byte the engine read more than [`LAGGED`] after the kernel had
    /// it (the client was the bottleneck; see [`Outcome::client_lag`](crate::Outcome)).
    pub lagged: AtomicU64,
    /// The most client lag of any response, in ns.
    pub max_lag_ns: AtomicU64,
}

/// How much client lag a response may have before it counts as lagged.
pub const LAGGED: Duration = Duration::from_millis(1);

/// How late a request may start against its schedule before it counts as late.
pub const LATE: Duration = Duration::from_millis(1);

/// What a run did.
#[derive(Debug, Clone, Copy)]
pub struct LoadReport {
    /// Requests finished.
    pub done: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Requests whose final response had a status of 400 or more (`--fail`'s count).
    pub http_errors: u64,
    /// Open loop: requests that started later than [`LATE`] after their scheduled time.
    pub late: u64,
    /// Open loop: the most any request started late.
    pub max_late: Duration,
    /// Responses read more than [`LAGGED`] after the kernel had their first byte.
    pub lagged: u64,
    /// The most client lag of any response.
    pub max_lag: Duration,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Runs `plan` on `client` on the current tokio runtime, updating `counters` as requests finish.
pub async fn run(client: &Client, plan: &LoadPlan, counters: Arc<Counters>) -> LoadReport {
    let run = Run::new(plan, counters, 1);
    run.share(client, 0).await;
    run.report()
}

/// Runs `plan` on `client` on `threads` threads (at most one per worker), each with a
/// single-threaded tokio runtime and its share of the workers (`-c`) or of the schedule
/// (`--rate`), as oha does: a request, its connection's task and their timers stay on one
/// thread and wake each other without cross-thread hand-offs (a multi-threaded runtime spent
/// ~20 % more CPU per request on them). The pool hands each thread its own connections first; a
/// shared HTTP/2 connection is used from every thread. No runtime ends before every share is
/// done, since another thread may still be using a connection it drives.
pub fn run_threaded(client: &Client, plan: &LoadPlan, counters: Arc<Counters>, threads: usize) -> std::io::Result<LoadReport> {
    let threads = threads.clamp(1, plan.concurrency.max(1));
    let runtimes =
        (0..threads).map(|_| tokio::runtime::Builder::new_current_thread().enable_all().build()).collect::<std::io::Result<Vec<_>>>()?;
    let run = Run::new(plan, counters, threads);
    let all_done = AllDone::new(threads);
    let share = |rt: tokio::runtime::Runtime, i: usize, done: ShareDone<'_>| {
        rt.block_on(async {
            run.share(client, i).await;
            done.wait().await;
        });
    };
    std::thread::scope(|scope| -> std::io::Result<()> {
        // Every share's guard exists before any thread starts: if a thread cannot be started,
        // the guards of the shares that will not run are dropped, counting them done, so the
        // threads already running do not wait for them.
        let guards: Vec<ShareDone<'_>> = (0..threads).map(|_| all_done.guard()).collect();
        let mut shares = runtimes.into_iter().zip(guards).enumerate();
        let (_, (first, first_done)) = shares.next().expect("at least one runtime");
        for (i, (rt, done)) in shares {
            std::thread::Builder::new().name(format!("httptrace-load-{i}")).spawn_scoped(scope, move || share(rt, i, done))?;
        }
        share(first, 0, first_done);
        Ok(())
    })?;
    Ok(run.report())
}

/// What the shares of a run have in common.
struct Run {
    plan: LoadPlan,
    counters: Arc<Counters>,
    started: Instant,
    /// Open loop: the schedule's time 0, a moment after `started` so that the threads that
    /// keep it are running by then (else the first requests would start late).
    origin: Instant,
    deadline: Option<Instant>,
    limit: u64,
    /// Next request index (closed loop).
    next: AtomicU64,
    /// Requests in flight (open loop).
    permits: Arc<tokio::sync::Semaphore>,
    shares: usize,
}

impl Run {
    fn new(plan: &LoadPlan, counters: Arc<Counters>, shares: usize) -> Arc<Run> {
        let started = Instant::now();
        Arc::new(Run {
            plan: plan.clone(),
            counters,
            started,
            origin: started + Duration::from_millis(5),
            deadline: plan.duration.map(|d| started + d),
            limit: plan.total.unwrap_or(u64::MAX),
            next: AtomicU64::new(0),
            permits: Arc::new(tokio::sync::Semaphore::new(plan.concurrency.max(1))),
            shares: shares.max(1),
        })
    }

    fn report(&self) -> LoadReport {
        let c = &self.counters;
        LoadReport {
            done: c.done.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            http_errors: c.http_errors.load(Ordering::Relaxed),
            late: c.late.load(Ordering::Relaxed),
            max_late: Duration::from_nanos(c.max_late_ns.load(Ordering::Relaxed)),
            lagged: c.lagged.load(Ordering::Relaxed),
            max_lag: Duration::from_nanos(c.max_lag_ns.load(Ordering::Relaxed)),
            elapsed: self.started.elapsed(),
        }
    }

    /// Share `share` of `shares` on the current runtime: workers `share, share + shares, …` of
    /// `-c`, or requests `share, share + shares, …` of the `--rate` schedule.
    async fn share(self: &Arc<Self>, client: &Client, share: usize) {
        let mut tasks = tokio::task::JoinSet::new();
        match self.plan.rate {
            None => {
                for _ in (share..self.plan.concurrency.max(1)).step_by(self.shares) {
                    let (run, client) = (self.clone(), client.clone());
                    tasks.spawn(async move { run.worker(&client).await });
                }
            }
            Some(rate) => {
                // The schedule is kept by a thread of its own, which sleeps precisely and hands
                // each start over [`HANDOFF_LEAD`] early: tokio's timer has millisecond
                // granularity, and every request would start up to 1 ms late, counted as
                // `blocked`. The runtime, awake by then, waits out the rest (see `start_at`).
                let interval = Duration::from_secs_f64(1.0 / rate);
                let (tx, mut starts) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
                let (run, stop) = (self.clone(), client.clone());
                let ticker = std::thread::Builder::new().name(format!("httptrace-schedule-{share}")).spawn(move || {
                    precise_timer_slack();
                    let mut i = share as u64;
                    while i < run.limit {
                        let at = run.origin + interval.mul_f64(i as f64);
                        if run.deadline.is_some_and(|d| at >= d) || stop.is_stopped() {
                            break;
                        }
                        sleep_until(at.checked_sub(HANDOFF_LEAD).unwrap_or(at));
                        if tx.send((i, at)).is_err() {
                            break;
                        }
                        i += run.shares as u64;
                    }
                });
                if ticker.is_err() {
                    // No thread for the schedule: nothing starts (the report says none ran).
                    return;
                }
                while let Some((i, at)) = starts.recv().await {
                    if client.is_stopped() {
                        break;
                    }
                    let (run, client, permits) = (self.clone(), client.clone(), self.permits.clone());
                    let idx = (i % self.plan.requests.len() as u64) as usize;
                    tasks.spawn(async move {
                        let _permit = permits.acquire_owned().await;
                        if client.is_stopped() {
                            return;
                        }
                        start_at(at).await;
                        let late = at.elapsed();
                        if late > LATE {
                            run.counters.late.fetch_add(1, Ordering::Relaxed);
                            run.counters.max_late_ns.fetch_max(late.as_nanos() as u64, Ordering::Relaxed);
                        }
                        // The clock starts at the scheduled time: waiting for a slot counts.
                        let outcome = client.execute_at(&run.plan.requests[idx], at).await;
                        count(&run.counters, &outcome);
                    });
                    // Reap finished tasks so a long run does not hold them all.
                    while tasks.try_join_next().is_some() {}
                }
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// A closed-loop worker: the next request as soon as the last one ended.
    async fn worker(&self, client: &Client) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.limit || self.deadline.is_some_and(|d| Instant::now() >= d) || client.is_stopped() {
                break;
            }
            let spec = &self.plan.requests[(i % self.plan.requests.len() as u64) as usize];
            let outcome = client.execute(spec).await;
            count(&self.counters, &outcome);
        }
    }
}

/// How early the schedule's thread hands a start to the runtime: more than a sleeping thread
/// usually takes to wake (tens of µs on an idle machine, 2026-12-01), so the runtime is awake
/// when the start is due instead of waking late.
const HANDOFF_LEAD: Duration = Duration::from_micros(150);

/// Sleeps the thread until `at` (the kernel's sleep, its timer slack at 1 ns).
fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// Waits on the runtime until `at`, yielding to its other tasks between looks at the clock:
/// the last [`HANDOFF_LEAD`] before a scheduled start, finer than tokio's timer.
async fn start_at(at: Instant) {
    while Instant::now() < at {
        tokio::task::yield_now().await;
    }
}

/// Asks Linux to wake this thread's sleeps on time (its default timer slack is 50 µs).
fn precise_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_TIMERSLACK) takes a plain integer and affects only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

/// Holds every share's runtime open until the last share is done (or its thread unwound).
struct AllDone {
    left: AtomicUsize,
    notify: tokio::sync::Notify,
}

/// One share's part of [`AllDone`]: counts it done when waited on or dropped.
struct ShareDone<'a> {
    all: &'a AllDone,
    counted: bool,
}

impl AllDone {
    fn new(shares: usize) -> AllDone {
        AllDone { left: AtomicUsize::new(shares), notify: tokio::sync::Notify::new() }
    }

    fn guard(&self) -> ShareDone<'_> {
        ShareDone { all: self, counted: false }
    }
}

impl ShareDone<'_> {
    fn count(&mut self) {
        if !std::mem::replace(&mut self.counted, true) && self.all.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.all.notify.notify_waiters();
        }
    }

    /// Counts this share done, then waits (driving this thread's runtime) for every other.
    async fn wait(mut self) {
        let notified = self.all.notify.notified();
        tokio::pin!(notified);
        // Registered before counting, so the last share's notification cannot be missed.
        notified.as_mut().enable();
        self.count();
        if self.all.left.load(Ordering::Acquire) > 0 {
            notified.await;
        }
    }
}

impl Drop for ShareDone<'_> {
    fn drop(&mut self) {
        self.count();
    }
}

fn count(c: &Counters, outcome: &crate::Outcome) {
    c.done.fetch_add(1, Ordering::Relaxed);
    if outcome.error.is_some() {
        c.errors.fetch_add(1, Ordering::Relaxed);
    }
    if outcome.status.is_some_and(|s| s >= 400) {
        c.http_errors.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(lag) = outcome.client_lag {
        if lag > LAGGED {
            c.lagged.fetch_add(1, Ordering::Relaxed);
        }
        c.max_lag_ns.fetch_max(lag.as_nanos() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_that_never_ran_count_as_done() {
        // A thread that could not be started drops its share's guard: the others must not
        // wait for it.
        let all = AllDone::new(3);
        let guards: Vec<ShareDone<'_>> = (0..3).map(|_| all.guard()).collect();
        let mut guards = guards.into_iter();
        let (first, second) = (guards.next().unwrap(), guards.next().unwrap());
        drop(guards);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    tokio::time::timeout(Duration::from_secs(10), second.wait()).await.expect("second share left waiting")
                });
            });
            rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), first.wait()).await.expect("first share left waiting") });
        });
        assert_eq!(all.left.load(Ordering::Acquire), 0);
    }
}
