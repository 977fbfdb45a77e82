//! The container's process table, in the memory every process of the
//! container shares (`oxbox_hal::shared`): each kernel instance publishes
//! its own process (pid, parent, name, command line, ids) and reads the
//! others' to answer `/proc/<pid>` for them, so `ps` lists the container.
//!
//! A slot is claimed by compare-and-swap on its pid word and rewritten
//! only by its process, except its state word: a stopped process runs no
//! code, so the process that stops or continues it (`kill` with SIGSTOP
//! or SIGCONT) or that learns of it (a parent's `wait` reporting a stop or
//! a continue, as Ctrl-Z's job control does) records it. Readers may see
//! a half-written name, as they may race a changing process on Linux.
//! Process groups and sessions are the host's, asked when read. A process that died without clearing
//! its slot (killed) is recognized as dead by the host (`kill(pid, 0)`
//! fails) and its slot reused.

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use oxbox_abi::Sysno;
use oxbox_hal::shared;

use crate::task;

const SLOT_WORDS: usize = 64;
const SLOTS: usize = shared::WORDS / SLOT_WORDS;
// Word offsets inside a slot.
const PID: usize = 0;
const PPID: usize = 1;
const STATE: usize = 2;
const IDS: usize = 3;
const CMDLINE_LEN: usize = 4;
/// A syscall site a fork child of this process trapped at (see
/// [`tell_parent_site`]); 0 when none.
const CHILD_SITE: usize = 5;
const COMM: usize = 6;
const COMM_WORDS: usize = 2;
const CMDLINE: usize = 8;
const CMDLINE_WORDS: usize = SLOT_WORDS - CMDLINE;

/// A process of the container as its own kernel published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    /// `R` running, `S` sleeping, `T` stopped, `Z` exited and not yet
    /// reaped.
    pub state: u8,
    pub pgrp: i32,
    pub session: i32,
    pub uid: u32,
    pub gid: u32,
    pub comm: String,
    /// NUL-separated arguments (cut to what a slot holds).
    pub cmdline: Vec<u8>,
}

fn slot(index: usize) -> Option<&'static [AtomicU64]> {
    shared::words().map(|w| &w[index * SLOT_WORDS..(index + 1) * SLOT_WORDS])
}

fn alive(pid: i32) -> bool {
    crate::syscall::host_call(Sysno::kill, [pid as u64, 0, 0, 0, 0, 0]) != Err(crate::Errno::ESRCH)
}

/// The slots in the order process `pid` probes them, from `pid % SLOTS`.
/// A process claims the first free slot in its order (or, when none is
/// free, one of a dead process) and slots are never freed back, so the
/// slot `pid` holds, if any, comes before the first free one: probing
/// stops there, and a new process touches a slot or two of the shared
/// area instead of all its pages (each a page fault in every fork child).
fn probe(pid: u64) -> impl Iterator<Item = &'static [AtomicU64]> {
    let start = pid as usize % SLOTS;
    (0..SLOTS)
        .map(move |i| (start + i) % SLOTS)
        .filter_map(slot)
}

/// This process's slot: the one it holds, else a free one, else one of a
/// dead process.
fn own_slot() -> Option<&'static [AtomicU64]> {
    let pid = task::pid() as u64;
    let claim = |s: &'static [AtomicU64], from: u64| {
        s[PID]
            .compare_exchange(from, pid, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    };
    // A free slot another process claims first is passed over for the
    // next one.
    let found = probe(pid).find(|s| match s[PID].load(Ordering::Acquire) {
        0 => claim(s, 0),
        held => held == pid,
    });
    found.or_else(|| {
        probe(pid).find(|s| {
            let other = s[PID].load(Ordering::Acquire);
            !alive(other as i32) && claim(s, other)
        })
    })
}

fn store_bytes(words: &[AtomicU64], bytes: &[u8]) {
    for (i, word) in words.iter().enumerate() {
        let mut chunk = [0u8; 8];
        let from = (i * 8).min(bytes.len());
        let to = (i * 8 + 8).min(bytes.len());
        chunk[..to - from].copy_from_slice(&bytes[from..to]);
        word.store(u64::from_le_bytes(chunk), Ordering::Relaxed);
    }
}

fn load_bytes(words: &[AtomicU64], len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = words
        .iter()
        .flat_map(|w| w.load(Ordering::Relaxed).to_le_bytes())
        .collect();
    out.truncate(len);
    out
}

