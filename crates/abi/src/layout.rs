//! Fixed addresses and descriptor numbers of the oxbox kernel.
//!
//! The kernel image is linked at [`KERNEL_BASE`], so its text occupies the
//! same range in every container process and across `execve`; the seccomp
//! filter can then tell kernel syscalls from guest ones by instruction
//! pointer alone. Everything the kernel allocates for itself lives inside
//! [`KERNEL_AREA`], which the guest can never map, unmap or protect.
//!
//! At boot the kernel reserves everything in that area past its image as
//! inaccessible memory (`oxbox_hal::kernel_area`) and makes only its heap,
//! stacks and shared pages usable: the host can then never place a guest
//! mapping in it, whatever the guest asks for, and every page the kernel
//! does not use (below and above the heap, below each kernel stack) stays
//! a guard page whose touch faults instead of landing in other memory.

use core::ops::Range;

/// Load address of the kernel image (`-Wl,--image-base`).
pub const KERNEL_BASE: u64 = 0x7e00_0000_0000;
/// Size of the area reserved for the kernel: image, heap and stacks.
pub const KERNEL_AREA_SIZE: u64 = 1 << 34;
/// The whole kernel area; guest memory calls that touch it fail.
pub const KERNEL_AREA: Range<u64> = KERNEL_BASE..KERNEL_BASE + KERNEL_AREA_SIZE;
/// Room for the image (text, data and bss) at the start of the area.
///
/// What every process touches (the image, the main thread's kernel stack,
/// the start of the heap, its slot of the shared pages) sits in the area's
/// first gigabyte, most of it in its first 2 MiB: the host then needs one
/// page-table page per level for all of it (and one more for the shared
/// pages), where regions gigabytes apart cost a page at every level each.
/// Every `fork` copies those pages, every exit and `execve` frees them.
pub const KERNEL_IMAGE_MAX: u64 = 1 << 20;
/// The main thread's kernel stack slot (a guard page, the stack, its
/// context), right after the image's room.
pub const KERNEL_MAIN_STACK_SLOT: u64 = KERNEL_BASE + KERNEL_IMAGE_MAX;
/// Inaccessible gap left between the kernel's regions (a guard page).
pub const KERNEL_GUARD_SIZE: u64 = 4096;
/// Start of the kernel heap inside the kernel area, after the main
/// thread's slot.
pub const KERNEL_HEAP_BASE: u64 = KERNEL_BASE + (3 << 19);
/// Where every kernel instance of a container maps the memory the
/// container's processes share (at the end of the area's first gigabyte),
/// and its size.
pub const CONTAINER_SHARED_SIZE: u64 = 2 << 20;
pub const CONTAINER_SHARED_ADDR: u64 = KERNEL_BASE + (1 << 30) - CONTAINER_SHARED_SIZE;
/// Size of the kernel heap, up to a guard page below the shared pages
/// (reserved lazily: only touched pages cost memory).
pub const KERNEL_HEAP_SIZE: u64 = CONTAINER_SHARED_ADDR - KERNEL_GUARD_SIZE - KERNEL_HEAP_BASE;
/// Start of the kernel stacks of the threads a guest starts.
pub const KERNEL_STACKS_BASE: u64 = KERNEL_BASE + (2 << 32);
/// Size of one kernel stack, excluding its guard page.
pub const KERNEL_STACK_SIZE: u64 = 256 << 10;

// The regions above, checked when the crate builds: in order, apart, in
// the area; the image, the main stack and the heap's start in one 2 MiB
// page-table page, the shared pages in one of their own, all of them in
// the area's first gigabyte (one page-directory page).
const _: () = {
    let slot_end = KERNEL_MAIN_STACK_SLOT + KERNEL_GUARD_SIZE + KERNEL_STACK_SIZE;
    assert!(KERNEL_BASE + KERNEL_IMAGE_MAX <= KERNEL_MAIN_STACK_SLOT);
    // The slot's context pages follow its stack; a few pages suffice.
    assert!(slot_end + (64 << 10) <= KERNEL_HEAP_BASE);
    assert!(KERNEL_HEAP_BASE + KERNEL_HEAP_SIZE + KERNEL_GUARD_SIZE <= CONTAINER_SHARED_ADDR);
    assert!(KERNEL_HEAP_SIZE >= 1000 << 20);
    assert!(CONTAINER_SHARED_ADDR + CONTAINER_SHARED_SIZE <= KERNEL_STACKS_BASE);
    assert!(KERNEL_STACKS_BASE < KERNEL_AREA.end);
    assert!(KERNEL_BASE >> 21 == KERNEL_HEAP_BASE >> 21);
    assert!(
        CONTAINER_SHARED_ADDR >> 21 == (CONTAINER_SHARED_ADDR + CONTAINER_SHARED_SIZE - 1) >> 21
    );
    assert!(KERNEL_BASE >> 30 == (CONTAINER_SHARED_ADDR + CONTAINER_SHARED_SIZE - 1) >> 30);
};

