//! Every failure mode gives a partial trace (every event up to the failure), then request-done
//! with a typed error naming the phase, and curl's exit code — against real sockets.

use std::time::Duration;

use httptrace::engine::DnsOptions;
use httptrace::{ClientOptions, Event, EventKind, Phase, TraceError};
use httptrace_cli::exit;
use httptrace_tests::dns::{DnsAnswer, DnsServer};
use httptrace_tests::{kinds, request_done, start_serve, trace_one, trusting};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn error_of(events: &[Event]) -> TraceError {
    let EventKind::RequestDone { error, .. } = request_done(events) else { unreachable!() };
    error.clone().expect("request-done carries an error")
}

fn check(events: &[Event], phase: Phase, kind: &str, code: i32) -> TraceError {
    let e = error_of(events);
    assert_eq!((e.phase, e.kind.as_str()), (phase, kind), "{e:?}\n{:?}", kinds(events));
    assert_eq!(exit::for_error(&e), code, "{e:?}");
    assert_eq!(events.last().unwrap().kind.name(), "request-done");
    e
}

async fn dns_with(name: &str, answer: DnsAnswer) -> DnsServer {
    let dns = DnsServer::start().await.unwrap();
    dns.set(name, answer);
    dns
}

fn via(dns: &DnsServer) -> ClientOptions {
    ClientOptions {
        dns: DnsOptions { server: Some(dns.addr), timeout: Some(Duration::from_millis(300)), ..DnsOptions::default() },
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn nxdomain() {
    let dns = dns_with("other.test", DnsAnswer::NxDomain).await;
    let (_, events) = trace_one(via(&dns), "http://missing.test/").await;
    assert_eq!(kinds(&events), ["request-start", "get-conn", "dns-start", "dns-done", "request-done"]);
    check(&events, Phase::Dns, "nxdomain", exit::DNS);
}

#[tokio::test]
async fn servfail() {
    let dns = dns_with("broken.test", DnsAnswer::ServFail).await;
    let (_, events) = trace_one(via(&dns), "http://broken.test/").await;
    check(&events, Phase::Dns, "servfail", exit::DNS);
}

#[tokio::test]
async fn dns_timeout_under_connect_timeout() {
    let dns = dns_with("silent.test", DnsAnswer::Drop).await;
    let opts = ClientOptions { connect_timeout: Some(Duration::from_millis(200)), ..via(&dns) };
    let (_, events) = trace_one(opts, "http://silent.test/").await;
    assert_eq!(kinds(&events), ["request-start", "get-conn", "dns-start", "request-done"]);
    let e = check(&events, Phase::Timeout, "connect-timeout", exit::TIMEOUT);
    assert_eq!(e.during, Some(Phase::Dns));
}

#[tokio::test]
async fn connection_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (_, events) = trace_one(ClientOptions::default(), &format!("http://127.0.0.1:{port}/")).await;
    assert_eq!(kinds(&events), ["request-start", "get-conn", "connect-start", "connect-done", "request-done"]);
    check(&events, Phase::Connect, "refused", exit::CONNECT);
    assert!(matches!(&events[3].kind, EventKind::ConnectDone { error: Some(_), cancelled: false, .. }));
}

#[tokio::test]
async fn untrusted_certificate_keeps_the_peer_chain() {
    let serve = start_serve().await;
    // Default roots do not know the self-signed certificate.
    let (_, events) = trace_one(ClientOptions::default(), &format!("https://127.0.0.1:{}/", serve.https_addr.port())).await;
    check(&events, Phase::Tls, "self-signed", exit::CERTIFICATE);
    let certs = events.iter().find_map(|e| match &e.kind {
        EventKind::TlsHandshakeDone { peer_certificates, .. } => Some(peer_certificates.clone()),
        _ => None,
    });
    assert!(certs.unwrap()[0].subject.contains("httptrace serve"));
}

#[tokio::test]
async fn wrong_host_name() {
    let serve = start_serve().await;
    let port = serve.https_addr.port();
    let opts = ClientOptions {
        dns: DnsOptions { overrides: vec![format!("wrong.test:{port}:127.0.0.1").parse().unwrap()], ..DnsOptions::default() },
        ..trusting(&serve)
    };
    let (_, events) = trace_one(opts, &format!("https://wrong.test:{port}/")).await;
    check(&events, Phase::Tls, "name-mismatch", exit::CERTIFICATE);
}

#[tokio::test]
async fn insecure_accepts_the_self_signed_certificate() {
    let serve = start_serve().await;
    let opts = ClientOptions { insecure: true, ..ClientOptions::default() };
    let (o, _) = trace_one(opts, &format!("https://127.0.0.1:{}/", serve.https_addr.port())).await;
    assert_eq!(o.status, Some(200));
}

#[tokio::test]
async fn tls_to_a_plain_server_fails_the_handshake() {
    let serve = start_serve().await;
    let (_, events) = trace_one(ClientOptions::default(), &format!("https://{}/", serve.http_addr)).await;
    let e = error_of(&events);
    assert_eq!(e.phase, Phase::Tls);
    assert_eq!(exit::for_error(&e), exit::TLS);
}

#[tokio::test]
async fn max_time_during_wait() {
    let serve = start_serve().await;
    let opts = ClientOptions { max_time: Some(Duration::from_millis(300)), ..ClientOptions::default() };
    let started = std::time::Instant::now();
    let (_, events) = trace_one(opts, &format!("http://{}/delay/3000", serve.http_addr)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let e = check(&events, Phase::Timeout, "max-time", exit::TIMEOUT);
    assert_eq!(e.during, Some(Phase::Wait));
    let k = kinds(&events);
    assert!(k.contains(&"wrote-request") && !k.contains(&"response-headers"), "{k:?}");
    let EventKind::RequestDone { timings, .. } = request_done(&events) else { unreachable!() };
    assert!(timings.wait >= 280.0, "the partial wait is reported: {timings:?}");
}

#[tokio::test]
async fn too_many_redirects() {
    let serve = start_serve().await;
    let opts = ClientOptions { follow_redirects: true, max_redirects: 2, ..ClientOptions::default() };
    let (_, events) = trace_one(opts, &format!("http://{}/redirect/5", serve.http_addr)).await;
    check(&events, Phase::TooManyRedirects, "too-many-redirects", exit::TOO_MANY_REDIRECTS);
    let redirects = events.iter().filter(|e| matches!(e.kind, EventKind::Redirect { .. })).count();
    assert_eq!(redirects, 2);
    assert_eq!(events.iter().map(|e| e.hop).max(), Some(2));
    let EventKind::RequestDone { hops, .. } = request_done(&events) else { unreachable!() };
    assert_eq!(hops.len(), 3);
    assert!(hops.iter().all(|h| h.status == Some(302)));
}

#[tokio::test]
async fn redirects_followed_per_hop() {
    let serve = start_serve().await;
    let opts = ClientOptions { follow_redirects: true, ..ClientOptions::default() };
    let (o, events) = trace_one(opts, &format!("http://{}/redirect/2", serve.http_addr)).await;
    assert_eq!(o.status, Some(200));
    let EventKind::RequestDone { hops, marks, .. } = request_done(&events) else { unreachable!() };
    assert_eq!(hops.iter().map(|h| h.status).collect::<Vec<_>>(), [Some(302), Some(302), Some(200)]);
    assert!(hops[2].url.ends_with("/redirect/0"));
    assert!(marks.redirect > 0.0 && marks.redirect < marks.total);
    // Hops 1 and 2 reuse hop 0's connection.
    assert_eq!(events.iter().filter(|e| matches!(e.kind, EventKind::ConnectStart { .. })).count(), 1);
}

/// A raw TCP server that answers each connection with `reply` after reading the request head.
async fn raw_server(reply: &'static [u8]) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(reply).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn empty_reply() {
    let addr = raw_server(b"").await;
    let (_, events) = trace_one(ClientOptions::default(), &format!("http://{addr}/")).await;
    check(&events, Phase::Wait, "empty-reply", exit::EMPTY_REPLY);
    assert!(kinds(&events).contains(&"wrote-request"));
}

#[tokio::test]
async fn garbage_instead_of_http() {
    let addr = raw_server(b"SSH-2.0-OpenSSH_9.2\r\n\r\n").await;
    let (_, events) = trace_one(ClientOptions::default(), &format!("http://{addr}/")).await;
    check(&events, Phase::Wait, "bad-response", exit::BAD_RESPONSE);
    assert!(kinds(&events).contains(&"got-first-response-byte"));
}

#[tokio::test]
async fn connection_closed_mid_body() {
    let addr = raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly-some").await;
    let (_, events) = trace_one(ClientOptions::default(), &format!("http://{addr}/")).await;
    check(&events, Phase::Receive, "incomplete", exit::RECEIVE);
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::ResponseDone { body_bytes: 9, error: Some(_), .. })));
}

