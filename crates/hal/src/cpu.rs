//! Per-thread kernel context and the segment bases.
//!
//! The guest owns `%fs` (its TLS). The kernel reaches its per-thread
//! context through `%gs`, whose base is set once per thread to a
//! [`ThreadCtx`]; entry code reads it with `%gs:`-relative moves, which cost
//! about a nanosecond, instead of swapping FS bases (tens of nanoseconds).

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::host::{self, Errno};

/// Offsets of [`ThreadCtx`] fields used by the entry assembly.
pub const CTX_KSTACK_TOP: usize = 8;
pub const CTX_GUEST_RSP: usize = 16;
pub(crate) const CTX_TID: usize = 24;
const CTX_TRAP_REGS: usize = 32;
const CTX_SAVED_RET: usize = 40;
/// The thread's guest mask and pending-signal words (`signals.mask`,
/// `signals.pending`), which the fast stubs and the interruptible host
/// call check (see `crate::fast`, `crate::host`).
pub(crate) const CTX_SIGNALS_MASK: usize =
    core::mem::offset_of!(ThreadCtx, signals) + core::mem::offset_of!(ThreadSignals, mask);
/// The thread's pending-signal word (`signals.pending`).
pub(crate) const CTX_SIGNALS_PENDING: usize =
    core::mem::offset_of!(ThreadCtx, signals) + core::mem::offset_of!(ThreadSignals, pending);

/// The per-thread context reached through the GS base.
#[repr(C)]
pub struct ThreadCtx {
    /// Address of this structure, so that `%gs:0` yields a pointer to it.
    self_addr: u64,
    /// Top of this thread's kernel stack (16-byte aligned).
    kstack_top: u64,
    /// Guest stack pointer saved by the patched-call entry.
    guest_rsp: u64,
    /// The host thread id (the guest's tid: same pid namespace).
    tid: u64,
    /// While a trapped syscall is served: the interrupted general
    /// registers (`uc_mcontext.gregs`), for calls that need all of them
    /// (a new thread starts from a copy). Zero otherwise.
    trap_regs: u64,
    /// The result of a patched call diverted through the trampoline to
    /// deliver a signal; the trampoline's trap returns it.
    saved_ret: u64,
    /// The guest's signal state that belongs to this thread.
    signals: ThreadSignals,
}

/// Signals the host never blocks for the guest: the kernel's own (SIGSYS
/// for traps, SIGSEGV/SIGBUS for user copies, the parent-death notice)
/// and the two no mask can hold (SIGKILL, SIGSTOP).
const NEVER_HOST_BLOCKED: u64 = (1 << (9 - 1))
    | (1 << (19 - 1))
    | (1 << (7 - 1))
    | (1 << (11 - 1))
    | (1 << (31 - 1))
    | (1 << (crate::signals::PARENT_DIED_SIGNAL - 1));

/// The host mask that stands for the guest mask `guest`.
pub const fn host_mask(guest: u64) -> u64 {
    guest & !NEVER_HOST_BLOCKED
}

/// The guest's per-thread signal state, in the thread's context (so that
/// host signal handlers reach it without locks, through `%gs`).
///
/// The guest's mask is mirrored onto the thread's host mask (minus the
/// kernel's own signals), so the host keeps blocked signals pending, picks
/// the thread that receives a process-directed signal, and dequeues for
/// `sigtimedwait` and `signalfd` exactly as for a native thread.
#[repr(C)]
pub struct ThreadSignals {
    /// The guest's blocked set (bit `n-1` for signal `n`); see [`set_guest_mask`].
    mask: AtomicU64,
    /// Signals the kernel's handler took while the thread ran kernel code,
    /// waiting for the end of its syscall.
    pub pending: AtomicU64,
    /// The mask in force before a wait that installed a temporary one
    /// (`rt_sigsuspend`): the guest's handler returns to it. Valid while
    /// `has_saved_mask` is non-zero.
    pub saved_mask: AtomicU64,
    pub has_saved_mask: AtomicU64,
    /// One more than the number of the guest syscall a signal interrupted
    /// (its host call failed with EINTR) that Linux restarts once the
    /// handler returns if it has SA_RESTART; zero otherwise. Set by the
    /// dispatcher, taken at the end of the syscall.
    pub interrupted_call: AtomicU64,
    /// The alternate signal stack: base, size (0: disabled) and flags.
    pub alt_stack: [AtomicU64; 3],
    /// The `siginfo_t` of each signal in `pending`, as 16 words. Last, so
    /// that the words above share a page with the rest of the context: a
    /// fork child and its parent then copy (copy on write) one page of it
    /// each instead of two.
    pub infos: [[AtomicU64; 16]; 64],
}

