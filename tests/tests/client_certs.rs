//! Client certificates (`--cert`, `--key`, `--cert-type`, `--key-type`) against a real nginx that requires
//! one (`ssl_verify_client on`), side by side with curl: the same status with and without the
//! certificate, in PEM (key apart or in the same file) and DER; bad files exit 58 with one line
//! naming the file. A server that refuses the handshake without one (OpenSSL's `s_server`) is
//! a typed `client-certificate-required` failure with curl's exit code, under TLS 1.2 and 1.3.

use std::path::Path;
use std::process::Command;

use httptrace_tests::nginx::{free_addr, openssl_cert, Nginx, Site};

use crate::plugins_support::cli;

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("running openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn curl_status(args: &[&str]) -> (String, i32) {
    let out = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}"]).args(args).output().expect("run curl");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
}

#[test]
fn a_server_that_requires_a_client_certificate_gets_it_in_every_form() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_cert(d, "server", &[]);
    openssl_cert(d, "client", &[]);
    openssl_cert(d, "other", &[]);
    // The same certificate and key in the other forms curl reads.
    let both =
        format!("{}{}", std::fs::read_to_string(d.join("client.pem")).unwrap(), std::fs::read_to_string(d.join("client.key")).unwrap());
    std::fs::write(d.join("both.pem"), both).unwrap();
    openssl(&["x509", "-in", "client.pem", "-outform", "DER", "-out", "client.der"], d);
    openssl(&["pkey", "-in", "client.key", "-outform", "DER", "-out", "client-key.der"], d);
    openssl(&["pkey", "-in", "client.key", "-aes256", "-passout", "pass:pw", "-out", "encrypted.key"], d);
    // The same, in one file with the certificate; and in OpenSSL's traditional encrypted form.
    let both_encrypted =
        format!("{}{}", std::fs::read_to_string(d.join("client.pem")).unwrap(), std::fs::read_to_string(d.join("encrypted.key")).unwrap());
    std::fs::write(d.join("both-encrypted.pem"), both_encrypted).unwrap();
    openssl(&["rsa", "-in", "client.key", "-aes256", "-traditional", "-passout", "pass:pw", "-out", "legacy.key"], d);
    let addr = free_addr();
    let site = Site { addr, tls: Some("TLSv1.2 TLSv1.3"), cert: "server.pem", key: "server.key", client_ca: Some("client.pem") };
    let nginx = Nginx::start(dir, &[site]);
    let p = |name: &str| nginx.dir.path().join(name).display().to_string();
    let url = format!("https://{addr}/");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![], "400"),
        (vec!["--cert".into(), p("client.pem"), "--key".into(), p("client.key")], "200"),
        (vec!["--cert".into(), p("client.pem"), "--key".into(), p("client.key"), "--cert-type".into(), "PEM".into()], "200"),
        (vec!["-E".into(), p("both.pem")], "200"),
        (
            vec![
                "--cert".into(),
                p("client.der"),
                "--key".into(),
                p("client-key.der"),
                "--cert-type".into(),
                "DER".into(),
                "--key-type".into(),
                "DER".into(),
            ],
            "200",
        ),
        // A certificate the server does not trust: it is sent, and refused (400).
        (vec!["--cert".into(), p("other.pem"), "--key".into(), p("other.key")], "400"),
        // Encrypted keys (PKCS#8), the password given either way curl takes it.
        (vec!["--cert".into(), p("client.pem"), "--key".into(), p("encrypted.key"), "--pass".into(), "pw".into()], "200"),
        (vec!["-E".into(), format!("{}:pw", p("both-encrypted.pem"))], "200"),
    ];
    for (args, want) in &cases {
        let mut ours: Vec<&str> = vec!["-s", "-k", "-w", "%{http_code}"];
        ours.extend(args.iter().map(String::as_str));
        ours.push(&url);
        let run = cli(&ours, &[]);
        assert_eq!((run.stdout.as_str(), run.code), (*want, 0), "{args:?}: {}", run.stderr);
        // curl agrees, over TLS 1.2 and 1.3 (the certificate is asked for differently).
        for tls in ["--tlsv1.2", "--tlsv1.3"] {
            let mut theirs: Vec<&str> = vec!["-k", tls, "--tls-max", &tls[6..]];
            theirs.extend(args.iter().map(String::as_str));
            theirs.push(&url);
            assert_eq!(curl_status(&theirs), (want.to_string(), 0), "curl {theirs:?}");
        }
    }
    // The handshake says that a certificate was asked for, and whether one was sent.
    let asked = |args: &[&str]| {
        let mut all = vec!["-p", "ndjson", "-k"];
        all.extend(args);
        all.push(&url);
        let run = cli(&all, &[]);
        let ev = crate::plugins_support::parse_ndjson(&run.stdout);
        ev.iter()
            .find_map(|e| match &e.kind {
                httptrace::EventKind::TlsHandshakeDone { client_certificate_requested: r, client_certificate_sent: s, .. } => {
                    Some((*r, *s))
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no tls-handshake-done: {}", run.stderr))
    };
    assert_eq!(asked(&[]), (true, false));
    assert_eq!(asked(&["--cert", &p("client.pem"), "--key", &p("client.key")]), (true, true));
    // Files that cannot be used: 58, one line naming the file and the reason.
    let bad: Vec<(Vec<String>, &str)> = vec![
        (vec!["--cert".into(), p("missing.pem")], "missing.pem"),
        (vec!["--cert".into(), p("client.pem")], "no private key"),
        (vec!["--cert".into(), p("client.pem"), "--key".into(), p("other.key")], "does not match"),
        (vec!["--cert".into(), p("client.pem"), "--key".into(), p("encrypted.key")], "give its password"),
        (vec!["--cert".into(), p("client.pem"), "--key".into(), p("encrypted.key"), "--pass".into(), "wrong".into()], "cannot decrypt"),
        (vec!["--cert".into(), format!("{}:wrong", p("both-encrypted.pem"))], "cannot decrypt"),
        (vec!["--cert".into(), p("client.pem"), "--key".into(), p("legacy.key"), "--pass".into(), "pw".into()], "traditional form"),
        (vec!["--cert".into(), p("client.pem"), "--key".into(), p("client.key"), "--cert-type".into(), "P12".into()], "P12"),
    ];
    for (args, needle) in bad {
        let mut ours: Vec<&str> = vec!["-k"];
        ours.extend(args.iter().map(String::as_str));
        ours.push(&url);
        let run = cli(&ours, &[]);
        assert_eq!(run.code, 58, "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn a_server_that_refuses_without_a_client_certificate_is_a_typed_failure_as_curl_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    openssl_cert(&d, "server", &[]);
    openssl_cert(&d, "client", &[]);
    // TLS 1.2 refuses inside the handshake (curl: 35); TLS 1.3 only after the client's side of
    // it is done, on the first read (curl: 56).
    for (version, curl_exit, phase) in [("-tls1_2", 35, "tls"), ("-tls1_3", 56, "wait")] {
        let addr = free_addr();
        let mut cmd = Command::new("openssl");
        cmd.args(["s_server", "-accept", &addr.to_string(), "-cert", "server.pem", "-key", "server.key"])
            .args(["-CAfile", "client.pem", "-Verify", "1", "-verify_return_error", version, "-www"])
            .current_dir(&d);
        let _server = httptrace_tests::proxies::listening(cmd, addr, tempfile::tempdir().unwrap());
        let url = format!("https://{addr}/");
        let (_, theirs) = curl_status(&["-k", &url]);
        assert_eq!(theirs, curl_exit, "curl against s_server {version}");
        let run = cli(&["-k", "-p", "ndjson", &url], &[]);
        assert_eq!(run.code, curl_exit, "{version}: {}", run.stderr);
        let events = crate::plugins_support::parse_ndjson(&run.stdout);
        let error = events
            .iter()
            .find_map(|e| match &e.kind {
                httptrace::EventKind::RequestDone { error: Some(err), .. } => Some(err.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{version}: no failed request-done: {}", run.stdout));
        assert_eq!((error.phase.as_str(), error.kind.as_str()), (phase, "client-certificate-required"), "{version}: {error:?}");
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains("client certificate") && run.stderr.contains("--cert"), "{}", run.stderr);
        // With the certificate, both get s_server's status page.
        let cert =
            ["--cert".to_string(), d.join("client.pem").display().to_string(), "--key".into(), d.join("client.key").display().to_string()];
        let mut args: Vec<&str> = vec!["-k"];
        args.extend(cert.iter().map(String::as_str));
        args.push(&url);
        assert_eq!(curl_status(&args), ("200".to_string(), 0), "curl {version} with --cert");
        let mut ours = vec!["-s", "-w", "%{http_code}"];
        ours.extend(args.iter().copied());
        let run = cli(&ours, &[]);
        assert_eq!((run.stdout.as_str(), run.code), ("200", 0), "{version} with --cert: {}", run.stderr);
    }
}
