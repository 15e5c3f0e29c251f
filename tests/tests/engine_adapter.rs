//! A program's own hyper-util client traced through `httptrace::adapter`: the same events as
//! the engine's client where the adapter can see them (its docs list which), checked against
//! the engine on the same server and against injected delays.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use httptrace::adapter::TracedClient;
use httptrace::trace::MemorySink;
use httptrace::{ClientOptions, Event, EventKind, Phase};
use httptrace_tests::{kinds, start_serve, trace_one, trusting};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Traced = TracedClient<Empty<bytes::Bytes>>;

fn client(opts: ClientOptions) -> (Traced, MemorySink) {
    let sink = MemorySink::new();
    let c = TracedClient::new(&Client::builder(TokioExecutor::new()), opts, Arc::new(sink.clone())).unwrap();
    (c, sink)
}

/// GETs `url` and reads the body to the end; the status.
async fn get(c: &Traced, url: &str) -> u16 {
    let response = c.request(http::Request::get(url).body(Empty::new()).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

fn by_request(events: &[Event]) -> Vec<Vec<Event>> {
    let mut out: Vec<Vec<Event>> = Vec::new();
    for e in events {
        match out.iter_mut().find(|r| r[0].request == e.request) {
            Some(r) => r.push(e.clone()),
            None => out.push(vec![e.clone()]),
        }
    }
    out
}

fn done(events: &[Event]) -> (Option<u16>, Option<httptrace::TraceError>, httptrace::summary::Timings) {
    match &events.last().unwrap().kind {
        EventKind::RequestDone { status, error, timings, .. } => (*status, error.clone(), *timings),
        k => panic!("the last event is {k:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_requests_get_the_engines_events_and_true_timings() {
    let _lane = crate::lanes::timing();
    let serve = start_serve().await;
    let url = format!("http://{}/delay/100", serve.http_addr);
    let (c, sink) = client(ClientOptions::default());
    assert_eq!(get(&c, &url).await, 200);
    // hyper-util hands a finished HTTP/1.1 connection back to its pool from a task of its own,
    // after the body's end: a request sent at once may find the pool empty and dial again.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get(&c, &url).await, 200);
    let requests = by_request(&sink.events());
    assert_eq!(requests.len(), 2, "{requests:#?}");

    // The same kinds, in the same order, as the engine's own client (which also reports
    // put-idle-conn, invisible in hyper-util's pool; and sends more header fields).
    let (_, engine) = trace_one(ClientOptions::default(), &url).await;
    let without = |ks: Vec<&'static str>, drop: &[&str]| -> Vec<&'static str> {
        let mut ks: Vec<&'static str> = ks.into_iter().filter(|k| !drop.contains(k)).collect();
        ks.dedup();
        ks
    };
    assert_eq!(without(kinds(&requests[0]), &[]), without(kinds(&engine), &["put-idle-conn"]));
    let mut ats: Vec<u64> = requests[0].iter().map(|e| e.at_ns).collect();
    let sorted = ats.clone();
    ats.sort();
    assert_eq!(ats, sorted, "stamps are in order");

    // The header fields are the ones hyper wrote.
    let fields: Vec<(String, String)> = requests[0]
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WroteHeaderField { name, value } => Some((name.clone(), value.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(fields, [("host".to_string(), serve.http_addr.to_string())]);

    for (i, r) in requests.iter().enumerate() {
        let (status, error, t) = done(r);
        assert_eq!((status, error), (Some(200), None));
        // The server waits 100 ms before its headers: that is `wait`, not `send` or `receive`.
        // The write is stamped by the engine here (the default takes only the kernel's receive
        // stamps), after `write` returned: a busy client can stamp it after the server's delay
        // has begun, so only send + wait is bound to cover the whole delay.
        assert!(t.send + t.wait >= 100.0, "request {i}: send + wait {} ms: {t:?}", t.send + t.wait);
        assert!(t.wait > 80.0 && t.wait < 100.0 + 150.0, "request {i}: wait {} ms: {t:?}", t.wait);
        assert!(t.send >= 0.0 && t.send < 20.0 && t.receive >= 0.0 && t.receive < 20.0, "{t:?}");
        assert!(t.total >= t.wait, "{t:?}");
    }
    // The second request reused the idle connection: no connect, and it says so.
    let second = kinds(&requests[1]);
    assert!(!second.contains(&"connect-start"), "{second:?}");
    let got = requests[1].iter().find_map(|e| match &e.kind {
        EventKind::GotConn { reused, was_idle, idle_ns, protocol, .. } => Some((*reused, *was_idle, *idle_ns, protocol.clone())),
        _ => None,
    });
    let (reused, was_idle, idle_ns, protocol) = got.unwrap();
    assert!(reused && was_idle && (50_000_000..1_000_000_000).contains(&idle_ns), "{reused} {was_idle} {idle_ns}");
    assert_eq!(protocol, "http/1.1");
    let (_, _, t2) = done(&requests[1]);
    assert_eq!((t2.dns, t2.connect), (-1.0, -1.0), "{t2:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_tls_reports_the_handshake_and_the_response() {
    let _lane = crate::lanes::timing();
    let serve = start_serve().await;
    let url = format!("https://localhost:{}/delay/50", serve.https_addr.port());
    let (c, sink) = client(trusting(&serve));
    assert_eq!(get(&c, &url).await, 200);
    let events = sink.events();
    let names = kinds(&events);
    for k in ["request-start", "get-conn", "dns-start", "dns-done", "connect-done", "tls-handshake-start", "tls-handshake-done"] {
        assert!(names.contains(&k), "{k} missing: {names:?}");
    }
    assert!(!names.contains(&"wrote-headers"), "streams are not told apart on h2: {names:?}");
    let tls = events.iter().find_map(|e| match &e.kind {
        EventKind::TlsHandshakeDone { alpn, error, key_exchange_group, .. } => {
            Some((alpn.clone(), error.clone(), key_exchange_group.clone()))
        }
        _ => None,
    });
    let (alpn, error, group) = tls.unwrap();
    assert_eq!((alpn.as_deref(), error), (Some("h2"), None));
    assert!(group.is_some());
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::GotConn { protocol, reused: false, .. } if protocol == "h2")));
    let (status, error, t) = done(&events);
    assert_eq!((status, error), (Some(200), None));
    assert!(t.ssl > 0.0 && t.total >= 50.0 + t.ssl, "{t:?}");
}

#[tokio::test]
async fn a_refused_connection_is_a_typed_connect_failure_as_in_the_engine() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/");
    let (c, sink) = client(ClientOptions::default());
    let e = c.request(http::Request::get(&url).body(Empty::new()).unwrap()).await.unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    let (status, error, _) = done(&sink.events());
    let error = error.unwrap();
    let (_, engine) = trace_one(ClientOptions::default(), &url).await;
    let (_, engine_error, _) = done(&engine);
    assert_eq!(status, None);
    assert_eq!((error.phase, &error.kind), (Phase::Connect, &engine_error.unwrap().kind));
}

#[tokio::test]
async fn a_body_dropped_before_its_end_still_ends_the_trace() {
    let serve = start_serve().await;
    let url = format!("http://{}/drip?bytes=10&duration_ms=2000", serve.http_addr);
    let (c, sink) = client(ClientOptions::default());
    let response = c.request(http::Request::get(&url).body(Empty::new()).unwrap()).await.unwrap();
    let mut body = response.into_body();
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame()).await.unwrap();
    assert!(first.is_some());
    drop(body);
    let events = sink.events();
    let response_done = events.iter().find_map(|e| match &e.kind {
        EventKind::ResponseDone { error, body_bytes, .. } => Some((error.clone(), *body_bytes)),
        _ => None,
    });
    let (error, bytes) = response_done.expect("response-done");
    assert_eq!(error.map(|e| (e.phase, e.kind)), Some((Phase::Receive, httptrace::event::FailureKind::Cancelled)));
    assert!((1..10).contains(&bytes), "{bytes}");
    assert_eq!(done(&events).0, Some(200));
}

/// The adapter's HTTP/1.1 connections take the kernel's stamps as the engine's do: with
/// `kernel_timestamps` on, the writes and the first byte are the kernel's (and say so), within
/// the request's own instants; with them off, the engine's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapter_takes_the_kernels_stamps_and_says_so() {
    use httptrace::{KernelStamps, StampClock};
    let _lane = crate::lanes::timing();
    let serve = start_serve().await;
    let url = format!("http://{}/delay/30", serve.http_addr);
    for (which, want) in [(KernelStamps::All, StampClock::Kernel), (KernelStamps::Off, StampClock::Engine)] {
        let (c, sink) = client(ClientOptions { kernel_timestamps: which, ..ClientOptions::default() });
        for _ in 0..3 {
            assert_eq!(get(&c, &url).await, 200);
        }
        for r in by_request(&sink.events()) {
            let find = |f: fn(&EventKind) -> Option<StampClock>| {
                r.iter().find_map(|e| f(&e.kind).map(|c| (e.at_ns, c))).unwrap_or_else(|| panic!("{r:#?}"))
            };
            let (head, c1) = find(|k| if let EventKind::WroteHeaders { clock } = k { Some(*clock) } else { None });
            let (wrote, c2) = find(|k| if let EventKind::WroteRequest { clock, .. } = k { Some(*clock) } else { None });
            let (first, c3) = find(|k| if let EventKind::GotFirstResponseByte { clock } = k { Some(*clock) } else { None });
            assert_eq!([c1, c2, c3], [want; 3], "{which:?}: {r:#?}");
            assert!(head <= wrote && wrote <= first, "{which:?}: {head} {wrote} {first}");
            let ats: Vec<u64> = r.iter().map(|e| e.at_ns).collect();
            assert!(ats.windows(2).all(|w| w[0] <= w[1]), "{which:?}: stamps out of order: {r:#?}");
            let (status, error, t) = done(&r);
            assert_eq!((status, error), (Some(200), None));
            // The kernel stamps the request's last segment before the server can read it, so
            // its `wait` covers the server's whole delay; the engine stamps it after `write`
            // returned, and a busy client may do so after the delay began (the error the kernel
            // stamps remove): then only send + wait is bound to cover it.
            let covered = if want == StampClock::Kernel { t.wait } else { t.send + t.wait };
            assert!(covered >= 30.0 && t.wait < 30.0 + 100.0, "{which:?}: wait {} ms, send {} ms", t.wait, t.send);
            let lag = match &r.last().unwrap().kind {
                EventKind::RequestDone { client_lag_ns, .. } => *client_lag_ns,
                _ => unreachable!(),
            };
            assert_eq!(lag.is_some(), want == StampClock::Kernel, "{which:?}: {lag:?}");
        }
    }
}