/// Address of the slot table that patched syscall sites call through.
///
/// A patched site is `ff 14 25 <abs32>` (`call *abs32`), written over
/// `b8 <imm32> 0f 05` (`mov $nr,%eax; syscall`). The upper 16 bits of every
/// slot address are `0x050f`, so the last two bytes of the new instruction
/// are `0f 05` again: a thread that had executed the old `mov` and resumes at
/// the old `syscall` offset still finds a `syscall` instruction there, with
/// the right number in `%eax`, and simply takes the trap path.
pub const SLOT_TABLE_ADDR: u64 = 0x050f_0000;
/// Number of slots; syscall numbers at or above it are never patched.
pub const SLOT_COUNT: usize = 512;
/// Bytes spanned by the slot table (one page).
pub const SLOT_TABLE_SIZE: u64 = (SLOT_COUNT * 8) as u64;

/// A page holding `syscall; cmp $-4096,%rax; ret`, outside kernel text: a patched call that
/// must deliver a signal on its way back to the guest returns through it,
/// so that the return traps (`SIGNAL_RETURN_NR`) and the signal is
/// delivered from a full register context, exactly like a trapped call.
pub const TRAMPOLINE_ADDR: u64 = SLOT_TABLE_ADDR + 0x1000;
/// The syscall number the trampoline issues; it returns the result of the
/// patched call that was diverted. No Linux syscall has this number.
pub const SIGNAL_RETURN_NR: u64 = SLOT_COUNT as u64 - 1;

/// Descriptors at or above this number belong to the kernel; guest calls
/// that name or would create them fail with `EBADF`.
pub const RESERVED_FD_BASE: i32 = 1008;
/// The kernel's log (the stderr of `oxbox` itself, not the guest's).
pub const LOG_FD: i32 = 1023;
/// The kernel image, open without close-on-exec in every container
/// process: a guest `execve` re-executes it with `execveat`, the only
/// program a container can ask the host to run.
pub const KERNEL_IMAGE_FD: i32 = 1022;
/// The memory file the container's processes share (see
/// `oxbox_hal::shared`), open without close-on-exec in every process.
pub const CONTAINER_SHARED_FD: i32 = 1021;
/// The guest's seccomp profile (`oxbox_abi::guest_filter`), a sealed
/// memory file open without close-on-exec in every process of a container
/// that has one.
pub const GUEST_FILTER_FD: i32 = 1020;
/// The control socket of the container's own network stack
/// (`--network sandbox`, `oxbox_netstack`), open without close-on-exec in
/// every process of a container that has one.
pub const NETSTACK_FD: i32 = 1019;
/// A read-only, detached copy of the host's `/proc/sys` mount (an `O_PATH`
/// descriptor of its root, which `..` cannot climb above), open without
/// close-on-exec in every container process: the kernel's `/proc/sys`
/// looks names up through it, in the container's namespaces.
pub const PROC_SYS_FD: i32 = 1018;
/// The two ends of the pipe through which a `CLONE_VM|CLONE_VFORK` child
/// (which oxbox gives a copy of memory) hands its parent the parent's
/// stack as it left it (see `oxbox_kernel::syscall::exec`); close-on-exec,
/// open only while the parent waits for the child.
pub const VFORK_HANDOFF_READ_FD: i32 = 1017;
pub const VFORK_HANDOFF_WRITE_FD: i32 = 1016;

/// Address space the kernel takes in every process: its whole area
/// (reserved at boot) and the slot table and trampoline pages. The host's
/// `RLIMIT_AS` counts it, so the kernel adds it to the limit a guest sets
/// and subtracts it from the limit a guest reads.
pub const KERNEL_ADDRESS_SPACE: u64 = KERNEL_AREA_SIZE + 2 * 4096;

/// Whether `[addr, addr+len)` touches memory the guest must not map, unmap,
/// protect or pass to the kernel as a buffer.
pub fn overlaps_kernel(addr: u64, len: u64) -> bool {
    let end = addr.saturating_add(len);
    // The slot table page and the trampoline page after it.
    let slot_page = SLOT_TABLE_ADDR..SLOT_TABLE_ADDR + 2 * 4096;
    (addr < KERNEL_AREA.end && end > KERNEL_AREA.start)
        || (addr < slot_page.end && end > slot_page.start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_addresses_end_in_syscall_opcode() {
        for nr in 0..SLOT_COUNT as u64 {
            let bytes = ((SLOT_TABLE_ADDR + nr * 8) as u32).to_le_bytes();
            assert_eq!(&bytes[2..], &[0x0f, 0x05], "slot {nr}");
        }
    }

    #[test]
    fn kernel_regions_are_detected_at_their_edges() {
        assert!(!overlaps_kernel(KERNEL_BASE - 4096, 4096));
        assert!(overlaps_kernel(KERNEL_BASE - 4096, 4097));
        assert!(overlaps_kernel(SLOT_TABLE_ADDR, 1));
        assert!(!overlaps_kernel(0x40_0000, 0x1000));
        assert!(overlaps_kernel(0, u64::MAX));
    }
}
