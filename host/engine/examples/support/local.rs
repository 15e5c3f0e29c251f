//! For the examples' tests: a loopback server that answers every request with a fixed reply.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

/// Serves `reply` to every request (after reading its head; keep-alive: a connection may carry
/// several) on 127.0.0.1, a thread per connection; returns its address.
pub fn serve_once(reply: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                loop {
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    head.clear();
                    if conn.write_all(reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}
