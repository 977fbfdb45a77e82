//! Starting container processes: the fork, the setup, the exec of the
//! kernel image.
//!
//! ```text
//! runtime (oxbox do / create / exec)   opens the kernel image and the
//!   [unshare user ns]                    namespaces to join, plans the mounts,
//!   enter pid ns, fork ──────────────> child: enter namespaces, wait, set up
//!   hooks with the child's pid           (mounts, pivot, terminal, user,
//!   waits for Ready, then:               privileges), Ready, [exec gate],
//!     do: forwards signals, exits          execveat(kernel image)
//!         with the container's status
//!     create/exec --detach: returns
//! ```
//!
//! The child reports over [`crate::sync`]; once the kernel image runs, a
//! failure to start the guest is the kernel's to report (on its log
//! descriptor) and its exit status is passed on unchanged.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::Signal;
use nix::sys::wait::WaitPidFlag;
use nix::unistd::{ForkResult, Pid};
use oxbox_abi::boot::KERNEL_ARGV0;
use oxbox_abi::layout::{
    GUEST_FILTER_FD, KERNEL_IMAGE_FD, LOG_FD, NETSTACK_FD, PROC_SYS_FD, RESERVED_FD_BASE,
};

use crate::error::{Error, Result, one_line};
use crate::host::RealHost;
use crate::init::{self, InitPlan};
use crate::mounts::{self, MountStep, PlanContext};
use crate::namespaces;
use crate::network;
use crate::publish;
use crate::signals::{self, SignalInbox, SignalMask};
use crate::spec::{ContainerSpec, IdMapping, NamespaceKind, Rootfs, UserNamespace, map_text};
use crate::sync::{self, ChildEnd, ChildMessage, Event, ParentEnd};
use crate::terminal;

/// Exit status of a container that could not be set up (Docker's 125).
pub const SETUP_FAILED: i32 = 125;

/// How a container process is started, beyond what its spec says.
#[derive(Debug, Default)]
pub struct Launch {
    /// Hold the exec until something is written to this FIFO (the read
    /// end, opened non-blocking): OCI `create` leaves the process there
    /// for `start`.
    pub exec_gate: Option<OwnedFd>,
    /// Where the pty master goes when the spec asks for a terminal: a
    /// connected unix socket.
    pub console: Option<OwnedFd>,
    /// The process is supervised by the caller, which stays its parent
    /// (`oxbox do`, `run`): it dies with it. Otherwise (`create`, a
    /// detached `exec`) it outlives the runtime.
    pub supervised: bool,
    /// Check before reporting Ready that the program exists and can be
    /// executed, so that `create` fails with runc's message instead of a
    /// container that exits 127 at `start`.
    pub check_program: bool,
    /// Work the container process does itself, inside the container, at
    /// the [`Stage`]s of its setup (OCI createContainer and startContainer
    /// hooks). Its failure is the setup's.
    pub in_container: Option<InContainer>,
}

/// Where, in its own setup, the container process calls
/// [`Launch::in_container`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Its namespaces and mounts exist, its root is neither read-only nor
    /// pivoted into yet, and its working directory is that root.
    BeforePivot,
    /// The exec gate opened (or there is none) and the setup is over,
    /// privileges dropped: the kernel image is exec'd next.
    BeforeExec,
}

/// The callback of [`Launch::in_container`].
pub struct InContainer(pub Box<dyn Fn(Stage) -> Result<()>>);

impl std::fmt::Debug for InContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InContainer")
    }
}

/// A container process whose setup is done (it is at its exec gate, or
/// exec'ing the kernel).
#[derive(Debug)]
pub struct Spawned {
    /// Its pid, in the runtime's pid namespace.
    pub pid: Pid,
    channel: ParentEnd,
}

impl Spawned {
    /// Waits for the exec of the kernel image (`do`, `run`): `Ok` once it
    /// runs; the setup's failure or an interruption otherwise.
    pub fn wait_exec(self, inbox: &SignalInbox) -> Result<()> {
        match self.channel.next(Some(inbox)) {
            Ok(Event::Closed) => Ok(()),
            other => Err(self.fail(other)),
        }
    }

