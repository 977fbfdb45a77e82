//! The only code in a container that issues host system calls.
//!
//! Two doors lead to the host:
//! - [`forward`]: a guest syscall passed on with its arguments unchanged.
//!   Pointers in it are guest pointers, validated by the host kernel's own
//!   copy routines exactly as if the guest had made the call; the caller (the
//!   kernel's syscall layer) has already refused descriptors and buffers
//!   that belong to the kernel.
//! - typed wrappers for the kernel's own needs (loading executables, its
//!   heap, its log), mostly over rustix's raw Linux backend.
//!
//! Every call made here must be in `oxbox_abi::hostcalls::HOST_RULES`;
//! anything else kills the process once the seccomp filter is installed.

use core::arch::asm;
use core::ffi::CStr;

use oxbox_abi::seccomp::SockFilter;
pub use rustix::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
pub use rustix::fs::{Mode, OFlags, Stat};
pub use rustix::io::Errno;
use syscalls::Sysno;

/// Issues one raw host syscall.
///
/// # Safety
/// The arguments must be valid for `nr` as the Linux ABI defines it: any
/// pointer must be valid for the access the call makes, and the call must
/// not unmap or overwrite memory the kernel is using.
#[inline(always)]
pub unsafe fn raw_syscall(nr: usize, a: [u64; 6]) -> Result<u64, Errno> {
    let ret: isize;
    // SAFETY: the caller guarantees the arguments are valid for `nr`; the
    // `syscall` instruction clobbers only rax, rcx and r11.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    if (-4095..0).contains(&ret) {
        Err(Errno::from_raw_os_error(-ret as i32))
    } else {
        Ok(ret as u64)
    }
}

/// Passes a guest syscall to the host unchanged.
///
/// This is as safe for the kernel as the guest issuing the call itself,
/// provided the kernel's syscall layer has refused arguments that name the
/// kernel's descriptors or memory, which it does before forwarding.
pub fn forward(nr: usize, args: [u64; 6]) -> Result<u64, Errno> {
    // SAFETY: see above; the host validates guest pointers itself and the
    // kernel's own resources have been excluded by the caller.
    unsafe { raw_syscall(nr, args) }
}

