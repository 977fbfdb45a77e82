//! What a container is: the validated description the rest of the sandbox
//! works from.
//!
//! The CLI fills an [`Options`] from flags and the environment; turning it
//! into a [`ContainerSpec`] checks everything that can be checked before any
//! namespace exists, so that a bad request fails early with one message and
//! leaves nothing behind.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use oxbox_abi::boot::{BootRecord, LogLevel, NR_OPEN};

use crate::error::{Error, Result};

/// Docker's default `PATH` for a container.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Longest hostname the host's `sethostname` accepts (`HOST_NAME_MAX`).
pub const MAX_HOSTNAME_LEN: usize = 64;

/// Where the container's root filesystem comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rootfs {
    /// The host's own root, read-only, with a fresh writable `/tmp`
    /// (as `runsc do`).
    Host,
    /// A directory on the host (as `podman run --rootfs`).
    Dir {
        /// Absolute, symlink-free path of the directory.
        path: PathBuf,
        /// Mount it read-only.
        read_only: bool,
    },
}

impl Rootfs {
    /// Whether the guest can write to its root directory.
    pub fn writable(&self) -> bool {
        matches!(
            self,
            Self::Dir {
                read_only: false,
                ..
            }
        )
    }
}

/// A kind of namespace a container can have one of its own of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NamespaceKind {
    /// Process ids: the container's first process is its pid 1.
    Pid,
    /// Network interfaces, addresses, routes and sockets.
    Network,
    /// System V IPC objects and POSIX message queues.
    Ipc,
    /// Hostname and domain name.
    Uts,
    /// The mount table.
    Mount,
    /// The view of the cgroup hierarchy.
    Cgroup,
}

impl NamespaceKind {
    /// Every kind, in the order a joining process enters them: the mount
    /// namespace last, because entering it changes the root that the
    /// others' paths would be looked up in (they are opened before anyway).
    pub const ALL: [Self; 6] = [
        Self::Pid,
        Self::Network,
        Self::Ipc,
        Self::Uts,
        Self::Cgroup,
        Self::Mount,
    ];

    /// The `clone`/`unshare`/`setns` flag of this kind.
    pub fn clone_flag(self) -> CloneFlags {
        match self {
            Self::Pid => CloneFlags::CLONE_NEWPID,
            Self::Network => CloneFlags::CLONE_NEWNET,
            Self::Ipc => CloneFlags::CLONE_NEWIPC,
            Self::Uts => CloneFlags::CLONE_NEWUTS,
            Self::Mount => CloneFlags::CLONE_NEWNS,
            Self::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        }
    }

    /// The file naming this kind under `/proc/PID/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            Self::Pid => "pid",
            Self::Network => "net",
            Self::Ipc => "ipc",
            Self::Uts => "uts",
            Self::Mount => "mnt",
            Self::Cgroup => "cgroup",
        }
    }
}

/// Where one of the container's namespaces comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamespaceSource {
    /// A fresh one, owned by the container alone.
    New,
    /// An existing one, such as the network namespace an engine prepared
    /// (`/var/run/netns/...`) or a running container's (`/proc/PID/ns/net`).
    Join(PathBuf),
}

/// The container's namespaces; a kind that is not listed is the host's
/// (`--network host`, or an OCI config without that namespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespaces(Vec<(NamespaceKind, NamespaceSource)>);

impl Namespaces {
    /// Fresh namespaces of every kind, as `oxbox do` gives by default.
    pub fn all_new() -> Self {
        Self(
            NamespaceKind::ALL
                .into_iter()
                .map(|kind| (kind, NamespaceSource::New))
                .collect(),
        )
    }

    /// Builds the set from `(kind, source)` pairs; a kind given twice is
    /// an error, as in runc.
    pub fn from_pairs(pairs: Vec<(NamespaceKind, NamespaceSource)>) -> Result<Self> {
        for (i, (kind, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(k, _)| k == kind) {
                return Err(Error::Config(format!(
                    "namespace {} is listed twice",
                    kind.proc_name()
                )));
            }
        }
        Ok(Self(pairs))
    }

    /// Where the namespace of `kind` comes from; `None` for the host's.
    pub fn get(&self, kind: NamespaceKind) -> Option<&NamespaceSource> {
        self.0.iter().find(|(k, _)| *k == kind).map(|(_, s)| s)
    }

    /// Whether the container gets a fresh namespace of `kind`.
    pub fn is_new(&self, kind: NamespaceKind) -> bool {
        self.get(kind) == Some(&NamespaceSource::New)
    }

