//! Test plugin: initialises fine, then panics (a wasm trap) in its first `on-events` call.

use httptrace_guest::{Config, Event, Plugin, Verdict};

struct TrapOnEvents;

impl Plugin for TrapOnEvents {
    fn init(_: &Config) -> Result<Self, String> {
        Ok(TrapOnEvents)
    }

    fn on_events(&mut self, _: &[Event]) -> Vec<Verdict> {
        panic!("trap-on-events: trapping on purpose");
    }
}

httptrace_guest::export_plugin!(TrapOnEvents);
