//! Opening a new connection: resolve → TCP connect → TLS → HTTP handshake (h1 or h2), with the
//! wire tap installed between hyper and the (TLS) stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Instant;

use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};

use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite};

use super::body::ReqBody;
use super::kstamp::{KernelStream, SocketStamps};
use super::proxy::{http_connect, socks4_connect, socks_connect, Proxy, ProxyScheme, SocksTarget};
use super::wire::{Tap, TapShared};
use super::{HttpVersion, Shared, Target};
use crate::event::{kind, EventKind, FailureKind, PeerAddr, Phase, TraceError};
use crate::trace::{next_conn_id, Trace};

/// The sending half of a connection.
pub enum Sender {
    /// HTTP/1.1: one request at a time.
    H1(http1::SendRequest<ReqBody>),
    /// HTTP/2: cloneable, multiplexed.
    H2(http2::SendRequest<ReqBody>),
    /// HTTP/3: cloneable, multiplexed; the QUIC connection beneath.
    H3 {
        /// Opens request streams.
        send: super::h3::H3Send,
        /// The QUIC connection.
        quic: quinn::Connection,
        /// Its idle timeout (for messages).
        idle: std::time::Duration,
    },
}

/// A live connection and what is known about it.
pub struct Conn {
    /// Connection id.
    pub id: u64,
    /// Local address.
    pub local: PeerAddr,
    /// Remote address.
    pub remote: PeerAddr,
    /// The tap's shared state (to bind requests).
    pub tap: Arc<TapShared>,
    /// How to send on it.
    pub sender: Sender,
    /// When it went idle: HTTP/1.1, put back in the pool; HTTP/2, its last open stream ended.
    pub idle_since: Option<Instant>,
    /// HTTP/2: this request's place among the connection's open streams (held, never read:
    /// dropped when the request is done with the connection).
    #[allow(dead_code)]
    pub stream: Option<super::pool::StreamLease>,
    /// The thread that dialed it, whose runtime drives it: with one single-threaded runtime per
    /// thread (load mode), the pool hands a thread its own connections first, so a request and
    /// its connection's task wake each other without crossing threads.
    pub home: ThreadId,
    /// Requests on it go to an HTTP proxy in absolute-form.
    pub forward: Option<Forward>,
    /// It came from the pool (or is an HTTP/2 connection shared) rather than freshly dialed.
    pub reused: bool,
}

/// How requests are sent to an HTTP proxy that forwards them.
#[derive(Clone)]
pub struct Forward {
    /// The `Proxy-Authorization` each request carries.
    pub authorization: Option<HeaderValue>,
}

impl Conn {
    /// A connection just dialed on this thread.
    pub(crate) fn fresh(id: u64, local: PeerAddr, remote: PeerAddr, tap: Arc<TapShared>, sender: Sender, forward: Option<Forward>) -> Conn {
        Conn { id, local, remote, tap, sender, idle_since: None, stream: None, home: std::thread::current().id(), forward, reused: false }
    }

    /// `http/1.1`, `h2` or `h3`.
    pub fn protocol(&self) -> &'static str {
        match self.sender {
            Sender::H1(_) => "http/1.1",
            Sender::H2(_) => "h2",
            Sender::H3 { .. } => "h3",
        }
    }

    /// Whether the connection can still carry requests.
    pub fn is_usable(&self) -> bool {
        match &self.sender {
            Sender::H1(s) => !s.is_closed() && s.is_ready(),
            Sender::H2(s) => !s.is_closed() && s.is_ready(),
            Sender::H3 { quic, .. } => super::h3::is_usable(quic),
        }
    }
}

/// How long `--http3` gives the QUIC handshake before it falls back to TCP (curl races the
/// two after 200 ms; here they run one after the other, so the head start is longer).
pub const H3_HEAD_START: std::time::Duration = std::time::Duration::from_secs(1);

/// Opens a new connection to `target` for `trace`'s current hop (through its proxy, if any).
pub async fn dial(shared: &Shared, trace: &Arc<Trace>, target: &Target) -> Result<Conn, TraceError> {
    if target.quic {
        if shared.opts.http == HttpVersion::Http3Only {
            return super::h3::dial(shared, trace, target, None).await;
        }
        // QUIC first; when it fails or is not done within the head start, TCP (to the
        // origin's own port): both attempts are in the trace, the failed handshake with its
        // error.
        if let Ok(c) = super::h3::dial(shared, trace, target, Some(H3_HEAD_START)).await {
            return Ok(c);
        }
        let (dial_host, dial_port) = super::ConnectTo::apply(&shared.opts.connect_to, &target.host, target.port);
        let tcp = Target { quic: false, dial_host, dial_port, ..target.clone() };
        return Box::pin(dial(shared, trace, &tcp)).await;
    }
    if let Some(proxy) = &target.proxy {
        return dial_proxied(shared, trace, target, proxy).await;
    }
    if let Some(path) = &shared.opts.unix_socket {
        return dial_unix(shared, trace, target, path).await;
    }
    let id = next_conn_id();
    let resolved = shared.resolver.resolve(trace, id, &target.dial_host, target.dial_port, None).await?;
    let tcp = super::connect::connect(trace, id, &resolved.addrs, target.dial_port, None).await?;
    let local = tcp.local_addr().map_err(|e| io_error(Phase::Connect, e))?;
    let remote = tcp.peer_addr().map_err(|e| io_error(Phase::Connect, e))?;
    let tcp = KernelStream::new(tcp, shared.opts.kernel_timestamps);
    let stamps = tcp.stamps();

    let (tap, sender) = open(shared, trace, target, id, tcp, stamps).await?;
    Ok(Conn::fresh(id, local.into(), remote.into(), tap, sender, None))
}

