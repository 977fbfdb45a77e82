//! The stack's interface: the container end of the veth pair through an
//! `AF_PACKET` socket, and loopback.
//!
//! smoltcp sees an IP device ([`Wire`]): this module does the Ethernet
//! framing and the little ARP a point-to-point link needs (answer for our
//! address, learn the gateway's hardware address), and hands packets for
//! our own addresses (127.0.0.0/8 and the interface's) straight back to
//! smoltcp, so that loopback connections are served by the same stack.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

const ETH_HEADER: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const BROADCAST: [u8; 6] = [0xff; 6];
/// The veth's MTU (Linux's default for veth).
pub const MTU: usize = 1500;
/// Packets kept while the gateway's hardware address is being asked for.
const WAITING_MAX: usize = 64;

/// The container's interface, opened in its network namespace while the
/// caller still has `CAP_NET_RAW` and `CAP_NET_ADMIN`.
pub struct Interface {
    pub packet: OwnedFd,
    pub mac: [u8; 6],
}

fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

fn ioctl(fd: &OwnedFd, request: libc::c_ulong, req: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: the interface ioctls used here read and write only the
    // `ifreq` they are given, valid and writable for the whole call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), request, req as *mut libc::ifreq) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Brings `name` up and opens a non-blocking packet socket bound to it.
pub fn open(name: &str) -> io::Result<Interface> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: socket takes integer arguments only.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            proto as i32,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor just created and owned by nobody else.
    let packet = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut req = ifreq_for(name)?;
    ioctl(&packet, libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS succeeded, so `ifru_flags` is the member set.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    ioctl(&packet, libc::SIOCSIFFLAGS, &mut req)?;
    let mut req = ifreq_for(name)?;
    ioctl(&packet, libc::SIOCGIFHWADDR, &mut req)?;
    // SAFETY: SIOCGIFHWADDR succeeded, so `ifru_hwaddr` is the member set.
    let hw = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(hw.sa_data.iter()) {
        *dst = *src as u8;
    }
    let mut req = ifreq_for(name)?;
    ioctl(&packet, libc::SIOCGIFINDEX, &mut req)?;
    // SAFETY: SIOCGIFINDEX succeeded, so `ifru_ifindex` is the member set.
    let index = unsafe { req.ifr_ifru.ifru_ifindex };
    // SAFETY: `sockaddr_ll` is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = index;
    // SAFETY: bind reads `size_of::<sockaddr_ll>()` bytes of `addr`,
    // which lives until the call returns.
    let bound = unsafe {
        libc::bind(
            packet.as_raw_fd(),
            &addr as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if bound < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Interface { packet, mac })
}

/// The IP device smoltcp polls.
pub struct Wire {
    packet: OwnedFd,
    mac: [u8; 6],
    address: [u8; 4],
    gateway: [u8; 4],
    gateway_mac: Option<[u8; 6]>,
    /// IP packets for smoltcp: from the wire, or looped back.
    rx: VecDeque<Vec<u8>>,
    /// IP packets for the gateway, while its hardware address is unknown.
    waiting: VecDeque<Vec<u8>>,
}

impl Wire {
    pub fn new(interface: Interface, address: [u8; 4], gateway: [u8; 4]) -> Wire {
        Wire {
            packet: interface.packet,
            mac: interface.mac,
            address,
            gateway,
            gateway_mac: None,
            rx: VecDeque::new(),
            waiting: VecDeque::new(),
        }
    }

    pub fn packet_fd(&self) -> &OwnedFd {
        &self.packet
    }

    /// Whether smoltcp has packets to read (loopback ones included).
    pub fn has_input(&self) -> bool {
        !self.rx.is_empty()
    }

    /// Reads every frame waiting on the packet socket.
    pub fn drain(&mut self) {
        let mut frame = vec![0u8; MTU + ETH_HEADER];
        loop {
            // SAFETY: recv writes at most `frame.len()` bytes into `frame`.
            let n = unsafe {
                libc::recv(
                    self.packet.as_raw_fd(),
                    frame.as_mut_ptr().cast(),
                    frame.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                return;
            }
            let n = n as usize;
            if n <= frame.len() {
                self.receive_frame(&frame[..n]);
            }
        }
    }

    /// One received frame: hostile input, checked field by field.
    pub fn receive_frame(&mut self, frame: &[u8]) {
        if frame.len() < ETH_HEADER || frame[6..12] == self.mac {
            // Too short, or one of ours that the packet socket also sees.
            return;
        }
        let dst: [u8; 6] = frame[..6].try_into().expect("6 bytes");
        let src: [u8; 6] = frame[6..12].try_into().expect("6 bytes");
        let payload = &frame[ETH_HEADER..];
        match u16::from_be_bytes([frame[12], frame[13]]) {
            ETHERTYPE_ARP => self.arp(payload),
            ETHERTYPE_IPV4 if dst == self.mac && payload.len() >= 20 => {
                // Everything routed to us comes through the gateway.
                self.learn_gateway(src);
                self.rx.push_back(payload.to_vec());
            }
            _ => {}
        }
    }

    fn learn_gateway(&mut self, mac: [u8; 6]) {
        if self.gateway_mac != Some(mac) && mac[0] & 1 == 0 {
            self.gateway_mac = Some(mac);
            while let Some(packet) = self.waiting.pop_front() {
                self.send_frame(mac, ETHERTYPE_IPV4, &packet);
            }
        }
    }

    /// ARP for Ethernet and IPv4: answers requests for our address and
    /// learns the gateway's hardware address from what it says.
    fn arp(&mut self, arp: &[u8]) {
        if arp.len() < 28 || arp[..6] != [0, 1, 8, 0, 6, 4] {
            return;
        }
        let op = u16::from_be_bytes([arp[6], arp[7]]);
        let sender_mac: [u8; 6] = arp[8..14].try_into().expect("6 bytes");
        let sender_ip: [u8; 4] = arp[14..18].try_into().expect("4 bytes");
        let target_ip: [u8; 4] = arp[24..28].try_into().expect("4 bytes");
        if sender_ip == self.gateway {
            self.learn_gateway(sender_mac);
        }
        if op == 1 && target_ip == self.address {
            let reply = arp_packet(2, self.mac, self.address, sender_mac, sender_ip);
            self.send_frame(sender_mac, ETHERTYPE_ARP, &reply);
        }
    }

    fn send_frame(&self, dst: [u8; 6], ethertype: u16, payload: &[u8]) {
        let mut frame = Vec::with_capacity(ETH_HEADER + payload.len());
        frame.extend_from_slice(&dst);
        frame.extend_from_slice(&self.mac);
        frame.extend_from_slice(&ethertype.to_be_bytes());
        frame.extend_from_slice(payload);
        // A full queue drops the frame, as a NIC would; TCP retransmits.
        // SAFETY: send reads `frame.len()` bytes of `frame`.
        let _ = unsafe {
            libc::send(
                self.packet.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                libc::MSG_DONTWAIT,
            )
        };
    }

    /// One IP packet from smoltcp.
    fn output(&mut self, packet: Vec<u8>) {
        if packet.len() < 20 {
            return;
        }
        let dst: [u8; 4] = packet[16..20].try_into().expect("4 bytes");
        if dst[0] == 127 || dst == self.address {
            self.rx.push_back(packet);
            return;
        }
        match self.gateway_mac {
            Some(mac) => self.send_frame(mac, ETHERTYPE_IPV4, &packet),
            None => {
                if self.waiting.is_empty() {
                    let request = arp_packet(1, self.mac, self.address, [0; 6], self.gateway);
                    self.send_frame(BROADCAST, ETHERTYPE_ARP, &request);
                }
                if self.waiting.len() < WAITING_MAX {
                    self.waiting.push_back(packet);
                }
            }
        }
    }

    /// Asks again for the gateway's address if packets still wait for it
    /// (the first request or its answer may have been lost).
    pub fn retry_arp(&self) {
        if self.gateway_mac.is_none() && !self.waiting.is_empty() {
            let request = arp_packet(1, self.mac, self.address, [0; 6], self.gateway);
            self.send_frame(BROADCAST, ETHERTYPE_ARP, &request);
        }
    }
}

fn arp_packet(
    op: u16,
    sender_mac: [u8; 6],
    sender_ip: [u8; 4],
    target_mac: [u8; 6],
    target_ip: [u8; 4],
) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[..6].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
    p[6..8].copy_from_slice(&op.to_be_bytes());
    p[8..14].copy_from_slice(&sender_mac);
    p[14..18].copy_from_slice(&sender_ip);
    p[18..24].copy_from_slice(&target_mac);
    p[24..28].copy_from_slice(&target_ip);
    p
}

pub struct RxToken(Vec<u8>);
pub struct TxToken<'a>(&'a mut Wire);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = vec![0u8; len];
        let result = f(&mut packet);
        self.0.output(packet);
        result
    }
}

