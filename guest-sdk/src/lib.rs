//! Write httptrace plugins in Rust.
//!
//! An httptrace plugin is a WebAssembly component that exports the `plugin` world of
//! `wit/plugin.wit` (package `httptrace:plugin@0.7.0`; the host also serves 0.1.0 to 0.6.0). This crate generates the bindings and
//! turns the world's three exports into one [`Plugin`] trait whose hooks all have defaults,
//! the way a ripgrep `Sink` only needs `matched`:
//!
//! - [`Plugin::init`] builds your plugin from its [`Config`] (`--plugin-config KEY=VALUE`);
//!   the instance lives for the whole run.
//! - [`Plugin::interest`] says which kinds of event you want (default: all of them).
//! - [`Plugin::on_event`] judges one event ([`Verdict::Keep`] by default);
//!   [`Plugin::on_events`] gets a whole batch if you prefer to decide per batch.
//! - [`Plugin::finish`] runs once at the end: print summaries, pass or fail the run.
//!
//! Output goes through [`emit`] (the run's output, exactly as given), diagnostics through
//! [`log`]; [`color`] says whether ANSI colour is wanted. [`to_json`] renders an event exactly
//! like the host's `ndjson` form; [`Config`], [`parse_duration`] and [`fmt_ms`] cover the
//! usual chores.
//!
//! # A complete plugin
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "slow"
//! description = "Prints the URL of every request slower than a threshold"
//! edition = "2021"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! httptrace-guest = { path = "../../guest-sdk" }
//! ```
//!
//! `src/lib.rs`, built with `cargo build --release --target wasm32-wasip2`:
//!
//! ```no_run
//! use httptrace_guest::{emit, fmt_ms, Config, Event, EventKind, EventType, Interest, Plugin, Verdict};
//!
//! struct Slow {
//!     threshold_ms: f64,
//!     slow: u64,
//! }
//!
//! impl Plugin for Slow {
//!     fn init(config: &Config) -> Result<Self, String> {
//!         config.unknown_keys(&["over"])?;
//!         let threshold_ns = config.duration("over")?.unwrap_or(100_000_000);
//!         Ok(Slow { threshold_ms: threshold_ns as f64 / 1e6, slow: 0 })
//!     }
//!
//!     fn interest(&self) -> Interest {
//!         Interest::of(&[EventType::RequestDone])
//!     }
//!
//!     fn on_event(&mut self, ev: &Event) -> Verdict {
//!         if let EventKind::RequestDone(done) = &ev.kind {
//!             let total_ms = done.marks.total * 1e3;
//!             if total_ms >= self.threshold_ms {
//!                 self.slow += 1;
//!                 emit(&format!("{} took {}\n", done.url, fmt_ms(total_ms)));
//!             }
//!         }
//!         Verdict::Keep
//!     }
//!
//!     fn finish(&mut self) -> Result<httptrace_guest::RunOutcome, String> {
//!         emit(&format!("{} slow request(s)\n", self.slow));
//!         Ok(httptrace_guest::RunOutcome::Pass)
//!     }
//! }
//!
//! httptrace_guest::export_plugin!(Slow);
//! ```
//!
//! Run it with `httptrace --plugin ./slow.wasm --plugin-config over=250ms URL`.
//!
//! On targets other than wasm32 the host functions ([`emit`], [`log`], [`color`]) are stubs
//! that panic; everything else works natively, so plugin logic can be unit-tested with
//! `cargo test`.
//!
#![deny(missing_docs)]

mod compact;
mod config;
mod format;
mod json;
mod names;

#[doc(hidden)]
#[allow(missing_docs)]
pub mod bindings {
    //! Bindings generated from `wit/` (world `compact-plugin`, `on-batch` exported by hand). Use
    //! the re-exports at the crate root.
    wit_bindgen::generate!({
        path: "wit",
        world: "compact-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
        default_bindings_module: "$crate::bindings",
        additional_derives: [PartialEq],
        // Exported by hand, reading the compact form straight into `Event`s (compact.rs).
        skip: ["on-batch"],
    });
}

pub use bindings::httptrace::plugin::types::{
    ByteCounts, CertSummary, ConnectDone, ConnectStart, DnsDone, DnsStart, Event, EventKind, EventType, GetConn, Got1xxResponse, GotConn,
    Header, HopSummary, Level, Marks, Phase, ProxyConnectDone, ProxyConnectStart, PutIdleConn, QuicHandshakeDone, QuicHandshakeStart,
    Redirect, RequestDone, RequestStart, ResponseDone, ResponseHeaders, RunOutcome, StampClock, Timings, TlsHandshakeDone,
    TlsHandshakeStart, TraceError, Verdict, WroteRequest,
};
pub use config::Config;
pub use format::{fmt_ms, http1_head_size, iso8601_ms, parse_duration, reason_phrase};
pub use json::to_json;
pub use names::{event_type_from_name, kind_name, Interest, KIND_NAMES};

