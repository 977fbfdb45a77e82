//! The x86-64 `ucontext_t` the host gives signal handlers, and the guest's
//! signal frames use: offsets and register indices shared by the hal (which
//! reads the host's) and the kernel (which builds and reads the guest's).

/// Number of general registers in `uc_mcontext.gregs`.
pub const NGREG: usize = 23;
/// Offset of `uc_mcontext.gregs` in `ucontext_t`.
pub const GREGS_OFFSET: usize = 40;
/// Offset of `uc_mcontext.fpregs` (the pointer to the `xsave` area).
pub const FPREGS_PTR_OFFSET: usize = GREGS_OFFSET + NGREG * 8;
/// Offset of `uc_sigmask`, and the size of the kernel's `struct ucontext`.
pub const SIGMASK_OFFSET: usize = FPREGS_PTR_OFFSET + 8 + 64;
pub const UCONTEXT_SIZE: usize = SIGMASK_OFFSET + 8;

// Indices into `gregs`.
pub const REG_R8: usize = 0;
pub const REG_R9: usize = 1;
pub const REG_R10: usize = 2;
pub const REG_RDI: usize = 8;
pub const REG_RSI: usize = 9;
pub const REG_RDX: usize = 12;
pub const REG_RAX: usize = 13;
pub const REG_RSP: usize = 15;
pub const REG_RIP: usize = 16;
pub const REG_EFL: usize = 17;
pub const REG_CSGSFS: usize = 18;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_kernel_struct() {
        assert_eq!(FPREGS_PTR_OFFSET, 224);
        assert_eq!(SIGMASK_OFFSET, 296);
        assert_eq!(UCONTEXT_SIZE, 304);
    }
}
