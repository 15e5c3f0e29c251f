//! k6-style thresholds: `p95(wait)<200ms`, `max(total)<=1s`, `mean(dns)<5ms`.

use httptrace_guest::parse_duration;

/// The phases a threshold (and the table) can name.
pub const PHASES: [&str; 8] = ["blocked", "dns", "connect", "tls", "send", "wait", "receive", "total"];

/// A statistic of a phase's distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Arithmetic mean.
    Mean,
    /// A percentile, 0–100.
    Percentile(f64),
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

/// One parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As the user wrote it (spaces removed).
    pub text: String,
    /// The statistic.
    pub stat: Stat,
    /// Index into [`PHASES`].
    pub phase: usize,
    /// The comparison.
    pub op: Op,
    /// The limit, in nanoseconds.
    pub limit_ns: u64,
}

impl Threshold {
    /// Parses `STAT(PHASE)OP VALUE` with STAT one of p50…p99.9 (any `pNN[.N]`), min, max,
    /// mean (or avg, med = p50), OP one of `<`, `<=`, `>`, `>=`, VALUE a duration with unit.
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let bad = |why: String| format!("threshold `{text}`: {why}");
        let open = t.find('(').ok_or_else(|| bad("expected STAT(PHASE)<VALUE, e.g. p95(wait)<200ms".into()))?;
        let close = t.find(')').ok_or_else(|| bad("missing `)`".into()))?;
        if close < open {
            return Err(bad("expected STAT(PHASE)<VALUE".into()));
        }
        let stat = match &t[..open] {
            "min" => Stat::Min,
            "max" => Stat::Max,
            "mean" | "avg" => Stat::Mean,
            "med" => Stat::Percentile(50.0),
            s => match s.strip_prefix('p').and_then(|p| p.parse::<f64>().ok()) {
                Some(p) if (0.0..=100.0).contains(&p) => Stat::Percentile(p),
                _ => return Err(bad(format!("unknown statistic `{s}` (use p50, p90, p95, p99, p99.9, min, max, mean)"))),
            },
        };
        let name = &t[open + 1..close];
        let name = if name == "ssl" { "tls" } else { name };
        let phase =
            PHASES.iter().position(|p| *p == name).ok_or_else(|| bad(format!("unknown phase `{name}` (use {})", PHASES.join(", "))))?;
        let rest = &t[close + 1..];
        let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Op::Lt, v)
        } else if let Some(v) = rest.strip_prefix('>') {
            (Op::Gt, v)
        } else {
            return Err(bad("expected one of <, <=, >, >= after the phase".into()));
        };
        let limit_ns = parse_duration(value).map_err(bad)?;
        Ok(Threshold { text: t, stat, phase, op, limit_ns })
    }

    /// Whether `measured_ns` satisfies the threshold.
    pub fn holds(&self, measured_ns: f64) -> bool {
        let limit = self.limit_ns as f64;
        match self.op {
            Op::Lt => measured_ns < limit,
            Op::Le => measured_ns <= limit,
            Op::Gt => measured_ns > limit,
            Op::Ge => measured_ns >= limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_style_thresholds() {
        let t = Threshold::parse("p95(wait) < 200ms").unwrap();
        assert_eq!((t.stat, t.phase, t.op, t.limit_ns), (Stat::Percentile(95.0), 5, Op::Lt, 200_000_000));
        assert_eq!(Threshold::parse("p99.9(total)<=1s").unwrap().stat, Stat::Percentile(99.9));
        assert_eq!(Threshold::parse("max(dns)>=10us").unwrap().op, Op::Ge);
        assert_eq!(Threshold::parse("mean(ssl)>5ns").unwrap().phase, 3);
        for bad in ["p95(wait)", "p95(nope)<1ms", "q5(wait)<1ms", "p95(wait)<1", "p95(wait)=1ms", "wait<1ms"] {
            assert!(Threshold::parse(bad).is_err(), "{bad}");
        }
        assert!(Threshold::parse("p95(wait)<200ms").unwrap().holds(199e6));
        assert!(!Threshold::parse("p95(wait)<200ms").unwrap().holds(200e6));
    }
}
