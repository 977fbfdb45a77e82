//! The runtimes a workload is compared on, and how each one runs a guest.
//!
//! Every runtime runs the very same static binary: natively, inside an
//! OCI bundle under runc, crun or runsc, or from a bare rootfs under
//! `oxbox do`. A run is one process invocation whose stdout and stderr
//! go to files (no pipe to drain, however much a guest prints) and which
//! is killed, and its container deleted, if it outlives the timeout.

use std::fmt;
use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::bundle::{self, Bundle, RootfsContents};
use crate::docker_seccomp::OciSeccomp;
use crate::dockerd::{self, Dockerd};
use crate::images::{self, Phase};
use crate::lifecycle;
use crate::network::{self, Net, Service};
use crate::servers;
use crate::workload::{Measure, Workload};

/// A runtime of the comparison matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// The binary run directly on the host: the floor.
    Native,
    /// runc with Docker's default seccomp profile: what `docker run` gives.
    Runc,
    /// crun, the other common OCI runtime, same bundle as runc.
    Crun,
    /// gVisor on its ptrace platform: another syscall-interception design.
    Runsc,
    /// oxbox: patched syscall sites calling into the library OS. Its
    /// sockets are host sockets (`--network host` for the servers and
    /// the network group: host-socket mode).
    Oxbox,
    /// oxbox in sandbox network mode: the guest's sockets are served by
    /// the kernel's own TCP/IP stack (`crates/netstack`), a port
    /// published with `-p`. Measured by the network group only.
    #[serde(rename = "oxbox-sandbox")]
    OxboxSandbox,
}

impl RuntimeKind {
    /// Every runtime, in report order.
    pub const ALL: [Self; 6] = [
        Self::Native,
        Self::Runc,
        Self::Crun,
        Self::Runsc,
        Self::Oxbox,
        Self::OxboxSandbox,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Runc => "runc",
            Self::Crun => "crun",
            Self::Runsc => "runsc",
            Self::Oxbox => "oxbox",
            Self::OxboxSandbox => "oxbox-sandbox",
        }
    }

    /// The OCI runtime's command name, for runtimes driven by a bundle.
    fn oci_command(self) -> Option<&'static str> {
        match self {
            Self::Runc => Some("runc"),
            Self::Crun => Some("crun"),
            Self::Runsc => Some("runsc"),
            Self::Native | Self::Oxbox | Self::OxboxSandbox => None,
        }
    }

    /// Whether the runtime reports interception counters (in a separate
    /// counting run, since counting slows the calls it counts).
    pub fn has_counters(self) -> bool {
        self == Self::Oxbox
    }

    /// Global flags placed before the verb; `host_network` for the
    /// servers, which share the host's network namespace.
    fn oci_global_args(self, root: &Path, host_network: bool) -> Vec<String> {
        let mut args = vec!["--root".to_string(), root.display().to_string()];
        if self == Self::Runsc {
            // ptrace is the platform that works without /dev/kvm and in
            // nested virtualization; no network keeps start-up cheap.
            args.push("--platform=ptrace".into());
            args.push(
                if host_network {
                    "--network=host"
                } else {
                    "--network=none"
                }
                .into(),
            );
        }
        args
    }

    /// A remark printed with every result of this runtime.
    fn remark(self) -> Option<&'static str> {
        match self {
            Self::Runsc => Some("ptrace platform; runsc ignores OCI seccomp without --oci-seccomp"),
            Self::Runc | Self::Crun => Some("Docker default seccomp profile"),
            Self::Native => Some("chroot(8) into the same root"),
            Self::Oxbox | Self::OxboxSandbox => None,
        }
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RuntimeKind {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|k| k.name()).collect();
                anyhow!("unknown runtime {s:?} (known: {})", names.join(", "))
            })
    }
}

/// Whether a runtime can be measured on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Ready,
    /// Not installed or not usable by this user: noted, not an error.
    Skipped(String),
    /// Should work but cannot: shown as the runtime's error.
    Broken(String),
}

/// One run to make: `workload`, built at `binary`, for `iterations`
/// under `kind`.
#[derive(Debug, Clone, Copy)]
pub struct RunRequest<'a> {
    pub kind: RuntimeKind,
    pub workload: &'a Workload,
    pub binary: &'a Path,
    pub iterations: u64,
    /// Asks oxbox for its interception counters; other runtimes have none
    /// and ignore it.
    pub counting: bool,
}

/// What one run printed.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
}

/// Everything runs share: a scratch directory, the resolved seccomp
/// profile and where the binaries are.
pub struct Runner {
    scratch: PathBuf,
    seccomp: std::result::Result<OciSeccomp, String>,
    oxbox: PathBuf,
    timeout: Duration,
    is_root: bool,
    /// Keep each run's bundle and output files, for debugging.
    pub keep_runs: bool,
    /// The static busybox put in every root (`/bin/sh`, `/bin/tar`...).
    pub busybox: Option<PathBuf>,
    /// The source tree archive for the workloads that extract it.
    pub tree: Option<PathBuf>,
    /// The TCP_RR program (`workloads/tcp_rr.c`): the network group's
    /// echo server in the container and its client on the host.
    pub tcp_rr: Option<PathBuf>,
    /// Run crun where the cgroup v2 mount of a hybrid host is hidden.
    crun_hides_unified: bool,
    counter: AtomicU32,
    /// The private dockerd of the `docker run` workload, started by its
    /// first run (or why it could not start); dropped with the runner.
    dockerd: OnceLock<std::result::Result<Dockerd, String>>,
}

