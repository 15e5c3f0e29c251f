//! Build helper for the non-Rust httptrace plugins, so CI needs neither `wasm-tools` nor
//! `wit-bindgen-cli` (each ~10 min to `cargo install` on 2 cores). It does, as a library:
//!
//! - `new CORE.wasm -o OUT.wasm [--adapter inert|wasmtime]`: `wasm-tools component embed` +
//!   `component new` — embeds the WIT world's type information into a core module and wraps it
//!   as a component. If the module imports `wasi_snapshot_preview1` (Go, or C with a libc), an
//!   adapter answers those imports: `inert` (default; `src/inert_preview1.wat`: no WASI 0.2
//!   imports at all, works for Go) or `wasmtime` (wasmtime 48's preview1 *reactor* adapter from
//!   the `wasi-preview1-component-adapter-provider` crate: WASI 0.2 imports; not for Go).
//! - `bindgen-c DIR [--check]`: `wit-bindgen c --no-object-file` — writes the C bindings, or with
//!   `--check` fails if the files in DIR differ from what the generator makes now.
//! - `imports FILE.wasm`: prints a component's imports and exports, one per line.
//! - `dummy -o OUT.wasm [--core]`: a component of the world whose functions all trap (or, with
//!   `--core`, the core module before `component new`): synthetic plugins for the tests that
//!   look only at a component's type (another WIT version, a missing export, an unrelated world).
//!
//! Common options: `--wit DIR` (default `wit`; a single `.wit` file also works) and
//! `--world NAME` (default `plugin`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use wit_parser::{Resolve, WorldId};

const USAGE: &str = "usage: componentize [--wit DIR] [--world NAME] \
    (new CORE.wasm -o OUT.wasm [--adapter inert|wasmtime] | bindgen-c DIR [--check] | imports FILE.wasm | dummy -o OUT.wasm [--core] | names)";

fn main() -> Result<()> {
    let mut wit = PathBuf::from("wit");
    let mut world = String::from("plugin");
    let mut out = None;
    let mut check = false;
    let mut core_only = false;
    let mut adapter = String::from("inert");
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--wit" => wit = args.next().context(USAGE)?.into(),
            "--world" => world = args.next().context(USAGE)?,
            "-o" => out = Some(PathBuf::from(args.next().context(USAGE)?)),
            "--check" => check = true,
            "--core" => core_only = true,
            "--adapter" => adapter = args.next().context(USAGE)?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => positional.push(arg),
        }
    }
    match positional.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["new", core] => {
            let out = out.context("`new` needs -o OUT.wasm")?;
            let (resolve, world) = load_world(&wit, &world)?;
            let bytes = std::fs::read(core).with_context(|| format!("reading {core}"))?;
            let component = new_component(bytes, &resolve, world, &adapter)?;
            std::fs::write(&out, component).with_context(|| format!("writing {}", out.display()))
        }
        ["bindgen-c", dir] => {
            let (mut resolve, world) = load_world(&wit, &world)?;
            bindgen_c(&mut resolve, world, Path::new(dir), check)
        }
        ["imports", file] => {
            let bytes = std::fs::read(file).with_context(|| format!("reading {file}"))?;
            for line in imports_and_exports(&bytes)? {
                println!("{line}");
            }
            Ok(())
        }
        ["dummy"] => {
            let out = out.context("`dummy` needs -o OUT.wasm")?;
            let (resolve, world) = load_world(&wit, &world)?;
            let bytes = dummy(&resolve, world, core_only)?;
            std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))
        }
        ["names"] => {
            for line in names(&wit)? {
                println!("{line}");
            }
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}

/// The package's version, then the cases of its `event-type` and `phase` enums and of its
/// `event-kind` variant, a line each (`NAME CASE CASE ...`), for the tests that hold the
/// contract's Rust tables against the WIT.
fn names(dir: &Path) -> Result<Vec<String>> {
    use wit_parser::{TypeDefKind, TypeOwner};
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve.push_path(dir).with_context(|| format!("parsing WIT in {}", dir.display()))?;
    let version = resolve.packages[pkg].name.version.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let mut lines = vec![format!("version {version}")];
    for name in ["event-type", "event-kind", "phase"] {
        let ty = resolve
            .types
            .iter()
            .map(|(_, t)| t)
            .find(|t| t.name.as_deref() == Some(name) && t.owner != TypeOwner::None)
            .with_context(|| format!("no type {name} in {}", dir.display()))?;
        let cases: Vec<&str> = match &ty.kind {
            TypeDefKind::Enum(e) => e.cases.iter().map(|c| c.name.as_str()).collect(),
            TypeDefKind::Variant(v) => v.cases.iter().map(|c| c.name.as_str()).collect(),
            _ => bail!("{name} is neither an enum nor a variant"),
        };
        lines.push(format!("{name} {}", cases.join(" ")));
    }
    Ok(lines)
}

