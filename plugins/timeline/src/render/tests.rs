use httptrace_guest::{ByteCounts, CertSummary, ConnectDone, DnsDone, Marks, Phase, ProxyConnectDone, StampClock, Timings, WroteRequest};

use super::*;

fn ev(hop: u32, kind: EventKind) -> Event {
    Event { request: 1, hop, conn: Some(3), at_ns: 0, kind }
}

fn start(url: &str) -> EventKind {
    EventKind::RequestStart(RequestStart {
        method: "GET".into(),
        url: url.into(),
        wall_unix_ns: 1_795_000_000_000_000_000,
        post_data: None,
    })
}

fn timings() -> Timings {
    Timings { blocked: 0.1, dns: 10.0, connect: 40.0, ssl: 30.0, send: 2.0, wait: 100.0, receive: 46.0, total: 198.1 }
}

fn marks() -> Marks {
    Marks {
        namelookup: 0.011,
        connect: 0.021,
        appconnect: 0.051,
        pretransfer: 0.052,
        posttransfer: 0.054,
        starttransfer: 0.154,
        total: 0.2,
        redirect: 0.0,
    }
}

fn got_conn(reused: bool) -> EventKind {
    EventKind::GotConn(GotConn {
        reused,
        was_idle: reused,
        idle_ns: 1_200_000,
        local_addr: "127.0.0.1:50000".into(),
        remote_addr: "127.0.0.1:443".into(),
        protocol: "h2".into(),
    })
}

fn tls(error: Option<TraceError>) -> EventKind {
    EventKind::TlsHandshakeDone(TlsHandshakeDone {
        version: "TLSv1.3".into(),
        cipher_suite: "TLS13_AES_128_GCM_SHA256".into(),
        alpn: Some("h2".into()),
        resumed: false,
        server_name: "localhost".into(),
        peer_certificates: vec![CertSummary {
            subject: "CN=localhost".into(),
            issuer: "CN=test CA".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2026-11-28T11:06:40Z".into(),
            sans: vec![],
            serial: "01".into(),
        }],
        error,
        key_exchange_group: Some("X25519".into()),
        client_certificate_requested: false,
        client_certificate_sent: false,
    })
}

fn done(url: &str, status: Option<u16>, error: Option<TraceError>, hops: Vec<HopSummary>) -> RequestDone {
    RequestDone { url: url.into(), status, error, timings: timings(), marks: marks(), hops, client_lag_ns: None }
}

fn hop_summary(hop: u32, url: &str) -> HopSummary {
    HopSummary {
        hop,
        url: url.into(),
        status: Some(200),
        timings: timings(),
        marks: marks(),
        bytes: ByteCounts { request_body: 0, response_headers: 0, response_body: 0 },
    }
}

fn ok_hop(hop: u32, url: &str) -> Vec<Event> {
    vec![
        ev(hop, start(url)),
        ev(hop, EventKind::DnsDone(DnsDone { addrs: vec!["127.0.0.1".into()], coalesced: false, error: None, proxy: None })),
        ev(
            hop,
            EventKind::ConnectDone(ConnectDone {
                network: "tcp".into(),
                addr: "127.0.0.1:443".into(),
                cancelled: false,
                error: None,
                proxy: None,
            }),
        ),
        ev(hop, tls(None)),
        ev(hop, got_conn(false)),
        ev(hop, EventKind::WroteRequest(WroteRequest { body_bytes: 0, error: None, clock: StampClock::Engine })),
        ev(hop, EventKind::GotFirstResponseByte(StampClock::Kernel)),
        ev(hop, EventKind::ResponseHeaders(ResponseHeaders { status: 200, version: "HTTP/2".into(), headers: vec![], header_bytes: 40 })),
        ev(hop, EventKind::ResponseDone(ResponseDone { body_bytes: 1256, error: None, decoded_bytes: None })),
    ]
}

