//! Export httptrace's trace events to an OpenTelemetry collector over OTLP.
//!
//! An [`Exporter`] takes the events of finished requests (in httptrace, those that survive
//! the plugin chain) and turns each request into spans: a CLIENT span per request with the
//! HTTP client semantic conventions' attributes, a CLIENT child per hop (each request on the
//! wire), and a child per phase (dns, each connect attempt, proxy tunnel, tls, send, wait,
//! receive) whose start and end are the trace's own monotonic stamps mapped to wall time once
//! per request. The run's metrics (`http.client.request.duration` and one histogram per phase,
//! as base-2 exponential histograms that backends merge across instances; request and error
//! counters) are exported every `OTEL_METRIC_EXPORT_INTERVAL` and at the end.
//!
//! Export runs on a thread of its own with a bounded buffer (`OTEL_BSP_MAX_QUEUE_SIZE`
//! spans): [`Exporter::events`] never waits for the network. Failed sends are retried with
//! backoff (connection errors, 429, 502–504, gRPC's retryable codes); [`Exporter::finish`]
//! flushes within `OTEL_EXPORTER_OTLP_TIMEOUT` and reports what could not be delivered, and
//! why, in an [`ExportReport`].
//!
//! ```no_run
//! # fn events() -> Vec<httptrace::Event> { Vec::new() }
//! use httptrace_otlp::{Config, Exporter, Flags};
//!
//! let flags = Flags { endpoint: Some("http://127.0.0.1:4318".into()), ..Flags::default() };
//! let config = Config::new(&flags, &|name| std::env::var(name).ok()).unwrap().expect("export is on");
//! let mut exporter = Exporter::start(config).unwrap();
//! let batch = events();
//! exporter.events(&batch.iter().collect::<Vec<_>>());
//! let report = exporter.finish();
//! if let Some(line) = report.summary() {
//!     eprintln!("{line}");
//! }
//! ```
#![deny(missing_docs)]

mod config;
mod context;
mod error;
mod metrics;
mod spans;
mod transport;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use httptrace::event::{Event, KindSet};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

pub use config::{Config, Endpoint, Flags, Protocol, Sampler, Signal};
pub use context::{new_span_id, new_trace_id, to_hex, TraceParent};
pub use error::Error;
use transport::{Failure, Transport};

/// What an exporter needs recorded: every kind (phases become spans, fine hooks span events).
pub const INTEREST: KindSet = KindSet::ALL;

enum Msg {
    Spans(Vec<Span>),
    Metrics(Vec<Metric>, usize),
}

/// Exports requests' spans and the run's metrics; see the crate's documentation.
pub struct Exporter {
    config: Arc<Config>,
    tx: Option<tokio::sync::mpsc::UnboundedSender<Msg>>,
    /// Spans queued or being sent.
    queued: Arc<AtomicUsize>,
    /// Spans dropped because the buffer was full.
    dropped: u64,
    metrics: metrics::Metrics,
    last_metrics: Instant,
    thread: Option<JoinHandle<Delivery>>,
    close: Arc<Close>,
    spans: Vec<Span>,
}

/// What the export thread delivered and lost.
#[derive(Debug, Default)]
struct Delivery {
    spans_sent: u64,
    points_sent: u64,
    points_lost: u64,
    /// Spans lost, by reason.
    lost: BTreeMap<String, u64>,
}

/// What was exported, and what could not be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Spans the collector accepted.
    pub spans_sent: u64,
    /// Spans not delivered (buffer full, refused, or undeliverable by the exit deadline).
    pub spans_lost: u64,
    /// Metric data points the collector accepted in the last delivered snapshot(s).
    pub points_sent: u64,
    /// Data points of the final metrics snapshot that could not be delivered.
    pub points_lost: u64,
    /// Why, most frequent first: `(reason, spans)`.
    pub reasons: Vec<(String, u64)>,
    /// Where the spans went.
    pub endpoint: String,
}

