//! Loading a plugin and checking it before anything runs: the bytes are WebAssembly, a
//! component (not a core module), of this package version, with every export of the world, and
//! every import satisfiable by this host.

use std::path::PathBuf;
use std::time::Instant;

use wasmtime::component::types::ComponentItem;
use wasmtime::Engine;

use super::cache::{self, LoadOrigin};
use super::error::{ErrorKind, PluginError, PluginId};
use super::host::{bindings, compact_bindings, v0_1_0, v0_2_0, v0_3_0, v0_4_0, v0_5_0, v0_6_0, HostState};
use super::runtime::Runtime;
use super::version::Version;
use super::{Verbosity, EXPORTS};

impl Runtime {
    /// Reads, checks, compiles (through the cache) and links one plugin. Nothing of the plugin
    /// runs yet.
    pub fn load(&self, source: &PluginSource) -> Result<LoadedPlugin, PluginError> {
        load(self, source)
    }
}

/// Where a plugin comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// A plugin the embedding program ships ([`super::RuntimeOptions::bundled`]), by name.
    Bundled(String),
    /// A component file.
    File(PathBuf),
}

impl PluginSource {
    /// `--plugin` syntax: anything with a `/` (or `\`) or ending in `.wasm` is a file, anything
    /// else the name of a bundled plugin.
    pub fn parse(arg: &str) -> PluginSource {
        if arg.contains('/') || arg.contains(std::path::MAIN_SEPARATOR) || arg.ends_with(".wasm") {
            PluginSource::File(PathBuf::from(arg))
        } else {
            PluginSource::Bundled(arg.to_string())
        }
    }

    /// The plugin's id (name, and path for files).
    pub fn id(&self) -> PluginId {
        match self {
            PluginSource::Bundled(n) => PluginId::bundled(n),
            PluginSource::File(p) => PluginId::file(p.clone()),
        }
    }
}

/// A plugin compiled, checked and linked, ready to instantiate.
pub struct LoadedPlugin {
    pub(crate) id: PluginId,
    /// Linked, with its exports type-checked against `version`'s world.
    pub(crate) pre: wasmtime::component::InstancePre<HostState>,
    /// The contract version it was built for.
    pub(crate) version: Version,
    origin: LoadOrigin,
}

impl LoadedPlugin {
    /// Which plugin.
    pub fn id(&self) -> &PluginId {
        &self.id
    }

    /// Whether it came from the cache or was compiled.
    pub fn origin(&self) -> &LoadOrigin {
        &self.origin
    }

    /// The version of `httptrace:plugin` it was built for (`0.1.0`, ...): events reach it in
    /// that version's form.
    pub fn world_version(&self) -> &'static str {
        self.version.as_str()
    }
}

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Not WebAssembly at all.
    NotWasm,
    /// A core module.
    CoreModule,
    /// A component.
    Component,
}

/// Looks at the preamble: `\0asm`, then a version and a layer (0 core module, 1 component).
pub fn flavor(bytes: &[u8]) -> Flavor {
    match bytes {
        [0, b'a', b's', b'm', _, _, 0, 0, ..] => Flavor::CoreModule,
        [0, b'a', b's', b'm', _, _, 1, 0, ..] => Flavor::Component,
        _ => Flavor::NotWasm,
    }
}

/// The largest plugin file read (256 MiB; components built from JavaScript or Python are
/// 12–18 MiB). Larger files are refused before they are read.
pub const MAX_PLUGIN_FILE: u64 = 256 << 20;

/// Reads a plugin's bytes: a bundled one's, or a file's. Of a file that does not start with a
/// component preamble only the preamble is read (enough to say what it is); a component is
/// read up to [`MAX_PLUGIN_FILE`], so neither a huge file nor an endless one (`/dev/zero`, a
/// FIFO) is ever buffered.
pub(crate) fn read(rt: &Runtime, source: &PluginSource) -> Result<std::borrow::Cow<'static, [u8]>, PluginError> {
    match source {
        PluginSource::Bundled(name) => rt
            .bundled()
            .iter()
            .find(|b| b.name == name)
            .map(|b| std::borrow::Cow::Borrowed(b.wasm))
            .ok_or_else(|| PluginError::new(source.id(), ErrorKind::UnknownBundled)),
        PluginSource::File(p) => {
            read_file(p, MAX_PLUGIN_FILE).map(std::borrow::Cow::Owned).map_err(|kind| PluginError::new(source.id(), kind))
        }
    }
}

