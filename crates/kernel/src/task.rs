//! The process's identity as the container sees it.
//!
//! Guest pids are host pids inside the container's pid namespace, so the
//! kernel learns them from the host once and answers `getpid` and friends
//! from memory: these are among the hottest calls and need no host trip.
//! The ids are recorded in `oxbox_hal::fast`, whose slot stubs answer
//! patched calls for them without entering the kernel proper.

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use oxbox_hal::fast::{self, Id};
use spin::Once;

/// What does not change during the life of the container.
#[derive(Debug)]
pub struct Container {
    pub hostname: String,
    pub uid: u32,
    pub gid: u32,
    /// Passed on to the kernel a guest `execve` starts.
    pub stats: bool,
    pub log_level: oxbox_abi::boot::LogLevel,
    /// The host kernel's release and version strings, shown by `uname`.
    pub release: String,
    pub version: String,
    /// The domain name of the container's UTS namespace (which OCI
    /// `linux.sysctl` may set as `kernel.domainname`), shown by `uname`.
    pub domainname: String,
}

static CONTAINER: Once<Container> = Once::new();

/// The program the process runs: what `/proc/self/exe`, `cmdline` and
/// `environ` show.
#[derive(Debug, Default)]
pub struct Image {
    pub exe: String,
    /// NUL-separated arguments, as in `/proc/self/cmdline`.
    pub cmdline: Vec<u8>,
    pub environ: Vec<u8>,
}

/// Set once at boot (an `execve` starts a new kernel) and read without a
/// lock: a fork child reads it to publish itself, and taking a lock would
/// write (and so copy) the data page it lies in.
static IMAGE: Once<Image> = Once::new();

pub fn init(container: Container, pid: i32, ppid: i32) {
    fast::set(Id::Uid, container.uid as u64);
    fast::set(Id::Gid, container.gid as u64);
    CONTAINER.call_once(|| container);
    fast::set(Id::Pid, pid as u64);
    fast::set(Id::Ppid, ppid as u64);
}

pub fn container() -> &'static Container {
    CONTAINER
        .get()
        .expect("container identity read before boot")
}

#[inline]
pub fn pid() -> i32 {
    fast::get(Id::Pid) as i32
}

#[inline]
pub fn ppid() -> i32 {
    fast::get(Id::Ppid) as i32
}

/// Refreshes the ids in the child of a `fork`: a new pid, whose parent is
/// the process that forked.
pub fn after_fork() {
    let parent = pid();
    let host = |nr| crate::syscall::host_call(nr, [0; 6]).unwrap_or(0) as i32;
    fast::set(Id::Pid, host(oxbox_abi::Sysno::getpid) as u64);
    oxbox_hal::cpu::set_current_tid(pid() as u64);
    crate::signal::after_fork();
    // Still the forking parent's child (cleared if the parent dies).
    crate::procs::forked(true);
    // Asked before reading the parent pid, so a parent that dies in
    // between is not missed.
    let _ = oxbox_hal::signals::watch_parent();
    read_parent();
    if ppid() != parent {
        crate::procs::forked(false);
    }
    crate::procs::publish();
    // Only the thread that forked lives on in the child (stored only when
    // it changes: a write would copy the data page, see `IMAGE`).
    if THREADS.load(Ordering::Relaxed) != 1 {
        THREADS.store(1, Ordering::Relaxed);
    }
}

/// The host says the parent died: the process now has another parent (the
/// container's pid 1, or a subreaper). Called from a signal handler, so
/// lock-free.
pub fn parent_changed() {
    // The new parent runs another image: sites of this one mean nothing
    // to it.
    crate::procs::forked(false);
    read_parent();
}

fn read_parent() {
    let ppid = crate::syscall::host_call(oxbox_abi::Sysno::getppid, [0; 6]).unwrap_or(0);
    fast::set(Id::Ppid, ppid as i32 as u64);
    crate::procs::set_ppid(ppid as i32);
}

/// Live threads of this process.
static THREADS: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(1);

/// Counts a thread about to start; returns the new count.
pub fn thread_starting() -> usize {
    THREADS.fetch_add(1, Ordering::AcqRel) + 1
}

/// Uncounts a thread that exited (or failed to start); returns how many remain.
pub fn thread_ended() -> usize {
    THREADS.fetch_sub(1, Ordering::AcqRel) - 1
}

/// Whether the calling thread is the only one that can run guest code.
pub fn single_threaded() -> bool {
    THREADS.load(Ordering::Acquire) == 1
}

/// A stack the current syscall's caller should resume on (the child of a
/// `clone` with a stack); taken by the dispatcher.
static NEW_STACK: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

pub fn resume_on_stack(sp: u64) {
    NEW_STACK.store(sp, Ordering::Relaxed);
}

pub fn take_new_stack() -> u64 {
    // Read first: both sides of every fork come here, and a write would
    // copy the page in each.
    if NEW_STACK.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    NEW_STACK.swap(0, Ordering::Relaxed)
}

/// The calling thread's id (its host tid: guest and host share the pid
/// namespace).
#[inline]
pub fn tid() -> i32 {
    oxbox_hal::cpu::current_tid() as i32
}

pub fn set_image(image: Image) {
    IMAGE.call_once(|| image);
}

pub fn with_image<R>(f: impl FnOnce(&Image) -> R) -> R {
    match IMAGE.get() {
        Some(image) => f(image),
        None => f(&Image::default()),
    }
}
