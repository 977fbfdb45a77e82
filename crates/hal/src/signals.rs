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
//! - [`PARENT_DIED_SIGNAL`]: the host's notice (`PR_SET_PDEATHSIG`) that
//!   the parent died and the process was reparented; the kernel refreshes
//!   the parent pid it caches.
//!
//! Handlers run on the thread's kernel stack (registered as the alternate
//! signal stack by [`crate::cpu::init_main_thread`]). A handler that
//! returns to guest code leaves the host mask mirroring the guest's (see
//! [`crate::cpu::ThreadSignals`]) by writing it into the context the host
//! restores.

use core::arch::global_asm;

use syscalls::Sysno;

use crate::entry::{Entry, SyscallFrame};
use crate::host::{Errno, raw_syscall};

const SIGBUS: u64 = 7;
const SIGSEGV: u64 = 11;
const SIGSYS: u64 = 31;
/// The real-time signal the kernel reserves: the host sends it when the
/// parent dies (`PR_SET_PDEATHSIG`). The guest can neither handle nor
/// block it.
pub const PARENT_DIED_SIGNAL: u64 = 64;

const SA_SIGINFO: u64 = 0x4;
const SA_ONSTACK: u64 = 0x0800_0000;
const SA_RESTORER: u64 = 0x0400_0000;
const SA_RESTART: u64 = 0x1000_0000;
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

use oxbox_abi::ucontext::{
    FPREGS_PTR_OFFSET, GREGS_OFFSET, NGREG, REG_R8, REG_R9, REG_R10, REG_RAX, REG_RDI, REG_RDX,
    REG_RIP, REG_RSI, REG_RSP,
};
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

/// Installs the kernel's SIGSYS, fault and parent-death handlers, asks the
/// host for the parent-death notice, and sets the host mask to mirror
/// `guest_mask`, the guest's mask of the calling thread. (An image started
/// by a guest `execve`, issued from inside the SIGSYS handler, inherits
/// SIGSYS blocked, and signals the guest blocks must stay pending.)
pub fn install_kernel_handlers(guest_mask: u64) -> Result<(), Errno> {
    // The handler first: the old image held the parent-death notice
    // blocked across execve, and the mask below lets it in.
    sigaction(
        PARENT_DIED_SIGNAL,
        parent_died_handler as *const () as u64,
        SA_SIGINFO | SA_ONSTACK | SA_RESTART,
    )?;
    crate::cpu::set_guest_mask(guest_mask)?;
    // A process whose parent is outside the container (its pid 1, a
    // process `exec`'d into it by the runtime) sees a parent pid of 0 and
    // has no parent change to learn of; it keeps the parent-death signal
    // the runtime asked for (SIGKILL: die with the monitor of `oxbox do`).
    if host_getppid() != 0 {
        watch_parent()?;
    }
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

fn host_getppid() -> u64 {
    // SAFETY: getppid takes no arguments and touches no memory.
    unsafe { raw_syscall(Sysno::getppid as usize, [0; 6]) }.unwrap_or(0)
}

/// Asks the host for [`PARENT_DIED_SIGNAL`] when the parent dies (again in
/// the child of a fork: the host does not pass the request on).
pub fn watch_parent() -> Result<(), Errno> {
    const PR_SET_PDEATHSIG: u64 = 1;
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes no pointers.
    unsafe {
        raw_syscall(
            Sysno::prctl as usize,
            [PR_SET_PDEATHSIG, PARENT_DIED_SIGNAL, 0, 0, 0, 0],
        )
    }
    .map(drop)
}

/// The machine state of a guest thread that a host signal or a trap
/// interrupted: its general registers and its FPU/SSE/AVX state, as the
/// host saved them in the handler's `ucontext_t`. What the kernel writes
/// here is what the thread resumes with.
pub struct GuestContext<'a> {
    regs: &'a mut [u64; NGREG],
    /// The host's `uc_sigmask`: the mask the thread resumes with.
    sigmask: *mut u64,
    /// Host address of the `xsave` area, and its size.
    fpstate: u64,
    fpsize: usize,
}

/// `fx_sw_bytes` in the `xsave` area: magic, then the extended size.
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
const FXSAVE_SIZE: usize = 512;

