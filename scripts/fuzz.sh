#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/) for SECONDS each (default 60) on the nightly toolchain.
# New inputs go to a scratch corpus (target/fuzz-corpus/<target>), seeded from the checked-in
# fuzz/corpus/<target>; crashes land in fuzz/artifacts/<target>/ — add the ones you fix to
# fuzz/corpus/<target>/ so tests/tests/fuzz_corpus.rs replays them in CI.
# Needs: rustup toolchain nightly, `cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
export HTTPTRACE_CACHE_DIR="$PWD/target/fuzz-plugin-cache"
for t in cli_values replay_log chain_conversion; do
    mkdir -p "target/fuzz-corpus/$t"
    cargo +nightly fuzz run "$t" "target/fuzz-corpus/$t" "fuzz/corpus/$t" -- -max_total_time="$seconds" -print_final_stats=1
done
