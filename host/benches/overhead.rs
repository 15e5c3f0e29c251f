//! In-process benchmarks of tracing's cost, as ratios measured in the same run (absolute times
//! on shared machines are noise):
//!
//! - R1: a keep-alive loop of GETs on loopback with tracing on and the `stats` plugin as the
//!   only plugin (recording what it asks for, as the CLI does) ÷ the same engine with tracing
//!   off; also the engine's recording alone, into a sink that drops every batch.
//! - R4: the amortised host→plugin cost per event (ns), feeding recorded requests through a
//!   chain in batches as the chain thread coalesces them: the crossing alone (the default
//!   chain's kinds to `tests/plugins/keep`, which does nothing), the default chain (`timeline`,
//!   with its rendering) and `stats`.
//!
//! `cargo bench -p httptrace --bench overhead` (or `bench/run.sh` for the whole table).
//! Environment: `BENCH_REQUESTS` (default 20000), `BENCH_ROUNDS` (default 5).

use std::sync::Arc;
use std::time::{Duration, Instant};

use httptrace::event::KindSet;
use httptrace::plugin::{Chain, ChainOptions, Output, PluginSource, PluginSpec, Runtime, RuntimeOptions, COALESCE_EVENTS};
use httptrace::trace::{ChannelSink, MemorySink, Sink};
use httptrace::{Client, ClientOptions, Event, RequestSpec};

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

/// Runs `n` sequential keep-alive GETs; returns the wall time.
async fn keep_alive_loop(client: &Client, spec: &RequestSpec, n: usize) -> Duration {
    // One warm-up request opens the connection.
    client.execute(spec).await;
    let t = Instant::now();
    for _ in 0..n {
        let o = client.execute(spec).await;
        assert!(o.error.is_none(), "{:?}", o.error);
    }
    t.elapsed()
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
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let plugins = Runtime::new(RuntimeOptions::default()).expect("wasm runtime");

    // R1 -------------------------------------------------------------------------------------
    let (r1, base_us, traced_us, record_us) = rt.block_on(async {
        let serve = httptrace::serve::start(Default::default()).await.unwrap();
        let spec = RequestSpec::get(&format!("http://{}/", serve.http_addr)).unwrap();
        let off = Client::new(ClientOptions { tracing: false, ..ClientOptions::default() }, Arc::new(MemorySink::new())).unwrap();
        let (sink, rx) = ChannelSink::new(1024);
        let stats = chain(&plugins, "stats");
        // As the CLI does: the engine records in full only what the chain's plugins asked for.
        let record = stats.plugins().iter().fold(KindSet::default(), |acc, (_, interest)| acc.union(*interest));
        let thread = stats.spawn(rx).unwrap();
        let traced = ClientOptions { record, ..ClientOptions::default() };
        let on = Client::new(traced.clone(), Arc::new(sink) as Arc<dyn Sink>).unwrap();
        let recording = Client::new(traced, Arc::new(DropSink)).unwrap();
        let (mut base, mut traced, mut recorded) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            base.push(keep_alive_loop(&off, &spec, n).await.as_secs_f64());
            traced.push(keep_alive_loop(&on, &spec, n).await.as_secs_f64());
            recorded.push(keep_alive_loop(&recording, &spec, n).await.as_secs_f64());
        }
        drop(on);
        let report = thread.join();
        assert!(report.exit_code().is_none(), "stats plugin failed");
        let (b, t, r) = (median(base), median(traced), median(recorded));
        (t / b, b / n as f64 * 1e6, t / n as f64 * 1e6, r / n as f64 * 1e6)
    });

    // R4 -------------------------------------------------------------------------------------
    let fixture = include_str!("../../tests/fixtures/conformance.ndjson");
    let batches = httptrace::replay::read_batches(fixture.as_bytes()).unwrap();
    // The chain thread hands plugins whole requests coalesced up to COALESCE_EVENTS events per
    // call (what `Chain::run` does whenever more than one request is queued): so does this.
    let mut coalesced: Vec<Vec<Event>> = Vec::new();
    for _ in 0..(4 * COALESCE_EVENTS / fixture.lines().count().max(1)).max(1) {
        for b in &batches {
            match coalesced.last_mut() {
                Some(last) if last.len() < COALESCE_EVENTS => last.extend(b.iter().cloned()),
                _ => coalesced.push(b.clone()),
            }
        }
    }
    let per_event_in = |mut c: Chain, batches: &[Vec<Event>]| {
        let events: usize = batches.iter().map(Vec::len).sum();
        let reps = (200_000 / events).max(1);
        // Warm up, then time.
        for b in batches {
            c.handle(b);
        }
        let t = Instant::now();
        for _ in 0..reps {
            for b in batches {
                c.handle(b);
            }
        }
        let ns = t.elapsed().as_nanos() as f64 / (reps * events) as f64;
        let report = c.finish();
        assert!(report.exit_code().is_none(), "a plugin failed: {:?}", report.failures);
        ns
    };
    let per_event = |plugin: &str, batches: &[Vec<Event>]| per_event_in(chain(&plugins, plugin), batches);
    // The crossing alone: a plugin that asks for the default chain's kinds and does nothing
    // (tests/plugins/keep), so the figure is the host's cost of handing those events over.
    let default_kinds = chain(&plugins, "timeline").plugins()[0].1.names();
    let keep = format!("{}/keep.wasm", httptrace::plugin::bundled::GUEST_DIR);
    let keep_config = default_kinds.iter().map(|k| ("kind".to_string(), k.to_string())).collect();
    let r4_crossing = per_event_in(chain_with(&plugins, &keep, keep_config), &coalesced);
    let r4_timeline = per_event("timeline", &coalesced);
    let r4_stats = per_event("stats", &coalesced);
    let r4_timeline_single = per_event("timeline", &batches);
    let r4_stats_single = per_event("stats", &batches);

    println!("| figure | value | target |");
    println!("|---|---|---|");
    println!("| R1 traced (stats) ÷ untraced, keep-alive GET | {r1:.3} ({traced_us:.1} µs vs {base_us:.1} µs per request, median of {rounds}×{n}) | ≤ 1.10 |");
    println!("|    of which recording only (sink drops events) | {:.3} ({record_us:.1} µs per request) | |", record_us / base_us);
    println!("| R4 host→plugin ns/event, default chain's kinds to a plugin that does nothing (the crossing) | {r4_crossing:.0} | ≤ 150 |");
    println!("| R4 ns/event, default chain (timeline) including its rendering | {r4_timeline:.0} | ≤ 150 |");
    println!("| R4 host→plugin ns/event, stats, batches as coalesced in a run | {r4_stats:.0} | ≤ 150 |");
    println!("|    one request per call (timeline / stats) | {r4_timeline_single:.0} / {r4_stats_single:.0} | |");
}
