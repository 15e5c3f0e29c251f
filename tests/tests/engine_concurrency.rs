//! Concurrent requests: HTTP/2 streams multiplexed over one connection keep their own events
//! (the wire tap maps each stream to its request), and load mode counts every request.

use std::collections::HashMap;
use std::sync::Arc;

use httptrace::loadgen::{self, Counters, LoadPlan};
use httptrace::trace::MemorySink;
use httptrace::{Client, EventKind, RequestSpec};
use httptrace_tests::{start_serve, trusting};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiplexed_h2_streams_keep_their_own_events() {
    let _lane = crate::lanes::load();
    let serve = start_serve().await;
    let sink = MemorySink::new();
    let client = Client::new(trusting(&serve), Arc::new(sink.clone())).unwrap();
    let base = format!("https://127.0.0.1:{}", serve.https_addr.port());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let client = client.clone();
        let spec = RequestSpec::get(&format!("{base}/bytes/{}", 100 + i)).unwrap();
        tasks.spawn(async move { client.execute(&spec).await });
    }
    let mut ids = HashMap::new();
    while let Some(o) = tasks.join_next().await {
        let o = o.unwrap();
        assert_eq!(o.status, Some(200), "{:?}", o.error);
        ids.insert(o.request, o.url.path().to_string());
    }
    let events = sink.events();
    let conns: std::collections::HashSet<u64> = events.iter().filter_map(|e| e.conn).collect();
    assert_eq!(conns.len(), 1, "all streams share one HTTP/2 connection");
    for (id, path) in &ids {
        let mine: Vec<_> = events.iter().filter(|e| e.request == *id).collect();
        let written_path = mine.iter().find_map(|e| match &e.kind {
            EventKind::WroteHeaderField { name, value } if name == ":path" => Some(value.clone()),
            _ => None,
        });
        assert_eq!(written_path.as_deref(), Some(path.as_str()), "request {id} got another stream's headers");
        let at = |k: &str| mine.iter().find(|e| e.kind.name() == k).map(|e| e.at_ns).unwrap_or_else(|| panic!("{k} missing for {id}"));
        assert!(at("wrote-headers") <= at("wrote-request"));
        assert!(at("wrote-request") <= at("got-first-response-byte"));
        assert!(at("got-first-response-byte") <= at("response-headers"));
        let want: u64 = path.trim_start_matches("/bytes/").parse().unwrap();
        assert!(mine.iter().any(|e| matches!(e.kind, EventKind::ResponseDone { body_bytes, error: None, .. } if body_bytes == want)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_mode_runs_exactly_n_requests() {
    let _lane = crate::lanes::load();
    let serve = start_serve().await;
    let sink = MemorySink::new();
    let client = Client::new(Default::default(), Arc::new(sink.clone())).unwrap();
    let plan = LoadPlan {
        requests: vec![RequestSpec::get(&format!("http://{}/", serve.http_addr)).unwrap()],
        total: Some(200),
        duration: None,
        concurrency: 8,
        rate: None,
    };
    let report = loadgen::run(&client, &plan, Arc::new(Counters::default())).await;
    assert_eq!((report.done, report.errors), (200, 0));
    let events = sink.events();
    let done = events.iter().filter(|e| matches!(e.kind, EventKind::RequestDone { .. })).count();
    assert_eq!(done, 200);
    let opened = events.iter().filter(|e| matches!(e.kind, EventKind::GotConn { reused: false, .. })).count();
    assert!(opened <= 8, "keep-alive: at most one connection per worker, got {opened}");
}
