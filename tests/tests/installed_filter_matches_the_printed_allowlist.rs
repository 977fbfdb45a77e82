//! The host allowlist anyone can audit (`oxbox debug host-syscalls`) is
//! the one a running container actually has: the seccomp filter is read
//! out of a live container process with `PTRACE_SECCOMP_GET_FILTER` (the
//! helper `tests/escape/host/dump_seccomp.c`, run as root) and
//!
//! - is, instruction for instruction, the program `--bpf` prints;
//! - evaluated (`oxbox_abi::seccomp::evaluate`, and a walk over every path
//!   of the program for the argument checks) for every syscall number of
//!   the x86-64, x32 and i386 ABIs: from the kernel's text exactly the
//!   printed numbers can be allowed, and an unlisted one only kills; from
//!   guest code every x86-64 call traps into the kernel; the 32-bit entry
//!   fails with ENOSYS from anywhere, and x32 numbers are never allowed.
//!
//! So the printed list and the installed filter can never drift apart.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oxbox_abi::seccomp::{
    AUDIT_ARCH_X86_64, RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_TRAP, SockFilter, evaluate,
};
use oxbox_integration::{host_program, native_only, oxbox_bin, require_root, rootfs};

const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const ENOSYS: u32 = 38;
/// Past the highest syscall number of either ABI.
const SYSCALL_NUMBERS: u32 = 1024;
/// Where guest code sits in a static binary.
const GUEST_IP: u64 = 0x40_1000;

/// The filters of process `pid`, innermost first.
fn dump_filters(pid: u32) -> Vec<Vec<SockFilter>> {
    let tool = host_program("dump_seccomp").unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(tool)
        .arg(pid.to_string())
        .output()
        .expect("running dump_seccomp");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dump_seccomp failed: {}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut filters = Vec::new();
    for line in text.lines() {
        if line.starts_with("filter ") {
            filters.push(Vec::new());
            continue;
        }
        let f: Vec<u32> = line.split(' ').map(|v| v.parse().unwrap()).collect();
        filters.last_mut().unwrap().push(SockFilter {
            code: f[0] as u16,
            jt: f[1] as u8,
            jf: f[2] as u8,
            k: f[3],
        });
    }
    filters
}

/// The process of a running container, once its kernel has installed its
/// filter (`Seccomp: 2` in its status).
fn container_process(monitor: u32) -> Option<u32> {
    let children = fs::read_to_string(format!("/proc/{monitor}/task/{monitor}/children")).ok()?;
    children.split_whitespace().find_map(|c| {
        let status = fs::read_to_string(format!("/proc/{c}/status")).ok()?;
        status
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Seccomp:", "2"])
            .then(|| c.parse().ok())?
    })
}

/// What `oxbox debug host-syscalls --bpf` prints: the allowed numbers
/// (with whether they carry argument checks), the program, and the kernel
/// text it trusts.
struct Printed {
    rules: BTreeMap<u32, bool>,
    program: Vec<SockFilter>,
    text_start: u64,
}

fn printed() -> Printed {
    let out = Command::new(oxbox_bin())
        .args(["debug", "host-syscalls", "--bpf"])
        .output()
        .expect("running oxbox debug host-syscalls");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (list, bpf) = text.split_once("\n\n").expect("a list, then the program");
    let (header, list) = list.split_once('\n').unwrap();
    let count: usize = header.split(' ').next().unwrap().parse().unwrap();
    let rules: BTreeMap<u32, bool> = list
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let nr = words.next()?.parse().ok()?;
            let _name = words.next()?;
            Some((nr, words.next()? != "-"))
        })
        .collect();
    assert_eq!(rules.len(), count, "{header}");
    let start = bpf
        .lines()
        .next()
        .unwrap()
        .split_once("kernel text 0x")
        .and_then(|(_, rest)| rest.split_once(".."))
        .map(|(start, _)| u64::from_str_radix(start, 16).unwrap())
        .expect("the kernel text in the program's header");
    let hex = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    let program = bpf
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            SockFilter {
                code: hex(f[1]) as u16,
                jt: f[2].parse().unwrap(),
                jf: f[3].parse().unwrap(),
                k: hex(f[4]),
            }
        })
        .collect();
    Printed {
        rules,
        program,
        text_start: start,
    }
}

