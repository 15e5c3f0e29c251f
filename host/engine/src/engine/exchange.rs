//! One hop over one connection: build the request, bind it to the wire tap, send it, read the
//! response headers and stream the body, emitting the events the tap cannot see (1xx,
//! response-headers, response-done).

use std::error::Error as _;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::BodyExt;
use url::Url;

use super::body::ReqBody;
use super::dial::{Conn, Forward, Sender};
use super::wire::Binding;
use super::SECRET_HEADERS;
use crate::event::{kind, EventKind, FailureKind, Header, Phase, TraceError};
use crate::trace::Trace;

/// What to send on one hop.
#[derive(Debug, Clone)]
pub struct HopRequest {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: Url,
    /// Extra headers in order (curl's `-H`); an empty value removes a default header.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
    /// W3C `traceparent` (and `tracestate`) to send on this hop (`--propagate`).
    pub trace_context: Option<(String, Option<String>)>,
    /// Decode the response body's `content-encoding` (`--compressed`).
    pub decode: bool,
}

/// Whether a connection may go back to the pool after its hop; if not, why (put-idle-conn's
/// `error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// The exchange left the connection clean.
    Yes,
    /// It must not be reused.
    No(&'static str),
}

/// What one hop gave.
pub struct HopOutcome {
    /// Final status of this hop, if a response arrived.
    pub status: Option<u16>,
    /// `Location` of a redirect response.
    pub location: Option<String>,
    /// Why the hop failed.
    pub error: Option<TraceError>,
    /// Whether the connection may go back to the pool (HTTP/1.1), or why not.
    pub reusable: Reuse,
    /// The response's `Set-Cookie` values (only when `exchange` was asked to keep them).
    pub set_cookies: Vec<String>,
    /// A `401`'s `WWW-Authenticate: Digest …` challenge.
    pub digest_challenge: Option<String>,
    /// The UDP port an `Alt-Svc: h3=":PORT"` on this (TCP) response says the origin serves
    /// HTTP/3 on.
    pub alt_svc_h3: Option<u16>,
    /// How long the response's `Retry-After` asks to wait (seconds, or until its HTTP date).
    pub retry_after: Option<std::time::Duration>,
}

