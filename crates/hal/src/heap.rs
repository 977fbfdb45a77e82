//! Memory for the kernel's allocator.
//!
//! The heap sits at a fixed place in the kernel area, between guard
//! pages, carved out of the area's `MAP_NORESERVE` reservation: only pages
//! the allocator touches cost memory, and the guest can never map over it
//! (see `oxbox_abi::layout` and [`crate::kernel_area`]).

use oxbox_abi::layout::{KERNEL_HEAP_BASE, KERNEL_HEAP_SIZE};

use crate::host::Errno;
use crate::kernel_area;

/// Makes the heap region usable and returns it as (start, size).
pub fn map_heap() -> Result<(u64, u64), Errno> {
    kernel_area::commit(KERNEL_HEAP_BASE, KERNEL_HEAP_SIZE)?;
    Ok((KERNEL_HEAP_BASE, KERNEL_HEAP_SIZE))
}

/// The kernel's global allocator: a first-fit free list behind a spin lock
/// (no thread-local state, as the kernel may not touch `%fs`).
pub struct KernelHeap(linked_list_allocator::LockedHeap);

impl KernelHeap {
    pub const fn empty() -> Self {
        Self(linked_list_allocator::LockedHeap::empty())
    }

    /// Makes the heap usable and hands it to the allocator. Call once, at
    /// boot, after [`kernel_area::reserve`].
    pub fn init(&self) -> Result<(), Errno> {
        let (start, size) = map_heap()?;
        // SAFETY: the region was just made writable, is reserved for the heap, is used by
        // nothing else, and stays mapped for the life of the process.
        unsafe { self.0.lock().init(start as *mut u8, size as usize) };
        Ok(())
    }
}

// SAFETY: delegates to LockedHeap, which upholds the GlobalAlloc contract.
unsafe impl core::alloc::GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.0.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.0.dealloc(ptr, layout) }
    }
}
