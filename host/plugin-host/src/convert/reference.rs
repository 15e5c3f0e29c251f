//! Engine events in the bindings' WIT form, built field by field: what [`lower`](super::super::lower)
//! writes into plugins directly, kept as the reference the tests check it against.

pub(crate) mod compact;

use super::super::host::bindings::httptrace::plugin::types as wit;
use super::AddrText;
use httptrace::event::{CertSummary, Event, EventKind, Header, HopSummary, Phase, StampClock, TraceError};
use httptrace::summary::{Marks, Timings};

/// One event in the bindings' WIT form, its strings moved rather than copied.
pub(crate) fn event(e: Event, addrs: &mut AddrText) -> wit::Event {
    wit::Event { request: e.request, hop: e.hop, conn: e.conn, at_ns: e.at_ns, kind: kind(e.kind, addrs) }
}

fn kind(k: EventKind, addrs: &mut AddrText) -> wit::EventKind {
    use wit::EventKind as W;
    match k {
        EventKind::RequestStart { method, url, wall_unix_ns, post_data } => W::RequestStart(wit::RequestStart {
            method,
            url,
            wall_unix_ns,
            post_data: post_data.map(|b| String::from_utf8_lossy(&b).into_owned()),
        }),
        EventKind::GetConn { host_port } => W::GetConn(wit::GetConn { host_port }),
        EventKind::DnsStart { host, proxy } => W::DnsStart(wit::DnsStart { host, proxy }),
        EventKind::DnsDone { addrs, coalesced, error, proxy } => W::DnsDone(wit::DnsDone {
            addrs: addrs.iter().map(|a| a.to_string()).collect(),
            coalesced,
            error: error.map(trace_error),
            proxy,
        }),
        EventKind::ConnectStart { network, addr, proxy } => W::ConnectStart(wit::ConnectStart { network, addr: addr.to_string(), proxy }),
        EventKind::ConnectDone { network, addr, cancelled, error, proxy } => {
            W::ConnectDone(wit::ConnectDone { network, addr: addr.to_string(), cancelled, error: error.map(trace_error), proxy })
        }
        EventKind::TlsHandshakeStart { server_name } => W::TlsHandshakeStart(wit::TlsHandshakeStart { server_name }),
        EventKind::TlsHandshakeDone {
            version,
            cipher_suite,
            alpn,
            resumed,
            server_name,
            peer_certificates,
            error,
            key_exchange_group,
            client_certificate_requested,
            client_certificate_sent,
        } => W::TlsHandshakeDone(wit::TlsHandshakeDone {
            version,
            cipher_suite,
            alpn,
            resumed,
            server_name,
            peer_certificates: peer_certificates.into_iter().map(cert).collect(),
            error: error.map(trace_error),
            key_exchange_group,
            client_certificate_requested,
            client_certificate_sent,
        }),
        EventKind::GotConn { reused, was_idle, idle_ns, local_addr, remote_addr, protocol } => W::GotConn(wit::GotConn {
            reused,
            was_idle,
            idle_ns,
            local_addr: addrs.of(&local_addr),
            remote_addr: addrs.of(&remote_addr),
            protocol,
        }),
        EventKind::WroteHeaderField { name, value } => W::WroteHeaderField(wit::Header { name, value }),
        EventKind::WroteHeaders { clock } => W::WroteHeaders(stamp_clock(clock)),
        EventKind::Wait100Continue {} => W::Wait100Continue,
        EventKind::Got100Continue {} => W::Got100Continue,
        EventKind::Got1xxResponse { status, headers } => {
            W::Got1xxResponse(wit::Got1xxResponse { status, headers: headers.into_iter().map(header).collect() })
        }
        EventKind::WroteRequest { body_bytes, error, clock } => {
            W::WroteRequest(wit::WroteRequest { body_bytes, error: error.map(trace_error), clock: stamp_clock(clock) })
        }
        EventKind::GotFirstResponseByte { clock } => W::GotFirstResponseByte(stamp_clock(clock)),
        EventKind::ResponseHeaders { status, version, headers, header_bytes } => {
            W::ResponseHeaders(wit::ResponseHeaders { status, version, headers: headers.into_iter().map(header).collect(), header_bytes })
        }
        EventKind::ResponseDone { body_bytes, error, decoded_bytes } => {
            W::ResponseDone(wit::ResponseDone { body_bytes, error: error.map(trace_error), decoded_bytes })
        }
        EventKind::PutIdleConn { error } => W::PutIdleConn(wit::PutIdleConn { error }),
        EventKind::Redirect { from, to, status, method } => W::Redirect(wit::Redirect { from, to, status, method }),
        EventKind::RequestDone { url, status, error, timings: t, marks: m, hops, client_lag_ns } => W::RequestDone(wit::RequestDone {
            url,
            status,
            error: error.map(trace_error),
            timings: timings(&t),
            marks: marks(&m),
            hops: hops.into_iter().map(hop).collect(),
            client_lag_ns,
        }),
        EventKind::ProxyConnectStart { proxy, target } => W::ProxyConnectStart(wit::ProxyConnectStart { proxy, target }),
        EventKind::ProxyConnectDone { proxy, status, error } => {
            W::ProxyConnectDone(wit::ProxyConnectDone { proxy, status, error: error.map(trace_error) })
        }
        EventKind::QuicHandshakeStart { server_name, quic_version } => {
            W::QuicHandshakeStart(wit::QuicHandshakeStart { server_name, quic_version })
        }
        EventKind::QuicHandshakeDone {
            quic_version,
            alpn,
            early_data_offered,
            early_data_accepted,
            resumed,
            server_name,
            peer_certificates,
            error,
        } => W::QuicHandshakeDone(wit::QuicHandshakeDone {
            quic_version,
            alpn,
            early_data_offered,
            early_data_accepted,
            resumed,
            server_name,
            peer_certificates: peer_certificates.into_iter().map(cert).collect(),
            error: error.map(trace_error),
        }),
    }
}

