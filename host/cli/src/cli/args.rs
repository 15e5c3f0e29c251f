//! Command-line arguments, shaped like curl's where they overlap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use httptrace_cli::flags::{parse_duration, parse_size};

/// Trace HTTP(S) requests: every phase (DNS, connect, TLS, send, wait, receive) as an event,
/// handed to WebAssembly plugins that filter, format or aggregate them.
#[derive(Debug, Parser)]
#[command(name = "httptrace", version, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(after_help = "Exit codes follow curl: 5 proxy URL or name, 6 DNS, 7 connect, 28 timeout, 35 TLS, 47 too many redirects, \
52 empty reply, 56 receive (or a refused CONNECT), 58 client certificate, 60 certificate, 97 SOCKS; 2 usage, 3 bad URL; 90 a plugin failed; 99 a plugin check (threshold) failed.")]
pub struct Cli {
    /// Subcommands (`serve`, …); without one, trace a request.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The request to trace.
    #[command(flatten)]
    pub request: RequestArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a local target server: HTTP/1.1 and h2c on one port, HTTP/2 and HTTP/1.1 over TLS
    /// (self-signed certificate) on another. Endpoints: /delay/MS, /bytes/N,
    /// /drip?bytes=N&duration_ms=MS, /status/CODE, /redirect/N, /redirect-to?url=URL, /cookies/set?NAME=VALUE,
    /// /continue, /early-hints, /reset, /headers, /digest-auth/auth/USER/PASSWORD.
    Serve(ServeArgs),
    /// List the plugins built into httptrace.
    Plugins,
    /// Plugin tools.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Feed a recorded event log (the `ndjson` plugin's output) through a plugin chain, with no
    /// network: deterministic plugin development and tests.
    Replay(Box<ReplayArgs>),
    /// Print a completion script for SHELL on stdout, e.g.
    /// `httptrace completions bash > /usr/share/bash-completion/completions/httptrace`.
    Completions {
        /// The shell.
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout, e.g. `httptrace man > httptrace.1`.
    Man,
}

/// `httptrace replay` options.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The recorded log: one JSON event per line (`-` for stdin).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Plugin options.
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// `httptrace plugin …` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Say which world and package version a plugin file implements, its imports and exports,
    /// and whether it fits this httptrace (exit 1 if not).
    Inspect {
        /// A component file, or the name of a bundled plugin.
        #[arg(value_name = "FILE|NAME")]
        plugin: String,
    },
    /// Show the precompiled-plugin cache (`$HTTPTRACE_CACHE_DIR`, else ~/.cache/httptrace):
    /// its size, and what no engine of this build can load any more.
    Cache {
        /// Delete the artefacts no engine of this build can load (older versions, other CPUs).
        #[arg(long, conflicts_with = "clean")]
        prune: bool,
        /// Delete every artefact (plugins are compiled again on their next use).
        #[arg(long)]
        clean: bool,
    },
}

/// `httptrace serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Port for plain HTTP/1.1 and h2c (0 = any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Port for HTTPS (0 = any free port).
    #[arg(long, default_value_t = 8443)]
    pub tls_port: u16,
    /// Directory for the generated certificate and key (default: a new temporary directory).
    #[arg(long)]
    pub cert_dir: Option<PathBuf>,
    /// UDP port for HTTP/3 over QUIC (0 = any free port), advertised by the HTTPS port's
    /// `alt-svc` header (default: no HTTP/3).
    #[arg(long, value_name = "PORT")]
    pub h3_port: Option<u16>,
}

