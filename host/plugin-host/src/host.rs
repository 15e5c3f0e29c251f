//! The plugin world's bindings and what the host offers each instance: `log`, `emit`, `color`,
//! a deny-by-default WASI context, and a memory cap.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::output::Output;
use super::stderr::StderrTail;
use super::Verbosity;

/// Bindings generated from `wit/plugin.wit`, the newest version of the contract (sync; `emit`
/// and `log` may trap to enforce the output cap).
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "plugin",
        imports: { "httptrace:plugin/host.emit": trappable, "httptrace:plugin/host.log": trappable },
    });
}

/// The compact form of events (`wit/compact.wit`), for plugins that also export `on-batch`.
/// Only its types are used (to type-check `on-batch`); the plain world's bindings do the rest.
pub(crate) mod compact_bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "compact-plugin",
        with: {
            "httptrace:plugin/types": super::bindings::httptrace::plugin::types,
            "httptrace:plugin/host": super::bindings::httptrace::plugin::host,
        },
    });
}

/// Every earlier released version of the contract, still served: its files are kept frozen in
/// `wit/v<version>/` (Zed's one-module-per-WIT-version layout). Each has its own `host`
/// import (the same three functions) and its own event types, which [`lower`](super::lower)
/// writes in that version's layout.
pub(crate) mod v0_1_0 {
    /// `httptrace:plugin@0.1.0`'s world `plugin`.
    pub(crate) mod bindings {
        wasmtime::component::bindgen!({
            path: "wit/v0.1.0",
            world: "plugin",
            imports: { "httptrace:plugin/host.emit": trappable, "httptrace:plugin/host.log": trappable },
        });
    }

    /// `httptrace:plugin@0.1.0`'s world `compact-plugin` (types only, as for the newest).
    pub(crate) mod compact_bindings {
        wasmtime::component::bindgen!({
            path: "wit/v0.1.0",
            world: "compact-plugin",
            with: {
                "httptrace:plugin/types": super::bindings::httptrace::plugin::types,
                "httptrace:plugin/host": super::bindings::httptrace::plugin::host,
            },
        });
    }
}

/// `httptrace:plugin@0.2.0`, as [`v0_1_0`] is 0.1.0.
pub(crate) mod v0_2_0 {
    /// `httptrace:plugin@0.2.0`'s world `plugin`.
    pub(crate) mod bindings {
        wasmtime::component::bindgen!({
            path: "wit/v0.2.0",
            world: "plugin",
            imports: { "httptrace:plugin/host.emit": trappable, "httptrace:plugin/host.log": trappable },
        });
    }

    /// `httptrace:plugin@0.2.0`'s world `compact-plugin` (types only, as for the newest).
    pub(crate) mod compact_bindings {
        wasmtime::component::bindgen!({
            path: "wit/v0.2.0",
            world: "compact-plugin",
            with: {
                "httptrace:plugin/types": super::bindings::httptrace::plugin::types,
                "httptrace:plugin/host": super::bindings::httptrace::plugin::host,
            },
        });
    }
}

/// `httptrace:plugin@0.3.0`, as [`v0_1_0`] is 0.1.0.
pub(crate) mod v0_3_0 {
    /// `httptrace:plugin@0.3.0`'s world `plugin`.
    pub(crate) mod bindings {
        wasmtime::component::bindgen!({
            path: "wit/v0.3.0",
            world: "plugin",
            imports: { "httptrace:plugin/host.emit": trappable, "httptrace:plugin/host.log": trappable },
        });
    }

    /// `httptrace:plugin@0.3.0`'s world `compact-plugin` (types only, as for the newest).
    pub(crate) mod compact_bindings {
        wasmtime::component::bindgen!({
            path: "wit/v0.3.0",
            world: "compact-plugin",
            with: {
                "httptrace:plugin/types": super::bindings::httptrace::plugin::types,
                "httptrace:plugin/host": super::bindings::httptrace::plugin::host,
            },
        });
    }
}

