//! The plugin chain as a library: events reach plugins exactly as recorded, verdicts and
//! interests are applied, nothing is dropped under backpressure, and sandbox limits hold.

use std::time::Duration;

use crate::plugins_support::*;
use httptrace::{ClientOptions, Event, RequestSpec};
use httptrace_plugin_host::{Call, ChainOptions, ErrorKind, Limits};

fn get(path: &str) -> RequestSpec {
    RequestSpec::get(&http(path)).unwrap()
}

fn insecure() -> ClientOptions {
    ClientOptions { insecure: true, follow_redirects: true, ..ClientOptions::default() }
}

/// Requests that between them produce every kind the local server can provoke: plain and TLS,
/// redirects, 1xx, 100-continue, a connection failure.
fn varied_requests() -> Vec<RequestSpec> {
    let s = server();
    let mut cont = RequestSpec::get(&http("/continue")).unwrap();
    cont.method = http::Method::POST;
    cont.headers.push(("expect".into(), "100-continue".into()));
    cont.body = bytes::Bytes::from_static(b"hello");
    vec![
        get("/bytes/100"),
        RequestSpec::get(&format!("https://{}/bytes/10", s.https_addr)).unwrap(),
        RequestSpec::get(&format!("https://localhost:{}/headers", s.https_addr.port())).unwrap(),
        get("/redirect/2"),
        get("/early-hints"),
        cont,
        get("/status/404"),
        RequestSpec::get("http://127.0.0.1:9/").unwrap(),
    ]
}

#[test]
fn ndjson_prints_exactly_the_events_the_engine_recorded() {
    let (text, report, recorded) = run_chain(&[spec("ndjson", &[])], ChainOptions::default(), insecure(), &varied_requests());
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), recorded.len());
    let mut kinds = std::collections::BTreeSet::new();
    for (line, ev) in lines.iter().zip(&recorded) {
        // Field for field, in the host's own JSON form: same names, same values, same order.
        assert_eq!(*line, ev.to_json());
        let back: Event = serde_json::from_str(line).unwrap();
        assert_eq!(&back, ev);
        kinds.insert(ev.kind.name());
    }
    for k in ["dns-done", "tls-handshake-done", "redirect", "got-1xx-response", "got-100-continue", "connect-done", "request-done"] {
        assert!(kinds.contains(k), "no {k} event among {kinds:?}");
    }
    assert_eq!(report.events, recorded.len() as u64);
}

#[test]
fn filter_then_ndjson_gives_one_line_per_request() {
    let specs = [spec("filter", &[("kind", "request-done")]), spec("ndjson", &[])];
    let requests: Vec<RequestSpec> = (0..5).map(|i| get(&format!("/bytes/{i}"))).collect();
    let (text, report, recorded) = run_chain(&specs, ChainOptions::default(), ClientOptions::default(), &requests);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let events = parse_ndjson(&text);
    assert_eq!(events.len(), 5, "{text}");
    assert!(events.iter().all(|e| e.kind.name() == "request-done"));
    let done: Vec<&Event> = recorded.iter().filter(|e| e.kind.name() == "request-done").collect();
    assert_eq!(events.iter().collect::<Vec<_>>(), done);
}

/// The kinds the `kinds` plugin reported at finish, as (kind, count).
fn kinds_report(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("kinds: "))
        .map(|l| {
            let (k, n) = l.split_once(' ').unwrap();
            (k.to_string(), n.parse().unwrap())
        })
        .collect()
}

#[test]
fn a_plugin_sees_only_the_kinds_it_asked_for_and_its_drops_hide_events_downstream() {
    // `localhost` so there is DNS; two requests.
    let url = format!("http://localhost:{}/", server().http_addr.port());
    let requests = vec![RequestSpec::get(&url).unwrap(), RequestSpec::get(&url).unwrap()];
    let kinds = guest("kinds");
    let kinds = kinds.to_str().unwrap();

    // Alone: it only ever sees dns-done and request-done, however many other events pass.
    let (text, _, recorded) = run_chain(&[spec(kinds, &[])], ChainOptions::default(), ClientOptions::default(), &requests);
    let count = |k: &str| recorded.iter().filter(|e| e.kind.name() == k).count() as u64;
    assert!(count("dns-done") >= 1, "no DNS in {recorded:?}");
    assert_eq!(kinds_report(&text), [("dns-done".to_string(), count("dns-done")), ("request-done".to_string(), 2)]);

    // kinds(drop=request-done) → ndjson: every event but request-done reaches ndjson; kinds it
    // did not ask for pass it untouched.
    let specs = [spec(kinds, &[("drop", "request-done")]), spec("ndjson", &[])];
    let (text, report, recorded) = run_chain(&specs, ChainOptions::default(), ClientOptions::default(), &requests);
    assert!(report.failures.is_empty());
    let printed = parse_ndjson(&text.lines().filter(|l| l.starts_with('{')).collect::<Vec<_>>().join("\n"));
    let expected: Vec<Event> = recorded.iter().filter(|e| e.kind.name() != "request-done").cloned().collect();
    assert_eq!(printed, expected);

    // ndjson first, then kinds dropping: ndjson still sees everything.
    let specs = [spec("ndjson", &[]), spec(kinds, &[("drop", "request-done"), ("drop", "dns-done")])];
    let (text, _, recorded) = run_chain(&specs, ChainOptions::default(), ClientOptions::default(), &requests);
    assert_eq!(text.lines().filter(|l| l.starts_with('{')).count(), recorded.len());

    // Two droppers in a row: the second never sees what the first dropped.
    let specs = [spec(kinds, &[("drop", "dns-done")]), spec(kinds, &[])];
    let (text, _, _) = run_chain(&specs, ChainOptions::default(), ClientOptions::default(), &requests);
    let reports = kinds_report(&text);
    assert_eq!(reports.iter().filter(|(k, _)| k == "dns-done").count(), 1, "only the first saw dns-done: {reports:?}");
}

