//! Builds every guest plugin of the repository for the tests.
//!
//! The `plugins/` cargo workspace (shipped plugins under `plugins/`, test plugins under
//! `tests/plugins/`) is built for `wasm32-wasip2` into `target/wasm-guests` by a nested
//! `cargo build --release`. Every
//! component is then copied to `$OUT_DIR/guests/NAME.wasm` (`GUEST_DIR`), and
//! `$OUT_DIR/guests.rs` lists them (`GUESTS`, with each crate's `description`) and the ones
//! named in `[workspace.metadata.httptrace] bundled` of `plugins/Cargo.toml` (`BUNDLED`). The
//! binary embeds its committed copies of those (`host/cli/bundled/`); a test checks they are
//! byte for byte this build's.
//!
//! The components must not depend on where the checkout is: the nested build runs on a copy
//! of the sources staged under `target/wasm-guests/src` (`plugins/`, `tests/plugins/`,
//! `guest-sdk/`, `wit/`, in the repository's layout) with one workspace manifest at its root,
//! so cargo hashes every crate's path relative to that root, and it remaps the staged root's,
//! cargo home's and target directory's paths (`--remap-path-prefix`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TARGET: &str = "wasm32-wasip2";

/// Variables the outer build sets (or a user sets for it) that must not reach the nested one:
/// flags meant for the host target, wrappers such as clippy's, the outer target directory.
const LEAKY_VARS: &[&str] = &[
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MAKEFLAGS",
    "CARGO_CRATE_NAME",
    "RUSTC_LINKER",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "NUM_JOBS",
    "OPT_LEVEL",
    "PROFILE",
    "DEBUG",
];

/// Prefixes of the same: profile overrides, per-target settings, the package's own metadata.
const LEAKY_PREFIXES: &[&str] =
    &["CARGO_PROFILE_", "CARGO_TARGET_", "CARGO_CFG_", "CARGO_FEATURE_", "CARGO_PKG_", "CARGO_MANIFEST_", "__CARGO"];

/// A crate of the plugins workspace.
struct Member {
    dir: PathBuf,
    name: String,
    description: String,
}

fn main() {
    let here = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = here.parent().and_then(Path::parent).expect("tests/guests is two levels down").to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let workspace = root.join("plugins/Cargo.toml");
    let workspace_text = read(&workspace);
    let members = members(&root.join("plugins"), &workspace_text);
    let bundled = toml_string_array(&workspace_text, "bundled")
        .unwrap_or_else(|| fail(&format!("{}: no `bundled = [...]` list", workspace.display())));

    watch(&root, &members);
    if !target_installed() {
        fail(&format!("the {TARGET} target is not installed: run `rustup target add {TARGET}`"));
    }
    let target_dir = root.join("target/wasm-guests");
    let staged = target_dir.join("src");
    let staged_manifest = stage(&root, &staged, &members, &workspace_text);
    build(&staged, &staged_manifest, &target_dir);
    let built = target_dir.join(TARGET).join("release");
    let guest_dir = out_dir.join("guests");
    fs::create_dir_all(&guest_dir).expect("create $OUT_DIR/guests");
    for m in &members {
        let wasm = built.join(format!("{}.wasm", m.name.replace('-', "_")));
        let bytes = fs::read(&wasm).unwrap_or_else(|e| fail(&format!("{}: {e}", wasm.display())));
        write_if_changed(&guest_dir.join(format!("{}.wasm", m.name)), &bytes);
    }
    let code = generate(&members, &bundled, &guest_dir);
    write_if_changed(&out_dir.join("guests.rs"), code.as_bytes());
}

