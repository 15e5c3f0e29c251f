//! The JSON form of an event, byte for byte the host's `Event::to_json` (the `ndjson` output).
//!
//! One flat object: `event` (kind name), `request`, `hop`, `conn`, `at_ns`, then the kind's
//! fields in WIT declaration order with snake_case names. `None` is `null`, except a trace
//! error's `during`, which is left out when absent. Floats are written by `serde_json` (as the
//! host does), so `-1.0`, `0.011` and `199.0` come out identically on both sides.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::{ByteCounts, CertSummary, Event, EventKind, Header, HopSummary, Marks, StampClock, Timings, TraceError};

/// One event as one line of JSON, without a trailing newline: exactly the host's form.
pub fn to_json(ev: &Event) -> String {
    serde_json::to_string(&J(ev)).expect("events always serialise")
}

impl Event {
    /// This event as one line of JSON (see [`to_json`]).
    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

/// Serialises a borrowed generated type in the host's shape.
struct J<'a, T>(&'a T);

/// Serialises a list of generated types.
struct Seq<'a, T>(&'a [T]);

impl<'a, T> Serialize for Seq<'a, T>
where
    J<'a, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&J(item))?;
        }
        seq.end()
    }
}

impl Serialize for J<'_, Event> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ev = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("event", ev.kind.name())?;
        m.serialize_entry("request", &ev.request)?;
        m.serialize_entry("hop", &ev.hop)?;
        m.serialize_entry("conn", &ev.conn)?;
        m.serialize_entry("at_ns", &ev.at_ns)?;
        kind_fields(&ev.kind, &mut m)?;
        m.end()
    }
}

/// A `stamp-clock` as the host's ndjson writes it.
fn clock(c: StampClock) -> &'static str {
    match c {
        StampClock::Engine => "engine",
        StampClock::Kernel => "kernel",
    }
}

/// An optional trace error: `null` when absent.
fn error(e: &Option<TraceError>) -> Option<J<'_, TraceError>> {
    e.as_ref().map(J)
}

