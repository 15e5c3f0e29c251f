//! In-process benchmarks of tracing's cost, as ratios measured in the same run (absolute times
//! on shared machines are noise):
//!
//! - R1: a keep-alive loop of GETs on loopback with tracing on and the `stats` plugin as the
//!   only plugin (recording what it asks for, as the CLI does) ÷ the same engine with tracing
//!   off; also the engine's recording alone, into a sink that drops every batch.
//! - R4: the amortised host→plugin cost per event (ns), feeding recorded requests through a
//!   chain in batches as the chain thread coalesces them: the crossing alone (the default
//!   chain's kinds to `tests/plugins/keep`, which does nothing, through the Rust SDK; and to
//!   `tests/plugins/keep-compact`, which takes the compact form without the SDK), the default
//!   chain (`timeline`, with its rendering) and `stats`.
//!
//! `cargo bench -p httptrace-cli --bench overhead` (or `bench/run.sh` for the whole table).
//! Environment: `BENCH_REQUESTS` (default 20000), `BENCH_ROUNDS` (default 5), `BENCH_R4_EVENTS` (default 200000), `BENCH_ONLY=r4`, `crossing` or
//! `timeline` (for profiling; `BENCH_TIMELINE=FILE` and `BENCH_KEEP=FILE` load those builds of
//! `timeline` and `keep`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use httptrace::event::{kind, KindSet};
use httptrace::trace::{ChannelSink, MemorySink, Sink};
use httptrace::{Client, ClientOptions, Event, RequestSpec};
use httptrace_plugin_host::{Chain, ChainOptions, Output, PluginSource, PluginSpec, Runtime, RuntimeOptions, COALESCE_EVENTS};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn chain(rt: &Runtime, plugin: &str) -> Chain {
    chain_with(rt, plugin, vec![])
}

fn chain_with(rt: &Runtime, plugin: &str, config: Vec<(String, String)>) -> Chain {
    let spec = PluginSpec { source: PluginSource::parse(plugin), config };
    Chain::start(rt, &[spec], Output::writer(std::io::sink()), ChainOptions::default()).expect("chain")
}

/// CPU time of the whole process so far (all threads: client, server, plugin thread).
fn process_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `n` sequential keep-alive GETs; returns the wall time and the process's CPU time.
async fn keep_alive_loop(client: &Client, spec: &RequestSpec, n: usize) -> (f64, f64) {
    // One warm-up request opens the connection.
    client.execute(spec).await;
    let (t, cpu) = (Instant::now(), process_cpu());
    for _ in 0..n {
        let o = client.execute(spec).await;
        assert!(o.error.is_none(), "{:?}", o.error);
    }
    (t.elapsed().as_secs_f64(), (process_cpu() - cpu).as_secs_f64())
}

/// R1's figures, µs per request (medians over the rounds).
struct R1 {
    base: f64,
    traced: f64,
    /// Traced, and every span exported over OTLP (to a local receiver that discards them).
    exported: f64,
    recorded: f64,
    base_cpu: f64,
    traced_cpu: f64,
}

/// The OTLP exporter as the chain's tail (as `httptrace --otlp` wires it).
struct ExportTail(Option<httptrace_otlp::Exporter>);

impl httptrace_plugin_host::Tail for ExportTail {
    fn interest(&self) -> KindSet {
        httptrace_otlp::INTEREST
    }

    fn events(&mut self, events: &[&Event]) {
        if let Some(e) = self.0.as_mut() {
            e.events(events);
        }
    }

    fn finish(&mut self) {
        if let Some(e) = self.0.take() {
            let report = e.finish();
            assert_eq!(report.spans_lost, 0, "{:?}", report.summary());
        }
    }
}

/// A sink that drops every batch: isolates the engine's recording cost from the plugins'.
struct DropSink;

