//! Names the build for `httptrace --version`: the commit (from git in a checkout, from
//! `.cargo_vcs_info.json` in a packaged crate, or `$HTTPTRACE_COMMIT`) and the wasmtime version
//! resolved in `Cargo.lock`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = here.parent().and_then(Path::parent).map(Path::to_path_buf);
    println!("cargo:rerun-if-env-changed=HTTPTRACE_COMMIT");
    let commit = std::env::var("HTTPTRACE_COMMIT")
        .ok()
        .or_else(|| root.as_deref().and_then(git_commit))
        .or_else(|| vcs_info_commit(&here))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HTTPTRACE_COMMIT={commit}");
    let lock = [here.join("Cargo.lock")].into_iter().chain(root.map(|r| r.join("Cargo.lock"))).find(|p| p.is_file());
    let wasmtime = lock.as_deref().and_then(|p| locked_version(p, "wasmtime")).unwrap_or_else(|| "unknown".into());
    if let Some(p) = lock {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    println!("cargo:rustc-env=HTTPTRACE_WASMTIME_VERSION={wasmtime}");
}

/// `git rev-parse --short=12 HEAD` in the checkout, with `-dirty` when files differ.
fn git_commit(root: &Path) -> Option<String> {
    let git = root.join(".git");
    if !git.exists() {
        return None;
    }
    // A commit moves the branch's ref (loose or packed); an edit changes the index only when
    // staged, so `-dirty` is as of the last build that ran this script.
    let mut watch = vec![git.join("HEAD"), git.join("index"), git.join("packed-refs")];
    if let Some(branch) = std::fs::read_to_string(git.join("HEAD")).ok().and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_string()))
    {
        watch.push(git.join(branch));
    }
    for p in watch.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    let run = |args: &[&str]| Command::new("git").arg("-C").arg(root).args(args).output().ok().filter(|o| o.status.success());
    let head = run(&["rev-parse", "--short=12", "HEAD"])?;
    let mut commit = String::from_utf8(head.stdout).ok()?.trim().to_string();
    if run(&["diff", "--quiet", "HEAD", "--"]).is_none() {
        commit.push_str("-dirty");
    }
    Some(commit)
}

/// The `sha1` of a packaged crate's `.cargo_vcs_info.json`, shortened to 12 digits.
fn vcs_info_commit(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(".cargo_vcs_info.json")).ok()?;
    let at = text.find("\"sha1\"")?;
    let rest = &text[at + 6..];
    let start = rest.find('"')? + 1;
    let sha: String = rest[start..].chars().take_while(char::is_ascii_hexdigit).take(12).collect();
    (!sha.is_empty()).then_some(sha)
}

/// The version of package `name` in a `Cargo.lock`.
fn locked_version(lock: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(lock).ok()?;
    let marker = format!("name = \"{name}\"\nversion = \"");
    let at = text.find(&marker)? + marker.len();
    Some(text[at..].split('"').next()?.to_string())
}
