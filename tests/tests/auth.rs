//! HTTP Digest authentication (`--digest -u`), against `httptrace serve`'s `/digest-auth`
//! side by side with curl: the same final status, the challenge and the answer as two hops of
//! one request, the answer redacted in events.

use std::process::Command;

use httptrace::EventKind;

use crate::plugins_support::{cli, http, parse_ndjson};

fn curl(args: &[&str]) -> (String, i32) {
    let out = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}"]).args(args).output().expect("run curl");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
}

#[test]
fn digest_answers_the_challenge_on_a_second_hop_as_curl() {
    let url = http("/digest-auth/auth/alice/s3cret");
    for (creds, digest, want) in [("alice:s3cret", true, "200"), ("alice:wrong", true, "401"), ("alice:s3cret", false, "401")] {
        let mut args = vec!["-u", creds];
        if digest {
            args.push("--digest");
        }
        args.push(&url);
        let theirs = curl(&args);
        assert_eq!(theirs, (want.to_string(), 0), "curl {args:?}");
        let mut ours = vec!["-s", "-w", "%{http_code}"];
        ours.extend(&args);
        let run = cli(&ours, &[]);
        assert_eq!((run.stdout.as_str(), run.code), (want, 0), "{args:?}: {}", run.stderr);
    }
    let run = cli(&["-p", "ndjson", "--digest", "-u", "alice:s3cret", &url], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ev = parse_ndjson(&run.stdout);
    let statuses: Vec<(u32, u16)> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ResponseHeaders { status, .. } => Some((e.hop, *status)),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [(0, 401), (1, 200)]);
    let sent: Vec<(u32, String)> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WroteHeaderField { name, value } if name == "authorization" => Some((e.hop, value.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [(1, "[redacted]".to_string())], "no Basic first, the Digest answer redacted");
    assert!(!run.stdout.contains("Digest username"));
}