impl Runner {
    /// `seccomp` is the profile for the OCI runtimes, or why there is none
    /// (then they are skipped: without it runc would not be what Docker
    /// users run).
    pub fn new(
        scratch: PathBuf,
        seccomp: std::result::Result<OciSeccomp, String>,
        oxbox: PathBuf,
        timeout: Duration,
    ) -> Self {
        Self {
            scratch,
            seccomp,
            oxbox,
            timeout,
            is_root: is_root(),
            keep_runs: false,
            busybox: None,
            tree: None,
            tcp_rr: None,
            crun_hides_unified: hybrid_unified_has_controllers(),
            counter: AtomicU32::new(0),
            dockerd: OnceLock::new(),
        }
    }

    /// Docker's profile as given to the OCI runtimes, or why there is none.
    pub fn seccomp(&self) -> std::result::Result<&OciSeccomp, &String> {
        self.seccomp.as_ref()
    }

    /// The oxbox binary runs use.
    pub fn oxbox(&self) -> &Path {
        &self.oxbox
    }

    /// Checks that `kind` is installed and usable for `workload`.
    pub fn availability(&self, workload: &Workload, kind: RuntimeKind) -> Availability {
        if workload.measure.is_lifecycle() {
            return self.lifecycle_availability(workload.measure, kind);
        }
        if let Measure::Image(_) = workload.measure {
            return self.image_availability(kind);
        }
        if !workload.group.runs_on(kind) {
            return Availability::Skipped(format!("{kind} is measured by the network group only"));
        }
        if let Some(service) = workload.server() {
            if !self.is_root {
                return Availability::Skipped(
                    "servers run from the Debian rootfs: chroot and containers need root".into(),
                );
            }
            if let Err(e) = self.load_program(service) {
                return Availability::Skipped(format!("{e:#}"));
            }
        }
        self.runtime_availability(kind)
    }

    /// Whether `kind` can run a container's lifecycle: no Docker profile
    /// needed, but runc for the bundle's spec, or dockerd.
    fn lifecycle_availability(&self, measure: Measure, kind: RuntimeKind) -> Availability {
        if kind == RuntimeKind::Native {
            return Availability::Skipped("a container's lifecycle has no native run".into());
        }
        if !self.is_root {
            return Availability::Skipped("containers need root".into());
        }
        let needed: &[&str] = match measure {
            Measure::DockerRun => &["dockerd", dockerd::DOCKER],
            _ => &["runc"],
        };
        if let Some(missing) = needed.iter().find(|p| find_in_path(p).is_none()) {
            return Availability::Skipped(format!("{missing} not installed"));
        }
        if measure == Measure::DockerRun && kind == RuntimeKind::Crun && self.crun_hides_unified {
            return Availability::Skipped(
                "crun rejects this hybrid cgroup host, and under dockerd the cgroup2 mount cannot be hidden from it as in the bare runs".into(),
            );
        }
        match self.runtime_availability(kind) {
            Availability::Skipped(why) if why.starts_with("no Docker seccomp profile") => {
                Availability::Ready
            }
            other => other,
        }
    }

    /// Whether `kind`'s image tools are here: oxbox's own, or for the
    /// runc row skopeo and umoci (runc itself has no images).
    fn image_availability(&self, kind: RuntimeKind) -> Availability {
        match kind {
            RuntimeKind::Runc => match ["skopeo", "umoci"]
                .into_iter()
                .find(|p| find_in_path(p).is_none())
            {
                Some(missing) => Availability::Skipped(format!("{missing} not installed")),
                None if !self.is_root => {
                    Availability::Skipped("umoci unpack keeps the image's ownership as root".into())
                }
                None => Availability::Ready,
            },
            RuntimeKind::Oxbox => self.runtime_availability(kind),
            _ => Availability::Skipped(
                "an image tool comparison: oxbox against skopeo + umoci, in the runc row".into(),
            ),
        }
    }

    fn runtime_availability(&self, kind: RuntimeKind) -> Availability {
        match kind {
            RuntimeKind::Native => Availability::Ready,
            RuntimeKind::OxboxSandbox if !self.is_root => {
                Availability::Skipped("--network sandbox needs root".into())
            }
            RuntimeKind::Oxbox | RuntimeKind::OxboxSandbox => {
                if is_executable(&self.oxbox) {
                    Availability::Ready
                } else {
                    Availability::Broken(format!(
                        "oxbox binary not found at {} (cargo build --release -p oxbox -p oxbox-kernel-image, or --oxbox PATH)",
                        self.oxbox.display()
                    ))
                }
            }
            _ => {
                let command = kind.oci_command().expect("OCI runtime");
                if find_in_path(command).is_none() {
                    return Availability::Skipped(format!("{command} not installed"));
                }
                if !self.is_root {
                    return Availability::Skipped(format!("{command} needs root"));
                }
                if kind == RuntimeKind::Crun
                    && self.crun_hides_unified
                    && find_in_path("unshare").is_none()
                {
                    return Availability::Skipped(
                        "crun on a hybrid cgroup host needs unshare(1)".into(),
                    );
                }
                if let Err(why) = &self.seccomp {
                    return Availability::Skipped(format!("no Docker seccomp profile: {why}"));
                }
                Availability::Ready
            }
        }
    }

