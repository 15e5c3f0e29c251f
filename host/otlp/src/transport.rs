//! One collector endpoint: a kept-alive HTTP/1.1 connection for `http/protobuf`, HTTP/2 for
//! gRPC (unary calls: the 5-byte length prefix and the `grpc-status` trailer are all OTLP's
//! use of gRPC needs), over TLS for `https://`.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;

use crate::config::{Endpoint, Protocol, Signal};
use crate::error::Error;

/// Why a send did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Worth trying again (connection errors, 429, 502–504, gRPC UNAVAILABLE, …).
    Retry(String),
    /// The collector refused the data; sending it again would not help.
    Permanent(String),
}

enum Conn {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// A connection to one endpoint, made when first needed and again after a failure.
pub(crate) struct Transport {
    endpoint: Endpoint,
    signal: Signal,
    tls: Option<Arc<ClientConfig>>,
    conn: Option<Conn>,
}

/// The TLS settings for the collector: `cacert` replaces the system's roots (or webpki's when
/// the system has none), as for a server.
pub(crate) fn tls_config(cacert: Option<&std::path::Path>) -> Result<Arc<ClientConfig>, Error> {
    let roots = httptrace::engine::root_store(cacert).map_err(|e| Error::tls("--otlp-cacert", e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::tls("--otlp-cacert", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl Transport {
    pub(crate) fn new(endpoint: Endpoint, signal: Signal, tls: Option<Arc<ClientConfig>>) -> Transport {
        Transport { endpoint, signal, tls, conn: None }
    }

    /// The URL data goes to, for messages (a password in it masked).
    pub(crate) fn url(&self) -> String {
        let mut url = self.endpoint.url.clone();
        if url.password().is_some() {
            let _ = url.set_password(Some("[redacted]"));
        }
        match self.endpoint.protocol {
            Protocol::HttpProtobuf => url.to_string(),
            Protocol::Grpc => format!("{}{}", url.as_str().trim_end_matches('/'), self.signal.grpc_path()),
        }
    }

    async fn connect(&mut self, timeout: Duration) -> Result<(), Failure> {
        let url = &self.endpoint.url;
        let host = url.host_str().unwrap_or("localhost").trim_start_matches('[').trim_end_matches(']').to_string();
        let port = url.port_or_known_default().unwrap_or(4318);
        let grpc = self.endpoint.protocol == Protocol::Grpc;
        let tcp = tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port)))
            .await
            .map_err(|_| Failure::Retry(format!("cannot connect to {host}:{port}: timed out")))?
            .map_err(|e| Failure::Retry(format!("cannot connect to {host}:{port}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let conn = if url.scheme() == "https" {
            let mut config = (*self.tls.clone().ok_or_else(|| Failure::Permanent("no TLS settings".into()))?).clone();
            config.alpn_protocols = vec![if grpc { b"h2".to_vec() } else { b"http/1.1".to_vec() }];
            let name = ServerName::try_from(host.clone()).map_err(|e| Failure::Permanent(format!("TLS to {host}: {e}")))?;
            let tls = tokio::time::timeout(timeout, tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp))
                .await
                .map_err(|_| Failure::Retry(format!("TLS to {host}:{port}: timed out")))?
                .map_err(|e| {
                    // A certificate the roots do not vouch for will not heal by retrying; a
                    // connection cut during the handshake (a collector restarting) may.
                    let why = format!("TLS to {host}:{port} failed: {e}");
                    let bad_cert = e
                        .get_ref()
                        .and_then(|i| i.downcast_ref::<rustls::Error>())
                        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented));
                    if bad_cert {
                        Failure::Permanent(why)
                    } else {
                        Failure::Retry(why)
                    }
                })?;
            self.handshake(TokioIo::new(tls), grpc).await?
        } else {
            self.handshake(TokioIo::new(tcp), grpc).await?
        };
        self.conn = Some(conn);
        Ok(())
    }

    async fn handshake<IO>(&self, io: TokioIo<IO>, grpc: bool) -> Result<Conn, Failure>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let fail = |e: hyper::Error| Failure::Retry(format!("HTTP handshake with the collector failed: {e}"));
        if grpc {
            let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await.map_err(fail)?;
            tokio::spawn(conn);
            Ok(Conn::H2(send))
        } else {
            let (send, conn) = hyper::client::conn::http1::handshake(io).await.map_err(fail)?;
            tokio::spawn(conn);
            Ok(Conn::H1(send))
        }
    }

