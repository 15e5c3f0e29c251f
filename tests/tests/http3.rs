//! HTTP/3 over QUIC against implementations that are not ours: hypercorn serving an ASGI app
//! (`tests/h3/app.py`) over HTTP/3 through aioquic (`--quic-bind`), and aioquic's client
//! (`tests/h3/client.py`) against `httptrace serve --h3-port`. Both from PyPI, installed by
//! `scripts/test.sh` into `HTTPTRACE_H3PY`. Phase times are checked against the delays the
//! servers inject.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use httptrace::EventKind;
use httptrace_cli::serve::ServeHandle;

use crate::plugins_support::{cli, parse_ndjson, server};

/// Where `scripts/test.sh` installed aioquic and hypercorn (a `PYTHONPATH` directory).
fn h3py() -> String {
    std::env::var("HTTPTRACE_H3PY").expect("HTTPTRACE_H3PY is not set: run scripts/test.sh, which installs aioquic and hypercorn")
}

fn h3_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/h3")
}

/// hypercorn on a free port of 127.0.0.1, TCP (HTTP/1.1, HTTP/2) and UDP (HTTP/3) alike, with
/// the local server's certificate; killed when dropped.
struct Hypercorn {
    child: Child,
    addr: SocketAddr,
}

impl Hypercorn {
    fn start() -> Hypercorn {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let bind = format!("127.0.0.1:{port}");
            let mut child = Command::new("python3")
                .args(["-m", "hypercorn", "--certfile"])
                .arg(&server().cert_path)
                .arg("--keyfile")
                .arg(&server().key_path)
                .args(["--bind", &bind, "--quic-bind", &bind, "app:app"])
                .current_dir(h3_dir())
                .env("PYTHONPATH", h3py())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starting hypercorn");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if TcpStream::connect(&bind).is_ok() {
                    // QUIC is bound in the same start-up step as TCP, but a busy machine may
                    // take a moment more: wait until it answers over HTTP/3 too.
                    let hc = Hypercorn { child, addr: bind.parse().unwrap() };
                    let url = hc.url("/");
                    while cli(&["--http3-only", "-k", "-s", "--connect-timeout", "2", &url], &[]).code != 0 {
                        assert!(Instant::now() < deadline, "hypercorn on {bind} does not answer over HTTP/3");
                    }
                    return hc;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            eprintln!("hypercorn on {bind} did not start: {}", String::from_utf8_lossy(&out.stderr));
        }
        panic!("hypercorn did not start");
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }
}

impl Drop for Hypercorn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `httptrace serve` with an HTTP/3 port, once per test binary.
fn h3_server() -> &'static ServeHandle {
    static SERVER: OnceLock<ServeHandle> = OnceLock::new();
    SERVER.get_or_init(|| {
        crate::plugins_support::serve_on_own_runtime(httptrace_cli::serve::ServeOptions { h3_port: Some(0), ..Default::default() })
    })
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

