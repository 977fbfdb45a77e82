//! The guest's signal state, kept by the kernel.
//!
//! Dispositions, the mask, pending signals and the alternate stack are the
//! kernel's own data: the host's handlers all belong to the kernel. An
//! "ignore" or "default" disposition is mirrored to the host, which then
//! applies it itself (a default SIGPIPE kills, an ignored one does not).
//! For a signal with a guest handler the host runs the kernel's handler,
//! which delivers it ([`deliver`]) on a Linux `rt_sigframe` built on the
//! guest's stack, at once if the thread was running guest code, else when
//! its syscall returns; [`sigreturn`] restores the frame's context.
//!
//! Dispositions are per process; the mask, the alternate stack and the
//! signals the kernel holds are per thread (`oxbox_hal::cpu::ThreadSignals`).
//! The guest's mask is mirrored onto the thread's host mask, so signals the
//! guest blocks stay pending in the host, which also picks the thread that
//! takes a process-directed signal, and serves `rt_sigpending`,
//! `rt_sigtimedwait` and `signalfd` from its queues. A signal that arrives
//! while the thread runs kernel code is held (lock-free) until the end of
//! the syscall, then delivered or handed back to the host.

use core::sync::atomic::Ordering;

use oxbox_hal::{cpu, signals};
use spin::Mutex;

use crate::{Errno, SysResult};

pub const NSIG: usize = 64;
const SIG_IGN: u64 = 1;
const SA_ONSTACK: u64 = 0x0800_0000;
const SA_RESTART: u64 = 0x1000_0000;
const SA_NODEFER: u64 = 0x4000_0000;
const SA_RESETHAND: u64 = 0x8000_0000;
const SA_RESTORER: u64 = 0x0400_0000;
pub const SIGKILL: usize = 9;
pub const SIGSTOP: usize = 19;

/// `struct sigaction` as the guest passes it to `rt_sigaction`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

impl SigAction {
    pub const SIZE: usize = 32;

    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let word = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Self {
            handler: word(0),
            flags: word(1),
            restorer: word(2),
            mask: word(3),
        }
    }

    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        for (i, w) in [self.handler, self.flags, self.restorer, self.mask]
            .into_iter()
            .enumerate()
        {
            out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// The dispositions, shared by the threads of the process.
static ACTIONS: Mutex<[SigAction; NSIG]> = Mutex::new(
    [SigAction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    }; NSIG],
);

/// Bit for signal `sig` in a mask.
const fn bit(sig: usize) -> u64 {
    1 << (sig - 1)
}

/// The signals that can never be blocked.
const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

/// The signals the kernel keeps for itself: the guest can neither wait for
/// nor see them pending.
pub const KERNEL_ONLY: u64 = bit(31) | bit(signals::PARENT_DIED_SIGNAL as usize);

/// `si_code` of a signal sent to one thread (`tkill`, `tgkill`).
const SI_TKILL: i32 = -6;

fn check_signal(sig: u64) -> Result<usize, Errno> {
    if (1..=NSIG as u64).contains(&sig) {
        Ok(sig as usize)
    } else {
        Err(Errno::EINVAL)
    }
}

/// Replaces (if `new` is given) and returns the disposition of `sig`.
pub fn action(sig: u64, new: Option<SigAction>) -> Result<SigAction, Errno> {
    let sig = check_signal(sig)?;
    if new.is_some()
        && (sig == SIGKILL || sig == SIGSTOP || sig as u64 == signals::PARENT_DIED_SIGNAL)
    {
        return Err(Errno::EINVAL);
    }
    let mut actions = ACTIONS.lock();
    let old = actions[sig - 1];
    if let Some(mut new) = new {
        new.mask &= !UNBLOCKABLE;
        actions[sig - 1] = new;
        if new.handler <= SIG_IGN {
            signals::mirror_guest_disposition(sig as u64, new.handler == SIG_IGN)?;
        } else if !signals::is_kernel_signal(sig as u64) {
            signals::install_guest_signal(sig as u64)?;
        }
    }
    Ok(old)
}

/// The signals whose disposition is "ignore" (kept across `execve`).
pub fn ignored() -> u64 {
    let actions = ACTIONS.lock();
    (1..=NSIG)
        .filter(|sig| actions[sig - 1].handler == SIG_IGN)
        .fold(0, |set, sig| set | bit(sig))
}