    /// Removes `kind`: the container shares the host's.
    pub fn share_host(&mut self, kind: NamespaceKind) {
        self.0.retain(|(k, _)| *k != kind);
    }

    /// The namespaces to join, in [`NamespaceKind::ALL`] order.
    pub fn joined(&self) -> impl Iterator<Item = (NamespaceKind, &Path)> {
        NamespaceKind::ALL
            .into_iter()
            .filter_map(|kind| match self.get(kind) {
                Some(NamespaceSource::Join(path)) => Some((kind, path.as_path())),
                _ => None,
            })
    }

    /// The `unshare` flags of the fresh namespaces other than the pid
    /// namespace (which the parent enters before it forks).
    pub fn unshare_flags(&self) -> CloneFlags {
        self.0
            .iter()
            .filter(|(kind, source)| *kind != NamespaceKind::Pid && *source == NamespaceSource::New)
            .fold(CloneFlags::empty(), |flags, (kind, _)| {
                flags | kind.clone_flag()
            })
    }
}

/// One line of a `uid_map` or `gid_map`: `count` ids from `inside` (in the
/// container) map to those from `outside` (on the host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMapping {
    /// First id in the container.
    pub inside: u32,
    /// First id on the host.
    pub outside: u32,
    /// How many.
    pub count: u32,
}

/// A user namespace of the container's own (OCI `user` namespace with
/// `uidMappings`/`gidMappings`): the container process creates it before
/// its other namespaces, which then belong to it, and the runtime writes
/// its maps from outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserNamespace {
    /// A fresh one with these maps.
    New {
        /// The `uid_map`.
        uids: Vec<IdMapping>,
        /// The `gid_map`.
        gids: Vec<IdMapping>,
    },
    /// A running container's (`exec`).
    Join(PathBuf),
}

/// The text of a `uid_map` or `gid_map` file.
pub fn map_text(map: &[IdMapping]) -> String {
    map.iter()
        .map(|m| format!("{} {} {}\n", m.inside, m.outside, m.count))
        .collect()
}

/// A mount the user asked for, on top of the container's root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Where, as an absolute path inside the container; resolved inside
    /// the root at mount time, so a symlink cannot point it outside.
    pub destination: PathBuf,
    /// What is mounted.
    pub kind: MountKind,
    /// `MS_RDONLY`, `MS_NOSUID`, `MS_NODEV`, `MS_NOEXEC`.
    pub flags: MsFlags,
}

/// What a [`Mount`] puts at its destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountKind {
    /// A host file or directory (`-v SRC:DST`, an OCI bind mount).
    Bind {
        /// Absolute host path.
        source: PathBuf,
        /// `rbind`: with the mounts below `source`.
        recursive: bool,
    },
    /// A fresh tmpfs (`--tmpfs DST`), with its `size=`/`mode=` options.
    Tmpfs {
        /// Mount data, e.g. `size=65536k,mode=1777`; may be empty.
        data: String,
    },
}

/// A device node made in the container's `/dev` (OCI `linux.devices`,
/// what Docker's `--device` asks for). Whether the container may use it is
/// up to the device cgroup, which the runtime sets up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceNode {
    /// Where, inside the container: a path under `/dev` (see
    /// [`check_device_node`]).
    pub path: PathBuf,
    /// Character, block or fifo.
    pub kind: DeviceKind,
    /// Major device number (ignored for a fifo).
    pub major: u64,
    /// Minor device number (ignored for a fifo).
    pub minor: u64,
    /// Permission bits of the node.
    pub mode: u32,
    /// Owner of the node.
    pub uid: u32,
    /// Group of the node.
    pub gid: u32,
}

/// The kind of a [`DeviceNode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// A character device (`c`, `u`).
    Char,
    /// A block device (`b`).
    Block,
    /// A named pipe (`p`).
    Fifo,
}

impl DeviceKind {
    /// The file type bits `mknod` takes.
    pub fn mode_bits(self) -> u32 {
        match self {
            Self::Char => libc::S_IFCHR,
            Self::Block => libc::S_IFBLK,
            Self::Fifo => libc::S_IFIFO,
        }
    }
}

/// Names directly under `/dev` that the sandbox or the kernel provides
/// itself, where a configured device node would clash.
const RESERVED_DEV_NAMES: &[&str] = &["pts", "ptmx", "shm", "stdin", "stdout", "stderr", "fd"];

