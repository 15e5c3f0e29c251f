//! `on-batch`: the compact form of a batch (`wit/compact.wit`, strings as spans of one text)
//! read straight from the canonical-ABI memory the host wrote, into the same [`Event`] values
//! `on-events` would have given.
//!
//! Why by hand: wit-bindgen's lifting would first build the compact records (a `Vec` of them
//! and one per nested list) only for this module to turn each into an [`Event`]; reading the
//! memory once halves that work. `export_plugin!` exports `on-batch` and its post-return here
//! (the bindings are generated with `skip: ["on-batch"]`, the world still declares it).
//!
//! The layout below is the canonical ABI's for `compact.event` on wasm32, field by field in WIT
//! order (offsets in the comments' `@`). The host's differential tests
//! (`plugin::lower::tests`) feed every field of every kind through a real guest built with this
//! SDK, both as the host writes it and as wasmtime's own lowering of `compact.wit`'s types does,
//! so a mistake here, or a `compact.wit` that drifts from this order, fails them.
//!
//! Ownership, as the canonical ABI says: the text and every list the host allocated with this
//! module's `cabi_realloc` now belong to the plugin and are freed here.

use std::alloc::{dealloc, Layout};

use crate::{
    ByteCounts, CertSummary, ConnectDone, ConnectStart, DnsDone, DnsStart, Event, EventKind, GetConn, Got1xxResponse, GotConn, Header,
    HopSummary, Marks, Phase, ProxyConnectDone, ProxyConnectStart, PutIdleConn, QuicHandshakeDone, QuicHandshakeStart, Redirect,
    RequestDone, RequestStart, ResponseDone, ResponseHeaders, StampClock, Timings, TlsHandshakeDone, TlsHandshakeStart, TraceError,
    WroteRequest,
};

/// Size of `compact.event` (align 8): request @0, hop @8, conn @16 (option<u64>), at-ns @32,
/// kind @40 (discriminant, payload @48, largest case `request-done` 192 bytes since 0.3.0).
const EVENT: usize = 240;
const HEADER: usize = 16;
const SPAN: usize = 8;
const CERT: usize = 48;
const HOP: usize = 168;

/// A batch's memory: `text` and the guest pointers the host wrote.
pub(crate) struct Batch<'t> {
    text: &'t str,
    /// Build header lists (the plugin's `Interest::header_lists`); otherwise they are freed
    /// unread and handed over empty.
    header_lists: bool,
}

/// Reads the batch at `events` (`len` events) whose strings point into `text`, then frees the
/// lists (the text stays with the caller).
///
/// # Safety
///
/// `events` and every pointer inside must be what the host lowered for `on-batch`: `len`
/// events laid out as `compact.event`, lists allocated by `cabi_realloc`.
pub(crate) unsafe fn read(text: &str, events: *mut u8, len: usize) -> Vec<Event> {
    let b = Batch { text, header_lists: crate::__rt::header_lists() };
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        // SAFETY: the caller vouches for `len` events at `events`.
        out.push(unsafe { b.event(events.add(i * EVENT)) });
    }
    // SAFETY: the host allocated the list with this layout.
    unsafe { free(events, len * EVENT, 8) };
    out
}

unsafe fn free(ptr: *mut u8, size: usize, align: usize) {
    if size > 0 {
        // SAFETY: `cabi_realloc` allocated `size` bytes at `ptr` with `align`.
        unsafe { dealloc(ptr, Layout::from_size_align_unchecked(size, align)) };
    }
}

unsafe fn u8_at(p: *const u8, at: usize) -> u8 {
    unsafe { p.add(at).read() }
}
unsafe fn u16_at(p: *const u8, at: usize) -> u16 {
    unsafe { p.add(at).cast::<u16>().read_unaligned() }
}
unsafe fn u32_at(p: *const u8, at: usize) -> u32 {
    unsafe { p.add(at).cast::<u32>().read_unaligned() }
}
unsafe fn u64_at(p: *const u8, at: usize) -> u64 {
    unsafe { p.add(at).cast::<u64>().read_unaligned() }
}
unsafe fn f64_at(p: *const u8, at: usize) -> f64 {
    f64::from_bits(unsafe { u64_at(p, at) })
}
unsafe fn clock_at(p: *const u8, at: usize) -> StampClock {
    match unsafe { u8_at(p, at) } {
        1 => StampClock::Kernel,
        _ => StampClock::Engine,
    }
}

