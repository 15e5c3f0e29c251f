//! Where Go and curl disagree with a naive tracer: the hosts file before DNS (`localhost`),
//! and the other edges of issue 16, each checked on loopback.

use std::sync::Arc;

use httptrace::engine::DnsOptions;
use httptrace::trace::MemorySink;
use httptrace::{Client, ClientOptions, EventKind, RequestSpec};
use httptrace_tests::{kinds, start_serve};

fn with_hosts(text: &str) -> (ClientOptions, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hosts");
    std::fs::write(&path, text).unwrap();
    (ClientOptions { dns: DnsOptions { hosts_file: Some(path), ..DnsOptions::default() }, ..ClientOptions::default() }, dir)
}

async fn lookup(opts: ClientOptions, url: &str) -> (Vec<String>, Vec<&'static str>, Option<u16>) {
    let sink = MemorySink::new();
    let client = Client::new(opts, Arc::new(sink.clone())).unwrap();
    let outcome = client.execute(&RequestSpec::get(url).unwrap()).await;
    let events = sink.events();
    let addrs = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::DnsDone { addrs, .. } => Some(addrs.iter().map(|a| a.to_string()).collect()),
            _ => None,
        })
        .expect("a dns-done event");
    (addrs, kinds(&events), outcome.status)
}

/// `localhost` gets exactly what the hosts file says (getaddrinfo's, curl's and Go's rule):
/// no invented `::1`, so no failed first connect to a server that listens on 127.0.0.1 only.
#[tokio::test]
async fn the_hosts_file_answers_before_dns() {
    let serve = start_serve().await;
    let port = serve.http_addr.port();
    let (opts, _dir) = with_hosts("# test\n127.0.0.1\tlocalhost   app.test # comment\n\n::1 other.test\n");
    let (addrs, names, status) = lookup(opts.clone(), &format!("http://localhost:{port}/")).await;
    assert_eq!(addrs, ["127.0.0.1"]);
    assert_eq!(status, Some(200));
    assert_eq!(names.iter().filter(|k| **k == "connect-start").count(), 1, "{names:?}");
    // Names are matched without regard to case or a trailing dot.
    let (addrs, _, status) = lookup(opts, &format!("http://APP.test.:{port}/")).await;
    assert_eq!((addrs, status), (vec!["127.0.0.1".to_string()], Some(200)));
    // Where the file maps localhost to both, both are used, in its order.
    let (opts, _dir) = with_hosts("::1 localhost\n127.0.0.1 localhost\n");
    let (addrs, _, _) = lookup(opts, &format!("http://localhost:{port}/")).await;
    assert_eq!(addrs, ["::1", "127.0.0.1"]);
}

/// The `resumed` flag of each tls-handshake-done, in order, for `n` requests on one client that
/// each force a new connection (`Connection: close`) over HTTP/1.1.
async fn resumed_flags(opts: ClientOptions, url: &str, n: usize) -> Vec<bool> {
    let sink = MemorySink::new();
    let client = Client::new(ClientOptions { http: httptrace::HttpVersion::Http11, ..opts }, Arc::new(sink.clone())).unwrap();
    let mut spec = RequestSpec::get(url).unwrap();
    spec.headers.push(("connection".into(), "close".into()));
    for _ in 0..n {
        let outcome = client.execute(&spec).await;
        assert_eq!(outcome.status, Some(200), "{:?}", outcome.error);
    }
    sink.events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TlsHandshakeDone { resumed, error: None, .. } => Some(*resumed),
            _ => None,
        })
        .collect()
}

/// Go with a session cache: false, true, true. One verifier and session store per client.
#[tokio::test]
async fn tls_sessions_are_resumed_on_new_connections() {
    let serve = start_serve().await;
    let url = format!("https://localhost:{}/", serve.https_addr.port());
    assert_eq!(resumed_flags(httptrace_tests::trusting(&serve), &url, 3).await, [false, true, true]);
}

fn nginx_with_tls() -> (httptrace_tests::nginx::Nginx, [std::net::SocketAddr; 3]) {
    use httptrace_tests::nginx::{free_addr, openssl_cert, Nginx, Site};
    let dir = tempfile::tempdir().unwrap();
    // A server certificate as a CA would issue it (trusted through --cacert) ...
    openssl_cert(
        dir.path(),
        "server",
        &["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"],
    );
    // ... and an ordinary `openssl req -x509` one (CA:TRUE, self-signed).
    openssl_cert(dir.path(), "plain", &[]);
    let addrs = [free_addr(), free_addr(), free_addr()];
    let sites = [
        Site { addr: addrs[0], tls: Some("TLSv1.3"), cert: "server.pem", key: "server.key", client_ca: None },
        Site { addr: addrs[1], tls: Some("TLSv1.2"), cert: "server.pem", key: "server.key", client_ca: None },
        Site { addr: addrs[2], tls: Some("TLSv1.2 TLSv1.3"), cert: "plain.pem", key: "plain.key", client_ca: None },
    ];
    (Nginx::start(dir, &sites), addrs)
}

