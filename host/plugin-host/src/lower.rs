//! Engine events written straight into a plugin's memory as the WIT `list<event>` of
//! `on-events` ([`EventList`]), or as the compact `batch` of `on-batch` ([`CompactBatch`]),
//! without first building the bindings' `wit::Event` values.
//!
//! Why: wasmtime 48's derived lowering looks the guest memory up again for every scalar it
//! stores (a quarter of the crossing's time went to `options_memory_mut`), and building the
//! bindings' values first moved every event once more (another third). Here each list is laid out
//! in a host buffer and copied into the guest with one lookup; strings go through wasmtime's own
//! `str` lowering (the guest's `realloc`, any string encoding).
//!
//! Safety of the layout: [`EventList`] type-checks as `list<event>` exactly as the bindings'
//! `[wit::Event]` does (it delegates), and every offset below is computed from the bindings'
//! types' canonical-ABI sizes and alignments, field by field in WIT order (see [`Fields`]). The
//! test `lowered_events_read_back_the_same_as_the_bindings` compares the lowerings through a
//! real guest, field for field.
//!
//! The compact form (`wit/compact.wit`) is the same layout with every `string` replaced by a
//! `span` (`record { start: u32, len: u32 }`: the same size and alignment as a string's pointer
//! and length, asserted below), so one writer does both: in compact mode a string is appended
//! to the batch's text instead of being copied into its own guest allocation, and the text is
//! copied in once at the end. That saves a call into the guest's `realloc` per string.
//!
//! The traits implemented here (`ComponentType`, `Lower`, `LowerContext`) are wasmtime's
//! documented-hidden internals: a wasmtime upgrade may change them, which shows as a compile
//! error here (and a layout change as a failure of that test), never as silent misreads.

use httptrace::event::PeerAddr;
use std::mem::MaybeUninit;

use wasmtime::component::__internal::wasmtime_environ::component::StringEncoding;
use wasmtime::component::__internal::{CanonicalAbiInfo, ComponentVariant, InstanceType, InterfaceType, LowerContext};
use wasmtime::component::{ComponentType, Lower};
use wasmtime::ValRaw;

use std::marker::PhantomData;

use super::convert::AddrText;
use super::host::bindings::httptrace::plugin::types as wit;
use super::host::compact_bindings::httptrace::plugin::compact as wc;
use super::host::{v0_1_0, v0_2_0, v0_3_0, v0_4_0, v0_5_0, v0_6_0};
use httptrace::event::{CertSummary, Event, EventKind, Header, HopSummary, Phase, StampClock, TraceError};
use httptrace::summary::{Marks, Timings};

/// One released version of the contract's event layout: its bindings' types stand for its
/// WIT types. Versions differ only by fields appended to records (so every earlier field keeps
/// its offset) and by the sizes that follow from them; the writer below skips the fields a
/// version lacks.
pub(crate) trait Abi: 'static + Send + Sync {
    /// The version's `event` record.
    type Event: ComponentType;
    /// The version's `event-kind` variant.
    type EventKind: ComponentType + ComponentVariant;
    /// The version's compact `batch` record.
    type Batch: ComponentType;
    /// The version's `hop-summary` record (the element of `request-done.hops`).
    type HopSummary: ComponentType;
    /// The version's `event-type` enum (what `init` answers with).
    type EventType: ComponentType + wasmtime::component::Lift + Copy + Send + Sync + 'static;
    /// The [`EventKind::index`] of one of the version's event types: its case number (a
    /// version's cases are the same as the next one's, which only appends).
    fn type_index(t: Self::EventType) -> usize;
    /// `tls-handshake-done` has `key-exchange-group` (0.2.0 on).
    const KEY_EXCHANGE_GROUP: bool;
    /// 0.3.0 on: the kinds `proxy-connect-start` and `proxy-connect-done`,
    /// `request-start.post-data`, `tls-handshake-done.client-certificate-requested` and
    /// `-sent`, `request-done.client-lag-ns`.
    const V0_3: bool;
    /// 0.4.0 on: the kinds `quic-handshake-start` and `quic-handshake-done`.
    const V0_4: bool;
    /// 0.5.0 on: the `stamp-clock` of `wrote-headers`, `wrote-request` and
    /// `got-first-response-byte` (the first and last gain a payload: a version before has none).
    const V0_5: bool;
    /// 0.6.0 on: the `proxy` of `dns-start`, `dns-done`, `connect-start` and `connect-done`.
    const V0_6: bool;
    /// 0.7.0 on: `hop-summary.bytes`.
    const V0_7: bool;
}

/// `httptrace:plugin@0.7.0`, the newest.
pub(crate) struct V0_7_0;

impl Abi for V0_7_0 {
    type Event = wit::Event;
    type EventKind = wit::EventKind;
    type Batch = wc::Batch;
    type HopSummary = wit::HopSummary;
    type EventType = wit::EventType;
    fn type_index(t: wit::EventType) -> usize {
        super::convert::type_index(t)
    }
    const KEY_EXCHANGE_GROUP: bool = true;
    const V0_3: bool = true;
    const V0_4: bool = true;
    const V0_5: bool = true;
    const V0_6: bool = true;
    const V0_7: bool = true;
}

/// `httptrace:plugin@0.6.0`.
pub(crate) struct V0_6_0;

impl Abi for V0_6_0 {
    type Event = v0_6_0::bindings::httptrace::plugin::types::Event;
    type EventKind = v0_6_0::bindings::httptrace::plugin::types::EventKind;
    type Batch = v0_6_0::compact_bindings::httptrace::plugin::compact::Batch;
    type HopSummary = v0_6_0::bindings::httptrace::plugin::types::HopSummary;
    type EventType = v0_6_0::bindings::httptrace::plugin::types::EventType;
    fn type_index(t: Self::EventType) -> usize {
        t as usize
    }
    const KEY_EXCHANGE_GROUP: bool = true;
    const V0_3: bool = true;
    const V0_4: bool = true;
    const V0_5: bool = true;
    const V0_6: bool = true;
    const V0_7: bool = false;
}

