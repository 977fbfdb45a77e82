//! Device cgroup rules (`linux.resources.devices`), as runc applies them.
//!
//! The rules of the config, then runc's own default allow list, are
//! folded in order into one state: a default (allow or deny) and the
//! exceptions to it, by device (type, major, minor; `*` a wildcard). An
//! `a *:* rwm` rule resets both; a rule that agrees with the default takes
//! its permissions out of the exception of its device, one that disagrees
//! adds them. The state is then written to the v1 devices controller as
//! runc writes it: the default (`a` to `devices.deny` or `devices.allow`),
//! then each exception in runc's order (by major, then minor, wildcards
//! first, then block before character), so `devices.list` reads the same
//! as under runc.
//!
//! cgroup v2 has no devices controller: the same state becomes an eBPF
//! program of type `BPF_PROG_TYPE_CGROUP_DEVICE` ([`DeviceRules::program`],
//! loaded by [`crate::bpf`]) that decides each access as the v1
//! controller would: with a default of deny, an access is allowed when one
//! exception covers all of it; with a default of allow, it is denied when
//! one exception covers any part of it.

use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::bpf;
use crate::error::{Error, Result};

/// A device, as a rule names it: major, minor (`-1` for `*`) and type
/// (`b`, `c`), in the order runc sorts its rules by (wildcards first).
type Device = (i64, i64, char);

const READ: u8 = 1;
const WRITE: u8 = 2;
const MKNOD: u8 = 4;
const ALL: u8 = READ | WRITE | MKNOD;

/// runc's default allow list (libcontainer/specconv `AllowedDevices`),
/// added after the config's rules: mknod of anything, then the devices
/// every container has (null, random, full, tty, zero, urandom, the pty
/// slaves and ptmx, tun). oxbox's `/dev` opens the same ones.
const RUNC_ALLOWED: &[(Device, u8)] = &[
    ((-1, -1, 'c'), MKNOD),
    ((-1, -1, 'b'), MKNOD),
    ((1, 3, 'c'), ALL),
    ((1, 8, 'c'), ALL),
    ((1, 7, 'c'), ALL),
    ((5, 0, 'c'), ALL),
    ((1, 5, 'c'), ALL),
    ((1, 9, 'c'), ALL),
    ((136, -1, 'c'), ALL),
    ((5, 2, 'c'), ALL),
    ((10, 200, 'c'), ALL),
];

/// The folded rules: the default and its exceptions.
#[derive(Debug, PartialEq, Eq)]
pub struct DeviceRules {
    /// Whether a device no exception names may be used.
    default_allow: bool,
    /// The permissions that differ from the default, by device.
    exceptions: BTreeMap<Device, u8>,
}

impl DeviceRules {
    /// The config's `rules`, then runc's default allow list. A cgroup
    /// starts allowing everything.
    pub fn from_config(rules: &[LinuxDeviceCgroup]) -> Result<Self> {
        let mut state = Self {
            default_allow: true,
            exceptions: BTreeMap::new(),
        };
        for rule in rules {
            let (device, access) = parse(rule)?;
            state.apply(device, access, rule.allow())?;
        }
        for (device, access) in RUNC_ALLOWED {
            state.apply(Some(*device), *access, true)?;
        }
        Ok(state)
    }

    /// Folds in one rule; `None` is `a *:*`.
    fn apply(&mut self, device: Option<Device>, access: u8, allow: bool) -> Result<()> {
        let Some(device) = device else {
            if access != ALL {
                return Err(Error::Config(
                    "a device rule for all devices must give rwm".into(),
                ));
            }
            self.default_allow = allow;
            self.exceptions.clear();
            return Ok(());
        };
        if allow == self.default_allow {
            if let Some(left) = self.exceptions.get_mut(&device) {
                *left &= !access;
                if *left == 0 {
                    self.exceptions.remove(&device);
                }
            }
        } else {
            *self.exceptions.entry(device).or_default() |= access;
        }
        Ok(())
    }

    /// What to write, in order, to the v1 controller's files: `(file,
    /// line)`. Nothing when everything is allowed, which a new cgroup
    /// already does (and a child of a restricted one may not ask for).
    pub fn v1_writes(&self) -> Vec<(&'static str, String)> {
        if self.default_allow && self.exceptions.is_empty() {
            return Vec::new();
        }
        let (default, exception) = if self.default_allow {
            ("devices.allow", "devices.deny")
        } else {
            ("devices.deny", "devices.allow")
        };
        let mut writes = vec![(default, "a *:* rwm".to_string())];
        writes.extend(
            self.exceptions
                .iter()
                .map(|(device, access)| (exception, line(*device, *access))),
        );
        writes
    }
}

