//! The `httptrace` binary.

mod cli;

use httptrace_cli::exit;

use clap::{CommandFactory, FromArgMatches};

fn main() {
    let parsed = cli::args::Cli::command().try_get_matches().and_then(|m| cli::args::Cli::from_arg_matches(&m).map(|c| (c, m)));
    let (parsed, matches) = match parsed {
        Ok(v) => v,
        Err(e) if e.use_stderr() => {
            eprintln!("httptrace: {}", one_line(&e.render().to_string()));
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
        Some(cli::args::Command::Replay(a)) => {
            let sub = matches.subcommand_matches("replay").expect("replay matches");
            cli::run::replay(a, sub)
        }
        None => cli::run::trace_request(&parsed.request, &matches),
    };
    std::process::exit(code);
}

/// A clap error as one line: its text up to the usage block, lines joined, the `error: `
/// prefix dropped, and a pointer to `--help`. Scripts and the tests count on one line.
fn one_line(rendered: &str) -> String {
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
/// memory stays flat over long runs (docs/PERFORMANCE.md, R2 and R5).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
