//! The wire tap: an IO wrapper between hyper and the socket (above TLS) that stamps
//! wrote-header-field, wrote-headers, wrote-request and got-first-response-byte at the moment
//! the bytes move.
//!
//! HTTP/1.1: one request at a time is bound to the connection; the tap parses the request head
//! as it is written (line by line) and counts body bytes. HTTP/2: the tap follows the frame
//! layer in both directions; requests are queued in submission order and matched to new client
//! stream ids in order (HTTP/2 requires stream ids to increase), then HEADERS/CONTINUATION with
//! END_HEADERS, DATA/HEADERS with END_STREAM, and the server's first HEADERS frame of the stream
//! give the events.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::kstamp::SocketStamps;
use crate::event::{kind, EventKind, StampClock};
use crate::trace::Trace;

/// The request a connection is currently carrying (HTTP/1.1) or about to open a stream for (h2).
pub struct Binding {
    /// The request's trace.
    pub trace: Arc<Trace>,
    /// Hop of the request.
    pub hop: u32,
    /// Request body length.
    pub body_len: u64,
    /// Headers carry `Expect: 100-continue`.
    pub expect_continue: bool,
    /// HTTP/2 only: the header fields as encoded (pseudo-headers first), already redacted.
    pub h2_fields: Vec<(String, String)>,
    /// HTTP/1.1 only: replace the values of these (lower-case) header names with `[redacted]`.
    pub redact: &'static [&'static str],
}

/// Shared state of one connection's tap.
pub struct TapShared {
    conn: u64,
    /// The kernel's stamps of the connection's socket, when it gives them.
    stamps: Option<Arc<SocketStamps>>,
    inner: Mutex<TapInner>,
}

enum TapInner {
    H1(H1State),
    H2(Box<H2State>),
}

impl TapShared {
    /// A tap for connection `conn`; `h2` selects the HTTP/2 frame tracker.
    pub fn new(conn: u64, h2: bool) -> Arc<TapShared> {
        Self::with_stamps(conn, h2, None)
    }

    /// Like [`new`](TapShared::new), stamping each response's first byte and each write from
    /// the kernel's `stamps` where they fit (see [`first_byte_at`] and [`sent_at`]).
    pub fn with_stamps(conn: u64, h2: bool, stamps: Option<Arc<SocketStamps>>) -> Arc<TapShared> {
        let inner = if h2 { TapInner::H2(Box::default()) } else { TapInner::H1(H1State::default()) };
        Arc::new(TapShared { conn, stamps, inner: Mutex::new(inner) })
    }

    /// A tap for an HTTP/1.1 connection whose requests are not bound to it beforehand (another
    /// client's pool picks the connection; the request learns which one when its response
    /// arrives): it records each request's [`Cycle`], which the request turns into events.
    /// `fields`: keep the header lines written.
    /// `stamps`: the connection's kernel stamps, kept in each [`Cycle`] beside its instants.
    pub fn cycles(conn: u64, fields: bool, stamps: Option<Arc<SocketStamps>>) -> Arc<TapShared> {
        let state = H1State { cycle: Some(Box::new(CycleState { fields, ..CycleState::default() })), ..H1State::default() };
        Arc::new(TapShared { conn, stamps, inner: Mutex::new(TapInner::H1(state)) })
    }

    /// The current request's [`Cycle`] on a [`cycles`](TapShared::cycles) tap (the request's
    /// response has arrived); the next write starts the next request's.
    pub fn take_cycle(&self) -> Option<Cycle> {
        match &mut *self.inner.lock().unwrap() {
            TapInner::H1(H1State { cycle: Some(c), .. }) => {
                c.taken = true;
                Some(c.cur.clone())
            }
            _ => None,
        }
    }

    /// HTTP/1.1: binds the next request to the connection.
    pub fn bind_h1(&self, b: Binding) {
        if let TapInner::H1(s) = &mut *self.inner.lock().unwrap() {
            *s = H1State { bound: Some(b), ..H1State::default() };
        }
    }

    /// HTTP/1.1: the request is over; stop attributing bytes to it.
    pub fn unbind_h1(&self) {
        if let TapInner::H1(s) = &mut *self.inner.lock().unwrap() {
            s.bound = None;
        }
    }

