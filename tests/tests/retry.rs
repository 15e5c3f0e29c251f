//! `--retry N` and its companions, side by side with curl against a server that counts what
//! it is asked: the same number of attempts, the same final status and exit code; each attempt
//! a hop of the request's trace.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use httptrace::EventKind;

use crate::plugins_support::{canned_server, cli, parse_ndjson};

/// A server answering every request with `status` (and `connection: close`); counts them.
fn counting_server(status: u16) -> (String, Arc<AtomicUsize>) {
    counting_server_with(status, "")
}

/// [`counting_server`] with `extra` header lines (each ending in CRLF) in every answer.
fn counting_server_with(status: u16, extra: &'static str) -> (String, Arc<AtomicUsize>) {
    canned_server(format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n{extra}connection: close\r\n\r\n").into_bytes())
}

fn curl(args: &[&str]) -> (String, i32) {
    let out = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}"]).args(args).output().expect("run curl");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
}

#[test]
fn retry_after_is_waited_when_longer_than_the_delay_as_curl_does() {
    let (url, theirs) = counting_server_with(503, "retry-after: 1\r\n");
    let started = std::time::Instant::now();
    let (code, exit) = curl(&["--retry", "1", "--retry-delay", "0", &url]);
    let curl_took = started.elapsed();
    let (url2, ours) = counting_server_with(503, "retry-after: 1\r\n");
    let started = std::time::Instant::now();
    let run = cli(&["-s", "-w", "%{http_code}", "--retry", "1", "--retry-delay", "0.05", &url2], &[]);
    let took = started.elapsed();
    assert_eq!((run.stdout.as_str(), run.code), (code.as_str(), exit), "{}", run.stderr);
    assert_eq!((theirs.load(Ordering::SeqCst), ours.load(Ordering::SeqCst)), (2, 2));
    let second = std::time::Duration::from_secs(1);
    assert!(curl_took >= second && took >= second, "curl {curl_took:?}, ours {took:?}");
    // A Retry-After past --retry-max-time ends the retries at once.
    let (url3, count) = counting_server_with(503, "retry-after: 30\r\n");
    let started = std::time::Instant::now();
    let run = cli(&["-s", "--retry", "3", "--retry-max-time", "5", &url3], &[]);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{run:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn transient_statuses_are_retried_as_curl_does_each_attempt_a_hop() {
    for (status, retried) in [(503, true), (429, true), (404, false), (200, false)] {
        let (url, theirs) = counting_server(status);
        let (code, exit) = curl(&["--retry", "2", "--retry-delay", "1", &url]);
        let (url2, ours) = counting_server(status);
        let run = cli(&["-s", "-w", "%{http_code}", "--retry", "2", "--retry-delay", "0.05", &url2], &[]);
        assert_eq!((run.stdout.as_str(), run.code), (code.as_str(), exit), "{status}: {}", run.stderr);
        let attempts = if retried { 3 } else { 1 };
        assert_eq!((theirs.load(Ordering::SeqCst), ours.load(Ordering::SeqCst)), (attempts, attempts), "{status}");
    }
    // In the trace: one request, a hop per attempt, the summary's status the last one's.
    let (url, _) = counting_server(503);
    let run = cli(&["-p", "ndjson", "--retry", "2", "--retry-delay", "0.05", &url], &[]);
    let ev = parse_ndjson(&run.stdout);
    let starts: Vec<u32> = ev.iter().filter(|e| matches!(e.kind, EventKind::RequestStart { .. })).map(|e| e.hop).collect();
    assert_eq!(starts, [0, 1, 2]);
    assert!(ev.iter().all(|e| e.request == ev[0].request));
    match &ev.last().unwrap().kind {
        EventKind::RequestDone { status, hops, .. } => assert_eq!((*status, hops.len()), (Some(503), 3)),
        other => panic!("{other:?}"),
    }
    // The waits fall between the hops: each hop starts after the one before ended.
    let done_at: Vec<u64> = ev.iter().filter(|e| matches!(e.kind, EventKind::ResponseDone { .. })).map(|e| e.at_ns).collect();
    let start_at: Vec<u64> = ev.iter().filter(|e| matches!(e.kind, EventKind::RequestStart { .. })).map(|e| e.at_ns).collect();
    assert!(start_at[1] >= done_at[0] + 50_000_000 && start_at[2] >= done_at[1] + 50_000_000, "{start_at:?} {done_at:?}");
}

#[test]
fn refused_connections_and_all_errors_are_retried_only_when_asked() {
    let closed = httptrace_tests::nginx::free_addr();
    let url = format!("http://{closed}/");
    for (extra, hops) in [(&[][..], 1), (&["--retry-connrefused"][..], 3), (&["--retry-all-errors"][..], 3)] {
        let mut args = vec!["-p", "ndjson", "--retry", "2", "--retry-delay", "0.01"];
        args.extend(extra);
        args.push(&url);
        let run = cli(&args, &[]);
        assert_eq!(run.code, 7, "{extra:?}: {}", run.stderr);
        let ev = parse_ndjson(&run.stdout);
        let starts = ev.iter().filter(|e| matches!(e.kind, EventKind::RequestStart { .. })).count();
        assert_eq!(starts, hops, "{extra:?}");
    }
    let (url, count) = counting_server(404);
    let run = cli(&["-s", "--retry", "1", "--retry-all-errors", "--retry-delay", "0.01", &url], &[]);
    assert_eq!((run.code, count.load(Ordering::SeqCst)), (0, 2), "{}", run.stderr);
    // --retry-max-time: no attempt would start in time.
    let (url, count) = counting_server(503);
    let run = cli(&["-s", "--retry", "5", "--retry-delay", "0.3", "--retry-max-time", "0.5", &url], &[]);
    assert_eq!((run.code, count.load(Ordering::SeqCst)), (0, 2), "{}", run.stderr);
}
