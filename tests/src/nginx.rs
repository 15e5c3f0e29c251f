//! A real nginx (Debian's package) on loopback, for the tests that check httptrace against a
//! server that is not ours: TLS session resumption (1.2 and 1.3), self-signed certificates.
//! `scripts/test.sh` installs nginx when it is missing.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nginx; stopped when dropped.
pub struct Nginx {
    child: Child,
    /// Its prefix directory (config, certificates, logs).
    pub dir: tempfile::TempDir,
}

/// One `server` block: a loopback port, and what it serves.
pub struct Site {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `ssl_protocols` (`TLSv1.2`, `TLSv1.3`, or both), or `None` for plain HTTP.
    pub tls: Option<&'static str>,
    /// Certificate and key file names in the prefix directory.
    pub cert: &'static str,
    /// Key file name.
    pub key: &'static str,
    /// A CA file (in the prefix directory) that client certificates must chain to: the site
    /// then requires one (`ssl_verify_client on`; none sent, nginx answers 400).
    pub client_ca: Option<&'static str>,
}

/// A free loopback port (bound then released: nginx takes it a moment later).
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nginx is not installed: scripts/test.sh installs it (Debian: apt-get install nginx-light or nginx)")
}

/// Makes a certificate with the `openssl` command line: `extra` are more `req` arguments
/// (`-addext ...`). Writes `NAME.pem` and `NAME.key` into `dir`.
pub fn openssl_cert(dir: &Path, name: &str, extra: &[&str]) {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.pem")))
        .args(extra)
        .output()
        .expect("running openssl");
    assert!(out.status.success(), "openssl req failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A whole nginx configuration with `http` holding `inside` (its `server` blocks and
/// settings): one process in the foreground, its pid, log and temporary files in `dir`.
pub fn http_conf(dir: &Path, inside: &str) -> String {
    format!(
        "daemon off; master_process off; worker_processes 1; pid {t}/nginx.pid; error_log {t}/error.log warn;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log off; client_body_temp_path {t}/body; proxy_temp_path {t}/proxy; \
         fastcgi_temp_path {t}/fastcgi; uwsgi_temp_path {t}/uwsgi; scgi_temp_path {t}/scgi;\n{inside}}}\n",
        t = dir.display(),
    )
}

impl Nginx {
    /// Starts nginx serving `sites` from `dir` (which holds their certificates); waits until
    /// every port accepts.
    pub fn start(dir: tempfile::TempDir, sites: &[Site]) -> Nginx {
        let p = dir.path();
        let mut servers = String::new();
        for s in sites {
            let listen = match s.tls {
                Some(_) => format!("listen {} ssl;", s.addr),
                None => format!("listen {};", s.addr),
            };
            let tls = match s.tls {
                Some(protocols) => format!(
                    "ssl_certificate {}; ssl_certificate_key {}; ssl_protocols {protocols}; \
                     ssl_session_cache shared:SSL:1m; ssl_session_tickets on;",
                    p.join(s.cert).display(),
                    p.join(s.key).display()
                ),
                None => String::new(),
            };
            let tls = match s.client_ca {
                Some(ca) => format!("{tls} ssl_client_certificate {}; ssl_verify_client on;", p.join(ca).display()),
                None => tls,
            };
            servers.push_str(&format!("server {{ {listen} {tls} location / {{ return 200 \"ok\\n\"; }} }}\n"));
        }
        let conf = http_conf(p, &servers);
        let addrs: Vec<SocketAddr> = sites.iter().map(|s| s.addr).collect();
        Nginx::run(dir, &conf, &addrs)
    }

    /// Starts nginx with the configuration `conf` (its prefix `dir`); waits until every one of
    /// `addrs` accepts.
    pub fn run(dir: tempfile::TempDir, conf: &str, addrs: &[SocketAddr]) -> Nginx {
        let p = dir.path();
        std::fs::write(p.join("nginx.conf"), conf).unwrap();
        let child = Command::new(binary())
            .arg("-p")
            .arg(p)
            .arg("-c")
            .arg(p.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting nginx");
        let mut nginx = Nginx { child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        for addr in addrs {
            while TcpStream::connect(addr).is_err() {
                if let Ok(Some(status)) = nginx.child.try_wait() {
                    let log = std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default();
                    panic!("nginx exited ({status}): {log}");
                }
                assert!(Instant::now() < deadline, "nginx did not listen on {addr} within 10 s");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        nginx
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx's stream module ending TLS in front of each of `upstreams` (a proxy or a collector
/// spoken to over TLS), on free loopback ports: the nginx and the ports, in order. The
/// certificate, `tls.pem` in its directory, is made with `cert_extra` (`openssl req` arguments).
pub fn tls_in_front(upstreams: &[SocketAddr], cert_extra: &[&str]) -> (Nginx, Vec<SocketAddr>) {
    let dir = tempfile::tempdir().unwrap();
    openssl_cert(dir.path(), "tls", cert_extra);
    let p = dir.path();
    let addrs: Vec<SocketAddr> = upstreams.iter().map(|_| free_addr()).collect();
    let servers: String = addrs.iter().zip(upstreams).map(|(a, u)| format!("server {{ listen {a} ssl; proxy_pass {u}; }}\n")).collect();
    let conf = format!(
        "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n\
         daemon off; master_process off; worker_processes 1; pid {pid}; error_log {log} warn;\n\
         events {{ worker_connections 64; }}\n\
         stream {{ ssl_certificate {cert}; ssl_certificate_key {key};\n{servers}}}\n",
        pid = p.join("nginx.pid").display(),
        log = p.join("error.log").display(),
        cert = p.join("tls.pem").display(),
        key = p.join("tls.key").display(),
    );
    (Nginx::run(dir, &conf, &addrs), addrs)
}
