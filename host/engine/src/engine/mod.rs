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
//! - `proxy`: which proxy a request takes, `CONNECT` and SOCKS5 tunnels

pub(crate) mod body;
pub(crate) mod client;
pub(crate) mod connect;
pub(crate) mod cookies;
pub(crate) mod decode;
pub(crate) mod dial;
pub(crate) mod exchange;
pub(crate) mod h3;
pub(crate) mod kstamp;
pub(crate) mod pool;
pub(crate) mod proxy;
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
pub use proxy::{NoProxy, Proxy, ProxyConfig, ProxyScheme};
pub use resolve::{DnsOptions, IpFamily, ResolveOverride};
pub use tls::root_store;

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
    /// HTTP/3 over QUIC for `https://`, falling back to TCP (h2, http/1.1) when the QUIC
    /// handshake fails or takes longer than a second (`--http3`); `http://` and proxied
    /// requests use TCP.
    Http3,
    /// HTTP/3 only for `https://` (`--http3-only`): no fallback.
    Http3Only,
}

impl HttpVersion {
    /// Whether, offering these versions, requests may share one HTTP/2 (or HTTP/3) connection:
    /// with prior knowledge always, otherwise only over TLS (where ALPN may pick h2, or QUIC
    /// is tried).
    pub fn may_be_h2(self, tls: bool) -> bool {
        match self {
            HttpVersion::Http2PriorKnowledge => true,
            HttpVersion::Http11 => false,
            HttpVersion::Auto | HttpVersion::Http2 | HttpVersion::Http3 | HttpVersion::Http3Only => tls,
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
    /// Ask for compressed responses and decode them (curl's `--compressed`): requests say
    /// `accept-encoding: deflate, gzip, br, zstd` unless they carry one, and `response-done`
    /// gives the decoded length beside the wire bytes.
    pub compressed: bool,
    /// How long a QUIC connection may hear nothing from its server before it is given up
    /// (`--quic-idle-timeout`; default 30 s): a handshake without an answer, or a response
    /// body that stalls, ends with a typed timeout then.
    pub quic_idle_timeout: Duration,
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
    /// handshakes. Should a server keep such a connection open all the same, its
    /// `put-idle-conn` carries the error `keep-alives disabled` (most answer `connection:
    /// close`, and then there is none, as in Go).
    pub keep_alive: bool,
    /// The cookie engine: cookies the responses set are kept in this jar and sent with the
    /// requests (and redirects) they match, as curl does with `-b FILE` or `-c FILE` (`--cookie-jar` here). `None`
    /// (the default): nothing is kept; a `Cookie` header is only what the request carries.
    pub cookies: Option<Arc<CookieJar>>,
    /// `--connect-to` rules, first match wins: where requests to a host and port connect.
    pub connect_to: Vec<ConnectTo>,
    /// The proxies requests take (`-x`, the environment; curl's rules): none by default.
    pub proxy: ProxyConfig,
    /// CA certificates for an `https://` proxy (`--proxy-cacert`). With neither this nor
    /// `proxy_insecure`, a proxy is verified as the origin is (`cacert`, `insecure`).
    pub proxy_cacert: Option<PathBuf>,
    /// Skip verifying an `https://` proxy's certificate (`--proxy-insecure`).
    pub proxy_insecure: bool,
    /// The certificate offered when a server asks for one (`--cert`, `--key`).
    pub client_cert: Option<ClientCert>,
    /// User and password answering an HTTP Digest challenge (curl's `--digest -u`): a `401`
    /// with `WWW-Authenticate: Digest` is followed by the request again, on a new hop, with
    /// its answer. `None` (the default): a 401 is the answer.
    pub digest: Option<(String, String)>,
    /// Make a request again when it fails in a transient way (curl's `--retry`): each attempt
    /// is a new hop of the request. `None` (the default): never.
    pub retry: Option<Retry>,
    /// W3C trace context to send (`--propagate`): `None` (the default) sends none. (The
    /// [`adapter`](crate::adapter) sends the caller's own requests as they are: it adds none.)
    pub trace_context: Option<TraceContext>,
    /// More kinds recorded for a share of the requests (a sampling exporter's): `None` (the
    /// default) records [`record`](ClientOptions::record) for every request. With a
    /// [`trace_context`](ClientOptions::trace_context), the share kept is what the `sampled`
    /// flag says.
    pub record_sampled: Option<crate::trace::SampledRecording>,
    /// Connect to this Unix domain socket instead of over the network (curl's
    /// `--unix-socket`): no name is resolved and no proxy is taken; the URL still gives the
    /// `Host` header, the path and, for `https://`, the TLS server name. `None` (the default):
    /// TCP.
    pub unix_socket: Option<PathBuf>,
}

/// curl's `--retry N` and its companions: which failures are made again, how often, and
/// after how long. Transient, as curl: a timeout (`--connect-timeout`; `--max-time` bounds the
/// whole request, retries included), or a response of 408, 429, 500, 502, 503 or 504.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Most attempts after the first.
    pub max: u32,
    /// Wait between attempts (`--retry-delay`); `None`: 1 s, doubled after each attempt, at
    /// most 10 minutes (curl's).
    pub delay: Option<Duration>,
    /// No attempt starts that would begin later than this after the request did
    /// (`--retry-max-time`).
    pub max_time: Option<Duration>,
    /// A refused connection is transient too (`--retry-connrefused`).
    pub connrefused: bool,
    /// Every failure, and every status of 400 or more, is (`--retry-all-errors`).
    pub all_errors: bool,
}

impl Retry {
    /// Whether a hop that ended with `status` or `error` is made again.
    pub fn is_transient(&self, status: Option<u16>, error: Option<&TraceError>) -> bool {
        match error {
            Some(e) => self.all_errors || e.is_timeout() || (self.connrefused && e.kind == FailureKind::Refused),
            None => matches!(status, Some(408 | 429 | 500 | 502 | 503 | 504)) || (self.all_errors && status.is_some_and(|s| s >= 400)),
        }
    }

