//! Every end-to-end test in one binary (ripgrep's `tests/tests.rs` shape): one link of wasmtime
//! instead of one per file, and `CARGO_BIN_EXE_httptrace` for the CLI tests. Built as the `e2e`
//! test of `host/cli` (`cargo test -p httptrace-cli --test e2e`).

mod plugins_support;

/// Timing-sensitive tests (phases checked against injected delays) and load-heavy ones (runs of
/// thousands of requests) never overlap; tests of one lane may run side by side. With every
/// test in one binary they would otherwise share the two cores.
mod lanes {
    use std::sync::{Condvar, Mutex, MutexGuard};

    static RUNNING: Mutex<[usize; 2]> = Mutex::new([0, 0]);
    static CHANGED: Condvar = Condvar::new();

    /// Held for the duration of a test; leaves its lane when dropped.
    pub struct Lane(usize);

    fn state() -> MutexGuard<'static, [usize; 2]> {
        RUNNING.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enter(lane: usize) -> Lane {
        let mut running = state();
        while running[1 - lane] > 0 {
            running = CHANGED.wait(running).unwrap_or_else(|p| p.into_inner());
        }
        running[lane] += 1;
        Lane(lane)
    }

    /// For a test whose numbers must not include another test's load.
    pub fn timing() -> Lane {
        enter(0)
    }

    /// For a test that loads the machine.
    pub fn load() -> Lane {
        enter(1)
    }

    impl Drop for Lane {
        fn drop(&mut self) {
            state()[self.0] -= 1;
            CHANGED.notify_all();
        }
    }
}

mod auth;
mod cli_smoke;
mod client_certs;
mod compression;
mod conformance;
mod engine_adapter;
mod engine_concurrency;
mod engine_edges;
mod engine_failures;
mod engine_kernel_stamps;
mod engine_secrets_and_h2_faults;
mod engine_sequences;
mod engine_timing;
mod faults_cli;
mod faults_hostile_plugins;
mod faults_plugin_files;
mod faults_servers;
mod fuzz_corpus;
mod http3;
mod load_outputs;
mod otlp;
mod packaging;
mod plugins_chain;
mod plugins_cli;
mod plugins_html;
mod plugins_load;
mod plugins_perfetto;
mod plugins_writeout;
mod proxies;
mod retry;
mod soak;
mod unix_socket;