#[tokio::test]
async fn server_reset_mid_body_over_http1_and_http2() {
    let serve = start_serve().await;
    let (_, events) = trace_one(ClientOptions::default(), &format!("http://{}/reset", serve.http_addr)).await;
    let e = error_of(&events);
    assert_eq!((e.phase, exit::for_error(&e)), (Phase::Receive, exit::RECEIVE), "{e:?}");
    let (_, events) = trace_one(trusting(&serve), &format!("https://127.0.0.1:{}/reset", serve.https_addr.port())).await;
    let e = error_of(&events);
    assert_eq!((e.phase, e.kind.as_str(), exit::for_error(&e)), (Phase::Receive, "stream-reset", exit::RECEIVE), "{e:?}");
}

/// The engine steers by its own state, never by its recording: with `tracing: false` every
/// failure has the same phase, kind, `during` and exit code as with tracing on. (Before, a
/// disabled trace classified every failure from an empty record: a timeout `during` dns, an
/// empty reply as a receive error.)
#[tokio::test]
async fn tracing_off_reports_the_same_errors() {
    let serve = start_serve().await;
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let silent = dns_with("silent.test", DnsAnswer::Drop).await;
    let cases: Vec<(ClientOptions, String)> = vec![
        (ClientOptions::default(), format!("http://{refused}/")),
        (ClientOptions { connect_timeout: Some(Duration::from_millis(200)), ..via(&silent) }, "http://silent.test/".into()),
        (ClientOptions::default(), format!("https://127.0.0.1:{}/", serve.https_addr.port())),
        (
            ClientOptions { max_time: Some(Duration::from_millis(200)), ..ClientOptions::default() },
            format!("http://{}/delay/2000", serve.http_addr),
        ),
        (ClientOptions::default(), format!("http://{}/", raw_server(b"").await)),
        (ClientOptions::default(), format!("http://{}/", raw_server(b"SSH-2.0-OpenSSH_9.2\r\n\r\n").await)),
        (ClientOptions::default(), format!("http://{}/", raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly-some").await)),
        (ClientOptions::default(), format!("http://{}/reset", serve.http_addr)),
        (trusting(&serve), format!("https://127.0.0.1:{}/reset", serve.https_addr.port())),
        (
            ClientOptions { follow_redirects: true, max_redirects: 1, ..ClientOptions::default() },
            format!("http://{}/redirect/3", serve.http_addr),
        ),
    ];
    for (opts, url) in cases {
        let (on, _) = trace_one(opts.clone(), &url).await;
        let (off, events) = trace_one(ClientOptions { tracing: false, ..opts }, &url).await;
        assert!(events.is_empty(), "{url}: tracing off records nothing");
        let (on, off) = (on.error.expect("fails with tracing on"), off.error.expect("fails with tracing off"));
        assert_eq!((on.phase, &on.kind, on.during), (off.phase, &off.kind, off.during), "{url}");
        assert_eq!(exit::for_error(&on), exit::for_error(&off), "{url}");
    }
}
