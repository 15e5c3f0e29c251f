//! `writeout`: curl's `-w/--write-out`. For each request, the `format` config with its
//! `%{variable}`s replaced by the request's values, written as curl writes them: times in
//! seconds with six decimals, sizes and speeds as whole bytes, `%{json}` as one JSON object
//! of them all, `%header{name}` a response header's value, `%%` a percent sign, and `\n`,
//! `\r`, `\t`, `\\` escapes. An unknown variable is a config error (curl only warns).
//!
//! Variables: content_type, errormsg, http_code, http_version, local_ip, local_port, method,
//! num_connects, num_headers, num_redirects, redirect_url, remote_ip, remote_port,
//! response_code, scheme, size_download, size_header, size_request, size_upload,
//! speed_download, speed_upload, ssl_verify_result, time_appconnect, time_connect,
//! time_namelookup, time_posttransfer, time_pretransfer, time_redirect, time_starttransfer,
//! time_total, url, url_effective. Sizes are the last hop's body (`size_download`) and the
//! sums over hops of the header blocks received (`size_header`) and of the request header
//! blocks and bodies sent (`size_request`, `size_upload`), as curl counts them.
//! `size_request` counts a redacted header value as shown (`[redacted]`) unless
//! `--show-secrets`. `ssl_verify_result` is 0, or 1 when the TLS handshake failed; with `-k` nothing is verified
//! and it stays 0 (curl verifies anyway and reports OpenSSL's code).

use std::collections::HashMap;

use httptrace_guest::{emit, http1_head_size, Config, Event, EventKind, EventType, Interest, Plugin, RunOutcome, Verdict};
use serde_json::{json, Map, Value};

/// Every variable, in curl's `%{json}` order (alphabetical).
const VARIABLES: [&str; 32] = [
    "content_type",
    "errormsg",
    "http_code",
    "http_version",
    "local_ip",
    "local_port",
    "method",
    "num_connects",
    "num_headers",
    "num_redirects",
    "redirect_url",
    "remote_ip",
    "remote_port",
    "response_code",
    "scheme",
    "size_download",
    "size_header",
    "size_request",
    "size_upload",
    "speed_download",
    "speed_upload",
    "ssl_verify_result",
    "time_appconnect",
    "time_connect",
    "time_namelookup",
    "time_posttransfer",
    "time_pretransfer",
    "time_redirect",
    "time_starttransfer",
    "time_total",
    "url",
    "url_effective",
];

/// The escapes curl translates in a format; any other backslash stays as it is.
const ESCAPES: [(&str, char); 3] = [("\\n", '\n'), ("\\r", '\r'), ("\\t", '\t')];

/// A piece of the format.
#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    Var(&'static str),
    Json,
    Header(String),
}

/// Parses curl's `--write-out` syntax as curl reads it: variable names in any case, `%{`
/// without its `}` written as it is, and only `\n`, `\r` and `\t` translated (any other
/// backslash stays, `\\` included).
fn parse(format: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = format;
    let flush = |text: &mut String, pieces: &mut Vec<Piece>| {
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(text)));
        }
    };
    while let Some(c) = rest.chars().next() {
        if let Some((name, after)) = rest.strip_prefix("%{").and_then(|a| a.split_once('}')) {
            flush(&mut text, &mut pieces);
            let lower = name.to_ascii_lowercase();
            if lower == "json" {
                pieces.push(Piece::Json);
            } else {
                let known = VARIABLES
                    .iter()
                    .find(|v| **v == lower)
                    .ok_or_else(|| format!("config `format`: unknown variable `%{{{name}}}` (known: json, {})", VARIABLES.join(", ")))?;
                pieces.push(Piece::Var(known));
            }
            rest = after;
        } else if let Some((name, after)) = rest.strip_prefix("%header{").and_then(|a| a.split_once('}')) {
            flush(&mut text, &mut pieces);
            pieces.push(Piece::Header(name.to_ascii_lowercase()));
            rest = after;
        } else if let Some(after) = rest.strip_prefix("%%") {
            text.push('%');
            rest = after;
        } else if let Some((after, c)) = ESCAPES.iter().find_map(|(e, c)| rest.strip_prefix(e).map(|a| (a, *c))) {
            text.push(c);
            rest = after;
        } else {
            text.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    flush(&mut text, &mut pieces);
    Ok(pieces)
}

/// `ip` and `port` of `ip:port` or `[v6]:port`; anything else is a Unix socket's path (as
/// given, or empty for the client's unnamed end), which has no port.
fn split_addr(addr: &str) -> (String, Option<u16>) {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(a) => (a.ip().to_string(), Some(a.port())),
        Err(_) => (addr.to_string(), None),
    }
}

