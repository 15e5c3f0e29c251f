//! A request's events as OpenTelemetry spans: one CLIENT span per request (the HTTP client
//! semantic conventions' attributes), a CLIENT child per hop (each request on the wire:
//! redirects are resends), and INTERNAL children per phase of the hop (dns, each connect
//! attempt, proxy tunnel, tls, send, wait, receive). Start and end times are the events' own
//! monotonic stamps, mapped to wall time once per request (the `request-start` event's
//! wall-clock stamp), so every phase's duration is the trace's to the nanosecond. The finer
//! hooks (header fields written, 1xx responses, 100-continue, first byte, redirects) become
//! span events.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use httptrace::event::{Event, EventKind, PeerAddr, StampClock, TraceError};
use httptrace::summary::HopInstants;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, status, Span, Status};

use crate::context::{new_span_id, new_trace_id, TraceParent};
use httptrace::trace::SampledRecording;

/// SemConv's `error.type` of a request: the failure's kind, or an HTTP error status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorType<'a> {
    Kind(&'a str),
    Status(u16),
}

/// What the metrics need of one finished request, borrowed from its events.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestFacts<'a> {
    pub method: &'a str,
    /// The URL asked for (the first hop's).
    pub url: Option<&'a str>,
    pub status: Option<u16>,
    pub error_type: Option<ErrorType<'a>>,
    /// curl's `time_total`, seconds.
    pub duration_s: f64,
    pub timings: &'a httptrace::event::Timings,
}

/// The facts of one request's events, when its `request-done` is among them.
fn facts_of<'a>(evs: &[&'a Event]) -> Option<RequestFacts<'a>> {
    let mut start = None;
    let mut done = None;
    for e in evs {
        match &e.kind {
            EventKind::RequestStart { method, url, .. } if start.is_none() => start = Some((method.as_str(), url.as_str())),
            EventKind::RequestDone { .. } => done = Some(&e.kind),
            _ => {}
        }
    }
    let Some(EventKind::RequestDone { url, status, error, timings, marks, .. }) = done else { return None };
    let error_type = match (error, status) {
        (Some(e), _) => Some(ErrorType::Kind(e.kind.as_str())),
        (None, Some(s)) if *s >= 400 => Some(ErrorType::Status(*s)),
        _ => None,
    };
    Some(RequestFacts {
        method: start.map_or("_OTHER", |s| s.0),
        url: Some(start.map_or(url.as_str(), |s| s.1)),
        status: *status,
        error_type,
        duration_s: marks.total,
        timings,
    })
}

/// A key/value attribute with a string value.
pub(crate) fn kv(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }), ..Default::default() }
}

/// A key/value attribute with an integer value.
pub(crate) fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }), ..Default::default() }
}

fn kv_bool(key: &str, value: bool) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(any_value::Value::BoolValue(value)) }), ..Default::default() }
}

/// Builds the spans of every request in `events` (a request's events all come in one call:
/// the engine hands them over in one batch, and the chain keeps batches whole).
pub(crate) fn build(
    events: &[&Event],
    parent: Option<&TraceParent>,
    recording: &SampledRecording,
    spans: &mut Vec<Span>,
    metrics: &mut crate::metrics::Metrics,
) {
    // A batch holds whole requests, one after the other.
    for evs in events.chunk_by(|a, b| a.request == b.request) {
        if let Some(f) = facts_of(evs) {
            metrics.record(&f);
        }
        // The engine recorded the phases in full for exactly these requests.
        if recording.keeps(evs[0].request) {
            request(evs, parent, spans);
        }
    }
}

/// SemConv's `network.protocol.version` from the engine's protocol names.
fn protocol_version(p: &str) -> &str {
    match p {
        "http/1.1" | "HTTP/1.1" => "1.1",
        "http/1.0" | "HTTP/1.0" => "1.0",
        "h2" | "HTTP/2" => "2",
        "h3" | "HTTP/3" => "3",
        other => other,
    }
}

/// The host and port of a URL.
pub(crate) fn server_of(url: &str) -> Option<(String, u16)> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?.trim_start_matches('[').trim_end_matches(']').to_string();
    Some((host, u.port_or_known_default()?))
}