/// Restores the ignored signals `execve` keeps (handlers are reset to the
/// default, as Linux does; the mask was set up at boot with the kernel's
/// handlers).
pub fn restore_after_exec(ignored: u64) -> Result<(), Errno> {
    for sig in
        (1..=NSIG).filter(|sig| ignored & bit(*sig) != 0 && *sig != SIGKILL && *sig != SIGSTOP)
    {
        action(
            sig as u64,
            Some(SigAction {
                handler: SIG_IGN,
                ..SigAction::default()
            }),
        )?;
    }
    Ok(())
}

pub const SIG_BLOCK: u64 = 0;
pub const SIG_UNBLOCK: u64 = 1;
pub const SIG_SETMASK: u64 = 2;

/// The mask `how` with `set` makes of `old`.
fn updated_mask(how: u64, old: u64, set: u64) -> Result<u64, Errno> {
    let new = match how {
        SIG_BLOCK => old | set,
        SIG_UNBLOCK => old & !set,
        SIG_SETMASK => set,
        _ => return Err(Errno::EINVAL),
    };
    Ok(new & !UNBLOCKABLE)
}

/// The calling thread's mask.
pub fn mask() -> u64 {
    cpu::thread_signals().mask()
}

/// Applies `how` with `set` (if given) to the calling thread's mask;
/// returns the old mask.
pub fn change_mask(how: u64, set: Option<u64>) -> Result<u64, Errno> {
    let old = mask();
    if let Some(set) = set {
        cpu::set_guest_mask(updated_mask(how, old, set)?)?;
    }
    Ok(old)
}

fn store_info(index: usize, info: &[u8; 128]) {
    let slots = &cpu::thread_signals().infos[index - 1];
    for (slot, word) in slots.iter().zip(info.chunks_exact(8)) {
        slot.store(
            u64::from_le_bytes(word.try_into().expect("8 bytes")),
            Ordering::Relaxed,
        );
    }
}

fn load_info(index: usize) -> [u8; 128] {
    let mut info = [0u8; 128];
    let slots = &cpu::thread_signals().infos[index - 1];
    for (slot, word) in slots.iter().zip(info.chunks_exact_mut(8)) {
        word.copy_from_slice(&slot.load(Ordering::Relaxed).to_le_bytes());
    }
    info
}

pub const SS_ONSTACK: u32 = 1;
pub const SS_DISABLE: u32 = 2;

/// The calling thread's alternate signal stack: (sp, flags, size), flags
/// `SS_DISABLE` when there is none.
pub fn alt_stack() -> (u64, u32, u64) {
    let [sp, size, flags] = &cpu::thread_signals().alt_stack;
    match size.load(Ordering::Relaxed) {
        0 => (0, SS_DISABLE, 0),
        size => (
            sp.load(Ordering::Relaxed),
            flags.load(Ordering::Relaxed) as u32,
            size,
        ),
    }
}

/// Sets the calling thread's alternate signal stack (`size` 0: none).
pub fn set_alt_stack(sp: u64, flags: u32, size: u64) {
    let [slot_sp, slot_size, slot_flags] = &cpu::thread_signals().alt_stack;
    slot_sp.store(sp, Ordering::Relaxed);
    slot_flags.store(flags as u64, Ordering::Relaxed);
    slot_size.store(size, Ordering::Relaxed);
}

/// Signals raised by the hardware for the instruction that faulted: they
/// cannot wait, and a blocked or defaulted one kills (as on Linux).
const SYNCHRONOUS: u64 = bit(4) | bit(5) | bit(7) | bit(8) | bit(11); // ILL, TRAP, BUS, FPE, SEGV

/// Whether signals the kernel took during the current syscall wait for its
/// end (one load: the patched path asks after every call).
#[inline]
pub fn pending_at_exit() -> bool {
    cpu::thread_signals().pending.load(Ordering::Acquire) != 0
}

/// A host signal for the guest arrived (see `oxbox_hal::signals`). Returns
/// false when the host should apply the default action instead.
pub fn arrived(sig: u64, info: &[u8; 128], ctx: &mut GuestContext<'_>, in_kernel: bool) -> bool {
    let Ok(index) = check_signal(sig) else {
        return false;
    };
    if in_kernel {
        // The interrupted kernel code may hold any lock (the dispositions,
        // the heap): only lock-free, per-thread work here. Delivery, and
        // the checks of the disposition, happen when its syscall returns.
        store_info(index, info);
        cpu::thread_signals()
            .pending
            .fetch_or(bit(index), Ordering::AcqRel);
        return true;
    }
    let action = ACTIONS.lock()[index - 1];
    let blocked = mask() & bit(index) != 0;
    if action.handler == SIG_IGN {
        return true;
    }
    if action.handler == 0 || (SYNCHRONOUS & bit(index) != 0 && blocked) {
        return false;
    }
    if blocked {
        // The mask changed as the signal came: the host keeps it.
        hand_back(index, info);
        return true;
    }
    deliver(index, &action, info, None, ctx);
    true
}

