//! What a kernel and its container's network stack (`oxbox_netstack`)
//! say to each other.
//!
//! A request is one [`REQUEST_SIZE`]-byte `SOCK_SEQPACKET` message on the
//! control socket, carrying with `SCM_RIGHTS` the socket to reply on and,
//! for requests about a socket, the guest's descriptor of it (the stack
//! checks that it is the one it handed out). The reply is one
//! [`REPLY_SIZE`]-byte message, with a new descriptor for `Socket` and
//! `Listen`.
//!
//! Every descriptor the stack hands out is bound to an abstract unix name
//! of [`NAME_PREFIX`] followed by the socket's id: the kernel tells the
//! stack's sockets from the guest's own unix sockets with one
//! `getsockname`, and the name cannot be taken by a guest (abstract names
//! are unique in the network namespace).

#![no_std]

/// The start of the abstract unix name of every socket the stack hands
/// out (the leading NUL makes it abstract).
pub const NAME_PREFIX: &[u8] = b"\0oxbox-netstack/";

/// Bytes in a request.
pub const REQUEST_SIZE: usize = 32;
/// Bytes in a reply.
pub const REPLY_SIZE: usize = 16;
/// Bytes in the message that comes with an accepted connection: the
/// peer's address, then the local one.
pub const ACCEPTED_SIZE: usize = 16;

/// The generation in the name of every UDP socket: the kernel tells them
/// from TCP ones by it, since their data calls carry addresses.
pub const DATAGRAM_GENERATION: u32 = u32::MAX;

/// Bytes of the address before each datagram on a UDP socket's ends: the
/// destination (0.0.0.0:0 for the connected peer) from the guest, the
/// source to it. A guest UDP socket is one end of a `SOCK_SEQPACKET`
/// pair, so each message is one datagram (and a hang-up is seen).
pub const DATAGRAM_HEADER: usize = 8;

/// The header of a datagram to or from `addr`.
pub fn encode_datagram_header(addr: Addr) -> [u8; DATAGRAM_HEADER] {
    let mut out = [0u8; DATAGRAM_HEADER];
    addr.encode(&mut out[..6]);
    out
}

/// The address in a datagram's header (`raw` is at least
/// [`DATAGRAM_HEADER`] bytes long, or `None`).
pub fn decode_datagram_header(raw: &[u8]) -> Option<Addr> {
    (raw.len() >= DATAGRAM_HEADER).then(|| Addr::decode(&raw[..6]))
}

/// The requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Op {
    /// A new unconnected TCP socket (UDP when `args[0]` is 1); the reply
    /// carries its descriptor.
    Socket = 1,
    /// `bind(addr)`.
    Bind = 2,
    /// `listen(args[0] = backlog)`; the reply carries the listening
    /// descriptor that replaces the guest's.
    Listen = 3,
    /// `connect(addr)`, `args[0]` = 1 when the guest's descriptor is
    /// non-blocking (the reply is then `EINPROGRESS` at once).
    Connect = 4,
    /// `getsockname`: the reply's address.
    LocalName = 5,
    /// `getpeername`: the reply's address.
    PeerName = 6,
    /// `setsockopt(args[0] = level, args[1] = name, args[2] = int value)`.
    SetOption = 7,
    /// `getsockopt(args[0] = level, args[1] = name)`: the reply's value.
    GetOption = 8,
    /// `connect` to `AF_UNSPEC` on a UDP socket: the peer is forgotten,
    /// and a port the guest did not bind itself is given up (as Linux).
    Disconnect = 9,
}

impl Op {
    fn from_u32(value: u32) -> Option<Op> {
        Some(match value {
            1 => Op::Socket,
            2 => Op::Bind,
            3 => Op::Listen,
            4 => Op::Connect,
            5 => Op::LocalName,
            6 => Op::PeerName,
            7 => Op::SetOption,
            8 => Op::GetOption,
            9 => Op::Disconnect,
            _ => return None,
        })
    }
}

/// An IPv4 socket address, in host order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Addr {
    pub ip: [u8; 4],
    pub port: u16,
}

