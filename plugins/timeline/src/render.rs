//! Rendering one finished request: a block per hop, then a total for redirected requests.

use std::collections::BTreeMap;
use std::fmt::Write;

use httptrace_guest::{
    fmt_ms, reason_phrase, CertSummary, Event, EventKind, GotConn, Header, HopSummary, ProxyConnectDone, QuicHandshakeDone, Redirect,
    RequestDone, RequestStart, ResponseDone, ResponseHeaders, TlsHandshakeDone, TraceError,
};

/// Which headers a hop shows (the `headers` configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Headers {
    /// None (the default).
    #[default]
    None,
    /// The status line and the response headers (`-i`).
    Response,
    /// The request header fields too (`-v`).
    All,
}

use crate::paint::{spaces, Paint, BOLD, GRAY, GREEN, RED, YELLOW};
use crate::waterfall::{self, Column};

/// What the events of one hop say.
#[derive(Default)]
struct Hop<'a> {
    start: Option<&'a RequestStart>,
    /// When the hop started (ns since the request started).
    start_ns: u64,
    dns_ok: bool,
    tcp_addr: Option<&'a str>,
    /// The connection is QUIC (HTTP/3): its "connect" is the UDP socket, its TLS the QUIC
    /// handshake.
    quic: bool,
    /// Connected over a Unix domain socket (`--unix-socket`).
    unix: bool,
    /// `--http3`: the QUIC handshake that failed before the hop fell back to TCP.
    quic_failure: Option<&'a TraceError>,
    connect_failures: Vec<(&'a str, &'a TraceError)>,
    tls: Option<&'a TlsHandshakeDone>,
    /// HTTP/3's QUIC handshake.
    quic_hs: Option<&'a QuicHandshakeDone>,
    /// The proxy's tunnel, and when it was open (ns since the request started).
    tunnel: Option<(&'a ProxyConnectDone, u64)>,
    got_conn: Option<(&'a GotConn, Option<u64>)>,
    sent: bool,
    first_byte: bool,
    response: Option<&'a ResponseHeaders>,
    body: Option<&'a ResponseDone>,
    redirect: Option<&'a Redirect>,
    /// Request header fields as written, in order.
    fields: Vec<&'a Header>,
}

impl<'a> Hop<'a> {
    /// The connect phase's column.
    fn connect_label(&self) -> &'static str {
        match (self.quic, self.unix) {
            (true, _) => "UDP Socket",
            (_, true) => "Unix Socket",
            _ => "TCP Connection",
        }
    }

    /// The connect phase in a failure's words.
    fn connect_word(&self) -> &'static str {
        match (self.quic, self.unix) {
            (true, _) => "UDP socket",
            (_, true) => "Unix socket connect",
            _ => "TCP connect",
        }
    }

    fn observe(&mut self, ev: &'a Event) {
        match &ev.kind {
            EventKind::RequestStart(s) => {
                self.start = Some(s);
                self.start_ns = ev.at_ns;
            }
            EventKind::DnsDone(d) => self.dns_ok = d.error.is_none(),
            EventKind::ConnectDone(c) if !c.cancelled => {
                self.quic = c.network == "udp";
                self.unix = c.network == "unix";
                match &c.error {
                    None => self.tcp_addr = Some(&c.addr),
                    Some(e) => self.connect_failures.push((&c.addr, e)),
                }
            }
            // Through an HTTPS proxy, the origin's handshake (in the tunnel) is the one shown.
            EventKind::TlsHandshakeDone(t) => self.tls = Some(t),
            EventKind::QuicHandshakeDone(q) => {
                if let Some(e) = &q.error {
                    self.quic_failure = Some(e);
                }
                self.quic_hs = Some(q);
            }
            EventKind::ProxyConnectDone(p) => self.tunnel = Some((p, ev.at_ns)),
            EventKind::GotConn(g) => {
                self.quic = g.protocol == "h3";
                self.got_conn = Some((g, ev.conn));
            }
            EventKind::WroteRequest(w) => self.sent = w.error.is_none(),
            EventKind::GotFirstResponseByte(_) => self.first_byte = true,
            EventKind::ResponseHeaders(r) => self.response = Some(r),
            EventKind::ResponseDone(r) => self.body = Some(r),
            EventKind::Redirect(r) => self.redirect = Some(r),
            EventKind::WroteHeaderField(h) => self.fields.push(h),
            _ => {}
        }
    }

    fn tls_ok(&self) -> bool {
        if self.quic {
            self.quic_hs.is_some_and(|q| q.error.is_none())
        } else {
            self.tls.is_some_and(|t| t.error.is_none())
        }
    }

    fn tunnel_ok(&self) -> bool {
        self.tunnel.is_some_and(|(t, _)| t.error.is_none())
    }

    fn connected(&self) -> bool {
        self.tcp_addr.is_some() || self.got_conn.is_some()
    }

    /// The steps this hop completed, in order.
    fn reached(&self) -> Vec<&'static str> {
        let reused = self.got_conn.is_some_and(|(g, _)| g.reused);
        [
            (self.dns_ok, "DNS lookup"),
            (self.tcp_addr.is_some(), self.connect_word()),
            (self.tunnel_ok(), "proxy tunnel"),
            (self.tls_ok(), if self.quic { "QUIC handshake" } else { "TLS handshake" }),
            (reused, "reused connection"),
            (self.sent, "request sent"),
            (self.response.is_some(), "response headers"),
            (self.body.is_some_and(|b| b.error.is_none()), "body"),
        ]
        .into_iter()
        .filter_map(|(done, step)| done.then_some(step))
        .collect()
    }
}

