//! Test plugin: in `on-events`, writes 1 MiB chunks without end — to the run's output with
//! `emit` (default), or to stderr through `log` with `via=log` — for the host's per-call output
//! limit. Each chunk is one line of `flood` filler.

use httptrace_guest::{emit, log, Config, Event, Level, Plugin, Verdict};

struct EmitFlood {
    via_log: bool,
}

impl Plugin for EmitFlood {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&["via"])?;
        let via_log = match config.get("via").unwrap_or("emit") {
            "emit" => false,
            "log" => true,
            other => return Err(format!("config `via`: '{other}' is not emit or log")),
        };
        Ok(EmitFlood { via_log })
    }

    fn on_events(&mut self, _: &[Event]) -> Vec<Verdict> {
        let mut chunk = "flood ".repeat((1 << 20) / 6);
        chunk.push('\n');
        loop {
            if self.via_log {
                log(Level::Error, &chunk);
            } else {
                emit(&chunk);
            }
        }
    }
}

httptrace_guest::export_plugin!(EmitFlood);
