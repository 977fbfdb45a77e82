//! The syscall table: every syscall the kernel implements, in one place.
//!
//! Each line names the syscall, its handler and, where the implementation
//! is partial, a note saying what is missing. Numbers not listed return
//! `ENOSYS` (logged once per number at info level).

use oxbox_abi::Sysno;
use oxbox_abi::layout::SLOT_COUNT;

use super::{Call, exec, fs, misc, mm, net, process, signal, time};
use crate::SysResult;

/// How complete a handler is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    Full,
    Partial(&'static str),
}

/// One table entry.
#[derive(Clone, Copy, Debug)]
pub struct Handler {
    pub sysno: Sysno,
    pub run: HandlerFn,
    pub support: Support,
}

/// The signature of every handler.
pub type HandlerFn = fn(&Call) -> SysResult;

macro_rules! syscall_table {
    ($($sysno:ident => $run:path $(, partial: $note:literal)?;)*) => {
        /// The handler for each syscall number, dense so that dispatch is
        /// one indexed load; numbers without a handler get
        /// [`super::sys_unimplemented`].
        pub static HANDLERS: [HandlerFn; SLOT_COUNT] = {
            let mut handlers: [HandlerFn; SLOT_COUNT] = [super::sys_unimplemented; SLOT_COUNT];
            $( handlers[Sysno::$sysno as usize] = $run; )*
            handlers
        };

        /// The table with each entry's support status, for documentation
        /// and tests.
        pub static TABLE: [Option<Handler>; SLOT_COUNT] = {
            let mut table = [None; SLOT_COUNT];
            $(
                table[Sysno::$sysno as usize] = Some(Handler {
                    sysno: Sysno::$sysno,
                    run: $run,
                    support: syscall_table!(@support $($note)?),
                });
            )*
            table
        };
    };
    (@support) => { Support::Full };
    (@support $note:literal) => { Support::Partial($note) };
}

