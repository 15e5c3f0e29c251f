//! Broken servers through the `httptrace` binary (the engine-level cases are in
//! `engine_failures.rs`): real sockets on loopback that reset mid-status-line, send headers too
//! large to parse, present an expired certificate, or never answer. Each run prints the partial
//! trace (`-p ndjson`: every event up to the failure, then `request-done` with the typed error
//! naming the phase), says why in one stderr line, and exits with curl's code.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::plugins_support::*;
use httptrace::{Event, EventKind, Phase, TraceError};
use httptrace_cli::exit;

/// Serves every connection on a thread of its own with `handle`, after reading the request head.
fn raw_server(handle: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut conn = conn;
                if crate::plugins_support::read_head(&mut conn).is_some() {
                    handle(conn);
                }
            });
        }
    });
    addr
}

/// Closes with a TCP RST instead of a FIN (SO_LINGER with a zero timeout).
fn reset(conn: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: a valid socket and a pointer to a `linger` of the size passed.
    let r = unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
    drop(conn);
}

/// `httptrace -p ndjson EXTRA… URL`: the run and the events it printed.
fn trace(extra: &[&str], url: &str) -> (Run, Vec<Event>) {
    let mut args = vec!["-p", "ndjson"];
    args.extend_from_slice(extra);
    args.push(url);
    let run = cli(&args, &[]);
    let events = parse_ndjson(&run.stdout);
    (run, events)
}

/// The run failed in `phase` with `kind` and exit `code`: the trace ends with `request-done`
/// carrying that error, starts with `request-start`, and stderr says so in one line.
fn failed(run: &Run, events: &[Event], phase: Phase, kind: &str, code: i32) -> TraceError {
    let names: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(names.first(), Some(&"request-start"), "{names:?}");
    let Some(EventKind::RequestDone { error: Some(e), .. }) = events.last().map(|e| &e.kind) else {
        panic!("no failed request-done last: {names:?}\n{}", run.stderr)
    };
    assert_eq!((e.phase, e.kind.as_str()), (phase, kind), "{e:?}");
    assert_eq!(run.code, code, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with(&format!("httptrace: ({code}) {} ({kind}): ", phase.as_str())), "{lines:?}");
    e.clone()
}

fn has(events: &[Event], kind: &str) -> bool {
    events.iter().any(|e| e.kind.name() == kind)
}

#[test]
fn reset_in_the_middle_of_the_status_line() {
    let addr = raw_server(|mut conn| {
        let _ = conn.write_all(b"HTTP/1.1 200 O");
        let _ = conn.flush();
        // Let the client read the partial line first: data still unread when the RST lands
        // is discarded, and the test is about a reset *after* the first byte.
        std::thread::sleep(Duration::from_millis(200));
        reset(conn);
    });
    let (run, events) = trace(&[], &format!("http://{addr}/"));
    failed(&run, &events, Phase::Wait, "reset", exit::RECEIVE);
    assert!(has(&events, "wrote-request") && has(&events, "got-first-response-byte"), "{events:?}");
    assert!(!has(&events, "response-headers"));
}

#[test]
fn response_headers_too_large_to_parse() {
    let addr = raw_server(|mut conn| {
        let mut head = b"HTTP/1.1 200 OK\r\nx-huge: ".to_vec();
        head.extend(std::iter::repeat_n(b'a', 1 << 20));
        head.extend_from_slice(b"\r\ncontent-length: 0\r\n\r\n");
        // The client gives up part way: a failed write is expected.
        let _ = conn.write_all(&head);
    });
    let (run, events) = trace(&[], &format!("http://{addr}/"));
    failed(&run, &events, Phase::Wait, "headers-too-large", exit::BAD_RESPONSE);
    assert!(has(&events, "got-first-response-byte") && !has(&events, "response-headers"), "{events:?}");
}

#[test]
fn a_server_that_never_answers_is_cut_off_by_max_time() {
    // Accepts and reads, never writes; the connection stays open until the test ends.
    let addr = raw_server(|conn| {
        std::thread::sleep(Duration::from_secs(30));
        drop(conn);
    });
    let started = Instant::now();
    let (run, events) = trace(&["-m", "0.5"], &format!("http://{addr}/"));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let e = failed(&run, &events, Phase::Timeout, "max-time", exit::TIMEOUT);
    assert_eq!(e.during, Some(Phase::Wait), "{e:?}");
    assert!(has(&events, "wrote-request") && !has(&events, "got-first-response-byte"), "{events:?}");
    let Some(EventKind::RequestDone { timings, .. }) = events.last().map(|e| &e.kind) else { unreachable!() };
    assert!(timings.wait >= 450.0, "the partial wait is reported: {timings:?}");
}

/// A TLS server (its own thread and runtime) presenting a certificate for `127.0.0.1` that
/// expired in 2021; returns its address and the certificate's PEM (to trust it with --cacert).
fn expired_tls_server() -> (SocketAddr, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "expired test server");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let key_der = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key_der)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    // The client refuses the certificate: the handshake fails here too. With
                    // -k it goes on: read the request head (one read will do), answer.
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        let mut buf = [0u8; 4096];
                        let _ = tls.read(&mut buf).await;
                        let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        })
    });
    (addr, cert.pem())
}

#[test]
fn an_expired_certificate_fails_verification_with_exit_60() {
    let (addr, pem) = expired_tls_server();
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "expired.pem", pem.as_bytes());
    let (run, events) = trace(&["--cacert", ca.to_str().unwrap()], &format!("https://{addr}/"));
    failed(&run, &events, Phase::Tls, "expired", exit::CERTIFICATE);
    // The handshake event says why, and still shows the certificate that was presented.
    let done = events.iter().find_map(|e| match &e.kind {
        EventKind::TlsHandshakeDone { peer_certificates, error, .. } => Some((peer_certificates.clone(), error.clone())),
        _ => None,
    });
    let (certs, error) = done.expect("a tls-handshake-done event");
    assert_eq!(error.map(|e| e.kind), Some(httptrace::event::FailureKind::Expired));
    assert!(certs[0].subject.contains("expired test server") && certs[0].not_after.starts_with("2021-01-01"), "{certs:?}");
    assert!(!has(&events, "wrote-headers"), "nothing was sent over the refused connection");
    // Trusting it anyway (-k) gets through: only the dates were wrong.
    let (run, _) = trace(&["-k"], &format!("https://{addr}/"));
    assert_eq!(run.code, 0, "{}", run.stderr);
}
