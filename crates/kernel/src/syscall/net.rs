//! Socket syscalls, over host sockets in the container's network namespace
//! (see [`crate::net`] for what the kernel checks and translates).
//!
//! Data never passes through the kernel: send and receive buffers are the
//! guest's own, checked to lie outside the kernel's memory and handed to
//! the host. Addresses, `struct msghdr`, control messages and option
//! values are copied into kernel memory, so the host only ever reads what
//! the kernel checked. Blocking, `O_NONBLOCK`, `MSG_*` flags, readiness in
//! poll/epoll and `SIGPIPE` (raised by the host on the sending thread and
//! handled like any other guest signal) are the host's.
//!
//! With `--network sandbox` ([`crate::net::sandbox`]), IPv4 TCP sockets
//! are host unix sockets the container's own stack handed out: the data
//! calls stay as they are, and the calls below that mean something else
//! for such a socket (bind, connect, listen, accept, names, options) ask
//! the stack; UDP sockets' `send*`/`recv*` go through
//! [`sandbox::send_datagram`] and [`sandbox::recv_datagram`] for the
//! address each datagram carries.

use alloc::vec;
use alloc::vec::Vec;

use oxbox_abi::Sysno;
use oxbox_abi::hostcalls::{
    AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET,
};

use super::{Call, fs, host_call};
use crate::fs::fdtable::guest_fd;
use crate::mm::user;
use crate::net::cmsg::{self, Ids};
use crate::net::sockaddr::{self, AddrOut, SOCKADDR_MAX, SockAddr};
use crate::net::{family, options, sandbox};
use crate::{Errno, SysResult, task};

const SOCK_RAW: u32 = 3;
const MSG_CTRUNC: u32 = 0x8;
const MSG_DONTWAIT: u64 = 0x40;
const MSG_WAITFORONE: u64 = 0x1_0000;
/// Linux's `UIO_MAXIOV`: most iovecs in a message, most messages in one
/// `sendmmsg`/`recvmmsg`.
const UIO_MAXIOV: u64 = 1024;
/// Largest control buffer the kernel copies in (Linux bounds it by the
/// socket's `optmem_max`, failing with `ENOBUFS`) or offers the host.
const CONTROL_MAX: u64 = 64 << 10;
/// Largest option value copied in or out.
const OPTION_MAX: usize = 1024;

fn close(fd: i32) {
    let _ = host_call(Sysno::close, [fd as u64, 0, 0, 0, 0, 0]);
}

/// Runs a handler on the call's descriptor (its first argument). Linux
/// looks the descriptor up before it reads the other arguments, so when
/// the handler finds an argument wrong (`EFAULT`, `EINVAL`) the error of a
/// descriptor that is not open, `EBADF`, comes first; the extra host call
/// is made on those error paths only.
fn on_socket(call: &Call, handler: impl FnOnce(i32) -> SysResult) -> SysResult {
    const F_GETFD: u64 = 1;
    let fd = guest_fd(call.arg(0))?;
    handler(fd).map_err(|e| match e {
        Errno::EFAULT | Errno::EINVAL
            if host_call(Sysno::fcntl, [fd as u64, F_GETFD, 0, 0, 0, 0]) == Err(Errno::EBADF) =>
        {
            Errno::EBADF
        }
        e => e,
    })
}

/// socket(family, type, protocol).
pub fn sys_socket(call: &Call) -> SysResult {
    let (family, ty, protocol) =
        family::host_socket(call.arg(0) as u32, call.arg(1) as u32, call.arg(2) as u32)?;
    if sandbox::enabled() && (family == AF_INET || family == AF_INET6) {
        return sandbox_socket(family, ty);
    }
    let fd = host_call(
        Sysno::socket,
        [family as u64, ty as u64, protocol as u64, 0, 0, 0],
    )?;
    Ok(crate::fs::fdtable::adopt(fd as i32)? as u64)
}

