//! Proxies end to end, through real ones on loopback (tinyproxy for HTTP forwarding and
//! `CONNECT`, microsocks for SOCKS5), side by side with curl on the same proxies: the
//! connection goes to the proxy (its address in `got-conn`, curl's `remote_port`), TLS to the
//! origin runs inside the tunnel, credentials are sent and redacted, failures exit with curl's
//! codes, and the environment's proxies follow curl's rules.

use std::process::Command;

use httptrace::{Event, EventKind};
use httptrace_tests::proxies::ProxyProcess;

use crate::plugins_support::{cli, http, parse_ndjson, server, Run};

fn https(path: &str) -> String {
    format!("https://{}{path}", server().https_addr)
}

fn cacert() -> String {
    server().cert_path.display().to_string()
}

/// curl's `-w` output and exit code with `args`, the environment's proxies cleared.
fn curl(format: &str, args: &[&str]) -> (String, i32) {
    curl_run(format, args, &[])
}

/// curl's `-w` output with `args`, the environment's proxies cleared and then `env` set.
fn curl_with_env(format: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    curl_run(format, args, env).0
}

fn curl_run(format: &str, args: &[&str], env: &[(&str, &str)]) -> (String, i32) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "/dev/null", "-w", format]).args(args);
    for v in crate::plugins_support::PROXY_VARS {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run curl");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
}

fn events(run: &Run) -> Vec<Event> {
    assert!(run.stderr.is_empty() || run.code != 0, "{}", run.stderr);
    parse_ndjson(&run.stdout)
}

/// The remote address of each `got-conn`.
fn remotes(events: &[Event]) -> Vec<std::net::SocketAddr> {
    events
        .iter()
        .filter_map(|e| if let EventKind::GotConn { remote_addr, .. } = &e.kind { remote_addr.socket_addr() } else { None })
        .collect()
}

fn done(events: &[Event]) -> (Option<u16>, Option<String>) {
    match &events.last().expect("events").kind {
        EventKind::RequestDone { status, error, .. } => (*status, error.as_ref().map(|e| e.kind.as_str().to_string())),
        other => panic!("last event is {other:?}"),
    }
}