/// Publishes this process (at boot, after a fork, after an exec).
pub fn publish() {
    let Some(s) = own_slot() else {
        return;
    };
    let c = task::container();
    s[PPID].store(task::ppid() as u64, Ordering::Relaxed);
    s[STATE].store(b'S' as u64, Ordering::Relaxed);
    s[IDS].store((c.uid as u64) << 32 | c.gid as u64, Ordering::Relaxed);
    s[CHILD_SITE].store(0, Ordering::Relaxed);
    // Copied straight from the image: no allocation, so a fork child
    // writes none of the heap pages it shares with its parent.
    task::with_image(|image| {
        let comm = crate::fs::procfs::comm_of(&image.exe);
        store_bytes(&s[COMM..COMM + COMM_WORDS], comm.as_bytes());
        let len = image.cmdline.len().min(CMDLINE_WORDS * 8);
        store_bytes(&s[CMDLINE..], &image.cmdline[..len]);
        s[CMDLINE_LEN].store(len as u64, Ordering::Release);
    });
}

/// Syscall sites that trap in every fork child, handed to the parent.
///
/// Some sites only ever run in a fork child: glibc's `fork` calls
/// `set_robust_list` in the child only, a child that exits right away
/// calls `exit_group` where its parent never does, a shell's child calls
/// `execve`. The child's patch dies with it, so each child of a parent
/// that forks again and again traps there anew. So a fork child that has
/// not exec'd (its image is its parent's, at the same addresses) leaves
/// the site it trapped at in its parent's slot, and the parent, at its
/// next fork, patches that site in its own memory (after the same checks
/// as a trap's patch: the bytes must be `mov $nr,%eax; syscall`), so the
/// children after it inherit the patched site. One site waits at a time;
/// another child posts the next. A post carries a tag drawn at each
/// execve of the parent, so a parent that exec'd since ignores its old
/// children's sites.
mod child_sites {
    use super::*;

    /// Whether this process is a fork child that has not exec'd and whose
    /// parent is still the one it was forked from.
    static FORK_CHILD: AtomicBool = AtomicBool::new(false);
    /// This image's tag (8 bits), drawn at boot; inherited by fork.
    static TAG: AtomicU64 = AtomicU64::new(0);

    const SITE_BITS: u32 = 47;
    const NR_BITS: u32 = 9;

    pub fn set_tag(random: u8) {
        TAG.store(random as u64, Ordering::Relaxed);
    }

    pub fn forked(yes: bool) {
        FORK_CHILD.store(yes, Ordering::Relaxed);
    }

    fn pack(site_end: u64, nr: u64) -> Option<u64> {
        (site_end != 0 && site_end < 1 << SITE_BITS && nr != 0 && nr < 1 << NR_BITS).then(|| {
            TAG.load(Ordering::Relaxed) << (SITE_BITS + NR_BITS) | nr << SITE_BITS | site_end
        })
    }

