//! The checks behind the fuzz targets (`fuzz/fuzz_targets/*.rs`, run with `cargo +nightly fuzz`)
//! and behind `tests/tests/fuzz_corpus.rs`, which runs every checked-in corpus file through the
//! same functions on stable. Each takes arbitrary bytes and panics only on a real bug: a parser
//! that panics, accepts what it should refuse, or a conversion that loses or changes data.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use httptrace::engine::parse_url;
use httptrace::engine::ResolveOverride;
use httptrace::replay::{parse_line, read_batches};
use httptrace::{Event, EventKind, RequestSpec};
use httptrace_cli::flags::{self, MAX_SECONDS};
use httptrace_plugin_host::{Chain, ChainOptions, Output, PluginSource, PluginSpec, Runtime, RuntimeOptions, Verbosity};

/// A check: arbitrary bytes in, a panic on a bug.
pub type Check = fn(&[u8]);

/// The fuzz targets, by name: `fuzz/fuzz_targets/NAME.rs` and `fuzz/corpus/NAME/`.
pub const TARGETS: [(&str, Check); 3] = [("cli_values", cli_values), ("replay_log", replay_log), ("chain_conversion", chain_conversion)];

/// Every command-line value parser on the same text: URLs (`parse_url`, `RequestSpec::get`),
/// `--resolve`, `-H`, durations, sizes, `--dns-server`, `--rate`, curl seconds. What they accept
/// must hold up: http(s) URLs with a host, valid header names and values, positive bounded
/// durations; what they refuse is a one-line message, never a panic.
pub fn cli_values(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let s = text.as_ref();
    // Messages quote the input; from one-line input they are one line.
    let single = !s.contains(['\n', '\r']);
    let one_line = |what: &str, e: &str| {
        assert!(!e.is_empty(), "{what}({s:?}): empty error");
        assert!(!single || !e.contains(['\n', '\r']), "{what}({s:?}): {e:?} is not one line");
    };
    match parse_url(s) {
        Ok(url) => {
            assert!(matches!(url.scheme(), "http" | "https"), "{s:?} → {url}");
            assert!(url.host_str().is_some_and(|h| !h.is_empty()), "{s:?} → {url}");
            // What was accepted parses again to the same URL.
            assert_eq!(parse_url(url.as_str()).ok().as_ref(), Some(&url), "{s:?} → {url}");
        }
        Err(e) => one_line("parse_url", &e.to_string()),
    }
    assert_eq!(RequestSpec::get(s).is_ok(), parse_url(s).is_ok());
    match s.parse::<ResolveOverride>() {
        Ok(r) => {
            assert!(!r.host.is_empty() && !r.addrs.is_empty(), "{s:?} → {r:?}");
            assert_eq!(r.host, r.host.to_ascii_lowercase());
        }
        Err(e) => one_line("--resolve", &e.to_string()),
    }
    match flags::parse_header(s) {
        Ok((name, value)) => {
            assert!(http::HeaderName::from_bytes(name.as_bytes()).is_ok(), "{s:?} → {name:?}");
            assert_eq!(name, name.to_ascii_lowercase());
            assert!(http::HeaderValue::from_str(&value).is_ok(), "{s:?} → {value:?}");
        }
        Err(e) => one_line("-H", &e),
    }
    let bounded = |d: Duration| d > Duration::ZERO && d.as_secs_f64() <= MAX_SECONDS * 1.000_001;
    match flags::parse_duration(s) {
        Ok(d) => assert!(bounded(d), "parse_duration({s:?}) → {d:?}"),
        Err(e) => one_line("parse_duration", &e),
    }
    match flags::parse_size(s) {
        Ok(n) => assert!(n > 0),
        Err(e) => one_line("parse_size", &e),
    }
    if let Err(e) = flags::parse_dns_server(s) {
        one_line("--dns-server", &e);
    }
    match httptrace_cli::flags::parse_rate(s) {
        // The interval between requests must be a valid Duration.
        Ok(r) => assert!(r.is_finite() && r > 0.0 && Duration::try_from_secs_f64(1.0 / r).is_ok(), "{s:?} → {r}"),
        Err(e) => one_line("--rate", &e),
    }
    let numbers = [s.trim().parse::<f64>().ok(), data.get(..8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))];
    for v in numbers.into_iter().flatten() {
        match flags::seconds("-m", v) {
            Ok(d) => assert!(bounded(d), "seconds({v}) → {d:?}"),
            Err(e) => one_line("seconds", &e),
        }
    }
}

/// The replay-log reader: every line that parses as an event prints back (`to_json`) to text
/// that parses to the same event and prints the same; `read_batches` never panics, and its
/// batches hold every event once, each complete batch one request's, `request-done` last.
pub fn replay_log(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parsed = 0usize;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Ok(ev) = parse_line(line) {
            parsed += 1;
            let json = ev.to_json();
            let back = parse_line(&json).unwrap_or_else(|e| panic!("{line:?} → {json:?} does not parse: {e}"));
            assert_eq!(back, ev, "{line:?} → {json:?}");
            assert_eq!(back.to_json(), json);
        }
    }
    if let Ok(batches) = read_batches(data) {
        // A whole log read without error: every line was an event.
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), parsed);
        for b in &batches {
            assert!(!b.is_empty());
            if let Some(EventKind::RequestDone { .. }) = b.last().map(|e| &e.kind) {
                let id = b.last().map(|e| e.request);
                assert!(b.iter().all(|e| Some(e.request) == id), "a batch mixes requests");
            }
        }
    }
}

/// A `Write` into a shared buffer that the check empties after each input.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One chain for the whole fuzzing process: the bundled `ndjson` plugin.
struct NdjsonChain {
    chain: Chain,
    out: Captured,
    _rt: Runtime,
}

/// The event→WIT conversion, end to end: the events that the input's lines parse into go
/// through `Chain::handle` (converted to WIT values, lowered into a real plugin, lifted there)
/// to the bundled `ndjson` plugin, which must print exactly the host's own JSON of each event
/// (`Event::to_json`): no field lost, changed or reordered on the way, and no trap.
pub fn chain_conversion(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let events: Vec<Event> = text.lines().filter_map(|l| parse_line(l).ok()).collect();
    if events.is_empty() {
        return;
    }
    static CHAIN: OnceLock<Mutex<NdjsonChain>> = OnceLock::new();
    let chain = CHAIN.get_or_init(|| {
        let cache = std::env::var_os("HTTPTRACE_CACHE_DIR").map(Into::into).or_else(httptrace_plugin_host::default_cache_dir);
        let rt = Runtime::new(RuntimeOptions { cache_dir: cache, verbosity: Verbosity::Error, bundled: httptrace_cli::bundled::BUNDLED })
            .expect("runtime");
        let out = Captured::default();
        let spec = PluginSpec { source: PluginSource::Bundled("ndjson".into()), config: vec![] };
        let opts = ChainOptions { report_failures: false, ..ChainOptions::default() };
        let chain = Chain::start(&rt, &[spec], Output::writer(out.clone()), opts).expect("ndjson starts");
        Mutex::new(NdjsonChain { chain, out, _rt: rt })
    });
    let mut c = chain.lock().unwrap_or_else(|p| p.into_inner());
    c.chain.handle(&events);
    assert!(c.chain.failures().is_empty(), "ndjson failed: {:?}", c.chain.failures());
    let printed = String::from_utf8(std::mem::take(&mut *c.out.0.lock().unwrap_or_else(|p| p.into_inner()))).expect("UTF-8 output");
    let expected: String = events.iter().map(|e| e.to_json() + "\n").collect();
    assert_eq!(printed, expected);
}
