//! Which sockets a guest may create, and how they are created on the host.
//!
//! The host allowlist lets through only the families, types and protocol
//! of `oxbox_abi::hostcalls` ([`SOCKET_FAMILIES`], [`SOCKET_TYPES`], and
//! protocol 0). [`host_socket`] maps a guest's `socket` arguments onto
//! them, or gives the errno Linux gives for a socket the container cannot
//! have.

use oxbox_abi::hostcalls::{
    AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK,
    SOCK_SEQPACKET, SOCK_STREAM, SOCKET_FAMILIES,
};

use crate::Errno;

const SOCK_RAW: u32 = 3;
const SOCK_TYPE_MASK: u32 = 0xf;
/// Linux's `SOCK_MAX`: larger types are `EINVAL`.
const SOCK_MAX: u32 = 11;
const PF_UNIX: u32 = 1;
const IPPROTO_ICMP: u32 = 1;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;
const IPPROTO_ICMPV6: u32 = 58;
const NETLINK_ROUTE: u32 = 0;

/// The host `socket` arguments (family, type with flags, protocol) for a
/// guest's `socket(family, ty, protocol)`.
pub fn host_socket(family: u32, ty: u32, protocol: u32) -> Result<(u32, u32, u32), Errno> {
    let flags = ty & !SOCK_TYPE_MASK;
    let kind = ty & SOCK_TYPE_MASK;
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if !SOCKET_FAMILIES.contains(&family) {
        return Err(Errno::EAFNOSUPPORT);
    }
    if kind >= SOCK_MAX {
        return Err(Errno::EINVAL);
    }
    let host_kind = match family {
        AF_UNIX => {
            if protocol != 0 && protocol != PF_UNIX {
                return Err(Errno::EPROTONOSUPPORT);
            }
            match kind {
                SOCK_STREAM | SOCK_DGRAM | SOCK_SEQPACKET => kind,
                // Linux makes a unix SOCK_RAW socket a datagram one.
                SOCK_RAW => SOCK_DGRAM,
                _ => return Err(Errno::ESOCKTNOSUPPORT),
            }
        }
        AF_INET | AF_INET6 => match (kind, protocol) {
            (SOCK_STREAM, 0 | IPPROTO_TCP) | (SOCK_DGRAM, 0 | IPPROTO_UDP) => kind,
            // Ping sockets: `net.ipv4.ping_group_range` admits nobody by default.
            (SOCK_DGRAM, IPPROTO_ICMP | IPPROTO_ICMPV6) => return Err(Errno::EACCES),
            // As without CAP_NET_RAW, which containers do not have.
            (SOCK_RAW, _) => return Err(Errno::EPERM),
            (SOCK_STREAM | SOCK_DGRAM, _) => return Err(Errno::EPROTONOSUPPORT),
            _ => return Err(Errno::ESOCKTNOSUPPORT),
        },
        AF_NETLINK => {
            if protocol != NETLINK_ROUTE {
                return Err(Errno::EPROTONOSUPPORT);
            }
            match kind {
                // Netlink makes no difference between the two; `SO_TYPE`
                // reports SOCK_RAW, the type netlink users ask for.
                SOCK_RAW | SOCK_DGRAM => SOCK_DGRAM,
                _ => return Err(Errno::ESOCKTNOSUPPORT),
            }
        }
        _ => unreachable!("families are checked above"),
    };
    Ok((family, host_kind | flags, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_protocols_are_passed_as_zero() {
        assert_eq!(
            host_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP),
            Ok((AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))
        );
        assert_eq!(
            host_socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDP),
            Ok((AF_INET6, SOCK_DGRAM, 0))
        );
        assert_eq!(
            host_socket(AF_UNIX, SOCK_STREAM, PF_UNIX),
            Ok((AF_UNIX, 1, 0))
        );
    }

    #[test]
    fn raw_netlink_becomes_datagram_and_raw_inet_is_refused() {
        assert_eq!(
            host_socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE),
            Ok((AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, 0))
        );
        assert_eq!(host_socket(AF_INET, SOCK_RAW, 1), Err(Errno::EPERM));
        assert_eq!(
            host_socket(AF_NETLINK, SOCK_RAW, 9),
            Err(Errno::EPROTONOSUPPORT)
        );
    }

    #[test]
    fn other_families_and_bad_types_are_refused() {
        const AF_PACKET: u32 = 17;
        assert_eq!(
            host_socket(AF_PACKET, SOCK_RAW, 0),
            Err(Errno::EAFNOSUPPORT)
        );
        assert_eq!(host_socket(12345, SOCK_STREAM, 0), Err(Errno::EAFNOSUPPORT));
        assert_eq!(host_socket(AF_INET, 15, 0), Err(Errno::EINVAL));
        assert_eq!(
            host_socket(AF_INET, SOCK_STREAM | 0x40, 0),
            Err(Errno::EINVAL)
        );
        assert_eq!(host_socket(AF_UNIX, 4, 0), Err(Errno::ESOCKTNOSUPPORT));
        assert_eq!(
            host_socket(AF_INET, SOCK_STREAM, 17),
            Err(Errno::EPROTONOSUPPORT)
        );
    }
}