#[test]
fn http_through_a_forwarding_proxy_goes_to_the_proxy_in_absolute_form() {
    let proxy = ProxyProcess::tinyproxy(None);
    let url = http("/headers");
    let run = cli(&["-p", "ndjson", "-x", &proxy.url("http"), &url], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ev = events(&run);
    assert_eq!(remotes(&ev), vec![proxy.addr]);
    assert_eq!(done(&ev), (Some(200), None));
    // The proxy saw the absolute-form request line.
    assert!(proxy.log().contains(&format!("GET {url} HTTP/1.1")), "{}", proxy.log());
    // Credentials in the URL go in `Authorization`, never in the line the proxy sees (and
    // logs), as curl does.
    let with_user = url.replace("http://", "http://user:s3cret@");
    let run = cli(&["-p", "ndjson", "-x", &proxy.url("http"), &with_user], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!proxy.log().contains("s3cret") && !run.stdout.contains("s3cret"), "{}", proxy.log());
    assert!(run.stdout.contains(r#""name":"authorization","value":"[redacted]""#), "{}", run.stdout);
    // curl agrees on where the connection went.
    let format = "%{http_code} %{remote_ip} %{remote_port} %{num_connects}";
    let (theirs, code) = curl(format, &["-x", &proxy.url("http"), &url]);
    let ours = cli(&["-s", "-w", format, "-x", &proxy.url("http"), &url], &[]);
    assert_eq!((ours.stdout.as_str(), ours.code), (theirs.as_str(), code));
}

#[test]
fn https_through_connect_runs_tls_to_the_origin_inside_the_tunnel() {
    let proxy = ProxyProcess::tinyproxy(None);
    let url = https("/bytes/10");
    let run = cli(&["-p", "ndjson", "--cacert", &cacert(), "-x", &proxy.url("http"), &url], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ev = events(&run);
    assert_eq!(remotes(&ev), vec![proxy.addr]);
    assert_eq!(done(&ev), (Some(200), None));
    // TLS with the origin's name, verified against its certificate, after the proxy's connect.
    let tls = ev.iter().find_map(|e| {
        if let EventKind::TlsHandshakeDone { server_name, error, alpn, .. } = &e.kind {
            Some((server_name.clone(), error.clone(), alpn.clone()))
        } else {
            None
        }
    });
    assert_eq!(tls, Some(("127.0.0.1".to_string(), None, Some("h2".to_string()))));
    let at = |name: &str| ev.iter().find(|e| e.kind.name() == name).map(|e| e.at_ns).unwrap_or_else(|| panic!("no {name}"));
    assert!(at("connect-done") <= at("tls-handshake-start"));
    assert!(proxy.log().contains(&format!("CONNECT {} HTTP/1.1", server().https_addr)), "{}", proxy.log());
    // The tunnel is its own phase: proxy-connect-start / -done between the proxy's connect and
    // the origin's TLS, with the proxy's answer.
    let tunnel: Vec<(&str, u64)> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ProxyConnectStart { proxy: p, target } => {
                assert_eq!((p.as_str(), target.as_str()), (proxy.url("http").as_str(), server().https_addr.to_string().as_str()));
                Some(("start", e.at_ns))
            }
            EventKind::ProxyConnectDone { status, error, .. } => {
                assert_eq!((*status, error), (Some(200), &None));
                Some(("done", e.at_ns))
            }
            _ => None,
        })
        .collect();
    assert_eq!(tunnel.iter().map(|t| t.0).collect::<Vec<_>>(), ["start", "done"]);
    assert!(at("connect-done") <= tunnel[0].1 && tunnel[1].1 <= at("tls-handshake-start"));
    // The timeline shows it as a column of its own (within 80 columns), HAR as `_proxyTunnel`
    // (and stays valid HAR 1.2).
    let timeline = cli(&["--cacert", &cacert(), "-x", &proxy.url("http"), &url], &[]);
    let header = timeline.stdout.lines().find(|l| l.contains("TCP Connection")).unwrap_or_default();
    assert!(
        header.contains(" Tunnel ") && timeline.stdout.contains("tunnel:") && timeline.stdout.contains("Tunnel through"),
        "{}",
        timeline.stdout
    );
    assert!(timeline.stdout.lines().all(|l| l.chars().count() <= 80), "{}", timeline.stdout);
    let har = cli(&["-p", "har", "--cacert", &cacert(), "-x", &proxy.url("http"), &url], &[]);
    let doc = crate::load_outputs::validate_har(&har.stdout);
    let t = &doc["log"]["entries"][0]["_proxyTunnel"];
    assert_eq!((t["status"].as_u64(), t["time"].as_f64().is_some_and(|v| v > 0.0)), (Some(200), true), "{t}");
    let format = "%{http_code} %{remote_port} %{num_connects} %{http_version}";
    let (theirs, code) = curl(format, &["--cacert", &cacert(), "-x", &proxy.url("http"), &url]);
    let ours = cli(&["-s", "-w", format, "--cacert", &cacert(), "-x", &proxy.url("http"), &url], &[]);
    assert_eq!((ours.stdout.as_str(), ours.code), (theirs.as_str(), code));
}

#[test]
fn a_proxy_that_wants_credentials_gets_them_and_they_stay_redacted() {
    let proxy = ProxyProcess::tinyproxy(Some(("user", "s3cret")));
    let tunnel = https("/");
    // Without credentials the CONNECT is refused with 407: curl's exit 56, a typed error.
    let run = cli(&["-p", "ndjson", "-k", "-x", &proxy.url("http"), &tunnel], &[]);
    assert_eq!(run.code, 56, "{}", run.stderr);
    let ev = events(&run);
    assert_eq!(done(&ev), (None, Some("proxy-auth-required".into())));
    let refused = ev.iter().find_map(|e| {
        if let EventKind::ProxyConnectDone { status, error, .. } = &e.kind {
            Some((*status, error.clone()))
        } else {
            None
        }
    });
    assert!(matches!(&refused, Some((Some(407), Some(e))) if e.kind.as_str() == "proxy-auth-required"), "{refused:?}");
    assert_eq!(curl("", &["-k", "-x", &proxy.url("http"), &tunnel]).1, 56);
    // With them (-U, or in the proxy URL), both the tunnel and forwarding work.
    for args in [vec!["-U", "user:s3cret", "-x", &proxy.url("http")], vec!["-x", "http://user:s3cret@PROXY"]] {
        let args: Vec<String> = args.iter().map(|a| a.replace("PROXY", &proxy.addr.to_string())).collect();
        for url in [tunnel.clone(), http("/headers")] {
            let mut all = vec!["-p".to_string(), "ndjson".into(), "-k".into()];
            all.extend(args.iter().cloned());
            all.push(url.clone());
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            let run = cli(&all, &[]);
            assert_eq!((run.code, done(&events(&run)).0), (0, Some(200)), "{all:?}: {}", run.stderr);
            assert!(!run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"), "{}", run.stdout);
        }
    }
    // Forwarded without credentials: the proxy's 407 is the response, exit 0 (as curl).
    let run = cli(&["-p", "ndjson", "-x", &proxy.url("http"), &http("/")], &[]);
    assert_eq!((run.code, done(&events(&run)).0), (0, Some(407)));
    assert_eq!(curl("%{http_code}", &["-x", &proxy.url("http"), &http("/")]), ("407".into(), 0));
}

#[test]
fn socks5_tunnels_plain_and_tls_requests() {
    let socks = ProxyProcess::microsocks(None);
    for scheme in ["socks5", "socks5h"] {
        for url in [http("/bytes/5"), https("/bytes/5")] {
            let run = cli(&["-p", "ndjson", "--cacert", &cacert(), "-x", &socks.url(scheme), &url], &[]);
            assert_eq!(run.code, 0, "{scheme} {url}: {}", run.stderr);
            let ev = events(&run);
            assert_eq!(remotes(&ev), vec![socks.addr], "{scheme} {url}");
            // A SOCKS5 tunnel has no HTTP status.
            let tunnel = ev.iter().find_map(|e| {
                if let EventKind::ProxyConnectDone { status, error, .. } = &e.kind {
                    Some((*status, error.is_none()))
                } else {
                    None
                }
            });
            assert_eq!(tunnel, Some((None, true)), "{scheme} {url}");
            assert_eq!(done(&ev), (Some(200), None));
            let format = "%{http_code} %{remote_port} %{num_connects}";
            let (theirs, code) = curl(format, &["--cacert", &cacert(), "-x", &socks.url(scheme), &url]);
            let ours = cli(&["-s", "-w", format, "--cacert", &cacert(), "-x", &socks.url(scheme), &url], &[]);
            assert_eq!((ours.stdout.as_str(), ours.code), (theirs.as_str(), code), "{scheme} {url}");
        }
    }
    // A SOCKS proxy that wants a password and gets a wrong one: curl's 97, a typed error.
    let locked = ProxyProcess::microsocks(Some(("user", "right")));
    let proxy = format!("socks5h://user:wrong@{}", locked.addr);
    let run = cli(&["-p", "ndjson", "-x", &proxy, &http("/")], &[]);
    assert_eq!(run.code, 97, "{}", run.stderr);
    assert_eq!(done(&events(&run)), (None, Some("socks".into())));
    assert!(!run.stdout.contains("wrong"), "the password is redacted: {}", run.stdout);
    assert_eq!(curl("", &["-x", &proxy, &http("/")]).1, 97);
    let run = cli(&["-s", "-x", &format!("socks5h://user:right@{}", locked.addr), "-w", "%{http_code}", &http("/")], &[]);
    assert_eq!((run.stdout.as_str(), run.code), ("200", 0), "{}", run.stderr);
}

#[test]
fn a_name_that_does_not_resolve_for_socks5_is_curls_97() {
    // socks5:// resolves the origin's name here, once the proxy is connected (curl's order).
    let socks = ProxyProcess::microsocks(None);
    let url = "http://nonexistent.invalid/";
    assert_eq!(curl("", &["-x", &socks.url("socks5"), url]).1, 97);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dns = rt.block_on(httptrace_tests::dns::DnsServer::start()).unwrap();
    let run = cli(&["-p", "ndjson", "--dns-server", &dns.addr.to_string(), "-x", &socks.url("socks5"), url], &[]);
    assert_eq!(run.code, 97, "{}", run.stderr);
    let ev = events(&run);
    let order: Vec<&str> = ev.iter().map(|e| e.kind.name()).filter(|k| k.starts_with("connect-") || k.starts_with("dns-")).collect();
    assert_eq!(order, ["connect-start", "connect-done", "dns-start", "dns-done"], "the proxy first, then the name");
    assert_eq!(done(&ev), (None, Some("socks".into())));
    // Nothing listening as the proxy: the connect fails first, 7, as curl.
    let gone = format!("socks5://{}", httptrace_tests::nginx::free_addr());
    assert_eq!(curl("", &["-x", &gone, url]).1, 7);
    assert_eq!(cli(&["--dns-server", &dns.addr.to_string(), "-x", &gone, url], &[]).code, 7);
}

#[test]
fn proxy_failures_exit_with_curls_codes() {
    // Nothing listens: 7, as a refused connect.
    let gone = format!("http://{}", httptrace_tests::nginx::free_addr());
    let run = cli(&["-x", &gone, &http("/")], &[]);
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert_eq!(curl("", &["-x", &gone, &http("/")]).1, 7);
    // A malformed proxy or an unsupported scheme: 5, one line naming it.
    for bad in ["socks6://127.0.0.1:1", "http://[::1"] {
        let run = cli(&["-x", bad, &http("/")], &[]);
        assert_eq!(run.code, 5, "{bad}: {}", run.stderr);
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains("proxy"), "{}", run.stderr);
    }
    // curl agrees on the malformed one (an unsupported scheme is its 7: "unsupported proxy
    // scheme" is no connect failure, so it stays 5 here, as the README says).
    assert_eq!(curl("", &["-x", "http://[::1", &http("/")]).1, 5);
}

#[test]
fn the_environment_picks_proxies_as_curl_does() {
    let proxy = ProxyProcess::tinyproxy(None);
    let p = proxy.url("http");
    let url = http("/headers");
    let port = |run: &Run| run.stdout.clone();
    let w = ["-s", "-w", "%{remote_port}"];
    let direct = server().http_addr.port().to_string();
    let via = proxy.addr.port().to_string();
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("http_proxy", &p)], vec![], &via),
        // Upper-case HTTP_PROXY is not read (curl ignores it, a CGI hazard).
        (vec![("HTTP_PROXY", &p)], vec![], &direct),
        (vec![("ALL_PROXY", &p)], vec![], &via),
        (vec![("http_proxy", &p), ("NO_PROXY", "127.0.0.1")], vec![], &direct),
        (vec![("http_proxy", &p), ("no_proxy", "10.0.0.0/8,127.0.0.0/8")], vec![], &direct),
        (vec![("http_proxy", &p)], vec!["--noproxy", "*"], &direct),
        (vec![("http_proxy", &p)], vec!["-x", ""], &direct),
        (vec![("https_proxy", &p)], vec![], &direct),
    ];
    for (env, flags, want) in cases {
        let mut args: Vec<&str> = w.to_vec();
        args.extend(&flags);
        args.push(&url);
        let run = cli(&args, &env);
        assert_eq!((port(&run).as_str(), run.code), (want, 0), "{env:?} {flags:?}: {}", run.stderr);
        let args = [&flags[..], &[url.as_str()]].concat();
        assert_eq!(curl_with_env("%{remote_port}", &args, &env), want, "curl with {env:?} {flags:?}");
    }
}