#[test]
fn successful_https_request() {
    let url = "https://localhost/";
    let text = request(&ok_hop(0, url), &done(url, Some(200), None, vec![hop_summary(0, url)]), Paint(false));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "GET https://localhost/");
    assert_eq!(lines[1], "  Connected to 127.0.0.1:443 from 127.0.0.1:50000 (h2, new connection #3)");
    assert_eq!(lines[2], "  TLS TLSv1.3, TLS13_AES_128_GCM_SHA256, X25519, ALPN h2");
    // 1_795_000_000 s is 2026-11-18T11:06:40Z: ten days before not_after.
    // Too long for 80 columns: the expiry goes on a line of its own.
    assert_eq!(lines[3], "  Certificate CN=localhost, issued by CN=test CA");
    assert_eq!(lines[4], "    expires 2026-11-28T11:06:40Z (in 10 days)");
    assert_eq!(lines[5], "  HTTP/2 200, 1256 bytes");
    assert!(lines[7].contains("DNS Lookup") && lines[7].contains("TLS Handshake"), "{text}");
    // Each phase runs from the previous mark to its own: TCP 21 - 11, TLS 52 - 21, and the
    // cells add up to the total.
    assert_eq!(lines[8], "  [ 11.0 ms  |   10.0 ms    |   31.0 ms   |     102 ms      |    46.0 ms     ]", "{text}");
    assert!(text.contains("namelookup:11.0 ms") && text.contains("pretransfer:52.0 ms"), "{text}");
    assert!(text.contains("starttransfer:154 ms") && text.contains("total:200 ms"), "{text}");
    assert!(!text.contains('\x1b'));
    assert!(!text.contains("Total"));
    let colored = request(&ok_hop(0, url), &done(url, Some(200), None, vec![hop_summary(0, url)]), Paint(true));
    assert!(colored.contains("\x1b[32m200\x1b[0m"), "{colored}");
}

#[test]
fn reused_plain_http_connection() {
    let url = "http://localhost/";
    let events = vec![
        ev(0, start(url)),
        ev(0, got_conn(true)),
        ev(0, EventKind::WroteRequest(WroteRequest { body_bytes: 0, error: None, clock: StampClock::Engine })),
        ev(0, EventKind::GotFirstResponseByte(StampClock::Kernel)),
    ];
    let mut s = hop_summary(0, url);
    s.timings.dns = -1.0;
    s.timings.connect = -1.0;
    s.timings.ssl = -1.0;
    let text = request(&events, &done(url, Some(200), None, vec![s]), Paint(false));
    assert!(text.contains("  Connected to 127.0.0.1:443 from 127.0.0.1:50000\n    (h2, reused connection #3, idle 1.20 ms)\n"), "{text}");
    assert!(!text.contains("TLS Handshake") && !text.contains("pretransfer"), "{text}");
    let bar = text.lines().find(|l| l.trim_start().starts_with('[')).unwrap();
    assert!(bar.starts_with("  [     -      |       -        |"), "{text}");
}

#[test]
fn failed_tls_shows_error_and_what_was_reached() {
    let url = "https://localhost/";
    let err = TraceError { phase: Phase::Tls, kind: "expired".into(), during: None, message: "certificate expired".into() };
    let mut events = ok_hop(0, url);
    events.truncate(3);
    events.push(ev(0, tls(Some(err.clone()))));
    let mut s = hop_summary(0, url);
    s.status = None;
    let text = request(&events, &done(url, None, Some(err), vec![s]), Paint(false));
    assert!(text.contains("  Error (tls, expired): certificate expired\n"), "{text}");
    assert!(text.contains("  Reached: DNS lookup → TCP connect\n"), "{text}");
    assert!(text.contains("  Certificate CN=localhost"), "{text}");
    assert!(!text.contains("  TLS TLSv1.3"), "{text}");
    assert!(text.contains("pretransfer:-") && text.contains("starttransfer:-"), "{text}");
    assert!(text.contains("total:200 ms"), "{text}");
}

#[test]
fn failure_before_any_event() {
    let err = TraceError { phase: Phase::Timeout, kind: "max-time".into(), during: Some(Phase::Dns), message: "timed out".into() };
    let text = request(&[], &done("http://nowhere.invalid/", None, Some(err), vec![]), Paint(false));
    assert_eq!(text, "http://nowhere.invalid/\n  Error (timeout during dns, max-time): timed out\n  Reached: nothing\n\n");
}

