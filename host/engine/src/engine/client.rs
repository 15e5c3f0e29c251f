//! The request loop: hops and redirects under the time limits, then the summary
//! (`request-done`) and the hand-off of the request's events to the sink.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use url::Url;

use super::exchange::{exchange, HopRequest};
use super::pool::timeout_error;
use super::{ClientOptions, ConnectTo, HttpVersion, Shared, Target};
use crate::error::Error;
use crate::event::{kind, EventKind, FailureKind, HopSummary, Phase, TraceError};
use crate::summary::{request_marks, sum_timings, HopInstants};
use crate::trace::{Sink, Trace};

/// Most bytes of a request body `request-start` carries.
const POST_DATA_MAX: usize = 64 * 1024;

/// A request to make.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Method.
    pub method: Method,
    /// Absolute `http`/`https` URL.
    pub url: Url,
    /// Extra headers in order; an empty value removes a default header (as curl's `-H 'X:'`).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
}

impl RequestSpec {
    /// A GET of `url`, checked: only `http` and `https` URLs with a host are accepted.
    pub fn get(url: &str) -> Result<RequestSpec, Error> {
        Ok(RequestSpec { method: Method::GET, url: parse_url(url)?, headers: Vec::new(), body: Bytes::new() })
    }
}

/// Parses and checks a request URL; a URL without a scheme gets `http://`, as in curl.
pub fn parse_url(s: &str) -> Result<Url, Error> {
    // Messages quote the URL with any password in it masked.
    let shown = mask_password(s);
    let with_scheme = if s.contains("://") { s.to_string() } else { format!("http://{s}") };
    // `http:///path` has an empty authority; the URL standard would take `path` as the host.
    let empty_authority = with_scheme.split_once("://").is_some_and(|(scheme, rest)| {
        ["http", "https"].iter().any(|h| scheme.eq_ignore_ascii_case(h)) && (rest.is_empty() || rest.starts_with(['/', '?', '#']))
    });
    if empty_authority {
        return Err(Error::bad_url(format!("invalid URL '{shown}': no host")));
    }
    let url = Url::parse(&with_scheme).map_err(|e| Error::bad_url(format!("invalid URL '{shown}': {e}")))?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(Error::unsupported_scheme(format!("unsupported scheme '{other}' in '{shown}' (use http or https)"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::bad_url(format!("invalid URL '{shown}': no host")));
    }
    Ok(url)
}

/// `s` (a URL as typed, maybe unparsable) with the password of its userinfo masked.
pub(crate) fn mask_password(s: &str) -> String {
    let start = s.find("://").map_or(0, |i| i + 3);
    let authority_end = s[start..].find(['/', '?', '#']).map_or(s.len(), |i| start + i);
    // A password with an unescaped `/` (not a valid URL, but typed) ends the authority early:
    // then the userinfo runs to the last `@` before any query.
    let query = s[start..].find(['?', '#']).map_or(s.len(), |i| start + i);
    let at = s[start..authority_end].rfind('@').or_else(|| s[start..query].rfind('@')).map(|i| start + i);
    let Some(at) = at else { return s.to_string() };
    match s[start..at].find(':') {
        Some(colon) => format!("{}[redacted]{}", &s[..start + colon + 1], &s[at..]),
        None => s.to_string(),
    }
}

/// How a request ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Request id.
    pub request: u64,
    /// Final status, if a response arrived.
    pub status: Option<u16>,
    /// Final URL.
    pub url: Url,
    /// The failure, if any.
    pub error: Option<TraceError>,
    /// The client's lag on the last response (see [`HopRecord::client_lag_ns`](crate::summary::HopRecord)).
    pub client_lag: Option<Duration>,
    /// Whether the request's writes (wrote-headers, wrote-request, …) carry the kernel's
    /// transmit stamps rather than the engine's own.
    pub sent_by_kernel: bool,
}

