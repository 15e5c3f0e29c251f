//! Typed plugin errors: what went wrong, with the plugin named.
//!
//! Load and configuration errors stop a run before any request; runtime errors (traps, limits)
//! disable one plugin and the run goes on. Every message is one line that names the plugin and,
//! for a file, its path.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Which plugin: its short name and, for a file, where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginId {
    /// Short name: a bundled plugin's name, or a file's stem.
    pub name: String,
    /// The file, for plugins loaded from one.
    pub path: Option<PathBuf>,
}

impl PluginId {
    /// A bundled plugin.
    pub fn bundled(name: &str) -> PluginId {
        PluginId { name: name.to_string(), path: None }
    }

    /// A plugin file; its name is the file stem.
    pub fn file(path: PathBuf) -> PluginId {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
        PluginId { name, path: Some(path) }
    }
}

/// `name` for bundled plugins, `name (path)` for files.
impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{} ({})", self.name, p.display()),
            None => f.write_str(&self.name),
        }
    }
}

/// The plugin call that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Creating the instance (start functions, initial memory).
    Instantiate,
    /// `init`.
    Init,
    /// `on-events`.
    OnEvents,
    /// `finish`.
    Finish,
}

impl Call {
    /// The name as written in the WIT world.
    pub fn as_str(self) -> &'static str {
        match self {
            Call::Instantiate => "instantiation",
            Call::Init => "init",
            Call::OnEvents => "on-events",
            Call::Finish => "finish",
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No bundled plugin has this name.
    UnknownBundled,
    /// The file could not be read.
    Read {
        /// The I/O error.
        message: String,
    },
    /// The file is empty.
    Empty,
    /// The file is larger than [`crate::MAX_PLUGIN_FILE`].
    TooLarge {
        /// Its size, when the file system says (`None`: it kept going past the limit).
        size: Option<u64>,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file is not WebAssembly (bad magic bytes).
    NotWasm,
    /// The file is a core WebAssembly module, not a component.
    CoreModule,
    /// A component of another package version of the plugin world.
    VersionMismatch {
        /// The version it implements, e.g. `0.2.0`.
        found: String,
    },
    /// A component of some other world: it names no version of `httptrace:plugin` and has
    /// none of the world's exports.
    OtherWorld {
        /// What it exports instead.
        exports: Vec<String>,
    },
    /// A component without one of the world's exports.
    MissingExport {
        /// The missing export, e.g. `finish`.
        export: String,
    },
    /// The component does not fit this host: an import the host does not provide, or an
    /// export of the wrong type.
    Incompatible {
        /// Wasmtime's explanation.
        message: String,
    },
    /// Wasmtime could not compile the component.
    Compile {
        /// Wasmtime's explanation.
        message: String,
    },
    /// `init` returned an error (usually a configuration problem).
    Init {
        /// The plugin's message.
        message: String,
    },
    /// The plugin trapped.
    Trap {
        /// The call that trapped.
        call: Call,
        /// The trap, one line.
        message: String,
    },
    /// A call ran past its deadline.
    Timeout {
        /// The call.
        call: Call,
        /// The per-call time limit.
        limit: Duration,
    },
    /// The instance tried to grow its memory past the cap.
    Memory {
        /// The call.
        call: Call,
        /// The memory cap in bytes.
        limit: usize,
    },
    /// One call wrote more output (`emit` and `log` together) than allowed.
    Output {
        /// The call.
        call: Call,
        /// The per-call output limit in bytes.
        limit: usize,
    },
    /// `on-events` broke the contract (e.g. the wrong number of verdicts).
    Contract {
        /// What was wrong.
        message: String,
    },
    /// `finish` returned an error.
    Finish {
        /// The plugin's message.
        message: String,
    },
}

impl ErrorKind {
    /// True for problems found while loading and checking, before the plugin ran.
    pub fn is_load(&self) -> bool {
        matches!(
            self,
            ErrorKind::UnknownBundled
                | ErrorKind::Read { .. }
                | ErrorKind::Empty
                | ErrorKind::TooLarge { .. }
                | ErrorKind::NotWasm
                | ErrorKind::CoreModule
                | ErrorKind::VersionMismatch { .. }
                | ErrorKind::OtherWorld { .. }
                | ErrorKind::MissingExport { .. }
                | ErrorKind::Incompatible { .. }
                | ErrorKind::Compile { .. }
        )
    }

    /// True for failures of a running plugin (traps, limits, contract, `finish` error): they
    /// disable the plugin and make the run exit with exit code 90 (`httptrace`'s `PLUGIN_FAILED`).
    pub fn is_runtime(&self) -> bool {
        !self.is_load() && !matches!(self, ErrorKind::Init { .. })
    }
}

/// The most characters of a failure's detail that are printed.
const MAX_DETAIL: usize = 1000;

/// A plugin error: which plugin, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    plugin: PluginId,
    kind: ErrorKind,
}

impl PluginError {
    /// A new error.
    pub fn new(plugin: PluginId, kind: ErrorKind) -> PluginError {
        PluginError { plugin, kind }
    }

