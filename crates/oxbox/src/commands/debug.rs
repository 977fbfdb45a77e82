//! `oxbox debug`: print what oxbox enforces, so anyone can audit it.
//!
//! `host-syscalls` prints the host allowlist the kernel installs
//! (`oxbox_abi::hostcalls::HOST_RULES`), one rule a line, and with `--bpf`
//! the seccomp program compiled from it, disassembled.

use std::ops::Range;

use anyhow::Context;
use clap::{Args, Subcommand};
use oxbox_abi::Sysno;
use oxbox_abi::hostcalls::{ArgMatch, HOST_RULES, HostRule};
use oxbox_abi::layout::KERNEL_BASE;
use oxbox_abi::seccomp::{self, RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_TRAP, SockFilter};

use super::do_::kernel_image_path;

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// List the host syscalls a container can reach, with their argument
    /// filters and reasons
    HostSyscalls(HostSyscallsArgs),
}

#[derive(Debug, Args)]
pub struct HostSyscallsArgs {
    /// Also dump the compiled seccomp BPF program
    #[arg(long)]
    pub bpf: bool,
}

pub fn run(command: DebugCommand) -> anyhow::Result<()> {
    match command {
        DebugCommand::HostSyscalls(args) => {
            print!("{}", host_syscalls_text(HOST_RULES));
            if args.bpf {
                let exe = std::env::current_exe().context("cannot find the oxbox executable")?;
                let kernel = kernel_image_path(std::env::var_os("OXBOX_KERNEL"), &exe);
                let (text, source) = match std::fs::read(&kernel)
                    .ok()
                    .and_then(|elf| executable_range(&elf))
                {
                    Some(range) => (range, format!("text of {}", kernel.display())),
                    None => (
                        KERNEL_BASE..KERNEL_BASE + (1 << 32),
                        format!(
                            "{} not readable: assumed the first 4 GiB of the kernel area",
                            kernel.display()
                        ),
                    ),
                };
                let program = seccomp::compile(HOST_RULES, text.clone())
                    .map_err(|e| anyhow::anyhow!("cannot compile the seccomp filter: {e:?}"))?;
                println!();
                print!("{}", bpf_text(&program, &text, &source));
            }
            Ok(())
        }
    }
}

/// The allowlist, one rule a line in syscall-number order, between a count
/// and a statement about the other ABIs.
pub fn host_syscalls_text(rules: &[HostRule]) -> String {
    let mut rules: Vec<&HostRule> = rules.iter().collect();
    rules.sort_by_key(|r| r.sysno.id());
    let name_width = rules
        .iter()
        .map(|r| r.sysno.name().len())
        .max()
        .unwrap_or(0);
    let args: Vec<String> = rules.iter().map(|r| constraints(r)).collect();
    // Long constraint lists overflow their column rather than widen it.
    let args_width = args
        .iter()
        .map(String::len)
        .filter(|&n| n <= 40)
        .max()
        .unwrap_or(0);
    let mut out = format!(
        "{} host syscalls reachable from a container (x86-64 ABI, from kernel text only):\n",
        rules.len()
    );
    for (rule, args) in rules.iter().zip(&args) {
        out.push_str(&format!(
            "{:>4}  {:<name_width$}  {:<args_width$}  {}\n",
            rule.sysno.id(),
            rule.sysno.name(),
            args,
            rule.why
        ));
    }
    out.push_str(
        "every other ABI is refused: the 32-bit int 0x80 entry fails with ENOSYS without reaching the host, \
         and x32 calls (number | 0x40000000) match no rule\n",
    );
    out
}

/// A rule's argument constraints in readable form, `-` when there are none.
fn constraints(rule: &HostRule) -> String {
    if rule.args.is_empty() {
        return "-".into();
    }
    let parts: Vec<String> = rule
        .args
        .iter()
        .map(|check| match *check {
            ArgMatch::OneOf { arg, values } => {
                let names: Vec<String> = values
                    .iter()
                    .map(|&v| value_name(rule.sysno, arg, v))
                    .collect();
                format!("arg{arg} in {{{}}}", names.join(", "))
            }
            ArgMatch::NoneOf { arg, mask } => format!("arg{arg} & {mask:#x} == 0"),
        })
        .collect();
    parts.join(" and ")
}

