//! Running a traced request from the command line: plugins loaded and initialised first, then
//! the request; its events flow engine → sink → plugin chain (own thread) → output.

use std::io::Write;
use std::sync::Arc;

use clap::ArgMatches;

use super::args::{RequestArgs, ServeArgs};
use super::plugins;
use super::request::{client_options, request_spec, UsageError};
use httptrace::plugin::Chain;
use httptrace::trace::ChannelSink;
use httptrace::{exit, Client};

/// Batches (requests) the sink may queue before the engine waits for the plugins.
const SINK_CAPACITY: usize = 64;

/// Traces one request, handing its events to the plugin chain; returns the exit code.
///
/// Exit code, most important first: usage and plugin load/config errors (2, before any
/// request); a plugin failed (90); the request failed (curl's code) or `--fail` (22); a plugin
/// reported `fail` (99); 0.
pub fn trace_request(a: &RequestArgs, matches: &ArgMatches) -> i32 {
    let setup = || -> Result<_, UsageError> {
        let opts = client_options(a)?;
        let spec = request_spec(a)?;
        let specs = plugins::specs(matches)?;
        Ok((opts, spec, specs))
    };
    let (opts, spec, specs) = match setup() {
        Ok(v) => v,
        Err(e) => return usage_exit(e),
    };
    let plugin_rt = match plugins::runtime() {
        Ok(rt) => rt,
        Err(e) => return usage_exit(e),
    };
    let output = match plugins::output(&a.plugins) {
        Ok(o) => o,
        Err(e) => return usage_exit(e),
    };
    let chain_opts = plugins::chain_options(&a.plugins);
    // Every plugin is loaded, checked and initialised before any request is made.
    let chain = match Chain::start(&plugin_rt, &specs, output, chain_opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("httptrace: {e}");
            return exit::USAGE;
        }
    };
    drop(plugin_rt);
    let aborted_early = !chain.failures().is_empty() && a.plugins.on_plugin_error == "abort";
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let (sink, rx) = ChannelSink::new(SINK_CAPACITY);
    let chain = match chain.spawn(rx) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("httptrace: cannot start the plugin thread: {e}");
            return exit::USAGE;
        }
    };
    let outcome = if aborted_early {
        drop(sink);
        Err(None)
    } else {
        rt.block_on(async {
            let client = Client::new(opts, Arc::new(sink)).map_err(|e| Some(e.to_string()))?;
            if spec.url.scheme() == "https" {
                client.prepare_tls().map_err(|e| Some(e.to_string()))?;
            }
            Ok::<_, Option<String>>(client.execute(&spec).await)
        })
    };
    // The client (and its sink) are gone: the chain drains, calls `finish`, and ends.
    drop(rt);
    let report = chain.join();
    if let Some(kind) = report.output_error.filter(|k| *k != std::io::ErrorKind::BrokenPipe) {
        eprintln!("httptrace: writing the output failed: {kind}");
    }
    let request_code = match outcome {
        Err(None) => None,
        Err(Some(message)) => {
            eprintln!("httptrace: {message}");
            return exit::USAGE;
        }
        Ok(o) => match &o.error {
            Some(e) => {
                let code = exit::for_error(e);
                eprintln!("httptrace: ({code}) {e}");
                Some(code)
            }
            None if a.fail && o.status.is_some_and(|s| s >= 400) => {
                eprintln!("httptrace: (22) the server answered {} for {}", o.status.unwrap_or(0), o.url);
                Some(exit::HTTP_ERROR)
            }
            None => None,
        },
    };
    if !report.failures.is_empty() {
        return exit::PLUGIN_FAILED;
    }
    if let Some(code) = request_code {
        return code;
    }
    if !report.failed_checks.is_empty() {
        let names: Vec<String> = report.failed_checks.iter().map(|p| p.to_string()).collect();
        eprintln!("httptrace: ({}) plugin check failed: {}", exit::THRESHOLD_FAILED, names.join(", "));
        return exit::THRESHOLD_FAILED;
    }
    exit::OK
}

fn usage_exit(e: UsageError) -> i32 {
    eprintln!("httptrace: {}", e.message);
    e.code
}

/// Runs the local target server until interrupted.
pub fn serve(a: &ServeArgs) -> i32 {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let opts = httptrace::serve::ServeOptions { bind: a.bind, http_port: a.port, https_port: a.tls_port, cert_dir: a.cert_dir.clone() };
        let handle = match httptrace::serve::start(opts).await {
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

fn runtime() -> Result<tokio::runtime::Runtime, i32> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
        eprintln!("httptrace: cannot start the async runtime: {e}");
        exit::USAGE
    })
}