#[test]
fn no_event_is_lost_when_the_plugins_are_slower_than_the_engine() {
    // A one-batch channel: the engine waits for the chain instead of dropping.
    let requests: Vec<RequestSpec> = (0..60).map(|_| get("/bytes/1")).collect();
    let (text, report, recorded) = run_chain(&[spec("ndjson", &[])], ChainOptions::default(), ClientOptions::default(), &requests);
    assert_eq!(text.lines().count(), recorded.len());
    assert_eq!(parse_ndjson(&text).iter().filter(|e| e.kind.name() == "request-done").count(), 60);
    assert!(report.calls <= 60, "batches are coalesced or one per request, never split: {}", report.calls);
}

fn limits(f: impl FnOnce(&mut Limits)) -> ChainOptions {
    let mut l = Limits::default();
    f(&mut l);
    ChainOptions { limits: l, report_failures: false, ..ChainOptions::default() }
}

#[test]
fn output_limit_obeyed_and_violated() {
    let reqs = [get("/")];
    let (text, report, _) = run_chain(&[spec("ndjson", &[])], limits(|l| l.output_per_call = 1 << 20), ClientOptions::default(), &reqs);
    assert!(report.failures.is_empty() && !text.is_empty());
    let (text, report, _) = run_chain(&[spec("ndjson", &[])], limits(|l| l.output_per_call = 100), ClientOptions::default(), &reqs);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].kind(), &ErrorKind::Output { call: Call::OnEvents, limit: 100 });
    assert!(text.is_empty(), "the over-long emit was refused: {text}");
}

#[test]
fn time_limit_obeyed_and_violated() {
    let reqs = [get("/")];
    let short = limits(|l| l.timeout = Duration::from_millis(100));
    let (_, report, _) = run_chain(&[spec("ndjson", &[])], short.clone(), ClientOptions::default(), &reqs);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let spin = guest("spin");
    let started = std::time::Instant::now();
    let (text, report, recorded) =
        run_chain(&[spec(spin.to_str().unwrap(), &[]), spec("ndjson", &[])], short, ClientOptions::default(), &reqs);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].kind(), &ErrorKind::Timeout { call: Call::OnEvents, limit: Duration::from_millis(100) });
    assert_eq!(text.lines().count(), recorded.len(), "ndjson after the spinner still got everything");
    assert_eq!(httptrace_cli::exit::for_run(&report, None), httptrace_cli::exit::PLUGIN_FAILED);
}

#[test]
fn memory_limit_obeyed_and_violated() {
    let reqs = [get("/")];
    let (_, report, _) = run_chain(&[spec("ndjson", &[])], limits(|l| l.memory = 16 << 20), ClientOptions::default(), &reqs);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let alloc = guest("alloc");
    let (text, report, recorded) = run_chain(
        &[spec(alloc.to_str().unwrap(), &[]), spec("ndjson", &[])],
        limits(|l| l.memory = 16 << 20),
        ClientOptions::default(),
        &reqs,
    );
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].kind(), &ErrorKind::Memory { call: Call::OnEvents, limit: 16 << 20 });
    assert_eq!(text.lines().count(), recorded.len());
}

/// `--on-plugin-error=abort` under load: once the chain aborts, the workers start no further
/// request. Before, the run went on sending every remaining request with nobody listening.
/// Bound: what the chain took in its one pickup and what was queued then (each at most the
/// queue's capacity plus the requests in flight), plus one round in flight.
#[test]
fn an_aborted_chain_stops_a_load_run_within_one_round() {
    use httptrace::loadgen::{self, Counters, LoadPlan};
    use httptrace_plugin_host::{Chain, OnError, Output};
    const CAPACITY: usize = 8;
    const CONCURRENCY: usize = 4;
    let rt = runtime();
    let trap = guest("trap-on-events");
    let opts = ChainOptions { on_error: OnError::Abort, report_failures: false, ..ChainOptions::default() };
    let chain = Chain::start(&rt, &[spec(trap.to_str().unwrap(), &[])], Output::writer(std::io::sink()), opts).expect("chain");
    let (sink, rx) = httptrace::trace::ChannelSink::new(CAPACITY);
    let thread = chain.spawn(rx).expect("chain thread");
    let tokio_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let load = tokio_rt.block_on(async {
        let client = httptrace::Client::new(ClientOptions::default(), std::sync::Arc::new(sink)).unwrap();
        let plan = LoadPlan {
            requests: vec![RequestSpec::get(&http("/")).unwrap()],
            total: Some(20_000),
            duration: None,
            concurrency: CONCURRENCY,
            rate: None,
        };
        loadgen::run(&client, &plan, std::sync::Arc::new(Counters::default())).await
    });
    let report = thread.join();
    assert!(report.aborted && report.plugin_failed(), "{report:?}");
    let bound = 2 * (CAPACITY + CONCURRENCY) as u64 + CONCURRENCY as u64;
    assert!(load.done <= bound, "{} requests made after the chain aborted (at most {bound})", load.done);
}
