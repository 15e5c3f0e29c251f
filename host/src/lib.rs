//! httptrace: HTTP(S) requests with every phase recorded as a trace event, handed to
//! WebAssembly plugins.
//!
//! Data flows one way: the [`engine`] makes requests and records [`event::Event`]s into a
//! [`trace::Sink`]; the sink feeds the plugin chain; plugins write the output.
#![deny(missing_docs)]

pub mod engine;
pub mod error;
pub mod event;
pub mod exit;
pub mod flags;
pub mod handoff;
pub mod load;
pub mod plugin;
pub mod replay;
pub mod serve;
pub mod summary;
pub mod trace;

pub use engine::{Client, ClientOptions, HttpVersion, Outcome, RequestSpec};
pub use error::Error;
pub use event::{Event, EventKind, Phase, TraceError};