#[test]
fn redirects_render_each_hop_and_a_total() {
    let (a, b) = ("https://localhost/a", "https://localhost/b");
    let mut events = ok_hop(0, a);
    events.push(ev(0, EventKind::Redirect(Redirect { from: a.into(), to: b.into(), status: 302, method: "GET".into() })));
    events.extend(ok_hop(1, b));
    let mut d = done(b, Some(200), None, vec![hop_summary(0, a), hop_summary(1, b)]);
    d.marks.total = 0.4;
    d.marks.redirect = 0.2;
    let text = request(&events, &d, Paint(false));
    assert!(text.contains("GET https://localhost/a\n") && text.contains("GET https://localhost/b\n"), "{text}");
    assert!(text.contains("  Redirect 302 → GET https://localhost/b\n"), "{text}");
    assert!(text.ends_with("Total 400 ms over 2 hops, 200 ms in redirects\n\n"), "{text}");
}

#[test]
fn certificate_days() {
    let now = 1_795_000_000_000_000_000; // 2026-11-18T11:06:40Z
    assert_eq!(days_left("2026-11-18T11:06:40Z", now), Some(0));
    assert_eq!(days_left("2026-11-17T11:06:40Z", now), Some(-1));
    assert_eq!(days_left("2027-11-18T11:06:40Z", now), Some(365));
    assert_eq!(days_left("not a date", now), None);
    assert_eq!(days_from_civil(2000, 2, 29), 951_782_400 / 86_400);
}

#[test]
fn failed_connect_attempts_are_listed() {
    let url = "http://localhost:1/";
    let err = TraceError {
        phase: Phase::Connect,
        kind: "refused".into(),
        during: None,
        message: "failed to connect to 127.0.0.1:1: refused".into(),
    };
    let events = vec![
        ev(0, start(url)),
        ev(
            0,
            EventKind::ConnectDone(ConnectDone {
                network: "tcp".into(),
                addr: "[::1]:1".into(),
                cancelled: false,
                error: Some(err.clone()),
                proxy: None,
            }),
        ),
        ev(
            0,
            EventKind::ConnectDone(ConnectDone {
                network: "tcp".into(),
                addr: "127.0.0.1:1".into(),
                cancelled: true,
                error: Some(err.clone()),
                proxy: None,
            }),
        ),
    ];
    let text = request(&events, &done(url, None, Some(err), vec![]), Paint(false));
    assert_eq!(
        text,
        "GET http://localhost:1/\n  Could not connect to [::1]:1 (refused)\n  Error (connect, refused): failed to connect to 127.0.0.1:1: refused\n  Reached: nothing\n\n"
    );
}

#[test]
fn headers_show_as_curl_shows_them() {
    let url = "https://localhost/";
    let mut events = ok_hop(0, url);
    events.insert(5, ev(0, EventKind::WroteHeaderField(Header { name: ":method".into(), value: "GET".into() })));
    events.insert(6, ev(0, EventKind::WroteHeaderField(Header { name: "authorization".into(), value: "[redacted]".into() })));
    for e in &mut events {
        if let EventKind::ResponseHeaders(r) = &mut e.kind {
            r.headers = vec![Header { name: "content-type".into(), value: "text/plain".into() }];
        }
    }
    let d = done(url, Some(200), None, vec![hop_summary(0, url)]);
    let plain = request(&events, &d, Paint(false));
    assert!(!plain.contains("< ") && !plain.contains("> "), "{plain}");
    let mut out = String::new();
    super::request_into(&mut out, &events, &d, super::Headers::Response, Paint(false));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[6], "  < HTTP/2 200 OK");
    assert_eq!(lines[7], "  < content-type: text/plain");
    assert!(!out.contains("> "), "{out}");
    let mut out = String::new();
    super::request_into(&mut out, &events, &d, super::Headers::All, Paint(false));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[6..10], ["  > :method: GET", "  > authorization: [redacted]", "  < HTTP/2 200 OK", "  < content-type: text/plain"]);
}

