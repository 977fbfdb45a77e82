//! The only code in a container that issues host system calls.
//!
//! Two doors lead to the host:
//! - [`forward`]: a guest syscall passed on with its arguments unchanged.
//!   Pointers in it are guest pointers, validated by the host kernel's own
//!   copy routines exactly as if the guest had made the call; the caller (the
//!   kernel's syscall layer) has already refused descriptors and buffers
//!   that belong to the kernel.
//! - typed wrappers for the kernel's own needs (loading executables, its
//!   heap, its log).
//!
//! Both sit on one raw `syscall` instruction sequence, [`raw_syscall`]. The
//! design first named rustix's raw backend for this; it cannot be used here
//! because Cargo unifies features across the workspace, and the std side's
//! crates (tempfile...) turn on rustix's `std` feature, which would link std
//! into the freestanding kernel image.
//!
//! Every call made here must be in `oxbox_abi::hostcalls::HOST_RULES`;
//! anything else kills the process once the seccomp filter is installed.

use core::arch::asm;
use core::ffi::CStr;
use core::ops::BitOr;

pub use oxbox_abi::Errno;
use oxbox_abi::seccomp::SockFilter;
use syscalls::Sysno;

/// A host descriptor number.
pub type RawFd = i32;

/// `AT_FDCWD`: paths relative to the current directory.
pub const AT_FDCWD: RawFd = -100;

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
        Err(Errno::new(-ret as i32))
    } else {
        Ok(ret as u64)
    }
}

/// Passes a guest syscall to the host unchanged.
///
/// This is as safe for the kernel as the guest issuing the call itself,
/// provided the kernel's syscall layer has refused arguments that name the
/// kernel's descriptors or memory, which it does before forwarding.
///
/// A call that may wait ([`may_wait`]) is issued so that a guest signal
/// interrupts it even when it arrives before the host call starts (see
/// [`interruptible_syscall`]).
pub fn forward(nr: usize, args: [u64; 6]) -> Result<u64, Errno> {
    if may_wait(nr, &args) {
        // SAFETY: as below.
        return unsafe { interruptible_syscall(nr, args) };
    }
    // SAFETY: see above; the host validates guest pointers itself and the
    // kernel's own resources have been excluded by the caller.
    unsafe { raw_syscall(nr, args) }
}

/// Whether guest call `nr` with `args` may wait for an event (data, a
/// child, a lock, time passing), so that a signal must interrupt it.
fn may_wait(nr: usize, args: &[u64; 6]) -> bool {
    const WNOHANG: u64 = 1;
    const MSG_DONTWAIT: u64 = 0x40;
    const FUTEX_CMD_MASK: u64 = 0x7f;
    const FUTEX_WAIT: u64 = 0;
    const FUTEX_WAIT_BITSET: u64 = 9;
    let Some(call) = Sysno::new(nr) else {
        return false;
    };
    use Sysno::*;
    match call {
        read | write | readv | writev | accept | accept4 | connect | nanosleep
        | clock_nanosleep | poll | ppoll | select | pselect6 | epoll_wait | epoll_pwait
        | epoll_pwait2 | rt_sigsuspend | rt_sigtimedwait | pause | flock | msgrcv | msgsnd
        | semop | semtimedop | sendfile | splice | tee => true,
        recvfrom | sendto | recvmsg | sendmsg | recvmmsg | sendmmsg => {
            let flags = match call {
                recvfrom | sendto | recvmmsg | sendmmsg => args[3],
                _ => args[2],
            };
            flags & MSG_DONTWAIT == 0
        }
        wait4 => args[2] & WNOHANG == 0,
        waitid => args[3] & WNOHANG == 0,
        futex => [FUTEX_WAIT, FUTEX_WAIT_BITSET].contains(&(args[1] & FUTEX_CMD_MASK)),
        _ => false,
    }
}

unsafe extern "C" {
    fn oxbox_interruptible_syscall(nr: usize, a: *const [u64; 6]) -> isize;
    static oxbox_interruptible_check: u8;
    static oxbox_interruptible_syscall_insn: u8;
    static oxbox_interruptible_eintr: u8;
}