/// A traced HTTP client: connection pool, resolver and TLS settings shared by its requests.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl Client {
    /// A client that hands each finished request's events to `sink`.
    pub fn new(opts: ClientOptions, sink: Arc<dyn Sink>) -> Result<Client, Error> {
        let shared = Shared::new(opts, sink)?;
        Ok(Client { shared: Arc::new(shared) })
    }

    /// Loads what TLS needs (root certificates; an `https://` proxy's too) so it does not fall
    /// inside a measured phase.
    pub fn prepare_tls(&self) -> Result<(), Error> {
        self.shared.prepare_tls().map(|_| ()).map_err(Error::config)?;
        if self.shared.opts.proxy.uses_tls() {
            self.shared.prepare_proxy_tls().map(|_| ()).map_err(Error::config)?;
        }
        Ok(())
    }

    /// Makes the request now; see [`Client::execute_at`].
    pub async fn execute(&self, spec: &RequestSpec) -> Outcome {
        self.wait_for_sink().await;
        self.run(spec, None).await
    }

    /// Makes the request with its clock starting at `start` (the scheduled start, for open-loop
    /// load), follows redirects if asked, and hands every event to the sink. Never panics on
    /// network trouble: failures come back in [`Outcome::error`] and in `request-done`.
    pub async fn execute_at(&self, spec: &RequestSpec, start: Instant) -> Outcome {
        self.wait_for_sink().await;
        self.run(spec, Some(start)).await
    }

    /// Whether the sink stopped taking events ([`Sink::is_closed`](crate::trace::Sink::is_closed)):
    /// callers that make many requests stop starting new ones.
    pub fn is_stopped(&self) -> bool {
        self.shared.sink.is_closed()
    }

    /// Backpressure from a slow sink, before the request's clock starts.
    async fn wait_for_sink(&self) {
        if let Some(room) = self.shared.sink.room() {
            room.await;
        }
    }

    /// Runs the request with its clock starting at `start`, or now.
    async fn run(&self, spec: &RequestSpec, start: Option<Instant>) -> Outcome {
        let trace = match (self.shared.opts.tracing, start) {
            (true, start) => Trace::recording(start, self.shared.opts.record, self.shared.opts.record_sampled.as_ref()),
            (false, start) => Trace::disabled_at(start.unwrap_or_else(Instant::now)),
        };
        // The hop's URL as the engine follows redirects: what a timeout reports.
        let current = std::sync::Mutex::new(None);
        // The hops' future is made where it is awaited: bound to a name first, the whole of it
        // (several KB, the exchange's and hyper's futures inside) was copied once more per
        // request.
        let result = match self.shared.opts.max_time {
            Some(limit) => {
                let deadline = tokio::time::Instant::from_std(trace.origin() + limit);
                match tokio::time::timeout_at(deadline, self.run_hops(&trace, spec, &current)).await {
                    Ok(r) => r,
                    Err(_) => {
                        let err = timeout_error(&trace, FailureKind::MaxTime, limit);
                        let url = current.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_else(|| spec.url.clone());
                        (None, url, Some(err))
                    }
                }
            }
            None => self.run_hops(&trace, spec, &current).await,
        };
        let (status, url, error) = result;
        self.finish(&trace, status, &url, error.clone());
        Outcome { request: trace.id(), status, url, error, client_lag: trace.client_lag(), sent_by_kernel: trace.kernel_sent() }
    }

    async fn run_hops(
        &self,
        trace: &Arc<Trace>,
        spec: &RequestSpec,
        current: &std::sync::Mutex<Option<Url>>,
    ) -> (Option<u16>, Url, Option<TraceError>) {
        let opts: &ClientOptions = &self.shared.opts;
        let shown = |u: &Url| if opts.show_secrets { u.as_str().to_owned() } else { redacted_url(u) };
        let mut hop_req = HopRequest {
            method: spec.method.clone(),
            url: spec.url.clone(),
            headers: spec.headers.clone(),
            body: spec.body.clone(),
            trace_context: None,
            decode: opts.compressed,
        };
        // `--compressed`: curl's `Accept-Encoding`, unless the request names its own.
        if opts.compressed && !hop_req.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("accept-encoding")) {
            hop_req.headers.insert(0, ("accept-encoding".into(), super::decode::ACCEPT_ENCODING.into()));
        }
        // One trace per request (or the caller's), a new span id per hop.
        let trace_id = opts.trace_context.as_ref().map(|c| c.trace_id.unwrap_or_else(super::new_trace_id));
        let mut redirects = 0u32;
        let mut retries = 0u32;
        let mut digest_answered = false;
        'hops: loop {
            // The jar's cookies for this hop, joined to a `Cookie` the request carries (one
            // header, as curl sends them), before the hop's clock starts; the request's own
            // headers come back after the exchange. Nothing is copied without a jar.
            let given = opts.cookies.as_ref().and_then(|jar| jar.header_for(&hop_req.url)).map(|jar_cookies| {
                let given = hop_req.headers.clone();
                match hop_req.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case("cookie")) {
                    // `-H 'Cookie:'` removes the request's own header, not the jar's cookies
                    // (curl 7.88 sends them all the same).
                    Some((_, v)) if v.is_empty() => *v = jar_cookies,
                    Some((_, v)) => *v = format!("{v}; {jar_cookies}"),
                    None => hop_req.headers.push(("cookie".into(), jar_cookies)),
                }
                given
            });
            if let (Some(ctx), Some(id)) = (&opts.trace_context, trace_id) {
                // Sampled as the exporter decides, where one samples.
                let sampled = opts.record_sampled.as_ref().map_or(ctx.flags & 1 == 1, |s| s.keeps(trace.id()));
                hop_req.trace_context = Some(ctx.header(id, sampled));
            }
            let hop = trace.hop();
            // The first hop starts when the trace did (one clock read for both).
            let at = if hop == 0 { trace.created_ns() } else { trace.now_ns() };
            trace.emit_at(
                at,
                hop,
                None,
                EventKind::RequestStart {
                    // The hop's record keeps the URL, not the method: its text only if kept.
                    method: if trace.records(kind::REQUEST_START) { hop_req.method.to_string() } else { String::new() },
                    url: shown(&hop_req.url),
                    wall_unix_ns: trace.wall_unix_ns(at),
                    // The request's own bytes (a reference, not a copy).
                    post_data: (!hop_req.body.is_empty()).then(|| hop_req.body.slice(..hop_req.body.len().min(POST_DATA_MAX))),
                },
            );
            let host = hop_req.url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
            let port = hop_req.url.port_or_known_default().unwrap_or(80);
            let (dial_host, mut dial_port) = ConnectTo::apply(&opts.connect_to, &host, port);
            let tls = hop_req.url.scheme() == "https";
            // A Unix socket takes no proxy (curl's `--unix-socket`).
            let proxy = if opts.proxy.is_none() || opts.unix_socket.is_some() { None } else { opts.proxy.for_host(tls, &host).cloned() };
            // HTTP/3 (curl's `--http3` takes no proxy), on the port an `Alt-Svc` named.
            let quic =
                tls && proxy.is_none() && opts.unix_socket.is_none() && matches!(opts.http, HttpVersion::Http3 | HttpVersion::Http3Only);
            if opts.http == HttpVersion::Http3Only && !quic {
                // curl's refusals (`Curl_conn_may_http3`), on every hop: a redirect too.
                // curl 8's first check: a Unix socket is a QUIC connect error (96), the rest
                // malformed URLs (3).
                if opts.unix_socket.is_some() {
                    let e = TraceError::new(Phase::Setup, FailureKind::Http3, "HTTP/3 cannot be used over UNIX domain sockets");
                    return (None, hop_req.url, Some(e));
                }
                let why = match &proxy {
                    _ if !tls => "HTTP/3 requested for non-HTTPS URL",
                    Some(p) if p.scheme().is_socks() => "HTTP/3 is not supported over a SOCKS proxy",
                    _ => "HTTP/3 is not supported over an HTTP proxy",
                };
                return (None, hop_req.url, Some(TraceError::new(Phase::Setup, FailureKind::BadRequest, why)));
            }
            if quic && opts.connect_to.is_empty() {
                if let Some(p) = self.shared.alt_svc.lock().unwrap_or_else(|p| p.into_inner()).get(&(host.clone(), port)) {
                    dial_port = *p;
                }
            }
            let target = Target { tls, host, port, dial_host, dial_port, proxy, quic };
            let mut retried = false;
            let (conn, out) = loop {
                let mut conn = match self.shared.pool.get(&self.shared, trace, &target, retried).await {
                    Ok(c) => c,
                    Err(e) => {
                        if self.retry_after(trace, &mut retries, None, Some(&e), None).await {
                            trace.next_hop();
                            continue 'hops;
                        }
                        return (None, hop_req.url, Some(e));
                    }
                };
                let out = exchange(trace, &mut conn, &hop_req, opts.show_secrets, opts.keep_alive, opts.cookies.is_some()).await;
                // A pooled connection the server (or a proxy) had closed while it sat idle,
                // found out before any response byte: the request is made again, once, on a
                // new connection (Go's and curl's rule; idempotent methods only). The trace
                // keeps both attempts, and the lost time counts as `blocked`.
                if !retried
                    && conn.reused
                    && out.status.is_none()
                    && out.error.as_ref().is_some_and(closed_while_idle)
                    && is_idempotent(&hop_req.method)
                {
                    self.shared.pool.put(trace, &target, conn, hop, out.reusable, opts.keep_alive);
                    retried = true;
                    continue;
                }
                break (conn, out);
            };
            if let Some(given) = given {
                hop_req.headers = given;
            }
            if let Some(jar) = &opts.cookies {
                jar.receive(&hop_req.url, &out.set_cookies);
            }
            // `--http3`: an `Alt-Svc` on a TCP response sends the origin's later connections
            // to its HTTP/3 port.
            if let (true, Some(p)) = (target.quic, out.alt_svc_h3) {
                self.shared.alt_svc.lock().unwrap_or_else(|p| p.into_inner()).insert((target.host.clone(), target.port), p);
            }
            self.shared.pool.put(trace, &target, conn, hop, out.reusable, opts.keep_alive);
            // --retry: a transient failure is made again as a new hop of the request.
            if self.retry_after(trace, &mut retries, out.status, out.error.as_ref(), out.retry_after).await {
                trace.next_hop();
                continue;
            }
            if let Some(e) = out.error {
                return (out.status, hop_req.url, Some(e));
            }
            // --digest: a 401's challenge is answered once, on a new hop (as curl).
            if let (Some((user, password)), Some(challenge), false) = (&opts.digest, &out.digest_challenge, digest_answered) {
                if let Some(answer) = digest_answer(challenge, user, password, &hop_req) {
                    hop_req.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
                    hop_req.headers.push(("authorization".into(), answer));
                    digest_answered = true;
                    trace.next_hop();
                    continue;
                }
            }
            let status = out.status.unwrap_or(0);
            let next = match (&out.location, opts.follow_redirects, matches!(status, 301 | 302 | 303 | 307 | 308)) {
                (Some(loc), true, true) => hop_req.url.join(loc).ok(),
                _ => None,
            };
            let Some(next) = next else { return (out.status, hop_req.url, None) };
            if redirects >= opts.max_redirects {
                let message = format!("maximum ({}) redirects followed", opts.max_redirects);
                let err = TraceError::new(Phase::TooManyRedirects, FailureKind::TooManyRedirects, message);
                return (out.status, hop_req.url, Some(err));
            }
            redirects += 1;
            // curl turns a POST into a GET on 301/302/303; 307/308 keep method and body.
            if status == 303 || (matches!(status, 301 | 302) && hop_req.method == Method::POST) {
                if hop_req.method != Method::HEAD {
                    hop_req.method = Method::GET;
                }
                hop_req.body = Bytes::new();
            }
            // Credentials do not follow a redirect to another host.
            if next.host_str() != hop_req.url.host_str() || next.port_or_known_default() != hop_req.url.port_or_known_default() {
                hop_req.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("authorization") && !n.eq_ignore_ascii_case("cookie"));
            }
            if trace.records(kind::REDIRECT) {
                trace.emit(
                    None,
                    EventKind::Redirect { from: shown(&hop_req.url), to: shown(&next), status, method: hop_req.method.to_string() },
                );
            }
            *current.lock().unwrap_or_else(|p| p.into_inner()) = Some(next.clone());
            hop_req.url = next;
            trace.next_hop();
        }
    }

    /// Whether a hop that ended so is made again (`ClientOptions::retry`); if so, after the
    /// policy's delay, or the response's `Retry-After` when that is longer (as curl).
    async fn retry_after(
        &self,
        trace: &Trace,
        retries: &mut u32,
        status: Option<u16>,
        error: Option<&TraceError>,
        server_says: Option<Duration>,
    ) -> bool {
        let Some(r) = &self.shared.opts.retry else { return false };
        if *retries >= r.max || !r.is_transient(status, error) {
            return false;
        }
        let delay = r.delay(*retries + 1).max(server_says.unwrap_or_default());
        if r.max_time.is_some_and(|max| Duration::from_nanos(trace.now_ns()) + delay > max) {
            return false;
        }
        *retries += 1;
        tokio::time::sleep(delay).await;
        true
    }

    fn finish(&self, trace: &Trace, status: Option<u16>, url: &Url, error: Option<TraceError>) {
        // Nothing to deliver when nothing was recorded: the URL's text is not even made then.
        if !trace.is_enabled() {
            return;
        }
        let url = if self.shared.opts.show_secrets { url.as_str().to_owned() } else { redacted_url(url) };
        deliver(&*self.shared.sink, trace, status, url, error);
    }
}