fn read_file(path: &std::path::Path, max: u64) -> Result<Vec<u8>, ErrorKind> {
    use std::io::Read;
    let read_err = |e: std::io::Error| ErrorKind::Read { message: e.to_string() };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if meta.is_dir() {
        return Err(ErrorKind::Read { message: "is a directory".into() });
    }
    if meta.len() > max {
        return Err(ErrorKind::TooLarge { size: Some(meta.len()), limit: max });
    }
    let mut reader = file.take(max + 1);
    let mut bytes = Vec::with_capacity(meta.len().min(max) as usize);
    (&mut reader).take(8).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.is_empty() {
        return Err(ErrorKind::Empty);
    }
    if flavor(&bytes) != Flavor::Component {
        return Ok(bytes);
    }
    reader.read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > max {
        return Err(ErrorKind::TooLarge { size: None, limit: max });
    }
    Ok(bytes)
}

/// What a slow first compile says on stderr (not below `Warn`).
pub(crate) fn compile_notice(rt: &Runtime, id: &PluginId, size: usize) -> Option<String> {
    (rt.verbosity() >= Verbosity::Warn).then(|| {
        let cached = if rt.cache().is_some() { "; cached for next time" } else { "" };
        format!(
            "httptrace: plugin {}: compiling {} of WebAssembly for this machine (first use{cached})...",
            httptrace::escape_control(&id.name),
            super::fmt_size_approx(size as u64)
        )
    })
}

/// Reads, checks, compiles (or loads from the cache) and links one plugin.
pub(crate) fn load(rt: &Runtime, source: &PluginSource) -> Result<LoadedPlugin, PluginError> {
    let id = source.id();
    let err = |kind| PluginError::new(id.clone(), kind);
    let bytes = read(rt, source)?;
    match flavor(&bytes) {
        Flavor::NotWasm => return Err(err(ErrorKind::NotWasm)),
        Flavor::CoreModule => return Err(err(ErrorKind::CoreModule)),
        Flavor::Component => {}
    }
    let started = Instant::now();
    let (component, origin) = cache::load(rt.engine(), rt.cache(), rt.stats(), &bytes, compile_notice(rt, &id, bytes.len()))
        .map_err(|e| err(ErrorKind::Compile { message: first_error_line(&e) }))?;
    if rt.verbosity() >= Verbosity::Debug {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match &origin {
            LoadOrigin::Cached(p) => eprintln!("httptrace: plugin {}: loaded precompiled {} ({ms:.1} ms)", id.name, p.display()),
            LoadOrigin::CompiledAndCached(p) => {
                eprintln!("httptrace: plugin {}: compiled and cached {} ({ms:.1} ms)", id.name, p.display())
            }
            LoadOrigin::Compiled => eprintln!("httptrace: plugin {}: compiled, not cached ({ms:.1} ms)", id.name),
        }
    }
    let version = check_type(rt.engine(), &component).map_err(err)?;
    let incompatible = |e: wasmtime::Error| err(ErrorKind::Incompatible { message: first_error_line(&e) });
    let pre = rt.linker().instantiate_pre(&component).map_err(incompatible)?;
    // The exports type-checked against the world of the version it names (the plain world's,
    // and the compact one's `on-batch` if it has one), now rather than at the first call.
    let compact = component.get_export_index(None, "on-batch").is_some();
    match version {
        Version::V0_7_0 => {
            bindings::PluginPre::new(pre.clone()).map_err(incompatible)?;
            if compact {
                compact_bindings::CompactPluginPre::new(pre.clone()).map_err(incompatible)?;
            }
        }
        Version::V0_6_0 => {
            v0_6_0::bindings::PluginPre::new(pre.clone()).map_err(incompatible)?;
            if compact {
                v0_6_0::compact_bindings::CompactPluginPre::new(pre.clone()).map_err(incompatible)?;
            }
        }
        Version::V0_5_0 => {
            v0_5_0::bindings::PluginPre::new(pre.clone()).map_err(incompatible)?;
            if compact {
                v0_5_0::compact_bindings::CompactPluginPre::new(pre.clone()).map_err(incompatible)?;
            }
        }
        Version::V0_4_0 => {
            v0_4_0::bindings::PluginPre::new(pre.clone()).map_err(incompatible)?;
            if compact {
                v0_4_0::compact_bindings::CompactPluginPre::new(pre.clone()).map_err(incompatible)?;
            }
        }
        Version::V0_3_0 => {
            v0_3_0::bindings::PluginPre::new(pre.clone()).map_err(incompatible)?;
            if compact {
                v0_3_0::compact_bindings::CompactPluginPre::new(pre.clone()).map_err(incompatible)?;
            }
        }
        Version::V0_2_0 => {
            v0_2_0::bindings::PluginPre::new(pre.clone()).map_err(incompatible)?;
            if compact {
                v0_2_0::compact_bindings::CompactPluginPre::new(pre.clone()).map_err(incompatible)?;
            }
        }
        Version::V0_1_0 => {
            v0_1_0::bindings::PluginPre::new(pre.clone()).map_err(incompatible)?;
            if compact {
                v0_1_0::compact_bindings::CompactPluginPre::new(pre.clone()).map_err(incompatible)?;
            }
        }
    }
    Ok(LoadedPlugin { id, pre, version, origin })
}