impl<'a> GuestContext<'a> {
    /// # Safety
    /// `uc` must be the `ucontext_t` the host passed to a SA_SIGINFO
    /// handler still running, and nothing else may refer to it.
    unsafe fn from_ucontext(uc: *mut u8) -> Self {
        // SAFETY: per the contract, uc is a live host-written ucontext.
        let regs = unsafe { gregs(uc) };
        // SAFETY: as above; fpregs is a pointer field of uc_mcontext.
        let fpstate = unsafe { (uc.add(FPREGS_PTR_OFFSET) as *const u64).read() };
        let fpsize = if fpstate == 0 {
            0
        } else {
            // SAFETY: the host's xsave area is at least 512 bytes; the
            // software-reserved bytes at 464 say whether it is larger.
            let (magic, extended) = unsafe {
                (
                    (fpstate as *const u8).add(464).cast::<u32>().read(),
                    (fpstate as *const u8).add(468).cast::<u32>().read(),
                )
            };
            if magic == FP_XSTATE_MAGIC1 {
                extended as usize
            } else {
                FXSAVE_SIZE
            }
        };
        Self {
            regs,
            // SAFETY: as above; uc_sigmask is a field of the ucontext.
            sigmask: unsafe { uc.add(oxbox_abi::ucontext::SIGMASK_OFFSET) } as *mut u64,
            fpstate,
            fpsize,
        }
    }

    /// Makes the thread resume guest code with the host mask mirroring the
    /// guest's current mask.
    fn resume_with_guest_mask(&mut self) {
        let mask = crate::cpu::host_mask(crate::cpu::thread_signals().mask());
        // SAFETY: `sigmask` points into the live ucontext (see `from_ucontext`).
        unsafe { self.sigmask.write(mask) };
    }

    /// The general registers, in `uc_mcontext.gregs` order (`REG_R8` = 0 ...
    /// `REG_RIP` = 16, `REG_EFL` = 17).
    pub fn regs(&self) -> &[u64; NGREG] {
        self.regs
    }

    pub fn regs_mut(&mut self) -> &mut [u64; NGREG] {
        self.regs
    }

    /// The saved floating-point state (`xsave` layout), as the guest's
    /// signal frame must carry it.
    pub fn fpstate(&self) -> &[u8] {
        if self.fpsize == 0 {
            return &[];
        }
        // SAFETY: the host's xsave area of `fpsize` bytes, live while the
        // handler runs; read-only here.
        unsafe { core::slice::from_raw_parts(self.fpstate as *const u8, self.fpsize) }
    }

    /// Replaces the floating-point state the thread resumes with. Only
    /// the legacy 512-byte part and the extended part the host allotted
    /// are taken; the software-reserved bytes stay the host's own.
    pub fn set_fpstate(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.fpsize);
        if n < FXSAVE_SIZE {
            return;
        }
        // SAFETY: as in `fpstate`; writable, exclusively this handler's.
        let area = unsafe { core::slice::from_raw_parts_mut(self.fpstate as *mut u8, self.fpsize) };
        area[..464].copy_from_slice(&bytes[..464]);
        area[FXSAVE_SIZE..n].copy_from_slice(&bytes[FXSAVE_SIZE..n]);
    }
}

