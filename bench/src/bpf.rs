//! The seccomp filters a running process has, as the host kernel
//! enforces them: read with `PTRACE_SECCOMP_GET_FILTER` by the tests'
//! host tool `tests/escape/host/dump_seccomp.c`, then evaluated for every
//! syscall number of an ABI.
//!
//! The evaluation runs the classic BPF program with the syscall number and
//! the architecture known and everything else (the instruction pointer,
//! the arguments) unknown: a test on an unknown value takes both branches,
//! so a number counts as reachable when some instruction pointer and some
//! arguments get it allowed. That is the attack surface: a compromised
//! container picks its arguments, and under oxbox jumps to a `syscall`
//! instruction inside the kernel's text.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// `AUDIT_ARCH_X86_64`: the `syscall` instruction.
pub const ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386`: the 32-bit `int 0x80` entry.
pub const ARCH_I386: u32 = 0x4000_0003;
/// Past the highest syscall number of either ABI.
pub const SYSCALL_NUMBERS: u32 = 1024;

const RET_ACTION_FULL: u32 = 0xffff_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_LOG: u32 = 0x7ffc_0000;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// The filters of process `pid`, innermost first, read by `tool`
/// (`dump_seccomp`).
pub fn dump(tool: &Path, pid: u32) -> Result<Vec<Vec<Insn>>> {
    let out = Command::new(tool)
        .arg(pid.to_string())
        .output()
        .with_context(|| format!("running {}", tool.display()))?;
    if !out.status.success() {
        bail!(
            "dump_seccomp {pid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_dump(&String::from_utf8_lossy(&out.stdout))
}

/// `filter <index> <n>` lines, each followed by `<code> <jt> <jf> <k>`.
fn parse_dump(text: &str) -> Result<Vec<Vec<Insn>>> {
    let mut filters: Vec<Vec<Insn>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("filter ") {
            filters.push(Vec::new());
            continue;
        }
        let f: Vec<u32> = line
            .split(' ')
            .map(str::parse)
            .collect::<std::result::Result<_, _>>()
            .with_context(|| format!("bad dump_seccomp line {line:?}"))?;
        let (Some(filter), &[code, jt, jf, k]) = (filters.last_mut(), &f[..]) else {
            bail!("bad dump_seccomp line {line:?}");
        };
        filter.push(Insn {
            code: code as u16,
            jt: jt as u8,
            jf: jf as u8,
            k,
        });
    }
    if filters.is_empty() {
        bail!("the process has no seccomp filter");
    }
    Ok(filters)
}

/// How many of the ABI's numbers every filter can allow (the host kernel
/// runs them all, and the most restrictive answer wins).
pub fn reachable(filters: &[Vec<Insn>], arch: u32) -> usize {
    (0..SYSCALL_NUMBERS)
        .filter(|&nr| filters.iter().all(|f| can_allow(f, nr, arch)))
        .count()
}

/// A machine state on one path: the accumulator, the index register and
/// the scratch memory, `None` where the value depends on the unknowns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct State {
    pc: usize,
    a: Option<u32>,
    x: Option<u32>,
    mem: [Option<u32>; 16],
}

/// Whether some path of `program` for `nr` on `arch` returns ALLOW (or
/// LOG, which allows too). Jumps only go forward, so every path ends;
/// states already seen are not walked again.
pub fn can_allow(program: &[Insn], nr: u32, arch: u32) -> bool {
    let data = |offset: u32| match offset {
        0 => Some(nr),
        4 => Some(arch),
        _ => None,
    };
    let mut seen = HashSet::new();
    let mut todo = vec![State {
        pc: 0,
        a: Some(0),
        x: Some(0),
        mem: [Some(0); 16],
    }];
    while let Some(mut s) = todo.pop() {
        let Some(&insn) = program.get(s.pc) else {
            continue;
        };
        if !seen.insert(s.clone()) {
            continue;
        }
        s.pc += 1;
        let k = insn.k;
        let operand = if insn.code & 0x08 != 0 { s.x } else { Some(k) };
        let slot = (k as usize) % 16;
        match insn.code & 0x07 {
            // LD: only word loads exist in seccomp.
            0x00 => {
                s.a = match insn.code & 0xe0 {
                    0x00 => Some(k),
                    0x20 => data(k),
                    0x60 => s.mem[slot],
                    0x80 => Some(64),
                    _ => None,
                }
            }
            0x01 => {
                s.x = match insn.code & 0xe0 {
                    0x00 => Some(k),
                    0x60 => s.mem[slot],
                    0x80 => Some(64),
                    _ => None,
                }
            }
            0x02 => s.mem[slot] = s.a,
            0x03 => s.mem[slot] = s.x,
            0x04 => s.a = alu(insn.code & 0xf0, s.a, operand),
            0x05 => {
                let op = insn.code & 0xf0;
                if op == 0x00 {
                    s.pc += k as usize;
                    todo.push(s);
                    continue;
                }
                let taken = s.a.zip(operand).map(|(a, b)| match op {
                    0x10 => a == b,
                    0x20 => a > b,
                    0x30 => a >= b,
                    _ => a & b != 0,
                });
                let (t, f) = (s.pc + insn.jt as usize, s.pc + insn.jf as usize);
                for (target, possible) in [(t, taken != Some(false)), (f, taken != Some(true))] {
                    if possible {
                        todo.push(State {
                            pc: target,
                            ..s.clone()
                        });
                    }
                }
                continue;
            }
            0x06 => {
                let value = if insn.code & 0x18 == 0x10 {
                    s.a
                } else {
                    Some(k)
                };
                match value.map(|v| v & RET_ACTION_FULL) {
                    Some(RET_ALLOW | RET_LOG) | None => return true,
                    Some(_) => {}
                }
                continue;
            }
            _ => {
                if insn.code & 0xf8 == 0x00 {
                    s.x = s.a;
                } else {
                    s.a = s.x;
                }
            }
        }
        todo.push(s);
    }
    false
}

/// An ALU operation; unknown in, unknown out.
fn alu(op: u16, a: Option<u32>, b: Option<u32>) -> Option<u32> {
    if op == 0x80 {
        return a.map(u32::wrapping_neg);
    }
    let (a, b) = (a?, b?);
    Some(match op {
        0x00 => a.wrapping_add(b),
        0x10 => a.wrapping_sub(b),
        0x20 => a.wrapping_mul(b),
        0x30 => a.checked_div(b)?,
        0x40 => a | b,
        0x50 => a & b,
        0x60 => a.checked_shl(b).unwrap_or(0),
        0x70 => a.checked_shr(b).unwrap_or(0),
        0x90 => a.checked_rem(b)?,
        _ => a ^ b,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
        Insn { code, jt, jf, k }
    }

    /// arch == x86-64 or kill; nr 39 allowed; nr 16 allowed when arg0's
    /// low word is 5; everything else ERRNO.
    fn program() -> Vec<Insn> {
        vec![
            insn(0x20, 0, 0, 4),                // ld arch
            insn(0x15, 1, 0, ARCH_X86_64),      // jeq x86-64
            insn(0x06, 0, 0, 0),                // ret kill
            insn(0x20, 0, 0, 0),                // ld nr
            insn(0x15, 4, 0, 39),               // jeq 39 -> allow
            insn(0x15, 0, 4, 16),               // jeq 16 else errno
            insn(0x20, 0, 0, 16),               // ld arg0
            insn(0x54, 0, 0, 0xff),             // and 0xff
            insn(0x15, 0, 1, 5),                // jeq 5 -> allow
            insn(0x06, 0, 0, RET_ALLOW),        // ret allow
            insn(0x06, 0, 0, 0x0005_0000 | 38), // ret errno
        ]
    }

    #[test]
    fn numbers_allowed_on_some_path_are_reachable() {
        let p = program();
        assert!(can_allow(&p, 39, ARCH_X86_64));
        assert!(
            can_allow(&p, 16, ARCH_X86_64),
            "allowed with some arguments"
        );
        assert!(!can_allow(&p, 17, ARCH_X86_64));
        assert!(!can_allow(&p, 39, ARCH_I386));
        assert_eq!(reachable(std::slice::from_ref(&p), ARCH_X86_64), 2);
        assert_eq!(reachable(&[p], ARCH_I386), 0);
    }

    #[test]
    fn stacked_filters_must_all_allow() {
        let only_39 = vec![
            insn(0x20, 0, 0, 0),
            insn(0x15, 0, 1, 39),
            insn(0x06, 0, 0, RET_ALLOW),
            insn(0x06, 0, 0, 0),
        ];
        assert_eq!(reachable(&[program(), only_39], ARCH_X86_64), 1);
    }

    #[test]
    fn the_dump_is_parsed_per_filter() {
        let filters =
            parse_dump("filter 0 2\n32 0 0 0\n6 0 0 2147418112\nfilter 1 1\n6 0 0 0\n").unwrap();
        assert_eq!(filters.len(), 2);
        assert_eq!(filters[0][1], insn(6, 0, 0, RET_ALLOW));
        assert!(parse_dump("").is_err());
        assert!(parse_dump("1 2 3 4\n").is_err());
    }
}
