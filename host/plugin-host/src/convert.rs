//! Engine events and the bindings' WIT types: event-type indices and the text of socket
//! addresses (`PeerAddr` `Display`). Events themselves are written into plugins by
//! [`lower`](super::lower); [`reference`] builds them in the bindings' form for its tests.

use super::host::bindings::httptrace::plugin::types as wit;
use httptrace::event::{Event, EventKind, PeerAddr};

#[cfg(test)]
pub(crate) mod reference;

/// The text form of socket addresses already seen: formatting one costs more than copying it,
/// and every request's `got-conn` carries the same two of its connection.
/// (A fast non-keyed hash: the keys are the run's own connections, and this is on the
/// per-event path.)
#[derive(Default)]
pub(crate) struct AddrText(rustc_hash::FxHashMap<PeerAddr, String>);

impl AddrText {
    /// Most addresses remembered (a run with more connections starts over).
    const MAX: usize = 4096;

    /// Remembers the text of every socket address in `events`.
    pub(crate) fn learn(&mut self, events: &[&Event]) {
        for e in events {
            if let EventKind::GotConn { local_addr: a, remote_addr: b, .. } = &e.kind {
                self.remember(a);
                self.remember(b);
            } else if let EventKind::ConnectStart { addr, .. } | EventKind::ConnectDone { addr, .. } = &e.kind {
                self.remember(addr);
            }
        }
    }

    fn remember(&mut self, addr: &PeerAddr) {
        if !self.0.contains_key(addr) {
            if self.0.len() >= Self::MAX {
                self.0.clear();
            }
            self.0.insert(addr.clone(), addr.to_string());
        }
    }

    /// The text of an address [`learn`](AddrText::learn)t.
    pub(crate) fn get(&self, addr: &PeerAddr) -> Option<&str> {
        self.0.get(addr).map(String::as_str)
    }

    #[cfg(test)]
    fn of(&mut self, addr: &PeerAddr) -> String {
        self.remember(addr);
        self.0[addr].clone()
    }
}

/// The [`EventKind::index`] of a WIT event type (interest declarations), from the contract's
/// table.
pub(crate) fn type_index(t: wit::EventType) -> usize {
    macro_rules! index_of {
        ($($i:literal $v:ident $c:ident $n:literal,)*) => {
            match t {
                $(wit::EventType::$v => $i,)*
            }
        };
    }
    httptrace_wit::for_each_kind!(index_of)
}
