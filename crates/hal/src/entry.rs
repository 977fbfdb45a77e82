//! How control enters the kernel.
//!
//! Two doors for guest syscalls (the image's `_start` lives in the kernel
//! image crate):
//! - patched sites: a guest `mov $nr,%eax; syscall` rewritten into
//!   `call *slot[nr]` lands in a per-number stub (`mov $nr,%eax; jmp
//!   oxbox_patched_entry`), which switches to the thread's kernel stack
//!   through `%gs`, saves what a `syscall` instruction would preserve and
//!   calls the kernel with a [`SyscallFrame`].
//! - the SIGSYS trap, for sites not (yet) patched: see [`crate::signals`].
//!
//! Both paths end in `oxbox_dispatch`, defined by the kernel image.

use core::arch::global_asm;

use oxbox_abi::layout::{
    SIGNAL_RETURN_NR, SLOT_COUNT, SLOT_TABLE_ADDR, SLOT_TABLE_SIZE, TRAMPOLINE_ADDR,
};

use crate::cpu::{CTX_GUEST_RSP, CTX_KSTACK_TOP};
use crate::host::{self, Errno};

/// A guest syscall: its number and raw arguments.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub nr: u64,
    pub args: [u64; 6],
}

impl Call {
    #[inline]
    pub fn arg(&self, i: usize) -> u64 {
        self.args[i]
    }

    /// Argument `i` as a C `int` (the host ignores the upper half too).
    #[inline]
    pub fn int(&self, i: usize) -> i32 {
        self.args[i] as i32
    }

    /// Passes the call to the host unchanged (see [`host::forward`]).
    pub fn forward(&self) -> Result<u64, host::Errno> {
        host::forward(self.nr as usize, self.args)
    }
}

/// A guest syscall in flight: the call and the value for the guest's `%rax`.
/// The patched-site entry builds it on the kernel stack (see below), the
/// SIGSYS handler from the interrupted context.
#[repr(C)]
#[derive(Debug)]
pub struct SyscallFrame {
    pub call: Call,
    /// The value returned to the guest in `%rax` (a negative errno on error).
    pub ret: u64,
    /// When non-zero, the guest resumes with this stack pointer (the child
    /// of a `clone` given a new stack), at the same instruction.
    pub new_stack: u64,
    /// Patched path only: when non-zero, the entry returns by jumping here
    /// (the trampoline) instead of `ret`, with `%rax` = `ret`.
    divert: u64,
}

impl SyscallFrame {
    pub fn new(call: Call) -> Self {
        Self {
            call,
            ret: 0,
            new_stack: 0,
            divert: 0,
        }
    }

    /// Patched path only: serves the call again as a trap instead. The
    /// entry returns into the trampoline with `%rax` = the call's number
    /// and its arguments in place, so the trampoline's `syscall` traps
    /// with the full register context that some calls need (a `clone`
    /// starting a thread), at `TRAMPOLINE_ADDR + 2`; the trampoline's
    /// `ret` then returns to the patched site's caller.
    pub fn retrap(&mut self) {
        self.ret = self.call.nr;
        self.divert = TRAMPOLINE_ADDR;
    }
}

/// Which door a syscall came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A patched `call *slot[nr]` site.
    Patched,
    /// A trapped `syscall` instruction; `site_end` is the address right after it.
    Trapped { site_end: u64 },
}

unsafe extern "Rust" {
    /// The kernel's dispatcher, defined by the kernel image: serves `frame`
    /// and stores its result in it. A link-time symbol rather than a
    /// registered pointer, so that the patched path makes direct calls only.
    safe fn oxbox_dispatch(frame: &mut SyscallFrame, entry: Entry);
    /// Whether a signal is waiting to be delivered to this thread (defined
    /// by the kernel image).
    safe fn oxbox_signal_pending() -> bool;
}

/// Hands a syscall to the kernel's dispatcher.
#[inline(always)]
pub(crate) fn dispatch(frame: &mut SyscallFrame, entry: Entry) {
    oxbox_dispatch(frame, entry);
}

unsafe extern "C" {
    fn oxbox_slot_stubs();
    fn oxbox_register_stubs();
    fn oxbox_enter_guest(entry: u64, sp: u64) -> !;
}

