//! Secrets are redacted in every event by default; HTTP/2 GOAWAY from a real h2 server gives a
//! partial trace and a typed error.

use std::sync::Arc;

use httptrace::trace::MemorySink;
use httptrace::{Client, ClientOptions, EventKind, HttpVersion, Phase, RequestSpec};
use httptrace_cli::exit;
use httptrace_tests::{request_done, start_serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn set_cookie_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nset-cookie: session=s3cret\r\ncontent-length: 2\r\n\r\nok").await;
        }
    });
    addr
}

async fn run(show_secrets: bool, url: &str) -> Vec<httptrace::Event> {
    let sink = MemorySink::new();
    let client = Client::new(ClientOptions { show_secrets, ..ClientOptions::default() }, Arc::new(sink.clone())).unwrap();
    let mut spec = RequestSpec::get(url).unwrap();
    spec.headers.push(("authorization".into(), "Bearer t0ken".into()));
    spec.headers.push(("cookie".into(), "a=b".into()));
    spec.headers.push(("x-visible".into(), "yes".into()));
    client.execute(&spec).await;
    sink.events()
}

#[tokio::test]
async fn secrets_are_redacted_unless_asked() {
    let addr = set_cookie_server().await;
    let url = format!("http://{addr}/");
    let text = serde_json::to_string(&run(false, &url).await).unwrap();
    for secret in ["t0ken", "a=b", "s3cret"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert!(text.contains("[redacted]") && text.contains("x-visible"));
    let shown = serde_json::to_string(&run(true, &url).await).unwrap();
    for secret in ["t0ken", "a=b", "s3cret"] {
        assert!(shown.contains(secret), "--show-secrets shows {secret}");
    }
}

#[tokio::test]
async fn secrets_are_redacted_over_http2_too() {
    let serve = start_serve().await;
    let sink = MemorySink::new();
    let opts = ClientOptions { http: HttpVersion::Http2PriorKnowledge, ..ClientOptions::default() };
    let client = Client::new(opts, Arc::new(sink.clone())).unwrap();
    let mut spec = RequestSpec::get(&format!("http://{}/", serve.http_addr)).unwrap();
    spec.headers.push(("authorization".into(), "Bearer t0ken".into()));
    client.execute(&spec).await;
    let fields: Vec<(String, String)> = sink
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WroteHeaderField { name, value } => Some((name.clone(), value.clone())),
            _ => None,
        })
        .collect();
    assert!(fields.contains(&("authorization".into(), "[redacted]".into())), "{fields:?}");
}

#[tokio::test]
async fn http2_goaway_before_the_response() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let mut conn = h2::server::handshake(sock).await.unwrap();
        if let Some(Ok((_req, _respond))) = conn.accept().await {
            conn.abrupt_shutdown(h2::Reason::INTERNAL_ERROR);
            while conn.accept().await.is_some() {}
        }
    });
    let sink = MemorySink::new();
    let opts = ClientOptions { http: HttpVersion::Http2PriorKnowledge, ..ClientOptions::default() };
    let client = Client::new(opts, Arc::new(sink.clone())).unwrap();
    let o = client.execute(&RequestSpec::get(&format!("http://{addr}/")).unwrap()).await;
    let events = sink.events();
    let EventKind::RequestDone { error, .. } = request_done(&events) else { unreachable!() };
    let e = error.clone().expect("an error");
    assert_eq!(o.error.as_ref(), Some(&e));
    assert!(matches!(e.kind.as_str(), "goaway" | "stream-reset"), "{e:?}");
    assert_eq!(e.phase, Phase::Wait, "{e:?}");
    assert_eq!(exit::for_error(&e), exit::RECEIVE);
    assert!(events.iter().any(|e| e.kind.name() == "wrote-request"));
}
