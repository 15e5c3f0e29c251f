//! The parts of the `httptrace` command that tests and the fuzz targets reach: curl's exit
//! codes, the flag parsers, the local target server (`httptrace serve`) and the bundled
//! plugins. Not a stable API: embed the `httptrace` (engine) and `httptrace-plugin-host`
//! crates instead.
#![deny(missing_docs)]

pub mod bundled;
pub mod exit;
pub mod flags;
pub mod serve;
