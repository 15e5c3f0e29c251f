//! `har`: a HAR 1.2 log with one entry per request hop — startedDateTime, time, request and
//! response (method, URL, HTTP version, headers, status, sizes), timings by the HAR rules,
//! serverIPAddress, the server's port in `connection` and the connection id in `_connectionId`
//! (as Chrome writes them and its DevTools import them). Entries are written as each request finishes, so a
//! long run never holds them all; the log is closed at the end of the run.
//!
//! Failed hops get an entry too, with `response.status` 0 and the typed error in `_error`.
//! The run is one page (`pages`, written after the entries when the run ends, with the run's
//! start and length); `statusText` is the status's reason phrase (RFC 9110); `cookies` come
//! from `Cookie` and `Set-Cookie` (empty while those are redacted, as they are unless
//! `--show-secrets`); `request.headersSize` is the HTTP/1.1 header block's size when no value
//! is redacted; with `--compressed`, `content.size` is the decoded body, `bodySize` the bytes
//! on the wire and `content.compression` the difference. What HAR has no field for is in `_`-prefixed fields: `_connectAttempts` (every
//! TCP attempt, Happy Eyeballs races included: address, start and length in ms from the hop's
//! start, outcome) and `_tls` (version, cipher suite, key exchange group, ALPN, resumed).
//! Config: `pretty=true` indents each entry.

use std::collections::HashMap;

use httptrace_guest::{
    emit, http1_head_size, iso8601_ms, reason_phrase, Config, Event, EventKind, Header, HopSummary, Plugin, RunOutcome, TraceError, Verdict,
};
use serde_json::{json, Value};

/// What one hop revealed, gathered from its events.
#[derive(Default)]
struct Hop {
    method: String,
    url: String,
    wall_unix_ns: u64,
    request_headers: Vec<Header>,
    request_body: u64,
    conn: Option<u64>,
    server_ip: String,
    server_port: Option<u16>,
    status: u16,
    version: String,
    response_headers: Vec<Header>,
    header_bytes: Option<u64>,
    body_bytes: u64,
    /// The body's decoded length (`--compressed`).
    decoded_bytes: Option<u64>,
    redirect_to: String,
    /// Connect attempts: address, start and end (ns from the request's origin), outcome.
    attempts: Vec<(String, u64, Option<u64>, String)>,
    tls: Option<Value>,
    /// The hop's start (ns from the request's origin).
    start_ns: u64,
    /// The body sent, as text (`postData`).
    post_data: Option<String>,
    /// The proxy's tunnel.
    tunnel: Option<Tunnel>,
}

/// A proxy's tunnel (`proxy-connect-start` / `-done`).
struct Tunnel {
    proxy: String,
    /// Start and end, ns from the request's origin.
    start: u64,
    end: Option<u64>,
    /// The proxy's answer to `CONNECT`.
    status: Option<u16>,
    /// Why it was not opened (the error's kind).
    error: Option<String>,
}

struct Har {
    pretty: bool,
    entries: u64,
    open: HashMap<u64, Vec<Hop>>,
    /// The run's extent so far (ns since the epoch): first start, last end.
    first_start: Option<u64>,
    last_end: Option<u64>,
}