    /// Turns an unexpected event into the error to report, after killing
    /// and reaping the child.
    fn fail(&self, event: Result<Event>) -> Error {
        abandon(self.pid);
        match event {
            Ok(Event::Message(ChildMessage::Failed(message))) => Error::Setup(message),
            Ok(Event::Interrupted(signal)) => Error::Interrupted(signal.as_str()),
            Ok(other) => Error::Setup(format!("container process: unexpected {other:?}")),
            Err(e) => e,
        }
    }
}

/// Runs `spec` to completion as `oxbox do` does, supervised: the caller
/// stays its parent, relays its terminal or forwards signals to it, and
/// returns the exit code to exit with. `check_program` and `on_namespaces`
/// are as for [`Launch`] and [`spawn`].
///
/// Must be called while the process is single-threaded: it forks, and the
/// child runs arbitrary Rust code before it execs.
pub fn run(
    spec: &ContainerSpec,
    check_program: bool,
    on_namespaces: impl FnOnce(Pid) -> Result<()>,
) -> Result<i32> {
    let mask = SignalMask::block()?;
    let inbox = mask.inbox()?;
    let (console, console_child) = if spec.terminal {
        let (ours, theirs) = terminal::console_pair()?;
        (Some(ours), Some(theirs))
    } else {
        (None, None)
    };
    let launch = Launch {
        console: console_child,
        supervised: true,
        check_program,
        ..Launch::default()
    };
    let spawned = spawn(spec, launch, &mask, &inbox, on_namespaces)?;
    let pid = spawned.pid;
    let master = match &console {
        Some(console) => Some(terminal::receive_master(console).inspect_err(|_| abandon(pid))?),
        None => None,
    };
    spawned.wait_exec(&inbox)?;
    tracing::debug!(pid = pid.as_raw(), "kernel image started");
    supervise(&inbox, pid, master)
}

/// Stays with a started container process until it exits: relays its
/// terminal when it has one (`master`), else forwards signals to it.
/// Returns its exit code.
pub fn supervise(inbox: &SignalInbox, pid: Pid, master: Option<OwnedFd>) -> Result<i32> {
    match master {
        Some(master) => crate::relay::relay_until_exit(inbox, pid, master),
        None => inbox.forward_until_exit(pid),
    }
}