/// Copies the guests' sources to `staged` in the repository's layout (only files that changed
/// are written, so cargo's freshness checks still work) with a workspace manifest at its root:
/// `plugins/Cargo.toml`'s, its members and paths rewritten from `plugins/` to the root.
/// Returns the manifest's path.
fn stage(root: &Path, staged: &Path, members: &[Member], workspace_text: &str) -> PathBuf {
    let rel = |dir: &Path| {
        let dir = normalize(dir);
        dir.strip_prefix(root).unwrap_or_else(|_| fail(&format!("{} is outside the checkout", dir.display()))).to_path_buf()
    };
    let mut dirs: Vec<PathBuf> = members.iter().map(|m| rel(&m.dir)).collect();
    dirs.push(PathBuf::from("guest-sdk"));
    dirs.push(PathBuf::from("wit"));
    for d in &dirs {
        copy_tree(&root.join(d), &staged.join(d));
        // `workspace = "../../../plugins"` (tests/plugins/*) points at plugins/; the staged root
        // is their workspace now, found by looking up.
        let manifest = staged.join(d).join("Cargo.toml");
        let text = read(&manifest);
        if text.lines().any(|l| l.trim_start().starts_with("workspace = \"")) {
            let kept: String = text.lines().filter(|l| !l.trim_start().starts_with("workspace = \"")).map(|l| format!("{l}\n")).collect();
            write_if_changed(&manifest, kept.as_bytes());
        }
    }
    let list = members.iter().map(|m| format!("{:?}", utf8(&rel(&m.dir)).replace('\\', "/"))).collect::<Vec<_>>().join(", ");
    let mut manifest = String::from("# Generated by tests/guests/build.rs from plugins/Cargo.toml: do not edit.\n");
    let mut in_members = false;
    for line in workspace_text.lines() {
        if line.trim_start().starts_with("members") {
            in_members = !line.contains(']');
            manifest += &format!("members = [{list}]\n");
            continue;
        }
        if in_members {
            in_members = !line.contains(']');
            continue;
        }
        // Paths in plugins/Cargo.toml are relative to plugins/: `../guest-sdk` is `guest-sdk` here.
        manifest += &line.replace("path = \"../", "path = \"");
        manifest.push('\n');
        // guest-sdk and wit inherit their package fields from the repository's workspace; here
        // this one is theirs, so it needs what it lacks of those.
        if line.trim() == "[workspace.package]" {
            let host = read(&root.join("Cargo.toml"));
            for key in ["rust-version"] {
                if let Some(l) = host.lines().find(|l| l.trim_start().starts_with(key) && l.contains('=')) {
                    if !workspace_text.lines().any(|w| w.trim_start().starts_with(key)) {
                        manifest += l;
                        manifest.push('\n');
                    }
                }
            }
        }
    }
    let manifest_path = staged.join("Cargo.toml");
    write_if_changed(&manifest_path, manifest.as_bytes());
    write_if_changed(&staged.join("Cargo.lock"), &fs::read(root.join("plugins/Cargo.lock")).unwrap_or_default());
    manifest_path
}

/// `path` with its `..` components resolved lexically (`plugins/../tests` is `tests`).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Copies `from` into `to` recursively, skipping `target` directories and hidden files.
fn copy_tree(from: &Path, to: &Path) {
    let entries = fs::read_dir(from).unwrap_or_else(|e| fail(&format!("{}: {e}", from.display())));
    fs::create_dir_all(to).unwrap_or_else(|e| fail(&format!("{}: {e}", to.display())));
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name_text = name.to_string_lossy();
        if name_text.starts_with('.') || name_text == "target" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            write_if_changed(&to.join(&name), &fs::read(&path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display()))));
        }
    }
}

/// Reruns the build when a guest's sources, manifests or the WIT change (never for targets).
fn watch(root: &Path, members: &[Member]) {
    let mut paths = vec![
        root.join("wit"),
        root.join("guest-sdk/Cargo.toml"),
        root.join("guest-sdk/src"),
        root.join("guest-sdk/wit"),
        root.join("plugins/Cargo.toml"),
        root.join("plugins/Cargo.lock"),
        // New test plugins appear here (the workspace lists them by glob); no target inside.
        root.join("tests/plugins"),
    ];
    for m in members {
        paths.extend(["Cargo.toml", "src", "build.rs"].iter().map(|f| m.dir.join(f)).filter(|p| p.exists()));
    }
    for p in paths {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}

/// Whether the standard library for [`TARGET`] is installed for the compiler in use.
fn target_installed() -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).args(["--print", "target-libdir", "--target", TARGET]).output();
    match out {
        Ok(out) if out.status.success() => {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
        }
        _ => false,
    }
}

/// The nested `cargo build`, with a clean environment; its output goes to our stderr (shown
/// by cargo when the build fails).
fn build(root: &Path, workspace: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/nonexistent"));
    // rustc applies the last matching prefix: the checkout after its target directory, so
    // paths under target/ read /httptrace/target/... (still independent of the machine).
    let remap = [(target_dir, "/target"), (root, "/httptrace"), (cargo_home.as_path(), "/cargo")]
        .iter()
        .map(|(from, to)| format!("--remap-path-prefix={}={to}", utf8(from)))
        .collect::<Vec<_>>()
        .join("\x1f");
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(workspace)
        .arg("--target-dir")
        .arg(target_dir)
        .stdout(Stdio::from(std::io::stderr()));
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if LEAKY_VARS.contains(&key.as_ref()) || LEAKY_PREFIXES.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", remap);
    eprintln!("running: {:?} {:?}", cmd.get_program(), cmd.get_args().collect::<Vec<_>>());
    let status = cmd.status().unwrap_or_else(|e| fail(&format!("could not run cargo: {e}")));
    if !status.success() {
        // A failing exit status makes cargo show our stderr: the nested build's errors.
        println!("cargo::error=building the guest plugins failed ({status}); see the nested cargo output below");
        std::process::exit(1);
    }
}

