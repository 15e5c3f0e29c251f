//! Trace one request and print every event as JSON, one per line; no WebAssembly involved.
//!
//! `cargo run -p httptrace --example trace_one -- https://example.com/`

use std::sync::Arc;

use httptrace::trace::MemorySink;
use httptrace::{Client, ClientOptions, RequestSpec};

/// Traces `url` and returns its events as JSON lines.
async fn trace(url: &str) -> Result<Vec<String>, httptrace::Error> {
    let sink = MemorySink::new();
    let client = Client::new(ClientOptions::default(), Arc::new(sink.clone()))?;
    let outcome = client.execute(&RequestSpec::get(url)?).await;
    if let Some(e) = &outcome.error {
        eprintln!("{url}: {e}");
    }
    Ok(sink.events().iter().map(|e| e.to_json()).collect())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let url = std::env::args().nth(1).unwrap_or_else(|| "https://example.com/".into());
    match trace(&url).await {
        Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
        Err(e) => eprintln!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn traces_a_local_request() {
        let url = format!("http://{}/", super::local::serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
        let lines = super::trace(&url).await.unwrap();
        assert!(lines.first().unwrap().contains(r#""event":"request-start""#));
        assert!(lines.iter().any(|l| l.contains(r#""event":"got-first-response-byte""#)));
        assert!(lines.last().unwrap().contains(r#""event":"request-done""#) && lines.last().unwrap().contains(r#""status":200"#));
    }
}

#[cfg(test)]
#[path = "support/local.rs"]
mod local;
