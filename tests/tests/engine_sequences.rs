//! The complete event sequences and their fields over HTTP/1.1, HTTP/2 over TLS and h2c, and
//! connection reuse — against the real local server on 127.0.0.1.

use std::sync::Arc;

use httptrace::trace::MemorySink;
use httptrace::{Client, ClientOptions, EventKind, HttpVersion, RequestSpec};
use httptrace_tests::{kinds, request_done, start_serve, trace_one, trusting};

fn field_names(events: &[httptrace::Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WroteHeaderField { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn assert_monotonic(events: &[httptrace::Event]) {
    for w in events.windows(2) {
        assert!(w[0].at_ns <= w[1].at_ns, "events out of time order: {:?} then {:?}", w[0], w[1]);
    }
}

#[tokio::test]
async fn http1_sequence_and_fields() {
    let serve = start_serve().await;
    let url = format!("http://{}/bytes/1234", serve.http_addr);
    let (outcome, events) = trace_one(ClientOptions::default(), &url).await;
    assert_eq!(outcome.status, Some(200));
    assert!(outcome.error.is_none());
    assert_eq!(
        kinds(&events),
        [
            "request-start",
            "get-conn",
            "connect-start",
            "connect-done",
            "got-conn",
            "wrote-header-field",
            "wrote-header-field",
            "wrote-header-field",
            "wrote-headers",
            "wrote-request",
            "got-first-response-byte",
            "response-headers",
            "response-done",
            "put-idle-conn",
            "request-done",
        ]
    );
    assert_eq!(field_names(&events), ["host", "user-agent", "accept"]);
    assert_monotonic(&events);
    let conn = events.iter().find_map(|e| e.conn).unwrap();
    for e in &events {
        assert_eq!(e.request, events[0].request);
        assert_eq!(e.hop, 0);
        if e.conn.is_some() {
            assert_eq!(e.conn, Some(conn), "one connection only: {e:?}");
        }
    }
    for e in &events {
        match &e.kind {
            EventKind::GetConn { host_port } => assert_eq!(host_port, &serve.http_addr.to_string()),
            EventKind::ConnectDone { addr, cancelled, error, .. } => {
                assert_eq!(*addr, serve.http_addr);
                assert!(!cancelled && error.is_none());
            }
            EventKind::GotConn { reused, was_idle, remote_addr, protocol, local_addr, .. } => {
                assert!(!reused && !was_idle);
                assert_eq!(*remote_addr, serve.http_addr);
                assert!(local_addr.socket_addr().unwrap().ip().is_loopback());
                assert_eq!(protocol, "http/1.1");
            }
            EventKind::ResponseHeaders { status, version, header_bytes, headers } => {
                assert_eq!((*status, version.as_str()), (200, "HTTP/1.1"));
                assert!(headers.iter().any(|h| h.name == "content-length" && h.value == "1234"));
                assert!(*header_bytes > 20);
            }
            EventKind::ResponseDone { body_bytes, error, .. } => assert_eq!((*body_bytes, error), (1234, &None)),
            EventKind::PutIdleConn { error } => assert_eq!(error, &None),
            _ => {}
        }
    }
    let EventKind::RequestDone { status, error, timings, marks, hops, url: final_url, .. } = request_done(&events) else { unreachable!() };
    assert_eq!((*status, error), (Some(200), &None));
    assert_eq!(final_url, &url);
    assert_eq!((timings.dns, timings.ssl), (-1.0, -1.0), "IP literal: no DNS; plain HTTP: no TLS");
    assert!(timings.connect > 0.0 && timings.wait > 0.0);
    assert_eq!(marks.appconnect, 0.0);
    assert!(marks.namelookup <= marks.connect && marks.connect <= marks.pretransfer);
    assert!(marks.pretransfer <= marks.posttransfer && marks.posttransfer <= marks.starttransfer && marks.starttransfer <= marks.total);
    assert_eq!(hops.len(), 1);
    assert_eq!(hops[0].timings, *timings);
}

#[tokio::test]
async fn http2_over_tls_sequence_and_fields() {
    let serve = start_serve().await;
    let url = format!("https://localhost:{}/", serve.https_addr.port());
    let opts = ClientOptions {
        dns: httptrace::engine::DnsOptions {
            overrides: vec![format!("localhost:{}:127.0.0.1", serve.https_addr.port()).parse().unwrap()],
            ..Default::default()
        },
        ..trusting(&serve)
    };
    let (outcome, events) = trace_one(opts, &url).await;
    assert_eq!(outcome.status, Some(200), "{:?}", outcome.error);
    assert_eq!(
        kinds(&events),
        [
            "request-start",
            "get-conn",
            "connect-start",
            "connect-done",
            "tls-handshake-start",
            "tls-handshake-done",
            "got-conn",
            "wrote-header-field",
            "wrote-header-field",
            "wrote-header-field",
            "wrote-header-field",
            "wrote-header-field",
            "wrote-header-field",
            "wrote-headers",
            "wrote-request",
            "got-first-response-byte",
            "response-headers",
            "response-done",
            "request-done",
        ]
    );
    assert_eq!(field_names(&events), [":method", ":scheme", ":authority", ":path", "user-agent", "accept"]);
    assert_monotonic(&events);
    for e in &events {
        match &e.kind {
            EventKind::TlsHandshakeStart { server_name } => assert_eq!(server_name, "localhost"),
            EventKind::TlsHandshakeDone {
                version,
                alpn,
                peer_certificates,
                error,
                server_name,
                cipher_suite,
                resumed,
                key_exchange_group,
                client_certificate_requested,
                client_certificate_sent,
            } => {
                assert_eq!(version, "TLSv1.3");
                // `httptrace serve` asks for no client certificate.
                assert!(!client_certificate_requested && !client_certificate_sent);
                // Both ends are rustls: the first group both support, named as rustls names it.
                assert!(matches!(key_exchange_group.as_deref(), Some("X25519MLKEM768" | "X25519")), "{key_exchange_group:?}");
                assert_eq!(alpn.as_deref(), Some("h2"));
                assert!(error.is_none());
                assert!(!resumed);
                // The IANA name (rustls says `TLS13_...`).
                assert!(cipher_suite.starts_with("TLS_AES_") || cipher_suite.starts_with("TLS_CHACHA20_"), "{cipher_suite}");
                assert_eq!(server_name, "localhost");
                let leaf = &peer_certificates[0];
                assert!(leaf.subject.contains("httptrace serve"), "{leaf:?}");
                assert!(leaf.sans.iter().any(|s| s == "127.0.0.1") && leaf.sans.iter().any(|s| s == "localhost"));
                assert!(leaf.not_after.ends_with('Z'));
            }
            EventKind::GotConn { protocol, .. } => assert_eq!(protocol, "h2"),
            EventKind::ResponseHeaders { version, .. } => assert_eq!(version, "HTTP/2"),
            _ => {}
        }
    }
    let EventKind::RequestDone { timings, marks, .. } = request_done(&events) else { unreachable!() };
    assert!(timings.ssl > 0.0 && timings.connect > timings.ssl, "ssl is inside connect: {timings:?}");
    assert!(marks.connect < marks.appconnect && marks.appconnect <= marks.pretransfer);
}

#[tokio::test]
async fn h2c_prior_knowledge_sequence() {
    let serve = start_serve().await;
    let opts = ClientOptions { http: HttpVersion::Http2PriorKnowledge, ..ClientOptions::default() };
    let (outcome, events) = trace_one(opts, &format!("http://{}/bytes/10", serve.http_addr)).await;
    assert_eq!(outcome.status, Some(200));
    let k = kinds(&events);
    assert!(!k.contains(&"tls-handshake-start"));
    assert_eq!(field_names(&events)[..4], [":method", ":scheme", ":authority", ":path"]);
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::GotConn { protocol, .. } if protocol == "h2")));
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::ResponseDone { body_bytes: 10, error: None, .. })));
    let pos = |name| k.iter().position(|x| *x == name).unwrap();
    assert!(pos("wrote-request") < pos("got-first-response-byte") && pos("got-first-response-byte") < pos("response-headers"));
}

