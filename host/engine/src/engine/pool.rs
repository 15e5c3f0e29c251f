//! The connection pool, keyed by scheme + host + port: idle HTTP/1.1 connections, one shared
//! HTTP/2 (or HTTP/3) connection per key. Emits get-conn, got-conn and put-idle-conn.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::dial::{dial, Conn, Sender};

use super::exchange::Reuse;
use super::{Shared, Target};
use crate::event::{kind, EventKind, FailureKind, Phase, TraceError};
use crate::trace::Trace;

/// How long a returning HTTP/1.1 connection may take to become ready again.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Entry {
    idle: Vec<Conn>,
    h2: Option<H2Shared>,
    /// The server spoke HTTP/1.1 here: concurrent requests dial in parallel.
    known_h1: bool,
    dial_lock: Arc<tokio::sync::Mutex<()>>,
}

struct H2Shared {
    conn: Conn,
    streams: Arc<Mutex<Streams>>,
}

/// The requests an HTTP/2 connection carries now, and since when it has carried none (Go's
/// idle time for a reused HTTP/2 connection).
#[derive(Default)]
struct Streams {
    open: usize,
    idle_since: Option<Instant>,
}

/// A request's hold on a shared HTTP/2 connection: while it lives the connection is busy; the
/// last one dropped marks it idle from then.
pub struct StreamLease(Arc<Mutex<Streams>>);

impl Drop for StreamLease {
    fn drop(&mut self) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.open = s.open.saturating_sub(1);
        if s.open == 0 {
            s.idle_since = Some(Instant::now());
        }
    }
}

impl H2Shared {
    /// Shares the connection with one more request: its idle time, if it had no open stream.
    fn lease(&self) -> Option<Conn> {
        if !self.conn.is_usable() {
            return None;
        }
        Some(self.share())
    }

    /// [`lease`](H2Shared::lease) without the check (the dialing request's own lease).
    fn share(&self) -> Conn {
        let sender = match &self.conn.sender {
            Sender::H2(s) => Sender::H2(s.clone()),
            Sender::H3 { send, quic, idle } => Sender::H3 { send: send.clone(), quic: quic.clone(), idle: *idle },
            Sender::H1(_) => unreachable!("an HTTP/1.1 connection is never shared"),
        };
        let idle_since = {
            let mut st = self.streams.lock().unwrap_or_else(|p| p.into_inner());
            st.open += 1;
            if st.open == 1 {
                st.idle_since.take()
            } else {
                None
            }
        };
        Conn {
            id: self.conn.id,
            local: self.conn.local.clone(),
            remote: self.conn.remote.clone(),
            tap: self.conn.tap.clone(),
            sender,
            idle_since,
            stream: Some(StreamLease(self.streams.clone())),
            home: self.conn.home,
            forward: self.conn.forward.clone(),
            reused: true,
        }
    }
}

/// The pool.
#[derive(Default)]
pub struct Pool {
    /// By target. Fx, not SipHash: every request looks its target up twice (take and put),
    /// and SipHash over the target's seven fields cost ~800 instructions a lookup.
    entries: Mutex<FxHashMap<Target, Entry>>,
}

impl Pool {
    /// Takes a pooled connection or dials a new one (always a new one when `fresh`), emitting
    /// get-conn and got-conn.
    pub async fn get(&self, shared: &Shared, trace: &Arc<Trace>, target: &Target, fresh: bool) -> Result<Conn, TraceError> {
        // Emitted for the hop's record even when no one reads it: the text only if asked.
        let host_port = if trace.records(kind::GET_CONN) { target.host_port() } else { String::new() };
        trace.emit(None, EventKind::GetConn { host_port });
        let keep_alive = shared.opts.keep_alive && !fresh;
        if keep_alive {
            if let Some(c) = self.take_ready(target).await {
                return Ok(got(trace, c, true));
            }
        }
        let lock = (keep_alive)
            .then(|| {
                let mut map = self.entries.lock().unwrap();
                let e = map.entry(target.clone()).or_default();
                let may_share = !e.known_h1 && target.may_be_h2(shared.opts.http);
                may_share.then(|| e.dial_lock.clone())
            })
            .flatten();
        // Requests that may share one HTTP/2 connection wait for the first one's dial.
        let _guard = match &lock {
            Some(l) => {
                let g = l.clone().lock_owned().await;
                if let Some(c) = self.take_ready(target).await {
                    return Ok(got(trace, c, true));
                }
                Some(g)
            }
            None => None,
        };
        // Boxed: dialing (DNS, TCP, TLS, handshake) is a large future and rare once the pool is
        // warm; inline, it made every request's future ~8 KB, copied a few times per request.
        let dialing = Box::pin(dial(shared, trace, target));
        let conn = match shared.opts.connect_timeout {
            Some(limit) => match tokio::time::timeout(limit, dialing).await {
                Ok(r) => r?,
                Err(_) => return Err(timeout_error(trace, FailureKind::ConnectTimeout, limit)),
            },
            None => dialing.await?,
        };
        if !keep_alive {
            // A connection of its own, never shared or pooled: dropped after the request.
            return Ok(got(trace, conn, false));
        }
        let mut map = self.entries.lock().unwrap();
        let e = map.entry(target.clone()).or_default();
        match &conn.sender {
            Sender::H2(_) | Sender::H3 { .. } => {
                let shared = H2Shared { conn, streams: Arc::default() };
                let lease = shared.share();
                e.h2 = Some(shared);
                Ok(got(trace, lease, false))
            }
            Sender::H1(_) => {
                e.known_h1 = true;
                Ok(got(trace, conn, false))
            }
        }
    }

