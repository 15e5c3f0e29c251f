//! Trace HTTP(S) requests phase by phase: Go's `net/http/httptrace` for Rust, taken further.
//!
//! A [`Client`] makes requests (HTTP/1.1 and HTTP/2, over TLS or not, redirects, time limits)
//! and records every phase as an [`Event`] stamped where it happened on a monotonic clock: DNS,
//! each TCP connect attempt (Happy Eyeballs), the TLS handshake, every header field as it is
//! written, the first response byte, the body, reuse of pooled connections, and a summary per
//! request and per hop (HAR timings, curl's `--write-out` marks) in `request-done`. A failed
//! request still reports every event up to the failure.
//!
//! Events go to a [`Sink`](trace::Sink) in one batch per request, after the request ends, so
//! no consumer work runs inside a measured phase.
//!
//! ```no_run
//! use std::sync::Arc;
//! use httptrace::trace::MemorySink;
//! use httptrace::{Client, ClientOptions, RequestSpec};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let sink = MemorySink::new();
//! let client = Client::new(ClientOptions::default(), Arc::new(sink.clone())).unwrap();
//! let outcome = client.execute(&RequestSpec::get("https://example.com/").unwrap()).await;
//! for event in sink.events() {
//!     println!("{}", event.to_json());
//! }
//! # let _ = outcome; }
//! ```
//!
//! Data flows one way: the engine records events into a sink; a sink may hand them on (to the
//! plugin chain of `httptrace-plugin-host`, to a file, to an exporter). `examples/` shows a
//! one-request trace, a custom sink and a load run.
//!
//! A program that already makes its requests with hyper-util's client can trace them too:
//! [`adapter::TracedClient`] (its docs say which events that mode gives).
#![deny(missing_docs)]

pub mod adapter;
pub mod engine;
mod error;
pub mod event;
pub mod handoff;
pub mod loadgen;
pub mod replay;
pub mod summary;
pub mod trace;

pub use engine::{
    Client, ClientCert, ClientOptions, CookieJar, HttpVersion, KernelStamps, NoProxy, Outcome, Proxy, ProxyConfig, ProxyScheme,
    RequestSpec, Retry, TraceContext,
};
pub use error::{escape_control, Error};
pub use event::{Event, EventKind, PeerAddr, Phase, StampClock, TraceError};