/// Writes all of `bytes` to `fd`, retrying on short writes.
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return Err(Errno::IO),
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Borrows a descriptor number the kernel knows to be open (its log, a
/// guest descriptor it is about to operate on).
pub fn borrow_fd(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: a BorrowedFd only names the number; operations on a closed
    // descriptor fail with EBADF, which every caller handles.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Opens `path` relative to the current directory.
pub fn open(path: &CStr, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(rustix::fs::CWD, path, flags | OFlags::CLOEXEC, mode)
}

/// Reads into `buf` at `offset`, returning the number of bytes read.
pub fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    rustix::io::pread(fd, buf, offset)
}

pub fn fstat(fd: BorrowedFd<'_>) -> Result<Stat, Errno> {
    rustix::fs::fstat(fd)
}

/// `faccessat(AT_FDCWD, path, X_OK)`: whether the kernel may execute `path`.
pub fn executable(path: &CStr) -> Result<(), Errno> {
    rustix::fs::accessat(
        rustix::fs::CWD,
        path,
        rustix::fs::Access::EXEC_OK,
        rustix::fs::AtFlags::empty(),
    )
}

/// Fills `buf` with random bytes from the host.
pub fn getrandom(buf: &mut [u8]) -> Result<(), Errno> {
    let mut done = 0;
    while done < buf.len() {
        done += rustix::rand::getrandom(&mut buf[done..], rustix::rand::GetRandomFlags::empty())?;
    }
    Ok(())
}

/// Ends the whole process.
pub fn exit_group(status: i32) -> ! {
    // SAFETY: exit_group takes no pointers and does not return.
    let _ = unsafe { raw_syscall(Sysno::exit_group as usize, [status as u64, 0, 0, 0, 0, 0]) };
    unreachable!("exit_group returned")
}

/// Host `uname`, for the kernel release the guest sees.
pub fn uname() -> rustix::system::Uname {
    rustix::system::uname()
}

/// The host's current directory of this process, into `buf`; returns the length.
pub fn getcwd(buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `buf` is a valid writable buffer of the given length.
    let len = unsafe {
        raw_syscall(
            Sysno::getcwd as usize,
            [buf.as_mut_ptr() as u64, buf.len() as u64, 0, 0, 0, 0],
        )?
    };
    // The host returns the length including the terminating NUL.
    Ok(len.saturating_sub(1) as usize)
}

/// A memory protection, as `PROT_*` bits.
pub type Prot = rustix::mm::ProtFlags;

/// Maps anonymous private memory at exactly `addr` without replacing
/// anything already there (`MAP_FIXED_NOREPLACE`).
pub fn map_anonymous_at(addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
    let flags = rustix::mm::MapFlags::PRIVATE
        | rustix::mm::MapFlags::FIXED_NOREPLACE
        | rustix::mm::MapFlags::NORESERVE;
    // SAFETY: FIXED_NOREPLACE never replaces an existing mapping, so no
    // memory in use can be affected.
    let got = unsafe { rustix::mm::mmap_anonymous(addr as *mut _, len as usize, prot, flags)? };
    if got as u64 != addr {
        return Err(Errno::EXIST);
    }
    Ok(())
}

/// Maps anonymous private memory wherever the host chooses.
pub fn map_anonymous(len: u64, prot: Prot) -> Result<u64, Errno> {
    let flags = rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::NORESERVE;
    // SAFETY: a non-fixed mapping never affects existing memory.
    Ok(
        unsafe { rustix::mm::mmap_anonymous(core::ptr::null_mut(), len as usize, prot, flags)? }
            as u64,
    )
}

/// Maps `len` bytes of `fd` at `offset` to exactly `addr`, replacing what
/// is there. Used by the ELF loader inside a reservation it owns.
pub fn map_file_fixed(
    addr: u64,
    len: u64,
    prot: Prot,
    fd: BorrowedFd<'_>,
    offset: u64,
) -> Result<(), Errno> {
    oxbox_abi_guard(addr, len)?;
    let flags = rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::FIXED;
    // SAFETY: the range lies outside the kernel's area (checked above) and
    // inside a reservation made by the loader for the guest image.
    unsafe { rustix::mm::mmap(addr as *mut _, len as usize, prot, flags, fd, offset)? };
    Ok(())
}

/// Maps anonymous memory to exactly `addr`, replacing what is there.
pub fn map_anonymous_fixed(addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
    oxbox_abi_guard(addr, len)?;
    let flags = rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::FIXED;
    // SAFETY: the range lies outside the kernel's area (checked above).
    unsafe { rustix::mm::mmap_anonymous(addr as *mut _, len as usize, prot, flags)? };
    Ok(())
}

/// Changes the protection of guest memory.
pub fn protect(addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
    oxbox_abi_guard(addr, len)?;
    // SAFETY: the range lies outside the kernel's area (checked above).
    unsafe {
        rustix::mm::mprotect(
            addr as *mut _,
            len as usize,
            rustix::mm::MprotectFlags::from_bits_retain(prot.bits()),
        )?
    };
    Ok(())
}

/// Unmaps guest memory.
pub fn unmap(addr: u64, len: u64) -> Result<(), Errno> {
    oxbox_abi_guard(addr, len)?;
    // SAFETY: the range lies outside the kernel's area (checked above).
    unsafe { rustix::mm::munmap(addr as *mut _, len as usize)? };
    Ok(())
}

fn oxbox_abi_guard(addr: u64, len: u64) -> Result<(), Errno> {
    if oxbox_abi::layout::overlaps_kernel(addr, len) {
        Err(Errno::INVAL)
    } else {
        Ok(())
    }
}

/// Creates a sealed, read-only-content memory file holding `contents`:
/// how the kernel hands a synthetic file (a `/proc` entry) to the guest as
/// a real host descriptor, so that read, lseek, poll and mmap just work.
pub fn sealed_memfd(name: &CStr, contents: &[u8]) -> Result<OwnedFd, Errno> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    write_all(fd.as_fd(), contents)?;
    rustix::fs::seek(&fd, rustix::fs::SeekFrom::Start(0))?;
    rustix::fs::fcntl_add_seals(
        &fd,
        SealFlags::WRITE | SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL,
    )?;
    Ok(fd)
}

/// Installs a seccomp filter on the calling thread (and, by inheritance,
/// every thread and process it creates). Sets no_new_privs first, which the
/// host requires of an unprivileged filter and oxbox wants anyway.
pub fn install_seccomp(program: &[SockFilter]) -> Result<(), Errno> {
    rustix::thread::set_no_new_privs(true)?;
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const SockFilter,
    }
    let prog = SockFprog {
        len: program.len() as u16,
        filter: program.as_ptr(),
    };
    const SECCOMP_SET_MODE_FILTER: u64 = 1;
    // SAFETY: `prog` points to a valid program that outlives the call; the
    // host copies it.
    unsafe {
        raw_syscall(
            Sysno::seccomp as usize,
            [
                SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const _ as u64,
                0,
                0,
                0,
            ],
        )?;
    }
    Ok(())
}

/// Sets the GS base of the calling thread: where the kernel keeps its
/// per-thread context. Only used before the seccomp filter is installed.
pub fn set_gs_base(addr: u64) -> Result<(), Errno> {
    const ARCH_SET_GS: u64 = 0x1001;
    // SAFETY: changing GS affects only code that reads through `%gs`, which
    // is the kernel's own entry code; the guest does not use GS on x86-64.
    unsafe { raw_syscall(Sysno::arch_prctl as usize, [ARCH_SET_GS, addr, 0, 0, 0, 0])? };
    Ok(())
}