/// A connection to the Unix domain socket at `path` (`--unix-socket`): its connect as
/// `connect-start`/`connect-done` with network `unix` and the path; then TLS for `https://`
/// and the HTTP handshake, as over TCP. No kernel stamps (they are TCP's).
async fn dial_unix(shared: &Shared, trace: &Arc<Trace>, target: &Target, path: &std::path::Path) -> Result<Conn, TraceError> {
    let id = next_conn_id();
    let addr = PeerAddr::unix(&path.to_string_lossy());
    trace.emit(Some(id), EventKind::ConnectStart { network: "unix".into(), addr: addr.clone(), proxy: None });
    let stream = tokio::net::UnixStream::connect(path).await.map_err(|e| {
        let kind = match e.kind() {
            std::io::ErrorKind::ConnectionRefused => FailureKind::Refused,
            std::io::ErrorKind::NotFound => FailureKind::NoAddress,
            _ => FailureKind::Io,
        };
        TraceError::new(Phase::Connect, kind, format!("Unix socket {}: {e}", path.display()))
    });
    let done = |error: Option<TraceError>| EventKind::ConnectDone {
        network: "unix".into(),
        addr: addr.clone(),
        cancelled: false,
        error,
        proxy: None,
    };
    let stream = match stream {
        Ok(s) => {
            trace.emit(Some(id), done(None));
            s
        }
        Err(e) => {
            trace.emit(Some(id), done(Some(e.clone())));
            return Err(e);
        }
    };
    let (tap, sender) = open(shared, trace, target, id, stream, None).await?;
    Ok(Conn::fresh(id, PeerAddr::unix(""), addr, tap, sender, None))
}

/// The origin's TLS (for `https://`) and the HTTP handshake over `io`: the connection's TCP
/// stream, or a proxy's tunnel.
async fn open<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    shared: &Shared,
    trace: &Arc<Trace>,
    target: &Target,
    id: u64,
    io: S,
    stamps: Option<Arc<SocketStamps>>,
) -> Result<(Arc<TapShared>, Sender), TraceError> {
    let version = shared.opts.http;
    if target.tls {
        let stream = shared.tls()?.handshake(trace, id, &target.host, alpn(version), io, true).await?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let tap = TapShared::with_stamps(id, h2, stamps);
        let sender = handshake(TokioIo::new(Tap::new(stream, tap.clone())), h2).await?;
        Ok((tap, sender))
    } else {
        let h2 = version == HttpVersion::Http2PriorKnowledge;
        let tap = TapShared::with_stamps(id, h2, stamps);
        let sender = handshake(TokioIo::new(Tap::new(io, tap.clone())), h2).await?;
        Ok((tap, sender))
    }
}

/// The ALPN protocols offered to an origin.
fn alpn(version: HttpVersion) -> &'static [&'static str] {
    match version {
        HttpVersion::Http11 => &["http/1.1"],
        HttpVersion::Http2PriorKnowledge => &["h2"],
        HttpVersion::Auto | HttpVersion::Http2 | HttpVersion::Http3 | HttpVersion::Http3Only => &["h2", "http/1.1"],
    }
}

