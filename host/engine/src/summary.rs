//! Summaries computed from a request's events, in the two vocabularies users know:
//! HAR 1.2 `timings` and curl's `--write-out` marks, defined as follows:
//!
//! - HAR (ms, not cumulative): `blocked` = hop start → start of DNS, connect or got-conn;
//!   `dns` = dns-start → dns-done; `connect` = first connect-start → TLS done (or the winning
//!   connect-done without TLS), so `ssl` is *also* in `connect`; `ssl` = TLS handshake;
//!   `send` = got-conn → wrote-request; `wait` = wrote-request → first response byte;
//!   `receive` = first byte → response-done. -1 where a phase did not happen (reused connection,
//!   IP literal, plain HTTP). `total` = the sum of the others, `ssl` not counted twice.
//! - curl (s, cumulative from the hop's start): namelookup ⊂ connect ⊂ appconnect ⊂ pretransfer
//!   ⊂ posttransfer ⊂ starttransfer ⊂ total; `appconnect` is 0 without TLS.

use crate::event::{Event, EventKind, KindSet, Phase};
pub use crate::event::{Marks, Timings};

/// Instants (ns since the request start) of the landmarks of one hop, gathered from its events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HopInstants {
    /// request-start / get-conn: the hop began.
    pub start: Option<u64>,
    /// dns-start.
    pub dns_start: Option<u64>,
    /// dns-done.
    pub dns_done: Option<u64>,
    /// First connect-start.
    pub connect_start: Option<u64>,
    /// connect-done of the winning attempt.
    pub connect_done: Option<u64>,
    /// proxy-connect-done of an open tunnel.
    pub tunnel_done: Option<u64>,
    /// tls-handshake-start.
    pub tls_start: Option<u64>,
    /// tls-handshake-done.
    pub tls_done: Option<u64>,
    /// got-conn.
    pub got_conn: Option<u64>,
    /// got-conn said reused.
    pub reused: bool,
    /// wrote-request.
    pub wrote_request: Option<u64>,
    /// got-first-response-byte.
    pub first_byte: Option<u64>,
    /// response-done.
    pub response_done: Option<u64>,
    /// The last event of the hop.
    pub last: Option<u64>,
}

impl HopInstants {
    /// Collects the landmarks of the events of one hop (in order).
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> HopInstants {
        let mut m = HopInstants::default();
        for ev in events {
            m.observe(ev);
        }
        m
    }

    /// Folds one event of the hop in.
    pub fn observe(&mut self, ev: &Event) {
        self.observe_at(ev.at_ns, &ev.kind);
    }

    /// Folds in an event of the hop of `kind` at `t`, in any order: first landmarks keep the
    /// earliest instant, last ones the latest (as if the events had been sorted by time).
    pub fn observe_at(&mut self, t: u64, kind: &EventKind) {
        let first = |m: &mut Option<u64>| *m = Some(m.map_or(t, |v| v.min(t)));
        let last = |m: &mut Option<u64>| *m = Some(m.map_or(t, |v| v.max(t)));
        match kind {
            EventKind::RequestStart { .. } | EventKind::GetConn { .. } => first(&mut self.start),
            EventKind::DnsStart { .. } => first(&mut self.dns_start),
            EventKind::DnsDone { .. } => last(&mut self.dns_done),
            EventKind::ConnectStart { .. } => first(&mut self.connect_start),
            // A cancelled or failed attempt (Happy Eyeballs) does not end the connect phase.
            EventKind::ConnectDone { cancelled: false, error: None, .. } => last(&mut self.connect_done),
            EventKind::ProxyConnectDone { error: None, .. } => last(&mut self.tunnel_done),
            // QUIC's handshake is TLS 1.3's: the `ssl` phase and curl's `appconnect`.
            EventKind::TlsHandshakeStart { .. } | EventKind::QuicHandshakeStart { .. } => last(&mut self.tls_start),
            EventKind::TlsHandshakeDone { .. } | EventKind::QuicHandshakeDone { .. } => last(&mut self.tls_done),
            EventKind::GotConn { reused, .. } if self.got_conn.is_none_or(|g| t >= g) => {
                self.got_conn = Some(t);
                self.reused = *reused;
            }
            EventKind::WroteRequest { .. } => last(&mut self.wrote_request),
            EventKind::GotFirstResponseByte { .. } => first(&mut self.first_byte),
            EventKind::ResponseDone { .. } => last(&mut self.response_done),
            _ => {}
        }
        first(&mut self.start);
        last(&mut self.last);
    }

