//! The kernel's view of the guest's descriptors.
//!
//! Descriptor numbers are host numbers: a guest `read` on a file is a host
//! `read` on the same number. The kernel keeps only what the host cannot
//! tell it: which descriptors stand for its synthetic directories, the path
//! each descriptor was opened with (for `/proc/self/fd`), and the reserved
//! range at the top of the table that holds the kernel's own descriptors.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

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

/// Takes ownership of a descriptor the host just created for the guest. One
/// that landed in the reserved range (the guest filled everything below)
/// is closed again: the guest sees `EMFILE`, as at its descriptor limit.
pub fn adopt(fd: i32) -> Result<i32, Errno> {
    if fd >= RESERVED_FD_BASE {
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
