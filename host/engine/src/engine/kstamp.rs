//! Kernel timestamps: on Linux the connection's socket asks for `SO_TIMESTAMPING` software
//! stamps. Every read takes the receive stamp of the segment it consumed (`recvmsg` control
//! message, below TLS); every write is followed by a look at the socket's error queue, where
//! the kernel reports when the last byte of each send left for the device (`OPT_ID`: the
//! byte's offset in the stream; `OPT_TSONLY`: the stamp without the data). The wire tap stamps
//! `got-first-response-byte` and `wrote-request` from them: when the bytes reached or left this
//! machine's network stack, not when the engine got round to noticing. Elsewhere, or when the
//! kernel refuses the option, the stream works as usual and the tap keeps its own (user-space)
//! stamps.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The newest kernel stamps of one connection (ns since the Unix epoch: the kernel stamps with
/// `CLOCK_REALTIME`; 0 = none yet).
#[derive(Debug, Default)]
pub struct SocketStamps {
    last_unix_ns: AtomicU64,
    /// Bytes written to the socket so far.
    written: AtomicU64,
    /// The newest transmit stamp, and the stream offset just past the byte it is for.
    tx_end: AtomicU64,
    tx_unix_ns: AtomicU64,
}

impl SocketStamps {
    /// The stamp of the segment the last read consumed (ns since the Unix epoch), if any read
    /// carried one.
    pub fn received(&self) -> Option<u64> {
        match self.last_unix_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(ns),
        }
    }

    /// Bytes written to the socket so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// When the last byte written so far left for the device (ns since the Unix epoch), if the
    /// kernel has reported it.
    pub fn sent(&self) -> Option<u64> {
        let written = self.written.load(Ordering::Relaxed);
        let ns = self.tx_unix_ns.load(Ordering::Relaxed);
        // The offset is a 32-bit counter in the kernel: compared modulo 2^32.
        (written > 0 && ns > 0 && self.tx_end.load(Ordering::Relaxed) as u32 == written as u32).then_some(ns)
    }

    fn set(&self, unix_ns: u64) {
        self.last_unix_ns.store(unix_ns, Ordering::Relaxed);
    }
}

/// A TCP stream whose reads record the kernel's receive stamps (when enabled).
pub struct KernelStream {
    io: TcpStream,
    /// `Some` when the kernel accepted `SO_TIMESTAMPING`.
    stamps: Option<(Arc<SocketStamps>, Vec<u8>)>,
    /// Transmit stamps too (the kernel accepted them), read from the error queue after writes.
    tx: bool,
}

impl KernelStream {
    /// Wraps `io`, asking the kernel for the stamps `which` names (Linux only; anywhere else,
    /// or for what the kernel refuses, the stream works without them).
    pub fn new(io: TcpStream, which: super::KernelStamps) -> KernelStream {
        let accepted = if which.is_receive() { imp::enable(&io, which.is_all()) } else { imp::Accepted::None };
        let stamps = (accepted != imp::Accepted::None).then(|| (Arc::default(), imp::cmsg_buffer()));
        KernelStream { io, stamps, tx: accepted == imp::Accepted::RxTx }
    }

    /// The connection's stamps, if the kernel gives them.
    pub fn stamps(&self) -> Option<Arc<SocketStamps>> {
        self.stamps.as_ref().map(|(s, _)| s.clone())
    }

    /// After a write of `n` bytes: counts them and collects the transmit stamps the kernel has
    /// queued (on loopback and most devices, during the write itself).
    fn wrote(&mut self, r: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let (Poll::Ready(Ok(n)), Some((stamps, cmsg)), true) = (&r, &mut self.stamps, self.tx) {
            stamps.written.fetch_add(*n as u64, Ordering::Relaxed);
            imp::drain_tx(&self.io, stamps, cmsg);
        }
        r
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
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(r)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(r)
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

    use std::sync::atomic::Ordering;

    use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, TimestampingFlag, Timestamps};
    use tokio::io::{Interest, ReadBuf};
    use tokio::net::TcpStream;

    use super::SocketStamps;

    /// `SCM_TSTAMP_SND` (linux/errqueue.h): the stamp of a send leaving for the device.
    const SCM_TSTAMP_SND: u32 = 0;