#[test]
fn a_load_run_through_a_proxy_succeeds_and_reuses_its_tunnels() {
    let _lane = crate::lanes::load();
    let proxy = ProxyProcess::tinyproxy(None);
    for url in [http("/"), https("/")] {
        let run = cli(
            &["-q", "-k", "-n", "200", "-c", "4", "-p", "stats", "--plugin-config", "format=json", "-x", &proxy.url("http"), &url],
            &[],
        );
        assert_eq!(run.code, 0, "{url}: {}", run.stderr);
        let stats: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
        assert_eq!(stats["requests"], 200, "{stats}");
        assert_eq!(stats["status"]["200"], 200, "{stats}");
        assert!(stats["errors"].as_object().is_some_and(|m| m.is_empty()), "{stats}");
        // tinyproxy closes a forwarding connection after each response without saying so: the
        // requests that found one closed were made again on a new one (none failed, above).
        // Its tunnels stay open: at most one per worker.
        if url.starts_with("https") {
            let opened = stats["connections"]["opened"].as_u64().unwrap_or(u64::MAX);
            assert!((1..=4).contains(&opened), "{url}: {opened} connections for 4 workers: {stats}");
        }
    }
}

#[test]
fn an_https_proxy_is_spoken_to_over_tls() {
    // nginx's stream module ends TLS in front of tinyproxy: a proxy spoken to over TLS.
    let tinyproxy = ProxyProcess::tinyproxy(None);
    let (_nginx, addrs) = httptrace_tests::nginx::tls_in_front(&[tinyproxy.addr], &[]);
    let addr = addrs[0];
    let proxy = format!("https://{addr}");
    // Forwarded: one handshake, the proxy's; tunnelled: the proxy's, then the origin's inside.
    for (url, handshakes, tunnels) in [(http("/bytes/5"), 1, 0), (https("/bytes/5"), 2, 1)] {
        let run = cli(&["-p", "ndjson", "-k", "-x", &proxy, &url], &[]);
        assert_eq!(run.code, 0, "{url}: {}", run.stderr);
        let ev = events(&run);
        assert_eq!(done(&ev), (Some(200), None), "{url}");
        assert_eq!(remotes(&ev), vec![addr], "{url}");
        let tls = ev.iter().filter(|e| matches!(&e.kind, EventKind::TlsHandshakeDone { error: None, .. })).count();
        let tunnel = ev.iter().filter(|e| matches!(&e.kind, EventKind::ProxyConnectDone { error: None, status: Some(200), .. })).count();
        assert_eq!((tls, tunnel), (handshakes, tunnels), "{url}: {}", run.stdout);
        let format = "%{http_code} %{remote_port} %{num_connects}";
        let (theirs, code) = curl(format, &["-k", "--proxy-insecure", "-x", &proxy, &url]);
        let ours = cli(&["-s", "-k", "-w", format, "-x", &proxy, &url], &[]);
        assert_eq!((ours.stdout.as_str(), ours.code), (theirs.as_str(), code), "{url}");
    }
}

