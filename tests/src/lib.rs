//! Shared support for the end-to-end tests: real servers on loopback.

pub mod dns;
pub mod fuzz;
pub mod nginx;
pub mod otlp;
pub mod proxies;

/// Starts the local target server (`httptrace serve`) with default options: loopback, free
/// ports, certificate in a fresh temp dir. Panics if it cannot start.
pub async fn start_serve() -> httptrace_cli::serve::ServeHandle {
    httptrace_cli::serve::start(httptrace_cli::serve::ServeOptions::default()).await.expect("starting httptrace serve")
}

use std::sync::Arc;

use httptrace::trace::MemorySink;
use httptrace::{Client, ClientOptions, Event, EventKind, Outcome, RequestSpec};

/// Runs one request with a fresh client and returns its outcome and every event recorded.
pub async fn trace_one(opts: ClientOptions, url: &str) -> (Outcome, Vec<Event>) {
    let sink = MemorySink::new();
    let client = Client::new(opts, Arc::new(sink.clone())).expect("client");
    let outcome = client.execute(&RequestSpec::get(url).expect("url")).await;
    (outcome, sink.events())
}

/// The kind names of `events`, in order.
pub fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.name()).collect()
}

/// The `request-done` event's fields of the (single) request in `events`.
pub fn request_done(events: &[Event]) -> &EventKind {
    &events.iter().rev().find(|e| matches!(e.kind, EventKind::RequestDone { .. })).expect("a request-done event").kind
}

/// Client options trusting the local server's generated certificate.
pub fn trusting(serve: &httptrace_cli::serve::ServeHandle) -> ClientOptions {
    ClientOptions { cacert: Some(serve.cert_path.clone()), ..ClientOptions::default() }
}