/// The whole request: every hop, then a total line if it was redirected.
#[cfg(test)]
pub fn request<'a>(events: impl IntoIterator<Item = &'a Event>, done: &RequestDone, p: Paint) -> String {
    let mut out = String::new();
    request_into(&mut out, events, done, Headers::None, p);
    out
}

/// Appends the whole request to `out`: every hop, then a total line if it was redirected.
pub fn request_into<'a>(out: &mut String, events: impl IntoIterator<Item = &'a Event>, done: &RequestDone, headers: Headers, p: Paint) {
    let mut hops: BTreeMap<u32, Hop> = BTreeMap::new();
    for ev in events {
        hops.entry(ev.hop).or_default().observe(ev);
    }
    for h in &done.hops {
        hops.entry(h.hop).or_default();
    }
    hops.entry(0).or_default();
    let last = *hops.keys().next_back().unwrap_or(&0);
    let wall_ns = hops.values().find_map(|h| h.start.map(|s| s.wall_unix_ns));

    for (n, hop) in &hops {
        let summary = done.hops.iter().find(|h| h.hop == *n);
        let error = if *n == last { done.error.as_ref() } else { None };
        let url = hop.start.map(|s| s.url.as_str()).or(summary.map(|s| s.url.as_str())).unwrap_or(&done.url);
        render_hop(out, hop, url, summary, error, wall_ns, headers, p);
    }
    if done.hops.len() > 1 {
        p.push(out, BOLD, "Total");
        let _ = writeln!(
            out,
            " {} over {} hops, {} in redirects\n",
            fmt_ms(done.marks.total * 1e3),
            done.hops.len(),
            fmt_ms(done.marks.redirect * 1e3),
        );
    }
}

