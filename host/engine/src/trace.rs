//! The recording side of tracing: a per-request [`Trace`] that stamps events at their source and
//! a [`Sink`] that receives each finished request's events.
//!
//! Events are buffered per request and handed to the sink in one batch when the request ends,
//! so the measured path only pays for a clock read, an uncontended lock and a few stores (the
//! hop's [`HopRecord`]), plus a push into a vector for the kinds recorded in full; the sink
//! (and any plugin behind it) runs after the request's last timestamp was taken.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::event::{Event, EventKind, KindSet, Phase};
use crate::handoff;
use crate::summary::{phase_after, HopRecord};

/// More kinds recorded for a share of the requests, decided per request id by a seeded hash
/// (the same answer every time it is asked): what a sampling exporter needs in full only for
/// the requests it keeps (`ClientOptions::record_sampled`), the others costing no more than
/// the rest of the consumers ask for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampledRecording {
    /// The kinds recorded for the requests kept.
    pub kinds: KindSet,
    /// The share kept, 0 to 1.
    pub ratio: f64,
    /// The hash's seed (random per run unless set).
    pub seed: u64,
}

impl SampledRecording {
    /// Keeps `ratio` of the requests, with a random seed.
    pub fn new(kinds: KindSet, ratio: f64) -> SampledRecording {
        SampledRecording { kinds, ratio, seed: rand::random() }
    }

    /// Whether request `request` is kept.
    pub fn keeps(&self, request: u64) -> bool {
        if self.ratio >= 1.0 {
            return true;
        }
        if self.ratio <= 0.0 {
            return false;
        }
        // splitmix64: well spread for consecutive ids.
        let mut z = request ^ self.seed;
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) < self.ratio
    }
}

/// Receives the events of each finished request, in order, in one batch.
///
/// Implementations must not take long: they run on the engine's task after the request's
/// measurements are complete. The batch always ends with `request-done`.
pub trait Sink: Send + Sync + 'static {
    /// One request's events, in the order they happened.
    fn request_events(&self, events: Vec<Event>);

    /// Backpressure: `Some` future that resolves once the sink can take another request's
    /// events. The client awaits it before a request starts, outside any measured phase.
    /// `None` (the default) means ready now.
    fn room(&self) -> Option<Pin<Box<dyn Future<Output = ()> + Send + '_>>> {
        None
    }

    /// Whether the sink takes no more events (its consumer stopped, e.g. a plugin chain that
    /// aborted): [`Client::is_stopped`](crate::Client::is_stopped) turns true and load runs
    /// start no further request. `false` (the default) means it keeps taking them; a sink that
    /// wraps another should forward it.
    fn is_closed(&self) -> bool {
        false
    }
}

/// A sink that hands batches to a consumer thread through a bounded [`handoff`] queue: a slow
/// consumer holds back new requests ([`Sink::room`]), events are never dropped.
#[derive(Clone)]
pub struct ChannelSink {
    tx: handoff::Sender,
}

impl ChannelSink {
    /// A sink and the receiver of its batches; `capacity` is in requests.
    pub fn new(capacity: usize) -> (ChannelSink, handoff::Receiver) {
        let (tx, rx) = handoff::channel(capacity);
        (ChannelSink { tx }, rx)
    }

    /// Ends the stream now for every clone of this sink ([`handoff::Sender::end`]): the
    /// consumer gets what is queued, then the end, even while requests are still in flight.
    pub fn end(&self) {
        self.tx.end();
    }

    /// A handle that ends the stream later without being a sender itself.
    pub fn ender(&self) -> handoff::Ender {
        self.tx.ender()
    }
}

impl Sink for ChannelSink {
    fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    fn room(&self) -> Option<Pin<Box<dyn Future<Output = ()> + Send + '_>>> {
        if self.tx.has_room() {
            None
        } else {
            Some(Box::pin(self.tx.wait_for_room()))
        }
    }

    fn request_events(&self, events: Vec<Event>) {
        self.tx.send(events, |wait| {
            // On a multi-thread runtime, block_in_place lets the worker's other tasks move on
            // while this one waits for room; elsewhere the thread simply waits (the consumer
            // is a thread of its own, so it cannot deadlock), stalling the thread's other
            // requests: the CLI's single-threaded engine threads never get here, since its
            // queue holds at least as many requests as there are workers.
            let multi_thread =
                tokio::runtime::Handle::try_current().is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
            if multi_thread {
                tokio::task::block_in_place(wait);
            } else {
                wait();
            }
        });
    }
}