impl DeviceRules {
    /// The eBPF program that enforces these rules on cgroup v2; its
    /// context is `struct bpf_cgroup_dev_ctx` (`access_type`: the device
    /// type in the low 16 bits, the access in the high ones; `major`;
    /// `minor`). Empty when everything is allowed (nothing to attach).
    pub fn program(&self) -> Result<Vec<bpf::Insn>> {
        use bpf::Insn;
        if self.default_allow && self.exceptions.is_empty() {
            return Ok(Vec::new());
        }
        let (device_type, access, major, minor, scratch) = (2, 3, 4, 5, 1);
        let mut program = vec![
            Insn::load_u32(device_type, 1, 0),
            Insn::and_imm(device_type, 0xffff),
            Insn::load_u32(access, 1, 0),
            Insn::rsh_imm(access, 16),
            Insn::load_u32(major, 1, 4),
            Insn::load_u32(minor, 1, 8),
        ];
        for (&(major_number, minor_number, kind), &bits) in &self.exceptions {
            let mut checks = vec![(
                device_type,
                if kind == 'b' {
                    bpf::DEVCG_DEV_BLOCK
                } else {
                    bpf::DEVCG_DEV_CHAR
                },
            )];
            for (register, number) in [(major, major_number), (minor, minor_number)] {
                if number >= 0 {
                    let number = i32::try_from(number).map_err(|_| {
                        Error::Config(format!("device number {number} is out of range"))
                    })?;
                    checks.push((register, number));
                }
            }
            // A device that fails a check skips the checks after it and
            // the five instructions of the verdict below, to the next
            // exception.
            const VERDICT_LEN: usize = 5;
            for (i, &(register, value)) in checks.iter().enumerate() {
                let skip = checks.len() - 1 - i + VERDICT_LEN;
                program.push(Insn::jump_if_not_equal(register, value, skip as i16));
            }
            let rule_access = i32::from(bpf_access(bits));
            program.push(Insn::mov_reg(scratch, access));
            if self.default_allow {
                // Denied if the exception covers any of the access.
                program.push(Insn::and_imm(scratch, rule_access));
                program.push(Insn::jump_if_equal(scratch, 0, 2));
            } else {
                // Allowed if it covers all of it.
                program.push(Insn::and_imm(scratch, !rule_access));
                program.push(Insn::jump_if_not_equal(scratch, 0, 2));
            }
            program.push(Insn::mov_imm(0, i32::from(!self.default_allow)));
            program.push(Insn::exit());
        }
        program.push(Insn::mov_imm(0, i32::from(self.default_allow)));
        program.push(Insn::exit());
        Ok(program)
    }
}

/// The `BPF_DEVCG_ACC_*` bits for oxbox's access bits.
fn bpf_access(bits: u8) -> u8 {
    [
        (READ, bpf::DEVCG_ACC_READ),
        (WRITE, bpf::DEVCG_ACC_WRITE),
        (MKNOD, bpf::DEVCG_ACC_MKNOD),
    ]
    .iter()
    .filter(|(bit, _)| bits & bit != 0)
    .fold(0, |acc, (_, b)| acc | b)
}