/// `httptrace:plugin@0.5.0`.
pub(crate) struct V0_5_0;

impl Abi for V0_5_0 {
    type Event = v0_5_0::bindings::httptrace::plugin::types::Event;
    type EventKind = v0_5_0::bindings::httptrace::plugin::types::EventKind;
    type Batch = v0_5_0::compact_bindings::httptrace::plugin::compact::Batch;
    type HopSummary = v0_5_0::bindings::httptrace::plugin::types::HopSummary;
    type EventType = v0_5_0::bindings::httptrace::plugin::types::EventType;
    fn type_index(t: Self::EventType) -> usize {
        t as usize
    }
    const KEY_EXCHANGE_GROUP: bool = true;
    const V0_3: bool = true;
    const V0_4: bool = true;
    const V0_5: bool = true;
    const V0_6: bool = false;
    const V0_7: bool = false;
}

/// `httptrace:plugin@0.4.0`.
pub(crate) struct V0_4_0;

impl Abi for V0_4_0 {
    type Event = v0_4_0::bindings::httptrace::plugin::types::Event;
    type EventKind = v0_4_0::bindings::httptrace::plugin::types::EventKind;
    type Batch = v0_4_0::compact_bindings::httptrace::plugin::compact::Batch;
    type HopSummary = v0_4_0::bindings::httptrace::plugin::types::HopSummary;
    type EventType = v0_4_0::bindings::httptrace::plugin::types::EventType;
    fn type_index(t: Self::EventType) -> usize {
        t as usize
    }
    const KEY_EXCHANGE_GROUP: bool = true;
    const V0_3: bool = true;
    const V0_4: bool = true;
    const V0_5: bool = false;
    const V0_6: bool = false;
    const V0_7: bool = false;
}

/// `httptrace:plugin@0.3.0`.
pub(crate) struct V0_3_0;

impl Abi for V0_3_0 {
    type Event = v0_3_0::bindings::httptrace::plugin::types::Event;
    type EventKind = v0_3_0::bindings::httptrace::plugin::types::EventKind;
    type Batch = v0_3_0::compact_bindings::httptrace::plugin::compact::Batch;
    type HopSummary = v0_3_0::bindings::httptrace::plugin::types::HopSummary;
    type EventType = v0_3_0::bindings::httptrace::plugin::types::EventType;
    fn type_index(t: Self::EventType) -> usize {
        t as usize
    }
    const KEY_EXCHANGE_GROUP: bool = true;
    const V0_3: bool = true;
    const V0_4: bool = false;
    const V0_5: bool = false;
    const V0_6: bool = false;
    const V0_7: bool = false;
}

/// `httptrace:plugin@0.2.0`.
pub(crate) struct V0_2_0;

impl Abi for V0_2_0 {
    type Event = v0_2_0::bindings::httptrace::plugin::types::Event;
    type EventKind = v0_2_0::bindings::httptrace::plugin::types::EventKind;
    type Batch = v0_2_0::compact_bindings::httptrace::plugin::compact::Batch;
    type HopSummary = v0_2_0::bindings::httptrace::plugin::types::HopSummary;
    type EventType = v0_2_0::bindings::httptrace::plugin::types::EventType;
    fn type_index(t: Self::EventType) -> usize {
        t as usize
    }
    const KEY_EXCHANGE_GROUP: bool = true;
    const V0_3: bool = false;
    const V0_4: bool = false;
    const V0_5: bool = false;
    const V0_6: bool = false;
    const V0_7: bool = false;
}

/// `httptrace:plugin@0.1.0`.
pub(crate) struct V0_1_0;

impl Abi for V0_1_0 {
    type Event = v0_1_0::bindings::httptrace::plugin::types::Event;
    type EventKind = v0_1_0::bindings::httptrace::plugin::types::EventKind;
    type Batch = v0_1_0::compact_bindings::httptrace::plugin::compact::Batch;
    type HopSummary = v0_1_0::bindings::httptrace::plugin::types::HopSummary;
    type EventType = v0_1_0::bindings::httptrace::plugin::types::EventType;
    fn type_index(t: Self::EventType) -> usize {
        t as usize
    }
    const KEY_EXCHANGE_GROUP: bool = false;
    const V0_3: bool = false;
    const V0_4: bool = false;
    const V0_5: bool = false;
    const V0_6: bool = false;
    const V0_7: bool = false;
}

/// A batch of events as the `list<event>` argument of `on-events`, in version `V`'s layout.
pub(crate) struct EventList<'a, V: Abi = V0_7_0> {
    /// The events, in order.
    pub events: &'a [&'a Event],
    /// Text of the socket addresses in `events` (see [`AddrText::learn`]).
    pub addrs: &'a AddrText,
    /// The layout.
    pub version: PhantomData<V>,
}

// SAFETY: `Lower` is `[ValRaw; 2]` (pointer and length), `ABI` is a list's, and `typecheck`
// accepts exactly what `[V::Event]` accepts, whose layout `write_event` follows.
unsafe impl<V: Abi> ComponentType for EventList<'_, V> {
    type Lower = [ValRaw; 2];
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <[V::Event] as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: writes only inside blocks the guest's `realloc` returned, sized from the same
// canonical-ABI figures the type check vouched for.
unsafe impl<V: Abi> Lower for EventList<'_, V> {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        _ty: InterfaceType,
        dst: &mut MaybeUninit<[ValRaw; 2]>,
    ) -> wasmtime::Result<()> {
        let mut w = Writer::<T, V>::new(cx, self.addrs, None);
        let (ptr, len) = w.list::<V::Event, _>(self.events, |w, e, out| w.event(e, out))?;
        w.keep_buffers();
        dst.write([ValRaw::i64(ptr as i64), ValRaw::i64(len as i64)]);
        Ok(())
    }

    fn linear_lower_to_memory<T>(&self, cx: &mut LowerContext<'_, T>, _ty: InterfaceType, offset: usize) -> wasmtime::Result<()> {
        let mut w = Writer::<T, V>::new(cx, self.addrs, None);
        let (ptr, len) = w.list::<V::Event, _>(self.events, |w, e, out| w.event(e, out))?;
        w.keep_buffers();
        let mut pair = [0u8; 8];
        put_pair(&mut pair, 0, ptr, len);
        w.cx.as_slice_mut()[offset..offset + 8].copy_from_slice(&pair);
        Ok(())
    }
}

