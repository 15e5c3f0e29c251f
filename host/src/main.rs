//! The `httptrace` binary.

mod cli;

use clap::{CommandFactory, FromArgMatches};

fn main() {
    let parsed = cli::args::Cli::command().try_get_matches().and_then(|m| cli::args::Cli::from_arg_matches(&m).map(|c| (c, m)));
    let (parsed, matches) = match parsed {
        Ok(v) => v,
        Err(e) => {
            let code = if e.use_stderr() { httptrace::exit::USAGE } else { httptrace::exit::OK };
            let _ = e.print();
            std::process::exit(code);
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
