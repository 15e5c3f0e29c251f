//! OpenTelemetry export end to end: a real collector (rotel's `rotel-agent`, from the Python
//! package `rotel`, installed by `scripts/test.sh`) in front of a verifier that receives what
//! the collector forwards (OTLP/HTTP) and decodes it with the official protobuf definitions
//! (`opentelemetry-proto`'s generated messages).

use std::convert::Infallible;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::nginx::free_addr;

/// The OTLP messages, for the tests' checks.
pub use opentelemetry_proto as proto;

/// A span with its resource's attributes.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The resource's attributes.
    pub resource: Vec<(String, String)>,
    /// The span.
    pub span: Span,
}

/// A metric with its resource's attributes.
#[derive(Debug, Clone)]
pub struct ReceivedMetric {
    /// The resource's attributes.
    pub resource: Vec<(String, String)>,
    /// The metric.
    pub metric: Metric,
}

#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    metrics: Vec<ReceivedMetric>,
    requests: usize,
    /// Answer this many more requests with `fail_status` before accepting any.
    fail_next: usize,
    fail_status: u16,
    /// Accept without decoding or keeping anything (a collector that costs nothing).
    discard: bool,
}

/// An attribute's value as text (strings as they are, numbers and booleans printed).
pub fn value_text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// The value of attribute `key` in `attrs`.
pub fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).map(value_text)
}

fn texts(attrs: &[KeyValue]) -> Vec<(String, String)> {
    attrs.iter().map(|kv| (kv.key.clone(), value_text(kv))).collect()
}

/// An OTLP/HTTP receiver on loopback that keeps everything it is sent, decoded.
pub struct Verifier {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Received>>,
    _thread: std::thread::JoinHandle<()>,
}

impl Verifier {
    /// Starts the receiver on a free loopback port.
    pub fn start() -> Verifier {
        Verifier::failing(0, 200)
    }

    /// Starts a receiver that accepts everything and keeps nothing but the count of requests
    /// (for benchmarks).
    pub fn discarding() -> Verifier {
        let v = Verifier::failing(0, 200);
        v.received.lock().unwrap().discard = true;
        v
    }

    /// Starts a receiver that answers its first `n` requests with `status` (and keeps nothing
    /// of them), then accepts.
    pub fn failing(n: usize, status: u16) -> Verifier {
        let received = Arc::new(Mutex::new(Received { fail_next: n, fail_status: status, ..Received::default() }));
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the verifier");
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let shared = received.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    let Ok((tcp, _)) = listener.accept().await else { continue };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                            let shared = shared.clone();
                            async move {
                                let path = req.uri().path().to_string();
                                let gzip = req.headers().get("content-encoding").is_some_and(|v| v == "gzip");
                                let mut body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                                if gzip {
                                    // rotel compresses what it forwards.
                                    let mut plain = Vec::new();
                                    use std::io::Read;
                                    let _ = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain);
                                    body = Bytes::from(plain);
                                }
                                let answer = handle(&shared, &path, &body);
                                Ok::<_, Infallible>(answer)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
                    });
                }
            });
        });
        Verifier { addr, received, _thread: thread }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.lock().unwrap().spans.clone()
    }

    /// Every metric received so far (each export's snapshot).
    pub fn metrics(&self) -> Vec<ReceivedMetric> {
        self.received.lock().unwrap().metrics.clone()
    }

    /// Export requests received so far.
    pub fn requests(&self) -> usize {
        self.received.lock().unwrap().requests
    }

    /// Waits until `pred` holds of the spans (or `timeout` passes); returns them.
    pub fn wait_spans(&self, timeout: Duration, pred: impl Fn(&[ReceivedSpan]) -> bool) -> Vec<ReceivedSpan> {
        let start = Instant::now();
        loop {
            let spans = self.spans();
            if pred(&spans) || start.elapsed() > timeout {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn handle(shared: &Mutex<Received>, path: &str, body: &Bytes) -> hyper::Response<Full<Bytes>> {
    let mut r = shared.lock().unwrap();
    r.requests += 1;
    if r.discard {
        return hyper::Response::builder().header("content-type", "application/x-protobuf").body(Full::new(Bytes::new())).unwrap();
    }
    if r.fail_next > 0 {
        r.fail_next -= 1;
        return hyper::Response::builder().status(r.fail_status).body(Full::new(Bytes::from_static(b"not now"))).unwrap();
    }
    let reply = |bytes: Vec<u8>| {
        hyper::Response::builder().header("content-type", "application/x-protobuf").body(Full::new(Bytes::from(bytes))).unwrap()
    };
    if path.ends_with("traces") {
        let Ok(req) = ExportTraceServiceRequest::decode(body.clone()) else {
            return hyper::Response::builder().status(400).body(Full::new(Bytes::from_static(b"bad protobuf"))).unwrap();
        };
        for rs in req.resource_spans {
            let resource = texts(&rs.resource.map(|r| r.attributes).unwrap_or_default());
            for ss in rs.scope_spans {
                for span in ss.spans {
                    r.spans.push(ReceivedSpan { resource: resource.clone(), span });
                }
            }
        }
        reply(ExportTraceServiceResponse::default().encode_to_vec())
    } else if path.ends_with("metrics") {
        let Ok(req) = ExportMetricsServiceRequest::decode(body.clone()) else {
            return hyper::Response::builder().status(400).body(Full::new(Bytes::from_static(b"bad protobuf"))).unwrap();
        };
        for rm in req.resource_metrics {
            let resource = texts(&rm.resource.map(|r| r.attributes).unwrap_or_default());
            for sm in rm.scope_metrics {
                for metric in sm.metrics {
                    r.metrics.push(ReceivedMetric { resource: resource.clone(), metric });
                }
            }
        }
        reply(ExportMetricsServiceResponse::default().encode_to_vec())
    } else {
        // Logs and anything else: accepted, not kept.
        reply(Vec::new())
    }
}

/// The `rotel-agent` binary: `$HTTPTRACE_ROTEL` (set by `scripts/test.sh`), else on `PATH`.
fn rotel_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("HTTPTRACE_ROTEL") {
        return PathBuf::from(p);
    }
    let found =
        std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("rotel-agent")).find(|p| p.is_file()));
    found
        .unwrap_or_else(|| panic!("rotel-agent not found: run scripts/test.sh (it installs the PyPI package rotel) or set HTTPTRACE_ROTEL"))
}

