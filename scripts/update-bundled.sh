#!/usr/bin/env bash
# Rebuilds the bundled plugins from plugins/ and writes them to host/cli/bundled/ (the
# binary embeds those committed copies, so installing needs no wasm target). Run after
# changing a shipped plugin, the guest SDK or the WIT, then commit host/cli/bundled/.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2
HTTPTRACE_BLESS=1 cargo test --locked -p httptrace-cli --test e2e -- packaging::bundled_plugins_equal_a_fresh_build
# Once more without blessing: the binary now embeds the new bytes.
cargo test --locked -p httptrace-cli --test e2e -- packaging::bundled_plugins_equal_a_fresh_build
cat host/cli/bundled/TOOLCHAIN
git status --short host/cli/bundled/