/// What one request's events say, gathered as they come.
#[derive(Default)]
struct Seen {
    url: String,
    method: String,
    /// The current hop's URL and request header fields.
    hop_url: String,
    fields: Vec<(String, String)>,
    size_request: u64,
    size_upload: u64,
    size_header: u64,
    size_download: u64,
    num_connects: u64,
    redirects: u64,
    local: String,
    remote: String,
    version: String,
    headers: Vec<(String, String)>,
}

struct WriteOut {
    pieces: Vec<Piece>,
    open: HashMap<u64, Seen>,
}

impl Plugin for WriteOut {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&["format"])?;
        let format = config.get("format").ok_or("config `format` is required: the --write-out format")?;
        Ok(WriteOut { pieces: parse(format)?, open: HashMap::new() })
    }

    fn interest(&self) -> Interest {
        Interest::of(&[
            EventType::RequestStart,
            EventType::GotConn,
            EventType::WroteHeaderField,
            EventType::WroteRequest,
            EventType::ResponseHeaders,
            EventType::ResponseDone,
            EventType::Redirect,
            EventType::RequestDone,
        ])
    }

    fn on_event(&mut self, ev: &Event) -> Verdict {
        let seen = self.open.entry(ev.request).or_default();
        match &ev.kind {
            EventKind::RequestStart(s) => {
                if ev.hop == 0 {
                    seen.url = s.url.clone();
                }
                seen.method = s.method.clone();
                seen.hop_url = s.url.clone();
                seen.fields.clear();
            }
            EventKind::GotConn(g) => {
                seen.num_connects += u64::from(!g.reused);
                seen.local = g.local_addr.clone();
                seen.remote = g.remote_addr.clone();
            }
            EventKind::WroteHeaderField(h) => seen.fields.push((h.name.clone(), h.value.clone())),
            EventKind::WroteRequest(w) => {
                // A redacted value counts as shown: `--show-secrets` makes it exact.
                seen.size_request +=
                    http1_head_size(&seen.method, &seen.hop_url, seen.fields.iter().map(|(n, v)| (n.as_str(), v.as_str())));
                seen.size_upload += w.body_bytes;
            }
            EventKind::ResponseHeaders(r) => {
                seen.size_header += r.header_bytes;
                seen.version = r.version.clone();
                seen.headers = r.headers.iter().map(|h| (h.name.to_ascii_lowercase(), h.value.clone())).collect();
            }
            EventKind::ResponseDone(r) => seen.size_download = r.body_bytes,
            EventKind::Redirect(_) => seen.redirects += 1,
            EventKind::RequestDone(d) => {
                let seen = self.open.remove(&ev.request).unwrap_or_default();
                let values = values(&seen, d);
                let mut out = String::new();
                for piece in &self.pieces {
                    match piece {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Var(name) => out.push_str(&text(name, &values[*name])),
                        Piece::Json => out.push_str(&Value::Object(values.clone()).to_string()),
                        Piece::Header(name) => {
                            let all: Vec<&str> = seen.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
                            out.push_str(&all.join(", "));
                        }
                    }
                }
                emit(&out);
            }
            _ => {}
        }
        Verdict::Keep
    }

    fn finish(&mut self) -> Result<RunOutcome, String> {
        Ok(RunOutcome::Pass)
    }
}

/// A variable as `%{name}` writes it: times with six decimals, null as nothing.
fn text(name: &str, v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) if name.starts_with("time_") => format!("{:.6}", n.as_f64().unwrap_or(0.0)),
        Value::Number(n) if name == "http_code" || name == "response_code" => format!("{:03}", n.as_u64().unwrap_or(0)),
        other => other.to_string(),
    }
}