impl Sink for DropSink {
    fn request_events(&self, events: Vec<Event>) {
        drop(events);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let n = env_num("BENCH_REQUESTS", 20_000);
    let rounds = env_num("BENCH_ROUNDS", 5);
    // The server gets its own runtime thread and the client a current-thread runtime, so every
    // request crosses between the two threads the same way (a shared multi-thread runtime
    // sometimes ran both ends on one worker and sometimes not: baselines of 62-92 µs).
    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let plugins =
        Runtime::new(RuntimeOptions { bundled: httptrace_cli::bundled::BUNDLED, ..RuntimeOptions::default() }).expect("wasm runtime");

    // R1 -------------------------------------------------------------------------------------
    // `BENCH_ONLY=r4` skips R1 (for profiling the crossing).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let only_r4 = only == "r4" || only == "crossing" || only == "timeline";
    let r1 = if only_r4 {
        R1 { base: f64::NAN, traced: f64::NAN, exported: f64::NAN, recorded: f64::NAN, base_cpu: f64::NAN, traced_cpu: f64::NAN }
    } else {
        rt.block_on(async {
            let serve = server_rt.spawn(httptrace_cli::serve::start(Default::default())).await.unwrap().unwrap();
            let spec = RequestSpec::get(&format!("http://{}/", serve.http_addr)).unwrap();
            let off = Client::new(ClientOptions { tracing: false, ..ClientOptions::default() }, Arc::new(MemorySink::new())).unwrap();
            let (sink, rx) = ChannelSink::new(64);
            let stats = chain(&plugins, "stats");
            // As the CLI does: the engine records in full only what the chain's plugins asked for.
            let record = stats.plugins().iter().fold(KindSet::default(), |acc, (_, interest)| acc.union(*interest));
            let thread = stats.spawn(rx).unwrap();
            let traced = ClientOptions { record, ..ClientOptions::default() };
            let on = Client::new(traced.clone(), Arc::new(sink) as Arc<dyn Sink>).unwrap();
            let recording = Client::new(traced.clone(), Arc::new(DropSink)).unwrap();
            // With --otlp, as the CLI wires it: the exporter as the chain's tail, every span
            // exported (a buffer big enough to lose none), to a receiver that discards them.
            let receiver = httptrace_tests::otlp::Verifier::discarding();
            let flags = httptrace_otlp::Flags { endpoint: Some(format!("http://{}", receiver.addr)), ..Default::default() };
            let big = |name: &str| (name == "OTEL_BSP_MAX_QUEUE_SIZE").then(|| "10000000".to_string());
            let config = httptrace_otlp::Config::new(&flags, &big).unwrap().expect("export on");
            let sampled = config.recording;
            let mut with_export = chain(&plugins, "stats");
            with_export.set_tail(Box::new(ExportTail(Some(httptrace_otlp::Exporter::start(config).unwrap()))));
            let (export_sink, export_rx) = ChannelSink::new(64);
            let export_thread = with_export.spawn(export_rx).unwrap();
            let exporting = ClientOptions { record: record.union(KindSet::REQUESTS), record_sampled: Some(sampled), ..traced };
            let exporting = Client::new(exporting, Arc::new(export_sink) as Arc<dyn Sink>).unwrap();
            let (mut base, mut traced, mut recorded, mut exported) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let (mut base_cpu, mut traced_cpu) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                let (wall, cpu) = keep_alive_loop(&off, &spec, n).await;
                base.push(wall);
                base_cpu.push(cpu);
                let (wall, cpu) = keep_alive_loop(&on, &spec, n).await;
                traced.push(wall);
                traced_cpu.push(cpu);
                recorded.push(keep_alive_loop(&recording, &spec, n).await.0);
                exported.push(keep_alive_loop(&exporting, &spec, n).await.0);
            }
            drop(on);
            drop(exporting);
            let report = export_thread.join();
            assert!(!report.plugin_failed(), "stats plugin failed (with export)");
            assert!(receiver.requests() > 0, "nothing was exported");
            let report = thread.join();
            assert!(!report.plugin_failed() && !report.check_failed(), "stats plugin failed");
            let per_req = |v: Vec<f64>| median(v) / n as f64 * 1e6;
            R1 {
                base: per_req(base),
                traced: per_req(traced),
                exported: per_req(exported),
                recorded: per_req(recorded),
                base_cpu: per_req(base_cpu),
                traced_cpu: per_req(traced_cpu),
            }
        })
    };

