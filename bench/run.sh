#!/usr/bin/env bash
# The whole performance table in one command (see docs/PERFORMANCE.md):
#   R1, R4 in-process (cargo bench --bench overhead), R2, R3, R5 against the release binary,
#   oha, wrk and curl, all against one local `httptrace serve` started here; the wire-truth
#   table (bench/wire.py: tcpdump) when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null
cargo build --release --locked --bin httptrace
if [ ! -x target/bench-tools/bin/oha ]; then
    cargo install oha --version 1.16.0 --locked --root target/bench-tools
fi
# The same oha with its HTTP/3 (a cargo feature) for R2-h3.
if [ ! -x target/bench-tools-h3/bin/oha ]; then
    cargo install oha --version 1.16.0 --locked --features http3 --root target/bench-tools-h3
fi
# wrk and tcpdump are Debian packages: installed when missing and this is root on Debian.
for tool in wrk tcpdump; do
    if ! command -v $tool >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $tool >/dev/null
    fi
done
echo "## in-process (R1, R4)"
cargo bench --locked -p httptrace-cli --bench overhead 2>/dev/null
echo
echo "## whole processes (R2, R3, R5)"
python3 bench/measure.py
if command -v tcpdump >/dev/null && [ "$(id -u)" = 0 ]; then
    echo
    echo "## wire truth (bench/wire.py)"
    python3 bench/wire.py
fi
