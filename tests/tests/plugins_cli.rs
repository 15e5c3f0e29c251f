//! The shipped plugins and the chain through the `httptrace` binary, against the real local
//! server: output, config errors, misbehaving plugins contained.

use crate::plugins_support::*;
use httptrace::Event;

/// Numbers followed by `ms` in `text`.
fn millis(text: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let rest = text[i..].trim_start_matches(' ');
            if rest.starts_with("ms") {
                if let Ok(v) = text[start..i].parse() {
                    out.push(v);
                }
            }
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn timeline_shows_the_servers_delay_as_server_processing() {
    let run = cli(&["-p", "timeline", &http("/delay/200")], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let at = run.stdout.find("Server Processing").unwrap_or_else(|| panic!("no Server Processing column:\n{}", run.stdout));
    // The bars under the column headings: one value near 200 ms, the rest small.
    let values = millis(&run.stdout[at..]);
    assert!(values.iter().any(|v| (195.0..400.0).contains(v)), "no ~200 ms value in {values:?}:\n{}", run.stdout);
    assert!(run.stdout.contains("200"), "{}", run.stdout);
}

/// A formatted duration (`1.67 ms`, `12.3 s`, `0 ms`) in milliseconds; `None` for `-`.
fn duration_ms(cell: &str) -> Option<f64> {
    let cell = cell.trim();
    if let Some(v) = cell.strip_suffix(" ms") {
        return v.parse().ok();
    }
    cell.strip_suffix(" s").and_then(|v| v.parse::<f64>().ok()).map(|s| s * 1e3)
}

/// Checks each httpstat table in a timeline: no line wider than 80 columns, and the phase
/// cells add up to the `total` mark under them (within each value's rounding to three digits).
/// Returns how many tables there were.
fn check_tables(stdout: &str) -> usize {
    for line in stdout.lines() {
        assert!(line.chars().count() <= 80, "{} columns: {line:?}\n{stdout}", line.chars().count());
    }
    let lines: Vec<&str> = stdout.lines().collect();
    let mut tables = 0;
    for (i, line) in lines.iter().enumerate() {
        let bar = line.trim_start();
        if !(bar.starts_with('[') && bar.ends_with(']')) {
            continue;
        }
        tables += 1;
        let cells: Vec<f64> = bar[1..bar.len() - 1].split('|').filter_map(duration_ms).collect();
        let total_line = lines[i + 1..].iter().find(|l| l.contains("total:")).expect("a total mark under the table");
        let total = duration_ms(total_line.split("total:").nth(1).unwrap()).expect(total_line);
        let sum: f64 = cells.iter().sum();
        // Three significant digits each: half a unit of the last digit per value.
        let slack: f64 = cells.iter().chain([total].iter()).map(|v| v.abs() * 0.005 + 0.0005).sum();
        assert!((sum - total).abs() <= slack, "cells {cells:?} add up to {sum}, total says {total}:\n{stdout}");
    }
    tables
}

#[test]
fn timeline_fits_80_columns_and_its_phases_add_up_to_the_total() {
    // A new TLS connection (five columns), plain HTTP (four), two redirects (three tables),
    // a server that takes its time, and a failed connection.
    let https = format!("https://127.0.0.1:{}/delay/30", server().https_addr.port());
    for args in [vec!["-k", &https[..]], vec![&http("/bytes/100")[..]]] {
        let run = cli(&args, &[]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(check_tables(&run.stdout), 1, "{}", run.stdout);
    }
    let run = cli(&["-L", &http("/redirect/2")], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(check_tables(&run.stdout), 3, "{}", run.stdout);
    // A port nobody listens on: the failed phase holds the time.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let run = cli(&[&format!("http://{closed}/")], &[]);
    assert_eq!(run.code, 7, "{run:?}");
    assert_eq!(check_tables(&run.stdout), 1, "{}", run.stdout);
}

#[test]
fn timeline_is_the_default_and_ndjson_prints_one_parseable_event_per_line() {
    let url = http("/bytes/10");
    let default = cli(&[&url], &[]);
    assert_eq!(default.code, 0, "{default:?}");
    assert!(default.stdout.contains("Server Processing"), "{}", default.stdout);

    let run = cli(&["-p", "ndjson", &url], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let events: Vec<Event> = parse_ndjson(&run.stdout);
    assert_eq!(events.first().map(|e| e.kind.name()), Some("request-start"));
    assert_eq!(events.last().map(|e| e.kind.name()), Some("request-done"));
    // Same text form the host prints for the parsed event: nothing lost or renamed.
    for (line, ev) in run.stdout.lines().zip(&events) {
        assert_eq!(line, ev.to_json());
    }
}

#[test]
fn output_file_and_filter_chain() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let run = cli(
        &["-p", "filter", "--plugin-config", "kind=request-done", "-p", "ndjson", "-o", out.to_str().unwrap(), &http("/redirect/2"), "-L"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.is_empty(), "output went to the file: {}", run.stdout);
    let events = parse_ndjson(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(events.len(), 1, "one line per request");
    assert_eq!(events[0].kind.name(), "request-done");
}

#[test]
fn plugins_lists_the_bundled_ones() {
    let run = cli(&["plugins"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    for name in ["timeline", "ndjson", "filter", "stats", "har", "perfetto", "html", "writeout"] {
        let line = run.stdout.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} not listed:\n{}", run.stdout));
        assert!(line.len() > name.len() + 5, "no summary: {line}");
    }
}

#[test]
fn config_errors_stop_the_run_before_any_request() {
    // A listener nobody answers: a request would show up as a pending connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let cases: [(&[&str], &str); 4] = [
        (&["--plugin-config", "a=b", "-p", "ndjson"], "--plugin-config a=b: no --plugin before it"),
        (&["-p", "ndjson", "--plugin-config", "novalue"], "--plugin-config novalue: expected KEY=VALUE"),
        (&["-p", "ndjson", "--plugin-config", "colour=yes"], "plugin ndjson rejected its configuration"),
        (&["-p", "nonesuch"], "plugin nonesuch is not a bundled plugin"),
    ];
    for (args, needle) in cases {
        let mut all = args.to_vec();
        all.push(&url);
        let run = cli(&all, &[]);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {run:?}");
        assert!(run.stderr.starts_with("httptrace: ") && run.stderr.contains(needle), "{args:?}: {run:?}");
        assert!(run.stdout.is_empty());
    }
    assert!(listener.accept().is_err(), "a request was made despite the config error");
    let run = cli(&["--plugin-timeout", "soon", &url], &[]);
    assert_eq!(run.code, 2);
}

#[test]
fn config_goes_to_the_nearest_plugin_before_it() {
    let kinds = guest("kinds");
    let k = kinds.to_str().unwrap();
    // The first kinds drops request-done; the second gets no config and keeps all.
    let run = cli(&["-p", k, "--plugin-config", "drop=request-done", "-p", k, "-p", "ndjson", &http("/")], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let json: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!json.is_empty() && json.iter().all(|l| !l.contains("\"request-done\"")), "{}", run.stdout);
    assert_eq!(run.stdout.lines().filter(|l| *l == "kinds: request-done 1").count(), 1, "only the first saw it:\n{}", run.stdout);
}

#[test]
fn a_plugin_can_take_response_headers_without_their_header_lists() {
    let kinds = guest("kinds");
    let k = kinds.to_str().unwrap();
    // Two redirects, so three responses: each plugin sees every response-headers event, one
    // with the header lists (the default), one without them; ndjson after both has the lists.
    let url = http("/redirect/2");
    let chain = ["-p", k, "--plugin-config", "header-lists=yes", "-p", k, "--plugin-config", "header-lists=no", "-p", "ndjson"];
    let run = cli(&[&["-L"][..], &chain, &[&url]].concat(), &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let events = parse_ndjson(&run.stdout.lines().filter(|l| l.starts_with('{')).collect::<Vec<_>>().join("\n"));
    let (mut fields, mut bytes, mut responses) = (0, 0, 0);
    for e in &events {
        if let httptrace::EventKind::ResponseHeaders { headers, header_bytes, .. } = &e.kind {
            (fields, bytes, responses) = (fields + headers.len(), bytes + header_bytes, responses + 1);
        }
    }
    assert_eq!(responses, 3, "{}", run.stdout);
    assert!(fields >= 3 * 2, "{}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().filter(|l| !l.starts_with('{')).collect();
    assert_eq!(
        lines,
        [
            "kinds: response-headers 3".to_string(),
            "kinds: request-done 1".to_string(),
            format!("header fields: {fields}"),
            format!("header bytes: {bytes}"),
            "kinds: response-headers 3".to_string(),
            "kinds: request-done 1".to_string(),
            "header fields: 0".to_string(),
            format!("header bytes: {bytes}"),
        ],
        "{}",
        run.stdout
    );
    // A value other than yes or no is refused before any request.
    let run = cli(&["-p", k, "--plugin-config", "header-lists=maybe", &http("/")], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("`maybe` is neither yes nor no"), "{run:?}");
}

/// `plugin`, then `ndjson`: the misbehaving plugin is named once on stderr, the run exits 90,
/// ndjson still prints the whole request.
fn contained(plugin: &str, extra: &[&str], needle: &str) {
    let path = guest(plugin);
    let mut args = vec!["-p", path.to_str().unwrap(), "-p", "ndjson"];
    args.extend_from_slice(extra);
    let url = http("/");
    args.push(&url);
    let run = cli(&args, &[]);
    assert_eq!(run.code, 90, "{plugin}: {run:?}");
    let diag = run.diagnostics();
    assert_eq!(diag.len(), 1, "{plugin}: {diag:?}");
    let name = plugin.replace('-', "_");
    assert!(
        diag[0].starts_with(&format!("httptrace: plugin {name} (")) || diag[0].starts_with(&format!("httptrace: plugin {plugin} (")),
        "{diag:?}"
    );
    assert!(diag[0].contains(&path.display().to_string()) && diag[0].contains(" disabled: ") && diag[0].contains(needle), "{diag:?}");
    let events = parse_ndjson(&run.stdout);
    assert_eq!(events.first().map(|e| e.kind.name()), Some("request-start"), "{plugin}: {}", run.stdout);
    assert_eq!(events.last().map(|e| e.kind.name()), Some("request-done"), "{plugin}: {}", run.stdout);
}

#[test]
fn a_plugin_that_traps_is_disabled_and_the_rest_go_on() {
    // The plugin's last stderr lines (its panic message) are quoted.
    contained("trap-on-events", &[], "on-events trapped");
    contained("trap-on-events", &[], "trapping on purpose");
    contained("trap-in-init", &[], "init trapped");
}

#[test]
fn a_plugin_that_spins_is_stopped_at_its_deadline() {
    contained("spin", &[], "on-events exceeded its 1s time limit");
    contained("spin", &["--plugin-timeout", "50ms"], "on-events exceeded its 50ms time limit");
}

#[test]
fn a_plugin_that_hoards_memory_is_stopped_at_its_cap() {
    contained("alloc", &[], "on-events exceeded its 64 MiB memory limit");
    contained("alloc", &["--plugin-memory", "16MiB"], "on-events exceeded its 16 MiB memory limit");
}

#[test]
fn abort_mode_stops_the_chain_at_the_first_failure() {
    let path = guest("trap-on-events");
    let run = cli(&["--on-plugin-error=abort", "-p", path.to_str().unwrap(), "-p", "ndjson", &http("/")], &[]);
    assert_eq!(run.code, 90, "{run:?}");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("run aborted"), "{}", run.stderr);
}

#[test]
fn a_plugin_that_reports_fail_makes_the_run_exit_99_and_its_log_reaches_stderr() {
    let url = http("/delay/50");
    let run = cli(&["-p", "stats", "--plugin-config", "threshold=p95(wait)<1ms", &url], &[]);
    assert_eq!(run.code, 99, "{run:?}");
    assert!(run.stderr.lines().any(|l| l.starts_with("httptrace: [plugin stats] error ")), "{}", run.stderr);
    assert!(run.stderr.contains("plugin check failed: stats"), "{}", run.stderr);
    let run = cli(&["-p", "stats", "--plugin-config", "threshold=p95(wait)<10s", &url], &[]);
    assert_eq!(run.code, 0, "{run:?}");
}