impl ExportReport {
    /// One line for stderr when something was lost; `None` when all was delivered.
    pub fn summary(&self) -> Option<String> {
        if self.spans_lost == 0 && self.points_lost == 0 {
            return None;
        }
        let why: Vec<String> = self.reasons.iter().map(|(r, n)| if *n > 0 { format!("{r} ({n} spans)") } else { r.clone() }).collect();
        Some(format!(
            "httptrace: otlp: {} spans and {} metric points not delivered to {}: {}",
            self.spans_lost,
            self.points_lost,
            self.endpoint,
            if why.is_empty() { "unknown".to_string() } else { why.join("; ") }
        ))
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

impl Exporter {
    /// Starts the export thread. Fails on an unreadable `--otlp-cacert` or when the thread
    /// cannot start; the collector itself is not contacted until there is data.
    pub fn start(config: Config) -> Result<Exporter, Error> {
        let https = [&config.traces, &config.metrics].iter().any(|e| e.url.scheme() == "https");
        let tls = if https || config.cacert.is_some() { Some(transport::tls_config(config.cacert.as_deref())?) } else { None };
        let config = Arc::new(config);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let close = Arc::new(Close::default());
        let thread = {
            let (config, queued, close) = (config.clone(), queued.clone(), close.clone());
            std::thread::Builder::new()
                .name("httptrace-otlp".into())
                .spawn(move || deliver(config, tls, rx, queued, close))
                .map_err(|e| Error::start(format!("cannot start the export thread: {e}")))?
        };
        Ok(Exporter {
            config,
            tx: Some(tx),
            queued,
            dropped: 0,
            metrics: metrics::Metrics::new(unix_now()),
            last_metrics: Instant::now(),
            thread: Some(thread),
            close,
            spans: Vec::new(),
        })
    }

    /// Turns the events of finished requests into spans and metrics, and queues them (never
    /// waits). All of one request's events must come in the same call.
    pub fn events(&mut self, events: &[&Event]) {
        spans::build(events, self.config.parent.as_ref(), &self.config.recording, &mut self.spans, &mut self.metrics);
        if !self.spans.is_empty() {
            let n = self.spans.len();
            if self.queued.load(Ordering::Relaxed) + n > self.config.max_queue {
                self.dropped += n as u64;
                self.spans.clear();
            } else {
                self.queued.fetch_add(n, Ordering::Relaxed);
                if let Some(tx) = &self.tx {
                    let _ = tx.send(Msg::Spans(std::mem::take(&mut self.spans)));
                }
            }
        }
        if self.last_metrics.elapsed() >= self.config.metric_interval {
            self.send_metrics();
        }
    }

    fn send_metrics(&mut self) {
        self.last_metrics = Instant::now();
        let (metrics, points) = self.metrics.snapshot(unix_now());
        if let (Some(tx), false) = (&self.tx, metrics.is_empty()) {
            let _ = tx.send(Msg::Metrics(metrics, points));
        }
    }

    /// Sends the final metrics, flushes everything within the export timeout, stops the
    /// thread, and says what was delivered.
    pub fn finish(mut self) -> ExportReport {
        self.send_metrics();
        *self.close.deadline.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + self.config.timeout);
        self.close.notify.notify_one();
        self.tx = None;
        let delivery = match self.thread.take().map(|t| t.join()) {
            Some(Ok(d)) => d,
            // Whatever the thread held is lost: said so, not reported as delivered.
            _ => {
                let mut d = Delivery::default();
                d.lost.insert("the export thread failed".into(), self.queued.load(Ordering::Relaxed) as u64);
                d
            }
        };
        let mut lost = delivery.lost;
        if self.dropped > 0 {
            let why = format!(
                "the buffer of {} spans was full (raise OTEL_BSP_MAX_QUEUE_SIZE, or sample: OTEL_TRACES_SAMPLER=traceidratio \
                 OTEL_TRACES_SAMPLER_ARG=0.1)",
                self.config.max_queue
            );
            *lost.entry(why).or_default() += self.dropped;
        }
        let spans_lost = lost.values().sum();
        let mut reasons: Vec<(String, u64)> = lost.into_iter().collect();
        reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
        ExportReport {
            spans_sent: delivery.spans_sent,
            spans_lost,
            points_sent: delivery.points_sent,
            points_lost: delivery.points_lost,
            reasons,
            endpoint: Transport::new(self.config.traces.clone(), Signal::Traces, None).url(),
        }
    }
}

fn resource(config: &Config) -> Resource {
    Resource { attributes: config.resource.iter().map(|(k, v)| spans::kv(k, v.clone())).collect(), ..Default::default() }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope { name: "httptrace".into(), version: env!("CARGO_PKG_VERSION").into(), ..Default::default() }
}

/// The longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The first wait after a failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The exit deadline, set by [`Exporter::finish`] before it closes the queue: sends in
/// flight are cut short when it passes.
#[derive(Default)]
struct Close {
    deadline: std::sync::Mutex<Option<Instant>>,
    notify: tokio::sync::Notify,
}

impl Close {
    fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves once the exit deadline is set and has passed.
    async fn passed(&self) {
        loop {
            if let Some(d) = self.deadline() {
                tokio::time::sleep_until(d.into()).await;
                return;
            }
            self.notify.notified().await;
        }
    }
}

/// What a send came to: delivered, with how many items the collector rejected (OTLP's
/// partial success) and why; or failed.
async fn send_bounded(t: &mut Transport, message: Bytes, attempt: Duration, close: &Close) -> Result<Bytes, Failure> {
    tokio::select! {
        r = t.send(message, attempt) => r,
        _ = close.passed() => Err(Failure::Retry("the exit deadline passed during a send".into())),
    }
}

/// The export thread: batches spans, sends them and the metrics, retries with backoff, and
/// at the end flushes until the exit deadline.
fn deliver(
    config: Arc<Config>,
    tls: Option<Arc<rustls::ClientConfig>>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Msg>,
    queued: Arc<AtomicUsize>,
    close: Arc<Close>,
) -> Delivery {
    let mut d = Delivery::default();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            // Nothing can be sent: everything that arrives is lost, and said so.
            let why = format!("the export thread's runtime did not start: {e}");
            while let Some(m) = rx.blocking_recv() {
                if let Msg::Spans(v) = m {
                    *d.lost.entry(why.clone()).or_default() += v.len() as u64;
                }
            }
            return d;
        }
    };
    // Background work, as the plugin thread's: the engine's threads come first.
    lower_priority();
    rt.block_on(async move {
        let mut traces = Transport::new(config.traces.clone(), Signal::Traces, tls.clone());
        let mut metrics_out = Transport::new(config.metrics.clone(), Signal::Metrics, tls);
        let resource = resource(&config);
        let mut pending: VecDeque<Span> = VecDeque::new();
        // A batch taken out of `pending` and encoded, not delivered yet (sent again as is).
        let mut in_flight: Option<(Bytes, usize)> = None;
        let mut oldest: Option<Instant> = None;
        let mut snapshot: Option<(Vec<Metric>, usize)> = None;
        // After a failure: when to try again, and that the batch is due then.
        let mut retry_at: Option<Instant> = None;
        let mut backoff = FIRST_BACKOFF;
        let mut last_error: Option<String> = None;
        let mut closed = false;
        loop {
            let now = Instant::now();
            let deadline = close.deadline().filter(|_| closed);
            if let Some(dl) = deadline {
                if (pending.is_empty() && in_flight.is_none() && snapshot.is_none()) || now >= dl {
                    break;
                }
            }
            let due = in_flight.is_some()
                || !pending.is_empty()
                    && (closed
                        || retry_at.is_some()
                        || pending.len() >= config.batch_size
                        || oldest.is_some_and(|o| now >= o + config.schedule_delay));
            let may = retry_at.is_none_or(|at| now >= at);
            if may && (due || snapshot.is_some()) {
                // Each send gets the export timeout, and never more than is left to the deadline.
                let attempt = || {
                    let left = close.deadline().filter(|_| closed).map(|dl| dl.saturating_duration_since(Instant::now()));
                    left.map_or(config.timeout, |l| config.timeout.min(l))
                };
                let mut failed = None;
                if due {
                    let (message, n) = match in_flight.take() {
                        Some(batch) => batch,
                        None => {
                            let n = pending.len().min(config.batch_size);
                            let spans: Vec<Span> = pending.drain(..n).collect();
                            let req = ExportTraceServiceRequest {
                                resource_spans: vec![ResourceSpans {
                                    resource: Some(resource.clone()),
                                    scope_spans: vec![ScopeSpans { scope: Some(scope()), spans, ..Default::default() }],
                                    ..Default::default()
                                }],
                            };
                            (Bytes::from(req.encode_to_vec()), n)
                        }
                    };
                    let outcome = send_bounded(&mut traces, message.clone(), attempt(), &close).await;
                    match outcome {
                        Ok(answer) => {
                            // OTLP's partial success: what the collector took but rejected.
                            let partial = ExportTraceServiceResponse::decode(answer).ok().and_then(|r| r.partial_success);
                            let rejected = partial.as_ref().map_or(0, |p| p.rejected_spans.clamp(0, n as i64) as u64);
                            if rejected > 0 {
                                let why = partial.map(|p| p.error_message).filter(|m| !m.is_empty());
                                let why = format!("the collector rejected them: {}", why.as_deref().unwrap_or("no reason given"));
                                *d.lost.entry(why).or_default() += rejected;
                            }
                            d.spans_sent += n as u64 - rejected;
                            queued.fetch_sub(n, Ordering::Relaxed);
                            oldest = (!pending.is_empty()).then(Instant::now);
                        }
                        Err(Failure::Permanent(why)) => {
                            *d.lost.entry(why).or_default() += n as u64;
                            queued.fetch_sub(n, Ordering::Relaxed);
                            oldest = (!pending.is_empty()).then(Instant::now);
                        }
                        Err(Failure::Retry(why)) => {
                            in_flight = Some((message, n));
                            failed = Some(why);
                        }
                    }
                }
                if failed.is_none() {
                    if let Some((metrics, points)) = snapshot.take() {
                        let req = ExportMetricsServiceRequest {
                            resource_metrics: vec![ResourceMetrics {
                                resource: Some(resource.clone()),
                                scope_metrics: vec![ScopeMetrics { scope: Some(scope()), metrics: metrics.clone(), ..Default::default() }],
                                ..Default::default()
                            }],
                        };
                        match send_bounded(&mut metrics_out, Bytes::from(req.encode_to_vec()), attempt(), &close).await {
                            Ok(answer) => {
                                let partial = ExportMetricsServiceResponse::decode(answer).ok().and_then(|r| r.partial_success);
                                let rejected = partial.as_ref().map_or(0, |p| p.rejected_data_points.clamp(0, points as i64) as u64);
                                d.points_sent = points as u64 - rejected;
                                // Cumulative: this snapshot holds whatever an earlier one lost.
                                d.points_lost = rejected;
                                if rejected > 0 {
                                    let why = partial.map(|p| p.error_message).filter(|m| !m.is_empty());
                                    d.lost
                                        .entry(format!("the collector rejected points: {}", why.as_deref().unwrap_or("no reason given")))
                                        .or_default();
                                }
                            }
                            Err(Failure::Permanent(why)) => {
                                d.points_lost = points as u64;
                                d.lost.entry(why).or_default();
                            }
                            Err(Failure::Retry(why)) => {
                                snapshot = Some((metrics, points));
                                failed = Some(why);
                            }
                        }
                    }
                }
                match failed {
                    Some(why) => {
                        last_error = Some(why);
                        retry_at = Some(Instant::now() + backoff);
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                    None => {
                        retry_at = None;
                        backoff = FIRST_BACKOFF;
                    }
                }
                continue;
            }
            // Nothing to send now: sleep until a batch is due, a retry, the deadline, or a
            // message. (A retry time already past with nothing to send is dropped: no spin.)
            if retry_at.is_some_and(|at| at <= now) {
                retry_at = None;
            }
            let mut wake = deadline.unwrap_or(now + Duration::from_secs(3600));
            if let Some(at) = retry_at {
                wake = wake.min(at);
            } else if let Some(o) = oldest {
                wake = wake.min(o + config.schedule_delay);
            }
            if closed {
                tokio::time::sleep_until(wake.into()).await;
                continue;
            }
            tokio::select! {
                m = rx.recv() => match m {
                    Some(Msg::Spans(v)) => {
                        if pending.is_empty() {
                            oldest = Some(Instant::now());
                        }
                        pending.extend(v);
                    }
                    // Cumulative: a newer snapshot replaces one not sent yet.
                    Some(Msg::Metrics(m, n)) => snapshot = Some((m, n)),
                    None => closed = true,
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
        let unsent = pending.len() + in_flight.map_or(0, |(_, n)| n);
        if unsent > 0 {
            let why = match &last_error {
                Some(e) => format!("{e} (still failing when the {} ms exit deadline passed)", config.timeout.as_millis()),
                None => format!("not sent within the {} ms exit deadline", config.timeout.as_millis()),
            };
            *d.lost.entry(why).or_default() += unsent as u64;
        }
        if let Some((_, points)) = snapshot {
            d.points_lost = points as u64;
            if pending.is_empty() {
                d.lost.entry(last_error.unwrap_or_else(|| "the exit deadline passed".into())).or_default();
            }
        }
        d
    })
}

/// Lowers the calling thread's scheduling priority (nice +10, Linux): export is background
/// work, and when the cores are contended the engine's threads, whose stamps are the product,
/// run first. It cannot starve anything: the buffer is bounded, and what does not fit is
/// counted and reported.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread's own id; no memory is passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}
