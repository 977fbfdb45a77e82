//! A bundle's `config.json`, turned into what oxbox runs.
//!
//! The process, root, hostname, mounts, namespaces and rlimits become a
//! [`ContainerSpec`] for the sandbox; cgroups and hooks stay with the
//! runtime, which applies them from outside. Some of the config has no
//! meaning on oxbox and is left out on purpose, each with its reason:
//! `/proc` and `/sys` are never the host's (the kernel answers `/proc`
//! itself), so their mounts, `maskedPaths` and `readonlyPaths` have nothing
//! to act on; `/dev` is the sandbox's own tmpfs with a private devpts (and
//! the nodes of `linux.devices`, which the device cgroup governs); the
//! capability sets are empty on the host whatever the config asks (the
//! guest's privileges are the oxbox kernel's to enforce). `linux.seccomp`
//! is enforced by the kernel itself (see [`crate::seccomp`]). `linux.sysctl`
//! is checked as runc checks it (only the container's own namespaces') and
//! written by the container's first process, in its namespaces.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::{
    Hook, LinuxDeviceType, LinuxNamespaceType, LinuxResources, Mount as OciMount, PosixRlimitType,
    Process, Spec,
};
use oxbox_abi::boot::LogLevel;
use oxbox_sandbox::spec::{IdMapping, UserNamespace};
use oxbox_sandbox::spec::{check_device_node, check_mount, check_sysctls, validate_hostname};
use oxbox_sandbox::terminal::WindowSize;
use oxbox_sandbox::{
    ContainerSpec, DeviceKind, DeviceNode, Mount, MountKind, NamespaceKind, NamespaceSource,
    Namespaces, Rlimit, Rootfs, User,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The hooks oxbox runs, by the lifecycle point they run at.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hooks {
    /// After the namespaces exist, before the mounts (deprecated
    /// `prestart`, still what Docker 20.10 uses for its network setup).
    pub prestart: Vec<Hook>,
    /// At the same point, after `prestart`.
    pub create_runtime: Vec<Hook>,
    /// In the container's namespaces, run by its first process once its
    /// mounts are in place, before the pivot into its root (their paths
    /// are the host's).
    #[serde(default)]
    pub create_container: Vec<Hook>,
    /// In the container, its root and privileges, run by its first
    /// process after `start` released it, right before the exec.
    #[serde(default)]
    pub start_container: Vec<Hook>,
    /// After `start` released the process.
    pub poststart: Vec<Hook>,
    /// After the container is deleted.
    pub poststop: Vec<Hook>,
}

/// What the runtime needs from a bundle.
#[derive(Debug)]
pub struct Bundle {
    /// The container, for the sandbox.
    pub spec: ContainerSpec,
    /// `linux.cgroupsPath`, if given.
    pub cgroups_path: Option<PathBuf>,
    /// `linux.resources`.
    pub resources: Option<LinuxResources>,
    /// The hooks.
    pub hooks: Hooks,
    /// `process.oomScoreAdj`.
    pub oom_score_adj: Option<i32>,
    /// `annotations`.
    pub annotations: std::collections::HashMap<String, String>,
}

/// Reads `config.json` from the bundle directory `dir`.
pub fn load(dir: &Path, kernel: PathBuf) -> Result<Bundle> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
    let spec: Spec = serde_json::from_str(&text)
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    from_spec(&spec, dir, kernel)
}

