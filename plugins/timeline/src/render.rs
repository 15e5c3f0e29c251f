//! Rendering one finished request: a block per hop, then a total for redirected requests.

use std::collections::BTreeMap;
use std::fmt::Write;

use httptrace_guest::{
    fmt_ms, Event, EventKind, GotConn, Header, HopSummary, Redirect, RequestDone, RequestStart, ResponseDone, ResponseHeaders,
    TlsHandshakeDone, TraceError,
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

use crate::paint::{Paint, BOLD, GRAY, GREEN, RED, YELLOW};
use crate::waterfall::{self, Column};

/// What the events of one hop say.
#[derive(Default)]
struct Hop<'a> {
    start: Option<&'a RequestStart>,
    dns_ok: bool,
    tcp_addr: Option<&'a str>,
    connect_failures: Vec<(&'a str, &'a TraceError)>,
    tls: Option<&'a TlsHandshakeDone>,
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
    fn observe(&mut self, ev: &'a Event) {
        match &ev.kind {
            EventKind::RequestStart(s) => self.start = Some(s),
            EventKind::DnsDone(d) => self.dns_ok = d.error.is_none(),
            EventKind::ConnectDone(c) if !c.cancelled => match &c.error {
                None => self.tcp_addr = Some(&c.addr),
                Some(e) => self.connect_failures.push((&c.addr, e)),
            },
            EventKind::TlsHandshakeDone(t) => self.tls = Some(t),
            EventKind::GotConn(g) => self.got_conn = Some((g, ev.conn)),
            EventKind::WroteRequest(w) => self.sent = w.error.is_none(),
            EventKind::GotFirstResponseByte => self.first_byte = true,
            EventKind::ResponseHeaders(r) => self.response = Some(r),
            EventKind::ResponseDone(r) => self.body = Some(r),
            EventKind::Redirect(r) => self.redirect = Some(r),
            EventKind::WroteHeaderField(h) => self.fields.push(h),
            _ => {}
        }
    }

    fn tls_ok(&self) -> bool {
        self.tls.is_some_and(|t| t.error.is_none())
    }

    fn connected(&self) -> bool {
        self.tcp_addr.is_some() || self.got_conn.is_some()
    }

    /// The steps this hop completed, in order.
    fn reached(&self) -> Vec<&'static str> {
        let reused = self.got_conn.is_some_and(|(g, _)| g.reused);
        [
            (self.dns_ok, "DNS lookup"),
            (self.tcp_addr.is_some(), "TCP connect"),
            (self.tls_ok(), "TLS handshake"),
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
        out.push_str("  ");
        p.push(out, GRAY, "Connected to");
        let _ = write!(out, " {} from {} ({}, ", g.remote_addr, g.local_addr, g.protocol);
        out.push_str(if g.reused { "reused connection" } else { "new connection" });
        if let Some(c) = conn {
            let _ = write!(out, " #{c}");
        }
        if g.reused && g.was_idle {
            out.push_str(", idle ");
            out.push_str(&fmt_ms(g.idle_ns as f64 / 1e6));
        }
        out.push_str(")\n");
    } else if let Some(addr) = hop.tcp_addr {
        out.push_str("  ");
        p.push(out, GRAY, "Connected to");
        let _ = writeln!(out, " {addr}");
    }
    for (addr, e) in &hop.connect_failures {
        // The message repeats the address; the kind (`refused`, `timeout`...) says it all.
        out.push_str("  ");
        p.push(out, GRAY, "Could not connect to");
        let _ = writeln!(out, " {addr} ({})", e.kind);
    }
    if let Some(tls) = hop.tls {
        render_tls(out, tls, wall_ns, p);
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
        }
        out.push('\n');
    }
    if headers == Headers::All && !hop.fields.is_empty() {
        for h in &hop.fields {
            let _ = writeln!(out, "  {} {}: {}", p.on(GRAY, ">"), h.name, h.value);
        }
    }
    if let (Headers::Response | Headers::All, Some(r)) = (headers, hop.response) {
        let _ = writeln!(out, "  {} {} {} {}", p.on(GRAY, "<"), r.version, r.status, reason(r.status));
        for h in &r.headers {
            let _ = writeln!(out, "  {} {}: {}", p.on(GRAY, "<"), h.name, h.value);
        }
    }
    if let Some(e) = error {
        let during = e.during.map(|d| format!(" during {}", d.as_str())).unwrap_or_default();
        let what = format!("Error ({}{during}, {}): {}", e.phase.as_str(), e.kind, e.message);
        let _ = writeln!(out, "  {}", p.on(RED, &what));
        let reached = hop.reached();
        let reached = if reached.is_empty() { "nothing".to_string() } else { reached.join(" → ") };
        let _ = writeln!(out, "  {} {reached}", p.on(GRAY, "Reached:"));
    }
    if let Some(s) = summary {
        out.push('\n');
        waterfall::render_into(out, &columns(hop, s, url), "  ", p);
    }
    if let Some(r) = hop.redirect {
        let _ = writeln!(out, "\n  {} {} → {} {}", p.on(GRAY, "Redirect"), r.status, r.method, r.to);
    }
    out.push('\n');
}

/// The reason phrase of a status (RFC 9110's), as a status line carries it.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

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
    if let Some(cert) = tls.peer_certificates.first() {
        let left = wall_ns.and_then(|now| days_left(&cert.not_after, now));
        let (note, code) = match left {
            Some(d) if d < 0 => (format!(" (expired {} days ago)", -d), RED),
            Some(d) if d < 14 => (format!(" (in {d} days)"), YELLOW),
            Some(d) => (format!(" (in {d} days)"), ""),
            None => (String::new(), ""),
        };
        let expires = format!("{}{note}", cert.not_after);
        let _ = writeln!(
            out,
            "  {} {}, issued by {}, expires {}",
            p.on(GRAY, "Certificate"),
            cert.subject,
            cert.issuer,
            if code.is_empty() { expires } else { p.on(code, &expires) }
        );
    }
}

/// The httpstat columns of one hop. A phase shows `-` when it did not happen, including
/// those a failed hop never reached (the host reports those as 0).
fn columns(hop: &Hop, s: &HopSummary, url: &str) -> Vec<Column> {
    let t = &s.timings;
    let ms = |v: f64| fmt_ms(v);
    let mark = |reached: bool, secs: f64| if reached { fmt_ms(secs * 1e3) } else { "-".to_string() };
    let tcp = if t.connect >= 0.0 { t.connect - t.ssl.max(0.0) } else { -1.0 };
    let named = hop.dns_ok || (t.dns < 0.0 && hop.connected());
    let mut cols = vec![
        Column { label: "DNS Lookup", cell: ms(t.dns), mark: "namelookup", mark_value: mark(named, s.marks.namelookup) },
        Column { label: "TCP Connection", cell: ms(tcp), mark: "connect", mark_value: mark(hop.connected(), s.marks.connect) },
    ];
    if url.starts_with("https:") {
        cols.push(Column {
            label: "TLS Handshake",
            cell: ms(t.ssl),
            mark: "pretransfer",
            mark_value: mark(hop.got_conn.is_some(), s.marks.pretransfer),
        });
    }
    cols.push(Column {
        label: "Server Processing",
        cell: if hop.sent { ms(t.wait) } else { "-".into() },
        mark: "starttransfer",
        mark_value: mark(hop.first_byte, s.marks.starttransfer),
    });
    cols.push(Column {
        label: "Content Transfer",
        cell: if hop.first_byte { ms(t.receive) } else { "-".into() },
        mark: "total",
        mark_value: fmt_ms(s.marks.total * 1e3),
    });
    cols
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
