//! Processes: `fork`, `vfork`, `clone` (without shared memory), `execve`
//! and the `wait` family.
//!
//! A guest process is a host process in the container's pid namespace, so
//! `fork` is a host `clone` issued by the kernel: the child gets a copy of
//! everything, the kernel's state included, and only refreshes its ids.
//! `execve` checks the new program in the calling process (so failures
//! return the right errno), then re-executes the kernel image, kept open
//! at `KERNEL_IMAGE_FD`, with the new program and the state `execve`
//! keeps; the host's exec does the rest (close-on-exec descriptors,
//! releasing a `vfork` parent, a fresh address space).

use alloc::vec::Vec;

use oxbox_abi::Sysno;
use oxbox_abi::boot::{BootRecord, KERNEL_ARGV0};
use oxbox_abi::hostcalls::{FORK_CLONE_FLAGS, THREAD_CLONE_FLAGS};
use oxbox_abi::layout::KERNEL_IMAGE_FD;

use super::fs::AT_FDCWD;
use super::{Call, host_call};
use crate::fs::path::{self, Route};
use crate::fs::{fdtable, procfs};
use crate::mm::user;
use crate::{Errno, SysResult, loader, log, signal, stats, task};

const SIGCHLD: u64 = 17;
pub const CLONE_VM: u64 = 0x100;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_THREAD: u64 = 0x1_0000;
/// Every `CLONE_NEW*` flag: namespaces need privileges the container lacks.
const CLONE_NEW_ANY: u64 = 0x7e02_0080;
const AT_EMPTY_PATH: u64 = 0x1000;

/// fork, vfork, and clone without CLONE_VM (or with CLONE_VM|CLONE_VFORK,
/// as posix_spawn uses it: run as a vfork whose child has its own copy of
/// memory, on the stack it was given).
pub fn sys_fork(call: &Call) -> SysResult {
    match Sysno::new(call.nr as usize) {
        Some(Sysno::fork) => clone(SIGCHLD, 0, 0, 0, 0),
        Some(Sysno::vfork) => clone(CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0),
        _ => clone(
            call.arg(0),
            call.arg(1),
            call.arg(2),
            call.arg(3),
            call.arg(4),
        ),
    }
}