/// An IPv4 or IPv6 socket of the container's own stack: TCP and UDP over
/// IPv4 only so far (a kernel without IPv6 says `EAFNOSUPPORT`).
fn sandbox_socket(family: u32, ty: u32) -> SysResult {
    const SOCK_TYPE_MASK: u32 = 0xf;
    if family == AF_INET6 {
        crate::kinfo!("--network sandbox: IPv6 sockets are not implemented yet");
        return Err(Errno::EAFNOSUPPORT);
    }
    let datagram = match ty & SOCK_TYPE_MASK {
        SOCK_STREAM => false,
        SOCK_DGRAM => true,
        _ => {
            crate::kinfo!("--network sandbox: only TCP and UDP sockets are implemented yet");
            return Err(Errno::EPROTONOSUPPORT);
        }
    };
    Ok(sandbox::socket(ty & !SOCK_TYPE_MASK, datagram)? as u64)
}

/// socketpair(family, type, protocol, sv): unix sockets only, as on Linux.
pub fn sys_socketpair(call: &Call) -> SysResult {
    let (family, ty, protocol) =
        family::host_socket(call.arg(0) as u32, call.arg(1) as u32, call.arg(2) as u32)?;
    if family != AF_UNIX {
        return Err(Errno::EOPNOTSUPP);
    }
    let mut fds = [0i32; 2];
    host_call(
        Sysno::socketpair,
        [
            family as u64,
            ty as u64,
            protocol as u64,
            fds.as_mut_ptr() as u64,
            0,
            0,
        ],
    )?;
    fs::hand_out_pair(fds, call.arg(3))
}

/// bind(fd, addr, len) and connect(fd, addr, len).
pub fn sys_bind_connect(call: &Call) -> SysResult {
    on_socket(call, |fd| {
        let addr = SockAddr::read(call.arg(1), call.arg(2))?;
        let bind = call.nr == Sysno::bind as u64;
        if let Some(id) = sandbox::id_of(fd) {
            const AF_UNSPEC: [u8; 2] = [0, 0];
            if !bind && addr.bytes().starts_with(&AF_UNSPEC) && sandbox::datagram_id(fd).is_some() {
                return sandbox::disconnect(fd, id).map(|()| 0);
            }
            let inet = sandbox::inet_addr(addr.bytes())?;
            return if bind {
                sandbox::bind(fd, id, inet)
            } else {
                sandbox::connect(fd, id, inet)
            }
            .map(|()| 0);
        }
        addr.check_unix_route(if bind {
            Errno::EADDRINUSE
        } else {
            Errno::ECONNREFUSED
        })?;
        let nr = if bind { Sysno::bind } else { Sysno::connect };
        let (ptr, len) = addr.host_args();
        host_call(nr, [fd as u64, ptr, len, 0, 0, 0])
    })
}

/// listen(fd, backlog) and shutdown(fd, how): numbers only.
pub fn sys_socket_plain(call: &Call) -> SysResult {
    let fd = guest_fd(call.arg(0))?;
    if call.nr == Sysno::listen as u64
        && let Some(id) = sandbox::id_of(fd)
    {
        return sandbox::listen(fd, id, call.int(1)).map(|()| 0);
    }
    call.forward()
}

/// accept(fd, addr, len) and accept4(fd, addr, len, flags).
pub fn sys_accept(call: &Call) -> SysResult {
    on_socket(call, |fd| {
        let flags = if call.nr == Sysno::accept4 as u64 {
            call.arg(3)
        } else {
            0
        };
        let mut peer = AddrOut::new(call.arg(1), call.arg(2), true)?;
        if let Some(_id) = sandbox::id_of(fd) {
            let (new, from) = sandbox::accept(fd, flags as u32)?;
            if let Some(peer) = peer.as_mut() {
                peer.set(&from.to_sockaddr_in());
                if let Err(e) = peer.copy_out() {
                    close(new);
                    return Err(e);
                }
            }
            return Ok(new as u64);
        }
        let (addr, len) = sockaddr::host_ptrs(&mut peer);
        let new = crate::fs::fdtable::adopt(host_call(
            Sysno::accept4,
            [fd as u64, addr, len, flags, 0, 0],
        )? as i32)?;
        if let Some(Err(e)) = peer.as_ref().map(AddrOut::copy_out) {
            close(new);
            return Err(e);
        }
        Ok(new as u64)
    })
}