async fn second_request_reuses(opts: ClientOptions, url: String, protocol: &str) {
    let sink = MemorySink::new();
    let client = Client::new(opts, Arc::new(sink.clone())).unwrap();
    let spec = RequestSpec::get(&url).unwrap();
    let first = client.execute(&spec).await;
    let second = client.execute(&spec).await;
    assert_eq!((first.status, second.status), (Some(200), Some(200)));
    let events = sink.events();
    let of = |id| events.iter().filter(|e| e.request == id).cloned().collect::<Vec<_>>();
    let (a, b) = (of(first.request), of(second.request));
    assert!(kinds(&a).contains(&"connect-start"));
    let kb = kinds(&b);
    for absent in ["dns-start", "connect-start", "tls-handshake-start"] {
        assert!(!kb.contains(&absent), "second request must not {absent}: {kb:?}");
    }
    let conn_of = |evs: &[httptrace::Event]| evs.iter().find_map(|e| e.conn).unwrap();
    assert_eq!(conn_of(&a), conn_of(&b), "same connection id");
    let got = b.iter().find_map(|e| match &e.kind {
        EventKind::GotConn { reused, protocol: p, .. } => Some((*reused, p.clone())),
        _ => None,
    });
    assert_eq!(got, Some((true, protocol.to_string())));
    let EventKind::RequestDone { timings, .. } = request_done(&b) else { unreachable!() };
    assert_eq!((timings.dns, timings.connect, timings.ssl), (-1.0, -1.0, -1.0));
}

