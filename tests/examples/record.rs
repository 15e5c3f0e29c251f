//! Records a small, varied event log (NDJSON on stdout) against the local server: HTTP/1.1,
//! HTTP/2 over TLS, a redirect chain, a 404, a refused connection. Used to make the fixture
//! `tests/fixtures/conformance.ndjson`: `cargo run -p httptrace-tests --example record`.

use std::sync::Arc;

use httptrace::trace::MemorySink;
use httptrace::{Client, ClientOptions, RequestSpec};

#[tokio::main]
async fn main() {
    let serve = httptrace_tests::start_serve().await;
    let sink = MemorySink::new();
    let opts = ClientOptions { follow_redirects: true, ..httptrace_tests::trusting(&serve) };
    let client = Client::new(opts, Arc::new(sink.clone())).unwrap();
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let urls = [
        format!("http://{}/bytes/512", serve.http_addr),
        format!("http://localhost:{}/bytes/64", serve.http_addr.port()),
        format!("https://127.0.0.1:{}/delay/20", serve.https_addr.port()),
        format!("http://{}/redirect/2", serve.http_addr),
        format!("http://{}/status/404", serve.http_addr),
        format!("http://{refused}/"),
    ];
    for u in &urls {
        let mut spec = RequestSpec::get(u).unwrap();
        spec.headers.push(("authorization".into(), "Bearer not-shown".into()));
        client.execute(&spec).await;
    }
    for ev in sink.events() {
        println!("{}", ev.to_json());
    }
}
