//! Bad command lines give one line on stderr, curl's exit code (2 usage, 3 bad URL, 1
//! unsupported scheme, 26 unreadable file) and nothing on stdout, before any request; secrets
//! given with `-H` or sent by the server never reach the output unless `--show-secrets`.

use crate::plugins_support::*;

#[test]
fn bad_command_lines_are_one_line_errors_with_curls_exit_codes() {
    let silent = Silent::new();
    let url = silent.url();
    let u = url.as_str();
    let cases: &[(&[&str], i32, &str)] = &[
        // URLs
        (&[], 2, "the following required arguments were not provided: <URL>..."),
        (&["http://"], 3, "invalid URL 'http://': no host"),
        (&["http://[::1"], 3, "invalid URL 'http://[::1': invalid IPv6 address"),
        (&["http://exa mple.com/"], 3, "invalid URL 'http://exa mple.com/'"),
        (&["ftp://127.0.0.1/"], 1, "unsupported scheme 'ftp' in 'ftp://127.0.0.1/' (use http or https)"),
        (&["file:///etc/passwd"], 1, "unsupported scheme 'file'"),
        // Every URL is checked before the first request.
        (&[u, "gopher://127.0.0.1/"], 1, "unsupported scheme 'gopher'"),
        (&["--urls-from-file", "/nonexistent/urls.txt", u], 26, "--urls-from-file /nonexistent/urls.txt: "),
        // Headers, method, body
        (&["-H", "NoColon", u], 2, "-H 'NoColon': expected 'Name: value'"),
        (&["-H", "Bad Name: v", u], 2, "'Bad Name' is not a valid header name"),
        (&["-H", "X-Bell: a\u{7}b", u], 2, "the value has characters a header cannot carry"),
        (&["-H"], 2, "a value is required for '--header <HEADER>'"),
        // Input quoted in a message stays on its line.
        (
            &["-H", "X-Forged\nhttptrace: (0) ok: v", u],
            2,
            r"-H 'X-Forged\nhttptrace: (0) ok: v': 'X-Forged\nhttptrace' is not a valid header name",
        ),
        (&["-X", "BAD METHOD", u], 2, "-X 'BAD METHOD': not a valid HTTP method"),
        (&["-d", "@/nonexistent/body", u], 26, "-d @/nonexistent/body: No such file"),
        // Name resolution
        (&["--resolve", "foo", u], 2, "--resolve 'foo': expected HOST:PORT:ADDR[,ADDR...]"),
        (&["--resolve", "h:99999:1.2.3.4", u], 2, "--resolve 'h:99999:1.2.3.4': bad port '99999'"),
        (&["--resolve", "h:80:nope", u], 2, "'nope' is not an IP address"),
        (&["--dns-server", "abc", u], 2, "--dns-server 'abc': expected IP or IP:PORT"),
        // Times and sizes (huge values used to panic converting to a Duration)
        (&["-m", "abc", u], 2, "invalid value 'abc' for '--max-time <SECONDS>'"),
        (&["-m", "1e30", u], 2, "too long"),
        (&["--connect-timeout", "0", u], 2, "--connect-timeout 0: expected a positive number of seconds"),
        (&["--plugin-timeout", "99999999999999999999999m", u], 2, "too long"),
        (&["--plugin-memory", "lots", u], 2, "expected a size such as 64MiB"),
        (&["--plugin-output-limit", "0", u], 2, "expected a positive size"),
        (&["--rate", "1e-300", u], 2, "too slow"),
        (&["--duration", "soon", u], 2, "expected a duration"),
        (&["-c", "0", u], 2, "0 is not in 1..=100000"),
        (&["--bogus", u], 2, "option --bogus: is unknown (see --help)"),
        // Plugin configuration and thresholds
        (&["--plugin-config", "a=b", u], 2, "--plugin-config a=b: no --plugin before it"),
        (&["-p", "ndjson", "--plugin-config", "novalue", u], 2, "--plugin-config novalue: expected KEY=VALUE"),
        (&["-p", "ndjson", "--plugin-config", "=v", u], 2, "--plugin-config =v: the key is empty"),
        (
            &["-p", "stats", "--plugin-config", "threshold=p95(wait)<<1ms", u],
            2,
            "plugin stats rejected its configuration: threshold `p95(wait)<<1ms`",
        ),
        (&["-p", "stats", "--plugin-config", "threshold=p95(nope)<1ms", u], 2, "unknown phase `nope`"),
        (&["-p", "stats", "--plugin-config", "threshold=q5(wait)<1ms", u], 2, "unknown statistic `q5`"),
        (&["--on-plugin-error", "ignore", u], 2, "invalid value 'ignore' for '--on-plugin-error <WHAT>'"),
    ];
    for (args, code, needle) in cases {
        let run = cli(args, &[]);
        assert_eq!(run.code, *code, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: stdout {:?}", run.stdout);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(lines[0].starts_with("httptrace: ") && lines[0].contains(needle), "{args:?}: {needle:?} not in {lines:?}");
    }
    silent.assert_untouched("bad command lines");
}

/// Answers every request with a `Set-Cookie`, after reading the head.
fn set_cookie_server() -> String {
    canned_server(b"HTTP/1.1 200 OK\r\nset-cookie: session=srv-s3cret\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_vec()).0
}

#[test]
fn secrets_never_reach_the_output_unless_asked() {
    let url = set_cookie_server();
    let secrets = ["Bearer tok-s3cret", "Basic prx-s3cret", "sid=ck-s3cret", "session=srv-s3cret"];
    let headers = [
        "-H",
        "Authorization: Bearer tok-s3cret",
        "-H",
        "Proxy-Authorization: Basic prx-s3cret",
        "-H",
        "Cookie: sid=ck-s3cret",
        "-H",
        "X-Visible: shown",
    ];
    // ndjson and har (which prints headers in its own form) side by side.
    let mut args = vec!["-p", "ndjson", "-p", "har"];
    args.extend(headers);
    args.push(&url);
    let run = cli(&args, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    for s in secrets {
        assert!(!run.stdout.contains(s) && !run.stderr.contains(s), "{s} leaked:\n{}", run.stdout);
    }
    // Redacted, not dropped: the header names and the other values are all there.
    assert!(run.stdout.matches("[redacted]").count() >= 8, "{}", run.stdout);
    assert!(run.stdout.contains("X-Visible") || run.stdout.contains("x-visible"), "{}", run.stdout);
    assert!(run.stdout.contains("shown"));

    args.insert(0, "--show-secrets");
    let run = cli(&args, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    for s in secrets {
        assert!(run.stdout.contains(s), "--show-secrets did not show {s}:\n{}", run.stdout);
    }
    assert!(!run.stdout.contains("[redacted]"), "{}", run.stdout);
}

/// A failed request on a terminal: the default timeline shows the failure, and the error line
/// is not printed a second time; off a terminal the one line comes whole, after the output.
#[test]
fn a_failure_is_said_once_and_never_splits_a_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/");
    let bin = env!("CARGO_BIN_EXE_httptrace");
    // `script` gives the command a terminal for both stdout and stderr, as a user's shell does.
    let out = std::process::Command::new("script").args(["-q", "-e", "-c", &format!("{bin} {url}"), "/dev/null"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(7), "{text}");
    assert!(!text.contains("httptrace: (7)"), "said twice on a terminal: {text}");
    assert!(text.to_lowercase().contains("refused"), "the timeline shows the failure: {text}");
    // Piped: the line is there, once, whole.
    let run = cli(&[&url], &[]);
    assert_eq!(run.code, 7);
    let lines: Vec<&str> = run.stderr.lines().filter(|l| l.contains("httptrace: (7)")).collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].starts_with("httptrace: (7) connect"), "{}", run.stderr);
}

/// Runs `args` (with the plugin cache `cache`); once `ready` returns (the run has reached the
/// point the test is about), sends SIGINT after each of `after` (from then), and returns the run
/// and how long it took from the first interrupt, failing if it takes longer than `limit` from
/// that interrupt.
#[cfg(unix)]
fn interrupted(
    args: &[&str],
    cache: &std::path::Path,
    ready: impl FnOnce() -> Result<(), String>,
    after: &[std::time::Duration],
    limit: std::time::Duration,
) -> (Run, std::time::Duration) {
    use std::process::{Command, Stdio};
    let child = Command::new(env!("CARGO_BIN_EXE_httptrace"))
        .args(args)
        .env("HTTPTRACE_CACHE_DIR", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let kill = || {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    };
    if let Err(why) = ready() {
        kill();
        panic!("httptrace {args:?}: {why}");
    }
    let started = std::time::Instant::now();
    let mut first = None;
    for at in after {
        std::thread::sleep(at.saturating_sub(started.elapsed()));
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGINT) };
        first.get_or_insert_with(std::time::Instant::now);
    }
    let first = first.unwrap_or(started);
    let out = match rx.recv_timeout(limit.saturating_sub(first.elapsed())) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            kill();
            panic!("httptrace {args:?} did not end within {limit:?} of the first interrupt");
        }
    };
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (run, first.elapsed())
}

