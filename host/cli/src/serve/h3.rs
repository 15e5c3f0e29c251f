//! HTTP/3 for `httptrace serve --h3-port`: a QUIC endpoint (quinn) with the TLS listener's
//! certificate, serving the same endpoints through h3. A request's body is read whole before
//! its handler runs; the response body is sent frame by frame as the handler yields it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::cert::GeneratedCert;
use super::handlers;

/// Binds the QUIC endpoint on `addr` (UDP).
pub(crate) fn bind(cert: &GeneratedCert, addr: SocketAddr) -> Result<quinn::Endpoint> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("choosing TLS 1.3 for QUIC")?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert_der.clone()], cert.key_der.clone_key())
        .context("loading the generated certificate into rustls")?;
    tls.alpn_protocols = vec![b"h3".to_vec()];
    tls.max_early_data_size = u32::MAX;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).context("QUIC server configuration")?;
    let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    quinn::Endpoint::server(config, addr).with_context(|| format!("binding the HTTP/3 (UDP) listener to {addr}"))
}

/// Accepts QUIC connections until `stop` fires, then closes the endpoint.
pub(crate) async fn accept_loop(endpoint: quinn::Endpoint, mut stop: watch::Receiver<()>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => {
                    conns.spawn(serve_conn(incoming));
                    while conns.try_join_next().is_some() {}
                }
                None => break,
            },
        }
    }
    endpoint.close(0u32.into(), b"server stopping");
}

async fn serve_conn(incoming: quinn::Incoming) {
    let Ok(conn) = incoming.await else { return };
    let Ok(mut h3) = h3::server::Connection::<_, Bytes>::new(h3_quinn::Connection::new(conn)).await else { return };
    let mut requests = JoinSet::new();
    while let Ok(Some(resolver)) = h3.accept().await {
        requests.spawn(async move {
            if let Ok((req, stream)) = resolver.resolve_request().await {
                let _ = serve_request(req, stream).await;
            }
        });
        while requests.try_join_next().is_some() {}
    }
}

async fn serve_request<S>(req: http::Request<()>, mut stream: h3::server::RequestStream<S, Bytes>) -> Result<()>
where
    S: h3::quic::BidiStream<Bytes>,
{
    let mut body = BytesMut::new();
    while let Some(mut chunk) = stream.recv_data().await? {
        body.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
    }
    let (parts, ()) = req.into_parts();
    let req = http::Request::from_parts(parts, Full::new(body.freeze()));
    let resp = handlers::handle(req, None).await?;
    let (parts, mut body) = resp.into_parts();
    stream.send_response(http::Response::from_parts(parts, ())).await?;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    stream.send_data(data).await?;
                }
            }
            // A body that fails (`/reset`) resets the stream, as over HTTP/2.
            Err(_) => {
                stream.stop_stream(h3::error::Code::H3_INTERNAL_ERROR);
                return Ok(());
            }
        }
    }
    stream.finish().await?;
    Ok(())
}