/// The generated `guests.rs`.
fn generate(members: &[Member], bundled: &[String], guest_dir: &Path) -> String {
    for name in bundled {
        if !members.iter().any(|m| &m.name == name) {
            fail(&format!("plugins/Cargo.toml: bundled plugin `{name}` is not a member of the workspace"));
        }
    }
    let mut code = String::new();
    code += "/// The directory holding every guest component built from this repository (shipped and\n\
             /// test plugins) as `NAME.wasm`, e.g. `trap-on-events.wasm`.\n";
    code += &format!("pub const GUEST_DIR: &str = {:?};\n\n", utf8(guest_dir));
    code += "/// Every guest component in [`GUEST_DIR`]: its name and its crate's `description`.\n";
    code += "pub const GUESTS: &[Guest] = &[\n";
    for m in members {
        code += &format!("    Guest {{ name: {:?}, description: {:?} }},\n", m.name, m.description);
    }
    code += "];\n\n";
    code += "/// The plugins the binary embeds, in `plugins/Cargo.toml`'s `bundled` order.\n";
    code += "pub const BUNDLED: &[&str] = &[";
    code += &bundled.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
    code += "];\n";
    code
}

/// The members of the plugins workspace (`members = [...]`; `dir/*` globs expanded), in order.
fn members(plugins: &Path, workspace_text: &str) -> Vec<Member> {
    let globs = toml_string_array(workspace_text, "members").unwrap_or_else(|| fail("plugins/Cargo.toml: no `members = [...]` list"));
    let mut dirs = Vec::new();
    for g in globs {
        match g.strip_suffix("/*") {
            Some(parent) => {
                let mut found: Vec<PathBuf> =
                    fs::read_dir(plugins.join(parent)).map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
                found.retain(|d| d.join("Cargo.toml").is_file());
                found.sort();
                dirs.extend(found);
            }
            None => dirs.push(plugins.join(g)),
        }
    }
    dirs.into_iter()
        .map(|dir| {
            let manifest = dir.join("Cargo.toml");
            let text = read(&manifest);
            let field = |key| {
                toml_package_string(&text, key)
                    .unwrap_or_else(|| fail(&format!("{}: [package] has no `{key} = \"...\"`", manifest.display())))
            };
            Member { name: field("name"), description: field("description"), dir }
        })
        .collect()
}

/// The strings of `key = ["a", "b", ...]` (possibly over several lines) at the start of a line.
fn toml_string_array(text: &str, key: &str) -> Option<Vec<String>> {
    let start = text.lines().position(|l| l.trim_start().strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('=')))?;
    let mut items = Vec::new();
    for line in text.lines().skip(start) {
        let line = line.split_once(" #").map_or(line, |(code, _)| code);
        let body = line.split_once('[').map_or(line, |(_, b)| b);
        for (i, part) in body.split('"').enumerate() {
            if i % 2 == 1 {
                items.push(part.to_string());
            }
        }
        if body.contains(']') {
            return Some(items);
        }
    }
    None
}

/// The string value of `key = "..."` in the `[package]` table.
fn toml_package_string(text: &str, key: &str) -> Option<String> {
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            let Some(rest) = line.strip_prefix(key).map(str::trim_start) else { continue };
            let Some(value) = rest.strip_prefix('=').map(str::trim) else { continue };
            let inner = value.strip_prefix('"')?.rsplit_once('"')?.0;
            return Some(inner.replace("\\\"", "\"").replace("\\\\", "\\"));
        }
    }
    None
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())))
}

fn utf8(path: &Path) -> &str {
    path.to_str().unwrap_or_else(|| fail(&format!("{}: not UTF-8", path.display())))
}

/// Writes only when the content differs, so unchanged files keep their timestamps.
fn write_if_changed(path: &Path, bytes: &[u8]) {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return;
    }
    fs::write(path, bytes).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
}

/// Stops the build with one line of explanation (cargo prints it as `error: httptrace@…: …`).
fn fail(message: &str) -> ! {
    println!("cargo::error={message}");
    std::process::exit(0);
}
