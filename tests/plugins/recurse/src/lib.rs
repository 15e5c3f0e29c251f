//! Test plugin: recurses without end in `on-events`, for the host's stack limits. With
//! `stack=native` (default) the frames live on WebAssembly's own call stack, which the host
//! caps; with `stack=shadow` each frame also keeps a buffer in linear memory (Rust's shadow
//! stack), which runs off the bottom of memory first.

use std::hint::black_box;

use httptrace_guest::{Config, Event, Plugin, Verdict};

struct Recurse {
    shadow: bool,
}

/// Frames with nothing in memory: only the wasm call stack grows.
#[inline(never)]
#[allow(unconditional_recursion)]
fn native(n: u64) -> u64 {
    black_box(native(black_box(n + 1))).wrapping_add(n)
}

/// Each frame keeps an address-taken buffer alive across the call, so it lives on the shadow
/// stack in linear memory; the recursion can be neither turned into a loop nor optimised away.
#[inline(never)]
#[allow(unconditional_recursion)]
fn shadow(n: u64) -> u64 {
    let frame = black_box([n; 32]);
    let below = shadow(black_box(n + 1));
    black_box(frame[(n % 32) as usize].wrapping_add(below))
}

impl Plugin for Recurse {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&["stack"])?;
        let shadow = match config.get("stack").unwrap_or("native") {
            "native" => false,
            "shadow" => true,
            other => return Err(format!("config `stack`: '{other}' is not native or shadow")),
        };
        Ok(Recurse { shadow })
    }

    fn on_events(&mut self, evs: &[Event]) -> Vec<Verdict> {
        black_box(if self.shadow { shadow(black_box(0)) } else { native(black_box(0)) });
        vec![Verdict::Keep; evs.len()]
    }
}

httptrace_guest::export_plugin!(Recurse);