/// Refuses a device node outside `/dev`, on a path with `..`, `.` or a
/// trailing slash, or on a name the container's `/dev` already uses for
/// something else (its devpts, `/dev/shm`, the descriptors the kernel
/// shows as `/dev/fd`). The harmless devices bound by default (`null`,
/// `zero`...) may be named: the node then replaces the binding.
pub fn check_device_node(node: &DeviceNode) -> Result<()> {
    let text = node.path.to_string_lossy();
    check_no_nul(&text)?;
    let invalid = |why: &str| {
        Err(Error::Config(format!(
            "device {}: {why}",
            node.path.display()
        )))
    };
    if text == "/dev" || text == "/dev/" {
        return invalid("a device needs a name under /dev");
    }
    let Some(below) = text.strip_prefix("/dev/") else {
        return invalid("oxbox makes device nodes only under /dev");
    };
    let parts: Vec<&str> = below.split('/').collect();
    // Checked on the text: `Path::components` would drop a `.`.
    if parts.iter().any(|p| matches!(*p, "" | "." | "..")) {
        return invalid("the path must be plain, without ., .. or a trailing /");
    }
    if RESERVED_DEV_NAMES.contains(&parts[0]) {
        return invalid("that name in /dev is the container's own");
    }
    Ok(())
}

/// A resource limit set on the container's first process (`setrlimit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    /// `RLIMIT_*` number.
    pub resource: i32,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// Who the guest runs as, on the host and (the same ids) to itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
}

/// A request as the CLI received it, before validation.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The guest program and its arguments (`CMD ARGS...`).
    pub command: Vec<String>,
    /// `--rootfs DIR`; `None` runs on the host's root.
    pub rootfs: Option<PathBuf>,
    /// `--read-only`.
    pub read_only: bool,
    /// `-e K=V` and `-e K` entries, in order.
    pub env: Vec<String>,
    /// `-w DIR`; `None` means `/`.
    pub workdir: Option<PathBuf>,
    /// `--hostname H`; `None` picks a random id.
    pub hostname: Option<String>,
    /// Ask the kernel for syscall statistics at exit.
    pub stats: bool,
    /// Verbosity of the kernel's log.
    pub log_level: Option<LogLevel>,
    /// Path of the kernel image.
    pub kernel: PathBuf,
    /// `--network host`: share the host's network namespace.
    pub host_network: bool,
    /// `--network sandbox`: the container's own TCP/IP stack.
    pub sandbox_network: bool,
    /// `-p`: host ports that lead to the container's (with
    /// `--network sandbox` only).
    pub publish: Vec<crate::publish::PortMapping>,
    /// `-v SRC:DST[:ro]` and `--tmpfs DST` mounts.
    pub mounts: Vec<Mount>,
    /// `-t`: give the guest a pseudo-terminal.
    pub terminal: bool,
}

/// A validated container description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The root filesystem.
    pub rootfs: Rootfs,
    /// The guest program and its arguments; never empty.
    pub command: Vec<String>,
    /// The guest environment as `K=V` strings.
    pub env: Vec<String>,
    /// The guest's initial working directory, absolute, inside the container.
    pub workdir: PathBuf,
    /// The container's hostname.
    pub hostname: String,
    /// Who the guest runs as.
    pub user: User,
    /// The host capabilities a root guest keeps (a subset of
    /// [`crate::caps::GUEST_ROOT`]).
    pub capabilities: u64,
    /// The container's namespaces.
    pub namespaces: Namespaces,
    /// A user namespace of its own, created first, which the others then
    /// belong to; `None` for the runtime's.
    pub user_namespace: Option<UserNamespace>,
    /// Mounts on top of the root, in order.
    pub mounts: Vec<Mount>,
    /// Device nodes made in the container's `/dev`.
    pub devices: Vec<DeviceNode>,
    /// Resource limits of the first process.
    pub rlimits: Vec<Rlimit>,
    /// Sysctls written in the container's namespaces before the guest
    /// starts, `(key, value)` (OCI `linux.sysctl`, checked by the runtime
    /// to be the container's own; keys are dotted names without `/`).
    pub sysctls: Vec<(String, String)>,
    /// The guest's stdio is a new pseudo-terminal, its controlling
    /// terminal; the master goes to whoever started the container.
    pub terminal: bool,
    /// The terminal's initial size.
    pub console_size: Option<crate::terminal::WindowSize>,
    /// The guest's own seccomp profile, in `oxbox_abi::guest_filter`'s
    /// text form, for the kernel to enforce.
    pub guest_filter: Option<String>,
    /// Ask the kernel for syscall statistics at exit.
    pub stats: bool,
    /// Verbosity of the kernel's log.
    pub log_level: LogLevel,
    /// Path of the kernel image on the host.
    pub kernel: PathBuf,
    /// The container's TCP/IP is its own stack's (`--network sandbox`,
    /// [`crate::network`]) behind a veth pair, not the host's.
    pub sandbox_network: bool,
    /// Host ports relayed to the container's ([`crate::publish`]).
    pub publish: Vec<crate::publish::PortMapping>,
}

