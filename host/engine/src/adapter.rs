//! Trace your own client: hyper-util's [`legacy::Client`] opening its connections through
//! httptrace's [`Connector`], and [`TracedClient`] turning each request into the same events
//! the engine's own [`Client`](crate::Client) records, handed to a [`Sink`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use http_body_util::{BodyExt, Empty};
//! use httptrace::adapter::TracedClient;
//! use httptrace::trace::MemorySink;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let sink = MemorySink::new();
//! // The program's own builder and settings; only the connector is httptrace's.
//! let client: TracedClient<Empty<bytes::Bytes>> =
//!     TracedClient::new(&Client::builder(TokioExecutor::new()), Default::default(), Arc::new(sink.clone())).unwrap();
//! let req = http::Request::get("https://example.com/").body(Empty::new()).unwrap();
//! let response = client.request(req).await.unwrap();
//! let body = response.into_body().collect().await.unwrap(); // request-done once the body ends
//! # drop(body);
//! for e in sink.events() {
//!     println!("{}", e.to_json());
//! }
//! # }
//! ```
//!
//! # Which events
//!
//! | events | engine [`Client`](crate::Client) | this adapter |
//! |---|---|---|
//! | `request-start`, `get-conn`, `request-done` (timings, marks) | yes | yes |
//! | `dns-*`, each `connect-*` attempt (Happy Eyeballs), `tls-handshake-*` | yes | yes, for connections this request opened |
//! | `got-conn` (reused, idle time) | yes | yes; stamped when the request's first byte was written (HTTP/1.1) or when its response arrived (HTTP/2), since hyper-util's pool picks the connection out of sight |
//! | `wrote-header-field`, `wrote-headers`, `wrote-request`, `got-first-response-byte` | yes | HTTP/1.1: yes, stamped by the same wire tap, with the kernel's stamps where `kernel_timestamps` asks for them (`clock` says which); HTTP/2: no (streams share the connection and the pool does not say which is whose) |
//! | `response-headers`, `response-done` | yes | yes (`response-headers` when hyper hands the response over) |
//! | `wait-100-continue`, `got-100-continue`, `got-1xx-response`, `put-idle-conn`, `redirect` | yes | no (hyper-util does not expose them; it does not follow redirects) |
//!
//! Options that apply: [`ClientOptions::dns`], `cacert`, `insecure`, `http` (the ALPN offered),
//! `show_secrets` and `record`; time limits, redirects and pooling are the program's own
//! client's.
//!
//! reqwest (checked against 0.12.28) builds on the same hyper-util client but keeps its
//! connector private: its public hooks are a DNS resolver (`ClientBuilder::dns_resolver`) and
//! `ClientBuilder::connector_layer`, whose request type (`Unnameable`, the URI inside) and
//! connection type (`Conn`, a sealed box) a layer can neither read nor replace. Through them a
//! tracer sees DNS and when a connection was ready, but not which address, the TCP attempts,
//! the TLS handshake or the bytes on the wire, so there is no reqwest adapter: a program that
//! wants those traces its requests with [`TracedClient`] (or the engine's
//! [`Client`](crate::Client)).

use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::client::legacy;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::engine::client::deliver;
use crate::engine::exchange::{classify, classify_body, head_size, header_list};
use crate::engine::kstamp::KernelStream;
use crate::engine::wire::{Cycle, Tap, TapShared};
use crate::engine::{ClientOptions, HttpVersion, Shared, SECRET_HEADERS};
use crate::error::Error;
use crate::event::{kind, EventKind, FailureKind, Phase, StampClock, TraceError};
use crate::trace::{next_conn_id, Sink, Trace};

tokio::task_local! {
    /// The trace of the request whose future is being polled: the connector opens connections
    /// for it.
    static CURRENT: Arc<Trace>;
}

/// A hyper-util connector (a `tower::Service<Uri>`) that opens connections the way the engine
/// does, recording DNS, every connect attempt and the TLS handshake into the trace of the
/// [`TracedClient`] request that asked for the connection, and taps the connection's bytes.
#[derive(Clone)]
pub struct Connector {
    shared: Arc<Shared>,
}

/// What the connector knows of a connection; hyper-util hands it to every response on it.
#[derive(Clone)]
struct ConnInfo {
    id: u64,
    local: SocketAddr,
    remote: SocketAddr,
    h2: bool,
    tap: Arc<TapShared>,
    /// When the connection was ready (handshakes done).
    ready_at: Instant,
    /// Requests that have had a response on it so far.
    uses: Arc<AtomicU64>,
    /// When its last HTTP/1.1 response ended (it went back to the pool).
    idle_since: Arc<Mutex<Option<Instant>>>,
}

