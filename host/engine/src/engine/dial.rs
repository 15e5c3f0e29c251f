//! Opening a new connection: resolve → TCP connect → TLS → HTTP handshake (h1 or h2), with the
//! wire tap installed between hyper and the (TLS) stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Instant;

use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::body::ReqBody;
use super::kstamp::KernelStream;
use super::wire::{Tap, TapShared};
use super::{HttpVersion, Shared, Target};
use crate::event::{FailureKind, Phase, TraceError};
use crate::trace::{next_conn_id, Trace};

/// The sending half of a connection.
pub enum Sender {
    /// HTTP/1.1: one request at a time.
    H1(http1::SendRequest<ReqBody>),
    /// HTTP/2: cloneable, multiplexed.
    H2(http2::SendRequest<ReqBody>),
}

/// A live connection and what is known about it.
pub struct Conn {
    /// Connection id.
    pub id: u64,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address.
    pub remote: SocketAddr,
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
}

impl Conn {
    /// `http/1.1` or `h2`.
    pub fn protocol(&self) -> &'static str {
        match self.sender {
            Sender::H1(_) => "http/1.1",
            Sender::H2(_) => "h2",
        }
    }

    /// Whether the connection can still carry requests.
    pub fn is_usable(&self) -> bool {
        match &self.sender {
            Sender::H1(s) => !s.is_closed() && s.is_ready(),
            Sender::H2(s) => !s.is_closed() && s.is_ready(),
        }
    }
}

/// Opens a new connection to `target` for `trace`'s current hop.
pub async fn dial(shared: &Shared, trace: &Arc<Trace>, target: &Target) -> Result<Conn, TraceError> {
    let id = next_conn_id();
    let resolved = shared.resolver.resolve(trace, id, &target.dial_host, target.dial_port).await?;
    let tcp = super::connect::connect(trace, id, &resolved.addrs, target.dial_port).await?;
    let local = tcp.local_addr().map_err(|e| io_error(Phase::Connect, e))?;
    let remote = tcp.peer_addr().map_err(|e| io_error(Phase::Connect, e))?;
    let tcp = KernelStream::new(tcp, shared.opts.kernel_timestamps);
    let stamps = tcp.stamps();

    let version = shared.opts.http;
    if target.tls {
        let tls = shared.tls()?;
        let alpn: &[&str] = match version {
            HttpVersion::Http11 => &["http/1.1"],
            HttpVersion::Http2PriorKnowledge => &["h2"],
            HttpVersion::Auto | HttpVersion::Http2 => &["h2", "http/1.1"],
        };
        let stream = tls.handshake(trace, id, &target.host, alpn, tcp).await?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let tap = TapShared::with_stamps(id, h2, stamps);
        let io = TokioIo::new(Tap::new(stream, tap.clone()));
        let sender = handshake(io, h2).await?;
        Ok(Conn { id, local, remote, tap, sender, idle_since: None, stream: None, home: std::thread::current().id() })
    } else {
        let h2 = version == HttpVersion::Http2PriorKnowledge;
        let tap = TapShared::with_stamps(id, h2, stamps);
        let io = TokioIo::new(Tap::new(tcp, tap.clone()));
        let sender = handshake(io, h2).await?;
        Ok(Conn { id, local, remote, tap, sender, idle_since: None, stream: None, home: std::thread::current().id() })
    }
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