/// Whether a request that failed this way on a reused connection found it closed by the
/// server before any response byte (Go's `errServerClosedIdle` and "nothing written"): a
/// write that failed, or an empty reply (a reset in the wait phase comes after a first byte).
fn closed_while_idle(e: &TraceError) -> bool {
    match e.phase {
        Phase::Send => true,
        Phase::Wait => e.kind == FailureKind::EmptyReply,
        _ => false,
    }
}

/// The `Authorization: Digest …` answering `challenge` for the hop's method and path, if the
/// challenge can be read.
fn digest_answer(challenge: &str, user: &str, password: &str, req: &HopRequest) -> Option<String> {
    let mut prompt = digest_auth::parse(challenge).ok()?;
    let uri = &req.url[url::Position::BeforePath..url::Position::AfterQuery];
    let method = digest_auth::HttpMethod::from(req.method.as_str());
    let context = digest_auth::AuthContext::new_with_method(user, password, uri, Option::<&[u8]>::None, method);
    prompt.respond(&context).ok().map(|a| a.to_header_string())
}

/// RFC 9110's idempotent methods: safe to send again.
fn is_idempotent(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE)
}

/// `url` as events and messages show it: a password in it reads `[redacted]`
/// (`http://user:[redacted]@host/`), as curl's and Go's `URL.Redacted` do; the rest unchanged.
pub fn redacted_url(url: &Url) -> String {
    if url.password().is_none() {
        // The serialization as it is (`to_string` would go through the formatter).
        return url.as_str().to_owned();
    }
    let s = url.as_str();
    let (start, end) = (url[..url::Position::BeforePassword].len(), url[..url::Position::AfterPassword].len());
    format!("{}[redacted]{}", &s[..start], &s[end..])
}