/// Every variable's value for one finished request.
fn values(seen: &Seen, d: &httptrace_guest::RequestDone) -> Map<String, Value> {
    let m = &d.marks;
    let status = d.status.unwrap_or(0);
    let (remote_ip, remote_port) = split_addr(&seen.remote);
    // Over a Unix socket curl says the URL's port (with no connection at all, 0).
    let remote_port = remote_port.or_else(|| if seen.remote.is_empty() { None } else { url_port(&d.url) });
    let (local_ip, local_port) = split_addr(&seen.local);
    let header = |name: &str| seen.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let http_version = match seen.version.as_str() {
        "" => "0".to_string(),
        v => v.trim_start_matches("HTTP/").to_string(),
    };
    let speed = |bytes: u64| if m.total > 0.0 { (bytes as f64 / m.total) as u64 } else { 0 };
    let redirect_url = if (300..400).contains(&status) { header("location").map(|l| absolute(&d.url, &l)) } else { None };
    let ssl_verify_result = match &d.error {
        Some(e) if e.phase.as_str() == "tls" => 1,
        _ => 0,
    };
    let scheme = d.url.split_once("://").map_or(String::new(), |(s, _)| s.to_ascii_uppercase());
    let empty_as_null = |s: &str| if s.is_empty() { Value::Null } else { json!(s) };
    let values = [
        ("content_type", header("content-type").map_or(Value::Null, Value::String)),
        ("errormsg", d.error.as_ref().map_or(Value::Null, |e| json!(e.message))),
        ("http_code", json!(status)),
        ("http_version", json!(http_version)),
        ("local_ip", empty_as_null(&local_ip)),
        ("local_port", json!(local_port.unwrap_or(0))),
        ("method", json!(seen.method)),
        ("num_connects", json!(seen.num_connects)),
        ("num_headers", json!(seen.headers.len())),
        ("num_redirects", json!(seen.redirects)),
        ("redirect_url", redirect_url.map_or(Value::Null, Value::String)),
        ("remote_ip", empty_as_null(&remote_ip)),
        ("remote_port", json!(remote_port.unwrap_or(0))),
        ("response_code", json!(status)),
        ("scheme", json!(scheme)),
        ("size_download", json!(seen.size_download)),
        ("size_header", json!(seen.size_header)),
        ("size_request", json!(seen.size_request)),
        ("size_upload", json!(seen.size_upload)),
        ("speed_download", json!(speed(seen.size_download))),
        ("speed_upload", json!(speed(seen.size_upload))),
        ("ssl_verify_result", json!(ssl_verify_result)),
        ("time_appconnect", json!(m.appconnect)),
        ("time_connect", json!(m.connect)),
        ("time_namelookup", json!(m.namelookup)),
        ("time_posttransfer", json!(m.posttransfer)),
        ("time_pretransfer", json!(m.pretransfer)),
        ("time_redirect", json!(m.redirect)),
        ("time_starttransfer", json!(m.starttransfer)),
        ("time_total", json!(m.total)),
        ("url", json!(seen.url)),
        ("url_effective", json!(d.url)),
    ];
    values.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The port of an `http://` or `https://` URL, its scheme's default when it names none.
fn url_port(url: &str) -> Option<u16> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') && (!host.contains(':') || host.ends_with(']')) => port.parse().ok(),
        _ => match scheme {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        },
    }
}

/// `location` made absolute against `base` (scheme and authority, or the path's directory).
fn absolute(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let Some((scheme, rest)) = base.split_once("://") else { return location.to_string() };
    let authority = rest.split('/').next().unwrap_or(rest);
    if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = &rest[authority.len()..];
        let dir = path.rfind('/').map_or("/", |i| &path[..=i]);
        format!("{scheme}://{authority}{dir}{location}")
    }
}

httptrace_guest::export_plugin!(WriteOut);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unix_sockets_port_is_the_urls() {
        assert_eq!(split_addr("/run/app.sock"), ("/run/app.sock".to_string(), None));
        assert_eq!(split_addr("run:8/app.sock"), ("run:8/app.sock".to_string(), None));
        assert_eq!(split_addr("127.0.0.1:80"), ("127.0.0.1".to_string(), Some(80)));
        assert_eq!(split_addr(""), (String::new(), None));
        assert_eq!(split_addr("[::1]:8080"), ("::1".to_string(), Some(8080)));
        assert_eq!(url_port("http://example.test/x"), Some(80));
        assert_eq!(url_port("https://u:p@example.test/"), Some(443));
        assert_eq!(url_port("http://example.test:8080/a:b"), Some(8080));
        assert_eq!(url_port("http://[::1]/"), Some(80));
        assert_eq!(url_port("http://[::1]:81/"), Some(81));
    }

    #[test]
    fn parses_curls_syntax() {
        let p = parse("%{HTTP_code} %%{x} %header{Content-Type}\\n%{json}\\t\\q").unwrap();
        assert_eq!(
            p,
            vec![
                Piece::Var("http_code"),
                Piece::Text(" %{x} ".into()),
                Piece::Header("content-type".into()),
                Piece::Text("\n".into()),
                Piece::Json,
                Piece::Text("\t\\q".into()),
            ]
        );
        assert!(parse("%{nope}").unwrap_err().contains("unknown variable `%{nope}`"));
        assert_eq!(parse("%{time_total").unwrap(), vec![Piece::Text("%{time_total".into())], "as curl writes it");
        assert_eq!(parse("a\\\\b").unwrap(), vec![Piece::Text("a\\\\b".into())], "curl keeps \\\\");
        assert_eq!(parse("100%").unwrap(), vec![Piece::Text("100%".into())]);
        assert!(VARIABLES.windows(2).all(|w| w[0] < w[1]), "sorted, as curl's %{{json}}");
    }

    #[test]
    fn values_read_as_curl_writes_them() {
        assert_eq!(text("time_total", &json!(0.0052)), "0.005200");
        assert_eq!(text("http_code", &json!(0)), "000");
        assert_eq!(text("content_type", &Value::Null), "");
        assert_eq!(split_addr("[::1]:443"), ("::1".into(), Some(443)));
        assert_eq!(absolute("http://h:1/a/b?q", "/c"), "http://h:1/c");
        assert_eq!(absolute("http://h:1/a/b", "c"), "http://h:1/a/c");
    }
}