#[test]
fn an_https_proxy_has_its_own_ca_or_none_as_curl() {
    let tinyproxy = ProxyProcess::tinyproxy(None);
    // Valid for 127.0.0.1 (not a CA: rustls will not take one as the proxy's certificate).
    let cert = ["-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"];
    let (nginx, addrs) = httptrace_tests::nginx::tls_in_front(&[tinyproxy.addr], &cert);
    let addr = addrs[0];
    let proxy_ca = nginx.dir.path().join("tls.pem").display().to_string();
    let proxy = format!("https://{addr}");
    let origin_ca = cacert();
    let url = https("/bytes/5");
    let format = "%{http_code}";
    // The proxy's CA apart from the origin's; the proxy not verified at all; neither given,
    // the origin's CA does not vouch for the proxy.
    let cases: [(&[&str], &str, i32); 3] =
        [(&["--proxy-cacert", &proxy_ca], "200", 0), (&["--proxy-insecure"], "200", 0), (&[], "000", 60)];
    for (flags, status, code) in cases {
        let mut args: Vec<&str> = vec!["--cacert", &origin_ca, "-x", &proxy];
        args.extend(flags);
        args.push(&url);
        let (theirs, their_code) = curl(format, &args);
        assert_eq!((theirs.as_str(), their_code), (status, code), "curl {flags:?}");
        let mut ours = vec!["-s", "-w", format];
        ours.extend(&args);
        let run = cli(&ours, &[]);
        assert_eq!((run.stdout.as_str(), run.code), (status, code), "{flags:?}: {}", run.stderr);
    }
}