/// Converts a parsed config; relative paths are relative to `bundle`.
pub fn from_spec(spec: &Spec, bundle: &Path, kernel: PathBuf) -> Result<Bundle> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Config("config.json has no process".into()))?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::Config("config.json has no root".into()))?;
    let root_path = bundle.join(root.path());
    let root_path = std::fs::canonicalize(&root_path)
        .map_err(|e| Error::io("root filesystem", &root_path, e))?;
    let linux = spec.linux().as_ref();
    let namespaces = namespaces(
        linux
            .and_then(|l| l.namespaces().as_ref())
            .map_or(&[][..], Vec::as_slice),
    )?;
    let hostname = match spec.hostname().as_deref() {
        Some(name) if !name.is_empty() => name.to_owned(),
        // runc leaves a new UTS namespace with the host's name.
        _ => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".into()),
    };
    validate_hostname(&hostname)?;
    let mut sysctls: Vec<(String, String)> = linux
        .and_then(|l| l.sysctl().clone())
        .unwrap_or_default()
        .into_iter()
        .collect();
    sysctls.sort();
    check_sysctls(&sysctls, &namespaces)?;
    let mounts = spec
        .mounts()
        .as_ref()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|m| mount(m, bundle).transpose())
        .collect::<Result<Vec<_>>>()?;
    let container = ContainerSpec {
        rootfs: Rootfs::Dir {
            path: root_path,
            read_only: root.readonly().unwrap_or(false),
        },
        command: command(process)?,
        env: process.env().clone().unwrap_or_default(),
        workdir: workdir(process)?,
        hostname,
        user: user(process),
        capabilities: capabilities(process),
        namespaces,
        user_namespace: user_namespace(linux)?,
        mounts,
        devices: devices(linux)?,
        rlimits: rlimits(process)?,
        sysctls,
        terminal: process.terminal().unwrap_or(false),
        console_size: process.console_size().map(|size| WindowSize {
            rows: size.height().min(u16::MAX as u64) as u16,
            cols: size.width().min(u16::MAX as u64) as u16,
        }),
        stats: false,
        log_level: LogLevel::Warn,
        kernel,
        guest_filter: linux
            .and_then(|l| l.seccomp().as_ref())
            .map(crate::seccomp::translate)
            .transpose()?
            .map(|filter| filter.encode()),
        sandbox_network: false,
        publish: Vec::new(),
    };
    let hooks = spec.hooks().as_ref();
    let listed = |hooks: Option<&Option<Vec<Hook>>>| -> Vec<Hook> {
        hooks.and_then(|h| h.clone()).unwrap_or_default()
    };
    Ok(Bundle {
        spec: container,
        cgroups_path: linux.and_then(|l| l.cgroups_path().clone()),
        resources: linux.and_then(|l| l.resources().clone()),
        hooks: Hooks {
            prestart: listed(hooks.map(|h| h.prestart())),
            create_runtime: listed(hooks.map(|h| h.create_runtime())),
            create_container: listed(hooks.map(|h| h.create_container())),
            start_container: listed(hooks.map(|h| h.start_container())),
            poststart: listed(hooks.map(|h| h.poststart())),
            poststop: listed(hooks.map(|h| h.poststop())),
        },
        oom_score_adj: process.oom_score_adj(),
        annotations: spec.annotations().clone().unwrap_or_default(),
    })
}

/// `process.args`, which must name a program.
pub fn command(process: &Process) -> Result<Vec<String>> {
    match process.args() {
        Some(args) if !args.is_empty() && !args[0].is_empty() => Ok(args.clone()),
        _ => Err(Error::Config("process.args must name a program".into())),
    }
}

/// `process.cwd`, which must be absolute.
pub fn workdir(process: &Process) -> Result<PathBuf> {
    if !process.cwd().is_absolute() {
        return Err(Error::Config(format!(
            "process.cwd {:?} is not an absolute path",
            process.cwd()
        )));
    }
    Ok(process.cwd().clone())
}

/// `process.capabilities`: those of the effective set that are also
/// permitted and in the bounding set, narrowed to what a root guest may
/// keep on the host (see `oxbox_sandbox::caps`); none without the field,
/// as with runc.
pub fn capabilities(process: &Process) -> u64 {
    let Some(caps) = process.capabilities() else {
        return 0;
    };
    let mask = |set: &Option<oci_spec::runtime::Capabilities>| {
        let names: Vec<String> = set
            .iter()
            .flatten()
            .filter_map(|cap| serde_json::to_value(cap).ok())
            .filter_map(|name| name.as_str().map(str::to_owned))
            .collect();
        oxbox_sandbox::caps::guest_root_mask(names.iter().map(String::as_str))
    };
    mask(caps.effective()) & mask(caps.permitted()) & mask(caps.bounding())
}

/// `process.user`: uid, gid and supplementary groups.
pub fn user(process: &Process) -> User {
    User {
        uid: process.user().uid(),
        gid: process.user().gid(),
        additional_gids: process.user().additional_gids().clone().unwrap_or_default(),
    }
}

/// The config's `linux.devices`, the nodes made in the container's `/dev`
/// as runc makes them: mode 0666 and owner root unless given.
fn devices(linux: Option<&oci_spec::runtime::Linux>) -> Result<Vec<DeviceNode>> {
    let listed = linux.and_then(|l| l.devices().as_ref());
    listed
        .into_iter()
        .flatten()
        .map(|device| {
            let path = device.path();
            let invalid = |why: &str| Error::Config(format!("device {}: {why}", path.display()));
            let kind = match device.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
                LinuxDeviceType::B => DeviceKind::Block,
                LinuxDeviceType::P => DeviceKind::Fifo,
                LinuxDeviceType::A => return Err(invalid("type must be c, b, u or p")),
            };
            let number = |n: i64| u64::try_from(n).map_err(|_| invalid("invalid device number"));
            let node = DeviceNode {
                path: path.clone(),
                kind,
                major: number(device.major())?,
                minor: number(device.minor())?,
                mode: device.file_mode().unwrap_or(0o666) & 0o7777,
                uid: device.uid().unwrap_or(0),
                gid: device.gid().unwrap_or(0),
            };
            check_device_node(&node)?;
            Ok(node)
        })
        .collect()
}