/// A plugin: implement this and call [`export_plugin!`] once in your `cdylib` crate.
///
/// Only [`init`](Plugin::init) is required. The host calls `init` once, then
/// [`on_events`](Plugin::on_events) with batches of the kinds in
/// [`interest`](Plugin::interest) (events of other kinds pass this plugin as `keep` without
/// reaching it), then [`finish`](Plugin::finish). A batch holds whole requests' events in
/// order, each request's `request-done` last (if you asked for it).
///
/// A panic traps the instance: the host disables the plugin for the rest of the run and the
/// run's exit code says so. Return `Err` from `init` or `finish` for errors the user can fix.
pub trait Plugin: Sized + 'static {
    /// Builds the plugin from its configuration; an `Err` stops the run before any request,
    /// with the message shown to the user next to the plugin's name.
    fn init(config: &Config) -> Result<Self, String>;

    /// The kinds of event this plugin wants. Asked once, right after [`init`](Plugin::init).
    fn interest(&self) -> Interest {
        Interest::all()
    }

    /// Judges one event. The default keeps everything.
    fn on_event(&mut self, ev: &Event) -> Verdict {
        let _ = ev;
        Verdict::Keep
    }

    /// Judges a batch; must return exactly one verdict per event, in order. The default
    /// calls [`on_event`](Plugin::on_event) for each.
    fn on_events(&mut self, evs: &[Event]) -> Vec<Verdict> {
        evs.iter().map(|ev| self.on_event(ev)).collect()
    }

    /// The run is over: print summaries here. `Ok(RunOutcome::Fail)` makes the run exit 99
    /// (a failed check); `Err` counts as a plugin failure. The default passes.
    fn finish(&mut self) -> Result<RunOutcome, String> {
        Ok(RunOutcome::Pass)
    }
}

/// Writes `text` to the run's output (stdout or `-o FILE`) exactly as given: add your own
/// newlines.
pub fn emit(text: &str) {
    bindings::httptrace::plugin::host::emit(text);
}

/// Writes a diagnostic line to the user's stderr, prefixed by the host with the plugin's name.
pub fn log(level: Level, message: &str) {
    bindings::httptrace::plugin::host::log(level, message);
}

/// Whether the output wants ANSI colour (it is a terminal and `NO_COLOR` is not set).
pub fn color() -> bool {
    bindings::httptrace::plugin::host::color()
}

/// Exports a [`Plugin`] implementation as the component's `plugin` world, with the optional
/// `on-batch` of `compact-plugin` (`wit/compact.wit`): the host then hands events over in the
/// compact form, which costs less per string; your plugin sees the same [`Event`]s either way.
///
/// Call it once, at the top level of the plugin crate (a `cdylib`):
///
/// ```no_run
/// use httptrace_guest::{Config, Plugin};
///
/// /// Keeps every event, prints nothing: the smallest plugin there is.
/// struct Quiet;
///
/// impl Plugin for Quiet {
///     fn init(config: &Config) -> Result<Self, String> {
///         config.unknown_keys(&[])?;
///         Ok(Quiet)
///     }
/// }
///
/// httptrace_guest::export_plugin!(Quiet);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct HttptraceGuestExports;

            impl $crate::__rt::Guest for HttptraceGuestExports {
                fn init(
                    config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<::std::vec::Vec<$crate::EventType>, ::std::string::String> {
                    $crate::__rt::init::<$plugin>(config)
                }

                fn on_events(events: ::std::vec::Vec<$crate::Event>) -> ::std::vec::Vec<$crate::Verdict> {
                    $crate::__rt::on_events::<$plugin>(events)
                }

                fn finish() -> ::std::result::Result<$crate::RunOutcome, ::std::string::String> {
                    $crate::__rt::finish::<$plugin>()
                }
            }

    $crate::__export_compact_plugin_impl!(HttptraceGuestExports with_types_in $crate::bindings);

            /// `on-batch` of `compact-plugin`: text pointer and length, events pointer and
            /// length; returns the address of the verdict list's pointer and length.
            #[cfg_attr(target_arch = "wasm32", unsafe(export_name = "on-batch"))]
            unsafe extern "C" fn httptrace_on_batch(text: *mut u8, text_len: usize, events: *mut u8, len: usize) -> *mut u8 {
                // SAFETY: the host calls this as `on-batch` of the world, with what it lowered.
                unsafe { $crate::__rt::on_batch::<$plugin>(text, text_len, events, len) }
            }

            /// Frees what `on-batch` returned, once the host has read it.
            #[cfg_attr(target_arch = "wasm32", unsafe(export_name = "cabi_post_on-batch"))]
            unsafe extern "C" fn httptrace_on_batch_post(ret: *mut u8) {
                // SAFETY: `ret` is what `httptrace_on_batch` returned.
                unsafe { $crate::__rt::on_batch_post(ret) }
            }
        };
    };
}

