//! `on-batch`: the compact form of a batch (`wit/compact.wit`, strings as spans of one text)
//! expanded into the same [`Event`] values `on-events` would have given.
//!
//! The host copies one text per batch into the plugin instead of one allocation per string; the
//! strings are made here, inside the plugin, where an allocation is a plain function call.

use crate::bindings::httptrace::plugin::compact as c;
use crate::{
    CertSummary, ConnectDone, ConnectStart, DnsDone, DnsStart, Event, EventKind, GetConn, Got1xxResponse, GotConn, Header, HopSummary,
    PutIdleConn, Redirect, RequestDone, RequestStart, ResponseDone, ResponseHeaders, TlsHandshakeDone, TlsHandshakeStart, TraceError,
    WroteRequest,
};

/// The batch's events in their plain form.
pub(crate) fn expand(batch: c::Batch) -> Vec<Event> {
    let t = Text(&batch.text);
    batch.events.into_iter().map(|e| t.event(e)).collect()
}

/// The batch's text, which spans point into.
struct Text<'a>(&'a str);

impl Text<'_> {
    fn s(&self, span: c::Span) -> String {
        let (start, end) = (span.start as usize, span.start as usize + span.len as usize);
        match self.0.get(start..end) {
            Some(s) => s.to_owned(),
            None => panic!("httptrace plugin: span {start}..{end} outside the batch's {} bytes of text", self.0.len()),
        }
    }

    fn strings(&self, spans: Vec<c::Span>) -> Vec<String> {
        spans.into_iter().map(|s| self.s(s)).collect()
    }

    fn header(&self, h: c::Header) -> Header {
        Header { name: self.s(h.name), value: self.s(h.value) }
    }

    fn headers(&self, hs: Vec<c::Header>) -> Vec<Header> {
        hs.into_iter().map(|h| self.header(h)).collect()
    }

    fn error(&self, e: Option<c::TraceError>) -> Option<TraceError> {
        e.map(|e| TraceError { phase: e.phase, kind: self.s(e.kind), during: e.during, message: self.s(e.message) })
    }

    fn cert(&self, c: c::CertSummary) -> CertSummary {
        CertSummary {
            subject: self.s(c.subject),
            issuer: self.s(c.issuer),
            not_before: self.s(c.not_before),
            not_after: self.s(c.not_after),
            sans: self.strings(c.sans),
            serial: self.s(c.serial),
        }
    }

    fn hop(&self, h: c::HopSummary) -> HopSummary {
        HopSummary { hop: h.hop, url: self.s(h.url), status: h.status, timings: h.timings, marks: h.marks }
    }

    fn event(&self, e: c::Event) -> Event {
        Event { request: e.request, hop: e.hop, conn: e.conn, at_ns: e.at_ns, kind: self.kind(e.kind) }
    }

    fn kind(&self, k: c::EventKind) -> EventKind {
        use c::EventKind as K;
        match k {
            K::RequestStart(r) => {
                EventKind::RequestStart(RequestStart { method: self.s(r.method), url: self.s(r.url), wall_unix_ns: r.wall_unix_ns })
            }
            K::GetConn(g) => EventKind::GetConn(GetConn { host_port: self.s(g.host_port) }),
            K::DnsStart(d) => EventKind::DnsStart(DnsStart { host: self.s(d.host) }),
            K::DnsDone(d) => {
                EventKind::DnsDone(DnsDone { addrs: self.strings(d.addrs), coalesced: d.coalesced, error: self.error(d.error) })
            }
            K::ConnectStart(c) => EventKind::ConnectStart(ConnectStart { network: self.s(c.network), addr: self.s(c.addr) }),
            K::ConnectDone(c) => EventKind::ConnectDone(ConnectDone {
                network: self.s(c.network),
                addr: self.s(c.addr),
                cancelled: c.cancelled,
                error: self.error(c.error),
            }),
            K::TlsHandshakeStart(t) => EventKind::TlsHandshakeStart(TlsHandshakeStart { server_name: self.s(t.server_name) }),
            K::TlsHandshakeDone(t) => EventKind::TlsHandshakeDone(TlsHandshakeDone {
                version: self.s(t.version),
                cipher_suite: self.s(t.cipher_suite),
                alpn: t.alpn.map(|a| self.s(a)),
                resumed: t.resumed,
                server_name: self.s(t.server_name),
                peer_certificates: t.peer_certificates.into_iter().map(|c| self.cert(c)).collect(),
                error: self.error(t.error),
            }),
            K::GotConn(g) => EventKind::GotConn(GotConn {
                reused: g.reused,
                was_idle: g.was_idle,
                idle_ns: g.idle_ns,
                local_addr: self.s(g.local_addr),
                remote_addr: self.s(g.remote_addr),
                protocol: self.s(g.protocol),
            }),
            K::WroteHeaderField(h) => EventKind::WroteHeaderField(self.header(h)),
            K::WroteHeaders => EventKind::WroteHeaders,
            K::Wait100Continue => EventKind::Wait100Continue,
            K::Got100Continue => EventKind::Got100Continue,
            K::Got1xxResponse(r) => EventKind::Got1xxResponse(Got1xxResponse { status: r.status, headers: self.headers(r.headers) }),
            K::WroteRequest(w) => EventKind::WroteRequest(WroteRequest { body_bytes: w.body_bytes, error: self.error(w.error) }),
            K::GotFirstResponseByte => EventKind::GotFirstResponseByte,
            K::ResponseHeaders(r) => EventKind::ResponseHeaders(ResponseHeaders {
                status: r.status,
                version: self.s(r.version),
                headers: self.headers(r.headers),
                header_bytes: r.header_bytes,
            }),
            K::ResponseDone(r) => EventKind::ResponseDone(ResponseDone { body_bytes: r.body_bytes, error: self.error(r.error) }),
            K::PutIdleConn(p) => EventKind::PutIdleConn(PutIdleConn { error: p.error.map(|e| self.s(e)) }),
            K::Redirect(r) => {
                EventKind::Redirect(Redirect { from: self.s(r.from), to: self.s(r.to), status: r.status, method: self.s(r.method) })
            }
            K::RequestDone(r) => EventKind::RequestDone(RequestDone {
                url: self.s(r.url),
                status: r.status,
                error: self.error(r.error),
                timings: r.timings,
                marks: r.marks,
                hops: r.hops.into_iter().map(|h| self.hop(h)).collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Marks, Phase, Timings};

    /// Spans of `text` for each of `parts`, in order (the host's layout: one after another).
    fn spans(parts: &[&str]) -> (String, Vec<c::Span>) {
        let mut text = String::new();
        let spans = parts
            .iter()
            .map(|p| {
                let span = c::Span { start: text.len() as u32, len: p.len() as u32 };
                text.push_str(p);
                span
            })
            .collect();
        (text, spans)
    }

    #[test]
    fn spans_become_the_same_strings_and_other_fields_pass_through() {
        let (text, s) = spans(&["GET", "http://ü.example/", "x-a", "", "dns", "é ☃"]);
        let error = c::TraceError { phase: Phase::Dns, kind: s[4], during: Some(Phase::Connect), message: s[5] };
        let events = vec![
            c::Event {
                request: 7,
                hop: 1,
                conn: Some(3),
                at_ns: 99,
                kind: c::EventKind::RequestStart(c::RequestStart { method: s[0], url: s[1], wall_unix_ns: 5 }),
            },
            c::Event {
                request: 7,
                hop: 1,
                conn: None,
                at_ns: 100,
                kind: c::EventKind::WroteHeaderField(c::Header { name: s[2], value: s[3] }),
            },
            c::Event { request: 7, hop: 1, conn: None, at_ns: 101, kind: c::EventKind::WroteHeaders },
            c::Event {
                request: 7,
                hop: 1,
                conn: None,
                at_ns: 102,
                kind: c::EventKind::RequestDone(c::RequestDone {
                    url: s[1],
                    status: None,
                    error: Some(error),
                    timings: Timings { blocked: 1.5, dns: -1.0, connect: -1.0, ssl: -1.0, send: 0.0, wait: 0.0, receive: 0.0, total: 1.5 },
                    marks: Marks {
                        namelookup: 0.0,
                        connect: 0.0,
                        appconnect: 0.0,
                        pretransfer: 0.0,
                        posttransfer: 0.0,
                        starttransfer: 0.0,
                        total: 2.0,
                        redirect: 0.0,
                    },
                    hops: vec![c::HopSummary {
                        hop: 0,
                        url: s[1],
                        status: Some(301),
                        timings: Timings { blocked: 0.0, dns: 0.0, connect: 0.0, ssl: 0.0, send: 0.0, wait: 0.0, receive: 0.0, total: 0.0 },
                        marks: Marks {
                            namelookup: 0.0,
                            connect: 0.0,
                            appconnect: 0.0,
                            pretransfer: 0.0,
                            posttransfer: 0.0,
                            starttransfer: 0.0,
                            total: 0.0,
                            redirect: 0.0,
                        },
                    }],
                }),
            },
        ];
        let out = expand(c::Batch { text, events });
        assert_eq!(out.len(), 4);
        assert_eq!((out[0].request, out[0].hop, out[0].conn, out[0].at_ns), (7, 1, Some(3), 99));
        match &out[0].kind {
            EventKind::RequestStart(r) => assert_eq!((r.method.as_str(), r.url.as_str(), r.wall_unix_ns), ("GET", "http://ü.example/", 5)),
            k => panic!("{k:?}"),
        }
        assert_eq!(out[1].kind, EventKind::WroteHeaderField(Header { name: "x-a".into(), value: String::new() }));
        assert_eq!(out[2].kind, EventKind::WroteHeaders);
        match &out[3].kind {
            EventKind::RequestDone(d) => {
                let e = d.error.as_ref().expect("error");
                assert_eq!((e.phase, e.kind.as_str(), e.during, e.message.as_str()), (Phase::Dns, "dns", Some(Phase::Connect), "é ☃"));
                assert_eq!(
                    (d.timings.blocked, d.marks.total, d.hops[0].url.as_str(), d.hops[0].status),
                    (1.5, 2.0, "http://ü.example/", Some(301))
                );
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    #[should_panic(expected = "span 2..12 outside the batch's 3 bytes of text")]
    fn a_span_outside_the_text_is_a_loud_failure() {
        let events = vec![c::Event {
            request: 1,
            hop: 0,
            conn: None,
            at_ns: 0,
            kind: c::EventKind::DnsStart(c::DnsStart { host: c::Span { start: 2, len: 10 } }),
        }];
        expand(c::Batch { text: "abc".into(), events });
    }
}
