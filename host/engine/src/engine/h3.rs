//! HTTP/3 over QUIC (quinn for QUIC, hyperium's h3 for HTTP/3, rustls underneath): the path's
//! UDP socket as its "connect", the QUIC handshake as its TLS, then one hop per request stream.
//!
//! Events: `connect-start`/`-done` with network `udp` (binding the socket that will talk to
//! the address: there is no round trip), `quic-handshake-start`/`-done` (TLS 1.3 inside
//! QUIC; its end is curl's `appconnect`), `got-conn` with protocol `h3`, then
//! as for HTTP/2: each header field written (pseudo-headers first), `wrote-headers` when the
//! HEADERS frame was handed to QUIC, `wrote-request` when the stream was finished, the first
//! response byte when the response's HEADERS frame was decoded (h3 shows nothing earlier),
//! `response-headers`, `response-done`.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{HeaderValue, Request};

use super::dial::{Conn, Sender};
use super::exchange::{failed, head_size, header_list, request_headers, HopOutcome, HopRequest, Reuse};
use super::wire::TapShared;
use super::{Shared, Target, SECRET_HEADERS};
use crate::event::{kind, EventKind, FailureKind, Phase, StampClock, TraceError};
use crate::trace::{next_conn_id, Trace};

/// Sends requests on an HTTP/3 connection (cloneable: streams share the connection).
pub type H3Send = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

/// Opens an HTTP/3 connection to `target`: the name (traced as for TCP), the UDP socket, the
/// QUIC handshake, the HTTP/3 control streams.
/// `limit`: how long the QUIC handshake may take (`--http3`'s head start before TCP).
pub(crate) async fn dial(shared: &Shared, trace: &Arc<Trace>, target: &Target, limit: Option<Duration>) -> Result<Conn, TraceError> {
    let id = next_conn_id();
    // Built once per client, before anything is timed.
    let tls = shared.tls()?;
    let config = tls.quic_config(shared.opts.quic_idle_timeout)?;
    let resolved = shared.resolver.resolve(trace, id, &target.dial_host, target.dial_port, None).await?;
    let ip = resolved
        .addrs
        .first()
        .copied()
        .ok_or_else(|| TraceError::new(Phase::Dns, FailureKind::NoAddress, format!("no address for {}", target.dial_host)))?;
    let remote = SocketAddr::new(ip, target.dial_port);
    trace.emit(Some(id), EventKind::ConnectStart { network: "udp".into(), addr: remote.into(), proxy: None });
    let endpoint = udp_endpoint(remote);
    trace.emit(
        Some(id),
        EventKind::ConnectDone {
            network: "udp".into(),
            addr: remote.into(),
            cancelled: false,
            error: endpoint.as_ref().err().cloned(),
            proxy: None,
        },
    );
    let (mut endpoint, local) = endpoint?;
    endpoint.set_default_client_config(config);
    let quic = tls.quic_handshake(trace, id, &target.host, &endpoint, remote, limit).await?;
    let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(quic.clone())).await.map_err(|e| TraceError {
        phase: Phase::Connect,
        kind: FailureKind::Handshake,
        during: None,
        message: format!("HTTP/3 handshake failed: {e}"),
    })?;
    tokio::spawn(async move {
        let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        // The endpoint lives as long as its connection.
        drop(endpoint);
    });
    let sender = Sender::H3 { send, quic, idle: shared.opts.quic_idle_timeout };
    Ok(Conn::fresh(id, local.into(), remote.into(), TapShared::with_stamps(id, true, None), sender, None))
}

/// A client endpoint on a UDP socket of its own, bound to the local address the kernel would
/// send to `remote` from (learnt by connecting a throwaway socket), and that address.
fn udp_endpoint(remote: SocketAddr) -> Result<(quinn::Endpoint, SocketAddr), TraceError> {
    let fail = |e: std::io::Error| TraceError::new(Phase::Connect, FailureKind::Io, format!("UDP socket for {remote}: {e}"));
    let any: IpAddr = if remote.is_ipv6() { IpAddr::from([0u16; 8]) } else { IpAddr::from([0u8; 4]) };
    let probe = UdpSocket::bind(SocketAddr::new(any, 0)).map_err(fail)?;
    probe.connect(remote).map_err(|e| {
        let kind = match e.kind() {
            std::io::ErrorKind::NetworkUnreachable => FailureKind::NetworkUnreachable,
            std::io::ErrorKind::HostUnreachable => FailureKind::HostUnreachable,
            _ => FailureKind::Io,
        };
        TraceError::new(Phase::Connect, kind, format!("UDP to {remote}: {e}"))
    })?;
    let local_ip = probe.local_addr().map_err(fail)?.ip();
    drop(probe);
    let endpoint = quinn::Endpoint::client(SocketAddr::new(local_ip, 0)).map_err(fail)?;
    let local = endpoint.local_addr().map_err(fail)?;
    Ok((endpoint, local))
}

/// Whether the connection can still carry requests.
pub(crate) fn is_usable(quic: &quinn::Connection) -> bool {
    quic.close_reason().is_none()
}

