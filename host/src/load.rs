//! Load mode: many requests, by count or duration, closed loop (`-c` workers) or open loop
//! (`--rate`: requests start on schedule whether or not earlier ones finished; each request's
//! clock starts at its scheduled time, so queueing delay is measured, not hidden).

use std::sync::atomic::{AtomicU64, Ordering};
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
}

/// What a run did.
#[derive(Debug, Clone, Copy)]
pub struct LoadReport {
    /// Requests finished.
    pub done: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Runs `plan` on `client`, updating `counters` as requests finish.
pub async fn run(client: &Client, plan: &LoadPlan, counters: Arc<Counters>) -> LoadReport {
    let started = Instant::now();
    let deadline = plan.duration.map(|d| started + d);
    let limit = plan.total.unwrap_or(u64::MAX);
    let plan = Arc::new(plan.clone());
    let mut tasks = tokio::task::JoinSet::new();
    match plan.rate {
        None => {
            let next = Arc::new(AtomicU64::new(0));
            for _ in 0..plan.concurrency.max(1) {
                let (client, plan, next, counters) = (client.clone(), plan.clone(), next.clone(), counters.clone());
                tasks.spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= limit || deadline.is_some_and(|d| Instant::now() >= d) {
                            break;
                        }
                        let spec = &plan.requests[(i % plan.requests.len() as u64) as usize];
                        let outcome = client.execute(spec).await;
                        count(&counters, outcome.error.is_some());
                    }
                });
            }
        }
        Some(rate) => {
            let permits = Arc::new(tokio::sync::Semaphore::new(plan.concurrency.max(1)));
            let interval = Duration::from_secs_f64(1.0 / rate);
            let mut i = 0u64;
            while i < limit {
                let at = started + interval.mul_f64(i as f64);
                if deadline.is_some_and(|d| at >= d) {
                    break;
                }
                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                let (client, plan, counters, permits) = (client.clone(), plan.clone(), counters.clone(), permits.clone());
                let idx = (i % plan.requests.len() as u64) as usize;
                tasks.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    // The clock starts at the scheduled time: waiting for a slot counts.
                    let outcome = client.execute_at(&plan.requests[idx], at).await;
                    count(&counters, outcome.error.is_some());
                });
                i += 1;
                // Reap finished tasks so a long run does not hold them all.
                while tasks.try_join_next().is_some() {}
            }
        }
    }
    while tasks.join_next().await.is_some() {}
    LoadReport { done: counters.done.load(Ordering::Relaxed), errors: counters.errors.load(Ordering::Relaxed), elapsed: started.elapsed() }
}

fn count(c: &Counters, failed: bool) {
    c.done.fetch_add(1, Ordering::Relaxed);
    if failed {
        c.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Parses a rate like `100`, `100/s`, `6000/m`.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let (num, per) = s.split_once('/').unwrap_or((s, "s"));
    let v: f64 = num.trim().parse().map_err(|_| format!("--rate '{s}': expected N/s"))?;
    let per_s = match per.trim() {
        "s" | "1s" => v,
        "m" | "1m" => v / 60.0,
        "h" | "1h" => v / 3600.0,
        other => return Err(format!("--rate '{s}': unknown period '{other}' (use /s, /m, /h)")),
    };
    if !per_s.is_finite() || per_s <= 0.0 {
        return Err(format!("--rate '{s}': must be positive"));
    }
    // The interval between requests must stay a representable time limit.
    if 1.0 / per_s > crate::flags::MAX_SECONDS {
        return Err(format!("--rate '{s}': too slow (at least one request per {:e} seconds)", crate::flags::MAX_SECONDS));
    }
    Ok(per_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!(parse_rate("100/s").unwrap(), 100.0);
        assert_eq!(parse_rate("60/m").unwrap(), 1.0);
        assert!(parse_rate("0").is_err());
        // Used to panic: an interval too long for `Duration`.
        assert!(parse_rate("1e-300").is_err());
    }
}
