//! Rewriting trapped syscall sites into calls through the slot table.
//!
//! A site `b8 <nr:le32> 0f 05` (`mov $nr,%eax; syscall`) becomes
//! `ff 14 25 <slot:le32>` (`call *slot`), where `slot` is
//! `SLOT_TABLE_ADDR + 8 * nr`. Because every slot address ends in the bytes
//! `0f 05`, only the first five bytes change, and a thread paused between
//! the old `mov` and `syscall` still finds a `syscall` at the old offset.
//!
//! The five bytes are replaced with one atomic 8-byte compare-and-swap when
//! they lie within an aligned quadword, so a thread fetching the
//! instruction sees either the old or the new one. Otherwise they can only
//! be written safely while no other thread of the process can run guest
//! code, which the caller states.

use core::sync::atomic::{AtomicU64, Ordering};

use oxbox_abi::layout::{SLOT_COUNT, SLOT_TABLE_ADDR};

use crate::host::{self, Prot};
use crate::usercopy;

/// Length of both the original and the patched instruction sequence.
pub const SITE_LEN: u64 = 7;

/// What happened to a trapped site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchOutcome {
    /// The site now calls through the slot table.
    Patched,
    /// The bytes before the `syscall` are not `mov $nr,%eax` for this call.
    NotPatchable,
    /// The site could not be rewritten atomically while other threads run.
    Racy,
    /// The host refused to make the page writable, or the site vanished.
    Failed,
}

/// The patched bytes for syscall `nr`.
pub fn patched_bytes(nr: u32) -> [u8; SITE_LEN as usize] {
    let slot = (SLOT_TABLE_ADDR + nr as u64 * 8) as u32;
    let s = slot.to_le_bytes();
    [0xff, 0x14, 0x25, s[0], s[1], s[2], s[3]]
}

/// The original bytes of a patchable site for syscall `nr`.
pub fn original_bytes(nr: u32) -> [u8; SITE_LEN as usize] {
    let n = nr.to_le_bytes();
    [0xb8, n[0], n[1], n[2], n[3], 0x0f, 0x05]
}

/// glibc's `read` wrapper: `xor %eax,%eax; syscall; cmp $-4096,%rax` (the
/// number 0 is loaded with `xor`, so the `mov` pattern never appears).
const XOR_CMP_SITE: [u8; 10] = [0x31, 0xc0, 0x0f, 0x05, 0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff];

/// Sites that take the number from a register: `mov %REG,%eax; syscall;
/// cmp $-4096,%rax`, as glibc's `_exit` calls exit_group (`mov %esi,%eax`).
/// Each is rewritten like the `xor` read site, into a call through a slot
/// whose stub does the same `mov` (so the number is the register's at each
/// call): slots of numbers no x86-64 syscall has (335 to 423 are unused),
/// whose own `mov $nr,%eax` sites are never patched. The `mov`'s ModRM
/// byte, and the slot.
const REGISTER_SITES: [(u8, u64); 3] = [(0xf0, 400), (0xf8, 401), (0xd0, 402)];

/// Which of the register stubs slot `nr` holds, if any.
pub(crate) fn register_stub(nr: u64) -> Option<usize> {
    REGISTER_SITES.iter().position(|(_, slot)| *slot == nr)
}

/// The register site (its ten bytes, and the slot of its stub) that ends
/// its `syscall` at `site_end`, if that is one.
fn register_site(site_end: u64) -> Option<(u64, [u8; 10], u64)> {
    let site = site_end.checked_sub(4)?;
    let mut bytes = [0u8; 11];
    usercopy::copy_in(&mut bytes, site - 1).ok()?;
    // A REX prefix before would make the `mov` a 64-bit one starting a
    // byte earlier (or the byte belongs to the instruction before, which
    // cannot be told apart): left alone either way.
    if (0x40..=0x4f).contains(&bytes[0]) {
        return None;
    }
    let current: [u8; 10] = bytes[1..].try_into().ok()?;
    let (_, slot) = REGISTER_SITES
        .iter()
        .find(|(modrm, _)| current[..2] == [0x89, *modrm] && current[2..] == XOR_CMP_SITE[2..])?;
    Some((site, current, *slot))
}