#[tokio::test]
async fn reuse_over_http1() {
    let serve = start_serve().await;
    second_request_reuses(ClientOptions::default(), format!("http://{}/", serve.http_addr), "http/1.1").await;
}

#[tokio::test]
async fn reuse_over_http2() {
    let serve = start_serve().await;
    second_request_reuses(trusting(&serve), format!("https://127.0.0.1:{}/", serve.https_addr.port()), "h2").await;
}

#[tokio::test]
async fn expect_continue_and_early_hints() {
    let serve = start_serve().await;
    let sink = MemorySink::new();
    let client = Client::new(ClientOptions::default(), Arc::new(sink.clone())).unwrap();
    let mut spec = RequestSpec::get(&format!("http://{}/continue", serve.http_addr)).unwrap();
    spec.method = http::Method::POST;
    spec.body = bytes::Bytes::from_static(b"hello");
    spec.headers.push(("expect".into(), "100-continue".into()));
    let o = client.execute(&spec).await;
    assert_eq!(o.status, Some(200));
    let k: Vec<_> = kinds(&sink.events()).into_iter().filter(|k| *k != "wrote-header-field").collect();
    let pos = |name| k.iter().position(|x| *x == name).unwrap_or_else(|| panic!("{name} missing in {k:?}"));
    assert!(pos("wrote-headers") < pos("wait-100-continue"));
    // Go's order: got-100-continue, then the got-1xx-response that carried it.
    assert!(pos("wait-100-continue") < pos("got-100-continue"));
    assert!(pos("got-100-continue") < pos("got-1xx-response"), "{k:?}");
    assert!(pos("got-100-continue") < pos("wrote-request"), "the body waits for 100 Continue: {k:?}");

    let (o, events) = trace_one(ClientOptions::default(), &format!("http://{}/early-hints", serve.http_addr)).await;
    assert_eq!(o.status, Some(200));
    let hint = events.iter().find_map(|e| match &e.kind {
        EventKind::Got1xxResponse { status, headers } => Some((*status, headers.clone(), e.at_ns)),
        _ => None,
    });
    let (status, headers, at) = hint.expect("got-1xx-response");
    assert_eq!(status, 103);
    assert!(headers.iter().any(|h| h.name == "link"));
    let final_at = events.iter().find(|e| matches!(e.kind, EventKind::ResponseHeaders { .. })).unwrap().at_ns;
    assert!(final_at > at + 10_000_000, "the 200 follows ~20 ms after the 103");
}

