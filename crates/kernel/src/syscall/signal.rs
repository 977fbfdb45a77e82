//! Signal syscalls: the guest's dispositions, mask and alternate stack are
//! kernel state (`crate::signal`), which also delivers signals.

use oxbox_abi::Sysno;

use super::{Call, host_call};
use crate::mm::user;
use crate::signal::{self, SigAction};
use crate::signal::{SS_DISABLE, SS_ONSTACK};
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

/// rt_sigpending(set, size): the host keeps the signals the guest blocks
/// (plus any the kernel took during this very call).
pub fn sys_rt_sigpending(call: &Call) -> SysResult {
    if call.arg(1) != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    user::check_buffer(call.arg(0), SIGSET_SIZE)?;
    let mut host = 0u64;
    host_call(
        Sysno::rt_sigpending,
        [&mut host as *mut u64 as u64, SIGSET_SIZE, 0, 0, 0, 0],
    )?;
    user::write_u64(
        call.arg(0),
        (host & !signal::KERNEL_ONLY) | signal::held_blocked(),
    )?;
    Ok(0)
}

/// A guest signal set argument, read and checked as Linux does (`size` must
/// be 8), without the kernel's own signals.
fn read_sigset(addr: u64, size: u64) -> Result<u64, Errno> {
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    Ok(user::read_u64(addr)? & !signal::KERNEL_ONLY)
}

/// rt_sigtimedwait(set, info, timeout, size): a signal the kernel took
/// during this call is taken first; otherwise the host dequeues one of the
/// signals the guest blocks, or waits.
pub fn sys_rt_sigtimedwait(call: &Call) -> SysResult {
    let set = read_sigset(call.arg(0), call.arg(3))?;
    const SIGINFO_SIZE: u64 = 128;
    user::check_buffer(call.arg(1), SIGINFO_SIZE)?;
    user::check_buffer(call.arg(2), 16)?;
    if let Some((sig, info)) = signal::take_held(set) {
        if call.arg(1) != 0 {
            user::copy_out(call.arg(1), &info)?;
        }
        return Ok(sig as u64);
    }
    host_call(
        Sysno::rt_sigtimedwait,
        [
            &set as *const u64 as u64,
            call.arg(1),
            call.arg(2),
            SIGSET_SIZE,
            0,
            0,
        ],
    )
}

/// rt_sigqueueinfo(pid, sig, info) and rt_tgsigqueueinfo(tgid, tid, sig,
/// info): the guest's siginfo, copied in, goes to the host, which applies
/// Linux's rules (only a process itself may forge a kernel si_code).
pub fn sys_rt_sigqueueinfo(call: &Call) -> SysResult {
    let info_arg = if call.nr == Sysno::rt_tgsigqueueinfo as u64 {
        3
    } else {
        2
    };
    let mut info = [0u8; 128];
    user::copy_in(&mut info, call.arg(info_arg))?;
    let mut args = call.args;
    args[info_arg] = info.as_ptr() as u64;
    host_call(Sysno::new(call.nr as usize).ok_or(Errno::ENOSYS)?, args)
}

/// signalfd(fd, mask, size) and signalfd4(fd, mask, size, flags): a host
/// signalfd, which reads the signals the guest blocks from the host's
/// queues, as native.
pub fn sys_signalfd(call: &Call) -> SysResult {
    let set = read_sigset(call.arg(1), call.arg(2))?;
    let fd = call.int(0);
    if fd != -1 {
        crate::fs::fdtable::guest_fd(fd as u64)?;
    }
    let flags = if call.nr == Sysno::signalfd4 as u64 {
        call.arg(3)
    } else {
        0
    };
    let new = host_call(
        Sysno::signalfd4,
        [
            fd as u64,
            &set as *const u64 as u64,
            SIGSET_SIZE,
            flags,
            0,
            0,
        ],
    )?;
    if fd != -1 {
        return Ok(new);
    }
    Ok(crate::fs::fdtable::adopt(new as i32)? as u64)
}

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
    let old = signal::alt_stack();
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
            signal::set_alt_stack(0, 0, 0);
        } else if size < MINSIGSTKSZ {
            return Err(Errno::ENOMEM);
        } else {
            signal::set_alt_stack(sp, flags & SS_AUTODISARM, size);
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
    signal::suspend(mask)
}

/// pause(): waits for a signal with the current mask.
pub fn sys_pause(_: &Call) -> SysResult {
    let mask = signal::change_mask(signal::SIG_BLOCK, None)?;
    signal::suspend(mask)
}
