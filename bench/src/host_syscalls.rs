//! How many host syscalls a container can reach, per runtime: the attack
//! surface the host kernel exposes to a compromised container.
//!
//! Each number comes from the runtime's own filter, never from a guess:
//! for runc and crun the allowed names of Docker's default profile as
//! resolved for the bundle, for oxbox the count `oxbox debug host-syscalls`
//! prints from the allowlist its kernel installs. gVisor compiles its host
//! filter into runsc and has no command that prints it, so runsc is "not
//! measured"; native execution has no filter at all.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::docker_seccomp::OciSeccomp;
use crate::runtime::RuntimeKind;

/// One runtime's count, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSyscalls {
    pub runtime: RuntimeKind,
    pub count: Option<usize>,
    /// Where the count comes from, or why it was not measured.
    pub source: String,
}

/// Counts for each of `runtimes`.
pub fn count_all(
    runtimes: &[RuntimeKind],
    seccomp: Result<&OciSeccomp, &String>,
    oxbox: &Path,
) -> Vec<HostSyscalls> {
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
                RuntimeKind::Oxbox => oxbox_count(oxbox),
            };
            HostSyscalls {
                runtime,
                count,
                source,
            }
        })
        .collect()
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
        let counts = count_all(
            &[RuntimeKind::Native, RuntimeKind::Runsc],
            Err(&"none".to_string()),
            Path::new("/nonexistent"),
        );
        assert!(counts.iter().all(|c| c.count.is_none()));
        assert!(counts[1].source.starts_with("not measured"));
    }
}
