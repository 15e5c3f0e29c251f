//! The event→WIT conversion end to end: parsed events through `Chain::handle` into the bundled
//! `ndjson` plugin, whose output must be the host's own JSON. See
//! `httptrace_tests::fuzz::chain_conversion`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| httptrace_tests::fuzz::chain_conversion(data));