unsafe fn bool_at(p: *const u8, at: usize) -> bool {
    unsafe { u8_at(p, at) != 0 }
}
unsafe fn opt_u16_at(p: *const u8, at: usize) -> Option<u16> {
    // option<u16>: discriminant @0, payload @2.
    unsafe { bool_at(p, at).then(|| u16_at(p, at + 2)) }
}

fn phase(d: u8) -> Phase {
    match d {
        0 => Phase::Setup,
        1 => Phase::Dns,
        2 => Phase::Connect,
        3 => Phase::Tls,
        4 => Phase::Send,
        5 => Phase::Wait,
        6 => Phase::Receive,
        7 => Phase::Timeout,
        8 => Phase::TooManyRedirects,
        _ => panic!("httptrace plugin: phase {d} is not in the WIT"),
    }
}

/// A list's pointer and length at `p + at`.
unsafe fn list_at(p: *const u8, at: usize) -> (*mut u8, usize) {
    unsafe { (u32_at(p, at) as usize as *mut u8, u32_at(p, at + 4) as usize) }
}

unsafe fn timings_at(p: *const u8, at: usize) -> Timings {
    let f = |i: usize| unsafe { f64_at(p, at + 8 * i) };
    Timings { blocked: f(0), dns: f(1), connect: f(2), ssl: f(3), send: f(4), wait: f(5), receive: f(6), total: f(7) }
}

unsafe fn marks_at(p: *const u8, at: usize) -> Marks {
    let f = |i: usize| unsafe { f64_at(p, at + 8 * i) };
    Marks {
        namelookup: f(0),
        connect: f(1),
        appconnect: f(2),
        pretransfer: f(3),
        posttransfer: f(4),
        starttransfer: f(5),
        total: f(6),
        redirect: f(7),
    }
}