/// Writes the fields of `kind`, in declaration order.
fn kind_fields<M: SerializeMap>(kind: &EventKind, m: &mut M) -> Result<(), M::Error> {
    match kind {
        EventKind::RequestStart(k) => {
            m.serialize_entry("method", &k.method)?;
            m.serialize_entry("url", &k.url)?;
            m.serialize_entry("wall_unix_ns", &k.wall_unix_ns)?;
            m.serialize_entry("post_data", &k.post_data)
        }
        EventKind::GetConn(k) => m.serialize_entry("host_port", &k.host_port),
        EventKind::DnsStart(k) => {
            m.serialize_entry("host", &k.host)?;
            m.serialize_entry("proxy", &k.proxy)
        }
        EventKind::DnsDone(k) => {
            m.serialize_entry("addrs", &k.addrs)?;
            m.serialize_entry("coalesced", &k.coalesced)?;
            m.serialize_entry("error", &error(&k.error))?;
            m.serialize_entry("proxy", &k.proxy)
        }
        EventKind::ConnectStart(k) => {
            m.serialize_entry("network", &k.network)?;
            m.serialize_entry("addr", &k.addr)?;
            m.serialize_entry("proxy", &k.proxy)
        }
        EventKind::ConnectDone(k) => {
            m.serialize_entry("network", &k.network)?;
            m.serialize_entry("addr", &k.addr)?;
            m.serialize_entry("cancelled", &k.cancelled)?;
            m.serialize_entry("error", &error(&k.error))?;
            m.serialize_entry("proxy", &k.proxy)
        }
        EventKind::TlsHandshakeStart(k) => m.serialize_entry("server_name", &k.server_name),
        EventKind::TlsHandshakeDone(k) => {
            m.serialize_entry("version", &k.version)?;
            m.serialize_entry("cipher_suite", &k.cipher_suite)?;
            m.serialize_entry("alpn", &k.alpn)?;
            m.serialize_entry("resumed", &k.resumed)?;
            m.serialize_entry("server_name", &k.server_name)?;
            m.serialize_entry("peer_certificates", &Seq(&k.peer_certificates))?;
            m.serialize_entry("error", &error(&k.error))?;
            m.serialize_entry("key_exchange_group", &k.key_exchange_group)?;
            m.serialize_entry("client_certificate_requested", &k.client_certificate_requested)?;
            m.serialize_entry("client_certificate_sent", &k.client_certificate_sent)
        }
        EventKind::GotConn(k) => {
            m.serialize_entry("reused", &k.reused)?;
            m.serialize_entry("was_idle", &k.was_idle)?;
            m.serialize_entry("idle_ns", &k.idle_ns)?;
            m.serialize_entry("local_addr", &k.local_addr)?;
            m.serialize_entry("remote_addr", &k.remote_addr)?;
            m.serialize_entry("protocol", &k.protocol)
        }
        EventKind::WroteHeaderField(h) => {
            m.serialize_entry("name", &h.name)?;
            m.serialize_entry("value", &h.value)
        }
        EventKind::WroteHeaders(c) | EventKind::GotFirstResponseByte(c) => m.serialize_entry("clock", clock(*c)),
        EventKind::Wait100Continue | EventKind::Got100Continue => Ok(()),
        EventKind::Got1xxResponse(k) => {
            m.serialize_entry("status", &k.status)?;
            m.serialize_entry("headers", &Seq(&k.headers))
        }
        EventKind::WroteRequest(k) => {
            m.serialize_entry("body_bytes", &k.body_bytes)?;
            m.serialize_entry("error", &error(&k.error))?;
            m.serialize_entry("clock", clock(k.clock))
        }
        EventKind::ResponseHeaders(k) => {
            m.serialize_entry("status", &k.status)?;
            m.serialize_entry("version", &k.version)?;
            m.serialize_entry("headers", &Seq(&k.headers))?;
            m.serialize_entry("header_bytes", &k.header_bytes)
        }
        EventKind::ResponseDone(k) => {
            m.serialize_entry("body_bytes", &k.body_bytes)?;
            m.serialize_entry("error", &error(&k.error))?;
            m.serialize_entry("decoded_bytes", &k.decoded_bytes)
        }
        EventKind::PutIdleConn(k) => m.serialize_entry("error", &k.error),
        EventKind::Redirect(k) => {
            m.serialize_entry("from", &k.from)?;
            m.serialize_entry("to", &k.to)?;
            m.serialize_entry("status", &k.status)?;
            m.serialize_entry("method", &k.method)
        }
        EventKind::RequestDone(k) => {
            m.serialize_entry("url", &k.url)?;
            m.serialize_entry("status", &k.status)?;
            m.serialize_entry("error", &error(&k.error))?;
            m.serialize_entry("timings", &J(&k.timings))?;
            m.serialize_entry("marks", &J(&k.marks))?;
            m.serialize_entry("hops", &Seq(&k.hops))?;
            m.serialize_entry("client_lag_ns", &k.client_lag_ns)
        }
        EventKind::ProxyConnectStart(k) => {
            m.serialize_entry("proxy", &k.proxy)?;
            m.serialize_entry("target", &k.target)
        }
        EventKind::ProxyConnectDone(k) => {
            m.serialize_entry("proxy", &k.proxy)?;
            m.serialize_entry("status", &k.status)?;
            m.serialize_entry("error", &error(&k.error))
        }
        EventKind::QuicHandshakeStart(k) => {
            m.serialize_entry("server_name", &k.server_name)?;
            m.serialize_entry("quic_version", &k.quic_version)
        }
        EventKind::QuicHandshakeDone(k) => {
            m.serialize_entry("quic_version", &k.quic_version)?;
            m.serialize_entry("alpn", &k.alpn)?;
            m.serialize_entry("early_data_offered", &k.early_data_offered)?;
            m.serialize_entry("early_data_accepted", &k.early_data_accepted)?;
            m.serialize_entry("resumed", &k.resumed)?;
            m.serialize_entry("server_name", &k.server_name)?;
            m.serialize_entry("peer_certificates", &Seq(&k.peer_certificates))?;
            m.serialize_entry("error", &error(&k.error))
        }
    }
}

impl Serialize for J<'_, TraceError> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("phase", e.phase.as_str())?;
        m.serialize_entry("kind", &e.kind)?;
        if let Some(during) = e.during {
            m.serialize_entry("during", during.as_str())?;
        }
        m.serialize_entry("message", &e.message)?;
        m.end()
    }
}

impl Serialize for J<'_, Header> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("name", &self.0.name)?;
        m.serialize_entry("value", &self.0.value)?;
        m.end()
    }
}

impl Serialize for J<'_, CertSummary> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("subject", &c.subject)?;
        m.serialize_entry("issuer", &c.issuer)?;
        m.serialize_entry("not_before", &c.not_before)?;
        m.serialize_entry("not_after", &c.not_after)?;
        m.serialize_entry("sans", &c.sans)?;
        m.serialize_entry("serial", &c.serial)?;
        m.end()
    }
}

impl Serialize for J<'_, Timings> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let mut m = s.serialize_map(Some(8))?;
        m.serialize_entry("blocked", &t.blocked)?;
        m.serialize_entry("dns", &t.dns)?;
        m.serialize_entry("connect", &t.connect)?;
        m.serialize_entry("ssl", &t.ssl)?;
        m.serialize_entry("send", &t.send)?;
        m.serialize_entry("wait", &t.wait)?;
        m.serialize_entry("receive", &t.receive)?;
        m.serialize_entry("total", &t.total)?;
        m.end()
    }
}

