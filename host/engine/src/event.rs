//! Trace events: what the engine records about every phase of a request.
//!
//! An [`Event`] is a small header (request id, hop, connection id, time since the request
//! started) plus an [`EventKind`] with the kind's own fields. Kind names (kebab-case) and field
//! names (snake_case) are part of the public contract: the `ndjson` output prints exactly them,
//! and the WIT world mirrors them.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

/// Which clock stamped an event's instant (`stamp-clock` in the plugin contract, 0.5.0 on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StampClock {
    /// The engine's monotonic clock, when it noticed (a write returned, a read got bytes).
    #[default]
    Engine,
    /// The kernel's software stamp of the bytes on this machine's network stack (Linux
    /// `SO_TIMESTAMPING`), converted once per request to the trace's clock.
    Kernel,
}

/// Where a connection goes or comes from: an IP address and port, or a Unix socket's path
/// (`--unix-socket`). Written as `ip:port` (`[v6]:port`) or as the path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    /// A TCP or UDP socket address.
    Ip(SocketAddr),
    /// A Unix domain socket's path (empty for an unnamed one).
    Unix(std::sync::Arc<str>),
}

impl PeerAddr {
    /// The IP socket address, unless this is a Unix socket.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            PeerAddr::Ip(a) => Some(*a),
            PeerAddr::Unix(_) => None,
        }
    }

    /// A Unix socket's path.
    pub fn unix(path: &str) -> PeerAddr {
        PeerAddr::Unix(path.into())
    }
}

impl From<SocketAddr> for PeerAddr {
    fn from(a: SocketAddr) -> PeerAddr {
        PeerAddr::Ip(a)
    }
}

impl PartialEq<SocketAddr> for PeerAddr {
    fn eq(&self, other: &SocketAddr) -> bool {
        self.socket_addr().as_ref() == Some(other)
    }
}

impl std::str::FromStr for PeerAddr {
    type Err = std::convert::Infallible;

    /// `ip:port` is an IP address; anything else a Unix socket's path.
    fn from_str(text: &str) -> Result<PeerAddr, Self::Err> {
        Ok(text.parse::<SocketAddr>().map(PeerAddr::Ip).unwrap_or_else(|_| PeerAddr::Unix(text.into())))
    }
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerAddr::Ip(a) => a.fmt(f),
            PeerAddr::Unix(p) => f.write_str(p),
        }
    }
}

impl Serialize for PeerAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PeerAddr {
    /// `ip:port` is an IP address; anything else a Unix socket's path.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PeerAddr, D::Error> {
        let text = String::deserialize(d)?;
        Ok(text.parse().unwrap_or_else(|never| match never {}))
    }
}

/// One trace event.
///
/// Serialises as one flat JSON object: `event`, `request`, `hop`, `conn`, `at_ns`, then the
/// kind's own fields.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    /// Request id, unique within a run, starting at 1.
    pub request: u64,
    /// Hop number within the request: 0 for the first request, +1 for each redirect followed.
    pub hop: u32,
    /// Connection id where one is known.
    pub conn: Option<u64>,
    /// Nanoseconds since the request started, read from a monotonic clock where it happened.
    pub at_ns: u64,
    /// What happened, with the kind's own fields.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// A header name and value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Header name as sent (lower case for HTTP/2).
    pub name: String,
    /// Header value (lossy UTF-8; secrets redacted unless asked otherwise).
    pub value: String,
}

/// Summary of one peer certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertSummary {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Subject alternative names (DNS names and IP addresses).
    pub sans: Vec<String>,
    /// Serial number, hex.
    pub serial: String,
}

/// Which phase of a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Bad input before any network work (URL, scheme, body file).
    Setup,
    /// Name resolution.
    Dns,
    /// TCP connect.
    Connect,
    /// TLS handshake.
    Tls,
    /// Writing the request.
    Send,
    /// Waiting for the response headers.
    Wait,
    /// Reading the response body.
    Receive,
    /// A time limit (`--connect-timeout`, `--max-time`) ran out.
    Timeout,
    /// More redirects than `--max-redirs`.
    TooManyRedirects,
}

