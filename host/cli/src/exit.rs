//! Exit codes, in one place. Request failures follow curl's codes for the same failures, so
//! scripts written against curl keep working.

use httptrace::event::{FailureKind, Phase, TraceError};

/// Success.
pub const OK: i32 = 0;
/// Unsupported protocol (curl 1).
pub const UNSUPPORTED_PROTOCOL: i32 = 1;
/// Bad command line (curl 2).
pub const USAGE: i32 = 2;
/// Malformed URL (curl 3).
pub const BAD_URL: i32 = 3;
/// Could not resolve the proxy, or a bad proxy URL (curl 5).
pub const PROXY_RESOLVE: i32 = 5;
/// Could not resolve host (curl 6).
pub const DNS: i32 = 6;
/// Failed to connect (curl 7).
pub const CONNECT: i32 = 7;
/// Weird server reply: not HTTP (curl 8).
pub const BAD_RESPONSE: i32 = 8;
/// HTTP status >= 400 with `--fail` (curl 22).
pub const HTTP_ERROR: i32 = 22;
/// Read error on a local file, e.g. `-d @file` (curl 26).
pub const READ_ERROR: i32 = 26;
/// Operation timed out (curl 28).
pub const TIMEOUT: i32 = 28;
/// TLS handshake failed (curl 35).
pub const TLS: i32 = 35;
/// Too many redirects (curl 47).
pub const TOO_MANY_REDIRECTS: i32 = 47;
/// Server replied nothing (curl 52).
pub const EMPTY_REPLY: i32 = 52;
/// Failed sending data (curl 55).
pub const SEND: i32 = 55;
/// Failure receiving data (curl 56).
pub const RECEIVE: i32 = 56;
/// The body did not decode from its content encoding (`--compressed`; curl 61).
pub const BAD_CONTENT_ENCODING: i32 = 61;
/// The SOCKS handshake with the proxy failed (curl 97).
pub const PROXY: i32 = 97;
/// curl's CURLE_QUIC_CONNECT_ERROR: HTTP/3 cannot be used over a Unix domain socket.
pub const QUIC_CONNECT: i32 = 96;
/// The client certificate (--cert, --key) could not be used (curl 58).
pub const CLIENT_CERT: i32 = 58;
/// Peer certificate could not be verified (curl 60).
pub const CERTIFICATE: i32 = 60;
/// The run was interrupted (Ctrl-C, SIGTERM): 128 + SIGINT, as shells report it.
pub const INTERRUPTED: i32 = 130;
/// A plugin failed (trapped, timed out, exceeded a limit); not a curl code.
pub const PLUGIN_FAILED: i32 = 90;
/// A threshold was not met (k6 uses 99 as well).
pub const THRESHOLD_FAILED: i32 = 99;

/// The exit code of a run, decided here only, most important first: a plugin failed
/// ([`PLUGIN_FAILED`]); the requests' own code (curl's, or [`HTTP_ERROR`] with `--fail`); a
/// plugin's check failed ([`THRESHOLD_FAILED`]); [`OK`].
pub fn for_run(report: &httptrace_plugin_host::ChainReport, request_code: Option<i32>) -> i32 {
    if report.plugin_failed() {
        PLUGIN_FAILED
    } else if let Some(code) = request_code {
        code
    } else if report.check_failed() {
        THRESHOLD_FAILED
    } else {
        OK
    }
}

/// The curl exit code for a failed request.
pub fn for_error(e: &TraceError) -> i32 {
    match e.phase {
        // (The only setup failure of kind `http3`: `--http3-only` over a Unix socket.)
        Phase::Setup if e.kind == FailureKind::Http3 => QUIC_CONNECT,
        Phase::Setup => BAD_URL,
        Phase::Dns if e.kind == FailureKind::ProxyResolve => PROXY_RESOLVE,
        // The origin's name, resolved here for a SOCKS proxy: curl's SOCKS failure.
        Phase::Dns if e.kind == FailureKind::Socks => PROXY,
        Phase::Dns => DNS,
        // A CONNECT answered with anything but 2xx: curl's "CONNECT tunnel failed" (56).
        Phase::Connect if matches!(e.kind, FailureKind::ProxyTunnel | FailureKind::ProxyAuth) => RECEIVE,
        Phase::Connect if e.kind == FailureKind::Socks => PROXY,
        Phase::Connect => CONNECT,
        // QUIC: a handshake without an answer, a connection silent past its idle timeout.
        Phase::Tls | Phase::Send | Phase::Wait | Phase::Receive if e.kind == FailureKind::Timeout => TIMEOUT,
        Phase::Tls if e.is_certificate() => CERTIFICATE,
        Phase::Tls => TLS,
        Phase::Send => SEND,
        Phase::Wait if e.kind == FailureKind::EmptyReply => EMPTY_REPLY,
        Phase::Wait if matches!(e.kind, FailureKind::BadResponse | FailureKind::HeadersTooLarge) => BAD_RESPONSE,
        Phase::Receive if e.kind == FailureKind::BadContentEncoding => BAD_CONTENT_ENCODING,
        Phase::Wait | Phase::Receive => RECEIVE,
        Phase::Timeout => TIMEOUT,
        Phase::TooManyRedirects => TOO_MANY_REDIRECTS,
    }
}
