//! The container's sockets: what each guest socket is in smoltcp, the
//! requests about them, and the pump between smoltcp and the guest ends.

use std::collections::{BTreeMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{MsgFlags, Shutdown, SockType, recv, send, shutdown};
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::socket::udp;
use smoltcp::time::Duration;
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};

use super::fds::{self, QUIET};
use crate::proto::{self, Addr, Op, Reply, Request};

/// Buffer sizes of one TCP connection (each way).
const BUFFER: usize = 128 << 10;
/// Datagrams (and bytes of them) one UDP socket holds each way.
const DATAGRAMS: usize = 64;
const DATAGRAM_BYTES: usize = 256 << 10;
/// The largest UDP payload over IPv4.
const DATAGRAM_MAX: usize = 65507;
/// Most connections a listening socket completes before the guest accepts.
const BACKLOG_MAX: u32 = 16;
/// Linux's default ephemeral port range (`ip_local_port_range`).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;
/// A connection attempt gives up after this long (Linux: about 2 minutes
/// of SYN retransmissions).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);

const SOL_SOCKET: u32 = 1;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;
const SO_REUSEADDR: u32 = 2;
const SO_TYPE: u32 = 3;
const SO_ERROR: u32 = 4;
const SO_SNDBUF: u32 = 7;
const SO_RCVBUF: u32 = 8;
const SO_KEEPALIVE: u32 = 9;
const SO_REUSEPORT: u32 = 15;
const SO_ACCEPTCONN: u32 = 30;
const SO_PROTOCOL: u32 = 38;
const SO_DOMAIN: u32 = 39;
const TCP_NODELAY: u32 = 1;
const TCP_MAXSEG: u32 = 2;
const TCP_KEEPIDLE: u32 = 4;
const TCP_KEEPINTVL: u32 = 5;
const TCP_KEEPCNT: u32 = 6;

fn errno(e: Errno) -> u32 {
    e as i32 as u32
}

/// What a guest socket is.
enum Kind {
    /// Not connected nor listening (maybe bound).
    Fresh,
    /// Connecting: `reply` is the blocked caller's reply socket (none for
    /// a non-blocking connect).
    Connecting {
        handle: SocketHandle,
        reply: Option<OwnedFd>,
    },
    /// A connection.
    Stream {
        handle: SocketHandle,
        /// The guest stopped writing (its end read end of file).
        guest_eof: bool,
        /// The peer's end of file was passed to the guest.
        peer_eof: bool,
    },
    /// Listening: smoltcp sockets waiting for a SYN, and connections
    /// established but not handed to the guest yet.
    Listening {
        waiting: Vec<SocketHandle>,
        ready: VecDeque<SocketHandle>,
    },
    /// A UDP socket: its smoltcp socket once it has a port (bound,
    /// connected or used to send).
    Datagram { handle: Option<SocketHandle> },
}

struct Sock {
    /// The stack's end of the guest's socketpair.
    end: Option<OwnedFd>,
    /// The inode of the guest's end, to check the descriptor a request
    /// comes with.
    guest_ino: u64,
    generation: u32,
    kind: Kind,
    /// Bound (or, once connected, local) address; port 0 once a
    /// disconnect gave up the port but not an address the guest bound.
    local: Option<Addr>,
    /// What the guest's own `bind` asked for: the parts of it that are not
    /// zero stay through a disconnect.
    bound_by_guest: Option<Addr>,
    peer: Option<Addr>,
    /// Bytes of filler (see [`fds::fill`]) still to discard from `end`.
    filler: usize,
    /// The pending error `SO_ERROR` reports.
    error: u32,
    /// The guest has closed its end; what it wrote is still being sent.
    hung: bool,
    reuse_addr: bool,
    nodelay: bool,
    keepalive: bool,
    keepidle: u32,
}

impl Sock {
    fn handle(&self) -> Option<SocketHandle> {
        match &self.kind {
            Kind::Connecting { handle, .. } | Kind::Stream { handle, .. } => Some(*handle),
            _ => None,
        }
    }

    /// A UDP socket's smoltcp socket and the stack's end, once it has both.
    fn datagram(&self) -> Option<(SocketHandle, BorrowedFd<'_>)> {
        match (&self.kind, &self.end) {
            (
                Kind::Datagram {
                    handle: Some(handle),
                },
                Some(end),
            ) => Some((*handle, end.as_fd())),
            _ => None,
        }
    }

    fn apply_options(&self, socket: &mut tcp::Socket) {
        socket.set_nagle_enabled(!self.nodelay);
        socket.set_keep_alive(
            self.keepalive
                .then(|| Duration::from_secs(self.keepidle.max(1) as u64)),
        );
    }
}

fn ip_of(addr: Addr) -> IpAddress {
    let [a, b, c, d] = addr.ip;
    IpAddress::v4(a, b, c, d)
}

fn addr_of(endpoint: IpEndpoint) -> Addr {
    let IpAddress::Ipv4(ip) = endpoint.addr;
    Addr {
        ip: ip.octets(),
        port: endpoint.port,
    }
}

fn endpoint_of(addr: Addr) -> IpEndpoint {
    IpEndpoint::new(ip_of(addr), addr.port)
}