impl Addr {
    fn encode(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.ip);
        out[4..6].copy_from_slice(&self.port.to_le_bytes());
    }

    fn decode(raw: &[u8]) -> Addr {
        Addr {
            ip: raw[..4].try_into().expect("4 bytes"),
            port: u16::from_le_bytes([raw[4], raw[5]]),
        }
    }

    /// A `struct sockaddr_in` (16 bytes) for this address.
    pub fn to_sockaddr_in(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..2].copy_from_slice(&2u16.to_le_bytes());
        out[2..4].copy_from_slice(&self.port.to_be_bytes());
        out[4..8].copy_from_slice(&self.ip);
        out
    }

    /// The address of a `struct sockaddr_in` (checked by the caller to be
    /// `AF_INET` and long enough).
    pub fn from_sockaddr_in(raw: &[u8]) -> Addr {
        Addr {
            ip: raw[4..8].try_into().expect("4 bytes"),
            port: u16::from_be_bytes([raw[2], raw[3]]),
        }
    }
}

/// One request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub op: Op,
    /// The socket's id (0 for `Socket`).
    pub id: u32,
    pub args: [u32; 3],
    pub addr: Addr,
}

impl Request {
    pub fn encode(&self) -> [u8; REQUEST_SIZE] {
        let mut out = [0u8; REQUEST_SIZE];
        out[..4].copy_from_slice(&(self.op as u32).to_le_bytes());
        out[4..8].copy_from_slice(&self.id.to_le_bytes());
        for (i, arg) in self.args.iter().enumerate() {
            out[8 + 4 * i..12 + 4 * i].copy_from_slice(&arg.to_le_bytes());
        }
        self.addr.encode(&mut out[20..26]);
        out
    }

    /// The request in `raw`, or `None` if it is not one.
    pub fn decode(raw: &[u8]) -> Option<Request> {
        if raw.len() != REQUEST_SIZE {
            return None;
        }
        let word = |at: usize| u32::from_le_bytes(raw[at..at + 4].try_into().expect("4 bytes"));
        Some(Request {
            op: Op::from_u32(word(0))?,
            id: word(4),
            args: [word(8), word(12), word(16)],
            addr: Addr::decode(&raw[20..26]),
        })
    }
}

/// One reply: `errno` 0 for success.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    pub errno: u32,
    pub value: u32,
    pub addr: Addr,
}

impl Reply {
    pub fn error(errno: u32) -> Reply {
        Reply {
            errno,
            ..Reply::default()
        }
    }

    pub fn encode(&self) -> [u8; REPLY_SIZE] {
        let mut out = [0u8; REPLY_SIZE];
        out[..4].copy_from_slice(&self.errno.to_le_bytes());
        out[4..8].copy_from_slice(&self.value.to_le_bytes());
        self.addr.encode(&mut out[8..14]);
        out
    }

    pub fn decode(raw: &[u8]) -> Option<Reply> {
        if raw.len() != REPLY_SIZE {
            return None;
        }
        Some(Reply {
            errno: u32::from_le_bytes(raw[..4].try_into().expect("4 bytes")),
            value: u32::from_le_bytes(raw[4..8].try_into().expect("4 bytes")),
            addr: Addr::decode(&raw[8..14]),
        })
    }
}

/// The message that comes with an accepted connection.
pub fn encode_accepted(peer: Addr, local: Addr) -> [u8; ACCEPTED_SIZE] {
    let mut out = [0u8; ACCEPTED_SIZE];
    peer.encode(&mut out[..6]);
    local.encode(&mut out[8..14]);
    out
}

/// The peer's address of an accepted connection's message.
pub fn decode_accepted(raw: &[u8]) -> Option<(Addr, Addr)> {
    (raw.len() == ACCEPTED_SIZE).then(|| (Addr::decode(&raw[..6]), Addr::decode(&raw[8..14])))
}

