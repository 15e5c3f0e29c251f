//! TLS with rustls: SNI, ALPN, system/webpki roots or `--cacert`, `-k`, and handshake facts
//! (version, cipher, ALPN, resumption, peer certificates — also when verification fails) with a
//! typed error.
//!
//! Resumption: one verifier and one session store per client, and one `ClientConfig` per ALPN
//! list, shared by every connection — rustls resumes a session only under the verifier it was
//! saved with, so a fresh verifier per connection (as this module once had) never resumed.
//! The certificates a handshake presents reach its own event through a slot the handshake's
//! future sets around each poll (the verifier runs inside those polls).

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::ClientCert;
use crate::event::{kind, CertSummary, EventKind, FailureKind, Phase, TraceError};
use crate::trace::Trace;

/// TLS settings shared by all connections of a client.
pub struct TlsSettings {
    provider: Arc<CryptoProvider>,
    verifier: Arc<RecordingVerifier>,
    /// Answers a server that asks for a client certificate (with `--cert`'s, or none).
    client_auth: Arc<ClientCertResolver>,
    resumption: Resumption,
    /// One config per ALPN list offered.
    configs: Mutex<HashMap<ConfigKey, Arc<ClientConfig>>>,
    /// HTTP/3's, made once.
    quic: std::sync::OnceLock<Result<quinn::ClientConfig, TraceError>>,
}

type Chain = Arc<Mutex<Vec<CertificateDer<'static>>>>;

/// A config's ALPN list, and whether it offers the client certificate.
type ConfigKey = (Vec<String>, bool);

thread_local! {
    /// Where the verifier puts the chain it is shown: the current handshake's, set around each
    /// poll of its future.
    static SEEN: RefCell<Option<Chain>> = const { RefCell::new(None) };
    /// Set by [`ClientCertResolver`] when a server asks for a client certificate during the
    /// current handshake's poll.
    static ASKED: std::cell::Cell<ClientCertAsk> = const { std::cell::Cell::new(ClientCertAsk { requested: false, sent: false }) };
}

/// The certificates a server is verified against: those of the PEM file `cacert`, or the
/// system's roots (webpki's when the system has none). An error names the file and why, for
/// the caller to prefix with its flag.
pub fn root_store(cacert: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match cacert {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| format!("{}: bad PEM: {e}", path.display()))?;
                roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("{}: no certificate in the file", path.display()));
            }
        }
        None => {
            let (added, _) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if added == 0 {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
        }
    }
    Ok(roots)
}