/// Starts a container process for `spec` and waits until it is set up:
/// calls `on_namespaces` with its pid once its namespaces exist (cgroups,
/// OCI hooks), then waits for its Ready.
///
/// Signals the caller blocked in `mask` interrupt the setup (the child is
/// killed); the child restores the original mask before it execs.
pub fn spawn(
    spec: &ContainerSpec,
    launch: Launch,
    mask: &SignalMask,
    inbox: &SignalInbox,
    on_namespaces: impl FnOnce(Pid) -> Result<()>,
) -> Result<Spawned> {
    ensure_single_threaded()?;
    let kernel = open_kernel(&spec.kernel)?;
    let guest_filter = spec
        .guest_filter
        .as_deref()
        .map(guest_filter_file)
        .transpose()?;
    let argv = kernel_argv(spec)?;
    let envp = spec
        .env
        .iter()
        .map(|e| cstring(e))
        .collect::<Result<Vec<_>>>()?;
    let joined = namespaces::open_joined(&spec.namespaces)?;
    let (join_user, maps) = match &spec.user_namespace {
        None => (None, None),
        Some(UserNamespace::Join(path)) => (Some(namespaces::open_user(path)?), None),
        Some(UserNamespace::New { uids, gids }) => (None, Some((uids, gids))),
    };
    let mounts_new = spec.namespaces.is_new(NamespaceKind::Mount);
    // The config's own user namespace gives the privileges oxbox's would.
    let user_namespace =
        spec.user_namespace.is_none() && mounts_new && namespaces::needs_user_namespace();
    let (root, scratch) = match &spec.rootfs {
        Rootfs::Host if mounts_new => {
            let scratch = ScratchDir::create()?;
            (scratch.0.clone(), Some(scratch))
        }
        Rootfs::Host => (PathBuf::from("/"), None),
        Rootfs::Dir { path, .. } => (path.clone(), None),
    };
    let mount_plan: Vec<MountStep> = if mounts_new {
        let ctx = PlanContext {
            root,
            user_namespace: user_namespace || spec.user_namespace.is_some(),
            tty: host_has_tty_node(),
        };
        let additions = mounts::Additions {
            mounts: &spec.mounts,
            devices: &spec.devices,
        };
        mounts::plan(&spec.rootfs, additions, &ctx)
    } else {
        Vec::new()
    };
    tracing::debug!(steps = mount_plan.len(), "mount plan ready");
    let host_rlimits = spec.host_rlimits();
    let plan = InitPlan {
        join_user: join_user.as_ref(),
        new_user: maps.is_some(),
        join: &joined,
        unshare: spec.namespaces.unshare_flags(),
        hostname: spec
            .namespaces
            .is_new(NamespaceKind::Uts)
            .then_some(spec.hostname.as_str()),
        sysctls: &spec.sysctls,
        loopback: spec.namespaces.is_new(NamespaceKind::Network),
        mounts: &mount_plan,
        workdir: &spec.workdir,
        rlimits: &host_rlimits,
        user: (!user_namespace).then_some(&spec.user),
        capabilities: spec.capabilities,
    };
    if user_namespace && spec.user != crate::spec::User::default() {
        return Err(Error::Config(
            "running the guest as another user than root needs root".into(),
        ));
    }
    if spec.terminal && launch.console.is_none() {
        return Err(Error::Config(
            "a terminal was requested but no console socket given".into(),
        ));
    }

    // Before the stack, so that a port that is taken leaves nothing
    // behind.
    let publisher = publish::Publisher::bind(&spec.publish)?;
    // Before the pid namespace: the stack process must stay out of it.
    let stack = spec.sandbox_network.then(network::start).transpose()?;
    if user_namespace {
        namespaces::enter_user_namespace()?;
    }
    namespaces::enter_pid_namespace(&spec.namespaces)?;
    let (channel, child_end) = sync::channel()?;
    let child_end = ChildEnd::from(off_log_fd(child_end.into())?);

    // SAFETY: the process is single-threaded (checked above), so the child
    // cannot inherit a lock held by another thread; it only runs the setup
    // below and then execs or exits.
    match unsafe { nix::unistd::fork() }.map_err(|e| Error::sys("fork", e))? {
        ForkResult::Child => {
            drop(channel);
            let child = ChildSetup {
                spec,
                plan: &plan,
                launch: &launch,
                channel: &child_end,
            };
            let netstack = stack.as_ref().map(|s| &s.control);
            let error = child.run(&kernel, guest_filter.as_ref(), netstack, &argv, &envp, mask);
            let line = one_line(&error);
            if child_end.send(&ChildMessage::Failed(line.clone())).is_err() {
                // Nobody listens any more (the runtime returned after
                // Ready): the container's stderr is all that is left.
                let _ = writeln!(std::io::stderr(), "oxbox: error: {line}");
            }
            // SAFETY: _exit ends the process at once and has no
            // preconditions. It also skips the parent's destructors (the
            // scratch directory), which are not the child's to run.
            unsafe { libc::_exit(SETUP_FAILED) }
        }
        ForkResult::Parent { child } => {
            drop(child_end);
            drop(kernel);
            drop(launch);
            // In a user namespace of its own the caller may not go back;
            // it runs no hooks there (`oxbox do` without root).
            if !user_namespace && let Err(e) = namespaces::leave_pid_namespace(&spec.namespaces) {
                abandon(child);
                return Err(e);
            }
            let spawned = Spawned {
                pid: child,
                channel,
            };
            let result = await_ready(&spawned, inbox, maps, stack, publisher, on_namespaces);
            drop(scratch);
            result.map(|()| spawned)
        }
    }
}

/// The parent's side of the setup, up to the child's Ready.
fn await_ready(
    spawned: &Spawned,
    inbox: &SignalInbox,
    maps: Option<(&Vec<IdMapping>, &Vec<IdMapping>)>,
    stack: Option<network::Stack>,
    publisher: publish::Publisher,
    on_namespaces: impl FnOnce(Pid) -> Result<()>,
) -> Result<()> {
    if let Some((uids, gids)) = maps {
        match spawned.channel.next(Some(inbox)) {
            Ok(Event::Message(ChildMessage::UserNamespaceReady)) => {}
            other => return Err(spawned.fail(other)),
        }
        if let Err(e) = write_maps(spawned.pid, uids, gids).and_then(|()| spawned.channel.resume())
        {
            abandon(spawned.pid);
            return Err(e);
        }
    }
    match spawned.channel.next(Some(inbox)) {
        Ok(Event::Message(ChildMessage::NamespacesReady)) => {}
        other => return Err(spawned.fail(other)),
    }
    let attached = stack.map_or(Ok(()), |stack| {
        let address = stack.attach(spawned.pid)?;
        publisher.start(address.into());
        Ok(())
    });
    if let Err(e) = attached
        .and_then(|()| on_namespaces(spawned.pid))
        .and_then(|()| spawned.channel.resume())
    {
        abandon(spawned.pid);
        return Err(e);
    }
    match spawned.channel.next(Some(inbox)) {
        Ok(Event::Message(ChildMessage::Ready)) => Ok(()),
        other => Err(spawned.fail(other)),
    }
}

