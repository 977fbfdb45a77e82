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