impl ContainerSpec {
    /// Validates `options`. `host_env` looks up oxbox's own environment, for
    /// `-e K` entries that copy a variable.
    pub fn from_options(
        options: Options,
        host_env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let sandbox_network = options.sandbox_network && !options.host_network;
        if !options.publish.is_empty() && !sandbox_network {
            return Err(Error::Config(
                "-p needs --network sandbox (with --network host the container's ports are the host's; with none it has no network)".into(),
            ));
        }
        if options.command.is_empty() {
            return Err(Error::NoCommand);
        }
        for arg in &options.command {
            check_no_nul(arg)?;
        }
        let rootfs = match options.rootfs {
            None => Rootfs::Host,
            Some(path) => Rootfs::Dir {
                path: resolve_rootfs(&path)?,
                read_only: options.read_only,
            },
        };
        let workdir = options.workdir.unwrap_or_else(|| PathBuf::from("/"));
        if !workdir.is_absolute() {
            return Err(Error::Workdir(workdir));
        }
        check_no_nul(&workdir.to_string_lossy())?;
        let hostname = match options.hostname {
            Some(name) => name,
            None => random_hostname()?,
        };
        validate_hostname(&hostname)?;
        let user = User::default();
        let env = guest_env(&hostname, home_for(user.uid), &options.env, host_env)?;
        let mut namespaces = Namespaces::all_new();
        if options.host_network {
            namespaces.share_host(NamespaceKind::Network);
        }
        for mount in &options.mounts {
            check_mount(mount)?;
        }
        Ok(Self {
            rootfs,
            command: options.command,
            env,
            workdir,
            hostname,
            user,
            capabilities: crate::caps::GUEST_ROOT,
            namespaces,
            user_namespace: None,
            mounts: options.mounts,
            devices: Vec::new(),
            rlimits: Vec::new(),
            sysctls: Vec::new(),
            terminal: options.terminal,
            console_size: None,
            guest_filter: None,
            sandbox_network,
            publish: options.publish,
            stats: options.stats,
            log_level: options.log_level.unwrap_or(LogLevel::Warn),
            kernel: options.kernel,
        })
    }

    /// The guest's `RLIMIT_NOFILE` (soft, hard), which its kernel keeps: the
    /// spec's, else `inherited` (the runtime's own, as a native process
    /// would inherit it). Refused as `setrlimit` would refuse it.
    pub fn nofile(&self, inherited: [u64; 2]) -> Result<[u64; 2]> {
        let limits = self
            .rlimits
            .iter()
            .rev()
            .find(|l| l.resource == libc::RLIMIT_NOFILE as i32)
            .map_or(inherited, |l| [l.soft, l.hard]);
        if limits[0] > limits[1] {
            return Err(Error::Config(format!(
                "RLIMIT_NOFILE: the soft limit {} is above the hard limit {}",
                limits[0], limits[1]
            )));
        }
        if limits[1] > NR_OPEN {
            return Err(Error::Config(format!(
                "RLIMIT_NOFILE: the hard limit {} is above fs.nr_open ({NR_OPEN})",
                limits[1]
            )));
        }
        Ok(limits)
    }

    /// The resource limits set on the host process: all but
    /// `RLIMIT_NOFILE`, which is the guest kernel's ([`Self::nofile`]).
    pub fn host_rlimits(&self) -> Vec<Rlimit> {
        self.rlimits
            .iter()
            .filter(|l| l.resource != libc::RLIMIT_NOFILE as i32)
            .copied()
            .collect()
    }

    /// The record the kernel receives as its `argv[1]`, with `nofile` from
    /// [`Self::nofile`]; `privileged`: the runtime has `CAP_SYS_RESOURCE`,
    /// which a root guest may then use to raise its hard `RLIMIT_NOFILE`.
    pub fn boot_record(&self, nofile: [u64; 2], privileged: bool) -> BootRecord<'_> {
        BootRecord {
            hostname: &self.hostname,
            uid: self.user.uid,
            gid: self.user.gid,
            stats: self.stats,
            log_level: self.log_level,
            first_process: true,
            signal_mask: 0,
            ignored_signals: 0,
            nofile,
            raise_nofile: privileged && self.user.uid == 0,
            datagrams_below: 0,
        }
    }
}

