//! TCP connect with Happy Eyeballs (RFC 8305): address families interleaved, attempts
//! staggered, the first success wins, the others are cancelled. Every attempt gets its own
//! connect-start / connect-done pair.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::event::{EventKind, FailureKind, Phase, TraceError};
use crate::trace::Trace;

/// Delay before starting the next attempt while one is pending (RFC 8305 recommends 250 ms).
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Orders addresses for Happy Eyeballs: alternate families, starting with the first address's.
pub fn interleave(addrs: &[IpAddr]) -> Vec<IpAddr> {
    let Some(first) = addrs.first() else { return Vec::new() };
    let (mut same, mut other): (Vec<IpAddr>, Vec<IpAddr>) = addrs.iter().partition(|a| a.is_ipv6() == first.is_ipv6());
    same.reverse();
    other.reverse();
    let mut out = Vec::with_capacity(addrs.len());
    while !same.is_empty() || !other.is_empty() {
        out.extend(same.pop());
        out.extend(other.pop());
    }
    out
}

/// Connects to one of `addrs` on `port`, racing attempts per Happy Eyeballs; `proxy` names the
/// proxy in the events when these are its addresses.
pub async fn connect(trace: &Trace, conn: u64, addrs: &[IpAddr], port: u16, proxy: Option<&str>) -> Result<TcpStream, TraceError> {
    let order: Vec<SocketAddr> = interleave(addrs).into_iter().map(|ip| SocketAddr::new(ip, port)).collect();
    if order.is_empty() {
        return Err(connect_error(FailureKind::NoAddress, "no address to connect to".into()));
    }
    let mut next = 0;
    let mut pending: JoinSet<(SocketAddr, u64, io::Result<TcpStream>)> = JoinSet::new();
    let mut in_flight: Vec<SocketAddr> = Vec::new();
    let mut last_error: Option<TraceError> = None;
    let tcp = || "tcp".to_string();
    let proxy = || proxy.map(str::to_string);

    loop {
        if next < order.len() && (in_flight.is_empty() || pending.is_empty()) {
            let addr = order[next];
            next += 1;
            trace.emit(Some(conn), EventKind::ConnectStart { network: tcp(), addr: addr.into(), proxy: proxy() });
            in_flight.push(addr);
            let origin = trace.origin();
            pending.spawn(async move {
                let r = TcpStream::connect(addr).await;
                (addr, origin.elapsed().as_nanos() as u64, r)
            });
        }
        let more = next < order.len();
        let joined = if more {
            tokio::select! {
                j = pending.join_next() => j,
                _ = tokio::time::sleep(ATTEMPT_DELAY) => {
                    // The pending attempt is slow: start the next one beside it.
                    let addr = order[next];
                    next += 1;
                    trace.emit(Some(conn), EventKind::ConnectStart { network: tcp(), addr: addr.into(), proxy: proxy() });
                    in_flight.push(addr);
                    let origin = trace.origin();
                    pending.spawn(async move {
                        let r = TcpStream::connect(addr).await;
                        (addr, origin.elapsed().as_nanos() as u64, r)
                    });
                    continue;
                }
            }
        } else {
            pending.join_next().await
        };
        let Some(joined) = joined else {
            // Nothing pending and nothing left to try.
            return Err(last_error.unwrap_or_else(|| connect_error(FailureKind::Failed, "every connect attempt failed".into())));
        };
        let (addr, at, result) = match joined {
            Ok(v) => v,
            Err(e) => return Err(connect_error(FailureKind::Failed, format!("connect task failed: {e}"))),
        };
        in_flight.retain(|a| *a != addr);
        match result {
            Ok(stream) => {
                trace.emit_at(
                    at,
                    trace.hop(),
                    Some(conn),
                    EventKind::ConnectDone { network: tcp(), addr: addr.into(), cancelled: false, error: None, proxy: proxy() },
                );
                pending.abort_all();
                for loser in in_flight.drain(..) {
                    trace.emit(
                        Some(conn),
                        EventKind::ConnectDone {
                            network: tcp(),
                            addr: loser.into(),
                            cancelled: true,
                            error: Some(connect_error(FailureKind::Cancelled, format!("{addr} connected first"))),
                            proxy: proxy(),
                        },
                    );
                }
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => {
                let err = classify(addr, &e);
                trace.emit_at(
                    at,
                    trace.hop(),
                    Some(conn),
                    EventKind::ConnectDone {
                        network: tcp(),
                        addr: addr.into(),
                        cancelled: false,
                        error: Some(err.clone()),
                        proxy: proxy(),
                    },
                );
                last_error = Some(err);
                if pending.is_empty() && next >= order.len() {
                    return Err(last_error.unwrap());
                }
            }
        }
    }
}

fn classify(addr: SocketAddr, e: &io::Error) -> TraceError {
    let kind = match e.kind() {
        io::ErrorKind::ConnectionRefused => FailureKind::Refused,
        io::ErrorKind::TimedOut => FailureKind::Timeout,
        io::ErrorKind::HostUnreachable => FailureKind::HostUnreachable,
        io::ErrorKind::NetworkUnreachable => FailureKind::NetworkUnreachable,
        io::ErrorKind::AddrNotAvailable => FailureKind::AddressNotAvailable,
        _ => FailureKind::Failed,
    };
    connect_error(kind, format!("failed to connect to {addr}: {e}"))
}

fn connect_error(kind: FailureKind, message: String) -> TraceError {
    TraceError::new(Phase::Connect, kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaves_families_starting_with_the_first() {
        let a: Vec<IpAddr> = ["::1", "::2", "10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().map(|s| s.parse().unwrap()).collect();
        let got: Vec<String> = interleave(&a).iter().map(|a| a.to_string()).collect();
        assert_eq!(got, ["::1", "10.0.0.1", "::2", "10.0.0.2", "10.0.0.3"]);
    }
}
