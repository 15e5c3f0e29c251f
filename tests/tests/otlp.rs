//! OpenTelemetry export through a real collector: rotel (`rotel-agent`, PyPI's `rotel`) on
//! loopback, forwarding to a verifier that decodes with the official protobuf definitions.
//! Spans are checked against the same run's ndjson log, metrics against the requests made;
//! W3C trace context against the bytes a server received.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use httptrace::{Event, EventKind};
use httptrace_tests::otlp::proto::tonic::metrics::v1::metric;
use httptrace_tests::otlp::proto::tonic::trace::v1::span::SpanKind;
use httptrace_tests::otlp::{attr, ReceivedSpan, Rotel, Verifier};

use crate::plugins_support::{cli, command, http, parse_ndjson};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Request spans: CLIENT spans with no parent.
fn requests(spans: &[ReceivedSpan]) -> Vec<&ReceivedSpan> {
    spans.iter().filter(|s| s.span.parent_span_id.is_empty() && s.span.kind == SpanKind::Client as i32).collect()
}

fn children<'a>(spans: &'a [ReceivedSpan], parent: &[u8]) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|s| s.span.parent_span_id == parent).collect()
}

fn res(s: &ReceivedSpan, key: &str) -> String {
    s.resource.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default()
}

fn duration_ms(s: &ReceivedSpan) -> f64 {
    (s.span.end_time_unix_nano - s.span.start_time_unix_nano) as f64 / 1e6
}

/// `httptrace ARGS` started in the background with `env` (and the harness's cleared
/// variables), as the load test's three instances are.
fn spawn(args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    command(args, env).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start httptrace")
}

/// The request counter of the last metrics snapshot received, summed over its series.
fn counted(v: &Verifier) -> Option<i64> {
    use httptrace_tests::otlp::proto::tonic::metrics::v1::number_data_point::Value;
    v.metrics()
        .iter()
        .filter(|m| m.metric.name == "httptrace.client.requests")
        .filter_map(|m| match &m.metric.data {
            Some(metric::Data::Sum(s)) => {
                Some(s.data_points.iter().map(|p| if let Some(Value::AsInt(n)) = p.value { n } else { 0 }).sum::<i64>())
            }
            _ => None,
        })
        .next_back()
}

fn finish(child: std::process::Child) -> (i32, String) {
    let out = child.wait_with_output().expect("wait for httptrace");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The HAR timings of each request of an ndjson log, by request id.
fn timings(events: &[Event]) -> HashMap<u64, httptrace::event::Timings> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RequestDone { timings, .. } => Some((e.request, *timings)),
            _ => None,
        })
        .collect()
}