/// A batch of events as the compact `batch` argument of `on-batch` (`wit/compact.wit`), in
/// version `V`'s layout.
pub(crate) struct CompactBatch<'a, V: Abi = V0_7_0> {
    /// The events, in order.
    pub events: &'a [&'a Event],
    /// Text of the socket addresses in `events` (see [`AddrText::learn`]).
    pub addrs: &'a AddrText,
    /// The layout.
    pub version: PhantomData<V>,
}

// The records a version left unchanged keep their layout (the writer takes their offsets from
// the newest bindings).
const _: () = {
    use v0_1_0::bindings::httptrace::plugin::types as w1;
    assert!(<w1::Header as ComponentType>::SIZE32 == <wit::Header as ComponentType>::SIZE32);
    assert!(<w1::CertSummary as ComponentType>::SIZE32 == <wit::CertSummary as ComponentType>::SIZE32);
    assert!(<w1::HopSummary as ComponentType>::SIZE32 == HOP_BEFORE_0_7);
    assert!(<w1::TraceError as ComponentType>::SIZE32 == <wit::TraceError as ComponentType>::SIZE32);
    assert!(<w1::GotConn as ComponentType>::SIZE32 == <wit::GotConn as ComponentType>::SIZE32);
    // The case payload starts at the same offset (the cases' alignment did not change).
    assert!(<w1::EventKind as ComponentVariant>::PAYLOAD_OFFSET32 == <wit::EventKind as ComponentVariant>::PAYLOAD_OFFSET32);
    use v0_1_0::compact_bindings::httptrace::plugin::compact as wc1;
    assert!(<wc1::Event as ComponentType>::SIZE32 == <w1::Event as ComponentType>::SIZE32);
    assert!(<wc1::TlsHandshakeDone as ComponentType>::SIZE32 == <w1::TlsHandshakeDone as ComponentType>::SIZE32);
};
const _: () = {
    use v0_2_0::bindings::httptrace::plugin::types as w2;
    assert!(<w2::Header as ComponentType>::SIZE32 == <wit::Header as ComponentType>::SIZE32);
    assert!(<w2::CertSummary as ComponentType>::SIZE32 == <wit::CertSummary as ComponentType>::SIZE32);
    assert!(<w2::HopSummary as ComponentType>::SIZE32 == HOP_BEFORE_0_7);
    assert!(<w2::TraceError as ComponentType>::SIZE32 == <wit::TraceError as ComponentType>::SIZE32);
    assert!(<w2::GotConn as ComponentType>::SIZE32 == <wit::GotConn as ComponentType>::SIZE32);
    assert!(<w2::EventKind as ComponentVariant>::PAYLOAD_OFFSET32 == <wit::EventKind as ComponentVariant>::PAYLOAD_OFFSET32);
    use v0_2_0::compact_bindings::httptrace::plugin::compact as wc2;
    assert!(<wc2::Event as ComponentType>::SIZE32 == <w2::Event as ComponentType>::SIZE32);
    assert!(<wc2::TlsHandshakeDone as ComponentType>::SIZE32 == <w2::TlsHandshakeDone as ComponentType>::SIZE32);
    assert!(<wc2::RequestDone as ComponentType>::SIZE32 == <w2::RequestDone as ComponentType>::SIZE32);
};

const _: () = {
    use v0_3_0::bindings::httptrace::plugin::types as w3;
    assert!(<w3::Header as ComponentType>::SIZE32 == <wit::Header as ComponentType>::SIZE32);
    assert!(<w3::CertSummary as ComponentType>::SIZE32 == <wit::CertSummary as ComponentType>::SIZE32);
    assert!(<w3::HopSummary as ComponentType>::SIZE32 == HOP_BEFORE_0_7);
    assert!(<w3::TraceError as ComponentType>::SIZE32 == <wit::TraceError as ComponentType>::SIZE32);
    assert!(<w3::GotConn as ComponentType>::SIZE32 == <wit::GotConn as ComponentType>::SIZE32);
    assert!(<w3::TlsHandshakeDone as ComponentType>::SIZE32 == <wit::TlsHandshakeDone as ComponentType>::SIZE32);
    assert!(<w3::RequestDone as ComponentType>::SIZE32 == <wit::RequestDone as ComponentType>::SIZE32);
    assert!(<w3::EventKind as ComponentVariant>::PAYLOAD_OFFSET32 == <wit::EventKind as ComponentVariant>::PAYLOAD_OFFSET32);
    use v0_3_0::compact_bindings::httptrace::plugin::compact as wc3;
    assert!(<wc3::Event as ComponentType>::SIZE32 == <w3::Event as ComponentType>::SIZE32);
    assert!(<wc3::RequestDone as ComponentType>::SIZE32 == <w3::RequestDone as ComponentType>::SIZE32);
};