    /// A pooled connection that is ready for a request: the shared HTTP/2 one, or an idle
    /// HTTP/1.1 one (which went back to the pool as soon as its response was read, and is
    /// awaited here until hyper has finished with the previous exchange).
    async fn take_ready(&self, target: &Target) -> Option<Conn> {
        loop {
            let mut c = {
                let mut map = self.entries.lock().unwrap();
                let e = map.get_mut(target)?;
                if let Some(h2) = &e.h2 {
                    match h2.lease() {
                        Some(c) => return Some(c),
                        None => e.h2 = None,
                    }
                }
                // This thread's own connection if there is one (see `Conn::home`), else any.
                let here = std::thread::current().id();
                let i = e.idle.iter().rposition(|c| c.home == here).or(e.idle.len().checked_sub(1))?;
                e.idle.remove(i)
            };
            if let Sender::H1(s) = &mut c.sender {
                if s.is_closed() {
                    continue;
                }
                // Usually ready already: no timer then.
                if s.is_ready() {
                    return Some(c);
                }
                if let Ok(Ok(())) = tokio::time::timeout(READY_TIMEOUT, s.ready()).await {
                    return Some(c);
                }
            }
        }
    }

    /// Offers an HTTP/1.1 connection back after its response was read, emitting put-idle-conn
    /// (not when `reusable` says no: the response said `connection: close`, or the exchange
    /// failed). The connection goes back at once; the next user waits for it to be ready.
    pub fn put(&self, trace: &Trace, target: &Target, mut conn: Conn, hop: u32, reusable: Reuse, keep_alive: bool) {
        let Sender::H1(sender) = &conn.sender else { return };
        let closed = sender.is_closed();
        conn.tap.unbind_h1();
        // Go's rule: put-idle-conn only for a connection offered back to the pool (the exchange
        // ended cleanly and the server did not ask to close), its error saying why the pool
        // could not keep it; one that is not offered (failed, `connection: close`, body not
        // read) is closed without the event.
        let Reuse::Yes = reusable else { return };
        // Go's `errKeepAlivesDisabled` when the client keeps nothing.
        let error = if !keep_alive {
            Some("keep-alives disabled".to_string())
        } else {
            closed.then(|| "connection closed by the server".to_string())
        };
        let keep = error.is_none();
        let now = Instant::now();
        trace.emit_at(trace.ns_at(now), hop, Some(conn.id), EventKind::PutIdleConn { error });
        if keep {
            conn.idle_since = Some(now);
            let mut map = self.entries.lock().unwrap();
            match map.get_mut(target) {
                Some(e) => e.idle.push(conn),
                None => map.entry(target.clone()).or_default().idle.push(conn),
            }
        }
    }
}

fn got(trace: &Trace, mut conn: Conn, reused: bool) -> Conn {
    let now = Instant::now();
    // The hop's record keeps only `reused`: the text only if the event is kept.
    let protocol = if trace.records(kind::GOT_CONN) { conn.protocol().to_string() } else { String::new() };
    conn.reused = reused;
    let idle = conn.idle_since.take().map(|t| now.saturating_duration_since(t));
    trace.emit_at(
        trace.ns_at(now),
        trace.hop(),
        Some(conn.id),
        EventKind::GotConn {
            reused,
            was_idle: idle.is_some(),
            idle_ns: idle.map_or(0, |d| d.as_nanos() as u64),
            local_addr: conn.local.clone(),
            remote_addr: conn.remote.clone(),
            protocol,
        },
    );
    conn
}

/// A timeout error naming the phase that was running.
pub fn timeout_error(trace: &Trace, kind: FailureKind, limit: Duration) -> TraceError {
    let during = trace.phase();
    let message = format!("{kind} of {} ms reached during {}", limit.as_millis(), during.as_str());
    TraceError { phase: Phase::Timeout, kind, during: Some(during), message }
}
