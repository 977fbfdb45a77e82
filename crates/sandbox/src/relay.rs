//! `oxbox do -t`: the monitor between the user's terminal and the
//! container's pty.
//!
//! The user's terminal goes into raw mode, so every key (Ctrl-C, Ctrl-Z
//! included) reaches the container's pty, whose line discipline turns it
//! into the signal for the guest's foreground process group, exactly as a
//! local terminal would. Bytes are copied both ways, window size changes
//! (`SIGWINCH`) are passed on, other signals sent to oxbox are forwarded to
//! the container's first process, and the terminal is restored at the end.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::WaitPidFlag;
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::signals::{SignalInbox, reap};
use crate::terminal;

/// Relays between oxbox's stdio and `master` until `child` exits; returns
/// its exit code.
pub fn relay_until_exit(inbox: &SignalInbox, child: Pid, master: OwnedFd) -> Result<i32> {
    let stdin = std::io::stdin();
    let _raw = RawMode::enter(stdin.as_fd());
    copy_window_size(&master);
    let mut stdin_open = true;
    let mut master_open = true;
    loop {
        if let Some(code) = reap(child, WaitPidFlag::WNOHANG)? {
            if master_open {
                drain(&master);
            }
            return Ok(code);
        }
        let mut fds = vec![PollFd::new(inbox.as_fd(), PollFlags::POLLIN)];
        if master_open {
            fds.push(PollFd::new(master.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::sys("poll", e)),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            let received = inbox.next()?;
            match received.signal {
                Signal::SIGCHLD => {}
                Signal::SIGWINCH => copy_window_size(&master),
                signal => {
                    let _ = nix::sys::signal::kill(child, signal);
                }
            }
        }
        let mut index = 1;
        if master_open {
            if ready[index] {
                master_open = copy(master.as_fd(), &mut std::io::stdout());
            }
            index += 1;
        }
        if stdin_open && ready[index] {
            stdin_open = copy(stdin.as_fd(), &mut WriteFd(master.as_fd()));
        }
    }
}

/// Copies one chunk from `from` to `to`; false once `from` is done (end of
/// file, or `EIO` from a master whose slave side is all closed).
fn copy(from: BorrowedFd<'_>, to: &mut impl Write) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) => false,
        Ok(n) => to.write_all(&buf[..n]).and_then(|()| to.flush()).is_ok(),
        Err(Errno::EINTR | Errno::EAGAIN) => true,
        Err(_) => false,
    }
}

/// Copies what the guest wrote before it exited.
fn drain(master: &OwnedFd) {
    loop {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(1) if copy(master.as_fd(), &mut std::io::stdout()) => {}
            _ => return,
        }
    }
}

fn copy_window_size(master: &OwnedFd) {
    if let Some(size) = terminal::window_size(std::io::stdout().as_fd()) {
        let _ = terminal::set_window_size(master, size);
    }
}

/// A `Write` over a borrowed descriptor.
struct WriteFd<'a>(BorrowedFd<'a>);

impl Write for WriteFd<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(nix::unistd::write(self.0, buf)?)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The user's terminal in raw mode, restored on drop; nothing when stdin
/// is not a terminal.
struct RawMode<'a> {
    tty: BorrowedFd<'a>,
    saved: Option<Termios>,
}

impl<'a> RawMode<'a> {
    fn enter(tty: BorrowedFd<'a>) -> Self {
        let saved = termios::tcgetattr(tty).ok();
        if let Some(saved) = &saved {
            let mut raw = saved.clone();
            termios::cfmakeraw(&mut raw);
            if let Err(e) = termios::tcsetattr(tty, SetArg::TCSANOW, &raw) {
                tracing::warn!(error = %e, "cannot put the terminal in raw mode");
            }
        }
        Self { tty, saved }
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(self.tty, SetArg::TCSANOW, saved);
        }
    }
}
