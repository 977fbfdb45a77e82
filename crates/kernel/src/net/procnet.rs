//! `/proc/net`: the files programs read to learn the container's
//! interfaces (busybox and net-tools `ifconfig`, psutil, Java), computed
//! from route netlink answers of the host for the container's network
//! namespace, in the host kernel's own formats.
//!
//! Only the interface files are offered: `dev` (counters) and `if_inet6`
//! (IPv6 addresses). The socket tables (`tcp`, `udp`, `unix`) would need
//! the sock_diag netlink family, which the host allowlist does not let
//! through.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use oxbox_abi::Sysno;
use oxbox_abi::hostcalls::{AF_INET6, AF_NETLINK, SOCK_CLOEXEC, SOCK_DGRAM};

use crate::Errno;
use crate::syscall::host_call;

/// The files of `/proc/<pid>/net` (and `/proc/net`).
pub const FILES: &[&str] = &["dev", "if_inet6"];

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const IFLA_IFNAME: u16 = 3;
const IFLA_STATS64: u16 = 23;
const IFA_ADDRESS: u16 = 1;
const IFA_FLAGS: u16 = 8;
/// `struct nlmsghdr`.
const NLMSG_HEADER: usize = 16;
/// `struct ifinfomsg`, `struct ifaddrmsg`.
const IFINFOMSG: usize = 16;
const IFADDRMSG: usize = 8;

/// The contents of `/proc/net/<name>`.
pub fn contents(name: &str) -> Result<Vec<u8>, Errno> {
    let links = dump(RTM_GETLINK, 0)?;
    let text = match name {
        "dev" => dev(&links),
        "if_inet6" => if_inet6(&names(&links), &dump(RTM_GETADDR, AF_INET6 as u8)?),
        _ => return Err(Errno::ENOENT),
    };
    Ok(text.into_bytes())
}

/// One route netlink answer: its type, fixed header and attributes.
struct Message {
    kind: u16,
    header: Vec<u8>,
    attrs: Vec<(u16, Vec<u8>)>,
}

impl Message {
    fn attr(&self, kind: u16) -> Option<&[u8]> {
        self.attrs
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v.as_slice())
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// Asks the host for a dump of `kind` (`RTM_GETLINK`, `RTM_GETADDR`) for
/// `family` and collects the answers.
fn dump(kind: u16, family: u8) -> Result<Vec<Message>, Errno> {
    let fd = host_call(
        Sysno::socket,
        [
            AF_NETLINK as u64,
            (SOCK_DGRAM | SOCK_CLOEXEC) as u64,
            0,
            0,
            0,
            0,
        ],
    )?;
    let result = exchange(fd, kind, family);
    let _ = host_call(Sysno::close, [fd, 0, 0, 0, 0, 0]);
    result
}

fn exchange(fd: u64, kind: u16, family: u8) -> Result<Vec<Message>, Errno> {
    let body = if kind == RTM_GETLINK {
        IFINFOMSG
    } else {
        IFADDRMSG
    };
    let mut request = vec![0u8; NLMSG_HEADER + body];
    request[..4].copy_from_slice(&((NLMSG_HEADER + body) as u32).to_le_bytes());
    request[4..6].copy_from_slice(&kind.to_le_bytes());
    request[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_le_bytes());
    request[8..12].copy_from_slice(&1u32.to_le_bytes());
    request[NLMSG_HEADER] = family;
    host_call(
        Sysno::sendto,
        [fd, request.as_ptr() as u64, request.len() as u64, 0, 0, 0],
    )?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let n = host_call(
            Sysno::recvfrom,
            [fd, buf.as_mut_ptr() as u64, buf.len() as u64, 0, 0, 0],
        )? as usize;
        let mut at = 0;
        while at + NLMSG_HEADER <= n {
            let len = u32_at(&buf, at) as usize;
            if len < NLMSG_HEADER || at + len > n {
                return Err(Errno::EIO);
            }
            match u16_at(&buf, at + 4) {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => return Err(Errno::EIO),
                kind => out.push(parse(kind, &buf[at + NLMSG_HEADER..at + len], body)),
            }
            at += len.next_multiple_of(4);
        }
    }
}

