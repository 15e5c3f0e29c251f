//! Event kind names (the kebab-case strings of the host's `KIND_NAMES`) and interest sets.

use crate::{EventKind, EventType, Phase};

/// Every kind name, in declaration order (the contract's table, `httptrace_wit::KIND_NAMES`:
/// the WIT `event-type` order, and the host's).
pub use httptrace_wit::KIND_NAMES;

macro_rules! all_types {
    ($($i:literal $v:ident $c:ident $n:literal,)*) => {
        impl EventType {
            /// Every event type, in declaration order (index `i` is named `KIND_NAMES[i]`).
            pub const ALL: [EventType; httptrace_wit::KINDS] = [$(EventType::$v),*];
        }
    };
}
httptrace_wit::for_each_kind!(all_types);

impl EventType {
    /// Position in declaration order (stable; the index into [`KIND_NAMES`]).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The kebab-case name, e.g. `dns-done`.
    pub fn name(self) -> &'static str {
        KIND_NAMES[self.index()]
    }

    /// The type with this kebab-case name.
    pub fn from_name(name: &str) -> Option<EventType> {
        KIND_NAMES.iter().position(|k| *k == name).map(|i| EventType::ALL[i])
    }
}

impl EventKind {
    /// The type of this event, for interest sets.
    pub fn event_type(&self) -> EventType {
        match self {
            EventKind::RequestStart(_) => EventType::RequestStart,
            EventKind::GetConn(_) => EventType::GetConn,
            EventKind::DnsStart(_) => EventType::DnsStart,
            EventKind::DnsDone(_) => EventType::DnsDone,
            EventKind::ConnectStart(_) => EventType::ConnectStart,
            EventKind::ConnectDone(_) => EventType::ConnectDone,
            EventKind::TlsHandshakeStart(_) => EventType::TlsHandshakeStart,
            EventKind::TlsHandshakeDone(_) => EventType::TlsHandshakeDone,
            EventKind::GotConn(_) => EventType::GotConn,
            EventKind::WroteHeaderField(_) => EventType::WroteHeaderField,
            EventKind::WroteHeaders(_) => EventType::WroteHeaders,
            EventKind::Wait100Continue => EventType::Wait100Continue,
            EventKind::Got100Continue => EventType::Got100Continue,
            EventKind::Got1xxResponse(_) => EventType::Got1xxResponse,
            EventKind::WroteRequest(_) => EventType::WroteRequest,
            EventKind::GotFirstResponseByte(_) => EventType::GotFirstResponseByte,
            EventKind::ResponseHeaders(_) => EventType::ResponseHeaders,
            EventKind::ResponseDone(_) => EventType::ResponseDone,
            EventKind::PutIdleConn(_) => EventType::PutIdleConn,
            EventKind::Redirect(_) => EventType::Redirect,
            EventKind::RequestDone(_) => EventType::RequestDone,
            EventKind::ProxyConnectStart(_) => EventType::ProxyConnectStart,
            EventKind::ProxyConnectDone(_) => EventType::ProxyConnectDone,
            EventKind::QuicHandshakeStart(_) => EventType::QuicHandshakeStart,
            EventKind::QuicHandshakeDone(_) => EventType::QuicHandshakeDone,
        }
    }

    /// The kebab-case kind name, as printed in the JSON form's `"event"`.
    pub fn name(&self) -> &'static str {
        self.event_type().name()
    }
}

impl Phase {
    /// The kebab-case name used in events, e.g. `too-many-redirects`.
    pub fn as_str(self) -> &'static str {
        httptrace_wit::PHASE_NAMES[self as usize]
    }
}

/// The kebab-case name of an event's kind, e.g. `request-done`.
pub fn kind_name(kind: &EventKind) -> &'static str {
    kind.name()
}

/// The event type named `name` (kebab-case, as in [`KIND_NAMES`]).
pub fn event_type_from_name(name: &str) -> Option<EventType> {
    EventType::from_name(name)
}