#[test]
fn three_concurrent_load_runs_become_exactly_their_spans_and_histograms_through_rotel() {
    let _lane = crate::lanes::load();
    let verifier = Verifier::start();
    let rotel = Rotel::start(&verifier);
    let endpoint = format!("http://{}", rotel.http);
    let dir = tempfile::tempdir().unwrap();
    let url = http("/bytes/64");
    let logs: Vec<String> = (0..3).map(|i| dir.path().join(format!("run{i}.ndjson")).display().to_string()).collect();
    let children: Vec<_> = (0..3)
        .map(|i| {
            let instance = format!("probe-{i}");
            let attrs = format!("service.instance.id={instance},deployment.environment.name=ci");
            spawn(
                &["-n", "300", "-c", "4", "-q", "--otlp", &endpoint, "-p", "ndjson", "-o", &logs[i], &url],
                &[("OTEL_SERVICE_NAME", "httptrace-ci"), ("OTEL_RESOURCE_ATTRIBUTES", &attrs)],
            )
        })
        .collect();
    for c in children {
        let (code, stderr) = finish(c);
        assert_eq!(code, 0, "{stderr}");
        assert!(!stderr.contains("otlp"), "{stderr}");
    }
    let spans = verifier.wait_spans(Duration::from_secs(20), |s| requests(s).len() >= 900);
    let reqs = requests(&spans);
    assert_eq!(reqs.len(), 900, "request spans ({} spans in all); rotel: {}", spans.len(), rotel.log());
    let instances: HashSet<String> = reqs.iter().map(|s| res(s, "service.instance.id")).collect();
    assert_eq!(instances, (0..3).map(|i| format!("probe-{i}")).collect());
    assert!(reqs.iter().all(|s| res(s, "service.name") == "httptrace-ci" && res(s, "deployment.environment.name") == "ci"));
    let by_parent: HashMap<Vec<u8>, Vec<&ReceivedSpan>> = spans.iter().fold(HashMap::new(), |mut m, s| {
        m.entry(s.span.parent_span_id.clone()).or_default().push(s);
        m
    });
    let mut compared = 0;
    for (i, log) in logs.iter().enumerate() {
        let ndjson = timings(&parse_ndjson(&std::fs::read_to_string(log).unwrap()));
        assert_eq!(ndjson.len(), 300);
        let instance = format!("probe-{i}");
        let mine: Vec<&&ReceivedSpan> = reqs.iter().filter(|s| res(s, "service.instance.id") == instance).collect();
        let ids: HashSet<String> = mine.iter().map(|s| attr(&s.span.attributes, "httptrace.request.id").unwrap()).collect();
        assert_eq!(ids.len(), 300, "one span per request of instance {i}");
        for r in mine {
            let s = &r.span;
            assert_eq!(attr(&s.attributes, "http.request.method").as_deref(), Some("GET"));
            assert_eq!(attr(&s.attributes, "url.full"), Some(url.clone()));
            assert_eq!(attr(&s.attributes, "http.response.status_code").as_deref(), Some("200"));
            assert_eq!(attr(&s.attributes, "server.address").as_deref(), Some("127.0.0.1"));
            assert!(attr(&s.attributes, "network.protocol.version").is_some());
            let id: u64 = attr(&s.attributes, "httptrace.request.id").unwrap().parse().unwrap();
            let hops = by_parent.get(&s.span_id).cloned().unwrap_or_default();
            assert_eq!(hops.len(), 1, "one hop span under request {id}");
            let hop = hops[0];
            assert_eq!((hop.span.kind, hop.span.trace_id.clone()), (SpanKind::Client as i32, s.trace_id.clone()));
            assert!(hop.span.start_time_unix_nano >= s.start_time_unix_nano && hop.span.end_time_unix_nano <= s.end_time_unix_nano);
            let phases = by_parent.get(&hop.span.span_id).cloned().unwrap_or_default();
            let phase = |name: &str| phases.iter().find(|p| p.span.name == name).map(|p| duration_ms(p));
            let t = ndjson[&id];
            // Every phase's duration is the log's to the nanosecond (±1 µs allowed).
            for (name, want) in [("send", t.send), ("wait", t.wait), ("receive", t.receive)] {
                let got = phase(name).unwrap_or_else(|| panic!("no {name} span under request {id} of instance {i}"));
                assert!((got - want).abs() <= 0.001, "{name} of request {id}, instance {i}: span {got} ms, ndjson {want} ms");
            }
            if t.dns >= 0.0 {
                assert!((phase("dns").unwrap() - t.dns).abs() <= 0.001);
            }
            if t.connect >= 0.0 {
                assert!((phase("connect").expect("a connect span") - t.connect).abs() <= 0.001, "connect of {id}");
            }
            assert!(phases.iter().all(|p| p.span.start_time_unix_nano >= hop.span.start_time_unix_nano));
            compared += 1;
        }
    }
    assert_eq!(compared, 900);
    // Metrics: each instance's last snapshot counts its 300 requests.
    let metrics = verifier.metrics();
    let mut last: HashMap<(String, String), &metric::Data> = HashMap::new();
    for m in &metrics {
        let instance = m.resource.iter().find(|(k, _)| k == "service.instance.id").map(|(_, v)| v.clone()).unwrap_or_default();
        if let Some(d) = &m.metric.data {
            last.insert((instance, m.metric.name.clone()), d);
        }
    }
    let mut durations = 0;
    let mut counted = 0;
    for i in 0..3 {
        let key = |name: &str| (format!("probe-{i}"), name.to_string());
        match last.get(&key("http.client.request.duration")) {
            Some(metric::Data::ExponentialHistogram(h)) => {
                for p in &h.data_points {
                    let buckets: u64 = p.positive.as_ref().map_or(0, |b| b.bucket_counts.iter().sum());
                    assert_eq!(buckets + p.zero_count, p.count, "bucket counts add up to the count");
                    assert!(p.positive.as_ref().unwrap().bucket_counts.len() <= 160);
                    durations += p.count;
                }
            }
            other => panic!("no duration histogram for instance {i}: {other:?}"),
        }
        match last.get(&key("httptrace.phase.wait.duration")) {
            Some(metric::Data::ExponentialHistogram(h)) => assert_eq!(h.data_points.iter().map(|p| p.count).sum::<u64>(), 300),
            other => panic!("no wait histogram for instance {i}: {other:?}"),
        }
        match last.get(&key("httptrace.client.requests")) {
            Some(metric::Data::Sum(s)) => {
                assert!(s.is_monotonic);
                for p in &s.data_points {
                    if let Some(httptrace_tests::otlp::proto::tonic::metrics::v1::number_data_point::Value::AsInt(n)) = p.value {
                        counted += n;
                    }
                }
            }
            other => panic!("no request counter for instance {i}: {other:?}"),
        }
    }
    assert_eq!((durations, counted), (900, 900));
}

