//! The kernel's host signal handlers.
//!
//! The kernel owns every host signal handler of its process:
//! - SIGSYS: the seccomp filter traps every syscall issued outside kernel
//!   text; the handler serves it like a patched call and returns the result
//!   in the interrupted context's `%rax`.
//! - SIGSEGV/SIGBUS: a fault inside [`crate::usercopy`] resumes at its fixup;
//!   any other fault is the guest's (or a kernel bug): the default action is
//!   restored and the faulting instruction re-executed, so the process dies
//!   of that signal as it would natively.
//!
//! Handlers run on the thread's kernel stack (registered as the alternate
//! signal stack by [`crate::cpu::init_main_thread`]).

use core::arch::global_asm;

use syscalls::Sysno;

use crate::entry::{Entry, SyscallFrame};
use crate::host::{Errno, raw_syscall};

const SIGBUS: u64 = 7;
const SIGSEGV: u64 = 11;
const SIGSYS: u64 = 31;

const SA_SIGINFO: u64 = 0x4;
const SA_ONSTACK: u64 = 0x0800_0000;
const SA_RESTORER: u64 = 0x0400_0000;
const SA_NODEFER: u64 = 0x4000_0000;
const SIG_DFL: u64 = 0;
const SIG_IGN: u64 = 1;

/// `struct sigaction` as the x86-64 kernel reads it.
#[repr(C)]
struct KernelSigaction {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64,
}

// Indices into `uc_mcontext.gregs`.
const REG_R8: usize = 0;
const REG_R9: usize = 1;
const REG_R10: usize = 2;
const REG_RDI: usize = 8;
const REG_RSI: usize = 9;
const REG_RDX: usize = 12;
const REG_RAX: usize = 13;
const REG_RSP: usize = 15;
const REG_RIP: usize = 16;
/// Offset of `uc_mcontext.gregs` in `ucontext_t`.
const GREGS_OFFSET: usize = 40;
const NGREG: usize = 23;
/// Offset of `si_code` in `siginfo_t`.
const SI_CODE_OFFSET: usize = 8;
/// Offset of the SIGSYS field `si_syscall` in `siginfo_t`.
const SI_SYSCALL_OFFSET: usize = 24;
/// `si_code` of a SIGSYS raised by a seccomp filter.
const SYS_SECCOMP: i32 = 1;

unsafe extern "C" {
    fn oxbox_sigreturn();
}

global_asm!(
    ".globl oxbox_sigreturn",
    "oxbox_sigreturn:",
    "    mov $15, %eax",
    "    syscall",
    "    ud2",
    options(att_syntax)
);

fn sigaction(sig: u64, handler: u64, flags: u64) -> Result<(), Errno> {
    let act = KernelSigaction {
        handler,
        flags: flags | SA_RESTORER,
        restorer: oxbox_sigreturn as *const () as u64,
        mask: 0,
    };
    // SAFETY: `act` is a valid sigaction whose handler (if any) is one of
    // the extern "C" handlers below, and the restorer issues rt_sigreturn.
    unsafe {
        raw_syscall(
            Sysno::rt_sigaction as usize,
            [sig, &act as *const _ as u64, 0, 8, 0, 0],
        )
    }
    .map(drop)
}

/// Installs the kernel's SIGSYS and fault handlers, and unblocks every
/// host signal: the guest's mask is the kernel's own state, and an image
/// started by a guest `execve` (issued from inside the SIGSYS handler)
/// would otherwise inherit SIGSYS blocked.
pub fn install_kernel_handlers() -> Result<(), Errno> {
    const SIG_SETMASK: u64 = 2;
    let empty: u64 = 0;
    // SAFETY: `empty` is a valid 8-byte signal set that outlives the call.
    unsafe {
        raw_syscall(
            Sysno::rt_sigprocmask as usize,
            [SIG_SETMASK, &empty as *const u64 as u64, 0, 8, 0, 0],
        )?
    };
    sigaction(
        SIGSYS,
        sigsys_handler as *const () as u64,
        SA_SIGINFO | SA_ONSTACK,
    )?;
    // NODEFER: a fault while handling a fault must not be blocked (the host
    // would kill the process without telling us which one).
    for sig in [SIGSEGV, SIGBUS] {
        sigaction(
            sig,
            fault_handler as *const () as u64,
            SA_SIGINFO | SA_ONSTACK | SA_NODEFER,
        )?;
    }
    Ok(())
}

