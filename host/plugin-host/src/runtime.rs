//! The wasmtime side shared by every plugin of a run: one `Engine` (components, epoch
//! interruption, no concurrency support), one `Linker` (WASI p2 sync + the host interface), the
//! epoch ticker thread, and the precompiled-component cache.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine};

use super::cache::{Cache, CacheStats, CacheUsage};
use super::host::bindings;
use super::host::HostState;

use super::Verbosity;

/// How often the epoch advances: the granularity of per-call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Settings of a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Precompiled-component cache directory; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Which diagnostics reach stderr (cache use at `Debug`).
    pub verbosity: Verbosity,
    /// Plugins the embedding program ships, loadable by name ([`PluginSource::Bundled`](crate::PluginSource::Bundled)).
    pub bundled: &'static [BundledPlugin],
}

/// A plugin shipped inside the embedding program, loadable by name.
pub struct BundledPlugin {
    /// Name used with `--plugin NAME`.
    pub name: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// The component's bytes.
    pub wasm: &'static [u8],
}

impl std::fmt::Debug for BundledPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundledPlugin")
            .field("name", &self.name)
            .field("summary", &self.summary)
            .field("wasm", &format_args!("<{} bytes>", self.wasm.len()))
            .finish()
    }
}

/// The plugin runtime could not be set up (the engine, the linker).
#[derive(Debug)]
pub struct RuntimeError(wasmtime::Error);

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "setting up the plugin runtime: {:#}", self.0)
    }
}

impl std::error::Error for RuntimeError {}

impl Default for RuntimeOptions {
    /// The cache at [`super::default_cache_dir`], warnings and errors only.
    fn default() -> RuntimeOptions {
        RuntimeOptions { cache_dir: super::default_cache_dir(), verbosity: Verbosity::Warn, bundled: &[] }
    }
}

/// The engine, linker, epoch ticker and cache; create one per process and load plugins with it.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Option<Cache>,
    stats: CacheStats,
    verbosity: Verbosity,
    bundled: &'static [BundledPlugin],
    ticker: Arc<Ticker>,
}

impl Runtime {
    /// A runtime: builds the engine and linker and starts the epoch ticker.
    pub fn new(opts: RuntimeOptions) -> Result<Runtime, RuntimeError> {
        Runtime::build(opts).map_err(RuntimeError)
    }

    fn build(opts: RuntimeOptions) -> wasmtime::Result<Runtime> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // Plugins are synchronous; concurrency support roughly doubles the cost of a call.
        config.concurrency_support(false);
        // For profiling plugins with `perf` (docs/PERFORMANCE.md): names for the compiled code.
        if std::env::var_os("HTTPTRACE_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        // Linked so components that import it (a default componentize-js build) load; every
        // request is refused (`DeniedHttp`).
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
        forbid_blocking(&mut linker)?;
        // Every released version's imports (`httptrace:plugin/host@0.1.0`, `@0.2.0`, ...): a
        // plugin links against the one it was built for.
        bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        super::host::v0_1_0::bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        super::host::v0_2_0::bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        super::host::v0_3_0::bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        super::host::v0_4_0::bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        super::host::v0_5_0::bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        super::host::v0_6_0::bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        let cache = opts.cache_dir.map(|d| Cache::new(d, &engine));
        let ticker = Arc::new(Ticker::start(engine.clone()));
        Ok(Runtime { engine, linker, cache, stats: CacheStats::default(), verbosity: opts.verbosity, bundled: opts.bundled, ticker })
    }

    /// How many components were loaded from the cache and how many compiled.
    pub fn cache_stats(&self) -> &CacheStats {
        &self.stats
    }

    /// The plugins loadable by name.
    pub fn bundled(&self) -> &'static [BundledPlugin] {
        self.bundled
    }

    /// What the precompiled-component cache holds (`None` without a cache directory).
    pub fn cache_usage(&self) -> Option<std::io::Result<CacheUsage>> {
        self.cache.as_ref().map(Cache::usage)
    }

    /// Deletes cached artefacts: those no engine of this build can load (`all`: every one).
    /// Returns the files and bytes removed (`None` without a cache directory).
    pub fn clean_cache(&self, all: bool) -> Option<std::io::Result<(u64, u64)>> {
        self.cache.as_ref().map(|c| c.remove(all))
    }

    /// The cache directory, if any.
    pub fn cache_dir(&self) -> Option<&std::path::Path> {
        self.cache.as_ref().map(Cache::dir)
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    pub(crate) fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    pub(crate) fn stats(&self) -> &CacheStats {
        &self.stats
    }

    pub(crate) fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    /// Keeps the ticker running for as long as the holder lives.
    pub(crate) fn ticker(&self) -> Arc<Ticker> {
        self.ticker.clone()
    }
}

/// The message of the trap a blocking WASI call raises.
pub const BLOCKING_FORBIDDEN: &str = "plugins may not block (wasi:io/poll: sleeping or waiting)";

/// Replaces WASI's blocking waits (`poll`, `pollable.block`) with a trap: a host call cannot be
/// interrupted by the epoch deadline, so a plugin that sleeps would otherwise stall the chain
/// past its time limit. Non-blocking `pollable.ready` stays.
fn forbid_blocking(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut poll = linker.instance("wasi:io/poll@0.2.12")?;
    for f in ["poll", "[method]pollable.block"] {
        poll.func_new(f, |_, _, _, _| Err(wasmtime::Error::msg(BLOCKING_FORBIDDEN)))?;
    }
    linker.allow_shadowing(false);
    Ok(())
}

/// A thread that advances the engine's epoch every [`EPOCH_TICK`]; stops when dropped.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("httptrace-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        Ticker { stop, thread }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// Deadline in epoch ticks for a per-call time limit (at least one tick, plus one for the
/// partial tick already under way).
pub(crate) fn deadline_ticks(limit: Duration) -> u64 {
    (limit.as_nanos().div_ceil(EPOCH_TICK.as_nanos()) as u64).max(1) + 1
}