// One stub per syscall number, 16 bytes apart, then the common entry.
// The frame built on the kernel stack (lowest address first) is a
// SyscallFrame { nr, rdi, rsi, rdx, r10, r8, r9, ret, new_stack, divert }
// followed by the
// sixteen XMM registers, which the kernel's Rust code may clobber but a
// `syscall` instruction preserves. rcx and r11 are clobbered, as by
// `syscall`; rbx, rbp and r12-r15 are preserved by the Rust ABI.
global_asm!(
    // A section of its own, so that binaries which link this crate without
    // entering guests (host-side unit tests) drop it, and with it the
    // reference to `oxbox_dispatch`, which only the kernel image defines.
    ".pushsection .text.oxbox_entry,\"ax\",@progbits",
    ".balign 16",
    ".globl oxbox_slot_stubs",
    "oxbox_slot_stubs:",
    ".set oxbox_nr, 0",
    ".rept {count}",
    "    movl $oxbox_nr, %eax",
    "    jmp oxbox_patched_entry",
    "    .balign 16",
    "    .set oxbox_nr, oxbox_nr + 1",
    ".endr",
    "",
    // Stubs for sites that load the number from a register (see
    // `patch::REGISTER_SITES`), in that order.
    ".globl oxbox_register_stubs",
    "oxbox_register_stubs:",
    "    movl %esi, %eax",
    "    jmp oxbox_patched_entry",
    "    .balign 16",
    "    movl %edi, %eax",
    "    jmp oxbox_patched_entry",
    "    .balign 16",
    "    movl %edx, %eax",
    "    jmp oxbox_patched_entry",
    "    .balign 16",
    "",
    "oxbox_patched_entry:",
    "    mov %rsp, %gs:{guest_rsp}",
    "    mov %gs:{kstack_top}, %rsp",
    "    sub $256, %rsp",
    "    movdqu %xmm0, 0(%rsp)",
    "    movdqu %xmm1, 16(%rsp)",
    "    movdqu %xmm2, 32(%rsp)",
    "    movdqu %xmm3, 48(%rsp)",
    "    movdqu %xmm4, 64(%rsp)",
    "    movdqu %xmm5, 80(%rsp)",
    "    movdqu %xmm6, 96(%rsp)",
    "    movdqu %xmm7, 112(%rsp)",
    "    movdqu %xmm8, 128(%rsp)",
    "    movdqu %xmm9, 144(%rsp)",
    "    movdqu %xmm10, 160(%rsp)",
    "    movdqu %xmm11, 176(%rsp)",
    "    movdqu %xmm12, 192(%rsp)",
    "    movdqu %xmm13, 208(%rsp)",
    "    movdqu %xmm14, 224(%rsp)",
    "    movdqu %xmm15, 240(%rsp)",
    "    push $0",
    "    push $0",
    "    push $0",
    "    push %r9",
    "    push %r8",
    "    push %r10",
    "    push %rdx",
    "    push %rsi",
    "    push %rdi",
    "    push %rax",
    "    mov %rsp, %rdi",
    "    cld",
    "    call {patched}",
    "    add $8, %rsp",
    "    pop %rdi",
    "    pop %rsi",
    "    pop %rdx",
    "    pop %r10",
    "    pop %r8",
    "    pop %r9",
    "    pop %rax",
    "    pop %r11",
    "    pop %r11",
    "    movdqu 0(%rsp), %xmm0",
    "    movdqu 16(%rsp), %xmm1",
    "    movdqu 32(%rsp), %xmm2",
    "    movdqu 48(%rsp), %xmm3",
    "    movdqu 64(%rsp), %xmm4",
    "    movdqu 80(%rsp), %xmm5",
    "    movdqu 96(%rsp), %xmm6",
    "    movdqu 112(%rsp), %xmm7",
    "    movdqu 128(%rsp), %xmm8",
    "    movdqu 144(%rsp), %xmm9",
    "    movdqu 160(%rsp), %xmm10",
    "    movdqu 176(%rsp), %xmm11",
    "    movdqu 192(%rsp), %xmm12",
    "    movdqu 208(%rsp), %xmm13",
    "    movdqu 224(%rsp), %xmm14",
    "    movdqu 240(%rsp), %xmm15",
    "    mov %gs:{guest_rsp}, %rsp",
    "    test %r11, %r11",
    "    jnz 1f",
    // Flags as after glibc's `cmp $-4096,%rax` (see patch.rs: a patched
    // read site relies on them; `syscall` callers treat flags as clobbered).
    "    cmp $-4096, %rax",
    "    ret",
    // r11 (clobbered by `syscall` anyway) holds the trampoline address.
    "1:  jmp *%r11",
    "",
    // Starts the guest: empty registers (rdx = 0: no atexit function for
    // the guest's libc to register), its stack, its entry point.
    ".globl oxbox_enter_guest",
    "oxbox_enter_guest:",
    "    mov %rsi, %rsp",
    "    mov %rdi, %r11",
    "    xor %eax, %eax",
    "    xor %ebx, %ebx",
    "    xor %ecx, %ecx",
    "    xor %edx, %edx",
    "    xor %esi, %esi",
    "    xor %edi, %edi",
    "    xor %ebp, %ebp",
    "    xor %r8d, %r8d",
    "    xor %r9d, %r9d",
    "    xor %r10d, %r10d",
    "    xor %r12d, %r12d",
    "    xor %r13d, %r13d",
    "    xor %r14d, %r14d",
    "    xor %r15d, %r15d",
    "    jmp *%r11",
    ".popsection",
    count = const SLOT_COUNT,
    guest_rsp = const CTX_GUEST_RSP,
    kstack_top = const CTX_KSTACK_TOP,
    patched = sym patched_syscall,
    options(att_syntax)
);