/// A set of event types: what a plugin asks the host for, and whether the header lists of
/// `got-1xx-response` and `response-headers` are built ([`Interest::without_header_lists`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interest(u32, bool);

impl Interest {
    /// Every kind of event.
    pub fn all() -> Interest {
        Interest((1 << EventType::ALL.len()) - 1, false)
    }

    /// No events at all (the plugin only uses `init` and `finish`).
    pub fn none() -> Interest {
        Interest(0, false)
    }

    /// Exactly these types.
    pub fn of(types: &[EventType]) -> Interest {
        types.iter().copied().collect()
    }

    /// Parses kind names (e.g. from config), rejecting unknown ones with a message that lists
    /// the valid names.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Interest, String> {
        let mut set = Interest::none();
        for name in names {
            let ty = EventType::from_name(name).ok_or_else(|| format!("unknown event kind `{name}` (kinds: {})", KIND_NAMES.join(", ")))?;
            set = set.with(ty);
        }
        Ok(set)
    }

    /// This set plus `ty`.
    pub fn with(self, ty: EventType) -> Interest {
        Interest(self.0 | 1 << ty.index(), self.1)
    }

    /// This set without `ty`.
    pub fn without(self, ty: EventType) -> Interest {
        Interest(self.0 & !(1 << ty.index()), self.1)
    }

    /// This set, with `got-1xx-response` and `response-headers` handed to the plugin with
    /// empty `headers`: for a plugin that reads only their other fields (status, version,
    /// sizes), this spares building a name and a value string per header in the plugin for
    /// every response (a plugin that counts `header-bytes`, say). The host still sends the lists.
    pub fn without_header_lists(self) -> Interest {
        Interest(self.0, true)
    }

    /// Whether the header lists of `got-1xx-response` and `response-headers` are built (the
    /// default; see [`Interest::without_header_lists`]).
    pub fn header_lists(self) -> bool {
        !self.1
    }

    /// Whether `ty` is in the set.
    pub fn contains(self, ty: EventType) -> bool {
        self.0 & 1 << ty.index() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The types in the set, in declaration order.
    pub fn types(self) -> Vec<EventType> {
        EventType::ALL.iter().copied().filter(|t| self.contains(*t)).collect()
    }
}

impl FromIterator<EventType> for Interest {
    fn from_iter<I: IntoIterator<Item = EventType>>(iter: I) -> Interest {
        iter.into_iter().fold(Interest::none(), Interest::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types_agree() {
        for (i, ty) in EventType::ALL.iter().enumerate() {
            assert_eq!(ty.index(), i);
            assert_eq!(EventType::from_name(ty.name()), Some(*ty));
        }
        assert_eq!(event_type_from_name("dns-done"), Some(EventType::DnsDone));
        assert_eq!(event_type_from_name("dns_done"), None);
        assert_eq!(kind_name(&EventKind::GotFirstResponseByte(crate::StampClock::Engine)), "got-first-response-byte");
        assert_eq!(EventType::Got1xxResponse.name(), "got-1xx-response");
    }

    #[test]
    fn interest_sets() {
        assert_eq!(Interest::all().types().len(), 25);
        assert!(Interest::none().is_empty());
        let i = Interest::of(&[EventType::RequestDone, EventType::DnsDone]);
        assert_eq!(i.types(), vec![EventType::DnsDone, EventType::RequestDone]);
        assert!(!i.without(EventType::DnsDone).contains(EventType::DnsDone));
        assert_eq!(Interest::from_names(["dns-done", "request-done"]), Ok(i));
        assert!(Interest::from_names(["dns"]).unwrap_err().contains("unknown event kind `dns`"));
        assert!(i.header_lists());
        let bare = i.without_header_lists();
        assert!(!bare.header_lists());
        assert_eq!(bare.types(), i.types());
        assert!(!bare.with(EventType::ResponseHeaders).without(EventType::DnsDone).header_lists());
    }
}
