#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the build needs first
# (the wasm32-wasip2 target; npm, PyPI and Zig/Go toolchains for the non-Rust guest plugins).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2
./scripts/build-guests.sh
cargo test --workspace --locked "$@"
# The plugins' own unit tests (their workspace builds for wasm32-wasip2 in tests/guests/build.rs;
# here it runs natively).
cargo test --locked --manifest-path plugins/Cargo.toml --target-dir target/plugins-native
# The engine library stays free of the plugin runtime and the command line.
tree=$(cargo tree --locked -p httptrace -e normal --prefix none)
if grep -E '^(wasmtime|clap|indicatif|rcgen|tikv-jemallocator) ' <<<"$tree"; then
    echo "test.sh: the httptrace engine crate depends on the crates above" >&2
    exit 1
fi
# The docs build without warnings.
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --workspace --exclude httptrace-tests --exclude httptrace-test-guests
# Every publishable crate packages and builds from its packaged form alone (cargo's verify step).
# The verify step builds the packages' dependencies on each other as registry crates, which cargo
# never rebuilds for a changed source at the same version: start those from scratch each time
# (their unpacked sources, and their artefacts in a target directory of their own).
verify=target/package-verify
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/httptrace* "$verify"/debug/.fingerprint/httptrace* "$verify"/debug/deps/*httptrace*
CARGO_TARGET_DIR="$verify" cargo package --locked -p httptrace-wit -p httptrace -p httptrace-plugin-host -p httptrace-cli -p httptrace-guest
