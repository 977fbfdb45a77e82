//! Host unix socket calls of the stack: descriptors passed with
//! `SCM_RIGHTS`, the guest ends it hands out, non-blocking transfers.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr,
    bind, recvmsg, sendmsg, socketpair,
};

use crate::proto;

/// Flags of every transfer on a socket a guest also holds: never block
/// (the stack serves everyone from one thread), never raise `SIGPIPE`.
pub const QUIET: MsgFlags = MsgFlags::MSG_DONTWAIT.union(MsgFlags::MSG_NOSIGNAL);

/// A new socketpair of `ty` whose guest end is named for socket `id`:
/// (stack end, guest end, the guest end's inode).
pub fn guest_pair(ty: SockType, id: u32, generation: u32) -> io::Result<(OwnedFd, OwnedFd, u64)> {
    let (ours, theirs) = socketpair(AddressFamily::Unix, ty, None, SockFlag::SOCK_CLOEXEC)?;
    let mut name = [0u8; 40];
    let len = proto::socket_name(id, generation, &mut name);
    // The name is abstract: its leading NUL is the unix address's marker.
    bind(theirs.as_raw_fd(), &UnixAddr::new_abstract(&name[1..len])?)?;
    let ino = inode(theirs.as_fd())?;
    Ok((ours, theirs, ino))
}

/// The inode of the socket behind `fd`.
pub fn inode(fd: BorrowedFd<'_>) -> io::Result<u64> {
    Ok(nix::sys::stat::fstat(fd)?.st_ino)
}

/// Sends `data` with `fds` attached.
pub fn send_with(socket: BorrowedFd<'_>, data: &[u8], fds: &[RawFd]) -> Result<usize, Errno> {
    let rights = [ControlMessage::ScmRights(fds)];
    let control: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(data)],
        control,
        QUIET,
        None,
    )
}

/// One message of at most `buf.len()` bytes and the descriptors that came
/// with it (at most two: more are closed). `Ok(None)` at end of file.
pub fn recv_with(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
) -> Result<Option<(usize, Vec<OwnedFd>)>, Errno> {
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(received) = cmsg {
            // SAFETY: the host just created these descriptors for this
            // process with the message; nothing else owns them.
            fds.extend(
                received
                    .into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    let truncated = msg
        .flags
        .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
    if msg.bytes == 0 && fds.is_empty() {
        return Ok(None);
    }
    if truncated {
        fds.clear();
        return Ok(Some((usize::MAX, fds)));
    }
    fds.truncate(2);
    Ok(Some((msg.bytes, fds)))
}

/// Fills the send buffer of the guest's end `guest` of a socketpair, so
/// that the guest finds its socket not writable, as a TCP socket whose
/// connection is not established yet; returns the bytes written, which
/// the stack discards from its end once the connection is up.
pub fn fill(guest: BorrowedFd<'_>) -> usize {
    const LIMIT: usize = 16 << 20;
    let chunk = [0u8; 16 << 10];
    let mut total = 0;
    while total < LIMIT {
        match nix::sys::socket::send(guest.as_raw_fd(), &chunk, QUIET) {
            Ok(n) if n > 0 => total += n,
            _ => break,
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

    #[test]
    fn guest_ends_carry_their_name_and_descriptors_pass() {
        let (ours, theirs, ino) = guest_pair(SockType::Stream, 42, 1).unwrap();
        let name: UnixAddr = nix::sys::socket::getsockname(theirs.as_raw_fd()).unwrap();
        assert_eq!(
            proto::parse_name(&[&[0u8][..], name.as_abstract().unwrap()].concat()),
            Some(42)
        );
        assert_eq!(inode(theirs.as_fd()).unwrap(), ino);
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        send_with(a.as_fd(), b"hello", &[theirs.as_raw_fd()]).unwrap();
        let mut buf = [0u8; 16];
        let (n, fds) = recv_with(b.as_fd(), &mut buf).unwrap().unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(inode(fds[0].as_fd()).unwrap(), ino);
        drop(ours);
    }

    #[test]
    fn a_filled_guest_end_is_not_writable_until_drained() {
        let (ours, theirs, _) = guest_pair(SockType::Stream, 1, 0).unwrap();
        let filled = fill(theirs.as_fd());
        assert!(filled > 0);
        let writable = |fd: &OwnedFd| {
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
            poll(&mut fds, PollTimeout::ZERO).unwrap();
            fds[0].revents().unwrap().contains(PollFlags::POLLOUT)
        };
        assert!(!writable(&theirs));
        let mut left = filled;
        let mut buf = vec![0u8; 64 << 10];
        while left > 0 {
            let n = nix::sys::socket::recv(ours.as_raw_fd(), &mut buf, QUIET).unwrap();
            left -= n;
        }
        assert!(writable(&theirs));
    }
}
