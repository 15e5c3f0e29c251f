//! Bench and test plugin: `keep` written straight on the `compact-plugin` world with
//! wit-bindgen, without the SDK's [`Plugin`](httptrace_guest::Plugin) trait. `on-batch` answers
//! `keep` for every event without reading any, so its cost per event is the contract's own
//! crossing: the host's lowering and the canonical lifting in the guest, and nothing the SDK
//! adds (turning spans into owned `String`s). Asks for the kinds named by `kind=KIND`
//! (repeatable; all kinds when none is given).

use std::cell::Cell;

use httptrace_guest::{Config, EventType, Interest, RunOutcome, Verdict};

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "compact-plugin",
        with: {
            "httptrace:plugin/types@0.7.0": httptrace_guest::bindings::httptrace::plugin::types,
            "httptrace:plugin/host@0.7.0": httptrace_guest::bindings::httptrace::plugin::host,
        },
    });
}

use bindings::httptrace::plugin::compact::Batch;

thread_local! {
    /// Events seen, through either export (a plain static: one thread).
    static SEEN: Cell<u64> = const { Cell::new(0) };
}

struct KeepCompact;

fn keep_all(n: usize) -> Vec<Verdict> {
    SEEN.with(|s| s.set(s.get() + n as u64));
    vec![Verdict::Keep; n]
}

impl bindings::Guest for KeepCompact {
    fn init(config: Vec<(String, String)>) -> Result<Vec<EventType>, String> {
        let config = Config::new(config);
        config.unknown_keys(&["kind"])?;
        let names: Vec<&str> = config.all("kind").collect();
        let kinds =
            if names.is_empty() { Interest::all() } else { Interest::from_names(names).map_err(|e| format!("config `kind`: {e}"))? };
        Ok(kinds.types())
    }

    fn on_events(events: Vec<httptrace_guest::Event>) -> Vec<Verdict> {
        keep_all(events.len())
    }

    fn on_batch(batch: Batch) -> Vec<Verdict> {
        keep_all(batch.events.len())
    }

    fn finish() -> Result<RunOutcome, String> {
        httptrace_guest::emit(&format!("keep-compact saw {} events\n", SEEN.with(Cell::get)));
        Ok(RunOutcome::Pass)
    }
}

bindings::export!(KeepCompact with_types_in bindings);
