//! Reading a recorded event log (the `ndjson` plugin's output) back into events, so a plugin
//! chain can be fed with no network: deterministic plugin development and tests.

use std::io::BufRead;

use crate::event::{Event, EventKind};

/// A problem with a recorded log, naming the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayError {
    /// 1-based line number (0 when the file could not be read at all).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for ReplayError {}

/// Parses one line of a log (a [`ReplayError`] with line 0: the caller knows the number).
pub fn parse_line(line: &str) -> Result<Event, ReplayError> {
    serde_json::from_str::<Event>(line).map_err(|e| {
        let kind =
            serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v.get("event").and_then(|k| k.as_str()).map(str::to_string));
        let message = match kind {
            Some(k) if crate::event::kind_index(&k).is_none() => format!("unknown event kind '{k}'"),
            _ => format!("not an httptrace event: {e}"),
        };
        ReplayError { line: 0, message }
    })
}

/// Reads a whole log, grouped into per-request batches as the engine hands them out: a batch
/// ends at each request's `request-done` (events of a request without one form a final batch).
/// Blank lines are skipped.
pub fn read_batches(reader: impl BufRead) -> Result<Vec<Vec<Event>>, ReplayError> {
    let mut batches: Vec<Vec<Event>> = Vec::new();
    let mut open: Vec<Event> = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| ReplayError { line: i + 1, message: format!("cannot read: {e}") })?;
        if line.trim().is_empty() {
            continue;
        }
        let ev = parse_line(&line).map_err(|e| ReplayError { line: i + 1, ..e })?;
        let done = matches!(ev.kind, EventKind::RequestDone { .. });
        let request = ev.request;
        open.push(ev);
        if done {
            // This request's events leave together; other requests' stay open (interleaved logs).
            let (mine, rest): (Vec<Event>, Vec<Event>) = open.into_iter().partition(|e| e.request == request);
            batches.push(mine);
            open = rest;
        }
    }
    if !open.is_empty() {
        batches.push(open);
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../../tests/fixtures/conformance.ndjson");

    /// A log recorded before fields were added (`key_exchange_group` in plugin contract 0.2.0,
    /// `post_data`, `client_certificate_*` and `client_lag_ns` in 0.3.0, `decoded_bytes` in
    /// 0.4.0, `clock` in 0.5.0, `proxy` in 0.6.0, the hops' `bytes` in 0.7.0) still reads: the fields
    /// are absent, and written back with their defaults.
    #[test]
    fn a_log_from_before_a_field_was_added_reads_back() {
        let line = FIXTURE.lines().find(|l| l.contains("\"tls-handshake-done\"")).unwrap();
        let old = line
            .replace(",\"key_exchange_group\":\"X25519\"", "")
            .replace(",\"client_certificate_requested\":false,\"client_certificate_sent\":false", "");
        assert_ne!(old, line, "the fixture carries the fields");
        assert!(!old.contains("client_certificate"), "{old}");
        let ev = parse_line(&old).unwrap();
        let crate::event::EventKind::TlsHandshakeDone { key_exchange_group, client_certificate_requested, .. } = &ev.kind else {
            panic!("{ev:?}")
        };
        assert_eq!((key_exchange_group, client_certificate_requested), (&None, &false));
        assert!(
            ev.to_json()
                .ends_with(",\"key_exchange_group\":null,\"client_certificate_requested\":false,\"client_certificate_sent\":false}"),
            "{}",
            ev.to_json()
        );
        let start = FIXTURE.lines().find(|l| l.contains("\"request-start\"")).unwrap();
        let ev = parse_line(&start.replace(",\"post_data\":null", "")).unwrap();
        assert_eq!(ev.to_json(), start);
        // 0.4.0's `decoded_bytes`.
        let body = FIXTURE.lines().find(|l| l.contains("\"response-done\"")).unwrap();
        let old = body.replace(",\"decoded_bytes\":null", "");
        assert_ne!(old, body);
        assert_eq!(parse_line(&old).unwrap().to_json(), body);
        // 0.5.0's `clock`: a log from before reads as the engine's clock.
        let headers = FIXTURE.lines().find(|l| l.contains("\"wrote-headers\"")).unwrap();
        let old = headers.rsplit_once(",\"clock\":").map(|(a, _)| format!("{a}}}")).unwrap();
        let crate::event::EventKind::WroteHeaders { clock } = parse_line(&old).unwrap().kind else { panic!("{old}") };
        assert_eq!(clock, crate::event::StampClock::Engine);
        let done = FIXTURE.lines().find(|l| l.contains("\"request-done\"")).unwrap();
        let without = done.rsplit_once(",\"client_lag_ns\":").map(|(a, _)| format!("{a}}}")).unwrap();
        let crate::event::EventKind::RequestDone { client_lag_ns, .. } = parse_line(&without).unwrap().kind else { panic!() };
        assert_eq!(client_lag_ns, None);
        // 0.6.0's `proxy` on the lookups and connects: absent reads as the origin's.
        for kind in ["\"dns-start\"", "\"dns-done\"", "\"connect-start\"", "\"connect-done\""] {
            let line = FIXTURE.lines().find(|l| l.contains(kind) && l.ends_with(",\"proxy\":null}")).unwrap_or_else(|| panic!("{kind}"));
            let old = line.replace(",\"proxy\":null}", "}");
            assert_eq!(parse_line(&old).unwrap().to_json(), line);
        }
        // 0.7.0's hop `bytes`: absent reads as zeros.
        let done = FIXTURE.lines().find(|l| l.contains("\"request-done\"") && l.contains("\"response_body\":512")).unwrap();
        let old = without_hop_bytes(done);
        assert!(!old.contains("\"bytes\""), "{old}");
        let crate::event::EventKind::RequestDone { hops, .. } = parse_line(&old).unwrap().kind else { panic!("{old}") };
        assert_eq!(hops[0].bytes, crate::event::ByteCounts::default());
        let crate::event::EventKind::RequestDone { hops, .. } = parse_line(done).unwrap().kind else { panic!("{done}") };
        assert_eq!(hops[0].bytes, crate::event::ByteCounts { request_body: 0, response_headers: 77, response_body: 512 });
    }

    /// `line` without its hops' `"bytes":{...}` fields.
    fn without_hop_bytes(line: &str) -> String {
        let mut out = String::new();
        let mut rest = line;
        while let Some(at) = rest.find(",\"bytes\":{") {
            out.push_str(&rest[..at]);
            let end = rest[at..].find('}').unwrap();
            rest = &rest[at + end + 1..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn the_recorded_fixture_round_trips_byte_for_byte() {
        for line in FIXTURE.lines() {
            let ev = parse_line(line).unwrap();
            assert_eq!(ev.to_json(), line);
        }
        let batches = read_batches(FIXTURE.as_bytes()).unwrap();
        assert_eq!(batches.len(), 12);
        assert!(batches.iter().all(|b| matches!(b.last().unwrap().kind, EventKind::RequestDone { .. })));
    }

    #[test]
    fn bad_lines_are_named() {
        let err = read_batches("\n{\"event\":\"nope\",\"request\":1}\n".as_bytes()).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("unknown event kind 'nope'"), "{err}");
        let err = read_batches("not json".as_bytes()).unwrap_err();
        assert!(err.to_string().starts_with("line 1: not an httptrace event"), "{err}");
    }
}