    /// In a fork child: leaves `site_end` (where call `nr` trapped) for
    /// the parent, unless another site already waits there.
    pub fn tell_parent_site(site_end: u64, nr: u64) {
        if !FORK_CHILD.load(Ordering::Relaxed) || !oxbox_hal::patch::is_patchable(site_end, nr) {
            return;
        }
        let (Some(word), Some(s)) = (pack(site_end, nr), slot_of(task::ppid())) else {
            return;
        };
        let _ = s[CHILD_SITE].compare_exchange(0, word, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// In a parent: takes the site a child left, as `(site_end, nr)`.
    pub fn take_child_site() -> Option<(u64, u64)> {
        let s = slot_of(task::pid())?;
        if s[CHILD_SITE].load(Ordering::Relaxed) == 0 {
            return None;
        }
        let word = s[CHILD_SITE].swap(0, Ordering::AcqRel);
        let tag = word >> (SITE_BITS + NR_BITS);
        let nr = (word >> SITE_BITS) & ((1 << NR_BITS) - 1);
        let site_end = word & ((1 << SITE_BITS) - 1);
        (word != 0 && tag == TAG.load(Ordering::Relaxed)).then_some((site_end, nr))
    }
}

pub use child_sites::{forked, set_tag, take_child_site, tell_parent_site};

/// Records a new parent (lock-free: called from a signal handler).
pub fn set_ppid(ppid: i32) {
    if let Some(s) = slot_of(task::pid()) {
        s[PPID].store(ppid as u64, Ordering::Relaxed);
    }
}

/// Marks this process as exited (a zombie until its parent reaps it).
pub fn exited() {
    if let Some(s) = own_slot() {
        s[STATE].store(b'Z' as u64, Ordering::Release);
    }
}

/// The slot of process `pid`, if it published one.
fn slot_of(pid: i32) -> Option<&'static [AtomicU64]> {
    probe(pid as u64)
        .map(|s| (s, s[PID].load(Ordering::Acquire)))
        .take_while(|(_, held)| *held != 0)
        .find(|(_, held)| *held == pid as u64)
        .map(|(s, _)| s)
}

/// The host's process group (or session, with `getsid`) of `pid`.
pub fn host_group(call: Sysno, pid: i32) -> i32 {
    crate::syscall::host_call(call, [pid as u64, 0, 0, 0, 0, 0]).map_or(0, |g| g as i32)
}

const SIGSTOP: u64 = 19;
const SIGCONT: u64 = 18;

/// Records the state `kill(target, sig)` gives the processes it reaches
/// (a `target` as `kill` takes it: a pid, 0 for the caller's group, -1
/// for all, -pgrp for a group): stopped by SIGSTOP, running after
/// SIGCONT. Called before the signal is sent (a process stopping its own
/// group stops at once), and again with the old state if sending failed.
pub fn signal_sent(target: i64, sig: u64) -> Option<impl FnOnce()> {
    let state = match sig {
        SIGSTOP => b'T',
        SIGCONT => b'S',
        _ => return None,
    };
    let group = match target {
        0 => Some(host_group(Sysno::getpgid, 0)),
        t if t < -1 => Some(-t as i32),
        _ => None,
    };
    let reached: Vec<(&'static [AtomicU64], u64)> = (0..SLOTS)
        .filter_map(slot)
        .filter(|s| {
            let pid = s[PID].load(Ordering::Acquire) as i32;
            pid > 0
                && s[STATE].load(Ordering::Relaxed) != b'Z' as u64
                && match group {
                    Some(g) => host_group(Sysno::getpgid, pid) == g,
                    None => target == -1 || pid as i64 == target,
                }
        })
        .map(|s| (s, s[STATE].swap(state as u64, Ordering::AcqRel)))
        .collect();
    Some(move || {
        for (s, old) in reached {
            s[STATE].store(old, Ordering::Release);
        }
    })
}

/// Records what a `wait` told a parent about child `pid`: stopped
/// (`stopped` true) or continued.
pub fn child_changed(pid: i32, stopped: bool) {
    if let Some(s) = slot_of(pid) {
        let state = if stopped { b'T' } else { b'S' };
        s[STATE].store(state as u64, Ordering::Release);
    }
}

fn read(s: &[AtomicU64]) -> Option<ProcInfo> {
    let pid = s[PID].load(Ordering::Acquire) as i32;
    if pid <= 0 {
        return None;
    }
    let ids = s[IDS].load(Ordering::Relaxed);
    let len = (s[CMDLINE_LEN].load(Ordering::Acquire) as usize).min(CMDLINE_WORDS * 8);
    let comm = load_bytes(&s[COMM..COMM + COMM_WORDS], 16);
    let comm_len = comm.iter().position(|b| *b == 0).unwrap_or(comm.len());
    Some(ProcInfo {
        pid,
        ppid: s[PPID].load(Ordering::Relaxed) as i32,
        state: s[STATE].load(Ordering::Relaxed) as u8,
        pgrp: host_group(Sysno::getpgid, pid),
        session: host_group(Sysno::getsid, pid),
        uid: (ids >> 32) as u32,
        gid: ids as u32,
        comm: String::from_utf8_lossy(&comm[..comm_len]).into_owned(),
        cmdline: load_bytes(&s[CMDLINE..], len),
    })
}

/// The other live processes of the container, by pid.
pub fn others() -> Vec<ProcInfo> {
    let me = task::pid();
    let mut out: Vec<ProcInfo> = (0..SLOTS)
        .filter_map(slot)
        .filter_map(read)
        .filter(|p| p.pid != me && alive(p.pid))
        .collect();
    out.sort_by_key(|p| p.pid);
    out.dedup_by_key(|p| p.pid);
    out
}

/// Another live process of the container.
pub fn other(pid: i32) -> Option<ProcInfo> {
    if pid == task::pid() || pid <= 0 {
        return None;
    }
    slot_of(pid).and_then(read).filter(|p| alive(p.pid))
}
