//! Docker's seccomp profile format, and its conversion to the OCI form.
//!
//! Docker does not hand its JSON profile to runc as is. The profile is a
//! template with conditions (`includes`/`excludes` on capabilities,
//! architectures and kernel versions) and an `archMap`; `dockerd` resolves
//! them for the container it is about to start and writes the result into
//! the bundle's `linux.seccomp`. To give runc (and runsc) exactly the
//! filter a Docker user gets, the harness performs that resolution itself
//! for an amd64 container holding Docker's default capability set.
//!
//! The rules, as Docker applies them:
//! - `architectures`: the profile's own list if it has one; otherwise the
//!   `archMap` entry of the native architecture, plus its sub-architectures
//!   (a profile may not have both).
//! - a rule is kept only if none of its `excludes` match (an excluded arch
//!   is ours, any excluded capability is held, the kernel is at least the
//!   excluded `minKernel`) and all of its `includes` do (an included arch
//!   list contains ours, every included capability is held, the kernel is
//!   at least the included `minKernel`).
//! - kept rules are copied with `names` (a legacy single `name` joins
//!   them), `action`, `errnoRet` and `args`; comments and the informational
//!   `errno` names are dropped.

use std::fmt;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// Where Debian's `golang-github-containers-common` installs the profile.
pub const DEFAULT_PROFILE_PATH: &str = "/usr/share/containers/seccomp.json";

/// The capabilities Docker grants a container by default (moby's
/// `DefaultCapabilities`). Rules conditioned on other capabilities, such
/// as `CAP_SYS_ADMIN` for `bpf`, resolve to their denying branch.
pub const DOCKER_DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// A Docker-format seccomp profile (the subset that affects the filter).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerProfile {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub arch_map: Vec<ArchMapEntry>,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default)]
    pub syscalls: Vec<DockerRule>,
}

/// One `archMap` entry: a native architecture and the ones it also runs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMapEntry {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Vec<String>,
}

/// One rule of a Docker profile, with its conditions.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerRule {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub names: Vec<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    /// `null` and `[]` both occur in the shipped profile.
    #[serde(default)]
    pub args: Option<Vec<SeccompArg>>,
    #[serde(default)]
    pub includes: Option<Condition>,
    #[serde(default)]
    pub excludes: Option<Condition>,
}

/// The `includes`/`excludes` object of a rule.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(default)]
    pub caps: Vec<String>,
    /// Go architecture names (`amd64`, `x32`, `arm64`...), not SCMP names.
    #[serde(default)]
    pub arches: Vec<String>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// An argument comparison; the same shape in both formats.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompArg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// `linux.seccomp` of an OCI runtime-spec config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciSeccomp {
    pub default_action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    pub architectures: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub flags: Vec<String>,
    pub syscalls: Vec<OciSyscall>,
}

/// One entry of `linux.seccomp.syscalls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciSyscall {
    pub names: Vec<String>,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub args: Vec<SeccompArg>,
}

/// A kernel version as Docker compares it: major and minor only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
}

impl KernelVersion {
    /// Parses `6.18`, `6.18.44` or a release string like `6.18.44-fc-v669`.
    pub fn parse(s: &str) -> Result<Self> {
        let mut parts = s.trim().split(|c: char| !c.is_ascii_digit());
        let mut next = |what| -> Result<u32> {
            parts
                .next()
                .filter(|p| !p.is_empty())
                .with_context(|| format!("kernel version {s:?}: no {what} number"))?
                .parse()
                .with_context(|| format!("kernel version {s:?}: bad {what} number"))
        };
        Ok(Self {
            major: next("major")?,
            minor: next("minor")?,
        })
    }

    /// The running kernel's version, from `/proc/sys/kernel/osrelease`.
    pub fn running() -> Result<Self> {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .context("reading /proc/sys/kernel/osrelease")?;
        Self::parse(&release)
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The container the profile is resolved for.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// Go's name for the architecture, as used in `includes.arches`.
    pub go_arch: &'a str,
    /// libseccomp's name, as used in `archMap`.
    pub scmp_arch: &'a str,
    /// The container's bounding capability set.
    pub caps: &'a [&'a str],
    pub kernel: KernelVersion,
}

impl<'a> Target<'a> {
    /// An amd64 Docker container with the default capabilities.
    pub fn docker_amd64(kernel: KernelVersion) -> Self {
        Self {
            go_arch: "amd64",
            scmp_arch: "SCMP_ARCH_X86_64",
            caps: DOCKER_DEFAULT_CAPS,
            kernel,
        }
    }

    fn has_cap(&self, cap: &str) -> bool {
        self.caps.contains(&cap)
    }
}