#[allow(clippy::too_many_arguments)] // one hop's facts, each from a different event
fn render_hop(
    out: &mut String,
    hop: &Hop,
    url: &str,
    summary: Option<&HopSummary>,
    error: Option<&TraceError>,
    wall_ns: Option<u64>,
    headers: Headers,
    p: Paint,
) {
    let method = hop.start.map_or("", |s| s.method.as_str());
    p.push(out, BOLD, format!("{method} {url}").trim_start());
    out.push('\n');

    if let Some((g, conn)) = hop.got_conn {
        let mut first = String::from("  ");
        p.push(&mut first, GRAY, "Connected to");
        let _ = write!(first, " {}", g.remote_addr);
        // (A Unix socket's client end has no name.)
        if !g.local_addr.is_empty() {
            let _ = write!(first, " from {}", g.local_addr);
        }
        let mut how = format!(" ({}, ", g.protocol);
        how.push_str(if g.reused { "reused connection" } else { "new connection" });
        if let Some(c) = conn {
            let _ = write!(how, " #{c}");
        }
        if g.reused && g.was_idle {
            how.push_str(", idle ");
            how.push_str(&fmt_ms(g.idle_ns as f64 / 1e6));
        }
        how.push(')');
        push_parts(out, &first, &[how]);
    } else if let Some(addr) = hop.tcp_addr {
        out.push_str("  ");
        p.push(out, GRAY, "Connected to");
        let _ = writeln!(out, " {addr}");
    }
    if let (Some(e), false) = (hop.quic_failure, hop.quic) {
        out.push_str("  ");
        p.push(out, GRAY, "HTTP/3 failed");
        let _ = writeln!(out, " ({}), fell back to TCP", e.kind);
    }
    for (addr, e) in &hop.connect_failures {
        // The message repeats the address; the kind (`refused`, `timeout`...) says it all.
        out.push_str("  ");
        p.push(out, GRAY, "Could not connect to");
        let _ = writeln!(out, " {addr} ({})", e.kind);
    }
    if let Some((t, _)) = hop.tunnel {
        let how = match (t.status, &t.error) {
            (_, Some(_)) => "refused".to_string(),
            (Some(status), None) => format!("CONNECT {status}"),
            (None, None) => "open".to_string(),
        };
        let first = format!("  {} {}", p.on(GRAY, "Tunnel through"), t.proxy);
        push_parts(out, &first, &[format!(" ({how})")]);
    }
    match (hop.quic, hop.quic_hs, hop.tls) {
        (true, Some(q), _) => {
            if q.error.is_none() {
                let mut line = format!("v{}, TLSv1.3", q.quic_version);
                if let Some(alpn) = &q.alpn {
                    let _ = write!(line, ", ALPN {alpn}");
                }
                if q.resumed {
                    line.push_str(", resumed");
                }
                if q.early_data_accepted {
                    line.push_str(", 0-RTT");
                }
                let _ = writeln!(out, "  {} {line}", p.on(GRAY, "QUIC"));
            }
            render_cert(out, q.peer_certificates.first(), wall_ns, p);
        }
        (false, _, Some(tls)) => render_tls(out, tls, wall_ns, p),
        _ => {}
    }
    if let Some(r) = hop.response {
        let code = match r.status {
            200..=299 => GREEN,
            300..=399 => YELLOW,
            _ => RED,
        };
        let _ = write!(out, "  {} ", r.version);
        p.push(out, code, &r.status.to_string());
        if let Some(b) = hop.body {
            let _ = write!(out, ", {} bytes", b.body_bytes);
            if let Some(decoded) = b.decoded_bytes {
                let _ = write!(out, " ({decoded} decoded)");
            }
        }
        out.push('\n');
    }
    if headers == Headers::All && !hop.fields.is_empty() {
        for h in &hop.fields {
            let _ = writeln!(out, "  {} {}: {}", p.on(GRAY, ">"), h.name, h.value);
        }
    }
    if let (Headers::Response | Headers::All, Some(r)) = (headers, hop.response) {
        let _ = writeln!(out, "  {} {} {} {}", p.on(GRAY, "<"), r.version, r.status, reason_phrase(r.status));
        for h in &r.headers {
            let _ = writeln!(out, "  {} {}: {}", p.on(GRAY, "<"), h.name, h.value);
        }
    }
    if let Some(e) = error {
        let during = e.during.map(|d| format!(" during {}", d.as_str())).unwrap_or_default();
        let what = format!("Error ({}{during}, {}): {}", e.phase.as_str(), e.kind, e.message);
        push_wrapped(out, &format!("  {}", p.on(RED, &what)));
        let reached = hop.reached();
        let reached = if reached.is_empty() { "nothing".to_string() } else { reached.join(" → ") };
        let _ = writeln!(out, "  {} {reached}", p.on(GRAY, "Reached:"));
    }
    if let Some(s) = summary {
        out.push('\n');
        waterfall::render_into(out, &columns(hop, s, url), "  ", p);
    }
    if let Some(r) = hop.redirect {
        out.push('\n');
        push_wrapped(out, &format!("  {} {} → {} {}", p.on(GRAY, "Redirect"), r.status, r.method, r.to));
    }
    out.push('\n');
}

