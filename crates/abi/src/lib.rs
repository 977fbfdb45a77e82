//! Definitions shared by the two halves of oxbox.
//!
//! The kernel (`no_std`, running inside every container process) and the
//! host-side runtime (`std`: CLI and sandbox) agree here on:
//! - [`layout`]: the fixed addresses and reserved descriptors of the kernel;
//! - [`boot`]: the record the runtime hands to the kernel at `execveat`;
//! - [`hostcalls`]: the host syscalls the kernel may issue, with a reason each;
//! - [`seccomp`]: the compiler from that allowlist to a classic BPF filter;
//! - [`guest_filter`]: the guest's own seccomp profile, enforced by the kernel;
//! - [`ucontext`]: the signal context layout both halves read and write.
//!
//! Keeping them in one `no_std` crate means the allowlist that
//! `oxbox debug host-syscalls` prints is the very data the kernel installs.
#![no_std]

extern crate alloc;

pub mod boot;
pub mod guest_filter;
pub mod hostcalls;
pub mod layout;
pub mod seccomp;
pub mod ucontext;

pub use syscalls::{Errno, Sysno};