/// Called by the patched-site entry with the frame it built.
extern "C" fn patched_syscall(frame: &mut SyscallFrame) {
    dispatch(frame, Entry::Patched);
    if frame.new_stack != 0 {
        move_patched_return(frame.new_stack);
    }
    if frame.divert == 0 && oxbox_signal_pending() {
        // Return through the trampoline: its trap delivers the signal from
        // a full register context and hands the guest this call's result.
        crate::cpu::set_saved_ret(frame.ret);
        frame.ret = SIGNAL_RETURN_NR;
        frame.divert = TRAMPOLINE_ADDR;
    }
}

/// Whether `rip` lies in the signal-return trampoline page.
pub fn is_trampoline(rip: u64) -> bool {
    (TRAMPOLINE_ADDR..TRAMPOLINE_ADDR + 4096).contains(&rip)
}

/// Makes a patched call return on `new_stack`: the return address the
/// `call *slot` pushed on the old stack is copied just below `new_stack`,
/// and the saved guest stack pointer moved there, so the final `ret` pops
/// it and leaves `%rsp == new_stack`, as after a `syscall` in the child of
/// a `clone` with a stack.
#[cold]
fn move_patched_return(new_stack: u64) {
    let saved: u64;
    // SAFETY: reads this thread's context through GS, set at thread start.
    unsafe {
        core::arch::asm!("mov {}, gs:[{off}]", out(reg) saved, off = const CTX_GUEST_RSP, options(nostack, readonly))
    };
    let mut ret = [0u8; 8];
    let moved = crate::usercopy::copy_in(&mut ret, saved)
        .and_then(|()| crate::usercopy::copy_out(new_stack - 8, &ret));
    if moved.is_ok() {
        // SAFETY: as above; the entry code reloads %rsp from this slot.
        unsafe {
            core::arch::asm!("mov gs:[{off}], {}", in(reg) new_stack - 8, off = const CTX_GUEST_RSP, options(nostack))
        };
    }
}