impl TlsSettings {
    /// Builds the settings: `cacert` replaces the default roots; `insecure` skips verification.
    /// Without `cacert`, the system's roots are used, or webpki's when the system has none.
    pub fn new(cacert: Option<&Path>, insecure: bool, client_cert: Option<&ClientCert>) -> Result<TlsSettings, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = client_cert.map(|c| load_client_cert(c, &provider)).transpose()?;
        let client_auth = Arc::new(ClientCertResolver(key.map(Arc::new)));
        let verifier = if insecure {
            None
        } else {
            let roots = root_store(cacert).map_err(|e| format!("--cacert {e}"))?;
            let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("TLS roots: {e}"))?;
            Some(v)
        };
        let verifier = Arc::new(RecordingVerifier { inner: verifier, provider: provider.clone() });
        Ok(TlsSettings {
            provider,
            verifier,
            client_auth,
            resumption: Resumption::in_memory_sessions(256),
            configs: Mutex::default(),
            quic: std::sync::OnceLock::new(),
        })
    }

    /// The config offering `alpn`, and the client certificate when `client_auth` (built once).
    fn config(&self, alpn: &[&str], client_auth: bool) -> Result<Arc<ClientConfig>, TraceError> {
        let key: ConfigKey = (alpn.iter().map(|p| p.to_string()).collect(), client_auth);
        if let Some(c) = self.configs.lock().unwrap().get(&key) {
            return Ok(c.clone());
        }
        let builder = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(FailureKind::Config, e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(self.verifier.clone());
        // A proxy is never offered the origin's certificate (curl has --proxy-cert apart).
        let resolver = if client_auth { self.client_auth.clone() } else { Arc::new(ClientCertResolver(None)) };
        let mut config = builder.with_client_cert_resolver(resolver);
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        config.resumption = self.resumption.clone();
        let config = Arc::new(config);
        self.configs.lock().unwrap().insert(key, config.clone());
        Ok(config)
    }

    /// Performs the handshake over `tcp`, emitting tls-handshake-start/-done; `offer_cert`:
    /// the client certificate (if any) is offered when asked for (to an origin, never to a
    /// proxy: curl has `--proxy-cert` apart).
    pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        trace: &Trace,
        conn: u64,
        host: &str,
        alpn: &[&str],
        tcp: S,
        offer_cert: bool,
    ) -> Result<TlsStream<S>, TraceError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let server_name =
            ServerName::try_from(bare.to_string()).map_err(|e| tls_error(FailureKind::BadServerName, format!("{host}: {e}")))?;
        let sni = if matches!(server_name, ServerName::DnsName(_)) { bare.to_string() } else { String::new() };
        let seen: Chain = Arc::default();
        let config = self.config(alpn, offer_cert)?;
        trace.emit(Some(conn), EventKind::TlsHandshakeStart { server_name: sni });
        let mut connect = std::pin::pin!(TlsConnector::from(config).connect(server_name, tcp));
        let mut asked = ClientCertAsk::default();
        let result = std::future::poll_fn(|cx| {
            SEEN.with(|s| *s.borrow_mut() = Some(seen.clone()));
            let r = connect.as_mut().poll(cx);
            SEEN.with(|s| *s.borrow_mut() = None);
            let a = ASKED.take();
            asked.requested |= a.requested;
            asked.sent |= a.sent;
            r
        })
        .await;
        let done_at = trace.now_ns();
        // Work after the timestamp: certificate parsing stays outside the measured phase.
        let mut chain = std::mem::take(&mut *seen.lock().unwrap());
        if chain.is_empty() {
            // A resumed session shows no certificate: the one it was first made with.
            if let Ok(stream) = &result {
                chain =
                    stream.get_ref().1.peer_certificates().map(|c| c.iter().map(|c| c.clone().into_owned()).collect()).unwrap_or_default();
            }
        }
        let certs = if trace.records(kind::TLS_HANDSHAKE_DONE) { chain.iter().map(summarize).collect() } else { Vec::new() };
        let (ev, out) = match result {
            Ok(stream) => {
                let (_, c) = stream.get_ref();
                let ev = EventKind::TlsHandshakeDone {
                    version: c.protocol_version().map(version_name).unwrap_or_default(),
                    cipher_suite: c.negotiated_cipher_suite().map(|s| iana_suite_name(s.suite())).unwrap_or_default(),
                    alpn: c.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned()),
                    resumed: matches!(c.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
                    server_name: bare.to_string(),
                    peer_certificates: certs,
                    error: None,
                    key_exchange_group: c.negotiated_key_exchange_group().map(|g| format!("{:?}", g.name())),
                    client_certificate_requested: asked.requested,
                    client_certificate_sent: asked.sent,
                };
                (ev, Ok(stream))
            }
            Err(e) => {
                // Parsed only when it matters: a lone certificate that failed verification.
                let self_signed = chain.len() == 1 && is_self_signed(&chain[0]);
                let mut err = classify(host, &e, self_signed);
                // Refused after asking for a certificate that was not sent.
                if asked.requested && !asked.sent && err.kind == FailureKind::Alert {
                    err.kind = FailureKind::ClientCertRequired;
                    err.message = format!("{} (the server asked for a client certificate: --cert)", err.message);
                }
                let ev = EventKind::TlsHandshakeDone {
                    version: String::new(),
                    cipher_suite: String::new(),
                    alpn: None,
                    resumed: false,
                    server_name: bare.to_string(),
                    peer_certificates: certs,
                    error: Some(err.clone()),
                    key_exchange_group: None,
                    client_certificate_requested: asked.requested,
                    client_certificate_sent: asked.sent,
                };
                (ev, Err(err))
            }
        };
        trace.emit_at(done_at, trace.hop(), Some(conn), ev);
        out
    }
}

/// QUIC version 1 (RFC 9000), the one quinn speaks.
const QUIC_V1: u32 = 1;

impl TlsSettings {
    /// The QUIC client configuration for HTTP/3: this client's verifier, roots and client
    /// certificate, ALPN `h3`, TLS 1.3 only (QUIC's), no session resumption; made on the first
    /// call (a client has one idle timeout).
    pub(crate) fn quic_config(&self, idle_timeout: std::time::Duration) -> Result<quinn::ClientConfig, TraceError> {
        self.quic.get_or_init(|| self.make_quic_config(idle_timeout)).clone()
    }

