//! The runc-compatible verbs.
//!
//! `create` sets the container up and leaves its first process waiting at
//! the exec gate; `start` opens the gate; the engine (the process that ran
//! `create`, or the subreaper above it: containerd's shim) is the parent
//! that reaps it. `kill`, `ps`, `pause`, `resume`, `update`, `exec` act on a
//! running container through its pid and cgroup; `delete` removes what
//! `create` made. `run` is create, start and a wait, in one process that
//! stays the container's parent.

use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxResources, Process};
use oxbox_sandbox::signals::{SignalInbox, SignalMask};
use oxbox_sandbox::{ContainerSpec, InContainer, Launch, Rootfs, Stage, namespaces, terminal};

use crate::cgroups::Cgroup;
use crate::config::{self, Bundle};
use crate::error::{Error, Result};
use crate::hooks;
use crate::state::{self, Container, OciState, Root, Saved, Status};

/// The OCI runtime spec version oxbox implements.
pub const OCI_VERSION: &str = "1.2.0";
/// How long `delete --force` and `kill` followed by `delete` wait for a
/// killed container to be gone.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The runtime: its state root and the kernel image it starts.
#[derive(Debug)]
pub struct Runtime {
    /// Where containers are kept (`--root`).
    pub root: Root,
    /// The oxbox kernel image.
    pub kernel: PathBuf,
}

/// Options of `create` and `run`.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// Where to write the first process's pid.
    pub pid_file: Option<PathBuf>,
    /// Where to send the pty master (`--console-socket`).
    pub console_socket: Option<PathBuf>,
}

/// Options of `exec`.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    /// Where to write the new process's pid.
    pub pid_file: Option<PathBuf>,
    /// Where to send the pty master.
    pub console_socket: Option<PathBuf>,
    /// Return once the process runs instead of waiting for it.
    pub detach: bool,
}

impl Runtime {
    /// `create`: sets the container up, its first process waiting for
    /// `start`.
    pub fn create(&self, id: &str, options: &CreateOptions) -> Result<()> {
        let signals = Signals::block()?;
        self.create_container(id, options, false, &signals)
            .map(drop)
    }

    /// `run`: create and start; unless `detach`, waits for the container,
    /// deletes it, and returns its exit code.
    pub fn run(&self, id: &str, options: &CreateOptions, detach: bool) -> Result<i32> {
        let signals = Signals::block()?;
        let (pid, master) = self.create_container(id, options, !detach, &signals)?;
        self.start(id)?;
        if detach {
            return Ok(0);
        }
        let code = oxbox_sandbox::supervise(&signals.inbox, pid, master);
        self.delete(id, true)?;
        Ok(code?)
    }

    /// Creates container `id`; returns its first process and, for a
    /// supervised terminal without a console socket, the pty master.
    fn create_container(
        &self,
        id: &str,
        options: &CreateOptions,
        supervised: bool,
        signals: &Signals,
    ) -> Result<(Pid, Option<OwnedFd>)> {
        let dir = self.root.reserve(id)?;
        let created = self.set_up(id, &dir, options, supervised, signals);
        if created.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        created
    }

