//! Identity and life of the process: ids as the container sees them,
//! `uname`, exit, TLS and the thread bookkeeping calls.

use oxbox_abi::Sysno;
use oxbox_hal::{cpu, host};

use super::{Call, host_call};
use crate::mm::user;
use crate::{Errno, SysResult, log, stats, task};

pub fn sys_getpid(_: &Call) -> SysResult {
    Ok(task::pid() as u64)
}

pub fn sys_getppid(_: &Call) -> SysResult {
    Ok(task::ppid() as u64)
}

pub fn sys_gettid(_: &Call) -> SysResult {
    Ok(task::tid() as u64)
}

/// getuid and geteuid.
pub fn sys_getuid(_: &Call) -> SysResult {
    Ok(task::container().uid as u64)
}

/// getgid and getegid.
pub fn sys_getgid(_: &Call) -> SysResult {
    Ok(task::container().gid as u64)
}

/// getresuid and getresgid: the real, effective and saved ids are equal.
pub fn sys_getres_ids(call: &Call) -> SysResult {
    let c = task::container();
    let id = if call.nr == Sysno::getresuid as u64 {
        c.uid
    } else {
        c.gid
    };
    for i in 0..3 {
        user::write_u32(call.arg(i), id)?;
    }
    Ok(0)
}

/// The container's process belongs to its primary group only.
pub fn sys_getgroups(call: &Call) -> SysResult {
    let size = call.int(0);
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    if size == 0 {
        return Ok(1);
    }
    user::write_u32(call.arg(1), task::container().gid)?;
    Ok(1)
}

/// setuid, setgid, setreuid...: changing to the current ids succeeds (as it
/// does natively); anything else needs the credentials model.
pub fn sys_set_ids(call: &Call) -> SysResult {
    let c = task::container();
    let current = if matches!(
        Sysno::new(call.nr as usize),
        Some(Sysno::setgid | Sysno::setregid | Sysno::setresgid)
    ) {
        c.gid
    } else {
        c.uid
    };
    let wanted = [call.arg(0), call.arg(1), call.arg(2)];
    let count = match Sysno::new(call.nr as usize) {
        Some(Sysno::setuid | Sysno::setgid) => 1,
        Some(Sysno::setreuid | Sysno::setregid) => 2,
        _ => 3,
    };
    if wanted[..count]
        .iter()
        .all(|id| *id as u32 == current || *id as u32 == u32::MAX)
    {
        Ok(0)
    } else {
        Err(Errno::EPERM)
    }
}

/// setgroups: setting the groups the process already has (the container's
/// primary group, or none) succeeds, as it does natively; servers that drop
/// privileges call `initgroups` even when staying root. Anything else needs
/// the credentials model.
pub fn sys_setgroups(call: &Call) -> SysResult {
    const NGROUPS_MAX: i32 = 65536;
    let size = call.int(0);
    if !(0..=NGROUPS_MAX).contains(&size) {
        return Err(Errno::EINVAL);
    }
    let list = user::read_bytes(call.arg(1), size as usize * 4)?;
    let gid = task::container().gid;
    if list
        .chunks_exact(4)
        .all(|g| u32::from_le_bytes(g.try_into().expect("4 bytes")) == gid)
    {
        Ok(0)
    } else {
        Err(Errno::EPERM)
    }
}

/// `struct utsname`: six 65-byte fields.
pub fn sys_uname(call: &Call) -> SysResult {
    let c = task::container();
    let mut buf = [0u8; 6 * 65];
    for (i, field) in [
        "Linux",
        &c.hostname,
        &c.release,
        &c.version,
        "x86_64",
        &c.domainname,
    ]
    .iter()
    .enumerate()
    {
        let bytes = field.as_bytes();
        let n = bytes.len().min(64);
        buf[i * 65..i * 65 + n].copy_from_slice(&bytes[..n]);
    }
    user::copy_out(call.arg(0), &buf)?;
    Ok(0)
}

/// sethostname, setdomainname: the container's names are fixed at start.
pub fn sys_set_names(_: &Call) -> SysResult {
    Err(Errno::EPERM)
}