/// The end of a trapped syscall (or of a patched one, through the
/// trampoline): the lowest signal the kernel took during the call that the
/// thread does not block is delivered; the others go back to the host,
/// which delivers them when the thread's mask allows.
///
/// A call the signal interrupted (see [`interrupted`]) is restarted when
/// the handler returns if its SA_RESTART asks, or at once if no handler
/// runs, as Linux does: the context is rewound to the `syscall`
/// instruction (the trapped site's, or the trampoline's for a patched
/// call) with the call's number in `%rax` (its arguments are still in
/// their registers).
pub fn syscall_exit(ctx: &mut GuestContext<'_>) {
    let state = cpu::thread_signals();
    let saved_mask = (state.has_saved_mask.swap(0, Ordering::AcqRel) != 0)
        .then(|| state.saved_mask.load(Ordering::Relaxed));
    let interrupted_nr = state
        .interrupted_call
        .swap(0, Ordering::AcqRel)
        .checked_sub(1);
    let pending = state.pending.load(Ordering::Acquire);
    let ready = pending & !state.mask();
    let mut handler = None;
    if ready != 0 {
        let index = ready.trailing_zeros() as usize + 1;
        state.pending.fetch_and(!bit(index), Ordering::AcqRel);
        let info = load_info(index);
        let action = ACTIONS.lock()[index - 1];
        if action.handler > SIG_IGN {
            handler = Some((index, action, info));
        } else {
            // The disposition changed while the signal waited: the host
            // applies it.
            hand_back(index, &info);
        }
    }
    if let Some(nr) = interrupted_nr
        && handler
            .as_ref()
            .is_none_or(|(_, action, _)| action.flags & SA_RESTART != 0)
    {
        let regs = ctx.regs_mut();
        regs[REG_RAX] = nr;
        regs[REG_RIP] -= SYSCALL_INSN_LEN;
    }
    match handler {
        Some((index, action, info)) => deliver(index, &action, &info, saved_mask, ctx),
        None => {
            if let Some(mask) = saved_mask {
                let _ = cpu::set_guest_mask(mask);
            }
        }
    }
    let rest = state.pending.swap(0, Ordering::AcqRel);
    for index in (1..=NSIG).filter(|i| rest & bit(*i) != 0) {
        hand_back(index, &load_info(index));
    }
}

/// Length of the `syscall` instruction a restarted call goes back to.
const SYSCALL_INSN_LEN: u64 = 2;

/// The guest syscall `call` failed with EINTR because a signal came: if
/// Linux would restart it (after a handler with SA_RESTART, or when no
/// handler runs), [`syscall_exit`] does. The calls signal(7) lists as
/// never restarted after a handler are left to fail with EINTR, socket
/// calls with a timeout set on the socket among them.
pub fn interrupted(call: &crate::syscall::Call) {
    use oxbox_abi::Sysno::*;
    const FUTEX_CMD_MASK: u64 = 0x7f;
    const FUTEX_WAIT: u64 = 0;
    const FUTEX_WAIT_BITSET: u64 = 9;
    let never = [
        poll,
        ppoll,
        select,
        pselect6,
        epoll_wait,
        epoll_pwait,
        epoll_pwait2,
        nanosleep,
        clock_nanosleep,
        rt_sigsuspend,
        pause,
        rt_sigtimedwait,
        io_getevents,
        semop,
        semtimedop,
        msgrcv,
        msgsnd,
    ];
    if never.iter().any(|nr| *nr as u64 == call.nr) {
        return;
    }
    // A futex wait with a timeout fails with EINTR; without one it restarts.
    if call.nr == futex as u64
        && [FUTEX_WAIT, FUTEX_WAIT_BITSET].contains(&(call.arg(1) & FUTEX_CMD_MASK))
        && call.arg(3) != 0
    {
        return;
    }
    // Socket calls on a socket with a timeout for their direction
    // (SO_RCVTIMEO for input, SO_SNDTIMEO for output), and recvmmsg with
    // a timeout of its own, fail with EINTR too.
    const SO_RCVTIMEO: u64 = 20;
    const SO_SNDTIMEO: u64 = 21;
    let is = |calls: &[oxbox_abi::Sysno]| calls.iter().any(|nr| *nr as u64 == call.nr);
    let timeout = if is(&[accept, accept4, recvfrom, recvmsg, recvmmsg, read, readv]) {
        Some(SO_RCVTIMEO)
    } else if is(&[connect, sendto, sendmsg, sendmmsg, write, writev]) {
        Some(SO_SNDTIMEO)
    } else {
        None
    };
    if call.nr == recvmmsg as u64 && call.arg(4) != 0 {
        return;
    }
    if let Some(option) = timeout
        && socket_timeout_set(call.int(0), option)
    {
        return;
    }
    cpu::thread_signals()
        .interrupted_call
        .store(call.nr + 1, Ordering::Release);
}

