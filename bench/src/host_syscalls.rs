//! How many host syscalls a container can reach, per runtime: the attack
//! surface the host kernel exposes to a compromised container.
//!
//! Two numbers per runtime, never a guess. What the runtime's own list
//! says: for runc and crun the allowed names of Docker's default profile
//! as resolved for the bundle, for oxbox the count `oxbox debug
//! host-syscalls` prints from the allowlist its kernel installs (runsc
//! compiles its filter in and prints it nowhere). And what the host
//! kernel enforces: the filters of a running container's process (runc's
//! and crun's container process, oxbox's, runsc's Sentry, which makes
//! every host call of a gVisor container) dumped with
//! `PTRACE_SECCOMP_GET_FILTER` and evaluated for every x86-64 number and
//! every number of the i386 `int 0x80` entry (`src/bpf.rs`). Native
//! execution has no filter at all.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::bpf;
use crate::docker_seccomp::OciSeccomp;
use crate::runtime::{Availability, RunRequest, Runner, RuntimeKind};
use crate::workload::MEMORY;

/// One runtime's counts, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSyscalls {
    pub runtime: RuntimeKind,
    /// What the runtime's own list allows.
    pub count: Option<usize>,
    /// Where the count comes from, or why it was not measured.
    pub source: String,
    /// x86-64 numbers the filter installed in a running container can
    /// allow, with some arguments and from some address.
    pub x86_64: Option<usize>,
    /// The same through the i386 `int 0x80` entry.
    pub int80: Option<usize>,
    /// Whose filter was read, or why none was.
    pub installed: String,
}

/// Counts for each of `runtimes`; the installed filters are read from a
/// container of each running `sleeper` (the memory workload's guest).
pub fn count_all(
    runtimes: &[RuntimeKind],
    runner: &Runner,
    sleeper: Option<&Path>,
) -> Vec<HostSyscalls> {
    let seccomp = runner.seccomp();
    let oxbox = runner.oxbox();
    runtimes
        .iter()
        .map(|&runtime| {
            let (count, source) = match runtime {
                RuntimeKind::Native => (None, "no filter: every syscall of the host kernel".into()),
                RuntimeKind::Runc | RuntimeKind::Crun => match seccomp {
                    Ok(profile) => docker_profile_count(profile),
                    Err(why) => (None, format!("not measured: {why}")),
                },
                RuntimeKind::Runsc => (
                    None,
                    "not measured: runsc compiles its host filter in and has no command that prints it"
                        .into(),
                ),
                RuntimeKind::Oxbox | RuntimeKind::OxboxSandbox => oxbox_count(oxbox),
            };
            let (x86_64, int80, installed) = match runtime {
                RuntimeKind::Native => (None, None, "no filter".to_string()),
                _ => match sleeper
                    .context("the memory workload's guest was not built")
                    .and_then(|sleeper| installed(runner, runtime, sleeper))
                {
                    Ok(i) => (Some(i.x86_64), Some(i.int80), i.what),
                    Err(e) => (None, None, format!("not measured: {e:#}")),
                },
            };
            eprintln!("host syscalls of {runtime}: {installed}");
            HostSyscalls {
                runtime,
                count,
                source,
                x86_64,
                int80,
                installed,
            }
        })
        .collect()
}

/// The counts of an installed filter, and whose it is.
struct Installed {
    x86_64: usize,
    int80: usize,
    what: String,
}

/// Runs the sleeper in a container of `kind`, reads the filters of the
/// process that makes the container's host calls and evaluates them.
fn installed(runner: &Runner, kind: RuntimeKind, sleeper: &Path) -> Result<Installed> {
    match runner.availability(&MEMORY, kind) {
        Availability::Ready => {}
        Availability::Skipped(why) | Availability::Broken(why) => bail!("{why}"),
    }
    let tool = oxbox_integration::host_program("dump_seccomp").map_err(|e| anyhow!(e))?;
    let request = RunRequest {
        kind,
        workload: &MEMORY,
        binary: sleeper,
        iterations: 1,
        counting: false,
    };
    runner.while_ready(&request, |pids| {
        let (pid, whose) = filtered_process(kind, pids)?;
        let filters = bpf::dump(&tool, pid)?;
        let instructions: usize = filters.iter().map(Vec::len).sum();
        Ok(Installed {
            x86_64: bpf::reachable(&filters, bpf::ARCH_X86_64),
            int80: bpf::reachable(&filters, bpf::ARCH_I386),
            what: format!(
                "{whose}: {} filter(s), {instructions} BPF instructions, read with PTRACE_SECCOMP_GET_FILTER",
                filters.len()
            ),
        })
    })
}

