//! TLS with rustls: SNI, ALPN, system/webpki roots or `--cacert`, `-k`, and handshake facts
//! (version, cipher, ALPN, resumption, peer certificates — also when verification fails) with a
//! typed error.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::event::{kind, CertSummary, EventKind, FailureKind, Phase, TraceError};
use crate::trace::Trace;

/// TLS settings shared by all connections of a client.
pub struct TlsSettings {
    provider: Arc<CryptoProvider>,
    verifier: Option<Arc<WebPkiServerVerifier>>,
    resumption: Resumption,
}

impl TlsSettings {
    /// Builds the settings: `cacert` replaces the default roots; `insecure` skips verification.
    /// Without `cacert`, the system's roots are used, or webpki's when the system has none.
    pub fn new(cacert: Option<&Path>, insecure: bool) -> Result<TlsSettings, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = if insecure {
            None
        } else {
            let mut roots = RootCertStore::empty();
            match cacert {
                Some(path) => {
                    let pem = std::fs::read(path).map_err(|e| format!("--cacert {}: {e}", path.display()))?;
                    let mut n = 0;
                    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                        let cert = cert.map_err(|e| format!("--cacert {}: bad PEM: {e}", path.display()))?;
                        roots.add(cert).map_err(|e| format!("--cacert {}: {e}", path.display()))?;
                        n += 1;
                    }
                    if n == 0 {
                        return Err(format!("--cacert {}: no certificate in the file", path.display()));
                    }
                }
                None => {
                    let native = rustls_native_certs::load_native_certs();
                    let (added, _) = roots.add_parsable_certificates(native.certs);
                    if added == 0 {
                        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                    }
                }
            }
            let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("TLS roots: {e}"))?;
            Some(v)
        };
        Ok(TlsSettings { provider, verifier, resumption: Resumption::in_memory_sessions(256) })
    }

    fn config(&self, alpn: &[&str], seen: Arc<Mutex<Vec<CertificateDer<'static>>>>) -> Result<ClientConfig, TraceError> {
        let verifier = Arc::new(RecordingVerifier { inner: self.verifier.clone(), provider: self.provider.clone(), seen });
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(FailureKind::Config, e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        config.resumption = self.resumption.clone();
        Ok(config)
    }

    /// Performs the handshake over `tcp`, emitting tls-handshake-start/-done.
    pub async fn handshake(
        &self,
        trace: &Trace,
        conn: u64,
        host: &str,
        alpn: &[&str],
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, TraceError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let server_name =
            ServerName::try_from(bare.to_string()).map_err(|e| tls_error(FailureKind::BadServerName, format!("{host}: {e}")))?;
        let sni = if matches!(server_name, ServerName::DnsName(_)) { bare.to_string() } else { String::new() };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let config = self.config(alpn, seen.clone())?;
        trace.emit(Some(conn), EventKind::TlsHandshakeStart { server_name: sni });
        let result = TlsConnector::from(Arc::new(config)).connect(server_name, tcp).await;
        let done_at = trace.now_ns();
        // Work after the timestamp: certificate parsing stays outside the measured phase.
        let certs =
            if trace.records(kind::TLS_HANDSHAKE_DONE) { seen.lock().unwrap().iter().map(|c| summarize(c)).collect() } else { Vec::new() };
        let (ev, out) = match result {
            Ok(stream) => {
                let (_, c) = stream.get_ref();
                let ev = EventKind::TlsHandshakeDone {
                    version: c.protocol_version().map(version_name).unwrap_or_default(),
                    cipher_suite: c.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())).unwrap_or_default(),
                    alpn: c.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned()),
                    resumed: matches!(c.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
                    server_name: bare.to_string(),
                    peer_certificates: certs,
                    error: None,
                    key_exchange_group: c.negotiated_key_exchange_group().map(|g| format!("{:?}", g.name())),
                };
                (ev, Ok(stream))
            }
            Err(e) => {
                let err = classify(host, &e);
                let ev = EventKind::TlsHandshakeDone {
                    version: String::new(),
                    cipher_suite: String::new(),
                    alpn: None,
                    resumed: false,
                    server_name: bare.to_string(),
                    peer_certificates: certs,
                    error: Some(err.clone()),
                    key_exchange_group: None,
                };
                (ev, Err(err))
            }
        };
        trace.emit_at(done_at, trace.hop(), Some(conn), ev);
        out
    }
}

fn version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        other => format!("{other:?}"),
    }
}

/// Wraps the real verifier (or none, for `-k`) and keeps a copy of the presented chain.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    seen: Arc<Mutex<Vec<CertificateDer<'static>>>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        {
            let mut seen = self.seen.lock().unwrap();
            seen.push(end_entity.clone().into_owned());
            seen.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        }
        match &self.inner {
            Some(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Maps a handshake failure to a typed error.
fn classify(host: &str, e: &io::Error) -> TraceError {
    let Some(rustls_err) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) else {
        let kind = match e.kind() {
            io::ErrorKind::UnexpectedEof => FailureKind::Closed,
            io::ErrorKind::ConnectionReset => FailureKind::Reset,
            _ => FailureKind::Io,
        };
        return tls_error(kind, format!("TLS handshake with {host} failed: {e}"));
    };
    let kind = match rustls_err {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => FailureKind::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => FailureKind::NameMismatch,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => FailureKind::Expired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => FailureKind::NotYetValid,
            CertificateError::Revoked => FailureKind::Revoked,
            CertificateError::BadSignature => FailureKind::BadSignature,
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => FailureKind::InvalidPurpose,
            _ => FailureKind::InvalidCertificate,
        },
        rustls::Error::NoCertificatesPresented => FailureKind::NoCertificate,
        rustls::Error::AlertReceived(_) => FailureKind::Alert,
        rustls::Error::NoApplicationProtocol => FailureKind::NoAlpn,
        rustls::Error::PeerIncompatible(_) => FailureKind::Incompatible,
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => FailureKind::Protocol,
        _ => FailureKind::Failed,
    };
    tls_error(kind, format!("TLS handshake with {host} failed: {rustls_err}"))
}

fn tls_error(kind: FailureKind, message: String) -> TraceError {
    TraceError::new(Phase::Tls, kind, message)
}

/// Summarises a DER certificate (subject, issuer, validity, SANs, serial).
pub fn summarize(der: &CertificateDer<'_>) -> CertSummary {
    use x509_parser::prelude::*;
    match X509Certificate::from_der(der.as_ref()) {
        Ok((_, cert)) => {
            let sans = cert
                .subject_alternative_name()
                .ok()
                .flatten()
                .map(|ext| {
                    ext.value
                        .general_names
                        .iter()
                        .filter_map(|n| match n {
                            GeneralName::DNSName(d) => Some(d.to_string()),
                            GeneralName::IPAddress(b) => ip_from_bytes(b),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            CertSummary {
                subject: cert.subject().to_string(),
                issuer: cert.issuer().to_string(),
                not_before: rfc3339(cert.validity().not_before.timestamp()),
                not_after: rfc3339(cert.validity().not_after.timestamp()),
                sans,
                serial: cert.raw_serial_as_string(),
            }
        }
        Err(e) => CertSummary {
            subject: format!("(unparsable certificate: {e})"),
            issuer: String::new(),
            not_before: String::new(),
            not_after: String::new(),
            sans: Vec::new(),
            serial: String::new(),
        },
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
        16 => <[u8; 16]>::try_from(b).ok().map(|a| std::net::Ipv6Addr::from(a).to_string()),
        _ => None,
    }
}

/// Formats Unix seconds as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
