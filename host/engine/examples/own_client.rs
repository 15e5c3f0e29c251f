//! Trace the requests of a program's own hyper-util client: the program keeps its
//! `legacy::Client` builder and settings, and takes httptrace's connector; each request's
//! events (DNS, connect attempts, TLS, bytes on the wire, the summary) reach a sink.
//!
//! `cargo run -p httptrace --example own_client -- https://example.com/`

use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use httptrace::adapter::TracedClient;
use httptrace::trace::MemorySink;
use httptrace::ClientOptions;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Gets `url` twice on one client (the second request reuses the connection) and returns
/// every event as JSON lines.
async fn trace_twice(url: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let sink = MemorySink::new();
    let client: TracedClient<Empty<bytes::Bytes>> =
        TracedClient::new(&Client::builder(TokioExecutor::new()), ClientOptions::default(), Arc::new(sink.clone()))?;
    for _ in 0..2 {
        let response = client.request(http::Request::get(url).body(Empty::new())?).await?;
        // The trace ends with the body: read it (or drop it).
        response.into_body().collect().await?;
    }
    Ok(sink.events().iter().map(|e| e.to_json()).collect())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let url = std::env::args().nth(1).unwrap_or_else(|| "https://example.com/".into());
    match trace_twice(&url).await {
        Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
        Err(e) => eprintln!("{url}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn traces_two_requests_on_one_connection() {
        let url = format!("http://{}/", super::local::serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
        let lines = super::trace_twice(&url).await.unwrap();
        let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
        assert_eq!(count(r#""event":"request-done""#), 2, "{lines:#?}");
        assert_eq!(count(r#""event":"connect-done""#), 1, "one connection for both: {lines:#?}");
        assert_eq!(count(r#""reused":true"#), 1, "{lines:#?}");
        assert_eq!(count(r#""event":"got-first-response-byte""#), 2, "{lines:#?}");
    }
}

#[cfg(test)]
#[path = "support/local.rs"]
mod local;