/// Against a real nginx, TLS 1.3 (tickets) and TLS 1.2 (session ids and tickets): false, true,
/// true; cipher suites by their IANA names; the key-exchange group reported.
#[tokio::test]
async fn nginx_resumes_tls_12_and_13_sessions() {
    let (nginx, addrs) = nginx_with_tls();
    let opts = ClientOptions { cacert: Some(nginx.dir.path().join("server.pem")), ..ClientOptions::default() };
    for (addr, version) in [(addrs[0], "TLSv1.3"), (addrs[1], "TLSv1.2")] {
        let url = format!("https://localhost:{}/", addr.port());
        assert_eq!(resumed_flags(opts.clone(), &url, 3).await, [false, true, true], "{version}");
        let (_, events) = httptrace_tests::trace_one(opts.clone(), &url).await;
        let (v, suite, group) = events
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::TlsHandshakeDone { version, cipher_suite, key_exchange_group, .. } => {
                    Some((version.clone(), cipher_suite.clone(), key_exchange_group.clone()))
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(v, version);
        assert!(suite.starts_with("TLS_") && !suite.starts_with("TLS13_"), "{suite}");
        assert!(group.is_some(), "{version}: {group:?}");
    }
}

/// An ordinary `openssl req -x509` certificate is `self-signed` (curl's words, exit 60), not
/// an invalid certificate; `-k` gets through.
#[tokio::test]
async fn a_self_signed_certificate_is_named_so() {
    let (_nginx, addrs) = nginx_with_tls();
    let url = format!("https://localhost:{}/", addrs[2].port());
    let (outcome, events) = httptrace_tests::trace_one(ClientOptions::default(), &url).await;
    let error = outcome.error.expect("refused");
    assert_eq!((error.phase, error.kind.as_str()), (httptrace::Phase::Tls, "self-signed"), "{error}");
    assert!(error.is_certificate());
    let certs = events.iter().find_map(|e| match &e.kind {
        EventKind::TlsHandshakeDone { peer_certificates, .. } => Some(peer_certificates.clone()),
        _ => None,
    });
    assert_eq!(certs.unwrap().len(), 1);
    let (outcome, _) = httptrace_tests::trace_one(ClientOptions { insecure: true, ..ClientOptions::default() }, &url).await;
    assert_eq!(outcome.status, Some(200));
}

/// The issue's own check: `httptrace --http1.1 -H 'Connection: close' -n 3 -c 1 -k -p ndjson`
/// against nginx prints `resumed` false, true, true.
#[test]
fn the_cli_shows_resumption_against_nginx() {
    let (_nginx, addrs) = nginx_with_tls();
    let url = format!("https://localhost:{}/", addrs[0].port());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_httptrace"))
        .args(["--http1.1", "-H", "Connection: close", "-n", "3", "-c", "1", "-k", "-p", "ndjson", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let flags: Vec<bool> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "tls-handshake-done")
        .map(|v| v["resumed"].as_bool().unwrap())
        .collect();
    assert_eq!(flags, [false, true, true]);
}

/// HTTP/2 reuse reports idle time as Go does: since the connection's last open stream ended;
/// a connection with a stream open is not idle.
#[tokio::test]
async fn http2_reuse_reports_idle_time() {
    let serve = start_serve().await;
    let sink = MemorySink::new();
    let client = Client::new(httptrace_tests::trusting(&serve), Arc::new(sink.clone())).unwrap();
    let base = format!("https://localhost:{}", serve.https_addr.port());
    let spec = |path: &str| RequestSpec::get(&format!("{base}{path}")).unwrap();
    assert_eq!(client.execute(&spec("/")).await.status, Some(200));
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    // Two at once: the first finds the connection idle for ~60 ms; the second shares it while
    // the first's stream is open (the server holds it 100 ms).
    let (slow, quick) = (spec("/delay/100"), spec("/"));
    let (a, b) = tokio::join!(client.execute(&slow), async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        client.execute(&quick).await
    });
    assert_eq!((a.status, b.status), (Some(200), Some(200)));
    let got: Vec<(u64, bool, bool, u64, String)> = sink
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::GotConn { reused, was_idle, idle_ns, protocol, .. } => {
                Some((e.request, *reused, *was_idle, *idle_ns, protocol.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|g| g.4 == "h2"), "{got:?}");
    let of = |r: u64| got.iter().find(|g| g.0 == r).cloned().unwrap();
    let (_, reused, was_idle, _, _) = of(got[0].0);
    assert!(!reused && !was_idle, "{got:?}");
    let (_, reused, was_idle, idle_ns, _) = of(a.request);
    assert!(reused && was_idle && (50_000_000..1_000_000_000).contains(&idle_ns), "{got:?}");
    let (_, reused, was_idle, idle_ns, _) = of(b.request);
    assert!(reused && !was_idle && idle_ns == 0, "{got:?}");
}

/// put-idle-conn (Go's rule): only for a connection offered back to the pool; a response that
/// closes the connection (`Connection: close`) ends it without the event.
#[tokio::test]
async fn put_idle_conn_only_for_connections_offered_back() {
    let serve = start_serve().await;
    let url = format!("http://{}/", serve.http_addr);
    let (_, kept) = httptrace_tests::trace_one(ClientOptions::default(), &url).await;
    let puts: Vec<_> = kept
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::PutIdleConn { error } => Some(error.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(puts, [None]);
    let sink = MemorySink::new();
    let client = Client::new(ClientOptions::default(), Arc::new(sink.clone())).unwrap();
    let mut spec = RequestSpec::get(&url).unwrap();
    spec.headers.push(("connection".into(), "close".into()));
    assert_eq!(client.execute(&spec).await.status, Some(200));
    let names = kinds(&sink.events());
    assert!(!names.contains(&"put-idle-conn"), "{names:?}");
    assert!(names.contains(&"response-done"), "{names:?}");
}

/// Credentials in the URL are sent as Basic auth (curl's behaviour) and never shown: every
/// event, the NDJSON and the timeline read `user:[redacted]@` unless `--show-secrets`.
#[tokio::test]
async fn url_credentials_are_sent_and_never_shown() {
    let serve = start_serve().await;
    let url = format!("http://alice:s3cr3t-pass@{}/headers", serve.http_addr);
    let (outcome, events) = httptrace_tests::trace_one(ClientOptions::default(), &url).await;
    assert_eq!(outcome.status, Some(200));
    let all: String = events.iter().map(|e| e.to_json()).collect::<Vec<_>>().join("\n");
    assert!(!all.contains("s3cr3t"), "{all}");
    assert!(all.contains(&format!("\"url\":\"http://alice:[redacted]@{}/headers\"", serve.http_addr)), "{all}");
    assert!(all.contains(r#""name":"authorization","value":"[redacted]""#), "{all}");
    let (_, shown) = httptrace_tests::trace_one(ClientOptions { show_secrets: true, ..ClientOptions::default() }, &url).await;
    let all: String = shown.iter().map(|e| e.to_json()).collect::<Vec<_>>().join("\n");
    // The server got `alice:s3cr3t-pass` as Basic auth.
    assert!(all.contains(r#""value":"Basic YWxpY2U6czNjcjN0LXBhc3M=""#), "{all}");
    assert!(all.contains("alice:s3cr3t-pass@"), "{all}");
}

/// The same through the command line: the timeline, ndjson, HAR and the `-f` message.
#[test]
fn url_credentials_never_reach_the_cli_output() {
    let url = crate::plugins_support::http("/headers").replace("http://", "http://alice:s3cr3t-pass@");
    for args in [vec![], vec!["-p", "ndjson"], vec!["-p", "har"], vec!["-f"]] {
        let target = if args == ["-f"] { url.replace("/headers", "/status/404") } else { url.clone() };
        let mut all = args.clone();
        all.push(&target);
        let run = crate::plugins_support::cli(&all, &[]);
        let text = format!("{}{}", run.stdout, run.stderr);
        assert!(!text.contains("s3cr3t"), "{args:?}: {text}");
        assert!(text.contains("alice:[redacted]@"), "{args:?}: {text}");
    }
}

/// `-i` shows each hop's status line and response headers, `-v` the request header fields as
/// written too (the timeline's `headers`), as curl does.
#[test]
fn include_and_verbose_show_the_headers() {
    let url = crate::plugins_support::http("/");
    let plain = crate::plugins_support::cli(&[&url], &[]);
    assert!(!plain.stdout.contains("  < "), "{}", plain.stdout);
    let i = crate::plugins_support::cli(&["-i", &url], &[]);
    assert_eq!(i.code, 0, "{}", i.stderr);
    assert!(i.stdout.contains("  < HTTP/1.1 200 OK\n"), "{}", i.stdout);
    assert!(i.stdout.contains("  < content-length: "), "{}", i.stdout);
    assert!(!i.stdout.contains("  > "), "{}", i.stdout);
    let v = crate::plugins_support::cli(&["-v", "-H", "Authorization: Bearer zzz-secret", &url], &[]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(v.stdout.contains("  > user-agent: httptrace/"), "{}", v.stdout);
    assert!(v.stdout.contains("  > authorization: [redacted]"), "{}", v.stdout);
    assert!(!v.stdout.contains("zzz-secret"), "{}", v.stdout);
    assert!(v.stdout.contains("  < HTTP/1.1 200 OK"), "{}", v.stdout);
}
