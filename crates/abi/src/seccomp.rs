//! Compiles the host allowlist into a classic BPF seccomp program.
//!
//! The program sorts every syscall into one of three fates:
//! - issued from outside the kernel's text (the guest): `SECCOMP_RET_TRAP`,
//!   so the kernel's SIGSYS handler serves it;
//! - issued from the kernel's text and allowed by a [`HostRule`]:
//!   `SECCOMP_RET_ALLOW`;
//! - anything else (a kernel call outside the list, another ABI such as the
//!   32-bit `int 0x80` entry): never executed.
//!
//! Rules are found by a binary search on the syscall number, so a kernel
//! host call costs a handful of BPF instructions, not one per rule.

use alloc::vec::Vec;
use core::ops::Range;

use crate::hostcalls::{ArgMatch, HostRule};

/// One BPF instruction, as `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const RET_ALLOW: u32 = 0x7fff_0000;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
const ENOSYS: u32 = 38;

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const JA: u16 = 0x05;
const RET_K: u16 = 0x06;

const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_IP_LO: u32 = 8;
const OFF_IP_HI: u32 = 12;
const fn off_arg_lo(arg: u8) -> u32 {
    16 + 8 * arg as u32
}

/// Why a filter could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompileError {
    /// The kernel text crosses a 4 GiB boundary, which the 32-bit compares
    /// of classic BPF cannot express in one range.
    TextRangeTooWide,
    /// The program exceeds the kernel's BPF length limit.
    TooLong,
}

/// A jump target: an instruction index, known once the program is laid out.
#[derive(Clone, Copy)]
struct Label(usize);

enum Insn {
    Plain(SockFilter),
    /// `if (A op k) goto t else goto f`.
    Cond {
        code: u16,
        k: u32,
        t: Label,
        f: Label,
    },
    Jump(Label),
}

#[derive(Default)]
struct Emitter {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
}

impl Emitter {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }
    fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.insns.len());
    }
    fn load(&mut self, offset: u32) {
        self.insns.push(Insn::Plain(SockFilter {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: offset,
        }));
    }
    fn ret(&mut self, action: u32) {
        self.insns.push(Insn::Plain(SockFilter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: action,
        }));
    }
    fn cond(&mut self, code: u16, k: u32, t: Label, f: Label) {
        self.insns.push(Insn::Cond { code, k, t, f });
    }

    /// Lays the program out. A conditional jump whose targets are within
    /// reach of BPF's 8-bit offsets is emitted as is; otherwise it becomes a
    /// conditional over two `ja` (32-bit offset) instructions.
    fn finish(self) -> Vec<SockFilter> {
        // First pass: the size of each instruction, assuming long form when
        // a target is further than 255 *instructions of the short layout*
        // (a safe over-approximation, since expansion only adds 2 each).
        let target = |l: Label| self.labels[l.0].expect("unbound label");
        let mut long = Vec::with_capacity(self.insns.len());
        for (i, insn) in self.insns.iter().enumerate() {
            let is_long = match insn {
                Insn::Cond { t, f, .. } => {
                    let reach = |l: Label| target(l).saturating_sub(i + 1) * 3;
                    reach(*t) > 255 || reach(*f) > 255
                }
                _ => false,
            };
            long.push(is_long);
        }
        let mut position = Vec::with_capacity(self.insns.len() + 1);
        let mut pc = 0;
        for is_long in &long {
            position.push(pc);
            pc += if *is_long { 3 } else { 1 };
        }
        position.push(pc);
        let at = |l: Label| position[target(l)];

        let mut out = Vec::with_capacity(pc);
        for (i, insn) in self.insns.iter().enumerate() {
            let here = position[i];
            match *insn {
                Insn::Plain(f) => out.push(f),
                Insn::Jump(l) => out.push(SockFilter {
                    code: JA,
                    jt: 0,
                    jf: 0,
                    k: (at(l) - here - 1) as u32,
                }),
                Insn::Cond { code, k, t, f } if !long[i] => out.push(SockFilter {
                    code,
                    jt: (at(t) - here - 1) as u8,
                    jf: (at(f) - here - 1) as u8,
                    k,
                }),
                Insn::Cond { code, k, t, f } => {
                    out.push(SockFilter {
                        code,
                        jt: 0,
                        jf: 1,
                        k,
                    });
                    out.push(SockFilter {
                        code: JA,
                        jt: 0,
                        jf: 0,
                        k: (at(t) - here - 2) as u32,
                    });
                    out.push(SockFilter {
                        code: JA,
                        jt: 0,
                        jf: 0,
                        k: (at(f) - here - 3) as u32,
                    });
                }
            }
        }
        out
    }
}