fn new_udp() -> udp::Socket<'static> {
    let buffer = || {
        udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; DATAGRAMS],
            vec![0; DATAGRAM_BYTES],
        )
    };
    udp::Socket::new(buffer(), buffer())
}

fn new_tcp() -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; BUFFER]),
        tcp::SocketBuffer::new(vec![0; BUFFER]),
    )
}

/// Every guest socket of the container, by id.
pub struct Table {
    address: [u8; 4],
    socks: BTreeMap<u32, Sock>,
    next_id: u32,
    next_port: u16,
    /// Connections whose guest end is closed, left to finish in smoltcp.
    orphans: Vec<SocketHandle>,
}

impl Table {
    pub fn new(address: [u8; 4]) -> Table {
        Table {
            address,
            socks: BTreeMap::new(),
            next_id: 1,
            next_port: *EPHEMERAL.start(),
            orphans: Vec::new(),
        }
    }

    /// Whether `ip` is an address of the container (0.0.0.0 included).
    fn is_local(&self, ip: [u8; 4]) -> bool {
        ip == [0; 4] || ip[0] == 127 || ip == self.address
    }

    /// Whether `addr` is taken for a socket other than `id` that asks for
    /// `reuse`: Linux lets `SO_REUSEADDR` sockets share a port unless one
    /// of them listens.
    fn in_use(&self, id: u32, addr: Addr, reuse: bool) -> bool {
        let datagram = self
            .socks
            .get(&id)
            .is_some_and(|s| matches!(s.kind, Kind::Datagram { .. }));
        self.socks.iter().any(|(other, s)| {
            *other != id
                && matches!(s.kind, Kind::Datagram { .. }) == datagram
                && s.local.is_some_and(|l| {
                    l.port == addr.port
                        && (l.ip == addr.ip || l.ip == [0; 4] || addr.ip == [0; 4])
                        && !(reuse && s.reuse_addr && !matches!(s.kind, Kind::Listening { .. }))
                })
        })
    }

    fn ephemeral(&mut self, id: u32, ip: [u8; 4]) -> Option<u16> {
        let span = EPHEMERAL.end() - EPHEMERAL.start() + 1;
        for _ in 0..span {
            let port = self.next_port;
            self.next_port = if port == *EPHEMERAL.end() {
                *EPHEMERAL.start()
            } else {
                port + 1
            };
            if !self.in_use(id, Addr { ip, port }, false) {
                return Some(port);
            }
        }
        None
    }

    /// Serves every request waiting on the control socket.
    pub fn serve(&mut self, control: BorrowedFd<'_>, iface: &mut Interface, set: &mut SocketSet) {
        let mut buf = [0u8; proto::REQUEST_SIZE];
        loop {
            let (len, mut passed) = match fds::recv_with(control, &mut buf) {
                Ok(Some(message)) => message,
                Ok(None) | Err(_) => return,
            };
            if passed.is_empty() {
                continue;
            }
            let reply_to = passed.remove(0);
            let guest = passed.pop();
            let request = (len == buf.len()).then(|| Request::decode(&buf)).flatten();
            let (reply, fd) = match request {
                None => (Some(Reply::error(errno(Errno::EINVAL))), None),
                Some(request) => self.handle(request, guest, &reply_to, iface, set),
            };
            if let Some(reply) = reply {
                let fds: Vec<i32> = fd.iter().map(|f| f.as_raw_fd()).collect();
                if let Err(e) = fds::send_with(reply_to.as_fd(), &reply.encode(), &fds) {
                    tracing::debug!(%e, "reply lost: the caller is gone");
                }
            }
        }
    }

    /// One request: its reply (none while a blocking connect is under
    /// way) and the descriptor that goes with it.
    fn handle(
        &mut self,
        request: Request,
        guest: Option<OwnedFd>,
        reply_to: &OwnedFd,
        iface: &mut Interface,
        set: &mut SocketSet,
    ) -> (Option<Reply>, Option<OwnedFd>) {
        if request.op == Op::Socket {
            return match self.socket(request.args[0] == 1) {
                Ok(fd) => (Some(Reply::default()), Some(fd)),
                Err(e) => (Some(Reply::error(errno(e))), None),
            };
        }
        let id = request.id;
        let known = match (&guest, self.socks.get(&id)) {
            (Some(fd), Some(sock)) => fds::inode(fd.as_fd()).ok() == Some(sock.guest_ino),
            _ => false,
        };
        if !known {
            let e = if request.op == Op::PeerName {
                Errno::ENOTCONN
            } else {
                Errno::EBADF
            };
            return (Some(Reply::error(errno(e))), None);
        }
        let guest = guest.expect("checked above");
        // What the guest wrote on its end before it asked comes first: a
        // `sendto` that binds an unbound UDP socket is seen by the
        // `getsockname` after it, as on Linux.
        self.pump_one(id, set);
        let result = match request.op {
            Op::Socket => unreachable!("answered above"),
            Op::Bind => self.bind(id, request.addr, set).map(|()| {
                self.socks.get_mut(&id).expect("known").bound_by_guest = Some(request.addr);
                Reply::default()
            }),
            Op::Listen => {
                return match self.listen(id, request.args[0], set) {
                    Ok(fd) => (
                        Some(Reply {
                            value: fd.is_some() as u32,
                            ..Reply::default()
                        }),
                        fd,
                    ),
                    Err(e) => (Some(Reply::error(errno(e))), None),
                };
            }
            Op::Connect if matches!(self.socks[&id].kind, Kind::Datagram { .. }) => self
                .connect_datagram(id, request.addr, set)
                .map(|()| Reply::default()),
            Op::Disconnect => self.disconnect_datagram(id, set).map(|()| Reply::default()),
            Op::Connect => {
                let nonblocking = request.args[0] != 0;
                match self.connect(id, request.addr, nonblocking, &guest, reply_to, iface, set) {
                    Ok(true) => return (None, None),
                    Ok(false) => Err(Errno::EINPROGRESS),
                    Err(e) => Err(e),
                }
            }
            Op::LocalName => Ok(self.local_name(id, set)),
            Op::PeerName => self.socks[&id].peer.map_or(Err(Errno::ENOTCONN), |addr| {
                Ok(Reply {
                    addr,
                    ..Reply::default()
                })
            }),
            Op::SetOption => self
                .set_option(id, request.args, set)
                .map(|()| Reply::default()),
            Op::GetOption => self.get_option(id, request.args).map(|value| Reply {
                value,
                ..Reply::default()
            }),
        };
        (
            Some(result.unwrap_or_else(|e| Reply::error(errno(e)))),
            None,
        )
    }

