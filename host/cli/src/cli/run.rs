//! Running a traced request from the command line: plugins loaded and initialised first, then
//! the request; its events flow engine → sink → plugin chain (own thread) → output.

use std::io::IsTerminal;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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
use httptrace_plugin_host::{Chain, ChainThread, Output, PluginSource};

/// Batches (requests) the sink may queue before the engine waits for the plugins (at least the
/// concurrency: workers wait for room before a request starts, so the queue then never reaches
/// the twice-the-capacity mark where a send blocks its engine thread).
const SINK_CAPACITY: usize = 256;

/// A started plugin chain: the sink to hand the engine, and the thread to join.
struct RunningChain {
    sink: Option<ChannelSink>,
    thread: ChainThread,
    aborted_early: bool,
    /// The kinds some plugin (or the exporter) asked for: all the engine needs to record in full.
    wanted: KindSet,
    /// The OTLP exporter's report, once the chain has finished (with `--otlp`).
    export: Option<super::export::ReportSlot>,
    /// The kinds the exporter needs recorded for the requests it exports.
    sampled: Option<httptrace::trace::SampledRecording>,
}

/// Loads, checks and initialises every plugin before anything else happens, then starts the
/// chain's thread. Errors are printed; the `Err` is the exit code.
fn start_chain(a: &PluginArgs, matches: &ArgMatches, capacity: usize, default: &str) -> Result<RunningChain, i32> {
    let mut specs = plugins::specs(matches, default).map_err(usage_exit)?;
    if let Some(format) = &a.write_out {
        // -w: the bundled writeout plugin, alone or first in the chain the user asked for
        // (so that it sees every event of the request, whatever the others filter out).
        let spec = plugins::write_out(format).map_err(usage_exit)?;
        if a.plugin.is_empty() {
            specs.clear();
        }
        specs.insert(0, spec);
    }
    // -I (a request flag, absent from replay) shows the response headers as -i does.
    let head = matches.try_get_one::<bool>("head").ok().flatten().copied().unwrap_or(false);
    let headers = if a.verbose { Some("all") } else { (a.include || head).then_some("response") };
    if let Some(h) = headers {
        // -i / -v: the bundled timeline's headers, unless configured explicitly.
        for s in &mut specs {
            if s.source == PluginSource::Bundled("timeline".into()) && !s.config.iter().any(|(k, _)| k == "headers") {
                s.config.push(("headers".into(), h.into()));
            }
        }
    }
    let plugin_rt = plugins::runtime().map_err(usage_exit)?;
    let output = plugins::output(a).map_err(usage_exit)?;
    // The exporter's settings are checked before any plugin or request runs.
    let exporter = super::export::start(&a.export).map_err(usage_exit)?;
    // -w prints on stdout as curl's does, whatever -o says (`-o /dev/null -w ...`).
    let routes = if a.write_out.is_some() && a.output.is_some() { vec![(0, Output::stdout())] } else { Vec::new() };
    let mut chain = Chain::start_routed(&plugin_rt, &specs, output, routes, plugins::chain_options(a)).map_err(|e| {
        eprintln!("httptrace: {e}");
        exit::USAGE
    })?;
    let aborted_early = !chain.failures().is_empty() && a.on_plugin_error == OnPluginError::Abort;
    let mut wanted = chain.plugins().iter().fold(KindSet::default(), |acc, (_, interest)| acc.union(*interest));
    let (export, sampled) = match exporter {
        Some(started) => {
            chain.set_tail(started.tail);
            // Every request's method and summary (the metrics); the phases for those exported.
            wanted = wanted.union(KindSet::REQUESTS);
            (Some(started.report), Some(started.recording))
        }
        None => (None, None),
    };
    let (sink, rx) = ChannelSink::new(capacity);
    let thread = chain.spawn(rx).map_err(|e| {
        eprintln!("httptrace: cannot start the plugin thread: {e}");
        exit::USAGE
    })?;
    Ok(RunningChain { sink: Some(sink), thread, aborted_early, wanted, export, sampled })
}

