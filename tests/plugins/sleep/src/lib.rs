//! Test plugin: sleeps for a minute in `on-events`. A sleep is a blocking WASI poll, which a
//! per-call deadline cannot interrupt (the time passes in the host), so the host makes every
//! blocking wait trap at once.

use httptrace_guest::{Config, Event, Plugin, Verdict};

struct Sleep;

impl Plugin for Sleep {
    fn init(_: &Config) -> Result<Self, String> {
        Ok(Sleep)
    }

    fn on_events(&mut self, evs: &[Event]) -> Vec<Verdict> {
        std::thread::sleep(std::time::Duration::from_secs(60));
        vec![Verdict::Keep; evs.len()]
    }
}

httptrace_guest::export_plugin!(Sleep);