/// `c 1:3 rwm`, as the v1 files take and `devices.list` shows a rule.
fn line((major, minor, kind): Device, access: u8) -> String {
    let number = |n: i64| {
        if n < 0 {
            "*".to_string()
        } else {
            n.to_string()
        }
    };
    let access: String = [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')]
        .iter()
        .filter(|(bit, _)| access & bit != 0)
        .map(|(_, c)| c)
        .collect();
    format!("{kind} {}:{} {access}", number(major), number(minor))
}

/// One config rule: its device (`None` for type `a` with both numbers
/// `*`) and its permissions (`rwm` when not given).
fn parse(rule: &LinuxDeviceCgroup) -> Result<(Option<Device>, u8)> {
    let describe = || {
        format!(
            "device rule {:?} {}:{} {:?}",
            rule.typ().unwrap_or_default().as_str(),
            rule.major().map_or("*".into(), |n| n.to_string()),
            rule.minor().map_or("*".into(), |n| n.to_string()),
            rule.access().as_deref().unwrap_or("")
        )
    };
    let access = match rule.access().as_deref() {
        None | Some("") => ALL,
        Some(text) => text.chars().try_fold(0, |bits, c| match c {
            'r' => Ok(bits | READ),
            'w' => Ok(bits | WRITE),
            'm' => Ok(bits | MKNOD),
            _ => Err(Error::Config(format!("{}: invalid access", describe()))),
        })?,
    };
    let number = |n: Option<i64>| match n {
        None | Some(-1) => Ok(-1),
        Some(n) if n >= 0 => Ok(n),
        Some(_) => Err(Error::Config(format!("{}: invalid number", describe()))),
    };
    let (major, minor) = (number(rule.major())?, number(rule.minor())?);
    let kind = match rule.typ().unwrap_or_default() {
        LinuxDeviceType::A if major == -1 && minor == -1 => return Ok((None, access)),
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C => 'c',
        _ => {
            return Err(Error::Config(format!(
                "{}: the devices cgroup only takes a (with *:*), b and c",
                describe()
            )));
        }
    };
    Ok((Some((major, minor, kind)), access))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
    }

    /// What runc 1.1 leaves in `devices.list` for `runc spec`'s deny-all
    /// (read on this kind of host; the integration test compares live).
    const RUNC_DENY_ALL_LIST: &[&str] = &[
        "b *:* m",
        "c *:* m",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:2 rwm",
        "c 10:200 rwm",
        "c 136:* rwm",
    ];

    #[test]
    fn deny_all_leaves_runc_defaults_allowed_in_runc_order() {
        let state =
            DeviceRules::from_config(&rules(r#"[{"allow": false, "access": "rwm"}]"#)).unwrap();
        let writes = state.v1_writes();
        assert_eq!(writes[0], ("devices.deny", "a *:* rwm".to_string()));
        let allowed: Vec<&str> = writes[1..]
            .iter()
            .map(|(file, line)| {
                assert_eq!(*file, "devices.allow");
                line.as_str()
            })
            .collect();
        assert_eq!(allowed, RUNC_DENY_ALL_LIST);
    }

    #[test]
    fn later_rules_add_to_and_take_from_the_exceptions() {
        let state = DeviceRules::from_config(&rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 42, "access": "mr"},
                {"allow": true, "type": "c", "major": 42, "access": "w"},
                {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"},
                {"allow": false, "type": "b", "major": 8, "minor": 0, "access": "r"}]"#,
        ))
        .unwrap();
        let lines: Vec<String> = state.v1_writes().into_iter().map(|(_, l)| l).collect();
        assert!(lines.contains(&"c 42:* rwm".to_string()), "{lines:?}");
        assert!(!lines.iter().any(|l| l.starts_with("b 8:0")), "{lines:?}");
    }

    /// Whether the v1 devices controller allows an access under `state`
    /// (the kernel's `devcgroup_legacy_check_permission`): with a default
    /// of deny, one exception must cover all of it; with a default of
    /// allow, no exception may cover any of it.
    fn v1_allows(state: &DeviceRules, kind: char, major: i64, minor: i64, access: u8) -> bool {
        let covering = |wanted: &dyn Fn(u8) -> bool| {
            state.exceptions.iter().any(|(&(m, n, k), &bits)| {
                k == kind && (m == -1 || m == major) && (n == -1 || n == minor) && wanted(bits)
            })
        };
        if state.default_allow {
            !covering(&|bits| bits & access != 0)
        } else {
            covering(&|bits| access & !bits == 0)
        }
    }

    #[test]
    fn the_v2_program_decides_every_access_as_the_v1_controller() {
        let configs = [
            r#"[{"allow": false, "access": "rwm"}]"#,
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 42, "access": "rm"},
                {"allow": true, "type": "c", "major": 42, "minor": 1, "access": "w"},
                {"allow": true, "type": "b", "major": 7, "minor": 3, "access": "rw"},
                {"allow": false, "type": "b", "major": 7, "minor": 3, "access": "w"}]"#,
            r#"[{"allow": false, "type": "c", "major": 42, "access": "w"},
                {"allow": false, "type": "b", "major": 7, "minor": 3, "access": "rwm"}]"#,
            r#"[{"allow": true, "access": "rwm"}]"#,
        ];
        for config in configs {
            let state = DeviceRules::from_config(&rules(config)).unwrap();
            let program = state.program().unwrap();
            let mut denied = 0;
            for (kind, device_type) in [('b', bpf::DEVCG_DEV_BLOCK), ('c', bpf::DEVCG_DEV_CHAR)] {
                for major in [1, 5, 7, 10, 42, 136, 200] {
                    for minor in [0, 1, 3, 5, 9, 200] {
                        for access in 1..=ALL {
                            let expected = v1_allows(&state, kind, major, minor, access);
                            denied += usize::from(!expected);
                            let verdict = if program.is_empty() {
                                1
                            } else {
                                bpf::run(
                                    &program,
                                    device_type as u32,
                                    u32::from(bpf_access(access)),
                                    major as u32,
                                    minor as u32,
                                )
                            };
                            assert_eq!(
                                verdict,
                                u64::from(expected),
                                "{config}: {kind} {major}:{minor} access {access:#b}"
                            );
                        }
                    }
                }
            }
            // Each config but allow-all denies something.
            assert_eq!(denied == 0, program.is_empty(), "{config}");
        }
    }

    #[test]
    fn allow_all_writes_nothing_and_bad_rules_are_refused() {
        let all = DeviceRules::from_config(&rules(r#"[{"allow": true, "access": "rwm"}]"#));
        // runc's defaults only add to what is already allowed.
        assert_eq!(all.unwrap().v1_writes(), []);
        for (bad, why) in [
            (r#"[{"allow": false, "access": "rwx"}]"#, "invalid access"),
            (r#"[{"allow": false, "access": "r"}]"#, "must give rwm"),
            (
                r#"[{"allow": true, "type": "p", "access": "r"}]"#,
                "only takes",
            ),
            (
                r#"[{"allow": true, "type": "c", "major": -5, "access": "r"}]"#,
                "invalid number",
            ),
        ] {
            let err = DeviceRules::from_config(&rules(bad))
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
