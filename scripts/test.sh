#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the build needs first
# (the wasm32-wasip2 target; npm, PyPI and Zig/Go toolchains for the non-Rust guest plugins).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2
./scripts/build-guests.sh
cargo test --workspace --locked "$@"
# The plugins' own unit tests (their workspace builds for wasm32-wasip2 inside host/build.rs;
# here it runs natively).
cargo test --locked --manifest-path plugins/Cargo.toml --target-dir target/plugins-native
