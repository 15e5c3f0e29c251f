//! Test plugin: in its first `on-events` call, reads its environment variables and arguments.
//! Anything found is emitted as `LEAK …` lines (what the tests look for); when there is nothing,
//! it panics saying so, so the host names it and disables it. (The working directory is not
//! asked: wasi-libc answers `/` whatever the host does.)

use httptrace_guest::{emit, Config, Event, Plugin, Verdict};

struct ReadEnv;

impl Plugin for ReadEnv {
    fn init(_: &Config) -> Result<Self, String> {
        Ok(ReadEnv)
    }

    fn on_events(&mut self, evs: &[Event]) -> Vec<Verdict> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        let args: Vec<String> = std::env::args().collect();
        for (k, v) in &vars {
            emit(&format!("LEAK env {k}={v}\n"));
        }
        for a in &args {
            emit(&format!("LEAK arg {a}\n"));
        }
        if vars.is_empty() && args.is_empty() {
            panic!("denied: 0 environment variables, 0 arguments");
        }
        vec![Verdict::Keep; evs.len()]
    }
}

httptrace_guest::export_plugin!(ReadEnv);