/// Waits (at most a minute) until `answered` counts `n` requests.
#[cfg(unix)]
fn answered_at_least(answered: &std::sync::atomic::AtomicUsize, n: usize) -> Result<(), String> {
    let since = std::time::Instant::now();
    while answered.load(std::sync::atomic::Ordering::SeqCst) < n {
        if since.elapsed() > std::time::Duration::from_secs(60) {
            return Err(format!("fewer than {n} requests answered within 60 s"));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(())
}

/// A server on loopback that takes requests and never answers them (the connections stay
/// open); its URL, and a receiver told of each request head it read.
#[cfg(unix)]
fn silent_server() -> (String, std::sync::mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut s in listener.incoming().flatten() {
            if read_head(&mut s).is_none() {
                continue;
            }
            if tx.send(()).is_err() {
                return;
            }
            held.push(s);
        }
    });
    (url, rx)
}

/// Ctrl-C in a load run (oha, hey and k6 print what they measured): no new requests, those in
/// flight end and are traced, every plugin finishes (the summary is printed), every line of
/// output is whole, and the exit code is 130.
#[cfg(unix)]
#[test]
fn an_interrupted_load_run_keeps_what_it_measured() {
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    let _lane = crate::lanes::load();
    let (url, answered) =
        crate::plugins_support::canned_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_vec());
    let args = ["-n", "1000000", "-c", "2", "-q", "-p", "ndjson", "-p", "stats", "--plugin-config", "format=json", &url];
    // Interrupted once it has answered some requests (not while the plugins load).
    let (run, took) =
        interrupted(&args, &shared_cache(), || answered_at_least(&answered, 20), &[Duration::from_millis(200)], Duration::from_secs(15));
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(took < Duration::from_secs(3), "ended {took:?} after the interrupt");
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let (events, stats) = lines.split_at(lines.len() - 1);
    let done = events
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("a torn line {l:?}: {e}")))
        .filter(|v| v["event"] == "request-done")
        .count();
    let stats: serde_json::Value = serde_json::from_str(stats[0]).unwrap();
    assert!(done > 10, "{done} requests traced before the interrupt");
    assert_eq!(stats["requests"], done as u64, "the summary counts what was traced: {stats}");
    // The requests the server answered were all traced; at most the two in flight went on.
    let answered = answered.load(Ordering::SeqCst);
    assert!(done <= answered && answered <= done + 2, "{answered} answered, {done} traced");
}

