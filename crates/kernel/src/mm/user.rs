//! The one way handlers touch guest memory.
//!
//! Every read or write of a guest address goes through these functions,
//! which refuse the kernel's own memory and turn faults into `EFAULT` (see
//! `oxbox_hal::usercopy`). Buffers that are passed on to the host untouched
//! are checked with [`check_buffer`], so the host never writes into the
//! kernel on a guest's behalf.

use alloc::vec;
use alloc::vec::Vec;

use oxbox_abi::layout::overlaps_kernel;
use oxbox_hal::usercopy;

use crate::Errno;

/// Longest path the kernel accepts, including the NUL (Linux's PATH_MAX).
pub const PATH_MAX: usize = 4096;

pub fn copy_in(dst: &mut [u8], addr: u64) -> Result<(), Errno> {
    usercopy::copy_in(dst, addr).map_err(crate::error::fault)
}

pub fn copy_out(addr: u64, src: &[u8]) -> Result<(), Errno> {
    usercopy::copy_out(addr, src).map_err(crate::error::fault)
}

pub fn read_bytes(addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; len];
    copy_in(&mut buf, addr)?;
    Ok(buf)
}

pub fn read_u64(addr: u64) -> Result<u64, Errno> {
    let mut b = [0u8; 8];
    copy_in(&mut b, addr)?;
    Ok(u64::from_le_bytes(b))
}

pub fn write_u64(addr: u64, value: u64) -> Result<(), Errno> {
    copy_out(addr, &value.to_le_bytes())
}

pub fn write_u32(addr: u64, value: u32) -> Result<(), Errno> {
    copy_out(addr, &value.to_le_bytes())
}

/// Reads a NUL-terminated guest string of at most `max` bytes (with NUL),
/// failing with `too_long` if it does not fit.
///
/// The string is read in chunks that double in size: a buffer of `max`
/// bytes up front (128 KiB for each `execve` argument) would be zeroed and
/// page-faulted in for every string, costing far more than the copy.
pub fn read_cstring(addr: u64, max: usize, too_long: Errno) -> Result<Vec<u8>, Errno> {
    const FIRST_CHUNK: usize = 256;
    let mut buf = Vec::new();
    let mut chunk = max.min(FIRST_CHUNK);
    loop {
        let start = buf.len();
        buf.resize(start + chunk, 0);
        let src = addr.checked_add(start as u64).ok_or(Errno::EFAULT)?;
        match usercopy::copy_in_cstr(&mut buf[start..], src).map_err(crate::error::fault)? {
            Some(len) => {
                buf.truncate(start + len);
                return Ok(buf);
            }
            None if buf.len() >= max => return Err(too_long),
            None => chunk = buf.len().min(max - buf.len()),
        }
    }
}

/// Reads a path argument: `EFAULT` if unreadable, `ENAMETOOLONG` if longer
/// than `PATH_MAX`. Empty paths are the caller's business (`ENOENT` or
/// `AT_EMPTY_PATH`).
pub fn read_path(addr: u64) -> Result<Vec<u8>, Errno> {
    read_cstring(addr, PATH_MAX, Errno::ENAMETOOLONG)
}

/// Refuses a guest buffer that overlaps the kernel's memory, before it is
/// handed to the host. Empty buffers are fine whatever their address, as
/// on Linux (`read(fd, NULL, 0)` succeeds).
pub fn check_buffer(addr: u64, len: u64) -> Result<(), Errno> {
    if len != 0 && overlaps_kernel(addr, len) {
        return Err(Errno::EFAULT);
    }
    Ok(())
}

/// `struct iovec` arrays: reads `count` entries and checks every buffer.
pub fn read_iovecs(addr: u64, count: u64) -> Result<Vec<(u64, u64)>, Errno> {
    const IOV_MAX: u64 = 1024;
    if count > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let raw = read_bytes(addr, count as usize * 16)?;
    let mut out = Vec::with_capacity(count as usize);
    for chunk in raw.chunks_exact(16) {
        let base = u64::from_le_bytes(chunk[..8].try_into().expect("8 bytes"));
        let len = u64::from_le_bytes(chunk[8..].try_into().expect("8 bytes"));
        check_buffer(base, len)?;
        out.push((base, len));
    }
    Ok(out)
}