/// Builds the filter for a kernel whose text spans `kernel_text`.
pub fn compile(
    rules: &[HostRule],
    kernel_text: Range<u64>,
) -> Result<Vec<SockFilter>, CompileError> {
    let hi = (kernel_text.start >> 32) as u32;
    if (kernel_text.end - 1) >> 32 != hi as u64 {
        return Err(CompileError::TextRangeTooWide);
    }
    let mut e = Emitter::default();
    let (trap, kill, native, in_kernel) = (e.label(), e.label(), e.label(), e.label());
    let (lo_ok, below_end) = (e.label(), e.label());

    // Only the native x86-64 ABI reaches the host, from anywhere.
    e.load(OFF_ARCH);
    e.cond(JEQ_K, AUDIT_ARCH_X86_64, native, kill);
    e.bind(native);
    // Calls from outside the kernel's text go to the kernel.
    e.load(OFF_IP_HI);
    let hi_ok = e.label();
    e.cond(JEQ_K, hi, hi_ok, trap);
    e.bind(hi_ok);
    e.load(OFF_IP_LO);
    e.cond(JGE_K, kernel_text.start as u32, lo_ok, trap);
    e.bind(lo_ok);
    e.cond(JGE_K, kernel_text.end as u32, trap, below_end);
    e.bind(below_end);
    e.insns.push(Insn::Jump(in_kernel));

    e.bind(trap);
    e.ret(RET_TRAP);
    e.bind(kill);
    // Another ABI (or a non-listed kernel call): refuse without executing.
    e.ret(RET_ERRNO | ENOSYS);

    e.bind(in_kernel);
    e.load(OFF_NR);
    let deny = e.label();
    let mut sorted: Vec<&HostRule> = rules.iter().collect();
    sorted.sort_by_key(|r| r.sysno.id());
    search(&mut e, &sorted, deny);
    e.bind(deny);
    e.ret(RET_KILL_PROCESS);

    let program = e.finish();
    if program.len() > 4096 {
        return Err(CompileError::TooLong);
    }
    Ok(program)
}

/// Emits a binary search over `rules` (sorted by number, unique) with the syscall
/// number in the accumulator; every path ends in a return or at `deny`.
fn search(e: &mut Emitter, rules: &[&HostRule], deny: Label) {
    if rules.len() <= 3 {
        for rule in rules {
            let (matched, next) = (e.label(), e.label());
            e.cond(JEQ_K, rule.sysno.id() as u32, matched, next);
            e.bind(matched);
            check_args(e, rule.args, deny);
            e.ret(RET_ALLOW);
            e.bind(next);
        }
        e.insns.push(Insn::Jump(deny));
        return;
    }
    let mid = rules.len() / 2;
    let (left, right) = (e.label(), e.label());
    e.cond(JGE_K, rules[mid].sysno.id() as u32, right, left);
    e.bind(left);
    search(e, &rules[..mid], deny);
    e.bind(right);
    search(e, &rules[mid..], deny);
}

fn check_args(e: &mut Emitter, args: &[ArgMatch], deny: Label) {
    for check in args {
        match *check {
            ArgMatch::OneOf { arg, values } => {
                e.load(off_arg_lo(arg));
                let ok = e.label();
                for &v in values {
                    let next = e.label();
                    e.cond(JEQ_K, v, ok, next);
                    e.bind(next);
                }
                e.insns.push(Insn::Jump(deny));
                e.bind(ok);
            }
            ArgMatch::NoneOf { arg, mask } => {
                for (offset, bits) in [
                    (off_arg_lo(arg), mask as u32),
                    (off_arg_lo(arg) + 4, (mask >> 32) as u32),
                ] {
                    if bits != 0 {
                        let ok = e.label();
                        e.load(offset);
                        e.cond(JSET_K, bits, deny, ok);
                        e.bind(ok);
                    }
                }
            }
        }
    }
}