/// clone3(args, size): `struct clone_args` turned into the arguments of
/// `clone` (glibc tries it first for threads and posix_spawn). Pidfds,
/// chosen tids and cgroups are not supported.
pub fn sys_clone3(call: &Call) -> SysResult {
    const CLONE_ARGS_SIZE_VER0: u64 = 64;
    const CLONE_ARGS_KNOWN: u64 = 88;
    let size = call.arg(1);
    if size < CLONE_ARGS_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    let raw = user::read_bytes(call.arg(0), size as usize)?;
    if raw[CLONE_ARGS_KNOWN.min(size) as usize..]
        .iter()
        .any(|b| *b != 0)
    {
        return Err(Errno::E2BIG);
    }
    let mut words = [0u64; 11];
    for (word, bytes) in words.iter_mut().zip(raw.chunks_exact(8)) {
        *word = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
    }
    let [
        flags,
        pidfd,
        child_tid,
        parent_tid,
        exit_signal,
        stack,
        stack_size,
        tls,
        set_tid,
        set_tid_size,
        cgroup,
    ] = words;
    const CSIGNAL: u64 = 0xff;
    if flags & CSIGNAL != 0 || exit_signal > 64 || (stack == 0) != (stack_size == 0) {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_THREAD != 0 && exit_signal != 0 {
        return Err(Errno::EINVAL);
    }
    // `pidfd` and `cgroup` only count with CLONE_PIDFD and
    // CLONE_INTO_CGROUP, which `clone` refuses (glibc fills `pidfd` anyway).
    let _ = (pidfd, cgroup);
    if set_tid != 0 || set_tid_size != 0 {
        crate::kinfo!("clone3 with chosen tids is not supported");
        return Err(Errno::EINVAL);
    }
    // clone3 names the lowest address of the stack, clone its top.
    let top = if stack == 0 { 0 } else { stack + stack_size };
    clone(flags | exit_signal, top, parent_tid, child_tid, tls)
}

/// Whether a `clone` call is a plain fork: no shared memory, no new stack.
/// Only sites that made one are patched (see `syscall::after_trap`).
pub fn is_plain_fork(call: &Call) -> bool {
    call.arg(0) & CLONE_VM == 0 && call.arg(1) == 0
}

/// A `clone` from a patched site, served again as a trap at the
/// trampoline (`syscall; cmp; ret`): the caller resumes there and its
/// `ret` pops the return address the patched `call` pushed. A child given
/// a stack resumes there too, so that address is copied just below its
/// stack, which it then starts 8 bytes lower, and its `ret` leaves it
/// where the guest asked.
pub fn retrapped_clone(call: &mut oxbox_hal::entry::Call) {
    let stack = call.args[1];
    if stack < 8 {
        return;
    }
    let Some(sp) =
        oxbox_hal::signals::with_trapped_context(|ctx| ctx.regs()[oxbox_abi::ucontext::REG_RSP])
    else {
        return;
    };
    let copied = user::read_u64(sp).and_then(|ret| user::copy_out(stack - 8, &ret.to_le_bytes()));
    if copied.is_ok() {
        call.args[1] = stack - 8;
    }
}

/// A new process or thread, as `clone(flags, stack, parent_tid, child_tid,
/// tls)` asks.
fn clone(flags: u64, stack: u64, parent_tid: u64, child_tid: u64, tls: u64) -> SysResult {
    if flags & CLONE_NEW_ANY != 0 {
        return Err(Errno::EPERM);
    }
    if flags & CLONE_VM != 0 && flags & CLONE_VFORK == 0 {
        return spawn_thread(flags, stack, parent_tid, child_tid, tls);
    }
    if flags & !(FORK_CLONE_FLAGS | CLONE_VM) != 0 {
        return Err(Errno::EINVAL);
    }
    user::check_buffer(parent_tid, 4)?;
    user::check_buffer(child_tid, 4)?;
    patch_child_site();
    if task::single_threaded() {
        let _ = oxbox_hal::kernel_area::copy_image_at_fork();
    }
    // A child meant to share memory while its parent waits, on a stack of
    // its own (posix_spawn): see `vfork_handoff`.
    let handoff = (flags & CLONE_VM != 0 && stack != 0)
        .then(vfork_handoff::open)
        .flatten();
    let pid = host_call(
        Sysno::clone,
        [flags & FORK_CLONE_FLAGS, 0, parent_tid, child_tid, 0, 0],
    );
    if let Some(window) = handoff {
        match pid {
            Ok(0) => vfork_handoff::child_started(window),
            Ok(_) | Err(_) => vfork_handoff::parent_resumed(window),
        }
    }
    let pid = pid?;
    if pid == 0 {
        task::after_fork();
        // Counts are only kept when enabled: otherwise they are all zero,
        // and rewriting them would copy their pages (copy on write).
        if stats::enabled() {
            stats::reset();
        }
        if stack != 0 {
            task::resume_on_stack(stack);
        }
    }
    Ok(pid)
}

/// Patches the site an earlier child trapped at (see
/// `procs::tell_parent_site`), so that this fork's child and the next
/// ones find it patched.
fn patch_child_site() {
    let Some((site_end, nr)) = crate::procs::take_child_site() else {
        return;
    };
    if oxbox_hal::patch::patch_for_child(site_end, nr, task::single_threaded())
        == oxbox_hal::patch::PatchOutcome::Patched
        && stats::enabled()
    {
        stats::site_patched();
    }
}

/// What a `CLONE_VM|CLONE_VFORK` child writes into its parent's memory.
///
/// Such a child runs in its parent's memory on Linux while the parent
/// waits; oxbox gives it a copy (`clone` above), so its writes to the
/// parent's memory are lost. The one that matters is glibc's posix_spawn:
/// a child that cannot exec (or fails a file action) stores the errno in
/// the parent's stack frame before it exits, and posix_spawn returns it.
/// So a child that exits without exec hands back the parent's stack from
/// the parent's stack pointer up ([`WINDOW`] bytes, as far as it is
/// mapped) through a pipe, and the parent, resumed, writes it over its
/// own: the parent did not run meanwhile and the child ran on its own
/// stack, so those bytes differ only by the child's writes, as if shared.
/// A child that execs closes the pipe (close-on-exec) unwritten.
/// One such spawn at a time per process: a thread that spawns while
/// another thread's child still runs goes without (its child's failure
/// then shows as an exit status 127, as before).
mod vfork_handoff {
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use oxbox_abi::Sysno;
    use oxbox_abi::layout::{VFORK_HANDOFF_READ_FD, VFORK_HANDOFF_WRITE_FD};
    use oxbox_abi::ucontext::REG_RSP;

    use crate::mm::user;
    use crate::syscall::host_call;

    /// Bytes of the parent's stack handed back.
    const WINDOW: u64 = 8192;

    /// In the child: where the parent's stack window starts (0: this
    /// process is no such child).
    static CHILD_WINDOW: AtomicU64 = AtomicU64::new(0);
    /// Whether a thread of this process holds the pipe.
    static IN_USE: AtomicBool = AtomicBool::new(false);

    fn close(fd: i32) {
        let _ = host_call(Sysno::close, [fd as u64, 0, 0, 0, 0, 0]);
    }

    /// Opens the pipe; returns the start of the window (the caller's stack
    /// pointer), or `None` when the call did not trap or the pipe failed.
    pub fn open() -> Option<u64> {
        const O_NONBLOCK: u64 = 0o4000;
        const O_CLOEXEC: u64 = 0o2000000;
        let sp = oxbox_hal::signals::with_trapped_context(|ctx| ctx.regs()[REG_RSP])?;
        if IN_USE.swap(true, Ordering::Acquire) {
            return None;
        }
        let mut fds = [0i32; 2];
        let piped = host_call(
            Sysno::pipe2,
            [fds.as_mut_ptr() as u64, O_NONBLOCK | O_CLOEXEC, 0, 0, 0, 0],
        );
        if piped.is_err() {
            IN_USE.store(false, Ordering::Release);
            return None;
        }
        for (fd, target) in fds
            .iter()
            .zip([VFORK_HANDOFF_READ_FD, VFORK_HANDOFF_WRITE_FD])
        {
            let _ = host_call(Sysno::dup3, [*fd as u64, target as u64, O_CLOEXEC, 0, 0, 0]);
            close(*fd);
        }
        Some(sp)
    }

    pub fn child_started(window: u64) {
        close(VFORK_HANDOFF_READ_FD);
        CHILD_WINDOW.store(window, Ordering::Relaxed);
        // The child's own spawns would use pipes of their own.
        IN_USE.store(false, Ordering::Release);
    }

    /// Copies the window back over the parent's stack if the child sent it.
    pub fn parent_resumed(window: u64) {
        close(VFORK_HANDOFF_WRITE_FD);
        let mut bytes = alloc::vec![0u8; WINDOW as usize];
        let got = host_call(
            Sysno::read,
            [
                VFORK_HANDOFF_READ_FD as u64,
                bytes.as_mut_ptr() as u64,
                WINDOW,
                0,
                0,
                0,
            ],
        );
        close(VFORK_HANDOFF_READ_FD);
        IN_USE.store(false, Ordering::Release);
        if let Ok(n) = got {
            let _ = user::copy_out(window, &bytes[..n as usize]);
        }
    }

    /// At the exit of a child that did not exec: sends the window, page by
    /// page as far as it is readable.
    pub fn child_exiting() {
        let start = CHILD_WINDOW.load(Ordering::Relaxed);
        if start == 0 {
            return;
        }
        let mut bytes = alloc::vec::Vec::new();
        let mut at = start;
        while at < start + WINDOW {
            let len = (crate::mm::page_down(at) + crate::mm::PAGE_SIZE).min(start + WINDOW) - at;
            let Ok(chunk) = user::read_bytes(at, len as usize) else {
                break;
            };
            bytes.extend_from_slice(&chunk);
            at += len;
        }
        let _ = host_call(
            Sysno::write,
            [
                VFORK_HANDOFF_WRITE_FD as u64,
                bytes.as_ptr() as u64,
                bytes.len() as u64,
                0,
                0,
                0,
            ],
        );
    }
}

pub use vfork_handoff::child_exiting as vfork_child_exiting;

/// A new thread of this process (`pthread_create`): a host thread sharing
/// everything, started by the hal with the caller's registers.
fn spawn_thread(flags: u64, stack: u64, parent_tid: u64, child_tid: u64, tls: u64) -> SysResult {
    const CLONE_SIGHAND: u64 = 0x800;
    const CLONE_SETTLS: u64 = 0x8_0000;
    // Linux's rules: a thread shares the signal handlers, which need the
    // shared memory; anything beyond the thread flags is not supported.
    if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_THREAD == 0
        || flags & !(FORK_CLONE_FLAGS | THREAD_CLONE_FLAGS) != 0
        || flags & CLONE_VFORK != 0
    {
        crate::kinfo!(
            "clone sharing memory without being a thread is not supported: flags {flags:#x}"
        );
        return Err(Errno::ENOSYS);
    }
    user::check_buffer(parent_tid, 4)?;
    user::check_buffer(child_tid, 4)?;
    if flags & CLONE_SETTLS != 0 && tls >= 0x7fff_ffff_f000 {
        return Err(Errno::EPERM);
    }
    task::thread_starting();
    oxbox_hal::thread::spawn(flags, stack, parent_tid, child_tid, tls).inspect_err(|_| {
        task::thread_ended();
    })
}

/// The limits Linux puts on `execve` arguments: one string may not exceed
/// 32 pages, and all of them together a quarter of the 8 MiB stack.
const MAX_ARG_STRLEN: usize = 32 * 4096;
const MAX_ARGS_TOTAL: usize = 2 << 20;

/// Reads a NULL-terminated array of guest strings (`argv`, `envp`).
fn read_string_array(addr: u64, total: &mut usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    loop {
        let ptr = user::read_u64(addr + 8 * out.len() as u64)?;
        if ptr == 0 {
            return Ok(out);
        }
        let s = user::read_cstring(ptr, MAX_ARG_STRLEN, Errno::E2BIG)?;
        *total += s.len() + 1 + 8;
        if *total > MAX_ARGS_TOTAL {
            return Err(Errno::E2BIG);
        }
        out.push(s);
    }
}

/// The host path of the program `execve` names.
fn program_path(dirfd: i32, raw: Vec<u8>, flags: u64) -> Result<Vec<u8>, Errno> {
    if raw.is_empty() {
        if flags & AT_EMPTY_PATH == 0 || dirfd == AT_FDCWD {
            return Err(Errno::ENOENT);
        }
        return fdtable::path_of(dirfd).map(Vec::from).ok_or(Errno::ENOENT);
    }
    let text = core::str::from_utf8(&raw).map_err(|_| Errno::ENOENT)?;
    let base = if text.starts_with('/') || dirfd == AT_FDCWD {
        path::cwd()
    } else {
        fdtable::path_of(dirfd).ok_or(Errno::ENOENT)?
    };
    let parts = path::normalize(&base, text);
    match path::route_components(parts.clone()) {
        // As given when relative to the current directory (which the new
        // image shares): scripts see their name in $0 exactly as Linux
        // passes it.
        Route::Host if dirfd == AT_FDCWD || text.starts_with('/') => Ok(raw),
        Route::Host => Ok(alloc::format!("/{}", parts.join("/")).into_bytes()),
        // /proc/self/exe and friends: the file the link names.
        Route::Proc(proc_parts) => match procfs::lookup(&proc_parts, false)? {
            procfs::Node::Link(target) if target.starts_with('/') => Ok(target.into_bytes()),
            _ => Err(Errno::EACCES),
        },
        Route::Dev(_) => Err(Errno::EACCES),
    }
}

/// execve and execveat.
pub fn sys_execve(call: &Call) -> SysResult {
    let (dirfd, path_addr, argv_addr, envp_addr, flags) = if call.nr == Sysno::execveat as u64 {
        (
            call.int(0),
            call.arg(1),
            call.arg(2),
            call.arg(3),
            call.arg(4),
        )
    } else {
        (AT_FDCWD, call.arg(0), call.arg(1), call.arg(2), 0)
    };
    if dirfd != AT_FDCWD {
        fdtable::guest_fd(dirfd as u64)?;
    }
    let raw_path = user::read_path(path_addr)?;
    let mut total = 0;
    let argv = read_string_array(argv_addr, &mut total)?;
    let envp = read_string_array(envp_addr, &mut total)?;
    let path = program_path(dirfd, raw_path, flags)?;
    loader::probe(&path).map_err(|e| e.errno)?;

    let c = task::container();
    let record = BootRecord {
        hostname: &c.hostname,
        uid: c.uid,
        gid: c.gid,
        stats: c.stats,
        log_level: c.log_level,
        first_process: false,
        signal_mask: signal::mask(),
        ignored_signals: signal::ignored(),
        nofile: fdtable::swap_nofile(None)?,
        raise_nofile: fdtable::may_raise_nofile(),
        datagrams_below: fdtable::stack_datagrams_below(),
    }
    .encode()
    .map_err(|_| Errno::EINVAL)?;
    let nul_terminated = |s: &[u8]| s.iter().copied().chain([0]).collect::<Vec<u8>>();
    let kernel_argv: Vec<Vec<u8>> = [KERNEL_ARGV0.as_bytes(), record.as_bytes(), &path]
        .into_iter()
        .chain(argv.iter().map(Vec::as_slice))
        .map(nul_terminated)
        .collect();
    let kernel_envp: Vec<Vec<u8>> = envp.iter().map(|e| nul_terminated(e)).collect();
    let pointers = |strings: &[Vec<u8>]| {
        strings
            .iter()
            .map(|s| s.as_ptr() as u64)
            .chain([0])
            .collect::<Vec<u64>>()
    };
    let (argv_ptrs, envp_ptrs) = (pointers(&kernel_argv), pointers(&kernel_envp));
    if stats::enabled() {
        log::write_raw(&stats::render());
    }
    signal::hold_across_exec();
    let failed = host_call(
        Sysno::execveat,
        [
            KERNEL_IMAGE_FD as u64,
            c"".as_ptr() as u64,
            argv_ptrs.as_ptr() as u64,
            envp_ptrs.as_ptr() as u64,
            AT_EMPTY_PATH,
            0,
        ],
    );
    signal::exec_failed();
    failed
}

/// wait4(pid, status, options, rusage). A stop or continue it reports
/// goes to the process table, for `ps` (a stopped process cannot say it).
pub fn sys_wait4(call: &Call) -> SysResult {
    user::check_buffer(call.arg(1), 4)?;
    user::check_buffer(call.arg(3), 144)?;
    let mut status = 0u32;
    let pid = host_call(
        Sysno::wait4,
        [
            call.arg(0),
            &mut status as *mut u32 as u64,
            call.arg(2),
            call.arg(3),
            0,
            0,
        ],
    )?;
    const STOPPED: u32 = 0x7f;
    const CONTINUED: u32 = 0xffff;
    if pid != 0 && (status & 0xff == STOPPED || status == CONTINUED) {
        crate::procs::child_changed(pid as i32, status != CONTINUED);
    }
    if call.arg(1) != 0 && pid != 0 {
        user::copy_out(call.arg(1), &status.to_le_bytes())?;
    }
    Ok(pid)
}

/// waitid(idtype, id, infop, options, rusage); as `wait4` for the
/// process table.
pub fn sys_waitid(call: &Call) -> SysResult {
    user::check_buffer(call.arg(2), 128)?;
    user::check_buffer(call.arg(4), 144)?;
    let ret = call.forward()?;
    const CLD_STOPPED: i32 = 5;
    const CLD_CONTINUED: i32 = 6;
    if call.arg(2) != 0 {
        let info = user::read_bytes(call.arg(2), 24)?;
        let word = |at: usize| i32::from_le_bytes(info[at..at + 4].try_into().expect("4 bytes"));
        let (code, pid) = (word(8), word(16));
        if pid > 0 && (code == CLD_STOPPED || code == CLD_CONTINUED) {
            crate::procs::child_changed(pid, code == CLD_STOPPED);
        }
    }
    Ok(ret)
}
