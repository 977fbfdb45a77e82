//! Namespaces: which ones a container gets, the user namespace of an
//! unprivileged caller, and the loopback interface of its network.
//!
//! The pid namespace is entered by the monitor before it forks (only the
//! children of the unsharing process join it, so the fork makes the
//! container's pid 1). The others are entered by that child, which then
//! owns them alone: nothing outside the container shares its mount table,
//! hostname, IPC objects, network or cgroup view.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;

use nix::sched::CloneFlags;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

use crate::error::{Error, Result};

/// The namespaces the container's first process unshares for itself.
pub const CONTAINER_NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWNS
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWNET)
    .union(CloneFlags::CLONE_NEWCGROUP);

/// `CAP_SYS_ADMIN`, which creating namespaces and mounting need.
const CAP_SYS_ADMIN: u32 = 21;

/// Whether the caller must first enter a user namespace: unless it is root
/// with `CAP_SYS_ADMIN` (root inside an unprivileged container is not
/// enough), the other namespaces and the mounts need the capabilities that
/// only a user namespace of its own grants it.
pub fn needs_user_namespace() -> bool {
    let admin = crate::caps::get().is_ok_and(|sets| sets.effective & (1 << CAP_SYS_ADMIN) != 0);
    !(nix::unistd::geteuid().is_root() && admin)
}

/// A one-line `uid_map`/`gid_map`: `inside` maps to `outside`.
pub fn id_map(inside: u32, outside: u32) -> String {
    format!("{inside} {outside} 1\n")
}

/// Enters a new user namespace in which the caller's uid and gid are 0.
///
/// This is what lets an unprivileged user create the other namespaces.
/// `setgroups` is denied first, as the kernel requires before an
/// unprivileged process may write its `gid_map`.
pub fn enter_user_namespace() -> Result<()> {
    let (uid, gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    nix::sched::unshare(CloneFlags::CLONE_NEWUSER)
        .map_err(|e| Error::sys("unshare user namespace", e))?;
    let write = |file: &'static str, text: String| {
        fs::write(file, text).map_err(|e| Error::path("write", file, e))
    };
    write("/proc/self/setgroups", "deny\n".into())?;
    write("/proc/self/uid_map", id_map(0, uid))?;
    write("/proc/self/gid_map", id_map(0, gid))
}

/// Brings `lo` up in the current network namespace (a new one has it
/// down), so the guest can talk to itself over 127.0.0.1 and ::1.
pub fn loopback_up() -> io::Result<()> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into
    // `req`, a valid, writable `ifreq` that outlives the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS succeeded, so `ifru_flags` is the member set.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads the name and flags from `req`, valid for
    // the duration of the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_with_cap_sys_admin_needs_no_user_namespace() {
        let admin = crate::caps::get().unwrap().effective & (1 << CAP_SYS_ADMIN) != 0;
        let privileged = nix::unistd::geteuid().is_root() && admin;
        assert_eq!(needs_user_namespace(), !privileged);
    }

    #[test]
    fn id_map_maps_one_id() {
        assert_eq!(id_map(0, 1000), "0 1000 1\n");
    }

    #[test]
    fn container_namespaces_exclude_user_and_pid() {
        // The user namespace must exist before the pid namespace, and the
        // pid namespace must be entered before the fork: both belong to the
        // monitor, not to the container's first process.
        assert!(!CONTAINER_NAMESPACES.contains(CloneFlags::CLONE_NEWUSER));
        assert!(!CONTAINER_NAMESPACES.contains(CloneFlags::CLONE_NEWPID));
        assert!(
            CONTAINER_NAMESPACES.contains(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWCGROUP)
        );
    }
}
