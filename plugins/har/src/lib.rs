//! `har`: a HAR 1.2 log with one entry per request hop — startedDateTime, time, request and
//! response (method, URL, HTTP version, headers, status, sizes), timings by the HAR rules,
//! serverIPAddress and the connection id. Entries are written as each request finishes, so a
//! long run never holds them all; the log is closed at the end of the run.
//!
//! Failed hops get an entry too, with `response.status` 0 and the typed error in `_error`.
//! Config: `pretty=true` indents each entry.

use std::collections::HashMap;

use httptrace_guest::{emit, Config, Event, EventKind, Header, HopSummary, Plugin, RunOutcome, TraceError, Verdict};
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
    status: u16,
    version: String,
    response_headers: Vec<Header>,
    header_bytes: Option<u64>,
    body_bytes: u64,
    redirect_to: String,
}

struct Har {
    pretty: bool,
    entries: u64,
    open: HashMap<u64, Vec<Hop>>,
}

impl Plugin for Har {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&["pretty"])?;
        let pretty = config.flag("pretty")?.unwrap_or(false);
        emit(&format!(
            "{{\"log\":{{\"version\":\"1.2\",\"creator\":{{\"name\":\"httptrace\",\"version\":\"{}\"}},\"pages\":[],\"entries\":[",
            env!("CARGO_PKG_VERSION")
        ));
        Ok(Har { pretty, entries: 0, open: HashMap::new() })
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
            }
            EventKind::GotConn(c) => hop.server_ip = ip_of(&c.remote_addr),
            EventKind::WroteHeaderField(h) if !h.name.starts_with(':') => hop.request_headers.push(h.clone()),
            EventKind::WroteRequest(w) => hop.request_body = w.body_bytes,
            EventKind::ResponseHeaders(r) => {
                hop.status = r.status;
                hop.version = r.version.clone();
                hop.header_bytes = Some(r.header_bytes);
                hop.response_headers = r.headers.clone();
            }
            EventKind::ResponseDone(r) => hop.body_bytes = r.body_bytes,
            EventKind::Redirect(r) => hop.redirect_to = r.to.clone(),
            EventKind::RequestDone(d) => {
                let hops = self.open.remove(&ev.request).unwrap_or_default();
                for (hop, summary) in hops.iter().zip(&d.hops) {
                    let last = summary.hop as usize + 1 == d.hops.len();
                    let error = if last { d.error.as_ref() } else { None };
                    self.write_entry(hop, summary, error);
                }
            }
            _ => {}
        }
        Verdict::Keep
    }

    fn finish(&mut self) -> Result<RunOutcome, String> {
        emit("]}}\n");
        Ok(RunOutcome::Pass)
    }
}

impl Har {
    fn write_entry(&mut self, hop: &Hop, s: &HopSummary, error: Option<&TraceError>) {
        let t = &s.timings;
        // HAR: blocked/dns/connect/ssl may be -1; send/wait/receive must be >= 0.
        let mut entry = json!({
            "startedDateTime": iso8601_ms(hop.wall_unix_ns),
            "time": t.total,
            "request": {
                "method": hop.method,
                "url": hop.url,
                "httpVersion": if hop.version.is_empty() { "HTTP/1.1".to_string() } else { hop.version.clone() },
                "cookies": [],
                "headers": headers(&hop.request_headers),
                "queryString": query_string(&hop.url),
                "headersSize": -1,
                "bodySize": hop.request_body,
            },
            "response": {
                "status": hop.status,
                "statusText": "",
                "httpVersion": hop.version,
                "cookies": [],
                "headers": headers(&hop.response_headers),
                "content": {
                    "size": hop.body_bytes,
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
        if !hop.server_ip.is_empty() {
            obj.insert("serverIPAddress".into(), Value::String(hop.server_ip.clone()));
        }
        if let Some(c) = hop.conn {
            obj.insert("connection".into(), Value::String(c.to_string()));
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

/// `ip` of `ip:port` or `[v6]:port`.
fn ip_of(addr: &str) -> String {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']').to_string()
}

/// ISO 8601 UTC with milliseconds, e.g. `2026-11-24T22:26:17.123Z`.
fn iso8601_ms(unix_ns: u64) -> String {
    let secs = (unix_ns / 1_000_000_000) as i64;
    let ms = (unix_ns / 1_000_000) % 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
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
        assert_eq!(query_string("http://a/b?x=1&y=&z#f").len(), 3);
    }
}

httptrace_guest::export_plugin!(Har);