// A `syscall` preceded by a check of the thread's pending guest signals
// (those its mask does not block): a signal the kernel's handler takes
// from `oxbox_interruptible_check` up to the `syscall` instruction itself
// makes the handler resume at `oxbox_interruptible_eintr` instead
// ([`interrupted_resume_at`]), so the call fails with EINTR as on Linux,
// where the signal would have been seen before the call went to sleep.
// A signal during the host call interrupts it (the kernel's handlers have
// no SA_RESTART). `rcx` and `r11` are free: `syscall` clobbers them.
core::arch::global_asm!(
    ".globl oxbox_interruptible_syscall",
    "oxbox_interruptible_syscall:",
    "    mov %rdi, %rax",
    "    mov 0(%rsi), %rdi",
    "    mov 24(%rsi), %r10",
    "    mov 32(%rsi), %r8",
    "    mov 40(%rsi), %r9",
    "    mov 16(%rsi), %rdx",
    "    mov 8(%rsi), %rsi",
    ".globl oxbox_interruptible_check",
    "oxbox_interruptible_check:",
    "    mov %gs:{mask}, %rcx",
    "    not %rcx",
    "    and %gs:{pending}, %rcx",
    "    jnz oxbox_interruptible_eintr",
    ".globl oxbox_interruptible_syscall_insn",
    "oxbox_interruptible_syscall_insn:",
    "    syscall",
    "    ret",
    ".globl oxbox_interruptible_eintr",
    "oxbox_interruptible_eintr:",
    "    mov $-4, %rax",
    "    ret",
    mask = const crate::cpu::CTX_SIGNALS_MASK,
    pending = const crate::cpu::CTX_SIGNALS_PENDING,
    options(att_syntax)
);

/// Issues `nr` like [`raw_syscall`], failing it with EINTR if a guest
/// signal the thread does not block is pending before the host call starts.
///
/// # Safety
/// As [`raw_syscall`]; the calling thread's context (GS base) is set up.
unsafe fn interruptible_syscall(nr: usize, a: [u64; 6]) -> Result<u64, Errno> {
    // SAFETY: the caller guarantees the arguments; the routine reads `a`
    // and the thread's context and clobbers only what a call may.
    let ret = unsafe { oxbox_interruptible_syscall(nr, &a) };
    if (-4095..0).contains(&ret) {
        Err(Errno::new(-ret as i32))
    } else {
        Ok(ret as u64)
    }
}

/// Where a thread a signal interrupted at `rip` must resume: the EINTR
/// exit when it was about to issue an interruptible host call, which the
/// signal must cut short.
pub(crate) fn interrupted_resume_at(rip: u64) -> Option<u64> {
    let check = &raw const oxbox_interruptible_check as u64;
    let insn = &raw const oxbox_interruptible_syscall_insn as u64;
    (check..=insn)
        .contains(&rip)
        .then_some(&raw const oxbox_interruptible_eintr as u64)
}

/// Issues a call whose arguments are plain numbers (no pointers).
fn plain(nr: Sysno, args: [u64; 6]) -> Result<u64, Errno> {
    // SAFETY: callers pass only numbers, or pointers to live kernel buffers
    // of the size the call expects (documented at each call site).
    unsafe { raw_syscall(nr as usize, args) }
}

/// A descriptor the kernel owns; closed when dropped.
#[derive(Debug)]
pub struct OwnedFd(RawFd);

impl OwnedFd {
    pub fn raw(&self) -> RawFd {
        self.0
    }

    /// Gives up ownership without closing (the descriptor goes to the guest).
    pub fn into_raw(self) -> RawFd {
        let fd = self.0;
        core::mem::forget(self);
        fd
    }
}

impl Drop for OwnedFd {
    fn drop(&mut self) {
        let _ = plain(Sysno::close, [self.0 as u64, 0, 0, 0, 0, 0]);
    }
}