impl DockerProfile {
    /// Parses a profile from its JSON text.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).context("parsing Docker seccomp profile")
    }

    /// Reads and parses a profile file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading seccomp profile {}", path.display()))?;
        Self::from_json(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Resolves the profile for `target`, as dockerd does before it
    /// writes the OCI config.
    pub fn to_oci(&self, target: &Target<'_>) -> Result<OciSeccomp> {
        let architectures = self.architectures_for(target)?;
        let mut syscalls = Vec::new();
        for rule in &self.syscalls {
            if !rule_applies(rule, target)? {
                continue;
            }
            let mut names = rule.names.clone();
            if let Some(name) = &rule.name {
                if !names.is_empty() {
                    bail!("seccomp rule has both 'name' ({name}) and 'names'");
                }
                names.push(name.clone());
            }
            syscalls.push(OciSyscall {
                names,
                action: rule.action.clone(),
                errno_ret: rule.errno_ret,
                args: rule.args.clone().unwrap_or_default(),
            });
        }
        Ok(OciSeccomp {
            default_action: self.default_action.clone(),
            default_errno_ret: self.default_errno_ret,
            architectures,
            flags: self.flags.clone(),
            syscalls,
        })
    }

    fn architectures_for(&self, target: &Target<'_>) -> Result<Vec<String>> {
        if !self.architectures.is_empty() {
            if !self.arch_map.is_empty() {
                bail!("seccomp profile has both 'architectures' and 'archMap'");
            }
            return Ok(self.architectures.clone());
        }
        Ok(self
            .arch_map
            .iter()
            .filter(|entry| entry.architecture == target.scmp_arch)
            .flat_map(|entry| {
                std::iter::once(entry.architecture.clone())
                    .chain(entry.sub_architectures.iter().cloned())
            })
            .collect())
    }
}

