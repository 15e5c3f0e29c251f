//! What packaging relies on: the committed bundled components are a fresh build of their
//! source, and every copy of the WIT is the repository's `wit/`.

use std::path::{Path, PathBuf};

use httptrace_cli::bundled::BUNDLED;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `host/cli/bundled/NAME.wasm` must equal this build's component of `plugins/NAME` byte for
/// byte (the guests are built with remapped paths, so the bytes do not depend on the
/// machine). `HTTPTRACE_BLESS=1` (scripts/update-bundled.sh) writes the fresh build instead.
#[test]
fn bundled_plugins_equal_a_fresh_build() {
    let names: Vec<&str> = BUNDLED.iter().map(|b| b.name).collect();
    assert_eq!(names, httptrace_test_guests::BUNDLED, "host/cli/src/bundled.rs and plugins/Cargo.toml's `bundled` disagree");
    let bless = std::env::var_os("HTTPTRACE_BLESS").is_some();
    let mut stale = vec![];
    for b in BUNDLED {
        let guest = httptrace_test_guests::GUESTS.iter().find(|g| g.name == b.name).expect("built");
        assert_eq!(b.summary, guest.description, "{}: summary differs from plugins/{}/Cargo.toml's description", b.name, b.name);
        let fresh = httptrace_test_guests::bytes(b.name);
        if fresh != b.wasm {
            if bless {
                let dest = repo().join(format!("host/cli/bundled/{}.wasm", b.name));
                std::fs::write(&dest, &fresh).unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
            }
            stale.push(format!("{} ({} bytes committed, {} built)", b.name, b.wasm.len(), fresh.len()));
        }
    }
    // Equal bytes need the same compiler: say so when that is the difference.
    let recorded = std::fs::read_to_string(repo().join("host/cli/bundled/TOOLCHAIN")).unwrap_or_default();
    let rustc = std::process::Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if bless {
        std::fs::write(repo().join("host/cli/bundled/TOOLCHAIN"), &rustc).unwrap();
    }
    let toolchain = if recorded.trim() == rustc.trim() {
        String::new()
    } else {
        format!(" (they were built with {}, this is {})", recorded.trim(), rustc.trim())
    };
    assert!(
        stale.is_empty() || bless,
        "host/cli/bundled/ is stale for {}{toolchain}: run scripts/update-bundled.sh and commit the result",
        stale.join(", ")
    );
}

#[test]
fn every_copy_of_the_wit_is_the_repositorys() {
    let wit_files = |dir: &Path| {
        let mut files: Vec<_> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().ends_with(".wit")).collect();
        files.sort();
        files
    };
    // The SDK binds the newest version; the plugin host serves every released one.
    let mut copies = vec![("wit".to_string(), "guest-sdk/wit".to_string()), ("wit".to_string(), "host/plugin-host/wit".to_string())];
    for v in &httptrace_wit::RELEASED_VERSIONS[..httptrace_wit::RELEASED_VERSIONS.len() - 1] {
        copies.push((format!("wit/v{v}"), format!("host/plugin-host/wit/v{v}")));
    }
    for (from, copy) in copies {
        let source = repo().join(&from);
        let files = wit_files(&source);
        assert!(files.len() >= 2, "{from}/ has {files:?}");
        let dir = repo().join(&copy);
        let theirs = wit_files(&dir);
        assert_eq!(theirs, files, "{copy} lists other files than {from}/: copy {from}/*.wit there");
        for f in &files {
            let a = std::fs::read(source.join(f)).unwrap();
            let b = std::fs::read(dir.join(f)).unwrap();
            assert!(a == b, "{copy}/{} differs from {from}/{}: copy {from}/*.wit to {copy}", f.to_string_lossy(), f.to_string_lossy());
        }
    }
}

