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
