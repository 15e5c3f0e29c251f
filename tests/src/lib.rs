//! Shared support for the end-to-end tests: real servers on loopback.

pub mod dns;
pub mod fuzz;

/// Starts the local target server (`httptrace serve`) with default options: loopback, free
/// ports, certificate in a fresh temp dir. Panics if it cannot start.
pub async fn start_serve() -> httptrace::serve::ServeHandle {
    httptrace::serve::start(httptrace::serve::ServeOptions::default()).await.expect("starting httptrace serve")
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
pub fn trusting(serve: &httptrace::serve::ServeHandle) -> ClientOptions {
    ClientOptions { cacert: Some(serve.cert_path.clone()), ..ClientOptions::default() }
}

/// The `httptrace` binary of this build: `target/<profile>/httptrace`, next to the `deps`
/// directory the test executable runs from. `cargo test --workspace` builds it (cargo builds
/// the binaries of every selected package before running tests); with `-p httptrace-tests`
/// alone it may be missing or stale, so this panics with the fix when it is missing.
pub fn httptrace_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
    let bin = dir.join(format!("httptrace{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "{} is missing: run `cargo build -p httptrace` first, or test with `cargo test --workspace`", bin.display());
    bin
}
