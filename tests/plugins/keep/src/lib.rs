//! Test and bench plugin: asks for the kinds named by `kind=KIND` (repeatable; all kinds when
//! none is given), keeps every event and does nothing else. Its cost per event is the host's
//! cost of handing events of those kinds to a plugin (the crossing), with no plugin work on top.

use httptrace_guest::{Config, Interest, Plugin};

struct Keep {
    kinds: Interest,
}

impl Plugin for Keep {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&["kind"])?;
        let names: Vec<&str> = config.all("kind").collect();
        let kinds =
            if names.is_empty() { Interest::all() } else { Interest::from_names(names).map_err(|e| format!("config `kind`: {e}"))? };
        Ok(Keep { kinds })
    }

    fn interest(&self) -> Interest {
        self.kinds
    }
}

httptrace_guest::export_plugin!(Keep);
