//! Test plugin: keeps every event, then panics (a wasm trap) in `finish`.

use httptrace_guest::{Config, Plugin, RunOutcome};

struct TrapInFinish;

impl Plugin for TrapInFinish {
    fn init(_: &Config) -> Result<Self, String> {
        Ok(TrapInFinish)
    }

    fn finish(&mut self) -> Result<RunOutcome, String> {
        panic!("trap-in-finish: trapping on purpose");
    }
}

httptrace_guest::export_plugin!(TrapInFinish);
