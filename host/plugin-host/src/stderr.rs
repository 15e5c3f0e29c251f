//! A plugin's WASI stderr: not shown, but its last lines are kept so that a trap can say what
//! the plugin printed just before (a Rust guest's panic message, say).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes of stderr kept.
const KEEP: usize = 2048;

/// The tail of a plugin's stderr (clones share it).
#[derive(Clone, Default)]
pub(crate) struct StderrTail {
    buf: Arc<Mutex<VecDeque<u8>>>,
}

impl StderrTail {
    fn push(&self, bytes: &[u8]) {
        let mut b = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = &bytes[bytes.len().saturating_sub(KEEP)..];
        let excess = (b.len() + bytes.len()).saturating_sub(KEEP);
        b.drain(..excess);
        b.extend(bytes);
    }

    /// Forgets what was written (before each call).
    pub(crate) fn clear(&self) {
        self.buf.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The last meaningful lines, joined into one, e.g. `panicked at src/lib.rs:9:5: boom`.
    pub(crate) fn summary(&self) -> Option<String> {
        let b = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        let bytes: Vec<u8> = b.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> =
            text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE")).collect();
        let tail = lines[lines.len().saturating_sub(2)..].join(" ");
        // `thread '<unnamed>' (1) panicked at …` → `panicked at …`.
        let tail = match (tail.starts_with("thread '"), tail.find("panicked at ")) {
            (true, Some(at)) => &tail[at..],
            _ => tail.as_str(),
        };
        let tail = tail.chars().filter(|c| !c.is_control()).take(300).collect::<String>();
        (!tail.is_empty()).then_some(tail)
    }
}

impl IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrTail {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for StderrTail {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl Pollable for StderrTail {
    fn ready<'a, 'b>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async {})
    }
}

impl AsyncWrite for StderrTail {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_of_a_panic() {
        let t = StderrTail::default();
        t.push(&vec![b'x'; 5000]);
        t.push(b"\nthread '<unnamed>' (1) panicked at src/lib.rs:9:5:\nboom\nnote: run with `RUST_BACKTRACE=1` to see\n");
        assert_eq!(t.summary().as_deref(), Some("panicked at src/lib.rs:9:5: boom"));
        t.clear();
        assert_eq!(t.summary(), None);
    }
}
