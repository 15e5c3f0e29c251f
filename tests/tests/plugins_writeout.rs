//! `-w/--write-out` (the bundled `writeout` plugin) side by side with the real curl on the same
//! targets: the same text for the same variables (times aside, which are checked for their
//! form and order), the same `%{json}` keys and types, and the same exit codes.

use std::process::Command;

use crate::plugins_support::{cli, http, server};
use serde_json::Value;

/// curl's output and exit code for `-s -o /dev/null -w format` and `extra`.
fn curl(format: &str, extra: &[&str]) -> (String, i32) {
    let out = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", format]).args(extra).output().expect("run curl");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
}

fn https(path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", server().https_addr.port())
}

/// Everything but the times and the local port, which differ from run to run.
const STABLE: &str = "%{http_code} %{response_code} %{http_version} %{remote_ip} %{remote_port} %{num_connects} \
%{num_redirects} %{size_download} %{size_upload} %{url} %{url_effective} %{scheme} %{method} [%{content_type}] [%{redirect_url}] \
%{local_ip} %{num_headers}\\n";

#[test]
fn the_same_variables_read_the_same_as_curls() {
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (vec![http("/bytes/100")], vec![]),
        (vec![http("/redirect/1")], vec![]),
        (vec!["-L".into(), http("/redirect/2")], vec!["-L"]),
        (vec!["-k".into(), https("/bytes/100")], vec!["-k"]),
        (vec!["-d".into(), "hello".into(), http("/status/201")], vec!["-d", "hello"]),
    ];
    for (ours, theirs) in cases {
        let url = ours.last().unwrap().clone();
        let (expected, code) = curl(STABLE, &[&theirs[..], &[url.as_str()]].concat());
        assert_eq!(code, 0, "curl {theirs:?} {url}");
        let mut args: Vec<&str> = vec!["-w", STABLE];
        args.extend(ours.iter().map(String::as_str));
        let run = cli(&args, &[]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.stdout, expected, "-w for {ours:?}");
    }
    // curl's idiom `-s -o /dev/null -w ...`: -w prints on stdout whatever -o says; the other
    // plugins' output still goes to the -o file.
    let (expected, _) = curl("%{http_code} %{size_download}", &[&http("/bytes/10")]);
    let run = cli(&["-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", &http("/bytes/10")], &[]);
    assert_eq!((run.stdout.as_str(), run.code), (expected.as_str(), 0), "{}", run.stderr);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trace.ndjson");
    let run = cli(&["-p", "ndjson", "-o", file.to_str().unwrap(), "-w", "%{http_code}", &http("/bytes/10")], &[]);
    assert_eq!((run.stdout.as_str(), run.code), ("200", 0), "{}", run.stderr);
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.lines().count() > 5 && written.lines().all(|l| l.starts_with('{')), "{written}");
    // `ssl_verify_result`: 0 as curl's when the certificate was verified or there is no TLS.
    // (With -k httptrace does not verify at all and says 0; curl verifies anyway and reports
    // OpenSSL's code, 18 for a self-signed certificate.)
    let (expected, _) = curl("%{ssl_verify_result}", &[&http("/")]);
    assert_eq!(cli(&["-w", "%{ssl_verify_result}", &http("/")], &[]).stdout, expected);
    // HTTP/1.1 header blocks are counted as curl counts them.
    let format = "%{size_header} %{size_download}\\n";
    for (ours, theirs) in [(vec![http("/bytes/10")], vec![]), (vec!["-L".into(), http("/redirect/2")], vec!["-L"])] {
        let url = ours.last().unwrap().clone();
        let (expected, _) = curl(format, &[&theirs[..], &[url.as_str()]].concat());
        let mut args: Vec<&str> = vec!["-w", format];
        args.extend(ours.iter().map(String::as_str));
        assert_eq!(cli(&args, &[]).stdout, expected, "{ours:?}");
    }
}