/// A host signal for the guest arrived while the thread ran guest code
/// (`in_kernel` false) or kernel code. The kernel delivers it on the
/// guest's stack now (rewriting the context) or keeps it pending; returns
/// whether it took the signal (false: apply the default action).
pub type SignalArrived =
    fn(sig: u64, info: &[u8; 128], ctx: &mut GuestContext<'_>, in_kernel: bool) -> bool;
/// The end of a trapped syscall: delivers pending signals by rewriting the context.
pub type SyscallExit = fn(ctx: &mut GuestContext<'_>);
/// The parent died: the parent pid changed (called from a host signal
/// handler that may interrupt kernel code, so it must be lock-free).
pub type ParentChanged = fn();

/// The kernel's signal hooks, registered at boot ([`set_kernel_hooks`]).
/// Kept as addresses (0: not yet registered) because these paths are rare:
/// the hot patched path calls the kernel through link-time symbols instead.
static ARRIVED: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
static SYSCALL_EXIT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
static PARENT_CHANGED: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Registers the kernel's signal hooks; call once at boot, before any
/// guest code runs.
pub fn set_kernel_hooks(
    arrived: SignalArrived,
    syscall_exit: SyscallExit,
    parent_changed: ParentChanged,
) {
    use core::sync::atomic::Ordering::Release;
    ARRIVED.store(arrived as usize, Release);
    SYSCALL_EXIT.store(syscall_exit as usize, Release);
    PARENT_CHANGED.store(parent_changed as usize, Release);
}

extern "C" fn parent_died_handler(_sig: i32, _info: *mut u8, _uc: *mut u8) {
    let hook = PARENT_CHANGED.load(core::sync::atomic::Ordering::Acquire);
    if hook != 0 {
        // SAFETY: the only non-zero value stored is a `ParentChanged`.
        let hook = unsafe { core::mem::transmute::<usize, ParentChanged>(hook) };
        hook();
    }
}

fn oxbox_signal_arrived(
    sig: u64,
    info: &[u8; 128],
    ctx: &mut GuestContext<'_>,
    in_kernel: bool,
) -> bool {
    let hook = ARRIVED.load(core::sync::atomic::Ordering::Acquire);
    if hook == 0 {
        return false;
    }
    // SAFETY: the only non-zero value stored is a `SignalArrived`.
    let hook = unsafe { core::mem::transmute::<usize, SignalArrived>(hook) };
    hook(sig, info, ctx, in_kernel)
}

fn oxbox_syscall_exit(ctx: &mut GuestContext<'_>) {
    let hook = SYSCALL_EXIT.load(core::sync::atomic::Ordering::Acquire);
    if hook != 0 {
        // SAFETY: the only non-zero value stored is a `SyscallExit`.
        let hook = unsafe { core::mem::transmute::<usize, SyscallExit>(hook) };
        hook(ctx);
    }
}

/// Whether `rip` is kernel code (the kernel's area or the signal-return
/// trampoline), where a signal cannot be delivered to the guest at once.
fn in_kernel(rip: u64) -> bool {
    oxbox_abi::layout::KERNEL_AREA.contains(&rip) || crate::entry::is_trampoline(rip)
}

/// Routes host signal `sig` to the kernel's guest-signal handler. Never
/// with SA_RESTART: a blocking host call the signal interrupts fails with
/// EINTR, so the guest's handler runs at once, and the kernel restarts the
/// guest's call afterwards if the guest's SA_RESTART asks (as Linux does).
pub fn install_guest_signal(sig: u64) -> Result<(), Errno> {
    sigaction(
        sig,
        guest_signal_handler as *const () as u64,
        SA_SIGINFO | SA_ONSTACK,
    )
}

extern "C" fn guest_signal_handler(sig: i32, info: *mut u8, uc: *mut u8) {
    // SAFETY: the host passes a 128-byte siginfo to SA_SIGINFO handlers.
    let info = unsafe { &*(info as *const [u8; 128]) };
    // SAFETY: `uc` is this handler's ucontext and nothing else refers to it.
    let mut ctx = unsafe { GuestContext::from_ucontext(uc) };
    let kernel = in_kernel(ctx.regs[REG_RIP]);
    if !oxbox_signal_arrived(sig as u64, info, &mut ctx, kernel) {
        die_by(sig as u64);
    } else if !kernel {
        ctx.resume_with_guest_mask();
    } else if let Some(eintr) = crate::host::interrupted_resume_at(ctx.regs[REG_RIP]) {
        // The signal is pending now: unless the mask of the call (a
        // ppoll's, say) blocks it, the host call it must interrupt fails
        // with EINTR instead of starting.
        let state = crate::cpu::thread_signals();
        if state.pending.load(core::sync::atomic::Ordering::Acquire) & !state.mask() != 0 {
            ctx.regs[REG_RIP] = eintr;
        }
    }
}

/// Whether the kernel reserves host signal `sig` for itself.
pub fn is_kernel_signal(sig: u64) -> bool {
    matches!(sig, SIGSYS | SIGSEGV | SIGBUS | PARENT_DIED_SIGNAL)
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
    // SAFETY: as above; `regs` is not used after this point.
    let mut ctx = unsafe { GuestContext::from_ucontext(uc) };
    oxbox_syscall_exit(&mut ctx);
    ctx.resume_with_guest_mask();
}

/// Makes the trapped syscall being served resume at `rip`, with the
/// arithmetic flags set to `flags` (used when patching moved the code).
pub(crate) fn resume_trapped_at(rip: u64, flags: u64) {
    const ARITHMETIC_FLAGS: u64 = 0x8d5;
    with_trapped_context(|ctx| {
        let regs = ctx.regs_mut();
        regs[REG_RIP] = rip;
        regs[oxbox_abi::ucontext::REG_EFL] =
            (regs[oxbox_abi::ucontext::REG_EFL] & !ARITHMETIC_FLAGS) | flags;
    });
}

/// The context of the trapped syscall being served on this thread, for
/// calls that replace the whole register state (`rt_sigreturn`).
pub fn with_trapped_context<R>(f: impl FnOnce(&mut GuestContext<'_>) -> R) -> Option<R> {
    let regs = crate::cpu::trap_regs();
    if regs == 0 {
        return None;
    }
    // SAFETY: trap_regs is the gregs array of the ucontext of the SIGSYS
    // being served on this thread (set by its handler around dispatch);
    // the ucontext starts GREGS_OFFSET bytes before it.
    let mut ctx = unsafe { GuestContext::from_ucontext((regs as *mut u8).sub(GREGS_OFFSET)) };
    Some(f(&mut ctx))
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
    if !in_kernel(regs[REG_RIP]) {
        // A guest fault: its handler, if it has one, runs on a frame built
        // from this context.
        // SAFETY: the host passes a 128-byte siginfo to SA_SIGINFO handlers.
        let info = unsafe { &*(info as *const [u8; 128]) };
        // SAFETY: as above; `regs` is not used after this point.
        let mut ctx = unsafe { GuestContext::from_ucontext(uc) };
        if oxbox_signal_arrived(sig as u64, info, &mut ctx, false) {
            ctx.resume_with_guest_mask();
            return;
        }
    }
    if in_kernel(regs[REG_RIP]) {
        // SAFETY: `info` is this handler's siginfo, `si_addr` at offset 16.
        let address = unsafe { (info.add(SI_ADDR_OFFSET) as *const u64).read() };
        report_kernel_fault(sig as u64, regs[REG_RIP], address);
    }
    // Not a kernel copy: let the signal take its default action when the
    // faulting instruction runs again.
    let _ = sigaction(sig as u64, SIG_DFL, 0);
}

/// Where `si_addr` (the faulting address) sits in a siginfo.
const SI_ADDR_OFFSET: usize = 16;

/// Says on the runtime's log that the kernel itself faulted (a kernel bug,
/// never the guest's), before the process dies of it: without this line
/// the death would look like a guest crash. No allocation, no formatting
/// machinery: the heap may be what broke.
fn report_kernel_fault(sig: u64, rip: u64, address: u64) {
    fn hex(out: &mut [u8], at: &mut usize, value: u64) {
        for shift in (0..16).rev() {
            out[*at] = b"0123456789abcdef"[(value >> (shift * 4)) as usize & 15];
            *at += 1;
        }
    }
    fn text(out: &mut [u8], at: &mut usize, s: &[u8]) {
        out[*at..*at + s.len()].copy_from_slice(s);
        *at += s.len();
    }
    let mut line = [0u8; 128];
    let mut at = 0;
    text(&mut line, &mut at, b"oxbox-kernel: fatal: ");
    text(
        &mut line,
        &mut at,
        if sig == SIGBUS { b"SIGBUS" } else { b"SIGSEGV" },
    );
    text(&mut line, &mut at, b" in the kernel at rip 0x");
    hex(&mut line, &mut at, rip);
    text(&mut line, &mut at, b", address 0x");
    hex(&mut line, &mut at, address);
    text(&mut line, &mut at, b"\n");
    let _ = crate::host::write_all(oxbox_abi::layout::LOG_FD, &line[..at]);
}
