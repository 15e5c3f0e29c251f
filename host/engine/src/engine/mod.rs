//! The traced HTTP engine: one module per step of a request.
//!
//! - `resolve`: DNS (hickory), `--resolve`, coalescing
//! - `connect`: TCP with Happy Eyeballs
//! - `tls`: rustls handshake and certificate facts
//! - `wire`: the IO tap that stamps bytes on the wire
//! - `dial`: a new connection, all of the above plus the HTTP handshake
//! - `pool`: reuse, get-conn / got-conn / put-idle-conn
//! - `exchange`: one hop: send the request, read the response
//! - `client`: the request loop: hops, redirects, time limits, the summary
//! - `body`: request bodies
//! - `cookies`: the cookie engine (`-b FILE`, `-c FILE`)

pub(crate) mod body;
pub(crate) mod client;
pub(crate) mod connect;
pub(crate) mod cookies;
pub(crate) mod dial;
pub(crate) mod exchange;
pub(crate) mod kstamp;
pub(crate) mod pool;
pub(crate) mod resolve;
pub(crate) mod tls;
pub(crate) mod wire;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::event::{FailureKind, KindSet, Phase, TraceError};
use crate::trace::Sink;

pub use client::{parse_url, redacted_url, Client, Outcome, RequestSpec};
pub use cookies::CookieJar;
pub use resolve::{DnsOptions, IpFamily, ResolveOverride};

/// Which HTTP versions to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/1.1 for `http://`; ALPN h2 then http/1.1 for `https://`.
    #[default]
    Auto,
    /// HTTP/1.1 only (`--http1.1`).
    Http11,
    /// Prefer HTTP/2 over TLS (`--http2`); plain `http://` stays HTTP/1.1.
    Http2,
    /// HTTP/2 without negotiation (`--http2-prior-knowledge`): h2c for `http://`, ALPN h2 only.
    Http2PriorKnowledge,
}

impl HttpVersion {
    /// Whether, offering these versions, requests may share one HTTP/2 connection: with prior
    /// knowledge always, otherwise only over TLS (where ALPN may pick h2).
    pub fn may_be_h2(self, tls: bool) -> bool {
        match self {
            HttpVersion::Http2PriorKnowledge => true,
            HttpVersion::Http11 => false,
            HttpVersion::Auto | HttpVersion::Http2 => tls,
        }
    }
}

/// Everything that shapes how requests are made.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Name resolution.
    pub dns: DnsOptions,
    /// CA bundle replacing the default roots (`--cacert`).
    pub cacert: Option<PathBuf>,
    /// Skip certificate verification (`-k`).
    pub insecure: bool,
    /// HTTP versions to offer.
    pub http: HttpVersion,
    /// Limit on obtaining a new connection: DNS, TCP and TLS (`--connect-timeout`).
    pub connect_timeout: Option<Duration>,
    /// Limit on the whole request, all hops (`-m/--max-time`).
    pub max_time: Option<Duration>,
    /// Follow redirects (`-L`).
    pub follow_redirects: bool,
    /// Most redirects to follow (`--max-redirs`, default 50 as in curl).
    pub max_redirects: u32,
    /// Show Authorization, Cookie, … values in events instead of `[redacted]`.
    pub show_secrets: bool,
    /// Record events (default). Off, requests run the same code but record nothing and the
    /// sink gets nothing: the untraced baseline for benchmarks; failures then lack phase detail.
    pub tracing: bool,
    /// The kinds handed to the sink (default: all), `request-done` always. Events of kinds
    /// outside the set are built without their costly parts (header lists, certificates,
    /// texts) and only folded into their hop's [`HopRecord`](crate::summary::HopRecord), which
    /// the `request-done` summaries are made from; they are never kept. Set it to the kinds the
    /// consumers want (the CLI passes its plugins' interests) to spare the engine work no one
    /// reads.
    pub record: KindSet,
    /// Which of the kernel's stamps (Linux `SO_TIMESTAMPING`) replace the engine's own: a
    /// response's first byte stamped when it arrived rather than when the engine read it (the
    /// difference is the client's lag), and a request's writes when their bytes left. Where
    /// the kernel has none, the engine's own stamps.
    pub kernel_timestamps: KernelStamps,
    /// Reuse connections (default). Off, every request dials its own connection and closes
    /// it after its response, HTTP/2 ones too, and an HTTP/1.1 request says `connection:
    /// close` (Go's `DisableKeepAlives`, oha's `--disable-keepalive`): a load test of the
    /// handshakes. `put-idle-conn` then carries the error `keep-alives disabled`.
    pub keep_alive: bool,
    /// The cookie engine: cookies the responses set are kept in this jar and sent with the
    /// requests (and redirects) they match, as curl does with `-b FILE` or `-c FILE` (`--cookie-jar` here). `None`
    /// (the default): nothing is kept; a `Cookie` header is only what the request carries.
    pub cookies: Option<Arc<CookieJar>>,
}