    fn socket(&mut self, datagram: bool) -> Result<OwnedFd, Errno> {
        let id = self.next_id;
        let (ty, generation, kind) = if datagram {
            (
                SockType::SeqPacket,
                proto::DATAGRAM_GENERATION,
                Kind::Datagram { handle: None },
            )
        } else {
            (SockType::Stream, 0, Kind::Fresh)
        };
        let (ours, theirs, ino) = fds::guest_pair(ty, id, generation).map_err(|_| Errno::ENFILE)?;
        self.next_id = self.next_id.checked_add(1).ok_or(Errno::ENFILE)?;
        self.socks.insert(
            id,
            Sock {
                end: Some(ours),
                guest_ino: ino,
                generation,
                kind,
                local: None,
                bound_by_guest: None,
                peer: None,
                filler: 0,
                error: 0,
                hung: false,
                reuse_addr: false,
                nodelay: false,
                keepalive: false,
                keepidle: 7200,
            },
        );
        Ok(theirs)
    }

    fn bind(&mut self, id: u32, addr: Addr, set: &mut SocketSet) -> Result<(), Errno> {
        let sock = &self.socks[&id];
        if sock.local.is_some_and(|l| l.port != 0)
            || !matches!(sock.kind, Kind::Fresh | Kind::Datagram { .. })
        {
            return Err(Errno::EINVAL);
        }
        if !self.is_local(addr.ip) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let port = if addr.port == 0 {
            self.ephemeral(id, addr.ip).ok_or(Errno::EADDRINUSE)?
        } else if self.in_use(id, addr, sock.reuse_addr) {
            return Err(Errno::EADDRINUSE);
        } else {
            addr.port
        };
        let sock = self.socks.get_mut(&id).expect("known");
        sock.local = Some(Addr { ip: addr.ip, port });
        if matches!(sock.kind, Kind::Datagram { .. }) {
            Self::open_datagram(sock, set)?;
        }
        Ok(())
    }

    /// Gives a bound UDP socket its smoltcp socket, which receives from
    /// then on.
    fn open_datagram(sock: &mut Sock, set: &mut SocketSet) -> Result<(), Errno> {
        let local = sock.local.expect("bound by the caller");
        let mut socket = new_udp();
        socket
            .bind(IpListenEndpoint {
                addr: (local.ip != [0; 4]).then(|| ip_of(local)),
                port: local.port,
            })
            .map_err(|_| Errno::EINVAL)?;
        sock.kind = Kind::Datagram {
            handle: Some(set.add(socket)),
        };
        Ok(())
    }

    /// Binds an unbound UDP socket to an ephemeral port, as Linux does on
    /// its first `connect` or `send`.
    fn bind_datagram(&mut self, id: u32, set: &mut SocketSet) -> Result<(), Errno> {
        let ip = match self.socks[&id].local {
            Some(local) if local.port != 0 => return Ok(()),
            Some(local) => local.ip,
            None => [0; 4],
        };
        self.bind(id, Addr { ip, port: 0 }, set)
    }

    /// `connect(AF_UNSPEC)` on a UDP socket: no peer any more; unless the
    /// guest bound a port itself, the port is given up (the next send
    /// binds a new one) and only an address it bound stays.
    fn disconnect_datagram(&mut self, id: u32, set: &mut SocketSet) -> Result<(), Errno> {
        let sock = self.socks.get_mut(&id).expect("known");
        let Kind::Datagram { handle } = &mut sock.kind else {
            return Err(Errno::EAFNOSUPPORT);
        };
        sock.peer = None;
        if sock.bound_by_guest.is_some_and(|b| b.port != 0) {
            return Ok(());
        }
        if let Some(handle) = handle.take() {
            set.remove(handle);
        }
        sock.local = sock
            .bound_by_guest
            .filter(|b| b.ip != [0; 4])
            .map(|b| Addr { ip: b.ip, port: 0 });
        Ok(())
    }