syscall_table! {
    // Files.
    read => fs::sys_rw;
    write => fs::sys_rw;
    pread64 => fs::sys_rw;
    pwrite64 => fs::sys_rw;
    readv => fs::sys_rw_vectored;
    writev => fs::sys_rw_vectored;
    preadv => fs::sys_rw_vectored;
    pwritev => fs::sys_rw_vectored;
    preadv2 => fs::sys_rw_vectored;
    pwritev2 => fs::sys_rw_vectored;
    open => fs::sys_open;
    openat => fs::sys_open;
    creat => fs::sys_open;
    close => fs::sys_close;
    close_range => fs::sys_close_range;
    stat => fs::sys_stat;
    lstat => fs::sys_stat;
    newfstatat => fs::sys_stat;
    fstat => fs::sys_fstat;
    statx => fs::sys_statx;
    lseek => fs::sys_lseek;
    ioctl => fs::sys_ioctl, partial: "terminal and generic descriptor requests only";
    fcntl => fs::sys_fcntl;
    dup => fs::sys_dup;
    dup2 => fs::sys_dup2;
    dup3 => fs::sys_dup2;
    pipe => fs::sys_pipe;
    pipe2 => fs::sys_pipe;
    getdents64 => fs::sys_getdents64;
    poll => fs::sys_poll;
    ppoll => fs::sys_poll;
    select => fs::sys_select;
    pselect6 => fs::sys_select;
    epoll_create => fs::sys_epoll_create;
    epoll_create1 => fs::sys_new_fd;
    epoll_ctl => fs::sys_epoll_ctl;
    epoll_wait => fs::sys_epoll_wait;
    epoll_pwait => fs::sys_epoll_wait;
    epoll_pwait2 => fs::sys_epoll_wait;
    eventfd2 => fs::sys_new_fd;
    timerfd_create => fs::sys_new_fd;
    timerfd_settime => fs::sys_timerfd_time;
    timerfd_gettime => fs::sys_timerfd_time;
    access => fs::sys_access;
    faccessat => fs::sys_access;
    faccessat2 => fs::sys_access;
    readlink => fs::sys_readlink;
    readlinkat => fs::sys_readlink;
    mkdir => fs::sys_modify_path;
    mkdirat => fs::sys_modify_path;
    rmdir => fs::sys_modify_path;
    unlink => fs::sys_modify_path;
    unlinkat => fs::sys_modify_path;
    rename => fs::sys_modify_path;
    renameat => fs::sys_modify_path;
    renameat2 => fs::sys_modify_path;
    link => fs::sys_modify_path;
    linkat => fs::sys_modify_path;
    symlink => fs::sys_modify_path;
    symlinkat => fs::sys_modify_path;
    chmod => fs::sys_modify_path;
    fchmodat => fs::sys_modify_path;
    chown => fs::sys_modify_path;
    lchown => fs::sys_modify_path;
    fchownat => fs::sys_modify_path;
    utimensat => fs::sys_modify_path;
    truncate => fs::sys_modify_path;
    statfs => fs::sys_statfs;
    mknod => fs::sys_mknod;
    getxattr => fs::sys_read_xattr, partial: "reading only";
    lgetxattr => fs::sys_read_xattr, partial: "reading only";
    fgetxattr => fs::sys_read_xattr, partial: "reading only";
    listxattr => fs::sys_read_xattr, partial: "reading only";
    llistxattr => fs::sys_read_xattr, partial: "reading only";
    flistxattr => fs::sys_read_xattr, partial: "reading only";
    mknodat => fs::sys_mknod;
    fstatfs => fs::sys_fstatfs;
    fsync => fs::sys_fd_plain;
    fdatasync => fs::sys_fd_plain;
    ftruncate => fs::sys_fd_plain;
    fallocate => fs::sys_fd_plain;
    fchmod => fs::sys_fd_metadata;
    fchown => fs::sys_fd_metadata;
    flock => fs::sys_fd_plain;
    chdir => fs::sys_chdir, partial: "not into /proc";
    fchdir => fs::sys_fchdir, partial: "not into /proc";
    getcwd => fs::sys_getcwd;
    umask => misc::sys_umask;
    sendfile => fs::sys_sendfile;
    // Sockets.
    socket => net::sys_socket, partial: "unix, IPv4, IPv6 and route netlink only";
    socketpair => net::sys_socketpair;
    bind => net::sys_bind_connect;
    connect => net::sys_bind_connect;
    listen => net::sys_socket_plain;
    shutdown => net::sys_socket_plain;
    accept => net::sys_accept;
    accept4 => net::sys_accept;
    getsockname => net::sys_getname;
    getpeername => net::sys_getname;
    sendto => net::sys_sendto;
    recvfrom => net::sys_recvfrom;
    sendmsg => net::sys_sendmsg;
    recvmsg => net::sys_recvmsg;
    sendmmsg => net::sys_sendmmsg;
    recvmmsg => net::sys_recvmmsg;
    setsockopt => net::sys_setsockopt, partial: "options with plain values (no socket filters)";
    getsockopt => net::sys_getsockopt, partial: "options with plain values (no socket filters)";
    // Memory.
    mmap => mm::sys_mmap;
    munmap => mm::sys_munmap;
    mprotect => mm::sys_mprotect;
    mremap => mm::sys_mremap;
    madvise => mm::sys_range_advice;
    msync => mm::sys_range_advice;
    brk => mm::sys_brk;
    // Identity and process life.
    getpid => process::sys_getpid;
    getppid => process::sys_getppid;
    gettid => process::sys_gettid;
    getuid => process::sys_getuid;
    geteuid => process::sys_getuid;
    getgid => process::sys_getgid;
    getegid => process::sys_getgid;
    getresuid => process::sys_getres_ids;
    getresgid => process::sys_getres_ids;
    getgroups => process::sys_getgroups;
    setgroups => process::sys_setgroups, partial: "only to the current group";
    setuid => process::sys_set_ids, partial: "only to the current ids";
    setgid => process::sys_set_ids, partial: "only to the current ids";
    setreuid => process::sys_set_ids, partial: "only to the current ids";
    setregid => process::sys_set_ids, partial: "only to the current ids";
    setresuid => process::sys_set_ids, partial: "only to the current ids";
    setresgid => process::sys_set_ids, partial: "only to the current ids";
    uname => process::sys_uname;
    sethostname => process::sys_set_names;
    setdomainname => process::sys_set_names;
    exit => process::sys_exit;
    exit_group => process::sys_exit;
    set_tid_address => process::sys_set_tid_address;
    set_robust_list => process::sys_set_robust_list;
    arch_prctl => process::sys_arch_prctl;
    prlimit64 => process::sys_prlimit;
    getrlimit => process::sys_rlimit;
    setrlimit => process::sys_rlimit;
    kill => process::sys_kill;
    getpgrp => process::sys_forward_pgrp;
    getpgid => process::sys_forward_pgrp;
    getsid => process::sys_forward_pgrp;
    setpgid => process::sys_forward_pgrp;
    setsid => process::sys_forward_pgrp;
    prctl => process::sys_prctl, partial: "names, dumpable, no_new_privs and capability queries";
    tkill => process::sys_kill;
    tgkill => process::sys_kill;
    // Processes.
    fork => exec::sys_fork;
    vfork => exec::sys_fork, partial: "the child gets a copy of memory; the parent waits for its exec or exit";
    clone => exec::sys_fork, partial: "processes and threads; CLONE_VM without CLONE_THREAD only with CLONE_VFORK (posix_spawn)";
    clone3 => exec::sys_clone3, partial: "as clone: no pidfd, set_tid or cgroup";
    execve => exec::sys_execve;
    execveat => exec::sys_execve;
    wait4 => exec::sys_wait4;
    waitid => exec::sys_waitid;
    // Signals.
    rt_sigaction => signal::sys_rt_sigaction;
    rt_sigprocmask => signal::sys_rt_sigprocmask;
    rt_sigpending => signal::sys_rt_sigpending;
    rt_sigtimedwait => signal::sys_rt_sigtimedwait;
    rt_sigqueueinfo => signal::sys_rt_sigqueueinfo;
    rt_tgsigqueueinfo => signal::sys_rt_sigqueueinfo;
    signalfd => signal::sys_signalfd;
    signalfd4 => signal::sys_signalfd;
    sigaltstack => signal::sys_sigaltstack;
    rt_sigreturn => signal::sys_rt_sigreturn;
    rt_sigsuspend => signal::sys_rt_sigsuspend;
    pause => signal::sys_pause;
    // Time.
    clock_gettime => time::sys_clock_read;
    clock_getres => time::sys_clock_read;
    gettimeofday => time::sys_gettimeofday;
    time => time::sys_time;
    nanosleep => time::sys_nanosleep;
    clock_nanosleep => time::sys_clock_nanosleep;
    alarm => time::sys_alarm;
    setitimer => time::sys_itimer;
    getitimer => time::sys_itimer;
    // System.
    sysinfo => misc::sys_sysinfo;
    getrandom => misc::sys_getrandom;
    sched_yield => misc::sys_sched_yield;
    futex => misc::sys_futex;
    sched_getaffinity => misc::sys_sched_getaffinity;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_sit_at_their_own_numbers() {
        for (nr, entry) in TABLE.iter().enumerate() {
            if let Some(handler) = entry {
                assert_eq!(handler.sysno as usize, nr);
            }
        }
    }
}