#[test]
fn http3_against_hypercorn_prints_a_waterfall_with_the_quic_handshake() {
    let _lane = crate::lanes::timing();
    let hc = Hypercorn::start();
    let run = cli(&["--http3", "-k", &hc.url("/delay/60")], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    assert!(out.contains("(h3, new connection #"), "{out}");
    assert!(out.contains("QUIC v1, TLSv1.3, ALPN h3"), "{out}");
    assert!(out.contains("HTTP/3 200, 8 bytes"), "{out}");
    assert!(out.contains("UDP Socket") && out.contains("QUIC Handshake"), "{out}");
    assert!(!out.contains("fell back"), "{out}");
    assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");

    // The events: the UDP path, the QUIC handshake, h3; the server's 60 ms are the wait.
    let run = cli(&["--http3-only", "-k", "-p", "ndjson", &hc.url("/delay/60")], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let events = parse_ndjson(&run.stdout);
    let at = |name: &str| events.iter().find(|e| e.kind.name() == name).unwrap_or_else(|| panic!("no {name}: {}", run.stdout)).at_ns;
    let udp = events.iter().find_map(|e| match &e.kind {
        EventKind::ConnectDone { network, addr, error: None, .. } => Some((network.clone(), addr.socket_addr())),
        _ => None,
    });
    assert_eq!(udp, Some(("udp".to_string(), Some(hc.addr))));
    let quic = events.iter().find_map(|e| match &e.kind {
        EventKind::QuicHandshakeDone { alpn, quic_version, error: None, peer_certificates, .. } => {
            Some((alpn.clone(), *quic_version, peer_certificates.len()))
        }
        _ => None,
    });
    assert_eq!(quic, Some((Some("h3".to_string()), 1, 1)));
    assert!(!events.iter().any(|e| e.kind.name().starts_with("tls-")), "QUIC's handshake has kinds of its own");
    // Counted as the `ssl` phase, ending at curl's `appconnect`.
    let (timings, marks) = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::RequestDone { timings, marks, .. } => Some((*timings, *marks)),
            _ => None,
        })
        .unwrap();
    let handshake = ms(at("quic-handshake-done") - at("quic-handshake-start"));
    assert!((timings.ssl - handshake).abs() < 1e-3, "{} vs {handshake}", timings.ssl);
    assert!((marks.appconnect * 1e3 - ms(at("quic-handshake-done"))).abs() < 1e-3);
    let got = events.iter().find_map(|e| match &e.kind {
        EventKind::GotConn { protocol, remote_addr, .. } => Some((protocol.clone(), remote_addr.socket_addr())),
        _ => None,
    });
    assert_eq!(got, Some(("h3".to_string(), Some(hc.addr))));
    let version = events.iter().find_map(|e| match &e.kind {
        EventKind::ResponseHeaders { version, headers, .. } => Some((version.clone(), headers.iter().any(|h| h.value == "3"))),
        _ => None,
    });
    // The app saw HTTP/3 too (`x-http-version: 3`).
    assert_eq!(version, Some(("HTTP/3".to_string(), true)));
    assert!(at("quic-handshake-start") <= at("quic-handshake-done"));
    assert!(at("quic-handshake-done") <= at("got-conn") && at("got-conn") <= at("wrote-headers"));
    // The app says how long its 60 ms sleep really took (Python oversleeps on a busy machine):
    // `wait` holds it, and at most 40 ms more.
    let slept: f64 = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::ResponseHeaders { headers, .. } => headers.iter().find(|h| h.name == "x-slept-ms").map(|h| h.value.parse().unwrap()),
            _ => None,
        })
        .expect("x-slept-ms");
    let wait = ms(at("got-first-response-byte") - at("wrote-request"));
    assert!(slept >= 60.0 && wait >= slept && wait < slept + 40.0, "wait {wait} ms for a sleep of {slept} ms (60 asked)");
}

#[test]
fn http3_body_trickle_is_the_receive_phase() {
    let _lane = crate::lanes::timing();
    let hc = Hypercorn::start();
    // 10 chunks 40 ms apart: 360 ms between the first and the last.
    let run = cli(&["--http3-only", "-k", "-p", "ndjson", &hc.url("/drip?bytes=1000&duration_ms=400")], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let events = parse_ndjson(&run.stdout);
    let done = events.iter().find_map(|e| match &e.kind {
        EventKind::RequestDone { timings, status: Some(200), .. } => Some(*timings),
        _ => None,
    });
    let t = done.expect("request-done");
    assert!((360.0..360.0 + 120.0).contains(&t.receive), "receive {} ms", t.receive);
    let body = events.iter().find_map(|e| match &e.kind {
        EventKind::ResponseDone { body_bytes, error: None, .. } => Some(*body_bytes),
        _ => None,
    });
    assert_eq!(body, Some(1000));
}

#[test]
fn serve_h3_port_answers_aioquic_and_advertises_alt_svc() {
    let s = h3_server();
    let h3 = s.h3_addr.expect("an HTTP/3 port");
    // aioquic's client, not ours.
    let out = Command::new("python3")
        .arg(h3_dir().join("client.py"))
        .arg(format!("https://127.0.0.1:{}/bytes/1234", h3.port()))
        .env("PYTHONPATH", h3py())
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.lines().next(), Some("200 1234"), "{text}");
    // The TLS port says where HTTP/3 is.
    let tcp = cli(&["-k", "-s", "-i", &format!("https://{}/", s.https_addr)], &[]);
    assert!(tcp.stdout.contains(&format!("alt-svc: h3=\":{}\"; ma=86400", h3.port())), "{}", tcp.stdout);
    // And ours over it, with the same endpoints.
    let ours =
        cli(&["--http3-only", "-k", "-s", "-w", "%{http_version} %{http_code} %{size_download}", &format!("https://{h3}/bytes/777")], &[]);
    assert_eq!((ours.code, ours.stdout.as_str()), (0, "3 200 777"), "{ours:?}");
}