/// getsockname(fd, addr, len) and getpeername(fd, addr, len).
pub fn sys_getname(call: &Call) -> SysResult {
    on_socket(call, |fd| {
        let mut name = AddrOut::new(call.arg(1), call.arg(2), false)?;
        if let Some(id) = sandbox::id_of(fd) {
            let peer = call.nr == Sysno::getpeername as u64;
            let addr = sandbox::name(fd, id, peer)?;
            if let Some(name) = name.as_mut() {
                name.set(&addr.to_sockaddr_in());
                name.copy_out()?;
            }
            return Ok(0);
        }
        let (addr, len) = sockaddr::host_ptrs(&mut name);
        let nr = Sysno::new(call.nr as usize).ok_or(Errno::ENOSYS)?;
        host_call(nr, [fd as u64, addr, len, 0, 0, 0])?;
        name.as_ref().map_or(Ok(()), AddrOut::copy_out)?;
        Ok(0)
    })
}

/// sendto(fd, buf, len, flags, addr, addrlen).
pub fn sys_sendto(call: &Call) -> SysResult {
    on_socket(call, |fd| {
        user::check_buffer(call.arg(1), call.arg(2))?;
        if let Some(id) = sandbox::datagram_id(fd) {
            let to = if call.arg(4) == 0 {
                None
            } else {
                Some(sandbox::inet_addr(
                    SockAddr::read(call.arg(4), call.arg(5))?.bytes(),
                )?)
            };
            let iov = [[call.arg(1), call.arg(2)]];
            return sandbox::send_datagram(fd, id, to, &iov, call.arg(3));
        }
        let to = if call.arg(4) == 0 {
            None
        } else {
            let addr = SockAddr::read(call.arg(4), call.arg(5))?;
            addr.check_unix_route(Errno::ECONNREFUSED)?;
            Some(addr)
        };
        let (addr, len) = to.as_ref().map_or((0, 0), SockAddr::host_args);
        host_call(
            Sysno::sendto,
            [fd as u64, call.arg(1), call.arg(2), call.arg(3), addr, len],
        )
    })
}

/// recvfrom(fd, buf, len, flags, addr, addrlen).
pub fn sys_recvfrom(call: &Call) -> SysResult {
    on_socket(call, |fd| {
        user::check_buffer(call.arg(1), call.arg(2))?;
        let mut from = AddrOut::new(call.arg(4), call.arg(5), true)?;
        if sandbox::datagram_id(fd).is_some() {
            let iov = [[call.arg(1), call.arg(2)]];
            let (n, source, _) = sandbox::recv_datagram(fd, &iov, call.arg(3))?;
            if let Some(from) = from.as_mut() {
                from.set(&source.to_sockaddr_in());
                from.copy_out()?;
            }
            return Ok(n);
        }
        let (addr, len) = sockaddr::host_ptrs(&mut from);
        let n = host_call(
            Sysno::recvfrom,
            [fd as u64, call.arg(1), call.arg(2), call.arg(3), addr, len],
        )?;
        from.as_ref().map_or(Ok(()), AddrOut::copy_out)?;
        Ok(n)
    })
}

/// An `int` socket option of `fd`, read from the host.
fn host_int_option(fd: i32, level: u32, name: u32) -> Result<u32, Errno> {
    let mut value = 0u32;
    let mut len = 4u32;
    host_call(
        Sysno::getsockopt,
        [
            fd as u64,
            level as u64,
            name as u64,
            &mut value as *mut u32 as u64,
            &mut len as *mut u32 as u64,
            0,
        ],
    )?;
    Ok(value)
}