    /// What a reader of this runtime's numbers on `workload` should know
    /// about its setup.
    pub fn remark(&self, workload: &Workload, kind: RuntimeKind) -> Option<String> {
        let hides_unified = kind == RuntimeKind::Crun && self.crun_hides_unified;
        let remark = match (workload.measure, kind) {
            (Measure::OciCycle, RuntimeKind::Runsc) => "ptrace platform, --network=none".into(),
            (Measure::OciCycle, _) if hides_unified => {
                "each verb run by unshare + sh with the cgroup2 'unified' mount hidden (crun rejects hybrid cgroups): their cost is included".into()
            }
            (Measure::OciCycle, _) => return None,
            (Measure::DockerRun, RuntimeKind::Runc) => {
                "Docker's default runtime and seccomp profile".into()
            }
            (Measure::DockerRun, RuntimeKind::Runsc) => {
                format!("daemon.json runtimeArgs {}", dockerd::RUNSC_ARGS.join(" "))
            }
            (Measure::DockerRun, _) => "registered in daemon.json".into(),
            (Measure::Image(_), RuntimeKind::Runc) => {
                "skopeo copy + umoci unpack, what a runc user has (runc has no images)".into()
            }
            (Measure::Image(_), _) => "fresh data root per run".into(),
            (Measure::Server(_) | Measure::Network(_), RuntimeKind::Native) => {
                "chroot(8) into the Debian root, host network".into()
            }
            (Measure::Server(_) | Measure::Network(_), RuntimeKind::Oxbox) => {
                "oxbox do --network host".into()
            }
            (_, RuntimeKind::OxboxSandbox) => {
                "oxbox do --network sandbox -p 127.0.0.1:PORT:PORT: the kernel's own TCP/IP stack, through oxbox's port relay and a veth".into()
            }
            (Measure::Server(_) | Measure::Network(_), RuntimeKind::Runsc) => {
                "ptrace platform, --network=host; runsc ignores OCI seccomp without --oci-seccomp"
                    .into()
            }
            (Measure::Server(_) | Measure::Network(_), _) => format!(
                "{}; no network namespace (the host's)",
                self.runtime_remark(kind)?
            ),
            _ => self.runtime_remark(kind)?,
        };
        Some(remark)
    }

    fn runtime_remark(&self, kind: RuntimeKind) -> Option<String> {
        let mut remark = kind.remark()?.to_string();
        if kind == RuntimeKind::Crun && self.crun_hides_unified {
            remark.push_str("; cgroup2 'unified' mount hidden (crun rejects hybrid cgroups)");
        }
        Some(remark)
    }

    /// The runtime's version line, for the machine report.
    pub fn version(&self, kind: RuntimeKind) -> Option<String> {
        let program = match kind {
            // Listed once, as oxbox.
            RuntimeKind::Native | RuntimeKind::OxboxSandbox => return None,
            RuntimeKind::Oxbox => self.oxbox.clone(),
            _ => find_in_path(kind.oci_command()?)?,
        };
        first_line_of(Command::new(program).arg("--version"))
    }

    /// Makes one run in a directory of its own.
    pub fn run(&self, request: &RunRequest<'_>) -> Result<RunOutput> {
        match request.workload.measure {
            Measure::OciCycle => return self.oci_cycle(request),
            Measure::DockerRun => return self.docker_run(request),
            Measure::Image(phase) => return self.image_run(request, phase),
            _ => {}
        }
        self.in_run_dir(|id, dir| {
            let (command, cleanup) = self.command(request, id, dir)?;
            run_timed(command, cleanup, dir, self.timeout)
        })
    }

    /// One container's OCI lifecycle, timed from `create` to the end of
    /// `delete`, one runtime call per verb; the container is deleted
    /// whatever step fails.
    fn oci_cycle(&self, request: &RunRequest<'_>) -> Result<RunOutput> {
        self.in_run_dir(|id, dir| {
            let bundle = Bundle::without_config(&dir.join("bundle"), &self.contents(request)?)?;
            let guest = request.workload.guest_path();
            lifecycle::write_runc_spec(&bundle, &[guest])?;
            let pid_file = dir.join("pid");
            let verb = |args: &[&str]| -> Result<()> {
                let mut command = self.oci_verb(request.kind);
                command.args(args);
                // The container keeps create's stdio: files, never a pipe.
                redirect_output(&mut command, dir)?;
                let status = wait_with_timeout(&mut command, self.timeout)?;
                if !status.success() {
                    let stderr = fs::read_to_string(dir.join("stderr")).unwrap_or_default();
                    bail!("{} {status}: {}", args[0], tail(&stderr));
                }
                Ok(())
            };
            let start = Instant::now();
            let cycle = verb(&[
                "create",
                "--bundle",
                &bundle.dir.to_string_lossy(),
                "--pid-file",
                &pid_file.to_string_lossy(),
                id,
            ])
            .and_then(|()| lifecycle::read_pid_file(&pid_file))
            .and_then(|pid| {
                verb(&["start", id])?;
                lifecycle::wait_for_exit(pid, self.timeout)?;
                verb(&["delete", id])
            });
            let wall = start.elapsed();
            if cycle.is_err() {
                let mut delete = self.oci_verb(request.kind);
                delete.args(["delete", "--force", id]);
                run_cleanup(Some(delete), self.timeout);
            }
            cycle?;
            Ok(RunOutput {
                stdout: String::new(),
                stderr: fs::read_to_string(dir.join("stderr")).unwrap_or_default(),
                wall,
            })
        })
    }

