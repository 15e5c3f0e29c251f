#!/usr/bin/env bash
# Builds httptrace, starts the local target server, and traces a few requests against it.
# Needs no network beyond the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2
cargo build --release --locked --bin httptrace
bin=target/release/httptrace
log=$(mktemp)
"$bin" serve --port 0 --tls-port 0 >"$log" 2>&1 &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q '^certificate:' "$log" && break; sleep 0.1; done
https=$(grep -o 'https://[0-9.:]*' "$log")
http=$(grep -o 'http://[0-9.:]*' "$log" | head -n1)
cacert=$(sed -n 's/^certificate: \([^ ]*\).*/\1/p' "$log")
set -x
"$bin" --cacert "$cacert" "$https/delay/100"
"$bin" -L "$http/redirect/2"
"$bin" -p ndjson "$http/drip?bytes=1000&duration_ms=200"
