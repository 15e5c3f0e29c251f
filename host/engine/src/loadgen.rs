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
}

/// What a run did.
#[derive(Debug, Clone, Copy)]
pub struct LoadReport {
    /// Requests finished.
    pub done: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Requests whose final response had a status of 400 or more (`--fail`'s count).
    pub http_errors: u64,
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
                let interval = Duration::from_secs_f64(1.0 / rate);
                let mut i = share as u64;
                while i < self.limit {
                    let at = self.started + interval.mul_f64(i as f64);
                    if self.deadline.is_some_and(|d| at >= d) || client.is_stopped() {
                        break;
                    }
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
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
                        // The clock starts at the scheduled time: waiting for a slot counts.
                        let outcome = client.execute_at(&run.plan.requests[idx], at).await;
                        count(&run.counters, &outcome);
                    });
                    i += self.shares as u64;
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
