//! The plugin host of httptrace: runs WebAssembly component plugins (world `plugin` of
//! `httptrace:plugin@0.7.0`, `wit/plugin.wit`, and of every earlier released version, so a
//! plugin loads unchanged whatever it was built against) over the events the [`httptrace`]
//! engine records.
//! It takes component bytes (files, or plugins the embedding program bundles) and exposes no
//! wasmtime type.
//!
//! - [`Runtime`]: one wasmtime engine per process, the linker, the epoch ticker and the
//!   precompiled-component cache ([`default_cache_dir`]).
//! - [`Runtime::load`]: read a plugin, check it before anything runs (WebAssembly? component?
//!   this package version? every export?), compile or load it from the cache, link it.
//! - [`Chain`]: the plugins of a run in order, one store and instance each, fed event batches
//!   on a thread of its own ([`Chain::spawn`]); verdicts and interests applied; a plugin that
//!   traps or overruns its [`Limits`] is disabled and reported, the others go on.
//!
//! ```no_run
//! use httptrace_plugin_host::*;
//! let rt = Runtime::new(RuntimeOptions::default()).unwrap();
//! let spec = PluginSpec { source: PluginSource::parse("./ndjson.wasm"), config: vec![] };
//! let chain = Chain::start(&rt, &[spec], Output::stdout(), ChainOptions::default()).unwrap();
//! let (sink, rx) = httptrace::trace::ChannelSink::new(64);
//! let thread = chain.spawn(rx).unwrap();
//! // … hand `sink` to a `Client`, make requests, drop the client …
//! # drop(sink);
//! let report = thread.join();
//! ```

#![deny(missing_docs)]

mod cache;
mod chain;
mod convert;
mod error;
mod host;
mod inspect;
mod instance;
mod load;
mod lower;
mod output;
mod runtime;
mod stderr;
mod version;

use std::time::Duration;

pub use cache::{default_cache_dir, CacheStats, CacheUsage, LoadOrigin};
pub use chain::{Chain, ChainOptions, ChainReport, ChainThread, OnError, PluginSpec, Tail, COALESCE_EVENTS};
pub use error::{fmt_duration, fmt_size, fmt_size_approx, Call, ErrorKind, PluginError, PluginId};
pub use inspect::Inspection;
pub use load::{flavor, Flavor, LoadedPlugin, PluginSource, MAX_PLUGIN_FILE};
pub use output::{MemoryOutput, Output};
pub use runtime::{BundledPlugin, Runtime, RuntimeError, RuntimeOptions, EPOCH_TICK};

/// The newest version of the `httptrace:plugin` package this host implements (it also serves
/// every earlier one, [`RELEASED_VERSIONS`]).
pub const WORLD_VERSION: &str = httptrace_wit::WORLD_VERSION;

/// Every version of the `httptrace:plugin` package this host serves, oldest first.
pub const RELEASED_VERSIONS: [&str; httptrace_wit::RELEASED_VERSIONS.len()] = httptrace_wit::RELEASED_VERSIONS;

/// The world's exports; a plugin must have all of them.
pub const EXPORTS: [&str; 3] = ["init", "on-events", "finish"];

/// Sandbox limits of each plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Per-call time limit (default 1 s), enforced by epoch interruption.
    pub timeout: Duration,
    /// Linear memory cap in bytes (default 64 MiB).
    pub memory: usize,
    /// Most bytes one call may `emit` and `log` together (default 64 MiB).
    pub output_per_call: usize,
}

impl Default for Limits {
    /// 1 s per call, 64 MiB of memory, 64 MiB of output (emit and log) per call.
    fn default() -> Limits {
        Limits { timeout: Duration::from_secs(1), memory: 64 << 20, output_per_call: 64 << 20 }
    }
}

/// Which diagnostics reach stderr; ordered from quietest to loudest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    /// Errors only.
    Error,
    /// Warnings and errors (the default).
    #[default]
    Warn,
    /// Info and above.
    Info,
    /// Everything: plugin debug and trace lines, cache use.
    Debug,
}

impl Verbosity {
    /// From `HTTPTRACE_LOG` (`error`, `warn`, `info`, `debug`, `trace`); `Warn` if unset or
    /// unknown.
    pub fn from_env() -> Verbosity {
        match std::env::var("HTTPTRACE_LOG").unwrap_or_default().to_ascii_lowercase().as_str() {
            "error" => Verbosity::Error,
            "info" => Verbosity::Info,
            "debug" | "trace" => Verbosity::Debug,
            _ => Verbosity::Warn,
        }
    }

    /// Whether a plugin log line of rank `level` (0 trace … 4 error) is shown.
    pub(crate) fn shows(self, level: u8) -> bool {
        let min = match self {
            Verbosity::Error => 4,
            Verbosity::Warn => 3,
            Verbosity::Info => 2,
            Verbosity::Debug => 0,
        };
        level >= min
    }
}