/// Options of a traced request.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// URL(s) to request (`http://` or `https://`; no scheme means `http://`). Several URLs
    /// are requested in turn (round-robin in load mode).
    #[arg(value_name = "URL", required_unless_present = "urls_from_file")]
    pub urls: Vec<String>,
    /// Request method (default GET, or POST with --data).
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    pub method: Option<String>,
    /// Extra header "Name: value" (repeatable); "Name:" removes a default header.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Request body, as curl's -d: @FILE reads a file (its newlines dropped), @- stdin;
    /// repeated, the parts are joined with `&`. POST and form content type unless said otherwise.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    pub data: Vec<String>,
    /// Request body as given: @FILE is read byte for byte (curl's --data-binary).
    #[arg(long = "data-binary", value_name = "DATA")]
    pub data_binary: Vec<String>,
    /// Request body part URL-encoded as curl's --data-urlencode: `content`, `=content`,
    /// `name=content`, `@file`, `name@file`.
    #[arg(long = "data-urlencode", value_name = "DATA")]
    pub data_urlencode: Vec<String>,
    /// JSON body (@FILE, @- as for -d), with `Content-Type` and `Accept: application/json`.
    #[arg(long = "json", value_name = "DATA")]
    pub json: Vec<String>,
    /// A multipart/form-data part, as curl's -F (repeatable): `name=value`, `name=@file` (a
    /// file upload; `;type=` and `;filename=` may follow), `name=<file` (a file's content as
    /// the value). POST unless -X says otherwise.
    #[arg(short = 'F', long = "form", value_name = "NAME=CONTENT")]
    pub form: Vec<String>,
    /// Send a HEAD request, and show the response headers (curl's -I).
    #[arg(short = 'I', long = "head")]
    pub head: bool,
    /// User-Agent header.
    #[arg(short = 'A', long = "user-agent", value_name = "NAME")]
    pub user_agent: Option<String>,
    /// Referer header.
    #[arg(short = 'e', long = "referer", value_name = "URL")]
    pub referer: Option<String>,
    /// Basic authentication, USER:PASSWORD (shown `[redacted]` in events unless --show-secrets).
    #[arg(short = 'u', long = "user", value_name = "USER:PASSWORD")]
    pub user: Option<String>,
    /// -u's credentials answer an HTTP Digest challenge (a 401) instead of going as Basic:
    /// the request is made again, as a new hop, with the answer (curl's --digest).
    #[arg(long = "digest", requires = "user")]
    pub digest: bool,
    /// Cookies, as curl's -b: `NAME=VALUE; ...` is sent as it is; anything else is a Netscape
    /// cookie file to load, and turns the cookie engine on (cookies set by responses are sent
    /// on, across -L redirects too). `-b ''` turns it on with no cookies.
    #[arg(short = 'b', long = "cookie", value_name = "DATA|FILE")]
    pub cookie: Vec<String>,
    /// Write every cookie known at the end of the run to FILE (Netscape format, as curl's -c;
    /// here `-c` is the concurrency, as in oha and hey), and turn the cookie engine on.
    #[arg(long = "cookie-jar", value_name = "FILE")]
    pub cookie_jar: Option<PathBuf>,
    /// A new connection for every request, closed after it, HTTP/2 too (oha's
    /// --disable-keepalive): a load test of the handshakes.
    #[arg(long = "no-keepalive")]
    pub no_keepalive: bool,
    /// Silent, as curl's -s: no progress bar, no failure line on stderr (the exit code says it).
    #[arg(short = 's', long = "silent")]
    pub silent: bool,
    /// With -s, still print the failure line (curl's -S).
    #[arg(short = 'S', long = "show-error")]
    pub show_error: bool,
    /// Follow redirects.
    #[arg(short = 'L', long = "location")]
    pub location: bool,
    /// Most redirects to follow with -L.
    #[arg(long = "max-redirs", value_name = "NUM", default_value_t = 50)]
    pub max_redirs: u32,
    /// Do not verify the server's certificate.
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// CA certificates (PEM) to verify the server with, instead of the system's.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Client certificate (chain, end entity first) offered when a server asks for one; its
    /// key too when there is no --key (curl's --cert FILE[:PASSWORD]: the password of an
    /// encrypted key after the first `:`, written `\:` in the file name).
    #[arg(short = 'E', long, value_name = "FILE[:PASSWORD]")]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PKCS#8, PKCS#1 or SEC1; an encrypted PKCS#8 key
    /// with its password in --cert FILE:PASSWORD or --pass).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// The passphrase of an encrypted client key (curl's --pass).
    #[arg(long = "pass", value_name = "PHRASE", requires = "cert")]
    pub pass: Option<String>,
    /// PEM (the default) or DER, for --cert.
    #[arg(long = "cert-type", value_name = "PEM|DER", requires = "cert")]
    pub cert_type: Option<String>,
    /// PEM (the default) or DER, for --key.
    #[arg(long = "key-type", value_name = "PEM|DER", requires = "key")]
    pub key_type: Option<String>,
    /// Use ADDR for HOST:PORT instead of resolving it (curl's HOST:PORT:ADDR[,ADDR]).
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,
    /// Connect to HOST2:PORT2 for requests to HOST1:PORT1, keeping the Host header and the TLS
    /// server name (curl's --connect-to HOST1:PORT1:HOST2:PORT2; an empty field matches any or
    /// keeps the request's). Repeatable, first match wins.
    #[arg(long = "connect-to", value_name = "HOST1:PORT1:HOST2:PORT2")]
    pub connect_to: Vec<String>,
    /// Connect to this Unix domain socket instead of over the network (curl's --unix-socket):
    /// no DNS, no proxy; the URL still gives the Host header, the path and the TLS server name.
    #[arg(long = "unix-socket", value_name = "PATH")]
    pub unix_socket: Option<std::path::PathBuf>,
    /// Use this proxy (curl's -x: http://, https:// (TLS to the proxy), socks5://, socks5h://
    /// (the proxy resolves names); no scheme means http://, the default port 1080). Overrides
    /// the environment's http_proxy, https_proxy, ALL_PROXY; `-x ''` ignores them.
    #[arg(short = 'x', long, value_name = "[SCHEME://][USER:PASS@]HOST[:PORT]")]
    pub proxy: Option<String>,
    /// USER:PASSWORD for the proxy (Basic for HTTP proxies, username/password for SOCKS5).
    #[arg(short = 'U', long = "proxy-user", value_name = "USER:PASSWORD")]
    pub proxy_user: Option<String>,
    /// Hosts to reach without the proxy, comma-separated (curl's --noproxy; overrides NO_PROXY):
    /// a name matches it and its subdomains, ADDR/BITS a network, `*` every host.
    #[arg(long, value_name = "LIST")]
    pub noproxy: Option<String>,
    /// CA certificates (PEM) to verify an https:// proxy with (curl's --proxy-cacert). Without
    /// it or --proxy-insecure, a proxy is verified as the server is (--cacert, -k).
    #[arg(long = "proxy-cacert", value_name = "FILE")]
    pub proxy_cacert: Option<PathBuf>,
    /// Do not verify an https:// proxy's certificate (curl's --proxy-insecure).
    #[arg(long = "proxy-insecure")]
    pub proxy_insecure: bool,
    /// Make a request up to N more times when it fails in a transient way (curl's --retry): a
    /// timeout, or a 408, 429, 500, 502, 503 or 504; each attempt is a new hop in the trace.
    #[arg(long = "retry", value_name = "N")]
    pub retry: Option<u32>,
    /// Seconds to wait between attempts (default: 1, doubled after each, as curl).
    #[arg(long = "retry-delay", value_name = "SECONDS", requires = "retry")]
    pub retry_delay: Option<f64>,
    /// Start no attempt later than this many seconds after the request began.
    #[arg(long = "retry-max-time", value_name = "SECONDS", requires = "retry")]
    pub retry_max_time: Option<f64>,
    /// Retry a refused connection too.
    #[arg(long = "retry-connrefused", requires = "retry")]
    pub retry_connrefused: bool,
    /// Retry every failure and every status of 400 or more.
    #[arg(long = "retry-all-errors", requires = "retry")]
    pub retry_all_errors: bool,
    /// Tunnel http:// URLs through an HTTP proxy too (CONNECT) instead of having it forward
    /// them (curl's -p/--proxytunnel; -p is --plugin here).
    #[arg(long = "proxytunnel")]
    pub proxytunnel: bool,
    /// DNS server to ask instead of the system's.
    #[arg(long = "dns-server", value_name = "IP[:PORT]")]
    pub dns_server: Option<String>,
    /// Use HTTP/1.1 only.
    #[arg(long = "http1.1", conflicts_with_all = ["http2", "http2_prior_knowledge", "http3", "http3_only"])]
    pub http1_1: bool,
    /// Offer HTTP/2 over TLS (the default for https).
    #[arg(long = "http2", conflicts_with_all = ["http2_prior_knowledge", "http3", "http3_only"])]
    pub http2: bool,
    /// Speak HTTP/2 without negotiation (h2c for http://).
    #[arg(long = "http2-prior-knowledge", conflicts_with_all = ["http3", "http3_only"])]
    pub http2_prior_knowledge: bool,
    /// HTTP/3 over QUIC for https://, falling back to TCP when QUIC fails or takes over a
    /// second (both attempts are in the trace).
    #[arg(long = "http3", conflicts_with = "http3_only")]
    pub http3: bool,
    /// HTTP/3 over QUIC only, for https:// (no fallback).
    #[arg(long = "http3-only")]
    pub http3_only: bool,
    /// Ask for a compressed response (deflate, gzip, br, zstd) and decode it: events give the
    /// decoded length beside the bytes on the wire.
    #[arg(long)]
    pub compressed: bool,
    /// Give up a QUIC connection after this many seconds without a packet from the server
    /// (fractions allowed; default 30): an unanswered handshake or a stalled body.
    #[arg(long = "quic-idle-timeout", value_name = "SECONDS")]
    pub quic_idle_timeout: Option<f64>,
    /// Limit on DNS + connect + TLS, in seconds (fractions allowed).
    #[arg(long = "connect-timeout", value_name = "SECONDS")]
    pub connect_timeout: Option<f64>,
    /// Limit on the whole request, in seconds (fractions allowed).
    #[arg(short = 'm', long = "max-time", value_name = "SECONDS")]
    pub max_time: Option<f64>,
    /// Resolve to IPv4 addresses only.
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Resolve to IPv6 addresses only.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// Exit 22 when the final HTTP status is 400 or more.
    #[arg(short = 'f', long)]
    pub fail: bool,
    /// Show Authorization, Proxy-Authorization, Cookie and Set-Cookie values in events.
    #[arg(long = "show-secrets")]
    pub show_secrets: bool,
    /// Which of the kernel's packet stamps replace httptrace's own (Linux): `all` (receive
    /// and transmit; the default for single requests and load runs of one request in
    /// flight), `receive` (the default in load mode with more in flight: transmit stamps cost
    /// ~20 % client CPU there) or `off`.
    #[arg(long = "kernel-stamps", value_enum, value_name = "WHICH")]
    pub kernel_stamps: Option<KernelStampsArg>,
    /// W3C trace context: send a `traceparent` header (and `tracestate` with --traceparent's
    /// trace) on every request, so the server's spans join the trace; with --otlp, the
    /// exported hop spans carry the ids sent.
    #[arg(long = "propagate", help_heading = "Export")]
    pub propagate: bool,
    /// Load options.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Plugin options.
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// Load mode: many requests and a summary (with `-p stats`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Load")]
pub struct LoadArgs {
    /// Number of requests to make (with several URLs: in turn).
    #[arg(short = 'n', long = "requests", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Concurrent workers (default 1); with --rate, the most requests in flight (default: one
    /// second's worth, R). HTTP/2 streams share connections (use --http1.1 for a connection
    /// per worker).
    #[arg(short = 'c', long = "concurrency", value_name = "C", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub concurrency: Option<u64>,
    /// Keep starting requests for this long (e.g. 30s, 2m); with -n, whichever ends first.
    #[arg(long = "duration", value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Open loop: start R requests per second (e.g. 100, 100/s, 600/m) on schedule, whether
    /// or not earlier ones finished. Latency is measured from each request's *scheduled*
    /// start, so a slow server's queueing shows in the numbers instead of hiding.
    #[arg(long = "rate", value_name = "R/s", value_parser = httptrace_cli::flags::parse_rate)]
    pub rate: Option<f64>,
    /// Engine threads in load mode, each running its share of the workers (default: one per
    /// core less one for the plugins, or one if requests may share an HTTP/2 connection; at
    /// most one per worker).
    #[arg(long = "threads", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: Option<u64>,
    /// Read more URLs from FILE, one per line (blank lines and # comments skipped).
    #[arg(long = "urls-from-file", value_name = "FILE")]
    pub urls_from_file: Option<PathBuf>,
    /// No progress bar.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// OpenTelemetry export of what survives the plugin chain.
#[derive(Debug, Args)]
#[command(next_help_heading = "Export")]
pub struct ExportArgs {
    /// Export spans (request, hop, phase) and metrics to this OpenTelemetry collector over
    /// OTLP (e.g. http://127.0.0.1:4318); in place of OTEL_EXPORTER_OTLP_ENDPOINT and the
    /// other endpoint variables, which turn export on by themselves. OTEL_EXPORTER_OTLP_PROTOCOL
    /// (http/protobuf or grpc), _HEADERS, _TIMEOUT, OTEL_SERVICE_NAME and
    /// OTEL_RESOURCE_ATTRIBUTES are read as the OpenTelemetry specification says.
    #[arg(long = "otlp", value_name = "URL")]
    pub otlp: Option<String>,
    /// CA certificates (PEM) for an https:// collector, instead of the system's.
    #[arg(long = "otlp-cacert", value_name = "FILE")]
    pub otlp_cacert: Option<PathBuf>,
    /// Continue a caller's trace (a CI pipeline's): exported request spans are children of
    /// this W3C traceparent, and --propagate sends its trace id.
    #[arg(long = "traceparent", value_name = "VALUE")]
    pub traceparent: Option<String>,
    /// With --traceparent: the W3C tracestate to pass on with --propagate.
    #[arg(long = "tracestate", value_name = "VALUE", requires = "traceparent")]
    pub tracestate: Option<String>,
}

/// Plugin options of a traced request.
#[derive(Debug, Args)]
#[command(next_help_heading = "Plugins")]
pub struct PluginArgs {
    /// OpenTelemetry export.
    #[command(flatten)]
    pub export: ExportArgs,
    /// Plugin to hand the events to (repeatable: a chain, in order). A NAME is a bundled plugin
    /// (`httptrace plugins`); anything with a `/` or ending in `.wasm` is a component file.
    /// Default: timeline; stats for a load run (-n above 1, --duration, --rate).
    #[arg(short = 'p', long = "plugin", value_name = "PATH|NAME")]
    pub plugin: Vec<String>,
    /// KEY=VALUE for the nearest --plugin before it (repeatable).
    #[arg(long = "plugin-config", value_name = "KEY=VALUE")]
    pub plugin_config: Vec<String>,
    /// Write plugin output to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// curl's --write-out: after each request, FORMAT with its %{variable}s filled in
    /// (time_total, http_code, size_download, remote_ip, %{json}, ...; `@FILE` reads it from
    /// a file, `@-` from stdin). Replaces the default output; with -p it runs first in the chain
    /// (it sees every event) and its line comes before the chain's output of that request.
    #[arg(short = 'w', long = "write-out", value_name = "FORMAT")]
    pub write_out: Option<String>,
    /// Show each hop's status line and response headers, as curl -i does (the timeline's
    /// `headers=response`).
    #[arg(short = 'i', long = "include")]
    pub include: bool,
    /// Show the request header fields as written too, as curl -v does (the timeline's
    /// `headers=all`).
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Time limit of each plugin call, e.g. 1s, 500ms.
    #[arg(long = "plugin-timeout", value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub plugin_timeout: std::time::Duration,
    /// Memory cap of each plugin, e.g. 64MiB, 512KiB.
    #[arg(long = "plugin-memory", value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub plugin_memory: usize,
    /// Most output (emit and log together) of each plugin call, e.g. 64MiB.
    #[arg(long = "plugin-output-limit", value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub plugin_output_limit: usize,
    /// What a plugin failure (trap, time or memory limit) does: disable that plugin and go on,
    /// or abort the run. Either way the exit code is 90.
    #[arg(long = "on-plugin-error", value_name = "WHAT", value_enum, default_value_t = OnPluginError::Disable)]
    pub on_plugin_error: OnPluginError,
}

/// `--on-plugin-error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnPluginError {
    /// Disable the failed plugin; the others go on.
    Disable,
    /// Stop the run: no further request starts.
    Abort,
}

impl From<OnPluginError> for httptrace_plugin_host::OnError {
    fn from(v: OnPluginError) -> Self {
        match v {
            OnPluginError::Disable => httptrace_plugin_host::OnError::Disable,
            OnPluginError::Abort => httptrace_plugin_host::OnError::Abort,
        }
    }
}

/// `--kernel-stamps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KernelStampsArg {
    /// Receive and transmit stamps.
    All,
    /// Receive stamps only.
    Receive,
    /// None: httptrace's own stamps.
    Off,
}
