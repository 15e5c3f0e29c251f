//! Records a small, varied event log (NDJSON on stdout) against the local server: HTTP/1.1,
//! HTTP/2 over TLS, a redirect chain, a 404, a refused connection, a POST with a body,
//! requests through proxies (a `CONNECT` tunnel through tinyproxy, SOCKS5 through microsocks,
//! named `localhost`, and a tunnel refused with 407), and HTTP/3 (one request over QUIC, one QUIC handshake that
//! gets no answer). Used to make the fixture
//! `tests/fixtures/conformance.ndjson`: `cargo run -p httptrace-tests --example record` (with
//! tinyproxy and microsocks installed, as `scripts/test.sh` does).

use std::sync::Arc;

use httptrace::trace::MemorySink;
use httptrace::{Client, ClientOptions, HttpVersion, Proxy, ProxyConfig, RequestSpec};
use httptrace_tests::proxies::ProxyProcess;

#[tokio::main]
async fn main() {
    let serve = httptrace_tests::start_serve().await;
    let sink = MemorySink::new();
    let opts = ClientOptions { follow_redirects: true, ..httptrace_tests::trusting(&serve) };
    let client = Client::new(opts.clone(), Arc::new(sink.clone())).unwrap();
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
    let mut post = RequestSpec::get(&format!("http://{}/continue", serve.http_addr)).unwrap();
    post.method = http::Method::POST;
    post.headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
    post.body = bytes::Bytes::from_static("name=caf\u{e9}&n=1".as_bytes());
    client.execute(&post).await;
    let tinyproxy = ProxyProcess::tinyproxy(None);
    let locked = ProxyProcess::tinyproxy(Some(("user", "pw")));
    let socks = ProxyProcess::microsocks(None);
    let through = [
        (tinyproxy.url("http"), format!("https://127.0.0.1:{}/bytes/32", serve.https_addr.port())),
        // By name: the proxy's own lookup is in the log too.
        (socks.url("socks5h").replace("127.0.0.1", "localhost"), format!("http://{}/bytes/16", serve.http_addr)),
        (locked.url("http"), format!("https://127.0.0.1:{}/", serve.https_addr.port())),
    ];
    for (proxy, url) in &through {
        let proxy: Proxy = proxy.parse().unwrap();
        let opts = ClientOptions { proxy: ProxyConfig::all(proxy), ..opts.clone() };
        let client = Client::new(opts, Arc::new(sink.clone())).unwrap();
        client.execute(&RequestSpec::get(url).unwrap()).await;
    }
    let h3 = httptrace_cli::serve::start(httptrace_cli::serve::ServeOptions { h3_port: Some(0), ..Default::default() }).await.unwrap();
    let quic = ClientOptions {
        http: HttpVersion::Http3Only,
        insecure: true,
        quic_idle_timeout: std::time::Duration::from_millis(300),
        ..opts.clone()
    };
    let client = Client::new(quic, Arc::new(sink.clone())).unwrap();
    for url in [format!("https://{}/bytes/8", h3.h3_addr.unwrap()), format!("https://127.0.0.1:{}/", serve.https_addr.port())] {
        client.execute(&RequestSpec::get(&url).unwrap()).await;
    }
    for ev in sink.events() {
        println!("{}", ev.to_json());
    }
}
