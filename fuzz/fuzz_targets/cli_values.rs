//! URL and flag-value parsing: `parse_url`, `--resolve`, `-H`, durations, sizes, `--dns-server`,
//! `--rate`, curl seconds. See `httptrace_tests::fuzz::cli_values`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| httptrace_tests::fuzz::cli_values(data));