/// Makes the rootfs path absolute and free of symlinks, so that every later
/// step (bind, mkdir, mountinfo matching) talks about the same directory.
fn resolve_rootfs(path: &Path) -> Result<PathBuf> {
    let resolved = fs::canonicalize(path).map_err(|source| Error::Rootfs {
        path: path.to_owned(),
        source,
    })?;
    if !resolved.is_dir() {
        return Err(Error::RootfsNotDirectory(path.to_owned()));
    }
    Ok(resolved)
}

/// Checks what can be checked of a mount before the container exists: an
/// absolute destination other than `/`, an absolute bind source that
/// exists.
pub fn check_mount(mount: &Mount) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::Config(format!(
            "mount on {}: {why}",
            mount.destination.display()
        )))
    };
    if !mount.destination.is_absolute() || mount.destination == Path::new("/") {
        return bad("the destination must be an absolute path other than /");
    }
    check_no_nul(&mount.destination.to_string_lossy())?;
    if let MountKind::Bind { source, .. } = &mount.kind {
        if !source.is_absolute() {
            return bad("the source must be an absolute path");
        }
        if let Err(e) = fs::symlink_metadata(source) {
            return Err(Error::path("bind mount source", source, e));
        }
    }
    Ok(())
}

/// Parses `-v SRC:DST[:ro|rw]`.
pub fn parse_volume(text: &str) -> Result<Mount> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, destination, flags) = match parts[..] {
        [source, destination] => (source, destination, MsFlags::empty()),
        [source, destination, "rw"] => (source, destination, MsFlags::empty()),
        [source, destination, "ro"] => (source, destination, MsFlags::MS_RDONLY),
        _ => {
            return Err(Error::Config(format!(
                "invalid volume {text:?}: expected SRC:DST[:ro|rw]"
            )));
        }
    };
    let source = fs::canonicalize(source).map_err(|e| Error::path("volume source", source, e))?;
    Ok(Mount {
        destination: destination.into(),
        kind: MountKind::Bind {
            source,
            recursive: true,
        },
        flags,
    })
}

/// Parses `--tmpfs DST[:OPTIONS]` (options as `mount -t tmpfs` takes them).
pub fn parse_tmpfs(text: &str) -> Mount {
    let (destination, data) = text.split_once(':').unwrap_or((text, ""));
    Mount {
        destination: destination.into(),
        kind: MountKind::Tmpfs { data: data.into() },
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
    }
}

fn check_no_nul(s: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(Error::NulByte(s.to_owned()));
    }
    Ok(())
}

/// `HOME` for a guest user: Docker's rule, `/root` for root.
pub fn home_for(uid: u32) -> &'static str {
    if uid == 0 { "/root" } else { "/" }
}

/// Checks a hostname against what both `sethostname` and the boot record
/// encoding accept.
pub fn validate_hostname(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_HOSTNAME_LEN || name.contains([';', '=', '\0']) {
        return Err(Error::Hostname(name.to_owned()));
    }
    Ok(())
}

/// Checks OCI `linux.sysctl` as runc does: only sysctls of a namespace the
/// container has of its own may be set (the IPC ones with an IPC
/// namespace, `net.*` with a network namespace that is not the caller's,
/// `kernel.domainname` with a UTS namespace; `kernel.hostname` has the OCI
/// `hostname` field instead), so a container never changes the host's.
/// Keys are dotted names, which become paths under `/proc/sys`.
pub fn check_sysctls(sysctls: &[(String, String)], namespaces: &Namespaces) -> Result<()> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let refuse = |why: String| Err(Error::Config(why));
    for (key, value) in sysctls {
        if key.is_empty()
            || key.contains(['/', '\0'])
            || key.split('.').any(str::is_empty)
            || value.contains('\0')
        {
            return refuse(format!("invalid sysctl {key:?}"));
        }
        if IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            if namespaces.get(NamespaceKind::Ipc).is_none() {
                return refuse(format!(
                    "sysctl {key:?} is not allowed in the hosts ipc namespace"
                ));
            }
            continue;
        }
        if key.starts_with("net.") {
            let host = match namespaces.get(NamespaceKind::Network) {
                None => true,
                Some(NamespaceSource::New) => false,
                Some(NamespaceSource::Join(path)) => is_own_network_namespace(path)?,
            };
            if host {
                return refuse(format!(
                    "sysctl {key:?} not allowed in host network namespace"
                ));
            }
            continue;
        }
        if namespaces.get(NamespaceKind::Uts).is_some() {
            match key.as_str() {
                "kernel.domainname" => continue,
                "kernel.hostname" => {
                    return refuse(format!(
                        "sysctl {key:?} is not allowed as it conflicts with the OCI \"hostname\" field"
                    ));
                }
                _ => {}
            }
        }
        return refuse(format!(
            "sysctl {key:?} is not in a separate kernel namespace"
        ));
    }
    Ok(())
}

