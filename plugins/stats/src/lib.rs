//! `stats`: per-phase latency histograms (blocked, dns, connect, tls, send, wait, receive,
//! total) with min, mean, p50, p90, p95, p99, p99.9 and max; requests per second; status and
//! error distributions; connections opened vs reused; bytes and throughput; an oha-style
//! histogram of the total time; for runs of 2 s or more, requests/s over time as a sparkline.
//! Histograms and per-second counters, not lists: memory stays flat however many requests run.
//!
//! Config: `format=text|json` (default text); `threshold=STAT(PHASE)OP VALUE` (repeatable), e.g.
//! `threshold=p95(wait)<200ms` — a broken one is reported (output and stderr) and fails the
//! run (exit 99).

mod chart;
mod threshold;

use std::collections::{BTreeMap, HashMap};

use chart::{Paint, PerSecond};
use hdrhistogram::Histogram;
use httptrace_guest::{color, emit, log, Config, Event, EventKind, EventType, Interest, Level, Plugin, RunOutcome, Timings, Verdict};
use threshold::{Stat, Threshold, PHASES};

/// Percentiles in the table, in order.
const PERCENTILES: [(&str, f64); 5] = [("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p99.9", 99.9)];

struct PhaseStats {
    hist: Histogram<u64>,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

impl PhaseStats {
    fn new() -> PhaseStats {
        // 1 ns .. auto-resized, 3 significant digits: percentiles within 0.1 %.
        let mut hist = Histogram::new(3).expect("valid histogram");
        hist.auto(true);
        PhaseStats { hist, sum_ns: 0, min_ns: u64::MAX, max_ns: 0 }
    }

    fn record(&mut self, ms: f64) {
        if ms < 0.0 || !ms.is_finite() {
            return; // -1: the phase did not happen in this request.
        }
        // Non-negative here: half-up by hand (`f64::round` is a libm call in wasm).
        let ns = (ms * 1e6 + 0.5) as u64;
        let _ = self.hist.record(ns);
        self.sum_ns += u128::from(ns);
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    fn count(&self) -> u64 {
        self.hist.len()
    }

    /// A statistic in nanoseconds (0 when nothing was recorded).
    fn stat(&self, s: Stat) -> f64 {
        if self.count() == 0 {
            return 0.0;
        }
        match s {
            Stat::Min => self.min_ns as f64,
            Stat::Max => self.max_ns as f64,
            Stat::Mean => self.sum_ns as f64 / self.count() as f64,
            Stat::Percentile(p) => (self.hist.value_at_quantile(p / 100.0) as f64).min(self.max_ns as f64),
        }
    }
}

struct Stats {
    json: bool,
    thresholds: Vec<Threshold>,
    phases: Vec<PhaseStats>,
    requests: u64,
    status: BTreeMap<u16, u64>,
    errors: BTreeMap<String, u64>,
    opened: u64,
    reused: u64,
    /// Wall-clock start (ns since the epoch) of the request whose events are arriving: a
    /// request's events come whole and in order, so this is the one `request-done` ends.
    current: Option<(u64, u64)>,
    /// Starts of other requests still running, should events of several ever interleave.
    started: HashMap<u64, u64>,
    first_start: Option<u64>,
    last_end: Option<u64>,
    /// Response bytes received (header block and body, as counted on the wire by the host).
    bytes_in: u64,
    /// Request body bytes written.
    bytes_out: u64,
    /// Requests completed per second of the run.
    per_second: PerSecond,
    /// The client's lag on each response the kernel stamped: how long after the kernel had
    /// its first byte the engine read it (already left out of `wait`).
    lag: PhaseStats,
}

/// Client lag (p99, ms) above which the report warns that the client was the bottleneck.
const LAG_WARN_MS: f64 = 1.0;

fn phase_values(t: &Timings) -> [f64; 8] {
    [
        t.blocked,
        t.dns,
        if t.connect >= 0.0 && t.ssl >= 0.0 { t.connect - t.ssl } else { t.connect },
        t.ssl,
        t.send,
        t.wait,
        t.receive,
        t.total,
    ]
}

impl Plugin for Stats {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&["format", "threshold"])?;
        let json = match config.get("format").unwrap_or("text") {
            "text" => false,
            "json" => true,
            other => return Err(format!("config `format`: invalid value `{other}`: use text or json")),
        };
        let thresholds = config.all("threshold").map(Threshold::parse).collect::<Result<Vec<_>, _>>()?;
        Ok(Stats {
            json,
            thresholds,
            phases: PHASES.iter().map(|_| PhaseStats::new()).collect(),
            lag: PhaseStats::new(),
            requests: 0,
            status: BTreeMap::new(),
            errors: BTreeMap::new(),
            opened: 0,
            reused: 0,
            current: None,
            started: HashMap::new(),
            first_start: None,
            last_end: None,
            bytes_in: 0,
            bytes_out: 0,
            per_second: PerSecond::default(),
        })
    }