/// A classic-BPF interpreter for the subset [`compile`] emits, so that tests
/// can check the filter's verdicts without installing it.
pub fn evaluate(program: &[SockFilter], nr: u32, arch: u32, ip: u64, args: [u64; 6]) -> u32 {
    let mut data = [0u32; 16];
    data[0] = nr;
    data[1] = arch;
    data[2] = ip as u32;
    data[3] = (ip >> 32) as u32;
    for (i, a) in args.iter().enumerate() {
        data[4 + 2 * i] = *a as u32;
        data[5 + 2 * i] = (*a >> 32) as u32;
    }
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let insn = program[pc];
        pc += 1;
        let jump = |taken: bool| {
            if taken {
                insn.jt as usize
            } else {
                insn.jf as usize
            }
        };
        match insn.code {
            LD_W_ABS => acc = data[insn.k as usize / 4],
            JEQ_K => pc += jump(acc == insn.k),
            JGE_K => pc += jump(acc >= insn.k),
            JSET_K => pc += jump(acc & insn.k != 0),
            JA => pc += insn.k as usize,
            RET_K => return insn.k,
            other => panic!("unexpected BPF opcode {other:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostcalls::HOST_RULES;
    use syscalls::Sysno;

    const TEXT: Range<u64> = 0x7e00_0000_1000..0x7e00_0008_0000;
    const KERNEL_IP: u64 = 0x7e00_0000_2000;
    const GUEST_IP: u64 = 0x40_1000;

    fn verdict(nr: Sysno, ip: u64, args: [u64; 6]) -> u32 {
        let program = compile(HOST_RULES, TEXT).unwrap();
        evaluate(&program, nr.id() as u32, AUDIT_ARCH_X86_64, ip, args)
    }

    #[test]
    fn every_listed_call_from_kernel_text_is_allowed() {
        for rule in HOST_RULES {
            let mut args = [0u64; 6];
            for check in rule.args {
                if let ArgMatch::OneOf { arg, values } = check {
                    args[*arg as usize] = values[0] as u64;
                }
            }
            assert_eq!(
                verdict(rule.sysno, KERNEL_IP, args),
                RET_ALLOW,
                "{:?}",
                rule.sysno
            );
        }
    }

    #[test]
    fn calls_from_guest_text_trap_into_the_kernel() {
        assert_eq!(verdict(Sysno::read, GUEST_IP, [0; 6]), RET_TRAP);
        assert_eq!(verdict(Sysno::mount, GUEST_IP, [0; 6]), RET_TRAP);
        assert_eq!(verdict(Sysno::read, TEXT.end, [0; 6]), RET_TRAP);
        assert_eq!(verdict(Sysno::read, TEXT.start - 1, [0; 6]), RET_TRAP);
        assert_eq!(
            verdict(Sysno::read, KERNEL_IP + (1 << 32), [0; 6]),
            RET_TRAP
        );
    }

    #[test]
    fn unlisted_calls_from_kernel_text_kill() {
        for nr in [Sysno::mount, Sysno::ptrace, Sysno::execve, Sysno::bpf] {
            assert_eq!(verdict(nr, KERNEL_IP, [0; 6]), RET_KILL_PROCESS, "{nr:?}");
        }
        assert_eq!(
            verdict(Sysno::ioctl, KERNEL_IP, [0, 0x8901, 0, 0, 0, 0]),
            RET_KILL_PROCESS
        );
        assert_eq!(
            verdict(Sysno::prlimit64, KERNEL_IP, [1, 0, 0, 0, 0, 0]),
            RET_KILL_PROCESS
        );
    }

    #[test]
    fn only_unix_inet_and_route_netlink_sockets_reach_the_host() {
        const SOCK_RAW: u64 = 3;
        const SOCK_CLOEXEC: u64 = 0o2000000;
        let socket = |domain, ty, protocol| {
            verdict(Sysno::socket, KERNEL_IP, [domain, ty, protocol, 0, 0, 0])
        };
        for domain in [1, 2, 10, 16] {
            assert_eq!(socket(domain, 1 | SOCK_CLOEXEC, 0), RET_ALLOW, "{domain}");
            assert_eq!(socket(domain, 2, 0), RET_ALLOW, "{domain}");
        }
        const AF_PACKET: u64 = 17;
        assert_eq!(socket(AF_PACKET, 2, 0), RET_KILL_PROCESS);
        assert_eq!(socket(2, SOCK_RAW, 0), RET_KILL_PROCESS);
        assert_eq!(socket(16, SOCK_RAW, 0), RET_KILL_PROCESS);
        // NETLINK_AUDIT, or IPPROTO_RAW on an internet socket.
        assert_eq!(socket(16, 2, 9), RET_KILL_PROCESS);
        assert_eq!(socket(2, 2, 255), RET_KILL_PROCESS);
        let pair = |domain| verdict(Sysno::socketpair, KERNEL_IP, [domain, 1, 0, 0, 0, 0]);
        assert_eq!(pair(1), RET_ALLOW);
        assert_eq!(pair(2), RET_KILL_PROCESS);
    }

    #[test]
    fn clone_cannot_create_namespaces_or_escape_its_parent() {
        const CLONE_VM: u64 = 0x100;
        const CLONE_NEWUSER: u64 = 0x1000_0000;
        const SIGCHLD: u64 = 17;
        let clone = |flags| verdict(Sysno::clone, KERNEL_IP, [flags, 0, 0, 0, 0, 0]);
        assert_eq!(clone(SIGCHLD), RET_ALLOW);
        assert_eq!(clone(SIGCHLD | CLONE_NEWUSER), RET_KILL_PROCESS);
        assert_eq!(clone(SIGCHLD | CLONE_VM), RET_ALLOW);
        const CLONE_PARENT: u64 = 0x8000;
        assert_eq!(clone(SIGCHLD | CLONE_PARENT), RET_KILL_PROCESS);
    }

    #[test]
    fn mknod_makes_fifos_but_never_devices() {
        let mknod = |mode| verdict(Sysno::mknodat, KERNEL_IP, [0, 0, mode, 0, 0, 0]);
        assert_eq!(mknod(0o010644), RET_ALLOW);
        assert_eq!(mknod(0o020644), RET_KILL_PROCESS, "character device");
        assert_eq!(mknod(0o060644), RET_KILL_PROCESS, "block device");
    }

    #[test]
    fn exec_reaches_only_the_kernel_image() {
        let image = crate::layout::KERNEL_IMAGE_FD as u64;
        let exec = |fd, flags| verdict(Sysno::execveat, KERNEL_IP, [fd, 0, 0, 0, flags, 0]);
        assert_eq!(exec(image, 0x1000), RET_ALLOW);
        assert_eq!(exec(3, 0x1000), RET_KILL_PROCESS);
        assert_eq!(exec(image, 0), RET_KILL_PROCESS);
        assert_eq!(verdict(Sysno::execve, KERNEL_IP, [0; 6]), RET_KILL_PROCESS);
    }

    #[test]
    fn other_abis_never_reach_the_host() {
        let program = compile(HOST_RULES, TEXT).unwrap();
        let i386 = 0x4000_0003;
        assert_eq!(
            evaluate(&program, 3, i386, KERNEL_IP, [0; 6]),
            RET_ERRNO | ENOSYS
        );
        assert_eq!(
            evaluate(&program, 3, i386, GUEST_IP, [0; 6]),
            RET_ERRNO | ENOSYS
        );
    }

    #[test]
    fn none_of_masks_check_both_halves() {
        const RULES: &[HostRule] = &[HostRule {
            sysno: Sysno::clone,
            args: &[ArgMatch::NoneOf {
                arg: 0,
                mask: 0x1_0000_0010,
            }],
            why: "test",
        }];
        let program = compile(RULES, TEXT).unwrap();
        let run = |flags| {
            evaluate(
                &program,
                Sysno::clone.id() as u32,
                AUDIT_ARCH_X86_64,
                KERNEL_IP,
                [flags, 0, 0, 0, 0, 0],
            )
        };
        assert_eq!(run(0x20), RET_ALLOW);
        assert_eq!(run(0x10), RET_KILL_PROCESS);
        assert_eq!(run(0x1_0000_0000), RET_KILL_PROCESS);
    }

    #[test]
    fn text_across_4g_boundary_is_refused() {
        assert_eq!(
            compile(HOST_RULES, 0xffff_f000..0x1_0000_1000),
            Err(CompileError::TextRangeTooWide)
        );
    }
}