impl Device for Wire {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let packet = self.rx.pop_front()?;
        Some((RxToken(packet), TxToken(self)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken(self))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_wire() -> (Wire, OwnedFd) {
        let (a, b) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::Datagram,
            None,
            nix::sys::socket::SockFlag::SOCK_NONBLOCK,
        )
        .unwrap();
        let interface = Interface {
            packet: a,
            mac: [2, 0, 0, 0, 0, 2],
        };
        (Wire::new(interface, [10, 200, 0, 2], [10, 200, 0, 1]), b)
    }

    fn read_frame(fd: &OwnedFd) -> Option<Vec<u8>> {
        let mut buf = [0u8; 2048];
        let n = nix::unistd::read(fd, &mut buf).ok()?;
        Some(buf[..n].to_vec())
    }

    #[test]
    fn arp_requests_for_our_address_are_answered_and_the_gateway_learned() {
        let (mut wire, peer) = test_wire();
        let host = [2, 0, 0, 0, 0, 1];
        let request = arp_packet(1, host, [10, 200, 0, 1], [0; 6], [10, 200, 0, 2]);
        let mut frame = BROADCAST.to_vec();
        frame.extend_from_slice(&host);
        frame.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        frame.extend_from_slice(&request);
        wire.receive_frame(&frame);
        let reply = read_frame(&peer).unwrap();
        assert_eq!(&reply[..6], &host);
        assert_eq!(&reply[ETH_HEADER + 6..ETH_HEADER + 8], &[0, 2]);
        assert_eq!(&reply[ETH_HEADER + 14..ETH_HEADER + 18], &[10, 200, 0, 2]);
        assert_eq!(wire.gateway_mac, Some(host));
        // A request for another address gets no answer.
        let other = arp_packet(1, host, [10, 200, 0, 1], [0; 6], [10, 200, 0, 3]);
        frame.truncate(ETH_HEADER);
        frame.extend_from_slice(&other);
        wire.receive_frame(&frame);
        assert_eq!(read_frame(&peer), None);
    }