impl Plugin for Har {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&["pretty"])?;
        let pretty = config.flag("pretty")?.unwrap_or(false);
        emit(&format!(
            "{{\"log\":{{\"version\":\"1.2\",\"creator\":{{\"name\":\"httptrace\",\"version\":\"{}\"}},\"entries\":[",
            env!("CARGO_PKG_VERSION")
        ));
        Ok(Har { pretty, entries: 0, open: HashMap::new(), first_start: None, last_end: None })
    }

    fn on_event(&mut self, ev: &Event) -> Verdict {
        let hops = self.open.entry(ev.request).or_default();
        let at = ev.hop as usize;
        while hops.len() <= at {
            hops.push(Hop::default());
        }
        let hop = &mut hops[at];
        if hop.conn.is_none() {
            hop.conn = ev.conn;
        }
        match &ev.kind {
            EventKind::RequestStart(s) => {
                hop.method = s.method.clone();
                hop.url = s.url.clone();
                hop.wall_unix_ns = s.wall_unix_ns;
                hop.start_ns = ev.at_ns;
                hop.post_data = s.post_data.clone();
            }
            EventKind::ProxyConnectStart(p) => {
                hop.tunnel = Some(Tunnel { proxy: p.proxy.clone(), start: ev.at_ns, end: None, status: None, error: None })
            }
            EventKind::ProxyConnectDone(p) => {
                let start = hop.tunnel.as_ref().map_or(ev.at_ns, |t| t.start);
                let error = p.error.as_ref().map(|e| e.kind.clone());
                hop.tunnel = Some(Tunnel { proxy: p.proxy.clone(), start, end: Some(ev.at_ns), status: p.status, error });
            }
            EventKind::ConnectStart(c) => hop.attempts.push((c.addr.clone(), ev.at_ns, None, String::new())),
            EventKind::ConnectDone(c) => {
                let outcome = match (&c.error, c.cancelled) {
                    (Some(e), _) => e.kind.clone(),
                    (None, true) => "cancelled".to_string(),
                    (None, false) => "connected".to_string(),
                };
                match hop.attempts.iter_mut().find(|a| a.0 == c.addr && a.2.is_none()) {
                    Some(a) => {
                        a.2 = Some(ev.at_ns);
                        a.3 = outcome;
                    }
                    None => hop.attempts.push((c.addr.clone(), ev.at_ns, Some(ev.at_ns), outcome)),
                }
            }
            EventKind::TlsHandshakeDone(t) if t.error.is_none() => {
                hop.tls = Some(json!({
                    "version": t.version,
                    "cipherSuite": t.cipher_suite,
                    "keyExchangeGroup": t.key_exchange_group,
                    "alpn": t.alpn,
                    "resumed": t.resumed,
                }))
            }
            // HTTP/3: the QUIC handshake (TLS 1.3 inside QUIC).
            EventKind::QuicHandshakeDone(q) if q.error.is_none() => {
                hop.tls = Some(json!({
                    "version": "TLSv1.3",
                    "quicVersion": q.quic_version,
                    "alpn": q.alpn,
                    "resumed": q.resumed,
                    "earlyData": q.early_data_accepted,
                }))
            }
            EventKind::GotConn(c) => {
                hop.server_ip = ip_of(&c.remote_addr);
                hop.server_port = port_of(&c.remote_addr);
            }
            EventKind::WroteHeaderField(h) if !h.name.starts_with(':') => hop.request_headers.push(h.clone()),
            EventKind::WroteRequest(w) => hop.request_body = w.body_bytes,
            EventKind::ResponseHeaders(r) => {
                hop.status = r.status;
                hop.version = r.version.clone();
                hop.header_bytes = Some(r.header_bytes);
                hop.response_headers = r.headers.clone();
            }
            EventKind::ResponseDone(r) => {
                hop.body_bytes = r.body_bytes;
                hop.decoded_bytes = r.decoded_bytes;
            }
            EventKind::Redirect(r) => hop.redirect_to = r.to.clone(),
            EventKind::RequestDone(d) => {
                let hops = self.open.remove(&ev.request).unwrap_or_default();
                if let Some(first) = hops.first().filter(|h| h.wall_unix_ns > 0) {
                    let origin = first.wall_unix_ns.saturating_sub(first.start_ns);
                    let (start, end) = (first.wall_unix_ns, origin + ev.at_ns);
                    self.first_start = Some(self.first_start.map_or(start, |f| f.min(start)));
                    self.last_end = Some(self.last_end.map_or(end, |l| l.max(end)));
                }
                for (hop, summary) in hops.iter().zip(&d.hops) {
                    let last = summary.hop as usize + 1 == d.hops.len();
                    let error = if last { d.error.as_ref() } else { None };
                    let lag = if last { d.client_lag_ns } else { None };
                    self.write_entry(hop, summary, error, lag);
                }
            }
            _ => {}
        }
        Verdict::Keep
    }

    fn finish(&mut self) -> Result<RunOutcome, String> {
        // The run's page, now that its start and length are known (JSON does not mind that
        // `pages` comes after `entries`).
        let pages = match (self.first_start, self.last_end) {
            (Some(start), Some(end)) if self.entries > 0 => json!([{
                "startedDateTime": iso8601_ms(start),
                "id": PAGE,
                "title": "httptrace run",
                "pageTimings": { "onContentLoad": -1, "onLoad": end.saturating_sub(start) as f64 / 1e6 },
            }]),
            _ => json!([]),
        };
        emit(&format!("],\"pages\":{pages}}}}}\n"));
        Ok(RunOutcome::Pass)
    }
}

