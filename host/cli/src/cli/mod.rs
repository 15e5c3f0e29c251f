//! The `httptrace` binary's command line: parsing, turning flags into a client and a request,
//! running, and mapping the outcome to an exit code.

pub mod args;
pub mod plugins;
pub mod progress;
pub mod request;
pub mod run;
