//! The bindings' plain events in the compact form of `wit/compact.wit` (strings appended to one
//! text, spans pointing into it), built field by field: lowered by wasmtime's own derived code
//! from `compact.wit`'s types, it is the reference the compact writer and the SDK's reader are
//! checked against, field order included.

use super::super::super::host::bindings::httptrace::plugin::types as wit;
use super::super::super::host::compact_bindings::httptrace::plugin::compact as wc;

/// `events` as one compact batch.
pub(crate) fn batch(events: Vec<wit::Event>) -> wc::Batch {
    let mut t = Text(String::new());
    let events = events.into_iter().map(|e| t.event(e)).collect();
    wc::Batch { text: t.0, events }
}

struct Text(String);

impl Text {
    fn s(&mut self, s: String) -> wc::Span {
        let start = self.0.len() as u32;
        self.0.push_str(&s);
        wc::Span { start, len: s.len() as u32 }
    }

    fn strings(&mut self, v: Vec<String>) -> Vec<wc::Span> {
        v.into_iter().map(|s| self.s(s)).collect()
    }

    fn header(&mut self, h: wit::Header) -> wc::Header {
        wc::Header { name: self.s(h.name), value: self.s(h.value) }
    }

    fn headers(&mut self, v: Vec<wit::Header>) -> Vec<wc::Header> {
        v.into_iter().map(|h| self.header(h)).collect()
    }

    fn error(&mut self, e: Option<wit::TraceError>) -> Option<wc::TraceError> {
        e.map(|e| wc::TraceError { phase: e.phase, kind: self.s(e.kind), during: e.during, message: self.s(e.message) })
    }

    fn event(&mut self, e: wit::Event) -> wc::Event {
        wc::Event { request: e.request, hop: e.hop, conn: e.conn, at_ns: e.at_ns, kind: self.kind(e.kind) }
    }