/// The id of the run's one page.
const PAGE: &str = "page_1";

impl Har {
    fn write_entry(&mut self, hop: &Hop, s: &HopSummary, error: Option<&TraceError>, client_lag_ns: Option<u64>) {
        let t = &s.timings;
        // HAR: blocked/dns/connect/ssl may be -1; send/wait/receive must be >= 0.
        let http_version = if hop.version.is_empty() { "HTTP/1.1".to_string() } else { hop.version.clone() };
        let mut entry = json!({
            "pageref": PAGE,
            "startedDateTime": iso8601_ms(hop.wall_unix_ns),
            "time": t.total,
            "request": {
                "method": hop.method,
                "url": hop.url,
                "httpVersion": http_version,
                "cookies": request_cookies(&hop.request_headers),
                "headers": headers(&hop.request_headers),
                "queryString": query_string(&hop.url),
                "headersSize": request_headers_size(hop, &http_version),
                "bodySize": hop.request_body,
            },
            "response": {
                "status": hop.status,
                "statusText": reason_phrase(hop.status),
                "httpVersion": hop.version,
                "cookies": response_cookies(&hop.response_headers),
                "headers": headers(&hop.response_headers),
                "content": {
                    "size": hop.decoded_bytes.unwrap_or(hop.body_bytes),
                    "mimeType": hop.response_headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-type")).map(|h| h.value.clone()).unwrap_or_default(),
                },
                "redirectURL": hop.redirect_to,
                "headersSize": hop.header_bytes.map_or(-1, |b| b as i64),
                "bodySize": if hop.status == 0 { -1 } else { hop.body_bytes as i64 },
            },
            "cache": {},
            "timings": {
                "blocked": t.blocked,
                "dns": t.dns,
                "connect": t.connect,
                "ssl": t.ssl,
                "send": t.send.max(0.0),
                "wait": t.wait.max(0.0),
                "receive": t.receive.max(0.0),
            },
        });
        let obj = entry.as_object_mut().expect("an object");
        if let Some(text) = &hop.post_data {
            let mime = hop.request_headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-type")).map_or("", |h| h.value.as_str());
            let mut post = json!({ "mimeType": mime, "text": text });
            if mime.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
                post["params"] = Value::Array(form_params(text));
            }
            obj["request"].as_object_mut().expect("an object").insert("postData".into(), post);
        }
        if let Some(t) = &hop.tunnel {
            obj.insert(
                "_proxyTunnel".into(),
                json!({
                    "proxy": t.proxy,
                    "start": t.start.saturating_sub(hop.start_ns) as f64 / 1e6,
                    "time": t.end.map_or(-1.0, |e| e.saturating_sub(t.start) as f64 / 1e6),
                    "status": t.status,
                    "error": t.error,
                }),
            );
        }
        if let Some(decoded) = hop.decoded_bytes {
            // HAR's "bytes saved": the decoded length less the bytes on the wire.
            let content = obj["response"]["content"].as_object_mut().expect("an object");
            content.insert("compression".into(), json!(decoded as i64 - hop.body_bytes as i64));
        }
        if let Some(lag) = client_lag_ns {
            // How long the client took to read a response the kernel already had (already left
            // out of `wait`).
            obj.insert("_clientLag".into(), json!(lag as f64 / 1e6));
        }
        if !hop.server_ip.is_empty() {
            obj.insert("serverIPAddress".into(), Value::String(hop.server_ip.clone()));
        }
        // As Chrome writes it and DevTools' importer reads it: `connection` is the server's port
        // (HAR allows a port), `_connectionId` the connection's id.
        if let Some(port) = hop.server_port {
            obj.insert("connection".into(), Value::String(port.to_string()));
        }
        if let Some(c) = hop.conn {
            obj.insert("_connectionId".into(), Value::String(c.to_string()));
        }
        if !hop.attempts.is_empty() {
            let ms = |ns: u64| ns.saturating_sub(hop.start_ns) as f64 / 1e6;
            let attempts: Vec<Value> = hop
                .attempts
                .iter()
                .map(|(addr, start, end, outcome)| {
                    json!({
                        "address": addr,
                        "start": ms(*start),
                        "time": end.map_or(-1.0, |e| e.saturating_sub(*start) as f64 / 1e6),
                        "outcome": if outcome.is_empty() { "unfinished" } else { outcome },
                    })
                })
                .collect();
            obj.insert("_connectAttempts".into(), Value::Array(attempts));
        }
        if let Some(tls) = &hop.tls {
            obj.insert("_tls".into(), tls.clone());
        }
        if let Some(e) = error {
            obj.insert("_error".into(), json!({ "phase": e.phase.as_str(), "kind": e.kind, "message": e.message }));
        }
        let text = if self.pretty { serde_json::to_string_pretty(&entry) } else { serde_json::to_string(&entry) }.unwrap_or_default();
        let sep = if self.entries == 0 { "\n" } else { ",\n" };
        emit(&format!("{sep}{text}"));
        self.entries += 1;
    }
}