/// Glue between the generated `Guest` trait and [`Plugin`]; used by [`export_plugin!`].
#[doc(hidden)]
pub mod __rt {
    use std::any::Any;
    use std::cell::{Cell, RefCell};

    pub use crate::bindings::Guest;
    use crate::{Config, Event, EventKind, EventType, Plugin, RunOutcome, Verdict};

    thread_local! {
        // A component has one plugin; wasm32-wasip2 has one thread, so this is a plain static.
        static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
        // The plugin's `Interest::header_lists`, set by `init`.
        static HEADER_LISTS: Cell<bool> = const { Cell::new(true) };
    }

    /// Whether the plugin wants the header lists of `got-1xx-response` and `response-headers`.
    pub(crate) fn header_lists() -> bool {
        HEADER_LISTS.with(Cell::get)
    }

    fn with_plugin<P: Plugin, R>(hook: &str, f: impl FnOnce(&mut P) -> R) -> R {
        INSTANCE.with(|slot| {
            let mut slot = slot.borrow_mut();
            let plugin = slot
                .as_mut()
                .and_then(|p| p.downcast_mut::<P>())
                .unwrap_or_else(|| panic!("httptrace plugin: `{hook}` called before a successful `init`"));
            f(plugin)
        })
    }

    /// `init` export: builds the plugin and answers with its interest.
    pub fn init<P: Plugin>(config: Vec<(String, String)>) -> Result<Vec<EventType>, String> {
        let plugin = P::init(&Config::new(config))?;
        let interest = plugin.interest();
        HEADER_LISTS.with(|h| h.set(interest.header_lists()));
        INSTANCE.with(|slot| *slot.borrow_mut() = Some(Box::new(plugin)));
        Ok(interest.types())
    }

    /// `on-events` export: one verdict per event, checked.
    pub fn on_events<P: Plugin>(mut events: Vec<Event>) -> Vec<Verdict> {
        if !header_lists() {
            for e in &mut events {
                match &mut e.kind {
                    EventKind::ResponseHeaders(r) => r.headers = Vec::new(),
                    EventKind::Got1xxResponse(r) => r.headers = Vec::new(),
                    _ => {}
                }
            }
        }
        let verdicts = with_plugin::<P, _>("on-events", |p| p.on_events(&events));
        assert_eq!(
            verdicts.len(),
            events.len(),
            "httptrace plugin: on_events returned {} verdicts for {} events",
            verdicts.len(),
            events.len()
        );
        verdicts
    }

    /// Where `on-batch` returns its verdict list's pointer and length (the canonical ABI's
    /// return area: a plugin runs one call at a time).
    struct ReturnArea(std::cell::UnsafeCell<[u32; 2]>);
    // SAFETY: wasm32-wasip2 components are single-threaded.
    unsafe impl Sync for ReturnArea {}
    static RETURN_AREA: ReturnArea = ReturnArea(std::cell::UnsafeCell::new([0; 2]));

    /// `on-batch` export: the events read from the compact form, then as `on-events`; the
    /// verdicts as a list of bytes (`keep` 0, `drop` 1).
    ///
    /// # Safety
    ///
    /// The arguments are what the host lowered for `on-batch` (see `compact::read`).
    pub unsafe fn on_batch<P: Plugin>(text: *mut u8, text_len: usize, events: *mut u8, len: usize) -> *mut u8 {
        // As wit-bindgen's glue does at the start of every export.
        #[cfg(target_arch = "wasm32")]
        wit_bindgen::rt::run_ctors_once();
        // SAFETY: the host copied `text_len` bytes of UTF-8 there with `cabi_realloc`; the
        // plugin owns them now (freed when `text` drops).
        let text = unsafe { String::from_raw_parts(text, text_len, text_len) };
        // SAFETY: as this function's contract.
        let events = unsafe { crate::compact::read(&text, events, len) };
        drop(text);
        let verdicts: Box<[u8]> = on_events::<P>(events).into_iter().map(|v| v as u8).collect();
        let n = verdicts.len();
        let ptr = Box::into_raw(verdicts).cast::<u8>();
        // SAFETY: one call at a time; the host reads the area before the next call.
        unsafe { *RETURN_AREA.0.get() = [ptr as usize as u32, n as u32] };
        RETURN_AREA.0.get().cast()
    }

    /// Post-return of `on-batch`: frees the verdict list.
    ///
    /// # Safety
    ///
    /// `ret` is what [`on_batch`] returned.
    pub unsafe fn on_batch_post(ret: *mut u8) {
        // SAFETY: `ret` is the return area `on_batch` filled.
        let [ptr, n] = unsafe { *ret.cast::<[u32; 2]>() };
        // SAFETY: `on_batch` leaked a `Box<[u8]>` of `n` bytes at `ptr`.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr as usize as *mut u8, n as usize)) });
    }

    /// `finish` export.
    pub fn finish<P: Plugin>() -> Result<RunOutcome, String> {
        with_plugin::<P, _>("finish", |p| p.finish())
    }
}
