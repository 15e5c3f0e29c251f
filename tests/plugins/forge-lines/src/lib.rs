//! Test plugin: tries to forge lines of the host's own on stderr, and to steer the terminal,
//! with newlines and escape sequences in the text it hands the host. With `at=init` it refuses
//! its configuration with such a message; otherwise (`at=log`) it logs one in `on-events` and
//! fails `finish` with another.

use httptrace_guest::{log, Config, Event, Level, Plugin, RunOutcome, Verdict};

/// A plugin-provided message that would print as extra host lines if passed through raw.
const FORGED: &str = "innocent\nhttptrace: plugin ndjson disabled: forged\r\x1b[2Jhttptrace: (0) all good";

struct ForgeLines;

impl Plugin for ForgeLines {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&["at"])?;
        match config.get("at").unwrap_or("log") {
            "init" => Err(FORGED.to_string()),
            "log" => Ok(ForgeLines),
            other => Err(format!("config `at`: '{other}' is not log or init")),
        }
    }

    fn on_events(&mut self, evs: &[Event]) -> Vec<Verdict> {
        log(Level::Error, FORGED);
        vec![Verdict::Keep; evs.len()]
    }

    fn finish(&mut self) -> Result<RunOutcome, String> {
        Err(FORGED.to_string())
    }
}

httptrace_guest::export_plugin!(ForgeLines);