impl Phase {
    /// Every phase, in declaration order (`Phase::ALL[p as usize] == p`).
    pub const ALL: [Phase; 9] = [
        Phase::Setup,
        Phase::Dns,
        Phase::Connect,
        Phase::Tls,
        Phase::Send,
        Phase::Wait,
        Phase::Receive,
        Phase::Timeout,
        Phase::TooManyRedirects,
    ];

    /// The kebab-case name used in events.
    pub fn as_str(self) -> &'static str {
        httptrace_wit::PHASE_NAMES[self as usize]
    }
}

// The declaration order is the WIT `phase` order of the contract's table.
macro_rules! phases_in_wit_order {
    ($($i:literal $v:ident $n:literal,)*) => {
        const _: () = { $(assert!(Phase::$v as usize == $i && Phase::ALL[$i] as usize == $i);)* };
    };
}
httptrace_wit::for_each_phase!(phases_in_wit_order);

/// HAR 1.2 timings, float milliseconds; -1 where not applicable.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Queued before a connection could be sought (includes nothing else).
    pub blocked: f64,
    /// DNS resolution; -1 when there was none (reused connection, IP literal, `--resolve`).
    pub dns: f64,
    /// TCP connect plus TLS; -1 for a reused connection.
    pub connect: f64,
    /// TLS handshake (also counted in `connect`); -1 without TLS.
    pub ssl: f64,
    /// Writing the request.
    pub send: f64,
    /// Waiting for the first response byte.
    pub wait: f64,
    /// Reading the response.
    pub receive: f64,
    /// HAR `entry.time`: sum of the non -1 fields, `ssl` not counted twice.
    pub total: f64,
}

/// curl's cumulative timing marks, float seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Marks {
    /// Name resolution complete.
    pub namelookup: f64,
    /// TCP connect complete.
    pub connect: f64,
    /// TLS handshake complete (0 for plain HTTP).
    pub appconnect: f64,
    /// About to send the request.
    pub pretransfer: f64,
    /// Last request byte sent.
    pub posttransfer: f64,
    /// First response byte received.
    pub starttransfer: f64,
    /// Everything, body included.
    pub total: f64,
    /// Time spent in redirect hops before this one (whole-request marks only; 0 per hop).
    pub redirect: f64,
}

/// A typed failure, as carried by events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceError {
    /// The phase that failed.
    pub phase: Phase,
    /// Why, within the phase; written as a stable kebab-case name (`nxdomain`, `refused`,
    /// `unknown-issuer`, `empty-reply`, `max-time`, …).
    pub kind: FailureKind,
    /// For timeouts: the phase that was running when time ran out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub during: Option<Phase>,
    /// Human-readable detail.
    pub message: String,
}

impl TraceError {
    /// A failure of `phase` for reason `kind`.
    pub fn new(phase: Phase, kind: FailureKind, message: impl Into<String>) -> TraceError {
        TraceError { phase, kind, during: None, message: message.into() }
    }

    /// A time limit ran out ([`Phase::Timeout`]; [`during`](TraceError::during) says in which
    /// phase).
    pub fn is_timeout(&self) -> bool {
        self.phase == Phase::Timeout
    }

    /// Name resolution failed.
    pub fn is_dns(&self) -> bool {
        self.phase == Phase::Dns
    }

    /// The server's certificate was not accepted (curl's exit 60 rather than 35).
    pub fn is_certificate(&self) -> bool {
        self.phase == Phase::Tls && self.kind.is_certificate()
    }
}

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.phase.as_str(), self.kind, self.message)
    }
}

impl std::error::Error for TraceError {}

