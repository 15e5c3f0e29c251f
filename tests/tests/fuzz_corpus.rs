//! Every file of the checked-in fuzz corpus (`fuzz/corpus/<target>/`: seeds, and any input a
//! fuzzing run found a bug with) through the same checks the fuzz targets run
//! (`httptrace_tests::fuzz`), so CI replays them on stable without cargo-fuzz.

use std::path::Path;

use httptrace_tests::fuzz::TARGETS;

#[test]
fn every_corpus_file_passes_its_target_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (target, check) in TARGETS {
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(files.len() >= 3, "{target}: only {} corpus files", files.len());
        for f in files {
            let data = std::fs::read(&f).expect("read corpus file");
            // Name the file if its check panics.
            let result = std::panic::catch_unwind(|| check(&data));
            assert!(result.is_ok(), "{target}: {} fails its check", f.display());
        }
    }
}

#[test]
fn the_fuzz_targets_and_the_checks_agree() {
    // Every check has a target file calling it, and every target a corpus directory.
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (target, _) in TARGETS {
        let src = std::fs::read_to_string(fuzz.join(format!("fuzz_targets/{target}.rs"))).expect("target source");
        assert!(src.contains(&format!("httptrace_tests::fuzz::{target}(")), "{target}.rs does not call its check");
        let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
        assert!(manifest.contains(&format!("name = \"{target}\"")), "{target} is not a [[bin]] of fuzz/Cargo.toml");
    }
}
