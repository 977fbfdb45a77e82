//! The kernel's view of the guest's descriptors.
//!
//! Descriptor numbers are host numbers: a guest `read` on a file is a host
//! `read` on the same number. The kernel keeps only what the host cannot
//! tell it: which descriptors stand for its synthetic directories, which
//! are UDP sockets of the container's own stack (`--network sandbox`), the
//! path each descriptor was opened with (for `/proc/self/fd`), and the
//! reserved range at the top of the table that holds the kernel's own
//! descriptors.
//!
//! The guest's `RLIMIT_NOFILE` is the kernel's too: the host's limit must
//! stay above the reserved range, so the guest's is kept here (from the
//! boot record, inherited by fork as memory and by exec through the
//! record) and every descriptor handed to the guest is checked against it.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use oxbox_abi::boot::NR_OPEN;
use oxbox_abi::layout::RESERVED_FD_BASE;
use oxbox_hal::host;
use spin::Mutex;

use crate::Errno;

/// An open synthetic directory: its path and the `getdents64` position.
#[derive(Clone, Debug)]
pub struct SynthDir {
    /// Absolute path components (e.g. `["proc", "1", "fd"]`).
    pub parts: Vec<String>,
    /// Index of the next entry `getdents64` returns.
    pub position: usize,
}

/// A record per descriptor that most processes never have, so that the
/// hot paths (every `read` and `write` asks) see an empty one without the
/// lock.
struct Sparse<V> {
    entries: Mutex<BTreeMap<i32, V>>,
    /// Number of entries, read without the lock.
    count: AtomicUsize,
}

impl<V: Clone> Sparse<V> {
    const fn new() -> Self {
        Sparse {
            entries: Mutex::new(BTreeMap::new()),
            count: AtomicUsize::new(0),
        }
    }

    fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    fn insert(&self, fd: i32, value: V) {
        if self.entries.lock().insert(fd, value).is_none() {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn remove(&self, fd: i32) {
        if !self.is_empty() && self.entries.lock().remove(&fd).is_some() {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn get(&self, fd: i32) -> Option<V> {
        if self.is_empty() {
            return None;
        }
        self.entries.lock().get(&fd).cloned()
    }

    fn with<R>(&self, fd: i32, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        if self.is_empty() {
            return None;
        }
        self.entries.lock().get_mut(&fd).map(f)
    }

    /// One past the highest descriptor with an entry (0: none).
    fn end(&self) -> i32 {
        if self.is_empty() {
            return 0;
        }
        self.entries
            .lock()
            .last_key_value()
            .map_or(0, |(fd, _)| fd + 1)
    }

    /// The descriptors in `[first, last]` that have an entry.
    fn in_range(&self, first: i32, last: i32) -> Vec<i32> {
        if self.is_empty() {
            return Vec::new();
        }
        self.entries
            .lock()
            .range(first..=last)
            .map(|(fd, _)| *fd)
            .collect()
    }
}

static SYNTH_DIRS: Sparse<SynthDir> = Sparse::new();
/// The container stack's UDP sockets, with the stack's id of each: every
/// datagram on them travels behind its address (see `crate::net::sandbox`),
/// so even a `read` or `write` on one goes through the kernel. Recorded
/// when the stack hands one out or one arrives with `SCM_RIGHTS`, copied
/// by fork, found again after exec (`net::sandbox::find_datagram_sockets`).
static STACK_DATAGRAMS: Sparse<StackDatagram> = Sparse::new();

/// One of the container stack's UDP sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackDatagram {
    /// The stack's id of it.
    pub id: u32,
    /// Known to be connected: a send without an address needs no question
    /// to the stack. (Should another process that shares the socket
    /// disconnect it, such a send goes nowhere instead of failing with
    /// `EDESTADDRREQ`.)
    pub connected: bool,
}
static PATHS: Sparse<String> = Sparse::new();

/// The guest's `RLIMIT_NOFILE` (soft, hard); changed under the lock,
/// the soft limit mirrored in `NOFILE_SOFT` for the checks on hot paths.
static NOFILE: Mutex<[u64; 2]> = Mutex::new([RESERVED_FD_BASE as u64; 2]);
static NOFILE_SOFT: AtomicU64 = AtomicU64::new(RESERVED_FD_BASE as u64);
/// The guest may raise its hard limit (it has `CAP_SYS_RESOURCE`).
static MAY_RAISE: AtomicBool = AtomicBool::new(false);

/// Sets the guest's `RLIMIT_NOFILE` at boot, as the boot record gives it.
pub fn init_nofile(limits: [u64; 2], may_raise: bool) {
    *NOFILE.lock() = limits;
    NOFILE_SOFT.store(limits[0], Ordering::Relaxed);
    MAY_RAISE.store(may_raise, Ordering::Relaxed);
}

/// Whether the guest may raise its hard limit, for the next exec's record.
pub fn may_raise_nofile() -> bool {
    MAY_RAISE.load(Ordering::Relaxed)
}

/// The guest's soft `RLIMIT_NOFILE`: new descriptors are below it.
#[inline]
pub fn nofile_soft() -> u64 {
    NOFILE_SOFT.load(Ordering::Relaxed)
}

/// The first number the guest cannot get as a new descriptor: its soft
/// limit, or the kernel's reserved range if that comes first.
#[inline]
pub fn fd_limit() -> i32 {
    nofile_soft().min(RESERVED_FD_BASE as u64) as i32
}

/// prlimit64 on `RLIMIT_NOFILE`: returns the old limits and sets `new`,
/// with Linux's checks: `EINVAL` for a soft limit above the hard one,
/// `EPERM` for a hard limit above `fs.nr_open` or, unless the guest may
/// raise it (`CAP_SYS_RESOURCE`), above the current hard limit.
pub fn swap_nofile(new: Option<[u64; 2]>) -> Result<[u64; 2], Errno> {
    let mut limits = NOFILE.lock();
    let old = *limits;
    if let Some([soft, hard]) = new {
        if soft > hard {
            return Err(Errno::EINVAL);
        }
        if hard > NR_OPEN || (hard > old[1] && !may_raise_nofile()) {
            return Err(Errno::EPERM);
        }
        *limits = [soft, hard];
        NOFILE_SOFT.store(soft, Ordering::Relaxed);
    }
    Ok(old)
}

/// Validates a descriptor argument: `EBADF` for negative numbers and for
/// the kernel's reserved range.
#[inline]
pub fn guest_fd(raw: u64) -> Result<i32, Errno> {
    let fd = raw as i32;
    if !(0..RESERVED_FD_BASE).contains(&fd) {
        return Err(Errno::EBADF);
    }
    Ok(fd)
}

/// Takes ownership of a descriptor the host just created for the guest (the
/// lowest free number, as Linux picks). One at or above the guest's soft
/// `RLIMIT_NOFILE` or in the reserved range (the guest filled everything
/// below) is closed again: the guest sees `EMFILE`, as at its limit.
pub fn adopt(fd: i32) -> Result<i32, Errno> {
    if fd >= fd_limit() {
        let _ = host::forward(syscalls::Sysno::close as usize, [fd as u64, 0, 0, 0, 0, 0]);
        return Err(Errno::EMFILE);
    }
    Ok(fd)
}

#[inline]
pub fn is_synthetic_dir(fd: i32) -> bool {
    SYNTH_DIRS.with(fd, |_| ()).is_some()
}

pub fn register_synthetic_dir(fd: i32, parts: Vec<String>) {
    SYNTH_DIRS.insert(fd, SynthDir { parts, position: 0 });
}

/// Runs `f` on the synthetic directory open as `fd`, if it is one.
pub fn with_synthetic_dir<R>(fd: i32, f: impl FnOnce(&mut SynthDir) -> R) -> Option<R> {
    SYNTH_DIRS.with(fd, f)
}

/// Records that `fd` is the stack's UDP socket `id`.
pub fn record_stack_datagram(fd: i32, id: u32) {
    STACK_DATAGRAMS.insert(
        fd,
        StackDatagram {
            id,
            connected: false,
        },
    );
}

/// Records whether the stack's UDP socket `fd` is connected.
pub fn set_stack_datagram_connected(fd: i32, connected: bool) {
    STACK_DATAGRAMS.with(fd, |d| d.connected = connected);
}

/// One past the highest of the stack's UDP sockets (0: there is none),
/// for the boot record of an exec.
pub fn stack_datagrams_below() -> u32 {
    STACK_DATAGRAMS.end() as u32
}

/// What the kernel knows of `fd` if it is one of the stack's UDP sockets.
#[inline]
pub fn stack_datagram(fd: i32) -> Option<StackDatagram> {
    STACK_DATAGRAMS.get(fd)
}

pub fn record_path(fd: i32, path: String) {
    PATHS.insert(fd, path);
}

pub fn path_of(fd: i32) -> Option<String> {
    PATHS.get(fd)
}

/// Forgets what the kernel knew about `fd` after the host closed it.
pub fn closed(fd: i32) {
    SYNTH_DIRS.remove(fd);
    STACK_DATAGRAMS.remove(fd);
    PATHS.remove(fd);
}

/// Records that `new` now refers to what `old` refers to (dup family).
pub fn duplicated(old: i32, new: i32) {
    closed(new);
    if let Some(dir) = SYNTH_DIRS.get(old) {
        register_synthetic_dir(new, dir.parts);
    }
    if let Some(datagram) = STACK_DATAGRAMS.get(old) {
        STACK_DATAGRAMS.insert(new, datagram);
    }
    if let Some(path) = PATHS.get(old) {
        PATHS.insert(new, path);
    }
}

/// Forgets every descriptor in `[first, last]` (close_range).
pub fn closed_range(first: i32, last: i32) {
    let doomed = SYNTH_DIRS
        .in_range(first, last)
        .into_iter()
        .chain(STACK_DATAGRAMS.in_range(first, last))
        .chain(PATHS.in_range(first, last));
    for fd in doomed {
        closed(fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_datagrams_follow_dup_and_close() {
        let id = |fd| stack_datagram(fd).map(|d| d.id);
        record_stack_datagram(40, 7);
        assert_eq!(id(40), Some(7));
        set_stack_datagram_connected(40, true);
        duplicated(40, 41);
        assert_eq!(
            stack_datagram(41),
            Some(StackDatagram {
                id: 7,
                connected: true
            })
        );
        record_path(42, "/etc/hostname".into());
        duplicated(42, 41);
        assert_eq!(id(41), None, "dup2 over it replaced it");
        assert_eq!(path_of(41).as_deref(), Some("/etc/hostname"));
        closed(40);
        assert_eq!(id(40), None);
        record_stack_datagram(43, 8);
        record_stack_datagram(50, 9);
        closed_range(41, 49);
        assert_eq!(id(43), None);
        assert_eq!(path_of(41), None);
        assert_eq!(id(50), Some(9));
        assert_eq!(stack_datagrams_below(), 51);
        closed(50);
        assert!(STACK_DATAGRAMS.is_empty());
        assert_eq!(stack_datagrams_below(), 0);
    }

    #[test]
    fn nofile_changes_follow_linux_checks() {
        init_nofile([64, 128], false);
        assert_eq!(fd_limit(), 64);
        assert_eq!(swap_nofile(Some([200, 100])), Err(Errno::EINVAL));
        assert_eq!(swap_nofile(Some([64, 256])), Err(Errno::EPERM));
        assert_eq!(swap_nofile(None), Ok([64, 128]));
        assert_eq!(swap_nofile(Some([32, 100])), Ok([64, 128]));
        assert_eq!(fd_limit(), 32);
        init_nofile([32, 100], true);
        assert_eq!(swap_nofile(Some([64, NR_OPEN + 1])), Err(Errno::EPERM));
        assert_eq!(swap_nofile(Some([4096, NR_OPEN])), Ok([32, 100]));
        assert_eq!(nofile_soft(), 4096);
        assert_eq!(fd_limit(), RESERVED_FD_BASE);
    }
}
