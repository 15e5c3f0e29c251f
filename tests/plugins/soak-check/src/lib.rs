//! Test plugin for long runs: counts every event and every `request-done`, and checks that each
//! request's events arrive in order — `at_ns` and `hop` never go back, nothing of a request
//! arrives after its `request-done`, and every request that started ends. At finish it emits
//! one line:
//!
//! `soak-check: requests=N request-done=N events=N open=N violations=N[ first=…]`

use std::collections::{HashMap, HashSet};

use httptrace_guest::{emit, Config, Event, EventKind, Plugin, RunOutcome, Verdict};

/// The last event seen of a request still running.
struct Last {
    at_ns: u64,
    hop: u32,
}

#[derive(Default)]
struct SoakCheck {
    events: u64,
    done: u64,
    running: HashMap<u64, Last>,
    finished: HashSet<u64>,
    violations: u64,
    first: Option<String>,
}

impl SoakCheck {
    fn violation(&mut self, what: String) {
        self.violations += 1;
        self.first.get_or_insert(what);
    }
}

impl Plugin for SoakCheck {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&[])?;
        Ok(SoakCheck::default())
    }

    fn on_event(&mut self, ev: &Event) -> Verdict {
        self.events += 1;
        let name = ev.kind.event_type().name();
        if self.finished.contains(&ev.request) {
            self.violation(format!("request {}: {name} after request-done", ev.request));
            return Verdict::Keep;
        }
        let problem = match self.running.get(&ev.request) {
            Some(last) if ev.at_ns < last.at_ns => Some(format!("at_ns {} after {}", ev.at_ns, last.at_ns)),
            Some(last) if ev.hop < last.hop => Some(format!("hop {} after {}", ev.hop, last.hop)),
            _ => None,
        };
        if let Some(p) = problem {
            self.violation(format!("request {}: {name}: {p}", ev.request));
        }
        self.running.insert(ev.request, Last { at_ns: ev.at_ns, hop: ev.hop });
        if let EventKind::RequestDone(_) = ev.kind {
            self.done += 1;
            self.running.remove(&ev.request);
            self.finished.insert(ev.request);
        }
        Verdict::Keep
    }

    fn finish(&mut self) -> Result<RunOutcome, String> {
        let first = self.first.as_deref().map(|f| format!(" first={f}")).unwrap_or_default();
        emit(&format!(
            "soak-check: requests={} request-done={} events={} open={} violations={}{first}\n",
            self.finished.len() + self.running.len(),
            self.done,
            self.events,
            self.running.len(),
            self.violations
        ));
        Ok(RunOutcome::Pass)
    }
}

httptrace_guest::export_plugin!(SoakCheck);
