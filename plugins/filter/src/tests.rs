use httptrace_guest::{Marks, Phase, RequestDone, RequestStart, ResponseHeaders, Timings, TraceError};

use super::criteria::{glob, url_host};
use super::*;

fn filter(pairs: &[(&str, &str)]) -> Result<Filter, String> {
    Filter::init(&Config::from_pairs(pairs.iter().copied()))
}

fn ev(request: u64, kind: EventKind) -> Event {
    Event { request, hop: 0, conn: None, at_ns: 0, kind }
}

/// The events of one request: start, headers (if a status), done.
fn request(id: u64, url: &str, status: Option<u16>, total_ms: f64, failed: bool) -> Vec<Event> {
    let timings =
        Timings { blocked: 0.0, dns: 5.0, connect: -1.0, ssl: -1.0, send: 1.0, wait: total_ms - 6.0, receive: 0.0, total: total_ms };
    let marks = Marks {
        namelookup: 0.0,
        connect: 0.0,
        appconnect: 0.0,
        pretransfer: 0.0,
        posttransfer: 0.0,
        starttransfer: 0.0,
        total: total_ms / 1e3,
        redirect: 0.0,
    };
    let mut evs =
        vec![ev(id, EventKind::RequestStart(RequestStart { method: "GET".into(), url: url.into(), wall_unix_ns: 0, post_data: None }))];
    if let Some(status) = status {
        evs.push(ev(
            id,
            EventKind::ResponseHeaders(ResponseHeaders { status, version: "HTTP/1.1".into(), headers: vec![], header_bytes: 0 }),
        ));
    }
    let error = failed.then(|| TraceError { phase: Phase::Connect, kind: "refused".into(), during: None, message: "refused".into() });
    evs.push(ev(
        id,
        EventKind::RequestDone(RequestDone { url: url.into(), status, error, timings, marks, hops: vec![], client_lag_ns: None }),
    ));
    evs
}

/// Runs a batch and returns the (request, kind) of the kept events.
fn kept(f: &mut Filter, evs: &[Event]) -> Vec<(u64, &'static str)> {
    let verdicts = f.on_events(evs);
    assert_eq!(verdicts.len(), evs.len());
    evs.iter().zip(verdicts).filter(|(_, v)| *v == Verdict::Keep).map(|(e, _)| (e.request, e.kind.name())).collect()
}

fn batch() -> Vec<Event> {
    let mut evs = request(1, "https://api.example.com/v1/users", Some(200), 50.0, false);
    evs.extend(request(2, "http://www.example.org:8080/missing", Some(404), 300.0, false));
    evs.extend(request(3, "https://[::1]:8443/", None, 10.0, true));
    evs
}

fn requests_kept(pairs: &[(&str, &str)]) -> Vec<u64> {
    let mut ids: Vec<u64> = kept(&mut filter(pairs).unwrap(), &batch()).into_iter().map(|(r, _)| r).collect();
    ids.dedup();
    ids
}

#[test]
fn kind_alone_drops_other_kinds() {
    let mut f = filter(&[("kind", "request-done")]).unwrap();
    assert_eq!(kept(&mut f, &batch()), [(1, "request-done"), (2, "request-done"), (3, "request-done")]);
    let mut f = filter(&[("kind", "request-start,response-headers")]).unwrap();
    assert_eq!(kept(&mut f, &batch()).len(), 5);
}

#[test]
fn request_criteria() {
    assert_eq!(requests_kept(&[("host", "*.example.com")]), [1]);
    assert_eq!(requests_kept(&[("host", "WWW.example.*")]), [2]);
    assert_eq!(requests_kept(&[("host", "::1")]), [3]);
    assert_eq!(requests_kept(&[("host", "api.example.com"), ("host", "::1")]), [1, 3]);
    assert_eq!(requests_kept(&[("url", "*/missing")]), [2]);
    assert_eq!(requests_kept(&[("url", "https://*")]), [1, 3]);
    assert_eq!(requests_kept(&[("status", "2xx")]), [1]);
    assert_eq!(requests_kept(&[("status", "404,500")]), [2]);
    assert_eq!(requests_kept(&[("status", "5xx")]), Vec::<u64>::new());
    assert_eq!(requests_kept(&[("failed", "true")]), [3]);
    assert_eq!(requests_kept(&[("failed", "no")]), [1, 2]);
    assert_eq!(requests_kept(&[("min-total", "200ms")]), [2]);
    assert_eq!(requests_kept(&[("min-wait", "40ms")]), [1, 2]);
    assert_eq!(requests_kept(&[("min-connect", "1us")]), Vec::<u64>::new());
    assert_eq!(requests_kept(&[("min-total", "20ms"), ("host", "*.example.org")]), [2]);
}

#[test]
fn kinds_and_requests_combine() {
    let mut f = filter(&[("kind", "request-done"), ("status", "4xx")]).unwrap();
    assert_eq!(kept(&mut f, &batch()), [(2, "request-done")]);
}

#[test]
fn a_request_split_over_batches_is_judged_on_what_is_known() {
    let mut f = filter(&[("host", "api.*")]).unwrap();
    let evs = request(1, "https://api.example.com/", Some(200), 1.0, false);
    assert_eq!(kept(&mut f, &evs[..1]).len(), 1);
    assert_eq!(kept(&mut f, &evs[1..]).len(), 2);
    assert!(f.requests.is_empty(), "finished requests are forgotten");
}

#[test]
fn bad_config_names_the_key() {
    let err = |pairs: &[(&str, &str)]| filter(pairs).err().unwrap();
    assert!(err(&[("kinds", "dns-done")]).starts_with("unknown config key `kinds` (known keys: kind, host,"));
    assert!(err(&[("kind", "dns")]).starts_with("config `kind`: unknown event kind `dns`"));
    assert!(err(&[("status", "2x")]).starts_with("config `status`: invalid value `2x`"));
    assert!(err(&[("status", "700")]).starts_with("config `status`: invalid value `700`"));
    assert!(err(&[("min-total", "200")]).starts_with("config `min-total`: invalid duration `200`"));
    assert!(err(&[("failed", "maybe")]).starts_with("config `failed`: invalid value `maybe`"));
}

#[test]
fn globs_and_hosts() {
    assert!(glob("*", ""));
    assert!(glob("a*c", "abbbc"));
    assert!(glob("a?c", "abc"));
    assert!(!glob("a?c", "ac"));
    assert!(glob("*.example.com", "api.example.com"));
    assert!(!glob("*.example.com", "example.com"));
    assert!(glob("*a*b*", "xxaxxbxx"));
    assert!(!glob("*a*b", "xxaxxbxx"));
    assert_eq!(url_host("https://user:pw@Host.example:8443/p?q#f"), Some("Host.example"));
    assert_eq!(url_host("http://[::1]:80/"), Some("::1"));
    assert_eq!(url_host("http://h?x"), Some("h"));
    assert_eq!(url_host("no scheme"), None);
}
