//! Kernel receive stamps: a response's first byte is stamped when it reached this machine's
//! network stack, so a client that is busy when the response arrives does not count its own
//! delay as the server's; and where there is no kernel stamp, the engine's own one stands.

use std::sync::Arc;
use std::time::Duration;

use httptrace::trace::MemorySink;
use httptrace::{Client, ClientOptions, Event, EventKind, HttpVersion, KernelStamps, Outcome, RequestSpec, StampClock};

use crate::plugins_support::server;

/// One request to `url` on a single-threaded runtime whose thread is blocked from 10 ms to
/// 10 + `busy` ms after the request starts: the response (sent by the server, on threads of
/// its own, 30 ms in) waits in the socket until the engine can read it.
fn busy_request(url: &str, http: HttpVersion, kernel_timestamps: KernelStamps, busy: Duration) -> (Outcome, Vec<Event>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sink = MemorySink::new();
    let opts = ClientOptions { kernel_timestamps, insecure: true, http, ..ClientOptions::default() };
    let client = Client::new(opts, Arc::new(sink.clone())).unwrap();
    let spec = RequestSpec::get(url).unwrap();
    let outcome = rt.block_on(async {
        let blocker = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            std::thread::sleep(busy);
        };
        tokio::join!(client.execute(&spec), blocker).0
    });
    (outcome, sink.events())
}

/// The clocks that stamped `wrote-headers`, `wrote-request` and `got-first-response-byte`, in
/// that order.
fn clocks(events: &[Event]) -> [StampClock; 3] {
    let find = |want: fn(&EventKind) -> Option<StampClock>| events.iter().find_map(|e| want(&e.kind)).expect("the event");
    [
        find(|k| if let EventKind::WroteHeaders { clock } = k { Some(*clock) } else { None }),
        find(|k| if let EventKind::WroteRequest { clock, .. } = k { Some(*clock) } else { None }),
        find(|k| if let EventKind::GotFirstResponseByte { clock } = k { Some(*clock) } else { None }),
    ]
}

fn at(events: &[Event], want: fn(&EventKind) -> bool) -> u64 {
    events.iter().find(|e| want(&e.kind)).unwrap_or_else(|| panic!("event missing: {events:#?}")).at_ns
}

#[test]
fn a_busy_client_does_not_move_the_first_byte() {
    let _lane = crate::lanes::timing();
    let busy = Duration::from_millis(150);
    let cases = [
        (format!("http://{}/delay/30", server().http_addr), HttpVersion::Http11),
        (format!("https://127.0.0.1:{}/delay/30", server().https_addr.port()), HttpVersion::Http2),
    ];
    for (url, http) in &cases {
        // With kernel stamps: `wait` is the server's 30 ms, and the engine's delay is lag.
        let (outcome, events) = busy_request(url, *http, KernelStamps::All, busy);
        assert_eq!(outcome.status, Some(200), "{url}: {:?}", outcome.error);
        let wrote = at(&events, |k| matches!(k, EventKind::WroteRequest { .. }));
        let first = at(&events, |k| matches!(k, EventKind::GotFirstResponseByte { .. }));
        let done = at(&events, |k| matches!(k, EventKind::RequestDone { .. }));
        let wait_ms = (first - wrote) as f64 / 1e6;
        assert!((28.0..80.0).contains(&wait_ms), "{url}: wait {wait_ms} ms with kernel stamps");
        // The kernel's stamp lies inside the request's user-space bounds (else it would have
        // been refused and there would be no lag).
        assert!(wrote <= first && first <= done, "{url}: {wrote} {first} {done}");
        let lag = outcome.client_lag.unwrap_or_else(|| panic!("{url}: no client lag measured"));
        assert!(lag >= Duration::from_millis(50), "{url}: lag {lag:?}");
        // The request's writes carry the kernel's transmit stamps (error queue).
        assert!(outcome.sent_by_kernel, "{url}: wrote-request from the engine's clock");
        // And the events say so.
        assert_eq!(clocks(&events), [StampClock::Kernel; 3], "{url}");

        // Without: the engine's own stamp, late by the time it was busy; no lag is claimed.
        let (outcome, events) = busy_request(url, *http, KernelStamps::Off, busy);
        assert_eq!(outcome.status, Some(200), "{url}: {:?}", outcome.error);
        let wrote = at(&events, |k| matches!(k, EventKind::WroteRequest { .. }));
        let first = at(&events, |k| matches!(k, EventKind::GotFirstResponseByte { .. }));
        let wait_ms = (first - wrote) as f64 / 1e6;
        assert!(wait_ms >= 140.0, "{url}: wait {wait_ms} ms with the engine's own stamps");
        assert_eq!((outcome.client_lag, outcome.sent_by_kernel), (None, false), "{url}");
        assert_eq!(clocks(&events), [StampClock::Engine; 3], "{url}");

        // Receive stamps alone (the load-mode default): the first byte as with all, the
        // writes by the engine's clock.
        let (outcome, events) = busy_request(url, *http, KernelStamps::Receive, busy);
        let wait_ms = (at(&events, |k| matches!(k, EventKind::GotFirstResponseByte { .. }))
            - at(&events, |k| matches!(k, EventKind::WroteRequest { .. }))) as f64
            / 1e6;
        assert!((28.0..80.0).contains(&wait_ms), "{url}: wait {wait_ms} ms with receive stamps");
        assert!(outcome.client_lag.is_some() && !outcome.sent_by_kernel, "{url}: {outcome:?}");
        assert_eq!(clocks(&events), [StampClock::Engine, StampClock::Engine, StampClock::Kernel], "{url}");
    }
}

/// On an idle client the kernel's stamp and the engine's are close: the lag is small, and on a
/// kept-alive connection each response gets its own stamp (never an earlier response's).
#[test]
fn an_idle_client_has_little_lag_and_each_response_its_own_stamp() {
    let _lane = crate::lanes::timing();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sink = MemorySink::new();
    let opts = ClientOptions { http: HttpVersion::Http11, kernel_timestamps: KernelStamps::All, ..ClientOptions::default() };
    let client = Client::new(opts, Arc::new(sink.clone())).unwrap();
    let spec = RequestSpec::get(&format!("http://{}/delay/20", server().http_addr)).unwrap();
    for _ in 0..3 {
        let outcome = rt.block_on(client.execute(&spec));
        assert_eq!(outcome.status, Some(200), "{:?}", outcome.error);
        let lag = outcome.client_lag.expect("a kernel stamp");
        assert!(lag < Duration::from_millis(10), "lag {lag:?} on an idle client");
        assert!(outcome.sent_by_kernel, "a kernel transmit stamp on a kept-alive connection too");
    }
    let events = sink.events();
    let reused = events.iter().filter(|e| matches!(e.kind, EventKind::GotConn { reused: true, .. })).count();
    assert_eq!(reused, 2, "the later requests reuse the connection");
    for req in events.iter().map(|e| e.request).collect::<std::collections::BTreeSet<_>>() {
        let mine: Vec<Event> = events.iter().filter(|e| e.request == req).cloned().collect();
        let wrote = at(&mine, |k| matches!(k, EventKind::WroteRequest { .. }));
        let first = at(&mine, |k| matches!(k, EventKind::GotFirstResponseByte { .. }));
        let wait_ms = (first - wrote) as f64 / 1e6;
        assert!((18.0..60.0).contains(&wait_ms), "request {req}: wait {wait_ms} ms");
    }
}
