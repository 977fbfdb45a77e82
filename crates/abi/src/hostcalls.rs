//! The host syscalls an oxbox kernel may issue: the container's whole view
//! of the host kernel.
//!
//! Every rule names the syscall, the argument constraints the filter
//! enforces, and why the kernel needs it. Anything absent is unreachable:
//! the seccomp filter built from this list kills a process whose kernel
//! text issues it, and traps the same call from guest text into the kernel.
//! Guests never reach `mount`, `ptrace`, `bpf`, `keyctl`, `io_uring_*`,
//! `userfaultfd`, `perf_event_open`, `unshare`, `setns`, module or `kexec`
//! calls, `open_by_handle_at`, `process_vm_*`, or sockets other than
//! unix, IPv4, IPv6 and route-netlink ones (no packet or raw sockets).

use syscalls::Sysno;

/// A constraint on one argument of a host syscall.
#[derive(Clone, Copy, Debug)]
pub enum ArgMatch {
    /// The low 32 bits of argument `arg` (a C `int` in the syscall ABI, so
    /// the host ignores the high bits) are one of `values`.
    OneOf { arg: u8, values: &'static [u32] },
    /// No bit of `mask` is set in the full 64-bit argument `arg`.
    NoneOf { arg: u8, mask: u64 },
}

/// One allowed host syscall.
#[derive(Clone, Copy, Debug)]
pub struct HostRule {
    pub sysno: Sysno,
    /// Every constraint must hold for the call to be allowed.
    pub args: &'static [ArgMatch],
    /// Why the kernel needs this call.
    pub why: &'static str,
}

const fn rule(sysno: Sysno, why: &'static str) -> HostRule {
    HostRule {
        sysno,
        args: &[],
        why,
    }
}

/// Terminal ioctls the kernel forwards for the guest's standard streams,
/// and the generic descriptor ones (FIONREAD, FIONBIO, FIOASYNC, FIOCLEX)
/// that servers use on sockets and pipes too.
pub const TTY_IOCTLS: &[u32] = &[
    0x5401, // TCGETS
    0x5402, // TCSETS
    0x5403, // TCSETSW
    0x5404, // TCSETSF
    0x540f, // TIOCGPGRP
    0x5410, // TIOCSPGRP
    0x5413, // TIOCGWINSZ
    0x5414, // TIOCSWINSZ
    0x541b, // FIONREAD
    0x5421, // FIONBIO
    0x5429, // TIOCGSID
    0x5450, // FIONCLEX
    0x5451, // FIOCLEX
    0x5452, // FIOASYNC
];

/// Socket ioctls the kernel forwards (with its own copy of the argument):
/// read-only interface queries on a guest socket, and the queue and mark
/// queries. Nothing that changes an interface, a route or an ARP entry.
pub const SOCKET_IOCTLS: &[u32] = &[
    0x5411, // SIOCOUTQ (TIOCOUTQ)
    0x8905, // SIOCATMARK
    0x8910, // SIOCGIFNAME
    0x8912, // SIOCGIFCONF
    0x8913, // SIOCGIFFLAGS
    0x8915, // SIOCGIFADDR
    0x8917, // SIOCGIFDSTADDR
    0x8919, // SIOCGIFBRDADDR
    0x891b, // SIOCGIFNETMASK
    0x891d, // SIOCGIFMETRIC
    0x8921, // SIOCGIFMTU
    0x8927, // SIOCGIFHWADDR
    0x8933, // SIOCGIFINDEX
    0x8942, // SIOCGIFTXQLEN
    0x894b, // SIOCOUTQNSD
];

/// Every ioctl request that reaches the host.
const HOST_IOCTLS: [u32; TTY_IOCTLS.len() + SOCKET_IOCTLS.len()] = {
    let mut all = [0; TTY_IOCTLS.len() + SOCKET_IOCTLS.len()];
    let mut i = 0;
    while i < TTY_IOCTLS.len() {
        all[i] = TTY_IOCTLS[i];
        i += 1;
    }
    while i < all.len() {
        all[i] = SOCKET_IOCTLS[i - TTY_IOCTLS.len()];
        i += 1;
    }
    all
};

/// `clone` flags the kernel may pass for a guest `fork`/`vfork`: the exit
/// signal, the tid-reporting flags and CLONE_VFORK.
pub const FORK_CLONE_FLAGS: u64 = 0xff // CSIGNAL
    | 0x0000_4000 // CLONE_VFORK
    | 0x0010_0000 // CLONE_PARENT_SETTID
    | 0x0020_0000 // CLONE_CHILD_CLEARTID
    | 0x0100_0000; // CLONE_CHILD_SETTID

/// The flags of a guest thread (what glibc's and musl's pthread_create
/// pass), on top of the fork flags.
pub const THREAD_CLONE_FLAGS: u64 = 0x0000_0100 // CLONE_VM
    | 0x0000_0200 // CLONE_FS
    | 0x0000_0400 // CLONE_FILES
    | 0x0000_0800 // CLONE_SIGHAND
    | 0x0001_0000 // CLONE_THREAD
    | 0x0004_0000 // CLONE_SYSVSEM
    | 0x0008_0000; // CLONE_SETTLS

/// Everything else (new namespaces, ptrace, pidfds, CLONE_PARENT...) never
/// reaches the host.
const CLONE_ALLOWED_FLAGS: u64 = FORK_CLONE_FLAGS | THREAD_CLONE_FLAGS;

/// Socket families a guest's socket may have on the host: `AF_UNIX`,
/// `AF_INET`, `AF_INET6` and `AF_NETLINK` (route only, see
/// [`SOCKET_PROTOCOLS`]). Never `AF_PACKET`, nor any other.
pub const SOCKET_FAMILIES: &[u32] = &[AF_UNIX, AF_INET, AF_INET6, AF_NETLINK];
/// The families of [`SANDBOX_SOCKET_RULE`]: with `--network sandbox` the
/// container's IPv4 and IPv6 sockets are its own stack's, never the host's.
pub const SANDBOX_SOCKET_FAMILIES: &[u32] = &[AF_UNIX, AF_NETLINK];
pub const AF_UNIX: u32 = 1;
pub const AF_INET: u32 = 2;
pub const AF_INET6: u32 = 10;
pub const AF_NETLINK: u32 = 16;

pub const SOCK_STREAM: u32 = 1;
pub const SOCK_DGRAM: u32 = 2;
pub const SOCK_SEQPACKET: u32 = 5;
pub const SOCK_NONBLOCK: u32 = 0o4000;
pub const SOCK_CLOEXEC: u32 = 0o2000000;

/// Socket types a guest's socket may have on the host: stream, datagram and
/// sequenced-packet, each with or without `SOCK_NONBLOCK`/`SOCK_CLOEXEC`.
/// Never `SOCK_RAW` or `SOCK_PACKET`: the kernel creates a netlink or unix
/// `SOCK_RAW` socket as the equivalent `SOCK_DGRAM` one.
pub const SOCKET_TYPES: &[u32] = &with_socket_flags([SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET]);

const fn with_socket_flags(types: [u32; 3]) -> [u32; 12] {
    let mut out = [0; 12];
    let mut i = 0;
    while i < types.len() {
        out[i * 4] = types[i];
        out[i * 4 + 1] = types[i] | SOCK_NONBLOCK;
        out[i * 4 + 2] = types[i] | SOCK_CLOEXEC;
        out[i * 4 + 3] = types[i] | SOCK_NONBLOCK | SOCK_CLOEXEC;
        i += 1;
    }
    out
}

/// The only protocol argument that reaches the host: 0, the family's
/// default for the type (TCP for stream and UDP for datagram internet
/// sockets, `NETLINK_ROUTE` for netlink). The kernel passes an explicit
/// `IPPROTO_TCP`/`IPPROTO_UDP` as 0 and refuses every other protocol.
pub const SOCKET_PROTOCOLS: &[u32] = &[0];

/// Option levels of `getsockopt`/`setsockopt` that reach the host:
/// `SOL_SOCKET`, `IPPROTO_IP`, `IPPROTO_TCP`, `IPPROTO_UDP`,
/// `IPPROTO_IPV6` and `SOL_NETLINK` (the kernel checks the option names).
pub const SOCKET_OPTION_LEVELS: &[u32] = &[
    SOL_SOCKET,
    IPPROTO_IP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    IPPROTO_IPV6,
    SOL_NETLINK,
];
pub const SOL_SOCKET: u32 = 1;
pub const IPPROTO_IP: u32 = 0;
pub const IPPROTO_TCP: u32 = 6;
pub const IPPROTO_UDP: u32 = 17;
pub const IPPROTO_IPV6: u32 = 41;
pub const SOL_NETLINK: u32 = 270;

/// The constraints of `socket` and `socketpair` (the latter for `AF_UNIX` only).
const fn socket_args(families: &'static [u32]) -> [ArgMatch; 3] {
    [
        ArgMatch::OneOf {
            arg: 0,
            values: families,
        },
        ArgMatch::OneOf {
            arg: 1,
            values: SOCKET_TYPES,
        },
        ArgMatch::OneOf {
            arg: 2,
            values: SOCKET_PROTOCOLS,
        },
    ]
}

const SOCKOPT_ARGS: [ArgMatch; 1] = [ArgMatch::OneOf {
    arg: 1,
    values: SOCKET_OPTION_LEVELS,
}];

const AT_EMPTY_PATH: u32 = 0x1000;

const PR_SET_PDEATHSIG: u32 = 1;

const ARCH_SET_GS: u32 = 0x1001;
const ARCH_SET_FS: u32 = 0x1002;
const ARCH_GET_FS: u32 = 0x1003;

/// The `socket` rule that replaces [`HOST_RULES`]' own in a container with
/// its own network stack (`--network sandbox`).
pub const SANDBOX_SOCKET_RULE: HostRule = HostRule {
    sysno: Sysno::socket,
    args: &socket_args(SANDBOX_SOCKET_FAMILIES),
    why: "guest sockets with --network sandbox: unix and route netlink only (TCP/IP is the container's own stack)",
};

/// [`HOST_RULES`] as a container with its own network stack has them.
pub fn sandbox_network_rules() -> impl Iterator<Item = HostRule> {
    HOST_RULES.iter().map(|rule| {
        if rule.sysno == Sysno::socket {
            SANDBOX_SOCKET_RULE
        } else {
            *rule
        }
    })
}

/// The allowlist, roughly in syscall-number order (the compiler sorts it).
pub const HOST_RULES: &[HostRule] = &[
    rule(Sysno::read, "guest read on host-backed descriptors"),
    rule(Sysno::write, "guest write; the kernel log"),
    rule(Sysno::close, "guest close; loader closes the executable"),
    rule(Sysno::fstat, "guest fstat"),
    rule(Sysno::lseek, "guest lseek"),
    rule(
        Sysno::mmap,
        "guest mmap; ELF segments, kernel heap and stacks",
    ),
    rule(Sysno::mprotect, "guest mprotect; patching a syscall site"),
    rule(Sysno::munmap, "guest munmap"),
    rule(
        Sysno::rt_sigaction,
        "the kernel owns every host signal handler",
    ),
    rule(
        Sysno::rt_sigprocmask,
        "masking host signals around kernel work",
    ),
    rule(
        Sysno::rt_sigreturn,
        "return from the kernel's SIGSYS/SIGSEGV handlers",
    ),
    rule(
        Sysno::rt_sigpending,
        "guest sigpending (the host keeps the signals the guest blocks)",
    ),
    rule(
        Sysno::rt_sigtimedwait,
        "guest sigtimedwait (dequeues signals the guest blocks)",
    ),
    rule(
        Sysno::rt_sigqueueinfo,
        "guest sigqueue; signals handed back to the host with their siginfo",
    ),
    rule(
        Sysno::rt_sigsuspend,
        "guest sigsuspend and pause: waits with the guest's mask, atomically",
    ),
    rule(
        Sysno::rt_tgsigqueueinfo,
        "guest rt_tgsigqueueinfo; thread signals handed back to the host",
    ),
    rule(Sysno::signalfd4, "guest signalfd"),
    HostRule {
        sysno: Sysno::ioctl,
        args: &[ArgMatch::OneOf {
            arg: 1,
            values: &HOST_IOCTLS,
        }],
        why: "terminal ioctls on the guest's descriptors; read-only interface and queue queries on its sockets",
    },
    rule(Sysno::pread64, "guest pread; loader reads ELF headers"),
    rule(Sysno::pwrite64, "guest pwrite"),
    rule(Sysno::readv, "guest readv"),
    rule(Sysno::writev, "guest writev"),
    rule(Sysno::sched_yield, "guest sched_yield"),
    rule(Sysno::mremap, "guest mremap"),
    rule(Sysno::msync, "guest msync"),
    rule(Sysno::madvise, "guest madvise"),
    rule(
        Sysno::getpid,
        "the kernel's own pid (guest pids are host pids in the container's namespace)",
    ),
    rule(Sysno::sendfile, "guest sendfile between its descriptors"),
    HostRule {
        sysno: Sysno::socket,
        args: &socket_args(SOCKET_FAMILIES),
        why: "guest sockets: unix, IPv4, IPv6 and route netlink, in the container's network namespace",
    },
    rule(Sysno::connect, "guest connect"),
    rule(Sysno::accept4, "guest accept and accept4"),
    rule(Sysno::sendto, "guest send and sendto"),
    rule(Sysno::recvfrom, "guest recv and recvfrom"),
    rule(
        Sysno::sendmsg,
        "guest sendmsg and sendmmsg (descriptors passed are checked by the kernel)",
    ),
    rule(
        Sysno::recvmsg,
        "guest recvmsg and recvmmsg (descriptors received are checked by the kernel)",
    ),
    rule(Sysno::shutdown, "guest shutdown"),
    rule(Sysno::bind, "guest bind"),
    rule(Sysno::listen, "guest listen"),
    rule(Sysno::getsockname, "guest getsockname"),
    rule(Sysno::getpeername, "guest getpeername"),
    HostRule {
        sysno: Sysno::socketpair,
        args: &socket_args(&[AF_UNIX]),
        why: "guest socketpair (unix only)",
    },
    HostRule {
        sysno: Sysno::setsockopt,
        args: &SOCKOPT_ARGS,
        why: "guest setsockopt on socket, IP, TCP, UDP, IPv6 and netlink options the kernel checked",
    },
    HostRule {
        sysno: Sysno::getsockopt,
        args: &SOCKOPT_ARGS,
        why: "guest getsockopt on socket, IP, TCP, UDP, IPv6 and netlink options the kernel checked",
    },
    rule(Sysno::futex, "guest futexes (guest memory is host memory)"),
    HostRule {
        sysno: Sysno::clone,
        args: &[ArgMatch::NoneOf {
            arg: 0,
            mask: !CLONE_ALLOWED_FLAGS,
        }],
        why: "guest fork, vfork and threads, in the container's namespaces",
    },
    rule(Sysno::wait4, "guest wait4 on its children"),
    rule(
        Sysno::getxattr,
        "guest reads of extended attributes (ls -l)",
    ),
    rule(
        Sysno::lgetxattr,
        "guest reads of extended attributes (ls -l)",
    ),
    rule(Sysno::fgetxattr, "guest reads of extended attributes"),
    rule(Sysno::listxattr, "guest lists of extended attributes"),
    rule(Sysno::llistxattr, "guest lists of extended attributes"),
    rule(Sysno::flistxattr, "guest lists of extended attributes"),
    HostRule {
        sysno: Sysno::mknodat,
        // S_IFCHR (0o020000) is a bit of both device types (S_IFBLK is 0o060000).
        args: &[ArgMatch::NoneOf {
            arg: 2,
            mask: 0o020000,
        }],
        why: "guest FIFOs and sockets in the file system (mkfifo); never device nodes",
    },
    rule(
        Sysno::alarm,
        "guest alarm (SIGALRM comes through the kernel's handler)",
    ),
    rule(Sysno::setitimer, "guest interval timers"),
    rule(Sysno::getitimer, "guest interval timers"),
    rule(
        Sysno::set_tid_address,
        "guest thread-exit word, cleared and woken by the host",
    ),
    rule(
        Sysno::set_robust_list,
        "guest robust futex lists, released by the host when a thread dies",
    ),
    rule(
        Sysno::restart_syscall,
        "issued by the host itself when a stopped and continued process resumes an \
         interrupted sleep (nanosleep, clock_nanosleep, poll with a timeout, futex wait)",
    ),
    rule(Sysno::poll, "guest poll"),
    rule(
        Sysno::ppoll,
        "guest ppoll; the kernel's wait in rt_sigsuspend and pause",
    ),
    rule(Sysno::select, "guest select"),
    rule(Sysno::pselect6, "guest pselect6"),
    rule(Sysno::epoll_create1, "guest epoll instances"),
    rule(Sysno::epoll_ctl, "guest epoll_ctl"),
    rule(Sysno::epoll_pwait, "guest epoll_wait and epoll_pwait"),
    rule(Sysno::epoll_pwait2, "guest epoll_pwait2"),
    rule(Sysno::eventfd2, "guest eventfd"),
    rule(Sysno::timerfd_create, "guest timerfd"),
    rule(Sysno::timerfd_settime, "guest timerfd_settime"),
    rule(Sysno::timerfd_gettime, "guest timerfd_gettime"),
    rule(Sysno::waitid, "guest waitid on its children"),
    HostRule {
        sysno: Sysno::execveat,
        args: &[
            ArgMatch::OneOf {
                arg: 0,
                values: &[crate::layout::KERNEL_IMAGE_FD as u32],
            },
            ArgMatch::OneOf {
                arg: 4,
                values: &[AT_EMPTY_PATH],
            },
        ],
        why: "guest execve: re-executes the kernel image (and nothing else) with the new program",
    },
    rule(Sysno::exit, "thread exit"),
    rule(
        Sysno::kill,
        "guest kill inside the container's pid namespace",
    ),
    rule(Sysno::uname, "kernel release for the guest's uname"),
    rule(Sysno::fcntl, "guest fcntl"),
    rule(Sysno::flock, "guest flock"),
    rule(Sysno::fsync, "guest fsync"),
    rule(Sysno::fdatasync, "guest fdatasync"),
    rule(Sysno::truncate, "guest truncate"),
    rule(Sysno::ftruncate, "guest ftruncate; /proc snapshots"),
    rule(Sysno::getcwd, "guest getcwd"),
    rule(Sysno::chdir, "guest chdir"),
    rule(Sysno::fchdir, "guest fchdir"),
    rule(Sysno::fchmod, "guest fchmod"),
    rule(Sysno::fchown, "guest fchown"),
    rule(Sysno::umask, "guest umask"),
    rule(Sysno::sysinfo, "guest sysinfo"),
    rule(Sysno::getppid, "parent pid of the guest"),
    rule(
        Sysno::setpgid,
        "guest job control, inside the pid namespace",
    ),
    rule(Sysno::setsid, "guest sessions, inside the pid namespace"),
    rule(
        Sysno::getpgid,
        "guest process groups, inside the pid namespace",
    ),
    rule(Sysno::getsid, "guest sessions, inside the pid namespace"),
    rule(Sysno::sigaltstack, "the kernel's per-thread signal stack"),
    rule(Sysno::statfs, "guest statfs"),
    rule(Sysno::fstatfs, "guest fstatfs"),
    HostRule {
        sysno: Sysno::arch_prctl,
        args: &[ArgMatch::OneOf {
            arg: 0,
            values: &[ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS],
        }],
        why: "the kernel's per-thread context (GS) at boot; the guest's TLS base (FS) where the CPU lacks FSGSBASE",
    },
    rule(Sysno::gettid, "the calling thread's id"),
    HostRule {
        sysno: Sysno::prctl,
        args: &[ArgMatch::OneOf {
            arg: 0,
            values: &[PR_SET_PDEATHSIG],
        }],
        why: "a signal when the parent dies, to refresh the cached parent pid after reparenting",
    },
    rule(Sysno::tgkill, "guest tgkill (abort, raise)"),
    rule(
        Sysno::sched_getaffinity,
        "guest sched_getaffinity on itself (nproc)",
    ),
    rule(Sysno::getdents64, "guest getdents64"),
    rule(Sysno::clock_gettime, "time when the vDSO falls back"),
    rule(Sysno::clock_getres, "guest clock_getres"),
    rule(Sysno::clock_nanosleep, "guest clock_nanosleep"),
    rule(Sysno::exit_group, "process exit"),
    rule(Sysno::openat, "guest openat; loader opens executables"),
    rule(Sysno::mkdirat, "guest mkdir"),
    rule(Sysno::fchownat, "guest chown"),
    rule(Sysno::newfstatat, "guest stat family"),
    rule(Sysno::unlinkat, "guest unlink and rmdir"),
    rule(Sysno::linkat, "guest link"),
    rule(Sysno::symlinkat, "guest symlink"),
    rule(Sysno::readlinkat, "guest readlink"),
    rule(Sysno::fchmodat, "guest chmod"),
    rule(Sysno::faccessat, "guest access"),
    rule(Sysno::utimensat, "guest utimensat"),
    rule(Sysno::fallocate, "guest fallocate"),
    rule(Sysno::dup3, "guest dup2/dup3"),
    rule(Sysno::pipe2, "guest pipe"),
    HostRule {
        sysno: Sysno::prlimit64,
        args: &[ArgMatch::OneOf {
            arg: 0,
            values: &[0],
        }],
        why: "guest getrlimit/setrlimit on itself",
    },
    rule(Sysno::renameat2, "guest rename"),
    rule(Sysno::getrandom, "guest getrandom; AT_RANDOM"),
    rule(
        Sysno::memfd_create,
        "contents of the kernel's /proc files; the memory the container's kernels share",
    ),
    rule(Sysno::statx, "guest statx"),
    rule(
        Sysno::close_range,
        "guest close_range below the kernel's descriptors",
    ),
    rule(Sysno::faccessat2, "guest faccessat2"),
    rule(Sysno::preadv, "guest preadv"),
    rule(Sysno::pwritev, "guest pwritev"),
    rule(Sysno::preadv2, "guest preadv2"),
    rule(Sysno::pwritev2, "guest pwritev2"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;

    #[test]
    fn each_syscall_has_one_rule() {
        let unique: BTreeSet<_> = HOST_RULES.iter().map(|r| r.sysno).collect();
        assert_eq!(unique.len(), HOST_RULES.len());
    }

    #[test]
    fn packet_and_raw_sockets_are_never_allowed() {
        const AF_PACKET: u32 = 17;
        const SOCK_RAW: u32 = 3;
        const SOCK_PACKET: u32 = 10;
        assert!(!SOCKET_FAMILIES.contains(&AF_PACKET));
        for ty in SOCKET_TYPES {
            assert!(![SOCK_RAW, SOCK_PACKET].contains(&(ty & 0xf)), "{ty:#x}");
        }
        assert_eq!(SOCKET_TYPES.len(), 12);
    }

    #[test]
    fn sandbox_network_has_no_inet_sockets() {
        let rules: alloc::vec::Vec<HostRule> = sandbox_network_rules().collect();
        assert_eq!(rules.len(), HOST_RULES.len());
        let socket: alloc::vec::Vec<_> =
            rules.iter().filter(|r| r.sysno == Sysno::socket).collect();
        assert_eq!(socket.len(), 1);
        let ArgMatch::OneOf { arg: 0, values } = socket[0].args[0] else {
            panic!("the family is filtered first");
        };
        assert_eq!(values, &[AF_UNIX, AF_NETLINK]);
    }

    #[test]
    fn dangerous_calls_are_never_allowed() {
        let allowed: BTreeSet<_> = HOST_RULES.iter().map(|r| r.sysno).collect();
        for bad in [
            Sysno::mount,
            Sysno::umount2,
            Sysno::ptrace,
            Sysno::bpf,
            Sysno::keyctl,
            Sysno::add_key,
            Sysno::io_uring_setup,
            Sysno::userfaultfd,
            Sysno::perf_event_open,
            Sysno::unshare,
            Sysno::setns,
            Sysno::init_module,
            Sysno::finit_module,
            Sysno::kexec_load,
            Sysno::open_by_handle_at,
            Sysno::process_vm_readv,
            Sysno::process_vm_writev,
            Sysno::execve,
            Sysno::pivot_root,
            Sysno::chroot,
            Sysno::sethostname,
            Sysno::settimeofday,
        ] {
            assert!(!allowed.contains(&bad), "{bad:?} must not be reachable");
        }
    }
}