/// Writes the `uid_map` and `gid_map` of `pid`'s new user namespace.
fn write_maps(pid: Pid, uids: &[IdMapping], gids: &[IdMapping]) -> Result<()> {
    for (file, map) in [("uid_map", uids), ("gid_map", gids)] {
        let path = format!("/proc/{pid}/{file}");
        fs::write(&path, map_text(map)).map_err(|e| Error::path("write", path, e))?;
    }
    Ok(())
}

/// Kills a child whose setup will not be completed, and reaps it.
fn abandon(child: Pid) {
    let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
    let _ = signals::reap(child, WaitPidFlag::empty());
}

/// The container process after the fork.
struct ChildSetup<'a> {
    spec: &'a ContainerSpec,
    plan: &'a InitPlan<'a>,
    launch: &'a Launch,
    channel: &'a ChildEnd,
}

impl ChildSetup<'_> {
    /// Sets up, then becomes the kernel. Returns only on failure.
    fn run(
        &self,
        kernel: &OwnedFd,
        guest_filter: Option<&OwnedFd>,
        netstack: Option<&OwnedFd>,
        argv: &[CString],
        envp: &[CString],
        mask: &SignalMask,
    ) -> Error {
        let sysctls = match self.setup() {
            Ok(sysctls) => sysctls,
            Err(e) => return e,
        };
        if let Err(e) = mask.reset_for_exec() {
            return e;
        }
        let kept = Kept {
            kernel,
            guest_filter,
            netstack,
            sysctls: sysctls.as_ref(),
        };
        let image = match prepare_descriptors(&kept) {
            Ok(image) => image,
            Err(e) => return e,
        };
        match nix::unistd::execveat(image, c"", argv, envp, AtFlags::AT_EMPTY_PATH) {
            Err(e) => Error::sys("execveat the kernel image", e),
        }
    }

    /// Sets up; returns the kernel's view of the sysctls, if the host
    /// gave one.
    fn setup(&self) -> Result<Option<OwnedFd>> {
        // Die with the runtime rather than run unsupervised, at least
        // until the setup is over.
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
            .map_err(|e| Error::sys("set parent-death signal", e))?;
        let mapped = || {
            self.channel.send(&ChildMessage::UserNamespaceReady)?;
            self.channel.wait_resume()
        };
        let sysctls = init::enter_namespaces(&mut RealHost, self.plan, mapped)?
            .map(off_log_fd)
            .transpose()?;
        self.channel.send(&ChildMessage::NamespacesReady)?;
        self.channel.wait_resume()?;
        init::prepare(&mut RealHost, self.plan, || {
            self.in_container(Stage::BeforePivot)
        })?;
        if let Some(console) = &self.launch.console {
            let (master, slave) = terminal::open_pty(self.spec.console_size)?;
            terminal::send_master(console, &master)?;
            terminal::become_session_leader_on(slave)?;
        }
        if self.launch.check_program {
            check_program(&self.spec.command[0], &self.spec.env)?;
        }
        if !self.launch.supervised {
            nix::sys::prctl::set_pdeathsig(None)
                .map_err(|e| Error::sys("clear parent-death signal", e))?;
        }
        self.channel.send(&ChildMessage::Ready)?;
        if let Some(gate) = &self.launch.exec_gate {
            wait_at_gate(gate)?;
        }
        self.in_container(Stage::BeforeExec)?;
        Ok(sysctls)
    }

    fn in_container(&self, stage: Stage) -> Result<()> {
        match &self.launch.in_container {
            Some(work) => (work.0)(stage),
            None => Ok(()),
        }
    }
}

