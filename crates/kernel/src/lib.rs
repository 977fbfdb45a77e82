//! The oxbox kernel: Linux x86-64 syscall semantics for one container.
//!
//! This crate is the meaning of every guest system call; how a call
//! arrives (patched site or SIGSYS trap) and how the host is reached are
//! `oxbox-hal`'s business, and this crate uses no `unsafe` at all. It runs
//! inside the guest's process on the guest's FS base, so it is `no_std`
//! (plus `alloc`), keeps no thread-local state and links no libc.
//!
//! Layout, one module per area:
//! - [`boot`]: from the image's `_start` to the guest's first instruction;
//! - [`loader`]: ELF executables, `#!` scripts and the initial stack;
//! - [`syscall`]: the dispatch table (`syscall/table.rs`) and one module
//!   per family of handlers;
//! - [`mm`]: guest memory: checked user access, the VMA map, `brk`;
//! - [`fs`]: path routing, the descriptor table, `/proc` and `/dev`;
//! - [`net`]: sockets: what the kernel checks and translates between the
//!   guest's sockets and the host's;
//! - [`task`]: the process's identity as the container sees it;
//! - [`procs`]: the container's process table, shared by its processes;
//! - [`signal`]: the guest's signal dispositions and masks;
//! - [`log`], [`stats`]: the kernel log and the patched/trapped counters.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod boot;
pub mod error;
pub mod fs;
pub mod loader;
pub mod log;
pub mod mm;
pub mod net;
pub mod procs;
pub mod signal;
pub mod stats;
pub mod syscall;
pub mod task;

pub use error::{Errno, SysResult};