#[test]
fn proxytunnel_sends_http_urls_through_connect_as_curl_p() {
    let proxy = ProxyProcess::tinyproxy(None);
    let url = http("/bytes/7");
    let run = cli(&["-p", "ndjson", "--proxytunnel", "-x", &proxy.url("http"), &url], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ev = events(&run);
    assert_eq!(done(&ev), (Some(200), None));
    let tunnels = ev.iter().filter(|e| matches!(&e.kind, EventKind::ProxyConnectDone { error: None, status: Some(200), .. })).count();
    assert_eq!(tunnels, 1, "{}", run.stdout);
    let origin = url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    assert!(proxy.log().contains(&format!("CONNECT {origin}")), "{}", proxy.log());
    // The request inside the tunnel is in origin form: the proxy never saw it.
    assert!(!proxy.log().contains("GET http://"), "{}", proxy.log());
    let format = "%{http_code} %{remote_port} %{num_connects}";
    let (theirs, code) = curl(format, &["-p", "-x", &proxy.url("http"), &url]);
    let ours = cli(&["-s", "-w", format, "--proxytunnel", "-x", &proxy.url("http"), &url], &[]);
    assert_eq!((ours.stdout.as_str(), ours.code), (theirs.as_str(), code));
}

#[test]
fn socks4_and_socks4a_tunnel_through_dante() {
    let proxy = ProxyProcess::danted();
    let url = http("/bytes/3");
    // socks4: the name resolved here, as curl; the same answer as curl's.
    let format = "%{http_code} %{remote_port}";
    let (theirs, code) = curl(format, &["-x", &proxy.url("socks4"), &url]);
    let ours = cli(&["-s", "-w", format, "-x", &proxy.url("socks4"), &url], &[]);
    assert_eq!((ours.stdout.as_str(), ours.code), (theirs.as_str(), code), "{}", ours.stderr);
    assert_eq!(code, 0);
    for scheme in ["socks4", "socks4a"] {
        let run = cli(&["-p", "ndjson", "-x", &proxy.url(scheme), &url], &[]);
        assert_eq!(run.code, 0, "{scheme}: {}", run.stderr);
        let ev = events(&run);
        assert_eq!(done(&ev), (Some(200), None), "{scheme}");
        assert_eq!(remotes(&ev), vec![proxy.addr], "{scheme}");
        let tunnels = ev.iter().filter(|e| matches!(&e.kind, EventKind::ProxyConnectDone { error: None, status: None, .. })).count();
        assert_eq!(tunnels, 1, "{scheme}");
    }
    // A target the proxy cannot reach: a SOCKS failure, 97 as curl.
    let closed = format!("http://{}/", httptrace_tests::nginx::free_addr());
    let (_, code) = curl("%{http_code}", &["-x", &proxy.url("socks4"), &closed]);
    let run = cli(&["-p", "ndjson", "-x", &proxy.url("socks4"), &closed], &[]);
    assert_eq!((run.code, code), (97, 97), "{}", run.stderr);
    assert_eq!(done(&events(&run)).1.as_deref(), Some("socks"));
}

/// The proxy's own lookup and connect name the proxy (`proxy` on `dns-*` and `connect-*`,
/// contract 0.6.0), the origin's do not: a forwarded request through tinyproxy and a SOCKS5
/// tunnel whose origin name is resolved here, both to proxies known by a name; the password
/// stays redacted.
#[test]
fn the_proxys_own_lookup_and_connect_name_the_proxy() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dns = rt.block_on(httptrace_tests::dns::DnsServer::start()).unwrap();
    let loopback = httptrace_tests::dns::DnsAnswer::Addrs(vec!["127.0.0.1".parse().unwrap()]);
    dns.set("proxy.test", loopback.clone());
    dns.set("origin.test", loopback);
    let tinyproxy = ProxyProcess::tinyproxy(None);
    let socks = ProxyProcess::microsocks(Some(("user", "pw")));
    let forwarded = format!("http://proxy.test:{}", tinyproxy.addr.port());
    let tunnel = format!("socks5://user:pw@proxy.test:{}", socks.addr.port());
    let tunnel_shown = format!("socks5://user:[redacted]@proxy.test:{}", socks.addr.port());
    let cases = [
        // tinyproxy resolves the origin's name itself: an address here.
        (forwarded.clone(), forwarded.clone(), format!("http://{}/bytes/5", server().http_addr), vec![]),
        (tunnel, tunnel_shown.clone(), format!("http://origin.test:{}/bytes/5", server().http_addr.port()), vec!["origin.test"]),
    ];
    for (proxy, shown, url, origin_lookups) in cases {
        let run = cli(&["-p", "ndjson", "--dns-server", &dns.addr.to_string(), "-x", &proxy, &url], &[]);
        assert_eq!(run.code, 0, "{proxy}: {}", run.stderr);
        assert!(!run.stdout.contains(":pw@"), "the password is redacted: {}", run.stdout);
        let ev = events(&run);
        assert_eq!(done(&ev), (Some(200), None), "{proxy}");
        let marked: Vec<(&str, Option<&str>)> = ev
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::DnsStart { proxy, .. }
                | EventKind::DnsDone { proxy, .. }
                | EventKind::ConnectStart { proxy, .. }
                | EventKind::ConnectDone { proxy, .. } => Some((e.kind.name(), proxy.as_deref())),
                _ => None,
            })
            .collect();
        let mut want = vec![
            ("dns-start", Some(shown.as_str())),
            ("dns-done", Some(shown.as_str())),
            ("connect-start", Some(shown.as_str())),
            ("connect-done", Some(shown.as_str())),
        ];
        for _ in &origin_lookups {
            want.extend([("dns-start", None), ("dns-done", None)]);
        }
        assert_eq!(marked, want, "{proxy}");
        let hosts: Vec<&str> =
            ev.iter().filter_map(|e| if let EventKind::DnsStart { host, .. } = &e.kind { Some(host.as_str()) } else { None }).collect();
        assert_eq!(hosts, [&["proxy.test"][..], &origin_lookups].concat(), "{proxy}");
    }
}