/// A second Ctrl-C abandons the requests in flight: a request the server never answers ends
/// at once; the plugins still finish (the HAR file is valid JSON) and the exit code is 130.
#[cfg(unix)]
#[test]
fn a_second_interrupt_abandons_what_is_in_flight() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("run.har");
    let (url, requests) = silent_server();
    let args = ["-q", "-p", "har", "-o", har.to_str().unwrap(), &url];
    let ready = || requests.recv_timeout(Duration::from_secs(60)).map_err(|_| "the request never came".to_string());
    let (run, took) =
        interrupted(&args, &shared_cache(), ready, &[Duration::from_millis(100), Duration::from_millis(500)], Duration::from_secs(5));
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(took < Duration::from_secs(3), "abandoned, not waited for: {took:?}");
    let text = std::fs::read_to_string(&har).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("the HAR is not whole: {e}: {text}"));
    assert!(doc["log"]["entries"].as_array().is_some(), "{doc}");
}

/// Makes `har`'s first load in `cache` wait: compiles it there once (a run says where, with
/// HTTPTRACE_LOG=debug), removes the artefact, and takes its compile lock, as a concurrent run
/// compiling it would. The load waits until the returned file is dropped.
#[cfg(unix)]
fn har_load_held(cache: &std::path::Path) -> std::fs::File {
    let env = [("HTTPTRACE_CACHE_DIR", cache.to_str().unwrap()), ("HTTPTRACE_LOG", "debug")];
    let first = cli(&["-q", "-p", "har", "-o", "/dev/null", &http("/")], &env);
    let artefact = first
        .stderr
        .lines()
        .find_map(|l| l.split_once(": compiled and cached ").map(|(_, rest)| rest.rsplit_once(" (").map_or(rest, |(p, _)| p)))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| panic!("no artefact path in {first:?}"));
    std::fs::remove_file(&artefact).unwrap();
    let lock = std::fs::File::create(artefact.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    lock
}

