//! Every guest plugin of the repository (`plugins/*` and `tests/plugins/*`), built for
//! `wasm32-wasip2` by this crate's build script, as paths for the tests and benches.
//!
//! wasmtime's `test-programs-artifacts` pattern: the guests build only when something that
//! tests them is built, never for `cargo check` of the product crates.

use std::path::PathBuf;

/// A guest component built from this repository.
#[derive(Debug, Clone, Copy)]
pub struct Guest {
    /// Its crate's name, e.g. `trap-on-events`.
    pub name: &'static str,
    /// Its crate's `description`.
    pub description: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// The path of guest `name`'s component; panics if no such guest was built.
pub fn path(name: &str) -> PathBuf {
    assert!(GUESTS.iter().any(|g| g.name == name), "no guest plugin `{name}` (tests/plugins/{name} or plugins/{name})");
    PathBuf::from(GUEST_DIR).join(format!("{name}.wasm"))
}

/// Guest `name`'s component bytes.
pub fn bytes(name: &str) -> Vec<u8> {
    let p = path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_guest_is_in_the_guest_dir() {
        for g in GUESTS {
            assert!(path(g.name).is_file(), "{} missing", g.name);
            assert_eq!(&bytes(g.name)[..8], b"\0asm\x0d\0\x01\0", "{} is not a component", g.name);
        }
        for name in BUNDLED {
            assert!(GUESTS.iter().any(|g| g.name == *name), "{name} not built");
        }
        for name in [
            "trap-on-events",
            "trap-in-init",
            "trap-in-finish",
            "spin",
            "alloc",
            "kinds",
            "read-file",
            "read-env",
            "open-socket",
            "recurse",
            "emit-flood",
            "soak-check",
            "forge-lines",
            "sleep",
            "keep",
            "keep-compact",
        ] {
            assert!(GUESTS.iter().any(|g| g.name == name), "{name} not built");
        }
    }
}