    /// The plugin.
    pub fn plugin(&self) -> &PluginId {
        &self.plugin
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The message without the plugin's name, e.g. `on-events exceeded its 1s time limit`; one
    /// line whatever the plugin said (control characters escaped).
    pub fn detail(&self) -> String {
        let raw = self.raw_detail();
        let mut line = httptrace::escape_control(&raw).into_owned();
        // A plugin's own message (a refused configuration, a `finish` error) can be as long as
        // its memory: keep the line readable.
        if let Some((cut, _)) = line.char_indices().nth(MAX_DETAIL) {
            line.truncate(cut);
            line.push_str(&format!("… ({} bytes in all)", raw.len()));
        }
        line
    }

    fn raw_detail(&self) -> String {
        use crate::WORLD_VERSION;
        match &self.kind {
            ErrorKind::UnknownBundled => {
                "is not a bundled plugin (see `httptrace plugins`; a file path needs a `/` or a `.wasm` suffix)".into()
            }
            ErrorKind::Read { message } => format!("cannot be read: {message}"),
            ErrorKind::Empty => "is an empty file, not a WebAssembly component".into(),
            ErrorKind::TooLarge { size: Some(size), limit } => {
                format!("is too large to be a plugin: {} bytes, the limit is {}", size, fmt_size(*limit as usize))
            }
            ErrorKind::TooLarge { size: None, limit } => {
                format!("is too large to be a plugin: more than the limit of {}", fmt_size(*limit as usize))
            }
            ErrorKind::NotWasm => "is not a WebAssembly file (bad magic bytes)".into(),
            ErrorKind::CoreModule => {
                "is a core WebAssembly module, not a component — build for wasm32-wasip2 or run wasm-tools component new".into()
            }
            ErrorKind::VersionMismatch { found } => {
                format!("implements httptrace:plugin@{found}, this httptrace supports {}", crate::version::Version::served())
            }
            ErrorKind::OtherWorld { exports } => {
                let what = match exports.len() {
                    0 => "nothing".to_string(),
                    n => {
                        let mut names: Vec<String> = exports.iter().take(5).map(|e| format!("`{e}`")).collect();
                        if n > 5 {
                            names.push(format!("{} more", n - 5));
                        }
                        names.join(", ")
                    }
                };
                format!("is a component of another world: it exports {what}, not init, on-events and finish of httptrace:plugin/plugin@{WORLD_VERSION}")
            }
            ErrorKind::MissingExport { export } => {
                format!("does not export `{export}` (world httptrace:plugin/plugin@{WORLD_VERSION} needs init, on-events and finish)")
            }
            ErrorKind::Incompatible { message } => format!("does not fit this httptrace: {message}"),
            ErrorKind::Compile { message } => format!("failed to compile: {message}"),
            ErrorKind::Init { message } => format!("rejected its configuration: {message}"),
            ErrorKind::Trap { call, message } => format!("{call} trapped: {message}"),
            ErrorKind::Timeout { call, limit } => format!("{call} exceeded its {} time limit", fmt_duration(*limit)),
            ErrorKind::Memory { call, limit } => format!("{call} exceeded its {} memory limit", fmt_size(*limit)),
            ErrorKind::Output { call, limit } => format!("{call} wrote more than its {} output limit (emit and log)", fmt_size(*limit)),
            ErrorKind::Contract { message } => message.clone(),
            ErrorKind::Finish { message } => format!("finish failed: {message}"),
        }
    }
}

/// `plugin NAME (PATH) is a core WebAssembly module, …` / `plugin NAME: on-events trapped: …`.
impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.kind.is_runtime() { ": " } else { " " };
        let plugin = self.plugin.to_string();
        write!(f, "plugin {}{sep}{}", httptrace::escape_control(&plugin), self.detail())
    }
}

impl std::error::Error for PluginError {}

/// `1s`, `1.5s`, `500ms`.
pub fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_millis() >= 1000 {
        format!("{}s", d.as_secs_f64())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}µs", d.as_micros())
    }
}

/// `64 MiB`, `512 KiB`, `1000 bytes`.
pub fn fmt_size(n: usize) -> String {
    const MIB: usize = 1 << 20;
    const KIB: usize = 1 << 10;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

/// An approximate size for people: `18.4 MiB`, `120.5 KiB`, `900 bytes`.
pub fn fmt_size_approx(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approximate_sizes() {
        assert_eq!(fmt_size_approx(900), "900 bytes");
        assert_eq!(fmt_size_approx(123_392), "120.5 KiB");
        assert_eq!(fmt_size_approx(19_293_798), "18.4 MiB");
        assert_eq!(fmt_size_approx(3 << 30), "3.0 GiB");
    }

    #[test]
    fn messages_are_one_line_and_name_the_plugin() {
        let id = PluginId::file(PathBuf::from("./spin.wasm"));
        let e = PluginError::new(id.clone(), ErrorKind::Timeout { call: Call::OnEvents, limit: Duration::from_secs(1) });
        assert_eq!(e.to_string(), "plugin spin (./spin.wasm): on-events exceeded its 1s time limit");
        let e = PluginError::new(id, ErrorKind::VersionMismatch { found: "0.8.0".into() });
        assert_eq!(
            e.to_string(),
            "plugin spin (./spin.wasm) implements httptrace:plugin@0.8.0, this httptrace supports @0.1.x, @0.2.x, @0.3.x, @0.4.x, @0.5.x, @0.6.x, @0.7.x"
        );
        assert_eq!(fmt_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(fmt_size(64 << 20), "64 MiB");
    }

    #[test]
    fn plugin_text_is_one_line_and_bounded() {
        let id = PluginId::bundled("p");
        let e = PluginError::new(id.clone(), ErrorKind::Finish { message: "a\nhttptrace: forged".into() });
        assert_eq!(e.to_string(), "plugin p: finish failed: a\\nhttptrace: forged");
        let e = PluginError::new(id, ErrorKind::Init { message: "x".repeat(1 << 20) });
        let d = e.detail();
        assert!(
            d.chars().count() < MAX_DETAIL + 40
                && d.ends_with(&format!("… ({} bytes in all)", "rejected its configuration: ".len() + (1 << 20))),
            "{}",
            &d[d.len() - 60..]
        );
    }
}