/// Runs one hop on `conn`; without `keep_alive`, an HTTP/1.1 request asks the server to close
/// the connection after it (`connection: close`, as Go's `DisableKeepAlives` does); with
/// `keep_cookies`, the response's `Set-Cookie` values come back in the outcome.
pub async fn exchange(
    trace: &Arc<Trace>,
    conn: &mut Conn,
    req: &HopRequest,
    show_secrets: bool,
    keep_alive: bool,
    keep_cookies: bool,
) -> HopOutcome {
    if matches!(conn.sender, Sender::H3 { .. }) {
        return super::h3::exchange(trace, conn, req, show_secrets, keep_cookies).await;
    }
    let hop = trace.hop();
    let redact: &'static [&'static str] = if show_secrets { &[] } else { SECRET_HEADERS };
    let h2 = matches!(conn.sender, Sender::H2(_));
    let mut headers = request_headers(req, h2);
    if !keep_alive && !h2 {
        headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    let expect_continue = !h2
        && !req.body.is_empty()
        && headers.get(http::header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (body, signal) = if expect_continue {
        let (b, s) = ReqBody::gated(req.body.clone());
        (b, Some(s))
    } else {
        (ReqBody::new(req.body.clone()), None)
    };
    if let Some(Forward { authorization: Some(auth) }) = &conn.forward {
        if !headers.contains_key(http::header::PROXY_AUTHORIZATION) {
            headers.insert(http::header::PROXY_AUTHORIZATION, auth.clone());
        }
    }
    // An HTTP proxy forwarding the request gets its absolute form, without the user and
    // password (they go in `Authorization`, as curl sends them) or the fragment.
    let absolute;
    let uri = if h2 {
        req.url.as_str()
    } else if conn.forward.is_some() {
        absolute = format!("{}://{}", req.url.scheme(), &req.url[url::Position::BeforeHost..url::Position::AfterQuery]);
        absolute.as_str()
    } else {
        origin_form(&req.url)
    };
    let mut builder = Request::builder().method(req.method.clone()).uri(uri);
    if h2 {
        builder = builder.version(http::Version::HTTP_2);
    }
    let mut request = match builder.body(body) {
        Ok(r) => r,
        Err(e) => return failed(TraceError::new(Phase::Setup, FailureKind::BadRequest, e.to_string())),
    };
    *request.headers_mut() = headers;

    let conn_id = conn.id;
    // Registering the callback allocates (request extensions, a boxed closure): only when a 1xx
    // is recorded or gates the body.
    if expect_continue || trace.records(kind::GOT_1XX_RESPONSE) || trace.records(kind::GOT_100_CONTINUE) {
        let trace = trace.clone();
        hyper::ext::on_informational(&mut request, move |res| {
            let status = res.status().as_u16();
            // Stamp first: copying the headers is not part of the measured moment.
            let at = trace.now_ns();
            // Go's order: got-100-continue, then the got-1xx-response it came in, one moment.
            if status == 100 {
                trace.emit_at(at, hop, Some(conn_id), EventKind::Got100Continue {});
                if let Some(s) = &signal {
                    s.fire();
                }
            }
            let headers = if trace.records(kind::GOT_1XX_RESPONSE) { header_list(res.headers(), redact) } else { Vec::new() };
            trace.emit_at(at, hop, Some(conn_id), EventKind::Got1xxResponse { status, headers });
        });
    }

    let binding = Binding {
        trace: trace.clone(),
        hop,
        body_len: req.body.len() as u64,
        expect_continue,
        h2_fields: if h2 && trace.records(kind::WROTE_HEADER_FIELD) { pseudo_and_fields(&request, redact) } else { Vec::new() },
        redact,
    };
    let response = match &mut conn.sender {
        Sender::H1(s) => {
            conn.tap.bind_h1(binding);
            s.send_request(request).await
        }
        Sender::H2(s) => {
            let fut = conn.tap.submit_h2(binding, || s.send_request(request));
            fut.await
        }
        Sender::H3 { .. } => unreachable!("HTTP/3 hops take their own path"),
    };
    let headers_at = trace.now_ns();
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            if h2 {
                conn.tap.forget_h2(trace);
            }
            let mut err = classify(trace, hop, &e);
            if h2 && conn.tap.saw_goaway() {
                err.kind = "goaway".into();
                if err.phase == Phase::Send {
                    err.phase = Phase::Wait;
                }
            }
            return HopOutcome {
                status: None,
                location: None,
                error: Some(err),
                reusable: Reuse::No("request failed"),
                set_cookies: Vec::new(),
                digest_challenge: None,
                alt_svc_h3: None,
                retry_after: None,
            };
        }
    };

    let status = response.status().as_u16();
    let version = match response.version() {
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    // One pass over the fields for everything the hop reads of them.
    let ResponseFields { header_bytes, location, close, alt_svc_h3, retry_after } =
        ResponseFields::read(version, response.status(), response.headers());
    let digest_challenge = (status == 401)
        .then(|| {
            let all = response.headers().get_all(http::header::WWW_AUTHENTICATE);
            all.iter().filter_map(|v| v.to_str().ok()).find(|v| v.trim_start().get(..7).is_some_and(|s| s.eq_ignore_ascii_case("digest ")))
        })
        .flatten()
        .map(str::to_string);
    let set_cookies: Vec<String> = if keep_cookies {
        response.headers().get_all(http::header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    } else {
        Vec::new()
    };
    let full = trace.records(kind::RESPONSE_HEADERS);
    trace.emit_at(
        headers_at,
        hop,
        Some(conn_id),
        EventKind::ResponseHeaders {
            status,
            version: if full { version.to_string() } else { String::new() },
            headers: if full { header_list(response.headers(), redact) } else { Vec::new() },
            header_bytes,
        },
    );

    let mut counted = super::decode::Body::new(response.headers(), req.decode);
    let mut body = response.into_body();
    let mut error = None;
    loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(d) = frame.data_ref() {
                    if let Err(e) = counted.data(d) {
                        error = Some(e);
                        break;
                    }
                }
            }
            Some(Err(e)) => {
                let mut err = classify_body(&e, counted.received());
                if h2 && conn.tap.saw_goaway() {
                    err.kind = "goaway".into();
                }
                error = Some(err);
                break;
            }
            None => break,
        }
    }
    counted.end(trace, hop, conn_id, &mut error);
    if h2 {
        conn.tap.forget_h2(trace);
    }
    let reusable = if error.is_some() {
        Reuse::No("response body failed")
    } else if close {
        Reuse::No("server sent connection: close")
    } else {
        Reuse::Yes
    };
    HopOutcome { status: Some(status), location, error, reusable, set_cookies, digest_challenge, alt_svc_h3, retry_after }
}