/// A sink that keeps everything in memory (tests, library users).
#[derive(Default, Clone)]
pub struct MemorySink {
    events: Arc<Mutex<Vec<Event>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    /// Everything received so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

impl Sink for MemorySink {
    fn request_events(&self, events: Vec<Event>) {
        self.events.lock().unwrap().extend(events);
    }
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);
static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// A fresh connection id, unique in the process.
pub fn next_conn_id() -> u64 {
    NEXT_CONN.fetch_add(1, Ordering::Relaxed)
}

/// The trace of one request: its clock origin, current hop, the events recorded in full, and
/// per hop what the summaries need ([`HopRecord`]).
///
/// Cloned (as `Arc<Trace>`) into every place that observes the request: the connector, the
/// wire taps, the body reader.
///
/// An event no one asked for is folded into its hop's record and dropped: it costs a clock
/// read and a few stores, not an entry in the batch (moving ~300-byte events in and out of the
/// batch was a visible part of a fast request's cost).
pub struct Trace {
    id: u64,
    start: Instant,
    wall_start_unix_ns: u64,
    /// When the trace was created, in ns since its origin.
    created_ns: u64,
    /// The last response's client lag in ns (`u64::MAX`: none measured).
    client_lag_ns: AtomicU64,
    /// Whether the last request's write was stamped by the kernel.
    kernel_sent: AtomicBool,
    hop: AtomicU32,
    enabled: bool,
    /// Kinds recorded in full.
    full: KindSet,
    recorded: Mutex<Recorded>,
    progress: Progress,
}

/// What the engine knows of the current hop whether or not anything is recorded: the phase it
/// is in and whether the response's first byte arrived. Failures are classified from this,
/// never from the recording, so a disabled trace reports the same errors as a full one.
struct Progress {
    phase: AtomicU8,
    first_byte: AtomicBool,
}

impl Default for Progress {
    /// A hop starts resolving (as [`HopRecord`] does).
    fn default() -> Progress {
        Progress { phase: AtomicU8::new(Phase::Dns as u8), first_byte: AtomicBool::new(false) }
    }
}

impl Progress {
    fn observe(&self, kind: &EventKind) {
        // Taps on other threads emit too: a compare-and-swap, so no phase change is lost.
        let _ = self.phase.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
            let next = phase_after(Phase::ALL[now as usize], kind) as u8;
            (next != now).then_some(next)
        });
        if matches!(kind, EventKind::GotFirstResponseByte { .. }) {
            self.first_byte.store(true, Ordering::Relaxed);
        }
    }

    fn phase(&self) -> Phase {
        Phase::ALL[self.phase.load(Ordering::Relaxed) as usize]
    }

    fn reset(&self) {
        self.phase.store(Phase::Dns as u8, Ordering::Relaxed);
        self.first_byte.store(false, Ordering::Relaxed);
    }
}

/// What a trace has recorded so far.
#[derive(Default)]
struct Recorded {
    events: Vec<Event>,
    hops: Vec<HopRecord>,
}

impl Trace {
    /// Starts a new request's trace now.
    pub fn start() -> Arc<Trace> {
        Self::new_at(None, true, KindSet::ALL)
    }

    /// Starts a trace whose clock origin is `start` (open-loop load: the scheduled start).
    pub fn start_at(start: Instant) -> Arc<Trace> {
        Self::new_at(Some(start), true, KindSet::ALL)
    }

    /// Like [`start_at`](Trace::start_at), recording only the kinds in `full` in full (see
    /// [`ClientOptions::record`](crate::ClientOptions::record)).
    pub fn recording_at(start: Instant, full: KindSet) -> Arc<Trace> {
        Self::new_at(Some(start), true, full)
    }

    /// Like [`recording_at`](Trace::recording_at) with the clock starting now (one clock read
    /// for both the origin and the creation).
    pub fn recording_now(full: KindSet) -> Arc<Trace> {
        Self::new_at(None, true, full)
    }

    /// A trace whose clock starts at `start` (or now) recording `full` in full, and
    /// `sample`'s kinds too when `sample` keeps this request.
    pub fn recording(start: Option<Instant>, full: KindSet, sample: Option<&SampledRecording>) -> Arc<Trace> {
        let id = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
        let full = match sample {
            Some(s) if s.keeps(id) => full.union(s.kinds),
            _ => full,
        };
        Self::with_id(id, start, true, full)
    }

