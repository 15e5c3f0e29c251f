#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the build needs first
# (the wasm32-wasip2 target; npm, PyPI and Zig/Go toolchains for the non-Rust guest plugins).
set -euo pipefail
cd "$(dirname "$0")/.."
# One cold build: incremental compilation's bookkeeping only costs here (-10 % with the profile
# overrides in Cargo.toml, cargo --timings 2026-12-01).
export CARGO_INCREMENTAL=0
# How long each stage took, on stderr.
stage=setup stage_start=0
next() {
    echo "test.sh: $stage took $((SECONDS - stage_start)) s" >&2
    stage=$1 stage_start=$SECONDS
}
trap 'next end; echo "test.sh: $SECONDS s in all" >&2' EXIT
rustup target add wasm32-wasip2

# What the tests need besides the workspace: the non-Rust guest plugins (and the componentize
# tool), nginx and npm's har-validator. Made while the workspace compiles: much of it waits on
# downloads or keeps one core busy, and the compile uses what is left (2026-12-01: the guests
# stage alone took ~130 s before the compile).
test_tools() {
    ./scripts/build-guests.sh
    # nginx (Debian's package) for the tests against a server that is not ours; installed, never
    # started as a service (the tests run their own on loopback ports).
    if ! [ -x /usr/sbin/nginx ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "test.sh: installing nginx with apt-get" >&2
            local policy=/usr/sbin/policy-rc.d made=
            [ -e $policy ] || { printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && made=1; }
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
            [ -z "$made" ] || rm -f $policy
        else
            echo "test.sh: the tests need nginx (Debian: apt-get install nginx)" >&2
            return 1
        fi
    fi
    # The HAR validator of the HAR tests (npm's har-validator, pinned by its package-lock.json).
    (cd tests/har-validator && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    # The plugins' own unit tests (their workspace builds for wasm32-wasip2 in
    # tests/guests/build.rs; here it runs natively, in a target directory of its own).
    cargo test --quiet --locked --manifest-path plugins/Cargo.toml --target-dir target/plugins-native
    echo "test.sh: guests, tools and plugin unit tests done in $SECONDS s" >&2
}
# The checks that need no test: the engine's dependencies, the docs, the packages. In a target
# directory of their own (they need the dependencies' metadata, not their code), also while the
# workspace compiles.
static_checks() {
    export CARGO_TARGET_DIR=target/check
    # The engine library stays free of the plugin runtime and the command line.
    tree=$(cargo tree --locked -p httptrace -e normal --prefix none)
    if grep -E '^(wasmtime|clap|indicatif|rcgen|tikv-jemallocator) ' <<<"$tree"; then
        echo "test.sh: the httptrace engine crate depends on the crates above" >&2
        return 1
    fi
    # The docs build without warnings.
    RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --workspace --exclude httptrace-tests --exclude httptrace-test-guests
    # Every publishable crate packages, and builds from its packaged form alone: the packages are
    # unpacked into a workspace of their own whose only sources are those packages and crates.io
    # (each other's dependencies patched to the unpacked copies) and checked there: cargo package's
    # verify step without the code generation. All five together first (the dependencies'
    # metadata from `cargo doc` above is reused), then each crate that others use on its own
    # (the engine, the SDK, the schema), so no other crate's features make up for one it forgot
    # to ask for.
    crates=(httptrace-wit httptrace httptrace-plugin-host httptrace-cli httptrace-guest)
    cargo package --locked --no-verify $(printf -- '-p %s ' "${crates[@]}")
    check=$CARGO_TARGET_DIR/package-check
    rm -rf "$check/src" && mkdir -p "$check/src"
    members=() patches=()
    for c in "${crates[@]}"; do
        tar xzf "$CARGO_TARGET_DIR/package/$c-0.1.0.crate" -C "$check/src"
        members+=("\"src/$c-0.1.0\"") patches+=("$c = { path = \"src/$c-0.1.0\" }")
    done
    {
        echo '[workspace]'
        echo 'resolver = "2"'
        echo "members = [$(IFS=,; echo "${members[*]}")]"
        echo '[patch.crates-io]'
        printf '%s\n' "${patches[@]}"
        # The same profiles as the workspace's, so the dependencies checked for the docs above
        # are reused rather than checked again.
        sed -n '/^\[profile/,$p' Cargo.toml
    } >"$check/Cargo.toml"
    cp Cargo.lock "$check/Cargo.lock"
    cargo check --manifest-path "$check/Cargo.toml" --workspace
    for c in httptrace-wit httptrace httptrace-guest; do
        cargo check --manifest-path "$check/Cargo.toml" -p "$c"
    done
    echo "test.sh: dependency, docs and package checks done in $SECONDS s" >&2
}
next build
test_tools & tools=$!
static_checks & checks=$!
trap 'kill $tools $checks 2>/dev/null; next end; echo "test.sh: $SECONDS s in all" >&2' EXIT
cargo test --workspace --locked --no-run "$@"
wait $tools
wait $checks
trap 'next end; echo "test.sh: $SECONDS s in all" >&2' EXIT
next tests
cargo test --workspace --locked "$@"
