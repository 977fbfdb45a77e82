//! Progress of long operations (copying blobs, unpacking layers), reported
//! to whatever the caller shows: a bar on a terminal, lines in a log.

use std::io::{self, Read};

/// Receives progress reports. One task runs at a time.
pub trait Progress {
    /// A task starts; `total` is its size in bytes when known.
    fn begin(&self, task: &str, total: Option<u64>);
    /// `bytes` more bytes of the current task are done.
    fn advance(&self, bytes: u64);
    /// The current task ended; `outcome` says how (e.g. "done", "exists").
    fn end(&self, outcome: &str);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self, _: &str) {}
}

/// A reader that reports every byte read through it.
pub struct ProgressReader<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<'a, R: Read> ProgressReader<'a, R> {
    /// Wraps `inner`.
    pub fn new(inner: R, progress: &'a dyn Progress) -> Self {
        Self { inner, progress }
    }
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}
