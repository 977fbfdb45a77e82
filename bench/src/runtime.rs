//! The runtimes a workload is compared on, and how each one runs a guest.
//!
//! Every runtime runs the very same static binary: natively, inside an
//! OCI bundle under runc, crun or runsc, or from a bare rootfs under
//! `oxbox do`. A run is one process invocation whose stdout and stderr
//! go to files (no pipe to drain, however much a guest prints) and which
//! is killed, and its container deleted, if it outlives the timeout.

use std::fmt;
use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::bundle::Bundle;
use crate::docker_seccomp::OciSeccomp;
use crate::workload::Workload;

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
    /// oxbox: patched syscall sites calling into the library OS.
    Oxbox,
}

impl RuntimeKind {
    /// Every runtime, in report order.
    pub const ALL: [Self; 5] = [
        Self::Native,
        Self::Runc,
        Self::Crun,
        Self::Runsc,
        Self::Oxbox,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Runc => "runc",
            Self::Crun => "crun",
            Self::Runsc => "runsc",
            Self::Oxbox => "oxbox",
        }
    }

    /// The OCI runtime's command name, for runtimes driven by a bundle.
    fn oci_command(self) -> Option<&'static str> {
        match self {
            Self::Runc => Some("runc"),
            Self::Crun => Some("crun"),
            Self::Runsc => Some("runsc"),
            Self::Native | Self::Oxbox => None,
        }
    }

    /// Whether the runtime reports interception counters (in a separate
    /// counting run, since counting slows the calls it counts).
    pub fn has_counters(self) -> bool {
        self == Self::Oxbox
    }

    /// Global flags placed before the verb.
    fn oci_global_args(self, root: &Path) -> Vec<String> {
        let mut args = vec!["--root".to_string(), root.display().to_string()];
        if self == Self::Runsc {
            // ptrace is the platform that works without /dev/kvm and in
            // nested virtualization; no network keeps start-up cheap.
            args.push("--platform=ptrace".into());
            args.push("--network=none".into());
        }
        args
    }

    /// A remark printed with every result of this runtime.
    fn remark(self) -> Option<&'static str> {
        match self {
            Self::Runsc => Some("ptrace platform; runsc ignores OCI seccomp without --oci-seccomp"),
            Self::Runc | Self::Crun => Some("Docker default seccomp profile"),
            Self::Native | Self::Oxbox => None,
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
    /// Run crun where the cgroup v2 mount of a hybrid host is hidden.
    crun_hides_unified: bool,
    counter: AtomicU32,
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
            crun_hides_unified: hybrid_unified_has_controllers(),
            counter: AtomicU32::new(0),
        }
    }

    /// Checks that `kind` is installed and usable.
    pub fn availability(&self, kind: RuntimeKind) -> Availability {
        match kind {
            RuntimeKind::Native => Availability::Ready,
            RuntimeKind::Oxbox => {
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

    /// What a reader of this runtime's numbers should know about its setup.
    pub fn remark(&self, kind: RuntimeKind) -> Option<String> {
        let mut remark = kind.remark()?.to_string();
        if kind == RuntimeKind::Crun && self.crun_hides_unified {
            remark.push_str("; cgroup2 'unified' mount hidden (crun rejects hybrid cgroups)");
        }
        Some(remark)
    }

    /// The runtime's version line, for the machine report.
    pub fn version(&self, kind: RuntimeKind) -> Option<String> {
        let program = match kind {
            RuntimeKind::Native => return None,
            RuntimeKind::Oxbox => self.oxbox.clone(),
            _ => find_in_path(kind.oci_command()?)?,
        };
        first_line_of(Command::new(program).arg("--version"))
    }

    /// Makes one run in a directory of its own.
    pub fn run(&self, request: &RunRequest<'_>) -> Result<RunOutput> {
        let id = format!(
            "oxbox-bench-{}-{}",
            std::process::id(),
            self.counter.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.scratch.join(&id);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let result = self.run_in(request, &id, &dir);
        // Bundles are a copy of the binary each: do not let them pile up.
        if !self.keep_runs {
            let _ = fs::remove_dir_all(&dir);
        }
        result
    }

    fn run_in(&self, request: &RunRequest<'_>, id: &str, dir: &Path) -> Result<RunOutput> {
        let RunRequest {
            kind,
            workload,
            binary,
            iterations,
            counting,
        } = *request;
        let args = (workload.args)(iterations);
        let guest = workload.guest_path();
        let mut cleanup: Option<Command> = None;
        let mut command = match kind {
            RuntimeKind::Native => {
                let mut c = Command::new(binary);
                c.args(&args);
                c
            }
            RuntimeKind::Oxbox => {
                let bundle = Bundle::create(&dir.join("bundle"), binary, &guest, &args, None)?;
                let mut c = Command::new(&self.oxbox);
                c.arg("do").arg("--rootfs").arg(bundle.rootfs());
                // The counters cost an atomic add per call (~6 ns of a
                // ~15 ns getppid here), so timed runs go without them.
                if counting {
                    c.arg("--stats").env("OXBOX_STATS", "1");
                } else {
                    c.env_remove("OXBOX_STATS");
                }
                c.arg("--").arg(&guest).args(&args);
                c
            }
            _ => {
                let seccomp = self.seccomp.as_ref().map_err(|e| anyhow!("{e}"))?;
                let bundle_dir = dir.join("bundle");
                fs::create_dir_all(&bundle_dir)?;
                let bundle = Bundle::create(&bundle_dir, binary, &guest, &args, Some(seccomp))?;
                let program = kind.oci_command().expect("OCI runtime");
                let root = self.scratch.join(format!("root-{program}"));
                let global = kind.oci_global_args(&root);
                let mut c = if kind == RuntimeKind::Crun && self.crun_hides_unified {
                    hiding_unified_cgroup(program)
                } else {
                    Command::new(program)
                };
                c.args(&global)
                    .arg("run")
                    .arg("--bundle")
                    .arg(&bundle.dir)
                    .arg(id);
                let mut delete = Command::new(program);
                delete.args(&global).args(["delete", "--force", id]);
                cleanup = Some(delete);
                c
            }
        };
        let stdout_path = dir.join("stdout");
        let stderr_path = dir.join("stderr");
        command
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path)?)
            .stderr(File::create(&stderr_path)?);

        let start = Instant::now();
        let status = wait_with_timeout(&mut command, self.timeout);
        let wall = start.elapsed();
        if status.is_err()
            && let Some(delete) = &mut cleanup
        {
            let _ = delete.stdout(Stdio::null()).stderr(Stdio::null()).status();
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
fn hiding_unified_cgroup(program: &str) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(format!("umount {HYBRID_UNIFIED} && exec \"$0\" \"$@\""))
        .arg(program);
    c
}

/// Spawns `command` and waits for it, killing it after `timeout`.
fn wait_with_timeout(command: &mut Command, timeout: Duration) -> Result<ExitStatus> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{program} timed out after {}s", timeout.as_secs());
        }
        thread::sleep(Duration::from_millis(5));
    }
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

/// The first line `command` prints on stdout (or stderr), if it succeeds.
fn first_line_of(command: &mut Command) -> Option<String> {
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
        let args = RuntimeKind::Runsc.oci_global_args(Path::new("/r"));
        assert_eq!(
            args,
            ["--root", "/r", "--platform=ptrace", "--network=none"]
        );
        assert_eq!(
            RuntimeKind::Runc.oci_global_args(Path::new("/r")),
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
    fn missing_oxbox_binary_is_an_error_not_a_skip() {
        let runner = Runner::new(
            std::env::temp_dir(),
            Err("none".into()),
            PathBuf::from("/nonexistent/oxbox"),
            Duration::from_secs(1),
        );
        assert!(matches!(
            runner.availability(RuntimeKind::Oxbox),
            Availability::Broken(_)
        ));
        assert_eq!(
            runner.availability(RuntimeKind::Native),
            Availability::Ready
        );
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

    #[test]
    fn native_run_captures_output_and_times_out() {
        let tmp = tempfile::tempdir().unwrap();
        let runner = Runner::new(
            tmp.path().to_path_buf(),
            Err("none".into()),
            PathBuf::from("/nonexistent"),
            Duration::from_millis(300),
        );
        let echo = Workload {
            args: |_| vec!["-c".into(), "echo ns_per_op=1.5".into()],
            ..crate::workload::GETPPID
        };
        let sh = find_in_path("sh").unwrap();
        let out = runner.run(&native(&echo, &sh)).unwrap();
        assert_eq!(out.stdout, "ns_per_op=1.5\n");

        let sleeper = Workload {
            args: |_| vec!["-c".into(), "sleep 5".into()],
            ..crate::workload::GETPPID
        };
        let err = runner.run(&native(&sleeper, &sh)).unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");

        let failing = Workload {
            args: |_| vec!["-c".into(), "echo boom >&2; exit 3".into()],
            ..crate::workload::GETPPID
        };
        let err = runner.run(&native(&failing, &sh)).unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
    }
}