/// Waits until a byte is written to the exec gate FIFO (OCI `start`). The
/// read end was opened before any writer existed, so the FIFO reports
/// neither data nor hang-up until one comes.
fn wait_at_gate(gate: &OwnedFd) -> Result<()> {
    loop {
        let mut fds = [PollFd::new(gate.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("wait for start", e)),
        }
        let mut byte = [0u8; 1];
        match nix::unistd::read(gate, &mut byte) {
            Ok(1) => return Ok(()),
            Ok(_) | Err(Errno::EAGAIN) => continue,
            Err(e) => return Err(Error::sys("wait for start", e)),
        }
    }
}

/// Looks `program` up as `execvp` would, with the guest's `PATH`, in the
/// container's root: an error in runc's words if it cannot be run. The
/// words matter: Docker maps "executable file not found" and "no such file
/// or directory" to exit status 127 and "permission denied" to 126.
fn check_program(program: &str, env: &[String]) -> Result<()> {
    use nix::unistd::{AccessFlags, access};
    let fail = |why: String| Err(Error::Setup(format!("exec: {program:?}: {why}")));
    if program.contains('/') {
        return match fs::metadata(program) {
            Err(e) => fail(format!("stat {program}: {}", go_errno_text(&e))),
            Ok(meta) if meta.is_dir() => fail("is a directory".into()),
            Ok(_) if access(program, AccessFlags::X_OK).is_err() => {
                fail("permission denied".into())
            }
            Ok(_) => Ok(()),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    let mut denied = false;
    for dir in path.split(':') {
        let candidate = Path::new(if dir.is_empty() { "." } else { dir }).join(program);
        match fs::metadata(&candidate) {
            Ok(meta) if meta.is_file() => {
                if access(candidate.as_path(), AccessFlags::X_OK).is_ok() {
                    return Ok(());
                }
                denied = true;
            }
            _ => {}
        }
    }
    if denied {
        fail("permission denied".into())
    } else {
        fail("executable file not found in $PATH".into())
    }
}

/// An errno's text as Go prints it (lower case), which engines match on.
fn go_errno_text(error: &std::io::Error) -> String {
    one_line(error).to_lowercase()
}

/// The guest's seccomp profile as a sealed memory file, which every kernel
/// of the container inherits at [`GUEST_FILTER_FD`] and cannot change.
fn guest_filter_file(text: &str) -> Result<OwnedFd> {
    use nix::fcntl::{FcntlArg, SealFlag, fcntl};
    use nix::sys::memfd::{MFdFlags, memfd_create};
    let fd = memfd_create(
        c"oxbox-guest-filter",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .map_err(|e| Error::sys("create the guest seccomp profile", e))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(text.as_bytes())
        .map_err(|e| Error::sys("write the guest seccomp profile", e))?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(&file, FcntlArg::F_ADD_SEALS(seals))
        .map_err(|e| Error::sys("seal the guest seccomp profile", e))?;
    off_log_fd(file.into())
}

/// Opens the kernel image for `execveat`, before the pivot hides it.
fn open_kernel(path: &Path) -> Result<OwnedFd> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| Error::KernelImage {
            path: path.to_owned(),
            source,
        })?;
    let is_file = file.metadata().map(|m| m.is_file()).unwrap_or(false);
    if !is_file {
        let source = std::io::Error::from_raw_os_error(libc::EACCES);
        return Err(Error::KernelImage {
            path: path.to_owned(),
            source,
        });
    }
    off_log_fd(file.into())
}

/// `[KERNEL_ARGV0, boot record, CMD, CMD, ARGS...]`: the kernel finds its
/// boot record in `argv[1]`, the program to run in `argv[2]` (looked up in
/// the guest's PATH) and the guest's own argv after it.
pub fn kernel_argv(spec: &ContainerSpec) -> Result<Vec<CString>> {
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| Error::sys("getrlimit", e))?;
    let record = spec
        .boot_record(spec.nofile([soft, hard])?, may_raise_limits())
        .encode()
        .map_err(|_| Error::Hostname(spec.hostname.clone()))?;
    let program = spec.command.first().map(String::as_str);
    [KERNEL_ARGV0, record.as_str()]
        .into_iter()
        .chain(program)
        .chain(spec.command.iter().map(String::as_str))
        .map(cstring)
        .collect()
}

/// The runtime has `CAP_SYS_RESOURCE`: as a native process of its own,
/// the guest root could raise its hard limits.
fn may_raise_limits() -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    crate::caps::get().is_ok_and(|c| c.effective & (1 << CAP_SYS_RESOURCE) != 0)
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::NulByte(s.to_owned()))
}

