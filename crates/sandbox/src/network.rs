//! `--network sandbox`: the container's own TCP/IP stack and its wire.
//!
//! ```text
//! runtime                                  stack process (outside the
//!   start(): control socketpair, fork ───>  container's pid namespace)
//!   fork the container process               waits for the namespace
//!   attach() once its namespaces exist:
//!     the container's pid ───────────────>  veth oxbN (host, 10.200.x.y+1/30)
//!                                              <-> eth0 (container, no address),
//!                                            setns(net), eth0 up, packet
//!                                            socket, becomes nobody under
//!     waits for "ok N" <────────────────── seccomp, then serves
//! ```
//!
//! The veth is made by the stack process because the runtime is in the
//! container's pid namespace for its children by then (`ip` would run
//! inside it).
//!
//! The stack process is the runtime's child, not the container's: the
//! guest's `kill`, `wait`, `ptrace` and `/proc` cannot reach it (it is in
//! no pid namespace the guest sees). It ends when every kernel of the
//! container has closed the control socket, or with the runtime. The veth
//! pair goes with the container's network namespace.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;

use nix::sched::CloneFlags;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::unistd::{ForkResult, Pid};
use oxbox_netstack::stack::{self, jail, wire};

use crate::error::{Error, Result};

/// The interface the stack owns, inside the container.
const GUEST_INTERFACE: &str = "eth0";
/// /30 blocks of 10.200.0.0/16, one per container.
const BLOCKS: u32 = 1 << 14;
/// Names (and blocks) tried before giving up.
const ATTEMPTS: u32 = 64;

/// The addresses of block `block`: (host end, container).
pub fn block_addresses(block: u32) -> ([u8; 4], [u8; 4]) {
    let third = (block / 64) as u8;
    let base = ((block % 64) * 4) as u8;
    ([10, 200, third, base + 1], [10, 200, third, base + 2])
}

fn dotted(ip: [u8; 4]) -> String {
    let [a, b, c, d] = ip;
    format!("{a}.{b}.{c}.{d}")
}

/// The stack process, started and waiting for the container's network
/// namespace.
#[derive(Debug)]
pub struct Stack {
    /// The kernels' end of the control socket, for the container process
    /// to keep at `NETSTACK_FD`.
    pub control: OwnedFd,
    pid: Pid,
    setup: File,
    ready: File,
}

/// Forks the stack process. Must be called while the caller is
/// single-threaded and before it enters the container's pid namespace.
pub fn start() -> Result<Stack> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::Config("--network sandbox needs root".into()));
    }
    let (stack_end, control) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("create the network stack's control socket", e))?;
    let (setup_r, setup_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe", e))?;
    let (ready_r, ready_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe", e))?;
    // SAFETY: the caller is single-threaded (see above), so the child
    // inherits no lock held by another thread; it runs the stack and exits.
    match unsafe { nix::unistd::fork() }.map_err(|e| Error::sys("fork the network stack", e))? {
        ForkResult::Child => {
            drop((control, setup_w, ready_r));
            let code = stack_child(stack_end, File::from(setup_r), File::from(ready_w));
            // SAFETY: _exit ends the process at once; the runtime's
            // destructors are not the stack's to run.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => Ok(Stack {
            control,
            pid: child,
            setup: File::from(setup_w),
            ready: File::from(ready_r),
        }),
    }
}

/// The stack process: waits for the container, owns its interface, then
/// serves until the container is gone.
fn stack_child(control: OwnedFd, mut setup: File, mut ready: File) -> i32 {
    close_others(&[2, control.as_raw_fd(), setup.as_raw_fd(), ready.as_raw_fd()]);
    let mut message = [0u8; 4];
    if setup.read_exact(&mut message).is_err() {
        return 0;
    }
    drop(setup);
    let pid = i32::from_le_bytes(message);
    let block = match veth(pid) {
        Ok(block) => block,
        Err(e) => {
            let _ = write!(ready, "{e}");
            return 1;
        }
    };
    let (gateway, address) = block_addresses(block);
    let opened = (|| -> std::io::Result<wire::Interface> {
        let netns = File::open(format!("/proc/{pid}/ns/net"))?;
        nix::sched::setns(netns, CloneFlags::CLONE_NEWNET)?;
        // The stack speaks IPv4 only; Linux must not speak for it on the
        // interface either (IPv6 link-local, router solicitations).
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{GUEST_INTERFACE}/disable_ipv6"),
            "1",
        );
        let interface = wire::open(GUEST_INTERFACE)?;
        jail::enter()?;
        Ok(interface)
    })();
    let interface = match opened {
        Ok(interface) => interface,
        Err(e) => {
            let _ = write!(ready, "{e}");
            return 1;
        }
    };
    if ready.write_all(format!("ok {block}").as_bytes()).is_err() {
        return 1;
    }
    drop(ready);
    let config = stack::Config {
        address,
        prefix_len: 30,
        gateway,
    };
    match stack::run(&config, control, interface) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(%e, "the container's network stack failed");
            1
        }
    }
}

