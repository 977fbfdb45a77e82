//! Errors as the guest sees them.
//!
//! Handlers return [`SysResult`]; only the dispatcher turns an error into
//! the `-errno` the guest finds in `%rax`.

pub use oxbox_abi::Errno;

/// The result of a syscall handler: the value for `%rax`, or an errno.
pub type SysResult = Result<u64, Errno>;

/// Converts an error reported by the host into the guest's errno.
pub fn from_host(e: oxbox_hal::host::Errno) -> Errno {
    Errno::new(e.raw_os_error())
}

/// Guest-memory faults are `EFAULT`.
pub fn fault(_: oxbox_hal::usercopy::Fault) -> Errno {
    Errno::EFAULT
}

/// `?` on host results inside handlers.
pub trait HostResultExt<T> {
    fn host(self) -> Result<T, Errno>;
}

impl<T> HostResultExt<T> for Result<T, oxbox_hal::host::Errno> {
    fn host(self) -> Result<T, Errno> {
        self.map_err(from_host)
    }
}