    fn kind(&mut self, k: wit::EventKind) -> wc::EventKind {
        use wc::EventKind as C;
        use wit::EventKind as W;
        match k {
            W::RequestStart(r) => C::RequestStart(wc::RequestStart {
                method: self.s(r.method),
                url: self.s(r.url),
                wall_unix_ns: r.wall_unix_ns,
                post_data: r.post_data.map(|p| self.s(p)),
            }),
            W::GetConn(g) => C::GetConn(wc::GetConn { host_port: self.s(g.host_port) }),
            W::DnsStart(d) => C::DnsStart(wc::DnsStart { host: self.s(d.host), proxy: d.proxy.map(|p| self.s(p)) }),
            W::DnsDone(d) => C::DnsDone(wc::DnsDone {
                addrs: self.strings(d.addrs),
                coalesced: d.coalesced,
                error: self.error(d.error),
                proxy: d.proxy.map(|p| self.s(p)),
            }),
            W::ConnectStart(c) => {
                C::ConnectStart(wc::ConnectStart { network: self.s(c.network), addr: self.s(c.addr), proxy: c.proxy.map(|p| self.s(p)) })
            }
            W::ConnectDone(c) => C::ConnectDone(wc::ConnectDone {
                network: self.s(c.network),
                addr: self.s(c.addr),
                cancelled: c.cancelled,
                error: self.error(c.error),
                proxy: c.proxy.map(|p| self.s(p)),
            }),
            W::TlsHandshakeStart(t) => C::TlsHandshakeStart(wc::TlsHandshakeStart { server_name: self.s(t.server_name) }),
            W::TlsHandshakeDone(t) => C::TlsHandshakeDone(wc::TlsHandshakeDone {
                version: self.s(t.version),
                cipher_suite: self.s(t.cipher_suite),
                alpn: t.alpn.map(|a| self.s(a)),
                resumed: t.resumed,
                server_name: self.s(t.server_name),
                peer_certificates: self.certs(t.peer_certificates),
                error: self.error(t.error),
                key_exchange_group: t.key_exchange_group.map(|g| self.s(g)),
                client_certificate_requested: t.client_certificate_requested,
                client_certificate_sent: t.client_certificate_sent,
            }),
            W::GotConn(g) => C::GotConn(wc::GotConn {
                reused: g.reused,
                was_idle: g.was_idle,
                idle_ns: g.idle_ns,
                local_addr: self.s(g.local_addr),
                remote_addr: self.s(g.remote_addr),
                protocol: self.s(g.protocol),
            }),
            W::WroteHeaderField(h) => C::WroteHeaderField(self.header(h)),
            W::WroteHeaders(c) => C::WroteHeaders(c),
            W::Wait100Continue => C::Wait100Continue,
            W::Got100Continue => C::Got100Continue,
            W::Got1xxResponse(r) => C::Got1xxResponse(wc::Got1xxResponse { status: r.status, headers: self.headers(r.headers) }),
            W::WroteRequest(w) => {
                C::WroteRequest(wc::WroteRequest { body_bytes: w.body_bytes, error: self.error(w.error), clock: w.clock })
            }
            W::GotFirstResponseByte(c) => C::GotFirstResponseByte(c),
            W::ResponseHeaders(r) => C::ResponseHeaders(wc::ResponseHeaders {
                status: r.status,
                version: self.s(r.version),
                headers: self.headers(r.headers),
                header_bytes: r.header_bytes,
            }),
            W::ResponseDone(r) => {
                C::ResponseDone(wc::ResponseDone { body_bytes: r.body_bytes, error: self.error(r.error), decoded_bytes: r.decoded_bytes })
            }
            W::PutIdleConn(p) => C::PutIdleConn(wc::PutIdleConn { error: p.error.map(|e| self.s(e)) }),
            W::Redirect(r) => {
                C::Redirect(wc::Redirect { from: self.s(r.from), to: self.s(r.to), status: r.status, method: self.s(r.method) })
            }
            W::RequestDone(r) => C::RequestDone(wc::RequestDone {
                url: self.s(r.url),
                status: r.status,
                error: self.error(r.error),
                timings: r.timings,
                marks: r.marks,
                hops: r
                    .hops
                    .into_iter()
                    .map(|h| wc::HopSummary {
                        hop: h.hop,
                        url: self.s(h.url),
                        status: h.status,
                        timings: h.timings,
                        marks: h.marks,
                        bytes: h.bytes,
                    })
                    .collect(),
                client_lag_ns: r.client_lag_ns,
            }),
            W::ProxyConnectStart(p) => C::ProxyConnectStart(wc::ProxyConnectStart { proxy: self.s(p.proxy), target: self.s(p.target) }),
            W::ProxyConnectDone(p) => {
                C::ProxyConnectDone(wc::ProxyConnectDone { proxy: self.s(p.proxy), status: p.status, error: self.error(p.error) })
            }
            W::QuicHandshakeStart(q) => {
                C::QuicHandshakeStart(wc::QuicHandshakeStart { server_name: self.s(q.server_name), quic_version: q.quic_version })
            }
            W::QuicHandshakeDone(q) => C::QuicHandshakeDone(wc::QuicHandshakeDone {
                quic_version: q.quic_version,
                alpn: q.alpn.map(|a| self.s(a)),
                early_data_offered: q.early_data_offered,
                early_data_accepted: q.early_data_accepted,
                resumed: q.resumed,
                server_name: self.s(q.server_name),
                peer_certificates: self.certs(q.peer_certificates),
                error: self.error(q.error),
            }),
        }
    }

    fn certs(&mut self, certs: Vec<wit::CertSummary>) -> Vec<wc::CertSummary> {
        certs
            .into_iter()
            .map(|c| wc::CertSummary {
                subject: self.s(c.subject),
                issuer: self.s(c.issuer),
                not_before: self.s(c.not_before),
                not_after: self.s(c.not_after),
                sans: self.strings(c.sans),
                serial: self.s(c.serial),
            })
            .collect()
    }
}
