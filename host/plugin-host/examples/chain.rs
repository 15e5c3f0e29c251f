//! Run a plugin chain from Rust: trace requests with the `httptrace` engine and hand their
//! events to WebAssembly plugins, whose output is collected in memory.
//!
//! `cargo run -p httptrace-plugin-host --example chain -- ./ndjson.wasm https://example.com/`

use std::sync::Arc;

use httptrace::trace::ChannelSink;
use httptrace::{Client, ClientOptions, RequestSpec};
use httptrace_plugin_host::{Chain, ChainOptions, Output, PluginSource, PluginSpec, Runtime, RuntimeOptions};

/// Traces `url` through the chain of component files `plugins`; returns what they emitted.
fn run(plugins: &[std::path::PathBuf], url: &str) -> Result<String, Box<dyn std::error::Error>> {
    let rt = Runtime::new(RuntimeOptions::default())?;
    let specs: Vec<PluginSpec> = plugins.iter().map(|p| PluginSpec { source: PluginSource::File(p.clone()), config: vec![] }).collect();
    let (output, text) = Output::memory();
    let chain = Chain::start(&rt, &specs, output, ChainOptions::default())?;
    // The chain runs on a thread of its own; the engine hands it each finished request.
    let (sink, rx) = ChannelSink::new(64);
    let thread = chain.spawn(rx)?;
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    tokio.block_on(async {
        let client = Client::new(ClientOptions::default(), Arc::new(sink))?;
        client.execute(&RequestSpec::get(url)?).await;
        Ok::<_, httptrace::Error>(())
    })?;
    // The client (and with it the sink) is gone: the chain calls `finish` and ends.
    let report = thread.join();
    if let Some(f) = report.failures.first() {
        return Err(f.to_string().into());
    }
    Ok(text.text())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((url, plugins)) = args.split_last() else {
        eprintln!("usage: chain PLUGIN.wasm... URL");
        std::process::exit(2);
    };
    let plugins: Vec<_> = plugins.iter().map(std::path::PathBuf::from).collect();
    match run(&plugins, url) {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ndjson_through_a_chain() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for mut c in listener.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let _ = c.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
            }
        });
        let out = super::run(&[httptrace_test_guests::path("ndjson")], &url).unwrap();
        let last = out.lines().last().unwrap();
        assert!(last.contains(r#""event":"request-done""#) && last.contains(r#""status":204"#), "{out}");
    }
}
