//! The httptrace plugin contract's event schema, defined once: every event kind's index (the
//! WIT `event-type` case number, and its bit in an interest mask), its name as Rust items use
//! it, and its kebab-case name; and every phase. The host (`httptrace`,
//! `httptrace-plugin-host`) and the guest SDK (`httptrace-guest`) build their kind tables from
//! [`for_each_kind!`] and [`for_each_phase!`] instead of writing them out, and a test checks
//! both tables against `plugin.wit`, case for case.
//!
//! Adding a kind means adding it to the WIT and here (at the end: indices are stable), then
//! writing its fields where events are made and lowered.
#![no_std]
#![deny(missing_docs)]

/// The version of the `httptrace:plugin` package these tables describe.
pub const WORLD_VERSION: &str = "0.7.0";

/// Every released version of the package the host serves, oldest first (the last is
/// [`WORLD_VERSION`]).
pub const RELEASED_VERSIONS: [&str; 7] = ["0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", WORLD_VERSION];

/// Calls `$m!` with the table of event kinds, one `index Variant CONSTANT "kebab-name",` per
/// kind, in WIT order.
///
/// ```
/// macro_rules! names {
///     ($($i:literal $v:ident $c:ident $n:literal,)*) => { [$($n),*] };
/// }
/// let names: [&str; 25] = httptrace_wit::for_each_kind!(names);
/// assert_eq!(names[0], "request-start");
/// ```
#[macro_export]
macro_rules! for_each_kind {
    ($m:ident) => {
        $m! {
            0 RequestStart REQUEST_START "request-start",
            1 GetConn GET_CONN "get-conn",
            2 DnsStart DNS_START "dns-start",
            3 DnsDone DNS_DONE "dns-done",
            4 ConnectStart CONNECT_START "connect-start",
            5 ConnectDone CONNECT_DONE "connect-done",
            6 TlsHandshakeStart TLS_HANDSHAKE_START "tls-handshake-start",
            7 TlsHandshakeDone TLS_HANDSHAKE_DONE "tls-handshake-done",
            8 GotConn GOT_CONN "got-conn",
            9 WroteHeaderField WROTE_HEADER_FIELD "wrote-header-field",
            10 WroteHeaders WROTE_HEADERS "wrote-headers",
            11 Wait100Continue WAIT_100_CONTINUE "wait-100-continue",
            12 Got100Continue GOT_100_CONTINUE "got-100-continue",
            13 Got1xxResponse GOT_1XX_RESPONSE "got-1xx-response",
            14 WroteRequest WROTE_REQUEST "wrote-request",
            15 GotFirstResponseByte GOT_FIRST_RESPONSE_BYTE "got-first-response-byte",
            16 ResponseHeaders RESPONSE_HEADERS "response-headers",
            17 ResponseDone RESPONSE_DONE "response-done",
            18 PutIdleConn PUT_IDLE_CONN "put-idle-conn",
            19 Redirect REDIRECT "redirect",
            20 RequestDone REQUEST_DONE "request-done",
            21 ProxyConnectStart PROXY_CONNECT_START "proxy-connect-start",
            22 ProxyConnectDone PROXY_CONNECT_DONE "proxy-connect-done",
            23 QuicHandshakeStart QUIC_HANDSHAKE_START "quic-handshake-start",
            24 QuicHandshakeDone QUIC_HANDSHAKE_DONE "quic-handshake-done",
        }
    };
}

/// Calls `$m!` with the table of phases, one `index Variant "kebab-name",` per phase, in WIT
/// `phase` order.
#[macro_export]
macro_rules! for_each_phase {
    ($m:ident) => {
        $m! {
            0 Setup "setup",
            1 Dns "dns",
            2 Connect "connect",
            3 Tls "tls",
            4 Send "send",
            5 Wait "wait",
            6 Receive "receive",
            7 Timeout "timeout",
            8 TooManyRedirects "too-many-redirects",
        }
    };
}

macro_rules! kind_names {
    ($($i:literal $v:ident $c:ident $n:literal,)*) => {
        /// Every event kind's kebab-case name, by index.
        pub const KIND_NAMES: [&str; KINDS] = [$($n),*];

        /// Each event kind's index, as a constant named after it (`kind::GOT_CONN`).
        pub mod kind {
            $(#[doc = concat!("`", $n, "`")] pub const $c: usize = $i;)*
        }
    };
}

macro_rules! count {
    ($($i:literal $v:ident $c:ident $n:literal,)*) => { [$($i),*].len() };
}

/// How many event kinds there are.
pub const KINDS: usize = for_each_kind!(count);

for_each_kind!(kind_names);

macro_rules! phase_names {
    ($($i:literal $v:ident $n:literal,)*) => {
        /// Every phase's kebab-case name, by index.
        pub const PHASE_NAMES: [&str; [$($i),*].len()] = [$($n),*];
    };
}

for_each_phase!(phase_names);

/// The index of the kind called `name`.
pub fn kind_index(name: &str) -> Option<usize> {
    KIND_NAMES.iter().position(|k| *k == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_positions() {
        macro_rules! check {
            ($($i:literal $v:ident $c:ident $n:literal,)*) => { $(assert_eq!(KIND_NAMES[$i], $n); assert_eq!(kind::$c, $i);)* };
        }
        for_each_kind!(check);
        assert_eq!(kind_index("quic-handshake-done"), Some(KINDS - 1));
        assert_eq!(kind_index("nope"), None);
        assert_eq!(PHASE_NAMES[8], "too-many-redirects");
    }
}