    /// HTTP/2: queues `b` for the next new stream and runs `submit` (which must hand the
    /// request to the connection) under the same lock, so queue order is submission order.
    pub fn submit_h2<R>(&self, b: Binding, submit: impl FnOnce() -> R) -> R {
        let mut g = self.inner.lock().unwrap();
        if let TapInner::H2(s) = &mut *g {
            s.pending.push_back(b);
        }
        submit()
    }

    /// HTTP/2: forgets a request that never got a stream (or whose stream ended abnormally).
    pub fn forget_h2(&self, trace: &Arc<Trace>) {
        if let TapInner::H2(s) = &mut *self.inner.lock().unwrap() {
            s.pending.retain(|b| !Arc::ptr_eq(&b.trace, trace));
            s.streams.retain(|_, st| !Arc::ptr_eq(&st.binding.trace, trace));
        }
    }

    /// HTTP/2: whether the server sent GOAWAY on this connection.
    pub fn saw_goaway(&self) -> bool {
        matches!(&*self.inner.lock().unwrap(), TapInner::H2(s) if s.goaway)
    }

    /// Bytes written to the socket so far (0 without kernel stamps).
    fn socket_written(&self) -> u64 {
        self.stamps.as_deref().map_or(0, SocketStamps::written)
    }

    /// `bytes` were written; the socket had had `before` bytes written before that write.
    fn on_write(&self, bytes: &[u8], before: u64) {
        // The kernel's transmit stamp of this write's last byte, if the write reached the
        // socket (TLS may hold it back) and the kernel has given the stamp already: every
        // event of this write is stamped with it (its bytes left together).
        let sent = self.stamps.as_deref().filter(|s| s.written() > before).and_then(SocketStamps::sent);
        match &mut *self.inner.lock().unwrap() {
            TapInner::H1(s) => s.on_write(self.conn, sent, bytes),
            TapInner::H2(s) => s.on_write(self.conn, sent, bytes),
        }
    }

    fn on_read(&self, bytes: &[u8]) {
        match &mut *self.inner.lock().unwrap() {
            TapInner::H1(H1State { cycle: Some(c), .. }) => {
                if c.cur.started.is_some() && c.cur.first_read.is_none() && !bytes.is_empty() {
                    c.cur.first_read = Some(Instant::now());
                    c.cur.first_read_kernel = self.stamps.as_deref().and_then(SocketStamps::received);
                }
            }
            TapInner::H1(s) => {
                if let Some(b) = &s.bound {
                    if !s.first_byte_seen && s.in_body {
                        s.first_byte_seen = true;
                        let (at, clock) = first_byte_at(&b.trace, self.stamps.as_deref(), s.written_at);
                        b.trace.emit_at(at, b.hop, Some(self.conn), EventKind::GotFirstResponseByte { clock });
                    }
                }
            }
            TapInner::H2(s) => s.on_read(self.conn, self.stamps.as_deref(), bytes),
        }
    }
}

/// What a [`TapShared::cycles`] tap saw of one HTTP/1.1 request on its connection: instants
/// stamped as the bytes moved.
#[derive(Debug, Clone, Default)]
pub struct Cycle {
    /// The request's first byte was written.
    pub started: Option<Instant>,
    /// The header lines (name, value as written), each with the instant of the write that
    /// carried it (only if the tap keeps fields).
    pub fields: Vec<(Instant, String, String)>,
    /// The head's last byte (the blank line) was written.
    pub head_done: Option<Instant>,
    /// Bytes written after the head (the body, as framed on the wire).
    pub body_bytes: u64,
    /// The last write so far.
    pub last_write: Option<Instant>,
    /// The first byte of the response was read.
    pub first_read: Option<Instant>,
    /// The kernel's transmit stamp (ns since the Unix epoch) of the write that ended the head,
    /// when the socket gives them and had reported it by then.
    pub head_done_kernel: Option<u64>,
    /// The kernel's transmit stamp of the last write so far, likewise.
    pub last_write_kernel: Option<u64>,
    /// The kernel's receive stamp of the segment the first read took, likewise.
    pub first_read_kernel: Option<u64>,
}

/// A [`Cycle`] being recorded, and the head parser's state.
#[derive(Default)]
struct CycleState {
    fields: bool,
    cur: Cycle,
    /// The request took `cur`: the next write starts a new cycle.
    taken: bool,
    line: Vec<u8>,
    request_line_done: bool,
    in_body: bool,
}