    fn interest(&self) -> Interest {
        // Bytes come from `request-done`'s hops (0.7.0): no interest in `wrote-request`,
        // `response-headers` or `response-done`, whose crossing cost a load run ~8 % of its
        // client time.
        Interest::of(&[EventType::RequestStart, EventType::GotConn, EventType::RequestDone])
    }

    fn on_event(&mut self, ev: &Event) -> Verdict {
        match &ev.kind {
            EventKind::RequestStart(s) if ev.hop == 0 => {
                let wall_start = s.wall_unix_ns.saturating_sub(ev.at_ns);
                if let Some((id, start)) = self.current.replace((ev.request, wall_start)) {
                    self.started.insert(id, start);
                }
                self.first_start = Some(self.first_start.map_or(wall_start, |f| f.min(wall_start)));
            }
            EventKind::GotConn(c) => {
                if c.reused {
                    self.reused += 1;
                } else {
                    self.opened += 1;
                }
            }
            EventKind::RequestDone(d) => {
                self.requests += 1;
                for h in &d.hops {
                    self.bytes_out += h.bytes.request_body;
                    self.bytes_in += h.bytes.response_headers + h.bytes.response_body;
                }
                for (stats, v) in self.phases.iter_mut().zip(phase_values(&d.timings)) {
                    stats.record(v);
                }
                if let Some(ns) = d.client_lag_ns {
                    self.lag.record(ns as f64 / 1e6);
                }
                if let Some(s) = d.status {
                    *self.status.entry(s).or_default() += 1;
                }
                if let Some(e) = &d.error {
                    *self.errors.entry(format!("{}/{}", e.phase.as_str(), e.kind)).or_default() += 1;
                }
                let start = match self.current {
                    Some((id, start)) if id == ev.request => self.current.take().map(|_| start),
                    _ => self.started.remove(&ev.request),
                };
                if let Some(start) = start {
                    let end = start + ev.at_ns;
                    self.last_end = Some(self.last_end.map_or(end, |l| l.max(end)));
                    self.per_second.record(self.first_start.unwrap_or(start), end);
                }
            }
            _ => {}
        }
        Verdict::Keep
    }

    fn finish(&mut self) -> Result<RunOutcome, String> {
        let results: Vec<(&Threshold, f64, bool)> = self
            .thresholds
            .iter()
            .map(|t| {
                let v = self.phases[t.phase].stat(t.stat);
                (t, v, t.holds(v))
            })
            .collect();
        let text = if self.json { self.render_json(&results) } else { self.render_text(&results) };
        emit(&text);
        let mut outcome = RunOutcome::Pass;
        for (t, v, ok) in &results {
            if !ok {
                log(Level::Error, &format!("threshold {} failed: measured {:.3}ms", t.text, v / 1e6));
                outcome = RunOutcome::Fail;
            }
        }
        Ok(outcome)
    }
}

