//! Implement a `Sink`: one summary line per finished request (status and HAR timings), and
//! a load run that the sink stops after it has seen enough requests.
//!
//! `cargo run -p httptrace --example custom_sink -- http://127.0.0.1:8080/ 20`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use httptrace::loadgen::{self, Counters, LoadPlan};
use httptrace::trace::Sink;
use httptrace::{Client, ClientOptions, Event, EventKind, RequestSpec};

/// Keeps one line per request; closes after `limit` requests, which stops the load run.
struct Summaries {
    lines: Mutex<Vec<String>>,
    seen: AtomicU64,
    limit: u64,
}

impl Sink for Summaries {
    fn request_events(&self, events: Vec<Event>) {
        self.seen.fetch_add(1, Ordering::Relaxed);
        // Every batch ends with `request-done`, which carries the request's summary.
        if let Some(EventKind::RequestDone { status, timings: t, error, .. }) = events.last().map(|e| &e.kind) {
            let outcome = match (status, error) {
                (_, Some(e)) => format!("failed in {}", e.phase.as_str()),
                (Some(s), None) => s.to_string(),
                (None, None) => "-".into(),
            };
            let line = format!("{outcome} dns={:.2} connect={:.2} wait={:.2} total={:.2} ms", t.dns, t.connect, t.wait, t.total);
            self.lines.lock().unwrap().push(line);
        }
    }

    fn is_closed(&self) -> bool {
        self.seen.load(Ordering::Relaxed) >= self.limit
    }
}

/// Runs up to a million requests to `url` on 2 workers; the sink stops the run at `limit`.
async fn run(url: &str, limit: u64) -> Vec<String> {
    let sink = Arc::new(Summaries { lines: Mutex::default(), seen: AtomicU64::new(0), limit });
    let client = Client::new(ClientOptions::default(), sink.clone()).expect("client");
    let plan = LoadPlan {
        requests: vec![RequestSpec::get(url).expect("url")],
        total: Some(1_000_000),
        duration: None,
        concurrency: 2,
        rate: None,
    };
    loadgen::run(&client, &plan, Arc::new(Counters::default())).await;
    let lines = sink.lines.lock().unwrap().clone();
    lines
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "http://127.0.0.1:8080/".into());
    let limit = args.next().and_then(|n| n.parse().ok()).unwrap_or(10);
    run(&url, limit).await.iter().for_each(|l| println!("{l}"));
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_sink_stops_the_run() {
        let url = format!("http://{}/", super::local::serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"));
        let lines = super::run(&url, 5).await;
        // The two workers each finish the request they had started when the sink closed.
        assert!((5..=6).contains(&lines.len()), "{lines:?}");
        assert!(lines.iter().all(|l| l.starts_with("200 dns=-1.00 connect=")), "{lines:?}");
    }
}

#[cfg(test)]
#[path = "support/local.rs"]
mod local;
