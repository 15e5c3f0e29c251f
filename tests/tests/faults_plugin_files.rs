//! Bad plugin files: each is refused with one line naming the plugin, its file and what is
//! wrong, exit 2, before any request (the URL points at a listener nobody serves, and nobody
//! connects to it), fast, and without reading more of the file than needed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::plugins_support::*;
use httptrace_plugin_host::{ErrorKind, PluginSource, MAX_PLUGIN_FILE};

/// Deterministic noise (xorshift), so a failure can be reproduced.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// A core module with the plugin world's exports (what `cargo build --target wasm32-wasip1`
/// gives without `wasm-tools component new`).
fn core_module() -> Vec<u8> {
    synth_core_module(&plugin_wit())
}

/// A component of an unrelated world: a command-like `run` export, nothing of httptrace.
fn other_world() -> Vec<u8> {
    synth_component("package other:thing@1.0.0;\n\nworld plugin {\n    export run: func() -> u32;\n}\n")
}

/// Right package version and export names, wrong types.
fn wrong_types() -> Vec<u8> {
    let wit = plugin_wit()
        .replace("export on-events: func(events: list<event>) -> list<verdict>;", "export on-events: func(events: list<event>) -> u32;");
    assert!(wit.contains("-> u32;"));
    synth_component(&wit)
}

/// A sparse file of `len` bytes starting with `head`: huge on paper, nothing on disk.
fn sparse(dir: &Path, name: &str, head: &[u8], len: u64) -> PathBuf {
    let p = write(dir, name, head);
    std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(len).unwrap();
    p
}

const COMPONENT_PREAMBLE: &[u8] = b"\0asm\x0d\0\x01\0";

#[test]
fn bad_plugin_files_are_refused_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let real = std::fs::read(guest("kinds")).unwrap();
    let mut preamble_then_noise = COMPONENT_PREAMBLE.to_vec();
    preamble_then_noise.extend(noise(64 << 10, 7));
    let v2 = plugin_wit().replace("package httptrace:plugin@0.7.0;", "package httptrace:plugin@0.8.0;");

    #[allow(clippy::type_complexity)]
    let cases: Vec<(PathBuf, fn(&ErrorKind) -> bool, String)> = vec![
        (write(d, "empty.wasm", b""), |k| *k == ErrorKind::Empty, "is an empty file, not a WebAssembly component".into()),
        (
            write(d, "truncated.wasm", &real[..real.len() / 2]),
            |k| matches!(k, ErrorKind::Compile { .. }),
            "failed to compile: failed to parse WebAssembly module: ".into(),
        ),
        (write(d, "noise.wasm", &noise(64 << 10, 1)), |k| *k == ErrorKind::NotWasm, "is not a WebAssembly file (bad magic bytes)".into()),
        (
            write(d, "garbled.wasm", &preamble_then_noise),
            |k| matches!(k, ErrorKind::Compile { .. }),
            "failed to compile: failed to parse WebAssembly module: ".into(),
        ),
        (write(d, "core.wasm", &core_module()), |k| *k == ErrorKind::CoreModule, "is a core WebAssembly module, not a component".into()),
        (
            write(d, "other.wasm", &other_world()),
            |k| matches!(k, ErrorKind::OtherWorld { exports } if exports == &["run"]),
            "is a component of another world: it exports `run`, not init, on-events and finish of httptrace:plugin/plugin@0.7.0".into(),
        ),
        (write(d, "types.wasm", &wrong_types()), |k| matches!(k, ErrorKind::Incompatible { .. }), "does not fit this httptrace: ".into()),
        (
            write(d, "v2.wasm", &synth_component(&v2)),
            |k| matches!(k, ErrorKind::VersionMismatch { found } if found == "0.8.0"),
            "implements httptrace:plugin@0.8.0, this httptrace supports @0.1.x, @0.2.x, @0.3.x, @0.4.x, @0.5.x, @0.6.x, @0.7.x".into(),
        ),
        // Over the size limit: refused from its size alone, without reading it.
        (
            sparse(d, "huge.wasm", COMPONENT_PREAMBLE, MAX_PLUGIN_FILE + (44 << 20)),
            |k| matches!(k, ErrorKind::TooLarge { size: Some(_), .. }),
            format!("is too large to be a plugin: {} bytes, the limit is 256 MiB", MAX_PLUGIN_FILE + (44 << 20)),
        ),
        // 200 MiB of zeros: the first 8 bytes say it is not WebAssembly; the rest is not read.
        (sparse(d, "zeros.wasm", b"", 200 << 20), |k| *k == ErrorKind::NotWasm, "is not a WebAssembly file (bad magic bytes)".into()),
        // Endless (its size says 0): the same.
        (PathBuf::from("/dev/zero"), |k| *k == ErrorKind::NotWasm, "is not a WebAssembly file (bad magic bytes)".into()),
        (d.join("absent.wasm"), |k| matches!(k, ErrorKind::Read { .. }), "cannot be read: ".into()),
        (
            d.to_path_buf(),
            |k| matches!(k, ErrorKind::Read { message } if message == "is a directory"),
            "cannot be read: is a directory".into(),
        ),
    ];

    let rt = runtime();
    for (path, kind_ok, needle) in &cases {
        let shown = path.display().to_string();
        let e = rt.load(&PluginSource::File(path.clone())).err().unwrap_or_else(|| panic!("{shown} loaded"));
        assert!(kind_ok(e.kind()), "{shown}: {:?}", e.kind());
        assert!(e.kind().is_load(), "{shown}: {:?}", e.kind());

        let silent = Silent::new();
        // `-p DIR/` and `-p /dev/zero` are files by the `/` rule.
        let started = Instant::now();
        let run = cli(&["-p", &shown, "-p", "ndjson", &silent.url()], &[]);
        assert!(started.elapsed() < Duration::from_secs(10), "{shown}: {:?}", started.elapsed());
        assert_eq!(run.code, 2, "{shown}: {run:?}");
        assert!(run.stdout.is_empty(), "{shown}: {}", run.stdout);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{shown}: {lines:?}");
        assert!(lines[0].starts_with("httptrace: plugin ") && lines[0].contains(&format!("({shown})")), "{lines:?}");
        assert!(lines[0].contains(needle.as_str()), "{shown}: {needle:?} not in {lines:?}");
        silent.assert_untouched(&shown);
    }
}

#[test]
fn inspect_explains_bad_files_too() {
    let dir = tempfile::tempdir().unwrap();
    let other = write(dir.path(), "other.wasm", &other_world());
    let run = cli(&["plugin", "inspect", other.to_str().unwrap()], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("implements: no httptrace:plugin interface"), "{}", run.stdout);
    assert!(run.stdout.contains("run (func)") && run.stdout.contains("is a component of another world"), "{}", run.stdout);
    let empty = write(dir.path(), "empty.wasm", b"");
    let run = cli(&["plugin", "inspect", empty.to_str().unwrap()], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("is an empty file"), "{}", run.stdout);
}