impl Stats {
    fn elapsed_s(&self) -> f64 {
        match (self.first_start, self.last_end) {
            (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
            _ => 0.0,
        }
    }

    fn rps(&self) -> f64 {
        let s = self.elapsed_s();
        if s > 0.0 {
            self.requests as f64 / s
        } else {
            0.0
        }
    }

    /// Bytes received per second of the run.
    fn throughput(&self) -> f64 {
        let s = self.elapsed_s();
        if s > 0.0 {
            self.bytes_in as f64 / s
        } else {
            0.0
        }
    }

    fn render_text(&self, results: &[(&Threshold, f64, bool)]) -> String {
        let p = Paint(color());
        let mut out = String::new();
        out.push_str(&format!("requests     {} in {:.3} s, {:.1} req/s\n", self.requests, self.elapsed_s(), self.rps()));
        out.push_str(&format!("connections  {} opened, {} reused\n", self.opened, self.reused));
        let list = |m: &mut dyn Iterator<Item = String>| {
            let v: Vec<String> = m.collect();
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let status = |code: u16| {
            let c = match code {
                200..=299 => chart::GREEN,
                300..=399 => chart::CYAN,
                400..=499 => chart::YELLOW,
                _ => chart::RED,
            };
            p.on(c, &code.to_string())
        };
        out.push_str(&format!("status       {}\n", list(&mut self.status.iter().map(|(k, v)| format!("{}: {v}", status(*k))))));
        out.push_str(&format!("errors       {}\n", list(&mut self.errors.iter().map(|(k, v)| format!("{}: {v}", p.on(chart::RED, k))))));
        let per_request = self.bytes_in.checked_div(self.requests).unwrap_or(0);
        out.push_str(&format!(
            "received     {} ({}/request), {}/s\n",
            chart::bytes(self.bytes_in),
            chart::bytes(per_request),
            chart::bytes(self.throughput() as u64)
        ));
        out.push_str(&format!("sent         {} of request bodies\n", chart::bytes(self.bytes_out)));
        if let Some(line) = self.per_second.sparkline(self.elapsed_s(), p) {
            out.push_str(&line);
        }
        out.push('\n');
        out.push_str(&format!("{:<9} {:>7}", "phase (ms)", "count"));
        for h in ["min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max"] {
            out.push_str(&format!(" {h:>9}"));
        }
        out.push('\n');
        for (name, p) in PHASES.iter().zip(&self.phases) {
            out.push_str(&format!("{name:<10} {:>7}", p.count()));
            if p.count() == 0 {
                out.push_str(&format!("{:>10}\n", "-"));
                continue;
            }
            let mut cells = vec![p.stat(Stat::Min), p.stat(Stat::Mean)];
            cells.extend(PERCENTILES.iter().map(|(_, q)| p.stat(Stat::Percentile(*q))));
            cells.push(p.stat(Stat::Max));
            for c in cells {
                out.push_str(&format!(" {:>9.3}", c / 1e6));
            }
            out.push('\n');
        }
        if self.lag.count() > 0 {
            let (p50, p99, max) =
                (self.lag.stat(Stat::Percentile(50.0)) / 1e6, self.lag.stat(Stat::Percentile(99.0)) / 1e6, self.lag.stat(Stat::Max) / 1e6);
            out.push_str(&format!(
                "\nclient lag   p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms ({} responses, kernel-stamped)\n",
                self.lag.count()
            ));
            if p99 > LAG_WARN_MS {
                let warning = format!(
                    "the client is the bottleneck: results include up to {max:.1} ms of its own delay (p99 {p99:.3} ms); phases after the first byte include it"
                );
                out.push_str(&p.on(chart::YELLOW, &warning));
                out.push('\n');
            }
        }
        let total = &self.phases[PHASES.len() - 1];
        if total.count() > 0 {
            out.push_str("\ntotal time histogram (ms)\n");
            let buckets = chart::buckets(&total.hist, total.min_ns, total.max_ns);
            out.push_str(&chart::histogram(&buckets, p));
        }
        if !results.is_empty() {
            out.push_str("\nthresholds\n");
            for (t, v, ok) in results {
                let verdict = if *ok { p.on(chart::GREEN, "ok  ") } else { p.on(chart::RED, "FAIL") };
                out.push_str(&format!("  {verdict} {}: {:.3}ms\n", t.text, v / 1e6));
            }
        }
        out
    }

    fn render_json(&self, results: &[(&Threshold, f64, bool)]) -> String {
        use serde_json::{json, Map, Value};
        let ms = |ns: f64| (ns / 1e3).round() / 1e3;
        let mut phases = Map::new();
        for (name, p) in PHASES.iter().zip(&self.phases) {
            let mut o = Map::new();
            o.insert("count".into(), json!(p.count()));
            if p.count() > 0 {
                o.insert("min".into(), json!(ms(p.stat(Stat::Min))));
                o.insert("mean".into(), json!(ms(p.stat(Stat::Mean))));
                for (label, q) in PERCENTILES {
                    o.insert(label.into(), json!(ms(p.stat(Stat::Percentile(q)))));
                }
                o.insert("max".into(), json!(ms(p.stat(Stat::Max))));
            }
            phases.insert((*name).into(), Value::Object(o));
        }
        let total = &self.phases[PHASES.len() - 1];
        let histogram: Vec<Value> = if total.count() > 0 {
            chart::buckets(&total.hist, total.min_ns, total.max_ns)
                .iter()
                .map(|(le, n)| json!({ "le_ms": ms(*le as f64), "count": n }))
                .collect()
        } else {
            vec![]
        };
        let doc = json!({
            "requests": self.requests,
            "elapsed_s": self.elapsed_s(),
            "rps": self.rps(),
            "bytes": { "received": self.bytes_in, "sent": self.bytes_out, "received_per_s": self.throughput() },
            "histogram": histogram,
            "per_second": self.per_second.to_json(self.elapsed_s()),
            "connections": { "opened": self.opened, "reused": self.reused },
            "client_lag": if self.lag.count() > 0 {
                json!({
                    "count": self.lag.count(),
                    "p50": ms(self.lag.stat(Stat::Percentile(50.0))),
                    "p99": ms(self.lag.stat(Stat::Percentile(99.0))),
                    "max": ms(self.lag.stat(Stat::Max)),
                })
            } else {
                Value::Null
            },
            "status": self.status.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<Map<_, _>>(),
            "errors": self.errors.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>(),
            "unit": "ms",
            "phases": phases,
            "thresholds": results.iter().map(|(t, v, ok)| json!({ "threshold": t.text, "measured_ms": ms(*v), "ok": ok })).collect::<Vec<_>>(),
        });
        format!("{doc}\n")
    }
}

httptrace_guest::export_plugin!(Stats);

#[cfg(test)]
mod tests {
    use super::*;
    use httptrace_guest::{ByteCounts, HopSummary, Marks, RequestDone, RequestStart};

    fn start(id: u64, wall_ms: u64) -> Event {
        let kind = EventKind::RequestStart(RequestStart {
            method: "GET".into(),
            url: "http://h/".into(),
            wall_unix_ns: wall_ms * 1_000_000,
            post_data: None,
        });
        Event { request: id, hop: 0, conn: None, at_ns: 0, kind }
    }

    fn done(id: u64, after_ms: u64) -> Event {
        let ms = after_ms as f64;
        let timings = Timings { blocked: 0.0, dns: -1.0, connect: -1.0, ssl: -1.0, send: 0.0, wait: ms, receive: 0.0, total: ms };
        let marks = Marks {
            namelookup: 0.0,
            connect: 0.0,
            appconnect: 0.0,
            pretransfer: 0.0,
            posttransfer: 0.0,
            starttransfer: 0.0,
            total: 0.0,
            redirect: 0.0,
        };
        let kind = EventKind::RequestDone(RequestDone {
            url: "http://h/".into(),
            status: Some(200),
            error: None,
            timings,
            marks,
            hops: vec![],
            client_lag_ns: None,
        });
        Event { request: id, hop: 0, conn: None, at_ns: after_ms * 1_000_000, kind }
    }

    fn elapsed_ms(events: &[Event]) -> f64 {
        let mut s = Stats::init(&Config::from_pairs([])).unwrap();
        let verdicts = s.on_events(events);
        assert_eq!(verdicts.len(), events.len());
        assert_eq!(s.requests, 2);
        s.elapsed_s() * 1e3
    }

    #[test]
    fn the_run_spans_first_start_to_last_end_in_order_or_interleaved() {
        // Requests 1 (start 0 ms, 10 ms long) and 2 (start 5 ms, 30 ms long): 35 ms either way.
        let in_order = [start(1, 0), done(1, 10), start(2, 5), done(2, 30)];
        let interleaved = [start(1, 0), start(2, 5), done(1, 10), done(2, 30)];
        assert_eq!(elapsed_ms(&in_order), 35.0);
        assert_eq!(elapsed_ms(&interleaved), 35.0);
    }

    #[test]
    fn bytes_are_summed_over_every_hop_of_every_request() {
        let mut s = Stats::init(&Config::from_pairs([])).unwrap();
        let hop = |hop, b: [u64; 3]| {
            let EventKind::RequestDone(d) = done(0, 0).kind else { unreachable!() };
            let bytes = ByteCounts { request_body: b[0], response_headers: b[1], response_body: b[2] };
            HopSummary { hop, url: d.url, status: d.status, timings: d.timings, marks: d.marks, bytes }
        };
        let mut two_hops = done(1, 10);
        let EventKind::RequestDone(d) = &mut two_hops.kind else { unreachable!() };
        d.hops = vec![hop(0, [5, 100, 0]), hop(1, [5, 120, 1000])];
        let mut one_hop = done(2, 20);
        let EventKind::RequestDone(d) = &mut one_hop.kind else { unreachable!() };
        d.hops = vec![hop(0, [0, 90, 7])];
        s.on_events(&[start(1, 0), two_hops, start(2, 0), one_hop]);
        assert_eq!((s.bytes_out, s.bytes_in), (10, 100 + 120 + 1000 + 90 + 7));
    }

    #[test]
    fn recorded_values_round_to_the_nanosecond() {
        let mut p = PhaseStats::new();
        p.record(0.000_000_6);
        p.record(1.234_567_4);
        p.record(-1.0);
        assert_eq!((p.count(), p.min_ns, p.max_ns), (2, 1, 1_234_567));
    }
}
