//! eBPF for cgroup v2 device filters: the few instructions
//! [`crate::devices`] writes its programs with, and the `bpf(2)` calls that
//! load a program and attach it to a container's cgroup.
//!
//! cgroup v2 has no devices controller; a `BPF_PROG_TYPE_CGROUP_DEVICE`
//! program attached to the cgroup decides every `open` and `mknod` of a
//! device node by its processes (and those of the cgroups below). The
//! kernel verifies the program before it runs, so a wrong one is refused at
//! load, never run.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// `BPF_DEVCG_ACC_*`: the access a device program is asked about.
pub const DEVCG_ACC_MKNOD: u8 = 1;
/// Opening for reading.
pub const DEVCG_ACC_READ: u8 = 2;
/// Opening for writing.
pub const DEVCG_ACC_WRITE: u8 = 4;
/// `BPF_DEVCG_DEV_BLOCK`: a block device.
pub const DEVCG_DEV_BLOCK: i32 = 1;
/// `BPF_DEVCG_DEV_CHAR`: a character device.
pub const DEVCG_DEV_CHAR: i32 = 2;

// Instruction classes, sizes, modes, operations and sources (linux/bpf.h).
const LDX: u8 = 0x01;
const ALU: u8 = 0x04;
const JMP: u8 = 0x05;
const ALU64: u8 = 0x07;
const SIZE_W: u8 = 0x00;
const MODE_MEM: u8 = 0x60;
const SOURCE_IMM: u8 = 0x00;
const SOURCE_REG: u8 = 0x08;
const OP_AND: u8 = 0x50;
const OP_RSH: u8 = 0x70;
const OP_MOV: u8 = 0xb0;
const OP_JEQ: u8 = 0x10;
const OP_JNE: u8 = 0x50;
const OP_EXIT: u8 = 0x90;

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    dst: u8,
    src: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    /// `dst = *(u32 *)(src + off)`.
    pub fn load_u32(dst: u8, src: u8, off: i16) -> Self {
        Self::new(LDX | MODE_MEM | SIZE_W, dst, src, off, 0)
    }
    /// `dst &= imm`, on 32 bits.
    pub fn and_imm(dst: u8, imm: i32) -> Self {
        Self::new(ALU | OP_AND | SOURCE_IMM, dst, 0, 0, imm)
    }
    /// `dst >>= imm`, on 32 bits.
    pub fn rsh_imm(dst: u8, imm: i32) -> Self {
        Self::new(ALU | OP_RSH | SOURCE_IMM, dst, 0, 0, imm)
    }
    /// `dst = src`, on 32 bits.
    pub fn mov_reg(dst: u8, src: u8) -> Self {
        Self::new(ALU | OP_MOV | SOURCE_REG, dst, src, 0, 0)
    }
    /// `dst = imm`.
    pub fn mov_imm(dst: u8, imm: i32) -> Self {
        Self::new(ALU64 | OP_MOV | SOURCE_IMM, dst, 0, 0, imm)
    }
    /// Skips `off` instructions when `dst == imm`.
    pub fn jump_if_equal(dst: u8, imm: i32, off: i16) -> Self {
        Self::new(JMP | OP_JEQ | SOURCE_IMM, dst, 0, off, imm)
    }
    /// Skips `off` instructions when `dst != imm`.
    pub fn jump_if_not_equal(dst: u8, imm: i32, off: i16) -> Self {
        Self::new(JMP | OP_JNE | SOURCE_IMM, dst, 0, off, imm)
    }
    /// Returns `r0`.
    pub fn exit() -> Self {
        Self::new(JMP | OP_EXIT, 0, 0, 0, 0)
    }

    fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Self {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// The instruction as the kernel reads it.
    fn encode(self) -> [u8; 8] {
        let mut bytes = [0; 8];
        bytes[0] = self.code;
        bytes[1] = (self.dst & 0xf) | (self.src << 4);
        bytes[2..4].copy_from_slice(&self.off.to_le_bytes());
        bytes[4..8].copy_from_slice(&self.imm.to_le_bytes());
        bytes
    }
}

// bpf(2) commands, program and attach types, flags (linux/bpf.h).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Programs of the cgroups above keep running too (each must allow).
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The `BPF_PROG_LOAD` part of `union bpf_attr`, up to the fields used.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// `bpf(cmd, attr, sizeof *attr)`.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialized `repr(C)` prefix of `union
    // bpf_attr` for `cmd`, of the size passed; every pointer it holds
    // points into buffers that outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Loads `program` as a device filter; a program the verifier refuses
