//! `--compressed`, side by side with curl: nginx with `gzip on` (a server that is not ours),
//! and a bare server answering with brotli, zstd, deflate or a body that is not what its
//! `content-encoding` says. The bytes on the wire and the decoded length are reported apart,
//! in the events and in HAR, and equal curl's `%{size_download}` (the wire) and the file.

use std::io::Write;
use std::process::Command;

use httptrace::EventKind;
use httptrace_tests::nginx::{free_addr, http_conf, Nginx};

use crate::plugins_support::{canned_server, cli, parse_ndjson};

/// A text file of `len` bytes that compresses well.
fn text(len: usize) -> Vec<u8> {
    (0..).flat_map(|i: u32| format!("line {i} of a compressible body\n").into_bytes()).take(len).collect()
}

/// nginx serving `big.txt` (`len` bytes) with gzip on.
fn gzip_nginx(len: usize) -> (Nginx, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().to_path_buf();
    std::fs::create_dir(p.join("html")).unwrap();
    std::fs::write(p.join("html/big.txt"), text(len)).unwrap();
    let addr = free_addr();
    let conf = http_conf(
        &p,
        &format!(
            "default_type text/plain; gzip on; gzip_types text/plain; gzip_min_length 20;\n\
             server {{ listen {addr}; root {p}/html; }}\n",
            p = p.display()
        ),
    );
    let nginx = Nginx::run(dir, &conf, &[addr]);
    (nginx, format!("http://{addr}/big.txt"))
}

fn curl(args: &[&str]) -> (String, i32) {
    let out = Command::new("curl").args(["-s", "-o", "/dev/null"]).args(args).output().expect("run curl");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
}

/// `(body_bytes, decoded_bytes, error kind)` of the last `response-done`.
fn response_done(stdout: &str) -> (u64, Option<u64>, Option<String>) {
    parse_ndjson(stdout)
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::ResponseDone { body_bytes, decoded_bytes, error } => {
                Some((*body_bytes, *decoded_bytes, error.as_ref().map(|e| e.kind.to_string())))
            }
            _ => None,
        })
        .expect("a response-done")
}

#[test]
fn gzip_from_nginx_is_decoded_and_counted_as_curl_counts_it() {
    let len = 60_000;
    let (_nginx, url) = gzip_nginx(len);
    let format = "%{http_code} %{size_download}";
    let (theirs, code) = curl(&["--compressed", "-w", format, &url]);
    let ours = cli(&["-s", "--compressed", "-w", format, &url], &[]);
    assert_eq!((ours.stdout.as_str(), ours.code), (theirs.as_str(), code), "{}", ours.stderr);
    let wire: u64 = theirs.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(wire < len as u64 / 10, "gzip on the wire: {theirs}");

    let run = cli(&["--compressed", "-p", "ndjson", &url], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(response_done(&run.stdout), (wire, Some(len as u64), None));
    // curl's Accept-Encoding, after Accept.
    let fields: Vec<(String, String)> = parse_ndjson(&run.stdout)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::WroteHeaderField { name, value } => Some((name, value)),
            _ => None,
        })
        .collect();
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["host", "user-agent", "accept", "accept-encoding"]);
    assert_eq!(fields[3].1, "deflate, gzip, br, zstd");

    // Without --compressed nginx sends it as it is, and nothing is decoded.
    let plain = cli(&["-p", "ndjson", &url], &[]);
    assert_eq!(response_done(&plain.stdout), (len as u64, None, None));
    // A request that names its own Accept-Encoding keeps it.
    let own = cli(&["--compressed", "-H", "accept-encoding: gzip", "-p", "ndjson", &url], &[]);
    assert!(own.stdout.contains(r#""name":"accept-encoding","value":"gzip""#), "{}", own.stdout);
    assert_eq!(response_done(&own.stdout).1, Some(len as u64));

    // HAR: content.size decoded, bodySize on the wire, compression the difference.
    let har = cli(&["--compressed", "-p", "har", &url], &[]);
    let doc = crate::load_outputs::validate_har(&har.stdout);
    let r = &doc["log"]["entries"][0]["response"];
    assert_eq!((r["content"]["size"].as_u64(), r["bodySize"].as_u64()), (Some(len as u64), Some(wire)), "{r}");
    assert_eq!(r["content"]["compression"].as_i64(), Some(len as i64 - wire as i64));
    // The timeline says both.
    let timeline = cli(&["--compressed", &url], &[]);
    assert!(timeline.stdout.contains(&format!(", {wire} bytes ({len} decoded)")), "{}", timeline.stdout);
}

/// A server answering every request with `body` as `content-encoding: coding`.
fn encoded_server(coding: &'static str, body: Vec<u8>) -> String {
    let mut answer =
        format!("HTTP/1.1 200 OK\r\ncontent-encoding: {coding}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len())
            .into_bytes();
    answer.extend_from_slice(&body);
    canned_server(answer).0
}

#[test]
fn brotli_zstd_and_deflate_decode_as_curl_decodes_them() {
    let plain = text(40_000);
    let br = {
        let mut e = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
        e.write_all(&plain).unwrap();
        e.into_inner()
    };
    let zst = ruzstd::encoding::compress_to_vec(&plain[..], ruzstd::encoding::CompressionLevel::Fastest);
    let zlib = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&plain).unwrap();
        e.finish().unwrap()
    };
    for (coding, body) in [("br", br), ("zstd", zst), ("deflate", zlib)] {
        let wire = body.len() as u64;
        let url = encoded_server(coding, body);
        // curl decodes it to the same length (written to stdout here).
        let out = Command::new("curl").args(["-s", "--compressed", &url]).output().unwrap();
        assert_eq!((out.status.code(), out.stdout.len()), (Some(0), plain.len()), "curl, {coding}");
        let run = cli(&["--compressed", "-p", "ndjson", &url], &[]);
        assert_eq!(run.code, 0, "{coding}: {}", run.stderr);
        assert_eq!(response_done(&run.stdout), (wire, Some(plain.len() as u64), None), "{coding}");
    }
}

#[test]
fn a_body_that_is_not_its_encoding_is_curls_61_with_what_arrived() {
    let url = encoded_server("gzip", b"this is not gzip at all, just text".to_vec());
    let (_, code) = curl(&["--compressed", &url]);
    assert_eq!(code, 61);
    let run = cli(&["--compressed", "-p", "ndjson", &url], &[]);
    assert_eq!(run.code, 61, "{}", run.stderr);
    let (wire, decoded, kind) = response_done(&run.stdout);
    assert_eq!((wire, decoded, kind.as_deref()), (34, None, Some("bad-content-encoding")));
    assert!(
        run.stderr.contains("receive (bad-content-encoding): after 34 body bytes: the content encoding does not decode"),
        "{}",
        run.stderr
    );
    // Without --compressed the body is only counted.
    assert_eq!(cli(&["-s", &url], &[]).code, 0);
}
