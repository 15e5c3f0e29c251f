//! Test plugin: panics (a wasm trap) in `init`, before any event.

use httptrace_guest::{Config, Plugin};

struct TrapInInit;

impl Plugin for TrapInInit {
    fn init(_: &Config) -> Result<Self, String> {
        panic!("trap-in-init: trapping on purpose");
    }
}

httptrace_guest::export_plugin!(TrapInInit);
