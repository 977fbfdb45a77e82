//! Pseudo-terminals for containers.
//!
//! A container process that asks for a terminal opens a pty from the
//! container's own devpts (`/dev/ptmx`, after the pivot), makes the slave
//! its controlling terminal and its stdin, stdout and stderr, and sends
//! the master over a unix socket (`SCM_RIGHTS`) to whoever drives it: the
//! engine's `--console-socket`, as runc does, or oxbox's own monitor for
//! `oxbox do -t`.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

use crate::error::{Error, Result};

/// `TIOCGPTPEER`: opens the slave of a master (Linux 4.13), race-free
/// unlike opening `/dev/pts/N` by name.
const TIOCGPTPEER: libc::c_ulong = 0x5441;
/// Name sent with the master, as runc sends it (the receiver ignores it).
const MASTER_NAME: &[u8] = b"/dev/ptmx";

/// A window size, in character cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSize {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

/// Opens a pty from the current root's `/dev/ptmx`: `(master, slave)`.
pub fn open_pty(size: Option<WindowSize>) -> Result<(OwnedFd, OwnedFd)> {
    let master = nix::fcntl::open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::path("open", "/dev/ptmx", e.into()))?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int that lives across the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(Error::sys(
            "unlock the pty",
            std::io::Error::last_os_error(),
        ));
    }
    let flags = (libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) as libc::c_ulong;
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new
    // descriptor or -1; no memory is passed.
    let slave = unsafe { libc::ioctl(master.as_raw_fd(), TIOCGPTPEER, flags) };
    if slave < 0 {
        return Err(Error::sys(
            "open the pty slave",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: the ioctl returned a new descriptor that nothing else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if let Some(size) = size {
        set_window_size(master.as_fd(), size)?;
    }
    Ok((master, slave))
}

/// Makes `slave` the controlling terminal of a new session led by the
/// caller, and its stdin, stdout and stderr.
pub fn become_session_leader_on(slave: OwnedFd) -> Result<()> {
    nix::unistd::setsid().map_err(|e| Error::sys("setsid", e))?;
    // SAFETY: TIOCSCTTY takes an integer (0: do not steal a terminal that
    // is another session's); no memory is passed.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(Error::sys(
            "make the pty the controlling terminal",
            std::io::Error::last_os_error(),
        ));
    }
    for target in 0..=2 {
        // SAFETY: dup2 takes descriptor numbers; replacing the standard
        // streams is the point.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(Error::sys(
                "attach the pty to the standard streams",
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

/// Sets the window size of a terminal.
pub fn set_window_size(tty: impl AsFd, size: WindowSize) -> Result<()> {
    let winsize = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a `struct winsize` that lives across the call.
    if unsafe { libc::ioctl(tty.as_fd().as_raw_fd(), libc::TIOCSWINSZ, &winsize) } < 0 {
        return Err(Error::sys(
            "set the terminal size",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// The window size of a terminal, if it is one.
pub fn window_size(tty: impl AsFd) -> Option<WindowSize> {
    let mut winsize = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a `struct winsize` into the local above.
    let rc = unsafe { libc::ioctl(tty.as_fd().as_raw_fd(), libc::TIOCGWINSZ, &mut winsize) };
    (rc == 0).then_some(WindowSize {
        rows: winsize.ws_row,
        cols: winsize.ws_col,
    })
}

/// A connected pair for a supervised container's terminal:
/// `(ours, theirs)`; the container process sends the master over `theirs`,
/// the supervisor receives it on `ours`.
pub fn console_pair() -> Result<(OwnedFd, OwnedFd)> {
    let (ours, theirs) =
        UnixStream::pair().map_err(|e| Error::sys("create the console socket", e))?;
    Ok((ours.into(), theirs.into()))
}

/// Connects to an engine's console socket (`--console-socket PATH`).
pub fn connect_console_socket(path: &Path) -> Result<OwnedFd> {
    UnixStream::connect(path)
        .map(OwnedFd::from)
        .map_err(|e| Error::path("connect to console socket", path, e))
}

/// Sends the pty master over `socket`.
pub fn send_master(socket: impl AsFd, master: impl AsFd) -> Result<()> {
    let fds = [master.as_fd().as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(MASTER_NAME)];
    sendmsg::<()>(
        socket.as_fd().as_raw_fd(),
        &iov,
        &cmsg,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(drop)
    .map_err(|e| Error::sys("send the pty master to the console socket", e))
}

/// Receives a pty master sent by [`send_master`].
pub fn receive_master(socket: impl AsFd) -> Result<OwnedFd> {
    let mut name = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket.as_fd().as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| Error::sys("receive the pty master", e))?;
    for cmsg in msg
        .cmsgs()
        .map_err(|e| Error::sys("receive the pty master", e))?
    {
        if let ControlMessageOwned::ScmRights(fds) = cmsg
            && let Some(&fd) = fds.first()
        {
            // SAFETY: SCM_RIGHTS installed this descriptor in our table
            // for us alone.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    Err(Error::sys(
        "receive the pty master",
        std::io::Error::from_raw_os_error(libc::EBADMSG),
    ))
}