    #[test]
    fn packets_wait_for_the_gateway_and_loopback_stays_inside() {
        let (mut wire, peer) = test_wire();
        let mut packet = vec![0x45u8; 40];
        packet[16..20].copy_from_slice(&[10, 200, 0, 1]);
        wire.output(packet.clone());
        let request = read_frame(&peer).unwrap();
        assert_eq!(&request[..6], &BROADCAST);
        assert_eq!(wire.waiting.len(), 1);
        let host = [2, 0, 0, 0, 0, 1];
        let answer = arp_packet(2, host, [10, 200, 0, 1], wire.mac, [10, 200, 0, 2]);
        let mut frame = wire.mac.to_vec();
        frame.extend_from_slice(&host);
        frame.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        frame.extend_from_slice(&answer);
        wire.receive_frame(&frame);
        let sent = read_frame(&peer).unwrap();
        assert_eq!(&sent[..6], &host);
        assert_eq!(&sent[ETH_HEADER..], &packet[..]);
        packet[16..20].copy_from_slice(&[127, 0, 0, 1]);
        wire.output(packet.clone());
        assert_eq!(wire.rx.pop_front(), Some(packet));
        assert_eq!(read_frame(&peer), None);
    }

    #[test]
    fn short_and_foreign_frames_are_ignored() {
        let (mut wire, peer) = test_wire();
        for len in 0..ETH_HEADER + 30 {
            let mut frame = vec![0xffu8; len];
            if len >= ETH_HEADER {
                frame[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
            }
            wire.receive_frame(&frame);
        }
        assert!(!wire.has_input());
        assert_eq!(read_frame(&peer), None);
        // IPv4 for another hardware address.
        let mut frame = vec![0u8; ETH_HEADER + 20];
        frame[..6].copy_from_slice(&[2, 9, 9, 9, 9, 9]);
        frame[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        wire.receive_frame(&frame);
        assert!(!wire.has_input());
    }
}