impl ThreadSignals {
    /// The guest's blocked set.
    #[inline]
    pub fn mask(&self) -> u64 {
        self.mask.load(Ordering::Relaxed)
    }

    /// Records the guest's blocked set without touching the host's (for a
    /// wait that passes the mask to the host itself).
    pub fn record_mask(&self, mask: u64) {
        self.mask.store(mask, Ordering::Relaxed);
    }
}

/// The calling thread's signal state.
#[inline]
pub fn thread_signals() -> &'static ThreadSignals {
    let ctx = ctx_read(0) as *const ThreadCtx;
    // SAFETY: GS points at this thread's ThreadCtx from thread start on
    // (its first word is its own address); the context is never unmapped
    // and its signal state is only touched through atomics.
    unsafe { &(*ctx).signals }
}

/// Sets the guest's blocked set of the calling thread and the host mask
/// that mirrors it. (A handler that returns to guest code writes the same
/// mask into the context the host restores, see `crate::signals`.)
pub fn set_guest_mask(mask: u64) -> Result<(), Errno> {
    let signals = thread_signals();
    signals.record_mask(mask);
    set_host_mask(host_mask(mask))
}

/// Blocks on the host every signal the guest can receive, and the
/// parent-death notice, leaving the guest's mask as it is. For the moment
/// before a host `execve`: a signal that comes then stays queued in the
/// host for the new image (which unblocks it as it boots, see
/// `crate::signals::install_kernel_handlers`) instead of being taken by a
/// handler of this image and lost with it. The parent-death notice
/// survives `execve` but its handler does not: unblocked, a parent that
/// died before the new image had its handler would kill the process (the
/// notice's default action), where Linux reparents it.
/// [`set_guest_mask`] undoes it.
pub fn hold_guest_signals_in_host() -> Result<(), Errno> {
    set_host_mask(host_mask(u64::MAX) | 1 << (crate::signals::PARENT_DIED_SIGNAL - 1))
}

/// Sets the calling thread's host signal mask.
fn set_host_mask(mask: u64) -> Result<(), Errno> {
    const SIG_SETMASK: u64 = 2;
    // SAFETY: `mask` is a valid 8-byte signal set that outlives the call.
    unsafe {
        host::raw_syscall(
            syscalls::Sysno::rt_sigprocmask as usize,
            [SIG_SETMASK, &mask as *const u64 as u64, 0, 8, 0, 0],
        )
    }
    .map(drop)
}

/// Bytes mapped for a [`ThreadCtx`], in whole pages.
const CONTEXT_SIZE: u64 = (core::mem::size_of::<ThreadCtx>() as u64).div_ceil(4096) * 4096;

// The main thread's slot ends below the heap, past a guard page.
const _: () = assert!(
    oxbox_abi::layout::KERNEL_MAIN_STACK_SLOT
        + 4096
        + oxbox_abi::layout::KERNEL_STACK_SIZE
        + CONTEXT_SIZE
        + oxbox_abi::layout::KERNEL_GUARD_SIZE
        <= oxbox_abi::layout::KERNEL_HEAP_BASE
);

/// Where thread `index`'s kernel stack and context live in the kernel area:
/// `[guard page][stack][context pages]`, one slot per thread ever started.
/// The guard page is left reserved and inaccessible (see
/// [`crate::kernel_area`]), so an overflowing kernel stack faults instead
/// of running into the previous slot's context.
///
/// Slot 0, the main thread's, is the one every process uses: it sits
/// next to the image (`KERNEL_MAIN_STACK_SLOT`), the others from
/// `KERNEL_STACKS_BASE` on.
fn thread_slot(index: u64) -> (u64, u64) {
    use oxbox_abi::layout::{KERNEL_MAIN_STACK_SLOT, KERNEL_STACK_SIZE, KERNEL_STACKS_BASE};
    const PAGE: u64 = 4096;
    let slot = KERNEL_STACK_SIZE + PAGE + CONTEXT_SIZE;
    let start = match index {
        0 => KERNEL_MAIN_STACK_SLOT,
        _ => KERNEL_STACKS_BASE + (index - 1) * slot,
    };
    let stack_bottom = start + PAGE;
    (stack_bottom, stack_bottom + KERNEL_STACK_SIZE)
}