fn header(h: Header) -> wit::Header {
    wit::Header { name: h.name, value: h.value }
}

fn cert(c: CertSummary) -> wit::CertSummary {
    wit::CertSummary {
        subject: c.subject,
        issuer: c.issuer,
        not_before: c.not_before,
        not_after: c.not_after,
        sans: c.sans,
        serial: c.serial,
    }
}

fn phase(p: Phase) -> wit::Phase {
    match p {
        Phase::Setup => wit::Phase::Setup,
        Phase::Dns => wit::Phase::Dns,
        Phase::Connect => wit::Phase::Connect,
        Phase::Tls => wit::Phase::Tls,
        Phase::Send => wit::Phase::Send,
        Phase::Wait => wit::Phase::Wait,
        Phase::Receive => wit::Phase::Receive,
        Phase::Timeout => wit::Phase::Timeout,
        Phase::TooManyRedirects => wit::Phase::TooManyRedirects,
    }
}

fn stamp_clock(c: StampClock) -> wit::StampClock {
    match c {
        StampClock::Engine => wit::StampClock::Engine,
        StampClock::Kernel => wit::StampClock::Kernel,
    }
}

fn trace_error(e: TraceError) -> wit::TraceError {
    wit::TraceError { phase: phase(e.phase), kind: e.kind.to_string(), during: e.during.map(phase), message: e.message }
}

fn timings(t: &Timings) -> wit::Timings {
    wit::Timings {
        blocked: t.blocked,
        dns: t.dns,
        connect: t.connect,
        ssl: t.ssl,
        send: t.send,
        wait: t.wait,
        receive: t.receive,
        total: t.total,
    }
}

fn marks(m: &Marks) -> wit::Marks {
    wit::Marks {
        namelookup: m.namelookup,
        connect: m.connect,
        appconnect: m.appconnect,
        pretransfer: m.pretransfer,
        posttransfer: m.posttransfer,
        starttransfer: m.starttransfer,
        total: m.total,
        redirect: m.redirect,
    }
}

fn hop(h: HopSummary) -> wit::HopSummary {
    let b = h.bytes;
    wit::HopSummary {
        hop: h.hop,
        url: h.url,
        status: h.status,
        timings: timings(&h.timings),
        marks: marks(&h.marks),
        bytes: wit::ByteCounts { request_body: b.request_body, response_headers: b.response_headers, response_body: b.response_body },
    }
}

