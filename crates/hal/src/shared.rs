//! Memory shared by every process of the container: a memory file the
//! container's first process creates at [`CONTAINER_SHARED_FD`] (kept open,
//! without close-on-exec, through forks and execs, like the kernel image),
//! mapped shared at [`CONTAINER_SHARED_ADDR`] by every kernel instance. The
//! kernel keeps there what one process must learn about the others (the
//! process table behind `/proc`); it is a plain array of words, touched
//! only through atomics, whose layout is the kernel's business.

use core::sync::atomic::AtomicU64;

use syscalls::Sysno;

use crate::host::{Errno, raw_syscall};
use oxbox_abi::layout::{CONTAINER_SHARED_ADDR, CONTAINER_SHARED_FD, CONTAINER_SHARED_SIZE};

/// Words in the shared area.
pub const WORDS: usize = (CONTAINER_SHARED_SIZE / 8) as usize;

static ATTACHED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Creates the shared area (`first`: the container's first process) or
/// maps the one inherited at [`CONTAINER_SHARED_FD`] (a process started by
/// a guest `execve`). A forked child inherits the mapping itself.
pub fn attach(first: bool) -> Result<(), Errno> {
    if first {
        let name = c"oxbox-container";
        // SAFETY: `name` is a NUL-terminated kernel string; no flags, so
        // the file survives exec.
        let fd = unsafe {
            raw_syscall(
                Sysno::memfd_create as usize,
                [name.as_ptr() as u64, 0, 0, 0, 0, 0],
            )?
        };
        // SAFETY: plain descriptor calls on the kernel's own descriptors.
        unsafe {
            raw_syscall(
                Sysno::ftruncate as usize,
                [fd, CONTAINER_SHARED_SIZE, 0, 0, 0, 0],
            )?;
            raw_syscall(
                Sysno::dup3 as usize,
                [fd, CONTAINER_SHARED_FD as u64, 0, 0, 0, 0],
            )?;
            raw_syscall(Sysno::close as usize, [fd, 0, 0, 0, 0, 0])?;
        }
    }
    const PROT_READ_WRITE: u64 = 3;
    const MAP_SHARED: u64 = 1;
    const MAP_FIXED: u64 = 0x10;
    // SAFETY: the address lies in the kernel's area, where only the
    // inaccessible reservation made at boot (`kernel_area::reserve`) is
    // replaced: nothing else ever maps these pages.
    let got = unsafe {
        raw_syscall(
            Sysno::mmap as usize,
            [
                CONTAINER_SHARED_ADDR,
                CONTAINER_SHARED_SIZE,
                PROT_READ_WRITE,
                MAP_SHARED | MAP_FIXED,
                CONTAINER_SHARED_FD as u64,
                0,
            ],
        )?
    };
    if got != CONTAINER_SHARED_ADDR {
        return Err(Errno::EEXIST);
    }
    ATTACHED.store(true, core::sync::atomic::Ordering::Release);
    Ok(())
}

/// The shared area, if this process has it (see [`attach`]).
pub fn words() -> Option<&'static [AtomicU64; WORDS]> {
    if !ATTACHED.load(core::sync::atomic::Ordering::Acquire) {
        return None;
    }
    // SAFETY: mapped shared and writable at this address for the life of
    // the process (never unmapped: the guest cannot touch the kernel's
    // area); other processes only access it through atomics too.
    Some(unsafe { &*(CONTAINER_SHARED_ADDR as *const [AtomicU64; WORDS]) })
}