    /// A trace that records nothing: the untraced baseline for measuring tracing's cost.
    pub fn disabled_at(start: Instant) -> Arc<Trace> {
        Self::new_at(Some(start), false, KindSet::default())
    }

    /// A trace whose clock starts at `start`, or now.
    fn new_at(start: Option<Instant>, enabled: bool, full: KindSet) -> Arc<Trace> {
        Self::with_id(NEXT_REQUEST.fetch_add(1, Ordering::Relaxed), start, enabled, full)
    }

    fn with_id(id: u64, start: Option<Instant>, enabled: bool, full: KindSet) -> Arc<Trace> {
        let now = Instant::now();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        let start = start.unwrap_or(now);
        let behind = now.saturating_duration_since(start).as_nanos() as u64;
        Arc::new(Trace {
            id,
            start,
            created_ns: behind,
            wall_start_unix_ns: wall.saturating_sub(behind),
            client_lag_ns: AtomicU64::new(u64::MAX),
            kernel_sent: AtomicBool::new(false),
            hop: AtomicU32::new(0),
            enabled,
            full,
            // Room for about one event of each kind recorded, and request-done.
            recorded: Mutex::new(Recorded {
                events: if enabled { Vec::with_capacity(full.len() + 1) } else { Vec::new() },
                hops: Vec::new(),
            }),
            progress: Progress::default(),
        })
    }

    /// Whether events are recorded.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Whether events of kind `index` ([`EventKind::index`]) are recorded in full: check before
    /// building costly fields (header lists, certificates) or events no one will read.
    pub fn records(&self, index: usize) -> bool {
        self.enabled && self.full.contains(index)
    }

    /// The kinds recorded in full (and handed to the sink).
    pub fn full(&self) -> KindSet {
        self.full
    }

    /// The request id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The current hop.
    pub fn hop(&self) -> u32 {
        self.hop.load(Ordering::Relaxed)
    }

    /// Moves to the next hop (a redirect is being followed).
    pub fn next_hop(&self) -> u32 {
        // The hop first: a late event of the old hop then no longer counts as the current one's.
        let hop = self.hop.fetch_add(1, Ordering::Relaxed) + 1;
        self.progress.reset();
        hop
    }

    /// The phase the current hop is in (from the events emitted for it, recorded or not).
    pub fn phase(&self) -> Phase {
        self.progress.phase()
    }

    /// Whether the current hop's response has sent its first byte.
    pub fn got_first_byte(&self) -> bool {
        self.progress.first_byte.load(Ordering::Relaxed)
    }

    /// The monotonic instant the request started (its clock origin).
    pub fn origin(&self) -> Instant {
        self.start
    }

    /// When the trace was created, in ns since its origin: 0 for a trace started now; for
    /// open-loop load, how late the request started against its schedule.
    pub fn created_ns(&self) -> u64 {
        self.created_ns
    }