    fn make_quic_config(&self, idle_timeout: std::time::Duration) -> Result<quinn::ClientConfig, TraceError> {
        // No resumption over QUIC: quinn would not say whether a handshake resumed, and
        // `quic-handshake-done.resumed` must not claim what it cannot see.
        let mut tls = (*self.config(&["h3"], true)?).clone();
        tls.resumption = Resumption::disabled();
        let crypto =
            quinn::crypto::rustls::QuicClientConfig::try_from(Arc::new(tls)).map_err(|e| tls_error(FailureKind::Config, e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        let idle = quinn::IdleTimeout::try_from(idle_timeout).map_err(|e| tls_error(FailureKind::Config, e.to_string()))?;
        transport.max_idle_timeout(Some(idle));
        config.transport_config(Arc::new(transport));
        Ok(config)
    }

    /// Runs the QUIC handshake with `addr` (server name `host`) from `endpoint` (with its
    /// default client configuration, [`quic_config`](TlsSettings::quic_config)'s), emitting
    /// quic-handshake-start/-done: QUIC's handshake is TLS 1.3's, and its end is curl's
    /// `appconnect`. The peer's certificates are known once it succeeded (quinn verifies on its
    /// connection's task, out of this future's reach); the cipher suite not at all (quinn does
    /// not expose it); sessions are not resumed and 0-RTT is not attempted.
    pub(crate) async fn quic_handshake(
        &self,
        trace: &Trace,
        conn: u64,
        host: &str,
        endpoint: &quinn::Endpoint,
        addr: std::net::SocketAddr,
        limit: Option<std::time::Duration>,
    ) -> Result<quinn::Connection, TraceError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let is_name = matches!(ServerName::try_from(bare), Ok(ServerName::DnsName(_)));
        let sni = if is_name { bare.to_string() } else { String::new() };
        trace.emit(Some(conn), EventKind::QuicHandshakeStart { server_name: sni, quic_version: QUIC_V1 });
        let result = match endpoint.connect(addr, bare) {
            Ok(connecting) => match limit {
                None => connecting.await.map_err(|e| quic_error(host, addr, &e)),
                Some(limit) => match tokio::time::timeout(limit, connecting).await {
                    Ok(r) => r.map_err(|e| quic_error(host, addr, &e)),
                    Err(_) => Err(TraceError::new(
                        Phase::Tls,
                        FailureKind::Timeout,
                        format!("QUIC handshake with {host} ({addr}): no answer within {} ms", limit.as_millis()),
                    )),
                },
            },
            Err(e) => Err(tls_error(FailureKind::BadServerName, format!("QUIC connection to {host} ({addr}): {e}"))),
        };
        let done_at = trace.now_ns();
        let (ev, out) = match result {
            Ok(c) => {
                let alpn = c
                    .handshake_data()
                    .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
                    .and_then(|d| d.protocol)
                    .map(|p| String::from_utf8_lossy(&p).into_owned());
                let certs = if trace.records(kind::QUIC_HANDSHAKE_DONE) {
                    c.peer_identity()
                        .and_then(|id| id.downcast::<Vec<CertificateDer<'static>>>().ok())
                        .map(|chain| chain.iter().map(summarize).collect())
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                let ev = EventKind::QuicHandshakeDone {
                    quic_version: QUIC_V1,
                    alpn,
                    early_data_offered: false,
                    early_data_accepted: false,
                    resumed: false,
                    server_name: bare.to_string(),
                    peer_certificates: certs,
                    error: None,
                };
                (ev, Ok(c))
            }
            Err(err) => {
                let ev = EventKind::QuicHandshakeDone {
                    quic_version: if err.kind == FailureKind::Incompatible || err.kind == FailureKind::Timeout { 0 } else { QUIC_V1 },
                    alpn: None,
                    early_data_offered: false,
                    early_data_accepted: false,
                    resumed: false,
                    server_name: bare.to_string(),
                    peer_certificates: Vec::new(),
                    error: Some(err.clone()),
                };
                (ev, Err(err))
            }
        };
        trace.emit_at(done_at, trace.hop(), Some(conn), ev);
        out
    }
}

/// Maps a failed QUIC handshake to a typed error: no answer (UDP blocked, or no HTTP/3 server:
/// quinn's idle timeout), a version the server does not speak, a certificate rustls refused
/// (the same kinds as over TCP), or the server closing the connection (ALPN `h3` refused).
fn quic_error(host: &str, addr: std::net::SocketAddr, e: &quinn::ConnectionError) -> TraceError {
    use quinn::ConnectionError as C;
    let what = format!("QUIC handshake with {host} ({addr})");
    match e {
        C::TimedOut => {
            TraceError::new(Phase::Tls, FailureKind::Timeout, format!("{what}: no answer (UDP blocked, or no HTTP/3 server on that port)"))
        }
        C::VersionMismatch => tls_error(FailureKind::Incompatible, format!("{what}: the server speaks no QUIC version we offer")),
        C::TransportError(t) => {
            let reason = t.reason.as_str();
            // rustls' refusal, as quinn words it ("invalid peer certificate: UnknownIssuer").
            let kind = if reason.contains("UnknownIssuer") {
                FailureKind::UnknownIssuer
            } else if reason.contains("NotValidForName") {
                FailureKind::NameMismatch
            } else if reason.contains("Expired") {
                FailureKind::Expired
            } else if reason.contains("NotValidYet") {
                FailureKind::NotYetValid
            } else if reason.contains("certificate") {
                FailureKind::InvalidCertificate
            } else {
                FailureKind::Protocol
            };
            tls_error(kind, format!("{what} failed: {t}"))
        }
        C::ConnectionClosed(c) => {
            // CRYPTO_ERROR 0x100 + TLS alert 120 (no_application_protocol).
            let kind = if u64::from(c.error_code) == 0x178 { FailureKind::NoAlpn } else { FailureKind::Alert };
            tls_error(kind, format!("{what}: the server closed the connection: {c}"))
        }
        C::Reset => tls_error(FailureKind::Reset, format!("{what}: the server reset the connection")),
        other => tls_error(FailureKind::Failed, format!("{what} failed: {other}")),
    }
}

fn version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        other => format!("{other:?}"),
    }
}

/// A cipher suite by its IANA name: rustls calls TLS 1.3's `TLS13_AES_256_GCM_SHA384`, the
/// registry (and Go, curl, openssl's `-ciphersuites`) `TLS_AES_256_GCM_SHA384`; TLS 1.2's
/// names are the registry's already.
fn iana_suite_name(suite: rustls::CipherSuite) -> String {
    let name = format!("{suite:?}");
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

/// Whether a certificate names itself as its issuer (`openssl req -x509`).
fn is_self_signed(der: &CertificateDer<'_>) -> bool {
    use x509_parser::prelude::*;
    X509Certificate::from_der(der.as_ref()).is_ok_and(|(_, c)| c.subject().as_raw() == c.issuer().as_raw())
}

/// Reads a client certificate chain and its key into a signing key of `provider`'s.
pub(crate) fn load_client_cert(c: &ClientCert, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let read = |p: &Path, what: &str| std::fs::read(p).map_err(|e| format!("{what} {}: {e}", p.display()));
    let cert_bytes = read(&c.cert, "--cert")?;
    let shown = c.cert.display();
    let chain: Vec<CertificateDer<'static>> = if c.cert_der {
        vec![CertificateDer::from(cert_bytes.clone())]
    } else {
        rustls_pemfile::certs(&mut cert_bytes.as_slice()).collect::<Result<_, _>>().map_err(|e| format!("--cert {shown}: bad PEM: {e}"))?
    };
    if chain.is_empty() {
        return Err(format!("--cert {shown}: no certificate in the file"));
    }
    let (key_bytes, key_flag, key_path, key_der) = match &c.key {
        Some(k) => (read(k, "--key")?, "--key", k.display().to_string(), c.key_der),
        None => (cert_bytes.clone(), "--cert", shown.to_string(), c.cert_der),
    };
    let encrypted = encrypted_pkcs8(&key_bytes, key_der);
    let key = if let Some(der) = encrypted {
        let Some(password) = &c.password else {
            return Err(format!("{key_flag} {key_path}: the key is encrypted: give its password (--cert FILE:PASSWORD, or --pass)"));
        };
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).map_err(|e| format!("{key_flag} {key_path}: {e}"))?;
        let plain = info
            .decrypt(password.as_bytes())
            .map_err(|_| format!("{key_flag} {key_path}: cannot decrypt the key (wrong password, or an unsupported cipher)"))?;
        rustls::pki_types::PrivateKeyDer::Pkcs8(plain.as_bytes().to_vec().into())
    } else if key_der {
        rustls::pki_types::PrivateKeyDer::try_from(key_bytes).map_err(|e| format!("{key_flag} {key_path}: {e}"))?
    } else if String::from_utf8_lossy(&key_bytes).contains("Proc-Type: 4,ENCRYPTED") {
        // OpenSSL's traditional form, which curl reads too.
        return Err(format!(
            "{key_flag} {key_path}: the key is encrypted in OpenSSL's traditional form, which is not supported (convert it: \
             openssl pkcs8 -topk8 -in KEY -out KEY8, or decrypt it: openssl pkey -in KEY -out PLAIN)"
        ));
    } else {
        match rustls_pemfile::private_key(&mut key_bytes.as_slice()) {
            Ok(Some(k)) => k,
            Ok(None) if String::from_utf8_lossy(&key_bytes).contains("ENCRYPTED") => {
                return Err(format!("{key_flag} {key_path}: the key is encrypted in a form that is not supported (PKCS#8 is)"));
            }
            Ok(None) => {
                return Err(format!(
                    "{key_flag} {key_path}: no private key in the file{}",
                    if c.key.is_none() { " (give it with --key)" } else { "" }
                ))
            }
            Err(e) => return Err(format!("{key_flag} {key_path}: bad PEM: {e}")),
        }
    };
    let signer = provider.key_provider.load_private_key(key).map_err(|e| format!("{key_flag} {key_path}: {e}"))?;
    let certified = CertifiedKey::new(chain, signer);
    certified.keys_match().map_err(|e| format!("--cert {shown}: the key does not match the certificate: {e}"))?;
    Ok(certified)
}