    /// `connect` on a UDP socket: the peer its `send`s go to and the only
    /// one it receives from.
    fn connect_datagram(
        &mut self,
        id: u32,
        mut remote: Addr,
        set: &mut SocketSet,
    ) -> Result<(), Errno> {
        if remote.ip == [0; 4] {
            remote.ip = [127, 0, 0, 1];
        }
        if remote.port == 0 {
            return Err(Errno::EINVAL);
        }
        self.bind_datagram(id, set)?;
        self.socks.get_mut(&id).expect("known").peer = Some(remote);
        Ok(())
    }

    fn listen_socket(local: Addr, set: &mut SocketSet) -> Result<SocketHandle, Errno> {
        let mut socket = new_tcp();
        let endpoint = IpListenEndpoint {
            addr: (local.ip != [0; 4]).then(|| ip_of(local)),
            port: local.port,
        };
        socket.listen(endpoint).map_err(|_| Errno::EINVAL)?;
        Ok(set.add(socket))
    }

    /// Starts listening; the new descriptor replaces the guest's (none
    /// when the socket listens already: only the backlog changes on Linux).
    fn listen(
        &mut self,
        id: u32,
        backlog: u32,
        set: &mut SocketSet,
    ) -> Result<Option<OwnedFd>, Errno> {
        match self.socks[&id].kind {
            Kind::Fresh => {}
            Kind::Listening { .. } => return Ok(None),
            Kind::Datagram { .. } => return Err(Errno::EOPNOTSUPP),
            _ => return Err(Errno::EINVAL),
        }
        if self.socks[&id].local.is_none() {
            let port = self.ephemeral(id, [0; 4]).ok_or(Errno::EADDRINUSE)?;
            self.socks.get_mut(&id).expect("known").local = Some(Addr { ip: [0; 4], port });
        }
        let local = self.socks[&id].local.expect("bound above");
        if self.socks.iter().any(|(other, s)| {
            *other != id
                && matches!(s.kind, Kind::Listening { .. })
                && s.local.is_some_and(|l| {
                    l.port == local.port
                        && (l.ip == local.ip || l.ip == [0; 4] || local.ip == [0; 4])
                })
        }) {
            return Err(Errno::EADDRINUSE);
        }
        let generation = self.socks[&id].generation + 1;
        let (ours, theirs, ino) =
            fds::guest_pair(SockType::SeqPacket, id, generation).map_err(|_| Errno::ENFILE)?;
        let count = backlog.clamp(1, BACKLOG_MAX);
        let mut waiting = Vec::new();
        for _ in 0..count {
            waiting.push(Self::listen_socket(local, set)?);
        }
        let sock = self.socks.get_mut(&id).expect("known");
        sock.end = Some(ours);
        sock.guest_ino = ino;
        sock.generation = generation;
        sock.kind = Kind::Listening {
            waiting,
            ready: VecDeque::new(),
        };
        Ok(Some(theirs))
    }

    /// Starts a connection: `Ok(true)` when the reply waits for it (a
    /// blocking caller), `Ok(false)` when it goes on in the background.
    #[allow(clippy::too_many_arguments)]
    fn connect(
        &mut self,
        id: u32,
        mut remote: Addr,
        nonblocking: bool,
        guest: &OwnedFd,
        reply_to: &OwnedFd,
        iface: &mut Interface,
        set: &mut SocketSet,
    ) -> Result<bool, Errno> {
        match self.socks[&id].kind {
            Kind::Fresh => {}
            Kind::Connecting { .. } => return Err(Errno::EALREADY),
            Kind::Stream { .. } => return Err(Errno::EISCONN),
            Kind::Listening { .. } | Kind::Datagram { .. } => return Err(Errno::EINVAL),
        }
        if remote.ip == [0; 4] {
            // Linux takes INADDR_ANY as the local host.
            remote.ip = [127, 0, 0, 1];
        }
        if remote.port == 0 {
            return Err(Errno::ECONNREFUSED);
        }
        let local_ip = match self.socks[&id].local {
            Some(l) if l.ip != [0; 4] => l.ip,
            _ if remote.ip[0] == 127 => [127, 0, 0, 1],
            _ => self.address,
        };
        let local_port = match self.socks[&id].local {
            Some(l) => l.port,
            None => self.ephemeral(id, local_ip).ok_or(Errno::EADDRNOTAVAIL)?,
        };
        let local = Addr {
            ip: local_ip,
            port: local_port,
        };
        let mut socket = new_tcp();
        self.socks[&id].apply_options(&mut socket);
        socket.set_timeout(Some(CONNECT_TIMEOUT));
        let remote_ep = IpEndpoint::new(ip_of(remote), remote.port);
        let local_ep = IpListenEndpoint {
            addr: Some(ip_of(local)),
            port: local.port,
        };
        socket
            .connect(iface.context(), remote_ep, local_ep)
            .map_err(|e| match e {
                tcp::ConnectError::Unaddressable => Errno::ENETUNREACH,
                tcp::ConnectError::InvalidState => Errno::EISCONN,
            })?;
        let handle = set.add(socket);
        let sock = self.socks.get_mut(&id).expect("known");
        sock.local = Some(local);
        sock.peer = Some(remote);
        if nonblocking {
            sock.filler = fds::fill(guest.as_fd());
            sock.kind = Kind::Connecting {
                handle,
                reply: None,
            };
            Ok(false)
        } else {
            let reply = reply_to.try_clone().map_err(|_| Errno::ENFILE)?;
            sock.kind = Kind::Connecting {
                handle,
                reply: Some(reply),
            };
            Ok(true)
        }
    }