fn error_status(message: &str) -> Option<Status> {
    Some(Status { message: message.into(), code: status::StatusCode::Error as i32 })
}

/// The spans of one request.
fn request(evs: &[&Event], parent: Option<&TraceParent>, spans: &mut Vec<Span>) {
    let last_at = evs.iter().map(|e| e.at_ns).max().unwrap_or(0);
    // Wall time of the request's monotonic origin: from a request-start's stamp, else now.
    let wall0 = evs
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::RequestStart { wall_unix_ns, .. } => Some(wall_unix_ns.saturating_sub(e.at_ns)),
            _ => None,
        })
        .unwrap_or_else(|| {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            now.saturating_sub(last_at)
        });
    let t = |at: u64| wall0.saturating_add(at);
    let mut hops: BTreeMap<u32, Vec<&Event>> = BTreeMap::new();
    for e in evs {
        hops.entry(e.hop).or_default().push(e);
    }
    // Ids: the header the engine sent (--propagate), else the caller's trace, else new ones.
    let sent: BTreeMap<u32, TraceParent> = hops.iter().filter_map(|(h, evs)| sent_traceparent(evs).map(|tp| (*h, tp))).collect();
    let trace_id = parent.map(|p| p.trace_id).or_else(|| sent.values().next().map(|tp| tp.trace_id)).unwrap_or_else(new_trace_id);
    // Exported, so sampled (whatever the caller's flag said).
    let flags = (parent.map_or(1, |p| p.flags) | 1) as u32;
    let request_id = new_span_id();
    let done = evs.iter().find_map(|e| match &e.kind {
        EventKind::RequestDone { url, status, error, timings, marks, .. } => Some((e.at_ns, url, *status, error, timings, marks)),
        _ => None,
    });
    let mut attrs = Vec::new();
    let first_start = hops.values().next().and_then(|h| {
        h.iter().find_map(|e| match &e.kind {
            EventKind::RequestStart { method, url, .. } => Some((method.clone(), url.clone())),
            _ => None,
        })
    });
    let method = first_start.as_ref().map(|(m, _)| m.clone()).unwrap_or_else(|| "_OTHER".into());
    let url = first_start.as_ref().map(|(_, u)| u.clone()).or_else(|| done.map(|d| d.1.clone()));
    attrs.push(kv("http.request.method", method.clone()));
    if let Some(u) = &url {
        attrs.push(kv("url.full", u.clone()));
    }
    if let Some(e) = evs.first() {
        // The request's number in the run, as in every event (and the ndjson log).
        attrs.push(kv_int("httptrace.request.id", e.request as i64));
    }
    let server = url.as_deref().and_then(server_of);
    if let Some((host, port)) = &server {
        attrs.push(kv("server.address", host.clone()));
        attrs.push(kv_int("server.port", *port as i64));
    }
    let final_hop = hops.values().last();
    if let Some((proto, peer)) = final_hop.and_then(|h| got_conn(h)) {
        attrs.push(kv("network.protocol.version", protocol_version(&proto)));
        peer_attrs(&peer, &mut attrs);
    }
    let resends = hops.len().saturating_sub(1);
    if resends > 0 {
        attrs.push(kv_int("http.request.resend_count", resends as i64));
    }
    let mut error_type = None;
    let mut span_status = None;
    if let Some((_, final_url, status, error, _, _)) = done {
        if Some(final_url) != url.as_ref() {
            attrs.push(kv("httptrace.url.effective", final_url.clone()));
        }
        if let Some(s) = status {
            attrs.push(kv_int("http.response.status_code", s as i64));
        }
        if let Some(e) = error {
            error_type = Some(e.kind.as_str().to_string());
            attrs.push(kv("httptrace.error.phase", e.phase.as_str()));
            span_status = error_status(&e.message);
        } else if let Some(s) = status.filter(|s| *s >= 400) {
            error_type = Some(s.to_string());
            span_status = error_status("");
        }
        if let Some(t) = &error_type {
            attrs.push(kv("error.type", t.clone()));
        }
    }
    let end = done.map_or(last_at, |d| d.0);
    // The engine recorded the phases in full for exactly these requests.
    spans.push(Span {
        trace_id: trace_id.to_vec(),
        span_id: request_id.to_vec(),
        parent_span_id: parent.map(|p| p.span_id.to_vec()).unwrap_or_default(),
        flags,
        name: method.clone(),
        kind: span::SpanKind::Client as i32,
        // From the request's origin: under --rate its scheduled start, so lateness shows.
        start_time_unix_nano: t(0),
        end_time_unix_nano: t(end),
        attributes: attrs,
        status: span_status,
        ..Default::default()
    });
    for (n, hop_events) in &hops {
        let id = sent.get(n).map_or_else(new_span_id, |tp| tp.span_id);
        hop(hop_events, *n, &trace_id, &request_id, &id, flags, &t, spans);
    }
}