/// What a hop reads of its response's header fields, gathered in one pass over them (a
/// lookup by name hashes the name and probes the map: five of them cost more than the pass).
struct ResponseFields {
    /// The head's size as sent (see [`head_size`]).
    header_bytes: u64,
    /// The first `Location`.
    location: Option<String>,
    /// The first `Connection` is `close`.
    close: bool,
    /// The first `h3` alternative on the same host among the `Alt-Svc` fields.
    alt_svc_h3: Option<u16>,
    /// The first `Retry-After`'s wait.
    retry_after: Option<std::time::Duration>,
}

impl ResponseFields {
    fn read(version: &str, status: http::StatusCode, headers: &HeaderMap) -> ResponseFields {
        use http::header::{ALT_SVC, CONNECTION, LOCATION, RETRY_AFTER};
        let mut out = ResponseFields { header_bytes: 0, location: None, close: false, alt_svc_h3: None, retry_after: None };
        let (mut seen_location, mut seen_connection, mut seen_retry) = (false, false, false);
        let mut fields = 0usize;
        for (name, value) in headers {
            fields += field_len(name, value);
            if *name == LOCATION && !std::mem::replace(&mut seen_location, true) {
                out.location = value.to_str().ok().map(str::to_string);
            } else if *name == CONNECTION && !std::mem::replace(&mut seen_connection, true) {
                out.close = value.as_bytes().eq_ignore_ascii_case(b"close");
            } else if *name == ALT_SVC && out.alt_svc_h3.is_none() {
                out.alt_svc_h3 = alt_svc_h3_value(value);
            } else if *name == RETRY_AFTER && !std::mem::replace(&mut seen_retry, true) {
                out.retry_after = retry_after_value(value);
            }
        }
        out.header_bytes = (status_line_len(version, status) + fields + 2) as u64;
        out
    }
}

/// A `Retry-After` field's wait (RFC 9110: delay-seconds, or an HTTP date from now).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<std::time::Duration> {
    retry_after_value(headers.get(http::header::RETRY_AFTER)?)
}