/// Whether descriptor `fd` is a socket whose timeout `option`
/// (SO_RCVTIMEO or SO_SNDTIMEO) is set.
fn socket_timeout_set(fd: i32, option: u64) -> bool {
    const SOL_SOCKET: u64 = 1;
    let mut timeval = [0u64; 2];
    let mut len = core::mem::size_of_val(&timeval) as u32;
    let asked = crate::syscall::host_call(
        oxbox_abi::Sysno::getsockopt,
        [
            fd as u64,
            SOL_SOCKET,
            option,
            timeval.as_mut_ptr() as u64,
            &mut len as *mut u32 as u64,
            0,
        ],
    );
    asked.is_ok() && timeval != [0, 0]
}

/// Gives the host back a signal the kernel took but cannot deliver now,
/// with its `siginfo_t`: to this thread if it was sent to it, else to the
/// process (the host then picks a thread that does not block it).
fn hand_back(index: usize, info: &[u8; 128]) {
    let code = i32::from_le_bytes(info[8..12].try_into().expect("4 bytes"));
    let pid = crate::task::pid() as u64;
    let to_process = || {
        crate::syscall::host_call(
            oxbox_abi::Sysno::rt_sigqueueinfo,
            [pid, index as u64, info.as_ptr() as u64, 0, 0, 0],
        )
    };
    // The host lets only a process's main thread queue a kernel-made
    // siginfo (si_code >= 0) to the whole process.
    if code == SI_TKILL || to_process().is_err() {
        let _ = crate::syscall::host_call(
            oxbox_abi::Sysno::rt_tgsigqueueinfo,
            [
                pid,
                crate::task::tid() as u64,
                index as u64,
                info.as_ptr() as u64,
                0,
                0,
            ],
        );
    }
}

/// Before `execve`: pending signals survive it. The host holds every guest
/// signal from now until the new image boots, and the ones the kernel
/// holds for this thread go back to the host's queues. (Left to this
/// image's handler, a signal that came between the two would be held in
/// memory the `execve` discards: a Ctrl-C as `sh` execs its last command
/// would be lost.) [`exec_failed`] undoes it.
pub fn hold_across_exec() {
    let _ = cpu::hold_guest_signals_in_host();
    let rest = cpu::thread_signals().pending.swap(0, Ordering::AcqRel);
    for index in (1..=NSIG).filter(|i| rest & bit(*i) != 0) {
        hand_back(index, &load_info(index));
    }
}

/// An `execve` failed and this image goes on: the host's mask mirrors the
/// guest's again, and what the host held reaches the kernel's handlers.
pub fn exec_failed() {
    let _ = cpu::set_guest_mask(mask());
}

/// Takes a signal of `set` the kernel holds for this thread, if any, with
/// its `siginfo_t` (for `rt_sigtimedwait`).
pub fn take_held(set: u64) -> Option<(usize, [u8; 128])> {
    let state = cpu::thread_signals();
    let held = state.pending.load(Ordering::Acquire) & set;
    if held == 0 {
        return None;
    }
    let index = held.trailing_zeros() as usize + 1;
    state.pending.fetch_and(!bit(index), Ordering::AcqRel);
    Some((index, load_info(index)))
}

/// Signals held by the kernel for this thread that it blocks (for `rt_sigpending`).
pub fn held_blocked() -> u64 {
    cpu::thread_signals().pending.load(Ordering::Acquire) & mask()
}

/// Clears the state a forked child does not inherit: signals pending for
/// the thread that forked stay with the parent.
pub fn after_fork() {
    let state = cpu::thread_signals();
    state.pending.store(0, Ordering::Release);
    state.has_saved_mask.store(0, Ordering::Release);
    state.interrupted_call.store(0, Ordering::Release);
}