/// Ctrl-C while the plugins load (a first compile takes seconds; here the load waits for a
/// compile lock held by the test) is not lost: no request starts, and a second one quits at
/// once, with 130.
#[cfg(unix)]
#[test]
fn two_interrupts_while_the_plugins_load_quit_at_once() {
    use std::time::Duration;
    let cache = tempfile::tempdir().unwrap();
    let held = har_load_held(cache.path());
    let (url, requests) = silent_server();
    let args = ["-q", "-p", "har", "-o", "/dev/null", &url];
    // (A second after the start: the handlers are long in place; the load waits for the lock.)
    let after = [Duration::from_millis(1000), Duration::from_millis(1500)];
    let (run, took) = interrupted(&args, cache.path(), || Ok(()), &after, Duration::from_secs(10));
    drop(held);
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(run.stderr.contains("interrupted: no request will start"), "{}", run.stderr);
    assert!(took < Duration::from_secs(2), "quit at the second interrupt: {took:?} after the first");
    assert!(requests.recv_timeout(Duration::from_millis(300)).is_err(), "no request reached the server");
}

/// One Ctrl-C while the plugins load: they finish loading, no request starts, every plugin
/// finishes (the HAR is whole), and the exit code is 130. The load waits for a compile lock
/// the test holds, then goes on.
#[cfg(unix)]
#[test]
fn one_interrupt_while_the_plugins_load_finishes_them_and_starts_no_request() {
    use std::time::Duration;
    let cache = tempfile::tempdir().unwrap();
    let lock = har_load_held(cache.path());
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("run.har");
    let (url, requests) = silent_server();
    let args = ["-q", "-p", "har", "-o", har.to_str().unwrap(), &url];
    let (run, _) = interrupted(
        &args,
        cache.path(),
        || {
            // The run waits for the lock; interrupted, then let go on.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(2000));
                drop(lock);
            });
            Ok(())
        },
        &[Duration::from_millis(1000)],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(run.stderr.contains("interrupted: no request will start"), "{}", run.stderr);
    assert!(requests.recv_timeout(Duration::from_millis(300)).is_err(), "no request reached the server");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&har).unwrap()).unwrap();
    assert_eq!(doc["log"]["entries"].as_array().map(Vec::len), Some(0), "{doc}");
}

/// An interrupted load run's HAR is valid HAR 1.2 (har-validator), with every request traced
/// before the interrupt and the run's page.
#[cfg(unix)]
#[test]
fn an_interrupted_load_run_leaves_a_valid_har() {
    use std::time::Duration;
    let _lane = crate::lanes::load();
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("run.har");
    let (url, answered) =
        crate::plugins_support::canned_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_vec());
    let args = ["-n", "1000000", "-c", "2", "-q", "-p", "har", "-o", har.to_str().unwrap(), &url];
    let (run, _) =
        interrupted(&args, &shared_cache(), || answered_at_least(&answered, 20), &[Duration::from_millis(200)], Duration::from_secs(15));
    assert_eq!(run.code, 130, "{}", run.stderr);
    let doc = crate::load_outputs::validate_har(&std::fs::read_to_string(&har).unwrap());
    let entries = doc["log"]["entries"].as_array().unwrap();
    assert!(entries.len() > 10, "{} entries", entries.len());
    assert!(entries.iter().all(|e| e["response"]["status"] == 200 && e["pageref"] == "page_1"));
    assert_eq!(doc["log"]["pages"].as_array().unwrap().len(), 1);
}
