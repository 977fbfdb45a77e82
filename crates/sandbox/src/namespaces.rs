//! Namespaces: which ones a container gets, the user namespace of an
//! unprivileged caller, and the loopback interface of its network.
//!
//! The pid namespace is entered by the parent before it forks (only the
//! children of the unsharing or joining process are in it, so the fork
//! makes the container's pid 1, or a new process of a running container).
//! The others are entered by that child: fresh ones it then owns alone,
//! or existing ones (an engine's network namespace, a running container's
//! namespaces for `exec`) whose files the parent opened before the fork.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::sched::CloneFlags;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

use crate::error::{Error, Result};
use crate::spec::{NamespaceKind, NamespaceSource, Namespaces};

/// Opens the namespaces to join other than the pid namespace, in the
/// order the child must enter them.
pub fn open_joined(namespaces: &Namespaces) -> Result<Vec<(CloneFlags, OwnedFd)>> {
    namespaces
        .joined()
        .filter(|(kind, _)| *kind != NamespaceKind::Pid)
        .map(|(kind, path)| Ok((kind.clone_flag(), open_namespace(path)?)))
        .collect()
}

/// Puts the caller's future children in the container's pid namespace:
/// a fresh one, an existing one, or (when not listed) the caller's own.
pub fn enter_pid_namespace(namespaces: &Namespaces) -> Result<()> {
    match namespaces.get(NamespaceKind::Pid) {
        None => Ok(()),
        Some(NamespaceSource::New) => nix::sched::unshare(CloneFlags::CLONE_NEWPID)
            .map_err(|e| Error::sys("unshare pid namespace", e)),
        Some(NamespaceSource::Join(path)) => {
            let fd = open_namespace(path)?;
            nix::sched::setns(fd, CloneFlags::CLONE_NEWPID)
                .map_err(|e| Error::path("join pid namespace", path, e.into()))
        }
    }
}

/// Undoes [`enter_pid_namespace`] once the container's first process is
/// forked: the caller's later children (OCI hooks, which run in the
/// runtime's namespaces) are born in its own pid namespace again, not in
/// the container's, where a fork fails with ENOMEM once its init is gone.
pub fn leave_pid_namespace(namespaces: &Namespaces) -> Result<()> {
    if namespaces.get(NamespaceKind::Pid).is_none() {
        return Ok(());
    }
    let own = open_namespace(Path::new("/proc/self/ns/pid"))?;
    nix::sched::setns(own, CloneFlags::CLONE_NEWPID)
        .map_err(|e| Error::sys("return to the runtime's pid namespace", e))
}

/// Opens the user namespace at `path` to join.
pub fn open_user(path: &Path) -> Result<OwnedFd> {
    open_namespace(path)
}

/// The user namespace of running process `pid`, when it is not the
/// caller's (which cannot be joined again).
pub fn user_of_process(pid: i32) -> Option<std::path::PathBuf> {
    let path = std::path::PathBuf::from(format!("/proc/{pid}/ns/user"));
    (path.exists() && !same_file(&path, Path::new("/proc/self/ns/user"))).then_some(path)
}

fn open_namespace(path: &Path) -> Result<OwnedFd> {
    fs::File::open(path)
        .map(OwnedFd::from)
        .map_err(|e| Error::path("open namespace", path, e))
}

/// The namespaces of a running process, to join (`exec` into a
/// container): those that are not the caller's own (joining one's own is
/// nothing, and from a container's user namespace not even allowed).
pub fn of_process(pid: i32) -> Namespaces {
    let pairs = NamespaceKind::ALL
        .into_iter()
        .filter_map(|kind| {
            let path = format!("/proc/{pid}/ns/{}", kind.proc_name());
            let own = format!("/proc/self/ns/{}", kind.proc_name());
            (!same_file(Path::new(&path), Path::new(&own)))
                .then(|| (kind, NamespaceSource::Join(path.into())))
        })
        .collect();
    Namespaces::from_pairs(pairs).expect("every kind once")
}

/// Whether both paths name the same file (namespace); false if either
/// cannot be read.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &Path| fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    matches!((id(a), id(b)), (Some(a), Some(b)) if a == b)
}

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
    fn a_process_has_nothing_to_join_in_its_own_namespaces() {
        assert_eq!(
            of_process(std::process::id() as i32),
            Namespaces::from_pairs(Vec::new()).unwrap()
        );
        assert_eq!(user_of_process(std::process::id() as i32), None);
    }

    #[test]
    fn id_map_maps_one_id() {
        assert_eq!(id_map(0, 1000), "0 1000 1\n");
    }

    #[test]
    fn open_joined_skips_pid_and_keeps_entry_order() {
        // Listed in another order than entered.
        let pairs = NamespaceKind::ALL
            .into_iter()
            .rev()
            .map(|kind| {
                let path = format!("/proc/self/ns/{}", kind.proc_name());
                (kind, NamespaceSource::Join(path.into()))
            })
            .collect();
        let ns = Namespaces::from_pairs(pairs).unwrap();
        let opened = open_joined(&ns).unwrap();
        let kinds: Vec<CloneFlags> = opened.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                CloneFlags::CLONE_NEWNET,
                CloneFlags::CLONE_NEWIPC,
                CloneFlags::CLONE_NEWUTS,
                CloneFlags::CLONE_NEWCGROUP,
                CloneFlags::CLONE_NEWNS
            ]
        );
    }

    #[test]
    fn a_missing_namespace_file_names_its_path() {
        let ns = Namespaces::from_pairs(vec![(
            NamespaceKind::Network,
            NamespaceSource::Join("/nonexistent/netns".into()),
        )])
        .unwrap();
        let err = open_joined(&ns).unwrap_err();
        assert!(crate::one_line(&err).contains("/nonexistent/netns"));
    }
}