macro_rules! failure_kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// Why a request failed, within its [`Phase`]. Serialised as its kebab-case name (the
        /// wire form of `request-done.error.kind`); a name this version does not know (from a
        /// newer log) reads as [`FailureKind::Other`].
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum FailureKind {
            $($(#[$doc])* $variant,)*
            /// A name this version does not know.
            Other(String),
        }

        impl FailureKind {
            /// Every known kind.
            pub const KNOWN: &[FailureKind] = &[$(FailureKind::$variant,)*];

            /// The kebab-case name.
            pub fn as_str(&self) -> &str {
                match self {
                    $(FailureKind::$variant => $name,)*
                    FailureKind::Other(s) => s,
                }
            }

            /// The kind called `name` (unknown names give [`FailureKind::Other`]).
            pub fn from_name(name: &str) -> FailureKind {
                match name {
                    $($name => FailureKind::$variant,)*
                    other => FailureKind::Other(other.to_string()),
                }
            }
        }
    };
}

failure_kinds! {
    /// DNS: the name does not exist.
    Nxdomain = "nxdomain",
    /// DNS: the name has no address records; connect: no address to try.
    NoAddress = "no-address",
    /// DNS: an IP literal of the other family than `-4`/`-6` asked for.
    Family = "family",
    /// DNS: the server did not answer; connect: the attempt timed out.
    Timeout = "timeout",
    /// DNS: the server failed (SERVFAIL).
    Servfail = "servfail",
    /// DNS: the server refused; connect: the connection was refused.
    Refused = "refused",
    /// DNS: another error response.
    ErrorResponse = "error-response",
    /// A failure with no finer classification.
    Failed = "failed",
    /// Connect: the attempt lost the Happy Eyeballs race.
    Cancelled = "cancelled",
    /// Connect: no route to the host.
    HostUnreachable = "host-unreachable",
    /// Connect: no route to the network.
    NetworkUnreachable = "network-unreachable",
    /// Connect: the local address is not available.
    AddressNotAvailable = "address-not-available",
    /// TLS: the client configuration could not be built.
    Config = "config",
    /// TLS: the host is not a valid server name.
    BadServerName = "bad-server-name",
    /// TLS: the server closed the connection during the handshake.
    Closed = "closed",
    /// The peer reset the connection.
    Reset = "reset",
    /// An I/O error.
    Io = "io",
    /// TLS: the certificate's issuer is not trusted.
    UnknownIssuer = "unknown-issuer",
    /// TLS: the server presented one certificate that names itself as its issuer, and it is
    /// not trusted (curl: "self-signed certificate").
    SelfSigned = "self-signed",
    /// TLS: the certificate is not valid for the host name.
    NameMismatch = "name-mismatch",
    /// TLS: the certificate has expired.
    Expired = "expired",
    /// TLS: the certificate is not valid yet.
    NotYetValid = "not-yet-valid",
    /// TLS: the certificate was revoked.
    Revoked = "revoked",
    /// TLS: the certificate's signature is bad.
    BadSignature = "bad-signature",
    /// TLS: the certificate is not for server authentication.
    InvalidPurpose = "invalid-purpose",
    /// TLS: the certificate is invalid in another way.
    InvalidCertificate = "invalid-certificate",
    /// TLS: the server sent no certificate.
    NoCertificate = "no-certificate",
    /// TLS: the server sent an alert.
    Alert = "alert",
    /// TLS: the server asked for a client certificate, none was sent, and it refused.
    ClientCertRequired = "client-certificate-required",
    /// TLS: no application protocol in common (ALPN).
    NoAlpn = "no-alpn",
    /// TLS: no protocol version or cipher suite in common.
    Incompatible = "incompatible",
    /// TLS: the server broke the protocol.
    Protocol = "protocol",
    /// Setup: the TLS settings (CA file, roots) could not be loaded.
    TlsConfig = "tls-config",
    /// Setup: the request could not be built.
    BadRequest = "bad-request",
    /// The HTTP handshake on a new connection failed.
    Handshake = "handshake",
    /// Wait: the response head is too large to parse.
    HeadersTooLarge = "headers-too-large",
    /// Wait: the response is not HTTP.
    BadResponse = "bad-response",
    /// HTTP/2: the server sent GOAWAY.
    Goaway = "goaway",
    /// HTTP/2: the server reset the stream.
    StreamReset = "stream-reset",
    /// HTTP/2: another protocol error.
    Http2 = "http2",
    /// HTTP/3: a stream or protocol error.
    Http3 = "http3",
    /// Receive: the body is not in the content coding it claims (`--compressed`).
    BadContentEncoding = "bad-content-encoding",
    /// Send: writing the request failed.
    SendFailed = "send-failed",
    /// Wait: the connection closed without a response byte.
    EmptyReply = "empty-reply",
    /// Receive: the body ended before its announced length.
    Incomplete = "incomplete",
    /// Timeout: `--connect-timeout` ran out.
    ConnectTimeout = "connect-timeout",
    /// Timeout: `--max-time` ran out.
    MaxTime = "max-time",
    /// More redirects than `--max-redirs`.
    TooManyRedirects = "too-many-redirects",
    /// Connect: the HTTP proxy refused the `CONNECT` tunnel (a status other than 2xx and 407).
    ProxyTunnel = "proxy-tunnel",
    /// Connect: the HTTP proxy wants credentials (407 to `CONNECT`).
    ProxyAuth = "proxy-auth-required",
    /// Connect: the SOCKS5 handshake failed or the proxy refused the connection.
    Socks = "socks",
    /// DNS: the proxy's name could not be resolved.
    ProxyResolve = "proxy-resolve",
}