/// A running rotel collector: OTLP gRPC and HTTP receivers on loopback, exporting over
/// OTLP/HTTP to a [`Verifier`]; stopped when dropped.
pub struct Rotel {
    child: Option<Child>,
    /// The OTLP/gRPC receiver.
    pub grpc: SocketAddr,
    /// The OTLP/HTTP receiver.
    pub http: SocketAddr,
    forward_to: SocketAddr,
    dir: tempfile::TempDir,
}

impl Rotel {
    /// Starts rotel forwarding to `verifier`, and waits for its receivers.
    pub fn start(verifier: &Verifier) -> Rotel {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Rotel { child: None, grpc: free_addr(), http: free_addr(), forward_to: verifier.addr, dir };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("rotel.log")).unwrap();
        let mut cmd = Command::new(rotel_binary());
        cmd.arg("start")
            .args(["--otlp-grpc-endpoint", &self.grpc.to_string()])
            .args(["--otlp-http-endpoint", &self.http.to_string()])
            .args(["--exporter", "otlp"])
            .args(["--otlp-exporter-endpoint", &format!("http://{}", self.forward_to)])
            .args(["--otlp-exporter-protocol", "http"])
            // Forward at once, so that what rotel accepted is with the verifier when it stops.
            .args(["--batch-timeout", "10ms"])
            .args(["--pid-file", &self.dir.path().join("rotel.pid").display().to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, _) in std::env::vars() {
            if k.starts_with("OTEL_") || k.starts_with("ROTEL_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", rotel_binary().display()));
        self.child = Some(child);
        let start = Instant::now();
        while [self.grpc, self.http].iter().any(|a| TcpStream::connect_timeout(a, Duration::from_millis(100)).is_err()) {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("rotel exited ({status}): {}", self.log());
            }
            assert!(start.elapsed() < Duration::from_secs(20), "rotel did not listen within 20 s: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rotel.log")).unwrap_or_default()
    }

    /// Stops it gracefully (SIGTERM: what it accepted is forwarded first) and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid; no memory is passed.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if start.elapsed() > Duration::from_secs(10) {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.wait();
        }
    }

    /// Starts it again on the same ports.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        self.stop();
    }
}