/// fails with the verifier's last words.
pub fn load_device_filter(program: &[Insn]) -> io::Result<OwnedFd> {
    let code: Vec<u8> = program.iter().flat_map(|insn| insn.encode()).collect();
    let license: &CStr = c"Apache";
    let mut name = [0u8; 16];
    name[..13].copy_from_slice(b"oxbox_devices");
    let attr = |log: Option<&mut [u8]>| ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: program.len() as u32,
        insns: code.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: u32::from(log.is_some()),
        log_size: log.as_ref().map_or(0, |l| l.len() as u32),
        log_buf: log.map_or(0, |l| l.as_mut_ptr() as u64),
        prog_name: name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr(None)) {
        // SAFETY: a successful BPF_PROG_LOAD returns a new descriptor that
        // nothing else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Err(e),
        Err(e) => {
            // Again with the verifier's log, to say why.
            let mut log = vec![0u8; 1 << 16];
            let _ = bpf(BPF_PROG_LOAD, &mut attr(Some(&mut log)));
            let text = String::from_utf8_lossy(&log);
            let last = text.trim_end_matches('\0').lines().last().unwrap_or("");
            Err(io::Error::new(e.kind(), format!("{e}: {last}")))
        }
    }
}

/// Attaches a loaded device filter to the cgroup directory `cgroup`, next
/// to the programs its ancestors attached.
pub fn attach_device_filter(cgroup: &Path, program: &OwnedFd) -> io::Result<()> {
    let dir = std::fs::File::open(cgroup)?;
    let mut attr = ProgAttachAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// Runs a device program on one access, as the kernel would: for tests of
/// the programs [`crate::devices`] writes. Knows only the instructions
/// above.
#[cfg(test)]
pub fn run(program: &[Insn], device_type: u32, access: u32, major: u32, minor: u32) -> u64 {
    let context = [(access << 16) | device_type, major, minor];
    let mut regs = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let insn = program[pc];
        let (dst, src) = (usize::from(insn.dst), usize::from(insn.src));
        pc += 1;
        let mut jump = |taken: bool| {
            if taken {
                pc = (pc as isize + isize::from(insn.off)) as usize;
            }
        };
        match insn.code {
            c if c == LDX | MODE_MEM | SIZE_W => {
                assert_eq!(src, 1, "loads only from the context");
                regs[dst] = u64::from(context[insn.off as usize / 4]);
            }
            c if c == ALU | OP_AND | SOURCE_IMM => {
                regs[dst] = u64::from(regs[dst] as u32 & insn.imm as u32)
            }
            c if c == ALU | OP_RSH | SOURCE_IMM => {
                regs[dst] = u64::from((regs[dst] as u32) >> insn.imm)
            }
            c if c == ALU | OP_MOV | SOURCE_REG => regs[dst] = u64::from(regs[src] as u32),
            c if c == ALU64 | OP_MOV | SOURCE_IMM => regs[dst] = i64::from(insn.imm) as u64,
            c if c == JMP | OP_JEQ | SOURCE_IMM => jump(regs[dst] == i64::from(insn.imm) as u64),
            c if c == JMP | OP_JNE | SOURCE_IMM => jump(regs[dst] != i64::from(insn.imm) as u64),
            c if c == JMP | OP_EXIT => return regs[0],
            c => panic!("instruction {c:#x} not known here"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_encode_as_linux_bpf_h_lays_them_out() {
        // r2 = *(u32 *)(r1 + 4), as `llvm-objdump` prints `61 12 04 00 00 00 00 00`.
        assert_eq!(
            Insn::load_u32(2, 1, 4).encode(),
            [0x61, 0x12, 4, 0, 0, 0, 0, 0]
        );
        // if r4 != 10 goto +3
        assert_eq!(
            Insn::jump_if_not_equal(4, 10, 3).encode(),
            [0x55, 0x04, 3, 0, 10, 0, 0, 0]
        );
        // w1 &= -7
        assert_eq!(
            Insn::and_imm(1, -7).encode(),
            [0x54, 0x01, 0, 0, 0xf9, 0xff, 0xff, 0xff]
        );
        assert_eq!(Insn::mov_reg(1, 3).encode(), [0xbc, 0x31, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Insn::mov_imm(0, 1).encode(), [0xb7, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(Insn::exit().encode(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
    }
}