impl FailureKind {
    /// A certificate verification failure.
    pub fn is_certificate(&self) -> bool {
        matches!(
            self,
            FailureKind::UnknownIssuer
                | FailureKind::SelfSigned
                | FailureKind::NameMismatch
                | FailureKind::Expired
                | FailureKind::NotYetValid
                | FailureKind::Revoked
                | FailureKind::BadSignature
                | FailureKind::InvalidPurpose
                | FailureKind::InvalidCertificate
                | FailureKind::NoCertificate
        )
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for FailureKind {
    fn from(name: &str) -> FailureKind {
        FailureKind::from_name(name)
    }
}

impl PartialEq<&str> for FailureKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for FailureKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FailureKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FailureKind, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(FailureKind::from_name(&name))
    }
}

/// Per-hop summary carried by `request-done`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HopSummary {
    /// Hop number.
    pub hop: u32,
    /// URL requested on this hop.
    pub url: String,
    /// Final status of this hop, if a response arrived.
    pub status: Option<u16>,
    /// HAR 1.2 timings of this hop (ms).
    pub timings: Timings,
    /// curl marks of this hop (s, from the hop's start).
    pub marks: Marks,
    /// The bytes this hop moved. Since plugin contract 0.7.0 (absent from older recordings:
    /// zeros).
    #[serde(default)]
    pub bytes: ByteCounts,
}

/// The bytes one hop moved, as its events count them: the whole request's (curl's
/// `size_upload`, `size_header`, `size_download`) is the sum over its hops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ByteCounts {
    /// Request body bytes written (`wrote-request`'s `body_bytes`).
    pub request_body: u64,
    /// Response header bytes received (`response-headers`' `header_bytes`).
    pub response_headers: u64,
    /// Response body bytes received, on the wire (`response-done`'s `body_bytes`).
    pub response_body: u64,
}

