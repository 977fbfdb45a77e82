//! Memory syscalls: passed to the host, never over the kernel's own
//! regions, and recorded in the VMA map.

use alloc::string::String;

use oxbox_abi::layout::{KERNEL_AREA, overlaps_kernel};

use super::Call;
use crate::fs::fdtable::{self, guest_fd};
use crate::mm::vma::{VMAS, Vma};
use crate::mm::{brk, page_up};
use crate::{Errno, SysResult};

const MAP_SHARED: u64 = 0x01;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;

pub fn sys_mmap(call: &Call) -> SysResult {
    let (addr, len, prot, flags, fd, offset) = (
        call.arg(0),
        call.arg(1),
        call.arg(2),
        call.arg(3),
        call.arg(4),
        call.arg(5),
    );
    let mut args = call.args;
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
        if overlaps_kernel(addr, page_up(len)) {
            return Err(Errno::ENOMEM);
        }
    } else if KERNEL_AREA.contains(&addr) {
        // A hint into the kernel's area is just a hint: drop it.
        args[0] = 0;
    }
    let name = if flags & MAP_ANONYMOUS == 0 {
        let fd = guest_fd(fd)?;
        if fdtable::is_synthetic_dir(fd) {
            return Err(Errno::ENODEV);
        }
        fdtable::path_of(fd).unwrap_or_default()
    } else {
        String::new()
    };
    let start = Call { nr: call.nr, args }.forward()?;
    VMAS.lock().insert(
        start,
        Vma {
            end: start + page_up(len),
            prot: prot as u32,
            shared: flags & MAP_SHARED != 0,
            offset: if name.is_empty() { 0 } else { offset },
            name,
        },
    );
    Ok(start)
}

pub fn sys_munmap(call: &Call) -> SysResult {
    let (addr, len) = (call.arg(0), call.arg(1));
    if overlaps_kernel(addr, page_up(len)) {
        return Err(Errno::EINVAL);
    }
    call.forward()?;
    VMAS.lock().remove(addr, addr + page_up(len));
    Ok(0)
}

pub fn sys_mprotect(call: &Call) -> SysResult {
    let (addr, len, prot) = (call.arg(0), call.arg(1), call.arg(2));
    if overlaps_kernel(addr, page_up(len)) {
        return Err(Errno::ENOMEM);
    }
    call.forward()?;
    VMAS.lock().protect(addr, addr + page_up(len), prot as u32);
    Ok(0)
}

pub fn sys_mremap(call: &Call) -> SysResult {
    let (old, old_len, new_len, flags, new_addr) = (
        call.arg(0),
        call.arg(1),
        call.arg(2),
        call.arg(3),
        call.arg(4),
    );
    const MREMAP_FIXED: u64 = 2;
    if overlaps_kernel(old, page_up(old_len))
        || (flags & MREMAP_FIXED != 0 && overlaps_kernel(new_addr, page_up(new_len)))
    {
        return Err(Errno::EINVAL);
    }
    let start = call.forward()?;
    let mut vmas = VMAS.lock();
    let template = vmas
        .iter()
        .find(|(s, v)| *s <= old && old < v.end)
        .map(|(_, v)| v.clone());
    vmas.remove(old, old + page_up(old_len));
    if let Some(mut vma) = template {
        vma.end = start + page_up(new_len);
        vmas.insert(start, vma);
    }
    Ok(start)
}

/// madvise, msync, mlock-style calls on a range: never on kernel memory.
pub fn sys_range_advice(call: &Call) -> SysResult {
    if overlaps_kernel(call.arg(0), page_up(call.arg(1))) {
        return Err(Errno::EINVAL);
    }
    call.forward()
}

pub fn sys_brk(call: &Call) -> SysResult {
    Ok(brk::set(call.arg(0)))
}
