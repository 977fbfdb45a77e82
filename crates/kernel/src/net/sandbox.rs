//! `--network sandbox`: the container's IPv4 TCP and UDP sockets live in
//! its own stack process (`oxbox_netstack`), never in the host's stack.
//!
//! The container's kernels inherit the stack's control socket at
//! [`NETSTACK_FD`]; its presence is the mode. A guest TCP socket is a host
//! unix socket the stack handed out (see `oxbox_netstack` for why), so the
//! data calls, readiness, `fork` and `exec` need nothing here: this module
//! tells the stack's sockets from the guest's own unix ones (by their
//! abstract name) and turns the calls that are not data into requests.
//! A UDP socket's data calls are the exception: each datagram travels
//! behind its address, which [`send_datagram`] and [`recv_datagram`] add
//! and strip, for `read` and `write` too. So that those ask nothing of the
//! host, the descriptor table records which descriptors are UDP sockets
//! ([`datagram_id`]), as they are made or arrive, and an exec finds them
//! again ([`find_datagram_sockets`]).

use core::sync::atomic::{AtomicU8, Ordering};

use oxbox_abi::Sysno;
use oxbox_abi::hostcalls::{AF_INET, AF_UNIX, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_SEQPACKET};
use oxbox_abi::layout::{NETSTACK_FD, RESERVED_FD_BASE};
use oxbox_netstack_proto::{self as proto, Addr, Op, Reply, Request};

use crate::Errno;
use crate::fs::fdtable;
use crate::syscall::host_call;

const F_GETFD: u64 = 1;
const F_SETFD: u64 = 2;
const F_GETFL: u64 = 3;
const F_SETFL: u64 = 4;
const O_NONBLOCK: u64 = 0o4000;
const FD_CLOEXEC: u64 = 1;
const O_CLOEXEC: u64 = 0o2000000;
const SOL_SOCKET: u32 = 1;
const SCM_RIGHTS: u32 = 1;
const MSG_NOSIGNAL: u64 = 0x4000;
const MSG_CMSG_CLOEXEC: u64 = 0x4000_0000;
/// Room for the control message of one or two descriptors
/// (`CMSG_SPACE(2 * sizeof(int))`).
const CONTROL_SPACE: usize = 24;

static MODE: AtomicU8 = AtomicU8::new(0);
const OFF: u8 = 1;
const ON: u8 = 2;

/// Whether the container runs on its own stack: the control socket is
/// open (a guest can neither open nor close reserved descriptors).
pub fn enabled() -> bool {
    match MODE.load(Ordering::Relaxed) {
        OFF => false,
        ON => true,
        _ => {
            let on = host_call(Sysno::fcntl, [NETSTACK_FD as u64, F_GETFD, 0, 0, 0, 0]).is_ok();
            MODE.store(if on { ON } else { OFF }, Ordering::Relaxed);
            on
        }
    }
}

/// The stack's id of the socket `fd`, if it is one of the stack's.
pub fn id_of(fd: i32) -> Option<u32> {
    lookup(fd).map(|(id, _)| id)
}

/// The stack's id of the socket `fd` and whether it is a UDP one, if it
/// is one of the stack's.
pub fn lookup(fd: i32) -> Option<(u32, bool)> {
    if !enabled() {
        return None;
    }
    let mut name = [0u8; 112];
    let mut len = name.len() as u32;
    host_call(
        Sysno::getsockname,
        [
            fd as u64,
            name.as_mut_ptr() as u64,
            &mut len as *mut u32 as u64,
            0,
            0,
            0,
        ],
    )
    .ok()?;
    let len = (len as usize).min(name.len());
    if len < 2 || u16::from_le_bytes([name[0], name[1]]) as u32 != AF_UNIX {
        return None;
    }
    let path = &name[2..len];
    proto::parse_name(path).map(|id| (id, proto::is_datagram(path)))
}

fn close(fd: i32) {
    let _ = host_call(Sysno::close, [fd as u64, 0, 0, 0, 0, 0]);
}

