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

/// Tries to patch the site whose `syscall` instruction ends at `site_end`.
/// `only_thread` says no other thread of this process can run guest code.
pub fn try_patch(site_end: u64, nr: u64, only_thread: bool) -> PatchOutcome {
    if nr >= SLOT_COUNT as u64 || site_end < SITE_LEN {
        return PatchOutcome::NotPatchable;
    }
    let site = site_end - SITE_LEN;
    let mut current = [0u8; SITE_LEN as usize];
    if usercopy::copy_in(&mut current, site).is_err() || current != original_bytes(nr as u32) {
        return PatchOutcome::NotPatchable;
    }
    let atomic = site % 8 <= 3;
    if !atomic && !only_thread {
        return PatchOutcome::Racy;
    }
    let page = site & !0xfff;
    let len = ((site + SITE_LEN + 0xfff) & !0xfff) - page;
    let rwx = Prot::READ | Prot::WRITE | Prot::EXEC;
    if host::protect(page, len, rwx).is_err() {
        return PatchOutcome::Failed;
    }
    let new = patched_bytes(nr as u32);
    let written = if atomic {
        let word_addr = site & !7;
        let shift = (site - word_addr) * 8;
        let mask = ((1u64 << 56) - 1) << shift;
        let mut word = [0u8; 8];
        if usercopy::copy_in(&mut word, word_addr).is_err() {
            return PatchOutcome::Failed;
        }
        let old = u64::from_le_bytes(word);
        let mut site_word = [0u8; 8];
        site_word[..7].copy_from_slice(&new);
        let replacement = (old & !mask) | (u64::from_le_bytes(site_word) << shift);
        // SAFETY: `word_addr` is 8-byte aligned, readable (just copied) and
        // writable (just made so); the guest text is not a Rust object, so
        // an atomic access through a raw pointer creates no aliasing.
        let cell = unsafe { AtomicU64::from_ptr(word_addr as *mut u64) };
        cell.compare_exchange(old, replacement, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    } else {
        usercopy::copy_out(site, &new[..5]).is_ok()
    };
    // Restore the usual protection of code; a page that was writable and
    // executable (JIT code) loses its write permission, a known limit.
    let _ = host::protect(page, len, Prot::READ | Prot::EXEC);
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
    fn only_the_first_five_bytes_change() {
        for nr in [0, 39, 110, 231, 511] {
            assert_eq!(patched_bytes(nr)[5..], original_bytes(nr)[5..]);
        }
    }
}