const _: () = {
    use v0_4_0::bindings::httptrace::plugin::types as w4;
    assert!(<w4::Header as ComponentType>::SIZE32 == <wit::Header as ComponentType>::SIZE32);
    assert!(<w4::CertSummary as ComponentType>::SIZE32 == <wit::CertSummary as ComponentType>::SIZE32);
    assert!(<w4::HopSummary as ComponentType>::SIZE32 == HOP_BEFORE_0_7);
    assert!(<w4::TraceError as ComponentType>::SIZE32 == <wit::TraceError as ComponentType>::SIZE32);
    assert!(<w4::GotConn as ComponentType>::SIZE32 == <wit::GotConn as ComponentType>::SIZE32);
    assert!(<w4::TlsHandshakeDone as ComponentType>::SIZE32 == <wit::TlsHandshakeDone as ComponentType>::SIZE32);
    assert!(<w4::RequestDone as ComponentType>::SIZE32 == <wit::RequestDone as ComponentType>::SIZE32);
    assert!(<w4::EventKind as ComponentVariant>::PAYLOAD_OFFSET32 == <wit::EventKind as ComponentVariant>::PAYLOAD_OFFSET32);
    use v0_4_0::compact_bindings::httptrace::plugin::compact as wc4;
    assert!(<wc4::Event as ComponentType>::SIZE32 == <w4::Event as ComponentType>::SIZE32);
    assert!(<wc4::RequestDone as ComponentType>::SIZE32 == <w4::RequestDone as ComponentType>::SIZE32);
};

const _: () = {
    use v0_5_0::bindings::httptrace::plugin::types as w5;
    assert!(<w5::Header as ComponentType>::SIZE32 == <wit::Header as ComponentType>::SIZE32);
    assert!(<w5::CertSummary as ComponentType>::SIZE32 == <wit::CertSummary as ComponentType>::SIZE32);
    assert!(<w5::HopSummary as ComponentType>::SIZE32 == HOP_BEFORE_0_7);
    assert!(<w5::TraceError as ComponentType>::SIZE32 == <wit::TraceError as ComponentType>::SIZE32);
    assert!(<w5::GotConn as ComponentType>::SIZE32 == <wit::GotConn as ComponentType>::SIZE32);
    assert!(<w5::TlsHandshakeDone as ComponentType>::SIZE32 == <wit::TlsHandshakeDone as ComponentType>::SIZE32);
    assert!(<w5::RequestDone as ComponentType>::SIZE32 == <wit::RequestDone as ComponentType>::SIZE32);
    assert!(<w5::EventKind as ComponentVariant>::PAYLOAD_OFFSET32 == <wit::EventKind as ComponentVariant>::PAYLOAD_OFFSET32);
    use v0_5_0::compact_bindings::httptrace::plugin::compact as wc5;
    assert!(<wc5::Event as ComponentType>::SIZE32 == <w5::Event as ComponentType>::SIZE32);
    assert!(<wc5::RequestDone as ComponentType>::SIZE32 == <w5::RequestDone as ComponentType>::SIZE32);
};

/// `hop-summary` before 0.7.0: the same fields without `bytes`, the record's last.
const HOP_BEFORE_0_7: usize = <wit::HopSummary as ComponentType>::SIZE32 - <wit::ByteCounts as ComponentType>::SIZE32;

const _: () = {
    use v0_6_0::bindings::httptrace::plugin::types as w6;
    assert!(<w6::Header as ComponentType>::SIZE32 == <wit::Header as ComponentType>::SIZE32);
    assert!(<w6::CertSummary as ComponentType>::SIZE32 == <wit::CertSummary as ComponentType>::SIZE32);
    assert!(<w6::HopSummary as ComponentType>::SIZE32 == HOP_BEFORE_0_7);
    assert!(<wit::ByteCounts as ComponentType>::SIZE32 == 24);
    assert!(<w6::TraceError as ComponentType>::SIZE32 == <wit::TraceError as ComponentType>::SIZE32);
    assert!(<w6::GotConn as ComponentType>::SIZE32 == <wit::GotConn as ComponentType>::SIZE32);
    assert!(<w6::TlsHandshakeDone as ComponentType>::SIZE32 == <wit::TlsHandshakeDone as ComponentType>::SIZE32);
    assert!(<w6::RequestDone as ComponentType>::SIZE32 == <wit::RequestDone as ComponentType>::SIZE32);
    assert!(<w6::Event as ComponentType>::SIZE32 == <wit::Event as ComponentType>::SIZE32);
    assert!(<w6::EventKind as ComponentVariant>::PAYLOAD_OFFSET32 == <wit::EventKind as ComponentVariant>::PAYLOAD_OFFSET32);
    use v0_6_0::compact_bindings::httptrace::plugin::compact as wc6;
    assert!(<wc6::Event as ComponentType>::SIZE32 == <w6::Event as ComponentType>::SIZE32);
    assert!(<wc6::RequestDone as ComponentType>::SIZE32 == <w6::RequestDone as ComponentType>::SIZE32);
    assert!(<wc6::HopSummary as ComponentType>::SIZE32 == HOP_BEFORE_0_7);
};

// The compact form's layout is the plain one's: a span is laid out as a string.
const _: () = {
    assert!(<wc::Span as ComponentType>::SIZE32 == <String as ComponentType>::SIZE32);
    assert!(<wc::Span as ComponentType>::ALIGN32 == <String as ComponentType>::ALIGN32);
    assert!(<wc::Event as ComponentType>::SIZE32 == <wit::Event as ComponentType>::SIZE32);
    assert!(<wc::Event as ComponentType>::ALIGN32 == <wit::Event as ComponentType>::ALIGN32);
    assert!(<wc::EventKind as ComponentVariant>::PAYLOAD_OFFSET32 == <wit::EventKind as ComponentVariant>::PAYLOAD_OFFSET32);
    assert!(<wc::Header as ComponentType>::SIZE32 == <wit::Header as ComponentType>::SIZE32);
    assert!(<wc::CertSummary as ComponentType>::SIZE32 == <wit::CertSummary as ComponentType>::SIZE32);
    assert!(<wc::HopSummary as ComponentType>::SIZE32 == <wit::HopSummary as ComponentType>::SIZE32);
    assert!(<wc::TraceError as ComponentType>::SIZE32 == <wit::TraceError as ComponentType>::SIZE32);
    assert!(<wc::RequestDone as ComponentType>::SIZE32 == <wit::RequestDone as ComponentType>::SIZE32);
    assert!(<wc::TlsHandshakeDone as ComponentType>::SIZE32 == <wit::TlsHandshakeDone as ComponentType>::SIZE32);
    assert!(<wc::GotConn as ComponentType>::SIZE32 == <wit::GotConn as ComponentType>::SIZE32);
    assert!(<wc::QuicHandshakeDone as ComponentType>::SIZE32 == <wit::QuicHandshakeDone as ComponentType>::SIZE32);
    assert!(<wc::Batch as ComponentType>::ABI.flat_count.is_some());
};

