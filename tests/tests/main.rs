//! Every end-to-end test in one binary (ripgrep's `tests/tests.rs` shape): one link of wasmtime
//! instead of one per file, and `CARGO_BIN_EXE_httptrace` for the CLI tests. Built as the `e2e`
//! test of `host/cli` (`cargo test -p httptrace-cli --test e2e`).

mod plugins_support;

mod cli_smoke;
mod conformance;
mod engine_concurrency;
mod engine_failures;
mod engine_secrets_and_h2_faults;
mod engine_sequences;
mod engine_timing;
mod faults_cli;
mod faults_hostile_plugins;
mod faults_plugin_files;
mod faults_servers;
mod fuzz_corpus;
mod load_outputs;
mod packaging;
mod plugins_chain;
mod plugins_cli;
mod plugins_load;
mod soak;
