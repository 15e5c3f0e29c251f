//! Test plugin: allocates (and touches) memory without bound in `on-events`, for the host's
//! memory cap. Each step grows linear memory by 1 MiB until the host refuses, which traps.

use std::hint::black_box;

use httptrace_guest::{Config, Event, Plugin, Verdict};

struct Alloc {
    hoard: Vec<Vec<u8>>,
}

impl Plugin for Alloc {
    fn init(_: &Config) -> Result<Self, String> {
        Ok(Alloc { hoard: Vec::new() })
    }

    fn on_events(&mut self, _: &[Event]) -> Vec<Verdict> {
        loop {
            self.hoard.push(black_box(vec![0xa5; 1 << 20]));
        }
    }
}

httptrace_guest::export_plugin!(Alloc);