#[test]
fn http3_load_shares_one_quic_connection() {
    let _lane = crate::lanes::load();
    let s = h3_server();
    let url = format!("https://{}/delay/5", s.h3_addr.unwrap());
    let run = cli(&["-n", "40", "-c", "4", "-q", "-k", "--http3-only", "-p", "ndjson", &url], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = parse_ndjson(&run.stdout);
    let done = events.iter().filter(|e| matches!(e.kind, EventKind::RequestDone { status: Some(200), .. })).count();
    assert_eq!(done, 40);
    let conns: Vec<(bool, String)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::GotConn { reused, protocol, .. } => Some((*reused, protocol.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(conns.len(), 40);
    assert!(conns.iter().all(|(_, p)| p == "h3"), "{conns:?}");
    assert_eq!(conns.iter().filter(|(reused, _)| !reused).count(), 1, "one QUIC connection, its streams shared");

    // Open loop: 30 requests at 150/s take about 0.2 s, on the same kind of connection.
    let started = Instant::now();
    let rate = cli(&["-n", "30", "--rate", "150", "-q", "-k", "--http3-only", "-p", "stats", "--plugin-config", "format=json", &url], &[]);
    assert_eq!(rate.code, 0, "{}", rate.stderr);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(190), "{took:?}");
    let stats: serde_json::Value = serde_json::from_str(rate.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", rate.stdout));
    assert_eq!(stats["requests"], 30, "{stats}");
    assert_eq!(stats["status"]["200"], 30, "{stats}");
}

#[test]
fn har_of_an_http3_request_is_valid_and_imports_into_devtools() {
    let s = h3_server();
    let run = cli(&["--http3-only", "-k", "-p", "har", &format!("https://{}/bytes/300", s.h3_addr.unwrap())], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let har = crate::load_outputs::validate_har(&run.stdout);
    let e = &har["log"]["entries"][0];
    assert_eq!(e["response"]["httpVersion"], "HTTP/3");
    assert_eq!(e["_tls"]["quicVersion"], 1);
    assert_eq!(e["_tls"]["alpn"], "h3");
    assert!(e["timings"]["ssl"].as_f64().unwrap() > 0.0, "the QUIC handshake is HAR's ssl: {e}");
    assert_eq!(e["connection"], s.h3_addr.unwrap().port().to_string());
}

#[test]
fn http3_falls_back_to_tcp_when_quic_gets_no_answer() {
    // The shared server has no HTTP/3: its UDP port is closed, and QUIC hears nothing.
    let url = format!("https://{}/", server().https_addr);
    let started = Instant::now();
    let run = cli(&["--http3", "-k", "-p", "ndjson", &url], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let events = parse_ndjson(&run.stdout);
    let handshakes: Vec<(&str, Option<String>, Option<String>)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::QuicHandshakeDone { alpn, error, .. } => Some(("quic", alpn.clone(), error.as_ref().map(|e| e.kind.to_string()))),
            EventKind::TlsHandshakeDone { alpn, error, .. } => Some(("tls", alpn.clone(), error.as_ref().map(|e| e.kind.to_string()))),
            _ => None,
        })
        .collect();
    assert_eq!(handshakes, [("quic", None, Some("timeout".to_string())), ("tls", Some("h2".to_string()), None)], "{}", run.stdout);
    let networks: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ConnectDone { network, .. } => Some(network.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(networks, ["udp", "tcp"]);
    let text = cli(&["--http3", "-k", &url], &[]);
    assert!(text.stdout.contains("HTTP/3 failed (timeout), fell back to TCP"), "{}", text.stdout);

    // --http3-only has no fallback: a typed timeout in the QUIC handshake, curl's exit 28.
    let only = cli(&["--http3-only", "-k", "--connect-timeout", "0.5", &url], &[]);
    assert_eq!(only.code, 28, "{only:?}");
    assert!(only.stderr.contains("timeout (connect-timeout): connect-timeout of 500 ms reached during tls"), "{}", only.stderr);
    assert!(only.stdout.contains("QUIC Handshake"), "{}", only.stdout);
}

#[test]
fn a_certificate_refused_inside_quic_is_curls_exit_60() {
    let s = h3_server();
    let url = format!("https://{}/", s.h3_addr.unwrap());
    let run = cli(&["--http3-only", &url], &[]);
    assert_eq!(run.code, 60, "{run:?}");
    assert!(run.stderr.contains("tls (unknown-issuer): QUIC handshake with 127.0.0.1"), "{}", run.stderr);
    // Trusted with --cacert, it goes through.
    let ok = cli(&["--http3-only", "--cacert", s.cert_path.to_str().unwrap(), "-s", "-w", "%{http_version}", &url], &[]);
    assert_eq!((ok.code, ok.stdout.as_str()), (0, "3"), "{ok:?}");
}

#[test]
fn alt_svc_sends_later_requests_to_the_http3_port() {
    let s = h3_server();
    let h3 = s.h3_addr.unwrap();
    assert_ne!(h3.port(), s.https_addr.port(), "the test needs HTTP/3 on a port of its own");
    // The TLS port has no QUIC: the first request falls back to TCP, whose response names the
    // HTTP/3 port; the next ones go there.
    let url = format!("https://{}/", s.https_addr);
    let run = cli(&["-n", "3", "-c", "1", "-q", "-k", "--http3", "-p", "ndjson", &url], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let events = parse_ndjson(&run.stdout);
    let conns: Vec<(String, u16, bool)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::GotConn { protocol, remote_addr, reused, .. } => {
                Some((protocol.clone(), remote_addr.socket_addr().map_or(0, |a| a.port()), *reused))
            }
            _ => None,
        })
        .collect();
    let tcp = s.https_addr.port();
    assert_eq!(
        conns,
        [("h2".to_string(), tcp, false), ("h3".to_string(), h3.port(), false), ("h3".to_string(), h3.port(), true)],
        "{}",
        run.stdout
    );
}

#[test]
fn a_body_that_stalls_ends_with_the_quic_idle_timeout() {
    let hc = Hypercorn::start();
    let started = Instant::now();
    let run = cli(&["--http3-only", "-k", "--quic-idle-timeout", "0.5", "-p", "ndjson", &hc.url("/stall")], &[]);
    assert!(started.elapsed() < Duration::from_secs(10));
    // curl's "operation timed out", with what arrived kept.
    assert_eq!(run.code, 28, "{run:?}");
    let events = parse_ndjson(&run.stdout);
    let done = events.iter().find_map(|e| match &e.kind {
        EventKind::ResponseDone { body_bytes, error: Some(err), .. } => {
            Some((*body_bytes, err.phase, err.kind.to_string(), err.message.clone()))
        }
        _ => None,
    });
    let (bytes, phase, kind, message) = done.expect("response-done with an error");
    assert_eq!((bytes, phase, kind.as_str()), (10, httptrace::event::Phase::Receive, "timeout"), "{message}");
    assert!(message.contains("timed out after 500 ms of silence"), "{message}");
    let status = events.iter().find_map(|e| match &e.kind {
        EventKind::RequestDone { status, .. } => Some(*status),
        _ => None,
    });
    assert_eq!(status, Some(Some(200)));
}

#[test]
fn a_server_of_another_quic_version_is_a_typed_tls_failure() {
    // aioquic speaking QUIC version 2 only: our version 1 gets a Version Negotiation packet.
    let mut child = Command::new("python3")
        .arg("-u")
        .arg(h3_dir().join("vn_server.py"))
        .arg(&server().cert_path)
        .arg(&server().key_path)
        .env("PYTHONPATH", h3py())
        .stdout(Stdio::piped())
        .spawn()
        .expect("vn_server.py");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("vn_server.py said {line:?}"));
    let run = cli(&["--http3-only", "-k", &format!("https://127.0.0.1:{port}/")], &[]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(run.code, 35, "{run:?}");
    assert!(run.stderr.contains("tls (incompatible): QUIC handshake with 127.0.0.1"), "{}", run.stderr);
    assert!(run.stderr.contains("speaks no QUIC version we offer"), "{}", run.stderr);
}

#[test]
fn http3_only_refuses_what_curl_refuses_before_connecting() {
    // curl 8 (`Curl_conn_may_http3`): exit 3 for an http:// URL and through a proxy; nothing
    // listens on the ports named, so any connection attempt would show as a connect failure.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cases = [
        (vec![format!("http://127.0.0.1:{port}/")], "HTTP/3 requested for non-HTTPS URL"),
        (vec!["-x".into(), format!("http://127.0.0.1:{port}"), format!("https://127.0.0.1:{port}/")], "not supported over an HTTP proxy"),
        (vec!["-x".into(), format!("socks5://127.0.0.1:{port}"), format!("https://127.0.0.1:{port}/")], "not supported over a SOCKS proxy"),
    ];
    for (args, why) in cases {
        let mut all = vec!["--http3-only", "-p", "ndjson"];
        all.extend(args.iter().map(String::as_str));
        let run = cli(&all, &[]);
        assert_eq!(run.code, 3, "{args:?}: {run:?}");
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains(why), "{}", run.stderr);
        let kinds: Vec<&str> = parse_ndjson(&run.stdout).iter().map(|e| e.kind.name()).collect();
        assert!(!kinds.iter().any(|k| k.starts_with("connect") || k.starts_with("dns")), "{kinds:?}");
        assert_eq!(kinds.last(), Some(&"request-done"), "{kinds:?}");
    }
}