/// Whether a rule survives its `excludes` and `includes` for `target`.
fn rule_applies(rule: &DockerRule, target: &Target<'_>) -> Result<bool> {
    if let Some(ex) = &rule.excludes {
        if ex.arches.iter().any(|a| a == target.go_arch) {
            return Ok(false);
        }
        if ex.caps.iter().any(|c| target.has_cap(c)) {
            return Ok(false);
        }
        if let Some(min) = &ex.min_kernel
            && target.kernel >= KernelVersion::parse(min)?
        {
            return Ok(false);
        }
    }
    if let Some(inc) = &rule.includes {
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == target.go_arch) {
            return Ok(false);
        }
        if !inc.caps.iter().all(|c| target.has_cap(c)) {
            return Ok(false);
        }
        if let Some(min) = &inc.min_kernel
            && target.kernel < KernelVersion::parse(min)?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KERNEL_6_1: KernelVersion = KernelVersion { major: 6, minor: 1 };

    /// A profile with one rule per kind of condition found in Docker's.
    const FIXTURE: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64",
             "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64",
             "subArchitectures": ["SCMP_ARCH_ARM"]}
        ],
        "syscalls": [
            {"names": ["getppid", "read"], "action": "SCMP_ACT_ALLOW",
             "args": [], "comment": "", "includes": {}, "excludes": {}},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW",
             "includes": {"arches": ["amd64", "x32"]}},
            {"names": ["s390_runtime_instr"], "action": "SCMP_ACT_ALLOW",
             "includes": {"arches": ["s390", "s390x"]}},
            {"names": ["bpf"], "action": "SCMP_ACT_ALLOW",
             "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "errno": "EPERM", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["chroot"], "action": "SCMP_ACT_ALLOW",
             "includes": {"caps": ["CAP_SYS_CHROOT"]}},
            {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "excludes": {"caps": ["CAP_SYS_CHROOT"]}},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": null,
             "includes": {"caps": ["CAP_AUDIT_WRITE"]}},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
             "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390x"]}},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW",
             "includes": {"minKernel": "4.8"}},
            {"names": ["landlock_create_ruleset"], "action": "SCMP_ACT_ALLOW",
             "includes": {"minKernel": "99.0"}},
            {"names": ["old_thing"], "action": "SCMP_ACT_ALLOW",
             "excludes": {"minKernel": "5.0"}},
            {"name": "legacy_single", "action": "SCMP_ACT_ALLOW"}
        ]
    }"#;

    fn convert(kernel: KernelVersion) -> OciSeccomp {
        DockerProfile::from_json(FIXTURE)
            .unwrap()
            .to_oci(&Target::docker_amd64(kernel))
            .unwrap()
    }

    fn rules_for<'a>(oci: &'a OciSeccomp, name: &str) -> Vec<&'a OciSyscall> {
        oci.syscalls
            .iter()
            .filter(|s| s.names.iter().any(|n| n == name))
            .collect()
    }

    #[test]
    fn amd64_gets_native_arch_and_its_sub_architectures() {
        let oci = convert(KERNEL_6_1);
        assert_eq!(
            oci.architectures,
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        );
        assert_eq!(oci.default_action, "SCMP_ACT_ERRNO");
        assert_eq!(oci.default_errno_ret, Some(38));
    }

    #[test]
    fn unconditional_rules_are_copied_with_args() {
        let oci = convert(KERNEL_6_1);
        let getppid = rules_for(&oci, "getppid");
        assert_eq!(getppid.len(), 1);
        assert_eq!(getppid[0].names, ["getppid", "read"]);
        assert_eq!(getppid[0].action, "SCMP_ACT_ALLOW");
        assert_eq!(getppid[0].errno_ret, None);
        let personality = rules_for(&oci, "personality");
        assert_eq!(
            personality[0].args,
            [SeccompArg {
                index: 0,
                value: 8,
                value_two: 0,
                op: "SCMP_CMP_EQ".into()
            }]
        );
    }

    #[test]
    fn arch_includes_keep_amd64_rules_and_drop_others() {
        let oci = convert(KERNEL_6_1);
        assert_eq!(rules_for(&oci, "arch_prctl").len(), 1);
        assert!(rules_for(&oci, "s390_runtime_instr").is_empty());
    }

    #[test]
    fn missing_capability_selects_the_denying_branch() {
        let oci = convert(KERNEL_6_1);
        let bpf = rules_for(&oci, "bpf");
        assert_eq!(bpf.len(), 1);
        assert_eq!(bpf[0].action, "SCMP_ACT_ERRNO");
        assert_eq!(bpf[0].errno_ret, Some(1));
    }

    #[test]
    fn held_default_capability_selects_the_allowing_branch() {
        let oci = convert(KERNEL_6_1);
        let chroot = rules_for(&oci, "chroot");
        assert_eq!(chroot.len(), 1);
        assert_eq!(chroot[0].action, "SCMP_ACT_ALLOW");
        // CAP_AUDIT_WRITE is a default capability; `args: null` is no args.
        let socket = rules_for(&oci, "socket");
        assert_eq!(socket.len(), 1);
        assert!(socket[0].args.is_empty());
    }

    #[test]
    fn excludes_match_on_any_listed_condition() {
        // clone3's excludes name CAP_SYS_ADMIN (not held) and s390x (not
        // ours): neither matches, so the rule stays.
        let oci = convert(KERNEL_6_1);
        assert_eq!(rules_for(&oci, "clone3").len(), 1);
    }

    #[test]
    fn min_kernel_compares_major_and_minor() {
        let old = convert(KernelVersion { major: 4, minor: 4 });
        assert!(rules_for(&old, "ptrace").is_empty());
        assert_eq!(rules_for(&old, "old_thing").len(), 1);
        let new = convert(KERNEL_6_1);
        assert_eq!(rules_for(&new, "ptrace").len(), 1);
        assert!(rules_for(&new, "old_thing").is_empty());
        assert!(rules_for(&new, "landlock_create_ruleset").is_empty());
    }

    #[test]
    fn legacy_name_becomes_names() {
        let oci = convert(KERNEL_6_1);
        assert_eq!(rules_for(&oci, "legacy_single")[0].names, ["legacy_single"]);
    }

    #[test]
    fn profile_with_both_architectures_and_arch_map_is_rejected() {
        let profile = DockerProfile::from_json(
            r#"{"defaultAction": "SCMP_ACT_ERRNO",
                "architectures": ["SCMP_ARCH_X86_64"],
                "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
        )
        .unwrap();
        assert!(profile.to_oci(&Target::docker_amd64(KERNEL_6_1)).is_err());
    }

    #[test]
    fn oci_form_omits_absent_errno_and_empty_args() {
        let oci = convert(KERNEL_6_1);
        let json = serde_json::to_value(&oci).unwrap();
        let first = &json["syscalls"][0];
        assert!(first.get("errnoRet").is_none());
        assert!(first.get("args").is_none());
        assert_eq!(json["defaultErrnoRet"], 38);
        let personality = &json["syscalls"][1]["args"][0];
        assert_eq!(personality["valueTwo"], 0);
        assert_eq!(personality["op"], "SCMP_CMP_EQ");
    }

    #[test]
    fn kernel_versions_parse_from_release_strings() {
        let v = KernelVersion::parse("6.18.44-fc-v669\n").unwrap();
        assert_eq!(
            v,
            KernelVersion {
                major: 6,
                minor: 18
            }
        );
        assert_eq!(
            KernelVersion::parse("4.8").unwrap(),
            KernelVersion { major: 4, minor: 8 }
        );
        assert!(KernelVersion::parse("six").is_err());
        assert!(KernelVersion::parse("6").is_err());
    }

    /// The profile Debian ships, when installed: the properties the
    /// benchmark relies on (getppid allowed, amd64 only, the denying
    /// branches for capabilities Docker does not grant).
    #[test]
    fn shipped_profile_resolves_like_docker_for_amd64() {
        let path = std::path::Path::new(DEFAULT_PROFILE_PATH);
        if !path.exists() {
            eprintln!("{DEFAULT_PROFILE_PATH} not installed; skipping");
            return;
        }
        let oci = DockerProfile::load(path)
            .unwrap()
            .to_oci(&Target::docker_amd64(KERNEL_6_1))
            .unwrap();
        assert_eq!(oci.architectures.len(), 3);
        let allowed = |name: &str| {
            rules_for(&oci, name)
                .iter()
                .any(|r| r.action == "SCMP_ACT_ALLOW" && r.args.is_empty())
        };
        assert!(allowed("getppid"));
        assert!(allowed("arch_prctl"));
        assert!(allowed("chroot"));
        assert!(!allowed("bpf"));
        assert!(!allowed("s390_runtime_instr"));
        assert!(rules_for(&oci, "s390_runtime_instr").is_empty());
    }
}
