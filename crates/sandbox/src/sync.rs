//! The channel between the runtime and a container process it is setting
//! up: a close-on-exec `SOCK_SEQPACKET` pair, one message per packet.
//!
//! ```text
//! child                          parent
//!   enter namespaces
//!   NamespacesReady  ───────────>  cgroups, OCI hooks (with the child's pid)
//!                    <───────────  Continue
//!   mounts, pivot, terminal, user, privileges
//!   Ready            ───────────>  `create` returns here (pid file written)
//!   [exec gate]
//!   exec the kernel: the channel closes without a word
//!   or Failed(line)  ───────────>  at any point
//! ```

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, send, socketpair};

use crate::error::{Error, Result};
use crate::signals::SignalInbox;

/// Longest message: one error line.
const MAX_MESSAGE: usize = 4096;

/// What the child reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildMessage {
    /// Its user namespace exists, unmapped; it waits for the runtime to
    /// write the maps and [`ParentEnd::resume`].
    UserNamespaceReady,
    /// Its namespaces exist; it waits for [`ParentEnd::resume`].
    NamespacesReady,
    /// Set up and about to exec (or to wait at the exec gate).
    Ready,
    /// Setup failed with this one-line message; it exits.
    Failed(String),
}

/// What the parent sees next on the channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A message from the child.
    Message(ChildMessage),
    /// The child's end closed: it exec'd (or died without a word).
    Closed,
    /// The runtime was asked to stop (a signal other than `SIGCHLD`).
    Interrupted(Signal),
}

/// The runtime's end.
#[derive(Debug)]
pub struct ParentEnd(OwnedFd);

/// The container process's end.
#[derive(Debug)]
pub struct ChildEnd(OwnedFd);

/// A new channel.
pub fn channel() -> Result<(ParentEnd, ChildEnd)> {
    let (parent, child) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("create the setup channel", e))?;
    Ok((ParentEnd(parent), ChildEnd(child)))
}

impl From<OwnedFd> for ChildEnd {
    fn from(fd: OwnedFd) -> Self {
        Self(fd)
    }
}

impl From<ChildEnd> for OwnedFd {
    fn from(end: ChildEnd) -> Self {
        end.0
    }
}