/// exit (one thread) and exit_group (the whole process; also exit of the
/// last thread).
pub fn sys_exit(call: &Call) -> SysResult {
    if call.nr == oxbox_abi::Sysno::exit as u64 && task::thread_ended() > 0 {
        // The host clears and wakes the guest's CLONE_CHILD_CLEARTID word.
        // This thread's kernel stack is not reused (see oxbox_hal::cpu).
        let _ = super::host_call(oxbox_abi::Sysno::exit, [call.arg(0) & 0xff, 0, 0, 0, 0, 0]);
    }
    if stats::enabled() {
        log::write_raw(&stats::render());
    }
    super::exec::vfork_child_exiting();
    // A fork child's exit site is often one its parent never runs (see
    // `procs::tell_parent_site`).
    if let Some(site_end) =
        oxbox_hal::signals::with_trapped_context(|ctx| ctx.regs()[oxbox_abi::ucontext::REG_RIP])
        && site_end != oxbox_abi::layout::TRAMPOLINE_ADDR + 2
    {
        crate::procs::tell_parent_site(site_end, call.nr);
    }
    crate::procs::exited();
    host::exit_group(call.int(0) & 0xff)
}

/// set_tid_address: the host clears (and wakes) the word when the thread
/// exits, as pthread_join expects.
pub fn sys_set_tid_address(call: &Call) -> SysResult {
    user::check_buffer(call.arg(0), 4)?;
    call.forward()
}

/// set_robust_list: the host keeps the list, and releases the robust
/// mutexes of a thread that dies holding them.
pub fn sys_set_robust_list(call: &Call) -> SysResult {
    const ROBUST_LIST_HEAD_SIZE: u64 = 24;
    if call.arg(1) != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::EINVAL);
    }
    user::check_buffer(call.arg(0), ROBUST_LIST_HEAD_SIZE)?;
    call.forward()
}

pub fn sys_arch_prctl(call: &Call) -> SysResult {
    const ARCH_SET_GS: u64 = 0x1001;
    const ARCH_SET_FS: u64 = 0x1002;
    const ARCH_GET_FS: u64 = 0x1003;
    const ARCH_GET_GS: u64 = 0x1004;
    const ARCH_GET_CPUID: u64 = 0x1011;
    const USER_TOP: u64 = 0x7fff_ffff_f000;
    match call.arg(0) {
        ARCH_SET_FS if call.arg(1) >= USER_TOP => Err(Errno::EPERM),
        ARCH_SET_FS => cpu::set_fs_base(call.arg(1)).map(|_| 0),
        ARCH_GET_FS => user::write_u64(call.arg(1), cpu::fs_base()).map(|_| 0),
        // The GS base holds the kernel's per-thread context.
        ARCH_SET_GS => Err(Errno::EPERM),
        ARCH_GET_GS => user::write_u64(call.arg(1), 0).map(|_| 0),
        ARCH_GET_CPUID => Ok(1),
        _ => Err(Errno::EINVAL),
    }
}

const RLIMIT_NOFILE: u64 = 7;

/// prlimit64 on this process (pid 0 or its own pid). `RLIMIT_NOFILE` is
/// the kernel's, the other limits the host's.
pub fn sys_prlimit(call: &Call) -> SysResult {
    let pid = call.int(0);
    if pid != 0 && pid != task::pid() {
        return Err(Errno::ESRCH);
    }
    let (resource, new_addr, old_addr) = (call.arg(1), call.arg(2), call.arg(3));
    let new = if new_addr == 0 {
        None
    } else {
        Some([user::read_u64(new_addr)?, user::read_u64(new_addr + 8)?])
    };
    user::check_buffer(old_addr, 16)?;
    if resource == RLIMIT_NOFILE {
        // The guest's own, not the host's (see fdtable).
        let old = crate::fs::fdtable::swap_nofile(new)?;
        if old_addr != 0 {
            user::write_u64(old_addr, old[0])?;
            user::write_u64(old_addr + 8, old[1])?;
        }
        return Ok(0);
    }
    let new = new.map(|l| l.map(|l| address_space_limit(resource, l, u64::saturating_add)));
    let mut old = [0u64; 2];
    host_call(
        Sysno::prlimit64,
        [
            0,
            resource,
            new.as_ref().map_or(0, |l| l.as_ptr() as u64),
            if old_addr == 0 {
                0
            } else {
                old.as_mut_ptr() as u64
            },
            0,
            0,
        ],
    )?;
    if old_addr != 0 {
        let old = old.map(|l| address_space_limit(resource, l, u64::saturating_sub));
        user::write_u64(old_addr, old[0])?;
        user::write_u64(old_addr + 8, old[1])?;
    }
    Ok(0)
}

