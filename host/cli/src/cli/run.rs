//! Running a traced request from the command line: plugins loaded and initialised first, then
//! the request; its events flow engine → sink → plugin chain (own thread) → output.

use std::io::Write;
use std::sync::Arc;

use clap::ArgMatches;

use super::args::{OnPluginError, PluginArgs, ReplayArgs, RequestArgs, ServeArgs};
use super::plugins;
use super::progress::Progress;
use super::request::{client_options, request_specs, UsageError};
use httptrace::escape_control;
use httptrace::event::KindSet;
use httptrace::loadgen::{Counters, LoadPlan};
use httptrace::trace::{ChannelSink, Sink};
use httptrace::{Client, Outcome};
use httptrace_cli::exit;
use httptrace_plugin_host::{Chain, ChainThread};

/// Batches (requests) the sink may queue before the engine waits for the plugins (at least the
/// concurrency: workers wait for room before a request starts, so the queue then never reaches
/// the twice-the-capacity mark where a send blocks its engine thread).
const SINK_CAPACITY: usize = 256;

/// A started plugin chain: the sink to hand the engine, and the thread to join.
struct RunningChain {
    sink: Option<ChannelSink>,
    thread: ChainThread,
    aborted_early: bool,
    /// The kinds some plugin asked for: all the engine needs to record in full.
    wanted: KindSet,
}

/// Loads, checks and initialises every plugin before anything else happens, then starts the
/// chain's thread. Errors are printed; the `Err` is the exit code.
fn start_chain(a: &PluginArgs, matches: &ArgMatches, capacity: usize) -> Result<RunningChain, i32> {
    let specs = plugins::specs(matches).map_err(usage_exit)?;
    let plugin_rt = plugins::runtime().map_err(usage_exit)?;
    let output = plugins::output(a).map_err(usage_exit)?;
    let chain = Chain::start(&plugin_rt, &specs, output, plugins::chain_options(a)).map_err(|e| {
        eprintln!("httptrace: {e}");
        exit::USAGE
    })?;
    let aborted_early = !chain.failures().is_empty() && a.on_plugin_error == OnPluginError::Abort;
    let wanted = chain.plugins().iter().fold(KindSet::default(), |acc, (_, interest)| acc.union(*interest));
    let (sink, rx) = ChannelSink::new(capacity);
    let thread = chain.spawn(rx).map_err(|e| {
        eprintln!("httptrace: cannot start the plugin thread: {e}");
        exit::USAGE
    })?;
    Ok(RunningChain { sink: Some(sink), thread, aborted_early, wanted })
}

/// Joins the chain and picks the exit code, most important first: a plugin failed (90); the
/// request failed (curl's code) or `--fail` (22); a plugin reported `fail` (99); 0.
fn finish_chain(chain: RunningChain, request_code: Option<i32>) -> i32 {
    drop(chain.sink);
    let report = chain.thread.join();
    if let Some(kind) = report.output_error.filter(|k| *k != std::io::ErrorKind::BrokenPipe) {
        eprintln!("httptrace: writing the output failed: {kind}");
    }
    let code = exit::for_run(&report, request_code);
    if code == exit::THRESHOLD_FAILED {
        let names: Vec<String> = report.failed_checks.iter().map(|p| p.to_string()).collect();
        eprintln!("httptrace: ({}) plugin check failed: {}", exit::THRESHOLD_FAILED, escape_control(&names.join(", ")));
    }
    code
}