/// The abstract name (`sun_path`, leading NUL included) of the socket
/// `id` in its generation `generation` (a socket gets a new descriptor,
/// so a new name, when it starts listening), written into `out`; returns
/// its length.
pub fn socket_name(id: u32, generation: u32, out: &mut [u8; 40]) -> usize {
    let mut len = NAME_PREFIX.len();
    out[..len].copy_from_slice(NAME_PREFIX);
    for (i, n) in [id, generation].into_iter().enumerate() {
        if i == 1 {
            out[len] = b'.';
            len += 1;
        }
        let mut digits = [0u8; 10];
        let mut count = 0;
        let mut n = n;
        loop {
            digits[count] = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for d in digits[..count].iter().rev() {
            out[len] = *d;
            len += 1;
        }
    }
    len
}

/// Whether the stack's socket named `path` (as for [`parse_name`]) is a
/// UDP one.
pub fn is_datagram(path: &[u8]) -> bool {
    let mut name = [0u8; 40];
    let len = socket_name(0, DATAGRAM_GENERATION, &mut name);
    let suffix = &name[NAME_PREFIX.len() + 1..len];
    path.ends_with(suffix)
}

/// The socket id in a `sun_path` (as `getsockname` gives it: `path` is
/// the bytes after `sun_family`), or `None` if the name is not the stack's.
pub fn parse_name(path: &[u8]) -> Option<u32> {
    let rest = path.strip_prefix(NAME_PREFIX)?;
    let digits = rest.split(|&b| b == b'.').next()?;
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    digits.iter().try_fold(0u32, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + (d - b'0') as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let request = Request {
            op: Op::Connect,
            id: 77,
            args: [1, 2, 3],
            addr: Addr {
                ip: [10, 200, 3, 1],
                port: 8080,
            },
        };
        assert_eq!(Request::decode(&request.encode()), Some(request));
        let reply = Reply {
            errno: 111,
            value: 9,
            addr: request.addr,
        };
        assert_eq!(Reply::decode(&reply.encode()), Some(reply));
        let peer = Addr {
            ip: [127, 0, 0, 1],
            port: 40000,
        };
        assert_eq!(
            decode_accepted(&encode_accepted(peer, request.addr)),
            Some((peer, request.addr))
        );
    }

    #[test]
    fn malformed_requests_are_refused() {
        assert_eq!(Request::decode(&[0u8; 31]), None);
        let mut raw = Request {
            op: Op::Bind,
            id: 1,
            args: [0; 3],
            addr: Addr::default(),
        }
        .encode();
        raw[0] = 99;
        assert_eq!(Request::decode(&raw), None);
        assert_eq!(Reply::decode(&[0u8; 3]), None);
    }

    #[test]
    fn names_carry_the_id_and_nothing_else_parses() {
        let mut out = [0u8; 40];
        let len = socket_name(4_000_000, 2, &mut out);
        assert_eq!(&out[..len], b"\0oxbox-netstack/4000000.2");
        assert_eq!(parse_name(&out[..len]), Some(4_000_000));
        let len = socket_name(0, 0, &mut out);
        assert_eq!(parse_name(&out[..len]), Some(0));
        assert_eq!(parse_name(b"\0oxbox-netstack/"), None);
        assert_eq!(parse_name(b"\0oxbox-netstack/1x.0"), None);
        assert_eq!(parse_name(b"\0oxbox-netstack/12345678901.0"), None);
        assert_eq!(parse_name(b"/tmp/oxbox-netstack/1.0"), None);
        assert_eq!(parse_name(b""), None);
        let len = socket_name(12, DATAGRAM_GENERATION, &mut out);
        assert!(is_datagram(&out[..len]));
        assert_eq!(parse_name(&out[..len]), Some(12));
        let len = socket_name(12, 1, &mut out);
        assert!(!is_datagram(&out[..len]));
        let header = encode_datagram_header(peer_example());
        assert_eq!(decode_datagram_header(&header), Some(peer_example()));
        assert_eq!(decode_datagram_header(&header[..7]), None);
    }

    fn peer_example() -> Addr {
        Addr {
            ip: [10, 200, 7, 1],
            port: 5353,
        }
    }

    #[test]
    fn sockaddr_in_is_in_network_order() {
        let addr = Addr {
            ip: [10, 200, 0, 2],
            port: 0x1f90,
        };
        let raw = addr.to_sockaddr_in();
        assert_eq!(&raw[..8], &[2, 0, 0x1f, 0x90, 10, 200, 0, 2]);
        assert_eq!(Addr::from_sockaddr_in(&raw), addr);
    }
}
