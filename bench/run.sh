#!/usr/bin/env bash
# The whole performance table in one command (see docs/PERFORMANCE.md):
#   R1, R4 in-process (cargo bench --bench overhead), R2, R3, R5 against the release binary,
#   oha and curl, all against one local `httptrace serve` started here.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null
cargo build --release --locked --bin httptrace
if [ ! -x target/bench-tools/bin/oha ]; then
    cargo install oha --version 1.16.0 --locked --root target/bench-tools
fi
echo "## in-process (R1, R4)"
cargo bench --locked -p httptrace-cli --bench overhead 2>/dev/null
echo
echo "## whole processes (R2, R3, R5)"
python3 bench/measure.py
