//! Test plugin: in its first `on-events` call, tries to connect over TCP to `addr=IP:PORT`,
//! send a UDP datagram there, and resolve `localhost`. A socket that opens is used to send
//! `LEAK` and is reported as a `LEAK …` line (what the tests look for); when everything is
//! refused, it panics naming what was refused and the first error, e.g. `denied: tcp connect,
//! udp send, resolve (first: tcp connect 127.0.0.1:9: …)` (short: the host quotes 300
//! characters of a panic), so the host names it and disables it.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};

use httptrace_guest::{emit, Config, Event, Plugin, Verdict};

struct OpenSocket {
    addr: SocketAddr,
}

impl Plugin for OpenSocket {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&["addr"])?;
        let addr = config.parse("addr")?.ok_or("config `addr` (IP:PORT) is required")?;
        Ok(OpenSocket { addr })
    }

    fn on_events(&mut self, evs: &[Event]) -> Vec<Verdict> {
        let addr = self.addr;
        let mut denied = Vec::new();
        let mut what = Vec::new();
        let mut leaked = false;
        match TcpStream::connect(addr) {
            Ok(mut s) => {
                let _ = s.write_all(b"LEAK over tcp\n");
                emit(&format!("LEAK tcp connected to {addr}\n"));
                leaked = true;
            }
            Err(e) => {
                what.push("tcp connect");
                denied.push(format!("tcp connect {addr}: {e}"));
            }
        }
        match UdpSocket::bind("0.0.0.0:0").and_then(|s| s.send_to(b"LEAK over udp\n", addr)) {
            Ok(_) => {
                emit(&format!("LEAK udp sent to {addr}\n"));
                leaked = true;
            }
            Err(e) => {
                what.push("udp send");
                denied.push(format!("udp send {addr}: {e}"));
            }
        }
        match "localhost:80".to_socket_addrs() {
            Ok(found) => {
                emit(&format!("LEAK resolved localhost: {:?}\n", found.collect::<Vec<_>>()));
                leaked = true;
            }
            Err(e) => {
                what.push("resolve");
                denied.push(format!("resolve localhost: {e}"));
            }
        }
        if !leaked {
            panic!("denied: {} (first: {})", what.join(", "), denied[0]);
        }
        vec![Verdict::Keep; evs.len()]
    }
}

httptrace_guest::export_plugin!(OpenSocket);
