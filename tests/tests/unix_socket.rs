//! `--unix-socket PATH`, side by side with curl against nginx listening on Unix domain sockets
//! (plain and TLS): the same `-w` values, the connect as its own phase with network `unix` and
//! the socket's path, no DNS, the URL's host in `Host` and in the TLS server name; a socket
//! nobody listens on is curl's exit 7; connections are reused in a load run.

use std::process::Command;

use httptrace::EventKind;
use httptrace_tests::nginx::{free_addr, http_conf, openssl_cert, Nginx};

use crate::plugins_support::{cli, parse_ndjson};

/// nginx with a plain and a TLS Unix socket (`plain.sock`, `tls.sock` in its directory), each
/// answering with the `Host` it was sent; a TCP port only to know when it is up.
fn nginx() -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().to_path_buf();
    openssl_cert(&p, "server", &[]);
    let ready = free_addr();
    let conf = http_conf(
        &p,
        &format!(
            "server {{ listen {ready}; listen unix:{d}/plain.sock; location / {{ return 200 \"host=$host\\n\"; }} }}\n\
             server {{ listen unix:{d}/tls.sock ssl; ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.key; \
             location / {{ return 200 \"tls host=$host\\n\"; }} }}\n",
            d = p.display(),
        ),
    );
    Nginx::run(dir, &conf, &[ready])
}

fn curl(args: &[&str]) -> (String, i32) {
    let out = Command::new("curl").arg("-s").args(args).output().expect("run curl");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
}

const STABLE: &str =
    "%{http_code} [%{remote_ip}] %{remote_port} [%{local_ip}] %{local_port} %{num_connects} %{size_download} %{url_effective}\\n";

#[test]
fn unix_socket_requests_read_as_curls_and_trace_the_socket_connect() {
    let nginx = nginx();
    let sock = |name: &str| nginx.dir.path().join(name).display().to_string();
    let (plain, tls) = (sock("plain.sock"), sock("tls.sock"));
    for (path, url, extra) in [(&plain, "http://example.test/a", vec![]), (&tls, "https://example.test/b", vec!["-k"])] {
        let mut theirs: Vec<&str> = vec!["-o", "/dev/null", "-w", STABLE, "--unix-socket", path];
        theirs.extend(&extra);
        theirs.push(url);
        let (expected, code) = curl(&theirs);
        assert_eq!(code, 0, "curl {theirs:?}");
        let mut ours: Vec<&str> = vec!["-s", "-w", STABLE, "--unix-socket", path];
        ours.extend(&extra);
        ours.push(url);
        let run = cli(&ours, &[]);
        assert_eq!((run.stdout.as_str(), run.code), (expected.as_str(), 0), "{}", run.stderr);

        // The trace: the socket's connect, no name resolved, the URL's host sent.
        let mut args: Vec<&str> = vec!["-p", "ndjson", "--unix-socket", path];
        args.extend(&extra);
        args.push(url);
        let run = cli(&args, &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let events = parse_ndjson(&run.stdout);
        assert!(!events.iter().any(|e| e.kind.name().starts_with("dns-")), "{}", run.stdout);
        let connects: Vec<(String, String, bool)> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::ConnectDone { network, addr, error, .. } => Some((network.clone(), addr.to_string(), error.is_none())),
                _ => None,
            })
            .collect();
        assert_eq!(connects, [("unix".to_string(), path.to_string(), true)]);
        let host = events.iter().find_map(|e| match &e.kind {
            EventKind::WroteHeaderField { name, value } if name == "host" => Some(value.clone()),
            _ => None,
        });
        assert_eq!(host.as_deref(), Some("example.test"));
        let remote = events.iter().find_map(|e| match &e.kind {
            EventKind::GotConn { remote_addr, .. } => Some(remote_addr.to_string()),
            _ => None,
        });
        assert_eq!(remote.as_deref(), Some(path.as_str()));
        let body = events.iter().find_map(|e| match &e.kind {
            EventKind::ResponseDone { body_bytes, .. } => Some(*body_bytes),
            _ => None,
        });
        let sent = if extra.is_empty() { "host=example.test\n".len() } else { "tls host=example.test\n".len() };
        assert_eq!(body, Some(sent as u64));
        if !extra.is_empty() {
            let sni = events.iter().find_map(|e| match &e.kind {
                EventKind::TlsHandshakeDone { server_name, error: None, .. } => Some(server_name.clone()),
                _ => None,
            });
            assert_eq!(sni.as_deref(), Some("example.test"));
            // The timeline shows the connect and TLS phases.
            let text = cli(&["-k", "--unix-socket", path, url], &[]);
            assert!(text.stdout.contains("TLS Handshake") && text.stdout.contains(path.as_str()), "{}", text.stdout);
        }
    }

    // Load mode over the socket: every request answered, the connections reused.
    let run = cli(&["-n", "40", "-c", "2", "-q", "-p", "ndjson", "--unix-socket", &plain, "http://example.test/"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = parse_ndjson(&run.stdout);
    let ok = events.iter().filter(|e| matches!(&e.kind, EventKind::RequestDone { status: Some(200), error: None, .. })).count();
    let dialled = events.iter().filter(|e| matches!(&e.kind, EventKind::ConnectDone { .. })).count();
    assert_eq!(ok, 40);
    assert!((1..=2).contains(&dialled), "{dialled} connections for 40 requests at -c 2");
    drop(nginx);
}

#[test]
fn a_unix_socket_nobody_listens_on_is_curls_exit_7_and_http3_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.sock").display().to_string();
    let (_, theirs) = curl(&["--unix-socket", &missing, "http://example.test/"]);
    assert_eq!(theirs, 7);
    let run = cli(&["-p", "ndjson", "--unix-socket", &missing, "http://example.test/"], &[]);
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("none.sock"), "{}", run.stderr);
    let failed = parse_ndjson(&run.stdout).iter().any(|e| {
        matches!(&e.kind, EventKind::ConnectDone { network, error: Some(err), .. } if network == "unix" && err.phase.as_str() == "connect")
    });
    assert!(failed, "{}", run.stdout);
    // A socket that exists but refuses (nothing accepts on it any more).
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let (_, theirs) = curl(&["--unix-socket", stale.to_str().unwrap(), "http://example.test/"]);
    let run = cli(&["--unix-socket", stale.to_str().unwrap(), "http://example.test/"], &[]);
    assert_eq!((run.code, theirs), (7, 7), "{}", run.stderr);
    // HTTP/3 cannot go over a Unix socket (curl 8 refuses it too, with its QUIC connect error).
    let run = cli(&["--http3-only", "--unix-socket", &missing, "https://example.test/"], &[]);
    assert_eq!(run.code, 96, "{}", run.stderr);
    assert!(run.stderr.contains("HTTP/3 cannot be used over UNIX domain sockets"), "{}", run.stderr);
}