impl Serialize for J<'_, Marks> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let k = self.0;
        let mut m = s.serialize_map(Some(8))?;
        m.serialize_entry("namelookup", &k.namelookup)?;
        m.serialize_entry("connect", &k.connect)?;
        m.serialize_entry("appconnect", &k.appconnect)?;
        m.serialize_entry("pretransfer", &k.pretransfer)?;
        m.serialize_entry("posttransfer", &k.posttransfer)?;
        m.serialize_entry("starttransfer", &k.starttransfer)?;
        m.serialize_entry("total", &k.total)?;
        m.serialize_entry("redirect", &k.redirect)?;
        m.end()
    }
}

impl Serialize for J<'_, HopSummary> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.0;
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("hop", &h.hop)?;
        m.serialize_entry("url", &h.url)?;
        m.serialize_entry("status", &h.status)?;
        m.serialize_entry("timings", &J(&h.timings))?;
        m.serialize_entry("marks", &J(&h.marks))?;
        m.serialize_entry("bytes", &J(&h.bytes))?;
        m.end()
    }
}

impl Serialize for J<'_, ByteCounts> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = self.0;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("request_body", &b.request_body)?;
        m.serialize_entry("response_headers", &b.response_headers)?;
        m.serialize_entry("response_body", &b.response_body)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GetConn, Phase, RequestDone};

    fn ev(kind: EventKind) -> Event {
        Event { request: 3, hop: 1, conn: Some(2), at_ns: 42, kind }
    }

    #[test]
    fn header_then_kind_fields() {
        let line = to_json(&ev(EventKind::GetConn(GetConn { host_port: "a:80".into() })));
        // The host's own test of the same event.
        assert_eq!(line, r#"{"event":"get-conn","request":3,"hop":1,"conn":2,"at_ns":42,"host_port":"a:80"}"#);
        let none = Event { conn: None, ..ev(EventKind::WroteHeaders(StampClock::Kernel)) };
        assert_eq!(none.to_json(), r#"{"event":"wrote-headers","request":3,"hop":1,"conn":null,"at_ns":42,"clock":"kernel"}"#);
    }

    #[test]
    fn request_done_floats_nulls_and_during() {
        let timings = Timings { blocked: 1.0, dns: -1.0, connect: 0.011, ssl: -1.0, send: 2.5, wait: 100.0, receive: 46.0, total: 199.0 };
        let marks = Marks {
            namelookup: 0.0,
            connect: 0.021,
            appconnect: 0.0,
            pretransfer: 0.052,
            posttransfer: 0.054,
            starttransfer: 0.154,
            total: 0.2,
            redirect: 0.0,
        };
        let error = TraceError {
            phase: Phase::Timeout,
            kind: "max-time".into(),
            during: Some(Phase::TooManyRedirects),
            message: "a \"b\"\n".into(),
        };
        let done = RequestDone {
            url: "http://h/".into(),
            status: None,
            error: Some(error),
            timings,
            marks,
            hops: vec![HopSummary {
                hop: 0,
                url: "http://h/".into(),
                status: Some(200),
                timings,
                marks,
                bytes: ByteCounts { request_body: 1, response_headers: 2, response_body: 3 },
            }],
            client_lag_ns: Some(12),
        };
        let t = r#"{"blocked":1.0,"dns":-1.0,"connect":0.011,"ssl":-1.0,"send":2.5,"wait":100.0,"receive":46.0,"total":199.0}"#;
        let m = r#"{"namelookup":0.0,"connect":0.021,"appconnect":0.0,"pretransfer":0.052,"posttransfer":0.054,"starttransfer":0.154,"total":0.2,"redirect":0.0}"#;
        let want = format!(
            r#"{{"event":"request-done","request":3,"hop":1,"conn":2,"at_ns":42,"url":"http://h/","status":null,"error":{{"phase":"timeout","kind":"max-time","during":"too-many-redirects","message":"a \"b\"\n"}},"timings":{t},"marks":{m},"hops":[{{"hop":0,"url":"http://h/","status":200,"timings":{t},"marks":{m},"bytes":{{"request_body":1,"response_headers":2,"response_body":3}}}}],"client_lag_ns":12}}"#
        );
        assert_eq!(to_json(&ev(EventKind::RequestDone(done.clone()))), want);
        let no_during = RequestDone { error: Some(TraceError { during: None, ..done.error.clone().unwrap() }), ..done };
        assert!(to_json(&ev(EventKind::RequestDone(no_during))).contains(r#"{"phase":"timeout","kind":"max-time","message":"#));
    }
}