/// Splits a message body into its fixed header and its attributes.
fn parse(kind: u16, body: &[u8], header: usize) -> Message {
    let header = header.min(body.len());
    let mut attrs = Vec::new();
    let mut at = header;
    while at + 4 <= body.len() {
        let len = u16_at(body, at) as usize;
        if len < 4 || at + len > body.len() {
            break;
        }
        attrs.push((u16_at(body, at + 2), body[at + 4..at + len].to_vec()));
        at += len.next_multiple_of(4);
    }
    Message {
        kind,
        header: body[..header].to_vec(),
        attrs,
    }
}

/// Interface names by index.
fn names(links: &[Message]) -> BTreeMap<u32, String> {
    links
        .iter()
        .filter(|m| m.kind == RTM_NEWLINK && m.header.len() >= 8)
        .filter_map(|m| Some((u32_at(&m.header, 4), name_of(m)?)))
        .collect()
}

fn name_of(link: &Message) -> Option<String> {
    let raw = link.attr(IFLA_IFNAME)?;
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    Some(String::from_utf8_lossy(&raw[..end]).into_owned())
}

/// `/proc/net/dev`, as Linux's `dev_seq_show` prints it.
fn dev(links: &[Message]) -> String {
    let mut out = String::from(
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets \
         errs drop fifo colls carrier compressed\n",
    );
    for link in links.iter().filter(|m| m.kind == RTM_NEWLINK) {
        let (Some(name), Some(raw)) = (name_of(link), link.attr(IFLA_STATS64)) else {
            continue;
        };
        // struct rtnl_link_stats64, in order.
        let s = |i: usize| {
            raw.get(i * 8..i * 8 + 8)
                .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        };
        let (rx_packets, tx_packets, rx_bytes, tx_bytes) = (s(0), s(1), s(2), s(3));
        let (rx_errors, tx_errors, rx_dropped, tx_dropped) = (s(4), s(5), s(6), s(7));
        let (multicast, collisions) = (s(8), s(9));
        let rx_frame_all = s(10) + s(11) + s(12) + s(13);
        let (rx_fifo, rx_missed) = (s(14), s(15));
        let tx_carrier_all = s(16) + s(17) + s(19) + s(20);
        let (tx_fifo, rx_compressed, tx_compressed) = (s(18), s(21), s(22));
        out.push_str(&format!(
            "{name:>6}: {rx_bytes:>7} {rx_packets:>7} {rx_errors:>4} {:>4} {rx_fifo:>4} \
             {rx_frame_all:>5} {rx_compressed:>10} {multicast:>9} {tx_bytes:>8} {tx_packets:>7} \
             {tx_errors:>4} {tx_dropped:>4} {tx_fifo:>4} {collisions:>5} {tx_carrier_all:>7} \
             {tx_compressed:>10}\n",
            rx_dropped + rx_missed,
        ));
    }
    out
}

/// `/proc/net/if_inet6`, as Linux's `if6_seq_show` prints it: the address
/// in hex, the interface index, prefix length, scope (Linux's IPv6 scope
/// bits, not netlink's route scope) and flags, and the interface name.
fn if_inet6(names: &BTreeMap<u32, String>, addrs: &[Message]) -> String {
    let mut out = String::new();
    for addr in addrs
        .iter()
        .filter(|m| m.kind == RTM_NEWADDR && m.header.len() >= 8)
    {
        let Some(ip) = addr.attr(IFA_ADDRESS).filter(|a| a.len() == 16) else {
            continue;
        };
        let (prefix, flags, scope) = (addr.header[1], addr.header[2], addr.header[3]);
        let flags = addr
            .attr(IFA_FLAGS)
            .filter(|f| f.len() == 4)
            .map_or(flags, |f| f[0]);
        let index = u32_at(&addr.header, 4);
        let scope = match scope {
            254 => 0x10, // RT_SCOPE_HOST: IPV6_ADDR_LOOPBACK
            253 => 0x20, // RT_SCOPE_LINK: IPV6_ADDR_LINKLOCAL
            200 => 0x40, // RT_SCOPE_SITE: IPV6_ADDR_SITELOCAL
            _ => 0x00,
        };
        let hex: String = ip.iter().map(|b| format!("{b:02x}")).collect();
        let name = names.get(&index).map_or("", String::as_str);
        out.push_str(&format!(
            "{hex} {index:02x} {prefix:02x} {scope:02x} {flags:02x} {name:>8}\n"
        ));
    }
    out
}
