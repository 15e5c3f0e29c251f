//! `httptrace serve`: a local target server for trying out (and testing) the client.
//!
//! Two ports:
//! - plain: HTTP/1.1 and h2c with prior knowledge on the same port (detected by the preface);
//! - TLS: a self-signed certificate generated at start (SANs `localhost`, `127.0.0.1`, `::1`),
//!   ALPN `h2` and `http/1.1`, serving HTTP/2 or HTTP/1.1 per ALPN (HTTP/1.1 without ALPN).
//!
//! Endpoints (any method):
//! - `/` — 200 `hello from httptrace serve`;
//! - `/delay/{ms}` — waits `ms` milliseconds before sending the headers, then 200;
//! - `/bytes/{n}` — 200 with an `n`-byte body;
//! - `/drip?bytes=N&duration_ms=M` — headers at once, then `N` bytes (default 10) trickled evenly
//!   over `M` ms (default 1000) in `min(N, 10)` chunks;
//! - `/status/{code}` — that status (200–599), with a short body unless 204/205/304;
//! - `/redirect/{n}` — 302 to `/redirect/{n-1}`; `/redirect/0` is 200;
//! - `/redirect-to?url=X&status=S` — status `S` (default 302) with `Location: X`;
//! - `/cookies/set?NAME=VALUE&...` — 302 to `/headers`, with a `Set-Cookie: NAME=VALUE; Path=/`
//!   per pair;
//! - `/continue` — reads the whole body (so HTTP/1.1 `Expect: 100-continue` gets its
//!   `100 Continue`), then 200 `received N bytes`;
//! - `/early-hints` — on HTTP/1.1, `103 Early Hints` with `link: </style.css>; rel=preload`,
//!   then the 200 about 20 ms later; on HTTP/2 (and HTTP/1.0) just the 200;
//! - `/reset` — announces 100000 bytes, sends 1000, then aborts: the HTTP/1.1 connection is
//!   closed mid-body, the HTTP/2 stream is reset;
//! - `/headers` — 200 with the request headers as `name: value` lines;
//! - anything else — 404.
//!
//! With an HTTP/3 port (`--h3-port`), a QUIC endpoint serves the same endpoints over HTTP/3
//! with the same certificate, and the TLS listener's responses advertise it
//! (`alt-svc: h3=":PORT"`).

mod cert;
mod h3;
mod handlers;
mod io;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use self::io::SharedIo;

/// Time allowed for a client to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Options for the local target server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (default `127.0.0.1`).
    pub bind: IpAddr,
    /// Port of the plain HTTP/1.1 + h2c listener; 0 picks a free one.
    pub http_port: u16,
    /// Port of the TLS listener; 0 picks a free one.
    pub https_port: u16,
    /// Directory for `cert.pem` and `key.pem`; `None` uses a fresh directory under the system
    /// temp dir, removed when the server stops.
    pub cert_dir: Option<PathBuf>,
    /// UDP port of the HTTP/3 listener (0 picks a free one); `None`: no HTTP/3.
    pub h3_port: Option<u16>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions { bind: IpAddr::V4(Ipv4Addr::LOCALHOST), http_port: 0, https_port: 0, cert_dir: None, h3_port: None }
    }
}

/// A running server. Dropping it (or calling [`ServeHandle::shutdown`]) stops the listeners and
/// closes open connections.
#[derive(Debug)]
pub struct ServeHandle {
    /// Address of the plain (HTTP/1.1 + h2c) listener.
    pub http_addr: SocketAddr,
    /// Address of the TLS listener.
    pub https_addr: SocketAddr,
    /// Address of the HTTP/3 (UDP) listener, when there is one.
    pub h3_addr: Option<SocketAddr>,
    /// PEM of the self-signed certificate, usable as a trusted CA (`--cacert`).
    pub cert_path: PathBuf,
    /// PEM (PKCS#8) of the certificate's private key.
    pub key_path: PathBuf,
    /// Dropped to stop the accept loops.
    _stop: watch::Sender<()>,
    /// Temp directory we created for the certificate, removed on drop.
    temp_dir: Option<PathBuf>,
}

impl ServeHandle {
    /// Stops accepting connections and closes the open ones.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for ServeHandle {
    fn drop(&mut self) {
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Starts the server in background tasks of the current tokio runtime.
pub async fn start(opts: ServeOptions) -> Result<ServeHandle> {
    let cert = cert::generate(opts.cert_dir.as_deref())?;
    // From here on, a failure must not leave the temp dir behind.
    let cleanup = |e: anyhow::Error| {
        if let Some(dir) = &cert.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        e
    };
    let tls = cert::server_config(&cert).map_err(cleanup)?;
    let http = bind(opts.bind, opts.http_port, "HTTP").await.map_err(cleanup)?;
    let https = bind(opts.bind, opts.https_port, "HTTPS").await.map_err(cleanup)?;
    let http_addr = http.local_addr().context("reading the HTTP listener address").map_err(cleanup)?;
    let https_addr = https.local_addr().context("reading the HTTPS listener address").map_err(cleanup)?;

    let quic = match opts.h3_port {
        Some(port) => Some(h3::bind(&cert, SocketAddr::new(opts.bind, port)).map_err(cleanup)?),
        None => None,
    };
    let h3_addr = match &quic {
        Some(e) => Some(e.local_addr().context("reading the HTTP/3 listener address").map_err(cleanup)?),
        None => None,
    };
    let alt_svc = h3_addr.and_then(|a| http::HeaderValue::from_str(&format!("h3=\":{}\"; ma=86400", a.port())).ok());

    let (stop_tx, stop_rx) = watch::channel(());
    tokio::spawn(accept_loop(http, None, None, stop_rx.clone()));
    tokio::spawn(accept_loop(https, Some(TlsAcceptor::from(Arc::new(tls))), alt_svc, stop_rx.clone()));
    if let Some(endpoint) = quic {
        tokio::spawn(h3::accept_loop(endpoint, stop_rx));
    }
    Ok(ServeHandle {
        http_addr,
        https_addr,
        h3_addr,
        cert_path: cert.cert_path,
        key_path: cert.key_path,
        _stop: stop_tx,
        temp_dir: cert.temp_dir,
    })
}

async fn bind(ip: IpAddr, port: u16, what: &str) -> Result<TcpListener> {
    let addr = SocketAddr::new(ip, port);
    TcpListener::bind(addr).await.with_context(|| format!("binding the {what} listener to {addr}"))
}

/// Accepts connections until the handle is dropped, then aborts the open ones. `alt_svc`: the
/// `Alt-Svc` value every response carries.
async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, alt_svc: Option<http::HeaderValue>, mut stop: watch::Receiver<()>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    conns.spawn(serve_conn(tcp, tls.clone(), alt_svc.clone()));
                    while conns.try_join_next().is_some() {}
                }
                // E.g. out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
        }
    }
}

