//! System information, randomness and scheduling.

use oxbox_abi::Sysno;

use super::{Call, host_call};
use crate::mm::user;
use crate::{Errno, SysResult, task};

pub fn sys_sysinfo(call: &Call) -> SysResult {
    user::check_buffer(call.arg(0), 112)?;
    call.forward()
}

/// The host's sysinfo into a kernel buffer (for `/proc/meminfo`).
pub fn host_sysinfo(buf: &mut [u8; 112]) -> SysResult {
    host_call(Sysno::sysinfo, [buf.as_mut_ptr() as u64, 0, 0, 0, 0, 0])
}

pub fn sys_getrandom(call: &Call) -> SysResult {
    user::check_buffer(call.arg(0), call.arg(1))?;
    call.forward()
}

pub fn sys_sched_yield(call: &Call) -> SysResult {
    call.forward()
}

/// sched_getaffinity on this process.
pub fn sys_sched_getaffinity(call: &Call) -> SysResult {
    let pid = call.int(0);
    if pid != 0 && pid != task::pid() {
        return Err(Errno::ESRCH);
    }
    user::check_buffer(call.arg(2), call.arg(1))?;
    host_call(
        Sysno::sched_getaffinity,
        [0, call.arg(1), call.arg(2), 0, 0, 0],
    )
}

pub fn sys_umask(call: &Call) -> SysResult {
    call.forward()
}

/// futex(uaddr, op, val, timeout/val2, uaddr2, val3): guest memory is host
/// memory, so the host's futexes serve the guest directly; the kernel only
/// keeps the words out of its own memory.
pub fn sys_futex(call: &Call) -> SysResult {
    /// The operation without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME.
    const FUTEX_CMD_MASK: u64 = !(128 | 256);
    const FUTEX_WAIT: u64 = 0;
    const FUTEX_WAIT_BITSET: u64 = 9;
    const FUTEX_LOCK_PI: u64 = 6;
    const FUTEX_WAIT_REQUEUE_PI: u64 = 11;
    const FUTEX_REQUEUE: u64 = 3;
    const FUTEX_CMP_REQUEUE: u64 = 4;
    const FUTEX_WAKE_OP: u64 = 5;
    user::check_buffer(call.arg(0), 4)?;
    let cmd = call.arg(1) & FUTEX_CMD_MASK;
    if matches!(
        cmd,
        FUTEX_WAIT | FUTEX_WAIT_BITSET | FUTEX_LOCK_PI | FUTEX_WAIT_REQUEUE_PI
    ) {
        user::check_buffer(call.arg(3), 16)?;
    }
    if matches!(
        cmd,
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE | FUTEX_WAKE_OP | FUTEX_WAIT_REQUEUE_PI
    ) {
        user::check_buffer(call.arg(4), 4)?;
    }
    call.forward()
}