/// Any byte stream the connector made (TCP, or TLS over TCP).
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connection opened by [`Connector`]: the socket (TLS or not) under the wire tap.
pub struct Stream {
    io: TokioIo<Tap<Box<dyn Io>>>,
    info: ConnInfo,
}

impl hyper::rt::Read for Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: hyper::rt::ReadBufCursor<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        let c = Connected::new().extra(self.info.clone());
        if self.info.h2 {
            c.negotiated_h2()
        } else {
            c
        }
    }
}

impl Connector {
    /// A connector with the engine's resolver and TLS settings from `opts` (root certificates
    /// are loaded now, outside any measured phase).
    pub fn new(opts: ClientOptions) -> Result<Connector, Error> {
        // The connector itself hands nothing to a sink: requests do (see `TracedClient`).
        Connector::with_sink(opts, Arc::new(crate::trace::MemorySink::new()))
    }

    fn with_sink(opts: ClientOptions, sink: Arc<dyn Sink>) -> Result<Connector, Error> {
        let shared = Shared::new(opts, sink)?;
        shared.prepare_tls().map_err(Error::config)?;
        Ok(Connector { shared: Arc::new(shared) })
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = Stream;
    type Error = TraceError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, TraceError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), TraceError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let shared = self.shared.clone();
        // Called while the asking request's future is polled; a connection hyper-util opens
        // on its own (none is current) is traced into nothing.
        let trace = CURRENT.try_with(Arc::clone).unwrap_or_else(|_| Trace::disabled_at(Instant::now()));
        Box::pin(async move { open(&shared, &trace, &uri).await })
    }
}

/// Resolves, connects (Happy Eyeballs) and shakes hands, as the engine's own dial does.
async fn open(shared: &Shared, trace: &Arc<Trace>, uri: &Uri) -> Result<Stream, TraceError> {
    let setup = |kind, message: String| TraceError::new(Phase::Setup, kind, message);
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        other => return Err(setup(FailureKind::BadRequest, format!("{uri}: scheme {other:?} is not http or https"))),
    };
    let host = uri.host().ok_or_else(|| setup(FailureKind::BadRequest, format!("{uri}: no host")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let id = next_conn_id();
    let resolved = shared.resolver.resolve(trace, id, &host, port, None).await?;
    let tcp = crate::engine::connect::connect(trace, id, &resolved.addrs, port, None).await?;
    let io_error = |e: std::io::Error| TraceError::new(Phase::Connect, FailureKind::Failed, e.to_string());
    let local = tcp.local_addr().map_err(io_error)?;
    let remote = tcp.peer_addr().map_err(io_error)?;
    // The kernel's stamps, as on the engine's own connections (`ClientOptions::kernel_timestamps`).
    let tcp = KernelStream::new(tcp, shared.opts.kernel_timestamps);
    let stamps = tcp.stamps();
    let (io, h2): (Box<dyn Io>, bool) = if tls {
        let settings = shared.tls()?;
        let alpn: &[&str] = match shared.opts.http {
            HttpVersion::Http11 => &["http/1.1"],
            HttpVersion::Http2PriorKnowledge => &["h2"],
            // (The adapter traces the caller's own TCP client: HTTP/3 is not its to choose.)
            HttpVersion::Auto | HttpVersion::Http2 | HttpVersion::Http3 | HttpVersion::Http3Only => &["h2", "http/1.1"],
        };
        let stream = settings.handshake(trace, id, &host, alpn, tcp, true).await?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        (Box::new(stream), h2)
    } else {
        (Box::new(tcp), shared.opts.http == HttpVersion::Http2PriorKnowledge)
    };
    let tap = if h2 { TapShared::new(id, true) } else { TapShared::cycles(id, trace.records(kind::WROTE_HEADER_FIELD), stamps) };
    let info =
        ConnInfo { id, local, remote, h2, tap: tap.clone(), ready_at: Instant::now(), uses: Arc::default(), idle_since: Arc::default() };
    Ok(Stream { io: TokioIo::new(Tap::new(io, tap)), info })
}

/// A hyper-util [`legacy::Client`] whose connections come from [`Connector`], and whose
/// requests are traced: each one's events reach the sink once its response body ends (or
/// fails, or is dropped), or at once if it fails before a response.
pub struct TracedClient<B> {
    client: legacy::Client<Connector, B>,
    shared: Arc<Shared>,
}

impl<B> TracedClient<B>
where
    B: Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    /// Builds the client with the program's own `builder` (pool, HTTP/2 and other settings)
    /// and httptrace's connector; events go to `sink`.
    pub fn new(builder: &legacy::Builder, opts: ClientOptions, sink: Arc<dyn Sink>) -> Result<TracedClient<B>, Error> {
        let connector = Connector::with_sink(opts, sink)?;
        let shared = connector.shared.clone();
        Ok(TracedClient { client: builder.build(connector), shared })
    }

    /// The hyper-util client itself: requests made through it directly are not traced.
    pub fn client(&self) -> &legacy::Client<Connector, B> {
        &self.client
    }

    /// Sends `req` as [`legacy::Client::request`] does, recording it. The response's body is
    /// a [`TracedBody`]: read it to the end (or drop it) to finish the trace.
    pub async fn request(&self, req: Request<B>) -> Result<Response<TracedBody>, legacy::Error> {
        let trace = Trace::recording(None, self.shared.opts.record, self.shared.opts.record_sampled.as_ref());
        let url = req.uri().to_string();
        if trace.records(kind::REQUEST_START) {
            trace.emit(
                None,
                EventKind::RequestStart {
                    method: req.method().to_string(),
                    url: url.clone(),
                    wall_unix_ns: trace.wall_unix_ns(0),
                    // The adapter does not see the body before it is sent.
                    post_data: None,
                },
            );
        }
        let host_port = match (req.uri().host(), req.uri().port_u16()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => format!("{h}:{}", if req.uri().scheme_str() == Some("https") { 443 } else { 80 }),
            _ => String::new(),
        };
        trace.emit(None, EventKind::GetConn { host_port });
        let started = Instant::now();
        match CURRENT.scope(trace.clone(), self.client.request(req)).await {
            Ok(response) => {
                let headers_at = trace.now_ns();
                let info = response.extensions().get::<ConnInfo>().cloned();
                let redact: &[&str] = if self.shared.opts.show_secrets { &[] } else { SECRET_HEADERS };
                if let Some(info) = &info {
                    conn_events(&trace, info, started, redact);
                }
                let version = match response.version() {
                    http::Version::HTTP_2 => "HTTP/2",
                    http::Version::HTTP_10 => "HTTP/1.0",
                    _ => "HTTP/1.1",
                };
                let full = trace.records(kind::RESPONSE_HEADERS);
                trace.emit_at(
                    headers_at,
                    0,
                    info.as_ref().map(|i| i.id),
                    EventKind::ResponseHeaders {
                        status: response.status().as_u16(),
                        version: if full { version.to_string() } else { String::new() },
                        headers: if full { header_list(response.headers(), redact) } else { Vec::new() },
                        header_bytes: head_size(version, response.status(), response.headers()),
                    },
                );
                let status = response.status().as_u16();
                let state = BodyState { trace, shared: self.shared.clone(), info, url, status, received: 0 };
                Ok(response.map(|inner| TracedBody { inner, state: Some(state) }))
            }
            Err(e) => {
                let error = classify_client_error(&trace, &e);
                deliver(&*self.shared.sink, &trace, None, url, Some(error));
                Err(e)
            }
        }
    }
}