/// Fails with what the host says of `fd` if it is not a socket (`EBADF`,
/// `ENOTSOCK`), else with `err`.
fn socket_error(fd: i32, err: Errno) -> Errno {
    match host_int_option(fd, SOL_SOCKET, options::SO_TYPE) {
        Err(host) => host,
        Ok(_) => err,
    }
}

/// setsockopt(fd, level, name, value, len).
pub fn sys_setsockopt(call: &Call) -> SysResult {
    on_socket(call, |fd| {
        let (level, name) = (call.arg(1) as u32, call.arg(2) as u32);
        if !options::allowed(level, name) {
            return Err(socket_error(fd, Errno::ENOPROTOOPT));
        }
        let len = call.int(4);
        if len < 0 {
            return Err(Errno::EINVAL);
        }
        let value = user::read_bytes(call.arg(3), (len as usize).min(OPTION_MAX))?;
        if let Some(id) = sandbox::id_of(fd) {
            // The options the stack knows are all `int`s.
            let Some(word) = value.get(..4) else {
                return Err(Errno::EINVAL);
            };
            let word = u32::from_le_bytes(word.try_into().expect("4 bytes"));
            return sandbox::set_option(fd, id, level, name, word).map(|()| 0);
        }
        host_call(
            Sysno::setsockopt,
            [
                fd as u64,
                level as u64,
                name as u64,
                value.as_ptr() as u64,
                value.len() as u64,
                0,
            ],
        )
    })
}

/// getsockopt(fd, level, name, value, len).
pub fn sys_getsockopt(call: &Call) -> SysResult {
    on_socket(call, |fd| {
        let (level, name) = (call.arg(1) as u32, call.arg(2) as u32);
        let mut word = [0u8; 4];
        user::copy_in(&mut word, call.arg(4))?;
        let capacity = i32::from_le_bytes(word);
        if !options::allowed(level, name) {
            return Err(socket_error(fd, Errno::ENOPROTOOPT));
        }
        if capacity < 0 {
            return Err(Errno::EINVAL);
        }
        if let Some(id) = sandbox::id_of(fd) {
            let value = sandbox::get_option(fd, id, level, name)?.to_le_bytes();
            let len = (capacity as usize).min(value.len());
            user::copy_out(call.arg(3), &value[..len])?;
            user::write_u32(call.arg(4), len as u32)?;
            return Ok(0);
        }
        if level == SOL_SOCKET && name == options::SO_PEERGROUPS {
            return peer_groups(fd, capacity as u32, call.arg(3), call.arg(4));
        }
        let mut value = vec![0u8; (capacity as usize).min(OPTION_MAX)];
        let mut len = value.len() as u32;
        host_call(
            Sysno::getsockopt,
            [
                fd as u64,
                level as u64,
                name as u64,
                value.as_mut_ptr() as u64,
                &mut len as *mut u32 as u64,
                0,
            ],
        )?;
        let len = (len as usize).min(value.len());
        if level == SOL_SOCKET && name == options::SO_PEERCRED && len >= 12 {
            // struct ucred: the pid is right already (pid namespace); the ids
            // are the container's.
            let c = task::container();
            value[4..8].copy_from_slice(&c.uid.to_le_bytes());
            value[8..12].copy_from_slice(&c.gid.to_le_bytes());
        }
        if level == SOL_SOCKET
            && name == options::SO_TYPE
            && len == 4
            && value[..4] == SOCK_DGRAM.to_le_bytes()
            && host_int_option(fd, SOL_SOCKET, options::SO_DOMAIN) == Ok(AF_NETLINK)
        {
            // The host's netlink socket is a datagram one made for the guest's
            // SOCK_RAW (see `net::family`), the type netlink users create.
            value[..4].copy_from_slice(&SOCK_RAW.to_le_bytes());
        }
        user::copy_out(call.arg(3), &value[..len])?;
        user::write_u32(call.arg(4), len as u32)?;
        Ok(0)
    })
}

