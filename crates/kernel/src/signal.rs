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
//! Known limits: the mask and the pending set are per process, not per
//! thread; a blocked signal with the default action still takes it.

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use crate::Errno;

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

struct SignalState {
    actions: [SigAction; NSIG],
    /// The blocked set of the (only) thread.
    mask: u64,
}

static STATE: Mutex<SignalState> = Mutex::new(SignalState {
    actions: [SigAction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    }; NSIG],
    mask: 0,
});

/// Bit for signal `sig` in a mask.
const fn bit(sig: usize) -> u64 {
    1 << (sig - 1)
}

/// The signals that can never be blocked.
const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

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
    if new.is_some() && (sig == SIGKILL || sig == SIGSTOP) {
        return Err(Errno::EINVAL);
    }
    let mut state = STATE.lock();
    let old = state.actions[sig - 1];
    if let Some(mut new) = new {
        new.mask &= !UNBLOCKABLE;
        state.actions[sig - 1] = new;
        if new.handler <= SIG_IGN {
            oxbox_hal::signals::mirror_guest_disposition(sig as u64, new.handler == SIG_IGN)?;
        } else if !oxbox_hal::signals::is_kernel_signal(sig as u64) {
            oxbox_hal::signals::install_guest_signal(sig as u64, new.flags & SA_RESTART != 0)?;
        }
    }
    Ok(old)
}

/// The signals whose disposition is "ignore" (kept across `execve`).
pub fn ignored() -> u64 {
    let state = STATE.lock();
    (1..=NSIG)
        .filter(|sig| state.actions[sig - 1].handler == SIG_IGN)
        .fold(0, |set, sig| set | bit(sig))
}