/// Slots handed out so far (slot 0 is the main thread's). Slots are not
/// reused: a thread's stack may be in use until its very last instruction.
static NEXT_SLOT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

/// Makes a kernel stack and context usable for a new thread; returns the context
/// address (which is also the top of the stack).
pub(crate) fn allocate_thread_slot() -> Result<u64, Errno> {
    use oxbox_abi::layout::{KERNEL_AREA, KERNEL_STACK_SIZE};
    let index = NEXT_SLOT.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let (stack_bottom, ctx_addr) = thread_slot(index);
    if ctx_addr + CONTEXT_SIZE > KERNEL_AREA.end {
        return Err(Errno::EAGAIN);
    }
    crate::kernel_area::commit(stack_bottom, KERNEL_STACK_SIZE + CONTEXT_SIZE)?;
    Ok(ctx_addr)
}

/// Makes `ctx_addr` (from [`allocate_thread_slot`] or the main thread's
/// slot) the calling thread's context: fills its header (the signal state
/// is left as found: zero in a fresh mapping, inherited in a forked
/// child), points GS at it and registers its stack as the alternate
/// signal stack, so that traps and patched calls run the kernel on its own
/// stack, never on the guest's.
pub(crate) fn enter_thread_slot(ctx_addr: u64, tid: u64) -> Result<(), Errno> {
    use oxbox_abi::layout::KERNEL_STACK_SIZE;
    let ctx = ctx_addr as *mut ThreadCtx;
    // SAFETY: `ctx_addr` is the start of a writable, page-aligned mapping
    // owned by this thread's slot, large enough for a ThreadCtx; only its
    // plain header fields are written.
    unsafe {
        (&raw mut (*ctx).self_addr).write(ctx_addr);
        (&raw mut (*ctx).kstack_top).write(ctx_addr);
        (&raw mut (*ctx).guest_rsp).write(0);
        (&raw mut (*ctx).tid).write(tid);
        (&raw mut (*ctx).trap_regs).write(0);
        (&raw mut (*ctx).saved_ret).write(0);
    }
    host::set_gs_base(ctx_addr)?;
    // stack_t: ss_sp, ss_flags (int, padded), ss_size.
    let stack: [u64; 3] = [ctx_addr - KERNEL_STACK_SIZE, 0, KERNEL_STACK_SIZE];
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

/// Sets up the main thread: its kernel stack and context in slot 0.
pub fn init_main_thread(tid: u64) -> Result<(), Errno> {
    use oxbox_abi::layout::KERNEL_STACK_SIZE;
    let (stack_bottom, ctx_addr) = thread_slot(0);
    crate::kernel_area::commit(stack_bottom, KERNEL_STACK_SIZE + CONTEXT_SIZE)?;
    enter_thread_slot(ctx_addr, tid)
}

fn ctx_read(offset: usize) -> u64 {
    let value: u64;
    // SAFETY: GS points at this thread's ThreadCtx from thread start on;
    // `offset` is one of its fields.
    unsafe {
        asm!("mov {}, gs:[{}]", out(reg) value, in(reg) offset, options(nostack, readonly, preserves_flags))
    };
    value
}

fn ctx_write(offset: usize, value: u64) {
    // SAFETY: as for `ctx_read`; the field belongs to this thread only.
    unsafe {
        asm!("mov gs:[{}], {}", in(reg) offset, in(reg) value, options(nostack, preserves_flags))
    };
}

/// The calling thread's id.
#[inline]
pub fn current_tid() -> u64 {
    ctx_read(CTX_TID)
}

/// Records the calling thread's new id (the child of a `fork`).
pub fn set_current_tid(tid: u64) {
    ctx_write(CTX_TID, tid);
}

/// The trapped registers of the syscall being served, if it trapped.
pub(crate) fn trap_regs() -> u64 {
    ctx_read(CTX_TRAP_REGS)
}

pub(crate) fn set_trap_regs(regs: u64) {
    ctx_write(CTX_TRAP_REGS, regs);
}

pub(crate) fn set_saved_ret(value: u64) {
    ctx_write(CTX_SAVED_RET, value);
}

/// The result of the patched call whose return the trampoline diverted.
pub fn saved_ret() -> u64 {
    ctx_read(CTX_SAVED_RET)
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