/// Which protocol to speak on a connection.
#[derive(Clone, Copy)]
enum Proto {
    /// Detect HTTP/2 prior knowledge by its preface, else HTTP/1.1.
    Auto,
    H1,
    H2,
}

async fn serve_conn(tcp: TcpStream, tls: Option<TlsAcceptor>, alt_svc: Option<http::HeaderValue>) {
    match tls {
        None => serve_io(tcp, Proto::Auto, alt_svc).await,
        Some(acceptor) => {
            let Ok(Ok(stream)) = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
                return;
            };
            let proto = match stream.get_ref().1.alpn_protocol() {
                Some(b"h2") => Proto::H2,
                _ => Proto::H1,
            };
            serve_io(stream, proto, alt_svc).await
        }
    }
}

async fn serve_io<T: AsyncRead + AsyncWrite + Unpin + Send + 'static>(io: T, proto: Proto, alt_svc: Option<http::HeaderValue>) {
    let (io, raw) = SharedIo::new(io);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    let builder = match proto {
        Proto::Auto => builder,
        Proto::H1 => builder.http1_only(),
        Proto::H2 => builder.http2_only(),
    };
    let service = service_fn(move |req| {
        let (raw, alt_svc) = (raw.clone(), alt_svc.clone());
        async move {
            let mut resp = handlers::handle(req, Some(raw)).await?;
            if let Some(v) = alt_svc {
                resp.headers_mut().insert(http::header::ALT_SVC, v);
            }
            Ok::<_, std::io::Error>(resp)
        }
    });
    let _ = builder.serve_connection(TokioIo::new(io), service).await;
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};
    use hyper::{Request, StatusCode};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn get_h1(addr: SocketAddr, path: &str) -> (StatusCode, Bytes) {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
        tokio::spawn(conn);
        let req = Request::get(path).header("host", addr.to_string()).body(Empty::<Bytes>::new()).unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let status = resp.status();
        (status, resp.into_body().collect().await.unwrap().to_bytes())
    }

    #[tokio::test]
    async fn http1_plain() {
        let server = start(ServeOptions::default()).await.unwrap();
        let (status, body) = get_h1(server.http_addr, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"hello from httptrace serve\n");
        let (status, body) = get_h1(server.http_addr, "/status/418").await;
        assert_eq!(status, StatusCode::IM_A_TEAPOT);
        assert_eq!(&body[..], b"status 418\n");
        let (status, body) = get_h1(server.http_addr, "/bytes/10").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.len(), 10);
        assert_eq!(get_h1(server.http_addr, "/nope").await.0, StatusCode::NOT_FOUND);
        assert!(server.cert_path.exists() && server.key_path.exists());
    }

    #[tokio::test]
    async fn h2_over_tls() {
        let server = start(ServeOptions::default()).await.unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(&server.cert_path).unwrap()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = TcpStream::connect(server.https_addr).await.unwrap();
        let tls =
            tokio_rustls::TlsConnector::from(Arc::new(config)).connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await.unwrap();
        tokio::spawn(conn);
        let uri = format!("https://localhost:{}/delay/50", server.https_addr.port());
        let started = Instant::now();
        let resp = sender.send_request(Request::get(uri).body(Empty::<Bytes>::new()).unwrap()).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.version(), hyper::Version::HTTP_2);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"delayed 50 ms\n");
    }

    #[tokio::test]
    async fn early_hints_before_final_response() {
        let server = start(ServeOptions::default()).await.unwrap();
        let mut tcp = TcpStream::connect(server.http_addr).await.unwrap();
        tcp.write_all(b"GET /early-hints HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
        let started = Instant::now();
        let (mut buf, mut seen_103, mut seen_200) = (Vec::new(), None, None);
        let mut chunk = [0u8; 4096];
        loop {
            let n = tcp.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if seen_103.is_none() && text.contains("HTTP/1.1 103 Early Hints\r\n") {
                seen_103 = Some(started.elapsed());
            }
            if seen_200.is_none() && text.contains("HTTP/1.1 200 OK\r\n") {
                seen_200 = Some(started.elapsed());
            }
        }
        let text = String::from_utf8_lossy(&buf);
        let (t103, t200) = (seen_103.expect("103 seen"), seen_200.expect("200 seen"));
        assert!(text.find("HTTP/1.1 103").unwrap() < text.find("HTTP/1.1 200").unwrap(), "{text}");
        assert!(text.contains("link: </style.css>; rel=preload"), "{text}");
        assert!(t200 >= t103 + Duration::from_millis(5), "103 at {t103:?}, 200 at {t200:?}");
    }
}