/// Every action the program can return for this call, whatever its
/// arguments: a walk over both branches of each test on an argument
/// (over-approximating: contradictory tests on one argument are not
/// pruned), with the number, the ABI and the address known.
fn possible_actions(program: &[SockFilter], nr: u32, arch: u32, ip: u64) -> BTreeSet<u32> {
    const LD_W_ABS: u16 = 0x20;
    let known = |offset: u32| match offset {
        0 => Some(nr),
        4 => Some(arch),
        8 => Some(ip as u32),
        12 => Some((ip >> 32) as u32),
        _ => None,
    };
    let mut actions = BTreeSet::new();
    let mut seen = BTreeSet::new();
    // (pc, accumulator: None when it holds an argument)
    let mut todo = vec![(0usize, Some(0u32))];
    while let Some((pc, acc)) = todo.pop() {
        if !seen.insert((pc, acc)) {
            continue;
        }
        let insn = program[pc];
        let next = pc + 1;
        let branch = |taken: Option<bool>| -> Vec<usize> {
            let (t, f) = (next + insn.jt as usize, next + insn.jf as usize);
            match taken {
                Some(true) => vec![t],
                Some(false) => vec![f],
                None => vec![t, f],
            }
        };
        let targets = match insn.code {
            LD_W_ABS => {
                todo.push((next, known(insn.k)));
                continue;
            }
            0x15 => branch(acc.map(|a| a == insn.k)),
            0x35 => branch(acc.map(|a| a >= insn.k)),
            0x45 => branch(acc.map(|a| a & insn.k != 0)),
            0x05 => vec![next + insn.k as usize],
            0x06 => {
                actions.insert(insn.k);
                continue;
            }
            other => panic!("unexpected BPF opcode {other:#x} at {pc}"),
        };
        todo.extend(targets.into_iter().map(|t| (t, acc)));
    }
    actions
}

#[test]
fn installed_filter_matches_the_printed_allowlist() {
    require_root!();
    if native_only() {
        eprintln!("OXBOX_NATIVE_ONLY=1: skipped (oxbox only)");
        return;
    }
    let mut monitor = Command::new(oxbox_bin())
        .arg("do")
        .arg("--rootfs")
        .arg(rootfs().path())
        .args(["--", "/bin/sleep", "5"])
        .stdin(Stdio::null())
        .spawn()
        .expect("starting oxbox do");
    // Only until the container exists; nothing is measured.
    let deadline = Instant::now() + Duration::from_secs(60);
    let container = loop {
        if let Some(pid) = container_process(monitor.id()) {
            break Some(pid);
        }
        if Instant::now() > deadline || monitor.try_wait().unwrap().is_some() {
            let _ = monitor.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let filters = container.map(dump_filters);
    // The dump stopped the container in the middle of its sleep; resumed,
    // the host continues the sleep with restart_syscall from the kernel's
    // text, which the filter must allow: the sleep ends normally.
    let status = monitor.wait().unwrap();
    let filters = filters.expect("the container process never had its filter installed");
    assert!(
        status.success(),
        "the container did not survive being stopped for the dump: {status}"
    );
    assert_eq!(
        filters.len(),
        1,
        "one filter, the kernel's, is expected in a container of `oxbox do`"
    );
    let installed = &filters[0];

    let printed = printed();
    assert_eq!(
        installed, &printed.program,
        "the installed filter is not the program `oxbox debug host-syscalls --bpf` prints"
    );

    let kernel_ip = printed.text_start;
    let enosys = RET_ERRNO | ENOSYS;
    let mut reachable = BTreeSet::new();
    for nr in 0..SYSCALL_NUMBERS {
        let from_kernel = possible_actions(installed, nr, AUDIT_ARCH_X86_64, kernel_ip);
        match printed.rules.get(&nr) {
            Some(&checks_args) => {
                assert!(
                    from_kernel.contains(&RET_ALLOW),
                    "{nr} is listed but refused"
                );
                if !checks_args {
                    let verdict = evaluate(installed, nr, AUDIT_ARCH_X86_64, kernel_ip, [0; 6]);
                    assert_eq!(verdict, RET_ALLOW, "{nr} is listed without checks");
                }
                reachable.insert(nr);
            }
            None => assert_eq!(
                from_kernel,
                BTreeSet::from([RET_KILL_PROCESS]),
                "{nr} is not listed, yet the filter can do more than kill"
            ),
        }
        let x32 = possible_actions(
            installed,
            nr | X32_SYSCALL_BIT,
            AUDIT_ARCH_X86_64,
            kernel_ip,
        );
        assert!(!x32.contains(&RET_ALLOW), "x32 call {nr} can be allowed");
        for ip in [kernel_ip, GUEST_IP] {
            let i386 = possible_actions(installed, nr, AUDIT_ARCH_I386, ip);
            assert_eq!(i386, BTreeSet::from([enosys]), "i386 call {nr} at {ip:#x}");
            assert_eq!(evaluate(installed, nr, AUDIT_ARCH_I386, ip, [0; 6]), enosys);
        }
        assert_eq!(
            evaluate(installed, nr, AUDIT_ARCH_X86_64, GUEST_IP, [0; 6]),
            RET_TRAP,
            "call {nr} from guest code does not trap into the kernel"
        );
    }
    assert_eq!(
        reachable.len(),
        printed.rules.len(),
        "listed numbers beyond {SYSCALL_NUMBERS}"
    );
    println!(
        "installed filter: {} instructions; {} host syscalls reachable from the kernel's text \
         (x86-64), 0 through int 0x80 or x32",
        installed.len(),
        reachable.len()
    );
}
