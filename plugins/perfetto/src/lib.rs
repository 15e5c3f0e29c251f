//! `perfetto`: the run as a Chrome Trace Event Format timeline (JSON array form), which
//! ui.perfetto.dev and chrome://tracing open.
//!
//! Four processes, each a group of tracks:
//! - `requests`: one slice per request (method and URL; status or error in its args), a
//!   child per hop when it was redirected, and under those the phases in order: blocked, dns,
//!   connect, tls, send, wait, receive;
//! - `connections`: one track per connection (`#3 127.0.0.1:443 h2`), with its connect and
//!   TLS handshake and then each request it carried, so reuse and HTTP/2 sharing show at a
//!   glance (requests that overlap on one connection get a second track of it);
//! - `dns`: each lookup, with its answers;
//! - `connect attempts`: each TCP connect attempt (Happy Eyeballs races side by side), with
//!   its error or `cancelled`.
//!
//! Slices on a track never overlap: a slice goes to the first track of its group that is free
//! at its start. Times are microseconds from the start of the first request to finish (a
//! request that started before it and finished after it begins at a negative time). A request's slices are
//! written when it ends, so memory holds only requests in flight; the array is closed at the
//! end of the run, and a run cut short still leaves a file the viewers read (the format allows
//! the missing `]`).

use std::collections::{HashMap, HashSet};

use httptrace_guest::{emit, Config, Event, EventKind, Plugin, RunOutcome, Verdict};
use serde_json::{json, Map, Value};

/// Process ids, in display order.
const REQUESTS: u32 = 1;
const CONNECTIONS: u32 = 2;
const DNS: u32 = 3;
const ATTEMPTS: u32 = 4;
const PROCESSES: [(u32, &str); 4] = [(REQUESTS, "requests"), (CONNECTIONS, "connections"), (DNS, "dns"), (ATTEMPTS, "connect attempts")];

/// Tracks per connection before their ids would run into the next connection's.
const LANES_PER_CONN: u64 = 1000;

/// A group of tracks: slices go to the first track free at their start.
#[derive(Default)]
struct Lanes {
    /// The end (ns) of the last slice on each track.
    ends: Vec<u64>,
}

impl Lanes {
    /// The track (from 0) for a slice from `start` to `end`.
    fn place(&mut self, start: u64, end: u64) -> usize {
        let i = match self.ends.iter().position(|&e| e <= start) {
            Some(i) => i,
            None => {
                self.ends.push(0);
                self.ends.len() - 1
            }
        };
        self.ends[i] = self.ends[i].max(end);
        i
    }
}

/// One slice: a name, a span in ns since the epoch, its args.
struct Slice {
    name: String,
    start: u64,
    end: u64,
    args: Value,
}

impl Slice {
    fn new(name: impl Into<String>, start: u64, end: u64) -> Slice {
        Slice { name: name.into(), start, end: end.max(start), args: Value::Null }
    }

    fn with(mut self, args: Value) -> Slice {
        self.args = args;
        self
    }
}

struct Perfetto {
    /// ts 0: the first request's start (ns since the epoch).
    base: Option<u64>,
    /// Events of the requests in flight.
    open: HashMap<u64, Vec<Event>>,
    requests: Lanes,
    dns: Lanes,
    attempts: Lanes,
    conns: HashMap<u64, Lanes>,
    /// Tracks already named.
    named: HashSet<(u32, u64)>,
    written: u64,
}

impl Plugin for Perfetto {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&[])?;
        let mut p = Perfetto {
            base: None,
            open: HashMap::new(),
            requests: Lanes::default(),
            dns: Lanes::default(),
            attempts: Lanes::default(),
            conns: HashMap::new(),
            named: HashSet::new(),
            written: 0,
        };
        emit("[");
        for (pid, name) in PROCESSES {
            p.write(json!({ "name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": { "name": name } }));
            p.write(json!({ "name": "process_sort_index", "ph": "M", "pid": pid, "tid": 0, "args": { "sort_index": pid } }));
        }
        Ok(p)
    }

    fn on_event(&mut self, ev: &Event) -> Verdict {
        let done = matches!(ev.kind, EventKind::RequestDone(_));
        self.open.entry(ev.request).or_default().push(ev.clone());
        if done {
            let events = self.open.remove(&ev.request).unwrap_or_default();
            self.request(&events);
        }
        Verdict::Keep
    }

    fn finish(&mut self) -> Result<RunOutcome, String> {
        emit("\n]\n");
        Ok(RunOutcome::Pass)
    }
}

