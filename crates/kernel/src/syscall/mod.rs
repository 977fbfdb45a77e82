//! Syscall dispatch.
//!
//! [`dispatch`] is the single entry from `oxbox-hal`: it looks the number up
//! in [`table::TABLE`], runs the handler, turns its error into `-errno`,
//! counts the call and, for a trapped call, tries to patch its site so the
//! next call from there is a plain function call.

pub mod exec;
pub mod fs;
pub mod guest_filter;
pub mod misc;
pub mod mm;
pub mod net;
pub mod process;
pub mod signal;
pub mod table;
pub mod time;

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use oxbox_abi::Sysno;
use oxbox_abi::layout::SLOT_COUNT;
use oxbox_abi::layout::{SIGNAL_RETURN_NR, TRAMPOLINE_ADDR};
use oxbox_hal::host;
use oxbox_hal::patch::{PatchOutcome, try_patch};
use oxbox_hal::{Entry, SyscallFrame};

use crate::{Errno, SysResult, stats};

pub use oxbox_hal::entry::Call;

/// Passes a call built by the kernel (a legacy call turned into its `*at`
/// form, a path copied into kernel memory) to the host.
pub fn host_call(nr: oxbox_abi::Sysno, args: [u64; 6]) -> SysResult {
    host::forward(nr as usize, args)
}

/// Lets the slot stubs answer the calls they can from memory (see
/// `oxbox_hal::fast`): all of them but those the guest's seccomp profile
/// rules on, and none while calls are counted (the stubs do not count).
pub fn enable_fast_answers() {
    let counting = stats::enabled();
    oxbox_hal::fast::enable(|nr| !counting && guest_filter::allows_always(nr as u64));
}

/// Serves one guest syscall; registered with the hal at boot.
pub fn dispatch(frame: &mut SyscallFrame, entry: Entry) {
    if let Entry::Trapped { site_end } = entry
        && site_end == TRAMPOLINE_ADDR + 2
        && frame.call.nr == SIGNAL_RETURN_NR
    {
        // The trampoline's trap: hand the guest the result of the patched
        // call whose return was diverted to deliver a signal (delivered as
        // this trap returns). The same number from anywhere else is ENOSYS.
        frame.ret = oxbox_hal::cpu::saved_ret();
        return;
    }
    if frame.call.nr == Sysno::clone as u64 {
        match entry {
            // A patched `clone` site (one that forked, see `after_trap`)
            // asked for memory sharing: a thread starts from registers only
            // a trap provides, and a vfork child's hand-off needs the
            // caller's stack pointer. Served again as a trap.
            Entry::Patched if frame.call.args[0] & exec::CLONE_VM != 0 => {
                frame.retrap();
                return;
            }
            Entry::Trapped { site_end } if site_end == TRAMPOLINE_ADDR + 2 => {
                exec::retrapped_clone(&mut frame.call);
            }
            _ => {}
        }
    }
    let call = &frame.call;
    let handler = table::HANDLERS
        .get(call.nr as usize)
        .copied()
        .unwrap_or(sys_unimplemented);
    let result = match guest_filter::check(call.nr, &call.args) {
        guest_filter::Verdict::Allow => handler(call),
        guest_filter::Verdict::Deny(errno) => Err(errno),
    };
    let ret = match result {
        Ok(value) => value,
        Err(errno) => {
            if errno == Errno::EINTR && crate::signal::pending_at_exit() {
                crate::signal::interrupted(call);
            }
            (-(errno.into_raw() as i64)) as u64
        }
    };
    let nr = call.nr;
    frame.ret = ret;
    if nr == Sysno::clone as u64 || nr == Sysno::clone3 as u64 {
        frame.new_stack = crate::task::take_new_stack();
    }
    if stats::enabled() {
        stats::count(nr, entry == Entry::Patched);
    }
    if let Entry::Trapped { site_end } = entry {
        after_trap(site_end, &frame.call, ret);
    }
}

/// Patches the site a trapped call came from, so that the next call from
/// there is a function call. Off the patched path's way.
#[cold]
fn after_trap(site_end: u64, call: &Call, ret: u64) {
    let nr = call.nr;
    // rt_sigreturn replaces the registers only a trap provides, and a new
    // thread starts from them: `clone` sites are patched only from a plain
    // fork (glibc's `fork` has a site of its own), and a patched one that
    // is asked for a thread serves it as a trap (see `dispatch`); clone3
    // sites are not patched. The trampoline's site (where a patched call
    // interrupted by a signal restarts) is not a patchable one; a call
    // interrupted by a signal may restart from its `syscall` instruction,
    // which must stay in place.
    if [Sysno::clone3 as u64, Sysno::rt_sigreturn as u64].contains(&nr)
        || (nr == Sysno::clone as u64 && !exec::is_plain_fork(call))
        || site_end == TRAMPOLINE_ADDR + 2
        || ret == (-(Errno::EINTR.into_raw() as i64)) as u64
    {
        return;
    }
    crate::procs::tell_parent_site(site_end, nr);
    if first_trap_at(site_end) {
        return;
    }
    if try_patch(site_end, nr, ret, crate::task::single_threaded()) == PatchOutcome::Patched
        && stats::enabled()
    {
        stats::site_patched();
    }
}

/// Sites that trapped once and were left unpatched, as an open-addressed
/// set of their `site_end` addresses folded to 32 bits (0: empty), in one
/// page of its own: every new process traps, and each page of the set it
/// touches is a host page fault (a fresh page after `execve`, a copy after
/// `fork`). Two sites whose addresses fold alike count as one, which only
/// patches the second at its first trap.
#[repr(align(4096))]
struct TrappedOnce([AtomicU32; 1024]);

static TRAPPED_ONCE: TrappedOnce = TrappedOnce([const { AtomicU32::new(0) }; 1024]);

/// Whether this is the first trap at `site_end` (then it is remembered).
///
/// A site is patched at its second trap, not its first: patching costs two
/// host `mprotect`s (splitting and merging the text mapping) and a private
/// copy of the code page, about four traps' worth, and many sites run once
/// in the life of a process (start-up code after every `execve`, the child
/// side of `fork`, exit), where that cost buys nothing. A hot site costs
/// one extra trap. When the set is full, sites are patched at once.
fn first_trap_at(site_end: u64) -> bool {
    let set = &TRAPPED_ONCE.0;
    let len = set.len();
    let key = ((site_end ^ (site_end >> 32)) as u32).max(1);
    let start = (site_end.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54) as usize % len;
    for i in 0..len {
        let entry = &set[(start + i) % len];
        match entry.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(seen) if seen == key => return false,
            Err(_) => {}
        }
    }
    false
}

/// The handler of every number the table does not list.
pub fn sys_unimplemented(call: &Call) -> SysResult {
    note_unimplemented(call.nr);
    Err(Errno::ENOSYS)
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
