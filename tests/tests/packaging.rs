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
    assert!(
        stale.is_empty() || bless,
        "host/cli/bundled/ is stale for {}: run scripts/update-bundled.sh and commit the result",
        stale.join(", ")
    );
}

#[test]
fn every_copy_of_the_wit_is_the_repositorys() {
    let source = repo().join("wit");
    let mut files: Vec<_> = std::fs::read_dir(&source).unwrap().map(|e| e.unwrap().file_name()).collect();
    files.sort();
    assert!(files.len() >= 2, "wit/ has {files:?}");
    for copy in ["host/plugin-host/wit", "guest-sdk/wit"] {
        let dir = repo().join(copy);
        let mut theirs: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        theirs.sort();
        assert_eq!(theirs, files, "{copy} lists other files than wit/: copy wit/*.wit there");
        for f in &files {
            let a = std::fs::read(source.join(f)).unwrap();
            let b = std::fs::read(dir.join(f)).unwrap();
            assert!(a == b, "{copy}/{} differs from wit/{}: copy wit/*.wit to {copy}", f.to_string_lossy(), f.to_string_lossy());
        }
    }
}