impl CycleState {
    fn on_write(&mut self, mut bytes: &[u8], sent: Option<u64>) {
        if bytes.is_empty() {
            return;
        }
        let now = Instant::now();
        if self.taken {
            *self = CycleState { fields: self.fields, line: std::mem::take(&mut self.line), ..CycleState::default() };
            self.line.clear();
        }
        self.cur.started.get_or_insert(now);
        self.cur.last_write = Some(now);
        self.cur.last_write_kernel = sent;
        while !bytes.is_empty() {
            if self.in_body {
                self.cur.body_bytes += bytes.len() as u64;
                return;
            }
            let nl = memchr::memchr(b'\n', bytes);
            self.line.extend_from_slice(&bytes[..nl.unwrap_or(bytes.len())]);
            let Some(nl) = nl else { return };
            bytes = &bytes[nl + 1..];
            let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
            if !self.request_line_done {
                self.request_line_done = true;
            } else if line.is_empty() {
                self.cur.head_done = Some(now);
                self.cur.head_done_kernel = sent;
                self.in_body = true;
            } else if self.fields {
                let text = String::from_utf8_lossy(line);
                let (name, value) = text.split_once(':').unwrap_or((&text, ""));
                self.cur.fields.push((now, name.to_string(), value.trim().to_string()));
            }
            self.line.clear();
        }
    }
}

#[derive(Default)]
struct H1State {
    /// `Some` on a [`TapShared::cycles`] tap (then nothing is ever bound).
    cycle: Option<Box<CycleState>>,
    bound: Option<Binding>,
    line: Vec<u8>,
    /// Whether the current line is so far empty (0), a lone `\r` (1) or has content (2): all
    /// the tap needs of a line when no one records header fields (then it copies nothing).
    line_state: u8,
    request_line_done: bool,
    in_body: bool,
    done: bool,
    body_written: u64,
    first_byte_seen: bool,
    /// When the request's first byte was written (ns into its trace).
    written_at: Option<u64>,
}

impl H1State {
    fn on_write(&mut self, conn: u64, sent: Option<u64>, mut bytes: &[u8]) {
        if let Some(c) = &mut self.cycle {
            return c.on_write(bytes, sent);
        }
        let Some(b) = &self.bound else { return };
        let (at, clock) = sent_at(&b.trace, sent);
        self.written_at.get_or_insert(at);
        let emit = |kind| b.trace.emit_at(at, b.hop, Some(conn), kind);
        let fields = b.trace.records(kind::WROTE_HEADER_FIELD);
        while !bytes.is_empty() && !self.done {
            if self.in_body {
                let left = b.body_len - self.body_written;
                let take = left.min(bytes.len() as u64);
                self.body_written += take;
                bytes = &bytes[take as usize..];
                if self.body_written >= b.body_len {
                    self.done = true;
                    emit(EventKind::WroteRequest { body_bytes: self.body_written, error: None, clock });
                }
                continue;
            }
            let nl = memchr::memchr(b'\n', bytes);
            let seg = &bytes[..nl.unwrap_or(bytes.len())];
            if fields {
                self.line.extend_from_slice(seg);
            }
            for &c in seg.iter().take(2) {
                self.line_state = if self.line_state == 0 && c == b'\r' { 1 } else { 2 };
            }
            let Some(nl) = nl else { return };
            let empty = self.line_state < 2;
            self.line_state = 0;
            bytes = &bytes[nl + 1..];
            // The line buffer is reused from line to line (no allocation per header).
            let buf = std::mem::take(&mut self.line);
            let line = buf.strip_suffix(b"\r").unwrap_or(&buf);
            if !self.request_line_done {
                self.request_line_done = true;
            } else if empty {
                emit(EventKind::WroteHeaders { clock });
                if b.expect_continue {
                    emit(EventKind::Wait100Continue {});
                }
                self.in_body = true;
                if b.body_len == 0 {
                    self.done = true;
                    emit(EventKind::WroteRequest { body_bytes: 0, error: None, clock });
                }
            } else if fields {
                let text = String::from_utf8_lossy(line);
                let (name, value) = text.split_once(':').unwrap_or((&text, ""));
                let value =
                    if b.redact.iter().any(|r| name.eq_ignore_ascii_case(r)) { "[redacted]".to_string() } else { value.trim().to_string() };
                emit(EventKind::WroteHeaderField { name: name.to_string(), value });
            }
            self.line = buf;
            self.line.clear();
        }
    }
}