/// A `Retry-After` value's wait.
fn retry_after_value(value: &HeaderValue) -> Option<std::time::Duration> {
    let value = value.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(std::time::Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

/// The port of the first `h3` alternative of an `Alt-Svc` field on the same host
/// (`h3=":443"`; RFC 7838), if any.
#[cfg(test)]
fn alt_svc_h3(headers: &HeaderMap) -> Option<u16> {
    headers.get_all(http::header::ALT_SVC).iter().find_map(alt_svc_h3_value)
}

/// The port of the first `h3` alternative on the same host in one `Alt-Svc` value.
fn alt_svc_h3_value(value: &HeaderValue) -> Option<u16> {
    let value = value.to_str().ok()?;
    for alt in value.split(',') {
        let proto_and_authority = alt.split(';').next().unwrap_or("").trim();
        let Some(authority) = proto_and_authority.strip_prefix("h3=") else { continue };
        let authority = authority.trim_matches('"');
        // Only an alternative on the same host (the empty host): another host would need
        // its certificate to name this one's, which this client does not check.
        if let Some(port) = authority.strip_prefix(':').and_then(|p| p.parse().ok()) {
            return Some(port);
        }
    }
    None
}

pub(crate) fn failed(e: TraceError) -> HopOutcome {
    HopOutcome {
        status: None,
        location: None,
        error: Some(e),
        reusable: Reuse::No("request failed"),
        set_cookies: Vec::new(),
        digest_challenge: None,
        alt_svc_h3: None,
        retry_after: None,
    }
}

/// Path and query, as the URL serializes them.
fn origin_form(url: &Url) -> &str {
    &url[url::Position::BeforePath..url::Position::AfterQuery]
}

/// Host header value: host, plus the port when it is not the scheme's default (the URL's own
/// serialization of them, which leaves a default port out).
pub fn authority(url: &Url) -> &str {
    &url[url::Position::BeforeHost..url::Position::AfterPort]
}

/// The request's header fields; `h2` (or h3): without `Host` (`:authority` says it).
pub(crate) fn request_headers(req: &HopRequest, h2: bool) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(3 + req.headers.len());
    if !h2 {
        map.insert(http::header::HOST, HeaderValue::from_str(authority(&req.url)).unwrap_or(HeaderValue::from_static("")));
    }
    map.insert(http::header::USER_AGENT, HeaderValue::from_static(concat!("httptrace/", env!("CARGO_PKG_VERSION"))));
    map.insert(http::header::ACCEPT, HeaderValue::from_static("*/*"));
    // Credentials in the URL are sent as Basic auth, as curl does (a `-H Authorization`
    // replaces them below).
    if !req.url.username().is_empty() || req.url.password().is_some() {
        map.insert(http::header::AUTHORIZATION, basic_auth(&req.url));
    }
    if let Some((parent, state)) = &req.trace_context {
        if let Ok(v) = HeaderValue::from_str(parent) {
            map.insert(HeaderName::from_static("traceparent"), v);
        }
        if let Some(Ok(v)) = state.as_deref().map(HeaderValue::from_str) {
            map.insert(HeaderName::from_static("tracestate"), v);
        }
    }
    let mut replaced: Vec<HeaderName> = Vec::new();
    for (name, value) in &req.headers {
        // Validated when the request was built; skip anything invalid defensively.
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else { continue };
        if h2 && name == http::header::HOST {
            continue;
        }
        if !replaced.contains(&name) {
            map.remove(&name);
            replaced.push(name.clone());
        }
        if value.is_empty() {
            continue;
        }
        if let Ok(v) = HeaderValue::from_str(value) {
            map.append(name, v);
        }
    }
    map
}

/// `Basic base64(user:password)` from the URL's userinfo, percent-decoded as curl does.
fn basic_auth(url: &Url) -> HeaderValue {
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let value = basic_credentials(&decode(url.username()), &decode(url.password().unwrap_or("")));
    let mut v = HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}

/// `Basic base64(user:password)`: an `Authorization` (or `Proxy-Authorization`) value.
pub(crate) fn basic_credentials(user: &[u8], password: &[u8]) -> String {
    use base64::Engine as _;
    let mut pair = Vec::with_capacity(user.len() + 1 + password.len());
    pair.extend_from_slice(user);
    pair.push(b':');
    pair.extend_from_slice(password);
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

/// An HTTP/2 or HTTP/3 request's fields as written: the pseudo-headers, then the headers.
pub(crate) fn pseudo_and_fields<B>(req: &Request<B>, redact: &[&str]) -> Vec<(String, String)> {
    let uri = req.uri();
    let mut out = vec![
        (":method".to_string(), req.method().to_string()),
        (":scheme".to_string(), uri.scheme_str().unwrap_or("https").to_string()),
        (":authority".to_string(), uri.authority().map(|a| a.to_string()).unwrap_or_default()),
        (":path".to_string(), uri.path_and_query().map(|p| p.to_string()).unwrap_or_else(|| "/".into())),
    ];
    out.extend(header_list(req.headers(), redact).into_iter().map(|h| (h.name, h.value)));
    out
}

/// Headers as events carry them, secrets redacted.
pub fn header_list(map: &HeaderMap, redact: &[&str]) -> Vec<Header> {
    map.iter()
        .map(|(k, v)| {
            let name = k.as_str().to_owned();
            // Valid UTF-8 (nearly every value) is copied as it is, without the lossy decoder's
            // chunking.
            let value = if redact.contains(&k.as_str()) {
                "[redacted]".to_owned()
            } else {
                match std::str::from_utf8(v.as_bytes()) {
                    Ok(s) => s.to_owned(),
                    Err(_) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
                }
            };
            Header { name, value }
        })
        .collect()
}

/// A response head's size as sent: the status line (with the status's canonical reason), each
/// field as `name: value` and its line end, and the blank line.
pub(crate) fn head_size(version: &str, status: http::StatusCode, headers: &HeaderMap) -> u64 {
    let fields: usize = headers.iter().map(|(k, v)| field_len(k, v)).sum();
    (status_line_len(version, status) + fields + 2) as u64
}

/// `NAME: VALUE CRLF`.
fn field_len(name: &HeaderName, value: &HeaderValue) -> usize {
    name.as_str().len() + 2 + value.len() + 2
}

/// `VERSION SP STATUS SP REASON CRLF`.
fn status_line_len(version: &str, status: http::StatusCode) -> usize {
    version.len() + 1 + 3 + 1 + status.canonical_reason().unwrap_or("").len() + 2
}

/// Maps a failed request (no response headers) to a typed error, using what the trace saw.
pub(crate) fn classify(trace: &Trace, hop: u32, e: &hyper::Error) -> TraceError {
    debug_assert_eq!(hop, trace.hop());
    let (phase, got_bytes) = (trace.phase(), trace.got_first_byte());
    let mut detail = error_chain(e);
    let (phase, kind) = if let Some(alert) = tls_alert(e) {
        // A TLS alert after the handshake: under TLS 1.3 a server that requires a client
        // certificate says so only once the client has finished its side (curl: 56).
        let phase = if phase == Phase::Send { Phase::Send } else { Phase::Wait };
        if alert == rustls::AlertDescription::CertificateRequired {
            detail.push_str(" (the server requires a client certificate: --cert)");
            (phase, FailureKind::ClientCertRequired)
        } else {
            (phase, FailureKind::Alert)
        }
    } else if e.is_parse_too_large() {
        (Phase::Wait, FailureKind::HeadersTooLarge)
    } else if e.is_parse() || e.is_parse_status() {
        (Phase::Wait, FailureKind::BadResponse)
    } else if let Some(h2e) = h2_error(e) {
        if h2e.is_go_away() {
            (phase, FailureKind::Goaway)
        } else if h2e.is_reset() {
            (phase, FailureKind::StreamReset)
        } else {
            (phase, FailureKind::Http2)
        }
    } else if phase == Phase::Send {
        (Phase::Send, FailureKind::SendFailed)
    } else if !got_bytes {
        (Phase::Wait, FailureKind::EmptyReply)
    } else {
        (Phase::Wait, FailureKind::Reset)
    };
    let phase = if phase == Phase::Receive { Phase::Wait } else { phase };
    TraceError::new(phase, kind, detail)
}

pub(crate) fn classify_body(e: &hyper::Error, received: u64) -> TraceError {
    let kind = match h2_error(e) {
        Some(h) if h.is_go_away() => FailureKind::Goaway,
        Some(h) if h.is_reset() => FailureKind::StreamReset,
        _ if e.is_incomplete_message() || io_kind(e) == Some(std::io::ErrorKind::UnexpectedEof) => FailureKind::Incomplete,
        _ => FailureKind::Reset,
    };
    TraceError { phase: Phase::Receive, kind, during: None, message: format!("after {received} body bytes: {}", error_chain(e)) }
}

/// `e`'s sources, nearest first.
fn sources<'a>(e: &'a hyper::Error) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(e.source(), |&s| s.source())
}