impl Batch<'_> {
    /// The span at `p + at` (start @0, len @4) as a string.
    unsafe fn s(&self, p: *const u8, at: usize) -> String {
        let (start, len) = unsafe { (u32_at(p, at) as usize, u32_at(p, at + 4) as usize) };
        match self.text.get(start..start + len) {
            Some(s) => s.to_owned(),
            None => panic!("httptrace plugin: span {start}..{} outside the batch's {} bytes of text", start + len, self.text.len()),
        }
    }

    /// option<span> at `p + at`: discriminant @0, span @4.
    unsafe fn opt_s(&self, p: *const u8, at: usize) -> Option<String> {
        unsafe { bool_at(p, at).then(|| self.s(p, at + 4)) }
    }

    /// A list at `p + at` of `size`-byte, `align`-aligned elements, each read by `item`; the
    /// list's memory is freed.
    unsafe fn list<T>(&self, p: *const u8, at: usize, size: usize, align: usize, item: impl Fn(&Self, *const u8) -> T) -> Vec<T> {
        let (base, len) = unsafe { list_at(p, at) };
        let out = (0..len).map(|i| item(self, unsafe { base.add(i * size) })).collect();
        unsafe { free(base, len * size, align) };
        out
    }

    unsafe fn strings(&self, p: *const u8, at: usize) -> Vec<String> {
        unsafe { self.list(p, at, SPAN, 4, |b, e| b.s(e, 0)) }
    }

    unsafe fn headers(&self, p: *const u8, at: usize) -> Vec<Header> {
        if !self.header_lists {
            let (base, len) = unsafe { list_at(p, at) };
            unsafe { free(base, len * HEADER, 4) };
            return Vec::new();
        }
        unsafe { self.list(p, at, HEADER, 4, |b, h| b.header(h)) }
    }

    /// header: name @0, value @8.
    unsafe fn header(&self, p: *const u8) -> Header {
        unsafe { Header { name: self.s(p, 0), value: self.s(p, 8) } }
    }

    /// option<trace-error> at `p + at`: discriminant @0, record @4 = phase @0, kind @4,
    /// during @12 (option<phase>: discriminant @0, phase @1), message @16.
    unsafe fn error(&self, p: *const u8, at: usize) -> Option<TraceError> {
        unsafe {
            if !bool_at(p, at) {
                return None;
            }
            let e = p.add(at + 4);
            Some(TraceError {
                phase: phase(u8_at(e, 0)),
                kind: self.s(e, 4),
                during: bool_at(e, 12).then(|| phase(u8_at(e, 13))),
                message: self.s(e, 16),
            })
        }
    }

    /// cert-summary: subject @0, issuer @8, not-before @16, not-after @24, sans @32, serial @40.
    unsafe fn cert(&self, p: *const u8) -> CertSummary {
        unsafe {
            CertSummary {
                subject: self.s(p, 0),
                issuer: self.s(p, 8),
                not_before: self.s(p, 16),
                not_after: self.s(p, 24),
                sans: self.strings(p, 32),
                serial: self.s(p, 40),
            }
        }
    }

    /// hop-summary: hop @0, url @4, status @12 (option<u16>), timings @16, marks @80, bytes
    /// @144 (three u64s, since 0.7.0).
    unsafe fn hop(&self, p: *const u8) -> HopSummary {
        unsafe {
            HopSummary {
                hop: u32_at(p, 0),
                url: self.s(p, 4),
                status: opt_u16_at(p, 12),
                timings: timings_at(p, 16),
                marks: marks_at(p, 80),
                bytes: ByteCounts { request_body: u64_at(p, 144), response_headers: u64_at(p, 152), response_body: u64_at(p, 160) },
            }
        }
    }

    unsafe fn event(&self, p: *const u8) -> Event {
        unsafe {
            Event {
                request: u64_at(p, 0),
                hop: u32_at(p, 8),
                conn: bool_at(p, 16).then(|| u64_at(p, 24)),
                at_ns: u64_at(p, 32),
                kind: self.kind(u8_at(p, 40), p.add(48)),
            }
        }
    }

    /// The `event-kind` case `case` whose record starts at `k`.
    unsafe fn kind(&self, case: u8, k: *const u8) -> EventKind {
        unsafe {
            match case {
                // request-start: method @0, url @8, wall-unix-ns @16, post-data @24
                // (option<span>, since 0.3.0).
                0 => EventKind::RequestStart(RequestStart {
                    method: self.s(k, 0),
                    url: self.s(k, 8),
                    wall_unix_ns: u64_at(k, 16),
                    post_data: self.opt_s(k, 24),
                }),
                1 => EventKind::GetConn(GetConn { host_port: self.s(k, 0) }),
                // dns-start: host @0, proxy @8 (option<span>, since 0.6.0).
                2 => EventKind::DnsStart(DnsStart { host: self.s(k, 0), proxy: self.opt_s(k, 8) }),
                // dns-done: addrs @0, coalesced @8, error @12, proxy @40 (since 0.6.0).
                3 => EventKind::DnsDone(DnsDone {
                    addrs: self.strings(k, 0),
                    coalesced: bool_at(k, 8),
                    error: self.error(k, 12),
                    proxy: self.opt_s(k, 40),
                }),
                // connect-start: network @0, addr @8, proxy @16 (since 0.6.0).
                4 => EventKind::ConnectStart(ConnectStart { network: self.s(k, 0), addr: self.s(k, 8), proxy: self.opt_s(k, 16) }),
                // connect-done: network @0, addr @8, cancelled @16, error @20, proxy @48
                // (since 0.6.0).
                5 => EventKind::ConnectDone(ConnectDone {
                    network: self.s(k, 0),
                    addr: self.s(k, 8),
                    cancelled: bool_at(k, 16),
                    error: self.error(k, 20),
                    proxy: self.opt_s(k, 48),
                }),
                6 => EventKind::TlsHandshakeStart(TlsHandshakeStart { server_name: self.s(k, 0) }),
                // tls-handshake-done: version @0, cipher-suite @8, alpn @16 (option<span>),
                // resumed @28, server-name @32, peer-certificates @40, error @48,
                // key-exchange-group @76 (option<span>, since 0.2.0),
                // client-certificate-requested @88, client-certificate-sent @89 (since 0.3.0).
                7 => EventKind::TlsHandshakeDone(TlsHandshakeDone {
                    version: self.s(k, 0),
                    cipher_suite: self.s(k, 8),
                    alpn: self.opt_s(k, 16),
                    resumed: bool_at(k, 28),
                    server_name: self.s(k, 32),
                    peer_certificates: self.list(k, 40, CERT, 4, |b, c| b.cert(c)),
                    error: self.error(k, 48),
                    key_exchange_group: self.opt_s(k, 76),
                    client_certificate_requested: bool_at(k, 88),
                    client_certificate_sent: bool_at(k, 89),
                }),
                // got-conn: reused @0, was-idle @1, idle-ns @8, local-addr @16,
                // remote-addr @24, protocol @32.
                8 => EventKind::GotConn(GotConn {
                    reused: bool_at(k, 0),
                    was_idle: bool_at(k, 1),
                    idle_ns: u64_at(k, 8),
                    local_addr: self.s(k, 16),
                    remote_addr: self.s(k, 24),
                    protocol: self.s(k, 32),
                }),
                9 => EventKind::WroteHeaderField(self.header(k)),
                // wrote-headers: stamp-clock @0 (since 0.5.0).
                10 => EventKind::WroteHeaders(clock_at(k, 0)),
                11 => EventKind::Wait100Continue,
                12 => EventKind::Got100Continue,
                // got-1xx-response: status @0, headers @4.
                13 => EventKind::Got1xxResponse(Got1xxResponse { status: u16_at(k, 0), headers: self.headers(k, 4) }),
                // wrote-request: body-bytes @0, error @8, clock @36 (since 0.5.0).
                14 => EventKind::WroteRequest(WroteRequest { body_bytes: u64_at(k, 0), error: self.error(k, 8), clock: clock_at(k, 36) }),
                // got-first-response-byte: stamp-clock @0 (since 0.5.0).
                15 => EventKind::GotFirstResponseByte(clock_at(k, 0)),
                // response-headers: status @0, version @4, headers @12, header-bytes @24.
                16 => EventKind::ResponseHeaders(ResponseHeaders {
                    status: u16_at(k, 0),
                    version: self.s(k, 4),
                    headers: self.headers(k, 12),
                    header_bytes: u64_at(k, 24),
                }),
                // response-done: body-bytes @0, error @8, decoded-bytes @40 (option<u64>, since
                // 0.4.0).
                17 => EventKind::ResponseDone(ResponseDone {
                    body_bytes: u64_at(k, 0),
                    error: self.error(k, 8),
                    decoded_bytes: bool_at(k, 40).then(|| u64_at(k, 48)),
                }),
                // put-idle-conn: error @0 (option<span>).
                18 => EventKind::PutIdleConn(PutIdleConn { error: self.opt_s(k, 0) }),
                // redirect: from @0, to @8, status @16, method @20.
                19 => EventKind::Redirect(Redirect { from: self.s(k, 0), to: self.s(k, 8), status: u16_at(k, 16), method: self.s(k, 20) }),
                // request-done: url @0, status @8 (option<u16>), error @12, timings @40,
                // marks @104, hops @168, client-lag-ns @176 (option<u64>, since 0.3.0).
                20 => EventKind::RequestDone(RequestDone {
                    url: self.s(k, 0),
                    status: opt_u16_at(k, 8),
                    error: self.error(k, 12),
                    timings: timings_at(k, 40),
                    marks: marks_at(k, 104),
                    hops: self.list(k, 168, HOP, 8, |b, h| b.hop(h)),
                    client_lag_ns: bool_at(k, 176).then(|| u64_at(k, 184)),
                }),
                // proxy-connect-start: proxy @0, target @8 (since 0.3.0).
                21 => EventKind::ProxyConnectStart(ProxyConnectStart { proxy: self.s(k, 0), target: self.s(k, 8) }),
                // proxy-connect-done: proxy @0, status @8 (option<u16>), error @12 (since 0.3.0).
                22 => EventKind::ProxyConnectDone(ProxyConnectDone {
                    proxy: self.s(k, 0),
                    status: opt_u16_at(k, 8),
                    error: self.error(k, 12),
                }),
                // quic-handshake-start: server-name @0, quic-version @8 (since 0.4.0).
                23 => EventKind::QuicHandshakeStart(QuicHandshakeStart { server_name: self.s(k, 0), quic_version: u32_at(k, 8) }),
                // quic-handshake-done: quic-version @0, alpn @4 (option<span>),
                // early-data-offered @16, early-data-accepted @17, resumed @18, server-name @20,
                // peer-certificates @28, error @36 (since 0.4.0).
                24 => EventKind::QuicHandshakeDone(QuicHandshakeDone {
                    quic_version: u32_at(k, 0),
                    alpn: self.opt_s(k, 4),
                    early_data_offered: bool_at(k, 16),
                    early_data_accepted: bool_at(k, 17),
                    resumed: bool_at(k, 18),
                    server_name: self.s(k, 20),
                    peer_certificates: self.list(k, 28, CERT, 4, |b, c| b.cert(c)),
                    error: self.error(k, 36),
                }),
                _ => panic!("httptrace plugin: event kind {case} is not in the WIT"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::alloc::{alloc_zeroed, Layout};

    use super::*;

    /// `n` zeroed events allocated as the host's `cabi_realloc` would (freed by [`read`]).
    fn events(n: usize) -> *mut u8 {
        // SAFETY: a non-zero size with a valid alignment.
        unsafe { alloc_zeroed(Layout::from_size_align(n * EVENT, 8).unwrap()) }
    }

    fn put32(p: *mut u8, at: usize, v: u32) {
        // SAFETY: the tests write inside the events they allocated.
        unsafe { p.add(at).cast::<u32>().write_unaligned(v) }
    }

    fn put64(p: *mut u8, at: usize, v: u64) {
        // SAFETY: as above.
        unsafe { p.add(at).cast::<u64>().write_unaligned(v) }
    }

    fn span(p: *mut u8, at: usize, start: u32, len: u32) {
        put32(p, at, start);
        put32(p, at + 4, len);
    }

    /// Two events laid out by hand in the canonical ABI's layout (no nested lists: natively a
    /// guest pointer is not a host pointer) read back field for field.
    #[test]
    fn reads_events_laid_out_in_the_canonical_layout() {
        let text = "GEThttp://ü.example/dnsé ☃";
        let url = (3, "http://ü.example/".len() as u32);
        let p = events(2);
        // request-start, request 7, hop 1, conn 3, at 99.
        put64(p, 0, 7);
        put32(p, 8, 1);
        // SAFETY: inside the allocation.
        unsafe { p.add(16).write(1) };
        put64(p, 24, 3);
        put64(p, 32, 99);
        span(p, 48, 0, 3);
        span(p, 56, url.0, url.1);
        put64(p, 64, 5);
        // request-done: url, status 301, error (dns, "dns", during connect, "é ☃"), timings, marks.
        let q = p.wrapping_add(EVENT);
        put64(q, 32, 100);
        // SAFETY: inside the allocation.
        unsafe { q.add(40).write(20) };
        let k = q.wrapping_add(48);
        span(k, 0, url.0, url.1);
        // SAFETY: inside the allocation.
        unsafe {
            k.add(8).write(1);
            k.add(10).cast::<u16>().write_unaligned(301);
            k.add(12).write(1);
            k.add(16).write(1);
            k.add(28).write(1);
            k.add(29).write(2);
        }
        let dns = text.find("dns").unwrap() as u32;
        span(k, 20, dns, 3);
        span(k, 32, dns + 3, (text.len() as u32) - dns - 3);
        put64(k, 40, 1.5f64.to_bits());
        put64(k, 104 + 6 * 8, 2.0f64.to_bits());
        // SAFETY: two events in this layout, no lists.
        let out = unsafe { read(text, p, 2) };
        assert_eq!((out[0].request, out[0].hop, out[0].conn, out[0].at_ns), (7, 1, Some(3), 99));
        assert_eq!(
            out[0].kind,
            EventKind::RequestStart(RequestStart {
                method: "GET".into(),
                url: "http://ü.example/".into(),
                wall_unix_ns: 5,
                post_data: None
            })
        );
        assert_eq!((out[1].request, out[1].conn, out[1].at_ns), (0, None, 100));
        match &out[1].kind {
            EventKind::RequestDone(d) => {
                assert_eq!(
                    (d.url.as_str(), d.status, d.timings.blocked, d.marks.total, d.hops.len()),
                    ("http://ü.example/", Some(301), 1.5, 2.0, 0)
                );
                let e = d.error.as_ref().expect("error");
                assert_eq!((e.phase, e.kind.as_str(), e.during, e.message.as_str()), (Phase::Dns, "dns", Some(Phase::Connect), "é ☃"));
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    #[should_panic(expected = "span 2..12 outside the batch's 3 bytes of text")]
    fn a_span_outside_the_text_is_a_loud_failure() {
        let p = events(1);
        // SAFETY: inside the allocation: kind 2 (dns-start), host span @48.
        unsafe { p.add(40).write(2) };
        span(p, 48, 2, 10);
        // SAFETY: one event in this layout.
        let _ = unsafe { read("abc", p, 1) };
    }
}