const PREFACE_LEN: usize = 24;
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// Incremental HTTP/2 frame splitter over one direction of the byte stream.
#[derive(Default)]
struct FrameCursor {
    skip: usize,
    header: [u8; 9],
    header_len: usize,
    payload_left: usize,
    current: Option<FrameHead>,
}

#[derive(Clone, Copy)]
struct FrameHead {
    kind: u8,
    flags: u8,
    stream: u32,
}

enum FrameEvent {
    Start(FrameHead),
    Payload(FrameHead, usize),
    End(FrameHead),
}

impl FrameCursor {
    fn feed(&mut self, mut bytes: &[u8], mut f: impl FnMut(FrameEvent)) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            match self.current {
                None => {
                    let n = (9 - self.header_len).min(bytes.len());
                    self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
                    self.header_len += n;
                    bytes = &bytes[n..];
                    if self.header_len == 9 {
                        let h = self.header;
                        let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                        let head =
                            FrameHead { kind: h[3], flags: h[4], stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff };
                        self.header_len = 0;
                        self.payload_left = len;
                        f(FrameEvent::Start(head));
                        if len == 0 {
                            f(FrameEvent::End(head));
                        } else {
                            self.current = Some(head);
                        }
                    }
                }
                Some(head) => {
                    let n = self.payload_left.min(bytes.len());
                    self.payload_left -= n;
                    bytes = &bytes[n..];
                    f(FrameEvent::Payload(head, n));
                    if self.payload_left == 0 {
                        self.current = None;
                        f(FrameEvent::End(head));
                    }
                }
            }
        }
    }
}

struct StreamState {
    binding: Binding,
    end_stream_after_headers: bool,
    body_written: u64,
    first_byte_seen: bool,
    /// When the stream's first HEADERS frame was written (ns into the request's trace).
    written_at: u64,
}

struct H2State {
    pending: VecDeque<Binding>,
    streams: HashMap<u32, StreamState>,
    last_stream: u32,
    goaway: bool,
    write: FrameCursor,
    read: FrameCursor,
}

impl Default for H2State {
    fn default() -> Self {
        H2State {
            pending: VecDeque::new(),
            streams: HashMap::new(),
            last_stream: 0,
            goaway: false,
            write: FrameCursor { skip: PREFACE_LEN, ..FrameCursor::default() },
            read: FrameCursor::default(),
        }
    }
}

impl H2State {
    fn on_write(&mut self, conn: u64, sent: Option<u64>, bytes: &[u8]) {
        let H2State { pending, streams, last_stream, write, .. } = self;
        write.feed(bytes, |ev| match ev {
            FrameEvent::Start(h) if h.kind == HEADERS && h.stream % 2 == 1 && h.stream > *last_stream => {
                *last_stream = h.stream;
                if let Some(binding) = pending.pop_front() {
                    // The kernel's stamp when it has one: a response may arrive before the
                    // engine gets back from the write.
                    let (written_at, _) = sent_at(&binding.trace, sent);
                    let st = StreamState { binding, end_stream_after_headers: false, body_written: 0, first_byte_seen: false, written_at };
                    streams.insert(h.stream, st);
                }
            }
            FrameEvent::Payload(h, n) if h.kind == DATA => {
                if let Some(st) = streams.get_mut(&h.stream) {
                    st.body_written += n as u64;
                }
            }
            FrameEvent::End(h) => {
                let Some(st) = streams.get_mut(&h.stream) else { return };
                let b = &st.binding;
                let (at, clock) = sent_at(&b.trace, sent);
                let emit = |kind| b.trace.emit_at(at, b.hop, Some(conn), kind);
                match h.kind {
                    HEADERS | CONTINUATION => {
                        if h.kind == HEADERS && h.flags & END_STREAM != 0 {
                            st.end_stream_after_headers = true;
                        }
                        if h.flags & END_HEADERS != 0 {
                            for (name, value) in &b.h2_fields {
                                emit(EventKind::WroteHeaderField { name: name.clone(), value: value.clone() });
                            }
                            emit(EventKind::WroteHeaders { clock });
                            if st.end_stream_after_headers {
                                emit(EventKind::WroteRequest { body_bytes: st.body_written, error: None, clock });
                            }
                        }
                    }
                    DATA if h.flags & END_STREAM != 0 => {
                        emit(EventKind::WroteRequest { body_bytes: st.body_written, error: None, clock });
                    }
                    _ => {}
                }
            }
            _ => {}
        });
    }

