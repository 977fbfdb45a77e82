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

/// Runs the stack until every kernel of the container has closed the
/// control socket (`control`, the stack's end of a `SOCK_SEQPACKET` pair).
pub fn run(config: &Config, control: OwnedFd, interface: wire::Interface) -> io::Result<()> {
    let start = StdInstant::now();
    let mut wire = Wire::new(interface, config.address, config.gateway);
    let mut iface_config = IfaceConfig::new(HardwareAddress::Ip);
    let mut seed = [0u8; 8];
    // SAFETY: getrandom writes at most `seed.len()` bytes into `seed`.
    unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
    iface_config.random_seed = u64::from_le_bytes(seed);
    let mut iface = Interface::new(iface_config, &mut wire, now(start));
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
