//! `filter`: keeps the events that match, drops the rest, so the plugins after it see less.
//!
//! Keys (`--plugin-config KEY=VALUE`); each may repeat or take a comma-separated list, and
//! then means "any of these". Different keys must all match.
//!
//! | key | keeps |
//! |---|---|
//! | `kind=K` | events of kind `K` (e.g. `request-done`); without it, every kind |
//! | `host=PATTERN` | requests whose URL host matches the glob (`*`, `?`; case-insensitive) |
//! | `url=PATTERN` | requests whose URL matches the glob |
//! | `status=2xx`, `status=404` | requests whose final status is in the class or is the code |
//! | `failed=true` / `false` | requests that failed / succeeded |
//! | `min-total=200ms` | requests that took at least that long in all (curl's `time_total`) |
//! | `min-PHASE=DURATION` | requests whose HAR phase (`blocked`, `dns`, `connect`, `ssl`, `send`, `wait`, `receive`), summed over hops, took at least that long |
//!
//! Request criteria judge a request as a whole and apply to all its events: a request matches
//! `host`/`url` when any of its hops (the URL asked for, or one it was redirected to) does;
//! a request that never got a status matches no `status`. The host hands over a request's
//! events in one batch ending with `request-done`, so the filter decides per request after
//! seeing the whole batch. An event is kept when its kind is wanted and its request matches.

mod criteria;

use std::collections::HashMap;

use criteria::{Criteria, RequestFacts};
use httptrace_guest::{log, Config, Event, EventKind, Level, Plugin, Verdict};

/// The filter: its criteria and what it knows of requests not finished yet.
struct Filter {
    criteria: Criteria,
    requests: HashMap<u64, RequestFacts>,
}

impl Plugin for Filter {
    fn init(config: &Config) -> Result<Self, String> {
        let criteria = Criteria::from_config(config)?;
        if config.is_empty() {
            log(Level::Warn, "no criteria given: every event is kept");
        }
        Ok(Filter { criteria, requests: HashMap::new() })
    }

    fn on_events(&mut self, evs: &[Event]) -> Vec<Verdict> {
        let judge = self.criteria.judges_requests();
        if judge {
            for ev in evs {
                learn(self.requests.entry(ev.request).or_default(), ev);
            }
        }
        let verdicts = evs
            .iter()
            .map(|ev| {
                let kind_ok = self.criteria.kinds.contains(ev.kind.event_type());
                let request_ok = !judge || self.requests.get(&ev.request).is_some_and(|r| self.criteria.matches(r));
                if kind_ok && request_ok {
                    Verdict::Keep
                } else {
                    Verdict::Drop
                }
            })
            .collect();
        // Requests that ended in this batch are decided for good.
        self.requests.retain(|_, r| r.done.is_none());
        verdicts
    }
}

/// Folds what an event says about its request into the request's facts.
fn learn(r: &mut RequestFacts, ev: &Event) {
    match &ev.kind {
        EventKind::RequestStart(s) => r.urls.push(s.url.clone()),
        EventKind::ResponseHeaders(h) => r.status = Some(h.status),
        EventKind::RequestDone(d) => {
            r.urls.push(d.url.clone());
            r.status = d.status.or(r.status);
            r.done = Some((d.error.is_some(), d.timings, d.marks));
        }
        _ => {}
    }
}

httptrace_guest::export_plugin!(Filter);

#[cfg(test)]
mod tests;
