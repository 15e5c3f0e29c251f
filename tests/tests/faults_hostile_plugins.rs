//! Hostile plugins, through the `httptrace` binary: each one tries to escape or exhaust its
//! sandbox, and is denied or stopped, named in one stderr line, while `ndjson` after it prints
//! the whole request and the run exits 90. Test guests: `tests/plugins/<name>/`.

use crate::plugins_support::*;

/// Neither output nor diagnostics carry anything a guest found (`LEAK …` lines) or `secret`.
fn nothing_leaked(run: &Run, secret: &str) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(!text.contains("LEAK"), "{stream} has a leak: {text}");
        assert!(secret.is_empty() || !text.contains(secret), "{secret} leaked to {stream}: {text}");
    }
}

#[test]
fn a_plugin_cannot_read_files_of_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = write(dir.path(), "secret.txt", b"file-secret-b6f1c0");
    let marker = std::path::Path::new("/tmp/httptrace-read-file-was-here");
    let _ = std::fs::remove_file(marker);
    let config = format!("path={}", secret_file.display());
    // Every attempt refused: both files, both directories, the write.
    let needle = "denied: 2 reads, 2 lists, 1 write (first: read /etc/passwd: ";
    let run = assert_contained("read-file", &["path=/etc/passwd", &config], &[], &[], needle);
    nothing_leaked(&run, "file-secret-b6f1c0");
    assert!(!run.stdout.contains("root:"), "{}", run.stdout);
    assert!(!marker.exists(), "the plugin wrote a file on the host");
}

#[test]
fn a_plugin_sees_none_of_the_hosts_environment() {
    let env = [("HTTPTRACE_TEST_SECRET", "env-secret-91d2e7")];
    let run = assert_contained("read-env", &[], &[], &env, "denied: 0 environment variables, 0 arguments");
    nothing_leaked(&run, "env-secret-91d2e7");
}

#[test]
fn a_plugin_cannot_open_sockets_or_resolve_names() {
    // TCP and UDP on the same port, both watched: nothing may arrive.
    let silent = Silent::new();
    let udp = std::net::UdpSocket::bind(silent.addr).expect("udp bind");
    udp.set_nonblocking(true).unwrap();
    let config = format!("addr={}", silent.addr);
    let needle = format!("denied: tcp connect, udp send, resolve (first: tcp connect {}: ", silent.addr);
    let run = assert_contained("open-socket", &[&config], &[], &[], &needle);
    nothing_leaked(&run, "");
    silent.assert_untouched("tcp from the plugin");
    let mut buf = [0u8; 64];
    assert!(udp.recv_from(&mut buf).is_err(), "a datagram from the plugin arrived");
}

#[test]
fn a_plugin_that_recurses_without_end_is_stopped() {
    // WebAssembly's own call stack: wasmtime's stack limit.
    assert_contained("recurse", &["stack=native"], &[], &[], "on-events trapped: call stack exhausted");
    // Rust's shadow stack in linear memory runs off the bottom of memory.
    assert_contained("recurse", &["stack=shadow"], &[], &[], "on-events trapped: out of bounds memory access");
}

#[test]
fn a_plugin_that_sleeps_traps_at_once() {
    // A blocking wait cannot be interrupted by the deadline, so it is not allowed at all.
    let started = std::time::Instant::now();
    assert_contained("sleep", &[], &[], &[], "on-events trapped: plugins may not block (wasi:io/poll: sleeping or waiting)");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
}

#[test]
fn a_plugin_that_traps_in_finish_is_named_after_the_output_is_complete() {
    let run = assert_contained("trap-in-finish", &[], &[], &[], "finish trapped: ");
    assert!(run.stderr.contains("trap-in-finish: trapping on purpose"), "{}", run.stderr);
}

/// Bytes of `flood` filler in `text`.
fn flood_bytes(text: &str) -> usize {
    text.lines().filter(|l| l.contains("flood flood")).map(|l| l.len() + 1).sum()
}