/// Which kernel stamps a client uses (see [`ClientOptions::kernel_timestamps`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KernelStamps {
    /// None: every stamp is the engine's (user space).
    Off,
    /// Receive stamps (the default): nearly free (one `recvmsg` instead of a `read`).
    #[default]
    Receive,
    /// Receive and transmit stamps: each write is followed by a read of the socket's error
    /// queue (about 20 % more client CPU in a keep-alive load run, 2026-12-01).
    All,
}

impl KernelStamps {
    /// Whether receive stamps are asked for.
    pub fn is_receive(self) -> bool {
        self != KernelStamps::Off
    }

    /// Whether transmit stamps are asked for.
    pub fn is_all(self) -> bool {
        self == KernelStamps::All
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            dns: DnsOptions::default(),
            cacert: None,
            insecure: false,
            http: HttpVersion::Auto,
            connect_timeout: None,
            max_time: None,
            follow_redirects: false,
            max_redirects: 50,
            show_secrets: false,
            tracing: true,
            record: KindSet::ALL,
            kernel_timestamps: KernelStamps::Receive,
            keep_alive: true,
            cookies: None,
        }
    }
}

/// Header names whose values are redacted in events by default.
pub const SECRET_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie", "set-cookie"];

/// Where a connection goes: the pool key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    /// `https` (TLS) or not.
    pub tls: bool,
    /// Host as in the URL (brackets stripped for IPv6).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Target {
    /// `host:port` as Go's GetConn reports it.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Whether requests here may share one HTTP/2 connection.
    pub fn may_be_h2(&self, v: HttpVersion) -> bool {
        v.may_be_h2(self.tls)
    }
}

/// State shared by all requests of a client.
pub(crate) struct Shared {
    /// Options.
    pub opts: ClientOptions,
    /// The resolver.
    pub resolver: resolve::Resolver,
    tls: OnceLock<Result<Arc<tls::TlsSettings>, String>>,
    /// The connection pool.
    pub pool: pool::Pool,
    /// Where finished requests' events go.
    pub sink: Arc<dyn Sink>,
}

impl Shared {
    pub(crate) fn new(opts: ClientOptions, sink: Arc<dyn Sink>) -> Result<Shared, crate::Error> {
        let resolver = resolve::Resolver::new(opts.dns.clone())?;
        Ok(Shared { opts, resolver, tls: OnceLock::new(), pool: pool::Pool::default(), sink })
    }

    /// Loads TLS settings (roots) once; call before timing starts.
    pub fn prepare_tls(&self) -> Result<Arc<tls::TlsSettings>, String> {
        self.tls.get_or_init(|| tls::TlsSettings::new(self.opts.cacert.as_deref(), self.opts.insecure).map(Arc::new)).clone()
    }

    pub(crate) fn tls(&self) -> Result<Arc<tls::TlsSettings>, TraceError> {
        self.prepare_tls().map_err(|message| TraceError::new(Phase::Setup, FailureKind::TlsConfig, message))
    }
}