/// `got-conn`, and on HTTP/1.1 the wire tap's events of this request's cycle (header values
/// named in `redact` read `[redacted]`).
fn conn_events(trace: &Trace, info: &ConnInfo, started: Instant, redact: &[&str]) {
    let reused = info.uses.fetch_add(1, Ordering::Relaxed) > 0;
    let cycle = if info.h2 { None } else { info.tap.take_cycle() };
    let conn = Some(info.id);
    let at = |t: Instant| trace.ns_at(t);
    // When the request had the connection: once it was ready (a new one), or by its first byte.
    let got_at = match (&cycle, reused) {
        (Some(Cycle { started: Some(first), .. }), true) => *first,
        (_, false) => info.ready_at.max(started),
        _ => Instant::now(),
    };
    let idle = if reused && !info.h2 { *info.idle_since.lock().unwrap() } else { None };
    let idle_ns = idle.map(|i| got_at.saturating_duration_since(i).as_nanos() as u64).unwrap_or(0);
    // A reused connection is had from the request's first write: the kernel's stamp of it when
    // that write ended the head and was stamped (see below), so got-conn never follows it.
    let first_write_kernel = match &cycle {
        Some(c) if reused && c.started.is_some() && c.started == c.head_done => {
            c.head_done_kernel.and_then(|u| trace.ns_at_unix(u)).filter(|k| *k <= at(got_at))
        }
        _ => None,
    };
    trace.emit_at(
        first_write_kernel.unwrap_or_else(|| at(got_at)),
        0,
        conn,
        EventKind::GotConn {
            reused,
            was_idle: idle.is_some(),
            idle_ns,
            local_addr: info.local.into(),
            remote_addr: info.remote.into(),
            protocol: if info.h2 { "h2" } else { "http/1.1" }.to_string(),
        },
    );
    let Some(c) = cycle else { return };
    // A kernel stamp where there is one and it falls between `lo` and the engine's own
    // instant `t` (a later one cannot be right; an earlier one belongs to an earlier request),
    // else the engine's.
    let stamp = |kernel: Option<u64>, lo: u64, t: Instant| {
        let own = at(t);
        match kernel.and_then(|unix_ns| trace.ns_at_unix(unix_ns)).filter(|k| (lo..=own).contains(k)) {
            Some(k) => (k, StampClock::Kernel),
            None => (own, StampClock::Engine),
        }
    };
    // (A write's transmit stamp is its own write's, and precedes the engine's instant of it.)
    let head = c.head_done.map(|t| (t, stamp(c.head_done_kernel, 0, t)));
    if trace.records(kind::WROTE_HEADER_FIELD) {
        for (t, name, value) in &c.fields {
            let value = if redact.iter().any(|r| name.eq_ignore_ascii_case(r)) { "[redacted]".to_string() } else { value.clone() };
            // The fields of the write that ended the head share its stamp, as in the engine.
            let field_at = match head {
                Some((head_t, (head_at, _))) if head_t == *t => head_at,
                _ => at(*t),
            };
            trace.emit_at(field_at, 0, conn, EventKind::WroteHeaderField { name: name.clone(), value });
        }
    }
    let mut written = c.started.map_or(0, at);
    if let Some((t, (head_at, clock))) = head {
        trace.emit_at(head_at, 0, conn, EventKind::WroteHeaders { clock });
        let (last_at, clock) = stamp(c.last_write_kernel, head_at, c.last_write.unwrap_or(t));
        trace.emit_at(last_at, 0, conn, EventKind::WroteRequest { body_bytes: c.body_bytes, error: None, clock });
        written = last_at;
    }
    if let Some(t) = c.first_read {
        let (first_at, clock) = stamp(c.first_read_kernel, written, t);
        if clock == StampClock::Kernel {
            trace.note_client_lag(at(t) - first_at);
        }
        trace.emit_at(first_at, 0, conn, EventKind::GotFirstResponseByte { clock });
    }
}