/// The config's `user` namespace, with `linux.uidMappings` and
/// `gidMappings`, as runc takes it.
fn user_namespace(linux: Option<&oci_spec::runtime::Linux>) -> Result<Option<UserNamespace>> {
    let listed = linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .find(|ns| ns.typ() == LinuxNamespaceType::User);
    let map = |ids: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| -> Vec<IdMapping> {
        ids.into_iter()
            .flatten()
            .map(|m| IdMapping {
                inside: m.container_id(),
                outside: m.host_id(),
                count: m.size(),
            })
            .collect()
    };
    let uids = map(linux.and_then(|l| l.uid_mappings().as_ref()));
    let gids = map(linux.and_then(|l| l.gid_mappings().as_ref()));
    let Some(ns) = listed else {
        if !uids.is_empty() || !gids.is_empty() {
            return Err(Error::Config(
                "user namespaces aren't enabled in the config, but uidMappings or gidMappings are given".into(),
            ));
        }
        return Ok(None);
    };
    // An existing namespace brings its own mappings (any in the config
    // describe them; runc 1.1 reads them, the kernel has them already).
    if let Some(path) = ns.path().as_ref().filter(|p| !p.as_os_str().is_empty()) {
        return Ok(Some(UserNamespace::Join(path.clone())));
    }
    if uids.is_empty() || gids.is_empty() {
        return Err(Error::Config(
            "user namespaces enabled, but no uid or gid mappings found".into(),
        ));
    }
    Ok(Some(UserNamespace::New { uids, gids }))
}

fn namespaces(listed: &[oci_spec::runtime::LinuxNamespace]) -> Result<Namespaces> {
    let mut pairs = Vec::new();
    for ns in listed {
        let kind = match ns.typ() {
            // Kept apart: see `user_namespace`.
            LinuxNamespaceType::User => continue,
            LinuxNamespaceType::Pid => NamespaceKind::Pid,
            LinuxNamespaceType::Network => NamespaceKind::Network,
            LinuxNamespaceType::Ipc => NamespaceKind::Ipc,
            LinuxNamespaceType::Uts => NamespaceKind::Uts,
            LinuxNamespaceType::Mount => NamespaceKind::Mount,
            LinuxNamespaceType::Cgroup => NamespaceKind::Cgroup,
            other => {
                return Err(Error::Config(format!(
                    "namespace {other:?} is not supported by oxbox"
                )));
            }
        };
        let source = match ns.path() {
            Some(path) if !path.as_os_str().is_empty() => NamespaceSource::Join(path.clone()),
            _ => NamespaceSource::New,
        };
        pairs.push((kind, source));
    }
    if !pairs
        .iter()
        .any(|(k, s)| *k == NamespaceKind::Mount && *s == NamespaceSource::New)
    {
        // The root, /dev and the pivot are built in a mount namespace of
        // the container's own; without one they would be the host's.
        return Err(Error::Config(
            "the container needs a new mount namespace".into(),
        ));
    }
    Ok(Namespaces::from_pairs(pairs)?)
}

/// One config mount: `None` for those oxbox provides itself (see the
/// module documentation).
fn mount(m: &OciMount, bundle: &Path) -> Result<Option<Mount>> {
    let destination = m.destination().clone();
    let typ = m.typ().as_deref().unwrap_or("");
    let options = m.options().clone().unwrap_or_default();
    let is_bind = typ == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
    let provided = ["/proc", "/sys", "/dev", "/dev/pts", "/dev/mqueue"];
    if !is_bind
        && (provided.iter().any(|p| destination == Path::new(p))
            || matches!(
                typ,
                "proc" | "sysfs" | "cgroup" | "cgroup2" | "mqueue" | "devpts"
            ))
    {
        tracing::debug!(destination = %destination.display(), typ, "mount provided by oxbox itself");
        return Ok(None);
    }
    let (flags, data) = mount_options(&options);
    let kind = if is_bind {
        let source = m
            .source()
            .as_ref()
            .ok_or_else(|| Error::Config(format!("bind mount on {destination:?} has no source")))?;
        MountKind::Bind {
            source: bundle.join(source),
            recursive: options.iter().any(|o| o == "rbind"),
        }
    } else if typ == "tmpfs" {
        MountKind::Tmpfs { data }
    } else {
        return Err(Error::Config(format!(
            "mount type {typ:?} on {} is not supported by oxbox",
            destination.display()
        )));
    };
    let mount = Mount {
        destination,
        kind,
        flags,
    };
    check_mount(&mount)?;
    Ok(Some(mount))
}