    /// The wait before attempt `n` (1 for the first retry).
    pub fn delay(&self, n: u32) -> Duration {
        self.delay.unwrap_or_else(|| Duration::from_secs(1u64 << n.saturating_sub(1).min(10)).min(Duration::from_secs(600)))
    }
}

/// W3C Trace Context sent with every hop: a `traceparent` header whose parent id is new for
/// each hop (the hop is the span the server's joins), in the request's own new trace or in
/// `trace_id`'s; `tracestate` passed on as given. An exporter reads the ids back from the
/// hop's `wrote-header-field` events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace every request joins (a caller's); `None`: a new trace per request.
    pub trace_id: Option<[u8; 16]>,
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
    /// The `tracestate` to pass on.
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// A new trace per request, sampled.
    pub fn new() -> TraceContext {
        TraceContext { trace_id: None, flags: 1, tracestate: None }
    }

    /// The `traceparent` (with a new span id) and `tracestate` values for a hop of `trace_id`.
    fn header(&self, trace_id: [u8; 16], sampled: bool) -> (String, Option<String>) {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let span: [u8; 8] = loop {
            let id: [u8; 8] = rand::random();
            if id != [0; 8] {
                break id;
            }
        };
        let flags = (self.flags & !1) | sampled as u8;
        (format!("00-{}-{}-{flags:02x}", hex(&trace_id), hex(&span)), self.tracestate.clone())
    }
}

/// A new random trace id (never all zeros).
fn new_trace_id() -> [u8; 16] {
    loop {
        let id: [u8; 16] = rand::random();
        if id != [0; 16] {
            return id;
        }
    }
}

/// A client certificate and its private key (curl's `--cert FILE`, `--key FILE`,
/// `--cert-type PEM|DER`, `--key-type PEM|DER`), offered to servers that ask for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The certificate chain, end entity first (PEM; one certificate with `cert_der`).
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1; PKCS#8 may be encrypted, with `password`);
    /// `None`: in the `cert` file.
    pub key: Option<PathBuf>,
    /// The certificate file is DER rather than PEM.
    pub cert_der: bool,
    /// The key file is DER rather than PEM.
    pub key_der: bool,
    /// The passphrase of an encrypted key (curl's `--cert FILE:PASSWORD`, `--pass`).
    pub password: Option<String>,
}

