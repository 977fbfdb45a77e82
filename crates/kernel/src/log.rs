//! The kernel log: lines on the runtime's stderr (the reserved descriptor
//! `LOG_FD`), never on the guest's own descriptors.

use core::fmt;
use core::sync::atomic::{AtomicU8, Ordering};

use oxbox_abi::boot::LogLevel;
use oxbox_abi::layout::LOG_FD;
use oxbox_hal::host;

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Warn as u8);

pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: LogLevel) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one log line, `oxbox-kernel[pid]: level: message`.
pub fn write(level: LogLevel, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let name = match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
    };
    let line = alloc::format!("oxbox-kernel[{}]: {name}: {args}\n", crate::task::pid());
    // Nothing sensible to do if the runtime's stderr is gone.
    let _ = host::write_all(LOG_FD, line.as_bytes());
}

/// Writes raw text to the log descriptor (stats output, fatal messages).
pub fn write_raw(text: &str) {
    let _ = host::write_all(LOG_FD, text.as_bytes());
}

#[macro_export]
macro_rules! kwarn {
    ($($arg:tt)*) => { $crate::log::write(oxbox_abi::boot::LogLevel::Warn, format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! kinfo {
    ($($arg:tt)*) => { $crate::log::write(oxbox_abi::boot::LogLevel::Info, format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! kdebug {
    ($($arg:tt)*) => { $crate::log::write(oxbox_abi::boot::LogLevel::Debug, format_args!($($arg)*)) };
}

/// A fixed-size line for messages that must not allocate (the panic
/// handler may run with the heap in any state). Longer text is cut.
pub struct LineBuffer {
    bytes: [u8; 512],
    len: usize,
}

impl LineBuffer {
    pub const fn new() -> Self {
        Self {
            bytes: [0; 512],
            len: 0,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only whole `str`s are appended, but a cut may split a character.
        match core::str::from_utf8(&self.bytes[..self.len]) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&self.bytes[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl Default for LineBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for LineBuffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