#[test]
fn long_lines_wrap_at_80_columns_but_urls_stay_whole() {
    let mut out = String::new();
    let cert = "  Certificate CN=httptrace serve, issued by CN=httptrace serve, expires 4096-01-01T00:00:00Z (in 755717 days)";
    push_wrapped(&mut out, cert);
    assert_eq!(out, "  Certificate CN=httptrace serve, issued by CN=httptrace serve, expires\n    4096-01-01T00:00:00Z (in 755717 days)\n");
    let mut parts = String::new();
    push_parts(&mut parts, "  Certificate CN=a, issued by CN=b", &[", expires 4096-01-01T00:00:00Z (in 7 days)".into()]);
    assert_eq!(parts, "  Certificate CN=a, issued by CN=b, expires 4096-01-01T00:00:00Z (in 7 days)\n");
    let mut parts = String::new();
    push_parts(&mut parts, "  Certificate CN=httptrace serve, issued by CN=httptrace serve", &[", expires 4096-01-01T00:00:00Z".into()]);
    assert_eq!(parts, "  Certificate CN=httptrace serve, issued by CN=httptrace serve\n    expires 4096-01-01T00:00:00Z\n");
    // Colour codes take no columns: the same words wrap at the same place.
    let mut colored = String::new();
    push_wrapped(&mut colored, &cert.replace("Certificate", &Paint(true).on(GRAY, "Certificate")));
    assert_eq!(colored.lines().count(), 2);
    assert_eq!(visible_width(colored.lines().next().unwrap()), out.lines().next().unwrap().len());
    // A URL longer than a line is not cut.
    let url = format!("https://example.com/{}", "a".repeat(100));
    let mut redirect = String::new();
    push_wrapped(&mut redirect, &format!("  Redirect 302 → GET {url}"));
    assert_eq!(redirect, format!("  Redirect 302 → GET\n    {url}\n"));
    let mut short = String::new();
    push_wrapped(&mut short, "  HTTP/2 200");
    assert_eq!(short, "  HTTP/2 200\n");
}

#[test]
fn a_proxy_tunnel_is_a_column_of_its_own_within_80_columns() {
    let url = "https://localhost/";
    let mut events = ok_hop(0, url);
    // The tunnel opened 30 ms into the hop, between TCP (21 ms) and TLS (52 ms).
    let tunnel = ProxyConnectDone { proxy: "http://proxy.example:3128".into(), status: Some(200), error: None };
    events.insert(3, Event { at_ns: 30_000_000, ..ev(0, EventKind::ProxyConnectDone(tunnel)) });
    let text = request(&events, &done(url, Some(200), None, vec![hop_summary(0, url)]), Paint(false));
    assert!(text.contains("  Tunnel through http://proxy.example:3128 (CONNECT 200)\n"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    let header = text.lines().find(|l| l.contains("Tunnel ") && l.contains("TLS Handshake")).unwrap_or_else(|| panic!("{text}"));
    assert!(header.find("TCP Connection") < header.find("Tunnel") && header.find("Tunnel") < header.find("TLS Handshake"), "{header}");
    // TCP 21 - 11, the tunnel 30 - 21, TLS 52 - 30: the cells still add up to the total.
    let bar = text.lines().find(|l| l.trim_start().starts_with('[')).unwrap();
    let cells: Vec<&str> = bar.trim().trim_matches(['[', ']']).split('|').map(str::trim).collect();
    assert_eq!(cells, ["11.0 ms", "10.0 ms", "9.00 ms", "22.0 ms", "102 ms", "46.0 ms"], "{text}");
    assert!(text.contains("tunnel:30.0 ms"), "{text}");
    // A refused tunnel is where the hop failed: it gets the rest of the time.
    let err = TraceError { phase: Phase::Connect, kind: "proxy-auth-required".into(), during: None, message: "407".into() };
    let refused = ProxyConnectDone { proxy: "http://p:1".into(), status: Some(407), error: Some(err.clone()) };
    let mut events = ok_hop(0, url);
    events.truncate(3);
    events.push(Event { at_ns: 30_000_000, ..ev(0, EventKind::ProxyConnectDone(refused)) });
    let mut s = hop_summary(0, url);
    s.status = None;
    let text = request(&events, &done(url, None, Some(err), vec![s]), Paint(false));
    assert!(text.contains("(refused)") && text.contains("Reached: DNS lookup → TCP connect\n"), "{text}");
    let bar = text.lines().find(|l| l.trim_start().starts_with('[')).unwrap();
    let cells: Vec<&str> = bar.trim().trim_matches(['[', ']']).split('|').map(str::trim).collect();
    assert_eq!(cells[2], "179 ms", "{text}");
}
