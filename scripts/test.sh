#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the build needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2
cargo test --workspace --locked "$@"