/// A control message carrying `fds` (one or two).
fn rights(fds: &[i32]) -> ([u8; CONTROL_SPACE], usize) {
    let mut control = [0u8; CONTROL_SPACE];
    let len = 16 + 4 * fds.len();
    control[..8].copy_from_slice(&(len as u64).to_le_bytes());
    control[8..12].copy_from_slice(&SOL_SOCKET.to_le_bytes());
    control[12..16].copy_from_slice(&SCM_RIGHTS.to_le_bytes());
    for (i, fd) in fds.iter().enumerate() {
        control[16 + 4 * i..20 + 4 * i].copy_from_slice(&fd.to_le_bytes());
    }
    (control, CONTROL_SPACE)
}

/// A `struct msghdr` (as seven words) with no address, the one iovec
/// `iov` and `control_len` bytes of control room at `control`.
fn msghdr(iov: &[u64; 2], control: u64, control_len: usize) -> [u64; 7] {
    [0, 0, iov.as_ptr() as u64, 1, control, control_len as u64, 0]
}

/// Receives one message of at most `buf.len()` bytes on `fd` with at
/// most one descriptor, which comes close-on-exec: (bytes, descriptor).
pub fn recv_with_fd(fd: i32, buf: &mut [u8], flags: u64) -> Result<(usize, Option<i32>), Errno> {
    let mut control = [0u8; CONTROL_SPACE];
    let iov = [buf.as_mut_ptr() as u64, buf.len() as u64];
    let mut hdr = msghdr(&iov, control.as_mut_ptr() as u64, CONTROL_SPACE);
    let n = host_call(
        Sysno::recvmsg,
        [
            fd as u64,
            hdr.as_mut_ptr() as u64,
            flags | MSG_CMSG_CLOEXEC,
            0,
            0,
            0,
        ],
    )? as usize;
    let control_len = hdr[5] as usize;
    let mut passed = None;
    if control_len >= 20 {
        let len = u64::from_le_bytes(control[..8].try_into().expect("8 bytes")) as usize;
        let level = u32::from_le_bytes(control[8..12].try_into().expect("4 bytes"));
        let kind = u32::from_le_bytes(control[12..16].try_into().expect("4 bytes"));
        if level == SOL_SOCKET && kind == SCM_RIGHTS && len >= 20 {
            passed = Some(i32::from_le_bytes(
                control[16..20].try_into().expect("4 bytes"),
            ));
        }
    }
    Ok((n, passed))
}

/// One request to the stack, about the guest's socket `guest` if given:
/// the reply, and the descriptor that came with it (already off the
/// kernel's reserved numbers, close-on-exec).
fn request(request: Request, guest: Option<i32>) -> Result<(Reply, Option<i32>), Errno> {
    let mut pair = [0i32; 2];
    host_call(
        Sysno::socketpair,
        [
            AF_UNIX as u64,
            (SOCK_SEQPACKET | SOCK_CLOEXEC) as u64,
            0,
            pair.as_mut_ptr() as u64,
            0,
            0,
        ],
    )?;
    let [ours, theirs] = pair;
    let message = request.encode();
    let iov = [message.as_ptr() as u64, message.len() as u64];
    let fds = [theirs, guest.unwrap_or(-1)];
    let (control, control_len) = rights(&fds[..1 + guest.is_some() as usize]);
    let hdr = msghdr(&iov, control.as_ptr() as u64, control_len);
    let sent = host_call(
        Sysno::sendmsg,
        [
            NETSTACK_FD as u64,
            hdr.as_ptr() as u64,
            MSG_NOSIGNAL,
            0,
            0,
            0,
        ],
    );
    close(theirs);
    if let Err(e) = sent {
        close(ours);
        crate::kwarn!("the network stack is unreachable: {e:?}");
        return Err(Errno::ENETDOWN);
    }
    let mut raw = [0u8; proto::REPLY_SIZE];
    let received = loop {
        match recv_with_fd(ours, &mut raw, 0) {
            Err(Errno::EINTR) => continue,
            other => break other,
        }
    };
    close(ours);
    let (n, fd) = received?;
    let Some(reply) = Reply::decode(&raw[..n.min(raw.len())]) else {
        if let Some(fd) = fd {
            close(fd);
        }
        return Err(Errno::ENETDOWN);
    };
    let fd = fd.map(fdtable::adopt).transpose()?;
    Ok((reply, fd))
}

