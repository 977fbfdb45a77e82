//! Calls answered by their slot stub alone.
//!
//! `getpid`, `getppid`, `gettid` and the user and group ids are answered
//! from memory. Through the common patched entry (stack switch, saving the
//! sixteen XMM registers the kernel's Rust code may clobber, the
//! dispatcher, the signal check) such a call costs about 10 ns; the stubs
//! here read the answer and return in a handful of instructions that touch
//! only `%rax` and the flags, as the common entry leaves them.
//!
//! A stub hands the call to the common entry, which serves it in full,
//! whenever that has more to do: a signal waits for the end of a syscall
//! on this thread, or the kernel has not enabled the call's fast answer
//! (it counts calls for `--stats`, or the guest's seccomp profile rules on
//! it). The answers are the kernel's own records of its ids, kept here so
//! that the stubs can read them; the kernel keeps them current.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use oxbox_abi::Sysno;

use crate::cpu::{CTX_SIGNALS_PENDING, CTX_TID};

/// An id the kernel records for the fast answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Id {
    Pid = 0,
    Ppid = 1,
    Uid = 2,
    Gid = 3,
}

/// The ids (indexed by [`Id`]), then the enabled calls (bit `i` for
/// `CALLS[i]`). Read by the stubs through RIP-relative loads.
#[repr(C)]
struct Answers {
    ids: [AtomicU64; 4],
    enabled: AtomicU64,
}

static ANSWERS: Answers = Answers {
    ids: [const { AtomicU64::new(0) }; 4],
    enabled: AtomicU64::new(0),
};

const ENABLED_OFFSET: usize = core::mem::offset_of!(Answers, enabled);

/// The calls with a fast answer, in stub order (see the assembly below).
pub const CALLS: [Sysno; 7] = [
    Sysno::getpid,
    Sysno::getppid,
    Sysno::gettid,
    Sysno::getuid,
    Sysno::geteuid,
    Sysno::getgid,
    Sysno::getegid,
];

/// Records id `id` (the kernel's pid after boot and fork, its parent after
/// a reparenting, the container's ids). Lock-free: a signal handler
/// records a new parent.
pub fn set(id: Id, value: u64) {
    ANSWERS.ids[id as usize].store(value, Ordering::Release);
}

/// Id `id` as last recorded.
#[inline]
pub fn get(id: Id) -> u64 {
    ANSWERS.ids[id as usize].load(Ordering::Acquire)
}

/// Turns the fast answer of each call in [`CALLS`] on or off, as
/// `enabled(nr)` says; the others go through the common entry.
pub fn enable(enabled: impl Fn(Sysno) -> bool) {
    let bits = CALLS
        .iter()
        .enumerate()
        .filter(|(_, nr)| enabled(**nr))
        .fold(0u64, |bits, (i, _)| bits | 1 << i);
    ANSWERS.enabled.store(bits, Ordering::Release);
}

unsafe extern "C" {
    fn oxbox_fast_stubs();
}

/// Stub size; the stub of `CALLS[i]` starts at `oxbox_fast_stubs + i * STUB_SIZE`.
const STUB_SIZE: u64 = 64;

/// The address of the fast stub for syscall `nr`, if it has one.
pub(crate) fn stub_for(nr: u64) -> Option<u64> {
    CALLS
        .iter()
        .position(|c| *c as u64 == nr)
        .map(|i| oxbox_fast_stubs as *const () as u64 + i as u64 * STUB_SIZE)
}

// One stub per call of CALLS: a signal pending on this thread or the
// call's bit clear send it to its common stub (`oxbox_slot_stubs` + 16 *
// nr); otherwise it loads the answer (a field of ANSWERS, or the thread's
// tid from its context), sets the flags as the common entry does and
// returns to the patched site.
macro_rules! fast_stubs {
    ($($index:literal: $nr:literal => $load:literal;)*) => {
        global_asm!(
            ".pushsection .text.oxbox_entry,\"ax\",@progbits",
            ".balign 64",
            ".globl oxbox_fast_stubs",
            "oxbox_fast_stubs:",
            $(
                "    cmpq $0, %gs:{pending}",
                "    jne 1f",
                concat!("    btq $", $index, ", {answers}+{enabled}(%rip)"),
                "    jnc 1f",
                $load,
                "    cmp $-4096, %rax",
                "    ret",
                concat!("1:  jmp oxbox_slot_stubs + 16 * ", $nr),
                // Fails to assemble if the stub outgrew its room.
                concat!("    .org oxbox_fast_stubs + {size} * (", $index, " + 1), 0xcc"),
            )*
            ".popsection",
            pending = const CTX_SIGNALS_PENDING,
            tid = const CTX_TID,
            answers = sym ANSWERS,
            enabled = const ENABLED_OFFSET,
            size = const STUB_SIZE,
            pid = const Id::Pid as usize * 8,
            ppid = const Id::Ppid as usize * 8,
            uid = const Id::Uid as usize * 8,
            gid = const Id::Gid as usize * 8,
            options(att_syntax)
        );
    };
}

fast_stubs! {
    "0": "39" => "    movq {answers}+{pid}(%rip), %rax";
    "1": "110" => "    movq {answers}+{ppid}(%rip), %rax";
    "2": "186" => "    movq %gs:{tid}, %rax";
    "3": "102" => "    movq {answers}+{uid}(%rip), %rax";
    "4": "107" => "    movq {answers}+{uid}(%rip), %rax";
    "5": "104" => "    movq {answers}+{gid}(%rip), %rax";
    "6": "108" => "    movq {answers}+{gid}(%rip), %rax";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers written into the stubs are those of CALLS, in order.
    #[test]
    fn stub_numbers_match_the_calls() {
        let written = [39, 110, 186, 102, 107, 104, 108];
        for (call, nr) in CALLS.iter().zip(written) {
            assert_eq!(*call as u64, nr, "{}", call.name());
        }
    }
}
