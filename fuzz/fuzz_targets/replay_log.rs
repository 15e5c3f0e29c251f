//! The replay-log parser (`replay::parse_line`, `replay::read_batches`) and the event JSON round
//! trip. See `httptrace_tests::fuzz::replay_log`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| httptrace_tests::fuzz::replay_log(data));