    fn local_name(&self, id: u32, set: &SocketSet) -> Reply {
        let sock = &self.socks[&id];
        let addr = sock
            .handle()
            .and_then(|h| set.get::<tcp::Socket>(h).local_endpoint())
            .map(addr_of)
            .or(sock.local)
            .unwrap_or_default();
        Reply {
            addr,
            ..Reply::default()
        }
    }

    fn set_option(&mut self, id: u32, args: [u32; 3], set: &mut SocketSet) -> Result<(), Errno> {
        let sock = self.socks.get_mut(&id).expect("known");
        let [level, name, value] = args;
        let on = value != 0;
        match (level, name) {
            (SOL_SOCKET, SO_REUSEADDR) => sock.reuse_addr = on,
            (SOL_SOCKET, SO_KEEPALIVE) => sock.keepalive = on,
            // Accepted and without effect: the stack's buffers are fixed,
            // and one process serves every port.
            (SOL_SOCKET, SO_REUSEPORT | SO_SNDBUF | SO_RCVBUF) => {}
            (IPPROTO_TCP, TCP_NODELAY) => sock.nodelay = on,
            (IPPROTO_TCP, TCP_KEEPIDLE) if (1..=32767).contains(&value) => sock.keepidle = value,
            (IPPROTO_TCP, TCP_KEEPINTVL | TCP_KEEPCNT) if (1..=32767).contains(&value) => {}
            (IPPROTO_TCP, TCP_KEEPIDLE | TCP_KEEPINTVL | TCP_KEEPCNT) => {
                return Err(Errno::EINVAL);
            }
            _ => return Err(Errno::ENOPROTOOPT),
        }
        if let Some(handle) = sock.handle() {
            sock.apply_options(set.get_mut::<tcp::Socket>(handle));
        }
        Ok(())
    }

    fn get_option(&mut self, id: u32, args: [u32; 3]) -> Result<u32, Errno> {
        let sock = self.socks.get_mut(&id).expect("known");
        let [level, name, _] = args;
        let datagram = matches!(sock.kind, Kind::Datagram { .. });
        Ok(match (level, name) {
            (SOL_SOCKET, SO_ERROR) => std::mem::take(&mut sock.error),
            (SOL_SOCKET, SO_TYPE) if datagram => 2,
            (SOL_SOCKET, SO_TYPE) => 1,
            (SOL_SOCKET, SO_DOMAIN) => 2,
            (SOL_SOCKET, SO_PROTOCOL) if datagram => IPPROTO_UDP,
            (SOL_SOCKET, SO_PROTOCOL) => 6,
            (SOL_SOCKET, SO_ACCEPTCONN) => matches!(sock.kind, Kind::Listening { .. }) as u32,
            (SOL_SOCKET, SO_REUSEADDR) => sock.reuse_addr as u32,
            (SOL_SOCKET, SO_REUSEPORT) => 0,
            (SOL_SOCKET, SO_KEEPALIVE) => sock.keepalive as u32,
            // What Linux reports: twice the buffer, for its bookkeeping.
            (SOL_SOCKET, SO_SNDBUF | SO_RCVBUF) => 2 * BUFFER as u32,
            (IPPROTO_TCP, TCP_NODELAY) => sock.nodelay as u32,
            (IPPROTO_TCP, TCP_MAXSEG) => (super::wire::MTU - 40) as u32,
            (IPPROTO_TCP, TCP_KEEPIDLE) => sock.keepidle,
            (IPPROTO_TCP, TCP_KEEPINTVL) => 75,
            (IPPROTO_TCP, TCP_KEEPCNT) => 9,
            _ => return Err(Errno::ENOPROTOOPT),
        })
    }

    /// The guest ends to poll, with what the stack waits for on each
    /// (hang-ups are always reported).
    pub fn interest(&self, set: &mut SocketSet) -> Vec<(u32, BorrowedFd<'_>, PollFlags)> {
        let mut out = Vec::with_capacity(self.socks.len());
        for (id, sock) in &self.socks {
            let Some(end) = &sock.end else { continue };
            if sock.hung {
                continue;
            }
            let events = match &sock.kind {
                Kind::Stream {
                    handle, guest_eof, ..
                } => {
                    let socket = set.get_mut::<tcp::Socket>(*handle);
                    let mut events = PollFlags::empty();
                    if (!guest_eof && socket.can_send()) || sock.filler > 0 {
                        events |= PollFlags::POLLIN;
                    }
                    if socket.can_recv() {
                        events |= PollFlags::POLLOUT;
                    }
                    events
                }
                Kind::Listening { ready, .. } if !ready.is_empty() => PollFlags::POLLOUT,
                Kind::Datagram { handle: None } => PollFlags::POLLIN,
                Kind::Datagram {
                    handle: Some(handle),
                } => {
                    let socket = set.get::<udp::Socket>(*handle);
                    let mut events = PollFlags::empty();
                    if socket.can_send() {
                        events |= PollFlags::POLLIN;
                    }
                    if socket.can_recv() {
                        events |= PollFlags::POLLOUT;
                    }
                    events
                }
                _ => PollFlags::empty(),
            };
            out.push((*id, end.as_fd(), events));
        }
        out
    }