/// A released version of the contract never changes: its files' hashes are the ones it was
/// released with (a new version copies the newest files to `wit/v<old>/` and changes the top
/// ones), and every version but the newest has its folder.
#[test]
fn released_versions_of_the_wit_never_change() {
    use sha2::Digest;
    const RELEASED: [(&str, &str, &str); 12] = [
        ("0.1.0", "compact.wit", "c0aea59a22a9754dc777cfdb9fd1e01f8f1552343355af56567bb07dc55a2957"),
        ("0.1.0", "plugin.wit", "39494ed8cd8635370813fe2e748bf2f0b3921fccece9a9cecb2dfbb8f0f881dc"),
        ("0.2.0", "compact.wit", "f71b31279c8668f87da7dc00b97df49eb3b4d16fd46e6532273543ea1adc0483"),
        ("0.2.0", "plugin.wit", "7a1d4c5aaff8bddaa41a0754ff421315fb97523e7db2f6000ee38dba7228c74e"),
        ("0.3.0", "compact.wit", "c2560885bca8213bb53db9b484696034dccc662e7052061e68a7ecc115de2e12"),
        ("0.3.0", "plugin.wit", "24bf3716f267908c89d85dbfa847df9983fe36dc638f99d2c2fa7be1d20e0674"),
        ("0.4.0", "compact.wit", "7d1b9df246cae91bb5b0a79b2c01979edb26d66c36b4c67c448b1d34d872ae5f"),
        ("0.4.0", "plugin.wit", "ccf600d9af69f8a525b1c156eeffd254ecdc835bb23b8cde25b073e51cf3b8ef"),
        ("0.5.0", "compact.wit", "18d8f9f7e66d8877b6abc58fe268f83ab592d3674c6024d02c9164c066fa20d0"),
        ("0.5.0", "plugin.wit", "37e4e59f900cea4235fa0e836f11a392ae6c337750de1bdbdfeb545e9058c617"),
        ("0.6.0", "compact.wit", "8f6772f070407876c8a32d4e385cb477292ab276789bd55994129e569a503b9f"),
        ("0.6.0", "plugin.wit", "d652c9b73c17f2cc8e94f44313445f76275298d5c84b5ee281fe7fd57ca2e0f3"),
    ];
    for (v, file, want) in RELEASED {
        let path = repo().join(format!("wit/v{v}/{file}"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let got = format!("{:x}", sha2::Sha256::digest(&bytes));
        assert_eq!(got, want, "{} changed: a released version of httptrace:plugin must not", path.display());
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains(&format!("package httptrace:plugin@{v};")), "{} is not version {v}", path.display());
    }
    let versions = httptrace_wit::RELEASED_VERSIONS;
    for v in &versions[..versions.len() - 1] {
        assert!(RELEASED.iter().any(|(r, _, _)| r == v), "released version {v} has no hashes here");
    }
}

/// The contract's Rust table (`httptrace_wit`, from which the host and the SDK build their kind
/// and phase tables) is the WIT's: the same kinds and phases, in the same order, and the same
/// package version. The WIT is parsed by wit-parser inside `componentize names`
/// (tools/componentize, built by `scripts/build-guests.sh`), which keeps a second build of
/// wit-parser out of the test build.
#[test]
fn the_schema_table_is_the_wits() {
    let tool = repo().join("target/tools/release/componentize");
    let done = std::process::Command::new(&tool)
        .arg("--wit")
        .arg(repo().join("wit"))
        .arg("names")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/build-guests.sh builds it)", tool.display()));
    assert!(done.status.success(), "componentize names: {}", String::from_utf8_lossy(&done.stderr));
    let text = String::from_utf8(done.stdout).unwrap();
    let line = |name: &str| -> Vec<&str> {
        let l = text.lines().find(|l| l.split(' ').next() == Some(name)).unwrap_or_else(|| panic!("no {name} in {text}"));
        l.split(' ').skip(1).collect()
    };
    assert_eq!(line("version"), [httptrace_wit::WORLD_VERSION]);
    assert_eq!(httptrace_plugin_host::WORLD_VERSION, httptrace_wit::WORLD_VERSION);
    assert_eq!(line("event-type"), httptrace_wit::KIND_NAMES, "wit/plugin.wit's event-type");
    assert_eq!(line("event-kind"), httptrace_wit::KIND_NAMES, "wit/plugin.wit's event-kind");
    assert_eq!(line("phase"), httptrace_wit::PHASE_NAMES, "wit/plugin.wit's phase");
}