#[test]
fn times_have_curls_form_and_order() {
    let format = "%{time_namelookup} %{time_connect} %{time_appconnect} %{time_pretransfer} %{time_starttransfer} %{time_total}\\n";
    for args in [vec![http("/delay/20")], vec!["-k".into(), https("/delay/20")]] {
        let mut all: Vec<&str> = vec!["-w", format];
        all.extend(args.iter().map(String::as_str));
        let run = cli(&all, &[]);
        assert_eq!(run.code, 0, "{run:?}");
        let times: Vec<f64> = run
            .stdout
            .trim_end()
            .split(' ')
            .map(|t| {
                let (whole, frac) = t.split_once('.').unwrap_or_else(|| panic!("{t} in {:?}", run.stdout));
                assert!(whole.chars().all(|c| c.is_ascii_digit()) && frac.len() == 6, "{t}: curl's %.6f");
                t.parse().unwrap()
            })
            .collect();
        assert_eq!(times.len(), 6);
        let tls = args[0] == "-k";
        assert_eq!(times[2] > 0.0, tls, "appconnect only with TLS: {times:?}");
        let order = [times[0], times[1], if tls { times[2] } else { times[1] }, times[3], times[4], times[5]];
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        assert!(times[4] >= 0.020, "the server's 20 ms: {times:?}");
    }
}

#[test]
fn json_has_curls_keys_and_types() {
    let url = http("/bytes/10");
    let (theirs, _) = curl("%{json}", &[&url]);
    let theirs: Value = serde_json::from_str(&theirs).unwrap();
    let run = cli(&["-w", "%{json}", &url], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let ours: Value = serde_json::from_str(&run.stdout).unwrap();
    let kind = |v: &Value| match v {
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Null => "null",
        _ => "other",
    };
    for (k, v) in ours.as_object().unwrap() {
        // curl 8.10 added time_posttransfer; Debian 12's curl (7.88) predates it.
        let Some(t) = theirs.get(k) else {
            assert_eq!(k, "time_posttransfer", "curl has no `{k}`");
            continue;
        };
        assert_eq!(kind(v), kind(t), "{k}: ours {v}, curl's {t}");
    }
    assert!(ours.as_object().unwrap().len() >= 30);
}

#[test]
fn failures_bad_formats_files_and_load_runs() {
    // A refused connection: curl's 000 and exit 7, the variables it knows still written.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}/");
    let format = "%{http_code} %{num_connects} [%{remote_ip}] %{url_effective}\\n";
    let (expected, code) = curl(format, &[&url]);
    let run = cli(&["-w", format, &url], &[]);
    assert_eq!((run.code, code), (7, 7));
    assert_eq!(run.stdout, expected);
    // An unknown variable: one line naming it, exit 2, no request.
    let run = cli(&["-w", "%{time_totl}", &http("/")], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("unknown variable `%{time_totl}`"), "{}", run.stderr);
    // @FILE, and a file that is not there.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fmt.txt");
    std::fs::write(&file, "code=%{http_code}\\n").unwrap();
    let at = format!("@{}", file.display());
    assert_eq!(cli(&["-w", &at, &http("/status/204")], &[]).stdout, "code=204\n");
    let missing = format!("@{}", dir.path().join("nope").display());
    let run = cli(&["-w", &missing, &http("/")], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot read") && run.stderr.contains("nope"), "{}", run.stderr);
    // Load mode: one line per request. With a chain, -w runs first (it sees every event, not
    // what a filter keeps), so its line comes before the chain's output of the request.
    let run = cli(&["-n", "5", "-q", "-w", "%{http_code}\\n", &http("/")], &[]);
    assert_eq!(run.stdout, "200\n".repeat(5));
    let run = cli(&["-p", "filter", "--plugin-config", "kind=request-done", "-p", "ndjson", "-w", "%{http_code}\\n", &http("/")], &[]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert_eq!(lines[0], "200");
    assert!(lines[1].starts_with("{\"event\":\"request-done\""));
}

/// The request header fields curl sends with `args` (`curl -v`'s `> ` lines), lower-cased
/// names.
fn curl_fields(args: &[&str]) -> Vec<(String, String)> {
    let out = Command::new("curl").args(["-s", "-v", "-o", "/dev/null"]).args(args).output().expect("run curl");
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("> "))
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim_end().to_string()))
        .collect()
}

