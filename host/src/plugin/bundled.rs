//! Plugins built from this repository and embedded in the binary.
//!
//! `host/build.rs` builds the `plugins/` workspace (shipped plugins in `plugins/`, test plugins
//! in `tests/plugins/`) for `wasm32-wasip2`, copies every component to [`GUEST_DIR`] and embeds
//! the ones listed under `[workspace.metadata.httptrace] bundled` in `plugins/Cargo.toml` as
//! [`BUNDLED`], each with its crate's `description` as summary.

use std::fmt;

/// A plugin shipped inside the binary.
pub struct BundledPlugin {
    /// Name used with `--plugin NAME`.
    pub name: &'static str,
    /// One-line description (the plugin crate's `description`).
    pub summary: &'static str,
    /// The component's bytes.
    pub wasm: &'static [u8],
}

impl fmt::Debug for BundledPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundledPlugin")
            .field("name", &self.name)
            .field("summary", &self.summary)
            .field("wasm", &format_args!("<{} bytes>", self.wasm.len()))
            .finish()
    }
}

// Defines `BUNDLED: &[BundledPlugin]`, `GUEST_DIR: &str` and `GUESTS: &[&str]`.
include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// The bundled plugin called `name`.
pub fn find(name: &str) -> Option<&'static BundledPlugin> {
    BUNDLED.iter().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_plugins_are_components_with_unique_names() {
        assert!(find("timeline").is_some() && find("ndjson").is_some() && find("filter").is_some());
        assert!(find("trap-on-events").is_none(), "test plugins are not embedded");
        for (i, b) in BUNDLED.iter().enumerate() {
            assert!(BUNDLED[..i].iter().all(|o| o.name != b.name), "{} twice", b.name);
            assert!(!b.summary.is_empty(), "{} has no summary", b.name);
            // Component binary: magic, then version 0x0d and layer 1.
            assert_eq!(&b.wasm[..8], b"\0asm\x0d\0\x01\0", "{} is not a component", b.name);
            assert!(GUESTS.contains(&b.name));
        }
    }

    #[test]
    fn every_guest_is_in_the_guest_dir() {
        for name in GUESTS {
            let path = std::path::Path::new(GUEST_DIR).join(format!("{name}.wasm"));
            assert!(path.is_file(), "{} missing", path.display());
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
            assert!(GUESTS.contains(&name), "{name} not built");
        }
    }
}
