//! What the stack process may still do once its interface is open: it
//! becomes `nobody` (no capabilities left), cannot gain privileges, and a
//! seccomp filter kills it on any host call outside [`ALLOWED`] (no
//! `socket`, `open`, `execve`, `ptrace`..., and `socketpair` for unix
//! sockets only). A guest that took over the stack through a bug in it
//! would hold a packet socket on the container's own veth and nothing
//! more.

use std::io;

/// The host calls of the stack's loop, by x86-64 number.
const ALLOWED: &[(u32, &str)] = &[
    (0, "read"),
    (1, "write"),
    (3, "close"),
    (5, "fstat"),
    (7, "poll"),
    (9, "mmap"),
    (10, "mprotect"),
    (11, "munmap"),
    (12, "brk"),
    (13, "rt_sigaction"),
    (14, "rt_sigprocmask"),
    (15, "rt_sigreturn"),
    (20, "writev"),
    (24, "sched_yield"),
    (25, "mremap"),
    (28, "madvise"),
    (39, "getpid"),
    (44, "sendto"),
    (45, "recvfrom"),
    (46, "sendmsg"),
    (47, "recvmsg"),
    (48, "shutdown"),
    (49, "bind"),
    (51, "getsockname"),
    (60, "exit"),
    (72, "fcntl"),
    (131, "sigaltstack"),
    (186, "gettid"),
    (202, "futex"),
    (228, "clock_gettime"),
    (231, "exit_group"),
    (234, "tgkill"),
    (262, "newfstatat"),
    (271, "ppoll"),
    (318, "getrandom"),
    (332, "statx"),
];
const SOCKETPAIR: u32 = 53;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const NOBODY: u32 = 65534;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump_eq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// The filter: the architecture, then the number against each allowed
/// one, `socketpair` only with `AF_UNIX`.
fn program() -> Vec<libc::sock_filter> {
    let load = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    let mut p = vec![
        stmt(load, 4), // seccomp_data.arch
        jump_eq(AUDIT_ARCH_X86_64, 1, 0),
        stmt(ret, SECCOMP_RET_KILL_PROCESS),
        stmt(load, 0), // seccomp_data.nr
    ];
    for (nr, _) in ALLOWED {
        p.push(jump_eq(*nr, 0, 1));
        p.push(stmt(ret, SECCOMP_RET_ALLOW));
    }
    p.push(jump_eq(SOCKETPAIR, 0, 3));
    p.push(stmt(load, 16)); // args[0], low half
    p.push(jump_eq(libc::AF_UNIX as u32, 0, 1));
    p.push(stmt(ret, SECCOMP_RET_ALLOW));
    p.push(stmt(ret, SECCOMP_RET_KILL_PROCESS));
    p
}

fn check(result: libc::c_int) -> io::Result<()> {
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Drops every privilege of the calling (single-threaded) process and
/// installs the filter. Dies with its parent (`SIGKILL`).
pub fn enter() -> io::Result<()> {
    // SAFETY: these calls take integer arguments, or (setgroups) an
    // empty list.
    unsafe {
        check(libc::setgroups(0, std::ptr::null()))?;
        check(libc::setresgid(NOBODY, NOBODY, NOBODY))?;
        check(libc::setresuid(NOBODY, NOBODY, NOBODY))?;
        // After the change of ids, which clears it.
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
    }
    let filter = program();
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: the kernel copies the program, valid for the call.
    check(unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
            0,
            0,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_has_no_dangerous_call_and_fits() {
        for (_, name) in ALLOWED {
            assert!(
                ![
                    "socket", "open", "openat", "execve", "ptrace", "connect", "clone"
                ]
                .contains(name)
            );
        }
        assert!(program().len() < 255);
    }
}