/// Moves a descriptor off the kernel's reserved numbers, which the child
/// overwrites just before the exec.
fn off_log_fd(fd: OwnedFd) -> Result<OwnedFd> {
    if fd.as_raw_fd() < RESERVED_FD_BASE {
        return Ok(fd);
    }
    // try_clone is F_DUPFD_CLOEXEC from 3: the lowest free descriptor,
    // which cannot be a reserved one while `fd` holds it.
    fd.try_clone().map_err(|e| Error::sys("move descriptor", e))
}

/// The descriptors a container process passes to its kernel.
struct Kept<'a> {
    kernel: &'a OwnedFd,
    guest_filter: Option<&'a OwnedFd>,
    netstack: Option<&'a OwnedFd>,
    sysctls: Option<&'a OwnedFd>,
}

/// Leaves exactly stdin, stdout, stderr and the kernel's descriptors open
/// across the exec: everything from 3 up becomes close-on-exec, then
/// stderr is duplicated onto [`LOG_FD`], the kernel image onto
/// [`KERNEL_IMAGE_FD`] (every kernel instance keeps the image to
/// re-execute on a guest `execve`), the network stack's control socket, if
/// any, onto [`NETSTACK_FD`], the guest seccomp profile, if any,
/// onto [`GUEST_FILTER_FD`] and the copy of `/proc/sys`, if any, onto
/// [`PROC_SYS_FD`], all without close-on-exec. Returns the image
/// descriptor.
fn prepare_descriptors(kept: &Kept<'_>) -> Result<BorrowedFd<'static>> {
    let Kept {
        kernel,
        guest_filter,
        netstack,
        sysctls,
    } = *kept;
    // The kernel keeps its descriptors at the top of a 1024-entry table.
    let needed = LOG_FD as u64 + 1;
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| Error::sys("getrlimit", e))?;
    if soft < needed {
        setrlimit(Resource::RLIMIT_NOFILE, needed.min(hard), hard)
            .map_err(|e| Error::sys("setrlimit", e))?;
    }
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on
    // descriptors; it takes integer arguments and touches no memory.
    if unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    } < 0
    {
        return Err(Error::sys("close_range", std::io::Error::last_os_error()));
    }
    // SAFETY: dup3 takes descriptor numbers. Replacing whatever sits at
    // LOG_FD is intended: every descriptor this process still needs was
    // moved off it (`off_log_fd`).
    if unsafe { libc::dup3(libc::STDERR_FILENO, LOG_FD, 0) } < 0 {
        let error = std::io::Error::last_os_error();
        // With no stderr, the kernel has no log: nothing to pass on.
        if error.raw_os_error() != Some(libc::EBADF) {
            return Err(Error::sys(
                "duplicate stderr onto the log descriptor",
                error,
            ));
        }
    }
    // SAFETY: dup3 takes descriptor numbers; `kernel` was moved off the
    // reserved numbers when it was opened (`off_log_fd`).
    if unsafe { libc::dup3(kernel.as_raw_fd(), KERNEL_IMAGE_FD, 0) } < 0 {
        return Err(Error::sys(
            "keep the kernel image open",
            std::io::Error::last_os_error(),
        ));
    }
    if let Some(control) = netstack {
        // SAFETY: dup3 takes descriptor numbers; the control socket was
        // created before any reserved number was taken.
        if unsafe { libc::dup3(control.as_raw_fd(), NETSTACK_FD, 0) } < 0 {
            return Err(Error::sys(
                "pass the network stack's control socket",
                std::io::Error::last_os_error(),
            ));
        }
    }
    if let Some(filter) = guest_filter {
        // SAFETY: dup3 takes descriptor numbers; the profile was moved off
        // the reserved numbers when it was created.
        if unsafe { libc::dup3(filter.as_raw_fd(), GUEST_FILTER_FD, 0) } < 0 {
            return Err(Error::sys(
                "pass the guest seccomp profile",
                std::io::Error::last_os_error(),
            ));
        }
    }
    if let Some(tree) = sysctls {
        // SAFETY: dup3 takes descriptor numbers; the copy was moved off
        // the reserved numbers when it was made.
        if unsafe { libc::dup3(tree.as_raw_fd(), PROC_SYS_FD, 0) } < 0 {
            return Err(Error::sys(
                "pass the copy of /proc/sys",
                std::io::Error::last_os_error(),
            ));
        }
    }
    // SAFETY: KERNEL_IMAGE_FD was just made to refer to the kernel image and
    // stays open until the exec replaces this process.
    Ok(unsafe { BorrowedFd::borrow_raw(KERNEL_IMAGE_FD) })
}