/// `SO_PEERGROUPS`: the peer is a process of the container, whose only
/// group is the container's (what `getgroups` says); the host's answer
/// only tells whether there is a peer. Too small a buffer is `ERANGE`
/// with the length needed, as on Linux.
fn peer_groups(fd: i32, capacity: u32, value: u64, len_ptr: u64) -> SysResult {
    let mut host_groups = [0u32; 256];
    let mut len = core::mem::size_of_val(&host_groups) as u32;
    match host_call(
        Sysno::getsockopt,
        [
            fd as u64,
            SOL_SOCKET as u64,
            options::SO_PEERGROUPS as u64,
            host_groups.as_mut_ptr() as u64,
            &mut len as *mut u32 as u64,
            0,
        ],
    ) {
        Ok(_) | Err(Errno::ERANGE) => {}
        Err(e) => return Err(e),
    }
    let gid = task::container().gid.to_le_bytes();
    user::write_u32(len_ptr, gid.len() as u32)?;
    if (capacity as usize) < gid.len() {
        return Err(Errno::ERANGE);
    }
    user::copy_out(value, &gid)?;
    Ok(0)
}

/// The socket ioctls of `oxbox_abi::hostcalls::SOCKET_IOCTLS` on `fd`,
/// with the argument copied through kernel memory: a `struct ifreq` for
/// the interface queries, a `struct ifconf` and its buffer for
/// `SIOCGIFCONF`, an `int` for the others.
pub fn ioctl(fd: i32, request: u32, arg: u64) -> SysResult {
    const SIOCGIFCONF: u32 = 0x8912;
    const IFREQ_SIZE: usize = 40;
    let forward = |ptr: u64| host_call(Sysno::ioctl, [fd as u64, request as u64, ptr, 0, 0, 0]);
    if request == SIOCGIFCONF {
        return ifconf(arg, forward);
    }
    let size = if (0x8910..0x8950).contains(&request) {
        IFREQ_SIZE
    } else {
        4
    };
    let mut value = user::read_bytes(arg, size)?;
    let ret = forward(value.as_mut_ptr() as u64)?;
    user::copy_out(arg, &value)?;
    Ok(ret)
}

/// `SIOCGIFCONF`: `struct ifconf` is a length and a pointer to an array of
/// `struct ifreq` (null asks for the length needed).
fn ifconf(arg: u64, forward: impl Fn(u64) -> SysResult) -> SysResult {
    let raw = user::read_bytes(arg, 16)?;
    let len = i32::from_le_bytes(raw[..4].try_into().expect("4 bytes"));
    let buf = u64::from_le_bytes(raw[8..].try_into().expect("8 bytes"));
    let mut room = vec![
        0u8;
        if buf == 0 {
            0
        } else {
            len.clamp(0, 1 << 16) as usize
        }
    ];
    let mut host = [0u8; 16];
    host[..4].copy_from_slice(&(room.len() as i32).to_le_bytes());
    if buf != 0 {
        host[8..].copy_from_slice(&(room.as_mut_ptr() as u64).to_le_bytes());
    }
    let ret = forward(host.as_mut_ptr() as u64)?;
    let filled = i32::from_le_bytes(host[..4].try_into().expect("4 bytes"));
    if buf != 0 {
        user::copy_out(buf, &room[..(filled.max(0) as usize).min(room.len())])?;
    }
    user::copy_out(arg, &filled.to_le_bytes())?;
    Ok(ret)
}

/// Field offsets of `struct msghdr` (56 bytes).
const MSG_NAME: usize = 0;
const MSG_NAMELEN: usize = 8;
const MSG_IOV: usize = 16;
const MSG_IOVLEN: usize = 24;
const MSG_CONTROL: usize = 32;
const MSG_CONTROLLEN: usize = 40;
const MSG_FLAGS: usize = 48;
const MSGHDR_SIZE: usize = 56;
/// `struct mmsghdr`: a msghdr and the length transferred.
const MMSGHDR_SIZE: u64 = 64;

