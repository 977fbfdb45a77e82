//! Signal syscalls: the guest's dispositions, mask and alternate stack are
//! kernel state (`crate::signal`), which also delivers signals.

use super::Call;
use crate::mm::user;
use crate::signal::{self, SigAction};
use crate::{Errno, SysResult};

/// The size of `sigset_t` the kernel ABI uses.
const SIGSET_SIZE: u64 = 8;

pub fn sys_rt_sigaction(call: &Call) -> SysResult {
    if call.arg(3) != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let new = match call.arg(1) {
        0 => None,
        addr => {
            let mut raw = [0u8; SigAction::SIZE];
            user::copy_in(&mut raw, addr)?;
            Some(SigAction::from_bytes(&raw))
        }
    };
    // Check the output pointer before changing anything.
    if call.arg(2) != 0 {
        user::check_buffer(call.arg(2), SigAction::SIZE as u64)?;
    }
    let old = signal::action(call.arg(0), new)?;
    if call.arg(2) != 0 {
        user::copy_out(call.arg(2), &old.to_bytes())?;
    }
    Ok(0)
}

pub fn sys_rt_sigprocmask(call: &Call) -> SysResult {
    if call.arg(3) != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let set = match call.arg(1) {
        0 => None,
        addr => Some(user::read_u64(addr)?),
    };
    if set.is_some() && call.arg(0) > signal::SIG_SETMASK {
        return Err(Errno::EINVAL);
    }
    let old = signal::change_mask(call.arg(0), set)?;
    if call.arg(2) != 0 {
        user::write_u64(call.arg(2), old)?;
    }
    Ok(0)
}

pub fn sys_rt_sigpending(call: &Call) -> SysResult {
    if call.arg(1) != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    user::write_u64(call.arg(0), 0)?;
    Ok(0)
}

use crate::signal::{ALT_STACK, SS_DISABLE, SS_ONSTACK};
const SS_AUTODISARM: u32 = 1 << 31;
const MINSIGSTKSZ: u64 = 2048;

pub fn sys_sigaltstack(call: &Call) -> SysResult {
    let new = match call.arg(0) {
        0 => None,
        addr => {
            let raw = user::read_bytes(addr, 24)?;
            let word = |i: usize| u64::from_le_bytes(raw[i..i + 8].try_into().expect("8 bytes"));
            Some((word(0), word(8) as u32, word(16)))
        }
    };
    let old = *ALT_STACK.lock();
    if call.arg(1) != 0 {
        let mut raw = [0u8; 24];
        raw[..8].copy_from_slice(&old.0.to_le_bytes());
        raw[8..12].copy_from_slice(&old.1.to_le_bytes());
        raw[16..].copy_from_slice(&old.2.to_le_bytes());
        user::copy_out(call.arg(1), &raw)?;
    }
    if let Some((sp, flags, size)) = new {
        if flags & !(SS_DISABLE | SS_AUTODISARM | SS_ONSTACK) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & SS_DISABLE != 0 {
            *ALT_STACK.lock() = (0, SS_DISABLE, 0);
        } else if size < MINSIGSTKSZ {
            return Err(Errno::ENOMEM);
        } else {
            *ALT_STACK.lock() = (sp, flags & SS_AUTODISARM, size);
        }
    }
    Ok(0)
}

/// rt_sigreturn: only meaningful on the frame of a delivered signal, so
/// only through a trap (the kernel never patches its sites).
pub fn sys_rt_sigreturn(_: &Call) -> SysResult {
    oxbox_hal::signals::with_trapped_context(signal::sigreturn).unwrap_or(Err(Errno::ENOSYS))
}

/// rt_sigsuspend(mask, size).
pub fn sys_rt_sigsuspend(call: &Call) -> SysResult {
    if call.arg(1) != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask = user::read_u64(call.arg(0))?;
    Err(signal::suspend(mask))
}

/// pause(): waits for a signal with the current mask.
pub fn sys_pause(_: &Call) -> SysResult {
    let mask = signal::change_mask(signal::SIG_BLOCK, None)?;
    Err(signal::suspend(mask))
}
