//! Smoke tests of the `httptrace` binary that need no server.

use std::process::Command;

fn httptrace(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_httptrace")).args(args).env("NO_COLOR", "1").output().expect("run httptrace");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn help_lists_the_plugin_flags_and_subcommands() {
    let (code, out, _) = httptrace(&["--help"]);
    assert_eq!(code, 0);
    for flag in
        ["--plugin ", "--plugin-config", "--output", "--plugin-timeout", "--plugin-memory", "--on-plugin-error", "plugins", "plugin "]
    {
        assert!(out.contains(flag), "{flag} missing from --help:\n{out}");
    }
}

#[test]
fn bad_plugin_flags_are_usage_errors() {
    for args in [
        &["--plugin-timeout", "soon", "http://x/"][..],
        &["--plugin-memory", "lots", "http://x/"],
        &["--on-plugin-error", "ignore", "http://x/"],
    ] {
        let (code, _, err) = httptrace(args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}