    /// End of the hop: response-done, or (for a failed hop) its last event. Returning the
    /// connection to the pool and following a redirect happen after and are not counted.
    pub fn end(&self) -> Option<u64> {
        self.response_done.or(self.last)
    }

    /// HAR timings of this hop.
    pub fn timings(&self) -> Timings {
        let start = self.start.unwrap_or(0);
        let ms = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => ns_to_ms(b.saturating_sub(a)),
            _ => -1.0,
        };
        // `blocked` ends where the first network phase (or got-conn) begins.
        let end = self.end();
        let first_net = self.dns_start.or(self.connect_start).or(self.got_conn).or(end);
        let blocked = ms(Some(start), first_net).max(0.0);
        let dns = ms(self.dns_start, self.dns_done);
        // Connecting ends with TLS, else with a proxy's tunnel (HAR has no phase of its own for
        // it; curl's `connect` mark stays the TCP connect, to the proxy), else with TCP.
        let connect_end = self.tls_done.or(self.tunnel_done.max(self.connect_done));
        let connect = if self.reused { -1.0 } else { ms(self.connect_start, connect_end) };
        let ssl = if self.reused { -1.0 } else { ms(self.tls_start, self.tls_done) };
        let phase = |a: Option<u64>, b: Option<u64>| ms(a, b).max(0.0);
        // A failed hop still has a defined (partial) send/wait/receive up to where it stopped.
        let send = phase(self.got_conn, self.wrote_request.or(self.got_conn.and(end)));
        let wait = phase(self.wrote_request, self.first_byte.or(self.wrote_request.and(end)));
        let receive = phase(self.first_byte, end);
        let total = [blocked, dns, connect, send, wait, receive].iter().filter(|v| **v >= 0.0).sum();
        // Each phase is one division of whole nanoseconds, already the shortest decimal; only
        // the sum can carry binary noise (`0.1 + 0.2`).
        Timings { blocked, dns, connect, ssl, send, wait, receive, total: round_to(total, 1e6) }
    }

    /// curl marks of this hop, relative to the hop's start.
    pub fn marks(&self) -> Marks {
        let start = self.start.unwrap_or(0);
        let s = |t: Option<u64>| t.map_or(0.0, |t| ns_to_s(t.saturating_sub(start)));
        // Each mark falls back to the previous one when its phase did not happen.
        let namelookup = s(self.dns_done.or(self.connect_start).or(self.got_conn));
        let connect = if self.connect_done.is_some() { s(self.connect_done) } else { namelookup.max(s(self.got_conn)) };
        let appconnect = match (self.tls_done, self.reused) {
            (Some(t), _) => s(Some(t)),
            _ => 0.0,
        };
        let pretransfer = s(self.got_conn).max(connect);
        let posttransfer = s(self.wrote_request).max(pretransfer);
        let starttransfer = s(self.first_byte).max(posttransfer);
        let total = s(self.end()).max(starttransfer);
        // Every mark is one division of whole nanoseconds (or the max of such): no rounding.
        Marks { namelookup, connect, appconnect, pretransfer, posttransfer, starttransfer, total, redirect: 0.0 }
    }
}

/// What a request's summaries need of one hop, gathered as the hop's events are emitted,
/// whether or not anyone records the events themselves.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HopRecord {
    /// Landmark instants, from the [`KindSet::SUMMARY`] kinds.
    pub marks: HopInstants,
    /// The hop's URL (from request-start).
    pub url: String,
    /// Status of the hop's last response-headers.
    pub status: Option<u16>,
    /// How long after the kernel received the response's first byte the engine read it (ns):
    /// the client's own delay, which a user-space stamp would count as server time. `None`
    /// without a kernel stamp (not Linux, kernel stamps off, or none that fits).
    pub client_lag_ns: Option<u64>,
    /// The bytes the hop's `wrote-request`, `response-headers` and `response-done` counted.
    pub bytes: crate::event::ByteCounts,
}

impl HopRecord {
    /// Like [`observe`](HopRecord::observe) for an event no one keeps: its URL is moved into
    /// the record (leaving it empty in `kind`), not copied.
    pub(crate) fn observe_taking(&mut self, t: u64, kind: &mut EventKind) {
        self.fold(t, kind);
        if let EventKind::RequestStart { url, .. } = kind {
            self.url = std::mem::take(url);
        }
    }

    /// Folds in an event of the hop (any kind) of `kind` at `t`.
    pub fn observe(&mut self, t: u64, kind: &EventKind) {
        self.fold(t, kind);
        if let EventKind::RequestStart { url, .. } = kind {
            url.clone_into(&mut self.url);
        }
    }