/// Joins the chain and picks the exit code, most important first: a plugin failed (90); the
/// request failed (curl's code) or `--fail` (22); a plugin reported `fail` (99); 0.
fn finish_chain(chain: RunningChain, request_code: Option<i32>) -> i32 {
    drop(chain.sink);
    let report = chain.thread.join();
    if let Some(kind) = report.output_error.filter(|k| *k != std::io::ErrorKind::BrokenPipe) {
        eprintln!("httptrace: writing the output failed: {kind}");
    }
    if let Some(slot) = &chain.export {
        super::export::report(slot);
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
    // Load runs summarise (`stats`); a single request, or a few URLs once each, get waterfalls.
    let load = &a.load;
    let load_flags = load.requests.is_some_and(|n| n > 1) || load.duration.is_some() || load.rate.is_some();
    let default = if load_flags { plugins::LOAD_PLUGIN } else { plugins::DEFAULT_PLUGIN };
    let concurrency = in_flight_limit(&a.load);
    // Watched from here on: a first compile of a plugin can take seconds, and Ctrl-C then
    // must not be lost (nor killed the process half way through writing an output).
    let interrupts = Interrupts::watch();
    let mut chain = match start_chain(&a.plugins, matches, SINK_CAPACITY.max(concurrency), default) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // From here a second interrupt ends the stream to the plugins (they finish, their output
    // stays whole) instead of the process.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Finished>();
    // Wakes a single request's runtime when a second interrupt abandons it.
    let abandoned = Arc::new(tokio::sync::Notify::new());
    if let Some(sink) = &chain.sink {
        interrupts.arm(Abandon { ender: sink.ender(), done: done_tx.clone(), wake: abandoned.clone() });
    }
    if chain.aborted_early {
        return finish_chain(chain, None);
    }
    opts.record = chain.wanted;
    opts.record_sampled = chain.sampled;
    // --cookie-jar FILE: written once the run is over, whatever its outcome.
    let jar = opts.cookies.clone().filter(|_| a.cookie_jar.is_some());
    let sink = chain.sink.take().expect("the sink is still here");
    let load_mode = load_flags || specs.len() > 1;
    if load_mode && a.kernel_stamps.is_none() && in_flight_limit(&a.load) > 1 {
        // Transmit stamps cost a read of the error queue per write: ~20 % more client CPU in
        // a keep-alive run (2026-12-01); receive stamps alone keep `wait` within ~20 µs of
        // the wire there (docs/PERFORMANCE.md). With one request in flight the run measures
        // latency, not throughput: it keeps them, and `wait` is within ~4 µs.
        opts.kernel_timestamps = httptrace::KernelStamps::Receive;
    }
    // Requests that may share an HTTP/2 connection: one thread drives it, so more engine
    // threads would only hand their requests across to it.
    let may_share = specs.iter().any(|s| opts.http.may_be_h2(s.url.scheme() == "https"));
    // The request's failure line, printed once the chain's output is complete (never in the
    // middle of a line of it).
    let mut said: Option<String> = None;
    let sink = RunSink { inner: sink, interrupts: interrupts.clone() };
    let client_uses_tls_proxy = opts.proxy.uses_tls();
    let result = (|| {
        if interrupts.seen() {
            // Interrupted while the plugins were loading: no request at all.
            return Ok(None);
        }
        let client = Client::new(opts, Arc::new(sink)).map_err(|e| e.to_string())?;
        if specs.iter().any(|s| s.url.scheme() == "https") || client_uses_tls_proxy {
            client.prepare_tls().map_err(|e| e.to_string())?;
        }
        let finished = if !load_mode {
            // On this thread (a thread of its own added to a single request's time,
            // docs/PERFORMANCE.md): a second interrupt wakes it, and the request in flight is
            // dropped.
            let outcome = runtime().map(|rt| {
                rt.block_on(async {
                    tokio::select! {
                        outcome = client.execute(&specs[0]) => Some(outcome),
                        () = abandoned.notified() => None,
                    }
                })
            });
            match outcome {
                Ok(Some(outcome)) => Finished::Request(Ok(outcome)),
                Ok(None) => Finished::Abandoned,
                Err(e) => Finished::Request(Err(e)),
            }
        } else {
            let plan = LoadPlan {
                requests: specs.clone(),
                total: load.requests.or(if load.duration.is_some() { None } else { Some(specs.len() as u64) }),
                duration: load.duration,
                concurrency,
                rate: load.rate,
            };
            // By default one per core but the one the plugin chain's thread needs.
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let threads = load.threads.map_or(if may_share { 1 } else { cores.saturating_sub(1).max(1) }, |n| n as usize);
            let counters = Arc::new(Counters::default());
            let progress = Progress::start(counters.clone(), plan.total, plan.duration, load.quiet || a.silent);
            // The requests run on a thread of their own and report here, so that a second
            // interrupt can abandon them (their thread is left to the process's exit).
            std::thread::Builder::new()
                .name("httptrace-load".into())
                .spawn(move || {
                    let report = httptrace::loadgen::run_threaded(&client, &plan, counters, threads);
                    progress.finish();
                    let _ = done_tx.send(Finished::Load(report));
                })
                .map_err(|e| format!("cannot start the engine's thread: {e}"))?;
            done_rx.recv().unwrap_or(Finished::Abandoned)
        };
        match finished {
            Finished::Request(outcome) => {
                let outcome = outcome.map_err(|e| format!("cannot start the async runtime: {e}"))?;
                let (code, message) = request_exit_code(a, &outcome);
                said = message;
                Ok(code)
            }
            Finished::Load(report) => {
                let report = report.map_err(|e| format!("cannot start the engine's threads: {e}"))?;
                if report.late > 0 {
                    // k6's "dropped iterations": the schedule asked for more than was possible.
                    eprintln!(
                        "httptrace: warning: the --rate schedule could not be kept: {} of {} requests started more than 1 ms late \
                         (up to {:.1} ms; at most {concurrency} in flight: raise -c, or lower --rate)",
                        report.late,
                        report.done,
                        report.max_late.as_secs_f64() * 1e3
                    );
                }
                if let Some(warning) = lag_warning(&report) {
                    eprintln!("{warning}");
                }
                // Failures are counted by the plugins (e.g. `stats`); the exit code stays 0
                // unless every request failed, as oha and hey do, or `--fail` saw a status of
                // 400 or more.
                Ok::<_, String>(if report.done > 0 && report.errors == report.done {
                    said = Some(format!("httptrace: ({}) all {} requests failed", exit::RECEIVE, report.done));
                    Some(exit::RECEIVE)
                } else if a.fail && report.http_errors > 0 {
                    said = Some(format!(
                        "httptrace: ({}) {} of {} requests got a status of 400 or more",
                        exit::HTTP_ERROR,
                        report.http_errors,
                        report.done
                    ));
                    Some(exit::HTTP_ERROR)
                } else {
                    None
                })
            }
            // Abandoned: the chain has what was measured; the requests in flight are dropped.
            Finished::Abandoned => Ok(None),
        }
    })();
    // The client (and its sink) are gone, or the stream was ended: the chain drains, calls
    // `finish`, and ends.
    match result {
        Err(message) => {
            eprintln!("httptrace: {}", escape_control(&message));
            drop(chain.thread.join());
            exit::USAGE
        }
        Ok(code) => {
            let code = finish_chain(chain, code);
            if let (Some(path), Some(jar)) = (&a.cookie_jar, &jar) {
                // As curl: a jar that cannot be written is a warning, not a failed run.
                if let Err(e) = std::fs::write(path, jar.to_netscape()) {
                    eprintln!("httptrace: warning: --cookie-jar {}: cannot write the cookies: {e}", path.display());
                }
            }
            if interrupts.seen() {
                eprintln!("httptrace: ({}) interrupted", exit::INTERRUPTED);
                return exit::INTERRUPTED;
            }
            if let Some(line) = said {
                // On a terminal the default timeline has shown the failure already: one
                // message, not two. Elsewhere (a pipe, a file, another plugin) the line is the
                // record of it.
                let shown = !load_mode
                    && a.plugins.plugin.is_empty()
                    && a.plugins.output.is_none()
                    && std::io::stdout().is_terminal()
                    && std::io::stderr().is_terminal();
                if !shown && (!a.silent || a.show_error) {
                    eprintln!("{line}");
                }
            }
            code
        }
    }
}

/// The most requests in flight: `-c`, or under `--rate` one second's worth of the schedule
/// (at least 1, at most 10,000), so that a rate is reached unless the server is slower than a
/// second.
fn in_flight_limit(load: &super::args::LoadArgs) -> usize {
    match (load.concurrency, load.rate) {
        (Some(c), _) => c as usize,
        (None, Some(rate)) => (rate.ceil() as usize).clamp(1, 10_000),
        (None, None) => 1,
    }
}

/// How the requests' thread ended.
enum Finished {
    /// The single request, on its runtime.
    Request(std::io::Result<Outcome>),
    /// The load run.
    Load(std::io::Result<httptrace::loadgen::LoadReport>),
    /// A second interrupt abandoned the requests in flight.
    Abandoned,
}

/// The chain's sink, which also says "stop" once the run is interrupted: load runs start no
/// further request, and those in flight still hand their events over.
struct RunSink {
    inner: ChannelSink,
    interrupts: Arc<Interrupts>,
}

impl Sink for RunSink {
    fn request_events(&self, events: Vec<httptrace::Event>) {
        self.inner.request_events(events);
    }

    fn room(&self) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>> {
        self.inner.room()
    }

    fn is_closed(&self) -> bool {
        self.interrupts.seen() || self.inner.is_closed()
    }
}

/// Ctrl-C (SIGINT) and SIGTERM, as oha, hey and k6 treat them: the first stops new requests
/// and lets those in flight end (and be traced); the second abandons them: the stream to the
/// plugins ends with what was measured, and the run ends at once. Either way every plugin's
/// `finish` runs, outputs stay whole, and the exit code is 130. Before the run is armed (the
/// plugins are still loading), the first means no request will start, and the second ends the
/// process at once: nothing was measured (an output file named by `-o` is left empty).
struct Interrupts {
    /// Interrupts seen so far.
    count: AtomicUsize,
    /// What the second interrupt ends, once the requests may start.
    armed: Mutex<Option<Abandon>>,
}

/// What a second interrupt does once the requests may start.
struct Abandon {
    /// Ends the stream to the plugins.
    ender: httptrace::handoff::Ender,
    /// Tells a load run's waiter that the requests in flight were abandoned.
    done: std::sync::mpsc::Sender<Finished>,
    /// Wakes a single request's runtime, which drops the request.
    wake: Arc<tokio::sync::Notify>,
}

impl Interrupts {
    /// Starts watching, and returns once the handlers are in place (an interrupt from then on
    /// is counted, even one that came with SIGINT ignored by the parent, as a shell's `&` does).
    fn watch() -> Arc<Interrupts> {
        let this = Arc::new(Interrupts { count: AtomicUsize::new(0), armed: Mutex::new(None) });
        let shared = this.clone();
        #[cfg(unix)]
        {
            use signal_hook::consts::{SIGINT, SIGTERM};
            // The handlers are installed here, on this thread (`Signals::new`), and handed to the
            // watcher, which needs no runtime: nothing to wait for before the run goes on.
            let (handlers_tx, handlers_rx) = std::sync::mpsc::channel::<signal_hook::iterator::Signals>();
            let watch = move || {
                let Ok(mut signals) = handlers_rx.recv() else { return };
                for _ in signals.forever() {
                    if shared.interrupted() {
                        return;
                    }
                }
            };
            // Without the watcher (no thread), no handler: an interrupt kills the process as
            // before.
            if std::thread::Builder::new().name("httptrace-signals".into()).spawn(watch).is_ok() {
                if let Ok(signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
                    let _ = handlers_tx.send(signals);
                }
            }
        }
        #[cfg(not(unix))]
        {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
            let watch = move || {
                let Ok(rt) = runtime() else { return };
                rt.block_on(async move {
                    drop(ready_tx);
                    while tokio::signal::ctrl_c().await.is_ok() {
                        if shared.interrupted() {
                            return;
                        }
                    }
                });
            };
            if std::thread::Builder::new().name("httptrace-signals".into()).spawn(watch).is_ok() {
                // Ends when the handler is in place, or the watcher gave up.
                let _ = ready_rx.recv();
            }
        }
        this
    }

    /// Counts an interrupt and does what it asks for; true once there is nothing left to watch
    /// for.
    fn interrupted(&self) -> bool {
        if self.count.fetch_add(1, Ordering::Relaxed) == 0 {
            if self.armed.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                eprintln!("httptrace: interrupted: no new requests; waiting for those in flight (interrupt again to abandon them)");
            } else {
                eprintln!("httptrace: interrupted: no request will start (interrupt again to quit at once)");
            }
            return false;
        }
        match self.armed.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(abandon) => {
                abandon.ender.end();
                let _ = abandon.done.send(Finished::Abandoned);
                abandon.wake.notify_one();
            }
            None => {
                eprintln!("httptrace: ({}) interrupted", exit::INTERRUPTED);
                std::process::exit(exit::INTERRUPTED);
            }
        }
        true
    }

    /// The requests may start: a second interrupt now abandons them (see [`Abandon`]).
    fn arm(&self, abandon: Abandon) {
        *self.armed.lock().unwrap_or_else(|p| p.into_inner()) = Some(abandon);
    }

    /// An interrupt came.
    fn seen(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }
}