    /// Which stamps the kernel agreed to give.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Accepted {
        None,
        Rx,
        RxTx,
    }

    /// Asks for software receive stamps, reported with each read, and transmit stamps of each
    /// send's last byte, queued on the error queue; receive stamps alone if the kernel refuses
    /// the rest.
    pub fn enable(io: &TcpStream, send: bool) -> Accepted {
        use TimestampingFlag as F;
        let rx = F::SOF_TIMESTAMPING_RX_SOFTWARE | F::SOF_TIMESTAMPING_SOFTWARE;
        let tx = F::SOF_TIMESTAMPING_TX_SOFTWARE | F::SOF_TIMESTAMPING_OPT_ID | F::SOF_TIMESTAMPING_OPT_TSONLY;
        if send && setsockopt(io, sockopt::Timestamping, &(rx | tx)).is_ok() {
            Accepted::RxTx
        } else if setsockopt(io, sockopt::Timestamping, &rx).is_ok() {
            Accepted::Rx
        } else {
            Accepted::None
        }
    }

    /// Reads the error queue until it is dry or has given the stamp of the last byte written,
    /// keeping the newest transmit stamp and its byte's offset.
    pub fn drain_tx(io: &TcpStream, stamps: &SocketStamps, cmsg: &mut [u8]) {
        loop {
            let mut nothing = [0u8; 0];
            let mut iov = [IoSliceMut::new(&mut nothing)];
            let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
            let Ok(msg) = recvmsg::<()>(io.as_raw_fd(), &mut iov, Some(&mut *cmsg), flags) else { return };
            let (mut ns, mut end) = (None, None);
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    match c {
                        ControlMessageOwned::ScmTimestampsns(t) => ns = unix_ns(&t),
                        ControlMessageOwned::Ipv4RecvErr(e, _) | ControlMessageOwned::Ipv6RecvErr(e, _)
                            if e.ee_origin == libc::SO_EE_ORIGIN_TIMESTAMPING && e.ee_info == SCM_TSTAMP_SND =>
                        {
                            // ee_data: the offset of the send's last byte (from 0 when the
                            // option was set, before any write).
                            end = Some(e.ee_data as u64 + 1);
                        }
                        _ => {}
                    }
                }
            }
            if let (Some(ns), Some(end)) = (ns, end) {
                stamps.tx_end.store(end, Ordering::Relaxed);
                stamps.tx_unix_ns.store(ns, Ordering::Relaxed);
                // The stamp of the last byte written so far: nothing newer can be queued, so
                // no second `recvmsg` to hear "empty" (on loopback, one syscall per write
                // instead of two).
                if end as u32 == stamps.written.load(Ordering::Relaxed) as u32 {
                    return;
                }
            }
        }
    }

    fn unix_ns(t: &Timestamps) -> Option<u64> {
        let ns = t.system.tv_sec() as i128 * 1_000_000_000 + t.system.tv_nsec() as i128;
        u64::try_from(ns).ok().filter(|&ns| ns > 0)
    }

    /// Room for the control messages of a read (`SCM_TIMESTAMPING`) or of a transmit stamp
    /// (that and `IP_RECVERR`/`IPV6_RECVERR` with the offending address).
    pub fn cmsg_buffer() -> Vec<u8> {
        nix::cmsg_space!(Timestamps, libc::sock_extended_err, libc::sockaddr_in6)
    }

    /// A read with `recvmsg`, keeping the stamp of what it consumed.
    pub fn poll_read(
        io: &TcpStream,
        stamps: &SocketStamps,
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
            let mut read = None;
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
                            stamp = unix_ns(&t);
                        }
                    }
                }
                let n = msg.bytes;
                read = Some((n, stamp));
                // As tokio's own reads do on epoll: a read that did not fill the buffer has
                // drained the socket. Saying "would block" here clears the readiness seen
                // before this read (a newer one stays), so the next read waits for data
                // instead of asking the kernel once more for nothing (one `recvmsg` per
                // response saved in a keep-alive run).
                if 0 < n && n < len {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(())
            });
            match (read, got) {
                (Some((n, stamp)), _) => {
                    if let (Some(ns), true) = (stamp, n > 0) {
                        stamps.set(ns);
                    }
                    // SAFETY: recvmsg wrote `n` bytes at the start of the unfilled part.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                (None, Err(e)) if e.kind() == io::ErrorKind::WouldBlock => continue,
                (None, Err(e)) => return Poll::Ready(Err(e)),
                // (The closure returns `Ok` only after a read.)
                (None, Ok(())) => continue,
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

    use super::SocketStamps;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Accepted {
        None,
        RxTx,
    }

    pub fn enable(_: &TcpStream, _: bool) -> Accepted {
        Accepted::None
    }

    pub fn drain_tx(_: &TcpStream, _: &SocketStamps, _: &mut [u8]) {}

    pub fn cmsg_buffer() -> Vec<u8> {
        Vec::new()
    }

    pub fn poll_read(_: &TcpStream, _: &SocketStamps, _: &mut Vec<u8>, _: &mut Context<'_>, _: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        unreachable!("kernel stamps are never enabled off Linux")
    }
}
