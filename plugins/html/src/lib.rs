//! `html`: one self-contained HTML report, written when the run ends (`-o report.html`). Inline
//! CSS and SVG, no script and no reference to any other file or host, so it opens offline.
//!
//! - Every run: a DevTools-style waterfall, one row per request hop (the first [`MAX_ROWS`]):
//!   blocked, DNS, connect, TLS, send, wait and receive end to end on a shared time axis in
//!   DevTools' colours, the connect attempts (Happy Eyeballs races side by side) under them,
//!   a tooltip per phase, and a click-open panel with the addresses, the connection and its
//!   reuse, TLS (version, cipher suite, group, ALPN, resumption, certificate chain), the
//!   headers as the events carry them (secrets redacted) and the error with its phase.
//! - Load runs (more than one request): the percentile table per phase, a histogram per phase
//!   on a logarithmic time axis (its bars add up to the phase's count), requests/s and
//!   p50/p95/p99 over time, status and error counts, connections opened and reused.
//!
//! Memory is bounded: histograms and per-interval histograms (intervals double in length past
//! [`chart::MAX_INTERVALS`]), and the first [`MAX_ROWS`] hops' details; a 100 000-request run
//! gives a report of a few hundred KiB.

mod chart;
mod page;

use std::collections::{BTreeMap, HashMap};

use chart::{PhaseHist, Timeline};
use httptrace_guest::{emit, Config, Event, EventKind, EventType, Interest, Plugin, RunOutcome, Timings, Verdict};

/// Hops whose details the report keeps (the waterfall's rows).
pub const MAX_ROWS: usize = 200;
/// Header fields kept per hop and direction, and characters kept per value.
const MAX_FIELDS: usize = 64;
const MAX_VALUE: usize = 256;

/// The phases, in waterfall order, with DevTools' colours; `total` is the last histogram.
pub const PHASES: [(&str, &str); 7] = [
    ("blocked", "#9aa0a6"),
    ("dns", "#009688"),
    ("connect", "#f9ab00"),
    ("tls", "#a142f4"),
    ("send", "#81c995"),
    ("wait", "#34a853"),
    ("receive", "#4285f4"),
];

/// A hop's phase durations in waterfall order (ms; -1 where it did not happen): connect
/// without its TLS part, as DevTools draws them.
pub fn phase_ms(t: &Timings) -> [f64; 7] {
    let connect = if t.connect >= 0.0 && t.ssl >= 0.0 { t.connect - t.ssl } else { t.connect };
    [t.blocked, t.dns, connect, t.ssl, t.send, t.wait, t.receive]
}

/// One connect attempt: address, start and end (ns since the epoch), outcome.
pub struct Attempt {
    pub addr: String,
    pub start: u64,
    pub end: Option<u64>,
    pub outcome: String,
}

/// What the report shows of one hop.
#[derive(Default)]
pub struct Row {
    pub request: u64,
    pub hop: u32,
    pub method: String,
    pub url: String,
    pub status: Option<u16>,
    /// Start, ns since the epoch.
    pub start: u64,
    /// The request's origin (ns since the epoch), which event times count from (hop 0's).
    pub origin: u64,
    pub timings: Option<Timings>,
    pub attempts: Vec<Attempt>,
    pub conn: Option<u64>,
    pub reused: bool,
    pub protocol: String,
    pub local: String,
    pub remote: String,
    /// version, cipher suite, key exchange group, ALPN, resumed.
    pub tls: Option<(String, String, String, String, bool)>,
    /// A proxy's tunnel: when it was asked for, then what it came to (proxy, outcome, ms).
    pub tunnel_start: Option<u64>,
    /// proxy, outcome (`CONNECT 200`, `socks`, an error kind), duration in ms.
    pub tunnel: Option<(String, String, f64)>,
    /// subject, issuer, not after.
    pub certs: Vec<(String, String, String)>,
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    pub error: Option<String>,
}

