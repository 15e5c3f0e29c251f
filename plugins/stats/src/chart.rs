//! Terminal pictures: the oha-style histogram of the total time, the requests/s sparkline,
//! byte counts and ANSI colour.

use hdrhistogram::Histogram;

/// ANSI colours.
pub const GREEN: &str = "\x1b[32m";
pub const CYAN: &str = "\x1b[36m";
pub const YELLOW: &str = "\x1b[33m";
pub const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// Whether to colour, as the host's `color()` says.
#[derive(Debug, Clone, Copy)]
pub struct Paint(pub bool);

impl Paint {
    /// `text` in colour `code` when painting, else as it is.
    pub fn on(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }
}

/// Bars in the histogram (oha's 11: the minimum, then ten equal steps up to the maximum).
const BINS: usize = 11;
/// The longest bar, in characters.
const BAR: usize = 32;

/// The histogram of `hist` in [`BINS`] buckets from `min_ns` to `max_ns`: (upper bound in ns,
/// count). Bucket 0 holds the minimum, bucket i the values in (bound i-1, bound i]; the counts
/// add up to the histogram's count.
pub fn buckets(hist: &Histogram<u64>, min_ns: u64, max_ns: u64) -> Vec<(u64, u64)> {
    if hist.is_empty() {
        return vec![];
    }
    if max_ns <= min_ns {
        return vec![(max_ns, hist.len())];
    }
    let step = (max_ns - min_ns) as f64 / (BINS - 1) as f64;
    let mut counts = [0u64; BINS];
    for v in hist.iter_recorded() {
        // The bottom of the value's equivalence range (so the minimum lands in bucket 0), kept
        // inside the observed extremes.
        let value = hist.lowest_equivalent(v.value_iterated_to()).clamp(min_ns, max_ns);
        let i = (((value - min_ns) as f64 / step).ceil() as usize).min(BINS - 1);
        counts[i] += v.count_at_value();
    }
    counts.iter().enumerate().map(|(i, &n)| ((min_ns as f64 + step * i as f64) as u64, n)).collect()
}

/// The histogram's lines: `  12.345 [  17] |■■■■`, bars scaled to the largest bucket.
pub fn histogram(buckets: &[(u64, u64)], p: Paint) -> String {
    let most = buckets.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let count_width = most.to_string().len();
    let mut out = String::new();
    for &(le, n) in buckets {
        let bar = "■".repeat((BAR as u64 * n / most) as usize);
        out.push_str(&format!("  {:>10.3} [{n:>count_width$}] |{}\n", le as f64 / 1e6, p.on(GREEN, &bar)));
    }
    out
}

/// `n` bytes for people: `512 B`, `1.50 KiB`, `12.3 MiB`, `1.07 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let digits = if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    format!("{v:.digits$} {}", UNITS[unit])
}

/// Most intervals kept: past this, intervals double in length (pairs merged), so memory stays
/// bounded however long the run.
const MAX_INTERVALS: usize = 4096;
/// Most characters in the sparkline.
const SPARK_WIDTH: usize = 60;
const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Requests completed per interval (1 s, doubled as the run grows past [`MAX_INTERVALS`]).
#[derive(Debug)]
pub struct PerSecond {
    /// Wall-clock start of the run (ns since the epoch), fixed by the first request recorded.
    base: Option<u64>,
    interval_ns: u64,
    counts: Vec<u64>,
}

impl Default for PerSecond {
    fn default() -> Self {
        PerSecond { base: None, interval_ns: 1_000_000_000, counts: vec![] }
    }
}

impl PerSecond {
    /// Counts a request of the run that started at `run_start` (ns since the epoch) and that
    /// ended at `end`.
    pub fn record(&mut self, run_start: u64, end: u64) {
        let base = *self.base.get_or_insert(run_start);
        let mut i = (end.saturating_sub(base) / self.interval_ns) as usize;
        while i >= MAX_INTERVALS {
            self.counts = self.counts.chunks(2).map(|c| c.iter().sum()).collect();
            self.interval_ns *= 2;
            i /= 2;
        }
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
    }

    /// Requests per second in each whole interval of a run that lasted `elapsed_s` (a last,
    /// partial interval is left out: its rate would read low), and the interval in seconds.
    fn rates(&self, elapsed_s: f64) -> (Vec<f64>, f64) {
        let secs = self.interval_ns as f64 / 1e9;
        let whole = ((elapsed_s / secs) as usize).min(self.counts.len());
        (self.counts[..whole].iter().map(|&n| n as f64 / secs).collect(), secs)
    }