/// The kinds of event, each with its own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    /// A hop begins (not in Go's list): method, URL and wall-clock start.
    RequestStart {
        /// Request method.
        method: String,
        /// Absolute URL of this hop.
        url: String,
        /// Wall-clock start of this hop, nanoseconds since the Unix epoch (recorded once per
        /// request and offset by the monotonic clock).
        wall_unix_ns: u64,
        /// The body this hop sends, its first 64 KiB (HAR's `postData`; text for plugins, lossy
        /// UTF-8); `None` without a body. Shared with the request, not copied. Since plugin
        /// contract 0.3.0.
        #[serde(default, with = "post_data_text")]
        post_data: Option<bytes::Bytes>,
    },
    /// About to obtain a connection (new or pooled) for `host_port`.
    GetConn {
        /// Target `host:port`.
        host_port: String,
    },
    /// Name resolution begins.
    DnsStart {
        /// Host name being resolved.
        host: String,
        /// The proxy (`SCHEME://HOST:PORT`, credentials redacted) when this is the lookup of the
        /// proxy's own name; `None` for the origin's. Since plugin contract 0.6.0.
        #[serde(default)]
        proxy: Option<String>,
    },
    /// Name resolution ended.
    DnsDone {
        /// Addresses found.
        addrs: Vec<IpAddr>,
        /// The answer was shared with a concurrent identical lookup.
        coalesced: bool,
        /// Why resolution failed.
        error: Option<TraceError>,
        /// As in [`EventKind::DnsStart`]. Since plugin contract 0.6.0.
        #[serde(default)]
        proxy: Option<String>,
    },
    /// A connect attempt begins (one per address tried; a UDP socket for HTTP/3, a Unix socket
    /// with `--unix-socket`).
    ConnectStart {
        /// Network: `tcp`; `udp` for HTTP/3's QUIC; `unix` with `--unix-socket`.
        network: String,
        /// Address dialled (a socket's path for `unix`).
        addr: PeerAddr,
        /// The proxy (`SCHEME://HOST:PORT`, credentials redacted) when this connect goes to it
        /// (every connection through a proxy, forwarded or tunnelled); `None` when it goes to
        /// the origin. Since plugin contract 0.6.0.
        #[serde(default)]
        proxy: Option<String>,
    },
    /// A connect attempt ended.
    ConnectDone {
        /// Network: `tcp`; `udp` for HTTP/3's QUIC; `unix` with `--unix-socket`.
        network: String,
        /// Address dialled (a socket's path for `unix`).
        addr: PeerAddr,
        /// The attempt was abandoned because another one won (Happy Eyeballs).
        cancelled: bool,
        /// Why the attempt failed.
        error: Option<TraceError>,
        /// As in [`EventKind::ConnectStart`]. Since plugin contract 0.6.0.
        #[serde(default)]
        proxy: Option<String>,
    },
    /// The TLS handshake begins.
    TlsHandshakeStart {
        /// SNI server name sent (empty for IP addresses).
        server_name: String,
    },
    /// The TLS handshake ended.
    TlsHandshakeDone {
        /// Protocol version, e.g. `TLSv1.3`.
        version: String,
        /// Negotiated cipher suite.
        cipher_suite: String,
        /// Negotiated ALPN protocol, if any.
        alpn: Option<String>,
        /// The session was resumed.
        resumed: bool,
        /// Server name the certificate was checked against.
        server_name: String,
        /// Peer certificates, end entity first (also on failure, when the server sent them).
        peer_certificates: Vec<CertSummary>,
        /// Why the handshake or verification failed.
        error: Option<TraceError>,
        /// The key-exchange group agreed on (`X25519`, `secp256r1`, `X25519MLKEM768`, ...);
        /// `None` on failure or when none was used. Since plugin contract 0.2.0 (older
        /// NDJSON logs read back without it).
        #[serde(default)]
        key_exchange_group: Option<String>,
        /// The server asked for a client certificate. Since plugin contract 0.3.0.
        #[serde(default)]
        client_certificate_requested: bool,
        /// A client certificate was sent. Since plugin contract 0.3.0.
        #[serde(default)]
        client_certificate_sent: bool,
    },
    /// A connection was obtained.
    GotConn {
        /// Taken from the pool (or an HTTP/2 connection shared with other requests).
        reused: bool,
        /// It was idle in the pool.
        was_idle: bool,
        /// How long it was idle, in nanoseconds (0 unless `was_idle`).
        idle_ns: u64,
        /// Local address (an empty path on a Unix socket, whose client end has no name).
        local_addr: PeerAddr,
        /// Remote address (the socket's path on a Unix socket).
        remote_addr: PeerAddr,
        /// `http/1.1`, `h2` or `h3`.
        protocol: String,
    },
    /// One request header field was written to the connection.
    WroteHeaderField {
        /// Header name (HTTP/2 pseudo-headers included, e.g. `:path`).
        name: String,
        /// Header value.
        value: String,
    },
    /// All request headers were written.
    WroteHeaders {
        /// The clock that stamped it (the `wrote-header-field` events of the same write share
        /// its stamp). Since plugin contract 0.5.0 (older NDJSON logs read back as `engine`).
        #[serde(default)]
        clock: StampClock,
    },
    /// Headers carried `Expect: 100-continue`; the body waits for the server.
    #[serde(rename = "wait-100-continue")]
    Wait100Continue {},
    /// The server answered `100 Continue`.
    #[serde(rename = "got-100-continue")]
    Got100Continue {},
    /// An informational (1xx) response arrived; fires for 100 too.
    #[serde(rename = "got-1xx-response")]
    Got1xxResponse {
        /// Status code.
        status: u16,
        /// Its headers.
        headers: Vec<Header>,
    },
    /// The whole request (headers and body) was written.
    WroteRequest {
        /// Request body bytes written.
        body_bytes: u64,
        /// Why writing failed.
        error: Option<TraceError>,
        /// The clock that stamped it. Since plugin contract 0.5.0.
        #[serde(default)]
        clock: StampClock,
    },
    /// The first byte of the response arrived on the connection.
    GotFirstResponseByte {
        /// The clock that stamped it. Since plugin contract 0.5.0.
        #[serde(default)]
        clock: StampClock,
    },
    /// The final response's headers.
    ResponseHeaders {
        /// Status code.
        status: u16,
        /// `HTTP/1.1` or `HTTP/2`.
        version: String,
        /// Response headers.
        headers: Vec<Header>,
        /// Size of the header block as HTTP/1.1 text (status line included).
        header_bytes: u64,
    },
    /// The response body ended (or failed).
    ResponseDone {
        /// Body bytes received (on the wire, before any content coding is undone).
        body_bytes: u64,
        /// Why reading the body failed.
        error: Option<TraceError>,
        /// The body's length once its `content-encoding` was decoded (`--compressed`); `None`
        /// when nothing was decoded. Since plugin contract 0.4.0.
        #[serde(default)]
        decoded_bytes: Option<u64>,
    },
    /// The connection went back to the pool, or could not.
    PutIdleConn {
        /// Why it was not kept (e.g. `connection: close`, error, not fully read).
        error: Option<String>,
    },
    /// A redirect is followed: the next hop starts.
    Redirect {
        /// URL of the hop that answered with a redirect.
        from: String,
        /// URL of the next hop.
        to: String,
        /// Redirect status code.
        status: u16,
        /// Method of the next hop.
        method: String,
    },
    /// The request ended, successfully or not: the summary.
    RequestDone {
        /// Final URL.
        url: String,
        /// Final status, if a response arrived.
        status: Option<u16>,
        /// Why the request failed.
        error: Option<TraceError>,
        /// HAR 1.2 timings for the whole request (ms; phases summed over hops).
        timings: Timings,
        /// curl marks for the whole request (s, from the request start).
        marks: Marks,
        /// Per-hop summaries, in hop order.
        hops: Vec<HopSummary>,
        /// How long after the kernel received the final response's first byte the engine read
        /// it (ns), where the kernel stamped it. Since plugin contract 0.3.0.
        #[serde(default)]
        client_lag_ns: Option<u64>,
    },
    /// A tunnel through a proxy is asked for (`CONNECT`, or the SOCKS5 handshake), once the
    /// connection to the proxy is up.
    ProxyConnectStart {
        /// The proxy, `SCHEME://HOST:PORT` (a password `[redacted]`).
        proxy: String,
        /// Where the tunnel goes, `host:port`.
        target: String,
    },
    /// The tunnel is open, or the proxy refused it.
    ProxyConnectDone {
        /// The proxy, as in `ProxyConnectStart`.
        proxy: String,
        /// An HTTP proxy's answer to `CONNECT`.
        status: Option<u16>,
        /// Why the tunnel was not opened.
        error: Option<TraceError>,
    },
    /// The QUIC handshake of an HTTP/3 connection begins (after its `connect-done` with
    /// network `udp`). Since plugin contract 0.4.0.
    QuicHandshakeStart {
        /// SNI server name sent (empty for IP addresses).
        server_name: String,
        /// The QUIC version offered (1: RFC 9000).
        quic_version: u32,
    },
    /// The QUIC handshake ended: TLS 1.3 inside QUIC, its end curl's `appconnect`. Since
    /// plugin contract 0.4.0.
    QuicHandshakeDone {
        /// The QUIC version spoken (0 when none was agreed).
        quic_version: u32,
        /// Negotiated ALPN protocol (`h3`).
        alpn: Option<String>,
        /// 0-RTT data was sent with the handshake.
        early_data_offered: bool,
        /// The server accepted the 0-RTT data.
        early_data_accepted: bool,
        /// The TLS session was resumed.
        resumed: bool,
        /// Server name the certificate was checked against.
        server_name: String,
        /// Peer certificates, end entity first (known once the handshake succeeded).
        peer_certificates: Vec<CertSummary>,
        /// Why the handshake failed.
        error: Option<TraceError>,
    },
}

