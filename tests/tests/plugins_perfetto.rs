//! The `perfetto` plugin through the CLI against the local server: its output validates
//! against the Trace Event Format schema (ajv, `tests/node-checks/trace-event.schema.json`),
//! loads in the trace engine of the DevTools bundled in chromium with every slice on its named
//! thread, slices nest on every track, and the tracks and slices are the run's requests, hops,
//! connections, lookups and connect attempts.

use std::collections::BTreeMap;

use crate::plugins_support::{cli, http, server};
use serde_json::Value;

fn https(path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", server().https_addr.port())
}

/// Checks `text` with ajv against the Trace Event Format schema, then that the complete
/// events of each track nest (a slice either ends before the next starts or contains it).
/// Returns the events.
fn validate_trace(text: &str) -> Vec<Value> {
    crate::plugins_support::node_check("validate-trace.js", "ajv", text, "Trace Event Format violations");
    let events: Vec<Value> = serde_json::from_str(text).unwrap_or_else(|e| panic!("not a JSON array: {e}\n{text}"));
    // (pid, tid) -> (start, end, name) of each slice.
    type Slices = Vec<(f64, f64, String)>;
    let mut tracks: BTreeMap<(u64, u64), Slices> = BTreeMap::new();
    for e in events.iter().filter(|e| e["ph"] == "X") {
        let (ts, dur) = (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap());
        let key = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
        tracks.entry(key).or_default().push((ts, ts + dur, e["name"].as_str().unwrap().to_string()));
    }
    for (track, mut slices) in tracks {
        slices.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(b.1.partial_cmp(&a.1).unwrap()));
        let mut stack: Vec<&(f64, f64, String)> = Vec::new();
        for s in &slices {
            while stack.last().is_some_and(|top| top.1 <= s.0 + 1e-3) {
                stack.pop();
            }
            if let Some(top) = stack.last() {
                assert!(s.1 <= top.1 + 1e-3, "track {track:?}: {s:?} overlaps {top:?} without nesting");
            }
            stack.push(s);
        }
    }
    devtools_loads(&events, text);
    events
}

/// Loads the trace in the Performance panel's trace engine of the DevTools bundled in chromium
/// (the trace viewer chromium ships): every complete event becomes a slice of the thread its
/// `thread_name` names, and each thread's slices form one flame chart.
fn devtools_loads(events: &[Value], text: &str) {
    let loaded = crate::plugins_support::devtools_import("trace", text);
    let mut expected: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    for e in events.iter().filter(|e| e["ph"] == "X") {
        *expected.entry((e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap())).or_default() += 1;
    }
    let threads = loaded["threads"].as_array().unwrap();
    let mut got: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    for t in threads {
        let key = (t["pid"].as_u64().unwrap(), t["tid"].as_u64().unwrap());
        got.insert(key, t["slices"].as_u64().unwrap() as usize);
        let named = events.iter().find(|e| e["name"] == "thread_name" && e["pid"] == key.0 && e["tid"] == key.1);
        assert_eq!(Some(&t["name"]), named.map(|e| &e["args"]["name"]), "DevTools named thread {key:?}: {t}");
        assert!(t["roots"].as_u64().unwrap() >= 1 && t["depth"].as_u64().unwrap() >= 1, "no flame chart for {t}");
    }
    assert_eq!(got, expected, "slices per thread as DevTools loaded them");
}

/// The complete events of process `pid` (1 requests, 2 connections, 3 dns, 4 connect attempts).
fn slices(events: &[Value], pid: u64) -> Vec<&Value> {
    events.iter().filter(|e| e["ph"] == "X" && e["pid"] == pid).collect()
}

fn names<'a>(slices: &[&'a Value]) -> Vec<&'a str> {
    slices.iter().map(|s| s["name"].as_str().unwrap()).collect()
}

fn dur_ms(s: &Value) -> f64 {
    s["dur"].as_f64().unwrap() / 1e3
}