impl ParentEnd {
    /// Waits for the next event; signals arriving on `inbox` meanwhile
    /// interrupt the wait. A message already there wins over a signal, so a
    /// signal that arrives after the guest started is left in the inbox
    /// for the forwarding loop, never taken for an interruption.
    pub fn next(&self, inbox: Option<&SignalInbox>) -> Result<Event> {
        loop {
            let mut fds = vec![PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
            if let Some(inbox) = inbox {
                fds.push(PollFd::new(inbox.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(Error::sys("poll", e)),
            }
            let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
            if ready(&fds[0]) {
                return self.read();
            }
            if let Some(inbox) = inbox.filter(|_| ready(&fds[1])) {
                let received = inbox.next()?;
                if received.signal != Signal::SIGCHLD {
                    return Ok(Event::Interrupted(received.signal));
                }
            }
        }
    }

    fn read(&self) -> Result<Event> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let n = loop {
            match recv(self.0.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(n) => break n,
                Err(Errno::EINTR) => continue,
                // The child died with the message unsent.
                Err(Errno::ECONNRESET) => return Ok(Event::Closed),
                Err(e) => return Err(Error::sys("read the setup channel", e)),
            }
        };
        Ok(match &buf[..n] {
            [] => Event::Closed,
            [b'U'] => Event::Message(ChildMessage::UserNamespaceReady),
            [b'N'] => Event::Message(ChildMessage::NamespacesReady),
            [b'R'] => Event::Message(ChildMessage::Ready),
            [b'E', text @ ..] => Event::Message(ChildMessage::Failed(
                String::from_utf8_lossy(text).into_owned(),
            )),
            other => Event::Message(ChildMessage::Failed(format!(
                "unexpected setup message {:?}",
                String::from_utf8_lossy(other)
            ))),
        })
    }

    /// Lets the child go on after [`ChildMessage::NamespacesReady`].
    pub fn resume(&self) -> Result<()> {
        send(self.0.as_raw_fd(), b"C", MsgFlags::MSG_NOSIGNAL)
            .map(drop)
            .map_err(|e| Error::sys("resume the container process", e))
    }
}

impl ChildEnd {
    /// Sends `message`.
    pub fn send(&self, message: &ChildMessage) -> Result<()> {
        let bytes = match message {
            ChildMessage::UserNamespaceReady => b"U".to_vec(),
            ChildMessage::NamespacesReady => b"N".to_vec(),
            ChildMessage::Ready => b"R".to_vec(),
            ChildMessage::Failed(text) => {
                let mut bytes = b"E".to_vec();
                let text = text.as_bytes();
                bytes.extend_from_slice(&text[..text.len().min(MAX_MESSAGE - 1)]);
                bytes
            }
        };
        send(self.0.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL)
            .map(drop)
            .map_err(|e| Error::sys("write the setup channel", e))
    }

    /// Waits for the parent's [`ParentEnd::resume`]; an error if the parent
    /// is gone.
    pub fn wait_resume(&self) -> Result<()> {
        let mut byte = [0u8; 1];
        loop {
            match recv(self.0.as_raw_fd(), &mut byte, MsgFlags::empty()) {
                Ok(1) if byte[0] == b'C' => return Ok(()),
                Ok(_) => {
                    return Err(Error::sys(
                        "wait for the runtime",
                        std::io::Error::from_raw_os_error(libc::EPIPE),
                    ));
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("wait for the runtime", e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cross_in_both_directions() {
        let (parent, child) = channel().unwrap();
        child.send(&ChildMessage::NamespacesReady).unwrap();
        assert_eq!(
            parent.next(None).unwrap(),
            Event::Message(ChildMessage::NamespacesReady)
        );
        parent.resume().unwrap();
        child.wait_resume().unwrap();
        child
            .send(&ChildMessage::Failed("mount /x: EPERM".into()))
            .unwrap();
        assert_eq!(
            parent.next(None).unwrap(),
            Event::Message(ChildMessage::Failed("mount /x: EPERM".into()))
        );
        drop(child);
        assert_eq!(parent.next(None).unwrap(), Event::Closed);
    }

    /// Runs `test` with the runtime's signals blocked in this thread (and
    /// only this one: the test harness runs others), then restores its mask.
    fn with_inbox(test: impl FnOnce(&SignalInbox)) {
        use crate::signals::SignalMask;
        use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};
        let mut before = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_SETMASK, None, Some(&mut before)).unwrap();
        let inbox = SignalMask::block().unwrap().inbox().unwrap();
        test(&inbox);
        pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&before), None).unwrap();
    }

    #[test]
    fn a_message_wins_over_a_signal_received_at_the_same_time() {
        with_inbox(|inbox| {
            let (parent, child) = channel().unwrap();
            nix::sys::signal::raise(Signal::SIGUSR2).unwrap();
            drop(child);
            assert_eq!(parent.next(Some(inbox)).unwrap(), Event::Closed);
            // The signal stays for the forwarding loop.
            assert_eq!(inbox.next().unwrap().signal, Signal::SIGUSR2);
        });
    }

    #[test]
    fn a_signal_interrupts_the_wait() {
        with_inbox(|inbox| {
            let (parent, _child) = channel().unwrap();
            nix::sys::signal::raise(Signal::SIGUSR2).unwrap();
            assert_eq!(
                parent.next(Some(inbox)).unwrap(),
                Event::Interrupted(Signal::SIGUSR2)
            );
        });
    }

    #[test]
    fn a_parent_gone_fails_the_childs_wait() {
        let (parent, child) = channel().unwrap();
        drop(parent);
        assert!(child.wait_resume().is_err());
    }
}
