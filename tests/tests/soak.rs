//! Soak: 10,000 requests at `-c 64` through a three-plugin chain (`filter` → the `soak-check`
//! test guest → `stats` as JSON), against the local server, through the `httptrace` binary.
//! Every plugin sees every request exactly once, each request's events arrive in order, and
//! memory stays flat: the peak RSS of a 10,000-request run is within 1.5× that of a
//! 2,000-request run.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::plugins_support::*;

/// What one soak run reported.
struct Soak {
    run: Run,
    rss: u64,
    elapsed: Duration,
    /// `soak-check`'s counters by name.
    check: Vec<(String, u64)>,
    /// `stats`'s JSON document.
    stats: serde_json::Value,
}

impl Soak {
    fn count(&self, name: &str) -> u64 {
        self.check.iter().find(|(k, _)| k == name).unwrap_or_else(|| panic!("no {name} in {:?}", self.check)).1
    }
}

/// The soak runs of this file one at a time: two at once would measure each other's load.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `requests` requests at `-c 64` to `/bytes/64` through the chain, over HTTP/1.1, or with
/// `https` over HTTP/2 with TLS (one connection, 64 streams).
fn soak(requests: u64, https: bool) -> Soak {
    let check = guest("soak-check");
    let url = if https { format!("https://{}/bytes/64", server().https_addr) } else { http("/bytes/64") };
    let n = requests.to_string();
    let tls: &[&str] = if https { &["-k", "--http2"] } else { &[] };
    #[rustfmt::skip]
    let args = [
        tls,
        &["-n", &n, "-c", "64", "-q",
        // Keeps requests that did not fail: all of them, judged per request at request-done.
        "-p", "filter", "--plugin-config", "failed=false",
        "-p", check.to_str().unwrap(),
        "-p", "stats", "--plugin-config", "format=json",
        &url],
    ]
    .concat();
    let started = Instant::now();
    let (run, rss) = cli_measured(&args, &[]);
    let elapsed = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line =
        run.stdout.lines().find_map(|l| l.strip_prefix("soak-check: ")).unwrap_or_else(|| panic!("no soak-check line:\n{}", run.stdout));
    assert!(!line.contains(" first="), "soak-check reported a violation: {line}");
    let check = line
        .split(' ')
        .map(|field| field.split_once('=').and_then(|(k, v)| Some((k.to_string(), v.parse().ok()?))).unwrap_or_else(|| panic!("{line}")))
        .collect();
    let stats = run.stdout.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no stats JSON:\n{}", run.stdout));
    let stats = serde_json::from_str(stats).expect("stats JSON");
    Soak { run, rss, elapsed, check, stats }
}

/// Every request seen once by each plugin, whole and in order, none failed.
fn complete(s: &Soak, requests: u64) {
    assert_eq!(s.count("violations"), 0, "{:?}", s.check);
    assert_eq!(s.count("requests"), requests, "{:?}", s.check);
    assert_eq!(s.count("request-done"), requests, "{:?}", s.check);
    assert_eq!(s.count("open"), 0, "{:?}", s.check);
    // At least request-start … request-done of each; the filter (first) passed every one on.
    assert!(s.count("events") >= requests * 10, "{:?}", s.check);
    assert_eq!(s.stats["requests"], requests, "{}", s.stats);
    assert_eq!(s.stats["status"]["200"], requests, "{}", s.stats);
    assert_eq!(s.stats["errors"], serde_json::json!({}), "{}", s.stats);
    // The one warning a soak may earn: a debug build on two busy cores reads some responses
    // late (the client's lag, measured against the kernel's stamps); nothing else.
    let diagnostics: Vec<&str> = s.run.diagnostics().into_iter().filter(|l| !l.contains("the client is the bottleneck")).collect();
    assert!(diagnostics.is_empty(), "{}", s.run.stderr);
}

#[test]
fn ten_thousand_requests_through_a_three_plugin_chain_stay_whole_ordered_and_flat() {
    let _lane = crate::lanes::load();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let small = soak(2_000, false);
    complete(&small, 2_000);
    let big = soak(10_000, false);
    complete(&big, 10_000);
    let ratio = big.rss as f64 / small.rss as f64;
    eprintln!(
        "soak: 2,000 requests: {:.1} s, peak RSS {:.1} MiB; 10,000 requests: {:.1} s ({:.0} req/s), peak RSS {:.1} MiB; ratio {ratio:.2}; {} events",
        small.elapsed.as_secs_f64(),
        small.rss as f64 / 1048576.0,
        big.elapsed.as_secs_f64(),
        10_000.0 / big.elapsed.as_secs_f64(),
        big.rss as f64 / 1048576.0,
        big.count("events"),
    );
    assert!(ratio < 1.5, "memory grows with the number of requests: {} → {} bytes", small.rss, big.rss);
}

#[test]
fn ten_thousand_multiplexed_http2_requests_keep_each_requests_events_whole_and_in_order() {
    let _lane = crate::lanes::load();
    // 64 streams on one connection: the events of different requests interleave on the wire;
    // each request's must still reach every plugin whole and in order.
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let s = soak(10_000, true);
    complete(&s, 10_000);
    assert_eq!(s.stats["connections"]["opened"], 1, "{}", s.stats);
    eprintln!("soak over HTTP/2: 10,000 requests: {:.1} s, peak RSS {:.1} MiB", s.elapsed.as_secs_f64(), s.rss as f64 / 1048576.0);
}

#[test]
fn the_soak_checker_reports_what_it_checks() {
    let _lane = crate::lanes::load();
    // Guards the tests above: fed a recorded log with one request's events swapped, an event
    // after its request-done, and a request that never ends, `soak-check` says so.
    let fixture = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/conformance.ndjson")).unwrap();
    let mut lines: Vec<&str> = fixture.lines().collect();
    let done = lines.iter().position(|l| l.contains("\"request-done\"")).unwrap();
    lines.swap(1, 2);
    let late = lines[1];
    lines.insert(done + 1, late);
    let start_of_new = lines[0].replacen("\"request\":1,", "\"request\":999,", 1);
    lines.push(&start_of_new);
    let dir = tempfile::tempdir().unwrap();
    let log = write(dir.path(), "bad.ndjson", lines.join("\n").as_bytes());
    let check = guest("soak-check");
    let run = cli(&["replay", log.to_str().unwrap(), "-p", check.to_str().unwrap()], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let line = run.stdout.lines().find(|l| l.starts_with("soak-check: ")).unwrap_or_else(|| panic!("{run:?}"));
    assert!(line.contains(" open=1 violations=2 first=request 1: get-conn: at_ns "), "{line}");
}