/// A limit as the host sees it (`to_host`: `saturating_add`) or the guest
/// does (`saturating_sub`): `RLIMIT_AS` differs by the kernel's own
/// address space (`KERNEL_ADDRESS_SPACE`), other limits and infinity not.
fn address_space_limit(resource: u64, limit: u64, shift: fn(u64, u64) -> u64) -> u64 {
    const RLIMIT_AS: u64 = 9;
    if resource != RLIMIT_AS || limit == u64::MAX {
        return limit;
    }
    shift(limit, oxbox_abi::layout::KERNEL_ADDRESS_SPACE)
}

/// getrlimit and setrlimit, as prlimit64 on the process itself.
pub fn sys_rlimit(call: &Call) -> SysResult {
    let (new, old) = if call.nr == Sysno::setrlimit as u64 {
        (call.arg(1), 0)
    } else {
        (0, call.arg(1))
    };
    sys_prlimit(&Call {
        nr: Sysno::prlimit64 as u64,
        args: [0, call.arg(0), new, old, 0, 0],
    })
}

/// kill, tkill, tgkill: signals stay inside the container's pid namespace.
/// Kernel-owned signals sent by the guest reach the kernel's handlers,
/// which recognize them (`si_code`) and apply the default action.
pub fn sys_kill(call: &Call) -> SysResult {
    // The process (or group) the signal reaches, as `kill` names it; the
    // state a stop or continue gives it goes to the process table first.
    let (target, sig) = if call.nr == Sysno::kill as u64 {
        (call.int(0) as i64, call.arg(1))
    } else if call.nr == Sysno::tgkill as u64 {
        (call.int(0) as i64, call.arg(2))
    } else {
        (task::pid() as i64, call.arg(1))
    };
    let revert = crate::procs::signal_sent(target, sig);
    let sent = if call.nr == Sysno::tkill as u64 {
        // tkill is tgkill within this process.
        super::host_call(
            Sysno::tgkill,
            [task::pid() as u64, call.arg(0), call.arg(1), 0, 0, 0],
        )
    } else {
        call.forward()
    };
    if sent.is_err()
        && let Some(revert) = revert
    {
        revert();
    }
    sent
}

/// Process groups and sessions: the host's, inside the container's pid
/// namespace, where they cannot reach anything outside it. `getpgrp` is
/// `getpgid(0)`.
pub fn sys_forward_pgrp(call: &Call) -> SysResult {
    if call.nr == Sysno::getpgrp as u64 {
        return super::host_call(Sysno::getpgid, [0; 6]);
    }
    call.forward()
}

/// The name `prctl(PR_SET_NAME)` gave the process (its `comm`).
static NAME: spin::Mutex<[u8; 16]> = spin::Mutex::new([0; 16]);

pub fn sys_prctl(call: &Call) -> SysResult {
    const PR_GET_DUMPABLE: u64 = 3;
    const PR_SET_DUMPABLE: u64 = 4;
    const PR_SET_NAME: u64 = 15;
    const PR_GET_NAME: u64 = 16;
    const PR_CAPBSET_READ: u64 = 23;
    const PR_SET_NO_NEW_PRIVS: u64 = 38;
    const PR_GET_NO_NEW_PRIVS: u64 = 39;
    match call.arg(0) {
        PR_SET_NAME => {
            let name = user::read_cstring(call.arg(1), 4096, Errno::EINVAL)?;
            let mut stored = [0u8; 16];
            let n = name.len().min(15);
            stored[..n].copy_from_slice(&name[..n]);
            *NAME.lock() = stored;
            Ok(0)
        }
        PR_GET_NAME => {
            let stored = *NAME.lock();
            if stored[0] == 0 {
                let comm = crate::fs::procfs::comm();
                let mut out = [0u8; 16];
                out[..comm.len()].copy_from_slice(comm.as_bytes());
                user::copy_out(call.arg(1), &out)?;
            } else {
                user::copy_out(call.arg(1), &stored)?;
            }
            Ok(0)
        }
        PR_GET_DUMPABLE | PR_GET_NO_NEW_PRIVS => Ok(1),
        PR_SET_DUMPABLE if call.arg(1) <= 1 => Ok(0),
        // The container holds no capabilities, and no_new_privs is always set.
        PR_CAPBSET_READ if call.arg(1) < 64 => Ok(0),
        PR_SET_NO_NEW_PRIVS if call.arg(1) == 1 => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}
