//! Per-thread kernel context and the segment bases.
//!
//! The guest owns `%fs` (its TLS). The kernel reaches its per-thread
//! context through `%gs`, whose base is set once per thread to a
//! [`ThreadCtx`]; entry code reads it with `%gs:`-relative moves, which cost
//! about a nanosecond, instead of swapping FS bases (tens of nanoseconds).

use core::arch::asm;

use crate::host::{self, Errno};

/// Offsets of [`ThreadCtx`] fields used by the entry assembly.
pub const CTX_KSTACK_TOP: usize = 8;
pub const CTX_GUEST_RSP: usize = 16;

/// The per-thread context reached through the GS base.
#[repr(C)]
pub struct ThreadCtx {
    /// Address of this structure, so that `%gs:0` yields a pointer to it.
    self_addr: u64,
    /// Top of this thread's kernel stack (16-byte aligned).
    kstack_top: u64,
    /// Guest stack pointer saved by the patched-call entry.
    guest_rsp: u64,
}

/// Allocates the main thread's kernel stack and context at fixed places in
/// the kernel area, points GS at the context and registers the stack as the
/// alternate signal stack, so that traps and patched calls both run the
/// kernel on its own stack, never on the guest's.
pub fn init_main_thread() -> Result<(), Errno> {
    use oxbox_abi::layout::{KERNEL_STACK_SIZE, KERNEL_STACKS_BASE};
    const PAGE: u64 = 4096;
    // Layout: [guard page][stack ... ][ctx page]
    let stack_bottom = KERNEL_STACKS_BASE + PAGE;
    let ctx_addr = stack_bottom + KERNEL_STACK_SIZE;
    host::map_anonymous_at(
        stack_bottom,
        KERNEL_STACK_SIZE + PAGE,
        host::Prot::READ | host::Prot::WRITE,
    )?;
    let ctx = ThreadCtx {
        self_addr: ctx_addr,
        kstack_top: ctx_addr,
        guest_rsp: 0,
    };
    // SAFETY: `ctx_addr` is the start of a fresh, writable, page-aligned
    // mapping owned by the kernel and large enough for a ThreadCtx.
    unsafe { (ctx_addr as *mut ThreadCtx).write(ctx) };
    host::set_gs_base(ctx_addr)?;
    // stack_t: ss_sp, ss_flags (int, padded), ss_size.
    let stack: [u64; 3] = [stack_bottom, 0, KERNEL_STACK_SIZE];
    // SAFETY: the region is a dedicated, writable mapping with a guard page
    // below it, used only by the kernel's handlers and patched calls.
    unsafe {
        host::raw_syscall(
            syscalls::Sysno::sigaltstack as usize,
            [stack.as_ptr() as u64, 0, 0, 0, 0, 0],
        )?
    };
    Ok(())
}

/// Whether the CPU and host let user code write the FS base directly
/// (`AT_HWCAP2` bit `HWCAP2_FSGSBASE`).
static FSGSBASE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Records the `AT_HWCAP2` value the host gave the kernel at exec.
pub fn set_hwcap2(hwcap2: u64) {
    const HWCAP2_FSGSBASE: u64 = 1 << 1;
    FSGSBASE.store(
        hwcap2 & HWCAP2_FSGSBASE != 0,
        core::sync::atomic::Ordering::Relaxed,
    );
}

/// Sets the guest's FS base (its TLS pointer).
pub fn set_fs_base(base: u64) -> Result<(), Errno> {
    if FSGSBASE.load(core::sync::atomic::Ordering::Relaxed) {
        // SAFETY: the kernel never uses %fs, so changing its base only
        // affects the guest, which asked for it. A non-canonical address
        // would fault, so the caller checks canonicality first.
        unsafe { asm!("wrfsbase {}", in(reg) base, options(nostack, preserves_flags)) };
        Ok(())
    } else {
        const ARCH_SET_FS: u64 = 0x1002;
        host::forward(
            syscalls::Sysno::arch_prctl as usize,
            [ARCH_SET_FS, base, 0, 0, 0, 0],
        )
        .map(drop)
    }
}

/// Reads the guest's FS base.
pub fn fs_base() -> u64 {
    if FSGSBASE.load(core::sync::atomic::Ordering::Relaxed) {
        let base: u64;
        // SAFETY: rdfsbase only reads a register.
        unsafe { asm!("rdfsbase {}", out(reg) base, options(nostack, nomem, preserves_flags)) };
        base
    } else {
        let mut base = 0u64;
        const ARCH_GET_FS: u64 = 0x1003;
        // The host writes the base into a kernel variable; failure leaves 0.
        let _ = host::forward(
            syscalls::Sysno::arch_prctl as usize,
            [ARCH_GET_FS, &mut base as *mut u64 as u64, 0, 0, 0, 0],
        );
        base
    }
}