    /// `requests/s   ▃▅▇█▇▆  812 .. 1043 per s, 1 s a mark` for a run of two whole intervals
    /// or more; `None` for a shorter one.
    pub fn sparkline(&self, elapsed_s: f64, p: Paint) -> Option<String> {
        let (rates, secs) = self.rates(elapsed_s);
        if rates.len() < 2 {
            return None;
        }
        let per_mark = rates.len().div_ceil(SPARK_WIDTH);
        let marks: Vec<f64> = rates.chunks(per_mark).map(|c| c.iter().sum::<f64>() / c.len() as f64).collect();
        let lo = marks.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = marks.iter().cloned().fold(0.0, f64::max);
        let line: String = marks
            .iter()
            .map(|&r| {
                let level = if hi > lo { ((r - lo) / (hi - lo) * 7.0 + 0.5) as usize } else { 7 };
                SPARKS[level.min(7)]
            })
            .collect();
        Some(format!("requests/s   {}  {lo:.0} .. {hi:.0}, {} s a mark\n", p.on(CYAN, &line), secs * per_mark as f64))
    }

    /// The interval in seconds and the requests/s of each whole interval, for `format=json`.
    pub fn to_json(&self, elapsed_s: f64) -> serde_json::Value {
        let (rates, secs) = self.rates(elapsed_s);
        serde_json::json!({ "interval_s": secs, "rps": rates })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_add_up_and_follow_oha() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        h.auto(true);
        let values: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        for &v in &values {
            h.record(v).unwrap();
        }
        let b = buckets(&h, 1_000_000, 100_000_000);
        assert_eq!(b.len(), BINS);
        assert_eq!(b.iter().map(|x| x.1).sum::<u64>(), 100);
        assert_eq!(b[0], (1_000_000, 1), "the minimum alone");
        assert_eq!(b[10].0, 100_000_000);
        // (1, 10.9], (10.9, 20.8], ...: ten values each, give or take the bounds.
        assert!(b[1..].iter().all(|x| (9..=11).contains(&x.1)), "{b:?}");
        let one = buckets(&h, 5, 5);
        assert_eq!(one, vec![(5, 100)]);
    }

    #[test]
    fn histogram_lines_scale_to_the_largest_bucket() {
        let text = histogram(&[(1_000_000, 2), (2_000_000, 8), (3_000_000, 0)], Paint(false));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "       1.000 [2] |■■■■■■■■");
        assert_eq!(lines[1], format!("       2.000 [8] |{}", "■".repeat(32)));
        assert_eq!(lines[2], "       3.000 [0] |");
        assert!(histogram(&[(1, 1)], Paint(true)).contains("\x1b[32m■"));
    }

    #[test]
    fn bytes_read_like_people_write_them() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(bytes(12_900_000), "12.3 MiB");
        assert_eq!(bytes(300 << 30), "300 GiB");
    }

    #[test]
    fn per_second_counts_whole_intervals_and_stays_bounded() {
        let s = 1_000_000_000u64;
        let mut p = PerSecond::default();
        for (sec, n) in [(0, 10), (1, 20), (2, 5)] {
            for k in 0..n {
                p.record(7 * s, 7 * s + sec * s + k);
            }
        }
        // 2.5 s: the third interval is partial and left out.
        assert_eq!(p.rates(2.5), (vec![10.0, 20.0], 1.0));
        let line = p.sparkline(2.5, Paint(false)).unwrap();
        assert_eq!(line, "requests/s   ▁█  10 .. 20, 1 s a mark\n");
        assert!(p.sparkline(1.5, Paint(false)).is_none());
        // Two hours of one request a second: intervals double, memory stays bounded.
        let mut long = PerSecond::default();
        for sec in 0..7200 {
            long.record(0, sec * s);
        }
        assert!(long.counts.len() <= MAX_INTERVALS && long.interval_ns == 2 * s);
        assert_eq!(long.counts.iter().sum::<u64>(), 7200);
        let (rates, secs) = long.rates(7200.0);
        assert_eq!((rates.len(), secs), (3600, 2.0));
        assert!(rates.iter().all(|&r| r == 1.0));
        let spark = long.sparkline(7200.0, Paint(false)).unwrap();
        assert!(spark.contains(", 120 s a mark"), "{spark}");
        assert_eq!(spark.chars().filter(|c| SPARKS.contains(c)).count(), 60);
    }
}