/// The `traceparent` header written on the hop, if any.
fn sent_traceparent(evs: &[&Event]) -> Option<TraceParent> {
    evs.iter().find_map(|e| match &e.kind {
        EventKind::WroteHeaderField { name, value } if name.eq_ignore_ascii_case("traceparent") => TraceParent::parse(value).ok(),
        _ => None,
    })
}

/// `httptrace.clock`: which clock stamped the span event (`kernel` or `engine`).
fn clock_kv(c: StampClock) -> KeyValue {
    kv("httptrace.clock", if c == StampClock::Kernel { "kernel" } else { "engine" })
}

/// `network.peer.address` and `.port` (a Unix socket: its path, and no port).
fn peer_attrs(peer: &PeerAddr, attrs: &mut Vec<KeyValue>) {
    match peer.socket_addr() {
        Some(a) => {
            attrs.push(kv("network.peer.address", a.ip().to_string()));
            attrs.push(kv_int("network.peer.port", a.port() as i64));
        }
        None => attrs.push(kv("network.peer.address", peer.to_string())),
    }
}

fn got_conn(evs: &[&Event]) -> Option<(String, PeerAddr)> {
    evs.iter().rev().find_map(|e| match &e.kind {
        EventKind::GotConn { protocol, remote_addr, .. } => Some((protocol.clone(), remote_addr.clone())),
        _ => None,
    })
}