/// The TLS alert the server sent, when that is what ended the connection.
fn tls_alert(e: &hyper::Error) -> Option<rustls::AlertDescription> {
    sources(e).find_map(|s| {
        // An `io::Error`'s `source` skips the error it wraps: look inside it.
        let inner = s.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).map(|i| i as &(dyn std::error::Error + 'static));
        [Some(s), inner].into_iter().flatten().find_map(|c| match c.downcast_ref::<rustls::Error>() {
            Some(rustls::Error::AlertReceived(a)) => Some(*a),
            _ => None,
        })
    })
}

fn io_kind(e: &hyper::Error) -> Option<std::io::ErrorKind> {
    sources(e).find_map(|s| s.downcast_ref::<std::io::Error>()).map(|io| io.kind())
}

fn h2_error(e: &hyper::Error) -> Option<&h2::Error> {
    sources(e).find_map(|s| s.downcast_ref::<h2::Error>())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_is_host_and_any_non_default_port_without_userinfo() {
        let a = |u: &str| authority(&Url::parse(u).unwrap()).to_string();
        assert_eq!(a("http://user:pw@example.com:8080/x?q"), "example.com:8080");
        assert_eq!(a("http://example.com:80/"), "example.com");
        assert_eq!(a("https://example.com:443/"), "example.com");
        assert_eq!(a("https://[::1]:8443/"), "[::1]:8443");
    }

    #[test]
    fn bad_urls_are_named_without_their_password() {
        use super::super::client::parse_url;
        for bad in ["http:///path", "http://", "https://?q", "http://u:hunter2@[::1/x"] {
            let e = parse_url(bad).unwrap_err();
            assert!(e.is_bad_url(), "{bad}: {e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        assert_eq!(parse_url("localhost:8080").unwrap().as_str(), "http://localhost:8080/");
    }

    #[test]
    fn url_credentials_are_basic_auth_and_redacted_when_shown() {
        let url = Url::parse("http://al%20ice:p%40ss:w@example.com/x").unwrap();
        // "al ice:p@ss:w"
        assert_eq!(basic_auth(&url).to_str().unwrap(), "Basic YWwgaWNlOnBAc3M6dw==");
        assert_eq!(super::super::client::redacted_url(&url), "http://al%20ice:[redacted]@example.com/x");
        let user_only = Url::parse("http://bob@example.com/").unwrap();
        assert_eq!(basic_auth(&user_only).to_str().unwrap(), "Basic Ym9iOg==");
        assert_eq!(super::super::client::redacted_url(&user_only), "http://bob@example.com/");
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(http::header::RETRY_AFTER, HeaderValue::from_str(v).unwrap());
            retry_after(&m)
        };
        assert_eq!(h("3"), Some(std::time::Duration::from_secs(3)));
        assert_eq!(h("Wed, 21 Oct 2015 07:28:00 GMT"), Some(std::time::Duration::ZERO), "a date past is no wait");
        let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + std::time::Duration::from_secs(30));
        assert!(h(&soon).is_some_and(|d| d > std::time::Duration::from_secs(28)), "{soon}");
        assert_eq!(h("soon"), None);
    }

    #[test]
    fn alt_svc_h3_is_the_first_h3_alternative_on_the_same_host() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(http::header::ALT_SVC, HeaderValue::from_str(v).unwrap());
            alt_svc_h3(&m)
        };
        assert_eq!(h(r#"h3=":8443"; ma=86400"#), Some(8443));
        assert_eq!(h(r#"h3-29=":1", h3=":443"; ma=3600, h2=":443""#), Some(443));
        assert_eq!(h(r#"h3="other.example:443""#), None);
        assert_eq!(h("clear"), None);
        assert_eq!(h(r#"h2=":443""#), None);
    }

    #[test]
    fn one_pass_over_the_fields_reads_what_lookups_by_name_would() {
        let mut m = HeaderMap::new();
        let add = |m: &mut HeaderMap, n: http::header::HeaderName, v: &str| m.append(n, HeaderValue::from_str(v).unwrap());
        add(&mut m, http::header::CONTENT_LENGTH, "5");
        add(&mut m, http::header::LOCATION, "/first");
        add(&mut m, http::header::LOCATION, "/second");
        add(&mut m, http::header::ALT_SVC, r#"h2=":443""#);
        add(&mut m, http::header::ALT_SVC, r#"h3=":8443""#);
        add(&mut m, http::header::CONNECTION, "Close");
        add(&mut m, http::header::CONNECTION, "keep-alive");
        add(&mut m, http::header::RETRY_AFTER, "7");
        add(&mut m, http::header::RETRY_AFTER, "9");
        let status = http::StatusCode::MOVED_PERMANENTLY;
        let f = ResponseFields::read("HTTP/1.1", status, &m);
        assert_eq!(f.header_bytes, head_size("HTTP/1.1", status, &m));
        assert_eq!(f.location.as_deref(), m.get(http::header::LOCATION).and_then(|v| v.to_str().ok()));
        assert_eq!(f.location.as_deref(), Some("/first"));
        assert!(f.close, "the first Connection field decides");
        assert_eq!(f.alt_svc_h3, alt_svc_h3(&m));
        assert_eq!(f.alt_svc_h3, Some(8443));
        assert_eq!(f.retry_after, retry_after(&m));
        assert_eq!(f.retry_after, Some(std::time::Duration::from_secs(7)));
        let none = ResponseFields::read("HTTP/1.1", http::StatusCode::OK, &HeaderMap::new());
        assert_eq!((none.location, none.close, none.alt_svc_h3, none.retry_after), (None, false, None, None));
        assert_eq!(none.header_bytes, "HTTP/1.1 200 OK\r\n\r\n".len() as u64);
    }

    #[test]
    fn origin_form_is_path_and_query_without_fragment() {
        let o = |u: &str| origin_form(&Url::parse(u).unwrap()).to_string();
        assert_eq!(o("http://h:81/a/b?x=1&y#frag"), "/a/b?x=1&y");
        assert_eq!(o("http://h"), "/");
        assert_eq!(o("http://h/p?"), "/p?");
    }
}