    /// Imports the image archive (`request.binary`) into a fresh store and
    /// unpacks it, with oxbox or, for the runc row, skopeo and umoci;
    /// times `phase`. Both steps run whichever is timed, and a root that
    /// does not hold the image's files fails the run.
    fn image_run(&self, request: &RunRequest<'_>, phase: Phase) -> Result<RunOutput> {
        self.in_run_dir(|_, dir| {
            let oxbox = (request.kind == RuntimeKind::Oxbox).then_some(self.oxbox.as_path());
            let [import, unpack] = images::commands(oxbox, request.binary, dir)?;
            let step = |command: Command, name: &str| {
                let step_dir = dir.join(name);
                fs::create_dir_all(&step_dir)?;
                run_timed(command, None, &step_dir, self.timeout).with_context(|| name.to_string())
            };
            let imported = step(import, "import")?;
            let unpacked = step(unpack, "unpack")?;
            images::check_unpacked(dir)?;
            Ok(match phase {
                Phase::Import => imported,
                Phase::Unpack => unpacked,
                Phase::Ready => RunOutput {
                    wall: imported.wall + unpacked.wall,
                    ..unpacked
                },
            })
        })
    }

    /// One `docker run --rm` through the private dockerd, started by the
    /// first such run.
    fn docker_run(&self, request: &RunRequest<'_>) -> Result<RunOutput> {
        let started = self.dockerd.get_or_init(|| {
            let contents = self.contents(request).map_err(|e| format!("{e:#}"))?;
            Dockerd::start(&self.scratch.join("dockerd"), &self.oxbox, &contents)
                .map_err(|e| format!("private dockerd: {e:#}"))
        });
        let daemon = started.as_ref().map_err(|e| anyhow!("{e}"))?;
        if !daemon.has_runtime(request.kind) {
            bail!("{} is not installed", request.kind);
        }
        self.in_run_dir(|id, dir| {
            let argv = [request.workload.guest_path()];
            let (command, remove) = daemon.run_command(request.kind, id, &argv);
            run_timed(command, Some(remove), dir, self.timeout)
        })
    }

    /// What a run's root holds: the workload binary, busybox and, for the
    /// workloads that extract it, the source tree archive.
    fn contents<'a>(&'a self, request: &RunRequest<'a>) -> Result<RootfsContents<'a>> {
        let mut contents = RootfsContents {
            files: vec![(request.binary, request.workload.guest_path())],
            busybox: self.busybox.as_deref(),
        };
        if request.workload.needs_tree {
            let tree = self
                .tree
                .as_deref()
                .context("the source tree archive was not built")?;
            contents.files.push((tree, "/tree.tar".into()));
        }
        Ok(contents)
    }

    /// An OCI runtime's command (oxbox's included) with its global flags
    /// and a state root of its own in the scratch area, ready for a verb.
    fn oci_verb(&self, kind: RuntimeKind) -> Command {
        self.oci_verb_on(kind, false)
    }

    /// [`Self::oci_verb`], in the host's network namespace if
    /// `host_network`.
    fn oci_verb_on(&self, kind: RuntimeKind, host_network: bool) -> Command {
        let program = match kind.oci_command() {
            Some(command) => PathBuf::from(command),
            None => self.oxbox.clone(),
        };
        let root = self.scratch.join(format!("root-{kind}"));
        let mut c = if kind == RuntimeKind::Crun && self.crun_hides_unified {
            hiding_unified_cgroup(&program)
        } else {
            Command::new(&program)
        };
        c.args(kind.oci_global_args(&root, host_network));
        c
    }

    /// The load generator of `service` on the host.
    fn load_program(&self, service: Service) -> Result<PathBuf> {
        let name = match service {
            Service::Server(server) => server.load_program(),
            Service::Net(Net::RequestResponse { .. }) => {
                return self
                    .tcp_rr
                    .clone()
                    .context("the tcp_rr program was not built");
            }
            Service::Net(net) => net.load_program(),
        };
        find_in_path(name)
            .with_context(|| format!("{name} not installed (scripts/install-deps.sh)"))
    }

    /// Starts `service`'s server from the Debian rootfs (`request.binary`)
    /// under `request.kind`, on the host's network (or, for oxbox's
    /// sandbox mode, behind a port published on the host's loopback),
    /// waits until it serves, puts its load on it from the host for
    /// `request.iterations` (seconds, requests, bytes or round trips, as
    /// the service counts them), then stops the server and removes its
    /// container and scratch directory, whatever failed. Returns the load
    /// generator's output.
    pub fn serve(&self, request: &RunRequest<'_>, service: Service) -> Result<RunOutput> {
        let load = self.load_program(service)?;
        self.in_run_dir(|id, dir| {
            let rootfs = request.binary;
            if let Service::Net(Net::Stream { .. }) = service
                && !rootfs
                    .join(network::IPERF3.trim_start_matches('/'))
                    .is_file()
            {
                bail!(
                    "the Debian root {} has no {}",
                    rootfs.display(),
                    network::IPERF3
                );
            }
            let guest_dir = format!("/tmp/{id}");
            let host_dir = rootfs.join(guest_dir.trim_start_matches('/'));
            fs::create_dir_all(&host_dir)
                .with_context(|| format!("creating {}", host_dir.display()))?;
            let served = (|| {
                let port = servers::free_port()?;
                // In sandbox mode the guest has an address of its own,
                // which the published port's relay connects to.
                let bind = match request.kind {
                    RuntimeKind::OxboxSandbox => Ipv4Addr::UNSPECIFIED,
                    _ => Ipv4Addr::LOCALHOST,
                };
                let argv = match service {
                    Service::Server(server) => {
                        server.prepare(&host_dir, &guest_dir, port)?;
                        server.argv(&guest_dir, port)
                    }
                    Service::Net(net) => {
                        net.prepare(&host_dir, self.tcp_rr.as_deref())?;
                        net.argv(&guest_dir, bind, port)
                    }
                };
                let (mut command, cleanup) =
                    self.server_command(request.kind, &argv, rootfs, id, dir, port)?;
                let (stdout_path, stderr_path) = redirect_output(&mut command, dir)?;
                let mut child = command.spawn().context("starting the server")?;
                let serving = Serving {
                    service,
                    port,
                    stdout: &stdout_path,
                };
                let loaded =
                    wait_until_serving(&serving, &mut child, self.timeout).and_then(|()| {
                        let load_dir = dir.join("load");
                        fs::create_dir_all(&load_dir)?;
                        let generator = match service {
                            Service::Server(s) => s.load_command(&load, port, request.iterations),
                            Service::Net(n) => n.load_command(&load, port, request.iterations),
                        };
                        run_timed(generator, None, &load_dir, self.timeout)
                            .with_context(|| load.display().to_string())
                    });
                // The server and whatever it started, then its container.
                kill_all(&process_tree(child.id()));
                let _ = child.kill();
                let _ = child.wait();
                run_cleanup(cleanup, self.timeout);
                loaded.with_context(|| {
                    format!(
                        "server: {}",
                        tail(&fs::read_to_string(&stderr_path).unwrap_or_default())
                    )
                })
            })();
            let _ = fs::remove_dir_all(&host_dir);
            served
        })
    }