/// The widest a descriptive line gets before it wraps (a terminal's 80 columns).
const WIDTH: usize = crate::waterfall::MAX_WIDTH;

/// Appends `line` (indented, maybe with colour codes) and a newline, wrapped at spaces to
/// [`WIDTH`] visible columns with continuation lines indented two more. A single word longer
/// than that (a URL) stays whole, so it can still be copied.
fn push_wrapped(out: &mut String, line: &str) {
    let body = line.trim_start_matches(' ');
    let indent = line.len() - body.len();
    let mut width = indent;
    out.push_str(&line[..indent]);
    for (i, word) in body.split(' ').enumerate() {
        let w = visible_width(word);
        if i > 0 {
            if width + 1 + w > WIDTH && width > indent + 2 {
                out.push('\n');
                spaces(out, indent + 2);
                width = indent + 2;
            } else {
                out.push(' ');
                width += 1;
            }
        }
        out.push_str(word);
        width += w;
    }
    out.push('\n');
}

/// Appends `first` followed by `rest` on one line if that fits in [`WIDTH`] columns; else
/// each part of `rest` starts a continuation line of its own (its leading `, ` or space
/// dropped), every line wrapped as [`push_wrapped`] does.
fn push_parts(out: &mut String, first: &str, rest: &[String]) {
    if visible_width(first) + rest.iter().map(|r| visible_width(r)).sum::<usize>() <= WIDTH {
        out.push_str(first);
        for part in rest {
            out.push_str(part);
        }
        out.push('\n');
        return;
    }
    push_wrapped(out, first);
    let indent = first.len() - first.trim_start_matches(' ').len() + 2;
    for part in rest {
        let mut line = String::new();
        spaces(&mut line, indent);
        line.push_str(part.trim_start_matches(',').trim_start());
        push_wrapped(out, &line);
    }
}

/// Characters a terminal shows for `s`: ANSI colour sequences (`ESC [ ... m`) take none.
fn visible_width(s: &str) -> usize {
    // Characters are the bytes that do not continue a UTF-8 sequence.
    let mut n = 0;
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == 0x1b {
            for b in bytes.by_ref() {
                if b == b'm' {
                    break;
                }
            }
        } else if b & 0xc0 != 0x80 {
            n += 1;
        }
    }
    n
}

/// The handshake's line and the certificate's.
fn render_tls(out: &mut String, tls: &TlsHandshakeDone, wall_ns: Option<u64>, p: Paint) {
    if tls.error.is_none() {
        let mut line = format!("{}, {}", tls.version, tls.cipher_suite);
        if let Some(group) = &tls.key_exchange_group {
            let _ = write!(line, ", {group}");
        }
        if let Some(alpn) = &tls.alpn {
            let _ = write!(line, ", ALPN {alpn}");
        }
        if tls.resumed {
            line.push_str(", resumed");
        }
        let _ = writeln!(out, "  {} {line}", p.on(GRAY, "TLS"));
    }
    render_cert(out, tls.peer_certificates.first(), wall_ns, p);
}

