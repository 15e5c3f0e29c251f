//! `timeline`, the default output: for each request and each of its hops, what happened and
//! how long it took, in the shape of httpstat.
//!
//! ```text
//! GET https://example.com/
//!   Connected to 93.184.215.14:443 from 10.0.0.2:50412 (h2, new connection #1)
//!   TLS TLSv1.3, TLS_AES_256_GCM_SHA384, X25519, ALPN h2
//!   Certificate CN=example.com, issued by CN=DigiCert Global G3, expires 2026-01-15T23:59:59Z (in 52 days)
//!   HTTP/2 200, 1256 bytes
//!
//!     DNS Lookup   TCP Connection   TLS Handshake   Server Processing   Content Transfer
//!   [  12.1 ms   |    20.3 ms     |    45.0 ms    |       101 ms      |     0.512 ms     ]
//!   ...cumulative curl marks under the bars...
//! ```
//!
//! A failed request shows the error (phase, kind, message) and the steps that were reached.
//! Events of a request arrive together, `request-done` last: the plugin buffers them and
//! prints the whole request at `request-done`. Colour only when the host's `color()` says so.
//! Keeps every event.
//!
//! Configuration: `headers=response` adds the status line (with its reason phrase) and the
//! response headers of each hop, as `curl -i` and httpstat show them (`httptrace -i`);
//! `headers=all` adds the request header fields as written, first (`httptrace -v`). Secret
//! values read as the events carry them (`[redacted]` unless `--show-secrets`).

mod paint;
mod render;
mod waterfall;

use std::collections::HashMap;

use httptrace_guest::{color, emit, Config, Event, EventKind, EventType, Interest, Plugin, Verdict};

/// Per request id: its events so far (of the kinds in `interest`).
#[derive(Default)]
struct Timeline {
    pending: HashMap<u64, Vec<Event>>,
    headers: render::Headers,
}

impl Plugin for Timeline {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&["headers"])?;
        let headers = match config.get("headers") {
            None | Some("none") => render::Headers::None,
            Some("response") => render::Headers::Response,
            Some("all") => render::Headers::All,
            Some(other) => return Err(format!("headers={other}: expected none, response or all")),
        };
        Ok(Timeline { headers, ..Timeline::default() })
    }

    fn interest(&self) -> Interest {
        let interest = Interest::of(&[
            EventType::RequestStart,
            EventType::DnsDone,
            EventType::ConnectDone,
            EventType::TlsHandshakeDone,
            EventType::QuicHandshakeDone,
            EventType::ProxyConnectDone,
            EventType::GotConn,
            EventType::WroteRequest,
            EventType::GotFirstResponseByte,
            EventType::ResponseHeaders,
            EventType::ResponseDone,
            EventType::Redirect,
            EventType::RequestDone,
        ]);
        if self.headers == render::Headers::All {
            interest.with(EventType::WroteHeaderField)
        } else {
            interest
        }
    }

    fn on_events(&mut self, evs: &[Event]) -> Vec<Verdict> {
        // The host hands over whole requests, so a request is rendered from references into
        // this batch, without copying its events; only a request whose events began in an
        // earlier batch (a host that splits requests) goes through the `pending` buffer.
        let paint = paint::Paint(color());
        // Room for the batch's text at once (a one-hop request without headers takes ~1 KB),
        // rather than growing (and copying) it request by request.
        let done = evs.iter().filter(|e| matches!(e.kind, EventKind::RequestDone(_))).count();
        let mut out = String::with_capacity(done * 1536);
        let mut open: Vec<(u64, Vec<&Event>)> = Vec::new();
        for ev in evs {
            let slot = match open.iter().position(|(r, _)| *r == ev.request) {
                Some(i) => i,
                None => {
                    open.push((ev.request, Vec::new()));
                    open.len() - 1
                }
            };
            if let EventKind::RequestDone(done) = &ev.kind {
                let (_, refs) = open.swap_remove(slot);
                let earlier = self.pending.remove(&ev.request).unwrap_or_default();
                render::request_into(&mut out, earlier.iter().chain(refs), done, self.headers, paint);
            } else {
                open[slot].1.push(ev);
            }
        }
        for (request, refs) in open {
            self.pending.entry(request).or_default().extend(refs.into_iter().cloned());
        }
        if !out.is_empty() {
            emit(&out);
        }
        vec![Verdict::Keep; evs.len()]
    }
}

httptrace_guest::export_plugin!(Timeline);