    /// The command that runs a server's `argv` from `rootfs` on the host
    /// network under `kind` (for oxbox's sandbox mode: on its own stack,
    /// with the guest's `port` published on the host's 127.0.0.1:`port`),
    /// and the one that deletes its container.
    fn server_command(
        &self,
        kind: RuntimeKind,
        argv: &[String],
        rootfs: &Path,
        id: &str,
        dir: &Path,
        port: u16,
    ) -> Result<(Command, Option<Command>)> {
        match kind {
            RuntimeKind::Native => {
                let chroot = find_in_path("chroot").context("chroot(8) not found")?;
                let mut c = Command::new(chroot);
                c.arg(rootfs).args(argv);
                c.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
                Ok((c, None))
            }
            RuntimeKind::Oxbox | RuntimeKind::OxboxSandbox => {
                let mut c = Command::new(&self.oxbox);
                c.arg("do")
                    .arg("--root")
                    .arg(self.scratch.join("root-oxbox"));
                if kind == RuntimeKind::OxboxSandbox {
                    c.args(["--network", "sandbox", "-p"])
                        .arg(format!("127.0.0.1:{port}:{port}"));
                } else {
                    c.args(["--network", "host"]);
                }
                c.arg("--rootfs").arg(rootfs).arg("--").args(argv);
                c.env_remove("OXBOX_STATS");
                Ok((c, None))
            }
            _ => {
                let seccomp = self.seccomp.as_ref().map_err(|e| anyhow!("{e}"))?;
                let bundle = Bundle {
                    dir: dir.join("bundle"),
                };
                fs::create_dir_all(&bundle.dir)?;
                bundle.write_config(&bundle::host_network_config(argv, Some(seccomp), rootfs))?;
                let mut c = self.oci_verb_on(kind, true);
                c.arg("run").arg("--bundle").arg(&bundle.dir).arg(id);
                let mut delete = self.oci_verb(kind);
                delete.args(["delete", "--force", id]);
                Ok((c, Some(delete)))
            }
        }
    }

    /// Starts a run whose guest prints `ready` and then waits, sums the
    /// proportional set size of every process of the run (the runtime's
    /// own and the guest's) in KiB, and kills them all.
    pub fn resident_kib(&self, request: &RunRequest<'_>) -> Result<f64> {
        let kib = self.while_ready(request, |pids| {
            Ok(pids.iter().filter_map(|&pid| pss_kib(pid)).sum::<u64>())
        })?;
        Ok(kib as f64)
    }

    /// Starts a run whose guest prints `ready` and then waits, calls
    /// `inspect` with the pids of every process of the run (the
    /// runtime's own and the guest's), then kills them all and deletes
    /// the container.
    pub fn while_ready<T>(
        &self,
        request: &RunRequest<'_>,
        inspect: impl FnOnce(&[u32]) -> Result<T>,
    ) -> Result<T> {
        self.in_run_dir(|id, dir| {
            let (mut command, cleanup) = self.command(request, id, dir)?;
            let (stdout_path, stderr_path) = redirect_output(&mut command, dir)?;
            let mut child = command.spawn().context("starting the run")?;
            let ready = wait_until_ready(&mut child, &stdout_path, self.timeout);
            if ready.is_ok() {
                // Let start-up transients (runsc's gofer handshake, page
                // cache faults of the runtime binary) settle.
                thread::sleep(SETTLE_TIME);
            }
            let pids = process_tree(child.id());
            let inspected = ready.and_then(|()| inspect(&pids));
            kill_all(&pids);
            let _ = child.kill();
            let _ = child.wait();
            run_cleanup(cleanup, self.timeout);
            inspected.with_context(|| tail(&fs::read_to_string(&stderr_path).unwrap_or_default()))
        })
    }

    /// Runs `body` in a fresh directory of the scratch area, removed
    /// afterwards unless runs are kept.
    /// Runs `oxbox do FLAGS --rootfs ROOTFS -- ARGV` in a run directory of
    /// its own, for a measurement outside the workload matrix.
    pub fn oxbox_do(
        &self,
        rootfs: &Path,
        flags: &[&str],
        argv: &[String],
        timeout: Duration,
    ) -> Result<RunOutput> {
        self.in_run_dir(|_, dir| {
            let mut c = Command::new(&self.oxbox);
            c.arg("do")
                .args(flags)
                .arg("--rootfs")
                .arg(rootfs)
                .arg("--")
                .args(argv)
                .env_remove("OXBOX_STATS");
            run_timed(c, None, dir, timeout)
        })
    }

