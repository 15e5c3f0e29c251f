//! The load run's aggregates: a histogram per phase, and per interval of the run a count and
//! a histogram of the total time.

use hdrhistogram::Histogram;

/// Bars of a phase histogram.
pub const LOG_BUCKETS: usize = 24;
/// Most intervals kept; past this they double in length (pairs merged).
pub const MAX_INTERVALS: usize = 600;

fn histogram(sigfig: u8) -> Histogram<u64> {
    let mut h = Histogram::new(sigfig).expect("valid histogram");
    h.auto(true);
    h
}

/// One phase's durations (ns).
pub struct PhaseHist {
    pub hist: Histogram<u64>,
    pub min: u64,
    pub max: u64,
}

impl PhaseHist {
    pub fn new() -> PhaseHist {
        PhaseHist { hist: histogram(3), min: u64::MAX, max: 0 }
    }

    /// Records `ms` (ignored when negative: the phase did not happen).
    pub fn record(&mut self, ms: f64) {
        if ms < 0.0 || !ms.is_finite() {
            return;
        }
        let ns = (ms * 1e6 + 0.5) as u64;
        let _ = self.hist.record(ns);
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The `q` quantile (0..=1) in ms.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        (self.hist.value_at_quantile(q).clamp(self.min, self.max)) as f64 / 1e6
    }

    /// Bars on a logarithmic time axis from the minimum to the maximum (the minimum taken as
    /// at least 1 µs): (lower bound ns, upper bound ns, count), counts adding up to
    /// [`count`](Self::count).
    pub fn log_buckets(&self) -> Vec<(u64, u64, u64)> {
        if self.count() == 0 {
            return vec![];
        }
        let lo = self.min.max(1_000) as f64;
        let hi = (self.max as f64).max(lo * 1.001);
        let ratio = (hi / lo).ln() / LOG_BUCKETS as f64;
        let edge = |i: usize| (lo * (ratio * i as f64).exp()) as u64;
        let mut counts = [0u64; LOG_BUCKETS];
        for v in self.hist.iter_recorded() {
            let value = (self.hist.lowest_equivalent(v.value_iterated_to()) as f64).clamp(lo, hi);
            let i = (((value / lo).ln() / ratio) as usize).min(LOG_BUCKETS - 1);
            counts[i] += v.count_at_value();
        }
        (0..LOG_BUCKETS).map(|i| (edge(i), edge(i + 1), counts[i])).collect()
    }
}

/// Requests per interval of the run, with their total times.
pub struct Timeline {
    base: Option<u64>,
    pub interval_ns: u64,
    pub intervals: Vec<Histogram<u64>>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline { base: None, interval_ns: 1_000_000_000, intervals: vec![] }
    }
}

impl Timeline {
    /// Counts a request of the run that started at `run_start` (ns since the epoch), ended at
    /// `end` and took `total_ms`.
    pub fn record(&mut self, run_start: u64, end: u64, total_ms: f64) {
        let base = *self.base.get_or_insert(run_start);
        let mut i = (end.saturating_sub(base) / self.interval_ns) as usize;
        while i >= MAX_INTERVALS {
            let merged = self
                .intervals
                .chunks_mut(2)
                .map(|pair| {
                    let mut h = std::mem::replace(&mut pair[0], histogram(2));
                    if let Some(b) = pair.get(1) {
                        let _ = h.add(b);
                    }
                    h
                })
                .collect();
            self.intervals = merged;
            self.interval_ns *= 2;
            i /= 2;
        }
        while self.intervals.len() <= i {
            self.intervals.push(histogram(2));
        }
        let _ = self.intervals[i].record((total_ms.max(0.0) * 1e6) as u64);
    }

    /// Per whole interval of a run that lasted `elapsed_ns`: (requests/s, p50, p95, p99 in
    /// ms). A last, partial interval is left out (its rate would read low), unless it is the
    /// only one.
    pub fn series(&self, elapsed_ns: u64) -> Vec<(f64, f64, f64, f64)> {
        let whole = ((elapsed_ns / self.interval_ns) as usize).clamp(1, self.intervals.len().max(1)).min(self.intervals.len());
        let secs = self.interval_ns as f64 / 1e9;
        self.intervals[..whole]
            .iter()
            .map(|h| {
                let q = |q: f64| if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1e6 };
                (h.len() as f64 / secs, q(0.5), q(0.95), q(0.99))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_buckets_add_up_and_span_min_to_max() {
        let mut p = PhaseHist::new();
        for ms in [0.05, 0.1, 0.2, 1.0, 5.0, 20.0, 20.0, 100.0] {
            p.record(ms);
        }
        p.record(-1.0);
        let b = p.log_buckets();
        assert_eq!(b.len(), LOG_BUCKETS);
        assert_eq!(b.iter().map(|x| x.2).sum::<u64>(), 8);
        assert_eq!(b[0].0, 50_000);
        assert!((b[LOG_BUCKETS - 1].1 as f64 - 100e6).abs() < 100e6 * 0.01, "{b:?}");
        assert!(b.windows(2).all(|w| w[0].1 == w[1].0));
        assert_eq!(b[0].2, 1, "the minimum in the first bar");
        assert_eq!(b[LOG_BUCKETS - 1].2, 1, "the maximum in the last");
    }

    #[test]
    fn timeline_counts_per_second_and_merges_when_long() {
        let s = 1_000_000_000;
        let mut t = Timeline::default();
        for i in 0..30 {
            t.record(0, i * s / 10, 5.0);
        }
        let series = t.series(3 * s);
        assert_eq!(series.len(), 3);
        assert!(series.iter().all(|x| x.0 == 10.0 && (x.1 - 5.0).abs() < 0.1));
        let mut long = Timeline::default();
        for i in 0..1300 {
            long.record(0, i * s, 1.0);
        }
        assert!(long.intervals.len() <= MAX_INTERVALS && long.interval_ns == 4 * s);
        assert_eq!(long.intervals.iter().map(|h| h.len()).sum::<u64>(), 1300);
    }
}