/// The phases of one hop, as event times (ns from the request's origin) are seen.
#[derive(Default)]
struct Phases {
    start: Option<u64>,
    dns: Option<(u64, Option<u64>)>,
    connect: Option<(u64, Option<u64>)>,
    /// A proxy's tunnel (`CONNECT` or SOCKS5), after the connect to the proxy.
    tunnel: Option<(u64, Option<u64>)>,
    tls: Option<(u64, Option<u64>)>,
    got_conn: Option<u64>,
    wrote: Option<u64>,
    first_byte: Option<u64>,
    done: Option<u64>,
    end: u64,
}

impl Phases {
    /// The hop's phases in order, clamped so that each starts where the previous one ended
    /// and all lie within the hop.
    fn slices(&self) -> Vec<(&'static str, u64, u64)> {
        let start = self.start.unwrap_or(0);
        let end = self.end.max(start);
        let first_step = [self.dns.map(|d| d.0), self.connect.map(|c| c.0), self.got_conn].into_iter().flatten().min();
        let span = |s: Option<(u64, Option<u64>)>| s.map(|(a, b)| (a, b.unwrap_or(self.end)));
        let sent = self.wrote.or(self.first_byte).or(self.done);
        let raw = [
            ("blocked", first_step.map(|f| (start, f))),
            ("dns", span(self.dns)),
            ("connect", span(self.connect)),
            ("proxy tunnel", span(self.tunnel)),
            ("tls", span(self.tls)),
            ("send", self.got_conn.map(|g| (g, sent.unwrap_or(self.end)))),
            ("wait", self.wrote.map(|w| (w, self.first_byte.unwrap_or(self.end)))),
            ("receive", self.first_byte.map(|f| (f, self.done.unwrap_or(self.end)))),
        ];
        let mut cursor = start;
        let mut out = Vec::new();
        for (name, span) in raw {
            let Some((a, b)) = span else { continue };
            let a = a.clamp(cursor, end);
            let b = b.clamp(a, end);
            if b > a {
                out.push((name, a, b));
            }
            cursor = b;
        }
        out
    }
}

impl Perfetto {
    /// Writes one trace event.
    fn write(&mut self, v: Value) {
        let sep = if self.written == 0 { "\n" } else { ",\n" };
        emit(&format!("{sep}{v}"));
        self.written += 1;
    }

    /// Microseconds since the run's start (ns precision).
    fn ts(&self, ns: u64) -> f64 {
        let base = self.base.unwrap_or(ns);
        (ns as i128 - base as i128) as f64 / 1e3
    }

