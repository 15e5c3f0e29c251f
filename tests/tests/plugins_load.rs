//! Loading plugins: every check happens before anything runs and says what is wrong, naming the
//! plugin and its file; `plugin inspect`; the precompiled-component cache.

use crate::plugins_support::*;
use httptrace_plugin_host::{ErrorKind, LoadOrigin, PluginSource, Runtime, RuntimeOptions, Verbosity};

/// A component of package version 0.8.0 (not released) of the same world.
fn other_version() -> Vec<u8> {
    synth_component(&plugin_wit().replace("package httptrace:plugin@0.7.0;", "package httptrace:plugin@0.8.0;"))
}

/// A component of the right version without `finish`.
fn without_finish() -> Vec<u8> {
    let wit = plugin_wit();
    let start = wit.find("    /// The run is over.").expect("finish docs");
    let end = wit[start..].find(";\n").expect("end of finish") + start + 2;
    let cut = format!("{}{}", &wit[..start], &wit[end..]);
    assert!(!cut.contains("export finish"));
    synth_component(&cut)
}

/// A component whose optional `on-batch` (world `compact-plugin`) takes the plain events.
fn wrong_on_batch() -> Vec<u8> {
    let wit = plugin_wit();
    let end = wit.rfind('}').expect("end of the world");
    synth_component(&format!("{}    export on-batch: func(events: list<event>) -> list<verdict>;\n}}\n", &wit[..end]))
}