/// `httptrace:plugin@0.4.0`, as [`v0_1_0`] is 0.1.0.
pub(crate) mod v0_4_0 {
    /// `httptrace:plugin@0.4.0`'s world `plugin`.
    pub(crate) mod bindings {
        wasmtime::component::bindgen!({
            path: "wit/v0.4.0",
            world: "plugin",
            imports: { "httptrace:plugin/host.emit": trappable, "httptrace:plugin/host.log": trappable },
        });
    }

    /// `httptrace:plugin@0.4.0`'s world `compact-plugin` (types only, as for the newest).
    pub(crate) mod compact_bindings {
        wasmtime::component::bindgen!({
            path: "wit/v0.4.0",
            world: "compact-plugin",
            with: {
                "httptrace:plugin/types": super::bindings::httptrace::plugin::types,
                "httptrace:plugin/host": super::bindings::httptrace::plugin::host,
            },
        });
    }
}

/// `httptrace:plugin@0.5.0`, as [`v0_1_0`] is 0.1.0.
pub(crate) mod v0_5_0 {
    /// `httptrace:plugin@0.5.0`'s world `plugin`.
    pub(crate) mod bindings {
        wasmtime::component::bindgen!({
            path: "wit/v0.5.0",
            world: "plugin",
            imports: { "httptrace:plugin/host.emit": trappable, "httptrace:plugin/host.log": trappable },
        });
    }

    /// `httptrace:plugin@0.5.0`'s world `compact-plugin` (types only, as for the newest).
    pub(crate) mod compact_bindings {
        wasmtime::component::bindgen!({
            path: "wit/v0.5.0",
            world: "compact-plugin",
            with: {
                "httptrace:plugin/types": super::bindings::httptrace::plugin::types,
                "httptrace:plugin/host": super::bindings::httptrace::plugin::host,
            },
        });
    }
}

/// `httptrace:plugin@0.6.0`, as [`v0_1_0`] is 0.1.0.
pub(crate) mod v0_6_0 {
    /// `httptrace:plugin@0.6.0`'s world `plugin`.
    pub(crate) mod bindings {
        wasmtime::component::bindgen!({
            path: "wit/v0.6.0",
            world: "plugin",
            imports: { "httptrace:plugin/host.emit": trappable, "httptrace:plugin/host.log": trappable },
        });
    }

    /// `httptrace:plugin@0.6.0`'s world `compact-plugin` (types only, as for the newest).
    pub(crate) mod compact_bindings {
        wasmtime::component::bindgen!({
            path: "wit/v0.6.0",
            world: "compact-plugin",
            with: {
                "httptrace:plugin/types": super::bindings::httptrace::plugin::types,
                "httptrace:plugin/host": super::bindings::httptrace::plugin::host,
            },
        });
    }
}

/// The `T` of each plugin's `Store<T>`.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    /// The last lines the plugin wrote to its (otherwise discarded) stderr.
    pub(crate) stderr: StderrTail,
    name: Arc<str>,
    output: Output,
    color: bool,
    verbosity: Verbosity,
    /// Bytes emitted or logged during the current call.
    pub(crate) emitted: usize,
    /// Most bytes one call may emit and log together.
    pub(crate) emit_limit: usize,
    /// The current call went over `emit_limit` (and was trapped).
    pub(crate) emit_exceeded: bool,
    /// wasi:http is linked so real-world components load, but every request is denied.
    http: wasmtime_wasi_http::WasiHttpCtx,
    http_hooks: DeniedHttp,
}

/// `wasi:http` hooks that refuse every outgoing request: a plugin has no network.
struct DeniedHttp;

type HttpResult<T> = Result<T, wasmtime_wasi_http::Error>;
type HttpFuture<T> = Box<dyn std::future::Future<Output = HttpResult<T>> + Send>;

impl wasmtime_wasi_http::WasiHttpHooks for DeniedHttp {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: HttpFuture<()>,
    ) -> HttpFuture<(http::Response<wasmtime_wasi_http::WasiBody>, HttpFuture<()>)> {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl wasmtime_wasi_http::WasiHttpView for HostState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView { hooks: &mut self.http_hooks, table: &mut self.table, ctx: &mut self.http }
    }
}