/// The process whose filter bounds the container's host calls: runsc's
/// Sentry (`runsc-sandbox ... boot`), the guest under runc and crun, and
/// under oxbox the container's process (its kernel and the guest; the
/// monitor has no filter).
fn filtered_process(kind: RuntimeKind, pids: &[u32]) -> Result<(u32, &'static str)> {
    let filtered = |pid: &u32| {
        fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
            s.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Seccomp:", "2"])
        })
    };
    let mut candidates = pids.iter().copied().filter(filtered);
    let found = match kind {
        RuntimeKind::Runsc => candidates
            .find(|pid| {
                fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.split(|&b| b == 0).any(|arg| arg == b"boot"))
            })
            .map(|pid| (pid, "the Sentry (runsc boot)")),
        RuntimeKind::Oxbox => candidates
            .next()
            .map(|pid| (pid, "the container's process (kernel and guest)")),
        _ => candidates
            .find(|pid| {
                fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleeper")
            })
            .map(|pid| (pid, "the container's process")),
    };
    found.context("no filtered process found in the container")
}

/// The syscalls Docker's profile lets through, some only with certain
/// arguments (`clone` without namespace flags, `personality` with a few
/// values): those still reach the host, so they count.
fn docker_profile_count(profile: &OciSeccomp) -> (Option<usize>, String) {
    let allowed: BTreeSet<&str> = profile
        .syscalls
        .iter()
        .filter(|rule| rule.action == "SCMP_ACT_ALLOW")
        .flat_map(|rule| rule.names.iter().map(String::as_str))
        .collect();
    let filtered: BTreeSet<&str> = profile
        .syscalls
        .iter()
        .filter(|rule| rule.action == "SCMP_ACT_ALLOW" && !rule.args.is_empty())
        .flat_map(|rule| rule.names.iter().map(String::as_str))
        .collect();
    (
        Some(allowed.len()),
        format!(
            "names allowed by Docker's default seccomp profile for amd64 ({} of them only with some arguments)",
            filtered.len()
        ),
    )
}

/// The count from the first line of `oxbox debug host-syscalls`
/// (`108 host syscalls reachable from a container ...`).
fn oxbox_count(oxbox: &Path) -> (Option<usize>, String) {
    let output = Command::new(oxbox)
        .args(["debug", "host-syscalls"])
        .stdin(Stdio::null())
        .output();
    let text = match output {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            return (
                None,
                format!("not measured: oxbox debug host-syscalls: {}", o.status),
            );
        }
        Err(e) => return (None, format!("not measured: {}: {e}", oxbox.display())),
    };
    match parse_oxbox_count(&text) {
        Some(n) => (
            Some(n),
            "the allowlist its kernel installs (`oxbox debug host-syscalls`)".into(),
        ),
        None => (
            None,
            "not measured: unexpected `oxbox debug host-syscalls` output".into(),
        ),
    }
}

fn parse_oxbox_count(text: &str) -> Option<usize> {
    let first = text.lines().next()?;
    let (number, rest) = first.split_once(' ')?;
    rest.starts_with("host syscalls reachable")
        .then(|| number.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker_seccomp::OciSyscall;

    fn rule(names: &[&str], action: &str, with_args: bool) -> OciSyscall {
        OciSyscall {
            names: names.iter().map(|n| n.to_string()).collect(),
            action: action.into(),
            errno_ret: None,
            args: if with_args {
                vec![crate::docker_seccomp::SeccompArg {
                    index: 0,
                    value: 8,
                    value_two: 0,
                    op: "SCMP_CMP_EQ".into(),
                }]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn docker_count_is_distinct_allowed_names() {
        let profile = OciSeccomp {
            default_action: "SCMP_ACT_ERRNO".into(),
            default_errno_ret: Some(38),
            architectures: vec![],
            flags: vec![],
            syscalls: vec![
                rule(&["read", "write"], "SCMP_ACT_ALLOW", false),
                rule(&["personality"], "SCMP_ACT_ALLOW", true),
                rule(&["personality"], "SCMP_ACT_ALLOW", true),
                rule(&["bpf"], "SCMP_ACT_ERRNO", false),
            ],
        };
        let (count, source) = docker_profile_count(&profile);
        assert_eq!(count, Some(3));
        assert!(
            source.contains("1 of them only with some arguments"),
            "{source}"
        );
    }

    #[test]
    fn oxbox_count_is_read_from_the_first_line() {
        let text = "108 host syscalls reachable from a container (x86-64 ABI):\n   0  read\n";
        assert_eq!(parse_oxbox_count(text), Some(108));
        assert_eq!(parse_oxbox_count("error: no such command\n"), None);
        assert_eq!(parse_oxbox_count(""), None);
    }

    #[test]
    fn runsc_and_native_have_no_count() {
        let runner = Runner::new(
            std::env::temp_dir(),
            Err("none".into()),
            Path::new("/nonexistent").into(),
            std::time::Duration::from_secs(1),
        );
        let counts = count_all(&[RuntimeKind::Native, RuntimeKind::Runsc], &runner, None);
        assert!(counts.iter().all(|c| c.count.is_none()));
        assert!(counts.iter().all(|c| c.x86_64.is_none()));
        assert!(counts[1].source.starts_with("not measured"));
        assert!(counts[1].installed.starts_with("not measured"));
    }
}