/// The end-entity certificate's line: subject, issuer, expiry.
fn render_cert(out: &mut String, cert: Option<&CertSummary>, wall_ns: Option<u64>, p: Paint) {
    if let Some(cert) = cert {
        let left = wall_ns.and_then(|now| days_left(&cert.not_after, now));
        let (note, code) = match left {
            Some(d) if d < 0 => (format!(" (expired {} days ago)", -d), RED),
            Some(d) if d < 14 => (format!(" (in {d} days)"), YELLOW),
            Some(d) => (format!(" (in {d} days)"), ""),
            None => (String::new(), ""),
        };
        let mut first = String::with_capacity(24 + cert.subject.len() + cert.issuer.len());
        first.push_str("  ");
        p.push(&mut first, GRAY, "Certificate");
        first.push(' ');
        first.push_str(&cert.subject);
        first.push_str(", issued by ");
        first.push_str(&cert.issuer);
        let mut expires = String::with_capacity(48);
        expires.push_str(", expires ");
        if code.is_empty() {
            expires.push_str(&cert.not_after);
            expires.push_str(&note);
        } else {
            p.push(&mut expires, code, &format!("{}{note}", cert.not_after));
        }
        push_parts(out, &first, &[expires]);
    }
}

/// The httpstat columns of one hop: each phase's cell is the time from the previous mark shown
/// to its own, so the cells add up to the `total` mark. A phase that did not happen (or that a
/// failed hop never reached) shows `-`, and its time, if any, counts in the next phase shown;
/// a failed hop's remaining time goes to the phase that failed.
fn columns(hop: &Hop, s: &HopSummary, url: &str) -> Vec<Column> {
    let m = &s.marks;
    let https = url.starts_with("https:");
    let new_conn = hop.tcp_addr.is_some();
    let named = hop.dns_ok || (s.timings.dns < 0.0 && hop.connected());
    let no_lookup = s.timings.dns < 0.0;
    // (label, mark name, mark in seconds, the phase happened, the mark was reached, the hop
    // got past the phase)
    // Through a proxy's tunnel, a column more (its mark is when the tunnel was open); the last
    // two labels shorten to stay within 80 columns.
    let tunnel = hop.tunnel.map(|(_, at)| at);
    let (server, transfer) = if tunnel.is_some() { ("Server", "Transfer") } else { ("Server Processing", "Content Transfer") };
    let mut phases = vec![
        ("DNS Lookup", "namelookup", m.namelookup, hop.dns_ok, named, hop.dns_ok || no_lookup),
        (hop.connect_label(), "connect", m.connect, new_conn, hop.connected(), hop.connected()),
    ];
    if let Some(at) = tunnel {
        let ok = hop.tunnel_ok();
        phases.push(("Tunnel", "tunnel", at.saturating_sub(hop.start_ns) as f64 / 1e9, new_conn && ok, new_conn, ok));
    }
    if https {
        let ready = hop.got_conn.is_some();
        let label = if hop.quic { "QUIC Handshake" } else { "TLS Handshake" };
        phases.push((label, "pretransfer", m.pretransfer, new_conn && hop.tls_ok(), ready, ready));
    }
    phases.push((server, "starttransfer", m.starttransfer, hop.sent, hop.first_byte, hop.first_byte));
    phases.push((transfer, "total", m.total, hop.first_byte, true, true));
    // The first phase the hop did not get past is the one that failed: it gets the time up to
    // the end.
    let failed_at = phases.iter().position(|p| !p.5);
    let mut prev = 0.0;
    phases
        .iter()
        .enumerate()
        .map(|(i, &(label, mark, at, happened, reached, _))| {
            let ends = if Some(i) == failed_at { Some(m.total) } else { happened.then_some(at) };
            let cell = match ends {
                Some(end) if end >= prev => {
                    let d = end - prev;
                    prev = end;
                    fmt_ms(d * 1e3)
                }
                _ => "-".to_string(),
            };
            let mark_value = if reached { fmt_ms(at * 1e3) } else { "-".to_string() };
            Column { label, cell, mark, mark_value }
        })
        .collect()
}

/// Whole days from `now_unix_ns` until `rfc3339` (`YYYY-MM-DDTHH:MM:SSZ`), negative once past.
fn days_left(rfc3339: &str, now_unix_ns: u64) -> Option<i64> {
    let (date, time) = rfc3339.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.splitn(3, ':').map(|x| x.get(..2).and_then(|x| x.parse::<i64>().ok()));
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let at = days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss;
    Some((at - (now_unix_ns / 1_000_000_000) as i64).div_euclid(86_400))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