// SAFETY: `Lower` is the record's four flat values (two pointer-and-length pairs), `ABI` and
// `typecheck` are `wc::Batch`'s, and the events are written in `wit::Event`'s layout, which is
// `wc::Event`'s (asserted above) with strings as spans.
unsafe impl<V: Abi> ComponentType for CompactBatch<'_, V> {
    type Lower = [ValRaw; 4];
    const ABI: CanonicalAbiInfo = <V::Batch as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <V::Batch as ComponentType>::typecheck(ty, types)
    }
}

/// `on-batch` was not called: the component's string encoding is not UTF-8, and spans are byte
/// offsets into UTF-8 text.
#[derive(Debug)]
pub(crate) struct NotUtf8;

impl std::fmt::Display for NotUtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("on-batch needs the UTF-8 string encoding")
    }
}

impl std::error::Error for NotUtf8 {}

impl<V: Abi> CompactBatch<'_, V> {
    /// Writes the events (strings appended to the text), then the text: the guest pointers and
    /// lengths of the text and of the event list.
    fn write<T: 'static>(&self, cx: &mut LowerContext<'_, T>) -> wasmtime::Result<[usize; 4]> {
        if cx.options().string_encoding != StringEncoding::Utf8 {
            // Checked before anything reaches the guest: the caller falls back to `on-events`.
            return Err(NotUtf8.into());
        }
        let mut w = Writer::<T, V>::new(cx, self.addrs, Some(SPARE_TEXT.take()));
        let (events, len) = w.list::<V::Event, _>(self.events, |w, e, out| w.event(e, out))?;
        let text = w.text.take().unwrap_or_default();
        w.keep_buffers();
        let at = cx.realloc(0, 0, 1, text.len())?;
        cx.as_slice_mut()
            .get_mut(at..at + text.len())
            .ok_or_else(|| wasmtime::Error::msg("realloc return: beyond end of memory"))?
            .copy_from_slice(&text);
        let text_len = text.len();
        SPARE_TEXT.set(text);
        Ok([at, text_len, events, len])
    }
}

// SAFETY: as for `EventList`: writes only inside blocks the guest's `realloc` returned.
unsafe impl<V: Abi> Lower for CompactBatch<'_, V> {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        _ty: InterfaceType,
        dst: &mut MaybeUninit<[ValRaw; 4]>,
    ) -> wasmtime::Result<()> {
        let parts = self.write(cx)?;
        dst.write(parts.map(|v| ValRaw::i64(v as i64)));
        Ok(())
    }

    fn linear_lower_to_memory<T>(&self, cx: &mut LowerContext<'_, T>, _ty: InterfaceType, offset: usize) -> wasmtime::Result<()> {
        let [text, text_len, events, len] = self.write(cx)?;
        let mut record = [0u8; 16];
        put_pair(&mut record, 0, text, text_len);
        put_pair(&mut record, 8, events, len);
        cx.as_slice_mut()[offset..offset + 16].copy_from_slice(&record);
        Ok(())
    }
}

/// Offsets of a record's fields, in declaration order, from the fields' canonical-ABI size and
/// alignment (the bindings' types stand for the WIT types).
struct Fields(usize);

impl Fields {
    fn new() -> Fields {
        Fields(0)
    }

    /// The offset of the next field, of type `F`.
    fn next<F: ComponentType>(&mut self) -> usize {
        let at = self.0.next_multiple_of(F::ALIGN32 as usize);
        self.0 = at + F::SIZE32;
        at
    }
}

/// Where an `option<F>`'s payload sits, from the option's start.
fn option_payload<F: ComponentType>() -> usize {
    1usize.next_multiple_of(F::ALIGN32 as usize)
}

fn put_pair(out: &mut [u8], at: usize, ptr: usize, len: usize) {
    out[at..at + 4].copy_from_slice(&(ptr as u32).to_le_bytes());
    out[at + 4..at + 8].copy_from_slice(&(len as u32).to_le_bytes());
}

