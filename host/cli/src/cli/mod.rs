//! The `httptrace` binary's command line: parsing, turning flags into a client and a request,
//! running, and mapping the outcome to an exit code.

pub mod args;
pub mod export;
pub mod plugins;
pub mod progress;
pub mod request;
pub mod run;

/// Writes a subcommand's whole output to stdout; returns the exit code. A reader that went away
/// (`httptrace plugins | head -1`) is not an error; any other write failure is one line on
/// stderr and exit 1. (`println!` would panic on either.)
pub fn print_stdout(text: &[u8]) -> i32 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text).and_then(|()| out.flush()) {
        Ok(()) => httptrace_cli::exit::OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => httptrace_cli::exit::OK,
        Err(e) => {
            eprintln!("httptrace: writing to stdout failed: {e}");
            1
        }
    }
}