/// Runs one hop on an HTTP/3 connection's new stream.
pub(crate) async fn exchange(trace: &Arc<Trace>, conn: &mut Conn, req: &HopRequest, show_secrets: bool, keep_cookies: bool) -> HopOutcome {
    let Sender::H3 { send, quic, idle } = &mut conn.sender else { unreachable!("an HTTP/3 connection") };
    let idle = *idle;
    let hop = trace.hop();
    let conn_id = conn.id;
    let redact: &'static [&'static str] = if show_secrets { &[] } else { SECRET_HEADERS };
    let headers = request_headers(req, true);
    let mut builder = Request::builder().method(req.method.clone()).uri(req.url.as_str()).version(http::Version::HTTP_3);
    if let Some(h) = builder.headers_mut() {
        *h = headers;
    }
    let request = match builder.body(()) {
        Ok(r) => r,
        Err(e) => return failed(TraceError::new(Phase::Setup, FailureKind::BadRequest, e.to_string())),
    };
    let fields = if trace.records(kind::WROTE_HEADER_FIELD) { super::exchange::pseudo_and_fields(&request, redact) } else { Vec::new() };
    let sent = send.send_request(request).await;
    let at = trace.now_ns();
    let emit = |kind: EventKind| trace.emit_at(at, hop, Some(conn_id), kind);
    let mut stream = match sent {
        Ok(s) => s,
        Err(e) => {
            let err = stream_error(quic, idle, Phase::Send, FailureKind::SendFailed, &e.to_string());
            emit(EventKind::WroteRequest { body_bytes: 0, error: Some(err.clone()), clock: StampClock::Engine });
            return failed(err);
        }
    };
    for (name, value) in fields {
        emit(EventKind::WroteHeaderField { name, value });
    }
    emit(EventKind::WroteHeaders { clock: StampClock::Engine });
    let wrote: Result<(), h3::error::StreamError> = async {
        if !req.body.is_empty() {
            stream.send_data(req.body.clone()).await?;
        }
        stream.finish().await
    }
    .await;
    let written = if wrote.is_ok() { req.body.len() as u64 } else { 0 };
    let at = trace.now_ns();
    if let Err(e) = wrote {
        let err = stream_error(quic, idle, Phase::Send, FailureKind::SendFailed, &e.to_string());
        trace.emit_at(
            at,
            hop,
            Some(conn_id),
            EventKind::WroteRequest { body_bytes: written, error: Some(err.clone()), clock: StampClock::Engine },
        );
        return failed(err);
    }
    trace.emit_at(at, hop, Some(conn_id), EventKind::WroteRequest { body_bytes: written, error: None, clock: StampClock::Engine });

    let response = stream.recv_response().await;
    let at = trace.now_ns();
    let response = match response {
        Ok(r) => r,
        Err(e) => return failed(stream_error(quic, idle, Phase::Wait, FailureKind::Http3, &e.to_string())),
    };
    trace.emit_at(at, hop, Some(conn_id), EventKind::GotFirstResponseByte { clock: StampClock::Engine });
    let status = response.status().as_u16();
    let full = trace.records(kind::RESPONSE_HEADERS);
    let location = response.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    trace.emit_at(
        at,
        hop,
        Some(conn_id),
        EventKind::ResponseHeaders {
            status,
            version: if full { "HTTP/3".to_string() } else { String::new() },
            headers: if full { header_list(response.headers(), redact) } else { Vec::new() },
            header_bytes: head_size("HTTP/3", response.status(), response.headers()),
        },
    );
    let mut counted = super::decode::Body::new(response.headers(), req.decode);
    let mut error = None;
    'body: loop {
        match stream.recv_data().await {
            Ok(Some(mut chunk)) => {
                while chunk.has_remaining() {
                    let part = chunk.chunk();
                    let n = part.len();
                    if let Err(e) = counted.data(part) {
                        error = Some(e);
                        break 'body;
                    }
                    chunk.advance(n);
                }
            }
            Ok(None) => break,
            Err(e) => {
                let mut err = stream_error(quic, idle, Phase::Receive, FailureKind::Http3, &e.to_string());
                err.message = format!("after {} body bytes: {}", counted.received(), err.message);
                error = Some(err);
                break;
            }
        }
    }
    counted.end(trace, hop, conn_id, &mut error);
    let digest_challenge = (status == 401)
        .then(|| {
            let all = response.headers().get_all(http::header::WWW_AUTHENTICATE);
            all.iter()
                .filter_map(|v: &HeaderValue| v.to_str().ok())
                .find(|v| v.trim_start().get(..7).is_some_and(|s| s.eq_ignore_ascii_case("digest ")))
        })
        .flatten()
        .map(str::to_string);
    let set_cookies = if keep_cookies {
        response.headers().get_all(http::header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    } else {
        Vec::new()
    };
    // (The pool keeps HTTP/3 connections shared, as HTTP/2 ones: nothing goes back.)
    let reusable = if error.is_some() { Reuse::No("response body failed") } else { Reuse::Yes };
    let retry_after = super::exchange::retry_after(response.headers());
    HopOutcome { status: Some(status), location, error, reusable, set_cookies, digest_challenge, alt_svc_h3: None, retry_after }
}

/// A failed stream as a typed error: the connection's idle timeout (the server went silent),
/// its closing, or the stream's own error.
fn stream_error(quic: &quinn::Connection, idle: Duration, phase: Phase, kind: FailureKind, detail: &str) -> TraceError {
    match quic.close_reason() {
        Some(quinn::ConnectionError::TimedOut) => TraceError::new(
            phase,
            FailureKind::Timeout,
            format!("the QUIC connection timed out after {} ms of silence: {detail}", idle.as_millis()),
        ),
        Some(quinn::ConnectionError::Reset) => {
            TraceError::new(phase, FailureKind::Reset, format!("the server reset the connection: {detail}"))
        }
        Some(reason) => TraceError::new(phase, FailureKind::Closed, format!("the QUIC connection closed ({reason}): {detail}")),
        None => TraceError::new(phase, kind, detail.to_string()),
    }
}
