//! The stack process: one thread that polls the interface, the control
//! socket and every guest socket's end, and runs smoltcp between them.

mod fds;
pub mod jail;
mod sockets;
pub mod wire;

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant as StdInstant;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};

use sockets::Table;
use wire::Wire;

/// The container's addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The interface's address (the container's, such as 10.200.N.2).
    pub address: [u8; 4],
    /// Its prefix length.
    pub prefix_len: u8,
    /// The default route's gateway, the host end of the veth.
    pub gateway: [u8; 4],
}

/// How long the loop sleeps at most when smoltcp has no timer: an ARP
/// request left unanswered is sent again at this pace.
const IDLE: Duration = Duration::from_millis(1000);

fn now(start: StdInstant) -> Instant {
    Instant::from_micros(start.elapsed().as_micros() as i64)
}

/// smoltcp's interface with the container's addresses and loopback, its
/// default route through the gateway.
fn new_interface(config: &Config, wire: &mut Wire, now: Instant) -> io::Result<Interface> {
    let mut iface_config = IfaceConfig::new(HardwareAddress::Ip);
    let mut seed = [0u8; 8];
    // SAFETY: getrandom writes at most `seed.len()` bytes into `seed`.
    unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
    iface_config.random_seed = u64::from_le_bytes(seed);
    let mut iface = Interface::new(iface_config, wire, now);
    let [a, b, c, d] = config.address;
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(IpAddress::v4(a, b, c, d), config.prefix_len));
        let _ = addrs.push(IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8));
    });
    let [a, b, c, d] = config.gateway;
    iface
        .routes_mut()
        .add_default_ipv4_route(Ipv4Address::new(a, b, c, d))
        .map_err(|_| io::Error::other("no room for the default route"))?;
    Ok(iface)
}

/// The frames of `data`, each behind its two-byte little-endian length
/// (cut short where `data` ends): how the fuzz target's inputs and seeds
/// hold frames.
pub fn length_prefixed_frames(data: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 {
        let len = (u16::from_le_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        frames.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
    }
    frames
}

/// Feeds `frames` to a stack with `config`'s addresses as if they came
/// from its wire, with a TCP listener on port 80 and a UDP socket on port
/// 53 inside that read what reaches them: the entry of the hostile-frames
/// fuzz target (`fuzz/fuzz_targets/hostile_frames.rs`), since nothing a
/// frame on the veth holds may panic the stack. Returns the frames the
/// stack sent (those that fit in a socket buffer).
pub fn replay_frames<'a>(
    config: &Config,
    frames: impl IntoIterator<Item = &'a [u8]>,
) -> io::Result<Vec<Vec<u8>>> {
    use smoltcp::socket::{tcp, udp};
    let (packet, sent) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Datagram,
        None,
        nix::sys::socket::SockFlag::SOCK_NONBLOCK,
    )?;
    let interface = wire::Interface {
        packet,
        mac: [2, 0, 0, 0, 0, 2],
    };
    let mut wire = Wire::new(interface, config.address, config.gateway);
    let mut clock = Instant::from_millis(0);
    let mut iface = new_interface(config, &mut wire, clock)?;
    let mut sockets = SocketSet::new(Vec::new());
    let mut listener = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 4096]),
        tcp::SocketBuffer::new(vec![0; 4096]),
    );
    listener.listen(80).map_err(io::Error::other)?;
    let listener = sockets.add(listener);
    let mut udp = udp::Socket::new(
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 4096]),
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 4096]),
    );
    udp.bind(53).map_err(io::Error::other)?;
    let udp = sockets.add(udp);
    let mut buf = [0u8; 4096];
    for frame in frames {
        wire.receive_frame(frame);
        clock += Duration::from_millis(10);
        iface.poll(clock, &mut wire, &mut sockets);
        let _ = sockets
            .get_mut::<tcp::Socket>(listener)
            .recv_slice(&mut buf);
        let _ = sockets.get_mut::<udp::Socket>(udp).recv_slice(&mut buf);
    }
    let mut out = Vec::new();
    let mut frame = vec![0u8; wire::MTU + 64];
    while let Ok(n) = nix::unistd::read(&sent, &mut frame) {
        out.push(frame[..n].to_vec());
    }
    Ok(out)
}