    /// The guest closed its end of each of `ids` (or both directions of a
    /// connection are shut): a connection finishes in the background,
    /// anything else goes.
    pub fn hung_up(&mut self, ids: &[u32], set: &mut SocketSet) {
        for id in ids {
            let Some(sock) = self.socks.get_mut(id) else {
                continue;
            };
            if let Kind::Stream { guest_eof, .. } = sock.kind {
                // What the guest wrote before it closed still goes out:
                // the socket stays until its end reads end of file, moved
                // by `pump` alone (a hung-up end is always "ready").
                sock.hung = true;
                if !guest_eof {
                    continue;
                }
            }
            self.finish(*id, set);
        }
    }

    /// Drops the socket `id` whose guest end is closed: a connection
    /// finishes in smoltcp (reset if data came that the guest never read,
    /// as Linux does), anything else goes.
    fn finish(&mut self, id: u32, set: &mut SocketSet) {
        {
            let sock = self.socks.remove(&id).expect("present");
            match sock.kind {
                Kind::Fresh | Kind::Datagram { handle: None } => {}
                Kind::Datagram {
                    handle: Some(handle),
                } => {
                    set.remove(handle);
                }
                Kind::Connecting { handle, .. } => {
                    set.get_mut::<tcp::Socket>(handle).abort();
                    self.orphans.push(handle);
                }
                Kind::Stream { handle, .. } => {
                    let socket = set.get_mut::<tcp::Socket>(handle);
                    if socket.recv_queue() > 0 {
                        socket.abort();
                    } else {
                        socket.close();
                    }
                    self.orphans.push(handle);
                }
                Kind::Listening { waiting, ready } => {
                    for handle in waiting.into_iter().chain(ready) {
                        set.get_mut::<tcp::Socket>(handle).abort();
                        self.orphans.push(handle);
                    }
                }
            }
        }
    }

    /// Moves bytes between smoltcp and the guest ends, completes
    /// connections and hands accepted ones over. Returns whether anything
    /// moved (smoltcp must then be polled again).
    pub fn pump(&mut self, set: &mut SocketSet) -> bool {
        let mut moved = false;
        let ids: Vec<u32> = self.socks.keys().copied().collect();
        for id in ids {
            moved |= self.pump_one(id, set);
            let sock = &self.socks[&id];
            if sock.hung
                && matches!(
                    sock.kind,
                    Kind::Stream {
                        guest_eof: true,
                        ..
                    }
                )
            {
                self.finish(id, set);
                moved = true;
            }
        }
        moved |= self.hand_over(set);
        self.orphans.retain(|&handle| {
            let done = set.get::<tcp::Socket>(handle).state() == State::Closed;
            if done {
                set.remove(handle);
            }
            !done
        });
        moved
    }

    fn pump_one(&mut self, id: u32, set: &mut SocketSet) -> bool {
        let sock = self.socks.get_mut(&id).expect("listed");
        match &mut sock.kind {
            Kind::Fresh => false,
            Kind::Connecting { handle, reply } => {
                let handle = *handle;
                let socket = set.get_mut::<tcp::Socket>(handle);
                let error = match socket.state() {
                    State::SynSent | State::SynReceived => return false,
                    // A reset (or, less precisely, the attempt timing out).
                    State::Closed => Some(Errno::ECONNREFUSED),
                    _ => None,
                };
                socket.set_timeout(None);
                let reply = reply.take();
                Self::drop_filler(sock);
                match error {
                    None => {
                        sock.kind = Kind::Stream {
                            handle,
                            guest_eof: false,
                            peer_eof: false,
                        };
                        if let Some(reply) = reply {
                            let _ = fds::send_with(reply.as_fd(), &Reply::default().encode(), &[]);
                        }
                    }
                    Some(e) => {
                        set.remove(handle);
                        sock.kind = Kind::Fresh;
                        sock.local = None;
                        sock.peer = None;
                        match reply {
                            Some(reply) => {
                                let _ = fds::send_with(
                                    reply.as_fd(),
                                    &Reply::error(errno(e)).encode(),
                                    &[],
                                );
                            }
                            None => sock.error = errno(e),
                        }
                    }
                }
                true
            }
            Kind::Stream { .. } => Self::pump_stream(sock, set),
            Kind::Listening { .. } => Self::pump_listener(sock, set),
            Kind::Datagram { .. } => self.pump_datagram(id, set),
        }
    }

