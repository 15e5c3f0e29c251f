//! Kernel receive timestamps: on Linux the connection's socket asks for `SO_TIMESTAMPING`
//! software RX stamps, and every read takes the stamp of the segment it consumed (`recvmsg`
//! control message, below TLS). The wire tap stamps `got-first-response-byte` from it: when the
//! bytes reached this machine's network stack, not when the engine got round to reading them.
//! Elsewhere, or when the kernel refuses the option, the stream reads as usual and the tap
//! keeps its own (user-space) stamp.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The newest kernel receive stamp of one connection.
#[derive(Debug, Default)]
pub struct RxStamps {
    /// ns since the Unix epoch (the kernel stamps with `CLOCK_REALTIME`); 0 before any.
    last_unix_ns: AtomicU64,
}

impl RxStamps {
    /// The stamp of the segment the last read consumed (ns since the Unix epoch), if any read
    /// carried one.
    pub fn last(&self) -> Option<u64> {
        match self.last_unix_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(ns),
        }
    }

    fn set(&self, unix_ns: u64) {
        self.last_unix_ns.store(unix_ns, Ordering::Relaxed);
    }
}

/// A TCP stream whose reads record the kernel's receive stamps (when enabled).
pub struct KernelStream {
    io: TcpStream,
    /// `Some` when the kernel accepted `SO_TIMESTAMPING`.
    stamps: Option<(Arc<RxStamps>, Vec<u8>)>,
}

impl KernelStream {
    /// Wraps `io`; with `enable`, asks the kernel for receive stamps (Linux only; anywhere else,
    /// or if the kernel refuses, the stream reads without them).
    pub fn new(io: TcpStream, enable: bool) -> KernelStream {
        let stamps = if enable && imp::enable(&io) { Some((Arc::default(), imp::cmsg_buffer())) } else { None };
        KernelStream { io, stamps }
    }

    /// The connection's receive stamps, if the kernel gives them.
    pub fn rx_stamps(&self) -> Option<Arc<RxStamps>> {
        self.stamps.as_ref().map(|(s, _)| s.clone())
    }
}

impl AsyncRead for KernelStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match &mut this.stamps {
            None => Pin::new(&mut this.io).poll_read(cx, buf),
            Some((stamps, cmsg)) => imp::poll_read(&this.io, stamps, cmsg, cx, buf),
        }
    }
}

impl AsyncWrite for KernelStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io::{self, IoSliceMut};
    use std::os::fd::AsRawFd;
    use std::task::{Context, Poll};

    use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, TimestampingFlag, Timestamps};
    use tokio::io::{Interest, ReadBuf};
    use tokio::net::TcpStream;

    use super::RxStamps;

    /// Asks for software receive stamps, reported with each read.
    pub fn enable(io: &TcpStream) -> bool {
        let flags = TimestampingFlag::SOF_TIMESTAMPING_RX_SOFTWARE | TimestampingFlag::SOF_TIMESTAMPING_SOFTWARE;
        setsockopt(io, sockopt::Timestamping, &flags).is_ok()
    }

    /// Room for one `SCM_TIMESTAMPING` control message.
    pub fn cmsg_buffer() -> Vec<u8> {
        nix::cmsg_space!(Timestamps)
    }

    /// A read with `recvmsg`, keeping the stamp of what it consumed.
    pub fn poll_read(
        io: &TcpStream,
        stamps: &RxStamps,
        cmsg: &mut Vec<u8>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            std::task::ready!(io.poll_read_ready(cx))?;
            // recvmsg writes into the unfilled part without reading it: no need to zero it
            // first (hyper hands over a fresh buffer of several KB per read).
            // SAFETY: nothing below writes uninitialised bytes into the buffer.
            let unfilled = unsafe { buf.unfilled_mut() };
            let (ptr, len) = (unfilled.as_mut_ptr().cast::<u8>(), unfilled.len());
            let got = io.try_io(Interest::READABLE, || {
                // SAFETY: `ptr..ptr + len` is the ReadBuf's unfilled part, valid for writes
                // and borrowed mutably for this call; the kernel only writes to it, and only
                // the `n` bytes it reports are marked initialised below.
                let dst = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
                let mut iov = [IoSliceMut::new(dst)];
                let msg =
                    recvmsg::<()>(io.as_raw_fd(), &mut iov, Some(cmsg.as_mut_slice()), MsgFlags::MSG_DONTWAIT).map_err(io::Error::from)?;
                let mut stamp = None;
                if let Ok(cmsgs) = msg.cmsgs() {
                    for c in cmsgs {
                        if let ControlMessageOwned::ScmTimestampsns(t) = c {
                            let ns = t.system.tv_sec() as i128 * 1_000_000_000 + t.system.tv_nsec() as i128;
                            stamp = u64::try_from(ns).ok().filter(|&ns| ns > 0);
                        }
                    }
                }
                Ok((msg.bytes, stamp))
            });
            match got {
                Ok((n, stamp)) => {
                    if let (Some(ns), true) = (stamp, n > 0) {
                        stamps.set(ns);
                    }
                    // SAFETY: recvmsg wrote `n` bytes at the start of the unfilled part.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;
    use std::task::{Context, Poll};

    use tokio::io::ReadBuf;
    use tokio::net::TcpStream;

    use super::RxStamps;

    pub fn enable(_: &TcpStream) -> bool {
        false
    }

    pub fn cmsg_buffer() -> Vec<u8> {
        Vec::new()
    }

    pub fn poll_read(_: &TcpStream, _: &RxStamps, _: &mut Vec<u8>, _: &mut Context<'_>, _: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        unreachable!("kernel stamps are never enabled off Linux")
    }
}