/// Whether the network namespace at `path` is the caller's own.
fn is_own_network_namespace(path: &Path) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &Path| {
        fs::metadata(p)
            .map(|m| (m.dev(), m.ino()))
            .map_err(|e| Error::path("invalid netns path", p, e))
    };
    Ok(id(path)? == id(Path::new("/proc/self/ns/net"))?)
}

/// A 12-hex-digit random hostname, like the short container ids Docker uses.
pub fn random_hostname() -> Result<String> {
    let mut bytes = [0u8; 6];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::path("read", "/dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Builds the guest environment: Docker's defaults, then the `-e` entries in
/// order, a later entry replacing an earlier one of the same name in place.
/// `-e K` copies `K` from oxbox's environment and is dropped when unset.
pub fn guest_env(
    hostname: &str,
    home: &str,
    entries: &[String],
    host_env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>> {
    let mut vars: Vec<(String, String)> = vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOSTNAME".into(), hostname.into()),
        ("HOME".into(), home.into()),
    ];
    for entry in entries {
        let (key, value) = match entry.split_once('=') {
            Some((key, value)) => (key, value.to_owned()),
            None => match host_env(entry) {
                Some(value) => (entry.as_str(), value),
                None => continue,
            },
        };
        if key.is_empty() || key.contains('\0') || value.contains('\0') {
            return Err(Error::Environment(entry.clone()));
        }
        match vars.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => vars.push((key.to_owned(), value)),
        }
    }
    Ok(vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn options(command: &[&str]) -> Options {
        Options {
            command: command.iter().map(|s| s.to_string()).collect(),
            kernel: "/k".into(),
            ..Options::default()
        }
    }

    #[test]
    fn only_sysctls_of_the_containers_own_namespaces_are_accepted() {
        let one = |key: &str| vec![(key.to_string(), "1".to_string())];
        let all = Namespaces::all_new();
        let mut host_net = Namespaces::all_new();
        host_net.share_host(NamespaceKind::Network);
        let joined_own = Namespaces::from_pairs(vec![(
            NamespaceKind::Network,
            NamespaceSource::Join("/proc/self/ns/net".into()),
        )])
        .unwrap();
        let none = Namespaces::from_pairs(Vec::new()).unwrap();
        for key in [
            "net.ipv4.ip_unprivileged_port_start",
            "kernel.shmmax",
            "fs.mqueue.msg_max",
            "kernel.domainname",
        ] {
            assert!(check_sysctls(&one(key), &all).is_ok(), "{key}");
        }
        let refused = [
            (
                "kernel.panic",
                &all,
                "is not in a separate kernel namespace",
            ),
            (
                "vm.swappiness",
                &all,
                "is not in a separate kernel namespace",
            ),
            (
                "kernel.hostname",
                &all,
                "conflicts with the OCI \"hostname\" field",
            ),
            (
                "kernel.hostname",
                &none,
                "is not in a separate kernel namespace",
            ),
            (
                "net.ipv4.ip_forward",
                &host_net,
                "not allowed in host network namespace",
            ),
            (
                "net.ipv4.ip_forward",
                &joined_own,
                "not allowed in host network namespace",
            ),
            (
                "kernel.shmmax",
                &none,
                "not allowed in the hosts ipc namespace",
            ),
            (
                "kernel.domainname",
                &none,
                "is not in a separate kernel namespace",
            ),
            ("net.ipv4/../../x", &all, "invalid sysctl"),
            ("net..x", &all, "invalid sysctl"),
        ];
        for (key, namespaces, why) in refused {
            let err = check_sysctls(&one(key), namespaces)
                .unwrap_err()
                .to_string();
            assert!(err.contains(why) && err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn defaults_are_host_root_slash_and_random_hostname() {
        let spec = ContainerSpec::from_options(options(&["sh"]), no_env).unwrap();
        assert_eq!(spec.rootfs, Rootfs::Host);
        assert_eq!(spec.workdir, Path::new("/"));
        assert_eq!(spec.hostname.len(), 12);
        assert!(spec.hostname.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(spec.log_level, LogLevel::Warn);
        assert_eq!(spec.user, User::default());
        assert_eq!(spec.namespaces, Namespaces::all_new());
        assert!(!spec.terminal);
        assert_eq!(spec.env[0], format!("PATH={DEFAULT_PATH}"));
        assert_eq!(spec.env[1], format!("HOSTNAME={}", spec.hostname));
        assert_eq!(spec.env[2], "HOME=/root");
    }

    #[test]
    fn empty_command_is_refused() {
        assert!(matches!(
            ContainerSpec::from_options(options(&[]), no_env),
            Err(Error::NoCommand)
        ));
    }

    #[test]
    fn missing_rootfs_is_refused() {
        let opts = Options {
            rootfs: Some("/nonexistent/oxbox-rootfs".into()),
            ..options(&["sh"])
        };
        assert!(matches!(
            ContainerSpec::from_options(opts, no_env),
            Err(Error::Rootfs { .. })
        ));
    }

    #[test]
    fn rootfs_that_is_a_file_is_refused() {
        let opts = Options {
            rootfs: Some("/proc/self/status".into()),
            ..options(&["sh"])
        };
        assert!(matches!(
            ContainerSpec::from_options(opts, no_env),
            Err(Error::RootfsNotDirectory(_))
        ));
    }

    #[test]
    fn rootfs_path_is_resolved_and_read_only_kept() {
        let opts = Options {
            rootfs: Some("/usr/../usr".into()),
            read_only: true,
            ..options(&["sh"])
        };
        let spec = ContainerSpec::from_options(opts, no_env).unwrap();
        assert_eq!(
            spec.rootfs,
            Rootfs::Dir {
                path: "/usr".into(),
                read_only: true
            }
        );
        assert!(!spec.rootfs.writable());
    }

    #[test]
    fn relative_workdir_is_refused() {
        let opts = Options {
            workdir: Some("work".into()),
            ..options(&["sh"])
        };
        assert!(matches!(
            ContainerSpec::from_options(opts, no_env),
            Err(Error::Workdir(_))
        ));
    }

    #[test]
    fn device_nodes_go_only_on_plain_free_names_under_dev() {
        let node = |path: &str| DeviceNode {
            path: path.into(),
            kind: DeviceKind::Char,
            major: 1,
            minor: 11,
            mode: 0o666,
            uid: 0,
            gid: 0,
        };
        for good in ["/dev/kmsg", "/dev/net/tun", "/dev/null", "/dev/fuse"] {
            assert!(check_device_node(&node(good)).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("/tmp/kmsg", "only under /dev"),
            ("/dev", "needs a name"),
            ("/dev/../etc/passwd", "plain"),
            ("/dev/net/./tun", "plain"),
            ("/dev/kmsg/", "plain"),
            ("/dev/pts/0", "container's own"),
            ("/dev/shm", "container's own"),
            ("/dev/fd", "container's own"),
        ] {
            let err = check_device_node(&node(bad)).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn hostnames_are_validated() {
        assert!(validate_hostname("box").is_ok());
        assert!(validate_hostname(&"a".repeat(64)).is_ok());
        for bad in ["", "a;b", "a=b", "a\0b"] {
            assert!(validate_hostname(bad).is_err(), "{bad:?}");
        }
        assert!(validate_hostname(&"a".repeat(65)).is_err());
    }

    #[test]
    fn boot_record_carries_spec_fields() {
        let opts = Options {
            hostname: Some("web".into()),
            stats: true,
            ..options(&["sh"])
        };
        let spec = ContainerSpec::from_options(opts, no_env).unwrap();
        let encoded = spec.boot_record([64, 128], true).encode().unwrap();
        let decoded = BootRecord::decode(&encoded).unwrap();
        assert_eq!(decoded.hostname, "web");
        assert!(decoded.stats);
        assert_eq!(decoded.nofile, [64, 128]);
        assert!(decoded.raise_nofile);
        assert!(!spec.boot_record([64, 128], false).raise_nofile);
        let mut user = spec;
        user.user.uid = 1000;
        assert!(!user.boot_record([64, 128], true).raise_nofile);
    }

    #[test]
    fn nofile_is_the_specs_else_inherited_and_never_the_hosts_to_set() {
        let mut spec = ContainerSpec::from_options(options(&["sh"]), no_env).unwrap();
        assert_eq!(spec.nofile([1024, 4096]).unwrap(), [1024, 4096]);
        let limit = |resource: i32, soft, hard| Rlimit {
            resource,
            soft,
            hard,
        };
        spec.rlimits = vec![
            limit(libc::RLIMIT_NPROC as i32, 10, 20),
            limit(libc::RLIMIT_NOFILE as i32, 64, 128),
        ];
        assert_eq!(spec.nofile([1024, 4096]).unwrap(), [64, 128]);
        assert_eq!(
            spec.host_rlimits(),
            [limit(libc::RLIMIT_NPROC as i32, 10, 20)]
        );
        spec.rlimits[1].soft = 256;
        assert!(spec.nofile([0, 0]).is_err());
        spec.rlimits[1] = limit(libc::RLIMIT_NOFILE as i32, 64, NR_OPEN + 1);
        assert!(spec.nofile([0, 0]).is_err());
    }

    #[test]
    fn env_entries_override_defaults_in_place_and_later_wins() {
        let entries = [
            "A=1".to_string(),
            "HOME=/home/x".into(),
            "A=2".into(),
            "EMPTY=".into(),
        ];
        let env = guest_env("h", "/root", &entries, no_env).unwrap();
        assert_eq!(
            env,
            [
                &format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=h",
                "HOME=/home/x",
                "A=2",
                "EMPTY="
            ]
        );
    }

    #[test]
    fn bare_env_key_copies_from_host_or_is_dropped() {
        let host = |k: &str| (k == "TERM").then(|| "xterm".to_string());
        let env = guest_env("h", "/root", &["TERM".into(), "UNSET".into()], host).unwrap();
        assert_eq!(env.last().unwrap(), "TERM=xterm");
        assert!(!env.iter().any(|e| e.starts_with("UNSET")));
    }

    #[test]
    fn published_ports_need_the_sandbox_network() {
        let publish = vec![crate::publish::parse_port_mapping("8080:80").unwrap()];
        let refused = Options {
            publish: publish.clone(),
            ..options(&["sh"])
        };
        let error = ContainerSpec::from_options(refused, no_env).unwrap_err();
        assert!(error.to_string().contains("-p needs --network sandbox"));
        let sandboxed = Options {
            publish: publish.clone(),
            sandbox_network: true,
            ..options(&["sh"])
        };
        assert_eq!(
            ContainerSpec::from_options(sandboxed, no_env)
                .unwrap()
                .publish,
            publish
        );
    }

    #[test]
    fn host_network_shares_only_the_network_namespace() {
        let opts = Options {
            host_network: true,
            sandbox_network: false,
            ..options(&["sh"])
        };
        let spec = ContainerSpec::from_options(opts, no_env).unwrap();
        assert_eq!(spec.namespaces.get(NamespaceKind::Network), None);
        assert!(spec.namespaces.is_new(NamespaceKind::Pid));
        assert!(
            !spec
                .namespaces
                .unshare_flags()
                .intersects(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWPID)
        );
        assert!(
            spec.namespaces
                .unshare_flags()
                .contains(CloneFlags::CLONE_NEWNS)
        );
    }

    #[test]
    fn joined_namespaces_come_in_entry_order_and_twice_is_refused() {
        let ns = Namespaces::from_pairs(vec![
            (NamespaceKind::Mount, NamespaceSource::Join("/m".into())),
            (NamespaceKind::Network, NamespaceSource::Join("/n".into())),
            (NamespaceKind::Pid, NamespaceSource::New),
        ])
        .unwrap();
        let joined: Vec<_> = ns.joined().map(|(k, _)| k).collect();
        assert_eq!(joined, [NamespaceKind::Network, NamespaceKind::Mount]);
        let twice = Namespaces::from_pairs(vec![
            (NamespaceKind::Uts, NamespaceSource::New),
            (NamespaceKind::Uts, NamespaceSource::New),
        ]);
        assert!(twice.is_err());
    }

    #[test]
    fn volumes_and_tmpfs_are_parsed() {
        let volume = parse_volume("/usr/../usr:/data:ro").unwrap();
        assert_eq!(volume.destination, Path::new("/data"));
        assert_eq!(
            volume.kind,
            MountKind::Bind {
                source: "/usr".into(),
                recursive: true
            }
        );
        assert_eq!(volume.flags, MsFlags::MS_RDONLY);
        for bad in ["/usr", "/usr:/data:rx", "/nonexistent/x:/data"] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
        let tmpfs = parse_tmpfs("/scratch:size=1m");
        assert_eq!(
            tmpfs.kind,
            MountKind::Tmpfs {
                data: "size=1m".into()
            }
        );
        assert!(check_mount(&parse_tmpfs("relative")).is_err());
        assert!(check_mount(&parse_tmpfs("/")).is_err());
    }

    #[test]
    fn malformed_env_entries_are_refused() {
        for bad in ["=x", "A=\0"] {
            assert!(
                guest_env("h", "/root", &[bad.to_string()], no_env).is_err(),
                "{bad:?}"
            );
        }
    }
}