/// Any stream a connection runs on, once a proxy has put layers under it.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connection through `proxy`: its name, TCP connect (and TLS, for an `https://` proxy) as
/// this connection's events; then, for a tunnel, `CONNECT` or the SOCKS5 handshake and the
/// origin's TLS inside it. Addresses in `got-conn` are the proxy's (curl's `remote_ip` too).
async fn dial_proxied(shared: &Shared, trace: &Arc<Trace>, target: &Target, proxy: &Proxy) -> Result<Conn, TraceError> {
    let id = next_conn_id();
    // The proxy as the events name it (credentials redacted): on its own lookup and connect, and
    // on the tunnel's events (the text only when one of those kinds is recorded; the hop's
    // record takes the events either way).
    let shown =
        if [kind::DNS_START, kind::DNS_DONE, kind::CONNECT_START, kind::CONNECT_DONE, kind::PROXY_CONNECT_START, kind::PROXY_CONNECT_DONE]
            .into_iter()
            .any(|k| trace.records(k))
        {
            proxy.redacted()
        } else {
            String::new()
        };
    let resolved = shared.resolver.resolve(trace, id, proxy.host(), proxy.port(), Some(&shown)).await.map_err(|e| {
        let message = format!("proxy {}: {}", proxy.redacted(), e.message);
        TraceError { kind: FailureKind::ProxyResolve, message, ..e }
    })?;
    let tcp = super::connect::connect(trace, id, &resolved.addrs, proxy.port(), Some(&shown)).await?;
    let local = tcp.local_addr().map_err(|e| io_error(Phase::Connect, e))?;
    let remote = tcp.peer_addr().map_err(|e| io_error(Phase::Connect, e))?;
    let tcp = KernelStream::new(tcp, shared.opts.kernel_timestamps);
    let stamps = tcp.stamps();
    // socks5:// and socks4://: the origin's name is resolved here (traced as usual) once the
    // proxy is connected, as curl does; a name that does not resolve is curl's SOCKS failure
    // (97). SOCKS4 carries IPv4 addresses only.
    let socks_addr = if proxy.scheme().resolves_here() {
        let socks = |e: TraceError| TraceError { kind: FailureKind::Socks, message: format!("SOCKS: {}", e.message), ..e };
        let origin = shared.resolver.resolve(trace, id, &target.dial_host, target.dial_port, None).await.map_err(socks)?;
        let v4_only = proxy.scheme() == ProxyScheme::Socks4;
        let ip = *origin.addrs.iter().find(|a| !v4_only || a.is_ipv4()).ok_or_else(|| {
            let what = if v4_only { "no IPv4 address (SOCKS4 has no IPv6)" } else { "no address" };
            TraceError::new(Phase::Dns, FailureKind::Socks, format!("SOCKS: {what} for {}", target.dial_host))
        })?;
        Some(SocketAddr::new(ip, target.dial_port))
    } else {
        None
    };
    let mut io: Box<dyn Io> = Box::new(tcp);
    if proxy.scheme() == ProxyScheme::Https {
        io = Box::new(shared.proxy_tls()?.handshake(trace, id, proxy.host(), &["http/1.1"], io, false).await?);
    }
    if !proxy.tunnels(target.tls) {
        // Forwarded: HTTP/1.1 requests in absolute-form, to the proxy.
        let tap = TapShared::with_stamps(id, false, stamps);
        let sender = handshake(TokioIo::new(Tap::new(io, tap.clone())), false).await?;
        let authorization = proxy.authorization().and_then(|v| {
            let mut v = HeaderValue::from_str(v).ok()?;
            v.set_sensitive(true);
            Some(v)
        });
        let forward = Some(Forward { authorization });
        return Ok(Conn::fresh(id, local.into(), remote.into(), tap, sender, forward));
    }
    let authority = if target.dial_host.contains(':') {
        format!("[{}]:{}", target.dial_host, target.dial_port)
    } else {
        format!("{}:{}", target.dial_host, target.dial_port)
    };
    let target_text = if trace.records(kind::PROXY_CONNECT_START) { authority.clone() } else { String::new() };
    trace.emit(Some(id), EventKind::ProxyConnectStart { proxy: shown.clone(), target: target_text });
    let (io, status): (Result<Box<dyn Io>, TraceError>, Option<u16>) = if proxy.scheme().is_socks() {
        let to = match socks_addr {
            Some(a) => SocksTarget::Addr(a),
            None => SocksTarget::Name(&target.dial_host, target.dial_port),
        };
        let tunnel = if matches!(proxy.scheme(), ProxyScheme::Socks4 | ProxyScheme::Socks4a) {
            socks4_connect(io, to, proxy).await.map(|s| Box::new(s) as Box<dyn Io>)
        } else {
            socks_connect(io, to, proxy).await.map(|s| Box::new(s) as Box<dyn Io>)
        };
        (tunnel, None)
    } else {
        match http_connect(&mut io, &authority, proxy).await {
            Ok(status) => (Ok(io), Some(status)),
            Err((status, e)) => (Err(e), status),
        }
    };
    trace.emit(Some(id), EventKind::ProxyConnectDone { proxy: shown, status, error: io.as_ref().err().cloned() });
    let io = io?;
    let (tap, sender) = open(shared, trace, target, id, io, stamps).await?;
    Ok(Conn::fresh(id, local.into(), remote.into(), tap, sender, None))
}

async fn handshake<I>(io: I, h2: bool) -> Result<Sender, TraceError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let fail = |e: hyper::Error| TraceError {
        phase: Phase::Connect,
        kind: FailureKind::Handshake,
        during: None,
        message: format!("HTTP handshake failed: {e}"),
    };
    if h2 {
        let (sender, conn) = http2::Builder::new(TokioExecutor::new()).handshake(io).await.map_err(fail)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Sender::H2(sender))
    } else {
        let (sender, conn) = http1::Builder::new().handshake(io).await.map_err(fail)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Sender::H1(sender))
    }
}

fn io_error(phase: Phase, e: std::io::Error) -> TraceError {
    TraceError::new(phase, FailureKind::Io, e.to_string())
}
