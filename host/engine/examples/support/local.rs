//! For the examples' tests: a loopback server that answers each connection with a fixed reply.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

/// Serves `reply` to every connection (after reading the request head) on 127.0.0.1, on a
/// thread of its own; returns its address.
pub fn serve_once(reply: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = conn.write_all(reply);
        }
    });
    addr
}