/// The exit code a single request's outcome asks for, and the line that says why.
fn request_exit_code(a: &RequestArgs, o: &Outcome) -> (Option<i32>, Option<String>) {
    match &o.error {
        Some(e) => {
            let code = exit::for_error(e);
            (Some(code), Some(format!("httptrace: ({code}) {}", escape_control(&e.to_string()))))
        }
        None if a.fail && o.status.is_some_and(|s| s >= 400) => {
            let url = if a.show_secrets { o.url.to_string() } else { httptrace::engine::redacted_url(&o.url) };
            let line = format!("httptrace: (22) the server answered {} for {}", o.status.unwrap_or(0), escape_control(&url));
            (Some(exit::HTTP_ERROR), Some(line))
        }
        None => (None, None),
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
    let mut chain = match start_chain(&a.plugins, matches, SINK_CAPACITY, plugins::DEFAULT_PLUGIN) {
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
        let opts = httptrace_cli::serve::ServeOptions {
            bind: a.bind,
            http_port: a.port,
            https_port: a.tls_port,
            cert_dir: a.cert_dir.clone(),
            h3_port: a.h3_port,
        };
        let handle = match httptrace_cli::serve::start(opts).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("httptrace serve: {e:#}");
                return exit::USAGE;
            }
        };
        println!("http://{}  (HTTP/1.1 and h2c)", handle.http_addr);
        println!("https://{}  (HTTP/2 and HTTP/1.1 over TLS)", handle.https_addr);
        if let Some(h3) = handle.h3_addr {
            println!("https://{h3}  (HTTP/3 over QUIC, UDP: --http3)");
        }
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

/// The warning a load run earns when the client was the bottleneck: more than 1 % of the
/// responses (so the p99 of the client's lag) read more than 1 ms after the kernel had them.
fn lag_warning(report: &httptrace::loadgen::LoadReport) -> Option<String> {
    (report.lagged * 100 > report.done).then(|| {
        format!(
            "httptrace: warning: the client is the bottleneck: {} of {} responses were read more than 1 ms after they arrived \
             (up to {:.1} ms; their first-byte stamps are the kernel's, other phases include the delay)",
            report.lagged,
            report.done,
            report.max_lag.as_secs_f64() * 1e3
        )
    })
}

#[cfg(test)]
mod lag_tests {
    use std::time::Duration;

    use httptrace::loadgen::LoadReport;

    #[test]
    fn the_bottleneck_warning_needs_more_than_one_percent_lagged() {
        let report = |done, lagged| LoadReport {
            done,
            errors: 0,
            http_errors: 0,
            late: 0,
            max_late: Duration::ZERO,
            lagged,
            max_lag: Duration::from_micros(4200),
            elapsed: Duration::from_secs(1),
        };
        assert_eq!(super::lag_warning(&report(10_000, 100)), None);
        let w = super::lag_warning(&report(10_000, 101)).expect("a warning");
        assert!(w.contains("the client is the bottleneck: 101 of 10000 responses") && w.contains("up to 4.2 ms"), "{w}");
    }
}