/// Writes all of `bytes` to `fd`, retrying on short writes.
pub fn write_all(fd: RawFd, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a live kernel buffer of the given length.
        match unsafe {
            raw_syscall(
                Sysno::write as usize,
                [
                    fd as u64,
                    bytes.as_ptr() as u64,
                    bytes.len() as u64,
                    0,
                    0,
                    0,
                ],
            )
        } {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => bytes = &bytes[n as usize..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Opens `path` read-only (close-on-exec) relative to the current directory.
pub fn open_read(path: &CStr) -> Result<OwnedFd, Errno> {
    const O_RDONLY_CLOEXEC: u64 = 0o2000000;
    // SAFETY: `path` is a NUL-terminated kernel string.
    let fd = unsafe {
        raw_syscall(
            Sysno::openat as usize,
            [
                AT_FDCWD as u64,
                path.as_ptr() as u64,
                O_RDONLY_CLOEXEC,
                0,
                0,
                0,
            ],
        )?
    };
    Ok(OwnedFd(fd as RawFd))
}

/// Reads into `buf` at `offset`, returning the number of bytes read.
pub fn pread(fd: RawFd, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    // SAFETY: `buf` is a live, writable kernel buffer of the given length.
    unsafe {
        raw_syscall(
            Sysno::pread64 as usize,
            [
                fd as u64,
                buf.as_mut_ptr() as u64,
                buf.len() as u64,
                offset,
                0,
                0,
            ],
        )
    }
    .map(|n| n as usize)
}

/// The fields of `struct stat` the kernel uses.
#[derive(Clone, Copy, Debug)]
pub struct FileStat {
    pub mode: u32,
    pub ino: u64,
    pub rdev: u64,
}

pub fn fstat(fd: RawFd) -> Result<FileStat, Errno> {
    let mut raw = [0u8; 144];
    // SAFETY: `raw` is a 144-byte buffer, the size of x86-64 `struct stat`.
    unsafe {
        raw_syscall(
            Sysno::fstat as usize,
            [fd as u64, raw.as_mut_ptr() as u64, 0, 0, 0, 0],
        )?
    };
    let word = |off: usize| u64::from_le_bytes(raw[off..off + 8].try_into().expect("8 bytes"));
    Ok(FileStat {
        mode: u32::from_le_bytes(raw[24..28].try_into().expect("4 bytes")),
        ino: word(8),
        rdev: word(40),
    })
}

/// `faccessat(AT_FDCWD, path, X_OK)`: whether the kernel may execute `path`.
pub fn executable(path: &CStr) -> Result<(), Errno> {
    const X_OK: u64 = 1;
    // SAFETY: `path` is a NUL-terminated kernel string.
    unsafe {
        raw_syscall(
            Sysno::faccessat as usize,
            [AT_FDCWD as u64, path.as_ptr() as u64, X_OK, 0, 0, 0],
        )
    }
    .map(drop)
}

/// Fills `buf` with random bytes from the host.
pub fn getrandom(buf: &mut [u8]) -> Result<(), Errno> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: `rest` is a live, writable kernel buffer of the given length.
        done += unsafe {
            raw_syscall(
                Sysno::getrandom as usize,
                [rest.as_mut_ptr() as u64, rest.len() as u64, 0, 0, 0, 0],
            )?
        } as usize;
    }
    Ok(())
}

/// Ends the whole process.
pub fn exit_group(status: i32) -> ! {
    let _ = plain(Sysno::exit_group, [status as u64, 0, 0, 0, 0, 0]);
    unreachable!("exit_group returned")
}

/// The host's `struct utsname`: six NUL-padded 65-byte fields.
pub struct Utsname([u8; 6 * 65]);

impl Utsname {
    fn field(&self, i: usize) -> &[u8] {
        let f = &self.0[i * 65..(i + 1) * 65];
        &f[..f.iter().position(|b| *b == 0).unwrap_or(64)]
    }

    pub fn release(&self) -> &[u8] {
        self.field(2)
    }

    pub fn version(&self) -> &[u8] {
        self.field(3)
    }

    pub fn domainname(&self) -> &[u8] {
        self.field(5)
    }
}

/// Host `uname`, for the kernel release and the UTS namespace's domain
/// name the guest sees.
pub fn uname() -> Result<Utsname, Errno> {
    let mut u = Utsname([0; 6 * 65]);
    // SAFETY: `u.0` is a buffer of the size of `struct utsname`.
    unsafe {
        raw_syscall(
            Sysno::uname as usize,
            [u.0.as_mut_ptr() as u64, 0, 0, 0, 0, 0],
        )?
    };
    Ok(u)
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prot(u64);

impl Prot {
    pub const READ: Prot = Prot(1);
    pub const WRITE: Prot = Prot(2);
    pub const EXEC: Prot = Prot(4);

    pub const fn empty() -> Self {
        Prot(0)
    }
}

impl BitOr for Prot {
    type Output = Prot;
    fn bitor(self, other: Prot) -> Prot {
        Prot(self.0 | other.0)
    }
}

impl core::ops::BitOrAssign for Prot {
    fn bitor_assign(&mut self, other: Prot) {
        self.0 |= other.0;
    }
}

const MAP_PRIVATE: u64 = 0x02;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_NORESERVE: u64 = 0x4000;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;

/// Maps anonymous private memory at exactly `addr` without replacing
/// anything already there (`MAP_FIXED_NOREPLACE`).
pub fn map_anonymous_at(addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
    let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE;
    // NOREPLACE never replaces an existing mapping, so no memory in use can
    // be affected.
    let got = plain(Sysno::mmap, [addr, len, prot.0, flags, u64::MAX, 0])?;
    if got != addr {
        return Err(Errno::EEXIST);
    }
    Ok(())
}

/// Reserves `[addr, addr+len)` as inaccessible memory that costs nothing
/// (`PROT_NONE`, `MAP_NORESERVE`), failing if anything is already there.
pub fn reserve_at(addr: u64, len: u64) -> Result<(), Errno> {
    map_anonymous_at(addr, len, Prot::empty())
}

/// Maps anonymous private memory wherever the host chooses.
pub fn map_anonymous(len: u64, prot: Prot) -> Result<u64, Errno> {
    // A mapping at a host-chosen address never affects existing memory.
    plain(
        Sysno::mmap,
        [
            0,
            len,
            prot.0,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
            u64::MAX,
            0,
        ],
    )
}

/// Maps `len` bytes of `fd` at `offset` to exactly `addr`, replacing what
/// is there. Used by the ELF loader inside a reservation it owns.
pub fn map_file_fixed(
    addr: u64,
    len: u64,
    prot: Prot,
    fd: RawFd,
    offset: u64,
) -> Result<(), Errno> {
    map_fixed(addr, len, prot, MAP_PRIVATE, fd as u64, offset)
}

/// Maps anonymous memory to exactly `addr`, replacing what is there.
pub fn map_anonymous_fixed(addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
    map_fixed(addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, u64::MAX, 0)
}

/// `mmap(MAP_FIXED)` of guest memory, never over the kernel's.
fn map_fixed(
    addr: u64,
    len: u64,
    prot: Prot,
    flags: u64,
    fd: u64,
    offset: u64,
) -> Result<(), Errno> {
    outside_kernel(addr, len)?;
    plain(
        Sysno::mmap,
        [addr, len, prot.0, flags | MAP_FIXED, fd, offset],
    )
    .map(drop)
}

/// Changes the protection of guest memory.
pub fn protect(addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
    outside_kernel(addr, len)?;
    plain(Sysno::mprotect, [addr, len, prot.0, 0, 0, 0]).map(drop)
}

/// Unmaps guest memory.
pub fn unmap(addr: u64, len: u64) -> Result<(), Errno> {
    outside_kernel(addr, len)?;
    plain(Sysno::munmap, [addr, len, 0, 0, 0, 0]).map(drop)
}

/// The memory calls above only ever touch guest memory.
fn outside_kernel(addr: u64, len: u64) -> Result<(), Errno> {
    if oxbox_abi::layout::overlaps_kernel(addr, len) {
        Err(Errno::EINVAL)
    } else {
        Ok(())
    }
}

/// Changes the protection of kernel pages: the slot table once filled,
/// reserved kernel-area pages when the kernel starts using them.
pub(crate) fn protect_kernel_page(addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
    plain(Sysno::mprotect, [addr, len, prot.0, 0, 0, 0]).map(drop)
}

/// Creates a sealed memory file holding `contents`: how the kernel hands a
/// synthetic file (a `/proc` entry) to the guest as a real host descriptor,
/// so that read, lseek, poll and mmap just work.
pub fn sealed_memfd(name: &CStr, contents: &[u8]) -> Result<OwnedFd, Errno> {
    const MFD_CLOEXEC: u64 = 1;
    const MFD_ALLOW_SEALING: u64 = 2;
    const F_ADD_SEALS: u64 = 1033;
    const SEALS: u64 = 0x1 | 0x2 | 0x4 | 0x8; // SEAL, SHRINK, GROW, WRITE
    // SAFETY: `name` is a NUL-terminated kernel string.
    let fd = OwnedFd(unsafe {
        raw_syscall(
            Sysno::memfd_create as usize,
            [
                name.as_ptr() as u64,
                MFD_CLOEXEC | MFD_ALLOW_SEALING,
                0,
                0,
                0,
                0,
            ],
        )?
    } as RawFd);
    write_all(fd.raw(), contents)?;
    plain(Sysno::lseek, [fd.raw() as u64, 0, 0, 0, 0, 0])?;
    plain(Sysno::fcntl, [fd.raw() as u64, F_ADD_SEALS, SEALS, 0, 0, 0])?;
    Ok(fd)
}

/// Installs a seccomp filter on the calling thread (and, by inheritance,
/// every thread and process it creates). Sets no_new_privs first, which the
/// host requires of an unprivileged filter and oxbox wants anyway.
pub fn install_seccomp(program: &[SockFilter]) -> Result<(), Errno> {
    const PR_SET_NO_NEW_PRIVS: u64 = 38;
    plain(Sysno::prctl, [PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0])?;
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
        )?
    };
    Ok(())
}

/// Sets the GS base of the calling thread: where the kernel keeps its
/// per-thread context. Only used before the seccomp filter is installed.
pub fn set_gs_base(addr: u64) -> Result<(), Errno> {
    const ARCH_SET_GS: u64 = 0x1001;
    // Changing GS affects only code that reads through `%gs`, which is the
    // kernel's own entry code; the guest does not use GS on x86-64.
    plain(Sysno::arch_prctl, [ARCH_SET_GS, addr, 0, 0, 0, 0]).map(drop)
}
