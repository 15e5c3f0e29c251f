//! The `httptrace` binary.

mod cli;

use httptrace_cli::exit;

use clap::{CommandFactory, FromArgMatches};

/// `httptrace --version`: the release, the commit it was built from, the wasmtime that runs
/// plugins and the WIT package version plugins implement.
fn version() -> &'static str {
    let text = format!(
        "{} (commit {}, wasmtime {}, plugins httptrace:plugin@{})",
        env!("CARGO_PKG_VERSION"),
        env!("HTTPTRACE_COMMIT"),
        env!("HTTPTRACE_WASMTIME_VERSION"),
        httptrace_plugin_host::WORLD_VERSION
    );
    Box::leak(text.into_boxed_str())
}

/// The command definition: clap's derive output with the version text.
fn command() -> clap::Command {
    cli::args::Cli::command().version(version())
}

fn main() {
    let parsed = command().try_get_matches().and_then(|m| cli::args::Cli::from_arg_matches(&m).map(|c| (c, m)));
    let (parsed, matches) = match parsed {
        Ok(v) => v,
        Err(e) if e.kind() == clap::error::ErrorKind::UnknownArgument => {
            eprintln!("httptrace: {}", unknown_option_line(&e));
            std::process::exit(exit::USAGE);
        }
        Err(e) if e.use_stderr() => {
            eprintln!("httptrace: {}", clap_error_line(&e.render().to_string()));
            std::process::exit(exit::USAGE);
        }
        Err(e) => {
            // --help, --version.
            let _ = e.print();
            std::process::exit(exit::OK);
        }
    };
    let code = match &parsed.command {
        Some(cli::args::Command::Serve(a)) => cli::run::serve(a),
        Some(cli::args::Command::Plugins) => cli::plugins::list(),
        Some(cli::args::Command::Plugin(cli::args::PluginCommand::Inspect { plugin })) => cli::plugins::inspect(plugin),
        Some(cli::args::Command::Plugin(cli::args::PluginCommand::Cache { prune, clean })) => cli::plugins::cache(*prune, *clean),
        Some(cli::args::Command::Completions { shell }) => {
            // Into memory first: clap_complete panics when its writer fails (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command(), "httptrace", &mut script);
            cli::print_stdout(&script)
        }
        Some(cli::args::Command::Man) => {
            let mut page = Vec::new();
            match clap_mangen::Man::new(command()).render(&mut page) {
                Ok(()) => cli::print_stdout(&page),
                Err(e) => {
                    eprintln!("httptrace: rendering the manual page failed: {e}");
                    1
                }
            }
        }
        Some(cli::args::Command::Replay(a)) => {
            let sub = matches.subcommand_matches("replay").expect("replay matches");
            cli::run::replay(a, sub)
        }
        None => cli::run::trace_request(&parsed.request, &matches),
    };
    std::process::exit(code);
}

/// An unknown option in curl's words (`option -Z: is unknown`), with clap's suggestion of a
/// near one if it has one, but not its tip to write `-- -Z` (which would make it a URL).
fn unknown_option_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => "?".to_string(),
    };
    let similar = match e.get(ContextKind::SuggestedArg) {
        Some(ContextValue::String(s)) => format!("; did you mean {s}?"),
        Some(ContextValue::Strings(v)) if !v.is_empty() => format!("; did you mean {}?", v.join(" or ")),
        _ => String::new(),
    };
    format!("option {arg}: is unknown{similar} (see --help)")
}

/// A clap error as one line: its text up to the usage block, lines joined, the `error: `
/// prefix dropped, and a pointer to `--help`. Scripts and the tests count on one line.
fn clap_error_line(rendered: &str) -> String {
    let lines: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let mut text = String::new();
    for l in lines {
        if !text.is_empty() {
            // A list continues its heading; anything else (a tip) is a new clause.
            text.push_str(if text.ends_with(':') { " " } else { "; " });
        }
        text.push_str(l);
    }
    format!("{} (see --help)", text.trim_start_matches("error: "))
}

/// jemalloc rather than glibc's malloc: ~12 % more requests per second under load, and resident
/// memory stays flat over long runs (docs/PERFORMANCE.md, R2 and R5). The `jemalloc` feature,
/// on by default.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