/// `post_data` as JSON text (lossy UTF-8), and back.
mod post_data_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<bytes::Bytes>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&String::from_utf8_lossy(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bytes::Bytes>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(bytes::Bytes::from))
    }
}

impl EventKind {
    /// The kebab-case kind name, as printed in `"event"`.
    pub fn name(&self) -> &'static str {
        KIND_NAMES[self.index()]
    }

    /// Position of this kind in [`KIND_NAMES`] (stable: used for interest masks).
    pub fn index(&self) -> usize {
        macro_rules! index_of {
            ($($i:literal $v:ident $c:ident $n:literal,)*) => {
                match self {
                    $(EventKind::$v { .. } => kind::$c,)*
                }
            };
        }
        httptrace_wit::for_each_kind!(index_of)
    }
}

/// A set of event kinds, by [`EventKind::index`]: a plugin's interest, or the kinds a
/// [`Client`](crate::Client) records in full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindSet(u32);

impl KindSet {
    /// Every kind.
    pub const ALL: KindSet = KindSet((1 << KIND_NAMES.len()) - 1);

    /// The kinds whose instants the `request-done` summaries are computed from (see
    /// [`HopRecord`](crate::summary::HopRecord)).
    pub const SUMMARY: KindSet = KindSet(
        1 << kind::REQUEST_START
            | 1 << kind::GET_CONN
            | 1 << kind::DNS_START
            | 1 << kind::DNS_DONE
            | 1 << kind::CONNECT_START
            | 1 << kind::CONNECT_DONE
            | 1 << kind::TLS_HANDSHAKE_START
            | 1 << kind::TLS_HANDSHAKE_DONE
            | 1 << kind::QUIC_HANDSHAKE_START
            | 1 << kind::QUIC_HANDSHAKE_DONE
            | 1 << kind::GOT_CONN
            | 1 << kind::WROTE_REQUEST
            | 1 << kind::GOT_FIRST_RESPONSE_BYTE
            | 1 << kind::RESPONSE_HEADERS
            | 1 << kind::RESPONSE_DONE
            | 1 << kind::REQUEST_DONE,
    );