/// Whether [`try_patch`] (or [`patch_for_child`]) can rewrite the site
/// whose `syscall` ends at `site_end`, from call `nr`.
pub fn is_patchable(site_end: u64, nr: u64) -> bool {
    let mut current = [0u8; SITE_LEN as usize];
    (mov_patchable(nr)
        && site_end >= SITE_LEN
        && usercopy::copy_in(&mut current, site_end - SITE_LEN).is_ok()
        && current == original_bytes(nr as u32))
        || register_site(site_end).is_some()
}

fn mov_patchable(nr: u64) -> bool {
    nr < SLOT_COUNT as u64 && register_stub(nr).is_none()
}

/// Patches, for a fork child that trapped there, a site of this process
/// that this process is not trapped at: as [`try_patch`], without moving
/// a trapped thread past it. Needs `only_thread`.
pub fn patch_for_child(site_end: u64, nr: u64, only_thread: bool) -> PatchOutcome {
    if let Some((site, _, slot)) = register_site(site_end) {
        if !only_thread {
            return PatchOutcome::Racy;
        }
        return rewrite(site, 10, || {
            usercopy::copy_out(site, &ten_byte_call(slot)).is_ok()
        });
    }
    try_patch(site_end, nr, 0, only_thread)
}

/// Tries to patch the site whose `syscall` instruction ends at `site_end`,
/// from the trap that `nr` (returning `ret`) made there. `only_thread` says
/// no other thread of this process can run guest code.
pub fn try_patch(site_end: u64, nr: u64, ret: u64, only_thread: bool) -> PatchOutcome {
    if !mov_patchable(nr) || site_end < SITE_LEN {
        return PatchOutcome::NotPatchable;
    }
    let site = site_end - SITE_LEN;
    let mut current = [0u8; SITE_LEN as usize];
    if usercopy::copy_in(&mut current, site).is_ok() && current == original_bytes(nr as u32) {
        return patch_mov_site(site, nr, only_thread);
    }
    if nr == 0 {
        return patch_xor_cmp_site(site_end - 4, ret, only_thread);
    }
    if let Some((site, _, slot)) = register_site(site_end) {
        return patch_ten_byte_site(site, slot, ret, only_thread);
    }
    PatchOutcome::NotPatchable
}

