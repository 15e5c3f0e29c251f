//! The run's output: where plugins' `emit` text goes (stdout, a file, or memory for tests).
//!
//! Buffered; the chain flushes it after every batch and at the end. Writes come only from the
//! chain thread, so the lock is never contended. A write error (say, a closed pipe) is
//! remembered, later writes are skipped, and the run's report carries it.

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A shared, buffered output writer. Cheap to clone (all clones write to the same place).
#[derive(Clone)]
pub struct Output {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    w: BufWriter<Box<dyn Write + Send>>,
    error: Option<io::ErrorKind>,
    written: u64,
}

impl Output {
    /// Writes to the process's stdout.
    pub fn stdout() -> Output {
        Output::writer(io::stdout())
    }

    /// Creates (truncates) `path` and writes there.
    pub fn file(path: &Path) -> io::Result<Output> {
        Ok(Output::writer(std::fs::File::create(path)?))
    }

    /// Writes to any writer.
    pub fn writer(w: impl Write + Send + 'static) -> Output {
        let w: Box<dyn Write + Send> = Box::new(w);
        Output { inner: Arc::new(Mutex::new(Inner { w: BufWriter::with_capacity(64 * 1024, w), error: None, written: 0 })) }
    }

    /// Writes into memory; the [`MemoryOutput`] reads what was written.
    pub fn memory() -> (Output, MemoryOutput) {
        let buf = MemoryOutput::default();
        (Output::writer(buf.clone()), buf)
    }

    /// Appends bytes (buffered).
    pub(crate) fn write(&self, bytes: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.error.is_some() {
            return;
        }
        match inner.w.write_all(bytes) {
            Ok(()) => inner.written += bytes.len() as u64,
            Err(e) => inner.error = Some(e.kind()),
        }
    }

    /// Flushes buffered bytes to the destination.
    pub fn flush(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.error.is_none() {
            if let Err(e) = inner.w.flush() {
                inner.error = Some(e.kind());
            }
        }
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<io::ErrorKind> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).error
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).written
    }
}

/// The in-memory destination of [`Output::memory`].
#[derive(Clone, Default)]
pub struct MemoryOutput {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl MemoryOutput {
    /// Everything flushed so far, as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl Write for MemoryOutput {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