    fn in_run_dir<T>(&self, body: impl FnOnce(&str, &Path) -> Result<T>) -> Result<T> {
        let id = format!(
            "oxbox-bench-{}-{}",
            std::process::id(),
            self.counter.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.scratch.join(&id);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let result = body(&id, &dir);
        // Bundles are a copy of the binaries each: do not let them pile up.
        if !self.keep_runs {
            let _ = fs::remove_dir_all(&dir);
        }
        result
    }

    /// The command that makes `request`'s run, and the one that deletes
    /// its container if the run has to be killed. Every runtime gets the
    /// same root: native runs `chroot` into it, so that paths (`/bin/sh`,
    /// `/tmp`, `/tree.tar`) and binaries are identical everywhere.
    fn command(
        &self,
        request: &RunRequest<'_>,
        id: &str,
        dir: &Path,
    ) -> Result<(Command, Option<Command>)> {
        let RunRequest {
            kind,
            workload,
            iterations,
            counting,
            ..
        } = *request;
        let mut argv = vec![workload.guest_path()];
        argv.extend((workload.args)(iterations));
        let contents = self.contents(request)?;
        let bundle_dir = dir.join("bundle");
        fs::create_dir_all(&bundle_dir)?;
        let seccomp = match kind.oci_command() {
            Some(_) => Some(self.seccomp.as_ref().map_err(|e| anyhow!("{e}"))?),
            None => None,
        };
        let bundle = Bundle::create(&bundle_dir, &contents, &argv, seccomp)?;
        match kind {
            RuntimeKind::Native => {
                // Found in the harness's PATH: the child's is the guest's.
                let chroot = find_in_path("chroot").context("chroot(8) not found")?;
                let mut c = Command::new(chroot);
                c.arg(bundle.rootfs()).args(&argv);
                c.env_clear().env("PATH", "/bin");
                return Ok((c, None));
            }
            RuntimeKind::Oxbox => {
                let mut c = Command::new(&self.oxbox);
                c.arg("do").arg("--rootfs").arg(bundle.rootfs());
                // The counters cost an atomic add per call (~6 ns of a
                // ~15 ns getppid here), so timed runs go without them.
                if counting {
                    c.arg("--stats").env("OXBOX_STATS", "1");
                } else {
                    c.env_remove("OXBOX_STATS");
                }
                c.arg("--").args(&argv);
                return Ok((c, None));
            }
            _ => {}
        }
        let mut c = self.oci_verb(kind);
        c.arg("run").arg("--bundle").arg(&bundle.dir).arg(id);
        let mut delete = self.oci_verb(kind);
        delete.args(["delete", "--force", id]);
        Ok((c, Some(delete)))
    }
}

/// How long a resident run is left alone between `ready` and the count.
const SETTLE_TIME: Duration = Duration::from_millis(300);

/// Runs `command` with its output in `dir`'s files and times it; on a
/// timeout, `cleanup` removes what the killed run left.
fn run_timed(
    mut command: Command,
    cleanup: Option<Command>,
    dir: &Path,
    timeout: Duration,
) -> Result<RunOutput> {
    let (stdout_path, stderr_path) = redirect_output(&mut command, dir)?;
    let start = Instant::now();
    let status = wait_with_timeout(&mut command, timeout);
    let wall = start.elapsed();
    if status.is_err() {
        run_cleanup(cleanup, timeout);
    }
    let stdout = fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
    let status = status?;
    if !status.success() {
        bail!("{status}: {}", tail(&stderr));
    }
    Ok(RunOutput {
        stdout,
        stderr,
        wall,
    })
}

/// Sends the run's stdout and stderr to files in `dir`; its stdin is an
/// empty file there too, never the host's `/dev/null`: runsc `fchown`s
/// the container's stdio to the sandbox user, and made the host's
/// `/dev/null` belong to `nobody` when it was given.
fn redirect_output(command: &mut Command, dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let stdin_path = dir.join("stdin");
    let stdout_path = dir.join("stdout");
    let stderr_path = dir.join("stderr");
    File::create(&stdin_path)?;
    command
        .stdin(File::open(&stdin_path)?)
        .stdout(File::create(&stdout_path)?)
        .stderr(File::create(&stderr_path)?);
    Ok((stdout_path, stderr_path))
}

/// Deletes a container left behind by a killed or failed run, killing
/// the deletion too if it outlives `timeout` (a runtime that hangs on
/// `create` may hang on `delete`).
fn run_cleanup(cleanup: Option<Command>, timeout: Duration) {
    if let Some(mut delete) = cleanup {
        delete
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = wait_with_timeout(&mut delete, timeout);
    }
}

/// Waits for the guest's `ready` line, failing if the run exits first or
/// the timeout passes.
fn wait_until_ready(child: &mut Child, stdout: &Path, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if fs::read_to_string(stdout).is_ok_and(|s| s.lines().any(|l| l.trim() == "ready")) {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("exited before it was ready: {status}");
        }
        if Instant::now() >= deadline {
            bail!("not ready after {}s", timeout.as_secs());
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// A server being started: what it is, its port, where its stdout goes.
struct Serving<'a> {
    service: Service,
    port: u16,
    stdout: &'a Path,
}

/// Waits until the server answers on its port and is ready for the load
/// (iperf3 listens anew after the probe's test), failing if the run exits
/// first or the timeout passes.
fn wait_until_serving(serving: &Serving<'_>, child: &mut Child, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut answered = false;
    loop {
        let mut failed = None;
        if !answered {
            match serving.service.probe(serving.port) {
                Ok(()) => answered = true,
                Err(e) => failed = Some(e),
            }
        }
        if answered {
            let stdout = fs::read_to_string(serving.stdout).unwrap_or_default();
            if serving.service.ready_after_probe(&stdout) {
                return Ok(());
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!("the server exited before it served: {status}");
        }
        if Instant::now() >= deadline {
            let why = failed.unwrap_or_else(|| anyhow!("it answered but did not listen again"));
            return Err(why.context(format!("not serving after {}s", timeout.as_secs())));
        }
        thread::sleep(Duration::from_millis(if answered { 2 } else { 20 }));
    }
}

/// Every process of the host, with its `/proc` directory.
pub fn processes() -> impl Iterator<Item = (u32, PathBuf)> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path())))
}

