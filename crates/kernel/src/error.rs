//! Errors as the guest sees them.
//!
//! Handlers return [`SysResult`]; only the dispatcher turns an error into
//! the `-errno` the guest finds in `%rax`.

pub use oxbox_abi::Errno;

/// The result of a syscall handler: the value for `%rax`, or an errno.
pub type SysResult = Result<u64, Errno>;

/// Guest-memory faults are `EFAULT`.
pub fn fault(_: oxbox_hal::usercopy::Fault) -> Errno {
    Errno::EFAULT
}