/// Closes every descriptor but `keep`.
fn close_others(keep: &[i32]) {
    let mut keep = keep.to_vec();
    keep.sort_unstable();
    let mut from = 0u32;
    for fd in keep {
        let fd = fd as u32;
        if fd > from {
            // SAFETY: close_range takes integers; the descriptors it closes
            // belong to this process alone (it was just forked).
            unsafe { libc::syscall(libc::SYS_close_range, from, fd - 1, 0) };
        }
        from = fd + 1;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, 0) };
}

fn ip(args: &[&str]) -> std::result::Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip (iproute2): {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
}

/// Creates the veth pair of the container `pid`, its host end up with the
/// gateway's address: returns its block.
fn veth(pid: i32) -> std::result::Result<u32, String> {
    let first = pid as u32 % BLOCKS;
    let mut chosen = None;
    for i in 0..ATTEMPTS {
        let block = (first + i) % BLOCKS;
        let host = format!("oxb{block}");
        let pid = pid.to_string();
        match ip(&[
            "link",
            "add",
            &host,
            "type",
            "veth",
            "peer",
            "name",
            GUEST_INTERFACE,
            "netns",
            &pid,
        ]) {
            Ok(()) => {
                chosen = Some((block, host));
                break;
            }
            Err(e) if e.contains("File exists") => continue,
            Err(e) => return Err(format!("create the veth pair: {e}")),
        }
    }
    let (block, host) = chosen.ok_or("no free veth name for the container")?;
    let (gateway, _) = block_addresses(block);
    let cidr = format!("{}/30", dotted(gateway));
    no_offloads(&host).map_err(|e| format!("turn offloads off on {host}: {e}"))?;
    ip(&["addr", "add", &cidr, "dev", &host])
        .and_then(|()| ip(&["link", "set", &host, "up"]))
        .map_err(|e| format!("set up {host}: {e}"))?;
    Ok(block)
}

/// Makes the host send whole frames on the veth: checksums computed and
/// segments cut to the MTU before they leave (a packet socket receives
/// neither offloaded checksums nor segmentation from its peer done).
fn no_offloads(name: &str) -> std::io::Result<()> {
    const ETHTOOL_STXCSUM: u32 = 0x17;
    const ETHTOOL_STSO: u32 = 0x1f;
    const ETHTOOL_SGSO: u32 = 0x24;
    let sock = nix::sys::socket::socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    for cmd in [ETHTOOL_STXCSUM, ETHTOOL_STSO, ETHTOOL_SGSO] {
        // struct ethtool_value { cmd, data }.
        let mut value = [cmd, 0u32];
        // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        req.ifr_ifru.ifru_data = value.as_mut_ptr().cast();
        // SAFETY: SIOCETHTOOL reads `req` and the `ethtool_value` it
        // points to, both alive and writable for the call.
        if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut req) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

impl Stack {
    /// Has the stack wire the container `container` (its network
    /// namespace exists) to the host and take its interface: returns the
    /// container's address.
    pub fn attach(mut self, container: Pid) -> Result<[u8; 4]> {
        self.setup
            .write_all(&container.as_raw().to_le_bytes())
            .map_err(|e| Error::sys("start the network stack", e))?;
        let mut answer = String::new();
        let _ = self.ready.read_to_string(&mut answer);
        let block = answer
            .strip_prefix("ok ")
            .and_then(|b| b.parse::<u32>().ok())
            .ok_or_else(|| {
                Error::Setup(format!(
                    "the network stack (pid {}) could not start: {answer}",
                    self.pid
                ))
            })?;
        let (gateway, address) = block_addresses(block);
        let host = format!("oxb{block}");
        tracing::info!(
            "container network: eth0 {}/30 via {} (host interface {host})",
            dotted(address),
            dotted(gateway)
        );
        Ok(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_disjoint_slash_30s_of_10_200() {
        assert_eq!(block_addresses(0), ([10, 200, 0, 1], [10, 200, 0, 2]));
        assert_eq!(block_addresses(63), ([10, 200, 0, 253], [10, 200, 0, 254]));
        assert_eq!(block_addresses(64), ([10, 200, 1, 1], [10, 200, 1, 2]));
        assert_eq!(
            block_addresses(BLOCKS - 1),
            ([10, 200, 255, 253], [10, 200, 255, 254])
        );
    }
}