/// A proxy whose name does not resolve is curl's 5 ("could not resolve proxy"), and one where
/// nothing listens curl's 7; either way the trace holds what happened: the proxy's own lookup
/// or connect, failed, named as the proxy's, and the request's typed error.
#[test]
fn a_proxy_that_cannot_be_reached_leaves_a_partial_trace_and_curls_code() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dns = rt.block_on(httptrace_tests::dns::DnsServer::start()).unwrap();
    let url = http("/");
    let nowhere = "http://nowhere.invalid:3128";
    assert_eq!(curl("", &["-x", nowhere, &url]).1, 5);
    let run = cli(&["-p", "ndjson", "--dns-server", &dns.addr.to_string(), "-x", nowhere, &url], &[]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    let ev = events(&run);
    assert_eq!(done(&ev), (None, Some("proxy-resolve".into())));
    let lookup = ev.iter().find_map(|e| match &e.kind {
        EventKind::DnsDone { error, proxy, .. } => Some((error.as_ref().map(|e| e.kind.as_str().to_string()), proxy.clone())),
        _ => None,
    });
    assert!(matches!(&lookup, Some((Some(_), Some(p))) if p == nowhere), "{lookup:?}");
    let gone = format!("http://{}", httptrace_tests::nginx::free_addr());
    assert_eq!(curl("", &["-x", &gone, &url]).1, 7);
    let run = cli(&["-p", "ndjson", "-x", &gone, &url], &[]);
    assert_eq!(run.code, 7, "{}", run.stderr);
    let ev = events(&run);
    assert_eq!(done(&ev), (None, Some("refused".into())));
    let connect = ev.iter().find_map(|e| match &e.kind {
        EventKind::ConnectDone { error, proxy, .. } => Some((error.as_ref().map(|e| e.kind.as_str().to_string()), proxy.clone())),
        _ => None,
    });
    assert_eq!(connect, Some((Some("refused".into()), Some(gone.clone()))));
}