    /// Everything [`observe`](HopRecord::observe) keeps but the URL.
    fn fold(&mut self, t: u64, kind: &EventKind) {
        match kind {
            EventKind::ResponseHeaders { status, header_bytes, .. } => {
                self.status = Some(*status);
                self.bytes.response_headers = self.bytes.response_headers.saturating_add(*header_bytes);
            }
            EventKind::WroteRequest { body_bytes, .. } => {
                self.bytes.request_body = self.bytes.request_body.saturating_add(*body_bytes);
            }
            EventKind::ResponseDone { body_bytes, .. } => {
                self.bytes.response_body = self.bytes.response_body.saturating_add(*body_bytes);
            }
            _ => {}
        }
        if KindSet::SUMMARY.contains(kind.index()) {
            self.marks.observe_at(t, kind);
        }
    }
}

/// The phase a hop is in after an event of `kind`, having been in `phase`.
pub fn phase_after(phase: Phase, kind: &EventKind) -> Phase {
    match kind {
        EventKind::RequestStart { .. } | EventKind::GetConn { .. } | EventKind::DnsStart { .. } => Phase::Dns,
        EventKind::DnsDone { .. } | EventKind::ConnectStart { .. } | EventKind::ConnectDone { .. } => Phase::Connect,
        // A proxy's tunnel is part of obtaining the connection.
        EventKind::ProxyConnectStart { .. } | EventKind::ProxyConnectDone { .. } => Phase::Connect,
        EventKind::TlsHandshakeStart { .. } | EventKind::QuicHandshakeStart { .. } => Phase::Tls,
        EventKind::TlsHandshakeDone { .. }
        | EventKind::QuicHandshakeDone { .. }
        | EventKind::GotConn { .. }
        | EventKind::WroteHeaderField { .. }
        | EventKind::WroteHeaders { .. } => Phase::Send,
        EventKind::Wait100Continue {} | EventKind::Got100Continue {} => Phase::Send,
        EventKind::WroteRequest { .. } | EventKind::GotFirstResponseByte { .. } | EventKind::Got1xxResponse { .. } => Phase::Wait,
        EventKind::ResponseHeaders { .. } => Phase::Receive,
        _ => phase,
    }
}

/// Whole-request timings: each phase summed over hops (-1 when it happened in no hop).
pub fn sum_timings(hops: &[Timings]) -> Timings {
    let add = |f: fn(&Timings) -> f64| {
        let mut happened = hops.iter().map(f).filter(|v| *v >= 0.0).peekable();
        if happened.peek().is_none() {
            -1.0
        } else {
            happened.sum()
        }
    };
    Timings {
        blocked: add(|t| t.blocked),
        dns: add(|t| t.dns),
        connect: add(|t| t.connect),
        ssl: add(|t| t.ssl),
        send: add(|t| t.send),
        wait: add(|t| t.wait),
        receive: add(|t| t.receive),
        total: hops.iter().map(|t| t.total).sum(),
    }
    .rounded()
}

/// Rounds to `decimals` places so printed values carry no binary noise (`0.1 + 0.2`).
fn round_to(v: f64, scale: f64) -> f64 {
    let x = v * scale;
    // `f64::round` is a libm call on baseline x86-64 (a visible cost at ~40 per request); a
    // truncating conversion is one instruction; `x - t` is exact below 2^52, so this is
    // `round` (half away from zero) exactly.
    let r = if x.abs() < 4_503_599_627_370_496.0 {
        let t = x as i64 as f64;
        if (x - t).abs() >= 0.5 {
            t + 1f64.copysign(x)
        } else {
            t
        }
    } else {
        x.round()
    };
    r / scale
}

impl Timings {
    /// Rounded to the nanosecond (6 decimals of a millisecond).
    fn rounded(self) -> Timings {
        let r = |v: f64| round_to(v, 1e6);
        Timings {
            blocked: r(self.blocked),
            dns: r(self.dns),
            connect: r(self.connect),
            ssl: r(self.ssl),
            send: r(self.send),
            wait: r(self.wait),
            receive: r(self.receive),
            total: r(self.total),
        }
    }
}

impl Marks {
    /// Rounded to the nanosecond (9 decimals of a second): what the marks already are.
    #[cfg(test)]
    fn rounded(self) -> Marks {
        let r = |v: f64| round_to(v, 1e9);
        Marks {
            namelookup: r(self.namelookup),
            connect: r(self.connect),
            appconnect: r(self.appconnect),
            pretransfer: r(self.pretransfer),
            posttransfer: r(self.posttransfer),
            starttransfer: r(self.starttransfer),
            total: r(self.total),
            redirect: r(self.redirect),
        }
    }
}