    fn name_track(&mut self, pid: u32, tid: u64, name: String) {
        if self.named.insert((pid, tid)) {
            self.write(json!({ "name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": { "name": name } }));
            self.write(json!({ "name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid, "args": { "sort_index": tid } }));
        }
    }

    fn slice(&mut self, pid: u32, tid: u64, cat: &str, s: &Slice) {
        let mut o = Map::new();
        o.insert("name".into(), json!(s.name));
        o.insert("cat".into(), json!(cat));
        o.insert("ph".into(), json!("X"));
        o.insert("ts".into(), json!(self.ts(s.start)));
        o.insert("dur".into(), json!((s.end - s.start) as f64 / 1e3));
        o.insert("pid".into(), json!(pid));
        o.insert("tid".into(), json!(tid));
        if !s.args.is_null() {
            o.insert("args".into(), s.args.clone());
        }
        self.write(Value::Object(o));
    }

    /// Writes one finished request: `events` are all of its events, in order.
    fn request(&mut self, events: &[Event]) {
        let Some(first) = events.first() else { return };
        let origin = match &first.kind {
            EventKind::RequestStart(s) => s.wall_unix_ns.saturating_sub(first.at_ns),
            _ => return,
        };
        self.base.get_or_insert(origin);
        let abs = |at: u64| origin + at;
        let Some(last) = events.last() else { return };
        let EventKind::RequestDone(done) = &last.kind else { return };

        // The request slice and its hops.
        let (method, url) = match &first.kind {
            EventKind::RequestStart(s) => (s.method.clone(), s.url.clone()),
            _ => unreachable!(),
        };
        let mut args = Map::new();
        args.insert("url".into(), json!(done.url));
        if let Some(s) = done.status {
            args.insert("status".into(), json!(s));
        }
        if let Some(e) = &done.error {
            args.insert("error".into(), json!(format!("{}/{}: {}", e.phase.as_str(), e.kind, e.message)));
        }
        args.insert("request".into(), json!(first.request));
        let outcome = match (&done.error, done.status) {
            (Some(e), _) => format!(" ({})", e.kind),
            (None, Some(s)) => format!(" → {s}"),
            _ => String::new(),
        };
        let request = Slice::new(format!("{method} {url}{outcome}"), abs(first.at_ns), abs(last.at_ns)).with(Value::Object(args));
        let lane = self.requests.place(request.start, request.end) as u64 + 1;
        self.name_track(REQUESTS, lane, format!("requests {lane}"));
        self.slice(REQUESTS, lane, "request", &request);

        let hops = events.iter().map(|e| e.hop).max().unwrap_or(0) + 1;
        for hop in 0..hops {
            let evs: Vec<&Event> = events.iter().filter(|e| e.hop == hop && !matches!(e.kind, EventKind::RequestDone(_))).collect();
            self.hop(&evs, hop, hops, origin, lane, last.at_ns);
        }
    }

    /// Writes one hop: its phases under the request (under a hop slice when there were
    /// several), its use of a connection, its lookups and connect attempts.
    fn hop(&mut self, evs: &[&Event], hop: u32, hops: u32, origin: u64, lane: u64, request_end: u64) {
        let abs = |at: u64| origin + at;
        let mut p = Phases::default();
        let mut label = String::new();
        let mut conn: Option<(u64, String, bool)> = None;
        let mut attempts: Vec<(String, u64)> = Vec::new();
        let mut dns_host = String::new();
        let mut status = None;
        for ev in evs {
            match &ev.kind {
                EventKind::RequestStart(s) => {
                    p.start = Some(ev.at_ns);
                    label = format!("{} {}", s.method, s.url);
                }
                EventKind::DnsStart(d) => {
                    p.dns = Some((ev.at_ns, None));
                    dns_host = d.host.clone();
                }
                EventKind::DnsDone(d) => {
                    let start = p.dns.map_or(ev.at_ns, |d| d.0);
                    p.dns = Some((start, Some(ev.at_ns)));
                    let mut args = json!({ "addrs": d.addrs, "coalesced": d.coalesced });
                    if let Some(e) = &d.error {
                        args["error"] = json!(format!("{}: {}", e.kind, e.message));
                    }
                    let s = Slice::new(format!("dns {dns_host}"), abs(start), abs(ev.at_ns)).with(args);
                    let tid = self.dns.place(s.start, s.end) as u64 + 1;
                    self.name_track(DNS, tid, format!("lookups {tid}"));
                    self.slice(DNS, tid, "dns", &s);
                }
                EventKind::ConnectStart(c) => {
                    attempts.push((c.addr.clone(), ev.at_ns));
                    if p.connect.is_none() {
                        p.connect = Some((ev.at_ns, None));
                    }
                }
                EventKind::ConnectDone(c) => {
                    let start = attempts.iter().rev().find(|a| a.0 == c.addr).map_or(ev.at_ns, |a| a.1);
                    let outcome = match (&c.error, c.cancelled) {
                        (Some(e), _) => format!("{}: {}", e.kind, e.message),
                        (None, true) => "cancelled".to_string(),
                        (None, false) => "connected".to_string(),
                    };
                    if c.error.is_none() && !c.cancelled {
                        p.connect = Some((p.connect.map_or(start, |s| s.0), Some(ev.at_ns)));
                    }
                    let s = Slice::new(format!("connect {}", c.addr), abs(start), abs(ev.at_ns)).with(json!({ "outcome": outcome }));
                    let tid = self.attempts.place(s.start, s.end) as u64 + 1;
                    self.name_track(ATTEMPTS, tid, format!("attempts {tid}"));
                    self.slice(ATTEMPTS, tid, "connect", &s);
                }
                EventKind::ProxyConnectStart(_) => p.tunnel = Some((ev.at_ns, None)),
                EventKind::ProxyConnectDone(_) => p.tunnel = Some((p.tunnel.map_or(ev.at_ns, |t| t.0), Some(ev.at_ns))),
                // HTTP/3's QUIC handshake is its TLS.
                EventKind::TlsHandshakeStart(_) | EventKind::QuicHandshakeStart(_) => p.tls = Some((ev.at_ns, None)),
                EventKind::TlsHandshakeDone(_) | EventKind::QuicHandshakeDone(_) => {
                    p.tls = Some((p.tls.map_or(ev.at_ns, |t| t.0), Some(ev.at_ns)))
                }
                EventKind::GotConn(g) => {
                    p.got_conn = Some(ev.at_ns);
                    if let Some(id) = ev.conn {
                        conn = Some((id, format!("#{id} {} {}", g.remote_addr, g.protocol), g.reused));
                    }
                }
                EventKind::WroteRequest(_) => p.wrote = Some(ev.at_ns),
                EventKind::GotFirstResponseByte(_) if p.first_byte.is_none() => p.first_byte = Some(ev.at_ns),
                EventKind::ResponseHeaders(r) => status = Some(r.status),
                EventKind::ResponseDone(_) => p.done = Some(ev.at_ns),
                _ => {}
            }
        }
        // A hop ends where the next one starts (its redirect), the last where the request does.
        p.end = evs.last().map_or(request_end, |e| e.at_ns).max(p.done.unwrap_or(0));
        if hop + 1 == hops {
            p.end = request_end;
        }
        let start = p.start.unwrap_or(0);
        if hops > 1 {
            let s = Slice::new(format!("hop {hop}: {label}"), abs(start), abs(p.end)).with(json!({ "status": status }));
            self.slice(REQUESTS, lane, "hop", &s);
        }
        for (name, a, b) in p.slices() {
            self.slice(REQUESTS, lane, "phase", &Slice::new(name, abs(a), abs(b)));
        }
        // The connection's track: its handshake (when this hop opened it), then this hop's use.
        let Some((id, track, reused)) = conn else { return };
        let mut on_conn = Vec::new();
        if !reused {
            if let Some((a, Some(b))) = p.connect {
                on_conn.push(Slice::new("connect", abs(a), abs(b)));
            }
            if let Some((a, Some(b))) = p.tunnel {
                on_conn.push(Slice::new("proxy tunnel", abs(a), abs(b)));
            }
            if let Some((a, Some(b))) = p.tls {
                on_conn.push(Slice::new("tls", abs(a), abs(b)));
            }
        }
        let got = p.got_conn.unwrap_or(start);
        on_conn.push(Slice::new(label, abs(got), abs(p.done.unwrap_or(p.end))).with(json!({ "status": status, "reused": reused })));
        let lanes = self.conns.entry(id).or_default();
        let from = on_conn.first().map_or(0, |s| s.start);
        let to = on_conn.iter().map(|s| s.end).max().unwrap_or(from);
        let lane = lanes.place(from, to) as u64;
        let tid = id * LANES_PER_CONN + lane.min(LANES_PER_CONN - 1);
        let name = if lane == 0 { track } else { format!("{track} ({})", lane + 1) };
        self.name_track(CONNECTIONS, tid, name);
        for s in &on_conn {
            self.slice(CONNECTIONS, tid, "connection", s);
        }
    }
}

httptrace_guest::export_plugin!(Perfetto);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_never_overlap() {
        let mut l = Lanes::default();
        assert_eq!(l.place(0, 10), 0);
        assert_eq!(l.place(5, 8), 1);
        assert_eq!(l.place(10, 20), 0);
        assert_eq!(l.place(9, 12), 1);
        assert_eq!(l.place(11, 30), 2);
    }

    #[test]
    fn phases_are_sequential_and_inside_the_hop() {
        let p = Phases {
            start: Some(0),
            dns: Some((5, Some(20))),
            connect: Some((20, Some(50))),
            tunnel: None,
            tls: Some((50, Some(90))),
            got_conn: Some(95),
            wrote: Some(100),
            // 100-continue: a first byte before the body was written.
            first_byte: Some(98),
            done: Some(300),
            end: 310,
        };
        let s = p.slices();
        let names: Vec<&str> = s.iter().map(|x| x.0).collect();
        assert_eq!(names, ["blocked", "dns", "connect", "tls", "send", "receive"]);
        assert!(s.windows(2).all(|w| w[0].2 <= w[1].1), "{:?}", s);
        assert!(s.iter().all(|x| x.1 < x.2 && x.2 <= 310));
        assert_eq!(s[0], ("blocked", 0, 5));
        // A hop that failed while connecting: connect runs to the hop's end.
        let failed = Phases { start: Some(0), connect: Some((3, None)), end: 40, ..Phases::default() };
        assert_eq!(failed.slices(), [("blocked", 0, 3), ("connect", 3, 40)]);
    }
}