    // R4 -------------------------------------------------------------------------------------
    // Each chain gets what the engine hands it in a run: the kinds its plugins asked for and
    // `request-done` (`ClientOptions::record`), whole requests coalesced up to COALESCE_EVENTS
    // events per call as the chain thread does, owned and moved into the plugins' form
    // (`handle_owned`). The time is divided by the events of the full traces (what `-p ndjson`
    // prints: the trace whose cost this is) and, second, by the events the plugins were handed.
    let fixture = include_str!("../../../tests/fixtures/conformance.ndjson");
    let batches = httptrace::replay::read_batches(fixture.as_bytes()).unwrap();
    let full_events: usize = batches.iter().map(Vec::len).sum();
    let reps = (env_num("BENCH_R4_EVENTS", 200_000) / full_events).max(1);
    let per_event = |mut c: Chain, coalesce: bool| -> (f64, f64) {
        let mut wanted = c.plugins().iter().fold(KindSet::default(), |acc, (_, interest)| acc.union(*interest));
        wanted.insert(kind::REQUEST_DONE);
        let handed: Vec<Vec<Event>> =
            batches.iter().map(|b| b.iter().filter(|e| wanted.contains(e.kind.index())).cloned().collect()).collect();
        let handed_events: usize = handed.iter().map(Vec::len).sum();
        for b in &handed {
            c.handle(b);
        }
        let mut calls: Vec<Vec<Event>> = Vec::new();
        for _ in 0..reps {
            for b in &handed {
                match calls.last_mut() {
                    Some(last) if coalesce && last.len() < COALESCE_EVENTS => last.extend(b.iter().cloned()),
                    _ => calls.push(b.clone()),
                }
            }
        }
        let t = Instant::now();
        for call in calls {
            c.handle_owned(call);
        }
        let ns = t.elapsed().as_nanos() as f64;
        let report = c.finish();
        assert!(!report.plugin_failed() && !report.check_failed(), "a plugin failed: {:?}", report.failures);
        (ns / (reps * full_events) as f64, ns / (reps * handed_events) as f64)
    };
    // The crossing alone: a plugin that asks for the default chain's kinds and does nothing
    // (tests/plugins/keep), so the figure is the host's cost of handing those events over.
    let default_kinds = chain(&plugins, "timeline").plugins()[0].1.names();
    // `BENCH_KEEP=path/to/keep.wasm`: an unstripped build, for profiling.
    let keep = std::env::var("BENCH_KEEP").unwrap_or_else(|_| format!("{}/keep.wasm", httptrace_test_guests::GUEST_DIR));
    let keep_config: Vec<(String, String)> = default_kinds.iter().map(|k| ("kind".to_string(), k.to_string())).collect();
    let crossing = per_event(chain_with(&plugins, &keep, keep_config.clone()), true);
    // The same through the contract alone: `keep-compact` takes `on-batch` with wit-bindgen and
    // reads nothing, so the SDK's turning spans into owned strings is not in the figure.
    let keep_compact = format!("{}/keep-compact.wasm", httptrace_test_guests::GUEST_DIR);
    let contract = per_event(chain_with(&plugins, &keep_compact, keep_config), true);
    if only == "timeline" {
        // `BENCH_TIMELINE=path/to/timeline.wasm`: an unstripped build, for profiling.
        let source = std::env::var("BENCH_TIMELINE").unwrap_or_else(|_| "timeline".into());
        let t = per_event(chain(&plugins, &source), true);
        println!("R4 timeline: {:.0} ns per traced event ({:.0} per event handed over)", t.0, t.1);
        return;
    }
    if only == "crossing" {
        println!("R4 crossing: {:.0} ns per traced event ({:.0} per event handed over)", crossing.0, crossing.1);
        println!("R4 crossing, contract only: {:.0} ns per traced event ({:.0} per event handed over)", contract.0, contract.1);
        return;
    }
    let timeline = per_event(chain(&plugins, "timeline"), true);
    let stats = per_event(chain(&plugins, "stats"), true);
    let timeline_single = per_event(chain(&plugins, "timeline"), false);
    let stats_single = per_event(chain(&plugins, "stats"), false);
    let r4 = |(trace, handed): (f64, f64)| format!("{trace:.0} ({handed:.0} per event handed over)");

    println!("| figure | value | target |");
    println!("|---|---|---|");
    if !only_r4 {
        println!(
            "| R1 traced (stats) ÷ untraced, keep-alive GET | {:.3} ({:.1} µs vs {:.1} µs per request, median of {rounds}×{n}) | ≤ 1.10 |",
            r1.traced / r1.base,
            r1.traced,
            r1.base
        );
        println!("|    of which recording only (sink drops events) | {:.3} ({:.1} µs per request) | |", r1.recorded / r1.base, r1.recorded);
        println!(
            "| R1-otlp traced (stats) and every span exported over OTLP ÷ traced | {:.3} ({:.1} µs per request; ÷ untraced {:.3}) | ≤ 1.05 |",
            r1.exported / r1.traced,
            r1.exported,
            r1.exported / r1.base
        );
        println!(
            "|    CPU per request, whole process (client, server, plugin thread) | {:.3} ({:.1} µs vs {:.1} µs) | |",
            r1.traced_cpu / r1.base_cpu,
            r1.traced_cpu,
            r1.base_cpu
        );
    }
    println!("| R4 ns per traced event ({full_events} events, 6 requests), default chain's kinds to a plugin that does nothing (the crossing) | {} | ≤ 150 |", r4(crossing));
    println!("|    the same through the contract alone (keep-compact: on-batch lifted by wit-bindgen, no SDK) | {} | |", r4(contract));
    println!("| R4 ns per traced event, default chain (timeline, with its rendering) | {} | ≤ 150 |", r4(timeline));
    println!("| R4 ns per traced event, stats | {} | ≤ 150 |", r4(stats));
    println!("|    one request per call: timeline / stats | {} / {} | |", r4(timeline_single), r4(stats_single));
}
