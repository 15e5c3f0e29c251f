//! Bad command lines give one line on stderr, curl's exit code (2 usage, 3 bad URL, 1
//! unsupported scheme, 26 unreadable file) and nothing on stdout, before any request; secrets
//! given with `-H` or sent by the server never reach the output unless `--show-secrets`.

use std::io::{Read, Write};

use crate::plugins_support::*;

#[test]
fn bad_command_lines_are_one_line_errors_with_curls_exit_codes() {
    let silent = Silent::new();
    let url = silent.url();
    let u = url.as_str();
    let cases: &[(&[&str], i32, &str)] = &[
        // URLs
        (&[], 2, "the following required arguments were not provided: <URL>..."),
        (&["http://"], 3, "invalid URL 'http://': empty host"),
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
        (&["-d", "@/nonexistent/body", u], 26, "--data @/nonexistent/body: "),
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
        (&["--bogus", u], 2, "unexpected argument '--bogus' found"),
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
fn set_cookie_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ =
                conn.write_all(b"HTTP/1.1 200 OK\r\nset-cookie: session=srv-s3cret\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    addr
}

#[test]
fn secrets_never_reach_the_output_unless_asked() {
    let addr = set_cookie_server();
    let url = format!("http://{addr}/");
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