/// Maps the slot table at its fixed address, fills it with the stub
/// addresses, writes the trampoline after it and makes both read-only.
pub fn install_slot_table() -> Result<(), Errno> {
    use host::Prot;
    // Both pages in one mapping, written and then made read-only and
    // executable together: one host mapping (one area to copy at each
    // fork) and two host calls instead of four.
    const PAGES: u64 = TRAMPOLINE_ADDR + 4096 - SLOT_TABLE_ADDR;
    const _: () = assert!(SLOT_TABLE_ADDR + SLOT_TABLE_SIZE <= TRAMPOLINE_ADDR);
    host::map_anonymous_at(SLOT_TABLE_ADDR, PAGES, Prot::READ | Prot::WRITE)?;
    let stubs = oxbox_slot_stubs as *const () as u64;
    for nr in 0..SLOT_COUNT as u64 {
        let slot = (SLOT_TABLE_ADDR + nr * 8) as *mut u64;
        let stub = crate::patch::register_stub(nr)
            .map(|i| oxbox_register_stubs as *const () as u64 + i as u64 * 16)
            .or_else(|| crate::fast::stub_for(nr))
            .unwrap_or(stubs + nr * 16);
        // SAFETY: the slot lies in the pages mapped just above, which
        // nothing else uses yet.
        unsafe { slot.write(stub) };
    }
    // The signal-return trampoline: `syscall; cmp $-4096,%rax; ret` (the
    // same flags as a patched call's return).
    const TRAMPOLINE: [u8; 9] = [0x0f, 0x05, 0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff, 0xc3];
    // SAFETY: the page was just mapped writable and nothing else uses it.
    unsafe { (TRAMPOLINE_ADDR as *mut [u8; 9]).write(TRAMPOLINE) };
    host::protect_kernel_page(SLOT_TABLE_ADDR, PAGES, Prot::READ | Prot::EXEC)?;
    Ok(())
}

/// Jumps to the guest's entry point with the given stack; never returns.
pub fn enter_guest(entry: u64, sp: u64) -> ! {
    // SAFETY: the loader mapped the guest image containing `entry` and built
    // the initial stack at `sp`; from here on the guest runs.
    unsafe { oxbox_enter_guest(entry, sp) }
}

/// The stack the host built for the kernel image at exec: `argc`, `argv`,
/// `envp` and the auxiliary vector, all left untouched by the kernel.
#[derive(Clone, Copy)]
pub struct InitialStack {
    sp: *const u64,
}

impl InitialStack {
    /// # Safety
    /// `sp` must be the stack pointer the host passed to `_start`, and that
    /// stack must stay mapped and unmodified while this value is used.
    pub unsafe fn new(sp: *const u64) -> Self {
        Self { sp }
    }

    fn word(&self, index: usize) -> u64 {
        // SAFETY: callers only index within argc, argv, envp and auxv, all
        // of which the host laid out contiguously from `sp` (see `new`).
        unsafe { self.sp.add(index).read() }
    }

    fn string(address: u64) -> &'static [u8] {
        // SAFETY: argv and envp entries point to NUL-terminated strings in
        // the same host-built stack, which stays mapped for the process.
        unsafe { core::ffi::CStr::from_ptr(address as *const core::ffi::c_char) }.to_bytes()
    }

    pub fn argc(&self) -> usize {
        self.word(0) as usize
    }

    pub fn arg(&self, i: usize) -> Option<&'static [u8]> {
        (i < self.argc()).then(|| Self::string(self.word(1 + i)))
    }

    pub fn env(&self) -> impl Iterator<Item = &'static [u8]> + '_ {
        let start = self.argc() + 2;
        (start..)
            .map(|i| self.word(i))
            .take_while(|p| *p != 0)
            .map(Self::string)
    }

    /// The auxiliary vector entries, without the final AT_NULL.
    pub fn auxv(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let start = self.argc() + 2 + self.env().count() + 1;
        (0..)
            .map(move |i| (self.word(start + 2 * i), self.word(start + 2 * i + 1)))
            .take_while(|(k, _)| *k != 0)
    }
}

/// The address range of the executable segment described by the
/// program headers at `phdr` (`AT_PHDR`, `AT_PHNUM` of the kernel image).
pub fn text_range(phdr: u64, phnum: u64) -> Option<core::ops::Range<u64>> {
    const PT_LOAD: u32 = 1;
    const PF_X: u32 = 1;
    (0..phnum).find_map(|i| {
        let entry = (phdr + i * 56) as *const u8;
        // SAFETY: AT_PHDR/AT_PHNUM from the host describe the kernel image's
        // own program headers, mapped with the image for its whole life.
        let (kind, flags, vaddr, memsz) = unsafe {
            (
                (entry as *const u32).read_unaligned(),
                (entry.add(4) as *const u32).read_unaligned(),
                (entry.add(16) as *const u64).read_unaligned(),
                (entry.add(40) as *const u64).read_unaligned(),
            )
        };
        (kind == PT_LOAD && flags & PF_X != 0).then_some(vaddr..vaddr + memsz)
    })
}