#[test]
fn one_request_shows_its_phases_connection_and_lookup() {
    // The phases must add up to the request: no load test beside it may delay the engine
    // between two of them.
    let _lane = crate::lanes::timing();
    let url = format!("https://localhost:{}/delay/40", server().https_addr.port());
    let run = cli(&["-k", "-p", "perfetto", &url], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let events = validate_trace(&run.stdout);
    let requests = slices(&events, 1);
    // (`blocked`, the time before the lookup, shows only when it is not zero.)
    let phases: Vec<&str> = names(&requests).into_iter().filter(|n| !n.starts_with("GET ") && *n != "blocked").collect();
    assert_eq!(phases, ["dns", "connect", "tls", "send", "wait", "receive"], "{}", run.stdout);
    let request = requests.iter().find(|s| s["cat"] == "request").unwrap();
    assert_eq!(request["name"], format!("GET {url} → 200"));
    assert_eq!(request["args"]["status"], 200);
    // The server's 40 ms are the wait; the phases add up to the request.
    let wait = requests.iter().find(|s| s["name"] == "wait").unwrap();
    assert!((40.0..1000.0).contains(&dur_ms(wait)), "{wait}");
    let sum: f64 = requests.iter().filter(|s| s["cat"] == "phase").map(|s| dur_ms(s)).sum();
    assert!(sum <= dur_ms(request) + 1e-3 && sum >= dur_ms(request) * 0.9, "{sum} of {}", dur_ms(request));
    // The connection's track: its handshake, then the request it carried, named after it.
    let conn = slices(&events, 2);
    assert_eq!(names(&conn)[..2], ["connect", "tls"]);
    assert_eq!(conn.len(), 3, "{}", run.stdout);
    let track = events.iter().find(|e| e["name"] == "thread_name" && e["pid"] == 2).unwrap();
    let label = track["args"]["name"].as_str().unwrap();
    assert!(label.starts_with('#') && label.ends_with(" h2") && label.contains(&format!(":{}", server().https_addr.port())), "{label}");
    // The lookup of localhost and the connect attempt(s) on their own tracks.
    let dns = slices(&events, 3);
    assert_eq!(names(&dns), ["dns localhost"]);
    assert!(dns[0]["args"]["addrs"].as_array().is_some_and(|a| !a.is_empty()), "{}", dns[0]);
    let attempts = slices(&events, 4);
    assert!(attempts.iter().any(|a| a["args"]["outcome"] == "connected"), "{attempts:?}");
}

#[test]
fn a_load_run_shows_one_connection_shared_and_every_request() {
    let _lane = crate::lanes::load();
    let run = cli(&["-n", "40", "-c", "4", "-q", "-k", "-p", "perfetto", &https("/delay/5")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = validate_trace(&run.stdout);
    let requests = slices(&events, 1);
    assert_eq!(requests.iter().filter(|s| s["cat"] == "request").count(), 40);
    assert_eq!(requests.iter().filter(|s| s["name"] == "wait").count(), 40);
    // HTTP/2: one connection (its tracks share the `#id`), opened once, carrying all 40.
    let conn = slices(&events, 2);
    assert_eq!(conn.iter().filter(|s| s["name"] == "connect").count(), 1);
    assert_eq!(conn.iter().filter(|s| s["cat"] == "connection" && s["args"]["status"] == 200).count(), 40);
    let reused = conn.iter().filter(|s| s["args"]["reused"] == true).count();
    assert_eq!(reused, 39);
    let ids: std::collections::BTreeSet<u64> = conn.iter().map(|s| s["tid"].as_u64().unwrap() / 1000).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    // Four at a time on one connection: they overlap, so its second track exists.
    let tids: std::collections::BTreeSet<u64> = conn.iter().map(|s| s["tid"].as_u64().unwrap()).collect();
    assert!(tids.len() >= 2, "{tids:?}");
}

#[test]
fn redirects_nest_hops_and_replay_gives_the_same_trace() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.ndjson");
    let run = cli(&["-L", "-p", "ndjson", "-o", log.to_str().unwrap(), &http("/redirect/2")], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let live = cli(&["-L", "-p", "perfetto", &http("/redirect/2")], &[]);
    assert_eq!(live.code, 0, "{live:?}");
    let replayed = cli(&["replay", log.to_str().unwrap(), "-p", "perfetto"], &[]);
    assert_eq!(replayed.code, 0, "{replayed:?}");
    for text in [&live.stdout, &replayed.stdout] {
        let events = validate_trace(text);
        let requests = slices(&events, 1);
        assert_eq!(requests.iter().filter(|s| s["cat"] == "request").count(), 1);
        let hops: Vec<&str> = requests.iter().filter(|s| s["cat"] == "hop").map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(hops.len(), 3, "{hops:?}");
        assert!(hops[0].starts_with("hop 0: GET ") && hops[0].ends_with("/redirect/2"), "{hops:?}");
        assert_eq!(requests.iter().filter(|s| s["name"] == "wait").count(), 3);
    }
    // Replay: the same slices at the same offsets.
    let shape = |text: &str| -> Vec<(String, String)> {
        let events: Vec<Value> = serde_json::from_str(text).unwrap();
        events.iter().filter(|e| e["ph"] == "X").map(|e| (e["name"].to_string(), e["ts"].to_string())).collect()
    };
    let replayed_twice = cli(&["replay", log.to_str().unwrap(), "-p", "perfetto"], &[]);
    assert_eq!(shape(&replayed.stdout), shape(&replayed_twice.stdout));
}

#[test]
fn a_failed_connect_is_a_slice_with_its_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let run = cli(&["-p", "perfetto", &format!("http://{closed}/")], &[]);
    assert_eq!(run.code, 7, "{run:?}");
    let events = validate_trace(&run.stdout);
    let request = slices(&events, 1).into_iter().find(|s| s["cat"] == "request").unwrap().clone();
    assert!(request["name"].as_str().unwrap().ends_with("(refused)"), "{request}");
    assert!(request["args"]["error"].as_str().unwrap().starts_with("connect/refused"), "{request}");
    let attempts = slices(&events, 4);
    assert_eq!(attempts.len(), 1);
    assert!(attempts[0]["args"]["outcome"].as_str().unwrap().starts_with("refused"), "{}", attempts[0]);
    assert!(slices(&events, 2).is_empty(), "no connection was made");
}
