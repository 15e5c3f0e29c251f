//! The `httptrace` binary.

mod cli;

use clap::Parser;

fn main() {
    let parsed = match cli::args::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { httptrace::exit::USAGE } else { httptrace::exit::OK };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match &parsed.command {
        Some(cli::args::Command::Serve(a)) => cli::run::serve(a),
        None => cli::run::trace_request(&parsed.request),
    };
    std::process::exit(code);
}