    /// Datagrams from the guest into smoltcp (each left on the guest's
    /// end until smoltcp has room for it) and from smoltcp to the guest.
    fn pump_datagram(&mut self, id: u32, set: &mut SocketSet) -> bool {
        let mut moved = false;
        let mut buf = vec![0u8; proto::DATAGRAM_HEADER + DATAGRAM_MAX];
        loop {
            let sock = &self.socks[&id];
            let Some(end) = &sock.end else { return moved };
            let Ok(n) = recv(end.as_raw_fd(), &mut buf, QUIET | MsgFlags::MSG_PEEK) else {
                break;
            };
            if n == 0 {
                // End of file: the guest closed its end (the kernel never
                // sends an empty message). `poll` reports the hang-up,
                // which drops the socket.
                break;
            }
            let Some(mut to) = proto::decode_datagram_header(&buf[..n]) else {
                // Not a datagram of the kernel's: dropped.
                let _ = recv(end.as_raw_fd(), &mut buf, QUIET);
                continue;
            };
            let peer = sock.peer;
            if to == Addr::default() {
                match peer {
                    Some(peer) => to = peer,
                    None => {
                        // No destination: Linux fails with EDESTADDRREQ;
                        // the kernel checks that before it sends.
                        let _ = recv(end.as_raw_fd(), &mut buf, QUIET);
                        continue;
                    }
                }
            } else if to.ip == [0; 4] {
                to.ip = [127, 0, 0, 1];
            }
            if self.bind_datagram(id, set).is_err() {
                break;
            }
            let sock = &self.socks[&id];
            let Some((handle, end)) = sock.datagram() else {
                break;
            };
            // From a wildcard-bound socket, loopback destinations are
            // reached from 127.0.0.1 (smoltcp would pick eth0's address).
            let meta = udp::UdpMetadata {
                local_address: (to.ip[0] == 127 && sock.local.is_some_and(|l| l.ip == [0; 4]))
                    .then(|| IpAddress::v4(127, 0, 0, 1)),
                ..endpoint_of(to).into()
            };
            let socket = set.get_mut::<udp::Socket>(handle);
            match socket.send_slice(&buf[proto::DATAGRAM_HEADER..n], meta) {
                Err(udp::SendError::BufferFull) => break,
                // Unaddressable: dropped, as Linux drops what it cannot route.
                Ok(()) | Err(udp::SendError::Unaddressable) => {}
            }
            let _ = recv(end.as_raw_fd(), &mut buf, QUIET);
            moved = true;
        }
        let sock = &self.socks[&id];
        let Some((handle, end)) = sock.datagram() else {
            return moved;
        };
        let socket = set.get_mut::<udp::Socket>(handle);
        while let Ok((payload, meta)) = socket.peek() {
            let from = addr_of(meta.endpoint);
            if sock.peer.is_some_and(|p| p != from) {
                // A connected socket receives from its peer only.
                let _ = socket.recv();
                continue;
            }
            buf[..proto::DATAGRAM_HEADER].copy_from_slice(&proto::encode_datagram_header(from));
            buf[proto::DATAGRAM_HEADER..proto::DATAGRAM_HEADER + payload.len()]
                .copy_from_slice(payload);
            let len = proto::DATAGRAM_HEADER + payload.len();
            if send(end.as_raw_fd(), &buf[..len], QUIET).is_err() {
                // The guest's queue is full: later.
                break;
            }
            let _ = socket.recv();
            moved = true;
        }
        moved
    }

    /// Discards the filler of a non-blocking connect from the stack's end.
    fn drop_filler(sock: &mut Sock) {
        let Some(end) = &sock.end else { return };
        let mut buf = vec![0u8; 64 << 10];
        while sock.filler > 0 {
            let want = sock.filler.min(buf.len());
            match recv(end.as_raw_fd(), &mut buf[..want], QUIET) {
                Ok(n) if n > 0 => sock.filler -= n,
                _ => break,
            }
        }
    }

    /// Guest bytes into smoltcp's send buffer; end of file closes the
    /// connection's sending side (a FIN).
    fn guest_to_tcp(sock: &mut Sock, set: &mut SocketSet) -> bool {
        let Kind::Stream {
            handle, guest_eof, ..
        } = &mut sock.kind
        else {
            return false;
        };
        let Some(end) = &sock.end else { return false };
        let socket = set.get_mut::<tcp::Socket>(*handle);
        let mut moved = false;
        while !*guest_eof && socket.can_send() {
            let got = socket.send(|buf| match recv(end.as_raw_fd(), buf, QUIET) {
                Ok(n) => (n, Ok(n)),
                Err(e) => (0, Err(e)),
            });
            match got {
                Ok(Ok(0)) => {
                    *guest_eof = true;
                    socket.close();
                    moved = true;
                }
                Ok(Ok(_)) => moved = true,
                _ => break,
            }
        }
        moved
    }

    fn pump_stream(sock: &mut Sock, set: &mut SocketSet) -> bool {
        let mut moved = Self::guest_to_tcp(sock, set);
        let Kind::Stream {
            handle,
            peer_eof,
            guest_eof,
        } = &mut sock.kind
        else {
            return moved;
        };
        let Some(end) = &sock.end else { return moved };
        let socket = set.get_mut::<tcp::Socket>(*handle);
        while socket.can_recv() {
            let sent = socket.recv(|buf| match send(end.as_raw_fd(), buf, QUIET) {
                Ok(n) => (n, Ok(n)),
                Err(e) => (0, Err(e)),
            });
            match sent {
                Ok(Ok(n)) if n > 0 => moved = true,
                _ => break,
            }
        }
        if !*peer_eof && !socket.may_recv() && socket.recv_queue() == 0 {
            // The peer's FIN, or a reset: the guest reads end of file (a
            // reset also ends its writing and sets SO_ERROR).
            *peer_eof = true;
            moved = true;
            if socket.state() == State::Closed && !*guest_eof {
                sock.error = errno(Errno::ECONNRESET);
                let _ = shutdown(end.as_raw_fd(), Shutdown::Both);
            } else {
                let _ = shutdown(end.as_raw_fd(), Shutdown::Write);
            }
        }
        moved
    }