/// The symbolic name of a constant argument when oxbox knows it, else hex.
fn value_name(sysno: Sysno, arg: u8, value: u32) -> String {
    let table: &[(u32, &str)] = match (sysno, arg) {
        (Sysno::ioctl, 1) => IOCTL_NAMES,
        (Sysno::arch_prctl, 0) => ARCH_PRCTL_NAMES,
        (Sysno::execveat, 0) => &[(oxbox_abi::layout::KERNEL_IMAGE_FD as u32, "KERNEL_IMAGE_FD")],
        (Sysno::execveat, 4) => &[(0x1000, "AT_EMPTY_PATH")],
        (Sysno::socket | Sysno::socketpair, 0) => SOCKET_FAMILY_NAMES,
        (Sysno::setsockopt | Sysno::getsockopt, 1) => SOCKET_LEVEL_NAMES,
        _ => &[],
    };
    match table.iter().find(|(v, _)| *v == value) {
        Some((_, name)) => (*name).to_owned(),
        None if value < 10 => value.to_string(),
        None => format!("{value:#x}"),
    }
}

const IOCTL_NAMES: &[(u32, &str)] = &[
    (0x5401, "TCGETS"),
    (0x5402, "TCSETS"),
    (0x5403, "TCSETSW"),
    (0x5404, "TCSETSF"),
    (0x5409, "TCSBRK"),
    (0x540a, "TCXONC"),
    (0x540b, "TCFLSH"),
    (0x540e, "TIOCSCTTY"),
    (0x540f, "TIOCGPGRP"),
    (0x5410, "TIOCSPGRP"),
    (0x5411, "TIOCOUTQ"),
    (0x5413, "TIOCGWINSZ"),
    (0x5414, "TIOCSWINSZ"),
    (0x541b, "FIONREAD"),
    (0x5421, "FIONBIO"),
    (0x5422, "TIOCNOTTY"),
    (0x5429, "TIOCGSID"),
    (0x5450, "FIONCLEX"),
    (0x5451, "FIOCLEX"),
    (0x5452, "FIOASYNC"),
    (0x8905, "SIOCATMARK"),
    (0x8910, "SIOCGIFNAME"),
    (0x8912, "SIOCGIFCONF"),
    (0x8913, "SIOCGIFFLAGS"),
    (0x8915, "SIOCGIFADDR"),
    (0x8917, "SIOCGIFDSTADDR"),
    (0x8919, "SIOCGIFBRDADDR"),
    (0x891b, "SIOCGIFNETMASK"),
    (0x891d, "SIOCGIFMETRIC"),
    (0x8921, "SIOCGIFMTU"),
    (0x8927, "SIOCGIFHWADDR"),
    (0x8933, "SIOCGIFINDEX"),
    (0x8942, "SIOCGIFTXQLEN"),
    (0x894b, "SIOCOUTQNSD"),
];

const SOCKET_FAMILY_NAMES: &[(u32, &str)] = &[
    (1, "AF_UNIX"),
    (2, "AF_INET"),
    (10, "AF_INET6"),
    (16, "AF_NETLINK"),
];

const SOCKET_LEVEL_NAMES: &[(u32, &str)] = &[
    (0, "IPPROTO_IP"),
    (1, "SOL_SOCKET"),
    (6, "IPPROTO_TCP"),
    (17, "IPPROTO_UDP"),
    (41, "IPPROTO_IPV6"),
    (270, "SOL_NETLINK"),
];

const ARCH_PRCTL_NAMES: &[(u32, &str)] = &[
    (0x1001, "ARCH_SET_GS"),
    (0x1002, "ARCH_SET_FS"),
    (0x1003, "ARCH_GET_FS"),
    (0x1004, "ARCH_GET_GS"),
];

