//! Smoke tests of the `httptrace` binary that need no server.

use std::process::Command;

fn httptrace(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_httptrace")).args(args).env("NO_COLOR", "1").output().expect("run httptrace");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn help_lists_the_plugin_flags_and_subcommands() {
    let (code, out, _) = httptrace(&["--help"]);
    assert_eq!(code, 0);
    for flag in
        ["--plugin ", "--plugin-config", "--output", "--plugin-timeout", "--plugin-memory", "--on-plugin-error", "plugins", "plugin "]
    {
        assert!(out.contains(flag), "{flag} missing from --help:\n{out}");
    }
}

#[test]
fn bad_plugin_flags_are_usage_errors() {
    for args in [
        &["--plugin-timeout", "soon", "http://x/"][..],
        &["--plugin-memory", "lots", "http://x/"],
        &["--on-plugin-error", "ignore", "http://x/"],
    ] {
        let (code, _, err) = httptrace(args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}

fn httptrace_env(args: &[&str], env: &[(&str, &std::path::Path)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_httptrace"));
    cmd.args(args).env("NO_COLOR", "1").env_remove("HTTPTRACE_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run httptrace");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn version_names_the_commit_wasmtime_and_the_wit() {
    for flag in ["--version", "-V"] {
        let (code, out, _) = httptrace(&[flag]);
        assert_eq!(code, 0);
        assert!(out.starts_with(&format!("httptrace {} (commit ", env!("CARGO_PKG_VERSION"))), "{out}");
        // The commit git reports for this checkout, or `unknown` where git cannot say.
        let head = Command::new("git")
            .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        let expected = format!("(commit {}", head.as_deref().unwrap_or("unknown"));
        assert!(out.contains(&expected), "{expected} missing: {out}");
        assert!(out.contains(", wasmtime 48.") && out.contains("plugins httptrace:plugin@0.7.0)"), "{out}");
    }
}

#[test]
fn completions_and_man_page_come_from_the_command_definition() {
    for (shell, marker) in
        [("bash", "_httptrace()"), ("zsh", "#compdef httptrace"), ("fish", "complete -c httptrace"), ("powershell", "httptrace")]
    {
        let (code, out, err) = httptrace(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: {marker} missing");
        assert!(out.contains("plugin-timeout") && out.contains("http2-prior-knowledge"), "{shell}: flags missing");
    }
    let (code, _, err) = httptrace(&["completions", "tcsh"]);
    assert_eq!(code, 2, "an unknown shell is a usage error: {err}");
    let (code, out, _) = httptrace(&["man"]);
    assert_eq!(code, 0);
    assert!(out.starts_with(".ie") || out.contains(".TH httptrace"), "{}", &out[..out.len().min(200)]);
    assert!(out.contains(".TH httptrace"), "roff title");
    assert!(out.contains("plugin\\-timeout"), "the flags are in the page");
}

/// The cache reports what it holds, tells artefacts of other builds apart, and deletes them
/// (`--prune`) or everything (`--clean`), with compile locks left behind; other files in the
/// directory are left alone.
#[test]
fn plugin_cache_shows_prunes_and_cleans() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("HTTPTRACE_CACHE_DIR", dir.path())];
    let (code, out, _) = httptrace_env(&["plugin", "cache"], &env);
    assert_eq!(code, 0);
    assert!(out.contains("0 precompiled plugin(s) for this build, 0 bytes"), "{out}");
    // Compiles `ndjson` into the cache.
    let (code, _, err) = httptrace_env(&["plugin", "inspect", "ndjson"], &env);
    assert_eq!(code, 0, "{err}");
    let stale = dir.path().join(format!("{}-0123456789abcdef.cwasm", "ab".repeat(32)));
    std::fs::write(&stale, vec![0u8; 3000]).unwrap();
    // Compile locks killed processes left behind: another build's, and this build's that no
    // process holds, are removed.
    let stale_lock = stale.with_extension("lock");
    std::fs::write(&stale_lock, "").unwrap();
    let current = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm") && *p != stale)
        .expect("the artefact of ndjson");
    let current_lock = current.with_extension("lock");
    std::fs::write(&current_lock, "").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let (code, out, _) = httptrace_env(&["plugin", "cache"], &env);
    assert_eq!(code, 0);
    assert!(
        out.contains("1 precompiled plugin(s) for this build") && out.contains("1 for other builds (never loaded again), 2.9 KiB"),
        "{out}"
    );
    let (code, out, _) = httptrace_env(&["plugin", "cache", "--prune"], &env);
    assert_eq!(code, 0);
    assert!(out.contains("removed 1 precompiled plugin(s), 2.9 KiB"), "{out}");
    assert!(!stale.exists() && !stale_lock.exists() && !current_lock.exists() && current.exists());
    let (_, out, _) = httptrace_env(&["plugin", "cache"], &env);
    assert!(out.contains("1 precompiled plugin(s) for this build") && out.contains("0 for other builds"), "{out}");
    let (code, out, _) = httptrace_env(&["plugin", "cache", "--clean"], &env);
    assert_eq!(code, 0);
    assert!(out.contains("removed 1 precompiled plugin(s)"), "{out}");
    let (_, out, _) = httptrace_env(&["plugin", "cache"], &env);
    assert!(out.contains("0 precompiled plugin(s) for this build"), "{out}");
    assert!(dir.path().join("notes.txt").exists(), "not an artefact: left alone");
}

/// A reader that goes away (`httptrace plugins | head -1`) is no error and no panic.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    for args in [&["plugins"][..], &["completions", "bash"], &["man"], &["plugin", "inspect", "ndjson"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_httptrace"))
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run httptrace");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

/// `serve --help` names every endpoint with its parameter (clap once ate `{n}`).
#[test]
fn serve_help_lists_every_endpoint_whole() {
    let (code, out, _) = httptrace(&["serve", "--help"]);
    assert_eq!(code, 0);
    let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for endpoint in ["/delay/MS", "/bytes/N", "/status/CODE", "/redirect/N,", "/redirect-to?url=URL", "/drip?bytes=N&duration_ms=MS"] {
        assert!(flat.contains(endpoint), "{endpoint} missing from: {out}");
    }
}

/// A bare word that nearly spells a subcommand is a mistyped command, not a host to look up
/// (as git says); other bare hosts keep curl's rule; `http:///path` is a bad URL.
#[test]
fn mistyped_subcommands_are_named_not_resolved() {
    for (typed, meant) in [("serv", "serve"), ("complitions", "completions"), ("mna", "man"), ("replya", "replay"), ("plugn", "plugin")] {
        let (code, _, err) = httptrace(&[typed]);
        assert_eq!(code, 2, "{typed}: {err}");
        assert!(err.contains(&format!("did you mean `httptrace {meant}`?")), "{typed}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // A host of such a name is still reachable written as a URL; a plain bare host is a host.
    let (code, _, err) = httptrace(&["--resolve", "serv:1:127.0.0.1", "http://serv:1/"]);
    assert_eq!(code, 7, "connection refused, after no DNS at all: {err}");
    assert!(!err.contains("did you mean"), "{err}");
    let (code, _, err) = httptrace(&["http:///path"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no host"), "{err}");
}