/// A guest `struct msghdr`, read once.
struct GuestMsg {
    addr: u64,
    raw: [u8; MSGHDR_SIZE],
}

impl GuestMsg {
    fn read(addr: u64) -> Result<GuestMsg, Errno> {
        let mut raw = [0u8; MSGHDR_SIZE];
        user::copy_in(&mut raw, addr)?;
        Ok(GuestMsg { addr, raw })
    }

    /// The guest address of the field at offset `at` (wrapping: a wrapped
    /// address faults like any other bad one).
    fn field(&self, at: usize) -> u64 {
        self.addr.wrapping_add(at as u64)
    }

    fn word(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.raw[at..at + 8].try_into().expect("8 bytes"))
    }

    /// `msg_namelen` as Linux takes it: 0 without a name, at most the size
    /// of `sockaddr_storage`, `EINVAL` if negative.
    fn name_len(&self) -> Result<u32, Errno> {
        let len = self.word(MSG_NAMELEN) as i32;
        if self.word(MSG_NAME) == 0 {
            return Ok(0);
        }
        if len < 0 {
            return Err(Errno::EINVAL);
        }
        Ok(len as u32)
    }

    /// The iovecs, checked, as the host's array.
    fn iovecs(&self) -> Result<Vec<[u64; 2]>, Errno> {
        let count = self.word(MSG_IOVLEN);
        if count > UIO_MAXIOV {
            return Err(Errno::EMSGSIZE);
        }
        Ok(user::read_iovecs(self.word(MSG_IOV), count)?
            .into_iter()
            .map(|(base, len)| [base, len])
            .collect())
    }

    /// The control messages of a message to send, copied in: `EFAULT` if
    /// unreadable (a null `msg_control` included), `ENOBUFS` past the
    /// kernel's limit.
    fn control_to_send(&self) -> Result<Vec<u8>, Errno> {
        let len = self.word(MSG_CONTROLLEN);
        if len > CONTROL_MAX {
            return Err(Errno::ENOBUFS);
        }
        user::read_bytes(self.word(MSG_CONTROL), len as usize)
    }

    /// Room for received control messages: none without a buffer (the host
    /// then reports `MSG_CTRUNC`), at most the kernel's limit (far more than
    /// the largest message, 253 descriptors).
    fn control_room(&self) -> usize {
        if self.word(MSG_CONTROL) == 0 {
            return 0;
        }
        self.word(MSG_CONTROLLEN).min(CONTROL_MAX) as usize
    }
}

/// The host's `struct msghdr` for one call (flags 0): `name` and
/// `control` are (pointer, length) pairs of kernel buffers the caller
/// keeps alive until the host returns.
fn host_msghdr(name: (u64, u32), iov: &[[u64; 2]], control: (u64, usize)) -> [u64; 7] {
    let control = if control.1 == 0 { (0, 0) } else { control };
    [
        name.0,
        name.1 as u64,
        iov.as_ptr() as u64,
        iov.len() as u64,
        control.0,
        control.1 as u64,
        0,
    ]
}

/// The sending process's identity, as its credentials must say.
fn own_ids() -> Ids {
    let c = task::container();
    Ids {
        pid: task::pid(),
        uid: c.uid,
        gid: c.gid,
    }
}