/// The extent of the executable `PT_LOAD` segments of a 64-bit
/// little-endian ELF file: the kernel text the filter trusts.
pub fn executable_range(elf: &[u8]) -> Option<Range<u64>> {
    const PT_LOAD: u32 = 1;
    const PF_X: u32 = 1;
    let u16_at = |at: usize| Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?));
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (phoff, phentsize, phnum) = (
        u64_at(0x20)? as usize,
        u16_at(0x36)? as usize,
        u16_at(0x38)? as usize,
    );
    let mut range: Option<Range<u64>> = None;
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(ph)? != PT_LOAD || u32_at(ph + 4)? & PF_X == 0 {
            continue;
        }
        let (start, size) = (u64_at(ph + 16)?, u64_at(ph + 40)?);
        let end = start.checked_add(size)?;
        range = Some(match range {
            Some(r) => r.start.min(start)..r.end.max(end),
            None => start..end,
        });
    }
    range
}

/// The program, one instruction a line: index, raw `sock_filter` fields,
/// and a disassembly with absolute jump targets.
pub fn bpf_text(program: &[SockFilter], text: &Range<u64>, source: &str) -> String {
    let mut out = format!(
        "seccomp program: {} instructions; kernel text {:#x}..{:#x} ({source})\n",
        program.len(),
        text.start,
        text.end
    );
    for (pc, insn) in program.iter().enumerate() {
        out.push_str(&format!(
            "{pc:4}: {:#06x} {:3} {:3} {:#010x}   {}\n",
            insn.code,
            insn.jt,
            insn.jf,
            insn.k,
            disassemble(pc, insn)
        ));
    }
    out
}

fn disassemble(pc: usize, insn: &SockFilter) -> String {
    let target = |off: u32| pc + 1 + off as usize;
    let branch = |op: &str| {
        format!(
            "{op} #{:#x}, {}, {}",
            insn.k,
            target(insn.jt.into()),
            target(insn.jf.into())
        )
    };
    match insn.code {
        0x20 => format!("ld [{}]", field_name(insn.k)),
        0x15 => branch("jeq"),
        0x35 => branch("jge"),
        0x45 => branch("jset"),
        0x05 => format!("ja {}", target(insn.k)),
        0x06 => format!("ret {}", action_name(insn.k)),
        code => format!("? opcode {code:#x}"),
    }
}

/// The `seccomp_data` field at byte offset `k`.
fn field_name(k: u32) -> String {
    match k {
        0 => "nr".into(),
        4 => "arch".into(),
        8 => "ip.lo".into(),
        12 => "ip.hi".into(),
        16..=63 => format!(
            "args[{}].{}",
            (k - 16) / 8,
            if k.is_multiple_of(8) { "lo" } else { "hi" }
        ),
        _ => format!("{k}"),
    }
}