#[test]
fn grpc_reaches_the_collector_too() {
    let verifier = Verifier::start();
    let rotel = Rotel::start(&verifier);
    let url = http("/status/503");
    let run = cli(
        &["-p", "ndjson", &url],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{}", rotel.grpc)), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("otlp"), "{}", run.stderr);
    let spans = verifier.wait_spans(Duration::from_secs(10), |s| !requests(s).is_empty());
    let reqs = requests(&spans);
    assert_eq!(reqs.len(), 1, "{}", rotel.log());
    let s = &reqs[0].span;
    // A 5xx is an error of a client span (SemConv), its type the status code.
    assert_eq!(attr(&s.attributes, "error.type").as_deref(), Some("503"));
    assert_eq!(s.status.as_ref().map(|st| st.code), Some(2));
    let hop = children(&spans, &s.span_id);
    assert_eq!(hop.len(), 1);
    let names: Vec<String> = children(&spans, &hop[0].span.span_id).iter().map(|p| p.span.name.clone()).collect();
    for want in ["connect", "send", "wait", "receive"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    // The header fields written are span events of the hop.
    let events: Vec<&str> = hop[0].span.events.iter().map(|e| e.name.as_str()).collect();
    assert!(events.contains(&"wrote-header-field") && events.contains(&"got-first-response-byte"), "{events:?}");
}

#[test]
fn a_filtered_chain_exports_only_what_it_kept() {
    let verifier = Verifier::start();
    let rotel = Rotel::start(&verifier);
    let run = cli(
        &[
            "-n",
            "10",
            "-q",
            "--otlp",
            &format!("http://{}", rotel.http),
            "-p",
            "filter",
            "--plugin-config",
            "status=2xx",
            "-p",
            "ndjson",
            &http("/status/200"),
            &http("/status/404"),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let kept = parse_ndjson(&run.stdout).iter().filter(|e| matches!(e.kind, EventKind::RequestDone { .. })).count();
    assert_eq!(kept, 5);
    let spans = verifier.wait_spans(Duration::from_secs(10), |s| requests(s).len() >= 5);
    // Give a stray sixth span the time to arrive, were there one.
    std::thread::sleep(Duration::from_millis(300));
    let spans = if verifier.spans().len() > spans.len() { verifier.spans() } else { spans };
    let reqs = requests(&spans);
    assert_eq!(reqs.len(), 5, "{}", rotel.log());
    assert!(reqs.iter().all(|s| attr(&s.span.attributes, "http.response.status_code").as_deref() == Some("200")));
    // The metrics count what was kept, too.
    assert_eq!(counted(&verifier), Some(5));
}

#[test]
fn a_collector_restarted_mid_run_loses_nothing_that_fits_the_buffer() {
    let _lane = crate::lanes::load();
    let verifier = Verifier::start();
    let mut rotel = Rotel::start(&verifier);
    let child = spawn(
        &["-n", "300", "--rate", "100", "-q", "--otlp", &format!("http://{}", rotel.http), &http("/bytes/16")],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100"), ("OTEL_BSP_MAX_QUEUE_SIZE", "100000"), ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000")],
    );
    // Some spans arrive; then the collector goes away for a second and comes back.
    let early = verifier.wait_spans(Duration::from_secs(10), |s| !requests(s).is_empty());
    assert!(!requests(&early).is_empty(), "nothing exported before the restart: {}", rotel.log());
    rotel.stop();
    std::thread::sleep(Duration::from_millis(1000));
    rotel.restart();
    let (code, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("not delivered"), "{stderr}");
    let spans = verifier.wait_spans(Duration::from_secs(20), |s| requests(s).len() >= 300);
    let ids: HashSet<String> = requests(&spans).iter().map(|s| attr(&s.span.attributes, "httptrace.request.id").unwrap()).collect();
    assert_eq!((requests(&spans).len(), ids.len()), (300, 300), "{}", rotel.log());
}

#[test]
fn a_dead_collector_is_one_stderr_line_the_same_exit_code_and_no_hang() {
    // A port nothing listens on.
    let dead = httptrace_tests::nginx::free_addr();
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{dead}")), ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500".to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let start = Instant::now();
    let run = cli(&["-p", "ndjson", &http("/status/200")], &env);
    let took = start.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(parse_ndjson(&run.stdout).iter().any(|e| matches!(e.kind, EventKind::RequestDone { .. })), "the output is whole");
    let lines = run.diagnostics();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].contains("not delivered") && lines[0].contains(&dead.to_string()) && lines[0].contains("refused"), "{}", lines[0]);
    assert!(took < Duration::from_secs(6), "took {took:?}");
    // A failed request keeps its own exit code.
    let closed = httptrace_tests::nginx::free_addr();
    let run = cli(&["-p", "ndjson", &format!("http://{closed}/")], &env);
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert_eq!(run.stderr.lines().filter(|l| l.contains("httptrace: otlp: ") && l.contains("not delivered")).count(), 1, "{}", run.stderr);
}