/// One `sendmsg` of the guest message at `msg_addr`.
fn send_one(fd: i32, msg_addr: u64, flags: u64) -> SysResult {
    let msg = GuestMsg::read(msg_addr)?;
    let name_len = msg.name_len()?;
    if let Some(id) = sandbox::datagram_id(fd) {
        let to = if name_len == 0 {
            None
        } else {
            let addr =
                SockAddr::read(msg.word(MSG_NAME), name_len.min(SOCKADDR_MAX as u32) as u64)?;
            Some(sandbox::inet_addr(addr.bytes())?)
        };
        return sandbox::send_datagram(fd, id, to, &msg.iovecs()?, flags);
    }
    let name = if name_len == 0 {
        None
    } else {
        let addr = SockAddr::read(msg.word(MSG_NAME), name_len.min(SOCKADDR_MAX as u32) as u64)?;
        addr.check_unix_route(Errno::ECONNREFUSED)?;
        Some(addr)
    };
    let iov = msg.iovecs()?;
    let guest_control = msg.control_to_send()?;
    let control = cmsg::outgoing(&guest_control, own_ids(), |fd| guest_fd(fd as u64).is_ok())?;
    let name = name.as_ref().map_or((0, 0), |a| {
        let (ptr, len) = a.host_args();
        (ptr, len as u32)
    });
    let hdr = host_msghdr(name, &iov, (control.as_ptr() as u64, control.len()));
    host_call(
        Sysno::sendmsg,
        [fd as u64, hdr.as_ptr() as u64, flags, 0, 0, 0],
    )
}

/// One `recvmsg` into the guest message at `msg_addr`.
fn recv_one(fd: i32, msg_addr: u64, flags: u64) -> SysResult {
    let msg = GuestMsg::read(msg_addr)?;
    let name_len = msg.name_len()?;
    let mut name = (msg.word(MSG_NAME) != 0)
        .then(|| AddrOut::with_capacity(msg.word(MSG_NAME), msg.field(MSG_NAMELEN), name_len));
    let iov = msg.iovecs()?;
    if sandbox::datagram_id(fd).is_some() {
        let (n, source, out_flags) = sandbox::recv_datagram(fd, &iov, flags)?;
        if let Some(name) = name.as_mut() {
            name.set(&source.to_sockaddr_in());
            name.copy_out()?;
        }
        user::write_u64(msg.field(MSG_CONTROLLEN), 0)?;
        user::write_u32(msg.field(MSG_FLAGS), out_flags)?;
        return Ok(n);
    }
    let mut control = vec![0u8; msg.control_room()];
    let name_buf = sockaddr::host_ptrs(&mut name).0;
    let name_room = if name.is_some() {
        SOCKADDR_MAX as u32
    } else {
        0
    };
    let control_buf = (control.as_mut_ptr() as u64, control.len());
    let mut hdr = host_msghdr((name_buf, name_room), &iov, control_buf);
    let n = host_call(
        Sysno::recvmsg,
        [fd as u64, hdr.as_mut_ptr() as u64, flags, 0, 0, 0],
    )?;
    let mut out_flags = hdr[6] as u32;
    control.truncate(hdr[5] as usize);
    let c = task::container();
    let received = cmsg::incoming(&mut control, c.uid, c.gid, crate::fs::fdtable::fd_limit());
    if !received.dropped.is_empty() {
        received.dropped.iter().copied().for_each(close);
        out_flags |= MSG_CTRUNC;
    }
    let written = (|| {
        if let Some(name) = name.as_mut() {
            name.set_len(hdr[1] as u32);
            name.copy_out()?;
        }
        if !control.is_empty() {
            user::copy_out(msg.word(MSG_CONTROL), &control)?;
        }
        user::write_u64(msg.field(MSG_CONTROLLEN), control.len() as u64)?;
        user::write_u32(msg.field(MSG_FLAGS), out_flags)
    })();
    if let Err(e) = written {
        received.kept.iter().copied().for_each(close);
        return Err(e);
    }
    if sandbox::enabled() {
        received
            .kept
            .iter()
            .copied()
            .for_each(sandbox::note_datagram_socket);
    }
    Ok(n)
}

/// sendmsg(fd, msg, flags).
pub fn sys_sendmsg(call: &Call) -> SysResult {
    on_socket(call, |fd| send_one(fd, call.arg(1), call.arg(2)))
}