/// The [`EventKind::index`] of a WIT event's kind.
pub(crate) fn kind_index(k: &wit::EventKind) -> usize {
    use wit::EventKind as W;
    match k {
        W::RequestStart(_) => 0,
        W::GetConn(_) => 1,
        W::DnsStart(_) => 2,
        W::DnsDone(_) => 3,
        W::ConnectStart(_) => 4,
        W::ConnectDone(_) => 5,
        W::TlsHandshakeStart(_) => 6,
        W::TlsHandshakeDone(_) => 7,
        W::GotConn(_) => 8,
        W::WroteHeaderField(_) => 9,
        W::WroteHeaders(_) => 10,
        W::Wait100Continue => 11,
        W::Got100Continue => 12,
        W::Got1xxResponse(_) => 13,
        W::WroteRequest(_) => 14,
        W::GotFirstResponseByte(_) => 15,
        W::ResponseHeaders(_) => 16,
        W::ResponseDone(_) => 17,
        W::PutIdleConn(_) => 18,
        W::Redirect(_) => 19,
        W::RequestDone(_) => 20,
        W::ProxyConnectStart(_) => 21,
        W::ProxyConnectDone(_) => 22,
        W::QuicHandshakeStart(_) => 23,
        W::QuicHandshakeDone(_) => 24,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use httptrace::event::{ByteCounts, KIND_NAMES};

    /// A sample of every kind, in index order.
    pub(crate) fn every_kind() -> Vec<EventKind> {
        let sa: std::net::SocketAddr = "[::1]:443".parse().unwrap();
        let err = Some(TraceError { phase: Phase::Timeout, kind: "max-time".into(), during: Some(Phase::Wait), message: "m".into() });
        let hdr = vec![Header { name: "a".into(), value: "b".into() }];
        let cert = CertSummary {
            subject: "s".into(),
            issuer: "i".into(),
            not_before: "nb".into(),
            not_after: "na".into(),
            sans: vec!["x".into()],
            serial: "01".into(),
        };
        vec![
            EventKind::RequestStart {
                method: "GET".into(),
                url: "http://x/".into(),
                wall_unix_ns: 7,
                post_data: Some(bytes::Bytes::from_static(b"a=1&\xff")),
            },
            EventKind::GetConn { host_port: "x:80".into() },
            EventKind::DnsStart { host: "x".into(), proxy: Some("http://x:3128".into()) },
            EventKind::DnsDone {
                addrs: vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
                coalesced: true,
                error: err.clone(),
                proxy: None,
            },
            EventKind::ConnectStart { network: "tcp".into(), addr: sa.into(), proxy: Some("socks5h://u:[redacted]@x:1080".into()) },
            EventKind::ConnectDone {
                network: "tcp".into(),
                addr: sa.into(),
                cancelled: true,
                error: None,
                proxy: Some("http://ü:1".into()),
            },
            EventKind::TlsHandshakeStart { server_name: "x".into() },
            EventKind::TlsHandshakeDone {
                version: "TLSv1.3".into(),
                cipher_suite: "c".into(),
                alpn: Some("h2".into()),
                resumed: false,
                server_name: "x".into(),
                peer_certificates: vec![cert.clone()],
                error: None,
                key_exchange_group: Some("X25519MLKEM768".into()),
                client_certificate_requested: true,
                client_certificate_sent: true,
            },
            EventKind::GotConn {
                reused: true,
                was_idle: true,
                idle_ns: 5,
                local_addr: sa.into(),
                remote_addr: sa.into(),
                protocol: "h2".into(),
            },
            EventKind::WroteHeaderField { name: ":path".into(), value: "/".into() },
            EventKind::WroteHeaders { clock: StampClock::Kernel },
            EventKind::Wait100Continue {},
            EventKind::Got100Continue {},
            EventKind::Got1xxResponse { status: 103, headers: hdr.clone() },
            EventKind::WroteRequest { body_bytes: 3, error: None, clock: StampClock::Kernel },
            EventKind::GotFirstResponseByte { clock: StampClock::Engine },
            EventKind::ResponseHeaders { status: 200, version: "HTTP/2".into(), headers: hdr, header_bytes: 30 },
            EventKind::ResponseDone { body_bytes: 9, error: None, decoded_bytes: Some(30) },
            EventKind::PutIdleConn { error: Some("closed".into()) },
            EventKind::Redirect { from: "a".into(), to: "b".into(), status: 302, method: "GET".into() },
            EventKind::RequestDone {
                url: "u".into(),
                status: Some(200),
                error: None,
                timings: Timings { blocked: 1.0, dns: -1.0, ..Default::default() },
                marks: Marks { total: 0.5, ..Default::default() },
                hops: vec![HopSummary {
                    hop: 0,
                    url: "u".into(),
                    status: None,
                    timings: Timings::default(),
                    marks: Marks::default(),
                    bytes: ByteCounts { request_body: 1, response_headers: 2, response_body: 3 },
                }],
                client_lag_ns: Some(1234),
            },
            EventKind::ProxyConnectStart { proxy: "http://p:3128".into(), target: "x:443".into() },
            EventKind::ProxyConnectDone { proxy: "http://p:3128".into(), status: Some(407), error: err.clone() },
            EventKind::QuicHandshakeStart { server_name: "x".into(), quic_version: 1 },
            EventKind::QuicHandshakeDone {
                quic_version: 1,
                alpn: Some("h3".into()),
                early_data_offered: true,
                early_data_accepted: false,
                resumed: true,
                server_name: "x".into(),
                peer_certificates: vec![cert.clone()],
                error: err,
            },
        ]
    }

    #[test]
    fn every_kind_converts_to_the_same_index_and_keeps_fields() {
        let kinds = every_kind();
        assert_eq!(kinds.len(), KIND_NAMES.len());
        for (i, k) in kinds.into_iter().enumerate() {
            assert_eq!(k.index(), i);
            let e = Event { request: 4, hop: 1, conn: Some(9), at_ns: 123, kind: k };
            let w = event(e, &mut AddrText::default());
            assert_eq!((w.request, w.hop, w.conn, w.at_ns), (4, 1, Some(9), 123));
            assert_eq!(kind_index(&w.kind), i, "{}", KIND_NAMES[i]);
        }
        let e = Event { request: 1, hop: 0, conn: None, at_ns: 0, kind: every_kind().swap_remove(3) };
        let wit::EventKind::DnsDone(d) = event(e, &mut AddrText::default()).kind else { panic!() };
        assert_eq!(d.addrs, ["127.0.0.1", "::1"]);
        assert!(matches!(d.error, Some(wit::TraceError { phase: wit::Phase::Timeout, during: Some(wit::Phase::Wait), .. })));
    }
}
