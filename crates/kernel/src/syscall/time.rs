//! Time. The guest's vDSO answers most clock reads without a syscall;
//! these are the calls that still arrive.

use oxbox_abi::Sysno;

use super::{Call, host_call};
use crate::mm::user;
use crate::{Errno, SysResult};

/// clock_gettime and clock_getres: a clock id and a timespec out.
pub fn sys_clock_read(call: &Call) -> SysResult {
    user::check_buffer(call.arg(1), 16)?;
    call.forward()
}

pub fn sys_gettimeofday(call: &Call) -> SysResult {
    const CLOCK_REALTIME: u64 = 0;
    if call.arg(0) != 0 {
        let mut ts = [0u8; 16];
        host_call(
            Sysno::clock_gettime,
            [CLOCK_REALTIME, ts.as_mut_ptr() as u64, 0, 0, 0, 0],
        )?;
        let nanos = u64::from_le_bytes(ts[8..].try_into().expect("8 bytes"));
        ts[8..].copy_from_slice(&(nanos / 1000).to_le_bytes());
        user::copy_out(call.arg(0), &ts)?;
    }
    if call.arg(1) != 0 {
        // The obsolete timezone: always zero on Linux.
        user::copy_out(call.arg(1), &[0u8; 8])?;
    }
    Ok(0)
}

pub fn sys_time(call: &Call) -> SysResult {
    let mut ts = [0u8; 16];
    host_call(
        Sysno::clock_gettime,
        [0, ts.as_mut_ptr() as u64, 0, 0, 0, 0],
    )?;
    let secs = u64::from_le_bytes(ts[..8].try_into().expect("8 bytes"));
    if call.arg(0) != 0 {
        user::write_u64(call.arg(0), secs)?;
    }
    Ok(secs)
}

/// nanosleep(req, rem): clock_nanosleep on CLOCK_REALTIME, relative.
pub fn sys_nanosleep(call: &Call) -> SysResult {
    user::check_buffer(call.arg(0), 16)?;
    user::check_buffer(call.arg(1), 16)?;
    const CLOCK_REALTIME: u64 = 0;
    host_call(
        Sysno::clock_nanosleep,
        [CLOCK_REALTIME, 0, call.arg(0), call.arg(1), 0, 0],
    )
}

/// clock_nanosleep(clock, flags, req, rem).
pub fn sys_clock_nanosleep(call: &Call) -> SysResult {
    user::check_buffer(call.arg(2), 16)?;
    user::check_buffer(call.arg(3), 16)?;
    if call.arg(0) > 11 {
        return Err(Errno::EINVAL);
    }
    call.forward()
}

/// alarm(seconds): the host's timer, whose SIGALRM the kernel delivers.
pub fn sys_alarm(call: &Call) -> SysResult {
    call.forward()
}

/// setitimer(which, new, old) and getitimer(which, cur).
pub fn sys_itimer(call: &Call) -> SysResult {
    const ITIMERVAL_SIZE: u64 = 32;
    user::check_buffer(call.arg(1), ITIMERVAL_SIZE)?;
    if call.nr == Sysno::setitimer as u64 {
        user::check_buffer(call.arg(2), ITIMERVAL_SIZE)?;
    }
    call.forward()
}