/// recvmsg(fd, msg, flags).
pub fn sys_recvmsg(call: &Call) -> SysResult {
    on_socket(call, |fd| recv_one(fd, call.arg(1), call.arg(2)))
}

/// sendmmsg(fd, msgvec, vlen, flags): one `sendmsg` per message, stopping
/// at the first error; the error is returned only if nothing was sent.
pub fn sys_sendmmsg(call: &Call) -> SysResult {
    on_socket(call, |fd| {
        let (vec, count) = (call.arg(1), call.arg(2).min(UIO_MAXIOV));
        each_message(vec, count, |_, entry| send_one(fd, entry, call.arg(3)))
    })
}

/// recvmmsg(fd, msgvec, vlen, flags, timeout): one `recvmsg` per message;
/// after the first, `MSG_WAITFORONE` makes the rest non-blocking. As on
/// Linux, the timeout is checked only between messages.
pub fn sys_recvmmsg(call: &Call) -> SysResult {
    on_socket(call, |fd| {
        let (vec, count, flags) = (call.arg(1), call.arg(2).min(UIO_MAXIOV), call.arg(3));
        let deadline = match call.arg(4) {
            0 => None,
            addr => Some(deadline_after(addr)?),
        };
        let result = each_message(vec, count, |i, entry| {
            if i > 0 && deadline.is_some_and(|d| monotonic_ns() >= d) {
                return Err(Errno::ETIMEDOUT);
            }
            let flags = if i > 0 && flags & MSG_WAITFORONE != 0 {
                flags | MSG_DONTWAIT
            } else {
                flags
            };
            recv_one(fd, entry, flags & !MSG_WAITFORONE)
        });
        if let (Some(d), Ok(1..)) = (deadline, result) {
            let left = d.saturating_sub(monotonic_ns());
            let mut ts = [0u8; 16];
            ts[..8].copy_from_slice(&(left / 1_000_000_000).to_le_bytes());
            ts[8..].copy_from_slice(&(left % 1_000_000_000).to_le_bytes());
            user::copy_out(call.arg(4), &ts)?;
        }
        result
    })
}

/// Runs `one` on each `struct mmsghdr` of the guest's vector, writing the
/// length each transferred into its `msg_len`; returns how many succeeded,
/// or the first error if none did.
fn each_message(vec: u64, count: u64, mut one: impl FnMut(u64, u64) -> SysResult) -> SysResult {
    let mut done = 0;
    while done < count {
        // Guest addresses wrap rather than overflow: a wrapped one faults.
        let entry = vec.wrapping_add(done * MMSGHDR_SIZE);
        match one(done, entry) {
            Ok(n) => user::write_u32(entry.wrapping_add(MSGHDR_SIZE as u64), n as u32)?,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        done += 1;
    }
    Ok(done)
}

fn monotonic_ns() -> u64 {
    const CLOCK_MONOTONIC: u64 = 1;
    let mut ts = [0u64; 2];
    let _ = host_call(
        Sysno::clock_gettime,
        [CLOCK_MONOTONIC, ts.as_mut_ptr() as u64, 0, 0, 0, 0],
    );
    ts[0] * 1_000_000_000 + ts[1]
}

/// The monotonic time at which the guest's `struct timespec` at `addr`
/// runs out: `EFAULT` if unreadable, `EINVAL` if out of range.
fn deadline_after(addr: u64) -> Result<u64, Errno> {
    let raw = user::read_bytes(addr, 16)?;
    let secs = i64::from_le_bytes(raw[..8].try_into().expect("8 bytes"));
    let nanos = i64::from_le_bytes(raw[8..].try_into().expect("8 bytes"));
    if secs < 0 || !(0..1_000_000_000).contains(&nanos) {
        return Err(Errno::EINVAL);
    }
    Ok(monotonic_ns()
        .saturating_add((secs as u64).saturating_mul(1_000_000_000))
        .saturating_add(nanos as u64))
}