#[test]
fn an_on_batch_of_the_wrong_type_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "batchy.wasm", &wrong_on_batch());
    let e = load_error(&runtime(), &path);
    assert!(matches!(e.kind(), ErrorKind::Incompatible { .. }), "{e}");
    let text = e.to_string();
    assert!(text.starts_with(&format!("plugin batchy ({})", path.display())), "{text}");
    assert!(text.contains("does not fit this httptrace") && text.contains("on-batch"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

fn load_error(rt: &Runtime, path: &std::path::Path) -> httptrace_plugin_host::PluginError {
    match rt.load(&PluginSource::File(path.to_path_buf())) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e,
    }
}

#[test]
fn bad_files_are_refused_with_one_line_naming_plugin_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let not_wasm = write(dir.path(), "noise.wasm", b"this is not webassembly at all");
    let core = write(dir.path(), "core.wasm", b"\0asm\x01\0\0\0");
    let v2 = write(dir.path(), "v2.wasm", &other_version());
    let nofinish = write(dir.path(), "nofinish.wasm", &without_finish());

    let e = load_error(&rt, &not_wasm);
    assert_eq!(e.kind(), &ErrorKind::NotWasm);
    assert_eq!(e.to_string(), format!("plugin noise ({}) is not a WebAssembly file (bad magic bytes)", not_wasm.display()));

    let e = load_error(&rt, &core);
    assert_eq!(e.kind(), &ErrorKind::CoreModule);
    assert!(
        e.to_string().contains("is a core WebAssembly module, not a component — build for wasm32-wasip2 or run wasm-tools component new"),
        "{e}"
    );

    let e = load_error(&rt, &v2);
    assert_eq!(e.kind(), &ErrorKind::VersionMismatch { found: "0.8.0".into() });
    assert!(
        e.to_string()
            .ends_with("implements httptrace:plugin@0.8.0, this httptrace supports @0.1.x, @0.2.x, @0.3.x, @0.4.x, @0.5.x, @0.6.x, @0.7.x"),
        "{e}"
    );

    let e = load_error(&rt, &nofinish);
    assert_eq!(e.kind(), &ErrorKind::MissingExport { export: "finish".into() });
    assert!(e.to_string().contains("does not export `finish`"), "{e}");

    let e = load_error(&rt, &dir.path().join("absent.wasm"));
    assert!(matches!(e.kind(), ErrorKind::Read { .. }), "{e}");
    let e = rt.load(&PluginSource::Bundled("no-such-plugin".into())).err().expect("unknown name refused");
    assert_eq!(e.kind(), &ErrorKind::UnknownBundled);

    for (path, needle) in [
        (&not_wasm, "is not a WebAssembly file"),
        (&core, "is a core WebAssembly module"),
        (&v2, "implements httptrace:plugin@0.8.0, this httptrace supports @0.1.x, @0.2.x, @0.3.x, @0.4.x, @0.5.x, @0.6.x, @0.7.x"),
        (&nofinish, "does not export `finish`"),
    ] {
        // The run stops before any request: the URL's port has nobody listening.
        let run = cli(&["-p", path.to_str().unwrap(), "http://127.0.0.1:9/"], &[]);
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
        assert!(run.stderr.contains(needle) && run.stderr.contains(&path.display().to_string()), "{run:?}");
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn a_synthetic_component_of_the_right_version_passes_the_checks() {
    // Guards the two tests above: the synthesis itself yields loadable components.
    let dir = tempfile::tempdir().unwrap();
    let ok = write(dir.path(), "ok.wasm", &synth_component(&plugin_wit()));
    runtime().load(&PluginSource::File(ok)).expect("a complete 0.1.0 component loads");
}

#[test]
fn inspect_says_what_a_file_implements_and_whether_it_fits() {
    let dir = tempfile::tempdir().unwrap();
    let good = guest("kinds");
    let run = cli(&["plugin", "inspect", good.to_str().unwrap()], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    for needle in [
        "implements: httptrace:plugin@0.7.0",
        "httptrace:plugin/host@0.7.0 (instance)",
        "init (func)",
        "on-events (func)",
        "finish (func)",
        ": yes",
    ] {
        assert!(run.stdout.contains(needle), "{needle} missing from\n{}", run.stdout);
    }
    let v2 = write(dir.path(), "v2.wasm", &other_version());
    let run = cli(&["plugin", "inspect", v2.to_str().unwrap()], &[]);
    assert_ne!(run.code, 0);
    assert!(run.stdout.contains("implements: httptrace:plugin@0.8.0"), "{}", run.stdout);
    assert!(run.stdout.contains("this httptrace supports @0.1.x, @0.2.x, @0.3.x, @0.4.x, @0.5.x, @0.6.x, @0.7.x"), "{}", run.stdout);
    let core = write(dir.path(), "core.wasm", b"\0asm\x01\0\0\0");
    let run = cli(&["plugin", "inspect", core.to_str().unwrap()], &[]);
    assert_ne!(run.code, 0);
    assert!(run.stdout.contains("core WebAssembly module"), "{}", run.stdout);
    // Bundled plugins can be inspected by name.
    let run = cli(&["plugin", "inspect", "ndjson"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn the_second_load_comes_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let opts = || RuntimeOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        verbosity: Verbosity::Error,
        bundled: httptrace_cli::bundled::BUNDLED,
    };
    let kinds = PluginSource::File(guest("kinds"));

    let rt = Runtime::new(opts()).unwrap();
    let first = rt.load(&kinds).unwrap();
    let LoadOrigin::CompiledAndCached(path) = first.origin().clone() else { panic!("first load: {:?}", first.origin()) };
    assert!(path.starts_with(cache.path()) && path.is_file());
    assert_eq!((rt.cache_stats().compiled(), rt.cache_stats().hits()), (1, 0));

    // A new runtime (as in a second process) deserialises instead of compiling.
    let rt = Runtime::new(opts()).unwrap();
    let second = rt.load(&kinds).unwrap();
    assert_eq!(second.origin(), &LoadOrigin::Cached(path.clone()));
    assert_eq!((rt.cache_stats().compiled(), rt.cache_stats().hits()), (0, 1));

    // A corrupt artefact is recompiled and replaced.
    std::fs::write(&path, b"garbage").unwrap();
    let third = rt.load(&kinds).unwrap();
    assert_eq!(third.origin(), &LoadOrigin::CompiledAndCached(path.clone()));

    // Without a cache directory, nothing is written.
    let rt =
        Runtime::new(RuntimeOptions { cache_dir: None, verbosity: Verbosity::Error, bundled: httptrace_cli::bundled::BUNDLED }).unwrap();
    assert_eq!(rt.load(&kinds).unwrap().origin(), &LoadOrigin::Compiled);
}

#[test]
fn the_cli_says_where_a_plugin_came_from_with_httptrace_log_debug() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_str().unwrap();
    let env = [("HTTPTRACE_CACHE_DIR", dir), ("HTTPTRACE_LOG", "debug")];
    let url = http("/");
    let first = cli(&["-p", "ndjson", &url], &env);
    assert_eq!(first.code, 0, "{first:?}");
    assert!(first.stderr.contains("httptrace: plugin ndjson: compiled and cached "), "{}", first.stderr);
    let second = cli(&["-p", "ndjson", &url], &env);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(second.stderr.contains("httptrace: plugin ndjson: loaded precompiled "), "{}", second.stderr);
    assert!(!second.stderr.contains("compiled and cached"), "{}", second.stderr);
    let files: Vec<_> = std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1, "one artefact, no temp files left: {files:?}");
    assert!(files[0].to_string_lossy().ends_with(".cwasm"));
}

/// Runs that miss the cache together compile the plugin once: the first takes the artefact's
/// compile lock, the others wait for it and load what it wrote; no lock file is left behind.
#[test]
fn concurrent_runs_compile_a_plugin_once() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_str().unwrap();
    let env = [("HTTPTRACE_CACHE_DIR", dir), ("HTTPTRACE_LOG", "debug")];
    let url = http("/");
    let runs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(|| cli(&["-p", "ndjson", &url], &env))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in &runs {
        assert_eq!(run.code, 0, "{run:?}");
    }
    let count = |what: &str| runs.iter().filter(|r| r.stderr.contains(what)).count();
    assert_eq!(count("httptrace: plugin ndjson: compiled and cached "), 1, "{runs:#?}");
    assert_eq!(count("httptrace: plugin ndjson: loaded precompiled "), 2, "{runs:#?}");
    let files: Vec<_> = std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1, "one artefact, no lock or temp file left: {files:?}");
}
