//! oxbox-hal: the machine-facing half of the oxbox kernel.
//!
//! Everything here is mechanism, not meaning: how control arrives in the
//! kernel (the image's `_start`, patched call sites, the SIGSYS trap), how
//! the kernel reaches the host (raw and typed syscalls), how it touches
//! guest memory without trusting guest pointers, and how syscall sites are
//! rewritten. The syscall semantics live in `oxbox-kernel`, which is blind
//! to whether a call came through a patched site or a trap, and which may
//! not use `unsafe`: this crate is where the unsafe code of the kernel is
//! confined, one named place per concern, each block with its `SAFETY:`.
//!
//! The whole crate runs inside guest processes, on the guest's FS base, so
//! it never uses TLS, libc or anything that touches `%fs`.
#![no_std]

pub mod cpu;
pub mod entry;
pub mod fast;
pub mod heap;
pub mod host;
pub mod kernel_area;
pub mod patch;
pub mod shared;
pub mod signals;
pub mod thread;
pub mod usercopy;

pub use entry::{Entry, SyscallFrame};
