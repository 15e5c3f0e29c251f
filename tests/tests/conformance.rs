//! The conformance plugins (Rust, JavaScript, Python, C, Go; `plugins/conformance-*`) replay
//! `tests/fixtures/conformance.ndjson` through `httptrace replay` and must print byte-identical
//! reports, equal to `tests/fixtures/conformance.expected` (made by `conformance-expected.py`).
//! Each language's extra mode is checked against values computed here from the fixture.
//!
//! The non-Rust components come from `scripts/build-guests.sh` (run by `scripts/test.sh` before
//! `cargo test`); a missing one fails its tests with the command that builds it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const LANGS: [&str; 5] = ["rust", "js", "py", "c", "go"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture() -> PathBuf {
    repo().join("tests/fixtures/conformance.ndjson")
}

/// The component of one language; panics with the way to build it when it is missing.
fn component(lang: &str) -> PathBuf {
    let path = if lang == "rust" {
        let dir = PathBuf::from(httptrace_test_guests::GUEST_DIR);
        let dashed = dir.join("conformance-rust.wasm");
        if dashed.is_file() {
            dashed
        } else {
            dir.join("conformance_rust.wasm")
        }
    } else {
        repo().join("target/guests").join(format!("{lang}.wasm"))
    };
    assert!(
        path.is_file(),
        "the {lang} conformance component {} was not built: run `scripts/build-guests.sh` \
         (it installs its toolchain; see docs/plugins/) — the Rust one is built by `cargo build`",
        path.display()
    );
    path
}

/// `httptrace replay FIXTURE -p COMPONENT --plugin-config K=V ...`.
fn replay(lang: &str, config: &[&str]) -> Output {
    let mut cmd = Command::new(std::path::PathBuf::from(env!("CARGO_BIN_EXE_httptrace")));
    cmd.arg("replay").arg(fixture()).arg("-p").arg(component(lang));
    for kv in config {
        cmd.args(["--plugin-config", kv]);
    }
    cmd.output().expect("running httptrace replay")
}

