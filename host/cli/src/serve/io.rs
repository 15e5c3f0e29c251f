//! Connection IO shared between hyper and the handlers, so a handler can put raw bytes (a
//! `103 Early Hints` informational response) on an HTTP/1.1 connection before hyper writes the
//! final response. hyper's server has no API for sending 1xx responses itself.
//!
//! The stream sits behind a mutex that is held only for the duration of one poll call. On
//! HTTP/1.1 the service future runs inside the connection's task while hyper waits for the
//! response, so nothing hyper wants to write is pending when the handler writes; the bytes go
//! straight to the socket (or TLS session), ahead of the final response.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An IO object whose stream is shared with a [`RawWriter`].
pub(crate) struct SharedIo<T>(Arc<Mutex<T>>);

/// Writes raw bytes to the connection's stream, bypassing hyper.
#[derive(Clone)]
pub(crate) struct RawWriter(Arc<dyn RawSink>);

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> SharedIo<T> {
    /// Wraps `io`, returning the wrapper for hyper and a writer for the handlers.
    pub(crate) fn new(io: T) -> (Self, RawWriter) {
        let shared = Arc::new(Mutex::new(io));
        (SharedIo(shared.clone()), RawWriter(shared))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T: AsyncRead + Unpin> AsyncRead for SharedIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.0)).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SharedIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *lock(&self.0)).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.0)).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.0)).poll_shutdown(cx)
    }
}

/// The write side of a shared stream, type-erased.
trait RawSink: Send + Sync {
    fn poll_write_raw(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    fn poll_flush_raw(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl<T: AsyncWrite + Unpin + Send> RawSink for Mutex<T> {
    fn poll_write_raw(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *lock(self)).poll_write(cx, buf)
    }

    fn poll_flush_raw(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(self)).poll_flush(cx)
    }
}

impl RawWriter {
    /// Writes all of `buf` to the connection and flushes it.
    pub(crate) async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = poll_fn(|cx| self.0.poll_write_raw(cx, buf)).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        poll_fn(|cx| self.0.poll_flush_raw(cx)).await
    }
}
