//! Shared support for the end-to-end tests: real servers on loopback.

pub mod dns;

/// Starts the local target server (`httptrace serve`) with default options: loopback, free
/// ports, certificate in a fresh temp dir. Panics if it cannot start.
pub async fn start_serve() -> httptrace::serve::ServeHandle {
    httptrace::serve::start(httptrace::serve::ServeOptions::default())
        .await
        .expect("starting httptrace serve")
}
