//! The monitor's signal handling: forward to the container, reap it.
//!
//! The monitor blocks the signals it forwards (and `SIGCHLD`) before it
//! forks and reads them from a `signalfd` afterwards, so it needs no signal
//! handler and no async-signal-safe code. The container's first process
//! restores the original mask (and `SIGPIPE`'s default action) just
//! before it execs the kernel.

use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, kill, sigaction, sigprocmask,
};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// Signals the monitor passes on to the container's first process.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];
/// `si_code` of a signal the kernel itself sent, such as a terminal's
/// `SIGINT` or `SIGWINCH` to its foreground process group.
const SI_KERNEL: i32 = 0x80;

/// The monitor's blocked signal set, and the mask to restore in the child.
#[derive(Debug)]
pub struct SignalMask {
    blocked: SigSet,
    original: SigSet,
}

impl SignalMask {
    /// Blocks the forwarded signals and `SIGCHLD`. Must be called before the
    /// fork, so that no signal is lost between the fork and the `signalfd`.
    pub fn block() -> Result<Self> {
        let mut blocked = SigSet::empty();
        for signal in FORWARDED.into_iter().chain([Signal::SIGCHLD]) {
            blocked.add(signal);
        }
        let mut original = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&blocked), Some(&mut original))
            .map_err(|e| Error::sys("block signals", e))?;
        Ok(Self { blocked, original })
    }

    /// Gives the exec'd kernel the signal state oxbox was started with: the
    /// original mask, and `SIGPIPE` back to its default action (the Rust
    /// runtime ignores it in oxbox, and an ignored disposition would be
    /// inherited by the guest across `execve`).
    pub fn reset_for_exec(&self) -> Result<()> {
        sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.original), None)
            .map_err(|e| Error::sys("restore signal mask", e))?;
        let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        // SAFETY: installing SIG_DFL runs no handler code, so no handler can
        // break async-signal safety.
        unsafe { sigaction(Signal::SIGPIPE, &default) }
            .map_err(|e| Error::sys("reset SIGPIPE", e))?;
        Ok(())
    }

    /// Opens the descriptor the monitor reads its blocked signals from.
    pub fn inbox(&self) -> Result<SignalInbox> {
        SignalFd::with_flags(&self.blocked, SfdFlags::SFD_CLOEXEC)
            .map(SignalInbox)
            .map_err(|e| Error::sys("create signalfd", e))
    }
}

/// The monitor's blocked signals, as a `signalfd`.
#[derive(Debug)]
pub struct SignalInbox(SignalFd);

/// One signal the monitor received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Which signal.
    pub signal: Signal,
    /// Sent by the kernel itself (a terminal's `^C`, `^\` or window-size
    /// change), which signals the whole foreground process group, the
    /// container included.
    pub from_kernel: bool,
}

impl SignalInbox {
    /// The next pending signal, waiting for one if there is none.
    pub fn next(&self) -> Result<Received> {
        loop {
            let info = match self.0.read_signal() {
                Ok(Some(info)) => info,
                Ok(None) | Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("read signalfd", e)),
            };
            if let Ok(signal) = Signal::try_from(info.ssi_signo as i32) {
                return Ok(Received {
                    signal,
                    from_kernel: info.ssi_code == SI_KERNEL,
                });
            }
        }
    }

    /// Forwards signals to `child` until it exits; returns the exit code
    /// oxbox must exit with.
    ///
    /// A signal from the kernel already reached the container through its
    /// process group; forwarding it would deliver it twice.
    pub fn forward_until_exit(&self, child: Pid) -> Result<i32> {
        loop {
            if let Some(code) = reap(child, WaitPidFlag::WNOHANG)? {
                return Ok(code);
            }
            let received = self.next()?;
            if received.signal == Signal::SIGCHLD || received.from_kernel {
                continue;
            }
            tracing::debug!(signal = ?received.signal, "forwarding signal to the container");
            match kill(child, received.signal) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(Error::sys("forward signal", e)),
            }
        }
    }
}

impl AsFd for SignalInbox {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Waits for `child`; `Some(exit code)` once it has terminated.
pub fn reap(child: Pid, flags: WaitPidFlag) -> Result<Option<i32>> {
    loop {
        match waitpid(child, Some(flags)) {
            Ok(status) => return Ok(exit_code(status)),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("wait for the container", e)),
        }
    }
}

/// The exit code for a wait status: the guest's own, or 128+N when it was
/// killed by signal N, as shells and Docker report it.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(128 + signal as i32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        let pid = Pid::from_raw(7);
        assert_eq!(exit_code(WaitStatus::Exited(pid, 3)), Some(3));
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
            Some(137)
        );
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGSEGV, true)),
            Some(139)
        );
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
    }
}