#[allow(clippy::too_many_arguments)]
fn hop(
    evs: &[&Event],
    n: u32,
    trace_id: &[u8; 16],
    request_id: &[u8; 8],
    id: &[u8; 8],
    flags: u32,
    t: &dyn Fn(u64) -> u64,
    spans: &mut Vec<Span>,
) {
    let m = HopInstants::from_events(evs.iter().copied());
    let (Some(start), Some(end)) = (m.start, m.end()) else { return };
    let mut attrs = Vec::new();
    let mut events = Vec::new();
    let mut method = "_OTHER".to_string();
    let mut span_status = None;
    let mut error_type = None;
    let mut status_code = None;
    let child = |name: &str, a: u64, b: u64, attributes: Vec<KeyValue>, status: Option<Status>| Span {
        trace_id: trace_id.to_vec(),
        span_id: new_span_id().to_vec(),
        parent_span_id: id.to_vec(),
        flags,
        name: name.into(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: t(a),
        end_time_unix_nano: t(b.max(a)),
        attributes,
        status,
        ..Default::default()
    };
    let mut phases = Vec::new();
    let point = |name: &str, at: u64, attributes: Vec<KeyValue>| span::Event {
        time_unix_nano: t(at),
        name: name.into(),
        attributes,
        ..Default::default()
    };
    // Open starts, matched with their ends in order.
    let mut dns: Option<(u64, String)> = None;
    let mut connects: Vec<(u64, PeerAddr)> = Vec::new();
    let mut tunnel: Option<(u64, String, String)> = None;
    let mut tls: Option<(u64, String)> = None;
    for e in evs {
        let at = e.at_ns;
        match &e.kind {
            EventKind::RequestStart { method: m, url, .. } => {
                method = m.clone();
                attrs.push(kv("http.request.method", m.clone()));
                attrs.push(kv("url.full", url.clone()));
                if let Some((host, port)) = server_of(url) {
                    attrs.push(kv("server.address", host));
                    attrs.push(kv_int("server.port", port as i64));
                }
            }
            EventKind::DnsStart { host, .. } => dns = Some((at, host.clone())),
            EventKind::DnsDone { addrs, coalesced, error, proxy } => {
                let (a, host) = dns.take().unwrap_or((at, String::new()));
                let mut kvs = vec![kv("dns.question.name", host)];
                let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
                kvs.push(kv("httptrace.dns.addresses", list.join(",")));
                if *coalesced {
                    kvs.push(kv_bool("httptrace.dns.coalesced", true));
                }
                if let Some(p) = proxy {
                    kvs.push(kv("httptrace.proxy", p.clone()));
                }
                let st = phase_error(error.as_ref(), &mut kvs);
                phases.push(child("dns", a, at, kvs, st));
            }
            EventKind::ConnectStart { addr, .. } => connects.push((at, addr.clone())),
            EventKind::ConnectDone { network, addr, cancelled, error, proxy } => {
                let a = connects.iter().position(|(_, x)| x == addr).map_or(at, |i| connects.remove(i).0);
                let mut kvs = vec![kv("network.transport", network.clone())];
                peer_attrs(addr, &mut kvs);
                if *cancelled {
                    kvs.push(kv_bool("httptrace.connect.cancelled", true));
                }
                if let Some(p) = proxy {
                    kvs.push(kv("httptrace.proxy", p.clone()));
                }
                let st = phase_error(error.as_ref(), &mut kvs);
                phases.push(child("connect", a, at, kvs, st));
            }
            EventKind::ProxyConnectStart { proxy, target } => tunnel = Some((at, proxy.clone(), target.clone())),
            EventKind::ProxyConnectDone { proxy, status, error } => {
                let (a, _, target) = tunnel.take().unwrap_or((at, proxy.clone(), String::new()));
                let mut kvs = vec![kv("httptrace.proxy", proxy.clone()), kv("httptrace.proxy.target", target)];
                if let Some(s) = status {
                    kvs.push(kv_int("httptrace.proxy.status_code", *s as i64));
                }
                let st = phase_error(error.as_ref(), &mut kvs);
                phases.push(child("proxy tunnel", a, at, kvs, st));
            }
            EventKind::TlsHandshakeStart { server_name } => tls = Some((at, server_name.clone())),
            EventKind::TlsHandshakeDone {
                version,
                cipher_suite,
                alpn,
                resumed,
                error,
                client_certificate_requested,
                client_certificate_sent,
                ..
            } => {
                let (a, sni) = tls.take().unwrap_or((at, String::new()));
                let mut kvs = Vec::new();
                if !sni.is_empty() {
                    kvs.push(kv("tls.client.server_name", sni));
                }
                if let Some(v) = version.strip_prefix("TLSv") {
                    kvs.push(kv("tls.protocol.name", "tls"));
                    kvs.push(kv("tls.protocol.version", v));
                }
                if !cipher_suite.is_empty() {
                    kvs.push(kv("tls.cipher", cipher_suite.clone()));
                }
                if let Some(p) = alpn {
                    kvs.push(kv("tls.next_protocol", p.clone()));
                }
                kvs.push(kv_bool("tls.resumed", *resumed));
                if *client_certificate_requested {
                    kvs.push(kv_bool("httptrace.tls.client_certificate_requested", true));
                    kvs.push(kv_bool("httptrace.tls.client_certificate_sent", *client_certificate_sent));
                }
                let st = phase_error(error.as_ref(), &mut kvs);
                phases.push(child("tls", a, at, kvs, st));
            }
            EventKind::QuicHandshakeStart { server_name, .. } => tls = Some((at, server_name.clone())),
            EventKind::QuicHandshakeDone { quic_version, alpn, resumed, error, .. } => {
                let (a, sni) = tls.take().unwrap_or((at, String::new()));
                let mut kvs = vec![kv("network.transport", "quic"), kv("tls.protocol.name", "tls"), kv("tls.protocol.version", "1.3")];
                if !sni.is_empty() {
                    kvs.push(kv("tls.client.server_name", sni));
                }
                if *quic_version != 0 {
                    kvs.push(kv_int("httptrace.quic.version", *quic_version as i64));
                }
                if let Some(p) = alpn {
                    kvs.push(kv("tls.next_protocol", p.clone()));
                }
                kvs.push(kv_bool("tls.resumed", *resumed));
                let st = phase_error(error.as_ref(), &mut kvs);
                phases.push(child("tls", a, at, kvs, st));
            }
            EventKind::GotConn { reused, was_idle, idle_ns, remote_addr, protocol, .. } => {
                attrs.push(kv("network.protocol.version", protocol_version(protocol)));
                peer_attrs(remote_addr, &mut attrs);
                attrs.push(kv_bool("httptrace.connection.reused", *reused));
                if let Some(c) = e.conn {
                    attrs.push(kv_int("httptrace.connection.id", c as i64));
                }
                let mut kvs = vec![kv_bool("reused", *reused)];
                if *was_idle {
                    kvs.push(kv_int("idle_ns", *idle_ns as i64));
                }
                events.push(point("got-conn", at, kvs));
            }
            EventKind::WroteHeaderField { name, value } => {
                events.push(point("wrote-header-field", at, vec![kv("name", name.clone()), kv("value", value.clone())]));
            }
            EventKind::WroteHeaders { clock } => events.push(point("wrote-headers", at, vec![clock_kv(*clock)])),
            EventKind::Wait100Continue {} => events.push(point("wait-100-continue", at, Vec::new())),
            EventKind::Got100Continue {} => events.push(point("got-100-continue", at, Vec::new())),
            EventKind::Got1xxResponse { status, .. } => events.push(point("got-1xx-response", at, vec![kv_int("status", *status as i64)])),
            EventKind::GotFirstResponseByte { clock } => events.push(point("got-first-response-byte", at, vec![clock_kv(*clock)])),
            EventKind::ResponseHeaders { status, .. } => {
                status_code = Some(*status);
                attrs.push(kv_int("http.response.status_code", *status as i64));
            }
            EventKind::WroteRequest { error: Some(err), .. } | EventKind::ResponseDone { error: Some(err), .. } => {
                error_type = Some(err.kind.as_str().to_string());
                span_status = error_status(&err.message);
            }
            EventKind::Redirect { to, status, .. } => {
                events.push(point("redirect", at, vec![kv("to", to.clone()), kv_int("status", *status as i64)]));
            }
            EventKind::RequestDone { error: Some(err), .. } if error_type.is_none() => {
                error_type = Some(err.kind.as_str().to_string());
                span_status = error_status(&err.message);
            }
            _ => {}
        }
    }
    if error_type.is_none() {
        if let Some(s) = status_code.filter(|s| *s >= 400) {
            error_type = Some(s.to_string());
            span_status = error_status("");
        }
    }
    if let Some(e) = &error_type {
        attrs.push(kv("error.type", e.clone()));
    }
    if n > 0 {
        attrs.push(kv_int("http.request.resend_count", n as i64));
    }
    // send, wait and receive exactly as the HAR timings divide the hop (summary.rs).
    if let Some(g) = m.got_conn {
        phases.push(child("send", g, m.wrote_request.unwrap_or(end), Vec::new(), None));
    }
    if let Some(w) = m.wrote_request {
        phases.push(child("wait", w, m.first_byte.unwrap_or(end), Vec::new(), None));
    }
    if let Some(f) = m.first_byte {
        phases.push(child("receive", f, end, Vec::new(), None));
    }
    spans.push(Span {
        trace_id: trace_id.to_vec(),
        span_id: id.to_vec(),
        parent_span_id: request_id.to_vec(),
        flags,
        name: method,
        kind: span::SpanKind::Client as i32,
        start_time_unix_nano: t(start),
        end_time_unix_nano: t(end),
        attributes: attrs,
        events,
        status: span_status,
        ..Default::default()
    });
    spans.extend(phases);
}

/// Adds `error.type` for a failed phase and gives its status.
fn phase_error(error: Option<&TraceError>, kvs: &mut Vec<KeyValue>) -> Option<Status> {
    let e = error?;
    kvs.push(kv("error.type", e.kind.as_str()));
    error_status(&e.message)
}