/// Traces the request (or, in load mode, the requests), handing events to the plugin chain;
/// returns the exit code. Usage and plugin load/config errors (2) come before any request.
pub fn trace_request(a: &RequestArgs, matches: &ArgMatches) -> i32 {
    let setup = || -> Result<_, UsageError> { Ok((client_options(a)?, request_specs(a)?)) };
    let (mut opts, specs) = match setup() {
        Ok(v) => v,
        Err(e) => return usage_exit(e),
    };
    let mut chain = match start_chain(&a.plugins, matches, SINK_CAPACITY.max(a.load.concurrency as usize)) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if chain.aborted_early {
        return finish_chain(chain, None);
    }
    opts.record = chain.wanted;
    let sink = chain.sink.take().expect("the sink is still here");
    let load = &a.load;
    let load_mode = load.requests.is_some_and(|n| n > 1) || load.duration.is_some() || load.rate.is_some() || specs.len() > 1;
    // Requests that may share an HTTP/2 connection: one thread drives it, so more engine
    // threads would only hand their requests across to it.
    let may_share = specs.iter().any(|s| opts.http.may_be_h2(s.url.scheme() == "https"));
    let result = (|| {
        let client = Client::new(opts, Arc::new(sink)).map_err(|e| e.to_string())?;
        if specs.iter().any(|s| s.url.scheme() == "https") {
            client.prepare_tls().map_err(|e| e.to_string())?;
        }
        if !load_mode {
            let rt = runtime().map_err(|e| format!("cannot start the async runtime: {e}"))?;
            return Ok(request_exit_code(a, &rt.block_on(client.execute(&specs[0]))));
        }
        let plan = LoadPlan {
            requests: specs.clone(),
            total: load.requests.or(if load.duration.is_some() { None } else { Some(specs.len() as u64) }),
            duration: load.duration,
            concurrency: load.concurrency as usize,
            rate: load.rate,
        };
        // By default one per core but the one the plugin chain's thread needs.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = load.threads.map_or(if may_share { 1 } else { cores.saturating_sub(1).max(1) }, |n| n as usize);
        let counters = Arc::new(Counters::default());
        let progress = Progress::start(counters.clone(), plan.total, plan.duration, load.quiet);
        let report = httptrace::loadgen::run_threaded(&client, &plan, counters, threads);
        progress.finish();
        let report = report.map_err(|e| format!("cannot start the engine's threads: {e}"))?;
        // Failures are counted by the plugins (e.g. `stats`); the exit code stays 0 unless
        // every request failed, as oha and hey do.
        Ok::<_, String>(if report.done > 0 && report.errors == report.done {
            eprintln!("httptrace: all {} requests failed", report.done);
            Some(exit::RECEIVE)
        } else {
            None
        })
    })();
    // The client (and its sink) are gone: the chain drains, calls `finish`, and ends.
    match result {
        Err(message) => {
            eprintln!("httptrace: {}", escape_control(&message));
            drop(chain.thread.join());
            exit::USAGE
        }
        Ok(code) => finish_chain(chain, code),
    }
}

/// The exit code a single request's outcome asks for, after saying why on stderr.
fn request_exit_code(a: &RequestArgs, o: &Outcome) -> Option<i32> {
    match &o.error {
        Some(e) => {
            let code = exit::for_error(e);
            eprintln!("httptrace: ({code}) {}", escape_control(&e.to_string()));
            Some(code)
        }
        None if a.fail && o.status.is_some_and(|s| s >= 400) => {
            eprintln!("httptrace: (22) the server answered {} for {}", o.status.unwrap_or(0), o.url);
            Some(exit::HTTP_ERROR)
        }
        None => None,
    }
}

/// `httptrace replay FILE`: the recorded events through the plugin chain, no network.
pub fn replay(a: &ReplayArgs, matches: &ArgMatches) -> i32 {
    let read = if a.file.as_os_str() == "-" {
        httptrace::replay::read_batches(std::io::stdin().lock())
    } else {
        match std::fs::File::open(&a.file) {
            Ok(f) => httptrace::replay::read_batches(std::io::BufReader::new(f)),
            Err(e) => {
                eprintln!("httptrace: replay {}: {e}", a.file.display());
                return exit::READ_ERROR;
            }
        }
    };
    let batches = match read {
        Ok(b) => b,
        Err(e) => {
            eprintln!("httptrace: replay {}: {}", a.file.display(), escape_control(&e.to_string()));
            return exit::USAGE;
        }
    };
    let mut chain = match start_chain(&a.plugins, matches, SINK_CAPACITY) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(sink) = chain.sink.take() {
        if !chain.aborted_early {
            for batch in batches {
                sink.request_events(batch);
            }
        }
    }
    finish_chain(chain, None)
}

fn usage_exit(e: UsageError) -> i32 {
    eprintln!("httptrace: {}", escape_control(&e.message));
    e.code
}

/// Runs the local target server until interrupted.
pub fn serve(a: &ServeArgs) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("httptrace: cannot start the async runtime: {e}");
            return exit::USAGE;
        }
    };
    rt.block_on(async {
        let opts =
            httptrace_cli::serve::ServeOptions { bind: a.bind, http_port: a.port, https_port: a.tls_port, cert_dir: a.cert_dir.clone() };
        let handle = match httptrace_cli::serve::start(opts).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("httptrace serve: {e:#}");
                return exit::USAGE;
            }
        };
        println!("http://{}  (HTTP/1.1 and h2c)", handle.http_addr);
        println!("https://{}  (HTTP/2 and HTTP/1.1 over TLS)", handle.https_addr);
        println!("certificate: {}  (use --cacert, or -k)", handle.cert_path.display());
        let _ = std::io::stdout().flush();
        let _ = tokio::signal::ctrl_c().await;
        handle.shutdown();
        exit::OK
    })
}

/// A single request's runtime: one thread (the request, its connection and its timers).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}