impl ClientCert {
    /// Reads and checks the files now (they are read again when the first TLS connection is
    /// made): a missing or unreadable file, no certificate, no key, an encrypted key without
    /// its password (or with a wrong one), or a key that is not the certificate's is a
    /// configuration error naming the file.
    pub fn check(&self) -> Result<(), crate::Error> {
        tls::load_client_cert(self, &rustls::crypto::ring::default_provider()).map(|_| ()).map_err(crate::Error::config)
    }
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
            quic_idle_timeout: Duration::from_secs(30),
            compressed: false,
            tracing: true,
            record: KindSet::ALL,
            kernel_timestamps: KernelStamps::Receive,
            keep_alive: true,
            cookies: None,
            connect_to: Vec::new(),
            proxy: ProxyConfig::default(),
            client_cert: None,
            proxy_cacert: None,
            proxy_insecure: false,
            retry: None,
            digest: None,
            trace_context: None,
            record_sampled: None,
            unix_socket: None,
        }
    }
}

/// Header names whose values are redacted in events by default.
pub const SECRET_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie", "set-cookie"];

/// curl's `--connect-to HOST1:PORT1:HOST2:PORT2`: requests to `HOST1:PORT1` connect to
/// `HOST2:PORT2` instead, while the `Host` header and the TLS server name stay `HOST1`. An
/// empty `HOST1` or `PORT1` matches any; an empty `HOST2` or `PORT2` keeps the request's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    /// The host it applies to (lower case), or any.
    pub from_host: Option<String>,
    /// The port it applies to, or any.
    pub from_port: Option<u16>,
    /// The host to connect to instead (a name, resolved and traced as usual, or an address).
    pub to_host: Option<String>,
    /// The port to connect to instead.
    pub to_port: Option<u16>,
}

impl std::str::FromStr for ConnectTo {
    type Err = crate::Error;

    /// Parses `HOST1:PORT1:HOST2:PORT2` (IPv6 addresses in brackets); a malformed one is a
    /// configuration error ([`Error::is_config`](crate::Error::is_config)).
    fn from_str(s: &str) -> Result<Self, crate::Error> {
        let bad = |why: &str| crate::Error::config(format!("--connect-to '{s}': {why}"));
        // Split on the colons outside brackets.
        let mut fields = Vec::new();
        let (mut depth, mut start) = (0, 0);
        for (i, c) in s.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                ':' if depth == 0 => {
                    fields.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        fields.push(&s[start..]);
        let [h1, p1, h2, p2] = fields[..] else { return Err(bad("expected HOST1:PORT1:HOST2:PORT2")) };
        let host = |h: &str| (!h.is_empty()).then(|| h.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase());
        let port = |p: &str| -> Result<Option<u16>, crate::Error> {
            if p.is_empty() {
                Ok(None)
            } else {
                p.parse::<u16>().map(Some).map_err(|_| bad(&format!("bad port '{p}'")))
            }
        };
        Ok(ConnectTo { from_host: host(h1), from_port: port(p1)?, to_host: host(h2), to_port: port(p2)? })
    }
}

impl ConnectTo {
    /// Where a request to `host:port` connects: the first rule that matches, else itself.
    pub(crate) fn apply(rules: &[ConnectTo], host: &str, port: u16) -> (String, u16) {
        if rules.is_empty() {
            return (host.to_string(), port);
        }
        let host_lc = host.to_ascii_lowercase();
        for r in rules {
            if r.from_host.as_ref().is_none_or(|h| *h == host_lc) && r.from_port.is_none_or(|p| p == port) {
                return (r.to_host.clone().unwrap_or_else(|| host.to_string()), r.to_port.unwrap_or(port));
            }
        }
        (host.to_string(), port)
    }
}

/// Where a connection goes: the pool key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    /// `https` (TLS) or not.
    pub tls: bool,
    /// Host as in the URL (brackets stripped for IPv6): the TLS server name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Where to connect: `host`, or another host under `--connect-to`.
    pub dial_host: String,
    /// The port to connect to.
    pub dial_port: u16,
    /// The proxy the connection goes through.
    pub proxy: Option<Arc<Proxy>>,
    /// Dialed over QUIC (HTTP/3): `--http3` or `--http3-only` for an `https://` URL without a
    /// proxy, or where an `Alt-Svc` said HTTP/3 is (then `dial_port` is its port).
    pub quic: bool,
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

    /// Whether requests here may share one HTTP/2 (or HTTP/3) connection.
    pub fn may_be_h2(&self, v: HttpVersion) -> bool {
        // Requests forwarded by an HTTP proxy speak HTTP/1.1 to it.
        self.quic || (!self.forwarded() && v.may_be_h2(self.tls))
    }