fn patch_mov_site(site: u64, nr: u64, only_thread: bool) -> PatchOutcome {
    let atomic = site % 8 <= 3;
    if !atomic && !only_thread {
        return PatchOutcome::Racy;
    }
    let new = patched_bytes(nr as u32);
    rewrite(site, SITE_LEN, || {
        if !atomic {
            return usercopy::copy_out(site, &new[..5]).is_ok();
        }
        let word_addr = site & !7;
        let shift = (site - word_addr) * 8;
        let mask = ((1u64 << 56) - 1) << shift;
        let mut word = [0u8; 8];
        if usercopy::copy_in(&mut word, word_addr).is_err() {
            return false;
        }
        let old = u64::from_le_bytes(word);
        let mut site_word = [0u8; 8];
        site_word[..7].copy_from_slice(&new);
        let replacement = (old & !mask) | (u64::from_le_bytes(site_word) << shift);
        // SAFETY: `word_addr` is 8-byte aligned, readable (just copied) and
        // writable (made so by `rewrite`); the guest text is not a Rust
        // object, so an atomic access through a raw pointer aliases nothing.
        let cell = unsafe { AtomicU64::from_ptr(word_addr as *mut u64) };
        cell.compare_exchange(old, replacement, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    })
}

/// The `xor` pattern spans ten bytes with the `syscall` in the middle: a
/// thread paused before that `syscall` would resume inside the new `call`,
/// so it is only rewritten while no other thread can run.
///
/// The trapped thread would return into the middle of the new `call`: it
/// resumes after the whole sequence instead, with the flags the skipped
/// `cmp $-4096,%rax` would have set on the result `ret`.
fn patch_xor_cmp_site(site: u64, ret: u64, only_thread: bool) -> PatchOutcome {
    let mut current = [0u8; 10];
    if usercopy::copy_in(&mut current, site).is_err() || current != XOR_CMP_SITE {
        return PatchOutcome::NotPatchable;
    }
    patch_ten_byte_site(site, 0, ret, only_thread)
}

/// `call *slot`, then a 3-byte nop: the replacement of a ten-byte site.
/// The entry stub ends with the same `cmp $-4096,%rax`, so the guest's
/// next instruction (a conditional jump on it) sees the flags it expects.
fn ten_byte_call(slot: u64) -> [u8; 10] {
    let call = patched_bytes(slot as u32);
    [
        call[0], call[1], call[2], call[3], call[4], call[5], call[6], 0x0f, 0x1f, 0x00,
    ]
}

/// Rewrites a ten-byte site (`xor` or register) into `call *slot` and
/// moves the trapped thread past it (see `patch_xor_cmp_site`).
fn patch_ten_byte_site(site: u64, slot: u64, ret: u64, only_thread: bool) -> PatchOutcome {
    if !only_thread || crate::cpu::trap_regs() == 0 {
        return PatchOutcome::Racy;
    }
    let outcome = rewrite(site, XOR_CMP_SITE.len() as u64, || {
        usercopy::copy_out(site, &ten_byte_call(slot)).is_ok()
    });
    if outcome == PatchOutcome::Patched {
        crate::signals::resume_trapped_at(
            site + XOR_CMP_SITE.len() as u64,
            cmp_flags(ret, (-4096i64) as u64),
        );
    }
    outcome
}

/// The arithmetic flags (CF, PF, AF, ZF, SF, OF) of `cmp $imm, %rax`.
fn cmp_flags(rax: u64, imm: u64) -> u64 {
    let (res, borrow) = rax.overflowing_sub(imm);
    let mut flags = 0;
    flags |= borrow as u64; // CF
    flags |= ((res as u8).count_ones().is_multiple_of(2) as u64) << 2; // PF
    flags |= (rax ^ imm ^ res) & 0x10; // AF
    flags |= ((res == 0) as u64) << 6; // ZF
    flags |= (res >> 63) << 7; // SF
    flags |= (((rax ^ imm) & (rax ^ res)) >> 63) << 11; // OF
    flags
}

/// Held while a site is rewritten: two threads patching sites on the same
/// page must not interleave, or one would restore the page's protection
/// while the other still writes (a fault in kernel code, outside the
/// fault-tolerant copies).
static PATCHING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

struct PatchingGuard;

impl PatchingGuard {
    fn acquire() -> Self {
        while PATCHING
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        PatchingGuard
    }
}

impl Drop for PatchingGuard {
    fn drop(&mut self) {
        PATCHING.store(false, Ordering::Release);
    }
}

/// Makes the code pages of `[site, site+len)` writable, runs `write`, and
/// makes them read-and-execute again, one patch at a time.
fn rewrite(site: u64, len: u64, write: impl FnOnce() -> bool) -> PatchOutcome {
    let _guard = PatchingGuard::acquire();
    let page = site & !0xfff;
    let span = ((site + len + 0xfff) & !0xfff) - page;
    if host::protect(page, span, Prot::READ | Prot::WRITE | Prot::EXEC).is_err() {
        return PatchOutcome::Failed;
    }
    let written = write();
    // Restore the usual protection of code; a page that was writable and
    // executable (JIT code) loses its write permission, a known limit.
    let _ = host::protect(page, span, Prot::READ | Prot::EXEC);
    if written {
        PatchOutcome::Patched
    } else {
        PatchOutcome::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmp_flags_tell_errors_from_results() {
        const CF: u64 = 1;
        const ZF: u64 = 1 << 6;
        let imm = (-4096i64) as u64;
        // A byte count: below -4096 unsigned, so `ja` (CF=0 and ZF=0) is not taken.
        assert_eq!(cmp_flags(5, imm) & (CF | ZF), CF);
        // -EAGAIN: above, so `ja` goes to the error path.
        assert_eq!(cmp_flags((-11i64) as u64, imm) & (CF | ZF), 0);
        assert_eq!(cmp_flags(imm, imm) & ZF, ZF);
    }

    #[test]
    fn read_site_keeps_its_length_and_calls_slot_zero() {
        let new = ten_byte_call(0);
        assert_eq!(new.len(), XOR_CMP_SITE.len());
        assert_eq!(new[..7], patched_bytes(0));
        assert_eq!(new[7..], [0x0f, 0x1f, 0x00], "a 3-byte nop");
    }

    #[test]
    fn only_the_first_five_bytes_change() {
        for nr in [0, 39, 110, 231, 511] {
            assert_eq!(patched_bytes(nr)[5..], original_bytes(nr)[5..]);
        }
    }
}