/// Splits mount options into flags and file-system data; propagation and
/// atime options are dropped (mounts are private to the container).
fn mount_options(options: &[String]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for option in options {
        match option.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "rw" | "suid" | "dev" | "exec" | "bind" | "rbind" | "private" | "rprivate"
            | "shared" | "rshared" | "slave" | "rslave" | "relatime" | "norelatime" | "noatime"
            | "atime" | "strictatime" | "nodiratime" | "diratime" => {}
            other if other.contains('=') => data.push(other.to_owned()),
            other => tracing::debug!(option = other, "mount option ignored"),
        }
    }
    (flags, data.join(","))
}

fn rlimits(process: &Process) -> Result<Vec<Rlimit>> {
    let Some(limits) = process.rlimits() else {
        return Ok(Vec::new());
    };
    limits
        .iter()
        .map(|limit| {
            Ok(Rlimit {
                resource: rlimit_resource(limit.typ()),
                soft: limit.soft(),
                hard: limit.hard(),
            })
        })
        .collect()
}

fn rlimit_resource(typ: PosixRlimitType) -> i32 {
    (match typ {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config as Docker 20.10 writes it (trimmed to what oxbox reads).
    fn docker_like(rootfs: &str) -> String {
        format!(
            r#"{{
  "ociVersion": "1.0.2-dev",
  "process": {{
    "terminal": false,
    "user": {{"uid": 1000, "gid": 1000, "additionalGids": [10]}},
    "args": ["sh", "-c", "echo hi"],
    "env": ["PATH=/usr/bin:/bin", "HOSTNAME=abc"],
    "cwd": "/work",
    "rlimits": [{{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024}}],
    "capabilities": {{
      "bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_NET_RAW"],
      "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"]
    }},
    "oomScoreAdj": 0
  }},
  "root": {{"path": "{rootfs}", "readonly": true}},
  "hostname": "abc",
  "mounts": [
    {{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid","noexec","nodev"]}},
    {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","strictatime","mode=755","size=65536k"]}},
    {{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]}},
    {{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid","noexec","nodev","ro"]}},
    {{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid","noexec","nodev"]}},
    {{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid","noexec","nodev","mode=1777","size=67108864"]}},
    {{"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts", "options": ["rbind","rprivate","ro"]}}
  ],
  "hooks": {{
    "prestart": [{{"path": "/proc/1/exe", "args": ["libnetwork-setkey", "x"]}}],
    "createContainer": [{{"path": "/bin/true"}}, {{"path": "/bin/echo", "timeout": 5}}],
    "startContainer": [{{"path": "/bin/true", "env": ["A=1"]}}]
  }},
  "linux": {{
    "cgroupsPath": "/docker/abc",
    "resources": {{"memory": {{"limit": 67108864}}, "pids": {{"limit": 100}}}},
    "namespaces": [{{"type": "mount"}}, {{"type": "network", "path": "/var/run/docker/netns/x"}}, {{"type": "uts"}}, {{"type": "pid"}}, {{"type": "ipc"}}],
    "sysctl": {{"kernel.shmmax": "4096", "fs.mqueue.msg_max": "20"}},
    "devices": [{{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 8630, "uid": 0, "gid": 0}}, {{"path": "/dev/xvda", "type": "b", "major": 8, "minor": 0}}],
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"]
  }}
}}"#
        )
    }

    fn parse(text: &str) -> Result<Bundle> {
        let spec: Spec = serde_json::from_str(text).unwrap();
        from_spec(&spec, Path::new("/"), "/k".into())
    }

    #[test]
    fn a_docker_config_becomes_a_container_spec() {
        let bundle = parse(&docker_like("/usr")).unwrap();
        let spec = &bundle.spec;
        assert_eq!(spec.command, ["sh", "-c", "echo hi"]);
        assert_eq!(spec.env, ["PATH=/usr/bin:/bin", "HOSTNAME=abc"]);
        assert_eq!(spec.workdir, Path::new("/work"));
        assert_eq!(spec.hostname, "abc");
        assert_eq!(
            spec.user,
            User {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![10]
            }
        );
        assert_eq!(
            spec.rootfs,
            Rootfs::Dir {
                path: "/usr".into(),
                read_only: true
            }
        );
        assert_eq!(
            spec.namespaces.get(NamespaceKind::Network),
            Some(&NamespaceSource::Join("/var/run/docker/netns/x".into()))
        );
        assert!(spec.namespaces.is_new(NamespaceKind::Pid));
        assert_eq!(spec.namespaces.get(NamespaceKind::Cgroup), None);
        assert_eq!(
            spec.rlimits,
            [Rlimit {
                resource: libc::RLIMIT_NOFILE as i32,
                soft: 1024,
                hard: 4096
            }]
        );
        // Only /dev/shm and the bind are mounted by oxbox as asked.
        let destinations: Vec<_> = spec.mounts.iter().map(|m| &m.destination).collect();
        assert_eq!(
            destinations,
            [Path::new("/dev/shm"), Path::new("/etc/hosts")]
        );
        assert_eq!(
            spec.mounts[0].kind,
            MountKind::Tmpfs {
                data: "mode=1777,size=67108864".into()
            }
        );
        assert_eq!(
            spec.mounts[1].kind,
            MountKind::Bind {
                source: "/etc/hosts".into(),
                recursive: true
            }
        );
        assert_eq!(spec.mounts[1].flags, MsFlags::MS_RDONLY);
        assert_eq!(
            spec.sysctls,
            [
                ("fs.mqueue.msg_max".to_string(), "20".to_string()),
                ("kernel.shmmax".into(), "4096".into())
            ]
        );
        // fileMode as Docker writes it: the type bits and 0666.
        assert_eq!(
            spec.devices,
            [
                DeviceNode {
                    path: "/dev/fuse".into(),
                    kind: DeviceKind::Char,
                    major: 10,
                    minor: 229,
                    mode: 0o666,
                    uid: 0,
                    gid: 0
                },
                DeviceNode {
                    path: "/dev/xvda".into(),
                    kind: DeviceKind::Block,
                    major: 8,
                    minor: 0,
                    mode: 0o666,
                    uid: 0,
                    gid: 0
                }
            ]
        );
        assert_eq!(bundle.cgroups_path, Some("/docker/abc".into()));
        assert_eq!(bundle.hooks.prestart.len(), 1);
        assert_eq!(bundle.hooks.create_container.len(), 2);
        assert_eq!(bundle.hooks.create_container[1].timeout(), Some(5));
        assert_eq!(bundle.hooks.start_container.len(), 1);
        // In all three sets and kept on the host: CHOWN and KILL.
        assert_eq!(
            spec.capabilities,
            oxbox_sandbox::caps::guest_root_mask(["CAP_CHOWN", "CAP_KILL"])
        );
    }

    #[test]
    fn malformed_configs_get_a_clear_error() {
        let good = docker_like("/usr");
        let cases = [
            (
                good.replace(r#""args": ["sh", "-c", "echo hi"]"#, r#""args": []"#),
                "process.args",
            ),
            (
                good.replace(r#""cwd": "/work""#, r#""cwd": "work""#),
                "process.cwd",
            ),
            (
                good.replace(r#"{"type": "mount"}, "#, ""),
                "mount namespace",
            ),
            (
                good.replace(r#""/usr""#, r#""/nonexistent/rootfs""#),
                "/nonexistent/rootfs",
            ),
            (
                good.replace(r#"{"type": "uts"}"#, r#"{"type": "user"}"#),
                "no uid or gid mappings",
            ),
            (
                good.replace(r#"{"type": "uts"}"#, r#"{"type": "time"}"#),
                "not supported",
            ),
            (
                good.replace(r#""kernel.shmmax""#, r#""kernel.panic""#),
                "sysctl \"kernel.panic\" is not in a separate kernel namespace",
            ),
            (
                good.replace(r#""type": "bind""#, r#""type": "nfs""#)
                    .replace(r#"["rbind","rprivate","ro"]"#, r#"["ro"]"#),
                "nfs",
            ),
            (
                good.replace(r#""path": "/dev/xvda""#, r#""path": "/xvda""#),
                "device /xvda: oxbox makes device nodes only under /dev",
            ),
            (
                good.replace(r#""type": "b""#, r#""type": "a""#),
                "device /dev/xvda: type must be c, b, u or p",
            ),
            (
                good.replace(r#""major": 8"#, r#""major": -8"#),
                "device /dev/xvda: invalid device number",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }
}
