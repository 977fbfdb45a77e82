//! The socket options a guest may get and set.
//!
//! Options reach the host by value (the kernel copies the guest's buffer
//! in and the host's answer out), so only options whose values are plain
//! data are listed: none that carries a pointer the host would follow
//! (socket filters) or attaches programs. Anything else is `ENOPROTOOPT`,
//! Linux's answer for an option it does not know.

use oxbox_abi::hostcalls::{
    IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, SOL_NETLINK, SOL_SOCKET,
};

/// `SO_PEERCRED`: a `struct ucred`, whose ids the kernel rewrites.
pub const SO_PEERCRED: u32 = 17;
/// `SO_PEERGROUPS`: the peer's groups, answered with the container's.
pub const SO_PEERGROUPS: u32 = 59;
/// `SO_TYPE`, `SO_DOMAIN`: what a socket is.
pub const SO_TYPE: u32 = 3;
pub const SO_DOMAIN: u32 = 39;

/// `SOL_SOCKET` options: REUSEADDR, TYPE, ERROR, DONTROUTE, BROADCAST,
/// SNDBUF, RCVBUF, KEEPALIVE, OOBINLINE, NO_CHECK, PRIORITY, LINGER,
/// BSDCOMPAT, REUSEPORT, PASSCRED, PEERCRED, RCVLOWAT, SNDLOWAT,
/// RCVTIMEO/SNDTIMEO (old), BINDTODEVICE, TIMESTAMP, ACCEPTCONN,
/// SNDBUFFORCE, RCVBUFFORCE, PASSSEC, TIMESTAMPNS, MARK, PROTOCOL, DOMAIN,
/// RXQ_OVFL, PEEK_OFF, BUSY_POLL, INCOMING_CPU, COOKIE, PEERGROUPS, ZEROCOPY,
/// BINDTOIFINDEX, TIMESTAMP(NS)_NEW, RCVTIMEO/SNDTIMEO (new).
const SOCKET_OPTIONS: &[u32] = &[
    2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 25, 29, 30, 32, 33, 34,
    35, 36, 38, 39, 40, 42, 46, 49, 57, 59, 60, 62, 63, 64, 66, 67,
];
/// `IPPROTO_IP`: TOS, TTL, OPTIONS, RECVOPTS, RETOPTS, PKTINFO,
/// MTU_DISCOVER, RECVERR, RECVTTL, RECVTOS, MTU, FREEBIND,
/// RECVORIGDSTADDR, BIND_ADDRESS_NO_PORT, MULTICAST_IF/TTL/LOOP,
/// ADD/DROP_MEMBERSHIP.
const IP_OPTIONS: &[u32] = &[
    1, 2, 4, 6, 7, 8, 10, 11, 12, 13, 14, 15, 20, 24, 32, 33, 34, 35, 36,
];
/// `IPPROTO_TCP`: NODELAY, MAXSEG, CORK, KEEPIDLE, KEEPINTVL, KEEPCNT,
/// SYNCNT, LINGER2, DEFER_ACCEPT, WINDOW_CLAMP, INFO, QUICKACK,
/// CONGESTION, USER_TIMEOUT, FASTOPEN, NOTSENT_LOWAT, FASTOPEN_CONNECT,
/// INQ.
const TCP_OPTIONS: &[u32] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 18, 23, 25, 30, 36,
];
/// `IPPROTO_UDP`: CORK, SEGMENT, GRO.
const UDP_OPTIONS: &[u32] = &[1, 103, 104];
/// `IPPROTO_IPV6`: UNICAST_HOPS, MULTICAST_IF/HOPS/LOOP, JOIN/LEAVE_GROUP,
/// MTU_DISCOVER, MTU, RECVERR, V6ONLY, RECVPKTINFO, PKTINFO,
/// RECVHOPLIMIT, HOPLIMIT, RECVTCLASS, TCLASS.
const IPV6_OPTIONS: &[u32] = &[
    16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 49, 50, 51, 52, 66, 67,
];
/// `SOL_NETLINK`: ADD/DROP_MEMBERSHIP, PKTINFO, BROADCAST_ERROR,
/// NO_ENOBUFS, LISTEN_ALL_NSID, CAP_ACK, EXT_ACK, GET_STRICT_CHK.
const NETLINK_OPTIONS: &[u32] = &[1, 2, 3, 4, 5, 8, 10, 11, 12];

/// Whether option `name` of `level` may reach the host.
pub fn allowed(level: u32, name: u32) -> bool {
    let names = match level {
        SOL_SOCKET => SOCKET_OPTIONS,
        IPPROTO_IP => IP_OPTIONS,
        IPPROTO_TCP => TCP_OPTIONS,
        IPPROTO_UDP => UDP_OPTIONS,
        IPPROTO_IPV6 => IPV6_OPTIONS,
        SOL_NETLINK => NETLINK_OPTIONS,
        _ => return false,
    };
    names.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_options_pass_and_filters_do_not() {
        const SO_REUSEADDR: u32 = 2;
        const TCP_NODELAY: u32 = 1;
        const IPV6_V6ONLY: u32 = 26;
        const SO_ATTACH_FILTER: u32 = 26;
        const SO_ATTACH_BPF: u32 = 50;
        assert!(allowed(SOL_SOCKET, SO_REUSEADDR));
        assert!(allowed(IPPROTO_TCP, TCP_NODELAY));
        assert!(allowed(IPPROTO_IPV6, IPV6_V6ONLY));
        assert!(!allowed(SOL_SOCKET, SO_ATTACH_FILTER));
        assert!(!allowed(SOL_SOCKET, SO_ATTACH_BPF));
        assert!(!allowed(255, 1));
    }
}