/// Delivers signal `index` by rewriting `ctx` to enter its handler on a
/// frame that saves `ctx` and `saved_mask` (by default the current mask).
fn deliver(
    index: usize,
    action: &SigAction,
    info: &[u8; 128],
    saved_mask: Option<u64>,
    ctx: &mut GuestContext<'_>,
) {
    let current = mask();
    if build_frame(index, action, info, saved_mask.unwrap_or(current), ctx).is_err() {
        // No room for a frame on the guest's stack: Linux kills with SIGSEGV.
        let _ = signals::mirror_guest_disposition(11, false);
        let _ = crate::syscall::host_call(
            oxbox_abi::Sysno::kill,
            [crate::task::pid() as u64, 11, 0, 0, 0, 0],
        );
        return;
    }
    let defer = if action.flags & SA_NODEFER == 0 {
        bit(index)
    } else {
        0
    };
    let _ = cpu::set_guest_mask((current | action.mask | defer) & !UNBLOCKABLE);
    if action.flags & SA_RESETHAND != 0 {
        ACTIONS.lock()[index - 1] = SigAction::default();
        let _ = signals::mirror_guest_disposition(index as u64, false);
    }
}

use oxbox_hal::signals::GuestContext;

use oxbox_abi::ucontext::{
    FPREGS_PTR_OFFSET as UC_FPSTATE, GREGS_OFFSET as UC_MCONTEXT, REG_CSGSFS, REG_EFL, REG_RAX,
    REG_RDI, REG_RDX, REG_RIP, REG_RSI, REG_RSP, SIGMASK_OFFSET as UC_SIGMASK,
    UCONTEXT_SIZE as UC_SIZE,
};
/// The flags user code may set in `%rflags` through a signal frame.
const USER_EFLAGS: u64 = 0x50dd5;

/// Builds the `rt_sigframe` (return address, ucontext, siginfo) and the
/// saved FPU state below the guest's stack pointer (or on its alternate
/// stack), and points `ctx` at the handler.
fn build_frame(
    sig: usize,
    action: &SigAction,
    info: &[u8; 128],
    saved_mask: u64,
    ctx: &mut GuestContext<'_>,
) -> Result<(), Errno> {
    if action.flags & SA_RESTORER == 0 {
        return Err(Errno::EFAULT);
    }
    let regs = *ctx.regs();
    let (alt_sp, alt_flags, alt_size) = alt_stack();
    let on_alt =
        alt_flags & SS_DISABLE == 0 && (alt_sp..alt_sp + alt_size).contains(&regs[REG_RSP]);
    let top = if action.flags & SA_ONSTACK != 0 && alt_flags & SS_DISABLE == 0 && !on_alt {
        alt_sp + alt_size
    } else {
        // Below the interrupted code's red zone.
        regs[REG_RSP] - 128
    };
    let fp = ctx.fpstate().to_vec();
    let fp_addr = (top - fp.len() as u64) & !63;
    let frame = ((fp_addr - (8 + UC_SIZE + 128) as u64) & !15) - 8;
    let uc_addr = frame + 8;
    let info_addr = uc_addr + UC_SIZE as u64;

    let mut bytes = alloc::vec![0u8; 8 + UC_SIZE + 128];
    let mut put = |off: usize, v: &[u8]| bytes[off..off + v.len()].copy_from_slice(v);
    put(0, &action.restorer.to_le_bytes());
    const UC_FP_XSTATE: u64 = 1;
    put(
        8,
        &(if fp.len() > 512 { UC_FP_XSTATE } else { 0 }).to_le_bytes(),
    );
    put(8 + 16, &alt_sp.to_le_bytes());
    put(
        8 + 24,
        &(if on_alt { SS_ONSTACK } else { alt_flags }).to_le_bytes(),
    );
    put(8 + 32, &alt_size.to_le_bytes());
    for (i, r) in regs.iter().enumerate() {
        put(8 + UC_MCONTEXT + i * 8, &r.to_le_bytes());
    }
    put(
        8 + UC_FPSTATE,
        &(if fp.is_empty() { 0 } else { fp_addr }).to_le_bytes(),
    );
    put(8 + UC_SIGMASK, &saved_mask.to_le_bytes());
    put(8 + UC_SIZE, info);
    crate::mm::user::copy_out(fp_addr, &fp)?;
    crate::mm::user::copy_out(frame, &bytes)?;

    let regs = ctx.regs_mut();
    regs[REG_RIP] = action.handler;
    regs[REG_RSP] = frame;
    regs[REG_RDI] = sig as u64;
    regs[REG_RSI] = info_addr;
    regs[REG_RDX] = uc_addr;
    regs[REG_RAX] = 0;
    // Handlers start with the direction and trap flags clear.
    regs[REG_EFL] &= !(0x400 | 0x100);
    Ok(())
}