/// Unblocks every host signal of the calling thread.
pub(crate) fn unblock_all() -> Result<(), Errno> {
    const SIG_SETMASK: u64 = 2;
    let empty: u64 = 0;
    // SAFETY: `empty` is a valid 8-byte signal set that outlives the call.
    unsafe {
        raw_syscall(
            Sysno::rt_sigprocmask as usize,
            [SIG_SETMASK, &empty as *const u64 as u64, 0, 8, 0, 0],
        )
    }
    .map(drop)
}

/// Whether the kernel reserves host signal `sig` for itself.
pub fn is_kernel_signal(sig: u64) -> bool {
    matches!(sig, SIGSYS | SIGSEGV | SIGBUS)
}

/// Mirrors a guest disposition of "ignore" or "default" onto the host, so
/// that, until the kernel delivers signals itself, an ignored SIGPIPE does
/// not kill the process and a default one does. Kernel-owned signals are
/// left alone (the kernel keeps the guest's choice in its own tables).
pub fn mirror_guest_disposition(sig: u64, ignore: bool) -> Result<(), Errno> {
    if is_kernel_signal(sig) {
        return Ok(());
    }
    sigaction(sig, if ignore { SIG_IGN } else { SIG_DFL }, 0)
}

/// The interrupted context's general registers.
///
/// # Safety
/// `uc` must be the `ucontext_t` pointer the host passed to a SA_SIGINFO
/// handler, and no other reference to its registers may be live.
unsafe fn gregs<'a>(uc: *mut u8) -> &'a mut [u64; NGREG] {
    // SAFETY: per the contract above, the host laid out a ucontext_t here.
    unsafe { &mut *(uc.add(GREGS_OFFSET) as *mut [u64; NGREG]) }
}

/// `si_code` of the signal described by `info`.
///
/// # Safety
/// `info` must be the siginfo pointer the host passed to a handler.
unsafe fn si_code(info: *const u8) -> i32 {
    // SAFETY: per the contract, `info` points to a host-written siginfo_t.
    unsafe { (info.add(SI_CODE_OFFSET) as *const i32).read() }
}

/// Ends the process by `sig` with the host's default action, as if the
/// kernel had never handled it.
fn die_by(sig: u64) {
    let _ = sigaction(sig, SIG_DFL, 0);
    // SAFETY: getpid/gettid/tgkill take no pointers.
    unsafe {
        let pid = raw_syscall(Sysno::getpid as usize, [0; 6]).unwrap_or(0);
        let tid = raw_syscall(Sysno::gettid as usize, [0; 6]).unwrap_or(0);
        let _ = raw_syscall(Sysno::tgkill as usize, [pid, tid, sig, 0, 0, 0]);
    }
}

extern "C" fn sigsys_handler(sig: i32, info: *mut u8, uc: *mut u8) {
    // SAFETY: `info` is this handler's siginfo.
    if unsafe { si_code(info) } != SYS_SECCOMP {
        // Sent by a process, not by the filter: not a syscall to serve.
        die_by(sig as u64);
        return;
    }
    // SAFETY: the host passes a valid siginfo for SIGSYS; si_syscall is an int.
    let nr = unsafe { (info.add(SI_SYSCALL_OFFSET) as *const i32).read() } as u64;
    // SAFETY: `uc` is this handler's ucontext and nothing else refers to it.
    let regs = unsafe { gregs(uc) };
    let mut frame = SyscallFrame::new(crate::entry::Call {
        nr,
        args: [
            regs[REG_RDI],
            regs[REG_RSI],
            regs[REG_RDX],
            regs[REG_R10],
            regs[REG_R8],
            regs[REG_R9],
        ],
    });
    crate::cpu::set_trap_regs(regs.as_ptr() as u64);
    crate::entry::dispatch(
        &mut frame,
        Entry::Trapped {
            site_end: regs[REG_RIP],
        },
    );
    crate::cpu::set_trap_regs(0);
    regs[REG_RAX] = frame.ret;
    if frame.new_stack != 0 {
        regs[REG_RSP] = frame.new_stack;
    }
}

extern "C" fn fault_handler(sig: i32, info: *mut u8, uc: *mut u8) {
    // SAFETY: `info` is this handler's siginfo.
    if unsafe { si_code(info) } <= 0 {
        // Sent with kill/tgkill rather than raised by a fault: there is no
        // faulting instruction to re-execute, so raise it again by hand.
        die_by(sig as u64);
        return;
    }
    // SAFETY: `uc` is this handler's ucontext and nothing else refers to it.
    let regs = unsafe { gregs(uc) };
    if let Some(fixup) = crate::usercopy::fixup_for(regs[REG_RIP]) {
        regs[REG_RIP] = fixup;
        return;
    }
    // Not a kernel copy: let the signal take its default action when the
    // faulting instruction runs again.
    let _ = sigaction(sig as u64, SIG_DFL, 0);
}
