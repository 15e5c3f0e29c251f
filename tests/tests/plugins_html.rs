//! The `html` plugin's report opened in a real browser: Debian's chromium, driven by
//! playwright-core (`tests/node-checks/check-report.js`) with the network off. One waterfall
//! row per hop with each phase as wide as its time (±2 px), histogram bars that add up to the
//! requests, no request to anything but the file, no console error, a screenshot. Every test
//! here is in the load lane: chromium takes both cores while it starts.

use crate::plugins_support::{cli, http, server};
use serde_json::Value;

/// Opens `report` in chromium and returns what the page showed; checks what every report
/// must satisfy.
fn open_in_chromium(report: &std::path::Path) -> Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node-checks");
    assert!(dir.join("node_modules/playwright-core").is_dir(), "run `npm ci` in {} (scripts/test.sh does)", dir.display());
    let shot = report.with_extension("png");
    let out = std::process::Command::new("node").arg(dir.join("check-report.js")).arg(report).arg(&shot).output().expect("run node");
    assert!(out.status.success(), "chromium could not open the report: {}", String::from_utf8_lossy(&out.stderr));
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["external"], serde_json::json!([]), "the page asked for more than its file");
    assert_eq!(page["consoleErrors"], serde_json::json!([]), "console errors");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a screenshot of something");
    // The file itself refers to nothing: no scripts, stylesheets, images or links.
    let text = std::fs::read_to_string(report).unwrap();
    for needle in ["<script", " src=", " href=", "url(", "@import", "<link", "<img", "<iframe"] {
        assert!(!text.contains(needle), "{needle} in the report");
    }
    // Each phase is drawn as wide as its time on the shared axis.
    let scale = page["axisPx"].as_f64().unwrap() / page["spanMs"].as_f64().unwrap();
    for row in page["rows"].as_array().unwrap() {
        for p in row["phases"].as_array().unwrap() {
            let (ms, px) = (p["ms"].as_f64().unwrap(), p["px"].as_f64().unwrap());
            assert!((px - ms * scale).abs() <= 2.0, "{p} drawn {px} px, {} expected", ms * scale);
        }
    }
    page
}

fn phases(row: &Value) -> Vec<&str> {
    row["phases"].as_array().unwrap().iter().map(|p| p["phase"].as_str().unwrap()).collect()
}

#[test]
fn a_single_request_and_its_redirects_are_one_row_per_hop() {
    // Chromium takes both cores for a moment: not beside a timing test.
    let _lane = crate::lanes::load();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("single.html");
    let url = format!("https://localhost:{}/delay/30", server().https_addr.port());
    let run = cli(&["-k", "-p", "html", "-o", report.to_str().unwrap(), &url], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let page = open_in_chromium(&report);
    let rows = page["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(phases(&rows[0])[1..], ["dns", "connect", "tls", "send", "wait", "receive"]);
    let wait = &rows[0]["phases"][5];
    assert!(wait["ms"].as_f64().unwrap() >= 30.0, "{wait}");
    // The connect attempts under the bar (localhost may be tried on ::1 too).
    assert!(rows[0]["attempts"].as_array().unwrap().iter().any(|a| a == "connected"), "{}", rows[0]);
    assert!(page["hists"].as_array().unwrap().is_empty(), "no load sections for one request");
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.contains("TLSv1.3") && text.contains("CN=httptrace serve"), "the TLS details");

    let redirects = dir.path().join("redirects.html");
    let run = cli(&["-L", "-p", "html", "-o", redirects.to_str().unwrap(), &http("/redirect/2")], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let page = open_in_chromium(&redirects);
    let hops: Vec<u64> = page["rows"].as_array().unwrap().iter().map(|r| r["hop"].as_u64().unwrap()).collect();
    assert_eq!(hops, [0, 1, 2]);
    // Hops 1 and 2 reuse the connection: no dns, connect or tls.
    assert_eq!(phases(&page["rows"][1]).iter().filter(|p| ["dns", "connect", "tls"].contains(p)).count(), 0);
}

#[test]
fn a_load_run_has_histograms_that_add_up_and_charts_over_time() {
    let _lane = crate::lanes::load();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("load.html");
    let run = cli(&["--duration", "3s", "-c", "4", "-q", "-p", "html", "-o", report.to_str().unwrap(), &http("/delay/5")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let page = open_in_chromium(&report);
    let requests = page["requests"].as_u64().unwrap();
    assert!(requests > 100, "{requests}");
    let hists = page["hists"].as_array().unwrap();
    let total = hists.iter().find(|h| h["phase"] == "total").expect("a histogram of the total time");
    assert_eq!(total["count"].as_u64().unwrap(), requests);
    for h in hists {
        let sum: u64 = h["bars"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap()).sum();
        assert_eq!(sum, h["count"].as_u64().unwrap(), "{}", h["phase"]);
    }
    assert_eq!(page["percentileRows"], 8);
    assert!((2..=3).contains(&page["rpsPoints"].as_u64().unwrap()), "{}", page["rpsPoints"]);
    assert_eq!(page["rpsPoints"], page["latencyPoints"]);
    // The first 200 hops as rows; the rest only in the figures.
    assert_eq!(page["rows"].as_array().unwrap().len(), 200);
    assert!(std::fs::read_to_string(&report).unwrap().contains("more are in the figures above"));
}

/// A 100 000-request run: the report stays small (bounded aggregates, the first 200 rows) and
/// opens; how fast is measured in bench (docs/PERFORMANCE.md), not asserted here.
#[test]
fn a_hundred_thousand_requests_make_a_small_report() {
    let _lane = crate::lanes::load();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("100k.html");
    let run = cli(&["-n", "100000", "-c", "32", "-q", "-p", "html", "-o", report.to_str().unwrap(), &http("/")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let size = std::fs::metadata(&report).unwrap().len();
    assert!(size < 2 << 20, "{size} bytes");
    let page = open_in_chromium(&report);
    assert_eq!(page["requests"], 100_000);
    let total = page["hists"].as_array().unwrap().iter().find(|h| h["phase"] == "total").unwrap().clone();
    assert_eq!(total["bars"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap()).sum::<u64>(), 100_000);
}

#[test]
fn replay_writes_the_same_report() {
    let _lane = crate::lanes::load();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.ndjson");
    let run = cli(&["-n", "20", "-c", "2", "-q", "-p", "ndjson", "-o", log.to_str().unwrap(), &http("/bytes/100")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first = dir.path().join("a.html");
    let second = dir.path().join("b.html");
    for out in [&first, &second] {
        let r = cli(&["replay", log.to_str().unwrap(), "-p", "html", "-o", out.to_str().unwrap()], &[]);
        assert_eq!(r.code, 0, "{r:?}");
    }
    assert_eq!(std::fs::read(&first).unwrap(), std::fs::read(&second).unwrap(), "deterministic");
    let page = open_in_chromium(&first);
    assert_eq!(page["requests"], 20);
    assert_eq!(page["rows"].as_array().unwrap().len(), 20);
}
