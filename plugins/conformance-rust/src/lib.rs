//! The conformance plugin in Rust, written directly on `wit-bindgen` (no SDK).
//!
//! Behaviour (the same in every language, see docs/plugins/): interest = every kind; verdict
//! `drop` for the kind named by `drop` (default `wrote-header-field`), `keep` otherwise; at
//! finish, emit the `conformance v7` report and return `pass`. Config keys: `drop`, `label`,
//! `mode` (only `conformance` here); a repeated key's last value wins; anything else is an error.

use std::cell::RefCell;
use std::collections::BTreeMap;

wit_bindgen::generate!({ path: "../../wit", world: "plugin" });

use httptrace::plugin::host::emit;
// The world `use`s event, event-type, verdict and run-outcome: the macro defines them at the root.
use httptrace::plugin::types::{EventKind, EventType as T, StampClock};

/// Every kind name, in WIT order (index = `EventType as usize`).
const KINDS: [&str; 25] = [
    "request-start",
    "get-conn",
    "dns-start",
    "dns-done",
    "connect-start",
    "connect-done",
    "tls-handshake-start",
    "tls-handshake-done",
    "got-conn",
    "wrote-header-field",
    "wrote-headers",
    "wait-100-continue",
    "got-100-continue",
    "got-1xx-response",
    "wrote-request",
    "got-first-response-byte",
    "response-headers",
    "response-done",
    "put-idle-conn",
    "redirect",
    "request-done",
    "proxy-connect-start",
    "proxy-connect-done",
    "quic-handshake-start",
    "quic-handshake-done",
];

#[derive(Default)]
struct State {
    label: String,
    drop: usize,
    total: u64,
    dropped: u64,
    kinds: BTreeMap<&'static str, u64>,
    requests: u64,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    tls_groups: BTreeMap<String, u64>,
    post_data_bytes: u64,
    tunnels_ok: u64,
    tunnels_failed: u64,
    quic_ok: u64,
    quic_failed: u64,
    /// `wrote-headers`, `wrote-request` and `got-first-response-byte` by the clock that
    /// stamped them: kernel, engine.
    clocks: [u64; 2],
    /// `dns-start`, `dns-done`, `connect-start` and `connect-done` that name a proxy, and the
    /// UTF-8 bytes of the names.
    proxied: [u64; 2],
    /// `request-done` hops' bytes, summed: request body, response headers, response body.
    bytes: [u64; 3],
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// The WIT name of an event's kind.
fn kind_name(kind: &EventKind) -> &'static str {
    use EventKind::*;
    let i = match kind {
        RequestStart(_) => 0,
        GetConn(_) => 1,
        DnsStart(_) => 2,
        DnsDone(_) => 3,
        ConnectStart(_) => 4,
        ConnectDone(_) => 5,
        TlsHandshakeStart(_) => 6,
        TlsHandshakeDone(_) => 7,
        GotConn(_) => 8,
        WroteHeaderField(_) => 9,
        WroteHeaders(_) => 10,
        Wait100Continue => 11,
        Got100Continue => 12,
        Got1xxResponse(_) => 13,
        WroteRequest(_) => 14,
        GotFirstResponseByte(_) => 15,
        ResponseHeaders(_) => 16,
        ResponseDone(_) => 17,
        PutIdleConn(_) => 18,
        Redirect(_) => 19,
        RequestDone(_) => 20,
        ProxyConnectStart(_) => 21,
        ProxyConnectDone(_) => 22,
        QuicHandshakeStart(_) => 23,
        QuicHandshakeDone(_) => 24,
    };
    KINDS[i]
}

/// Every `EventType`, in WIT order.
fn all_types() -> Vec<EventType> {
    use T::*;
    vec![
        RequestStart,
        GetConn,
        DnsStart,
        DnsDone,
        ConnectStart,
        ConnectDone,
        TlsHandshakeStart,
        TlsHandshakeDone,
        GotConn,
        WroteHeaderField,
        WroteHeaders,
        Wait100Continue,
        Got100Continue,
        Got1xxResponse,
        WroteRequest,
        GotFirstResponseByte,
        ResponseHeaders,
        ResponseDone,
        PutIdleConn,
        Redirect,
        RequestDone,
        ProxyConnectStart,
        ProxyConnectDone,
        QuicHandshakeStart,
        QuicHandshakeDone,
    ]
}

struct Conformance;

impl Guest for Conformance {
    fn init(config: Vec<(String, String)>) -> Result<Vec<EventType>, String> {
        let mut st = State { label: "-".into(), drop: 9, ..State::default() };
        for (key, value) in config {
            match key.as_str() {
                "drop" => st.drop = KINDS.iter().position(|k| *k == value).ok_or_else(|| format!("unknown event kind '{value}'"))?,
                "label" => st.label = value,
                "mode" if value == "conformance" => {}
                "mode" => return Err(format!("unknown mode '{value}'")),
                _ => return Err(format!("unknown config key '{key}'")),
            }
        }
        STATE.with(|s| *s.borrow_mut() = st);
        Ok(all_types())
    }