/// `ClientOptions::record` narrowed to what `-p stats` asks for (`request-start`, `got-conn`,
/// `request-done`) or to `request-done` alone: the sink gets exactly those kinds, and the
/// `request-done` summary is the same as with everything recorded — over HTTP/1.1 with
/// redirects and over HTTP/2 with TLS. Each hop's `bytes` are what its events counted, recorded
/// or not.
#[tokio::test]
async fn narrowed_recording_keeps_the_summaries_and_hands_over_only_the_set() {
    use httptrace::event::{kind, KindSet};
    let serve = start_serve().await;
    let set = |kinds: &[usize]| {
        let mut s = KindSet::default();
        kinds.iter().for_each(|k| s.insert(*k));
        s
    };
    let stats_like = set(&[kind::REQUEST_START, kind::GOT_CONN, kind::REQUEST_DONE]);
    let only_done = set(&[kind::REQUEST_DONE]);
    for (url, http) in [
        (format!("http://{}/redirect/2", serve.http_addr), HttpVersion::Auto),
        (format!("https://localhost:{}/bytes/300", serve.https_addr.port()), HttpVersion::Http2),
    ] {
        let full_opts = ClientOptions { follow_redirects: true, http, ..trusting(&serve) };
        let (full_outcome, full) = trace_one(full_opts.clone(), &url).await;
        assert_eq!(full_outcome.status, Some(200), "{url}");
        assert!(kinds(&full).contains(&"wrote-header-field"), "{url}: {:?}", kinds(&full));
        let hops = if url.contains("redirect") { 3 } else { 1 };
        for (record, expected) in [(stats_like, ["request-start", "got-conn"].repeat(hops)), (only_done, vec![])] {
            let (outcome, narrow) = trace_one(ClientOptions { record, ..full_opts.clone() }, &url).await;
            assert_eq!(outcome.status, Some(200), "{url}");
            let mut expected = expected;
            expected.push("request-done");
            assert_eq!(kinds(&narrow), expected, "{url}");
            // The summaries agree: same hops, URLs and statuses, and every phase either
            // measured in both runs or in neither.
            let (EventKind::RequestDone { hops: a, url: ua, .. }, EventKind::RequestDone { hops: b, url: ub, .. }) =
                (request_done(&full), request_done(&narrow))
            else {
                unreachable!()
            };
            assert_eq!(ua, ub);
            assert_eq!(a.len(), hops, "{url}");
            assert_eq!(b.len(), hops, "{url}");
            for (x, y) in a.iter().zip(b) {
                assert_eq!((x.hop, &x.url, x.status), (y.hop, &y.url, y.status));
                let phases =
                    |t: &httptrace::summary::Timings| [t.blocked, t.dns, t.connect, t.ssl, t.send, t.wait, t.receive].map(|v| v >= 0.0);
                assert_eq!(phases(&x.timings), phases(&y.timings), "{url} hop {}", x.hop);
                assert!(y.timings.wait > 0.0 && y.marks.total > 0.0);
                // The bytes the hop moved (0.7.0): what its own events counted, and the same
                // when those events are not recorded.
                let mut counted = httptrace::event::ByteCounts::default();
                for e in full.iter().filter(|e| e.hop == x.hop) {
                    match &e.kind {
                        EventKind::WroteRequest { body_bytes, .. } => counted.request_body += body_bytes,
                        EventKind::ResponseHeaders { header_bytes, .. } => counted.response_headers += header_bytes,
                        EventKind::ResponseDone { body_bytes, .. } => counted.response_body += body_bytes,
                        _ => {}
                    }
                }
                assert_eq!(x.bytes, counted, "{url} hop {}", x.hop);
                assert_eq!(y.bytes, x.bytes, "{url} hop {}", x.hop);
                assert!(x.bytes.response_headers > 0, "{url} hop {}: {:?}", x.hop, x.bytes);
            }
            if url.ends_with("/bytes/300") {
                assert_eq!(b[0].bytes.response_body, 300, "{url}");
            }
        }
    }
}
