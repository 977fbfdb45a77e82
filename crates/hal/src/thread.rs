//! Guest threads: one host thread per guest thread, started by the kernel.
//!
//! A guest `clone(CLONE_VM|CLONE_THREAD|...)` traps (clone sites are never
//! patched), so the kernel has every register of the calling thread. The
//! new host thread starts on a fresh kernel stack of its own, takes its
//! thread context (GS base, alternate signal stack), and then enters the guest with the caller's registers, except `%rax = 0` and
//! the stack pointer the guest asked for: exactly where a `syscall`
//! instruction would have left the child. Its FS base (the guest's TLS)
//! is set by the host (`CLONE_SETTLS`).

use core::arch::global_asm;

use crate::cpu;
use crate::host::Errno;

use oxbox_abi::ucontext::{NGREG, REG_RAX, REG_RSP};

/// What a new thread needs, placed at the top of its kernel stack.
#[repr(C)]
struct ThreadStart {
    /// Its context slot (also the top of its kernel stack).
    ctx: u64,
    /// The guest registers it starts with, in `gregs` order.
    regs: [u64; NGREG],
    /// The guest's signal mask it starts with (its creator's).
    mask: u64,
}

unsafe extern "C" {
    /// clone(flags, stack, ptid, ctid, tls) from kernel text; returns the
    /// child's tid in the parent, never returns in the child.
    fn oxbox_clone_thread(flags: u64, stack: u64, parent_tid: u64, child_tid: u64, tls: u64)
    -> i64;
    /// Loads the guest registers at `regs` (gregs order) and jumps to their
    /// `%rip` with their `%rsp`; `%rcx` and `%r11` are clobbered, as by
    /// `syscall`.
    fn oxbox_resume_guest(regs: *const u64) -> !;
}

global_asm!(
    ".pushsection .text.oxbox_thread,\"ax\",@progbits",
    ".globl oxbox_clone_thread",
    "oxbox_clone_thread:",
    "    mov %rcx, %r10",
    "    mov $56, %eax",
    "    syscall",
    "    test %rax, %rax",
    "    jz 1f",
    "    ret",
    // The child: its stack is the new kernel stack, whose top holds the
    // ThreadStart block.
    "1:  xor %ebp, %ebp",
    "    mov %rsp, %rdi",
    "    and $-16, %rsp",
    "    call {main}",
    "    ud2",
    "",
    ".globl oxbox_resume_guest",
    "oxbox_resume_guest:",
    "    mov 0(%rdi), %r8",
    "    mov 8(%rdi), %r9",
    "    mov 16(%rdi), %r10",
    "    mov 32(%rdi), %r12",
    "    mov 40(%rdi), %r13",
    "    mov 48(%rdi), %r14",
    "    mov 56(%rdi), %r15",
    "    mov 72(%rdi), %rsi",
    "    mov 80(%rdi), %rbp",
    "    mov 88(%rdi), %rbx",
    "    mov 96(%rdi), %rdx",
    "    mov 104(%rdi), %rax",
    "    mov 128(%rdi), %rcx",
    "    mov 120(%rdi), %rsp",
    "    mov 64(%rdi), %rdi",
    "    jmp *%rcx",
    ".popsection",
    main = sym thread_main,
    options(att_syntax)
);

/// The first Rust code of a new thread, on its own kernel stack.
extern "C" fn thread_main(start: *const ThreadStart) -> ! {
    // SAFETY: the parent wrote a ThreadStart at the top of this stack
    // before the clone, and nothing else uses it.
    let start = unsafe { &*start };
    let tid = crate::host::forward(syscalls::Sysno::gettid as usize, [0; 6]).unwrap_or(0);
    if cpu::enter_thread_slot(start.ctx, tid).is_err() {
        // Without its context the thread cannot serve syscalls: end it.
        let _ = crate::host::forward(syscalls::Sysno::exit as usize, [127, 0, 0, 0, 0, 0]);
    }
    // The parent was inside its SIGSYS handler, with SIGSYS blocked, when
    // it cloned this thread; the new thread starts with the guest mask of
    // its creator.
    let _ = cpu::set_guest_mask(start.mask);
    // SAFETY: the registers are those of the guest thread that called
    // clone, with rax = 0 and the stack the guest gave its new thread.
    unsafe { oxbox_resume_guest(start.regs.as_ptr()) }
}

/// Starts a guest thread for the trapped `clone` being served: `flags`,
/// `parent_tid`, `child_tid` and `tls` go to the host as the guest gave
/// them, `stack` becomes the new thread's stack pointer. Returns the new
/// thread's id. Fails with ENOSYS when the call did not trap (the kernel
/// serves a thread's `clone` from a patched site again as a trap, see
/// `SyscallFrame::retrap`, so this means a kernel bug).
pub fn spawn(
    flags: u64,
    stack: u64,
    parent_tid: u64,
    child_tid: u64,
    tls: u64,
) -> Result<u64, Errno> {
    let regs_addr = cpu::trap_regs();
    if regs_addr == 0 {
        return Err(Errno::ENOSYS);
    }
    let ctx = cpu::allocate_thread_slot()?;
    let block = (ctx - core::mem::size_of::<ThreadStart>() as u64) & !15;
    let mut start = ThreadStart {
        ctx,
        regs: [0; NGREG],
        mask: cpu::thread_signals().mask(),
    };
    // SAFETY: `regs_addr` is the gregs array of the ucontext of the SIGSYS
    // being served on this thread, set by its handler for this call.
    start
        .regs
        .copy_from_slice(unsafe { core::slice::from_raw_parts(regs_addr as *const u64, NGREG) });
    start.regs[REG_RAX] = 0;
    if stack != 0 {
        start.regs[REG_RSP] = stack;
    }
    // SAFETY: `block` lies at the top of the freshly mapped kernel stack of
    // the new slot, which no thread uses yet.
    unsafe { (block as *mut ThreadStart).write(start) };
    // SAFETY: the child starts on `block`'s stack in `thread_main`; the
    // other arguments are the guest's, validated by the kernel.
    let tid = unsafe { oxbox_clone_thread(flags, block, parent_tid, child_tid, tls) };
    if tid < 0 {
        Err(Errno::new(-tid as i32))
    } else {
        Ok(tid as u64)
    }
}
