#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the build needs first
# (the wasm32-wasip2 target; npm, PyPI and Zig/Go toolchains for the non-Rust guest plugins).
set -euo pipefail
cd "$(dirname "$0")/.."
# One cold build: incremental compilation's bookkeeping only costs here (-10 % with the profile
# overrides in Cargo.toml, cargo --timings 2026-12-01).
export CARGO_INCREMENTAL=0
# How long each stage took, on stderr: wall time and the CPU time of the processes it waited
# for (user + system; on 2 cores a stage whose CPU is well under twice its wall time leaves a
# core idle).
# cpu_now: sets cpu to the CPU seconds of this shell's finished children so far (`times` must run
# in this shell, not in a command substitution's).
times_file=$(mktemp)
cpu_now() {
    times >"$times_file"
    cpu=$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] } printf "%d", t }' "$times_file")
}
stage=setup stage_start=0 stage_cpu=0
next() {
    local cpu
    cpu_now
    echo "test.sh: $stage took $((SECONDS - stage_start)) s ($((cpu - stage_cpu)) s of CPU)" >&2
    stage=$1 stage_start=$SECONDS stage_cpu=$cpu
}
trap 'next end; rm -f "$times_file"; echo "test.sh: $SECONDS s in all" >&2' EXIT
# Lean mode, for machines short of disk (CI's fresh machines have had 4 GiB free): each stage's
# build tools and outputs are removed as soon as no later stage reads them, which keeps the peak
# near 3 GiB instead of 5 GiB, at the price of rebuilding them on the next run. On by default
# when less than 12 GiB are free; HTTPTRACE_LEAN=1 or 0 decides instead.
free_gib=$(( $(df -Pk . | awk 'NR==2 {print $4}') / 1048576 ))
lean=${HTTPTRACE_LEAN:-$([ "$free_gib" -lt 12 ] && echo 1 || echo 0)}
# prune PATH...: in lean mode, removes PATHs and says how much that freed.
prune() {
    [ "$lean" = 1 ] || return 0
    local kib
    # (du fails on a path already gone, e.g. a previous lean run's: not an error here.)
    kib=$( { du -sk "$@" 2>/dev/null || true; } | awk '{s += $1} END {print s + 0}')
    rm -rf "$@"
    echo "test.sh: lean: removed $((kib / 1024)) MiB ($*)" >&2
}
if [ "$lean" = 1 ]; then echo "test.sh: $free_gib GiB free: lean mode (HTTPTRACE_LEAN=0 keeps build outputs)" >&2; fi
rustup target add wasm32-wasip2
# Debian's packages, installed when missing, never started as services (the tests run their own
# on loopback ports). apt_install PACKAGE...: installs them as root with apt-get, or fails
# naming them.
apt_install() {
    [ $# -gt 0 ] || return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "test.sh: the tests need $* (Debian: apt-get install $*)" >&2
        return 1
    fi
    echo "test.sh: installing $* with apt-get" >&2
    local policy=/usr/sbin/policy-rc.d made= status=0
    [ -e $policy ] || { printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && made=1; }
    setsid -w apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive setsid -w apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
        status=$?
    [ -z "$made" ] || rm -f $policy
    return $status
}
# What the tests drive: curl (what the curl-compatible flags are compared with), nginx (a server
# that is not ours) and its stream module (TLS in front of tinyproxy: a proxy spoken to over
# TLS), chromium (the html report opened in a real browser, through playwright-core), tinyproxy
# (an HTTP and CONNECT proxy), microsocks (a SOCKS5 proxy), dante-server (danted: SOCKS4 and
# 4a); and what scripts/build-guests.sh and the Node.js checkers run on: npm, python3-venv.
missing=()
command -v npm >/dev/null || missing+=(nodejs npm)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v tinyproxy >/dev/null || missing+=(tinyproxy)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(libnginx-mod-stream)
command -v microsocks >/dev/null || missing+=(microsocks)
command -v curl >/dev/null || missing+=(curl)
[ -x /usr/sbin/danted ] || missing+=(dante-server)
# (Without root or apt-get, say so now rather than after the build.)
if [ ${#missing[@]} -gt 0 ] && { [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; }; then
    apt_install "${missing[@]}"
fi
# The test runs' other tools, into target/tools and tests/node-checks:
# - the Node.js checkers (npm's har-validator, ajv, playwright-core driving Debian's chromium),
#   pinned by tests/node-checks/package-lock.json;
# - the OpenTelemetry collector the export tests send to: rotel (a Rust collector shipped as the
#   PyPI package `rotel`, its `rotel-agent` binary), pinned;
# - HTTP/3 implementations that are not ours: aioquic and hypercorn (`--quic-bind`), pinned by
#   tests/h3/requirements.txt (a new directory whenever the pins change).
rotel_dir=target/tools/rotel-0.0.1a15
h3py=target/tools/h3py-$(sha256sum tests/h3/requirements.txt | cut -c1-12)
export HTTPTRACE_ROTEL=$PWD/$rotel_dir/rotel/rotel-agent HTTPTRACE_H3PY=$PWD/$h3py
test_tools() {
    (cd tests/node-checks && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    [ -x "$rotel_dir/rotel/rotel-agent" ] || python3 -m pip install -q --no-deps --target "$rotel_dir" rotel==0.0.1a15
    [ -d "$h3py/aioquic" ] || python3 -m pip install -q --no-deps --target "$h3py" -r tests/h3/requirements.txt
}
next build
# Everything but the Rust test build (the packages above, the tools, the non-Rust guest plugins:
# downloads, dpkg and single-threaded steps that alone left a core idle, 190 s of CPU in 135 s
# for the guests, 2026-12-02) runs beside it, in a process group of its own that the trap below
# stops should this script end first (apt-get in a session of its own: never stopped halfway).
# In lean mode it all comes first, and the guests' toolchains (~1.2 GiB) are gone before the
# test build fills the disk.
prepare() {
    apt_install "$@"
    test_tools &
    local tools=$!
    ./scripts/build-guests.sh
    wait "$tools"
}
prepare_pid=
if [ "$lean" = 1 ]; then
    prepare "${missing[@]}"
    prune target/guest-tools plugins/conformance-js/node_modules
else
    export -f apt_install test_tools prepare
    export rotel_dir h3py
    setsid -w bash -c 'set -euo pipefail; prepare "$@"' prepare "${missing[@]}" &
    prepare_pid=$!
fi
trap '[ -z "${prepare_pid:-}" ] || kill -- "-$prepare_pid" 2>/dev/null || true; [ -z "${plugin_pid:-}" ] || kill "$plugin_pid" 2>/dev/null || true; next end; rm -f "$times_file" "${plugin_log:-}"; echo "test.sh: $SECONDS s in all" >&2' EXIT
# Without the binary's `jemalloc` feature (here and in the docs and package checks): it changes
# no behaviour a test sees, and building jemalloc costs ~100 s of CPU (cargo --timings).
cargo test --workspace --locked --no-default-features --no-run "$@"
if [ -n "$prepare_pid" ]; then
    if ! wait "$prepare_pid"; then
        prepare_pid=
        echo "test.sh: installing the tests' packages and tools or building the guest plugins failed (above)" >&2
        exit 1
    fi
    prepare_pid=
    # The guests are built; their toolchains (componentize-js/-py, Zig, Go: ~1.2 GiB) are not
    # read again.
    prune target/guest-tools plugins/conformance-js/node_modules
fi
next test-runs
# The end-to-end tests mostly wait on servers and subprocesses: all but the laned ones
# (tests/lanes.py: those whose numbers must not include another test's load, and those that
# load the machine) run six at a time, then the laned ones two at a time, on their own. The
# plugin cache's compile lock makes the six compile each plugin once between them.
# (`--workspace` as above, so that the features resolve as they did for the build: `-p` alone
# would build the CLI and its tests again, ~130 s.)
e2e=(cargo test --workspace --locked --no-default-features --test e2e)
# ("$@" are cargo's options, as for the build above; the test harness's are set here.)
laned=$("${e2e[@]}" -q "$@" -- --list --format terse | python3 tests/lanes.py)
if [ -z "$laned" ]; then
    echo "test.sh: tests/lanes.py found no laned test" >&2
    exit 1
fi
skips=()
for t in $laned; do skips+=(--skip "$t"); done
# Beside the unlaned tests, at idle priority (SCHED_IDLE: only CPU time the tests leave):
# the plugins' own unit tests (their workspace builds for wasm32-wasip2 in
# tests/guests/build.rs; here it builds and runs natively, in a target directory of its own).
# They are done before the laned tests start.
plugin_log=$(mktemp)
idle=()
command -v chrt >/dev/null && idle=(chrt --idle 0)
"${idle[@]}" cargo test --locked --manifest-path plugins/Cargo.toml --target-dir target/plugins-native >"$plugin_log" 2>&1 &
plugin_pid=$!
cargo test --workspace --locked --no-default-features "$@" -- --exact "${skips[@]}" --test-threads 6
plugin_status=0
wait "$plugin_pid" || plugin_status=$?
plugin_pid=
cat "$plugin_log" >&2
if [ "$plugin_status" != 0 ]; then
    echo "test.sh: the plugins' unit tests failed (plugins/, above)" >&2
    exit 1
fi
prune target/plugins-native
# shellcheck disable=SC2086 # one name per word
"${e2e[@]}" "$@" -- --exact $laned --test-threads 2
# Nothing later runs the test executables or reads the guests' build. The rest of target/debug
# stays: the docs and package checks reuse its build scripts and proc macros (removing it all
# cost the docs stage 150 s of rebuilding).
prune target/wasm-guests target/debug/examples \
    $(find target/debug/deps -maxdepth 1 -type f -perm -u+x ! -name '*.so' ! -name '*.d')
next checks
# The engine library stays free of the plugin runtime and the command line.
tree=$(cargo tree --locked -p httptrace -e normal --prefix none)
if grep -E '^(wasmtime|clap|indicatif|rcgen|tikv-jemallocator) ' <<<"$tree"; then
    echo "test.sh: the httptrace engine crate depends on the crates above" >&2
    exit 1
fi
next docs
# The docs build without warnings.
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --no-default-features --workspace --exclude httptrace-tests --exclude httptrace-test-guests
# Every publishable crate packages, and builds from its packaged form alone: the packages are
# unpacked into a workspace of their own whose only sources are those packages and crates.io
# (each other's dependencies patched to the unpacked copies) and checked there: cargo package's
# verify step without the code generation. All six together first, in the main target
# directory (the dependencies' metadata from `cargo doc` above is reused), then each crate that
# others use on its own (the engine, the exporter, the SDK, the schema), so no other crate's features make up
# for one it forgot to ask for.
next packages
crates=(httptrace-wit httptrace httptrace-plugin-host httptrace-otlp httptrace-cli httptrace-guest)
cargo package --locked --no-verify $(printf -- '-p %s ' "${crates[@]}")
check=target/package-check
rm -rf "$check/src" && mkdir -p "$check/src"
members=() patches=()
for c in "${crates[@]}"; do
    tar xzf "target/package/$c-0.1.0.crate" -C "$check/src"
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
cargo check --manifest-path "$check/Cargo.toml" --workspace --no-default-features --target-dir target
for c in httptrace-wit httptrace httptrace-otlp httptrace-guest; do
    cargo check --manifest-path "$check/Cargo.toml" -p "$c" --target-dir target
done
