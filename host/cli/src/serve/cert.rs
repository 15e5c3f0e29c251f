//! The self-signed certificate of the TLS port, generated at start and written as PEM.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Names the certificate is valid for.
const SANS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A freshly generated certificate, its key, and where both were written.
pub(crate) struct GeneratedCert {
    /// DER of the certificate.
    pub cert_der: CertificateDer<'static>,
    /// PKCS#8 DER of the private key.
    pub key_der: PrivateKeyDer<'static>,
    /// Path of `cert.pem`.
    pub cert_path: PathBuf,
    /// Path of `key.pem`.
    pub key_path: PathBuf,
    /// The directory, if we created it (and so should remove it when done).
    pub temp_dir: Option<PathBuf>,
}

/// Generates a self-signed certificate (SANs `localhost`, `127.0.0.1`, `::1`) and writes
/// `cert.pem` and `key.pem` into `cert_dir` (created if missing), or into a fresh directory under
/// the system temp dir when `cert_dir` is `None`.
pub(crate) fn generate(cert_dir: Option<&Path>) -> Result<GeneratedCert> {
    let key = KeyPair::generate().context("generating the TLS key pair")?;
    let mut params =
        CertificateParams::new(SANS.iter().map(|s| s.to_string()).collect::<Vec<_>>()).context("building the certificate parameters")?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "httptrace serve");
    params.distinguished_name = dn;
    let cert = params.self_signed(&key).context("self-signing the certificate")?;

    let (dir, temp_dir) = match cert_dir {
        Some(dir) => {
            fs::create_dir_all(dir).with_context(|| format!("creating certificate directory {}", dir.display()))?;
            (dir.to_path_buf(), None)
        }
        None => {
            let dir = fresh_temp_dir()?;
            (dir.clone(), Some(dir))
        }
    };
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    fs::write(&cert_path, cert.pem()).with_context(|| format!("writing certificate {}", cert_path.display()))?;
    write_private(&key_path, key.serialize_pem().as_bytes()).with_context(|| format!("writing private key {}", key_path.display()))?;

    Ok(GeneratedCert {
        cert_der: cert.der().clone(),
        key_der: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        cert_path,
        key_path,
        temp_dir,
    })
}

/// A rustls server configuration (ring provider) serving `cert` with ALPN `h2`, `http/1.1`.
pub(crate) fn server_config(cert: &GeneratedCert) -> Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert_der.clone()], cert.key_der.clone_key())
        .context("loading the generated certificate into rustls")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Creates a new, empty directory under the system temp dir.
fn fresh_temp_dir() -> Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let mut last_err = None;
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("httptrace-serve-{}-{nanos:09}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(e).with_context(|| format!("creating temp directory {}", dir.display())),
        }
    }
    Err(last_err.expect("loop ran")).context("creating a temp directory for the certificate")
}

/// Writes a file readable only by its owner (on Unix).
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(data)
}