/// The name/value pairs of a form body (`a=1&b=x+y`), decoded as browsers encode them.
fn form_params(text: &str) -> Vec<Value> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            json!({ "name": form_decode(name), "value": form_decode(value) })
        })
        .collect()
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte (lossy UTF-8).
fn form_decode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => {
                    out.push(v);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a header value was redacted by the host (`--show-secrets` shows it).
fn redacted(value: &str) -> bool {
    value == "[redacted]"
}

/// `request.cookies`: the pairs of each `Cookie` header (none while redacted).
fn request_cookies(list: &[Header]) -> Vec<Value> {
    list.iter()
        .filter(|h| h.name.eq_ignore_ascii_case("cookie") && !redacted(&h.value))
        .flat_map(|h| h.value.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            Some(json!({ "name": name.trim(), "value": value.trim() }))
        })
        .collect()
}

/// `response.cookies`: one per `Set-Cookie` header (none while redacted), with its
/// attributes as HAR names them; `Expires` in ISO 8601 when it parses as an HTTP date.
fn response_cookies(list: &[Header]) -> Vec<Value> {
    list.iter()
        .filter(|h| h.name.eq_ignore_ascii_case("set-cookie") && !redacted(&h.value))
        .filter_map(|h| {
            let mut parts = h.value.split(';');
            let (name, value) = parts.next()?.trim().split_once('=')?;
            let mut cookie = json!({ "name": name.trim(), "value": value.trim() });
            for attr in parts {
                let (key, val) = attr.trim().split_once('=').unwrap_or((attr.trim(), ""));
                match key.to_ascii_lowercase().as_str() {
                    "path" => cookie["path"] = json!(val),
                    "domain" => cookie["domain"] = json!(val),
                    "expires" => {
                        if let Some(ns) = http_date_ns(val) {
                            cookie["expires"] = json!(iso8601_ms(ns));
                        }
                    }
                    "httponly" => cookie["httpOnly"] = json!(true),
                    "secure" => cookie["secure"] = json!(true),
                    _ => {}
                }
            }
            Some(cookie)
        })
        .collect()
}

/// The size of the request's header block as HTTP/1.1 sends it, or -1 when it is not known:
/// another version, or a redacted value (its length is not the real one).
fn request_headers_size(hop: &Hop, version: &str) -> i64 {
    if version != "HTTP/1.1" || hop.request_headers.iter().any(|h| redacted(&h.value)) {
        return -1;
    }
    http1_head_size(&hop.method, &hop.url, hop.request_headers.iter().map(|h| (h.name.as_str(), h.value.as_str()))) as i64
}