impl HostState {
    /// State for one plugin instance.
    pub(crate) fn new(name: Arc<str>, output: Output, color: bool, verbosity: Verbosity, memory: usize, emit_limit: usize) -> HostState {
        let stderr = StderrTail::default();
        HostState {
            wasi: sandbox(&stderr),
            stderr,
            table: ResourceTable::new(),
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            http_hooks: DeniedHttp,
            limiter: MemoryLimiter { max: memory, exceeded: false },
            name,
            output,
            color,
            verbosity,
            emitted: 0,
            emit_limit,
            emit_exceeded: false,
        }
    }
}

/// WASI with nothing granted: no preopened directories, environment, arguments or network;
/// stdin closed, stdout discarded, stderr kept only as a tail for error messages. Clocks and
/// random stay (WASI's inert defaults); blocking waits trap (see `runtime::forbid_blocking`).
fn sandbox(stderr: &StderrTail) -> WasiCtx {
    let mut b = WasiCtxBuilder::new();
    b.stderr(stderr.clone());
    b.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    b.socket_addr_check(|_, _| Box::pin(async { false }));
    b.build()
}

impl HostState {
    /// Adds `len` bytes to the current call's output; past the limit, traps (nothing of the
    /// over-long write is written).
    fn count_output(&mut self, len: usize) -> wasmtime::Result<()> {
        self.emitted = self.emitted.saturating_add(len);
        if self.emitted > self.emit_limit {
            self.emit_exceeded = true;
            return Err(wasmtime::Error::msg("output limit exceeded"));
        }
        Ok(())
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// The `host` import of one version of the contract: the same three functions in every
/// version so far, each version's `Level` mapped to its rank.
macro_rules! host_import {
    ($bindings:path) => {
        const _: () = {
            use b::httptrace::plugin::types::Level;
            use $bindings as b;

            impl b::httptrace::plugin::types::Host for HostState {}

            impl b::httptrace::plugin::host::Host for HostState {
                fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
                    let rank = match level {
                        Level::Trace => 0,
                        Level::Debug => 1,
                        Level::Info => 2,
                        Level::Warn => 3,
                        Level::Error => 4,
                    };
                    self.write_log(rank, message)
                }

                fn emit(&mut self, text: String) -> wasmtime::Result<()> {
                    self.write_emit(text)
                }

                fn color(&mut self) -> bool {
                    self.color
                }
            }
        };
    };
}

host_import!(bindings);
host_import!(v0_1_0::bindings);
host_import!(v0_2_0::bindings);
host_import!(v0_3_0::bindings);
host_import!(v0_4_0::bindings);
host_import!(v0_5_0::bindings);
host_import!(v0_6_0::bindings);

impl HostState {
    /// `log` at a level's rank (0 trace … 4 error).
    fn write_log(&mut self, rank: u8, message: String) -> wasmtime::Result<()> {
        // Log lines count against the output limit too (shown or not, so the limit does not
        // depend on HTTPTRACE_LOG): a plugin must not flood stderr either.
        self.count_output(message.len())?;
        if !self.verbosity.shows(rank) {
            return Ok(());
        }
        let level = ["trace", "debug", "info", "warn", "error"][rank as usize];
        // Plugin output may be buffered for stdout; keep stderr lines whole.
        // One line per call, whatever the message holds: a plugin cannot forge host lines.
        eprintln!("httptrace: [plugin {}] {level} {}", self.name, httptrace::escape_control(message.trim_end_matches('\n')));
        Ok(())
    }

    /// `emit`: counted against the output cap, then written.
    fn write_emit(&mut self, text: String) -> wasmtime::Result<()> {
        self.count_output(text.len())?;
        self.output.write(text.as_bytes());
        Ok(())
    }
}

/// Caps linear memory; remembers that the cap was hit so the trap can be named.
pub(crate) struct MemoryLimiter {
    max: usize,
    /// A grow was refused.
    pub(crate) exceeded: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.exceeded = true;
            // An error (not `false`) traps at once, so the failure is reported as the limit
            // rather than as whatever the guest's allocator does on a failed grow.
            return Err(wasmtime::Error::msg("memory limit exceeded"));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