/// Whether the host has a `/dev/tty` node to bind into the container.
/// Like runc, every container gets one: opening it gives the guest its
/// controlling terminal, or ENXIO when it has none, exactly as natively.
fn host_has_tty_node() -> bool {
    use std::os::unix::fs::FileTypeExt;
    fs::metadata("/dev/tty").is_ok_and(|m| m.file_type().is_char_device())
}

/// `fork` in a multi-threaded process leaves the child with the other
/// threads' locks held; refuse rather than risk a deadlock.
fn ensure_single_threaded() -> Result<()> {
    let threads = fs::read_dir("/proc/self/task")
        .map_err(|e| Error::path("read", "/proc/self/task", e))?
        .count();
    if threads != 1 {
        let source = std::io::Error::other(format!("{threads} threads running"));
        return Err(Error::sys(
            "the monitor must be single-threaded to fork",
            source,
        ));
    }
    Ok(())
}

/// An empty directory where the host root is assembled, removed when the
/// container has pivoted away from it (or failed to).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create() -> Result<Self> {
        let base = std::env::temp_dir();
        let mut attempt = 0;
        loop {
            let path = base.join(format!("oxbox-root-{}-{attempt}", std::process::id()));
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1
                }
                Err(e) => return Err(Error::path("create scratch directory", path, e)),
            }
        }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir(&self.0) {
            tracing::warn!(path = %self.0.display(), error = %e, "cannot remove scratch directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Options;
    use oxbox_abi::boot::BootRecord;

    #[test]
    fn kernel_argv_is_argv0_record_then_command() {
        let options = Options {
            command: vec!["ls".into(), "-l".into()],
            hostname: Some("box".into()),
            kernel: "/k".into(),
            ..Options::default()
        };
        let spec = ContainerSpec::from_options(options, |_| None).unwrap();
        let argv = kernel_argv(&spec).unwrap();
        assert_eq!(argv[0].to_str().unwrap(), KERNEL_ARGV0);
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(
            BootRecord::decode(argv[1].to_str().unwrap()).unwrap(),
            spec.boot_record([soft, hard], may_raise_limits())
        );
        assert_eq!(argv[2].to_str().unwrap(), "ls");
        assert_eq!(argv[3].to_str().unwrap(), "ls");
        assert_eq!(argv[4].to_str().unwrap(), "-l");
    }

    #[test]
    fn missing_kernel_image_names_its_path() {
        let err = open_kernel(Path::new("/nonexistent/oxbox-kernel")).unwrap_err();
        let line = one_line(&err);
        assert!(
            line.contains("/nonexistent/oxbox-kernel") && line.contains("No such file"),
            "{line}"
        );
    }

    #[test]
    fn a_directory_is_not_a_kernel_image() {
        assert!(open_kernel(Path::new("/")).is_err());
    }

    #[test]
    fn program_lookup_follows_path_and_explains_failures() {
        let env = ["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        assert!(check_program("sh", &env).is_ok());
        assert!(check_program("/bin/sh", &env).is_ok());
        let missing = one_line(&check_program("no-such-program", &env).unwrap_err());
        assert_eq!(
            missing,
            "exec: \"no-such-program\": executable file not found in $PATH"
        );
        let absolute = one_line(&check_program("/nonexistent/x", &env).unwrap_err());
        assert_eq!(
            absolute,
            "exec: \"/nonexistent/x\": stat /nonexistent/x: no such file or directory"
        );
        let dir = one_line(&check_program("/tmp", &env).unwrap_err());
        assert_eq!(dir, "exec: \"/tmp\": is a directory");
        let not_executable = one_line(&check_program("/etc/passwd", &env).unwrap_err());
        assert_eq!(not_executable, "exec: \"/etc/passwd\": permission denied");
    }

    #[test]
    fn scratch_directory_is_removed_on_drop() {
        let scratch = ScratchDir::create().unwrap();
        let path = scratch.0.clone();
        assert!(path.is_dir());
        drop(scratch);
        assert!(!path.exists());
    }
}