    /// Whether requests go to an HTTP proxy as absolute-form requests (not through a tunnel).
    pub fn forwarded(&self) -> bool {
        self.proxy.as_ref().is_some_and(|p| !p.tunnels(self.tls))
    }
}

/// State shared by all requests of a client.
pub(crate) struct Shared {
    /// Options.
    pub opts: ClientOptions,
    /// The resolver.
    pub resolver: resolve::Resolver,
    tls: OnceLock<Result<Arc<tls::TlsSettings>, String>>,
    /// An `https://` proxy's, when it has settings of its own.
    proxy_tls: OnceLock<Result<Arc<tls::TlsSettings>, String>>,
    /// The connection pool.
    pub pool: pool::Pool,
    /// Where `Alt-Svc` said an origin (`host`, `port`) serves HTTP/3: its UDP port.
    pub alt_svc: std::sync::Mutex<std::collections::HashMap<(String, u16), u16>>,
    /// Where finished requests' events go.
    pub sink: Arc<dyn Sink>,
}

impl Shared {
    pub(crate) fn new(opts: ClientOptions, sink: Arc<dyn Sink>) -> Result<Shared, crate::Error> {
        let resolver = resolve::Resolver::new(opts.dns.clone())?;
        Ok(Shared {
            opts,
            resolver,
            tls: OnceLock::new(),
            proxy_tls: OnceLock::new(),
            pool: pool::Pool::default(),
            alt_svc: Default::default(),
            sink,
        })
    }

    /// Loads TLS settings (roots) once; call before timing starts.
    pub fn prepare_tls(&self) -> Result<Arc<tls::TlsSettings>, String> {
        self.tls
            .get_or_init(|| {
                tls::TlsSettings::new(self.opts.cacert.as_deref(), self.opts.insecure, self.opts.client_cert.as_ref()).map(Arc::new)
            })
            .clone()
    }

    pub(crate) fn tls(&self) -> Result<Arc<tls::TlsSettings>, TraceError> {
        self.prepare_tls().map_err(|message| TraceError::new(Phase::Setup, FailureKind::TlsConfig, message))
    }

    /// Loads an `https://` proxy's TLS settings once: its own (`--proxy-cacert`,
    /// `--proxy-insecure`) or the origin's.
    pub fn prepare_proxy_tls(&self) -> Result<Arc<tls::TlsSettings>, String> {
        if self.opts.proxy_cacert.is_none() && !self.opts.proxy_insecure {
            return self.prepare_tls();
        }
        self.proxy_tls
            .get_or_init(|| {
                let cacert = self.opts.proxy_cacert.as_deref();
                tls::TlsSettings::new(cacert, self.opts.proxy_insecure, None)
                    .map_err(|e| e.replacen("--cacert", "--proxy-cacert", 1))
                    .map(Arc::new)
            })
            .clone()
    }

    pub(crate) fn proxy_tls(&self) -> Result<Arc<tls::TlsSettings>, TraceError> {
        self.prepare_proxy_tls().map_err(|message| TraceError::new(Phase::Setup, FailureKind::TlsConfig, message))
    }
}

#[cfg(test)]
mod tests {
    use super::ConnectTo;

    #[test]
    fn connect_to_parses_curls_form_and_first_match_wins() {
        let r: ConnectTo = "Example.com:443:[::1]:8443".parse().unwrap();
        assert_eq!(r.from_host.as_deref(), Some("example.com"));
        assert_eq!((r.from_port, r.to_host.as_deref(), r.to_port), (Some(443), Some("::1"), Some(8443)));
        let any: ConnectTo = "::127.0.0.1:".parse().unwrap();
        assert_eq!((any.from_host, any.from_port, any.to_port), (None, None, None));
        assert!("a:1:b".parse::<ConnectTo>().unwrap_err().is_config());
        assert!("a:x:b:1".parse::<ConnectTo>().unwrap_err().to_string().contains("bad port 'x'"));
        let rules = ["example.com:443:one:1".parse().unwrap(), ":443:two:".parse().unwrap()];
        assert_eq!(ConnectTo::apply(&rules, "EXAMPLE.com", 443), ("one".to_string(), 1));
        assert_eq!(ConnectTo::apply(&rules, "other", 443), ("two".to_string(), 443));
        assert_eq!(ConnectTo::apply(&rules, "other", 80), ("other".to_string(), 80));
    }
}