/// The request header fields httptrace writes with `args` (its `wrote-header-field` events).
fn our_fields(args: &[&str]) -> Vec<(String, String)> {
    let run = cli(&[&["--show-secrets", "-p", "ndjson"][..], args].concat(), &[]);
    assert_eq!(run.code, 0, "{run:?}");
    run.stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "wrote-header-field")
        .map(|e| (e["name"].as_str().unwrap().to_ascii_lowercase(), e["value"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn curls_request_flags_send_what_curl_sends() {
    let url = http("/headers");
    let pick = |fields: Vec<(String, String)>, names: &[&str]| -> Vec<(String, String)> {
        let mut v: Vec<_> = fields.into_iter().filter(|(n, _)| names.contains(&n.as_str())).collect();
        v.sort();
        v
    };
    // (The default User-Agent differs, of course: compared only where -A sets it.)
    let cases: [(&[&str], &[&str]); 3] = [
        (&["-A", "probe/1.0", "-e", "http://from.example/", "-u", "al ice:p@ss:w"], &["user-agent", "referer", "authorization"]),
        (&["--json", "{\"a\": 1}"], &["content-type", "accept"]),
        (&["-d", "a=1", "-H", "Content-Type: text/plain"], &["content-type", "accept"]),
    ];
    for (args, names) in cases {
        let all = [args, &[url.as_str()]].concat();
        let ours = pick(our_fields(&all), names);
        assert_eq!(ours.len(), names.len(), "{ours:?}");
        assert_eq!(ours, pick(curl_fields(&all), names), "{args:?}");
    }
    // Bodies: the same method and size as curl's for each way of giving one.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.txt");
    std::fs::write(&file, "line one\r\nline two\n").unwrap();
    let at = format!("@{}", file.display());
    let named_at = format!("f@{}", file.display());
    let bodies: Vec<Vec<&str>> = vec![
        vec!["-d", "a=1", "-d", "b=2"],
        vec!["-d", &at],
        vec!["--data-binary", &at],
        vec!["--data-urlencode", "name=a b&c", "--data-urlencode", "=x y", "--data-urlencode", &named_at],
        vec!["--json", "{\"a\":", "--json", "1}"],
        vec!["-d", "a=1", "-d", "b=2", "--json", "{}"],
        vec!["-I"],
    ];
    let format = "%{method} %{size_upload} %{http_code}\\n";
    // An endpoint that reads the whole body before it answers: curl stops uploading when a
    // response comes first, and its size_upload then counts less than the body.
    let sink = http("/continue");
    for args in bodies {
        let all = [&["-w", format][..], &args, &[sink.as_str()]].concat();
        let (expected, _) = curl(format, &[&args[..], &[sink.as_str()]].concat());
        assert_eq!(cli(&all, &[]).stdout, expected, "{args:?}");
    }
    // -F: multipart laid out as curl lays it out (the same size; only the boundary's random
    // digits differ), with its content type.
    let upload = dir.path().join("notes.txt");
    std::fs::write(&upload, "hello\n").unwrap();
    let file_part = format!("up=@{}", upload.display());
    let typed_part = format!("csv=@{};type=text/csv;filename=data.csv", upload.display());
    let value_part = format!("j=<{}", upload.display());
    let forms: Vec<Vec<&str>> =
        vec![vec!["-F", "a=1"], vec!["-F", "a=1", "-F", &file_part, "-F", &value_part], vec!["-F", &typed_part, "-F", "b=two words"]];
    for args in forms {
        let all = [&["-w", format][..], &args, &[sink.as_str()]].concat();
        let (expected, _) = curl(format, &[&args[..], &[sink.as_str()]].concat());
        assert_eq!(cli(&all, &[]).stdout, expected, "{args:?}");
        let ours = our_fields(&[&args[..], &[sink.as_str()]].concat());
        let content_type = &ours.iter().find(|(n, _)| n == "content-type").unwrap().1;
        assert!(content_type.starts_with("multipart/form-data; boundary=------------------------"), "{content_type}");
        assert_eq!(content_type.len(), "multipart/form-data; boundary=".len() + 40);
    }
    let run = cli(&["-F", "a=1", "-d", "b=2", &url], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("-F (multipart) and -d"), "{}", run.stderr);
    // -I shows the response headers, as -i does.
    let run = cli(&["-I", &url], &[]);
    assert!(run.stdout.contains("  < HTTP/1.1 200"), "{}", run.stdout);
    // -u without a password: httptrace does not prompt.
    let run = cli(&["-u", "alice", &url], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("USER:PASSWORD"), "{}", run.stderr);
}

#[test]
fn silent_unknown_options_in_curls_words() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}/");
    let quiet = cli(&["-s", "-p", "ndjson", &url], &[]);
    assert_eq!(quiet.code, 7);
    assert_eq!(quiet.stderr, "", "-s: the exit code says it");
    let shown = cli(&["-sS", "-p", "ndjson", &url], &[]);
    assert_eq!(shown.code, 7);
    assert!(shown.stderr.starts_with("httptrace: (7) connect"), "{}", shown.stderr);
    // Unknown options: curl's words, one line, and a near option when there is one.
    let run = cli(&["-Z", &url], &[]);
    assert_eq!((run.code, run.stderr.as_str()), (2, "httptrace: option -Z: is unknown (see --help)\n"));
    let run = cli(&["--dta", "x", &url], &[]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr, "httptrace: option --dta: is unknown; did you mean --data? (see --help)\n");
    let out = Command::new("curl").args(["--dta", "x", &url]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("curl: option --dta: is unknown"), "curl's wording");
}

/// The cookie lines of a Netscape cookie file (comments and blank lines dropped), sorted.
fn jar_lines(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines: Vec<String> =
        text.lines().filter(|l| (!l.starts_with('#') || l.starts_with("#HttpOnly_")) && !l.trim().is_empty()).map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn cookies_follow_redirects_and_fill_the_jar_as_curls_do() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("ours.txt"), dir.path().join("theirs.txt"));
    let url = http("/cookies/set?sid=abc&theme=dark");
    // -L with the cookie engine on: the 302 sets two cookies, the next hop sends them.
    let run = cli(&["-L", "-b", "", "--cookie-jar", ours.to_str().unwrap(), "--show-secrets", "-p", "ndjson", &url], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let sent: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "wrote-header-field" && e["name"] == "cookie")
        .collect();
    assert_eq!(sent.len(), 1, "only the second hop has cookies: {sent:?}");
    assert_eq!(sent[0]["hop"], 1);
    let curl_sent: Vec<(String, String)> = curl_fields(&["-L", "-b", "", &url]).into_iter().filter(|(n, _)| n == "cookie").collect();
    assert_eq!(curl_sent, [("cookie".to_string(), sent[0]["value"].as_str().unwrap().to_string())], "the same Cookie header as curl's");
    // The jar: the same cookie lines as curl writes.
    let status = Command::new("curl").args(["-s", "-o", "/dev/null", "-L", "-c", theirs.to_str().unwrap(), &url]).status().unwrap();
    assert!(status.success());
    assert_eq!(jar_lines(&ours), jar_lines(&theirs));
    assert_eq!(jar_lines(&ours).len(), 2);

    // -b FILE: curl's jar read back by us, sent on the first hop; redacted without --show-secrets.
    let back = cli(&["-b", theirs.to_str().unwrap(), "-p", "ndjson", &http("/headers")], &[]);
    assert_eq!(back.code, 0, "{back:?}");
    assert!(back.stdout.contains(r#""name":"cookie","value":"[redacted]""#), "{}", back.stdout);
    assert!(!back.stdout.contains("abc"));
    let shown = our_fields(&["-b", theirs.to_str().unwrap(), &http("/headers")]);
    let cookie: Vec<&(String, String)> = shown.iter().filter(|(n, _)| n == "cookie").collect();
    assert_eq!(cookie.len(), 1);
    let mut pairs: Vec<&str> = cookie[0].1.split("; ").collect();
    pairs.sort();
    assert_eq!(pairs, ["sid=abc", "theme=dark"]);
    // -b NAME=VALUE is sent as it is, and joined with the jar's.
    let both = our_fields(&["-b", "x=1", "-b", theirs.to_str().unwrap(), &http("/headers")]);
    let value = &both.iter().find(|(n, _)| n == "cookie").unwrap().1;
    assert!(value.starts_with("x=1; ") && value.contains("sid=abc"), "{value}");
    // -H 'Cookie:' removes the request's own Cookie header, not the jar's cookies: curl sends
    // those all the same, and so do we.
    let args = ["-b", theirs.to_str().unwrap(), "-H", "Cookie:", &http("/headers")];
    let cookie_of = |fields: Vec<(String, String)>| fields.into_iter().find(|(n, _)| n == "cookie");
    assert_eq!(cookie_of(our_fields(&args)), cookie_of(curl_fields(&args)));
    // Without the engine, a Set-Cookie is not sent on.
    let off = our_fields(&["-L", &url]);
    assert!(off.iter().all(|(n, _)| n != "cookie"), "{off:?}");
    // A jar that cannot be written: a warning, and the run's own exit code.
    let run = cli(&["--cookie-jar", "/nonexistent/dir/jar.txt", &http("/")], &[]);
    assert_eq!(run.code, 0);
    assert!(run.stderr.contains("--cookie-jar /nonexistent/dir/jar.txt: cannot write the cookies"), "{}", run.stderr);
}

#[test]
fn connect_to_goes_elsewhere_but_keeps_the_name_as_curl_does() {
    let (http_port, https_port) = (server().http_addr.port(), server().https_addr.port());
    let format = "%{http_code} %{remote_ip} %{remote_port} %{url_effective}\\n";
    // Plain HTTP: a name nobody resolves, and a port nobody listens on.
    let rule = format!("never.invalid:1:127.0.0.1:{http_port}");
    let url = "http://never.invalid:1/headers";
    let (expected, code) = curl(format, &["--connect-to", &rule, url]);
    assert_eq!(code, 0);
    let run = cli(&["--connect-to", &rule, "-w", format, url], &[]);
    assert_eq!(run.stdout, expected, "{run:?}");
    let fields = our_fields(&["--connect-to", &rule, url]);
    assert!(fields.contains(&("host".into(), "never.invalid:1".into())), "{fields:?}");
    // TLS: the server name stays the URL's (`localhost`), the connection goes to the server.
    let rule = format!("localhost:2:127.0.0.1:{https_port}");
    let url = "https://localhost:2/bytes/3";
    let (expected, _) = curl(format, &["-k", "--connect-to", &rule, url]);
    let run = cli(&["-k", "--connect-to", &rule, "-p", "ndjson", url], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains(r#""server_name":"localhost""#), "{}", run.stdout);
    assert_eq!(cli(&["-k", "--connect-to", &rule, "-w", format, url], &[]).stdout, expected);
    // A rule for another host changes nothing; a malformed one is a usage error.
    let run = cli(&["--connect-to", "other:1:127.0.0.1:1", "-w", "%{remote_port}", &http("/")], &[]);
    assert_eq!(run.stdout, http_port.to_string());
    let run = cli(&["--connect-to", "a:b", &http("/")], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--connect-to 'a:b': expected HOST1:PORT1:HOST2:PORT2"), "{}", run.stderr);
}

/// `-d @-` and `--data-binary @-` read the body from standard input, as curl does: the same
/// method and upload size (`-d` drops the newlines, `--data-binary` keeps them).
#[test]
fn a_body_from_standard_input_is_sent_as_curls() {
    use std::io::Write;
    let sink = http("/continue");
    let format = "%{method} %{size_upload} %{http_code}\\n";
    let body = "a=1\r\nb=2\n";
    let with_stdin = |mut cmd: Command| -> String {
        let mut child = cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().expect("spawn");
        child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{:?}", out.status);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for flag in ["-d", "--data-binary"] {
        let mut curl = Command::new("curl");
        curl.args(["-s", "-o", "/dev/null", "-w", format, flag, "@-", &sink]);
        let theirs = with_stdin(curl);
        let ours = with_stdin(crate::plugins_support::command(&["-w", format, flag, "@-", &sink], &[]));
        assert_eq!(ours, theirs, "{flag} @-");
        assert!(ours.starts_with("POST ") && !ours.starts_with("POST 0 "), "{ours}");
    }
}