    fn on_read(&mut self, conn: u64, rx: Option<&SocketStamps>, bytes: &[u8]) {
        let H2State { streams, read, goaway, .. } = self;
        read.feed(bytes, |ev| match ev {
            FrameEvent::Start(h) if h.kind == GOAWAY => *goaway = true,
            FrameEvent::Start(h) if h.kind == HEADERS => {
                if let Some(st) = streams.get_mut(&h.stream) {
                    if !st.first_byte_seen {
                        st.first_byte_seen = true;
                        let b = &st.binding;
                        let (at, clock) = first_byte_at(&b.trace, rx, Some(st.written_at));
                        b.trace.emit_at(at, b.hop, Some(conn), EventKind::GotFirstResponseByte { clock });
                    }
                }
            }
            FrameEvent::End(h) if (h.kind == DATA || h.kind == HEADERS) && h.flags & END_STREAM != 0 || h.kind == RST_STREAM => {
                streams.remove(&h.stream);
            }
            _ => {}
        });
    }
}

/// When a response's first byte arrived, in ns into `trace`: the kernel's receive stamp of the
/// last segment read (`rx`), converted with the trace's one wall-clock reading, when it falls
/// after the request's first byte was written (`written_at`; an older stamp belongs to an
/// earlier response) and not after now; else now. The client's lag (now − the kernel's stamp)
/// goes to the trace. With the clock the instant came from.
fn first_byte_at(trace: &Trace, rx: Option<&SocketStamps>, written_at: Option<u64>) -> (u64, StampClock) {
    let now = trace.now_ns();
    let kernel = rx.and_then(SocketStamps::received).and_then(|unix_ns| trace.ns_at_unix(unix_ns));
    match (kernel, written_at) {
        (Some(at), Some(written)) if at >= written && at <= now => {
            trace.note_client_lag(now - at);
            (at, StampClock::Kernel)
        }
        _ => (now, StampClock::Engine),
    }
}

/// When the bytes of the current write left, in ns into `trace`: the kernel's transmit stamp of
/// the write's last byte (`sent`, ns since the Unix epoch), converted with the trace's one
/// wall-clock reading, when it is not after now; else now. With the clock the instant came
/// from.
fn sent_at(trace: &Trace, sent: Option<u64>) -> (u64, StampClock) {
    let now = trace.now_ns();
    match sent.and_then(|unix_ns| trace.ns_at_unix(unix_ns)).filter(|&at| at <= now) {
        Some(at) => {
            trace.note_kernel_sent();
            (at, StampClock::Kernel)
        }
        None => (now, StampClock::Engine),
    }
}

/// The IO wrapper: passes bytes through and tells its [`TapShared`] what moved.
pub struct Tap<S> {
    io: S,
    shared: Arc<TapShared>,
}