/// Whole-request marks: the final hop's marks counted from the request start (t = 0), as
/// curl's are with `-L`; `redirect` = when the final hop started.
pub fn request_marks(final_hop: &HopInstants) -> Marks {
    let hop_start = final_hop.start.unwrap_or(0);
    let from_zero = HopInstants { start: Some(0), ..*final_hop };
    let mut m = from_zero.marks();
    m.redirect = ns_to_s(hop_start);
    m
}

fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn ns_to_s(ns: u64) -> f64 {
    ns as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind as K;

    fn ev(at_ms: u64, kind: K) -> Event {
        Event { request: 1, hop: 0, conn: Some(1), at_ns: at_ms * 1_000_000, kind }
    }

    fn addr() -> crate::event::PeerAddr {
        "127.0.0.1:443".parse::<std::net::SocketAddr>().unwrap().into()
    }

    #[test]
    fn new_tls_connection_phases_follow_har_and_curl() {
        let events = vec![
            ev(0, K::GetConn { host_port: "h:443".into() }),
            ev(1, K::DnsStart { host: "h".into(), proxy: None }),
            ev(11, K::DnsDone { addrs: vec![], coalesced: false, error: None, proxy: None }),
            ev(11, K::ConnectStart { network: "tcp".into(), addr: addr(), proxy: None }),
            ev(21, K::ConnectDone { network: "tcp".into(), addr: addr(), cancelled: false, error: None, proxy: None }),
            ev(21, K::TlsHandshakeStart { server_name: "h".into() }),
            ev(
                51,
                K::TlsHandshakeDone {
                    version: "TLSv1.3".into(),
                    cipher_suite: "x".into(),
                    alpn: None,
                    resumed: false,
                    server_name: "h".into(),
                    peer_certificates: vec![],
                    error: None,
                    key_exchange_group: Some("X25519".into()),
                    client_certificate_requested: false,
                    client_certificate_sent: false,
                },
            ),
            ev(
                52,
                K::GotConn { reused: false, was_idle: false, idle_ns: 0, local_addr: addr(), remote_addr: addr(), protocol: "h2".into() },
            ),
            ev(54, K::WroteRequest { body_bytes: 0, error: None, clock: Default::default() }),
            ev(154, K::GotFirstResponseByte { clock: Default::default() }),
            ev(200, K::ResponseDone { body_bytes: 1, error: None, decoded_bytes: None }),
        ];
        let m = HopInstants::from_events(&events);
        let t = m.timings();
        assert_eq!((t.blocked, t.dns, t.connect, t.ssl), (1.0, 10.0, 40.0, 30.0));
        assert_eq!((t.send, t.wait, t.receive), (2.0, 100.0, 46.0));
        // 1 + 10 + 40 + 2 + 100 + 46: ssl is inside connect; the 1 ms between TLS done and
        // got-conn belongs to no HAR phase, as in browsers.
        assert_eq!(t.total, 199.0);
        let c = m.marks();
        assert_eq!((c.namelookup, c.connect, c.appconnect), (0.011, 0.021, 0.051));
        assert_eq!((c.pretransfer, c.posttransfer, c.starttransfer, c.total), (0.052, 0.054, 0.154, 0.2));
    }

    #[test]
    fn a_hop_record_is_the_same_whatever_order_its_events_arrive_in() {
        // Taps on connection tasks may report a hair out of order; the record folds events in
        // as they come and must equal the summary of the sorted events.
        let events = vec![
            ev(0, K::RequestStart { method: "GET".into(), url: "http://h/".into(), wall_unix_ns: 7, post_data: None }),
            ev(1, K::DnsStart { host: "h".into(), proxy: None }),
            ev(11, K::DnsDone { addrs: vec![], coalesced: false, error: None, proxy: None }),
            ev(11, K::ConnectStart { network: "tcp".into(), addr: addr(), proxy: None }),
            ev(12, K::ConnectStart { network: "tcp".into(), addr: addr(), proxy: None }),
            ev(15, K::ConnectDone { network: "tcp".into(), addr: addr(), cancelled: true, error: None, proxy: None }),
            ev(21, K::ConnectDone { network: "tcp".into(), addr: addr(), cancelled: false, error: None, proxy: None }),
            ev(
                22,
                K::GotConn { reused: false, was_idle: false, idle_ns: 0, local_addr: addr(), remote_addr: addr(), protocol: "h2".into() },
            ),
            ev(23, K::WroteHeaders { clock: Default::default() }),
            ev(24, K::WroteRequest { body_bytes: 0, error: None, clock: Default::default() }),
            ev(30, K::GotFirstResponseByte { clock: Default::default() }),
            ev(31, K::ResponseHeaders { status: 204, version: "HTTP/1.1".into(), headers: vec![], header_bytes: 9 }),
            ev(40, K::ResponseDone { body_bytes: 0, error: None, decoded_bytes: None }),
        ];
        let sorted = HopInstants::from_events(&events);
        let mut shuffled: Vec<&Event> = events.iter().collect();
        shuffled.reverse();
        shuffled.swap(2, 9);
        let mut record = HopRecord::default();
        for e in shuffled {
            record.observe(e.at_ns, &e.kind);
        }
        assert_eq!(record.marks, sorted);
        assert_eq!(record.marks.timings(), sorted.timings());
        assert_eq!((record.url.as_str(), record.status), ("http://h/", Some(204)));
        let want = crate::event::ByteCounts { request_body: 0, response_headers: 9, response_body: 0 };
        assert_eq!(record.bytes, want);
        assert_eq!(sorted.timings().connect, 10.0, "first connect-start to the winning connect-done");
    }

    #[test]
    fn reused_connection_has_no_dns_or_connect() {
        let events = vec![
            ev(0, K::GetConn { host_port: "h:80".into() }),
            ev(
                0,
                K::GotConn {
                    reused: true,
                    was_idle: true,
                    idle_ns: 5,
                    local_addr: addr(),
                    remote_addr: addr(),
                    protocol: "http/1.1".into(),
                },
            ),
            ev(1, K::WroteRequest { body_bytes: 0, error: None, clock: Default::default() }),
            ev(3, K::GotFirstResponseByte { clock: Default::default() }),
            ev(4, K::ResponseDone { body_bytes: 1, error: None, decoded_bytes: None }),
        ];
        let t = HopInstants::from_events(&events).timings();
        assert_eq!((t.dns, t.connect, t.ssl), (-1.0, -1.0, -1.0));
        assert_eq!((t.send, t.wait, t.receive, t.total), (1.0, 2.0, 1.0, 4.0));
        let c = HopInstants::from_events(&events).marks();
        assert_eq!(c.appconnect, 0.0);
        assert_eq!(c.starttransfer, 0.003);
    }

    #[test]
    fn rounding_is_round_half_away_from_zero() {
        for v in [0.0, 0.4999999999999999, 0.5, 1.5, 2.5, -0.5, -1.5, -2.4999, 123456.789e3, 1e300, -1e300, 0.1 + 0.2, f64::MAX] {
            assert_eq!(round_to(v, 1.0), v.round(), "{v}");
            assert_eq!(round_to(v, 1e6), (v * 1e6).round() / 1e6, "{v}");
        }
        assert!(round_to(f64::NAN, 1.0).is_nan());
    }

    #[test]
    fn timings_and_marks_need_no_rounding_but_the_sums() {
        // Values made by one division of whole nanoseconds are already what rounding to the
        // nanosecond gives (so the summaries skip it); a sum is not.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ns = x % 4_000_000_000_000; // up to ~66 minutes
            assert_eq!(round_to(ns_to_ms(ns), 1e6), ns_to_ms(ns), "{ns}");
            assert_eq!(round_to(ns_to_s(ns), 1e9), ns_to_s(ns), "{ns}");
        }
        assert_ne!(0.1 + 0.2, 0.3);
        assert_eq!(round_to(0.1 + 0.2, 1e6), 0.3);
        let m = HopInstants {
            start: Some(5),
            dns_start: Some(1_000_003),
            dns_done: Some(2_345_679),
            connect_start: Some(2_345_679),
            connect_done: Some(7_777_777),
            got_conn: Some(7_800_001),
            wrote_request: Some(9_000_000),
            first_byte: Some(123_456_789),
            response_done: Some(223_456_789),
            ..HopInstants::default()
        };
        let t = m.timings();
        assert_eq!(t.total, round_to(t.blocked + t.dns + t.connect + t.send + t.wait + t.receive, 1e6));
        let c = m.marks();
        assert_eq!(c, c.rounded());
        assert_eq!(request_marks(&m), request_marks(&m).rounded());
    }

    #[test]
    fn sums_over_hops_skip_missing_phases() {
        let a = Timings { blocked: 1.0, dns: 2.0, connect: 3.0, ssl: -1.0, send: 1.0, wait: 1.0, receive: 1.0, total: 9.0 };
        let b = Timings { dns: -1.0, connect: -1.0, ..a };
        let s = sum_timings(&[a, b]);
        assert_eq!((s.dns, s.connect, s.ssl, s.total), (2.0, 3.0, -1.0, 18.0));
    }
}
