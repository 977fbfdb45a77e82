//! Guest memory: checked access, the map of guest mappings, and `brk`.

pub mod brk;
pub mod user;
pub mod vma;

pub const PAGE_SIZE: u64 = 4096;

pub const fn page_down(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

pub const fn page_up(addr: u64) -> u64 {
    addr.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}