    fn set_up(
        &self,
        id: &str,
        dir: &Path,
        options: &CreateOptions,
        supervised: bool,
        signals: &Signals,
    ) -> Result<(Pid, Option<OwnedFd>)> {
        let bundle_dir = fs::canonicalize(&options.bundle)
            .map_err(|e| Error::io("bundle", &options.bundle, e))?;
        let bundle = config::load(&bundle_dir, self.kernel.clone())?;
        let cgroup_path = bundle
            .cgroups_path
            .clone()
            .unwrap_or_else(|| Path::new("/oxbox").join(id));
        let cgroup = Cgroup::locate(&cgroup_path)?;
        let gate_path = dir.join(state::EXEC_FIFO);
        nix::unistd::mkfifo(&gate_path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| Error::io("create", &gate_path, e.into()))?;
        let gate = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&gate_path)
            .map_err(|e| Error::io("open", &gate_path, e))?;
        let (console, master_end) =
            console(&bundle.spec, options.console_socket.as_deref(), supervised)?;
        let rootfs = match &bundle.spec.rootfs {
            Rootfs::Dir { path, .. } => path.clone(),
            Rootfs::Host => PathBuf::from("/"),
        };
        let mut saved = Saved {
            id: id.to_owned(),
            pid: 0,
            pid_start_time: 0,
            bundle: bundle_dir,
            rootfs,
            created: state::now_rfc3339(),
            owner: owner(),
            hostname: bundle.spec.hostname.clone(),
            guest_filter: bundle.spec.guest_filter.clone(),
            cgroup_path,
            hooks: bundle.hooks.clone(),
            annotations: bundle.annotations.clone(),
        };
        let start_report = if saved.hooks.start_container.is_empty() {
            None
        } else {
            let path = dir.join(state::START_ERROR);
            let file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| Error::io("create", &path, e))?;
            Some(file)
        };
        let launch = Launch {
            exec_gate: Some(gate.into()),
            console,
            supervised,
            check_program: true,
            in_container: in_container_hooks(&saved, start_report),
        };
        let on_namespaces = |pid: Pid| -> oxbox_sandbox::Result<()> {
            in_namespaces(&bundle, &cgroup, &saved, pid).map_err(to_sandbox)
        };
        let spawned = oxbox_sandbox::spawn(
            &bundle.spec,
            launch,
            &signals.mask,
            &signals.inbox,
            on_namespaces,
        );
        let spawned = match spawned {
            Ok(spawned) => spawned,
            Err(e) => {
                let _ = cgroup.remove();
                // As runc, which destroys the failed container: the
                // poststop hooks undo what the prestart ones did.
                let state = saved.oci_state(Status::Stopped, 0);
                if let Err(e) = hooks::run_all("poststop", &saved.hooks.poststop, &state) {
                    tracing::warn!(error = %e, "poststop hook failed");
                }
                return Err(e.into());
            }
        };
        let pid = spawned.pid.as_raw();
        saved.pid = pid;
        saved.pid_start_time = state::process_start(pid).map_or(0, |(start, _)| start);
        let master = match master_end {
            Some(end) => Some(terminal::receive_master(&end)?),
            None => None,
        };
        state::save(dir, &saved)?;
        if let Some(pid_file) = &options.pid_file {
            write_pid_file(pid_file, pid)?;
        }
        // runc runs the poststart hooks here, at the end of create, with
        // the container created; engines written against runc expect it.
        let state = saved.oci_state(Status::Created, pid);
        if let Err(e) = hooks::run_all("poststart", &saved.hooks.poststart, &state) {
            tracing::warn!(error = %e, "poststart hook failed");
        }
        Ok((spawned.pid, master))
    }

    /// `start`: releases a created container's first process.
    pub fn start(&self, id: &str) -> Result<()> {
        let container = self.root.load(id)?;
        match self.status(&container) {
            Status::Created => {}
            Status::Stopped => {
                return Err(Error::WrongState(
                    "cannot start a container that has stopped".into(),
                ));
            }
            _ => {
                return Err(Error::WrongState(
                    "cannot start an already running container".into(),
                ));
            }
        }
        let gate_path = container.dir.join(state::EXEC_FIFO);
        let mut gate = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&gate_path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENXIO) => {
                    Error::WrongState("cannot start a container that has stopped".into())
                }
                _ => Error::io("open", &gate_path, e),
            })?;
        gate.write_all(b"0")
            .map_err(|e| Error::io("write", &gate_path, e))?;
        fs::remove_file(&gate_path).map_err(|e| Error::io("remove", &gate_path, e))?;
        if container.saved.hooks.start_container.is_empty() {
            return Ok(());
        }
        // The process closes its end of the gate when it execs the kernel
        // or dies: by then its startContainer hooks have run, and a
        // failure is in the report.
        wait_for_no_reader(&gate).map_err(|e| Error::io("wait for", &gate_path, e))?;
        let report_path = container.dir.join(state::START_ERROR);
        let report =
            fs::read_to_string(&report_path).map_err(|e| Error::io("read", &report_path, e))?;
        if report.is_empty() {
            Ok(())
        } else {
            Err(Error::Hook(report))
        }
    }

    /// `state`.
    pub fn state(&self, id: &str) -> Result<OciState> {
        let container = self.root.load(id)?;
        Ok(container.oci_state(self.status(&container)))
    }

    /// `list`: every container's state.
    pub fn list(&self) -> Result<Vec<OciState>> {
        let mut states = Vec::new();
        for id in self.root.ids()? {
            match self.state(&id) {
                Ok(state) => states.push(state),
                // Deleted meanwhile.
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(states)
    }

    /// `kill`: sends `signal` to the first process, or with `all` to every
    /// process of the container.
    pub fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<()> {
        let container = self.root.load(id)?;
        let status = self.status(&container);
        if status == Status::Stopped {
            return Err(Error::WrongState("container not running".into()));
        }
        let pids = if all {
            self.pids(&container)?
        } else {
            vec![container.saved.pid]
        };
        for pid in pids {
            match nix::sys::signal::kill(Pid::from_raw(pid), signal) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => return Err(Error::io("kill", format!("pid {pid}"), e.into())),
            }
        }
        // A frozen process only dies once thawed.
        if status == Status::Paused && signal == Signal::SIGKILL {
            cgroup_of(&container)?.set_frozen(false)?;
        }
        Ok(())
    }

    /// `delete`: removes a stopped (or, with `force`, any) container.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let container = self.root.load(id)?;
        let cgroup = cgroup_of(&container)?;
        match self.status(&container) {
            Status::Stopped => {}
            Status::Created => self.stop(&container, &cgroup)?,
            status if force => {
                if status == Status::Paused {
                    cgroup.set_frozen(false)?;
                }
                self.stop(&container, &cgroup)?;
            }
            status => {
                return Err(Error::WrongState(format!(
                    "cannot delete container {id} that is not stopped: {status}"
                )));
            }
        }
        cgroup.remove()?;
        let state = container.oci_state(Status::Stopped);
        let poststop = container.saved.hooks.poststop.clone();
        container.remove()?;
        if let Err(e) = hooks::run_all("poststop", &poststop, &state) {
            tracing::warn!(error = %e, "poststop hook failed");
        }
        Ok(())
    }

    /// Kills every process of the container and waits until the first one
    /// is gone (or a zombie for its parent to reap).
    fn stop(&self, container: &Container, cgroup: &Cgroup) -> Result<()> {
        let mut pids = cgroup.pids().unwrap_or_default();
        pids.push(container.saved.pid);
        for pid in pids {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while state::process_alive(container.saved.pid, container.saved.pid_start_time) {
            if Instant::now() > deadline {
                return Err(Error::WrongState(format!(
                    "container {} did not stop after SIGKILL",
                    container.saved.id
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// `ps`: the host pids of the container's processes.
    pub fn ps(&self, id: &str) -> Result<Vec<i32>> {
        let container = self.root.load(id)?;
        self.pids(&container)
    }

    fn pids(&self, container: &Container) -> Result<Vec<i32>> {
        let mut pids = cgroup_of(container)?.pids()?;
        if pids.is_empty() && self.status(container) != Status::Stopped {
            pids.push(container.saved.pid);
        }
        Ok(pids)
    }

    /// `pause` and `resume`.
    pub fn set_paused(&self, id: &str, paused: bool) -> Result<()> {
        let container = self.root.load(id)?;
        let status = self.status(&container);
        match (status, paused) {
            (Status::Running, true) | (Status::Paused, false) => {
                cgroup_of(&container)?.set_frozen(paused)
            }
            (Status::Paused, true) => Err(Error::WrongState("container already paused".into())),
            (_, _) => Err(Error::WrongState(format!(
                "container not running: {status}"
            ))),
        }
    }

    /// `update --resources`.
    pub fn update(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        let container = self.root.load(id)?;
        if self.status(&container) == Status::Stopped {
            return Err(Error::WrongState("container not running".into()));
        }
        // As runc's update, which keeps the rules the container was created
        // with: on cgroup v2 a second device program would only add to the
        // first.
        let mut resources = resources.clone();
        resources.set_devices(None);
        cgroup_of(&container)?.apply(&resources)
    }

    /// `events --stats`: one sample of the container's resource usage, in
    /// runc's JSON shape.
    pub fn stats(&self, id: &str) -> Result<serde_json::Value> {
        let container = self.root.load(id)?;
        let cgroup = cgroup_of(&container)?;
        let v2 = matches!(cgroup, Cgroup::V2(_));
        let number = |v1: &str, v2_file: &str| cgroup.read_number(if v2 { v2_file } else { v1 });
        let cpu_total = if v2 {
            cgroup
                .read_number("cpu.stat")
                .or_else(|| cpu_stat_usage(&cgroup).map(|usec| usec * 1000))
        } else {
            cgroup.read_number("cpuacct.usage")
        };
        Ok(serde_json::json!({
            "type": "stats",
            "id": id,
            "data": {
                "cpu": { "usage": { "total": cpu_total.unwrap_or(0) } },
                "memory": { "usage": {
                    "usage": number("memory.usage_in_bytes", "memory.current").unwrap_or(0),
                    "limit": number("memory.limit_in_bytes", "memory.max").unwrap_or(0),
                } },
                "pids": { "current": cgroup.read_number("pids.current").unwrap_or(0) },
            }
        }))
    }

    /// `exec`: runs `process` in the running container `id`; returns its
    /// exit code, or 0 at once with `detach`.
    pub fn exec(&self, id: &str, process: &Process, options: &ExecOptions) -> Result<i32> {
        let container = self.root.load(id)?;
        let status = self.status(&container);
        if status != Status::Running {
            return Err(Error::WrongState(format!(
                "cannot exec in a container that is not running: {status}"
            )));
        }
        let spec = exec_spec(&container, process, self.kernel.clone())?;
        let cgroup = cgroup_of(&container)?;
        // The container stays locked only while the process is set up.
        drop(container);
        let join = |pid: Pid| -> oxbox_sandbox::Result<()> {
            cgroup.create_and_join(pid.as_raw()).map_err(to_sandbox)
        };
        if !options.detach && options.console_socket.is_none() {
            return Ok(oxbox_sandbox::run(&spec, true, join)?);
        }
        let signals = Signals::block()?;
        let (console, _) = console(&spec, options.console_socket.as_deref(), false)?;
        let launch = Launch {
            exec_gate: None,
            console,
            supervised: !options.detach,
            check_program: true,
            in_container: None,
        };
        let spawned = oxbox_sandbox::spawn(&spec, launch, &signals.mask, &signals.inbox, join)?;
        let pid = spawned.pid;
        if let Some(pid_file) = &options.pid_file {
            write_pid_file(pid_file, pid.as_raw())?;
        }
        if options.detach {
            return Ok(0);
        }
        spawned.wait_exec(&signals.inbox)?;
        Ok(oxbox_sandbox::supervise(&signals.inbox, pid, None)?)
    }

    fn status(&self, container: &Container) -> Status {
        let cgroup = cgroup_of(container).ok();
        container.status(|| cgroup.as_ref().is_some_and(Cgroup::is_frozen))
    }
}

/// What the runtime does once the container's namespaces exist: cgroup,
/// OOM score, then the prestart and createRuntime hooks.
fn in_namespaces(bundle: &Bundle, cgroup: &Cgroup, saved: &Saved, pid: Pid) -> Result<()> {
    cgroup.create_and_join(pid.as_raw())?;
    if let Some(resources) = &bundle.resources {
        cgroup.apply(resources)?;
    }
    if let Some(adj) = bundle.oom_score_adj {
        let path = format!("/proc/{}/oom_score_adj", pid.as_raw());
        fs::write(&path, adj.to_string()).map_err(|e| Error::io("write", &path, e))?;
    }
    let state = saved.oci_state(Status::Creating, pid.as_raw());
    hooks::run_all("prestart", &bundle.hooks.prestart, &state)?;
    hooks::run_all("createRuntime", &bundle.hooks.create_runtime, &state)
}

/// The createContainer and startContainer hooks, for the container's first
/// process to run itself at those stages of its setup; a failed
/// startContainer hook is also written to `start_report`, for `start` to
/// return (the process is on its own by then).
fn in_container_hooks(saved: &Saved, start_report: Option<fs::File>) -> Option<InContainer> {
    if saved.hooks.create_container.is_empty() && saved.hooks.start_container.is_empty() {
        return None;
    }
    let saved = saved.clone();
    Some(InContainer(Box::new(move |stage| {
        let (point, list, status) = match stage {
            Stage::BeforePivot => (
                "createContainer",
                &saved.hooks.create_container,
                Status::Creating,
            ),
            Stage::BeforeExec => (
                "startContainer",
                &saved.hooks.start_container,
                Status::Created,
            ),
        };
        // As runc: the process's own pid, in the container's pid namespace.
        let state = saved.oci_state(status, nix::unistd::getpid().as_raw());
        hooks::run_all(point, list, &state).map_err(|e| {
            if let Some(mut report) = start_report.as_ref().filter(|_| stage == Stage::BeforeExec) {
                // Nothing more to do if it cannot be written: the process
                // also reports the error on its stderr.
                let _ = report.write_all(e.to_string().as_bytes());
            }
            to_sandbox(e)
        })
    })))
}

/// Waits until the FIFO whose write end is `fifo` has no reader left.
fn wait_for_no_reader(fifo: &fs::File) -> std::io::Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::empty())];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_)
                if fds[0]
                    .revents()
                    .is_some_and(|r| r.contains(PollFlags::POLLERR)) =>
            {
                return Ok(());
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The spec of a process `exec`'d into `container`: its own command, env,
/// cwd, user and terminal; every namespace the container's.
fn exec_spec(container: &Container, process: &Process, kernel: PathBuf) -> Result<ContainerSpec> {
    Ok(ContainerSpec {
        rootfs: Rootfs::Host,
        command: config::command(process)?,
        env: process.env().clone().unwrap_or_default(),
        workdir: config::workdir(process)?,
        hostname: container.saved.hostname.clone(),
        user: config::user(process),
        capabilities: config::capabilities(process),
        namespaces: namespaces::of_process(container.saved.pid),
        user_namespace: namespaces::user_of_process(container.saved.pid)
            .map(oxbox_sandbox::spec::UserNamespace::Join),
        mounts: Vec::new(),
        devices: Vec::new(),
        rlimits: Vec::new(),
        sysctls: Vec::new(),
        terminal: process.terminal().unwrap_or(false),
        console_size: None,
        stats: false,
        log_level: oxbox_abi::boot::LogLevel::Warn,
        kernel,
        guest_filter: container.saved.guest_filter.clone(),
        sandbox_network: false,
        publish: Vec::new(),
    })
}

/// The console socket for a container process that wants a terminal: the
/// engine's (connected now, before the child loses sight of the host's
/// paths), or for a supervised process without one, one end of a pair
/// whose other end receives the master here.
fn console(
    spec: &ContainerSpec,
    socket: Option<&Path>,
    supervised: bool,
) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    if !spec.terminal {
        return Ok((None, None));
    }
    match socket {
        Some(path) => Ok((Some(terminal::connect_console_socket(path)?), None)),
        None if supervised => {
            let (ours, theirs) = terminal::console_pair()?;
            Ok((Some(theirs), Some(ours)))
        }
        None => Err(Error::Config(
            "process.terminal is set: --console-socket is required".into(),
        )),
    }
}

fn cgroup_of(container: &Container) -> Result<Cgroup> {
    Cgroup::locate(&container.saved.cgroup_path)
}

/// `cpu.stat`'s `usage_usec` (v2).
fn cpu_stat_usage(cgroup: &Cgroup) -> Option<u64> {
    let Cgroup::V2(dir) = cgroup else {
        return None;
    };
    let text = fs::read_to_string(dir.join("cpu.stat")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse().ok())
}

/// Writes the pid file atomically, as engines read it as soon as the
/// runtime returns.
fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("oxbox-tmp");
    fs::write(&tmp, pid.to_string()).map_err(|e| Error::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io("write", path, e))
}

/// The calling user's name, as runc records the owner.
fn owner() -> String {
    let uid = nix::unistd::getuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

/// Runtime errors inside the sandbox's setup callback.
fn to_sandbox(error: Error) -> oxbox_sandbox::Error {
    oxbox_sandbox::Error::Setup(error.to_string())
}

/// The signals the runtime blocks while it sets a container up.
struct Signals {
    mask: SignalMask,
    inbox: SignalInbox,
}

impl Signals {
    fn block() -> Result<Self> {
        let mask = SignalMask::block()?;
        let inbox = mask.inbox()?;
        Ok(Self { mask, inbox })
    }
}
