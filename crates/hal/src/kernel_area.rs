//! The kernel's own part of the address space, reserved whole at boot.
//!
//! The kernel shares the guest's address space. Refusing guest memory
//! calls over [`KERNEL_AREA`] is not enough on its own: a guest that fills
//! the rest of the address space would make the host place its next
//! mappings in the kernel area's unused pages, which include the guard
//! pages below the kernel stacks. So the first thing the image does is map
//! everything in the area past its own image as inaccessible, unaccounted
//! memory (`PROT_NONE`, `MAP_NORESERVE`); the kernel then makes usable only
//! the ranges it needs ([`commit`]), and every other page stays a guard
//! whose touch faults: a guest's wild pointer there gets SIGSEGV, a kernel
//! stack that overflows faults instead of writing into its neighbour.
//!
//! What remains writable (heap, stacks, thread contexts, shared pages) is
//! still writable by guest code too. Memory protection keys could narrow
//! that (kernel pages tagged with a key whose write permission is granted
//! in PKRU on kernel entry and revoked on exit), and some of the machines
//! this runs on have PKU, but it is not done: `WRPKRU` is unprivileged, so
//! keys would stop a guest's stray write but not a hostile guest that
//! grants itself the key; every entry would pay two `WRPKRU`s (the patched
//! fast path is a few nanoseconds); and the host resets PKRU for signal
//! handlers, so the SIGSYS and fault paths would need their own grant.

use oxbox_abi::layout::{KERNEL_AREA, KERNEL_IMAGE_MAX};

use crate::host::{self, Errno, Prot};

unsafe extern "C" {
    /// End of the image's bss, defined by the linker.
    static _end: u8;
    /// The image's first byte (its ELF header, in the read-only segment),
    /// defined by the linker.
    static __executable_start: u8;
}

/// First address of the area past the kernel image.
fn after_image() -> u64 {
    (&raw const _end as u64).next_multiple_of(4096)
}

/// Reserves the area past the image. Call once, first thing at boot,
/// before anything else is mapped in the area.
pub fn reserve() -> Result<(), Errno> {
    let start = after_image();
    // The regions that follow the image are placed for an image of at
    // most this size (see `oxbox_abi::layout`).
    if start > KERNEL_AREA.start + KERNEL_IMAGE_MAX {
        return Err(Errno::ENOMEM);
    }
    host::reserve_at(start, KERNEL_AREA.end - start)
}

/// Makes `[addr, addr+len)`, which must lie in the reserved part of the
/// area, readable and writable (pages cost memory only once touched).
pub fn commit(addr: u64, len: u64) -> Result<(), Errno> {
    let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
    if addr < after_image() || end > KERNEL_AREA.end {
        return Err(Errno::EINVAL);
    }
    host::protect_kernel_page(addr, len, Prot::READ | Prot::WRITE)
}

/// Makes the host copy the image's read-only and code mappings' page
/// tables at fork, as it does for the writable ones. Call before forking,
/// while no other thread runs (the code is briefly writable too).
///
/// The host copies a private file mapping's page-table entries into a
/// fork child only if the mapping has anonymous pages (an `anon_vma`);
/// otherwise the child faults every page in again from the page cache.
/// The image's code and read-only data have none (nothing writes them),
/// so a fork child took a fault per 64 KiB of them it ran through (four
/// for a child that only exits). Rewriting one byte of each with its own
/// value gives each mapping a private copy of that page, and with it an
/// `anon_vma`. Each whole segment is made writable and back, not just the
/// page: a private file mapping once made writable stays marked as
/// accounted, so a page changed alone would stay a host mapping of its
/// own. Done once per image (fork children inherit the state); costs two
/// pages of memory per process that forks.
pub fn copy_image_at_fork() -> Result<(), Errno> {
    use core::sync::atomic::{AtomicBool, Ordering};
    const PT_LOAD: u32 = 1;
    const PF_W: u32 = 2;
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    let image = &raw const __executable_start as u64;
    // SAFETY: the image starts with its ELF header, mapped read-only for
    // the life of the process: e_phoff at 32, e_phnum at 56.
    let (phoff, phnum) = unsafe {
        (
            ((image + 32) as *const u64).read_unaligned(),
            ((image + 56) as *const u16).read_unaligned(),
        )
    };
    for i in 0..phnum as u64 {
        let entry = image + phoff + i * 56;
        // SAFETY: the program headers lie in the image's first page, right
        // after the ELF header (the host's exec read them from there).
        let (kind, flags, vaddr, memsz) = unsafe {
            (
                (entry as *const u32).read_unaligned(),
                ((entry + 4) as *const u32).read_unaligned(),
                ((entry + 16) as *const u64).read_unaligned(),
                ((entry + 40) as *const u64).read_unaligned(),
            )
        };
        if kind != PT_LOAD || flags & PF_W != 0 || memsz == 0 {
            continue;
        }
        let start = vaddr & !4095;
        let len = (vaddr + memsz).next_multiple_of(4096) - start;
        const PF_X: u32 = 1;
        const PF_R: u32 = 4;
        let has = |bit: u32, prot: Prot| {
            if flags & bit != 0 {
                prot
            } else {
                Prot::empty()
            }
        };
        let prot = has(PF_R, Prot::READ) | has(PF_X, Prot::EXEC);
        host::protect_kernel_page(start, len, prot | Prot::WRITE)?;
        let byte = start as *mut u8;
        // SAFETY: `start` is the first page of a segment of the image,
        // mapped and now writable; its first byte gets back the value it
        // has, so code running from it (it stays executable) sees no change.
        unsafe { byte.write_volatile(byte.read_volatile()) };
        host::protect_kernel_page(start, len, prot)?;
    }
    DONE.store(true, Ordering::Relaxed);
    Ok(())
}
