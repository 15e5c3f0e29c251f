//! `httptrace plugin inspect`: what a file implements and whether it fits this host.

use std::fmt;

use wasmtime::component::types::ComponentItem;

use super::error::{PluginError, PluginId};
use super::load::{self, flavor, Flavor, PluginSource};
use super::runtime::Runtime;
use super::version::Version;

/// What a plugin file is.
#[derive(Debug)]
pub struct Inspection {
    /// Which plugin.
    pub plugin: PluginId,
    /// Component, core module, or not WebAssembly (`None` if it could not be read).
    pub flavor: Option<Flavor>,
    /// `httptrace:plugin` versions named in its imports and exports.
    pub versions: Vec<String>,
    /// Import names and what they are (`instance`, `func`, …).
    pub imports: Vec<(String, &'static str)>,
    /// Export names and what they are.
    pub exports: Vec<(String, &'static str)>,
    /// `Ok` if this httptrace can run it, else why not.
    pub fits: Result<(), PluginError>,
}

impl Runtime {
    /// Describes a plugin: what it implements, imports and exports, and whether it fits.
    pub fn inspect(&self, source: &PluginSource) -> Inspection {
        inspect(self, source)
    }
}

fn inspect(rt: &Runtime, source: &PluginSource) -> Inspection {
    let mut out = Inspection { plugin: source.id(), flavor: None, versions: vec![], imports: vec![], exports: vec![], fits: Ok(()) };
    let bytes = match load::read(rt, source) {
        Ok(b) => b,
        Err(e) => {
            out.fits = Err(e);
            return out;
        }
    };
    out.flavor = Some(flavor(&bytes));
    if out.flavor == Some(Flavor::Component) {
        // Compile for the type information even if the full check fails later.
        if let Ok((component, _)) =
            super::cache::load(rt.engine(), rt.cache(), rt.stats(), &bytes, load::compile_notice(rt, &out.plugin, bytes.len()))
        {
            let ty = component.component_type();
            out.imports = ty.imports(rt.engine()).map(|(n, i)| (n.to_string(), item_kind(&i.ty))).collect();
            out.exports = ty.exports(rt.engine()).map(|(n, i)| (n.to_string(), item_kind(&i.ty))).collect();
            out.versions = load::world_versions(rt.engine(), &component);
        }
    }
    out.fits = rt.load(source).map(|_| ());
    out
}

fn item_kind(i: &ComponentItem) -> &'static str {
    match i {
        ComponentItem::ComponentFunc(_) => "func",
        ComponentItem::CoreFunc(_) => "core func",
        ComponentItem::Module(_) => "core module",
        ComponentItem::Component(_) => "component",
        ComponentItem::ComponentInstance(_) => "instance",
        ComponentItem::Type(_) => "type",
        ComponentItem::Resource(_) => "resource",
    }
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plugin: {}", self.plugin)?;
        let what = match self.flavor {
            None => "unreadable",
            Some(Flavor::NotWasm) => "not WebAssembly",
            Some(Flavor::CoreModule) => "core WebAssembly module",
            Some(Flavor::Component) => "WebAssembly component",
        };
        writeln!(f, "file: {what}")?;
        if self.flavor == Some(Flavor::Component) {
            let implements = if self.versions.is_empty() {
                "no httptrace:plugin interface".to_string()
            } else {
                self.versions.iter().map(|v| format!("httptrace:plugin@{v}")).collect::<Vec<_>>().join(", ")
            };
            writeln!(f, "implements: {implements}")?;
            writeln!(f, "imports:")?;
            for (n, k) in &self.imports {
                writeln!(f, "  {n} ({k})")?;
            }
            writeln!(f, "exports:")?;
            for (n, k) in &self.exports {
                writeln!(f, "  {n} ({k})")?;
            }
        }
        let served = Version::served();
        match &self.fits {
            Ok(()) => write!(f, "fits this httptrace (httptrace:plugin {served}): yes"),
            Err(e) => write!(f, "fits this httptrace (httptrace:plugin {served}): no — it {}", e.detail()),
        }
    }
}
