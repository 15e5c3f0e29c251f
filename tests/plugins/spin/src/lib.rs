//! Test plugin: never returns from `on-events` (for the host's per-call deadline).

use std::hint::black_box;

use httptrace_guest::{Config, Event, Plugin, Verdict};

struct Spin;

impl Plugin for Spin {
    fn init(_: &Config) -> Result<Self, String> {
        Ok(Spin)
    }

    fn on_events(&mut self, _: &[Event]) -> Vec<Verdict> {
        let mut n = 0u64;
        loop {
            n = black_box(n.wrapping_add(1));
        }
    }
}

httptrace_guest::export_plugin!(Spin);