/// Restores the state `execve` keeps: the mask and the ignored signals
/// (handlers are reset to the default, as Linux does).
pub fn restore_after_exec(mask: u64, ignored: u64) -> Result<(), Errno> {
    change_mask(SIG_SETMASK, Some(mask))?;
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

/// Applies `how` with `set` (if given) to the mask; returns the old mask.
pub fn change_mask(how: u64, set: Option<u64>) -> Result<u64, Errno> {
    let mut state = STATE.lock();
    let old = state.mask;
    if let Some(set) = set {
        state.mask = match how {
            SIG_BLOCK => old | set,
            SIG_UNBLOCK => old & !set,
            SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        } & !UNBLOCKABLE;
    }
    Ok(old)
}

/// Signals that arrived and wait for delivery (bit `n-1` for signal `n`),
/// with the `siginfo_t` of each.
static PENDING: AtomicU64 = AtomicU64::new(0);
/// Written by signal handlers that may interrupt kernel code holding any
/// lock, so lock-free: 16 words per signal (a racing second arrival of the
/// same signal may mix the two records, as standard signals coalesce).
static INFOS: [[AtomicU64; 16]; NSIG] = [const { [const { AtomicU64::new(0) }; 16] }; NSIG];

fn store_info(index: usize, info: &[u8; 128]) {
    for (slot, word) in INFOS[index - 1].iter().zip(info.chunks_exact(8)) {
        slot.store(
            u64::from_le_bytes(word.try_into().expect("8 bytes")),
            Ordering::Relaxed,
        );
    }
}

fn load_info(index: usize) -> [u8; 128] {
    let mut info = [0u8; 128];
    for (slot, word) in INFOS[index - 1].iter().zip(info.chunks_exact_mut(8)) {
        word.copy_from_slice(&slot.load(Ordering::Relaxed).to_le_bytes());
    }
    info
}

/// The guest's alternate signal stack: (sp, flags, size).
pub static ALT_STACK: Mutex<(u64, u32, u64)> = Mutex::new((0, SS_DISABLE, 0));
pub const SS_ONSTACK: u32 = 1;
pub const SS_DISABLE: u32 = 2;

/// A mask to restore when the handler of the signal that ended an
/// `rt_sigsuspend` returns, instead of the mask in force at delivery.
static SUSPENDED_MASK: Mutex<Option<u64>> = Mutex::new(None);

/// Signals raised by the hardware for the instruction that faulted: they
/// cannot wait, and a blocked or defaulted one kills (as on Linux).
const SYNCHRONOUS: u64 = bit(4) | bit(5) | bit(7) | bit(8) | bit(11); // ILL, TRAP, BUS, FPE, SEGV

/// Whether a pending signal can be delivered now.
#[inline]
pub fn deliverable() -> bool {
    let pending = PENDING.load(Ordering::Acquire);
    pending != 0 && pending & !STATE.lock().mask != 0
}

/// A host signal for the guest arrived (see `oxbox_hal::signals`). Returns
/// false when the host should apply the default action instead.
pub fn arrived(sig: u64, info: &[u8; 128], ctx: &mut GuestContext<'_>, in_kernel: bool) -> bool {
    let Ok(index) = check_signal(sig) else {
        return false;
    };
    if in_kernel {
        // The interrupted kernel code may hold any lock (the signal state,
        // the heap): only lock-free work here. Delivery, and the checks of
        // the disposition, happen when its syscall returns.
        store_info(index, info);
        PENDING.fetch_or(bit(index), Ordering::AcqRel);
        return true;
    }
    let (action, mask) = {
        let state = STATE.lock();
        (state.actions[index - 1], state.mask)
    };
    if action.handler == SIG_IGN {
        return true;
    }
    if action.handler == 0 || (SYNCHRONOUS & bit(index) != 0 && mask & bit(index) != 0) {
        return false;
    }
    store_info(index, info);
    PENDING.fetch_or(bit(index), Ordering::AcqRel);
    deliver(ctx);
    true
}

/// The end of a trapped syscall: pending signals are delivered.
pub fn syscall_exit(ctx: &mut GuestContext<'_>) {
    if deliverable() {
        deliver(ctx);
    }
}

/// Delivers the lowest deliverable pending signal, if any, by rewriting
/// `ctx` to enter its handler on a frame that saves `ctx`.
pub fn deliver(ctx: &mut GuestContext<'_>) {
    let pending = PENDING.load(Ordering::Acquire);
    let mut state = STATE.lock();
    let ready = pending & !state.mask;
    if ready == 0 {
        return;
    }
    let index = ready.trailing_zeros() as usize + 1;
    PENDING.fetch_and(!bit(index), Ordering::AcqRel);
    let action = state.actions[index - 1];
    if action.handler <= SIG_IGN {
        // The disposition changed while the signal waited.
        return;
    }
    let info = load_info(index);
    let saved_mask = SUSPENDED_MASK.lock().take().unwrap_or(state.mask);
    if build_frame(index, &action, &info, saved_mask, ctx).is_err() {
        // No room for a frame on the guest's stack: Linux kills with SIGSEGV.
        drop(state);
        let _ = oxbox_hal::signals::mirror_guest_disposition(11, false);
        let _ = crate::syscall::host_call(
            oxbox_abi::Sysno::kill,
            [crate::task::pid() as u64, 11, 0, 0, 0, 0],
        );
        return;
    }
    state.mask |= action.mask
        | if action.flags & SA_NODEFER == 0 {
            bit(index)
        } else {
            0
        };
    state.mask &= !UNBLOCKABLE;
    if action.flags & SA_RESETHAND != 0 {
        state.actions[index - 1] = SigAction::default();
        let _ = oxbox_hal::signals::mirror_guest_disposition(index as u64, false);
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
    let (alt_sp, alt_flags, alt_size) = *ALT_STACK.lock();
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
    STATE.lock().mask = word(UC_SIGMASK) & !UNBLOCKABLE;
    Ok(regs[REG_RAX])
}

/// `rt_sigsuspend`: waits with `mask` in force until a signal can be
/// delivered; its handler returns to the mask of before.
pub fn suspend(mask: u64) -> Errno {
    let old = change_mask(SIG_SETMASK, Some(mask)).unwrap_or(0);
    // Host signals stay blocked between the check and the wait, and the
    // wait unblocks them atomically (ppoll's mask), so a signal arriving
    // in between is not lost: ppoll returns EINTR at once.
    const SIG_SETMASK_HOST: u64 = 2;
    let all: u64 = !(bit(9) | bit(19) | bit(7) | bit(11) | bit(31)); // not KILL, STOP, BUS, SEGV, SYS
    let none: u64 = 0;
    let _ = crate::syscall::host_call(
        oxbox_abi::Sysno::rt_sigprocmask,
        [SIG_SETMASK_HOST, &all as *const u64 as u64, 0, 8, 0, 0],
    );
    while !deliverable() {
        let _ = crate::syscall::host_call(
            oxbox_abi::Sysno::ppoll,
            [0, 0, 0, &none as *const u64 as u64, 8, 0],
        );
    }
    let _ = crate::syscall::host_call(
        oxbox_abi::Sysno::rt_sigprocmask,
        [SIG_SETMASK_HOST, &none as *const u64 as u64, 0, 8, 0, 0],
    );
    *SUSPENDED_MASK.lock() = Some(old);
    Errno::EINTR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigkill_and_sigstop_cannot_be_blocked() {
        let all = u64::MAX;
        change_mask(SIG_SETMASK, Some(all)).unwrap();
        let mask = change_mask(SIG_BLOCK, None).unwrap();
        assert_eq!(mask & UNBLOCKABLE, 0);
        assert_eq!(change_mask(7, Some(0)), Err(Errno::EINVAL));
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
