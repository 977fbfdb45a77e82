//! Guest memory access that survives bad guest pointers.
//!
//! Guest pointers are never dereferenced by Rust code. Bytes move between
//! guest and kernel memory only through the two assembly routines below,
//! whose faults the kernel's SIGSEGV/SIGBUS handler recognizes by
//! instruction pointer and turns into an early return with a fault result
//! (the same idea as exception tables in Linux or gVisor's safecopy). The
//! range check that keeps guest pointers out of the kernel's own area lives
//! here too, so no caller can forget it.

use core::arch::global_asm;

use oxbox_abi::layout::overlaps_kernel;

/// A guest address that could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault;

unsafe extern "C" {
    fn oxbox_usercopy(dst: *mut u8, src: *const u8, len: usize) -> u64;
    fn oxbox_usercopy_cstr(dst: *mut u8, src: *const u8, max: usize) -> u64;
    static oxbox_usercopy_begin: u8;
    static oxbox_usercopy_end: u8;
    static oxbox_usercopy_fault: u8;
}

// Both routines return in %rax: the block copy gives 0 on success; the
// string copy gives the length without the NUL, or `max` when no NUL was
// found. On a fault the signal handler resumes at `oxbox_usercopy_fault`,
// which returns u64::MAX. Neither routine touches the stack before it may
// fault, so `ret` from the fixup is correct.
//
// The block copy moves whole words when the length is a small multiple of
// 8 (the u64s, timespecs and sigsets most calls pass): `rep movsb` costs
// tens of cycles to start on the CPUs here, a quarter of a cheap syscall
// such as sigprocmask through the common entry.
global_asm!(
    ".globl oxbox_usercopy_begin",
    "oxbox_usercopy_begin:",
    ".globl oxbox_usercopy",
    "oxbox_usercopy:",
    "    mov %rdx, %rcx",
    "    test $7, %dl",
    "    jnz 3f",
    "    cmp $64, %rdx",
    "    ja 3f",
    "    shr $3, %rcx",
    "    jz 4f",
    "5:  mov (%rsi), %rax",
    "    mov %rax, (%rdi)",
    "    add $8, %rsi",
    "    add $8, %rdi",
    "    dec %rcx",
    "    jnz 5b",
    "4:  xor %eax, %eax",
    "    ret",
    "3:  rep movsb",
    "    xor %eax, %eax",
    "    ret",
    ".globl oxbox_usercopy_cstr",
    "oxbox_usercopy_cstr:",
    "    xor %eax, %eax",
    "1:  cmp %rdx, %rax",
    "    je 2f",
    "    movb (%rsi,%rax), %cl",
    "    movb %cl, (%rdi,%rax)",
    "    test %cl, %cl",
    "    je 2f",
    "    inc %rax",
    "    jmp 1b",
    "2:  ret",
    ".globl oxbox_usercopy_fault",
    "oxbox_usercopy_fault:",
    "    mov $-1, %rax",
    "    ret",
    ".globl oxbox_usercopy_end",
    "oxbox_usercopy_end:",
    options(att_syntax)
);

/// If `rip` faulted inside a copy routine, where to resume instead.
pub(crate) fn fixup_for(rip: u64) -> Option<u64> {
    let begin = &raw const oxbox_usercopy_begin as u64;
    let end = &raw const oxbox_usercopy_end as u64;
    (begin..end)
        .contains(&rip)
        .then_some(&raw const oxbox_usercopy_fault as u64)
}

fn check_range(addr: u64, len: usize) -> Result<(), Fault> {
    if len == 0 {
        return Ok(());
    }
    let end = addr.checked_add(len as u64).ok_or(Fault)?;
    // Canonical user addresses only, and never the kernel's own memory.
    if end > 0x7fff_ffff_f000 || overlaps_kernel(addr, len as u64) {
        return Err(Fault);
    }
    Ok(())
}

/// Copies `dst.len()` bytes from guest address `src`.
pub fn copy_in(dst: &mut [u8], src: u64) -> Result<(), Fault> {
    check_range(src, dst.len())?;
    if dst.is_empty() {
        return Ok(());
    }
    // SAFETY: `dst` is a valid kernel buffer; `src` is outside the kernel's
    // memory, and a fault on it is caught and reported by the handler.
    match unsafe { oxbox_usercopy(dst.as_mut_ptr(), src as *const u8, dst.len()) } {
        0 => Ok(()),
        _ => Err(Fault),
    }
}

/// Copies `src` to guest address `dst`.
pub fn copy_out(dst: u64, src: &[u8]) -> Result<(), Fault> {
    check_range(dst, src.len())?;
    if src.is_empty() {
        return Ok(());
    }
    // SAFETY: as for `copy_in`, with the roles swapped.
    match unsafe { oxbox_usercopy(dst as *mut u8, src.as_ptr(), src.len()) } {
        0 => Ok(()),
        _ => Err(Fault),
    }
}

/// Copies a NUL-terminated guest string into `dst` (at most `dst.len()`
/// bytes including the NUL). Returns its length without the NUL, or
/// `None` if it does not fit.
pub fn copy_in_cstr(dst: &mut [u8], src: u64) -> Result<Option<usize>, Fault> {
    // A string may end anywhere: check the first byte now and let the
    // fault handler catch the rest; only the kernel-area check needs the
    // whole window, so clamp it to what lies below the kernel.
    check_range(src, 1)?;
    let room = if src < oxbox_abi::layout::KERNEL_BASE {
        dst.len()
            .min((oxbox_abi::layout::KERNEL_BASE - src) as usize)
    } else {
        dst.len()
            .min((0x7fff_ffff_f000u64.saturating_sub(src)) as usize)
    };
    // SAFETY: `dst` is a valid kernel buffer of at least `room` bytes; the
    // source window excludes kernel memory and faults are caught.
    let len = unsafe { oxbox_usercopy_cstr(dst.as_mut_ptr(), src as *const u8, room) };
    match len {
        u64::MAX => Err(Fault),
        n if (n as usize) < room => Ok(Some(n as usize)),
        _ if room < dst.len() => Err(Fault),
        _ => Ok(None),
    }
}
