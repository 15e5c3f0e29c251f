//! Plugin flags → a chain; the `plugins` and `plugin inspect` subcommands.

use std::io::IsTerminal;

use clap::ArgMatches;

use super::args::PluginArgs;
use super::request::UsageError;
use httptrace_cli::bundled;
use httptrace_cli::exit;
use httptrace_plugin_host::{ChainOptions, Limits, Output, PluginSource, PluginSpec, Runtime, RuntimeOptions, Verbosity};

/// The bundled plugin used when no `--plugin` is given.
pub const DEFAULT_PLUGIN: &str = "timeline";

/// The bundled plugin used when no `--plugin` is given to a load run (`-n` above 1,
/// `--duration`, `--rate`): a summary, not a waterfall per request.
pub const LOAD_PLUGIN: &str = "stats";

/// The chain from `--plugin` and `--plugin-config`, each config pair going to the nearest
/// `--plugin` before it (by position on the command line); `default` without `--plugin`.
pub fn specs(matches: &ArgMatches, default: &str) -> Result<Vec<PluginSpec>, UsageError> {
    let plugins = positioned(matches, "plugin");
    let configs = positioned(matches, "plugin_config");
    if plugins.is_empty() {
        if let Some((_, c)) = configs.first() {
            return Err(usage(format!("--plugin-config {c}: no --plugin before it (the default {default} takes no configuration this way; add --plugin {default} first)")));
        }
        return Ok(vec![PluginSpec { source: PluginSource::Bundled(default.into()), config: vec![] }]);
    }
    let mut specs: Vec<PluginSpec> = plugins.iter().map(|(_, p)| PluginSpec { source: PluginSource::parse(p), config: vec![] }).collect();
    for (at, c) in configs {
        let owner =
            plugins.iter().rposition(|(p_at, _)| *p_at < at).ok_or_else(|| usage(format!("--plugin-config {c}: no --plugin before it")))?;
        let (k, v) = c.split_once('=').ok_or_else(|| usage(format!("--plugin-config {c}: expected KEY=VALUE")))?;
        if k.is_empty() {
            return Err(usage(format!("--plugin-config {c}: the key is empty")));
        }
        specs[owner].config.push((k.to_string(), v.to_string()));
    }
    Ok(specs)
}

/// The bundled `writeout` plugin for `-w FORMAT`: `@FILE` reads the format from a file, `@-`
/// from stdin (as curl does).
pub fn write_out(format: &str) -> Result<PluginSpec, UsageError> {
    let format = match format.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| usage(format!("-w @-: cannot read stdin: {e}")))?;
            text
        }
        Some(file) => std::fs::read_to_string(file).map_err(|e| usage(format!("-w @{file}: cannot read {file}: {e}")))?,
        None => format.to_string(),
    };
    Ok(PluginSpec { source: PluginSource::Bundled("writeout".into()), config: vec![("format".into(), format)] })
}

/// Values of a repeatable option with their command-line positions.
fn positioned(m: &ArgMatches, id: &str) -> Vec<(usize, String)> {
    match (m.indices_of(id), m.get_many::<String>(id)) {
        (Some(i), Some(v)) => i.zip(v.cloned()).collect(),
        _ => Vec::new(),
    }
}

fn usage(message: String) -> UsageError {
    UsageError { code: exit::USAGE, message }
}

/// Chain options from flags and the environment (`NO_COLOR`, `HTTPTRACE_LOG`).
pub fn chain_options(a: &PluginArgs) -> ChainOptions {
    // Colour only for a terminal we write to ourselves, and never under NO_COLOR.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let color = a.output.is_none() && std::io::stdout().is_terminal() && !no_color;
    ChainOptions {
        limits: Limits { timeout: a.plugin_timeout, memory: a.plugin_memory, output_per_call: a.plugin_output_limit },
        color,
        verbosity: Verbosity::from_env(),
        on_error: a.on_plugin_error.into(),
        report_failures: true,
    }
}

/// The output `-o` names, or stdout.
pub fn output(a: &PluginArgs) -> Result<Output, UsageError> {
    match &a.output {
        None => Ok(Output::stdout()),
        Some(p) => Output::file(p).map_err(|e| UsageError { code: exit::USAGE, message: format!("-o {}: {e}", p.display()) }),
    }
}

/// The plugin runtime with the default cache.
pub fn runtime() -> Result<Runtime, UsageError> {
    let opts = RuntimeOptions { verbosity: Verbosity::from_env(), bundled: bundled::BUNDLED, ..RuntimeOptions::default() };
    Runtime::new(opts).map_err(|e| usage(format!("cannot start the WebAssembly runtime: {e}")))
}

/// `httptrace plugins`: one line per bundled plugin.
pub fn list() -> i32 {
    let width = bundled::BUNDLED.iter().map(|b| b.name.len()).max().unwrap_or(0);
    let mut text = String::new();
    for b in bundled::BUNDLED {
        let marker = if b.name == DEFAULT_PLUGIN { "  (default)" } else { "" };
        text += &format!("{:width$}  {}{marker}\n", b.name, b.summary);
    }
    super::print_stdout(text.as_bytes())
}

/// `httptrace plugin inspect FILE|NAME`: 0 if it fits, 1 if not.
pub fn inspect(plugin: &str) -> i32 {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("httptrace: {}", e.message);
            return e.code;
        }
    };
    let report = rt.inspect(&PluginSource::parse(plugin));
    let code = super::print_stdout(format!("{report}\n").as_bytes());
    if report.fits.is_ok() {
        code
    } else {
        1
    }
}

/// `httptrace plugin cache [--prune | --clean]`: what the precompiled-plugin cache holds, or
/// deletes from it. 1 if there is no cache directory or it cannot be read.
pub fn cache(prune: bool, clean: bool) -> i32 {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("httptrace: {}", e.message);
            return e.code;
        }
    };
    let Some(dir) = rt.cache_dir().map(|d| d.display().to_string()) else {
        eprintln!("httptrace: no plugin cache: set HTTPTRACE_CACHE_DIR (or XDG_CACHE_HOME, or HOME)");
        return 1;
    };
    if prune || clean {
        return match rt.clean_cache(clean) {
            Some(Ok((files, bytes))) => {
                let size = httptrace_plugin_host::fmt_size_approx(bytes);
                super::print_stdout(format!("{dir}: removed {files} precompiled plugin(s), {size}\n").as_bytes())
            }
            Some(Err(e)) => {
                eprintln!("httptrace: cleaning the plugin cache {dir}: {e}");
                1
            }
            None => 1,
        };
    }
    match rt.cache_usage() {
        Some(Ok(u)) => {
            let size = httptrace_plugin_host::fmt_size_approx;
            let mut text = format!("{dir}\n");
            text += &format!("  {} precompiled plugin(s) for this build, {}\n", u.current.0, size(u.current.1));
            text += &format!("  {} for other builds (never loaded again), {}\n", u.stale.0, size(u.stale.1));
            if u.stale.0 > 0 {
                text += "  `httptrace plugin cache --prune` deletes those; `--clean` deletes everything\n";
            }
            super::print_stdout(text.as_bytes())
        }
        Some(Err(e)) => {
            eprintln!("httptrace: reading the plugin cache {dir}: {e}");
            1
        }
        None => 1,
    }
}
