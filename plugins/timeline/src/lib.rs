//! `timeline`, the default output: for each request and each of its hops, what happened and
//! how long it took, in the shape of httpstat.
//!
//! ```text
//! GET https://example.com/
//!   Connected to 93.184.215.14:443 from 10.0.0.2:50412 (h2, new connection #1)
//!   TLS TLSv1.3, TLS13_AES_256_GCM_SHA384, ALPN h2
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
//! Takes no configuration; keeps every event.

mod paint;
mod render;
mod waterfall;

use std::collections::HashMap;

use httptrace_guest::{color, emit, Config, Event, EventKind, EventType, Interest, Plugin, Verdict};

/// Per request id: its events so far (of the kinds in `interest`).
#[derive(Default)]
struct Timeline {
    pending: HashMap<u64, Vec<Event>>,
}

impl Plugin for Timeline {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&[])?;
        Ok(Timeline::default())
    }

    fn interest(&self) -> Interest {
        Interest::of(&[
            EventType::RequestStart,
            EventType::DnsDone,
            EventType::ConnectDone,
            EventType::TlsHandshakeDone,
            EventType::GotConn,
            EventType::WroteRequest,
            EventType::GotFirstResponseByte,
            EventType::ResponseHeaders,
            EventType::ResponseDone,
            EventType::Redirect,
            EventType::RequestDone,
        ])
    }

    fn on_events(&mut self, evs: &[Event]) -> Vec<Verdict> {
        let mut out = String::new();
        for ev in evs {
            if let EventKind::RequestDone(done) = &ev.kind {
                let events = self.pending.remove(&ev.request).unwrap_or_default();
                out.push_str(&render::request(&events, done, paint::Paint(color())));
            } else {
                self.pending.entry(ev.request).or_default().push(ev.clone());
            }
        }
        if !out.is_empty() {
            emit(&out);
        }
        vec![Verdict::Keep; evs.len()]
    }
}

httptrace_guest::export_plugin!(Timeline);
