//! The kernel's view of the guest's descriptors.
//!
//! Descriptor numbers are host numbers: a guest `read` on a file is a host
//! `read` on the same number. The kernel keeps only what the host cannot
//! tell it: which descriptors stand for its synthetic directories, the path
//! each descriptor was opened with (for `/proc/self/fd`), and the reserved
//! range at the top of the table that holds the kernel's own descriptors.
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

static SYNTH_DIRS: Mutex<BTreeMap<i32, SynthDir>> = Mutex::new(BTreeMap::new());
/// Number of entries in `SYNTH_DIRS`, read without the lock on hot paths.
static SYNTH_COUNT: AtomicUsize = AtomicUsize::new(0);
static PATHS: Mutex<BTreeMap<i32, String>> = Mutex::new(BTreeMap::new());

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
    SYNTH_COUNT.load(Ordering::Relaxed) != 0 && SYNTH_DIRS.lock().contains_key(&fd)
}

pub fn register_synthetic_dir(fd: i32, parts: Vec<String>) {
    let mut dirs = SYNTH_DIRS.lock();
    if dirs.insert(fd, SynthDir { parts, position: 0 }).is_none() {
        SYNTH_COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs `f` on the synthetic directory open as `fd`, if it is one.
pub fn with_synthetic_dir<R>(fd: i32, f: impl FnOnce(&mut SynthDir) -> R) -> Option<R> {
    if SYNTH_COUNT.load(Ordering::Relaxed) == 0 {
        return None;
    }
    SYNTH_DIRS.lock().get_mut(&fd).map(f)
}

pub fn record_path(fd: i32, path: String) {
    PATHS.lock().insert(fd, path);
}

pub fn path_of(fd: i32) -> Option<String> {
    PATHS.lock().get(&fd).cloned()
}

/// Forgets what the kernel knew about `fd` after the host closed it.
pub fn closed(fd: i32) {
    if SYNTH_COUNT.load(Ordering::Relaxed) != 0 && SYNTH_DIRS.lock().remove(&fd).is_some() {
        SYNTH_COUNT.fetch_sub(1, Ordering::Relaxed);
    }
    PATHS.lock().remove(&fd);
}

/// Records that `new` now refers to what `old` refers to (dup family).
pub fn duplicated(old: i32, new: i32) {
    closed(new);
    let dir = with_synthetic_dir(old, |d| d.clone());
    if let Some(dir) = dir {
        register_synthetic_dir(new, dir.parts);
    }
    if let Some(path) = path_of(old) {
        record_path(new, path);
    }
}

/// Forgets every descriptor in `[first, last]` (close_range).
pub fn closed_range(first: i32, last: i32) {
    let doomed: Vec<i32> = {
        let dirs = SYNTH_DIRS.lock();
        let paths = PATHS.lock();
        dirs.range(first..=last)
            .map(|(fd, _)| *fd)
            .chain(paths.range(first..=last).map(|(fd, _)| *fd))
            .collect()
    };
    for fd in doomed {
        closed(fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