fn action_name(k: u32) -> String {
    match k {
        RET_ALLOW => "ALLOW".into(),
        RET_TRAP => "TRAP".into(),
        RET_KILL_PROCESS => "KILL_PROCESS".into(),
        k if k & 0xffff_0000 == RET_ERRNO => format!("ERRNO({})", k & 0xffff),
        k => format!("{k:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxbox_abi::seccomp::{AUDIT_ARCH_X86_64, evaluate};

    #[test]
    fn listing_has_count_every_rule_and_abi_line() {
        let text = host_syscalls_text(HOST_RULES);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), HOST_RULES.len() + 2);
        assert!(lines[0].starts_with(&format!("{} host syscalls", HOST_RULES.len())));
        for rule in HOST_RULES {
            let line = lines
                .iter()
                .find(|l| l.split_whitespace().nth(1) == Some(rule.sysno.name()))
                .unwrap();
            assert_eq!(
                line.split_whitespace().next(),
                Some(rule.sysno.id().to_string().as_str())
            );
            assert!(line.ends_with(rule.why), "{line}");
        }
        assert!(
            lines.last().unwrap().contains("int 0x80") && lines.last().unwrap().contains("x32")
        );
    }

    #[test]
    fn rules_are_listed_in_number_order() {
        let text = host_syscalls_text(HOST_RULES);
        let numbers: Vec<u32> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn constraints_are_named() {
        let text = host_syscalls_text(HOST_RULES);
        let ioctl = text.lines().find(|l| l.contains(" ioctl ")).unwrap();
        assert!(ioctl.contains("arg1 in {TCGETS, TCSETS,"), "{ioctl}");
        let arch = text.lines().find(|l| l.contains(" arch_prctl ")).unwrap();
        assert!(
            arch.contains("arg0 in {ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS}"),
            "{arch}"
        );
        let exec = text.lines().find(|l| l.contains(" execveat ")).unwrap();
        assert!(
            exec.contains("arg0 in {KERNEL_IMAGE_FD} and arg4 in {AT_EMPTY_PATH}"),
            "{exec}"
        );
        let socket = text.lines().find(|l| l.contains(" socket ")).unwrap();
        assert!(
            socket.contains("arg0 in {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK}"),
            "{socket}"
        );
        let prlimit = text.lines().find(|l| l.contains(" prlimit64 ")).unwrap();
        assert!(prlimit.contains("arg0 in {0}"), "{prlimit}");
        let read = text.lines().find(|l| l.contains(" read ")).unwrap();
        assert!(read.contains("  -  "), "{read}");
    }

    #[test]
    fn unknown_values_and_masks_print_in_hex() {
        const RULE: HostRule = HostRule {
            sysno: Sysno::clone,
            args: &[
                ArgMatch::NoneOf {
                    arg: 0,
                    mask: 0x7e02_0000,
                },
                ArgMatch::OneOf {
                    arg: 2,
                    values: &[0x5401],
                },
            ],
            why: "test",
        };
        assert_eq!(
            constraints(&RULE),
            "arg0 & 0x7e020000 == 0 and arg2 in {0x5401}"
        );
    }

    #[test]
    fn the_abi_statement_matches_the_compiled_filter() {
        let text = 0x7e00_0000_1000..0x7e00_0008_0000;
        let program = seccomp::compile(HOST_RULES, text).unwrap();
        let (kernel_ip, guest_ip) = (0x7e00_0000_2000, 0x40_1000);
        for ip in [kernel_ip, guest_ip] {
            let i386 = evaluate(&program, 0, 0x4000_0003, ip, [0; 6]);
            assert_eq!(i386 & 0xffff_0000, RET_ERRNO);
            let x32 = evaluate(&program, 0x4000_0000, AUDIT_ARCH_X86_64, ip, [0; 6]);
            assert_ne!(x32, RET_ALLOW);
        }
    }

    fn fake_elf(segments: &[(u32, u32, u64, u64)]) -> Vec<u8> {
        let mut elf = vec![0u8; 64 + 56 * segments.len()];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for (i, &(kind, flags, vaddr, memsz)) in segments.iter().enumerate() {
            let ph = 64 + 56 * i;
            elf[ph..ph + 4].copy_from_slice(&kind.to_le_bytes());
            elf[ph + 4..ph + 8].copy_from_slice(&flags.to_le_bytes());
            elf[ph + 16..ph + 24].copy_from_slice(&vaddr.to_le_bytes());
            elf[ph + 40..ph + 48].copy_from_slice(&memsz.to_le_bytes());
        }
        elf
    }

    #[test]
    fn kernel_text_is_the_executable_load_segments() {
        let elf = fake_elf(&[
            (1, 4, 0x7e00_0000_0000, 0x1000),
            (1, 5, 0x7e00_0000_1000, 0x8000),
            (6, 5, 0, 0x10),
        ]);
        assert_eq!(
            executable_range(&elf),
            Some(0x7e00_0000_1000..0x7e00_0000_9000)
        );
        assert_eq!(executable_range(b"#!/bin/sh\n"), None);
        assert_eq!(executable_range(&fake_elf(&[(1, 4, 0, 0x1000)])), None);
    }

    #[test]
    fn bpf_dump_disassembles_every_instruction() {
        let text = 0x7e00_0000_1000..0x7e00_0008_0000;
        let program = seccomp::compile(HOST_RULES, text.clone()).unwrap();
        let dump = bpf_text(&program, &text, "test");
        assert_eq!(dump.lines().count(), program.len() + 1);
        assert!(dump.lines().nth(1).unwrap().ends_with("ld [arch]"));
        assert!(
            dump.contains("ret TRAP")
                && dump.contains("ret ALLOW")
                && dump.contains("ret KILL_PROCESS")
        );
        assert!(dump.contains("ret ERRNO(38)"));
        assert!(!dump.contains("? opcode"));
    }
}