/// The world's dummy core module (every function traps), wrapped as a component unless `core`.
fn dummy(resolve: &Resolve, world: WorldId, core: bool) -> Result<Vec<u8>> {
    use wit_component::{ComponentEncoder, StringEncoding};
    let mut module = wit_component::dummy_module(resolve, world, wit_parser::ManglingAndAbi::Standard32);
    if core {
        return Ok(module);
    }
    wit_component::embed_component_metadata(&mut module, resolve, world, StringEncoding::UTF8, false)?;
    ComponentEncoder::default().module(&module)?.validate(true).encode()
}

/// Parses the WIT package in `dir` and picks `world` from it.
fn load_world(dir: &Path, world: &str) -> Result<(Resolve, WorldId)> {
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve.push_path(dir).with_context(|| format!("parsing WIT in {}", dir.display()))?;
    let world = resolve.select_world(&[pkg], Some(world))?;
    Ok((resolve, world))
}

/// `component embed` + `component new`, with a preview1 adapter (`inert` or `wasmtime`) when the
/// module imports WASI preview1.
pub fn new_component(mut core: Vec<u8>, resolve: &Resolve, world: WorldId, adapter_kind: &str) -> Result<Vec<u8>> {
    use wasi_preview1_component_adapter_provider as adapter;
    let needs_adapter = wasmparser::Parser::new(0).parse_all(&core).any(|payload| {
        matches!(payload, Ok(wasmparser::Payload::ImportSection(imports))
            if imports.clone().into_imports().any(|i| i.is_ok_and(|i| i.module == adapter::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME)))
    });
    wit_component::embed_component_metadata(&mut core, resolve, world, wit_component::StringEncoding::UTF8, false)?;
    let mut encoder = wit_component::ComponentEncoder::default();
    encoder.validate(true).module(&core)?;
    if needs_adapter {
        let bytes = match adapter_kind {
            "inert" => inert_adapter()?,
            "wasmtime" => adapter::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER.to_vec(),
            other => bail!("unknown adapter `{other}` (inert or wasmtime)"),
        };
        encoder.adapter(adapter::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, &bytes)?;
    }
    encoder.encode().context("encoding the component")
}

/// The inert preview1 adapter: `src/inert_preview1.wat` plus an empty world (it imports nothing).
fn inert_adapter() -> Result<Vec<u8>> {
    let mut module = wat::parse_str(include_str!("inert_preview1.wat"))?;
    let mut resolve = Resolve::default();
    let pkg = resolve.push_str("inert.wit", "package httptrace:inert-preview1;\nworld adapter {}\n")?;
    let world = resolve.select_world(&[pkg], Some("adapter"))?;
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8, false)?;
    Ok(module)
}

/// Writes (or, with `check`, compares) the C bindings of `world` in `dir`.
pub fn bindgen_c(resolve: &mut Resolve, world: WorldId, dir: &Path, check: bool) -> Result<()> {
    let opts = wit_bindgen_c::Opts { no_object_file: true, ..Default::default() };
    let mut files = wit_bindgen_core::Files::default();
    opts.build().generate(resolve, world, &mut files)?;
    let mut stale = Vec::new();
    for (name, contents) in files.iter() {
        let path = dir.join(name);
        if check {
            if std::fs::read(&path).ok().as_deref() != Some(contents) {
                stale.push(path.display().to_string());
            }
        } else {
            std::fs::create_dir_all(dir)?;
            std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if !stale.is_empty() {
        bail!("C bindings out of date (regenerate with `componentize bindgen-c {}`): {}", dir.display(), stale.join(", "));
    }
    Ok(())
}

/// `import NAME` / `export NAME` lines for a component's top-level imports and exports.
pub fn imports_and_exports(bytes: &[u8]) -> Result<Vec<String>> {
    use wasmparser::{Parser, Payload};
    let mut lines = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            // A core module (before `componentize new`): its imports, `import func MODULE NAME`.
            Payload::ImportSection(s) if depth == 0 => {
                for i in s.into_imports() {
                    let i = i?;
                    let kind = format!("{:?}", i.ty).to_lowercase();
                    let kind = kind.split('(').next().unwrap_or("?");
                    lines.push(format!("import {kind} {} {}", i.module, i.name));
                }
            }
            Payload::ComponentImportSection(s) if depth == 0 => {
                for i in s {
                    let i = i?;
                    lines.push(format!("import {} {}", kind(&i.ty), i.name.name));
                }
            }
            Payload::ComponentExportSection(s) if depth == 0 => {
                for e in s {
                    let e = e?;
                    lines.push(format!("export {:?} {}", e.kind, e.name.name).to_lowercase());
                }
            }
            _ => {}
        }
    }
    Ok(lines)
}

fn kind(ty: &wasmparser::ComponentTypeRef) -> &'static str {
    use wasmparser::ComponentTypeRef::*;
    match ty {
        Module(_) => "module",
        Func(_) => "func",
        Value(_) => "value",
        Type(_) => "type",
        Instance(_) => "instance",
        Component(_) => "component",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// The checked-in C bindings are what the generator makes from the WIT today.
    #[test]
    fn checked_in_c_bindings_are_current() {
        let (mut resolve, world) = load_world(&repo().join("wit"), "plugin").unwrap();
        bindgen_c(&mut resolve, world, &repo().join("plugins/conformance-c/bindings"), true).unwrap();
    }
}