/// An HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`, IMF-fixdate) in ns since the epoch.
fn http_date_ns(text: &str) -> Option<u64> {
    let mut it = text.split_whitespace().skip(1);
    let day: i64 = it.next()?.parse().ok()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| Some(*m) == it.clone().next())? as i64
        + 1;
    it.next();
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':').map(|x| x.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    // Days from civil (Howard Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + h * 3600 + m * 60 + s;
    u64::try_from(secs).ok().map(|s| s * 1_000_000_000)
}

fn headers(list: &[Header]) -> Vec<Value> {
    list.iter().map(|h| json!({ "name": h.name, "value": h.value })).collect()
}

fn query_string(url: &str) -> Vec<Value> {
    let Some((_, q)) = url.split_once('?') else { return Vec::new() };
    let q = q.split('#').next().unwrap_or("");
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            json!({ "name": n, "value": v })
        })
        .collect()
}

/// The port of `ip:port` or `[v6]:port` (none for a Unix socket's path).
fn port_of(addr: &str) -> Option<u16> {
    addr.parse::<std::net::SocketAddr>().ok().map(|a| a.port())
}

/// `ip` of `ip:port` or `[v6]:port`; a Unix socket's path as it is.
fn ip_of(addr: &str) -> String {
    addr.parse::<std::net::SocketAddr>().map_or_else(|_| addr.to_string(), |a| a.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates_and_addresses() {
        assert_eq!(iso8601_ms(1_795_000_000_123_000_000), "2026-11-18T11:06:40.123Z");
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(ip_of("127.0.0.1:80"), "127.0.0.1");
        assert_eq!(ip_of("[::1]:443"), "::1");
        assert_eq!(port_of("[::1]:443"), Some(443));
        assert_eq!(port_of("/run/x.sock"), None);
        assert_eq!(query_string("http://a/b?x=1&y=&z#f").len(), 3);
    }

    fn header(name: &str, value: &str) -> Header {
        Header { name: name.into(), value: value.into() }
    }

    #[test]
    fn cookies_come_from_their_headers_unless_redacted() {
        let req = [header("cookie", "a=1; b=two=2"), header("accept", "*/*")];
        assert_eq!(request_cookies(&req), vec![json!({"name": "a", "value": "1"}), json!({"name": "b", "value": "two=2"})]);
        assert!(request_cookies(&[header("Cookie", "[redacted]")]).is_empty());
        let resp = [
            header("set-cookie", "sid=abc; Path=/; Domain=example.com; Expires=Wed, 21 Oct 2015 07:28:00 GMT; HttpOnly; Secure"),
            header("Set-Cookie", "theme=dark"),
            header("set-cookie", "[redacted]"),
        ];
        let cookies = response_cookies(&resp);
        assert_eq!(
            cookies[0],
            json!({"name": "sid", "value": "abc", "path": "/", "domain": "example.com", "expires": "2015-10-21T07:28:00.000Z", "httpOnly": true, "secure": true})
        );
        assert_eq!(cookies[1], json!({"name": "theme", "value": "dark"}));
        assert_eq!(cookies.len(), 2);
        assert_eq!(http_date_ns("not a date"), None);
    }

    #[test]
    fn header_size_is_the_http1_block_when_every_value_is_known() {
        let mut hop = Hop { method: "GET".into(), url: "http://h:8080/p?q=1#frag".into(), ..Hop::default() };
        hop.request_headers = vec![header("host", "h:8080"), header("accept", "*/*")];
        // "GET /p?q=1 HTTP/1.1\r\n" + "host: h:8080\r\n" + "accept: */*\r\n" + "\r\n"
        assert_eq!(request_headers_size(&hop, "HTTP/1.1"), 21 + 14 + 13 + 2);
        assert_eq!(request_headers_size(&hop, "HTTP/2"), -1);
        hop.request_headers.push(header("authorization", "[redacted]"));
        assert_eq!(request_headers_size(&hop, "HTTP/1.1"), -1);
        assert_eq!(reason_phrase(200), "OK");
    }
}

httptrace_guest::export_plugin!(Har);
