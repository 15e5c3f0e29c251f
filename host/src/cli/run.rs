//! Running a traced request from the command line.

use std::io::Write;
use std::sync::Arc;

use super::args::{RequestArgs, ServeArgs};
use super::request::{client_options, request_spec};
use httptrace::trace::ChannelSink;
use httptrace::{exit, Client};

/// Traces one request, printing its events as NDJSON on stdout; returns the exit code.
pub fn trace_request(a: &RequestArgs) -> i32 {
    let (opts, spec) = match client_options(a).and_then(|o| request_spec(a).map(|s| (o, s))) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("httptrace: {}", e.message);
            return e.code;
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let (sink, mut rx) = ChannelSink::new(256);
    let printer = std::thread::spawn(move || {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        while let Some(batch) = rx.blocking_recv() {
            for ev in batch {
                if writeln!(out, "{}", ev.to_json()).is_err() {
                    return;
                }
            }
            if out.flush().is_err() {
                return;
            }
        }
    });
    let outcome = rt.block_on(async {
        let client = Client::new(opts, Arc::new(sink)).map_err(|e| e.to_string())?;
        if spec.url.scheme() == "https" {
            client.prepare_tls().map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(client.execute(&spec).await)
    });
    // The client (and its sink) are gone: the printer drains and ends.
    drop(rt);
    let _ = printer.join();
    match outcome {
        Err(message) => {
            eprintln!("httptrace: {message}");
            exit::USAGE
        }
        Ok(o) => match &o.error {
            Some(e) => {
                let code = exit::for_error(e);
                eprintln!("httptrace: ({code}) {e}");
                code
            }
            None if a.fail && o.status.is_some_and(|s| s >= 400) => {
                eprintln!("httptrace: (22) the server answered {} for {}", o.status.unwrap_or(0), o.url);
                exit::HTTP_ERROR
            }
            None => exit::OK,
        },
    }
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