/// curl's `time_appconnect` through a proxy: the origin's TLS inside a `CONNECT` tunnel ends it
/// (after the tunnel), a plain request forwarded by an HTTP proxy has none (0), and
/// `time_pretransfer` is never before it; the same zeros and the same order as curl.
#[test]
fn appconnect_and_pretransfer_through_a_proxy_mean_what_they_mean_for_curl() {
    let proxy = ProxyProcess::tinyproxy(None);
    let format = "%{time_connect} %{time_appconnect} %{time_pretransfer}";
    let parse = |text: &str| -> Vec<f64> { text.split(' ').map(|t| t.parse::<f64>().unwrap_or_else(|_| panic!("{text}"))).collect() };
    for (url, tls) in [(https("/"), true), (http("/"), false)] {
        let (theirs, code) = curl(format, &["--cacert", &cacert(), "-x", &proxy.url("http"), &url]);
        assert_eq!(code, 0, "curl {url}");
        let ours = cli(&["-s", "-w", format, "--cacert", &cacert(), "-x", &proxy.url("http"), &url], &[]);
        assert_eq!(ours.code, 0, "{url}: {}", ours.stderr);
        for (who, t) in [("curl", parse(&theirs)), ("httptrace", parse(&ours.stdout))] {
            let (connect, appconnect, pretransfer) = (t[0], t[1], t[2]);
            assert!(connect > 0.0, "{who} {url}: {t:?}");
            if tls {
                assert!(appconnect > connect && pretransfer >= appconnect, "{who} {url}: {t:?}");
            } else {
                assert!(appconnect == 0.0 && pretransfer >= connect, "{who} {url}: {t:?}");
            }
        }
    }
    // Ours against the trace: appconnect ends with the origin's TLS, after the tunnel.
    let run = cli(&["-p", "ndjson", "--cacert", &cacert(), "-x", &proxy.url("http"), &https("/")], &[]);
    let ev = events(&run);
    let at = |name: &str| ev.iter().rev().find(|e| e.kind.name() == name).map(|e| e.at_ns).unwrap_or_else(|| panic!("no {name}"));
    assert!(at("proxy-connect-done") <= at("tls-handshake-start"));
    let EventKind::RequestDone { marks, .. } = &ev.last().unwrap().kind else { panic!() };
    let tls_s = (at("tls-handshake-done") - at("request-start")) as f64 / 1e9;
    assert!((marks.appconnect - tls_s).abs() < 1e-6, "appconnect {} s, TLS done at {tls_s} s", marks.appconnect);
}