/// One HTTP/1.1 request's head, as a server on loopback received it; answers 200.
fn capture_one_request() -> (String, std::thread::JoinHandle<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        String::from_utf8_lossy(&head).into_owned()
    });
    (url, handle)
}

#[test]
fn propagated_trace_context_reaches_the_server_and_matches_the_exported_ids() {
    let verifier = Verifier::start();
    let rotel = Rotel::start(&verifier);
    let (url, server) = capture_one_request();
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let run = cli(
        &[
            "--propagate",
            "--traceparent",
            parent,
            "--tracestate",
            "vendor=x",
            "--otlp",
            &format!("http://{}", rotel.http),
            "-p",
            "ndjson",
            &url,
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let head = server.join().unwrap();
    let sent = head.lines().find_map(|l| l.strip_prefix("traceparent: ")).unwrap_or_else(|| panic!("no traceparent in {head}")).to_string();
    assert!(head.contains("tracestate: vendor=x\r\n"), "{head}");
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!((parts[0], parts[1], parts[3]), ("00", "0af7651916cd43dd8448eb211c80319c", "01"), "{sent}");
    let spans = verifier.wait_spans(Duration::from_secs(10), |s| s.len() >= 3);
    // The request span continues the caller's trace, under the caller's span...
    let req = spans.iter().find(|s| hex(&s.span.parent_span_id) == "b7ad6b7169203331").expect("the request span");
    assert_eq!(hex(&req.span.trace_id), "0af7651916cd43dd8448eb211c80319c");
    // ...and the hop span is the one the server was told of.
    let hop = children(&spans, &req.span.span_id);
    assert_eq!(hop.len(), 1);
    assert_eq!(hex(&hop[0].span.span_id), parts[2], "{}", rotel.log());

    // Without --traceparent: a new trace per request, and still the ids sent.
    let (url, server) = capture_one_request();
    let verifier2 = Verifier::start();
    let rotel2 = Rotel::start(&verifier2);
    let run = cli(&["--propagate", "--otlp", &format!("http://{}", rotel2.http), "-p", "ndjson", &url], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let head = server.join().unwrap();
    let sent = head.lines().find_map(|l| l.strip_prefix("traceparent: ")).expect("a traceparent").to_string();
    let spans = verifier2.wait_spans(Duration::from_secs(10), |s| s.len() >= 3);
    let req = requests(&spans)[0];
    let hop = children(&spans, &req.span.span_id)[0];
    assert_eq!(format!("00-{}-{}-01", hex(&req.span.trace_id), hex(&hop.span.span_id)), sent);
}

#[test]
fn bad_export_settings_are_usage_errors_naming_the_setting() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        (&["--otlp", "collector:4318"], &[], "--otlp"),
        (&["--otlp", "ftp://c/"], &[], "--otlp"),
        (
            &[],
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        (&["--propagate", "--traceparent", "00-xyz"], &[], "--traceparent"),
        (&["--otlp", "https://127.0.0.1:1", "--otlp-cacert", "/nonexistent.pem"], &[], "--otlp-cacert"),
    ];
    for (args, env, name) in cases {
        let mut all = args.to_vec();
        all.push("http://127.0.0.1:1/");
        let run = cli(&all, env);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        let lines = run.diagnostics();
        assert!(lines.len() == 1 && lines[0].contains(name), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn an_https_collector_is_reached_with_its_ca_over_http_and_grpc_and_refused_without() {
    let verifier = Verifier::start();
    let rotel = Rotel::start(&verifier);
    // nginx's stream module ends TLS in front of rotel's two receivers, with a self-signed
    // end-entity certificate (not a CA: rustls will not take one as the server's).
    let cert = ["-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"];
    let (nginx, addrs) = httptrace_tests::nginx::tls_in_front(&[rotel.http, rotel.grpc], &cert);
    let (http_tls, grpc_tls) = (addrs[0], addrs[1]);
    let ca = nginx.dir.path().join("tls.pem").display().to_string();
    for (addr, protocol) in [(http_tls, "http/protobuf"), (grpc_tls, "grpc")] {
        let before = requests(&verifier.spans()).len();
        let endpoint = format!("https://{addr}");
        let run = cli(
            &["--otlp", &endpoint, "--otlp-cacert", &ca, "-p", "ndjson", &http("/bytes/1")],
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)],
        );
        assert_eq!(run.code, 0, "{protocol}: {}", run.stderr);
        assert!(!run.stderr.contains("otlp"), "{protocol}: {}", run.stderr);
        let spans = verifier.wait_spans(Duration::from_secs(10), |s| requests(s).len() > before);
        assert_eq!(requests(&spans).len(), before + 1, "{protocol}: {}", rotel.log());
        // The system's roots do not vouch for the collector: refused at once, said once.
        let start = Instant::now();
        let run = cli(&["--otlp", &endpoint, "-p", "ndjson", &http("/bytes/1")], &[("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let lines = run.diagnostics();
        assert!(lines.len() == 1 && lines[0].contains("not delivered") && lines[0].contains("TLS"), "{protocol}: {}", run.stderr);
        assert!(start.elapsed() < Duration::from_secs(5), "{protocol}: took {:?}", start.elapsed());
    }
}

#[test]
fn an_interrupted_run_exports_every_request_it_finished() {
    let verifier = Verifier::start();
    let rotel = Rotel::start(&verifier);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.ndjson").display().to_string();
    let child = spawn(
        &["-n", "100000", "--rate", "50", "-q", "--otlp", &format!("http://{}", rotel.http), "-p", "ndjson", "-o", &log, &http("/bytes/8")],
        &[],
    );
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child's pid; no memory is passed.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let (code, stderr) = finish(child);
    assert_eq!(code, 130, "{stderr}");
    let done =
        parse_ndjson(&std::fs::read_to_string(&log).unwrap()).iter().filter(|e| matches!(e.kind, EventKind::RequestDone { .. })).count();
    assert!(done >= 20, "{done} requests in 1.5 s at 50/s");
    let spans = verifier.wait_spans(Duration::from_secs(10), |s| requests(s).len() >= done);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(requests(&verifier.spans()).len().max(requests(&spans).len()), done, "{}", rotel.log());
}

#[test]
fn secrets_stay_redacted_in_the_export() {
    let verifier = Verifier::start();
    let rotel = Rotel::start(&verifier);
    let url = http("/headers").replace("http://", "http://user:pa55word@");
    let run = cli(
        &[
            "-H",
            "Authorization: Bearer s3cret-token",
            "-b",
            "session=c00kie",
            "--otlp",
            &format!("http://{}", rotel.http),
            "-p",
            "ndjson",
            &url,
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let spans = verifier.wait_spans(Duration::from_secs(10), |s| !requests(s).is_empty());
    assert!(!spans.is_empty());
    let text = format!("{:?}", spans.iter().map(|s| &s.span).collect::<Vec<_>>());
    assert!(text.contains("[redacted]") && text.contains("authorization"), "the header fields are span events");
    for secret in ["s3cret-token", "c00kie", "pa55word"] {
        assert!(!text.contains(secret), "{secret} exported");
    }
}

#[test]
fn a_replayed_log_is_exported_at_its_recorded_times() {
    let verifier = Verifier::start();
    let rotel = Rotel::start(&verifier);
    let log = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/conformance.ndjson");
    let events = parse_ndjson(&std::fs::read_to_string(log).unwrap());
    let starts: HashMap<u64, u64> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RequestStart { wall_unix_ns, .. } if e.hop == 0 => Some((e.request, *wall_unix_ns - e.at_ns)),
            _ => None,
        })
        .collect();
    let run = cli(&["replay", log, "--otlp", &format!("http://{}", rotel.http), "-p", "ndjson", "-o", "/dev/null"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let spans = verifier.wait_spans(Duration::from_secs(10), |s| requests(s).len() >= starts.len());
    let reqs = requests(&spans);
    assert_eq!(reqs.len(), starts.len(), "{}", rotel.log());
    for r in reqs {
        let id: u64 = attr(&r.span.attributes, "httptrace.request.id").unwrap().parse().unwrap();
        assert_eq!(r.span.start_time_unix_nano, starts[&id], "request {id}");
    }
    // The proxied requests of the log have their tunnel as a phase, and the proxy's own lookup
    // and connect name the proxy (the origin's do not).
    assert!(spans.iter().any(|s| s.span.name == "proxy tunnel"));
    let proxy_of = |name: &str| -> Vec<Option<String>> {
        spans.iter().filter(|s| s.span.name == name).map(|s| attr(&s.span.attributes, "httptrace.proxy")).collect()
    };
    let socks = |p: &Option<String>| p.as_deref().is_some_and(|p| p.starts_with("socks5h://localhost:"));
    assert!(proxy_of("dns").iter().any(socks) && proxy_of("dns").iter().any(Option::is_none), "{:?}", proxy_of("dns"));
    assert!(proxy_of("connect").iter().filter(|p| p.is_some()).count() >= 3, "{:?}", proxy_of("connect"));
}

#[test]
fn sampled_spans_come_whole_and_the_metrics_count_every_request() {
    let _lane = crate::lanes::load();
    let verifier = Verifier::start();
    let rotel = Rotel::start(&verifier);
    // `stats` wants request-done alone: the engine records the phases for the sampled requests.
    let run = cli(
        &["-n", "400", "-c", "4", "-q", "--otlp", &format!("http://{}", rotel.http), "-p", "stats", &http("/bytes/8")],
        &[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.25")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let start = Instant::now();
    while counted(&verifier).unwrap_or(0) < 400 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(counted(&verifier), Some(400), "{}", rotel.log());
    // The collector forwards traces and metrics apart: the spans may come later.
    verifier.wait_spans(Duration::from_secs(5), |s| requests(s).len() >= 50);
    std::thread::sleep(Duration::from_millis(300));
    let spans = verifier.spans();
    let reqs = requests(&spans);
    assert!((50..=150).contains(&reqs.len()), "{} of 400 requests exported at 25 %", reqs.len());
    for r in reqs {
        let hop = children(&spans, &r.span.span_id);
        assert_eq!(hop.len(), 1);
        let phases: HashSet<String> = children(&spans, &hop[0].span.span_id).iter().map(|p| p.span.name.clone()).collect();
        assert!(["send", "wait", "receive"].iter().all(|p| phases.contains(*p)), "{phases:?}");
    }
}

#[test]
fn a_busy_collector_is_retried_and_a_refusing_one_is_not() {
    // The exporter's own retries, straight to the receiver: 503 and 429 three times, then 200.
    for status in [503, 429] {
        let verifier = Verifier::failing(3, status);
        let start = Instant::now();
        let run = cli(&["--otlp", &format!("http://{}", verifier.addr), "-p", "ndjson", &http("/bytes/1")], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(!run.stderr.contains("otlp"), "{status}: {}", run.stderr);
        assert_eq!(requests(&verifier.spans()).len(), 1, "{status}");
        assert!(verifier.requests() >= 5, "{status}: 3 refused, then the spans and the metrics");
        // Backoff 100, 200, 400 ms before the spans went through.
        assert!(start.elapsed() >= Duration::from_millis(600), "{status}: {:?}", start.elapsed());
    }
    // 400: the data is refused for good; said once, not retried.
    let verifier = Verifier::failing(1000, 400);
    let run = cli(&["--otlp", &format!("http://{}", verifier.addr), "-p", "ndjson", &http("/bytes/1")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.diagnostics();
    assert!(lines.len() == 1 && lines[0].contains("400"), "{}", run.stderr);
    assert_eq!(verifier.requests(), 2, "one try for the spans, one for the metrics");
}

/// Waits for `child` and returns its exit code and the CPU time it used (user + system).
fn wait_cpu(child: std::process::Child) -> (i32, Duration) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid, with pointers to live locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    (libc::WEXITSTATUS(status), tv(usage.ru_utime) + tv(usage.ru_stime))
}

#[test]
fn a_collector_that_never_answers_costs_the_deadline_and_no_cpu() {
    // Accepts connections, never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let start = Instant::now();
    let endpoint = format!("http://{addr}");
    let url = http("/bytes/1");
    let mut cmd = command(
        &["-n", "40", "--rate", "20", "-q", "--otlp", &endpoint, &url],
        &[("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"), ("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (code, cpu) = wait_cpu(child);
    let mut text = String::new();
    stderr.read_to_string(&mut text).unwrap();
    let took = start.elapsed();
    assert_eq!(code, 0, "{text}");
    // Two seconds of requests, then at most the 1 s deadline (and the start-up).
    assert!(took < Duration::from_millis(4500), "took {took:?}: {text}");
    assert_eq!(text.lines().filter(|l| l.contains("not delivered")).count(), 1, "{text}");
    // Waiting on a silent collector (sends timing out, retries backing off) is not spinning.
    assert!(cpu < Duration::from_millis(1500), "{cpu:?} of CPU in {took:?}");
}

#[test]
fn gzip_and_tls_phases_reach_the_collector() {
    let verifier = Verifier::start();
    let url = format!("https://{}/bytes/100", crate::plugins_support::server().https_addr);
    let cacert = crate::plugins_support::server().cert_path.display().to_string();
    let run = cli(
        &["--cacert", &cacert, "--otlp", &format!("http://{}", verifier.addr), "-p", "ndjson", &url],
        &[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("otlp"), "{}", run.stderr);
    let t = timings(&parse_ndjson(&run.stdout));
    let t = t.values().next().expect("a request");
    let spans = verifier.wait_spans(Duration::from_secs(5), |s| !requests(s).is_empty());
    let req = requests(&spans)[0];
    let hop = children(&spans, &req.span.span_id)[0];
    let phases = children(&spans, &hop.span.span_id);
    let tls = phases.iter().find(|p| p.span.name == "tls").expect("a tls span");
    assert!((duration_ms(tls) - t.ssl).abs() <= 0.001, "tls {} ms, ndjson ssl {} ms", duration_ms(tls), t.ssl);
    assert!(attr(&tls.span.attributes, "tls.protocol.version").is_some());
    // HAR's connect runs from the connect attempt to the end of TLS.
    let connect = phases.iter().find(|p| p.span.name == "connect").expect("a connect span");
    let har_connect = (tls.span.end_time_unix_nano - connect.span.start_time_unix_nano) as f64 / 1e6;
    assert!((har_connect - t.connect).abs() <= 0.001, "{har_connect} vs {}", t.connect);
}