fn put_u64(out: &mut [u8], at: usize, v: u64) {
    out[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(out: &mut [u8], at: usize, v: u32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u16(out: &mut [u8], at: usize, v: u16) {
    out[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_f64(out: &mut [u8], at: usize, v: f64) {
    out[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn put_option_u16(out: &mut [u8], at: usize, v: Option<u16>) {
    if let Some(v) = v {
        out[at] = 1;
        put_u16(out, at + option_payload::<u16>(), v);
    }
}

/// The WIT `phase` case number: the engine declares its phases in the WIT order (checked
/// against the contract's table at compile time).
fn phase(p: Phase) -> u8 {
    p as u8
}

/// A `stamp-clock` case number.
fn stamp_clock(c: StampClock) -> u8 {
    match c {
        StampClock::Engine => 0,
        StampClock::Kernel => 1,
    }
}

/// Writes values into the guest: lists are laid out in a host buffer (zeroed: option and
/// variant padding, `none` discriminants) and copied in at once.
struct Writer<'c, 'a, T: 'static, V: Abi> {
    cx: &'c mut LowerContext<'a, T>,
    version: PhantomData<V>,
    addrs: &'c AddrText,
    /// Compact mode: the batch's text so far, where strings go (as spans).
    text: Option<Vec<u8>>,
    /// The buffer the next list is laid out in (see [`SPARE_IMAGE`]).
    spare: Vec<u8>,
}

thread_local! {
    /// The event list's buffer, kept from batch to batch on the plugin thread: a fresh zeroed
    /// block of up to ~60 KB per batch went through the allocator's large-block path, whose
    /// page purging (`madvise`, with TLB shoot-downs on the engine's cores) cost ~10 % of the
    /// plugin thread under load.
    static SPARE_IMAGE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    /// The compact form's text buffer, kept likewise.
    static SPARE_TEXT: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl<'c, 'a, T: 'static, V: Abi> Writer<'c, 'a, T, V> {
    fn new(cx: &'c mut LowerContext<'a, T>, addrs: &'c AddrText, text: Option<Vec<u8>>) -> Self {
        let text = text.map(|mut t| {
            t.clear();
            t
        });
        Writer { cx, addrs, text, spare: SPARE_IMAGE.take(), version: PhantomData }
    }

    /// Gives the list buffer back for the next batch.
    fn keep_buffers(&mut self) {
        SPARE_IMAGE.set(std::mem::take(&mut self.spare));
    }
    /// A string: in compact mode appended to the text (its span's start and length), else into
    /// the guest (its `realloc`, its encoding: the pointer and length).
    fn string(&mut self, s: &str) -> wasmtime::Result<(usize, usize)> {
        if let Some(text) = &mut self.text {
            let start = text.len();
            if start + s.len() > u32::MAX as usize {
                wasmtime::bail!("a batch's text is over 4 GiB");
            }
            text.extend_from_slice(s.as_bytes());
            return Ok((start, s.len()));
        }
        let mut flat = MaybeUninit::<[ValRaw; 2]>::uninit();
        s.linear_lower_to_flat(self.cx, InterfaceType::String, &mut flat)?;
        // SAFETY: `linear_lower_to_flat` initialises both values when it returns `Ok`.
        let [ptr, len] = unsafe { flat.assume_init() };
        Ok((ptr.get_i64() as u32 as usize, len.get_i64() as u32 as usize))
    }

    fn put_string(&mut self, out: &mut [u8], at: usize, s: &str) -> wasmtime::Result<()> {
        let (ptr, len) = self.string(s)?;
        put_pair(out, at, ptr, len);
        Ok(())
    }

    fn put_addr(&mut self, out: &mut [u8], at: usize, a: &PeerAddr) -> wasmtime::Result<()> {
        match self.addrs.get(a) {
            Some(text) => self.put_string(out, at, text),
            None => self.put_string(out, at, &a.to_string()),
        }
    }

    /// A list whose elements are laid out as `E` (a bindings type): `item` writes one element
    /// into its zeroed slot. Returns the guest pointer and the length.
    fn list<E: ComponentType, I>(
        &mut self,
        items: &[I],
        mut item: impl FnMut(&mut Self, &I, &mut [u8]) -> wasmtime::Result<()>,
    ) -> wasmtime::Result<(usize, usize)> {
        let size = E::SIZE32;
        let bytes = items.len().checked_mul(size).ok_or_else(|| wasmtime::Error::msg("size overflow copying a list"))?;
        // Nested lists (headers, hops) find the spare taken (or holding a smaller nested
        // list's buffer) and lay out in that; the largest buffer is kept.
        let mut image = std::mem::take(&mut self.spare);
        image.clear();
        image.resize(bytes, 0);
        for (i, it) in items.iter().enumerate() {
            item(self, it, &mut image[i * size..(i + 1) * size])?;
        }
        let ptr = self.cx.realloc(0, 0, E::ALIGN32, bytes)?;
        self.cx.as_slice_mut()[ptr..ptr + bytes].copy_from_slice(&image);
        if image.capacity() > self.spare.capacity() {
            self.spare = image;
        }
        Ok((ptr, items.len()))
    }

    fn put_strings(&mut self, out: &mut [u8], at: usize, items: &[String]) -> wasmtime::Result<()> {
        let (ptr, len) = self.list::<String, _>(items, |w, s, slot| w.put_string(slot, 0, s))?;
        put_pair(out, at, ptr, len);
        Ok(())
    }

    fn put_headers(&mut self, out: &mut [u8], at: usize, headers: &[Header]) -> wasmtime::Result<()> {
        let (ptr, len) = self.list::<wit::Header, _>(headers, |w, h, slot| w.header(h, slot))?;
        put_pair(out, at, ptr, len);
        Ok(())
    }

    fn header(&mut self, h: &Header, out: &mut [u8]) -> wasmtime::Result<()> {
        let mut f = Fields::new();
        self.put_string(out, f.next::<String>(), &h.name)?;
        self.put_string(out, f.next::<String>(), &h.value)
    }

    fn put_error(&mut self, out: &mut [u8], at: usize, e: &Option<TraceError>) -> wasmtime::Result<()> {
        let Some(e) = e else { return Ok(()) };
        out[at] = 1;
        let base = at + option_payload::<wit::TraceError>();
        let mut f = Fields::new();
        out[base + f.next::<wit::Phase>()] = phase(e.phase);
        self.put_string(out, base + f.next::<String>(), e.kind.as_str())?;
        let during = base + f.next::<Option<wit::Phase>>();
        if let Some(p) = e.during {
            out[during] = 1;
            out[during + option_payload::<wit::Phase>()] = phase(p);
        }
        self.put_string(out, base + f.next::<String>(), &e.message)
    }

    fn put_option_string(&mut self, out: &mut [u8], at: usize, s: &Option<String>) -> wasmtime::Result<()> {
        let Some(s) = s else { return Ok(()) };
        out[at] = 1;
        self.put_string(out, at + option_payload::<String>(), s)
    }

    fn event(&mut self, e: &Event, out: &mut [u8]) -> wasmtime::Result<()> {
        let mut f = Fields::new();
        put_u64(out, f.next::<u64>(), e.request);
        put_u32(out, f.next::<u32>(), e.hop);
        let conn = f.next::<Option<u64>>();
        if let Some(c) = e.conn {
            out[conn] = 1;
            put_u64(out, conn + option_payload::<u64>(), c);
        }
        put_u64(out, f.next::<u64>(), e.at_ns);
        let kind = f.next::<V::EventKind>();
        out[kind] = e.kind.index() as u8;
        let payload = kind + <V::EventKind as ComponentVariant>::PAYLOAD_OFFSET32;
        self.kind(&e.kind, &mut out[payload..])
    }

    /// The payload of the `event-kind` case (case records laid out from offset 0 of `out`).
    fn kind(&mut self, k: &EventKind, out: &mut [u8]) -> wasmtime::Result<()> {
        let mut f = Fields::new();
        match k {
            EventKind::RequestStart { method, url, wall_unix_ns, post_data } => {
                self.put_string(out, f.next::<String>(), method)?;
                self.put_string(out, f.next::<String>(), url)?;
                put_u64(out, f.next::<u64>(), *wall_unix_ns);
                if V::V0_3 {
                    let at = f.next::<Option<String>>();
                    if let Some(body) = post_data {
                        out[at] = 1;
                        self.put_string(out, at + option_payload::<String>(), &String::from_utf8_lossy(body))?;
                    }
                }
            }
            EventKind::GetConn { host_port } => self.put_string(out, f.next::<String>(), host_port)?,
            EventKind::DnsStart { host, proxy } => {
                self.put_string(out, f.next::<String>(), host)?;
                if V::V0_6 {
                    self.put_option_string(out, f.next::<Option<String>>(), proxy)?;
                }
            }
            EventKind::DnsDone { addrs, coalesced, error, proxy } => {
                let texts: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
                self.put_strings(out, f.next::<Vec<String>>(), &texts)?;
                out[f.next::<bool>()] = *coalesced as u8;
                self.put_error(out, f.next::<Option<wit::TraceError>>(), error)?;
                if V::V0_6 {
                    self.put_option_string(out, f.next::<Option<String>>(), proxy)?;
                }
            }
            EventKind::ConnectStart { network, addr, proxy } => {
                self.put_string(out, f.next::<String>(), network)?;
                self.put_addr(out, f.next::<String>(), addr)?;
                if V::V0_6 {
                    self.put_option_string(out, f.next::<Option<String>>(), proxy)?;
                }
            }
            EventKind::ConnectDone { network, addr, cancelled, error, proxy } => {
                self.put_string(out, f.next::<String>(), network)?;
                self.put_addr(out, f.next::<String>(), addr)?;
                out[f.next::<bool>()] = *cancelled as u8;
                self.put_error(out, f.next::<Option<wit::TraceError>>(), error)?;
                if V::V0_6 {
                    self.put_option_string(out, f.next::<Option<String>>(), proxy)?;
                }
            }
            EventKind::TlsHandshakeStart { server_name } => self.put_string(out, f.next::<String>(), server_name)?,
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
            } => {
                self.put_string(out, f.next::<String>(), version)?;
                self.put_string(out, f.next::<String>(), cipher_suite)?;
                self.put_option_string(out, f.next::<Option<String>>(), alpn)?;
                out[f.next::<bool>()] = *resumed as u8;
                self.put_string(out, f.next::<String>(), server_name)?;
                let at = f.next::<Vec<wit::CertSummary>>();
                let (ptr, len) = self.list::<wit::CertSummary, _>(peer_certificates, |w, c, slot| w.cert(c, slot))?;
                put_pair(out, at, ptr, len);
                self.put_error(out, f.next::<Option<wit::TraceError>>(), error)?;
                if V::KEY_EXCHANGE_GROUP {
                    self.put_option_string(out, f.next::<Option<String>>(), key_exchange_group)?;
                }
                if V::V0_3 {
                    out[f.next::<bool>()] = *client_certificate_requested as u8;
                    out[f.next::<bool>()] = *client_certificate_sent as u8;
                }
            }
            EventKind::GotConn { reused, was_idle, idle_ns, local_addr, remote_addr, protocol } => {
                out[f.next::<bool>()] = *reused as u8;
                out[f.next::<bool>()] = *was_idle as u8;
                put_u64(out, f.next::<u64>(), *idle_ns);
                self.put_addr(out, f.next::<String>(), local_addr)?;
                self.put_addr(out, f.next::<String>(), remote_addr)?;
                self.put_string(out, f.next::<String>(), protocol)?;
            }
            EventKind::WroteHeaderField { name, value } => {
                self.put_string(out, f.next::<String>(), name)?;
                self.put_string(out, f.next::<String>(), value)?;
            }
            EventKind::WroteHeaders { clock } | EventKind::GotFirstResponseByte { clock } => {
                if V::V0_5 {
                    out[f.next::<wit::StampClock>()] = stamp_clock(*clock);
                }
            }
            EventKind::Wait100Continue {} | EventKind::Got100Continue {} => {}
            EventKind::Got1xxResponse { status, headers } => {
                put_u16(out, f.next::<u16>(), *status);
                self.put_headers(out, f.next::<Vec<wit::Header>>(), headers)?;
            }
            EventKind::WroteRequest { body_bytes, error, clock } => {
                put_u64(out, f.next::<u64>(), *body_bytes);
                self.put_error(out, f.next::<Option<wit::TraceError>>(), error)?;
                if V::V0_5 {
                    out[f.next::<wit::StampClock>()] = stamp_clock(*clock);
                }
            }
            EventKind::ResponseDone { body_bytes, error, decoded_bytes } => {
                put_u64(out, f.next::<u64>(), *body_bytes);
                self.put_error(out, f.next::<Option<wit::TraceError>>(), error)?;
                if V::V0_4 {
                    let at = f.next::<Option<u64>>();
                    if let Some(n) = decoded_bytes {
                        out[at] = 1;
                        put_u64(out, at + option_payload::<u64>(), *n);
                    }
                }
            }
            EventKind::ResponseHeaders { status, version, headers, header_bytes } => {
                put_u16(out, f.next::<u16>(), *status);
                self.put_string(out, f.next::<String>(), version)?;
                self.put_headers(out, f.next::<Vec<wit::Header>>(), headers)?;
                put_u64(out, f.next::<u64>(), *header_bytes);
            }
            EventKind::PutIdleConn { error } => self.put_option_string(out, f.next::<Option<String>>(), error)?,
            EventKind::Redirect { from, to, status, method } => {
                self.put_string(out, f.next::<String>(), from)?;
                self.put_string(out, f.next::<String>(), to)?;
                put_u16(out, f.next::<u16>(), *status);
                self.put_string(out, f.next::<String>(), method)?;
            }
            EventKind::RequestDone { url, status, error, timings, marks, hops, client_lag_ns } => {
                self.put_string(out, f.next::<String>(), url)?;
                put_option_u16(out, f.next::<Option<u16>>(), *status);
                self.put_error(out, f.next::<Option<wit::TraceError>>(), error)?;
                put_timings(out, f.next::<wit::Timings>(), timings);
                put_marks(out, f.next::<wit::Marks>(), marks);
                let at = f.next::<Vec<wit::HopSummary>>();
                let (ptr, len) = self.list::<V::HopSummary, _>(hops, |w, h, slot| w.hop(h, slot))?;
                put_pair(out, at, ptr, len);
                if V::V0_3 {
                    let at = f.next::<Option<u64>>();
                    if let Some(lag) = client_lag_ns {
                        out[at] = 1;
                        put_u64(out, at + option_payload::<u64>(), *lag);
                    }
                }
            }
            // Only plugins of 0.3.0 on can ask for these (an older `event-type` has no case
            // for them), so no older layout is ever asked to hold one.
            EventKind::ProxyConnectStart { .. } | EventKind::ProxyConnectDone { .. } if !V::V0_3 => {
                wasmtime::bail!("{} is not in this plugin's version of the contract", k.name())
            }
            EventKind::ProxyConnectStart { proxy, target } => {
                self.put_string(out, f.next::<String>(), proxy)?;
                self.put_string(out, f.next::<String>(), target)?;
            }
            EventKind::ProxyConnectDone { proxy, status, error } => {
                self.put_string(out, f.next::<String>(), proxy)?;
                put_option_u16(out, f.next::<Option<u16>>(), *status);
                self.put_error(out, f.next::<Option<wit::TraceError>>(), error)?;
            }
            // As for the proxy kinds: only plugins of 0.4.0 on can ask for these.
            EventKind::QuicHandshakeStart { .. } | EventKind::QuicHandshakeDone { .. } if !V::V0_4 => {
                wasmtime::bail!("{} is not in this plugin's version of the contract", k.name())
            }
            EventKind::QuicHandshakeStart { server_name, quic_version } => {
                self.put_string(out, f.next::<String>(), server_name)?;
                put_u32(out, f.next::<u32>(), *quic_version);
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
            } => {
                put_u32(out, f.next::<u32>(), *quic_version);
                self.put_option_string(out, f.next::<Option<String>>(), alpn)?;
                out[f.next::<bool>()] = *early_data_offered as u8;
                out[f.next::<bool>()] = *early_data_accepted as u8;
                out[f.next::<bool>()] = *resumed as u8;
                self.put_string(out, f.next::<String>(), server_name)?;
                let at = f.next::<Vec<wit::CertSummary>>();
                let (ptr, len) = self.list::<wit::CertSummary, _>(peer_certificates, |w, c, slot| w.cert(c, slot))?;
                put_pair(out, at, ptr, len);
                self.put_error(out, f.next::<Option<wit::TraceError>>(), error)?;
            }
        }
        Ok(())
    }

    fn cert(&mut self, c: &CertSummary, out: &mut [u8]) -> wasmtime::Result<()> {
        let mut f = Fields::new();
        self.put_string(out, f.next::<String>(), &c.subject)?;
        self.put_string(out, f.next::<String>(), &c.issuer)?;
        self.put_string(out, f.next::<String>(), &c.not_before)?;
        self.put_string(out, f.next::<String>(), &c.not_after)?;
        self.put_strings(out, f.next::<Vec<String>>(), &c.sans)?;
        self.put_string(out, f.next::<String>(), &c.serial)
    }

    fn hop(&mut self, h: &HopSummary, out: &mut [u8]) -> wasmtime::Result<()> {
        let mut f = Fields::new();
        put_u32(out, f.next::<u32>(), h.hop);
        self.put_string(out, f.next::<String>(), &h.url)?;
        put_option_u16(out, f.next::<Option<u16>>(), h.status);
        put_timings(out, f.next::<wit::Timings>(), &h.timings);
        put_marks(out, f.next::<wit::Marks>(), &h.marks);
        if V::V0_7 {
            let at = f.next::<wit::ByteCounts>();
            let b = &h.bytes;
            for (i, v) in [b.request_body, b.response_headers, b.response_body].into_iter().enumerate() {
                put_u64(out, at + 8 * i, v);
            }
        }
        Ok(())
    }
}

// Timings and marks are eight `f64`s each, back to back.
const _: () = assert!(<wit::Timings as ComponentType>::SIZE32 == 64 && <wit::Marks as ComponentType>::SIZE32 == 64);

fn put_timings(out: &mut [u8], at: usize, t: &Timings) {
    for (i, v) in [t.blocked, t.dns, t.connect, t.ssl, t.send, t.wait, t.receive, t.total].into_iter().enumerate() {
        put_f64(out, at + 8 * i, v);
    }
}

fn put_marks(out: &mut [u8], at: usize, m: &Marks) {
    for (i, v) in
        [m.namelookup, m.connect, m.appconnect, m.pretransfer, m.posttransfer, m.starttransfer, m.total, m.redirect].into_iter().enumerate()
    {
        put_f64(out, at + 8 * i, v);
    }
}

#[cfg(test)]
mod tests;