/// `rt_sigreturn`: restores the context saved by [`build_frame`], which the
/// guest's handler may have changed. Returns the restored `%rax`.
pub fn sigreturn(ctx: &mut GuestContext<'_>) -> Result<u64, Errno> {
    let uc_addr = ctx.regs()[REG_RSP];
    let uc = crate::mm::user::read_bytes(uc_addr, UC_SIZE)?;
    let word = |off: usize| u64::from_le_bytes(uc[off..off + 8].try_into().expect("8 bytes"));
    let fp_addr = word(UC_FPSTATE);
    if fp_addr != 0 {
        let size = ctx.fpstate().len();
        let fp = crate::mm::user::read_bytes(fp_addr, size)?;
        ctx.set_fpstate(&fp);
    }
    let regs = ctx.regs_mut();
    for (i, reg) in regs.iter_mut().enumerate().take(REG_CSGSFS) {
        let saved = word(UC_MCONTEXT + i * 8);
        *reg = if i == REG_EFL {
            (*reg & !USER_EFLAGS) | (saved & USER_EFLAGS)
        } else {
            saved
        };
    }
    cpu::set_guest_mask(word(UC_SIGMASK) & !UNBLOCKABLE)?;
    Ok(regs[REG_RAX])
}

/// Runs a wait that puts `mask` in force for its duration, as Linux's
/// `rt_sigsuspend`, `ppoll`, `pselect6` and `epoll_pwait` do (`None`: the
/// thread's own mask). `wait` gets the address of the host mask standing
/// for `mask` (0 for none) and passes it to the host call, which installs
/// it and waits atomically, so a signal arriving in between is not lost.
/// If the wait fails with EINTR, `mask` stays the guest's mask until the
/// syscall ends: a signal it lets through runs its handler, which returns
/// to the mask of before ([`syscall_exit`] restores it if none runs).
/// Otherwise the mask of before is back at once, as on Linux.
pub fn wait_with_mask(mask: Option<u64>, wait: impl FnOnce(u64) -> SysResult) -> SysResult {
    let Some(mask) = mask else {
        return wait(0);
    };
    let state = cpu::thread_signals();
    let old = state.mask();
    let mask = mask & !UNBLOCKABLE;
    // Only the kernel's record changes: the host mask stays the old one
    // outside the host call, which installs its own.
    state.record_mask(mask);
    let host_mask = cpu::host_mask(mask);
    let result = wait(&host_mask as *const u64 as u64);
    if result == Err(Errno::EINTR) {
        state.saved_mask.store(old, Ordering::Relaxed);
        state.has_saved_mask.store(1, Ordering::Release);
    } else {
        state.record_mask(old);
    }
    result
}

/// `rt_sigsuspend`: waits with `mask` in force until a signal can be
/// delivered; its handler returns to the mask of before.
pub fn suspend(mask: u64) -> SysResult {
    let state = cpu::thread_signals();
    wait_with_mask(Some(mask), |host_mask| {
        // The kernel's handler takes the signal (the thread is in kernel
        // code) and the host's wait returns.
        while state.pending.load(Ordering::Acquire) & !state.mask() == 0 {
            let _ = crate::syscall::host_call(
                oxbox_abi::Sysno::rt_sigsuspend,
                [host_mask, 8, 0, 0, 0, 0],
            );
        }
        Err(Errno::EINTR)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigkill_and_sigstop_cannot_be_blocked() {
        let mask = updated_mask(SIG_SETMASK, 0, u64::MAX).unwrap();
        assert_eq!(mask & UNBLOCKABLE, 0);
        assert_eq!(updated_mask(SIG_BLOCK, 0, bit(SIGKILL)), Ok(0));
        assert_eq!(updated_mask(7, 0, 0), Err(Errno::EINVAL));
    }

    #[test]
    fn sigaction_bytes_round_trip() {
        let a = SigAction {
            handler: 0x401000,
            flags: 0x0400_0004,
            restorer: 0x402000,
            mask: 0x5,
        };
        assert_eq!(SigAction::from_bytes(&a.to_bytes()), a);
    }
}