/// The httptrace:plugin versions named in a component's imports and exports.
pub(crate) fn world_versions(engine: &Engine, component: &wasmtime::component::Component) -> Vec<String> {
    let ty = component.component_type();
    let mut versions: Vec<String> = ty
        .imports(engine)
        .map(|(n, _)| n)
        .chain(ty.exports(engine).map(|(n, _)| n))
        .filter_map(|n| n.strip_prefix("httptrace:plugin/"))
        .map(|rest| rest.split_once('@').map_or("(unversioned)", |(_, v)| v).to_string())
        .collect();
    versions.sort();
    versions.dedup();
    versions
}

/// Version first (a component of another version may well lack our exports), then exports: a
/// component naming no version of the package and lacking every export is of another world.
/// The version it was built for: the one its imports name (all must name the same), the
/// newest if it names none.
fn check_type(engine: &Engine, component: &wasmtime::component::Component) -> Result<Version, ErrorKind> {
    let versions = world_versions(engine, component);
    if let Some(v) = versions.iter().find(|v| Version::of(v).is_none()) {
        return Err(ErrorKind::VersionMismatch { found: v.clone() });
    }
    let mut served: Vec<Version> = versions.iter().filter_map(|v| Version::of(v)).collect();
    served.dedup();
    if served.len() > 1 {
        return Err(ErrorKind::Incompatible { message: format!("it names several versions of httptrace:plugin: {}", versions.join(", ")) });
    }
    let ty = component.component_type();
    let missing: Vec<&str> =
        EXPORTS.into_iter().filter(|e| !matches!(ty.get_export(engine, e).map(|e| e.ty), Some(ComponentItem::ComponentFunc(_)))).collect();
    if versions.is_empty() && missing.len() == EXPORTS.len() {
        return Err(ErrorKind::OtherWorld { exports: ty.exports(engine).map(|(n, _)| n.to_string()).collect() });
    }
    match missing.first() {
        Some(export) => Err(ErrorKind::MissingExport { export: export.to_string() }),
        None => Ok(served.first().copied().unwrap_or(Version::NEWEST)),
    }
}

/// The first line of an error chain's most useful message (wasmtime appends backtraces).
pub(crate) fn first_error_line(e: &wasmtime::Error) -> String {
    let parts: Vec<String> = e
        .chain()
        .map(|c| c.to_string())
        .filter(|m| !m.starts_with("error while executing at wasm backtrace"))
        .filter_map(|m| m.lines().next().map(|l| l.trim().to_string()))
        .filter(|l| !l.is_empty())
        .collect();
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_flavors() {
        assert_eq!(PluginSource::parse("timeline"), PluginSource::Bundled("timeline".into()));
        assert_eq!(PluginSource::parse("x.wasm"), PluginSource::File("x.wasm".into()));
        assert_eq!(PluginSource::parse("./x"), PluginSource::File("./x".into()));
        assert_eq!(flavor(b"\0asm\x01\0\0\0"), Flavor::CoreModule);
        assert_eq!(flavor(b"\0asm\x0d\0\x01\0"), Flavor::Component);
        assert_eq!(flavor(b"hello world"), Flavor::NotWasm);
    }

    #[test]
    fn files_are_read_only_as_far_as_needed() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        assert_eq!(read_file(&write("empty", b""), 100), Err(ErrorKind::Empty));
        // Not a component: the preamble is enough.
        assert_eq!(read_file(&write("text", &[b'x'; 50]), 100).unwrap(), [b'x'; 8]);
        let mut component = b"\0asm\x0d\0\x01\0".to_vec();
        component.resize(100, 0);
        assert_eq!(read_file(&write("fits", &component), 100).unwrap(), component);
        component.push(0);
        let big = write("big", &component);
        assert_eq!(read_file(&big, 100), Err(ErrorKind::TooLarge { size: Some(101), limit: 100 }));
        assert!(matches!(read_file(dir.path(), 100), Err(ErrorKind::Read { .. })));
        // An endless file (its size says 0): the component preamble, then zeros forever.
        if std::path::Path::new("/dev/zero").exists() {
            assert_eq!(read_file(std::path::Path::new("/dev/zero"), 100).unwrap(), [0; 8]);
        }
    }
}