    fn pump_listener(sock: &mut Sock, set: &mut SocketSet) -> bool {
        let Kind::Listening { waiting, ready } = &mut sock.kind else {
            return false;
        };
        let local = sock.local.expect("a listening socket is bound");
        let mut moved = false;
        for slot in waiting.iter_mut() {
            let socket = set.get_mut::<tcp::Socket>(*slot);
            if matches!(socket.state(), State::Listen | State::SynReceived) {
                continue;
            }
            // Established (or already closed by the peer): it waits for
            // `accept`, and a new socket listens in its place.
            let Ok(fresh) = Self::listen_socket(local, set) else {
                continue;
            };
            ready.push_back(std::mem::replace(slot, fresh));
            moved = true;
        }
        moved
    }

    /// Hands the connections listeners completed to their guests, each as
    /// a new socket of its own.
    pub fn hand_over(&mut self, set: &mut SocketSet) -> bool {
        let mut moved = false;
        let listeners: Vec<u32> = self
            .socks
            .iter()
            .filter(|(_, s)| matches!(&s.kind, Kind::Listening { ready, .. } if !ready.is_empty()))
            .map(|(id, _)| *id)
            .collect();
        for id in listeners {
            loop {
                let sock = self.socks.get_mut(&id).expect("listed");
                let Kind::Listening { ready, .. } = &mut sock.kind else {
                    break;
                };
                let Some(&handle) = ready.front() else { break };
                let Some(end) = &sock.end else { break };
                let new_id = self.next_id;
                let Ok((ours, theirs, ino)) = fds::guest_pair(SockType::Stream, new_id, 0) else {
                    break;
                };
                let socket = set.get::<tcp::Socket>(handle);
                let (Some(peer), Some(local)) = (socket.remote_endpoint(), socket.local_endpoint())
                else {
                    // Reset before it was accepted: Linux drops it too.
                    ready.pop_front();
                    set.remove(handle);
                    continue;
                };
                let message = proto::encode_accepted(addr_of(peer), addr_of(local));
                if fds::send_with(end.as_fd(), &message, &[theirs.as_raw_fd()]).is_err() {
                    // The guest's queue is full: later.
                    break;
                }
                ready.pop_front();
                let (reuse_addr, nodelay, keepalive, keepidle) =
                    (sock.reuse_addr, sock.nodelay, sock.keepalive, sock.keepidle);
                self.next_id += 1;
                let accepted = Sock {
                    end: Some(ours),
                    guest_ino: ino,
                    generation: 0,
                    kind: Kind::Stream {
                        handle,
                        guest_eof: false,
                        peer_eof: false,
                    },
                    local: Some(addr_of(local)),
                    bound_by_guest: None,
                    peer: Some(addr_of(peer)),
                    filler: 0,
                    error: 0,
                    hung: false,
                    reuse_addr,
                    nodelay,
                    keepalive,
                    keepidle,
                };
                accepted.apply_options(set.get_mut::<tcp::Socket>(handle));
                self.socks.insert(new_id, accepted);
                moved = true;
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::mpsc;

    use super::*;

    /// A table whose sockets' abstract names no other test (in this
    /// process or another) binds at the same time.
    fn table() -> Table {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let mut table = Table::new([10, 0, 0, 2]);
        table.next_id = (std::process::id() << 8) + NEXT.fetch_add(1, Ordering::Relaxed);
        table
    }

    #[test]
    fn a_udp_socket_the_guest_closed_does_not_stall_the_pump() {
        let mut table = table();
        let mut set = SocketSet::new(Vec::new());
        let guest = table.socket(true).expect("a UDP socket");
        drop(guest);
        let (done, pumped) = mpsc::channel();
        std::thread::spawn(move || {
            table.pump(&mut set);
            let _ = done.send(());
        });
        assert!(
            pumped
                .recv_timeout(std::time::Duration::from_secs(30))
                .is_ok(),
            "the pump spins on the closed end"
        );
    }

    #[test]
    fn a_send_from_an_unbound_udp_socket_binds_an_ephemeral_port() {
        let mut table = table();
        let mut set = SocketSet::new(Vec::new());
        let guest = table.socket(true).expect("a UDP socket");
        let id = *table.socks.keys().next().expect("one socket");
        let mut datagram = proto::encode_datagram_header(Addr {
            ip: [127, 0, 0, 1],
            port: 9,
        })
        .to_vec();
        datagram.extend_from_slice(b"first");
        send(guest.as_raw_fd(), &datagram, QUIET).expect("the guest's send");
        assert_eq!(table.local_name(id, &set).addr, Addr::default());
        assert!(table.pump_one(id, &mut set));
        let local = table.local_name(id, &set).addr;
        assert_eq!(local.ip, [0; 4]);
        assert!(EPHEMERAL.contains(&local.port), "{local:?}");
    }
}