impl<S> Tap<S> {
    /// Wraps `io`.
    pub fn new(io: S, shared: Arc<TapShared>) -> Tap<S> {
        Tap { io, shared }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let got = &buf.filled()[before..];
            if !got.is_empty() {
                self.shared.on_read(got);
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let before = self.shared.socket_written();
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.shared.on_write(&buf[..n], before);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn names(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| match &e.kind {
                EventKind::WroteHeaderField { name, value } => format!("{name}={value}"),
                k => k.name().to_string(),
            })
            .collect()
    }

    #[test]
    fn h1_head_split_across_writes_gives_fields_in_order() {
        let trace = Trace::start();
        let tap = TapShared::new(7, false);
        tap.bind_h1(Binding {
            trace: trace.clone(),
            hop: 0,
            body_len: 3,
            expect_continue: false,
            h2_fields: vec![],
            redact: &["authorization"],
        });
        for chunk in ["POST / HTTP/1.1\r\nhost: a\r", "\nauthorization: Bearer x\r\n\r\nab", "c"] {
            tap.on_write(chunk.as_bytes(), 0);
        }
        tap.on_read(b"HTTP/1.1 200 OK\r\n");
        tap.on_read(b"more");
        let ev = trace.take_events();
        assert_eq!(names(&ev), ["host=a", "authorization=[redacted]", "wrote-headers", "wrote-request", "got-first-response-byte"]);
        assert!(ev.iter().all(|e| e.conn == Some(7)));
    }

    #[test]
    fn h1_cycles_record_each_request_whatever_the_split() {
        let tap = TapShared::cycles(9, true, None);
        let head = b"GET /a HTTP/1.1\r\nhost: h\r\nx-long: v v\r\n\r\n";
        for (round, split) in [1usize, 7, 20, head.len()].into_iter().enumerate() {
            assert!(tap.take_cycle().is_some());
            for chunk in head.chunks(split) {
                tap.on_write(chunk, 0);
            }
            tap.on_write(b"body!", 0);
            tap.on_read(b"HTTP/1.1 200 OK\r\n");
            tap.on_read(b"more");
            let c = tap.take_cycle().unwrap();
            let fields: Vec<(&str, &str)> = c.fields.iter().map(|(_, n, v)| (n.as_str(), v.as_str())).collect();
            assert_eq!(fields, [("host", "h"), ("x-long", "v v")], "round {round}");
            assert_eq!(c.body_bytes, 5, "round {round}");
            let (s, h, w, r) = (c.started.unwrap(), c.head_done.unwrap(), c.last_write.unwrap(), c.first_read.unwrap());
            assert!(s <= h && h <= w && w <= r, "round {round}");
        }
        // Without fields kept, the head's end is still found.
        let quiet = TapShared::cycles(9, false, None);
        quiet.on_write(head, 0);
        let c = quiet.take_cycle().unwrap();
        assert!(c.fields.is_empty() && c.head_done.is_some() && c.first_read.is_none());
    }

    #[test]
    fn h1_head_end_is_found_without_fields_whatever_the_split() {
        // Not recording header fields, the tap copies no line; it must still find the blank
        // line wherever the writes split it, and not take a lone `\r` line for content.
        let mut full = crate::event::KindSet::default();
        full.insert(kind::WROTE_HEADERS);
        full.insert(kind::WROTE_REQUEST);
        let head = "POST / HTTP/1.1\r\nhost: a\r\nx: \r\r\n\r\nabc";
        for split in 0..head.len() {
            for second in split..head.len() {
                let trace = Trace::recording_at(std::time::Instant::now(), full);
                let tap = TapShared::new(1, false);
                tap.bind_h1(Binding { trace: trace.clone(), hop: 0, body_len: 3, expect_continue: false, h2_fields: vec![], redact: &[] });
                for chunk in [&head[..split], &head[split..second], &head[second..]] {
                    tap.on_write(chunk.as_bytes(), 0);
                }
                let ev = trace.take_events();
                assert_eq!(names(&ev), ["wrote-headers", "wrote-request"], "split at {split} and {second}");
                assert!(matches!(ev[1].kind, EventKind::WroteRequest { body_bytes: 3, .. }));
            }
        }
    }

    fn frame(kind: u8, flags: u8, stream: u32, len: usize) -> Vec<u8> {
        let mut v = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        v.extend(stream.to_be_bytes());
        v.extend(std::iter::repeat_n(0u8, len));
        v
    }

    #[test]
    fn h2_frames_map_to_requests_in_submission_order() {
        let (a, b) = (Trace::start(), Trace::start());
        let tap = TapShared::new(1, true);
        let bind = |t: &Arc<Trace>| Binding {
            trace: t.clone(),
            hop: 0,
            body_len: 0,
            expect_continue: false,
            h2_fields: vec![(":method".into(), "GET".into())],
            redact: &[],
        };
        tap.submit_h2(bind(&a), || ());
        tap.submit_h2(bind(&b), || ());
        let mut w = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        w.extend(frame(0x4, 0, 0, 6)); // SETTINGS
        w.extend(frame(HEADERS, END_HEADERS | END_STREAM, 1, 5));
        w.extend(frame(HEADERS, 0, 3, 5));
        w.extend(frame(CONTINUATION, END_HEADERS, 3, 2));
        w.extend(frame(DATA, END_STREAM, 3, 4));
        for c in w.chunks(7) {
            tap.on_write(c, 0);
        }
        tap.on_read(&frame(HEADERS, END_HEADERS, 3, 3));
        assert_eq!(names(&a.take_events()), [":method=GET", "wrote-headers", "wrote-request"]);
        let eb = b.take_events();
        assert_eq!(names(&eb), [":method=GET", "wrote-headers", "wrote-request", "got-first-response-byte"]);
        assert!(matches!(eb[2].kind, EventKind::WroteRequest { body_bytes: 4, .. }));
    }
}
