//! Engine events and the bindings' WIT types: event-type indices and the text of socket
//! addresses (`SocketAddr` `Display`). Events themselves are written into plugins by
//! [`lower`](super::lower); [`reference`] builds them in the bindings' form for its tests.

use super::host::bindings::httptrace::plugin::types as wit;
use std::net::SocketAddr;

use httptrace::event::{Event, EventKind};

#[cfg(test)]
pub(crate) mod reference;

/// The text form of socket addresses already seen: formatting one costs more than copying it,
/// and every request's `got-conn` carries the same two of its connection.
/// (A fast non-keyed hash: the keys are the run's own connections, and this is on the
/// per-event path.)
#[derive(Default)]
pub(crate) struct AddrText(rustc_hash::FxHashMap<SocketAddr, String>);

impl AddrText {
    /// Most addresses remembered (a run with more connections starts over).
    const MAX: usize = 4096;

    /// Remembers the text of every socket address in `events`.
    pub(crate) fn learn(&mut self, events: &[&Event]) {
        for e in events {
            if let EventKind::GotConn { local_addr: a, remote_addr: b, .. } = &e.kind {
                self.remember(*a);
                self.remember(*b);
            } else if let EventKind::ConnectStart { addr, .. } | EventKind::ConnectDone { addr, .. } = &e.kind {
                self.remember(*addr);
            }
        }
    }

    fn remember(&mut self, addr: SocketAddr) {
        if !self.0.contains_key(&addr) {
            if self.0.len() >= Self::MAX {
                self.0.clear();
            }
            self.0.insert(addr, addr.to_string());
        }
    }

    /// The text of an address [`learn`](AddrText::learn)t.
    pub(crate) fn get(&self, addr: SocketAddr) -> Option<&str> {
        self.0.get(&addr).map(String::as_str)
    }

    #[cfg(test)]
    fn of(&mut self, addr: SocketAddr) -> String {
        self.remember(addr);
        self.0[&addr].clone()
    }
}

/// The [`EventKind::index`] of a WIT event type (interest declarations).
pub(crate) fn type_index(t: wit::EventType) -> usize {
    use wit::EventType as T;
    match t {
        T::RequestStart => 0,
        T::GetConn => 1,
        T::DnsStart => 2,
        T::DnsDone => 3,
        T::ConnectStart => 4,
        T::ConnectDone => 5,
        T::TlsHandshakeStart => 6,
        T::TlsHandshakeDone => 7,
        T::GotConn => 8,
        T::WroteHeaderField => 9,
        T::WroteHeaders => 10,
        T::Wait100Continue => 11,
        T::Got100Continue => 12,
        T::Got1xxResponse => 13,
        T::WroteRequest => 14,
        T::GotFirstResponseByte => 15,
        T::ResponseHeaders => 16,
        T::ResponseDone => 17,
        T::PutIdleConn => 18,
        T::Redirect => 19,
        T::RequestDone => 20,
    }
}