    fn on_events(events: Vec<Event>) -> Vec<Verdict> {
        STATE.with(|s| {
            let st = &mut *s.borrow_mut();
            events
                .iter()
                .map(|ev| {
                    let name = kind_name(&ev.kind);
                    st.total += 1;
                    *st.kinds.entry(name).or_default() += 1;
                    if let EventKind::TlsHandshakeDone(tls) = &ev.kind {
                        if let Some(group) = &tls.key_exchange_group {
                            *st.tls_groups.entry(group.clone()).or_default() += 1;
                        }
                    }
                    if let EventKind::RequestStart(start) = &ev.kind {
                        st.post_data_bytes += start.post_data.as_ref().map_or(0, |p| p.len() as u64);
                    }
                    if let EventKind::ProxyConnectDone(tunnel) = &ev.kind {
                        if tunnel.error.is_some() {
                            st.tunnels_failed += 1;
                        } else {
                            st.tunnels_ok += 1;
                        }
                    }
                    if let EventKind::QuicHandshakeDone(quic) = &ev.kind {
                        if quic.error.is_some() {
                            st.quic_failed += 1;
                        } else {
                            st.quic_ok += 1;
                        }
                    }
                    let proxy = match &ev.kind {
                        EventKind::DnsStart(d) => d.proxy.as_ref(),
                        EventKind::DnsDone(d) => d.proxy.as_ref(),
                        EventKind::ConnectStart(c) => c.proxy.as_ref(),
                        EventKind::ConnectDone(c) => c.proxy.as_ref(),
                        _ => None,
                    };
                    if let Some(p) = proxy {
                        st.proxied[0] += 1;
                        st.proxied[1] += p.len() as u64;
                    }
                    let clock = match &ev.kind {
                        EventKind::WroteHeaders(c) | EventKind::GotFirstResponseByte(c) => Some(*c),
                        EventKind::WroteRequest(w) => Some(w.clock),
                        _ => None,
                    };
                    match clock {
                        Some(StampClock::Kernel) => st.clocks[0] += 1,
                        Some(StampClock::Engine) => st.clocks[1] += 1,
                        None => {}
                    }
                    if let EventKind::RequestDone(done) = &ev.kind {
                        st.requests += 1;
                        if let Some(code) = done.status {
                            *st.statuses.entry(code).or_default() += 1;
                        }
                        if done.error.is_some() {
                            st.errors += 1;
                        }
                        for hop in &done.hops {
                            st.bytes[0] += hop.bytes.request_body;
                            st.bytes[1] += hop.bytes.response_headers;
                            st.bytes[2] += hop.bytes.response_body;
                        }
                    }
                    if name == KINDS[st.drop] {
                        st.dropped += 1;
                        Verdict::Drop
                    } else {
                        Verdict::Keep
                    }
                })
                .collect()
        })
    }

    fn finish() -> Result<RunOutcome, String> {
        let out = STATE.with(|s| report(&s.borrow()));
        emit(&out);
        Ok(RunOutcome::Pass)
    }
}

/// The `conformance v7` report.
fn report(st: &State) -> String {
    let mut out = format!("conformance v7\nlabel {}\nevents {}\ndropped {}\n", st.label, st.total, st.dropped);
    // BTreeMap<&str, _> iterates in byte order of the names.
    for (kind, n) in &st.kinds {
        out.push_str(&format!("kind {kind} {n}\n"));
    }
    out.push_str(&format!("requests {}\n", st.requests));
    for (code, n) in &st.statuses {
        out.push_str(&format!("status {code} {n}\n"));
    }
    out.push_str(&format!("errors {}\n", st.errors));
    // BTreeMap<String, _> iterates in byte order too.
    for (group, n) in &st.tls_groups {
        out.push_str(&format!("tls-group {group} {n}\n"));
    }
    out.push_str(&format!("post-data {}\n", st.post_data_bytes));
    out.push_str(&format!("tunnels {} {}\n", st.tunnels_ok, st.tunnels_failed));
    out.push_str(&format!("quic {} {}\n", st.quic_ok, st.quic_failed));
    out.push_str(&format!("clocks {} {}\n", st.clocks[0], st.clocks[1]));
    out.push_str(&format!("proxied {} {}\n", st.proxied[0], st.proxied[1]));
    out.push_str(&format!("bytes {} {} {}\n", st.bytes[0], st.bytes[1], st.bytes[2]));
    out
}

export!(Conformance);