/// `https_proxy` and `HTTPS_PROXY` both send `https://` URLs through a proxy (lower case winning
/// when both are set), and `no_proxy` wins over `NO_PROXY`: as curl, compared with curl.
#[test]
fn https_urls_take_the_environments_https_proxy_as_curl_does() {
    let proxy = ProxyProcess::tinyproxy(None);
    let p = proxy.url("http");
    let wrong = format!("http://{}", httptrace_tests::nginx::free_addr());
    let url = https("/");
    let direct = server().https_addr.port().to_string();
    let via = proxy.addr.port().to_string();
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("HTTPS_PROXY", &p)], &via),
        (vec![("https_proxy", &p)], &via),
        (vec![("https_proxy", &p), ("HTTPS_PROXY", &wrong)], &via),
        (vec![("http_proxy", &p)], &direct),
        (vec![("https_proxy", &p), ("no_proxy", "127.0.0.1"), ("NO_PROXY", "other.example")], &direct),
        (vec![("https_proxy", &p), ("no_proxy", "other.example"), ("NO_PROXY", "127.0.0.1")], &via),
    ];
    for (env, want) in cases {
        let run = cli(&["-s", "-w", "%{remote_port}", "--cacert", &cacert(), &url], &env);
        assert_eq!((run.stdout.as_str(), run.code), (want, 0), "{env:?}: {}", run.stderr);
        assert_eq!(curl_with_env("%{remote_port}", &["--cacert", &cacert(), &url], &env), want, "curl with {env:?}");
    }
}

/// SOCKS5 credentials from `-U/--proxy-user` (curl's), and a load run through a SOCKS5 proxy:
/// every request answered, the tunnels reused.
#[test]
fn socks5_takes_proxy_user_and_carries_a_load_run() {
    let _lane = crate::lanes::load();
    let locked = ProxyProcess::microsocks(Some(("user", "right")));
    let proxy = format!("socks5h://{}", locked.addr);
    let run = cli(&["-s", "-U", "user:right", "-x", &proxy, "-w", "%{http_code}", &http("/")], &[]);
    assert_eq!((run.stdout.as_str(), run.code), ("200", 0), "{}", run.stderr);
    let run = cli(&["-s", "-U", "user:wrong", "-x", &proxy, &http("/")], &[]);
    assert_eq!(run.code, 97, "{}", run.stderr);
    assert_eq!(curl("", &["-U", "user:wrong", "-x", &proxy, &http("/")]).1, 97);
    let run = cli(
        &["-q", "-n", "100", "-c", "4", "-p", "stats", "--plugin-config", "format=json", "-U", "user:right", "-x", &proxy, &http("/")],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stats: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!((stats["requests"].as_u64(), stats["status"]["200"].as_u64()), (Some(100), Some(100)), "{stats}");
    let opened = stats["connections"]["opened"].as_u64().unwrap_or(u64::MAX);
    assert!((1..=4).contains(&opened), "{opened} tunnels for 4 workers: {stats}");
}
