//! Injected delays land in the right phase within a tight tolerance, phases add up, and DNS
//! (a real DNS server on loopback UDP) is timed and coalesced.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use httptrace::engine::DnsOptions;
use httptrace::summary::Timings;
use httptrace::trace::MemorySink;
use httptrace::{Client, ClientOptions, EventKind, RequestSpec};
use httptrace_tests::dns::{DnsAnswer, DnsServer};
use httptrace_tests::{request_done, start_serve, trace_one};

/// Scheduling noise allowed above an injected delay (2 shared cores).
const SLACK_MS: f64 = 80.0;

fn timings(events: &[httptrace::Event]) -> Timings {
    let EventKind::RequestDone { timings, .. } = request_done(events) else { unreachable!() };
    *timings
}

fn assert_adds_up(t: &Timings) {
    let sum: f64 = [t.blocked, t.dns, t.connect, t.send, t.wait, t.receive].iter().filter(|v| **v >= 0.0).sum();
    assert!((sum - t.total).abs() < 1e-6, "phases {sum} != total {}", t.total);
}

fn in_range(what: &str, v: f64, lo: f64, hi: f64) {
    assert!(v >= lo && v <= hi, "{what} = {v} ms, expected {lo}..{hi}");
}

#[tokio::test]
async fn server_delay_lands_in_wait() {
    let _lane = crate::lanes::timing();
    let serve = start_serve().await;
    let (_, events) = trace_one(ClientOptions::default(), &format!("http://{}/delay/200", serve.http_addr)).await;
    let t = timings(&events);
    // The default stamps the write in the engine, after `write` returned: a busy client can
    // stamp it after the server's delay has begun, so send + wait covers the whole delay and
    // wait all but that lateness.
    in_range("send + wait", t.send + t.wait, 200.0, 200.0 + SLACK_MS);
    in_range("wait", t.wait, 180.0, 200.0 + SLACK_MS);
    assert!(t.receive < 50.0 && t.send < 50.0, "{t:?}");
    assert_adds_up(&t);
    let EventKind::RequestDone { marks, .. } = request_done(&events) else { unreachable!() };
    // The HAR total and curl's total mark describe the same span.
    assert!((marks.total * 1000.0 - t.total).abs() < 5.0, "{marks:?} vs {t:?}");
}

#[tokio::test]
async fn trickled_body_lands_in_receive() {
    let _lane = crate::lanes::timing();
    let serve = start_serve().await;
    let (_, events) = trace_one(ClientOptions::default(), &format!("http://{}/drip?bytes=10&duration_ms=300", serve.http_addr)).await;
    let t = timings(&events);
    in_range("receive", t.receive, 240.0, 300.0 + SLACK_MS);
    assert!(t.wait < 50.0, "{t:?}");
    assert_adds_up(&t);
}

async fn dns_server(delay: Duration, name: &str) -> DnsServer {
    let dns = DnsServer::start().await.unwrap();
    dns.set(name, DnsAnswer::Addrs(vec!["127.0.0.1".parse().unwrap()]));
    dns.set_delay(delay);
    dns
}

fn via(dns: &DnsServer) -> ClientOptions {
    ClientOptions { dns: DnsOptions { server: Some(dns.addr), ..DnsOptions::default() }, ..ClientOptions::default() }
}

#[tokio::test]
async fn dns_delay_lands_in_dns() {
    let _lane = crate::lanes::timing();
    let serve = start_serve().await;
    let dns = dns_server(Duration::from_millis(150), "app.test").await;
    let url = format!("http://app.test:{}/", serve.http_addr.port());
    let (outcome, events) = trace_one(via(&dns), &url).await;
    assert_eq!(outcome.status, Some(200), "{:?}", outcome.error);
    let done = events.iter().find_map(|e| match &e.kind {
        EventKind::DnsDone { addrs, coalesced, error, proxy: None } => Some((addrs.clone(), *coalesced, error.clone())),
        _ => None,
    });
    assert_eq!(done, Some((vec!["127.0.0.1".parse().unwrap()], false, None)));
    let t = timings(&events);
    in_range("dns", t.dns, 150.0, 150.0 + SLACK_MS);
    assert!(t.wait < 50.0, "{t:?}");
    assert_adds_up(&t);
}

#[tokio::test]
async fn concurrent_identical_lookups_are_coalesced() {
    let _lane = crate::lanes::timing();
    let serve = start_serve().await;
    let dns = dns_server(Duration::from_millis(100), "app.test").await;
    let sink = MemorySink::new();
    let client = Client::new(via(&dns), Arc::new(sink.clone())).unwrap();
    let spec = RequestSpec::get(&format!("http://app.test:{}/", serve.http_addr.port())).unwrap();
    let (a, b) = tokio::join!(client.execute(&spec), client.execute(&spec));
    assert_eq!((a.status, b.status), (Some(200), Some(200)));
    let flags = coalesced_flags(&sink);
    // Go's meaning: every request that shared the answer is marked, the one that asked too.
    assert_eq!(flags, [true, true], "one lookup shared by both: {flags:?}");
    // One lookup = one A and one AAAA query, not two of each.
    assert_eq!(dns.queries(), 2);
    // A lookup no one shared is not marked.
    let alone = MemorySink::new();
    let client = Client::new(via(&dns), Arc::new(alone.clone())).unwrap();
    assert_eq!(client.execute(&spec).await.status, Some(200));
    assert_eq!(coalesced_flags(&alone), [false]);
}

/// The `coalesced` flag of every dns-done in `sink`, in order.
fn coalesced_flags(sink: &MemorySink) -> Vec<bool> {
    sink.events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::DnsDone { coalesced, .. } => Some(*coalesced),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn happy_eyeballs_reports_each_attempt() {
    let _lane = crate::lanes::timing();
    // A name with an unreachable IPv6 address first and a working IPv4 address: the IPv4
    // attempt starts and wins; the IPv6 one ends in failure or is cancelled.
    let serve = start_serve().await;
    let port = serve.http_addr.port();
    let dns = DnsServer::start().await.unwrap();
    // 100::/64 is the discard-only prefix: connects there fail or hang.
    dns.set("dual.test", DnsAnswer::Addrs(vec!["100::1".parse().unwrap(), "127.0.0.1".parse().unwrap()]));
    let (outcome, events) = trace_one(via(&dns), &format!("http://dual.test:{port}/")).await;
    assert_eq!(outcome.status, Some(200), "{:?}", outcome.error);
    let starts: Vec<SocketAddr> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ConnectStart { addr, .. } => addr.socket_addr(),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), 2, "{starts:?}");
    let dones: Vec<(SocketAddr, bool, bool)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ConnectDone { addr, cancelled, error, .. } => addr.socket_addr().map(|a| (a, *cancelled, error.is_none())),
            _ => None,
        })
        .collect();
    assert_eq!(dones.len(), 2, "one connect-done per attempt: {dones:?}");
    let winner: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(dones.contains(&(winner, false, true)));
    assert!(dones.iter().any(|(a, c, ok)| a.is_ipv6() && (*c || !*ok)));
}
