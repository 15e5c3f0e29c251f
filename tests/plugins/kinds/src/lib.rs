//! Test plugin for interest and verdicts: asks only for `dns-done` and `request-done`, drops
//! the kinds named by `drop=KIND` (repeatable), and at finish emits `kinds: <kind> <count>` for
//! every kind it saw (in declaration order), whether it kept or dropped them.

use httptrace_guest::{emit, Config, Event, EventType, Interest, Plugin, Verdict};

struct Kinds {
    drop: Interest,
    seen: [u64; EventType::ALL.len()],
}

impl Plugin for Kinds {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&["drop"])?;
        let drop = Interest::from_names(config.all("drop")).map_err(|e| format!("config `drop`: {e}"))?;
        Ok(Kinds { drop, seen: [0; EventType::ALL.len()] })
    }

    fn interest(&self) -> Interest {
        Interest::of(&[EventType::DnsDone, EventType::RequestDone])
    }

    fn on_event(&mut self, ev: &Event) -> Verdict {
        let ty = ev.kind.event_type();
        self.seen[ty.index()] += 1;
        if self.drop.contains(ty) {
            Verdict::Drop
        } else {
            Verdict::Keep
        }
    }

    fn finish(&mut self) -> Result<httptrace_guest::RunOutcome, String> {
        let mut out = String::new();
        for (ty, n) in EventType::ALL.iter().zip(self.seen).filter(|(_, n)| *n > 0) {
            out.push_str(&format!("kinds: {} {n}\n", ty.name()));
        }
        emit(&out);
        Ok(httptrace_guest::RunOutcome::Pass)
    }
}

httptrace_guest::export_plugin!(Kinds);
