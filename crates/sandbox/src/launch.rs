//! Starting a container: the monitor, and the exec of the kernel image.
//!
//! ```text
//! oxbox (monitor)            opens the kernel image, plans the mounts,
//!   [unshare user ns]        when unprivileged,
//!   unshare pid ns, fork ──> pid 1 of the container: init::prepare
//!   reads the setup pipe       (namespaces, mounts, pivot, workdir,
//!   forwards signals           privileges), then execveat(kernel image)
//!   exits with pid 1's status
//! ```
//!
//! The child reports a setup failure as one line on a close-on-exec pipe
//! and exits; end of file without a message means the exec succeeded.
//! From then on, a failure to start the guest is the kernel's to report (on
//! its log descriptor) and its exit status is passed on unchanged.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::CloneFlags;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::Signal;
use nix::sys::wait::WaitPidFlag;
use nix::unistd::ForkResult;
use oxbox_abi::boot::KERNEL_ARGV0;
use oxbox_abi::layout::{KERNEL_IMAGE_FD, LOG_FD};

use crate::error::{Error, Result, one_line};
use crate::host::RealHost;
use crate::init::{self, InitPlan};
use crate::mounts::{self, PlanContext};
use crate::namespaces;
use crate::signals::{self, SignalInbox, SignalMask};
use crate::spec::{ContainerSpec, Rootfs};

/// Exit status of a container that could not be set up (Docker's 125).
pub const SETUP_FAILED: i32 = 125;

/// Runs `spec` to completion; returns the exit code oxbox must exit with.
///
/// Must be called while the process is single-threaded: it forks, and the
/// child runs arbitrary Rust code before it execs.
pub fn run(spec: &ContainerSpec) -> Result<i32> {
    ensure_single_threaded()?;
    let kernel = open_kernel(&spec.kernel)?;
    let argv = kernel_argv(spec)?;
    let envp = spec
        .env
        .iter()
        .map(|e| cstring(e))
        .collect::<Result<Vec<_>>>()?;
    let user_namespace = namespaces::needs_user_namespace();
    let (root, scratch) = match &spec.rootfs {
        Rootfs::Host => {
            let scratch = ScratchDir::create()?;
            (scratch.0.clone(), Some(scratch))
        }
        Rootfs::Dir { path, .. } => (path.clone(), None),
    };
    let ctx = PlanContext {
        root,
        user_namespace,
        tty: host_has_tty_node(),
    };
    let mount_plan = mounts::plan(&spec.rootfs, &ctx);
    tracing::debug!(?ctx, steps = mount_plan.len(), "mount plan ready");
    let plan = InitPlan {
        hostname: &spec.hostname,
        mounts: &mount_plan,
        workdir: &spec.workdir,
    };

    if user_namespace {
        namespaces::enter_user_namespace()?;
    }
    let mask = SignalMask::block()?;
    nix::sched::unshare(CloneFlags::CLONE_NEWPID)
        .map_err(|e| Error::sys("unshare pid namespace", e))?;
    let (report_rx, report_tx) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe", e))?;
    let (report_rx, report_tx) = (off_log_fd(report_rx)?, off_log_fd(report_tx)?);

    // SAFETY: the process is single-threaded (checked above), so the child
    // cannot inherit a lock held by another thread; it only runs the setup
    // below and then execs or exits.
    match unsafe { nix::unistd::fork() }.map_err(|e| Error::sys("fork", e))? {
        ForkResult::Child => {
            drop(report_rx);
            let error = start_container(&kernel, &argv, &envp, &plan, &mask);
            let mut report = File::from(report_tx);
            let _ = report.write_all(one_line(&error).as_bytes());
            // SAFETY: _exit ends the process at once and has no
            // preconditions. It also skips the monitor's destructors (the
            // scratch directory), which are not the child's to run.
            unsafe { libc::_exit(SETUP_FAILED) }
        }
        ForkResult::Parent { child } => {
            drop(report_tx);
            drop(kernel);
            let setup = mask
                .inbox()
                .and_then(|inbox| Ok((await_setup(report_rx, &inbox)?, inbox)));
            drop(scratch);
            match setup {
                Ok((Setup::Started, inbox)) => {
                    tracing::debug!(pid = child.as_raw(), "kernel image started");
                    inbox.forward_until_exit(child)
                }
                Ok((Setup::Failed(message), _)) => {
                    let _ = signals::reap(child, WaitPidFlag::empty());
                    Err(Error::Setup(message))
                }
                Ok((Setup::Interrupted(signal), _)) => {
                    abandon(child);
                    Err(Error::Interrupted(signal.as_str()))
                }
                Err(e) => {
                    abandon(child);
                    Err(e)
                }
            }
        }
    }
}

/// How the container's setup ended, as the monitor saw it.
#[derive(Debug, PartialEq, Eq)]
enum Setup {
    /// The kernel image was exec'd: the setup pipe closed without a word.
    Started,
    /// The child reported this failure and exited.
    Failed(String),
    /// The monitor was asked to stop before the setup ended.
    Interrupted(Signal),
}