    /// Nanoseconds since the request started, now.
    pub fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    /// Nanoseconds since the request started, at `t`.
    pub fn ns_at(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.start).as_nanos() as u64
    }

    /// Wall-clock time (ns since the Unix epoch) at `at_ns` into the request.
    pub fn wall_unix_ns(&self, at_ns: u64) -> u64 {
        self.wall_start_unix_ns + at_ns
    }

    /// A wall-clock time (ns since the Unix epoch, as the kernel stamps packets) as ns into the
    /// request: the one conversion between the two clocks, made with the readings of both taken
    /// together when the trace was created (their gap, tens of ns, is its error). `None` before
    /// the request's origin.
    pub fn ns_at_unix(&self, unix_ns: u64) -> Option<u64> {
        unix_ns.checked_sub(self.wall_start_unix_ns)
    }

    /// Notes the client's lag for the current hop's response: how long after the kernel had
    /// its first byte the engine read it.
    pub fn note_client_lag(&self, lag_ns: u64) {
        self.client_lag_ns.store(lag_ns, Ordering::Relaxed);
        if self.enabled {
            let mut r = self.lock();
            let h = self.hop() as usize;
            if r.hops.len() <= h {
                r.hops.resize_with(h + 1, HopRecord::default);
            }
            r.hops[h].client_lag_ns = Some(lag_ns);
        }
    }

    /// Notes that a write of the current hop's request was stamped with the kernel's
    /// transmit stamp.
    pub fn note_kernel_sent(&self) {
        self.kernel_sent.store(true, Ordering::Relaxed);
    }

    /// Whether the request's writes were stamped by the kernel (see
    /// [`note_kernel_sent`](Trace::note_kernel_sent)).
    pub fn kernel_sent(&self) -> bool {
        self.kernel_sent.load(Ordering::Relaxed)
    }

    /// The last response's client lag (see [`note_client_lag`](Trace::note_client_lag)), if
    /// its first byte had a kernel stamp.
    pub fn client_lag(&self) -> Option<Duration> {
        match self.client_lag_ns.load(Ordering::Relaxed) {
            u64::MAX => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    /// Records an event of the current hop, stamped now.
    pub fn emit(&self, conn: Option<u64>, kind: EventKind) {
        self.emit_at(self.now_ns(), self.hop(), conn, kind);
    }

    /// Records an event with an explicit time and hop (for taps that stamped it earlier): into
    /// its hop's [`HopRecord`] always, and as an event if its kind is recorded in full.
    pub fn emit_at(&self, at_ns: u64, hop: u32, conn: Option<u64>, mut kind: EventKind) {
        if hop == self.hop() {
            self.progress.observe(&kind);
        }
        if !self.enabled {
            return;
        }
        let mut r = self.lock();
        let h = hop as usize;
        if r.hops.len() <= h {
            r.hops.resize_with(h + 1, HopRecord::default);
        }
        if self.full.contains(kind.index()) {
            r.hops[h].observe(at_ns, &kind);
            r.events.push(Event { request: self.id, hop, conn, at_ns, kind });
        } else {
            // Not kept: what the record keeps of it is moved out, not copied (nor is the
            // event itself moved again: ~40 instructions of `memcpy` an event).
            r.hops[h].observe_taking(at_ns, &mut kind);
        }
    }

    /// Takes the recorded events out (the request is over).
    pub fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut self.lock().events)
    }

    /// Takes the recorded events and the hops' records out (the request is over).
    pub fn take_recorded(&self) -> (Vec<Event>, Vec<HopRecord>) {
        let mut r = self.lock();
        (std::mem::take(&mut r.events), std::mem::take(&mut r.hops))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        // Plain pushes and stores: a panic elsewhere cannot leave it inconsistent.
        self.recorded.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind as K;

    /// The hop's phase follows its events in emission order whether or not they are recorded
    /// (the engine classifies failures by it), and starts again with the next hop.
    #[test]
    fn the_phase_follows_the_events_recorded_or_not() {
        for t in [Trace::recording_now(KindSet::default()), Trace::disabled_at(Instant::now())] {
            assert_eq!(t.phase(), Phase::Dns);
            t.emit_at(
                1,
                0,
                None,
                K::ConnectStart {
                    network: "tcp".into(),
                    addr: "127.0.0.1:80".parse::<std::net::SocketAddr>().unwrap().into(),
                    proxy: None,
                },
            );
            assert_eq!(t.phase(), Phase::Connect);
            t.emit_at(2, 0, None, K::WroteHeaders { clock: Default::default() });
            assert_eq!(t.phase(), Phase::Send, "a kind outside the summaries still moves the phase");
            t.emit_at(3, 0, None, K::PutIdleConn { error: None });
            assert_eq!(t.phase(), Phase::Send);
            t.emit_at(4, 0, None, K::GotFirstResponseByte { clock: Default::default() });
            assert_eq!((t.phase(), t.got_first_byte()), (Phase::Wait, true));
            if t.is_enabled() {
                assert_eq!(t.take_recorded().1[0].marks.first_byte, Some(4));
            }
            t.next_hop();
            // A late event of the old hop does not move the new one.
            t.emit_at(5, 0, None, K::ResponseHeaders { status: 200, version: "HTTP/1.1".into(), headers: vec![], header_bytes: 0 });
            assert_eq!((t.phase(), t.got_first_byte()), (Phase::Dns, false));
        }
    }
}

#[cfg(test)]
mod sampled_tests {
    use super::SampledRecording;
    use crate::event::KindSet;

    #[test]
    fn a_share_of_consecutive_ids_is_kept_and_the_answer_never_changes() {
        let s = SampledRecording::new(KindSet::ALL, 0.1);
        let kept: Vec<u64> = (1..=20_000).filter(|id| s.keeps(*id)).collect();
        assert!((1800..2200).contains(&kept.len()), "{} of 20000 at 10 %", kept.len());
        assert!(kept.iter().all(|id| s.keeps(*id)));
        assert!((1..100).all(|id| SampledRecording::new(KindSet::ALL, 1.0).keeps(id)));
        assert!(!(1..100).any(|id| SampledRecording::new(KindSet::ALL, 0.0).keeps(id)));
    }
}