/// The stdout of a successful replay.
fn replay_ok(lang: &str, config: &[&str]) -> String {
    let out = replay(lang, config);
    assert!(out.status.success(), "{lang}: httptrace replay {config:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("{lang}: output is not UTF-8: {e}"))
}

fn events() -> Vec<Value> {
    let text = std::fs::read_to_string(fixture()).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn request_dones() -> Vec<Value> {
    events().into_iter().filter(|e| e["event"] == "request-done").collect()
}

#[test]
fn every_language_prints_the_same_report_as_expected() {
    let expected = std::fs::read_to_string(repo().join("tests/fixtures/conformance.expected")).unwrap();
    // Languages run one after another: each test may compile a 12–18 MB component first.
    let mut failures = Vec::new();
    for lang in LANGS {
        match std::panic::catch_unwind(|| replay_ok(lang, &["label=x"])) {
            Ok(out) if out == expected => {}
            Ok(out) => failures.push(format!("{lang}: report differs:\n--- expected\n{expected}--- got\n{out}")),
            Err(e) => failures.push(format!("{lang}: {}", panic_text(&e))),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Plugins built for earlier versions of `httptrace:plugin` load and run unchanged: the Rust
/// conformance plugin as built for each of 0.1.0 to 0.6.0 (`tests/fixtures/plugins-<version>/`)
/// prints its version's report (`conformance v1` to `v6`: without the lines of the fields later
/// versions added, and seeing only the kinds its version has), and `plugin inspect` names the
/// version it was built for.
#[test]
fn conformance_plugins_built_for_earlier_versions_still_run() {
    let v3 = std::fs::read_to_string(repo().join("tests/fixtures/conformance.expected")).unwrap();
    assert!(
        v3.contains(
            "
tls-group "
        ) && v3.contains(
            "
kind proxy-connect-done "
        ),
        "the fixture exercises 0.2.0's and 0.3.0's additions"
    );
    assert!(v3.contains("\nkind quic-handshake-done ") && !v3.contains("\nquic 0 "), "and 0.4.0's: {v3}");
    // 0.5.0's: both clocks stamped some of the fixture's events.
    let clocks = v3.lines().find_map(|l| l.strip_prefix("clocks ")).expect("a clocks line");
    assert!(!clocks.split(' ').any(|n| n == "0"), "kernel and engine stamps both: {clocks}");
    // 0.6.0's: lookups and connects of proxies.
    let proxied = v3.lines().find_map(|l| l.strip_prefix("proxied ")).expect("a proxied line");
    assert!(!proxied.split(' ').any(|n| n == "0"), "the fixture has a proxy's lookup and connects: {proxied}");
    // 0.7.0's: hops that sent a body, received headers and received a body.
    let bytes = v3.lines().find_map(|l| l.strip_prefix("bytes ")).expect("a bytes line");
    assert!(!bytes.split(' ').any(|n| n == "0"), "the fixture's requests moved bytes of each count: {bytes}");
    assert!(
        !v3.contains(
            "
post-data 0
"
        ) && !v3.contains(
            "
tunnels 0 0
"
        ),
        "{v3}"
    );
    for (version, report) in [
        ("0.1.0", "conformance-v1.expected"),
        ("0.2.0", "conformance-v2.expected"),
        ("0.3.0", "conformance-v3.expected"),
        ("0.4.0", "conformance-v4.expected"),
        ("0.5.0", "conformance-v5.expected"),
        ("0.6.0", "conformance-v6.expected"),
    ] {
        let old = repo().join(format!("tests/fixtures/plugins-{version}/conformance-rust.wasm"));
        let out = Command::new(env!("CARGO_BIN_EXE_httptrace"))
            .arg("replay")
            .arg(fixture())
            .arg("-p")
            .arg(&old)
            .args(["--plugin-config", "label=x"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{version}: {}", String::from_utf8_lossy(&out.stderr));
        let want = std::fs::read_to_string(repo().join("tests/fixtures").join(report)).unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), want, "{version}");
        assert!(!want.contains("\nbytes "), "{version} has no hop-summary bytes");
        if version < "0.6.0" {
            assert!(!want.contains("proxied"), "{version} has no proxy on lookups and connects");
        }
        if version < "0.5.0" {
            assert!(!want.contains("clocks"), "{version} has no stamp clocks");
        }
        if version < "0.4.0" {
            assert!(!want.contains("quic"), "{version} has no 0.4.0 kinds");
        }
        if version < "0.3.0" {
            assert!(!want.contains("proxy-connect") && !want.contains("post-data"), "{version} has no 0.3.0 kinds or fields");
        }
        let inspect = Command::new(env!("CARGO_BIN_EXE_httptrace")).args(["plugin", "inspect"]).arg(&old).output().unwrap();
        let text = String::from_utf8_lossy(&inspect.stdout);
        assert!(inspect.status.success(), "{text}");
        assert!(text.contains(&format!("implements: httptrace:plugin@{version}")) && text.trim_end().ends_with(": yes"), "{text}");
    }
    let v1 = std::fs::read_to_string(repo().join("tests/fixtures/conformance-v1.expected")).unwrap();
    assert!(!v1.contains("tls-group"), "0.1.0 has no key-exchange group");
}

#[test]
fn the_drop_key_and_defaults_behave_alike() {
    // No config: label `-`; drop=request-start counts those instead.
    let reference = replay_ok("rust", &["drop=request-start"]);
    assert!(reference.starts_with("conformance v7\nlabel -\n"), "{reference}");
    let starts = events().iter().filter(|e| e["event"] == "request-start").count();
    assert!(reference.contains(&format!("\ndropped {starts}\n")), "{reference}");
    for lang in &LANGS[1..] {
        assert_eq!(replay_ok(lang, &["drop=request-start"]), reference, "{lang}");
    }
}

#[test]
fn unknown_keys_and_kinds_are_init_errors_in_every_language() {
    for lang in LANGS {
        for (config, message) in [("colour=red", "unknown config key 'colour'"), ("drop=nope", "unknown event kind 'nope'")] {
            let out = replay(lang, &[config]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{lang} accepted {config}");
            assert!(stderr.contains(message), "{lang}, {config}: stderr lacks {message:?}: {stderr}");
            assert!(out.stdout.is_empty(), "{lang}, {config}: printed {:?}", String::from_utf8_lossy(&out.stdout));
        }
    }
}

#[test]
fn js_slow_mode_lists_requests_over_the_threshold() {
    let want: String = request_dones()
        .iter()
        .filter(|d| d["timings"]["total"].as_f64().unwrap() > 10.0)
        .map(|d| format!("SLOW {:.3} {}\n", d["timings"]["total"].as_f64().unwrap(), d["url"].as_str().unwrap()))
        .collect();
    assert!(!want.is_empty(), "the fixture has a request over 10 ms");
    assert_eq!(replay_ok("js", &["mode=slow", "threshold=10ms"]), want);
    // Over 200 ms: only the request whose QUIC handshake got no answer.
    let slow: String = request_dones()
        .iter()
        .filter(|d| d["timings"]["total"].as_f64().unwrap() > 200.0)
        .map(|d| format!("SLOW {:.3} {}\n", d["timings"]["total"].as_f64().unwrap(), d["url"].as_str().unwrap()))
        .collect();
    assert_eq!(slow.lines().count(), 1, "{slow}");
    assert_eq!(replay_ok("js", &["mode=slow"]), slow);
}

#[test]
fn py_hosts_mode_summarises_per_host() {
    let mut host_of = BTreeMap::new();
    let mut per_host: BTreeMap<String, (u32, f64)> = BTreeMap::new();
    for e in events() {
        if e["event"] == "request-start" && e["hop"] == 0 {
            let url = e["url"].as_str().unwrap();
            let authority = url.split("://").nth(1).unwrap().split('/').next().unwrap().to_string();
            host_of.insert(e["request"].as_u64().unwrap(), authority);
        } else if e["event"] == "request-done" {
            let host = host_of[&e["request"].as_u64().unwrap()].clone();
            let entry = per_host.entry(host).or_default();
            entry.0 += 1;
            entry.1 += e["timings"]["total"].as_f64().unwrap();
        }
    }
    let want: String = per_host.iter().map(|(h, (n, sum))| format!("host {h} {n} {:.3}\n", sum / *n as f64)).collect();
    assert_eq!(replay_ok("py", &["mode=hosts"]), want);
}

#[test]
fn c_status_mode_counts_status_classes() {
    let mut classes = BTreeMap::new();
    let mut none = 0;
    for d in request_dones() {
        match d["status"].as_u64() {
            Some(code) => *classes.entry(code / 100).or_insert(0) += 1,
            None => none += 1,
        }
    }
    let mut want: String = classes.iter().map(|(c, n)| format!("status {c}xx {n}\n")).collect();
    if none > 0 {
        want += &format!("status none {none}\n");
    }
    assert_eq!(replay_ok("c", &["mode=status"]), want);
}

#[test]
fn go_csv_mode_prints_one_row_per_request() {
    let mut want = String::from("request,url,status,total_ms\n");
    for d in request_dones() {
        let status = d["status"].as_u64().map(|s| s.to_string()).unwrap_or_default();
        let total = d["timings"]["total"].as_f64().unwrap();
        want += &format!("{},{},{status},{total}\n", d["request"], d["url"].as_str().unwrap());
    }
    assert_eq!(replay_ok("go", &["mode=csv"]), want);
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

#[test]
fn real_world_imports_load_and_stay_denied() {
    // The JavaScript component is a default componentize-js build: it imports wasi:http, and
    // the Python one imports wasi:sockets. Both fit, because the host links those interfaces
    // with every request or socket denied.
    for (lang, import) in [("js", "wasi:http/outgoing-handler"), ("py", "wasi:sockets/tcp")] {
        let out = Command::new(std::path::PathBuf::from(env!("CARGO_BIN_EXE_httptrace")))
            .args(["plugin", "inspect", component(lang).to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{lang} does not fit:\n{text}");
        assert!(text.contains(import), "{lang} should import {import}:\n{text}");
    }
}
