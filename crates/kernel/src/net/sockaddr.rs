//! Socket addresses crossing between the guest and the host.
//!
//! An address the guest passes in is copied into kernel memory once
//! ([`SockAddr::read`]), checked, and the host reads the copy. An address
//! the host returns is written into kernel memory and copied out to the
//! guest's buffer, truncated to the length the guest offered, with the
//! full length written back, as Linux does ([`AddrOut`]).

use oxbox_abi::hostcalls::AF_UNIX;

use crate::Errno;
use crate::fs::path::{self, Route};
use crate::mm::user;

/// `sizeof(struct sockaddr_storage)`: the longest address Linux accepts.
pub const SOCKADDR_MAX: usize = 128;
/// Offset of `sun_path` in `struct sockaddr_un` (after `sun_family`).
const SUN_PATH_OFFSET: usize = 2;

/// A socket address copied in from the guest.
pub struct SockAddr {
    bytes: [u8; SOCKADDR_MAX],
    len: usize,
}

impl SockAddr {
    /// Copies the guest's `len`-byte address at `addr`: `EINVAL` for a
    /// negative or too long length, `EFAULT` if it cannot be read.
    pub fn read(addr: u64, len: u64) -> Result<SockAddr, Errno> {
        let len = len as i32;
        if len < 0 || len as usize > SOCKADDR_MAX {
            return Err(Errno::EINVAL);
        }
        let mut bytes = [0u8; SOCKADDR_MAX];
        user::copy_in(&mut bytes[..len as usize], addr)?;
        Ok(SockAddr {
            bytes,
            len: len as usize,
        })
    }

    /// The (pointer, length) the host reads the address from.
    pub fn host_args(&self) -> (u64, u64) {
        (self.bytes.as_ptr() as u64, self.len as u64)
    }

    /// The address as the guest gave it.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn family(&self) -> Option<u32> {
        (self.len >= 2).then(|| u16::from_le_bytes([self.bytes[0], self.bytes[1]]) as u32)
    }

    /// The file-system path of a unix address (not an abstract or unnamed
    /// one): `sun_path` up to its first NUL.
    pub fn unix_path(&self) -> Option<&[u8]> {
        if self.family() != Some(AF_UNIX) || self.len <= SUN_PATH_OFFSET {
            return None;
        }
        let raw = &self.bytes[SUN_PATH_OFFSET..self.len];
        if raw[0] == 0 {
            return None;
        }
        let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
        Some(&raw[..end])
    }

    /// Refuses a unix socket path that leads into the kernel's own file
    /// systems (`/proc`, the synthetic `/dev` names): no socket lives
    /// there. `err` is what the call gives for it: `EADDRINUSE` for bind
    /// (the name is taken), `ECONNREFUSED` for connect and sendto.
    pub fn check_unix_route(&self, err: Errno) -> Result<(), Errno> {
        match self.unix_path() {
            Some(p) if path::route(p) != Route::Host => Err(err),
            _ => Ok(()),
        }
    }
}

/// A guest buffer and length word to receive an address from the host.
pub struct AddrOut {
    addr: u64,
    len_ptr: u64,
    /// What the guest's length word said: the most bytes copied out.
    capacity: u32,
    bytes: [u8; SOCKADDR_MAX],
    /// The host's length word, in and out.
    len: u32,
}

impl AddrOut {
    /// Reads the guest's length word (`EFAULT`, or `EINVAL` if negative).
    /// `None` when `addr` is null and `optional` (accept, recvfrom): the
    /// caller does not want the address, and its length word is ignored.
    pub fn new(addr: u64, len_ptr: u64, optional: bool) -> Result<Option<AddrOut>, Errno> {
        if addr == 0 && optional {
            return Ok(None);
        }
        let mut word = [0u8; 4];
        user::copy_in(&mut word, len_ptr)?;
        let capacity = u32::from_le_bytes(word);
        if (capacity as i32) < 0 {
            return Err(Errno::EINVAL);
        }
        Ok(Some(AddrOut::with_capacity(addr, len_ptr, capacity)))
    }

    /// An address buffer whose length the caller already read (the
    /// `msg_name`/`msg_namelen` pair of a `struct msghdr`).
    pub fn with_capacity(addr: u64, len_ptr: u64, capacity: u32) -> AddrOut {
        AddrOut {
            addr,
            len_ptr,
            capacity,
            bytes: [0; SOCKADDR_MAX],
            len: SOCKADDR_MAX as u32,
        }
    }

    /// The (buffer, length word) pointers the host writes through; `self`
    /// must stay where it is until the host call returns.
    pub fn host_ptrs(&mut self) -> (u64, u64) {
        (
            self.bytes.as_mut_ptr() as u64,
            &mut self.len as *mut u32 as u64,
        )
    }

    /// Copies the host's answer out to the guest.
    pub fn copy_out(&self) -> Result<(), Errno> {
        let shown = self.len.min(self.capacity).min(SOCKADDR_MAX as u32) as usize;
        user::copy_out(self.addr, &self.bytes[..shown])?;
        user::write_u32(self.len_ptr, self.len)
    }

    /// Takes an address the kernel made (the sandbox stack's).
    pub fn set(&mut self, address: &[u8]) {
        let len = address.len().min(SOCKADDR_MAX);
        self.bytes[..len].copy_from_slice(&address[..len]);
        self.len = len as u32;
    }

    /// Takes the host's `msg_namelen` after a `recvmsg`.
    pub fn set_len(&mut self, len: u32) {
        self.len = len;
    }
}

/// Host pointers for an optional [`AddrOut`]: nulls when there is none.
pub fn host_ptrs(out: &mut Option<AddrOut>) -> (u64, u64) {
    out.as_mut().map_or((0, 0), AddrOut::host_ptrs)
}