/// The DER of an encrypted PKCS#8 key (PEM `ENCRYPTED PRIVATE KEY`, or DER that parses as
/// one), if the key file holds one.
fn encrypted_pkcs8(bytes: &[u8], der: bool) -> Option<Vec<u8>> {
    use pkcs8::der::pem::PemLabel;
    if der {
        return pkcs8::EncryptedPrivateKeyInfo::try_from(bytes).is_ok().then(|| bytes.to_vec());
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let label = pkcs8::EncryptedPrivateKeyInfo::PEM_LABEL;
    let begin = text.find(&format!("-----BEGIN {label}-----"))?;
    let end_marker = format!("-----END {label}-----");
    let end = text[begin..].find(&end_marker)? + begin + end_marker.len();
    let (_, doc) = pkcs8::der::SecretDocument::from_pem(&text[begin..end]).ok()?;
    Some(doc.as_bytes().to_vec())
}

/// Offers the client certificate (if there is one) whenever a server asks for one it can sign
/// for, and notes in the current handshake's slot ([`ASKED`]) that it was asked, and whether
/// one was sent.
#[derive(Debug)]
struct ClientCertResolver(Option<Arc<CertifiedKey>>);

impl ResolvesClientCert for ClientCertResolver {
    fn resolve(&self, _hints: &[&[u8]], schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        let sent = self.0.as_ref().filter(|k| k.key.choose_scheme(schemes).is_some()).cloned();
        ASKED.with(|a| a.set(ClientCertAsk { requested: true, sent: sent.is_some() }));
        sent
    }

    fn has_certs(&self) -> bool {
        self.0.is_some()
    }
}

/// Whether a server asked for a client certificate, and whether one was sent.
#[derive(Debug, Clone, Copy, Default)]
struct ClientCertAsk {
    requested: bool,
    sent: bool,
}

/// Wraps the real verifier (or none, for `-k`) and keeps a copy of the presented chain in the
/// current handshake's slot ([`SEEN`]).
#[derive(Debug)]
struct RecordingVerifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
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
        SEEN.with(|slot| {
            if let Some(seen) = &*slot.borrow() {
                let mut seen = seen.lock().unwrap();
                seen.push(end_entity.clone().into_owned());
                seen.extend(intermediates.iter().map(|c| c.clone().into_owned()));
            }
        });
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

/// Maps a handshake failure to a typed error; `self_signed`: the server presented one
/// certificate that names itself as its issuer.
fn classify(host: &str, e: &io::Error, self_signed: bool) -> TraceError {
    let Some(rustls_err) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) else {
        let kind = match e.kind() {
            io::ErrorKind::UnexpectedEof => FailureKind::Closed,
            io::ErrorKind::ConnectionReset => FailureKind::Reset,
            _ => FailureKind::Io,
        };
        return tls_error(kind, format!("TLS handshake with {host} failed: {e}"));
    };
    let kind = match rustls_err {
        // Not trusted, or a CA certificate used as the server's own (what `openssl req -x509`
        // makes by default): curl says "self-signed certificate".
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::Other(_)) if self_signed => {
            FailureKind::SelfSigned
        }
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
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired) => FailureKind::ClientCertRequired,
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

    #[test]
    fn cipher_suites_have_their_iana_names() {
        assert_eq!(iana_suite_name(rustls::CipherSuite::TLS13_AES_256_GCM_SHA384), "TLS_AES_256_GCM_SHA384");
        assert_eq!(iana_suite_name(rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256), "TLS_CHACHA20_POLY1305_SHA256");
        assert_eq!(iana_suite_name(rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    }
}
