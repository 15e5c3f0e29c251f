//! Load mode and the aggregate outputs, end to end through the CLI against the local server:
//! `stats` counts and percentiles agree with the per-request `ndjson` of the same run; k6-style
//! thresholds pass and fail with their exit code; `har` validates against the HAR 1.2 schema;
//! `--rate` keeps its schedule and measures latency from the scheduled start.

use crate::plugins_support::{cli, http, parse_ndjson, server};
use httptrace::{Event, EventKind};
use serde_json::Value;

fn https(path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", server().https_addr.port())
}

/// Splits one run's output into the ndjson events and the stats JSON document (last line).
fn events_and_stats(stdout: &str) -> (Vec<Event>, Value) {
    let (ndjson, stats): (Vec<&str>, Vec<&str>) = stdout.lines().partition(|l| l.starts_with("{\"event\""));
    assert_eq!(stats.len(), 1, "one stats document: {stats:?}");
    (parse_ndjson(&ndjson.join("\n")), serde_json::from_str(stats[0]).unwrap())
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

fn agree(label: &str, stat: f64, exact: f64) {
    // 3 significant digits in the histogram, values printed to the microsecond.
    let tol = exact.abs() * 0.002 + 0.0015;
    assert!((stat - exact).abs() <= tol, "{label}: stats says {stat} ms, the events say {exact} ms");
}

fn check_stats_against_events(args: &[&str]) {
    let mut all = vec!["-n", "1000", "-c", "16", "-q", "-p", "ndjson", "-p", "stats", "--plugin-config", "format=json"];
    all.extend_from_slice(args);
    let run = cli(&all, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (events, stats) = events_and_stats(&run.stdout);
    let done: Vec<&Event> = events.iter().filter(|e| matches!(e.kind, EventKind::RequestDone { .. })).collect();
    assert_eq!(done.len(), 1000);
    assert_eq!(stats["requests"], 1000);
    assert_eq!(stats["status"]["200"], 1000);
    type Pick = fn(&httptrace::summary::Timings) -> f64;
    let phases: [(&str, Pick); 4] = [("wait", |t| t.wait), ("send", |t| t.send), ("receive", |t| t.receive), ("total", |t| t.total)];
    for (name, pick) in phases {
        let mut values: Vec<f64> = done
            .iter()
            .map(|e| match &e.kind {
                EventKind::RequestDone { timings, .. } => pick(timings),
                _ => unreachable!(),
            })
            .collect();
        values.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let s = &stats["phases"][name];
        assert_eq!(s["count"], 1000, "{name}");
        agree(&format!("{name} min"), s["min"].as_f64().unwrap(), values[0]);
        agree(&format!("{name} max"), s["max"].as_f64().unwrap(), *values.last().unwrap());
        agree(&format!("{name} mean"), s["mean"].as_f64().unwrap(), values.iter().sum::<f64>() / values.len() as f64);
        for (label, q) in [("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0)] {
            agree(&format!("{name} {label}"), s[label].as_f64().unwrap(), percentile(&values, q));
        }
    }
    let opened = events.iter().filter(|e| matches!(e.kind, EventKind::GotConn { reused: false, .. })).count();
    assert_eq!(stats["connections"]["opened"], opened as u64);
    assert_eq!(stats["connections"]["reused"], 1000 - opened as u64);
    // Bytes: the header blocks and bodies the events report, all of them.
    let received: u64 = events
        .iter()
        .map(|e| match &e.kind {
            EventKind::ResponseHeaders { header_bytes, .. } => *header_bytes,
            EventKind::ResponseDone { body_bytes, .. } => *body_bytes,
            _ => 0,
        })
        .sum();
    assert!(received >= 1000 * 100, "{received}");
    assert_eq!(stats["bytes"]["received"], received);
    // The total-time histogram: oha's 11 buckets from min to max, every request in one of them.
    let hist = stats["histogram"].as_array().expect("histogram");
    assert_eq!(hist.len(), 11, "{hist:?}");
    assert_eq!(hist.iter().map(|b| b["count"].as_u64().unwrap()).sum::<u64>(), 1000);
    agree("histogram first bound", hist[0]["le_ms"].as_f64().unwrap(), stats["phases"]["total"]["min"].as_f64().unwrap());
    agree("histogram last bound", hist[10]["le_ms"].as_f64().unwrap(), stats["phases"]["total"]["max"].as_f64().unwrap());
    assert!(hist.windows(2).all(|w| w[0]["le_ms"].as_f64() < w[1]["le_ms"].as_f64()), "{hist:?}");
}

#[test]
fn stats_over_http1_agrees_with_the_events() {
    let _lane = crate::lanes::load();
    check_stats_against_events(&[&http("/bytes/100")]);
}

#[test]
fn stats_over_http2_agrees_with_the_events() {
    let _lane = crate::lanes::load();
    let url = https("/bytes/100");
    check_stats_against_events(&["-k", &url]);
}

#[test]
fn http2_load_shares_one_connection() {
    let _lane = crate::lanes::load();
    let url = https("/");
    let run = cli(&["-n", "200", "-c", "16", "-q", "-k", "-p", "stats", "--plugin-config", "format=json", &url], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stats: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(stats["connections"]["opened"], 1, "{stats}");
    assert_eq!(stats["phases"]["tls"]["count"], 1);
}

#[test]
fn load_on_several_engine_threads_keeps_every_request_whole_and_a_connection_per_worker() {
    let _lane = crate::lanes::load();
    // Three single-threaded runtimes share six workers: every request reaches the plugins whole,
    // and the pool hands each thread its own connections (one per worker, never a new dial).
    let run = cli(
        &["-n", "600", "-c", "6", "--threads", "3", "-q", "-p", "ndjson", "-p", "stats", "--plugin-config", "format=json", &http("/")],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (events, stats) = events_and_stats(&run.stdout);
    assert_eq!(stats["requests"], 600, "{stats}");
    assert_eq!(stats["status"]["200"], 600, "{stats}");
    let mut ids: Vec<u64> = events.iter().filter(|e| matches!(e.kind, EventKind::RequestDone { .. })).map(|e| e.request).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 600);
    for id in ids {
        let names: Vec<&str> = events.iter().filter(|e| e.request == id).map(|e| e.kind.name()).collect();
        assert_eq!(names.first(), Some(&"request-start"), "request {id}: {names:?}");
        assert_eq!(names.last(), Some(&"request-done"), "request {id}: {names:?}");
        assert!(names.contains(&"got-conn") && names.contains(&"response-done"), "request {id}: {names:?}");
    }
    let opened = events.iter().filter(|e| matches!(e.kind, EventKind::GotConn { reused: false, .. })).count();
    assert!((1..=6).contains(&opened), "one connection per worker at most, opened {opened}");
}

#[test]
fn http2_load_on_several_engine_threads_still_shares_one_connection() {
    let _lane = crate::lanes::load();
    // The connection's task lives on one thread's runtime; the others use it until all are done.
    let url = https("/");
    let run = cli(&["-n", "300", "-c", "12", "--threads", "3", "-q", "-k", "-p", "stats", "--plugin-config", "format=json", &url], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stats: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(stats["status"]["200"], 300, "{stats}");
    assert_eq!(stats["connections"]["opened"], 1, "{stats}");
}

#[test]
fn threads_must_be_a_positive_count() {
    let _lane = crate::lanes::load();
    let run = cli(&["-n", "2", "--threads", "0", &http("/")], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("--threads"), "{}", run.stderr);
}

#[test]
fn stats_text_table_has_every_phase_and_percentile() {
    let _lane = crate::lanes::load();
    let run = cli(&["-n", "50", "-c", "4", "-q", "-p", "stats", &http("/")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let header = run.stdout.lines().find(|l| l.starts_with("phase")).expect("table header");
    for col in ["count", "min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max"] {
        assert!(header.split_whitespace().any(|w| w == col), "{col} in {header}");
    }
    for phase in ["blocked", "dns", "connect", "tls", "send", "wait", "receive", "total"] {
        assert!(run.stdout.lines().any(|l| l.starts_with(phase)), "{phase} row missing:\n{}", run.stdout);
    }
    assert!(run.stdout.contains("requests     50 in "), "{}", run.stdout);
    // The bytes: 50 bodies of 100 bytes and their header blocks.
    let received = run.stdout.lines().find(|l| l.starts_with("received ")).expect("received line");
    assert!(received.contains("/request), ") && received.ends_with("/s"), "{received}");
    let sent = run.stdout.lines().find(|l| l.starts_with("sent ")).expect("sent line");
    assert_eq!(sent, "sent         0 B of request bodies");
    // The oha-style histogram: eleven bars whose counts add up to the requests.
    let at = run.stdout.find("total time histogram (ms)\n").expect("histogram heading");
    let bars: Vec<&str> = run.stdout[at..].lines().skip(1).take_while(|l| l.contains(" |")).collect();
    assert_eq!(bars.len(), 11, "{}", run.stdout);
    let count = |l: &str| -> u64 { l.split('[').nth(1).unwrap().split(']').next().unwrap().trim().parse().unwrap() };
    assert_eq!(bars.iter().map(|l| count(l)).sum::<u64>(), 50, "{}", run.stdout);
    // The largest bucket's bar is the full 32 characters; no colour without a terminal.
    let longest = bars.iter().map(|l| l.split(" |").nth(1).unwrap().chars().count()).max();
    assert_eq!(longest, Some(32), "{}", run.stdout);
    assert!(!run.stdout.contains('\x1b'));
    // A run this short has no sparkline.
    assert!(!run.stdout.contains("requests/s "), "{}", run.stdout);
}

#[test]
fn a_run_of_seconds_shows_requests_per_second_over_time() {
    let _lane = crate::lanes::load();
    // -c 1 and 20 ms per request: about 50 requests in each of 3 seconds.
    let url = http("/delay/20");
    let run = cli(&["--duration", "3s", "-c", "1", "-q", "-p", "stats", &url], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = run.stdout.lines().find(|l| l.starts_with("requests/s ")).unwrap_or_else(|| panic!("no sparkline:\n{}", run.stdout));
    let marks = line.chars().filter(|c| ('\u{2581}'..='\u{2588}').contains(c)).count();
    assert!((2..=3).contains(&marks), "{line}");
    assert!(line.ends_with(", 1 s a mark"), "{line}");
    let json = cli(&["--duration", "3s", "-c", "1", "-q", "-p", "stats", "--plugin-config", "format=json", &url], &[]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let stats: Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(stats["per_second"]["interval_s"], 1.0);
    let rps: Vec<f64> = stats["per_second"]["rps"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!((2..=3).contains(&rps.len()), "{rps:?}");
    // Each whole second: at most 50 requests of 20 ms, and not far below (the client is idle).
    assert!(rps.iter().all(|&r| (20.0..=51.0).contains(&r)), "{rps:?}");
    let requests = stats["requests"].as_f64().unwrap();
    assert!(rps.iter().sum::<f64>() <= requests, "{rps:?} vs {requests}");
    // The client's lag on the responses the kernel stamped (all of them, on Linux).
    if cfg!(target_os = "linux") {
        let lag = &stats["client_lag"];
        assert!(lag["count"].as_f64().is_some_and(|n| n > 0.0 && n <= requests), "{lag}");
        assert!(
            lag["p50"].as_f64().unwrap() <= lag["p99"].as_f64().unwrap() && lag["p99"].as_f64().unwrap() <= lag["max"].as_f64().unwrap()
        );
        assert!(run.stdout.contains("\nclient lag   p50 "), "{}", run.stdout);
    }
}

#[test]
fn thresholds_pass_and_fail_with_their_exit_code() {
    let _lane = crate::lanes::load();
    let pass = cli(
        &[
            "-n",
            "20",
            "-q",
            "-p",
            "stats",
            "--plugin-config",
            "threshold=p95(total)<10s",
            "--plugin-config",
            "threshold=max(wait) <= 5s",
            &http("/"),
        ],
        &[],
    );
    assert_eq!(pass.code, 0, "{}", pass.stderr);
    assert!(pass.stdout.contains("ok   p95(total)<10s:"), "{}", pass.stdout);

    let fail = cli(&["-n", "5", "-q", "-p", "stats", "--plugin-config", "threshold=p95(wait)<1ms", &http("/delay/30")], &[]);
    assert_eq!(fail.code, httptrace_cli::exit::THRESHOLD_FAILED, "{}", fail.stderr);
    assert!(fail.stdout.contains("FAIL p95(wait)<1ms:"), "{}", fail.stdout);
    let line = fail.stderr.lines().find(|l| l.contains("threshold p95(wait)<1ms failed: measured")).expect(&fail.stderr);
    let measured: f64 = line.rsplit("measured ").next().unwrap().trim_end_matches("ms").parse().unwrap();
    assert!(measured >= 30.0, "{line}");

    let bad = cli(&["-p", "stats", "--plugin-config", "threshold=p95(nap)<1ms", &http("/")], &[]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("unknown phase `nap`"), "{}", bad.stderr);
    assert!(bad.stdout.is_empty());
}

/// Parses `text` and checks it with npm's har-validator (`tests/node-checks`, installed by
/// `scripts/test.sh`): the HAR 1.2 schema as HAR tools check it.
/// Then imports it with the DevTools bundled in chromium (its Network panel's HAR import) and
/// checks that DevTools sees each entry as written: URL, method, status, address, connection,
/// length, phase boundaries and request body.
pub(crate) fn validate_har(text: &str) -> Value {
    let har: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("HAR is not JSON: {e}\n{text}"));
    crate::plugins_support::node_check("validate.js", "har-validator", text, "HAR 1.2 violations (har-validator)");
    let imported = crate::plugins_support::devtools_import("har", text);
    // DevTools orders the entries by start (a stable sort), as they are written by end.
    let mut entries: Vec<&Value> = har["log"]["entries"].as_array().unwrap().iter().collect();
    entries.sort_by_key(|e| e["startedDateTime"].as_str().unwrap().to_string());
    let requests = imported["requests"].as_array().unwrap();
    assert_eq!(requests.len(), entries.len(), "DevTools imported {imported}");
    assert_eq!(imported["pages"], har["log"]["pages"].as_array().map_or(0, |p| p.len()));
    for (e, r) in entries.iter().zip(requests) {
        let ctx = format!("DevTools made {r} of {e}");
        assert_eq!(r["url"], e["request"]["url"], "{ctx}");
        assert_eq!(r["method"], e["request"]["method"], "{ctx}");
        assert_eq!(r["status"], e["response"]["status"], "{ctx}");
        assert_eq!(r["statusText"], e["response"]["statusText"], "{ctx}");
        assert_eq!(r["finished"], true, "{ctx}");
        if let (Some(ip), Some(port)) = (e["serverIPAddress"].as_str(), e["connection"].as_str()) {
            assert_eq!(r["remoteAddress"], format!("{ip}:{port}"), "{ctx}");
        }
        assert_eq!(r["connectionId"].as_str(), Some(e["_connectionId"].as_str().unwrap_or("")), "{ctx}");
        // DevTools' timing: seconds from the entry's start, milliseconds from there on.
        let secs = r["endTime"].as_f64().unwrap() - r["startTime"].as_f64().unwrap();
        assert!((secs * 1e3 - e["time"].as_f64().unwrap()).abs() < 0.01, "{ctx}");
        let t = &e["timings"];
        let ms = |k: &str| t[k].as_f64().unwrap().max(0.0);
        let timing = &r["timing"];
        if t["send"].as_f64().unwrap() >= 0.0 {
            let headers = ms("blocked") + ms("dns") + ms("connect") + ms("send") + ms("wait");
            assert!((timing["receiveHeadersEnd"].as_f64().unwrap() - headers).abs() < 0.01, "{ctx}");
            assert!((timing["sendStart"].as_f64().unwrap() - (ms("blocked") + ms("dns") + ms("connect"))).abs() < 0.01, "{ctx}");
        }
        if t["ssl"].as_f64().unwrap() > 0.0 {
            let tls = timing["sslEnd"].as_f64().unwrap() - timing["sslStart"].as_f64().unwrap();
            assert!((tls - ms("ssl")).abs() < 0.01, "{ctx}");
        }
        match e["request"]["postData"]["text"].as_str() {
            Some(body) => assert_eq!(r["postData"], body, "{ctx}"),
            None => assert!(r["postData"].is_null(), "{ctx}"),
        }
    }
    har
}

#[test]
fn har_is_valid_for_plain_tls_and_redirects() {
    let _lane = crate::lanes::load();
    let url = https("/bytes/10?x=1");
    let tls = cli(&["-k", "-p", "har", &url], &[]);
    assert_eq!(tls.code, 0, "{}", tls.stderr);
    let har = validate_har(&tls.stdout);
    let e = &har["log"]["entries"][0];
    assert!(e["timings"]["ssl"].as_f64().unwrap() > 0.0);
    assert!(e["timings"]["connect"].as_f64().unwrap() >= e["timings"]["ssl"].as_f64().unwrap());
    assert_eq!(e["serverIPAddress"], "127.0.0.1");
    assert_eq!(e["response"]["httpVersion"], "HTTP/2");
    assert_eq!(e["request"]["queryString"][0]["name"], "x");
    let sum: f64 = ["blocked", "dns", "connect", "send", "wait", "receive"]
        .iter()
        .map(|k| e["timings"][k].as_f64().unwrap())
        .filter(|v| *v >= 0.0)
        .sum();
    assert!((sum - e["time"].as_f64().unwrap()).abs() < 1e-6, "time = sum of timings (ssl inside connect)");
    // What HAR has no field for: the TLS session and the connect attempt.
    assert_eq!(e["_tls"]["version"], "TLSv1.3");
    assert_eq!(e["_tls"]["resumed"], false);
    assert_eq!(e["_tls"]["alpn"], "h2");
    let attempts = e["_connectAttempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["outcome"], "connected");
    assert_eq!(attempts[0]["address"], format!("127.0.0.1:{}", server().https_addr.port()));
    assert!(attempts[0]["time"].as_f64().unwrap() > 0.0);
    assert_eq!(e["response"]["statusText"], "OK");
    assert_eq!(e["request"]["headersSize"], -1, "HTTP/2 has no text header block");
    // One page for the run, which every entry names.
    let pages = har["log"]["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!(e["pageref"], pages[0]["id"]);
    assert_eq!(pages[0]["startedDateTime"], e["startedDateTime"]);
    assert!(pages[0]["pageTimings"]["onLoad"].as_f64().unwrap() >= e["time"].as_f64().unwrap() - 1e-3);

    let redirects = cli(&["-L", "-p", "har", &http("/redirect/2")], &[]);
    assert_eq!(redirects.code, 0, "{}", redirects.stderr);
    let har = validate_har(&redirects.stdout);
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "one entry per hop");
    assert_eq!(entries.iter().map(|e| e["response"]["status"].as_u64().unwrap()).collect::<Vec<_>>(), [302, 302, 200]);
    assert!(entries[0]["response"]["redirectURL"].as_str().unwrap().ends_with("/redirect/1"));
    assert_eq!(entries[1]["timings"]["connect"], -1.0, "hop 1 reuses the connection");
    assert_eq!(entries[0]["_connectionId"], entries[1]["_connectionId"]);
    assert_eq!(entries[0]["connection"], server().http_addr.port().to_string(), "the server's port, as Chrome writes it");
    assert_eq!(entries[0]["response"]["statusText"], "Found");
    assert!(entries[1].get("_connectAttempts").is_none(), "a reused connection made no attempt");
    // HTTP/1.1: the header block's size is the request line, the fields and the blank line.
    let fields: u64 = entries[0]["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["name"].as_str().unwrap().len() + 2 + h["value"].as_str().unwrap().len() + 2) as u64)
        .sum();
    assert_eq!(entries[0]["request"]["headersSize"].as_u64().unwrap(), "GET /redirect/2 HTTP/1.1\r\n".len() as u64 + fields + 2);

    let many = cli(&["-n", "30", "-c", "3", "-q", "-p", "har", &http("/")], &[]);
    assert_eq!(validate_har(&many.stdout)["log"]["entries"].as_array().unwrap().len(), 30);

    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let failed = cli(&["-p", "har", &format!("http://{refused}/")], &[]);
    assert_eq!(failed.code, 7);
    let har = validate_har(&failed.stdout);
    assert_eq!(har["log"]["entries"][0]["_error"]["phase"], "connect");
    assert_eq!(har["log"]["entries"][0]["_connectAttempts"][0]["outcome"], "refused");
}

#[test]
fn har_has_the_post_data_and_the_clients_lag() {
    // A form (params decoded as browsers encode them) and a JSON body, as text; a body's
    // size in `bodySize`.
    let form = cli(&["-p", "har", "-d", "name=caf%C3%A9+au+lait&n=1", &http("/continue")], &[]);
    assert_eq!(form.code, 0, "{}", form.stderr);
    let har = validate_har(&form.stdout);
    let request = &har["log"]["entries"][0]["request"];
    assert_eq!(request["postData"]["mimeType"], "application/x-www-form-urlencoded");
    assert_eq!(request["postData"]["text"], "name=caf%C3%A9+au+lait&n=1");
    assert_eq!(request["postData"]["params"], serde_json::json!([{"name": "name", "value": "café au lait"}, {"name": "n", "value": "1"}]));
    assert_eq!(request["bodySize"], 26);
    let json = cli(&["-p", "har", "--json", r#"{"a":1}"#, &http("/continue")], &[]);
    let har = validate_har(&json.stdout);
    let post = &har["log"]["entries"][0]["request"]["postData"];
    assert_eq!(
        (post["mimeType"].as_str(), post["text"].as_str(), post.get("params")),
        (Some("application/json"), Some(r#"{"a":1}"#), None)
    );
    // A GET has none. (It waits 5 ms for its answer: a reply on loopback can come so soon that
    // the kernel's stamp, mapped from the wall clock, is not after the write by a margin, and
    // is then not used.)
    let get = validate_har(&cli(&["-p", "har", &http("/delay/5")], &[]).stdout);
    assert!(get["log"]["entries"][0]["request"].get("postData").is_none());
    // On Linux the kernel stamps the response's arrival: the client's own delay in reading it.
    if cfg!(target_os = "linux") {
        let lag = &get["log"]["entries"][0]["_clientLag"];
        assert!(lag.as_f64().is_some_and(|ms| (0.0..1000.0).contains(&ms)), "{lag}");
    }
}

/// Load mode's default stamps: with one request in flight the writes keep the kernel's
/// transmit stamps, as a single request's do (such a run measures latency); with more in flight
/// only the receive stamps (transmit stamps cost client CPU per write); `--kernel-stamps`
/// decides over both.
#[cfg(target_os = "linux")]
#[test]
fn load_mode_keeps_transmit_stamps_with_one_request_in_flight() {
    use httptrace::StampClock;
    // (5 ms per answer: an answer on loopback can come so soon that the kernel's stamp is not
    // after the write by a margin, and is then not used.)
    let url = http("/delay/5");
    let clocks = |args: &[&str]| -> Vec<(StampClock, StampClock)> {
        let run = cli(&[args, &["-p", "ndjson", &url]].concat(), &[]);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let events = parse_ndjson(&run.stdout);
        let wrote = events.iter().filter_map(|e| match &e.kind {
            EventKind::WroteRequest { clock, .. } => Some(*clock),
            _ => None,
        });
        let first = events.iter().filter_map(|e| match &e.kind {
            EventKind::GotFirstResponseByte { clock } => Some(*clock),
            _ => None,
        });
        wrote.zip(first).collect()
    };
    let (kernel, engine) = (StampClock::Kernel, StampClock::Engine);
    for args in [&["-n", "4"][..], &["-n", "4", "-c", "1"], &["-n", "4", "-c", "2", "--kernel-stamps", "all"]] {
        assert_eq!(clocks(args), [(kernel, kernel); 4], "{args:?}");
    }
    assert_eq!(clocks(&["-n", "4", "-c", "2"]), [(engine, kernel); 4]);
    assert_eq!(clocks(&["-n", "4", "-c", "1", "--kernel-stamps", "receive"]), [(engine, kernel); 4]);
}

#[test]
fn har_cookies_show_only_with_show_secrets() {
    let url = http("/headers");
    let args = ["-p", "har", "-H", "Cookie: sid=s3cret; theme=dark", &url];
    let hidden = cli(&args, &[]);
    assert_eq!(hidden.code, 0, "{}", hidden.stderr);
    let har = validate_har(&hidden.stdout);
    assert_eq!(har["log"]["entries"][0]["request"]["cookies"], serde_json::json!([]));
    assert!(!hidden.stdout.contains("s3cret"));
    assert_eq!(har["log"]["entries"][0]["request"]["headersSize"], -1, "a redacted value has no true size");
    let shown = cli(&[&["--show-secrets"][..], &args].concat(), &[]);
    let har = validate_har(&shown.stdout);
    assert_eq!(
        har["log"]["entries"][0]["request"]["cookies"],
        serde_json::json!([{ "name": "sid", "value": "s3cret" }, { "name": "theme", "value": "dark" }])
    );
    assert!(har["log"]["entries"][0]["request"]["headersSize"].as_u64().unwrap() > 0);
}

#[test]
fn rate_keeps_its_schedule_against_a_slow_server() {
    let _lane = crate::lanes::load();
    // 20/s for 10 requests against a 300 ms server: open loop, so all start on schedule
    // (~50 ms apart) and the run takes ~0.75 s, not 10 × 0.3 s; also with the schedule shared
    // by three engine threads (each starts every third request).
    for threads in ["1", "3"] {
        let started = std::time::Instant::now();
        let run = cli(&["--rate", "20/s", "-n", "10", "-c", "100", "--threads", threads, "-q", "-p", "ndjson", &http("/delay/300")], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(started.elapsed().as_secs_f64() < 2.5, "took {:?}", started.elapsed());
        let events = parse_ndjson(&run.stdout);
        let mut starts: Vec<u64> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::RequestStart { wall_unix_ns, .. } => Some(wall_unix_ns - e.at_ns),
                _ => None,
            })
            .collect();
        starts.sort();
        assert_eq!(starts.len(), 10, "--threads {threads}");
        for (i, w) in starts.windows(2).enumerate() {
            let gap_ms = (w[1] - w[0]) as f64 / 1e6;
            assert!((30.0..=90.0).contains(&gap_ms), "--threads {threads}: gap {i} is {gap_ms} ms");
        }
    }

    // One request in flight at a time: later requests wait for a slot, and that wait is part of
    // their latency because the clock starts at the scheduled time.
    let run = cli(&["--rate", "20/s", "-n", "6", "-c", "1", "-q", "-p", "ndjson", &http("/delay/100")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let totals: Vec<f64> = parse_ndjson(&run.stdout)
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RequestDone { timings, .. } => Some(timings.total),
            _ => None,
        })
        .collect();
    let last = totals.iter().cloned().fold(0.0, f64::max);
    assert!(last >= 300.0, "the 6th request queued ~250 ms behind its schedule: totals {totals:?}");
    // ... and the run says the schedule could not be kept (k6's "dropped iterations").
    assert!(
        run.stderr.contains("the --rate schedule could not be kept: ") && run.stderr.contains(" of 6 requests started more than 1 ms late"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("at most 1 in flight: raise -c"), "{}", run.stderr);
}

/// `--rate` keeps its schedule to well under a millisecond (tokio's timer alone made every
/// request ≥ 1 ms late, counted as `blocked`), and without `-c` allows one second's worth in
/// flight: 100/s against a 150 ms server needs ~15 at once, where a default of 1 fell behind.
#[test]
fn rate_starts_requests_on_time_and_in_flight_follows_the_rate() {
    let _lane = crate::lanes::load();
    let run = cli(&["--rate", "500/s", "-n", "500", "-q", "-p", "ndjson", &http("/")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut blocked: Vec<f64> = parse_ndjson(&run.stdout)
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RequestDone { timings, .. } => Some(timings.blocked),
            _ => None,
        })
        .collect();
    assert_eq!(blocked.len(), 500);
    blocked.sort_by(f64::total_cmp);
    let median = blocked[blocked.len() / 2];
    assert!(median < 0.5, "half the requests started over {median} ms late: {:?}", &blocked[..10]);

    let run = cli(&["--rate", "100/s", "-n", "100", "-q", "-p", "stats", "--plugin-config", "format=json", &http("/delay/150")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stats: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let p99 = stats["phases"]["total"]["p99"].as_f64().unwrap_or(f64::NAN);
    assert!(p99 < 400.0, "no queueing behind one slot: total p99 {p99} ms: {stats}");
}

#[test]
fn duration_bounds_the_run_and_several_urls_alternate() {
    let _lane = crate::lanes::load();
    let started = std::time::Instant::now();
    let run = cli(&["--duration", "500ms", "-c", "2", "-q", "-p", "stats", "--plugin-config", "format=json", &http("/delay/20")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let elapsed = started.elapsed().as_secs_f64();
    assert!(elapsed < 3.0, "{elapsed}");
    let stats: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let n = stats["requests"].as_u64().unwrap();
    assert!((20..=60).contains(&n), "~2 workers × 500 ms / 20 ms ≈ 50 requests, got {n}");

    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("urls.txt");
    std::fs::write(&list, format!("# two more\n{}\n\n{}\n", http("/status/201"), http("/status/202"))).unwrap();
    let run = cli(
        &[
            "-n",
            "9",
            "-q",
            "--urls-from-file",
            list.to_str().unwrap(),
            "-p",
            "stats",
            "--plugin-config",
            "format=json",
            &http("/status/200"),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stats: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    for s in ["200", "201", "202"] {
        assert_eq!(stats["status"][s], 3, "{stats}");
    }
}

/// A load run without `-p` prints the `stats` summary, not a waterfall per request; a single
/// request keeps the timeline; `-n 0` is refused (it once made one request).
#[test]
fn load_runs_default_to_a_summary_and_zero_requests_is_refused() {
    let _lane = crate::lanes::load();
    let run = cli(&["-n", "40", "-c", "4", &http("/")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.lines().any(|l| l.starts_with("phase")), "the stats table: {}", run.stdout);
    assert!(run.stdout.lines().count() < 60, "a summary, not 40 waterfalls: {} lines", run.stdout.lines().count());
    let one = cli(&[&http("/")], &[]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(!one.stdout.lines().any(|l| l.starts_with("phase")), "{}", one.stdout);
    let zero = cli(&["-n", "0", &http("/")], &[]);
    assert_eq!(zero.code, 2, "{}", zero.stderr);
    assert!(zero.stderr.contains("-n") || zero.stderr.contains("--requests"), "{}", zero.stderr);
    assert!(zero.stdout.is_empty(), "no request made: {}", zero.stdout);
}

/// Which exit code a run of many requests ends with, some failing: 0 (failures are the
/// plugins' to count, as oha and hey do); 22 with `--fail` if any final status was 400 or
/// more; 56 when every request failed; a plugin failure (90) and a failed check (99) as for
/// one request.
#[test]
fn many_requests_some_failing_exit_as_documented() {
    let _lane = crate::lanes::load();
    let (ok, missing) = (http("/"), http("/status/404"));
    let run = cli(&["-q", "-p", "stats", &ok, &missing], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = cli(&["-q", "-f", "-p", "stats", &ok, &missing], &[]);
    assert_eq!(run.code, 22, "{}", run.stderr);
    assert!(run.stderr.contains("(22) 1 of 2 requests got a status of 400 or more"), "{}", run.stderr);
    let run = cli(&["-q", "-f", "-n", "6", "-p", "stats", &missing], &[]);
    assert_eq!(run.code, 22, "{}", run.stderr);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let run = cli(&["-q", "-n", "3", "-p", "stats", &format!("http://127.0.0.1:{port}/")], &[]);
    assert_eq!(run.code, 56, "{}", run.stderr);
    assert!(run.stderr.contains("all 3 requests failed"), "{}", run.stderr);
}

#[test]
fn no_keepalive_opens_a_connection_per_request_over_http1_and_http2() {
    let _lane = crate::lanes::load();
    for (args, protocol) in [(vec![http("/")], "http/1.1"), (vec!["-k".to_string(), https("/")], "h2")] {
        let mut all: Vec<&str> =
            vec!["-n", "20", "-c", "2", "-q", "--no-keepalive", "-p", "ndjson", "-p", "stats", "--plugin-config", "format=json"];
        all.extend(args.iter().map(String::as_str));
        let run = cli(&all, &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let (events, stats) = events_and_stats(&run.stdout);
        assert_eq!(stats["requests"], 20);
        assert_eq!((stats["connections"]["opened"].as_u64(), stats["connections"]["reused"].as_u64()), (Some(20), Some(0)), "{protocol}");
        let conns: std::collections::BTreeSet<u64> = events.iter().filter_map(|e| e.conn).collect();
        assert_eq!(conns.len(), 20, "{protocol}: a connection id per request");
        assert!(events.iter().all(|e| !matches!(&e.kind, EventKind::GotConn { protocol: p, .. } if p != protocol)));
        // HTTP/1.1 asks the server to close (Go's DisableKeepAlives); HTTP/2 has no such field.
        let closes = events
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::WroteHeaderField { name, value } if name == "connection" && value == "close"))
            .count();
        assert_eq!(closes, if protocol == "h2" { 0 } else { 20 }, "{protocol}");
    }
}
