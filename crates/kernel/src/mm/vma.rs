//! The kernel's map of the guest's memory mappings.
//!
//! The host has the real page tables; the kernel keeps this map because
//! the guest must never see the host's `/proc`: `/proc/self/maps` is
//! rendered from it, and it is where memory calls are checked against the
//! kernel's own regions.
//!
//! The kernel's regions (its area at `KERNEL_BASE`, the slot table and
//! trampoline pages) are never recorded, so `/proc/self/maps` does not
//! list them: to the guest they are address ranges it cannot use, where
//! `MAP_FIXED` fails with `ENOMEM`, a hint is moved elsewhere and
//! `munmap`/`mprotect`/`madvise`/`mremap` fail (see `syscall::mm`). A
//! listing would only tell a guest where to aim wild writes.

use alloc::collections::BTreeMap;
use alloc::string::String;
use core::fmt::Write;

use spin::Mutex;

pub const PROT_READ: u32 = 1;
pub const PROT_WRITE: u32 = 2;
pub const PROT_EXEC: u32 = 4;

/// One mapping: `[start, end)` with its protection and what backs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    pub end: u64,
    pub prot: u32,
    pub shared: bool,
    /// File offset of `start`, for file mappings.
    pub offset: u64,
    /// Path of the file, or a pseudo-name (`[stack]`, `[heap]`, `[vdso]`).
    pub name: String,
}

/// Mappings keyed by start address; they never overlap.
#[derive(Default, Debug)]
pub struct VmaMap {
    map: BTreeMap<u64, Vma>,
}

impl VmaMap {
    pub const fn new() -> Self {
        Self {
            map: BTreeMap::new(),
        }
    }

    /// Records a new mapping, replacing whatever it covers (as `MAP_FIXED`).
    pub fn insert(&mut self, start: u64, vma: Vma) {
        self.remove(start, vma.end);
        self.map.insert(start, vma);
    }

    /// Forgets `[start, end)`, splitting mappings that straddle its edges.
    pub fn remove(&mut self, start: u64, end: u64) {
        self.split_at(start);
        self.split_at(end);
        let doomed: alloc::vec::Vec<u64> = self.map.range(start..end).map(|(s, _)| *s).collect();
        for s in doomed {
            self.map.remove(&s);
        }
    }

    /// Changes the protection of `[start, end)`.
    pub fn protect(&mut self, start: u64, end: u64, prot: u32) {
        self.split_at(start);
        self.split_at(end);
        for (_, vma) in self.map.range_mut(start..end) {
            vma.prot = prot;
        }
    }

    /// Splits the mapping containing `at` (if any) so that one starts there.
    fn split_at(&mut self, at: u64) {
        let Some((&start, vma)) = self.map.range(..at).next_back() else {
            return;
        };
        if vma.end <= at {
            return;
        }
        let mut tail = vma.clone();
        tail.offset += at - start;
        self.map.get_mut(&start).expect("present").end = at;
        self.map.insert(at, tail);
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &Vma)> {
        self.map.iter().map(|(s, v)| (*s, v))
    }

    /// Renders the map in `/proc/<pid>/maps` format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (start, vma) in self.iter() {
            let flag = |bit: u32, c: char| if vma.prot & bit != 0 { c } else { '-' };
            let line = alloc::format!(
                "{:08x}-{:08x} {}{}{}{} {:08x} 00:00 0",
                start,
                vma.end,
                flag(PROT_READ, 'r'),
                flag(PROT_WRITE, 'w'),
                flag(PROT_EXEC, 'x'),
                if vma.shared { 's' } else { 'p' },
                vma.offset
            );
            if vma.name.is_empty() {
                let _ = writeln!(out, "{line}");
            } else {
                let _ = writeln!(out, "{line:<73}{}", vma.name);
            }
        }
        out
    }
}

/// The process's map.
pub static VMAS: Mutex<VmaMap> = Mutex::new(VmaMap::new());

#[cfg(test)]
mod tests {
    use super::*;

    fn vma(end: u64, name: &str) -> Vma {
        Vma {
            end,
            prot: PROT_READ | PROT_WRITE,
            shared: false,
            offset: 0,
            name: name.into(),
        }
    }

    #[test]
    fn unmapping_the_middle_splits_a_mapping() {
        let mut m = VmaMap::new();
        m.insert(0x1000, vma(0x5000, "/bin/x"));
        m.remove(0x2000, 0x3000);
        let spans: alloc::vec::Vec<_> = m.iter().map(|(s, v)| (s, v.end, v.offset)).collect();
        assert_eq!(spans, [(0x1000, 0x2000, 0), (0x3000, 0x5000, 0x2000)]);
    }

    #[test]
    fn protect_changes_only_the_range() {
        let mut m = VmaMap::new();
        m.insert(0x1000, vma(0x4000, ""));
        m.protect(0x2000, 0x3000, PROT_READ);
        let prots: alloc::vec::Vec<_> = m.iter().map(|(s, v)| (s, v.prot)).collect();
        assert_eq!(prots, [(0x1000, 3), (0x2000, 1), (0x3000, 3)]);
    }

    #[test]
    fn fixed_mapping_replaces_what_it_covers() {
        let mut m = VmaMap::new();
        m.insert(0x1000, vma(0x3000, "a"));
        m.insert(0x2000, vma(0x4000, "b"));
        let names: alloc::vec::Vec<_> = m.iter().map(|(s, v)| (s, v.end, v.name.clone())).collect();
        assert_eq!(
            names,
            [(0x1000, 0x2000, "a".into()), (0x2000, 0x4000, "b".into())]
        );
    }

    #[test]
    fn maps_lines_look_like_linux() {
        let mut m = VmaMap::new();
        m.insert(
            0x400000,
            Vma {
                end: 0x401000,
                prot: PROT_READ | PROT_EXEC,
                shared: false,
                offset: 0,
                name: "/bin/true".into(),
            },
        );
        let text = m.render();
        assert!(
            text.starts_with("00400000-00401000 r-xp 00000000 00:00 0"),
            "{text}"
        );
        assert!(text.trim_end().ends_with("/bin/true"));
    }
}