/// A request whose reply carries no descriptor: the reply, or its error.
fn call(op: Op, id: u32, args: [u32; 3], addr: Addr, guest: i32) -> Result<Reply, Errno> {
    let (reply, fd) = request(Request { op, id, args, addr }, Some(guest))?;
    if let Some(fd) = fd {
        close(fd);
    }
    match reply.errno {
        0 => Ok(reply),
        e => Err(Errno::new(e as i32)),
    }
}

/// Gives a descriptor from the stack the guest's `SOCK_NONBLOCK` and
/// `SOCK_CLOEXEC` (it arrives close-on-exec and blocking).
fn set_flags(fd: i32, flags: u32) -> Result<(), Errno> {
    if flags & SOCK_NONBLOCK != 0 {
        host_call(Sysno::fcntl, [fd as u64, F_SETFL, O_NONBLOCK, 0, 0, 0])?;
    }
    if flags & SOCK_CLOEXEC == 0 {
        host_call(Sysno::fcntl, [fd as u64, F_SETFD, 0, 0, 0, 0])?;
    }
    Ok(())
}

/// `socket(AF_INET, SOCK_STREAM | flags, 0)`, or `SOCK_DGRAM` when
/// `datagram`.
pub fn socket(flags: u32, datagram: bool) -> Result<i32, Errno> {
    let (reply, fd) = request(
        Request {
            op: Op::Socket,
            id: 0,
            args: [datagram as u32, 0, 0],
            addr: Addr::default(),
        },
        None,
    )?;
    if reply.errno != 0 {
        if let Some(fd) = fd {
            close(fd);
        }
        return Err(Errno::new(reply.errno as i32));
    }
    let fd = fd.ok_or(Errno::ENETDOWN)?;
    if let Err(e) = set_flags(fd, flags) {
        close(fd);
        return Err(e);
    }
    if datagram {
        note_datagram_socket(fd);
    }
    Ok(fd)
}

/// Records `fd` in the descriptor table if it is one of the stack's UDP
/// sockets: for one the stack just handed out or one that arrived with
/// `SCM_RIGHTS`.
pub fn note_datagram_socket(fd: i32) {
    if let Some((id, true)) = lookup(fd) {
        fdtable::record_stack_datagram(fd, id);
    }
}

/// The stack's id of `fd` if it is one of its UDP sockets, whose data
/// calls go through [`send_datagram`] and [`recv_datagram`].
#[inline]
pub fn datagram_id(fd: i32) -> Option<u32> {
    fdtable::stack_datagram(fd).map(|d| d.id)
}

/// Finds the stack's UDP sockets among the descriptors below `below` that
/// an exec kept (the record of them went with the old image's memory; its
/// boot record says how far they reach): one host `poll` tells the open
/// descriptors, each is asked its name.
pub fn find_datagram_sockets(below: u32) {
    const POLLNVAL: u16 = 0x20;
    if below == 0 || !enabled() {
        return;
    }
    let count = below.min(RESERVED_FD_BASE as u32) as usize;
    // struct pollfd { int fd; short events; short revents; }, events 0:
    // only POLLNVAL (not open) or hang-ups come back.
    let mut polled: alloc::vec::Vec<[i32; 2]> = (0..count as i32).map(|fd| [fd, 0]).collect();
    if host_call(
        Sysno::poll,
        [polled.as_mut_ptr() as u64, count as u64, 0, 0, 0, 0],
    )
    .is_err()
    {
        return;
    }
    for [fd, events] in polled {
        let revents = (events as u32 >> 16) as u16;
        if revents & POLLNVAL == 0 {
            note_datagram_socket(fd);
        }
    }
}

