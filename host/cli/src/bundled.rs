//! The plugins embedded in the binary: prebuilt components committed under `bundled/`, so
//! installing httptrace needs no wasm target. They are built from `plugins/` (crates
//! `timeline`, `ndjson`, `filter`, `stats`, `har`, `perfetto`, `html`, `writeout`); the end-to-end test
//! `bundled_plugins_equal_a_fresh_build` fails when a copy differs from a fresh build of its
//! source, and `scripts/update-bundled.sh` refreshes them.

use httptrace_plugin_host::BundledPlugin;

/// Every plugin embedded in the binary, in `httptrace plugins` order (`timeline` is the
/// default output of a single request); each summary is its crate's `description`.
pub const BUNDLED: &[BundledPlugin] = &[
    BundledPlugin {
        name: "timeline",
        summary: "Per request and hop: connection, TLS and status, then an httpstat-style timing waterfall",
        wasm: include_bytes!("../bundled/timeline.wasm"),
    },
    BundledPlugin {
        name: "ndjson",
        summary: "Every event as one JSON object per line, exactly the host's form",
        wasm: include_bytes!("../bundled/ndjson.wasm"),
    },
    BundledPlugin {
        name: "filter",
        summary: "Keeps events by kind, host, URL, status, duration or failure (kind=, host=, url=, status=, min-total=, ...)",
        wasm: include_bytes!("../bundled/filter.wasm"),
    },
    BundledPlugin {
        name: "stats",
        summary: "Per-phase latency percentiles, req/s, status and error counts; k6-style thresholds",
        wasm: include_bytes!("../bundled/stats.wasm"),
    },
    BundledPlugin {
        name: "har",
        summary: "A HAR 1.2 log (one entry per request hop), streamed as requests finish",
        wasm: include_bytes!("../bundled/har.wasm"),
    },
    BundledPlugin {
        name: "perfetto",
        summary: "A Chrome Trace Event Format timeline for ui.perfetto.dev and chrome://tracing: requests, connections, DNS and connect attempts as tracks",
        wasm: include_bytes!("../bundled/perfetto.wasm"),
    },
    BundledPlugin {
        name: "html",
        summary: "One self-contained HTML report (inline CSS and SVG, works offline): a DevTools-style waterfall per request and hop, and for load runs histograms, percentiles and requests/s over time",
        wasm: include_bytes!("../bundled/html.wasm"),
    },
    BundledPlugin {
        name: "writeout",
        summary: "curl's --write-out: a line per request from a format with %{variables} (time_*, size_*, speed_*, http_code, remote_ip, %{json}, ...)",
        wasm: include_bytes!("../bundled/writeout.wasm"),
    },
];

/// The bundled plugin called `name`.
pub fn find(name: &str) -> Option<&'static BundledPlugin> {
    BUNDLED.iter().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_plugins_are_components_with_unique_names() {
        assert!(find("timeline").is_some() && find("ndjson").is_some() && find("filter").is_some());
        assert!(find("trap-on-events").is_none(), "test plugins are not embedded");
        for (i, b) in BUNDLED.iter().enumerate() {
            assert!(BUNDLED[..i].iter().all(|o| o.name != b.name), "{} twice", b.name);
            assert!(!b.summary.is_empty(), "{} has no summary", b.name);
            // Component binary: magic, then version 0x0d and layer 1.
            assert_eq!(&b.wasm[..8], b"\0asm\x0d\0\x01\0", "{} is not a component", b.name);
        }
    }
}
