//! Test plugin for interest and verdicts: asks only for `dns-done` and `request-done`, drops
//! the kinds named by `drop=KIND` (repeatable), and at finish emits `kinds: <kind> <count>` for
//! every kind it saw (in declaration order), whether it kept or dropped them.
//!
//! `header-lists=yes|no` also asks for `response-headers`, with or without its header list
//! ([`Interest::without_header_lists`]), and at finish emits `header fields: <n>` (the entries
//! of every header list it was handed) and `header bytes: <n>` (their `header-bytes`).

use httptrace_guest::{emit, Config, Event, EventKind, EventType, Interest, Plugin, Verdict};

struct Kinds {
    drop: Interest,
    /// `header-lists`: `None` when not given.
    header_lists: Option<bool>,
    seen: [u64; EventType::ALL.len()],
    header_fields: u64,
    header_bytes: u64,
}

impl Plugin for Kinds {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&["drop", "header-lists"])?;
        let drop = Interest::from_names(config.all("drop")).map_err(|e| format!("config `drop`: {e}"))?;
        let header_lists = match config.get("header-lists") {
            None => None,
            Some("yes") => Some(true),
            Some("no") => Some(false),
            Some(other) => return Err(format!("config `header-lists`: `{other}` is neither yes nor no")),
        };
        Ok(Kinds { drop, header_lists, seen: [0; EventType::ALL.len()], header_fields: 0, header_bytes: 0 })
    }

    fn interest(&self) -> Interest {
        let base = Interest::of(&[EventType::DnsDone, EventType::RequestDone]);
        match self.header_lists {
            None => base,
            Some(true) => base.with(EventType::ResponseHeaders),
            Some(false) => base.with(EventType::ResponseHeaders).without_header_lists(),
        }
    }

    fn on_event(&mut self, ev: &Event) -> Verdict {
        let ty = ev.kind.event_type();
        self.seen[ty.index()] += 1;
        if let EventKind::ResponseHeaders(r) = &ev.kind {
            self.header_fields += r.headers.len() as u64;
            self.header_bytes += r.header_bytes;
        }
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
        if self.header_lists.is_some() {
            out.push_str(&format!("header fields: {}\nheader bytes: {}\n", self.header_fields, self.header_bytes));
        }
        emit(&out);
        Ok(httptrace_guest::RunOutcome::Pass)
    }
}

httptrace_guest::export_plugin!(Kinds);