/// Aggregates of the whole run.
pub struct Run {
    pub requests: u64,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
    pub status: BTreeMap<u16, u64>,
    pub errors: BTreeMap<String, u64>,
    pub opened: u64,
    pub reused: u64,
    /// One per phase of [`PHASES`], then total.
    pub phases: Vec<PhaseHist>,
    pub timeline: Timeline,
    pub rows: Vec<Row>,
    /// Hops not shown because [`MAX_ROWS`] were.
    pub rows_left_out: u64,
}

struct Html {
    title: String,
    open: HashMap<u64, Vec<Row>>,
    run: Run,
}

fn clip(s: &str) -> String {
    if s.len() <= MAX_VALUE {
        return s.to_string();
    }
    let mut end = MAX_VALUE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl Plugin for Html {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&["title"])?;
        let title = config.get("title").unwrap_or("httptrace report").to_string();
        Ok(Html {
            title,
            open: HashMap::new(),
            run: Run {
                requests: 0,
                first_start: None,
                last_end: None,
                status: BTreeMap::new(),
                errors: BTreeMap::new(),
                opened: 0,
                reused: 0,
                phases: (0..=PHASES.len()).map(|_| PhaseHist::new()).collect(),
                timeline: Timeline::default(),
                rows: Vec::new(),
                rows_left_out: 0,
            },
        })
    }

    fn interest(&self) -> Interest {
        Interest::of(&[
            EventType::RequestStart,
            EventType::ConnectStart,
            EventType::ConnectDone,
            EventType::TlsHandshakeDone,
            EventType::QuicHandshakeDone,
            EventType::ProxyConnectStart,
            EventType::ProxyConnectDone,
            EventType::GotConn,
            EventType::WroteHeaderField,
            EventType::ResponseHeaders,
            EventType::RequestDone,
        ])
    }

    fn on_event(&mut self, ev: &Event) -> Verdict {
        let keep = self.run.rows.len() < MAX_ROWS;
        let hops = self.open.entry(ev.request).or_default();
        while hops.len() <= ev.hop as usize {
            hops.push(Row { request: ev.request, hop: hops.len() as u32, ..Row::default() });
        }
        if let (EventKind::RequestStart(s), 0) = (&ev.kind, ev.hop) {
            hops[0].origin = s.wall_unix_ns.saturating_sub(ev.at_ns);
        }
        // Event times count from the request's origin (hop 0's start).
        let at = hops[0].origin + ev.at_ns;
        let row = &mut hops[ev.hop as usize];
        if row.conn.is_none() {
            row.conn = ev.conn;
        }
        match &ev.kind {
            EventKind::RequestStart(s) => {
                row.method = s.method.clone();
                row.url = s.url.clone();
                row.start = at;
            }
            EventKind::ConnectStart(c) if keep => {
                row.attempts.push(Attempt { addr: c.addr.clone(), start: at, end: None, outcome: String::new() });
            }
            EventKind::ConnectDone(c) if keep => {
                let outcome = match (&c.error, c.cancelled) {
                    (Some(e), _) => e.kind.clone(),
                    (None, true) => "cancelled".into(),
                    (None, false) => "connected".into(),
                };
                match row.attempts.iter_mut().find(|a| a.addr == c.addr && a.end.is_none()) {
                    Some(a) => {
                        a.end = Some(at);
                        a.outcome = outcome;
                    }
                    None => row.attempts.push(Attempt { addr: c.addr.clone(), start: at, end: Some(at), outcome }),
                }
            }
            EventKind::ProxyConnectStart(_) if keep => row.tunnel_start = Some(at),
            EventKind::ProxyConnectDone(t) if keep => {
                let outcome = match (&t.error, t.status) {
                    (Some(e), _) => e.kind.clone(),
                    (None, Some(s)) => format!("CONNECT {s}"),
                    (None, None) => "open".into(),
                };
                let ms = row.tunnel_start.map_or(0.0, |s| at.saturating_sub(s) as f64 / 1e6);
                row.tunnel = Some((t.proxy.clone(), outcome, ms));
            }
            EventKind::TlsHandshakeDone(t) if keep => {
                if t.error.is_none() {
                    row.tls = Some((
                        t.version.clone(),
                        t.cipher_suite.clone(),
                        t.key_exchange_group.clone().unwrap_or_default(),
                        t.alpn.clone().unwrap_or_default(),
                        t.resumed,
                    ));
                }
                row.certs = t.peer_certificates.iter().map(|c| (c.subject.clone(), c.issuer.clone(), c.not_after.clone())).collect();
            }
            EventKind::QuicHandshakeDone(q) if keep => {
                if q.error.is_none() {
                    let version = format!("TLSv1.3 (QUIC v{})", q.quic_version);
                    row.tls = Some((version, String::new(), String::new(), q.alpn.clone().unwrap_or_default(), q.resumed));
                }
                row.certs = q.peer_certificates.iter().map(|c| (c.subject.clone(), c.issuer.clone(), c.not_after.clone())).collect();
            }
            EventKind::GotConn(g) => {
                if g.reused {
                    self.run.reused += 1;
                } else {
                    self.run.opened += 1;
                }
                row.reused = g.reused;
                row.protocol = g.protocol.clone();
                row.local = g.local_addr.clone();
                row.remote = g.remote_addr.clone();
            }
            EventKind::WroteHeaderField(h) if keep && row.request_headers.len() < MAX_FIELDS => {
                row.request_headers.push((h.name.clone(), clip(&h.value)));
            }
            EventKind::ResponseHeaders(r) => {
                row.status = Some(r.status);
                if keep {
                    row.response_headers = r.headers.iter().take(MAX_FIELDS).map(|h| (h.name.clone(), clip(&h.value))).collect();
                }
            }
            EventKind::RequestDone(d) => {
                let mut hops = self.open.remove(&ev.request).unwrap_or_default();
                self.done(&mut hops, ev, d);
            }
            _ => {}
        }
        Verdict::Keep
    }

    fn finish(&mut self) -> Result<RunOutcome, String> {
        emit(&page::render(&self.title, &self.run));
        Ok(RunOutcome::Pass)
    }
}

