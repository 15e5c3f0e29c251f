//! `ndjson`: every event as one JSON object per line, exactly the host's `Event::to_json` form
//! (`{"event":KIND,"request":..,"hop":..,"conn":..,"at_ns":..,<kind fields>}`).
//!
//! Takes no configuration and keeps every event, so it can sit anywhere in a chain.

use httptrace_guest::{emit, to_json, Config, Event, Plugin, Verdict};

/// The plugin: stateless.
struct Ndjson;

impl Plugin for Ndjson {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&[])?;
        Ok(Ndjson)
    }

    fn on_events(&mut self, evs: &[Event]) -> Vec<Verdict> {
        // One host call per batch rather than per event.
        let mut out = String::with_capacity(evs.len() * 160);
        for ev in evs {
            out.push_str(&to_json(ev));
            out.push('\n');
        }
        if !out.is_empty() {
            emit(&out);
        }
        vec![Verdict::Keep; evs.len()]
    }
}

httptrace_guest::export_plugin!(Ndjson);