/// The IPv4 address of a guest's `struct sockaddr` (`bytes`, as long as
/// the guest said): `EINVAL` if too short, `EAFNOSUPPORT` if not IPv4.
pub fn inet_addr(bytes: &[u8]) -> Result<Addr, Errno> {
    if bytes.len() < 16 {
        return Err(Errno::EINVAL);
    }
    if u16::from_le_bytes([bytes[0], bytes[1]]) as u32 != AF_INET {
        return Err(Errno::EAFNOSUPPORT);
    }
    Ok(Addr::from_sockaddr_in(bytes))
}

pub fn bind(fd: i32, id: u32, addr: Addr) -> Result<(), Errno> {
    call(Op::Bind, id, [0; 3], addr, fd).map(drop)
}

/// `connect`: waits for the connection unless `fd` is non-blocking
/// (`EINPROGRESS`, and the socket becomes writable once it is up).
pub fn connect(fd: i32, id: u32, addr: Addr) -> Result<(), Errno> {
    let flags = host_call(Sysno::fcntl, [fd as u64, F_GETFL, 0, 0, 0, 0])?;
    let nonblocking = (flags & O_NONBLOCK != 0) as u32;
    call(Op::Connect, id, [nonblocking, 0, 0], addr, fd)?;
    fdtable::set_stack_datagram_connected(fd, true);
    Ok(())
}

/// `connect` to an `AF_UNSPEC` address on the UDP socket `fd`.
pub fn disconnect(fd: i32, id: u32) -> Result<(), Errno> {
    call(Op::Disconnect, id, [0; 3], Addr::default(), fd)?;
    fdtable::set_stack_datagram_connected(fd, false);
    Ok(())
}

/// `listen`: the stack's listening descriptor takes the place of `fd`,
/// with its descriptor and status flags.
pub fn listen(fd: i32, id: u32, backlog: i32) -> Result<(), Errno> {
    let backlog = backlog.max(0) as u32;
    let (reply, new) = request(
        Request {
            op: Op::Listen,
            id,
            args: [backlog, 0, 0],
            addr: Addr::default(),
        },
        Some(fd),
    )?;
    if reply.errno != 0 {
        if let Some(new) = new {
            close(new);
        }
        return Err(Errno::new(reply.errno as i32));
    }
    let Some(new) = new else {
        return Ok(());
    };
    let result = (|| {
        let status = host_call(Sysno::fcntl, [fd as u64, F_GETFL, 0, 0, 0, 0])?;
        let cloexec = host_call(Sysno::fcntl, [fd as u64, F_GETFD, 0, 0, 0, 0])? & FD_CLOEXEC;
        host_call(
            Sysno::fcntl,
            [new as u64, F_SETFL, status & O_NONBLOCK, 0, 0, 0],
        )?;
        let dup_flags = if cloexec != 0 { O_CLOEXEC } else { 0 };
        host_call(Sysno::dup3, [new as u64, fd as u64, dup_flags, 0, 0, 0]).map(drop)
    })();
    close(new);
    result
}

/// `accept4` on a listening socket of the stack: the next connection it
/// handed over, and the peer's address.
pub fn accept(fd: i32, flags: u32) -> Result<(i32, Addr), Errno> {
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u8; proto::ACCEPTED_SIZE];
    let (n, new) = recv_with_fd(fd, &mut raw, 0)?;
    let Some(new) = new else {
        return Err(Errno::ECONNABORTED);
    };
    let new = fdtable::adopt(new)?;
    let Some((peer, _)) = proto::decode_accepted(&raw[..n.min(raw.len())]) else {
        close(new);
        return Err(Errno::ECONNABORTED);
    };
    if let Err(e) = set_flags(new, flags) {
        close(new);
        return Err(e);
    }
    Ok((new, peer))
}

/// `getsockname` (`peer` false) or `getpeername`.
pub fn name(fd: i32, id: u32, peer: bool) -> Result<Addr, Errno> {
    let op = if peer { Op::PeerName } else { Op::LocalName };
    call(op, id, [0; 3], Addr::default(), fd).map(|r| r.addr)
}