/// Waits for the end of the setup: the child's report, or a signal asking
/// oxbox to stop. The child holds its signals blocked until the exec, so a
/// signal forwarded now would reach a kernel not yet ready for it; the
/// monitor stops the setup instead.
fn await_setup(report: OwnedFd, inbox: &SignalInbox) -> Result<Setup> {
    let mut report = File::from(report);
    let mut message = Vec::new();
    loop {
        let mut fds = [
            PollFd::new(report.as_fd(), PollFlags::POLLIN),
            PollFd::new(inbox.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::sys("poll", e)),
        }
        let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
        // The report goes first: once the kernel image runs, the pipe's end
        // of file is already there, so a signal that arrives after the
        // guest started is always seen after it (and forwarded), never
        // taken for an interruption of the setup.
        if ready(&fds[0]) {
            let mut chunk = [0u8; 1024];
            match report.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => message.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::sys("read the setup report", e)),
            }
        } else if ready(&fds[1]) {
            let received = inbox.next()?;
            if received.signal != Signal::SIGCHLD {
                return Ok(Setup::Interrupted(received.signal));
            }
        }
    }
    if message.is_empty() {
        Ok(Setup::Started)
    } else {
        Ok(Setup::Failed(
            String::from_utf8_lossy(&message).into_owned(),
        ))
    }
}

/// Kills a child whose setup will not be completed, and reaps it.
fn abandon(child: nix::unistd::Pid) {
    let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
    let _ = signals::reap(child, WaitPidFlag::empty());
}

/// The container's first process, after the fork: set up, then become the
/// kernel. Returns only on failure.
fn start_container(
    kernel: &OwnedFd,
    argv: &[CString],
    envp: &[CString],
    plan: &InitPlan<'_>,
    mask: &SignalMask,
) -> Error {
    // Die with the monitor rather than run unsupervised.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        return Error::sys("set parent-death signal", e);
    }
    if let Err(e) = init::prepare(&mut RealHost, plan) {
        return e;
    }
    if let Err(e) = mask.reset_for_exec() {
        return e;
    }
    let image = match prepare_descriptors(kernel) {
        Ok(image) => image,
        Err(e) => return e,
    };
    match nix::unistd::execveat(image, c"", argv, envp, AtFlags::AT_EMPTY_PATH) {
        Err(e) => Error::sys("execveat the kernel image", e),
    }
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
    let record = spec
        .boot_record()
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

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::NulByte(s.to_owned()))
}

/// Moves a descriptor off [`LOG_FD`] and [`KERNEL_IMAGE_FD`], which the
/// child overwrites just before the exec.
fn off_log_fd(fd: OwnedFd) -> Result<OwnedFd> {
    if fd.as_raw_fd() != LOG_FD && fd.as_raw_fd() != KERNEL_IMAGE_FD {
        return Ok(fd);
    }
    // try_clone is F_DUPFD_CLOEXEC from 3: the lowest free descriptor,
    // which cannot be a reserved one while `fd` holds it.
    fd.try_clone().map_err(|e| Error::sys("move descriptor", e))
}

/// Leaves exactly stdin, stdout, stderr and the kernel's two descriptors
/// open across the exec: everything from 3 up becomes close-on-exec, then
/// stderr is duplicated onto [`LOG_FD`] and the kernel image onto
/// [`KERNEL_IMAGE_FD`] without it (every kernel instance keeps the image
/// to re-execute on a guest `execve`). Returns the image descriptor.
fn prepare_descriptors(kernel: &OwnedFd) -> Result<BorrowedFd<'static>> {
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
        assert_eq!(
            BootRecord::decode(argv[1].to_str().unwrap()).unwrap(),
            spec.boot_record()
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

    /// Runs `test` with the monitor's signals blocked in this thread (and
    /// only this one: the test harness runs others), then restores its mask.
    fn with_inbox(test: impl FnOnce(&SignalInbox)) {
        use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};
        let mut before = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_SETMASK, None, Some(&mut before)).unwrap();
        let inbox = SignalMask::block().unwrap().inbox().unwrap();
        test(&inbox);
        pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&before), None).unwrap();
    }

    fn report_pipe(message: &[u8]) -> OwnedFd {
        let (rx, tx) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        File::from(tx).write_all(message).unwrap();
        rx
    }

    #[test]
    fn setup_report_eof_without_a_word_means_started() {
        with_inbox(|inbox| {
            assert_eq!(
                await_setup(report_pipe(b""), inbox).unwrap(),
                Setup::Started
            )
        });
    }

    #[test]
    fn setup_report_with_a_message_means_failed() {
        with_inbox(|inbox| {
            let outcome = await_setup(report_pipe(b"mount tmpfs on /x: EPERM"), inbox).unwrap();
            assert_eq!(outcome, Setup::Failed("mount tmpfs on /x: EPERM".into()));
        });
    }

    #[test]
    fn report_end_wins_over_a_signal_received_at_the_same_time() {
        with_inbox(|inbox| {
            nix::sys::signal::raise(Signal::SIGUSR2).unwrap();
            assert_eq!(
                await_setup(report_pipe(b""), inbox).unwrap(),
                Setup::Started
            );
            // The signal stays for the forwarding loop.
            assert_eq!(inbox.next().unwrap().signal, Signal::SIGUSR2);
        });
    }

    #[test]
    fn signal_during_setup_interrupts_it() {
        with_inbox(|inbox| {
            let (rx, _tx_kept_open) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
            nix::sys::signal::raise(Signal::SIGUSR2).unwrap();
            assert_eq!(
                await_setup(rx, inbox).unwrap(),
                Setup::Interrupted(Signal::SIGUSR2)
            );
        });
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