#[test]
fn a_plugin_that_emits_without_end_is_stopped_at_its_output_limit() {
    // The guest emits 1 MiB chunks forever: the default 64 MiB per call stops it, and the host
    // never holds more than a chunk or so (its peak RSS stays far below the output).
    let path = guest("emit-flood");
    let url = http("/");
    // (A time limit far above the flood's, so the output limit is what stops it even on a
    // busy machine.)
    let args = ["--plugin-timeout", "60s", "-p", path.to_str().unwrap(), "-p", "ndjson", &url];
    let (run, rss) = cli_measured(&args, &[]);
    assert_eq!(run.code, 90, "{}", run.stderr);
    assert!(run.stderr.contains("on-events wrote more than its 64 MiB output limit (emit and log)"), "{}", run.stderr);
    let flooded = flood_bytes(&run.stdout);
    assert!(flooded > 60 << 20 && flooded <= 64 << 20, "{flooded} bytes of flood");
    assert!(rss < 200 << 20, "peak RSS {} MiB for 64 MiB of output", rss >> 20);

    // A smaller limit, from the flag; the run and ndjson after it are unaffected.
    let run =
        assert_contained("emit-flood", &[], &["--plugin-output-limit", "2MiB"], &[], "on-events wrote more than its 2 MiB output limit");
    assert!(flood_bytes(&run.stdout) <= 2 << 20);
}

#[test]
fn a_plugin_that_logs_without_end_is_stopped_at_its_output_limit() {
    // Log lines count against the same limit: stderr is not a way around it.
    let run = assert_contained(
        "emit-flood",
        &["via=log"],
        &["--plugin-output-limit", "4MiB", "--plugin-timeout", "60s"],
        &[],
        "on-events wrote more than its 4 MiB output limit",
    );
    assert!(run.stderr.len() < (4 << 20) + 4096, "{} bytes on stderr", run.stderr.len());
    assert!(run.stderr.lines().filter(|l| l.starts_with("httptrace: [plugin emit-flood] error flood")).count() >= 3);
    assert_eq!(flood_bytes(&run.stdout), 0);
}

#[test]
fn abort_stops_the_run_before_any_request_when_init_fails() {
    let silent = Silent::new();
    let path = guest("trap-in-init");
    let run = cli(&["--on-plugin-error=abort", "-p", path.to_str().unwrap(), "-p", "ndjson", &silent.url()], &[]);
    assert_eq!(run.code, 90, "{run:?}");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(" failed, run aborted: init trapped: ") && lines[0].contains(&path.display().to_string()), "{lines:?}");
    silent.assert_untouched("abort at init");
}

#[test]
fn abort_on_a_hostile_plugin_stops_the_chain_but_the_request_still_ends() {
    // The plugin fails on the request's events; abort drops the rest of the chain's work
    // (ndjson prints nothing) and the run exits 90, not hanging on the full channel.
    let path = guest("read-file");
    let run = cli(&["--on-plugin-error=abort", "-p", path.to_str().unwrap(), "-p", "ndjson", &http("/")], &[]);
    assert_eq!(run.code, 90, "{run:?}");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("failed, run aborted: on-events trapped: ") && run.stderr.contains("denied: "), "{}", run.stderr);
}

#[test]
fn a_plugin_cannot_forge_host_lines_on_stderr() {
    // Its log line and its finish error each stay one line, control characters escaped.
    let run =
        assert_contained("forge-lines", &[], &[], &[], r"finish failed: innocent\nhttptrace: plugin ndjson disabled: forged\r\u{1b}[2J");
    let logged: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("httptrace: [plugin forge-lines] error ")).collect();
    assert_eq!(logged.len(), 1, "{}", run.stderr);
    assert!(logged[0].ends_with(r"innocent\nhttptrace: plugin ndjson disabled: forged\r\u{1b}[2Jhttptrace: (0) all good"), "{logged:?}");
    assert!(!run.stderr.contains('\u{1b}') && !run.stderr.contains('\r'), "{:?}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 2, "{}", run.stderr);

    // A refused configuration: one line, exit 2, no request.
    let silent = Silent::new();
    let path = guest("forge-lines");
    let run = cli(&["-p", path.to_str().unwrap(), "--plugin-config", "at=init", &silent.url()], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{:?}", run.stderr);
    assert!(run.stderr.contains(r"rejected its configuration: innocent\nhttptrace: plugin ndjson"), "{:?}", run.stderr);
    silent.assert_untouched("forge-lines at init");
}
