//! The program break, emulated with anonymous mappings.
//!
//! The host's own break belongs to the kernel image (it follows the image's
//! bss in the kernel area), so the guest's break is the kernel's to keep:
//! it starts after the guest executable and grows by mapping pages.

use spin::Mutex;

use super::page_up;
use super::vma::{PROT_READ, PROT_WRITE, VMAS, Vma};
use oxbox_hal::host::{self, Prot};

struct Break {
    /// Where the break started (end of the executable's bss).
    start: u64,
    /// The current break as the guest sees it.
    current: u64,
}

static BRK: Mutex<Break> = Mutex::new(Break {
    start: 0,
    current: 0,
});

/// Largest heap the break may grow to.
const MAX_BRK: u64 = 1 << 40;

pub fn init(start: u64) {
    *BRK.lock() = Break {
        start,
        current: start,
    };
}

/// `brk(addr)`: moves the break if possible; always returns the break.
pub fn set(addr: u64) -> u64 {
    let mut brk = BRK.lock();
    if addr < brk.start || addr > brk.start.saturating_add(MAX_BRK) {
        return brk.current;
    }
    let (old_top, new_top) = (page_up(brk.current), page_up(addr));
    if new_top > old_top {
        if host::map_anonymous_at(old_top, new_top - old_top, Prot::READ | Prot::WRITE).is_err() {
            return brk.current;
        }
        let mut vmas = VMAS.lock();
        let start = page_up(brk.start);
        vmas.insert(
            start,
            Vma {
                end: new_top,
                prot: PROT_READ | PROT_WRITE,
                shared: false,
                offset: 0,
                name: "[heap]".into(),
            },
        );
    } else if new_top < old_top {
        if host::unmap(new_top, old_top - new_top).is_err() {
            return brk.current;
        }
        VMAS.lock().remove(new_top, old_top);
    }
    brk.current = addr;
    addr
}
