//! Per-syscall counters: how many calls came through patched sites, how
//! many trapped, and how many sites were patched. Printed at exit when the
//! runtime asks (`oxbox do --stats` or `OXBOX_STATS=1`), one line per
//! syscall number:
//! `oxbox-stats syscall=<name> nr=<n> patched=<n> trapped=<n>`
//! and a total line `oxbox-stats total patched=<n> trapped=<n> sites=<n>`.

use alloc::string::String;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use oxbox_abi::Sysno;
use oxbox_abi::layout::SLOT_COUNT;

static ENABLED: AtomicBool = AtomicBool::new(false);
static PATCHED: [AtomicU64; SLOT_COUNT] = [const { AtomicU64::new(0) }; SLOT_COUNT];
static TRAPPED: [AtomicU64; SLOT_COUNT] = [const { AtomicU64::new(0) }; SLOT_COUNT];
static SITES: AtomicU64 = AtomicU64::new(0);

pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Counting costs an atomic add, so it is done only when asked for.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub fn count(nr: u64, patched: bool) {
    if let Some(counter) = if patched {
        PATCHED.get(nr as usize)
    } else {
        TRAPPED.get(nr as usize)
    } {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Starts the counts afresh in a new process (the child of a `fork`).
pub fn reset() {
    for counter in PATCHED.iter().chain(TRAPPED.iter()).chain([&SITES]) {
        counter.store(0, Ordering::Relaxed);
    }
}

pub fn site_patched() {
    SITES.fetch_add(1, Ordering::Relaxed);
}

/// Renders the counters in the documented line format.
pub fn render() -> String {
    let mut out = String::new();
    let (mut patched_total, mut trapped_total) = (0, 0);
    for nr in 0..SLOT_COUNT {
        let (p, t) = (
            PATCHED[nr].load(Ordering::Relaxed),
            TRAPPED[nr].load(Ordering::Relaxed),
        );
        if p + t == 0 {
            continue;
        }
        patched_total += p;
        trapped_total += t;
        let name = Sysno::new(nr).map(|s| s.name()).unwrap_or("unknown");
        let _ = writeln!(
            out,
            "oxbox-stats syscall={name} nr={nr} patched={p} trapped={t}"
        );
    }
    let sites = SITES.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "oxbox-stats total patched={patched_total} trapped={trapped_total} sites={sites}"
    );
    out
}