    /// `request-start` and `request-done`: each hop's method and URL, and the request's summary.
    pub const REQUESTS: KindSet = KindSet(1 << kind::REQUEST_START | 1 << kind::REQUEST_DONE);

    /// How many kinds are in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether kind `index` is in the set.
    pub fn contains(self, index: usize) -> bool {
        index < 32 && self.0 & (1 << index) != 0
    }

    /// Adds kind `index`.
    pub fn insert(&mut self, index: usize) {
        self.0 |= 1 << index;
    }

    /// Kinds in either set.
    pub fn union(self, other: KindSet) -> KindSet {
        KindSet(self.0 | other.0)
    }

    /// The kind names in the set.
    pub fn names(self) -> Vec<&'static str> {
        KIND_NAMES.iter().enumerate().filter(|(i, _)| self.contains(*i)).map(|(_, n)| *n).collect()
    }
}

/// Each kind's index (`kind::GOT_CONN`), from the contract's table ([`httptrace_wit`]).
pub use httptrace_wit::kind;
/// The index of a kind name, if it is one.
pub use httptrace_wit::kind_index;
/// Every kind name, in [`EventKind::index`] order (the contract's table).
pub use httptrace_wit::KIND_NAMES;

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let kind = serde_json::to_value(&self.kind).map_err(S::Error::custom)?;
        let serde_json::Value::Object(fields) = kind else { return Err(S::Error::custom("event kind is not an object")) };
        let mut map = s.serialize_map(Some(fields.len() + 4))?;
        map.serialize_entry("event", self.kind.name())?;
        map.serialize_entry("request", &self.request)?;
        map.serialize_entry("hop", &self.hop)?;
        map.serialize_entry("conn", &self.conn)?;
        map.serialize_entry("at_ns", &self.at_ns)?;
        for (k, v) in fields.iter().filter(|(k, _)| k.as_str() != "event") {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Event {
    /// This event as one line of JSON (no trailing newline): the `ndjson` form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events always serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_kinds_keep_their_wire_names() {
        let mut seen = std::collections::HashSet::new();
        for k in FailureKind::KNOWN {
            let name = k.as_str();
            assert!(seen.insert(name), "{name} twice");
            assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{name} is not kebab-case");
            assert_eq!(serde_json::to_string(k).unwrap(), format!("\"{name}\""));
            assert_eq!(&serde_json::from_str::<FailureKind>(&format!("\"{name}\"")).unwrap(), k);
        }
        // A name from a newer version survives a round trip.
        let newer: FailureKind = serde_json::from_str("\"quic-idle-timeout\"").unwrap();
        assert_eq!(newer, FailureKind::Other("quic-idle-timeout".into()));
        assert_eq!(serde_json::to_string(&newer).unwrap(), "\"quic-idle-timeout\"");
        let e = TraceError::new(Phase::Tls, FailureKind::UnknownIssuer, "x");
        assert!(e.is_certificate() && !e.is_timeout() && !e.is_dns());
        assert_eq!(serde_json::to_value(&e).unwrap()["kind"], "unknown-issuer");
    }

    #[test]
    fn json_form_starts_with_the_header_and_round_trips() {
        let ev = Event { request: 3, hop: 1, conn: Some(2), at_ns: 42, kind: EventKind::GetConn { host_port: "a:80".into() } };
        let line = ev.to_json();
        assert_eq!(line, r#"{"event":"get-conn","request":3,"hop":1,"conn":2,"at_ns":42,"host_port":"a:80"}"#);
        let back: Event = serde_json::from_str(&line).unwrap();
        assert_eq!(back, ev);
        let empty = Event { kind: EventKind::WroteHeaders { clock: StampClock::Kernel }, ..ev.clone() };
        assert_eq!(serde_json::from_str::<Event>(&empty.to_json()).unwrap(), empty);
        // Every kind's serde name is its kind name (digits included: got-1xx-response).
        for kind in
            [EventKind::Wait100Continue {}, EventKind::Got100Continue {}, EventKind::Got1xxResponse { status: 103, headers: vec![] }]
        {
            let e = Event { kind, ..ev.clone() };
            let line = e.to_json();
            assert!(line.starts_with(&format!("{{\"event\":\"{}\"", e.kind.name())), "{line}");
            assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), e);
            let tagged = serde_json::to_value(&e.kind).unwrap();
            assert_eq!(tagged["event"], e.kind.name());
        }
    }
}