pub fn set_option(fd: i32, id: u32, level: u32, name: u32, value: u32) -> Result<(), Errno> {
    call(Op::SetOption, id, [level, name, value], Addr::default(), fd).map(drop)
}

pub fn get_option(fd: i32, id: u32, level: u32, name: u32) -> Result<u32, Errno> {
    call(Op::GetOption, id, [level, name, 0], Addr::default(), fd).map(|r| r.value)
}

/// `FIONREAD` on the UDP socket `fd`: the size of the next datagram
/// (without its header), 0 when none waits. (The host's answer for a
/// `SOCK_SEQPACKET` end would be every queued message, headers and all.)
pub fn next_datagram_len(fd: i32) -> Result<u64, Errno> {
    const MSG_PEEK: u64 = 2;
    const MSG_TRUNC: u64 = 0x20;
    const MSG_DONTWAIT: u64 = 0x40;
    let mut header = [0u8; proto::DATAGRAM_HEADER];
    let peeked = host_call(
        Sysno::recvfrom,
        [
            fd as u64,
            header.as_mut_ptr() as u64,
            header.len() as u64,
            MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT,
            0,
            0,
        ],
    );
    match peeked {
        Ok(len) => Ok(len.saturating_sub(header.len() as u64)),
        Err(Errno::EAGAIN) => Ok(0),
        Err(e) => Err(e),
    }
}

/// Sends one datagram on the UDP socket `fd` to `to` (the connected peer
/// when `None`: `EDESTADDRREQ` without one, as Linux) from the guest's
/// checked iovecs `iov`, behind its header in kernel memory.
pub fn send_datagram(
    fd: i32,
    id: u32,
    to: Option<Addr>,
    iov: &[[u64; 2]],
    flags: u64,
) -> Result<u64, Errno> {
    if to.is_none() && !fdtable::stack_datagram(fd).is_some_and(|d| d.connected) {
        if name(fd, id, true).is_err() {
            return Err(Errno::EDESTADDRREQ);
        }
        fdtable::set_stack_datagram_connected(fd, true);
    }
    let header = proto::encode_datagram_header(to.unwrap_or_default());
    let mut host_iov = alloc::vec::Vec::with_capacity(iov.len() + 1);
    host_iov.push([header.as_ptr() as u64, header.len() as u64]);
    host_iov.extend_from_slice(iov);
    let hdr = [
        0,
        0,
        host_iov.as_ptr() as u64,
        host_iov.len() as u64,
        0,
        0,
        0,
    ];
    let n = host_call(
        Sysno::sendmsg,
        [
            fd as u64,
            hdr.as_ptr() as u64,
            flags | MSG_NOSIGNAL,
            0,
            0,
            0,
        ],
    )?;
    Ok(n.saturating_sub(header.len() as u64))
}

/// Receives one datagram on the UDP socket `fd` into the guest's checked
/// iovecs `iov`: (payload bytes, source, the host's `msg_flags`, such as
/// `MSG_TRUNC`).
pub fn recv_datagram(fd: i32, iov: &[[u64; 2]], flags: u64) -> Result<(u64, Addr, u32), Errno> {
    let mut header = [0u8; proto::DATAGRAM_HEADER];
    let mut host_iov = alloc::vec::Vec::with_capacity(iov.len() + 1);
    host_iov.push([header.as_mut_ptr() as u64, header.len() as u64]);
    host_iov.extend_from_slice(iov);
    let mut hdr = [
        0,
        0,
        host_iov.as_ptr() as u64,
        host_iov.len() as u64,
        0,
        0,
        0,
    ];
    let n = host_call(
        Sysno::recvmsg,
        [fd as u64, hdr.as_mut_ptr() as u64, flags, 0, 0, 0],
    )?;
    let from = proto::decode_datagram_header(&header).unwrap_or_default();
    Ok((n.saturating_sub(header.len() as u64), from, hdr[6] as u32))
}
