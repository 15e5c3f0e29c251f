//! The connection pool, keyed by scheme + host + port: idle HTTP/1.1 connections, one shared
//! HTTP/2 connection per key. Emits get-conn, got-conn and put-idle-conn.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
}

impl H2Shared {
    fn lease(&self) -> Option<Conn> {
        let Sender::H2(s) = &self.conn.sender else { return None };
        if !self.conn.is_usable() {
            return None;
        }
        Some(Conn {
            id: self.conn.id,
            local: self.conn.local,
            remote: self.conn.remote,
            tap: self.conn.tap.clone(),
            sender: Sender::H2(s.clone()),
            idle_since: None,
            home: self.conn.home,
        })
    }
}

/// The pool.
#[derive(Default)]
pub struct Pool {
    entries: Mutex<HashMap<Target, Entry>>,
}

impl Pool {
    /// Takes a pooled connection or dials a new one, emitting get-conn and got-conn.
    pub async fn get(&self, shared: &Shared, trace: &Arc<Trace>, target: &Target) -> Result<Conn, TraceError> {
        // Emitted for the hop's record even when no one reads it: the text only if asked.
        let host_port = if trace.records(kind::GET_CONN) { target.host_port() } else { String::new() };
        trace.emit(None, EventKind::GetConn { host_port });
        if let Some(c) = self.take_ready(target).await {
            return Ok(got(trace, c, true));
        }
        let lock = {
            let mut map = self.entries.lock().unwrap();
            let e = map.entry(target.clone()).or_default();
            let may_share = !e.known_h1 && target.may_be_h2(shared.opts.http);
            may_share.then(|| e.dial_lock.clone())
        };
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
        let mut map = self.entries.lock().unwrap();
        let e = map.entry(target.clone()).or_default();
        match &conn.sender {
            Sender::H2(s) => {
                let lease = Conn {
                    id: conn.id,
                    local: conn.local,
                    remote: conn.remote,
                    tap: conn.tap.clone(),
                    sender: Sender::H2(s.clone()),
                    idle_since: None,
                    home: conn.home,
                };
                e.h2 = Some(H2Shared { conn });
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

    /// Returns an HTTP/1.1 connection after its response was read, emitting put-idle-conn.
    /// `reusable` says no when the response said `connection: close` or was not fully read.
    /// The connection goes back at once; the next user waits for it to be ready.
    pub fn put(&self, trace: &Trace, target: &Target, mut conn: Conn, hop: u32, reusable: Reuse) {
        let Sender::H1(sender) = &conn.sender else { return };
        let closed = sender.is_closed();
        conn.tap.unbind_h1();
        let error = match reusable {
            Reuse::No(why) => Some(why.to_string()),
            Reuse::Yes if closed => Some("connection closed by the server".to_string()),
            Reuse::Yes => None,
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
    let idle = conn.idle_since.take().map(|t| now.saturating_duration_since(t));
    trace.emit_at(
        trace.ns_at(now),
        trace.hop(),
        Some(conn.id),
        EventKind::GotConn {
            reused,
            was_idle: idle.is_some(),
            idle_ns: idle.map_or(0, |d| d.as_nanos() as u64),
            local_addr: conn.local,
            remote_addr: conn.remote,
            protocol: conn.protocol().to_string(),
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