    /// Sends one encoded export request; `timeout` bounds the whole exchange.
    pub(crate) async fn send(&mut self, message: Bytes, timeout: Duration) -> Result<Bytes, Failure> {
        match tokio::time::timeout(timeout, self.exchange(message, timeout)).await {
            Ok(r) => {
                if matches!(r, Err(Failure::Retry(_))) {
                    self.conn = None;
                }
                r
            }
            Err(_) => {
                self.conn = None;
                Err(Failure::Retry(format!("no answer within {} ms", timeout.as_millis())))
            }
        }
    }

    /// Sends one export request; the answer's message (for gRPC, without its frame).
    async fn exchange(&mut self, message: Bytes, timeout: Duration) -> Result<Bytes, Failure> {
        let usable = match &mut self.conn {
            Some(Conn::H1(s)) => s.ready().await.is_ok(),
            Some(Conn::H2(s)) => s.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            self.conn = None;
            self.connect(timeout).await?;
        }
        let url = &self.endpoint.url;
        let authority = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let grpc = self.endpoint.protocol == Protocol::Grpc;
        let mut req = http::Request::builder().method("POST");
        if grpc {
            let uri = format!("{}://{authority}{}", url.scheme(), self.signal.grpc_path());
            req = req.uri(uri).header("content-type", "application/grpc").header("te", "trailers");
        } else {
            let path = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_string(),
            };
            req = req.uri(path).header("host", authority).header("content-type", "application/x-protobuf");
        }
        req = req.header("user-agent", concat!("httptrace/", env!("CARGO_PKG_VERSION")));
        let message = if self.endpoint.gzip {
            use std::io::Write;
            let mut z = flate2::write::GzEncoder::new(Vec::with_capacity(message.len() / 4), flate2::Compression::fast());
            z.write_all(&message).and_then(|()| z.finish()).map(Bytes::from).map_err(|e| Failure::Permanent(format!("gzip: {e}")))?
        } else {
            message
        };
        if self.endpoint.gzip {
            req = req.header(if grpc { "grpc-encoding" } else { "content-encoding" }, "gzip");
        }
        for (k, v) in &self.endpoint.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let body = if grpc {
            let mut framed = BytesMut::with_capacity(message.len() + 5);
            // The frame's compressed flag, then its length.
            framed.put_u8(u8::from(self.endpoint.gzip));
            framed.put_u32(message.len() as u32);
            framed.put_slice(&message);
            framed.freeze()
        } else {
            message
        };
        let req = req.body(Full::new(body)).map_err(|e| Failure::Permanent(format!("bad export request: {e}")))?;
        let sent = match self.conn.as_mut() {
            Some(Conn::H1(s)) => s.send_request(req).await,
            Some(Conn::H2(s)) => s.send_request(req).await,
            None => return Err(Failure::Retry("no connection".into())),
        };
        let resp = sent.map_err(|e| Failure::Retry(format!("sending to the collector failed: {e}")))?;
        let status = resp.status();
        let (parts, body) = resp.into_parts();
        let collected = body.collect().await.map_err(|e| Failure::Retry(format!("reading the collector's answer failed: {e}")))?;
        if grpc {
            let trailers = collected.trailers().cloned().unwrap_or_default();
            let field =
                |name: &str| trailers.get(name).or_else(|| parts.headers.get(name)).and_then(|v| v.to_str().ok()).map(str::to_string);
            if !status.is_success() {
                return Err(http_failure(status));
            }
            let code: u32 = field("grpc-status").and_then(|s| s.trim().parse().ok()).unwrap_or(2);
            if code == 0 {
                // One frame, uncompressed (we did not offer compressed answers).
                let body = collected.to_bytes();
                return Ok(if body.len() >= 5 && body[0] == 0 { body.slice(5..) } else { Bytes::new() });
            }
            let message = field("grpc-message")
                .map(|m| percent_encoding::percent_decode_str(&m).decode_utf8_lossy().into_owned())
                .unwrap_or_default();
            let why = format!("the collector answered gRPC status {code}{}{message}", if message.is_empty() { "" } else { ": " });
            // OTLP/gRPC: these codes are retryable, the rest are not.
            return Err(if matches!(code, 1 | 4 | 8 | 10 | 11 | 14 | 15) { Failure::Retry(why) } else { Failure::Permanent(why) });
        }
        if status.is_success() {
            Ok(collected.to_bytes())
        } else {
            Err(http_failure(status))
        }
    }
}

/// OTLP/HTTP: 429, 502, 503 and 504 are retryable; other errors are not.
fn http_failure(status: http::StatusCode) -> Failure {
    let why = format!("the collector answered {status}");
    if matches!(status.as_u16(), 429 | 502 | 503 | 504) {
        Failure::Retry(why)
    } else {
        Failure::Permanent(why)
    }
}