/// Ends a request's trace: the hops' summaries and the request's into `request-done`, then
/// every recorded event to the sink, in one batch.
pub(crate) fn deliver(sink: &dyn Sink, trace: &Trace, status: Option<u16>, url: String, error: Option<TraceError>) {
    {
        if !trace.is_enabled() {
            return;
        }
        let done_at = trace.now_ns();
        let (mut events, records) = trace.take_recorded();
        // Taps on connection tasks may push a hair out of order: order by time, stably.
        events.sort_by_key(|e| (e.hop, e.at_ns));
        let last_hop = records.len().saturating_sub(1);
        let mut records = records.into_iter();
        let mut hops = Vec::with_capacity(last_hop + 1);
        let mut final_marks = HopInstants::default();
        let mut final_lag = None;
        for hop in 0..=last_hop {
            let record = records.next().unwrap_or_default();
            final_lag = record.client_lag_ns;
            let mut m = record.marks;
            if hop == 0 {
                m.start = Some(0);
            }
            if hop == last_hop && m.response_done.is_none() {
                // A failed final hop ends when the failure was reported.
                m.last = Some(done_at);
            }
            hops.push(HopSummary {
                hop: hop as u32,
                url: record.url,
                status: record.status,
                timings: m.timings(),
                marks: m.marks(),
                bytes: record.bytes,
            });
            final_marks = m;
        }
        let timings = match hops.as_slice() {
            [one] => one.timings,
            _ => sum_timings(&hops.iter().map(|h| h.timings).collect::<Vec<_>>()),
        };
        // One hop: its own marks are the request's (it started at 0, no redirect).
        let marks = match hops.as_slice() {
            [one] => {
                debug_assert_eq!(one.marks, request_marks(&final_marks));
                one.marks
            }
            _ => request_marks(&final_marks),
        };
        events.push(crate::event::Event {
            request: trace.id(),
            hop: last_hop as u32,
            conn: None,
            at_ns: done_at,
            kind: EventKind::RequestDone {
                url,
                status,
                error,
                timings,
                marks,
                hops,
                // The final hop's own (an earlier hop's lag is not this response's).
                client_lag_ns: final_lag,
            },
        });
        sink.request_events(events);
    }
}