/// Runs the stack until every kernel of the container has closed the
/// control socket (`control`, the stack's end of a `SOCK_SEQPACKET` pair).
pub fn run(config: &Config, control: OwnedFd, interface: wire::Interface) -> io::Result<()> {
    let start = StdInstant::now();
    let mut wire = Wire::new(interface, config.address, config.gateway);
    let mut iface = new_interface(config, &mut wire, now(start))?;
    let mut sockets = SocketSet::new(Vec::new());
    let mut table = Table::new(config.address);
    loop {
        // Until quiet: smoltcp's input and output, then the guests' ends.
        loop {
            let t = now(start);
            iface.poll(t, &mut wire, &mut sockets);
            if !table.pump(&mut sockets) && !wire.has_input() {
                break;
            }
        }
        let delay = iface
            .poll_delay(now(start), &sockets)
            .map_or(IDLE, |d| d.min(IDLE));
        let (ids, revents, ready) = {
            let interest = table.interest(&mut sockets);
            let mut polled: Vec<PollFd> = Vec::with_capacity(2 + interest.len());
            polled.push(PollFd::new(control.as_fd(), PollFlags::POLLIN));
            polled.push(PollFd::new(wire.packet_fd().as_fd(), PollFlags::POLLIN));
            polled.extend(
                interest
                    .iter()
                    .map(|(_, fd, events)| PollFd::new(*fd, *events)),
            );
            let timeout = PollTimeout::try_from(delay.total_millis().min(i32::MAX as u64) as i32)
                .unwrap_or(PollTimeout::ZERO);
            let ready = match poll(&mut polled, timeout) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => 1,
                Err(e) => return Err(e.into()),
            };
            let revents: Vec<PollFlags> = polled
                .iter()
                .map(|p| p.revents().unwrap_or(PollFlags::empty()))
                .collect();
            let ids: Vec<u32> = interest.iter().map(|(id, _, _)| *id).collect();
            (ids, revents, ready)
        };
        let hung_up: Vec<u32> = ids
            .iter()
            .zip(&revents[2..])
            .filter(|(_, r)| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR))
            .map(|(id, _)| *id)
            .collect();
        table.hung_up(&hung_up, &mut sockets);
        if revents[1].contains(PollFlags::POLLIN) {
            wire.drain();
        } else if ready == 0 {
            wire.retry_arp();
        }
        if revents[0].contains(PollFlags::POLLIN) {
            table.serve(control.as_fd(), &mut iface, &mut sockets);
        } else if revents[0].intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            tracing::debug!("every kernel of the container is gone: the stack stops");
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayed_frames_are_answered_as_from_the_wire() {
        // The fuzz target's seed: an ARP request for our address, a SYN to
        // port 80 and a datagram to port 53, each behind its length.
        let seed = include_bytes!("../../../../fuzz/seeds/hostile_frames/arp-syn-udp");
        let config = Config {
            address: [10, 200, 0, 2],
            prefix_len: 30,
            gateway: [10, 200, 0, 1],
        };
        let sent = replay_frames(&config, length_prefixed_frames(seed)).unwrap();
        let ethertype = |f: &[u8]| u16::from_be_bytes([f[12], f[13]]);
        // The ARP reply, then the SYN-ACK (flags byte of the TCP header).
        assert_eq!(ethertype(&sent[0]), 0x0806);
        assert_eq!(&sent[0][20..22], &[0, 2], "an ARP reply");
        let syn_ack = sent
            .iter()
            .find(|f| ethertype(f) == 0x0800 && f[14 + 9] == 6)
            .expect("an answer to the SYN");
        assert_eq!(syn_ack[14 + 20 + 13] & 0x12, 0x12, "SYN and ACK set");
    }
}