/// The typed error of a request that got no response: the connector's own, if the connection
/// failed, else hyper's, classified as the engine does.
fn classify_client_error(trace: &Trace, e: &legacy::Error) -> TraceError {
    let mut source: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<TraceError>() {
            return t.clone();
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            return classify(trace, trace.hop(), h);
        }
        source = s.source();
    }
    TraceError::new(trace.phase(), FailureKind::Failed, e.to_string())
}

struct BodyState {
    trace: Arc<Trace>,
    shared: Arc<Shared>,
    info: Option<ConnInfo>,
    url: String,
    status: u16,
    received: u64,
}

impl BodyState {
    /// `response-done`, then the whole trace to the sink.
    fn end(self, error: Option<TraceError>) {
        let conn = self.info.as_ref().map(|i| i.id);
        self.trace.emit(conn, EventKind::ResponseDone { body_bytes: self.received, error: error.clone(), decoded_bytes: None });
        if let Some(info) = &self.info {
            if error.is_none() && !info.h2 {
                *info.idle_since.lock().unwrap() = Some(Instant::now());
            }
        }
        deliver(&*self.shared.sink, &self.trace, Some(self.status), self.url, error);
    }
}

/// A response body that ends its request's trace when it ends, fails or is dropped.
pub struct TracedBody {
    inner: Incoming,
    state: Option<BodyState>,
}

impl Body for TracedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let r = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &r {
            Some(Ok(frame)) => {
                if let (Some(d), Some(s)) = (frame.data_ref(), self.state.as_mut()) {
                    s.received += d.len() as u64;
                }
            }
            Some(Err(e)) => {
                if let Some(s) = self.state.take() {
                    let error = classify_body(e, s.received);
                    s.end(Some(error));
                }
            }
            None => {
                if let Some(s) = self.state.take() {
                    s.end(None);
                }
            }
        }
        Poll::Ready(r)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TracedBody {
    fn drop(&mut self) {
        if let Some(s) = self.state.take() {
            if self.inner.is_end_stream() {
                s.end(None);
            } else {
                let error = TraceError::new(Phase::Receive, FailureKind::Cancelled, "the response body was dropped before its end");
                s.end(Some(error));
            }
        }
    }
}

impl std::fmt::Debug for TracedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedBody").field("inner", &self.inner).field("traced", &self.state.is_some()).finish()
    }
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").field("http", &self.shared.opts.http).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let protocol = if self.info.h2 { "h2" } else { "http/1.1" };
        f.debug_struct("Stream").field("conn", &self.info.id).field("remote", &self.info.remote).field("protocol", &protocol).finish()
    }
}

impl<B> std::fmt::Debug for TracedClient<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedClient").field("client", &self.client).finish_non_exhaustive()
    }
}
