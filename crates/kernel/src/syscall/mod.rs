//! Syscall dispatch.
//!
//! [`dispatch`] is the single entry from `oxbox-hal`: it looks the number up
//! in [`table::TABLE`], runs the handler, turns its error into `-errno`,
//! counts the call and, for a trapped call, tries to patch its site so the
//! next call from there is a plain function call.

pub mod fs;
pub mod misc;
pub mod mm;
pub mod process;
pub mod signal;
pub mod table;
pub mod time;

use core::sync::atomic::{AtomicU64, Ordering};

use oxbox_abi::layout::SLOT_COUNT;
use oxbox_hal::host;
use oxbox_hal::patch::{PatchOutcome, try_patch};
use oxbox_hal::{Entry, SyscallFrame};

use crate::{Errno, SysResult, stats};

/// A guest syscall: its number and raw arguments.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub nr: u64,
    pub args: [u64; 6],
}

impl Call {
    #[inline]
    pub fn arg(&self, i: usize) -> u64 {
        self.args[i]
    }

    /// Argument `i` as a C `int` (the host ignores the upper half too).
    #[inline]
    pub fn int(&self, i: usize) -> i32 {
        self.args[i] as i32
    }

    /// Passes the call to the host unchanged.
    pub fn forward(&self) -> SysResult {
        host::forward(self.nr as usize, self.args)
    }
}

/// Passes a call built by the kernel (a legacy call turned into its `*at`
/// form, a path copied into kernel memory) to the host.
pub fn host_call(nr: oxbox_abi::Sysno, args: [u64; 6]) -> SysResult {
    host::forward(nr as usize, args)
}

/// Serves one guest syscall; registered with the hal at boot.
pub fn dispatch(frame: &mut SyscallFrame, entry: Entry) {
    let call = Call {
        nr: frame.nr,
        args: frame.args,
    };
    let result = match table::TABLE.get(call.nr as usize).copied().flatten() {
        Some(handler) => (handler.run)(&call),
        None => {
            note_unimplemented(call.nr);
            Err(Errno::ENOSYS)
        }
    };
    frame.ret = match result {
        Ok(value) => value,
        Err(errno) => (-(errno.into_raw() as i64)) as u64,
    };
    if stats::enabled() {
        stats::count(call.nr, entry == Entry::Patched);
    }
    if let Entry::Trapped { site_end } = entry {
        // Threads arrive with the process model; until then this thread is
        // the only one that can be running guest code.
        if try_patch(site_end, call.nr, true) == PatchOutcome::Patched && stats::enabled() {
            stats::site_patched();
        }
    }
}

/// One bit per syscall number already reported as unimplemented.
static REPORTED: [AtomicU64; SLOT_COUNT / 64 + 1] =
    [const { AtomicU64::new(0) }; SLOT_COUNT / 64 + 1];

/// Logs an unimplemented syscall once per number.
pub fn note_unimplemented(nr: u64) {
    let (word, bit) = (
        (nr as usize / 64).min(REPORTED.len() - 1),
        1u64 << (nr % 64),
    );
    if REPORTED[word].fetch_or(bit, Ordering::Relaxed) & bit == 0 {
        let name = oxbox_abi::Sysno::new(nr as usize)
            .map(|s| s.name())
            .unwrap_or("unknown");
        crate::kinfo!("unimplemented syscall {name} ({nr}): ENOSYS");
    }
}