impl Html {
    fn done(&mut self, hops: &mut Vec<Row>, ev: &Event, d: &httptrace_guest::RequestDone) {
        let run = &mut self.run;
        run.requests += 1;
        let Some(first) = hops.first() else { return };
        let (origin, start) = (first.origin, first.start);
        let end = origin + ev.at_ns;
        run.first_start = Some(run.first_start.map_or(start, |f| f.min(start)));
        run.last_end = Some(run.last_end.map_or(end, |l| l.max(end)));
        let total = d.timings.total;
        for (hist, v) in run.phases.iter_mut().zip(phase_ms(&d.timings).into_iter().chain([total])) {
            hist.record(v);
        }
        run.timeline.record(run.first_start.unwrap_or(start), end, total);
        if let Some(s) = d.status {
            *run.status.entry(s).or_default() += 1;
        }
        let error = d.error.as_ref().map(|e| format!("{}/{}", e.phase.as_str(), e.kind));
        if let Some(e) = &error {
            *run.errors.entry(e.clone()).or_default() += 1;
        }
        for summary in &d.hops {
            let Some(row) = hops.get_mut(summary.hop as usize) else { continue };
            row.timings = Some(summary.timings);
            row.status = summary.status;
            if summary.hop as usize + 1 == d.hops.len() {
                row.error = d.error.as_ref().map(|e| format!("{} failed ({}): {}", e.phase.as_str(), e.kind, e.message));
            }
        }
        for row in hops.drain(..) {
            if run.rows.len() < MAX_ROWS {
                run.rows.push(row);
            } else {
                run.rows_left_out += 1;
            }
        }
    }
}

httptrace_guest::export_plugin!(Html);
