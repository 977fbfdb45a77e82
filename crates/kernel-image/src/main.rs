//! The oxbox kernel image: a static ELF with no libc, linked at
//! `oxbox_abi::layout::KERNEL_BASE`, that runs as the program of every
//! container process. It only wires things together: the process entry
//! point, the global allocator and the panic handler; the kernel proper is
//! `oxbox-kernel`, the machine-facing code `oxbox-hal`.
#![no_std]
#![no_main]

mod mem;

use core::arch::global_asm;

use oxbox_hal::entry::InitialStack;
use oxbox_hal::heap::KernelHeap;

#[global_allocator]
static HEAP: KernelHeap = KernelHeap::empty();

// The process entry point: the host leaves argc/argv/envp/auxv at %rsp.
global_asm!(
    ".globl _start",
    ".type _start,@function",
    "_start:",
    "    xor %ebp, %ebp",
    "    mov %rsp, %rdi",
    "    and $-16, %rsp",
    "    call {main}",
    "    ud2",
    main = sym oxbox_main,
    options(att_syntax)
);

extern "C" fn oxbox_main(sp: *const u64) -> ! {
    if oxbox_hal::kernel_area::reserve().is_err() || HEAP.init().is_err() {
        oxbox_hal::host::exit_group(125);
    }
    // SAFETY: `sp` is the stack pointer the host gave `_start`, and the
    // kernel never writes to that stack.
    let initial = unsafe { InitialStack::new(sp) };
    oxbox_kernel::boot::start(initial)
}

/// The dispatcher the hal's entry paths call (see `oxbox_hal::entry`).
#[unsafe(no_mangle)]
fn oxbox_dispatch(frame: &mut oxbox_hal::SyscallFrame, entry: oxbox_hal::Entry) {
    oxbox_kernel::syscall::dispatch(frame, entry)
}

/// Whether a patched call must return through the trampoline.
#[unsafe(no_mangle)]
fn oxbox_signal_pending() -> bool {
    oxbox_kernel::signal::pending_at_exit()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    let mut message = oxbox_kernel::log::LineBuffer::new();
    let _ = writeln!(message, "oxbox-kernel: panic: {info}");
    oxbox_kernel::log::write_raw(message.as_str());
    oxbox_hal::host::exit_group(134)
}

/// The prebuilt `alloc` library has unwinding landing pads that name these
/// symbols; with `panic = "abort"` they are never reached.
#[unsafe(no_mangle)]
extern "C" fn _Unwind_Resume() -> ! {
    oxbox_hal::host::exit_group(134)
}

#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() -> ! {
    oxbox_hal::host::exit_group(134)
}
