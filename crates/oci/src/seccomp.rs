//! `linux.seccomp` translated for the oxbox kernel, which enforces it on
//! every guest call (see `oxbox_abi::guest_filter` for why the host
//! cannot).
//!
//! Only x86-64 rules matter: the host filter refuses the 32-bit entries
//! outright. Names the syscall table does not know (other architectures'
//! calls, calls newer than the table) are skipped, as runc skips the
//! names libseccomp does not know. `SCMP_ACT_ERRNO` without `errnoRet`
//! is EPERM and `SCMP_ACT_TRACE` with no tracer is ENOSYS, as under runc;
//! `SCMP_ACT_LOG` allows; the kill actions and `SCMP_ACT_TRAP` end the
//! process; `SCMP_ACT_NOTIFY` needs a listener oxbox does not have and is
//! refused.

use std::str::FromStr;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use oxbox_abi::Sysno;
use oxbox_abi::guest_filter::{Action, Cond, GuestFilter, Op, Rule};

use crate::error::{Error, Result};

/// The guest filter for `profile`.
pub fn translate(profile: &LinuxSeccomp) -> Result<GuestFilter> {
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut rules = Vec::new();
    for syscall in profile.syscalls().iter().flatten() {
        let action = action(syscall.action(), syscall.errno_ret())?;
        let conds = syscall
            .args()
            .iter()
            .flatten()
            .map(|arg| {
                if arg.index() > 5 {
                    return Err(Error::Config(format!(
                        "seccomp: argument index {} out of range",
                        arg.index()
                    )));
                }
                Ok(Cond {
                    arg: arg.index() as u8,
                    op: op(arg.op()),
                    value: arg.value(),
                    value_two: arg.value_two().unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for name in syscall.names() {
            match Sysno::from_str(name) {
                Ok(nr) => rules.push(Rule {
                    nr: nr as u32,
                    action,
                    conds: conds.clone(),
                }),
                Err(_) => tracing::debug!(name, "seccomp: syscall unknown on x86-64, skipped"),
            }
        }
    }
    Ok(GuestFilter { default, rules })
}

fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<Action> {
    let errno = |default: i32| {
        let value = errno.map_or(default as u32, |e| e);
        u16::try_from(value)
            .map(Action::Errno)
            .map_err(|_| Error::Config(format!("seccomp: errnoRet {value} out of range")))
    };
    match action {
        LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog => Ok(Action::Allow),
        LinuxSeccompAction::ScmpActErrno => errno(libc::EPERM),
        LinuxSeccompAction::ScmpActTrace => errno(libc::ENOSYS),
        LinuxSeccompAction::ScmpActKill
        | LinuxSeccompAction::ScmpActKillThread
        | LinuxSeccompAction::ScmpActKillProcess
        | LinuxSeccompAction::ScmpActTrap => Ok(Action::Kill),
        LinuxSeccompAction::ScmpActNotify => Err(Error::Config(
            "seccomp: SCMP_ACT_NOTIFY is not supported by oxbox".into(),
        )),
    }
}

fn op(op: LinuxSeccompOperator) -> Op {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => Op::Ne,
        LinuxSeccompOperator::ScmpCmpLt => Op::Lt,
        LinuxSeccompOperator::ScmpCmpLe => Op::Le,
        LinuxSeccompOperator::ScmpCmpEq => Op::Eq,
        LinuxSeccompOperator::ScmpCmpGe => Op::Ge,
        LinuxSeccompOperator::ScmpCmpGt => Op::Gt,
        LinuxSeccompOperator::ScmpCmpMaskedEq => Op::MaskedEq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_docker_style_profile_becomes_rules_in_order() {
        let filter = translate(&profile(
            r#"{
              "defaultAction": "SCMP_ACT_ERRNO",
              "defaultErrnoRet": 1,
              "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
              "syscalls": [
                {"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
              ]
            }"#,
        ))
        .unwrap();
        assert_eq!(filter.default, Action::Errno(1));
        let args = |a0| [a0, 0, 0, 0, 0, 0];
        assert_eq!(filter.evaluate(Sysno::read as u32, &args(0)), Action::Allow);
        assert_eq!(
            filter.evaluate(Sysno::personality as u32, &args(8)),
            Action::Allow
        );
        assert_eq!(
            filter.evaluate(Sysno::personality as u32, &args(9)),
            Action::Errno(1)
        );
        assert_eq!(
            filter.evaluate(Sysno::clone as u32, &args(0x11)),
            Action::Allow
        );
        assert_eq!(
            filter.evaluate(Sysno::clone as u32, &args(0x1000_0000)),
            Action::Errno(1)
        );
        assert_eq!(
            filter.evaluate(Sysno::mkdir as u32, &args(0)),
            Action::Errno(13)
        );
        assert_eq!(
            filter.evaluate(Sysno::getpid as u32, &args(0)),
            Action::Errno(1)
        );
        // The unknown name was skipped, the known ones kept.
        assert_eq!(filter.rules.len(), 5);
    }

    #[test]
    fn errno_defaults_and_unsupported_actions() {
        let errno = translate(&profile(r#"{"defaultAction": "SCMP_ACT_ERRNO"}"#)).unwrap();
        assert_eq!(errno.default, Action::Errno(libc::EPERM as u16));
        let trace = translate(&profile(r#"{"defaultAction": "SCMP_ACT_TRACE"}"#)).unwrap();
        assert_eq!(trace.default, Action::Errno(libc::ENOSYS as u16));
        assert!(translate(&profile(r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#)).is_err());
    }
}