/// `root` and all its descendants, from the parent pids in `/proc`.
pub fn process_tree(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = processes()
        .filter_map(|(pid, dir)| {
            let stat = fs::read_to_string(dir.join("stat")).ok()?;
            Some((pid, parent_of(&stat)?))
        })
        .collect();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|&&(pid, ppid)| ppid == parent && !tree.contains(&pid))
                .map(|&(pid, _)| pid)
                .collect::<Vec<_>>(),
        );
        i += 1;
    }
    tree
}

/// The parent pid field of a `/proc/PID/stat` line (after the command
/// name, which may hold spaces and parentheses).
fn parent_of(stat: &str) -> Option<u32> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// A process's proportional set size in KiB, if it still exists.
fn pss_kib(pid: u32) -> Option<u64> {
    let rollup = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    parse_pss(&rollup)
}

fn parse_pss(rollup: &str) -> Option<u64> {
    rollup.lines().find_map(|line| {
        line.strip_prefix("Pss:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

/// SIGKILLs every pid (kill(1): no signal-sending code of our own).
pub fn kill_all(pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-KILL")
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Where a hybrid host (cgroup v1 controllers under `/sys/fs/cgroup`)
/// mounts its cgroup v2 hierarchy.
const HYBRID_UNIFIED: &str = "/sys/fs/cgroup/unified";

/// crun 1.8 refuses to start on a hybrid host whose v2 hierarchy holds any
/// controller ("cgroups in hybrid mode not supported, drop all controllers
/// from cgroupv2"), where runc simply uses v1. Whether this host is one.
fn hybrid_unified_has_controllers() -> bool {
    fs::read_to_string(format!("{HYBRID_UNIFIED}/cgroup.controllers"))
        .is_ok_and(|c| !c.trim().is_empty())
}

/// `program ARGS...` started in a private mount namespace without the v2
/// mount, so crun sees a plain v1 host. Only cgroup setup differs; the
/// container's syscall path, the thing measured, does not.
fn hiding_unified_cgroup(program: &Path) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(format!("umount {HYBRID_UNIFIED} && exec \"$0\" \"$@\""))
        .arg(program);
    c
}

/// Spawns `command` and waits for it, killing it after `timeout`.
///
/// The wait blocks (a polling loop would round every wall-clock time up
/// to its period, and cold starts are a few milliseconds); a watchdog
/// thread kills the run if it is still going at the deadline.
fn wait_with_timeout(command: &mut Command, timeout: Duration) -> Result<ExitStatus> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let pid = child.id();
    let (finished, finished_rx) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        let expired = matches!(
            finished_rx.recv_timeout(timeout),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        if expired {
            // The run and whatever it started (a runtime's helpers).
            kill_all(&process_tree(pid));
        }
        expired
    });
    let status = child.wait();
    let _ = finished.send(());
    if watchdog.join().unwrap_or(false) {
        bail!("{program} timed out after {}s", timeout.as_secs());
    }
    Ok(status?)
}

/// The last meaningful lines of a failed run's stderr, for the report.
fn tail(stderr: &str) -> String {
    const MAX_LINES: usize = 3;
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("oxbox-stats "))
        .collect();
    if lines.is_empty() {
        return "no output on stderr".to_string();
    }
    lines[lines.len().saturating_sub(MAX_LINES)..].join(" | ")
}

/// Runs `command` to completion, failing with its stderr unless it
/// succeeds; `what` names it in the error.
pub fn output_of(command: &mut Command, what: &str) -> Result<Output> {
    let output = command
        .output()
        .with_context(|| format!("running {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}

/// The first line `command` prints on stdout (or stderr), if it succeeds.
pub fn first_line_of(command: &mut Command) -> Option<String> {
    let output = command.stdin(Stdio::null()).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = if output.stdout.is_empty() {
        output.stderr
    } else {
        output.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

/// Looks `name` up in `$PATH`, as a shell would.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether the harness runs as root: `/proc/self` belongs to the
/// effective uid, which avoids an unsafe `geteuid` call.
pub fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_names_round_trip() {
        for kind in RuntimeKind::ALL {
            assert_eq!(kind.name().parse::<RuntimeKind>().unwrap(), kind);
        }
        assert!("docker".parse::<RuntimeKind>().is_err());
    }

    #[test]
    fn runsc_runs_on_ptrace_without_network() {
        let args = RuntimeKind::Runsc.oci_global_args(Path::new("/r"), false);
        assert_eq!(
            args,
            ["--root", "/r", "--platform=ptrace", "--network=none"]
        );
        let servers = RuntimeKind::Runsc.oci_global_args(Path::new("/r"), true);
        assert_eq!(servers[3], "--network=host");
        assert_eq!(
            RuntimeKind::Runc.oci_global_args(Path::new("/r"), true),
            ["--root", "/r"]
        );
    }

    #[test]
    fn tail_keeps_the_last_lines_and_drops_stats() {
        assert_eq!(tail(""), "no output on stderr");
        assert_eq!(
            tail("a\n\nb\nc\nd\noxbox-stats total patched=1\n"),
            "b | c | d"
        );
    }

    #[test]
    fn availability_says_why_a_runtime_cannot_run() {
        let runner = Runner::new(
            std::env::temp_dir(),
            Err("none".into()),
            PathBuf::from("/nonexistent/oxbox"),
            Duration::from_secs(1),
        );
        assert!(matches!(
            runner.availability(&crate::workload::GETPPID, RuntimeKind::Oxbox),
            Availability::Broken(_)
        ));
        assert_eq!(
            runner.availability(&crate::workload::GETPPID, RuntimeKind::Native),
            Availability::Ready
        );
        // A lifecycle has no native run, and needs no Docker profile.
        for workload in [&crate::workload::OCI_CYCLE, &crate::workload::DOCKER_RUN] {
            assert!(matches!(
                runner.availability(workload, RuntimeKind::Native),
                Availability::Skipped(_)
            ));
        }
        if runner.is_root && find_in_path("runc").is_some() {
            assert_eq!(
                runner.availability(&crate::workload::OCI_CYCLE, RuntimeKind::Runc),
                Availability::Ready
            );
        }
    }

    fn native<'a>(workload: &'a Workload, binary: &'a Path) -> RunRequest<'a> {
        RunRequest {
            kind: RuntimeKind::Native,
            workload,
            binary,
            iterations: 1,
            counting: false,
        }
    }

    /// A static stand-in guest: prints a result, sleeps or fails, by its
    /// first argument.
    const STAND_IN: &str = r#"
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "sleep") == 0)
		sleep(5);
	if (argc > 1 && strcmp(argv[1], "fail") == 0) {
		fputs("boom\n", stderr);
		return 3;
	}
	printf("ns_per_op=1.5\n");
	return 0;
}
"#;

    #[test]
    fn native_run_captures_output_and_times_out() {
        let tmp = tempfile::tempdir().unwrap();
        let runner = Runner::new(
            tmp.path().to_path_buf(),
            Err("none".into()),
            PathBuf::from("/nonexistent"),
            Duration::from_millis(300),
        );
        let guest = |args: fn(u64) -> Vec<String>| Workload {
            source: STAND_IN,
            source_name: "stand_in.c",
            args,
            ..crate::workload::GETPPID
        };
        let ok = guest(|_| vec!["ok".into()]);
        let binary = ok.build(&tmp.path().join("cache")).unwrap();
        let out = runner.run(&native(&ok, &binary)).unwrap();
        assert_eq!(out.stdout, "ns_per_op=1.5\n");

        let sleeper = guest(|_| vec!["sleep".into()]);
        let err = runner.run(&native(&sleeper, &binary)).unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");

        let failing = guest(|_| vec!["fail".into()]);
        let err = runner.run(&native(&failing, &binary)).unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
    }

    #[test]
    fn resident_memory_counts_the_whole_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let runner = Runner::new(
            tmp.path().to_path_buf(),
            Err("none".into()),
            PathBuf::from("/nonexistent"),
            Duration::from_secs(30),
        );
        let workload = &crate::workload::MEMORY;
        let binary = workload.build(&tmp.path().join("cache")).unwrap();
        let kib = runner.resident_kib(&native(workload, &binary)).unwrap();
        assert!(kib > 0.0);
    }

    /// The OCI cycle against a stand-in runtime that logs its verbs and
    /// checks the bundle: `runc spec`'s config, no terminal, `/true`.
    #[test]
    fn oci_cycle_calls_create_start_delete_on_the_spec_bundle() {
        use std::os::unix::fs::PermissionsExt;
        if find_in_path("runc").is_none() {
            eprintln!("runc not installed (its spec is the bundle's); skipping");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("verbs");
        let fake = tmp.path().join("oxbox");
        fs::write(
            &fake,
            format!(
                r#"#!/bin/sh
[ "$1" = --root ] || exit 9
shift 2
echo "$1" >> {log}
case "$1" in
create)
    grep -q '"terminal": false' "$3/config.json" || exit 8
    grep -q '"/true"' "$3/config.json" || exit 7
    sh -c 'echo $$' > "$5" ;;
esac
"#,
                log = log.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
        let runner = Runner::new(
            tmp.path().join("scratch"),
            Err("not needed".into()),
            fake,
            Duration::from_secs(30),
        );
        let workload = &crate::workload::OCI_CYCLE;
        let binary = tmp.path().join("true");
        fs::write(&binary, "").unwrap();
        let request = RunRequest {
            kind: RuntimeKind::Oxbox,
            workload,
            binary: &binary,
            iterations: 1,
            counting: false,
        };
        runner.run(&request).unwrap();
        let verbs = fs::read_to_string(&log).unwrap();
        assert_eq!(verbs, "create\nstart\ndelete\n");
    }

    #[test]
    fn pss_and_parent_pid_are_parsed() {
        assert_eq!(parse_pss("Rss:  100 kB\nPss:   42 kB\n"), Some(42));
        assert_eq!(parse_pss("Rss:  100 kB\n"), None);
        assert_eq!(parent_of("12 (a) b) S 7 12 12"), Some(7));
        let me = std::process::id();
        assert!(process_tree(me).starts_with(&[me]));
    }
}
