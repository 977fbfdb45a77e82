//! `oxbox debug host-syscalls`: the audit view of the host allowlist.

mod common;

use common::{run, stdout};
use oxbox_abi::hostcalls::HOST_RULES;

#[test]
fn debug_host_syscalls_lists_every_rule() {
    let output = run(&["debug", "host-syscalls"]);
    assert!(output.status.success());
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().next(),
        Some(HOST_RULES.len().to_string().as_str())
    );
    assert_eq!(lines.len(), HOST_RULES.len() + 2);
    for rule in HOST_RULES {
        let line = lines
            .iter()
            .find(|l| l.split_whitespace().nth(1) == Some(rule.sysno.name()))
            .unwrap_or_else(|| panic!("{} missing", rule.sysno.name()));
        assert!(line.trim_start().starts_with(&rule.sysno.id().to_string()));
        assert!(line.contains(rule.why));
    }
}

#[test]
fn debug_host_syscalls_names_argument_filters() {
    let text = stdout(&run(&["debug", "host-syscalls"]));
    assert!(text.contains("arg1 in {TCGETS, "));
    assert!(text.contains("arg0 in {ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS}"));
}

#[test]
fn debug_host_syscalls_states_other_abis_are_refused() {
    let text = stdout(&run(&["debug", "host-syscalls"]));
    let last = text.lines().last().unwrap();
    assert!(
        last.contains("every other ABI is refused")
            && last.contains("int 0x80")
            && last.contains("x32")
    );
}

#[test]
fn debug_host_syscalls_bpf_dumps_the_program() {
    let output = run(&["debug", "host-syscalls", "--bpf"]);
    assert!(output.status.success());
    let text = stdout(&output);
    let dump: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("seccomp program:"))
        .collect();
    let count: usize = dump[0].split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(dump.len(), count + 1);
    assert!(dump[1].ends_with("ld [arch]"));
    assert!(text.contains("ret TRAP") && text.contains("ret KILL_PROCESS"));
}
