//! File syscalls.
//!
//! Host-backed descriptors and paths go to the host; the kernel checks
//! descriptor numbers against its reserved range, keeps guest buffers out
//! of its own memory, copies path strings in once (so the guest cannot
//! change them between the kernel's routing decision and the host's use)
//! and answers `/proc` and the synthetic `/dev` names itself.

use alloc::string::String;
use alloc::vec::Vec;

use oxbox_abi::Sysno;
use oxbox_abi::layout::RESERVED_FD_BASE;
use oxbox_hal::host;

use super::{Call, host_call};
use crate::fs::devfs;
use crate::fs::fdtable::{self, guest_fd};
use crate::fs::path::{self, Route};
use crate::fs::procfs::{self, Node};
use crate::fs::procsys;
use crate::fs::stat::SynthStat;
use crate::mm::user;
use crate::net::sandbox;
use crate::{Errno, SysResult, signal};

pub const AT_FDCWD: i32 = -100;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const AT_REMOVEDIR: u64 = 0x200;
const AT_EMPTY_PATH: u64 = 0x1000;

const O_ACCMODE: u64 = 3;
const O_CREAT: u64 = 0o100;
const O_EXCL: u64 = 0o200;
const O_TRUNC: u64 = 0o1000;
const O_DIRECTORY: u64 = 0o200000;
const O_NOFOLLOW: u64 = 0o400000;
const O_CLOEXEC: u64 = 0o2000000;

const F_DUPFD: u64 = 0;
const F_GETFD: u64 = 1;
const F_DUPFD_CLOEXEC: u64 = 1030;

/// A path argument copied into kernel memory, NUL-terminated for the host,
/// with where it leads.
struct PathArg {
    cstr: Vec<u8>,
    route: Route,
    /// A trailing slash: the last component must be (or lead to) a directory.
    trailing_slash: bool,
    /// The host descriptor the path is relative to.
    dirfd: i32,
}

impl PathArg {
    fn ptr(&self) -> u64 {
        self.cstr.as_ptr() as u64
    }

    fn text(&self) -> &str {
        core::str::from_utf8(&self.cstr[..self.cstr.len() - 1]).unwrap_or("")
    }

    fn is_empty(&self) -> bool {
        self.cstr.len() == 1
    }
}

/// Reads and routes the path argument at `addr`, relative to `dirfd`.
fn path_at(dirfd_raw: u64, addr: u64, allow_empty: bool) -> Result<PathArg, Errno> {
    let dirfd = dirfd_raw as i32;
    if dirfd != AT_FDCWD {
        guest_fd(dirfd_raw)?;
    }
    let mut cstr = user::read_path(addr)?;
    if cstr.is_empty() && !allow_empty {
        return Err(Errno::ENOENT);
    }
    let route = if dirfd == AT_FDCWD || cstr.first() == Some(&b'/') {
        path::route(&cstr)
    } else if let Some(base) = fdtable::with_synthetic_dir(dirfd, |d| d.parts.join("/")) {
        let text = core::str::from_utf8(&cstr).map_err(|_| Errno::ENOENT)?;
        path::route_components(path::normalize(&alloc::format!("/{base}"), text))
    } else {
        Route::Host
    };
    let trailing_slash = cstr.len() > 1 && cstr.last() == Some(&b'/');
    cstr.push(0);
    Ok(PathArg {
        cstr,
        route,
        trailing_slash,
        dirfd,
    })
}

/// A path relative to the current directory (the legacy, non-`*at` calls).
fn path_arg(addr: u64) -> Result<PathArg, Errno> {
    path_at(AT_FDCWD as u64, addr, false)
}

/// The absolute form of a host path, for `/proc/self/fd` links.
fn absolute(p: &PathArg) -> String {
    if p.text().starts_with('/') || p.dirfd != AT_FDCWD {
        // Paths relative to another descriptor: best effort via its path.
        let base = if p.dirfd == AT_FDCWD {
            String::new()
        } else {
            fdtable::path_of(p.dirfd).unwrap_or_default()
        };
        if p.text().starts_with('/') {
            return String::from(p.text());
        }
        return alloc::format!("/{}", path::normalize(&base, p.text()).join("/"));
    }
    alloc::format!("/{}", path::normalize(&path::cwd(), p.text()).join("/"))
}

/// The synthetic node a routed path names: `/proc` entries and the
/// descriptor links of `/dev`.
fn synthetic_node(route: &Route, follow: bool) -> Result<(Node, Vec<String>), Errno> {
    match route {
        Route::Proc(parts) => Ok((procfs::lookup(parts, follow)?, parts.clone())),
        Route::Dev(parts) if parts.len() == 1 && parts[0] == "fd" => {
            let proc_fd: Vec<String> = ["self".into(), "fd".into()].into();
            if follow {
                Ok((procfs::lookup(&proc_fd, true)?, proc_fd))
            } else {
                Ok((Node::Link("/proc/self/fd".into()), parts.clone()))
            }
        }
        Route::Dev(parts) => {
            let fd = devfs::descriptor(parts).ok_or(Errno::ENOENT)?;
            if follow {
                let proc_fd: Vec<String> =
                    ["self".into(), "fd".into(), alloc::format!("{fd}")].into();
                Ok((procfs::lookup(&proc_fd, true)?, proc_fd))
            } else {
                Ok((
                    Node::Link(devfs::link_target(parts).ok_or(Errno::ENOENT)?),
                    parts.clone(),
                ))
            }
        }
        Route::Host => Err(Errno::ENOENT),
    }
}

/// Checks a buffer argument and forwards the call: read, write, pread, pwrite.
pub fn sys_rw(call: &Call) -> SysResult {
    let fd = guest_fd(call.arg(0))?;
    if fdtable::is_synthetic_dir(fd) {
        return Err(
            if call.nr == Sysno::read as u64 || call.nr == Sysno::pread64 as u64 {
                Errno::EISDIR
            } else {
                Errno::EBADF
            },
        );
    }
    user::check_buffer(call.arg(1), call.arg(2))?;
    if let Some(id) = sandbox::datagram_id(fd) {
        let iov = [[call.arg(1), call.arg(2)]];
        return datagram_rw(call, fd, id, &iov);
    }
    call.forward()
}

/// readv, writev, preadv, pwritev (and the `2` forms).
pub fn sys_rw_vectored(call: &Call) -> SysResult {
    let fd = guest_fd(call.arg(0))?;
    if fdtable::is_synthetic_dir(fd) {
        return Err(Errno::EISDIR);
    }
    let iov = user::read_iovecs(call.arg(1), call.arg(2))?;
    if let Some(id) = sandbox::datagram_id(fd) {
        let iov: Vec<[u64; 2]> = iov.into_iter().map(|(base, len)| [base, len]).collect();
        return datagram_rw(call, fd, id, &iov);
    }
    call.forward()
}

/// `read`/`readv` (one datagram, its address dropped) and `write`/`writev`
/// (one datagram to the connected peer) on a UDP socket of the
/// container's stack; the positioned forms fail with `ESPIPE` on the host,
/// as on any socket.
fn datagram_rw(call: &Call, fd: i32, id: u32, iov: &[[u64; 2]]) -> SysResult {
    match Sysno::new(call.nr as usize) {
        Some(Sysno::read | Sysno::readv) => Ok(sandbox::recv_datagram(fd, iov, 0)?.0),
        Some(Sysno::write | Sysno::writev) => sandbox::send_datagram(fd, id, None, iov, 0),
        _ => call.forward(),
    }
}

/// Calls whose first argument is a descriptor and that take no pointer the
/// host could write into kernel memory: fsync, ftruncate, fchmod, flock...
pub fn sys_fd_plain(call: &Call) -> SysResult {
    let fd = guest_fd(call.arg(0))?;
    if fdtable::is_synthetic_dir(fd) {
        return Err(Errno::EINVAL);
    }
    call.forward()
}

/// fstatfs: a descriptor and an output buffer.
pub fn sys_fstatfs(call: &Call) -> SysResult {
    guest_fd(call.arg(0))?;
    user::check_buffer(call.arg(1), 120)?;
    call.forward()
}

pub fn sys_close(call: &Call) -> SysResult {
    let fd = guest_fd(call.arg(0))?;
    let result = call.forward();
    fdtable::closed(fd);
    result
}

pub fn sys_close_range(call: &Call) -> SysResult {
    let (first, last) = (call.arg(0) as u32, call.arg(1) as u32);
    if first > last {
        return Err(Errno::EINVAL);
    }
    if first >= RESERVED_FD_BASE as u32 {
        return Ok(0);
    }
    let last = last.min(RESERVED_FD_BASE as u32 - 1);
    let result = host_call(
        Sysno::close_range,
        [first as u64, last as u64, call.arg(2), 0, 0, 0],
    );
    const CLOSE_RANGE_CLOEXEC: u64 = 4;
    if result.is_ok() && call.arg(2) & CLOSE_RANGE_CLOEXEC == 0 {
        fdtable::closed_range(first as i32, last as i32);
    }
    result
}

/// What `fstat` says of a descriptor open on a synthetic directory.
fn synthetic_dir_stat(fd: i32) -> SynthStat {
    SynthStat {
        ino: fd as u64,
        mode: crate::fs::stat::S_IFDIR | 0o555,
        nlink: 2,
        size: 0,
    }
}

pub fn sys_fstat(call: &Call) -> SysResult {
    let fd = guest_fd(call.arg(0))?;
    if fdtable::is_synthetic_dir(fd) {
        user::copy_out(call.arg(1), &synthetic_dir_stat(fd).to_stat())?;
        return Ok(0);
    }
    user::check_buffer(call.arg(1), 144)?;
    call.forward()
}

pub fn sys_lseek(call: &Call) -> SysResult {
    let fd = guest_fd(call.arg(0))?;
    const SEEK_SET: u64 = 0;
    if let Some(result) = fdtable::with_synthetic_dir(fd, |d| {
        if call.arg(2) == SEEK_SET {
            d.position = call.arg(1) as usize;
            Ok(call.arg(1))
        } else {
            Err(Errno::EINVAL)
        }
    }) {
        return result;
    }
    call.forward()
}

pub fn sys_ioctl(call: &Call) -> SysResult {
    let fd = guest_fd(call.arg(0))?;
    let request = call.arg(1) as u32;
    const FIONREAD: u32 = 0x541b;
    if request == FIONREAD && sandbox::datagram_id(fd).is_some() {
        let len = sandbox::next_datagram_len(fd)?;
        user::write_u32(call.arg(2), len.min(i32::MAX as u64) as u32)?;
        return Ok(0);
    }
    if oxbox_abi::hostcalls::SOCKET_IOCTLS.contains(&request) && !fdtable::is_synthetic_dir(fd) {
        return super::net::ioctl(fd, request, call.arg(2));
    }
    if fdtable::is_synthetic_dir(fd) || !oxbox_abi::hostcalls::TTY_IOCTLS.contains(&request) {
        return Err(Errno::ENOTTY);
    }
    // Terminal structures are at most 60 bytes (struct termios).
    user::check_buffer(call.arg(2), 64)?;
    host_call(
        Sysno::ioctl,
        [fd as u64, request as u64, call.arg(2), 0, 0, 0],
    )
}

pub fn sys_fcntl(call: &Call) -> SysResult {
    let fd = guest_fd(call.arg(0))?;
    match call.arg(1) {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            if call.arg(2) >= fdtable::fd_limit() as u64 {
                return Err(Errno::EINVAL);
            }
            let new = fdtable::adopt(call.forward()? as i32)?;
            fdtable::duplicated(fd, new);
            Ok(new as u64)
        }
        // Record locks (F_GETLK, F_SETLK, F_SETLKW and the OFD forms) take a struct flock.
        5..=7 | 36..=38 => {
            user::check_buffer(call.arg(2), 32)?;
            call.forward()
        }
        _ => call.forward(),
    }
}

pub fn sys_dup(call: &Call) -> SysResult {
    let old = guest_fd(call.arg(0))?;
    let new = fdtable::adopt(host_call(Sysno::fcntl, [old as u64, F_DUPFD, 0, 0, 0, 0])? as i32)?;
    fdtable::duplicated(old, new);
    Ok(new as u64)
}

/// dup2 and dup3.
pub fn sys_dup2(call: &Call) -> SysResult {
    let old = guest_fd(call.arg(0))?;
    let new = guest_fd(call.arg(1))?;
    let is_dup3 = call.nr == Sysno::dup3 as u64;
    if old == new {
        if is_dup3 {
            return Err(Errno::EINVAL);
        }
        // dup2 to itself only checks that the descriptor is open.
        host_call(Sysno::fcntl, [old as u64, F_GETFD, 0, 0, 0, 0])?;
        return Ok(new as u64);
    }
    let flags = if is_dup3 { call.arg(2) } else { 0 };
    if flags & !O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    if new as u64 >= fdtable::nofile_soft() {
        return Err(Errno::EBADF);
    }
    host_call(Sysno::dup3, [old as u64, new as u64, flags, 0, 0, 0])?;
    fdtable::duplicated(old, new);
    Ok(new as u64)
}

/// pipe and pipe2.
pub fn sys_pipe(call: &Call) -> SysResult {
    let flags = if call.nr == Sysno::pipe2 as u64 {
        call.arg(1)
    } else {
        0
    };
    let mut fds = [0i32; 2];
    host_call(Sysno::pipe2, [fds.as_mut_ptr() as u64, flags, 0, 0, 0, 0])?;
    hand_out_pair(fds, call.arg(0))
}

/// Gives the guest two descriptors the host just created (pipe2,
/// socketpair) by writing them to `addr`; closes both if either is beyond
/// the guest's limit (`EMFILE`) or `addr` is not writable.
pub fn hand_out_pair(fds: [i32; 2], addr: u64) -> SysResult {
    let adopted = fds.map(fdtable::adopt);
    if adopted.iter().any(Result::is_err) {
        // adopt closed the refused ones.
        for fd in adopted.into_iter().flatten() {
            let _ = host_call(Sysno::close, [fd as u64, 0, 0, 0, 0, 0]);
        }
        return Err(Errno::EMFILE);
    }
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&fds[0].to_le_bytes());
    bytes[4..].copy_from_slice(&fds[1].to_le_bytes());
    if let Err(e) = user::copy_out(addr, &bytes) {
        for fd in fds {
            let _ = host_call(Sysno::close, [fd as u64, 0, 0, 0, 0, 0]);
        }
        return Err(e);
    }
    Ok(0)
}

pub fn sys_getdents64(call: &Call) -> SysResult {
    let fd = guest_fd(call.arg(0))?;
    let (buf, size) = (call.arg(1), call.arg(2) as usize);
    let Some(dir) = fdtable::with_synthetic_dir(fd, |d| d.clone()) else {
        user::check_buffer(buf, size as u64)?;
        return call.forward();
    };
    let entries = procfs::list(&dir.parts[1..])?;
    let mut out = Vec::new();
    let mut position = dir.position;
    for (i, (name, kind)) in entries.iter().enumerate().skip(dir.position) {
        let reclen = (19 + name.len() + 1).next_multiple_of(8);
        if out.len() + reclen > size {
            break;
        }
        let start = out.len();
        out.extend_from_slice(&(i as u64 + 1000).to_le_bytes());
        out.extend_from_slice(&(i as u64 + 1).to_le_bytes());
        out.extend_from_slice(&(reclen as u16).to_le_bytes());
        out.push(*kind);
        out.extend_from_slice(name.as_bytes());
        out.resize(start + reclen, 0);
        position = i + 1;
    }
    if out.is_empty() && position < entries.len() {
        return Err(Errno::EINVAL);
    }
    user::copy_out(buf, &out)?;
    fdtable::with_synthetic_dir(fd, |d| d.position = position);
    Ok(out.len() as u64)
}

/// open, creat and openat.
pub fn sys_open(call: &Call) -> SysResult {
    let (p, flags, mode) = match call.nr {
        n if n == Sysno::openat as u64 => (
            path_at(call.arg(0), call.arg(1), false)?,
            call.arg(2),
            call.arg(3),
        ),
        n if n == Sysno::creat as u64 => {
            (path_arg(call.arg(0))?, O_CREAT | 1 | O_TRUNC, call.arg(1))
        }
        _ => (path_arg(call.arg(0))?, call.arg(1), call.arg(2)),
    };
    if p.route == Route::Host {
        let fd = fdtable::adopt(host_call(
            Sysno::openat,
            [p.dirfd as u64, p.ptr(), flags, mode, 0, 0],
        )? as i32)?;
        fdtable::record_path(fd, absolute(&p));
        return Ok(fd as u64);
    }
    open_synthetic(&p.route, flags, p.trailing_slash)
}

fn open_synthetic(route: &Route, flags: u64, trailing_slash: bool) -> SysResult {
    if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL {
        return Err(Errno::EEXIST);
    }
    let writing = flags & O_ACCMODE != 0 || flags & O_TRUNC != 0;
    let cloexec = flags & O_CLOEXEC != 0;
    match synthetic_node(route, flags & O_NOFOLLOW == 0 || trailing_slash)? {
        (Node::Dir(_), parts) => {
            if writing {
                return Err(Errno::EISDIR);
            }
            let fd = placeholder_fd(b"", cloexec)?;
            let mut full: Vec<String> = Vec::with_capacity(parts.len() + 1);
            full.push("proc".into());
            full.extend(procfs::canonical(&parts));
            fdtable::register_synthetic_dir(fd, full);
            Ok(fd as u64)
        }
        (Node::Sysctl(parts, _), _) => {
            if flags & O_DIRECTORY != 0 {
                return Err(Errno::ENOTDIR);
            }
            if writing {
                // Read-only, as Docker mounts them.
                return Err(Errno::EROFS);
            }
            Ok(placeholder_fd(&procsys::read(&parts)?, cloexec)? as u64)
        }
        (Node::File(contents), _) => {
            if flags & O_DIRECTORY != 0 {
                return Err(Errno::ENOTDIR);
            }
            if writing {
                return Err(Errno::EACCES);
            }
            Ok(placeholder_fd(&contents, cloexec)? as u64)
        }
        (Node::Link(_), _) if flags & O_NOFOLLOW != 0 => Err(Errno::ELOOP),
        (Node::Link(target), parts) => open_link(&parts, &target, flags),
    }
}

/// Opens what a `/proc` link leads to: a descriptor link reopens (dups)
/// that descriptor; `exe`, `cwd` and `root` open their host paths.
fn open_link(parts: &[String], target: &str, flags: u64) -> SysResult {
    if let [_, fd_dir, n] = parts
        && fd_dir == "fd"
    {
        let fd = n.parse::<i32>().map_err(|_| Errno::ENOENT)?;
        let cmd = if flags & O_CLOEXEC != 0 {
            F_DUPFD_CLOEXEC
        } else {
            F_DUPFD
        };
        let new = fdtable::adopt(host_call(Sysno::fcntl, [fd as u64, cmd, 0, 0, 0, 0])? as i32)?;
        fdtable::duplicated(fd, new);
        return Ok(new as u64);
    }
    if !target.starts_with('/') {
        return Err(Errno::ENOENT);
    }
    let mut cstr: Vec<u8> = target.as_bytes().to_vec();
    cstr.push(0);
    let fd = fdtable::adopt(host_call(
        Sysno::openat,
        [AT_FDCWD as u64, cstr.as_ptr() as u64, flags, 0, 0, 0],
    )? as i32)?;
    fdtable::record_path(fd, target.into());
    Ok(fd as u64)
}

/// A sealed memory file holding `contents`, placed below the reserved range.
fn placeholder_fd(contents: &[u8], cloexec: bool) -> Result<i32, Errno> {
    let owned = host::sealed_memfd(c"oxbox-proc", contents)?;
    let fd = fdtable::adopt(owned.into_raw())?;
    if !cloexec {
        const F_SETFD: u64 = 2;
        host_call(Sysno::fcntl, [fd as u64, F_SETFD, 0, 0, 0, 0])?;
    }
    Ok(fd)
}

/// stat, lstat, newfstatat.
pub fn sys_stat(call: &Call) -> SysResult {
    let (p, buf, flags) = match call.nr {
        n if n == Sysno::newfstatat as u64 => (
            path_at(call.arg(0), call.arg(1), call.arg(3) & AT_EMPTY_PATH != 0)?,
            call.arg(2),
            call.arg(3),
        ),
        n if n == Sysno::lstat as u64 => (path_arg(call.arg(0))?, call.arg(1), AT_SYMLINK_NOFOLLOW),
        _ => (path_arg(call.arg(0))?, call.arg(1), 0),
    };
    if p.is_empty() && fdtable::is_synthetic_dir(p.dirfd) {
        return sys_fstat(&Call {
            nr: Sysno::fstat as u64,
            args: [p.dirfd as u64, buf, 0, 0, 0, 0],
        });
    }
    if p.route == Route::Host {
        user::check_buffer(buf, 144)?;
        return host_call(
            Sysno::newfstatat,
            [p.dirfd as u64, p.ptr(), buf, flags, 0, 0],
        );
    }
    let follow = flags & AT_SYMLINK_NOFOLLOW == 0 || p.trailing_slash;
    let (node, parts) = synthetic_node(&p.route, follow)?;
    if let Some(fd) = followed_fd(&node, &parts, follow) {
        return sys_fstat(&Call {
            nr: Sysno::fstat as u64,
            args: [fd as u64, buf, 0, 0, 0, 0],
        });
    }
    user::copy_out(buf, &procfs::stat_of(&node, &parts).to_stat())?;
    Ok(0)
}

/// The descriptor a followed `/proc/<pid>/fd/N` link (or `/dev/stdin`...)
/// names: `stat` follows it to the open file itself, pipe and socket
/// included, as Linux does.
fn followed_fd(node: &Node, parts: &[String], follow: bool) -> Option<i32> {
    match (node, parts) {
        (Node::Link(_), [_, dir, n]) if follow && dir == "fd" => n.parse().ok(),
        _ => None,
    }
}

pub fn sys_statx(call: &Call) -> SysResult {
    let flags = call.arg(2);
    let p = path_at(call.arg(0), call.arg(1), flags & AT_EMPTY_PATH != 0)?;
    let buf = call.arg(4);
    let synthetic_fd = p.is_empty() && fdtable::is_synthetic_dir(p.dirfd);
    if p.route == Route::Host && !synthetic_fd {
        user::check_buffer(buf, 256)?;
        return host_call(
            Sysno::statx,
            [p.dirfd as u64, p.ptr(), flags, call.arg(3), buf, 0],
        );
    }
    let st = if synthetic_fd {
        synthetic_dir_stat(p.dirfd)
    } else {
        let follow = flags & AT_SYMLINK_NOFOLLOW == 0 || p.trailing_slash;
        let (node, parts) = synthetic_node(&p.route, follow)?;
        match followed_fd(&node, &parts, follow) {
            Some(fd) if fdtable::is_synthetic_dir(fd) => synthetic_dir_stat(fd),
            Some(fd) => {
                user::check_buffer(buf, 256)?;
                return host_call(
                    Sysno::statx,
                    [
                        fd as u64,
                        c"".as_ptr() as u64,
                        (flags & !AT_SYMLINK_NOFOLLOW) | AT_EMPTY_PATH,
                        call.arg(3),
                        buf,
                        0,
                    ],
                );
            }
            None => procfs::stat_of(&node, &parts),
        }
    };
    user::copy_out(buf, &st.to_statx())?;
    Ok(0)
}

/// access, faccessat, faccessat2.
pub fn sys_access(call: &Call) -> SysResult {
    let (p, mode, flags) = match call.nr {
        n if n == Sysno::access as u64 => (path_arg(call.arg(0))?, call.arg(1), 0),
        n if n == Sysno::faccessat as u64 => {
            (path_at(call.arg(0), call.arg(1), false)?, call.arg(2), 0)
        }
        _ => (
            path_at(call.arg(0), call.arg(1), call.arg(3) & AT_EMPTY_PATH != 0)?,
            call.arg(2),
            call.arg(3),
        ),
    };
    if p.route == Route::Host {
        return host_call(
            Sysno::faccessat2,
            [p.dirfd as u64, p.ptr(), mode, flags, 0, 0],
        );
    }
    const W_OK: u64 = 2;
    let (node, _) = synthetic_node(&p.route, flags & AT_SYMLINK_NOFOLLOW == 0)?;
    if mode & W_OK != 0 {
        match node {
            Node::Link(_) => {}
            Node::Sysctl(..) => return Err(Errno::EROFS),
            _ => return Err(Errno::EACCES),
        }
    }
    Ok(0)
}

/// readlink, readlinkat.
pub fn sys_readlink(call: &Call) -> SysResult {
    let (p, buf, size) = if call.nr == Sysno::readlinkat as u64 {
        (
            path_at(call.arg(0), call.arg(1), true)?,
            call.arg(2),
            call.arg(3),
        )
    } else {
        (path_arg(call.arg(0))?, call.arg(1), call.arg(2))
    };
    if size as i64 <= 0 {
        return Err(Errno::EINVAL);
    }
    if p.route == Route::Host {
        user::check_buffer(buf, size)?;
        return host_call(
            Sysno::readlinkat,
            [p.dirfd as u64, p.ptr(), buf, size, 0, 0],
        );
    }
    match synthetic_node(&p.route, false)?.0 {
        Node::Link(target) => {
            let n = target.len().min(size as usize);
            user::copy_out(buf, &target.as_bytes()[..n])?;
            Ok(n as u64)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// Path calls that change the file system: refused inside the synthetic
/// trees, forwarded (in their `*at` form) otherwise.
pub fn sys_modify_path(call: &Call) -> SysResult {
    if call.nr == Sysno::utimensat as u64 && call.arg(1) == 0 {
        // futimens: utimensat(fd, NULL, times, 0) sets the times of fd itself.
        let fd = guest_fd(call.arg(0))?;
        refuse_host_device(fd as u64, c"".as_ptr() as u64, AT_EMPTY_PATH)?;
        user::check_buffer(call.arg(2), 32)?;
        return call.forward();
    }
    use Sysno::*;
    let nr = Sysno::new(call.nr as usize).ok_or(Errno::ENOSYS)?;
    let cwd = AT_FDCWD as u64;
    // (path arguments (dirfd index, path index), host call, its arguments)
    let (first, second, host_nr): (PathArg, Option<PathArg>, Sysno) = match nr {
        mkdir => (path_arg(call.arg(0))?, None, mkdirat),
        mkdirat => (path_at(call.arg(0), call.arg(1), false)?, None, mkdirat),
        unlink | rmdir => (path_arg(call.arg(0))?, None, unlinkat),
        unlinkat => (path_at(call.arg(0), call.arg(1), false)?, None, unlinkat),
        rename => (
            path_arg(call.arg(0))?,
            Some(path_arg(call.arg(1))?),
            renameat2,
        ),
        renameat | renameat2 => (
            path_at(call.arg(0), call.arg(1), false)?,
            Some(path_at(call.arg(2), call.arg(3), false)?),
            renameat2,
        ),
        link => (path_arg(call.arg(0))?, Some(path_arg(call.arg(1))?), linkat),
        linkat => (
            path_at(call.arg(0), call.arg(1), call.arg(4) & AT_EMPTY_PATH != 0)?,
            Some(path_at(call.arg(2), call.arg(3), false)?),
            linkat,
        ),
        symlink => (path_arg(call.arg(1))?, None, symlinkat),
        symlinkat => (path_at(call.arg(1), call.arg(2), false)?, None, symlinkat),
        chmod => (path_arg(call.arg(0))?, None, fchmodat),
        fchmodat => (path_at(call.arg(0), call.arg(1), false)?, None, fchmodat),
        chown | lchown => (path_arg(call.arg(0))?, None, fchownat),
        fchownat => (
            path_at(call.arg(0), call.arg(1), call.arg(4) & AT_EMPTY_PATH != 0)?,
            None,
            fchownat,
        ),
        utimensat => (path_at(call.arg(0), call.arg(1), true)?, None, utimensat),
        truncate => (path_arg(call.arg(0))?, None, truncate),
        _ => return Err(Errno::ENOSYS),
    };
    if first.route != Route::Host || second.as_ref().is_some_and(|s| s.route != Route::Host) {
        return Err(
            if matches!(
                nr,
                unlink | unlinkat | rmdir | rename | renameat | renameat2
            ) {
                Errno::EPERM
            } else {
                Errno::EACCES
            },
        );
    }
    let (a, b) = (&first, second.as_ref());
    let args: [u64; 6] = match nr {
        mkdir => [cwd, a.ptr(), call.arg(1), 0, 0, 0],
        mkdirat => [a.dirfd as u64, a.ptr(), call.arg(2), 0, 0, 0],
        unlink => [cwd, a.ptr(), 0, 0, 0, 0],
        rmdir => [cwd, a.ptr(), AT_REMOVEDIR, 0, 0, 0],
        unlinkat => [a.dirfd as u64, a.ptr(), call.arg(2), 0, 0, 0],
        rename | link => [cwd, a.ptr(), cwd, b.expect("two paths").ptr(), 0, 0],
        renameat => [
            a.dirfd as u64,
            a.ptr(),
            b.expect("two paths").dirfd as u64,
            b.expect("two paths").ptr(),
            0,
            0,
        ],
        renameat2 | linkat => [
            a.dirfd as u64,
            a.ptr(),
            b.expect("two paths").dirfd as u64,
            b.expect("two paths").ptr(),
            call.arg(4),
            0,
        ],
        symlink | symlinkat => {
            // The link's target is stored verbatim, never resolved.
            let target = user::read_path(call.arg(0))?;
            let mut target_c = target;
            target_c.push(0);
            return host_call(
                symlinkat,
                [target_c.as_ptr() as u64, a.dirfd as u64, a.ptr(), 0, 0, 0],
            );
        }
        chmod => [cwd, a.ptr(), call.arg(1), 0, 0, 0],
        fchmodat => [a.dirfd as u64, a.ptr(), call.arg(2), 0, 0, 0],
        chown => [cwd, a.ptr(), call.arg(1), call.arg(2), 0, 0],
        lchown => [
            cwd,
            a.ptr(),
            call.arg(1),
            call.arg(2),
            AT_SYMLINK_NOFOLLOW,
            0,
        ],
        fchownat => [
            a.dirfd as u64,
            a.ptr(),
            call.arg(2),
            call.arg(3),
            call.arg(4),
            0,
        ],
        utimensat => {
            user::check_buffer(call.arg(2), 32)?;
            [a.dirfd as u64, a.ptr(), call.arg(2), call.arg(3), 0, 0]
        }
        truncate => [a.ptr(), call.arg(1), 0, 0, 0, 0],
        _ => unreachable!("filtered above"),
    };
    if matches!(nr, chmod | fchmodat | chown | lchown | fchownat | utimensat) {
        let no_follow = match nr {
            lchown => AT_SYMLINK_NOFOLLOW,
            fchownat => call.arg(4) & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH),
            utimensat => call.arg(3) & AT_SYMLINK_NOFOLLOW,
            _ => 0,
        };
        refuse_host_device(args[0], args[1], no_follow)?;
    }
    host_call(host_nr, args)
}

/// fchmod, fchown: as their path forms, never on a host device node.
pub fn sys_fd_metadata(call: &Call) -> SysResult {
    let fd = guest_fd(call.arg(0))?;
    refuse_host_device(fd as u64, c"".as_ptr() as u64, AT_EMPTY_PATH)?;
    sys_fd_plain(call)
}

/// EPERM when `path` (relative to `dirfd`, with `flags` of fstatat) is a
/// host device node rather than a pseudo-terminal of the container's own
/// devpts. The sandbox bind-mounts the host's null, zero, full, random
/// and urandom into `/dev`, and the guest's root is the host's root uid,
/// which owns them: a change of their mode, owner or times would change
/// the host's nodes. (Docker's containers get nodes of their own instead;
/// refusing is the safe difference.)
fn refuse_host_device(dirfd: u64, path: u64, flags: u64) -> Result<(), Errno> {
    const DEVPTS_MAJORS: core::ops::RangeInclusive<u64> = 136..=143;
    const PTMX: (u64, u64) = (5, 2);
    let mut stat = [0u8; 144];
    let found = host_call(
        Sysno::newfstatat,
        [dirfd, path, stat.as_mut_ptr() as u64, flags, 0, 0],
    );
    let mode = u32::from_le_bytes(stat[24..28].try_into().unwrap());
    let rdev = u64::from_le_bytes(stat[40..48].try_into().unwrap());
    let (major, minor) = (
        (rdev >> 8) & 0xfff | (rdev >> 32) & !0xfff,
        rdev & 0xff | (rdev >> 12) & !0xff,
    );
    let device = matches!(mode & 0o170000, 0o020000 | 0o060000);
    let container_tty = DEVPTS_MAJORS.contains(&major) || (major, minor) == PTMX;
    if found.is_ok() && device && !container_tty {
        return Err(Errno::EPERM);
    }
    // A missing path fails in the call itself, with its own errno.
    Ok(())
}

/// statfs: a path and an output buffer.
pub fn sys_statfs(call: &Call) -> SysResult {
    let p = path_arg(call.arg(0))?;
    user::check_buffer(call.arg(1), 120)?;
    if p.route != Route::Host {
        const PROC_SUPER_MAGIC: u64 = 0x9fa0;
        let mut buf = [0u8; 120];
        buf[..8].copy_from_slice(&PROC_SUPER_MAGIC.to_le_bytes());
        buf[8..16].copy_from_slice(&4096u64.to_le_bytes());
        user::copy_out(call.arg(1), &buf)?;
        return Ok(0);
    }
    host_call(Sysno::statfs, [p.ptr(), call.arg(1), 0, 0, 0, 0])
}

pub fn sys_chdir(call: &Call) -> SysResult {
    let p = path_arg(call.arg(0))?;
    if p.route != Route::Host {
        return Err(Errno::EACCES);
    }
    host_call(Sysno::chdir, [p.ptr(), 0, 0, 0, 0, 0])?;
    refresh_cwd();
    Ok(0)
}

pub fn sys_fchdir(call: &Call) -> SysResult {
    let fd = guest_fd(call.arg(0))?;
    if fdtable::is_synthetic_dir(fd) {
        return Err(Errno::EACCES);
    }
    call.forward()?;
    refresh_cwd();
    Ok(0)
}

/// Re-reads the current directory from the host after it changed.
pub fn refresh_cwd() {
    let mut buf = alloc::vec![0u8; user::PATH_MAX];
    if let Ok(len) = host::getcwd(&mut buf) {
        buf.truncate(len);
        path::set_cwd(String::from_utf8_lossy(&buf).into_owned());
    }
}

pub fn sys_getcwd(call: &Call) -> SysResult {
    user::check_buffer(call.arg(0), call.arg(1))?;
    call.forward()
}

/// sendfile(out, in, offset, count): both descriptors host-backed.
pub fn sys_sendfile(call: &Call) -> SysResult {
    for fd in [guest_fd(call.arg(0))?, guest_fd(call.arg(1))?] {
        if fdtable::is_synthetic_dir(fd) {
            return Err(Errno::EINVAL);
        }
    }
    user::check_buffer(call.arg(2), 8)?;
    call.forward()
}

/// poll(fds, nfds, timeout) and ppoll(fds, nfds, timeout, sigmask, size).
pub fn sys_poll(call: &Call) -> SysResult {
    const POLLFD_SIZE: u64 = 8;
    let count = call.arg(1);
    if count > RESERVED_FD_BASE as u64 * 4 || count > fdtable::nofile_soft() {
        return Err(Errno::EINVAL);
    }
    user::check_buffer(call.arg(0), count * POLLFD_SIZE)?;
    if call.nr != Sysno::ppoll as u64 {
        return call.forward();
    }
    user::check_buffer(call.arg(2), 16)?;
    let mask = call_sigmask(call.arg(3), call.arg(4))?;
    signal::wait_with_mask(mask, |host_mask| {
        host_call(
            Sysno::ppoll,
            [call.arg(0), count, call.arg(2), host_mask, 8, 0],
        )
    })
}

/// The signal mask a ppoll, pselect6 or epoll_pwait call puts in force
/// while it waits (`None`: none given), read as Linux reads it.
fn call_sigmask(addr: u64, size: u64) -> Result<Option<u64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    Ok(Some(user::read_u64(addr)?))
}

/// select(nfds, r, w, e, timeout) and pselect6(..., timeout, sigmask).
pub fn sys_select(call: &Call) -> SysResult {
    let nfds = call.int(0);
    if nfds < 0 {
        return Err(Errno::EINVAL);
    }
    let set_bytes = (nfds as u64).div_ceil(64) * 8;
    for set in 1..=3 {
        user::check_buffer(call.arg(set), set_bytes)?;
    }
    user::check_buffer(call.arg(4), 16)?;
    if call.nr != Sysno::pselect6 as u64 || call.arg(5) == 0 {
        return call.forward();
    }
    // A { const sigset_t *ss; size_t ss_len; } pair.
    let pair = user::read_bytes(call.arg(5), 16)?;
    let word = |i: usize| u64::from_le_bytes(pair[i..i + 8].try_into().expect("8 bytes"));
    let mask = call_sigmask(word(0), word(8))?;
    signal::wait_with_mask(mask, |host_mask| {
        let host_pair = [host_mask, 8];
        host_call(
            Sysno::pselect6,
            [
                call.arg(0),
                call.arg(1),
                call.arg(2),
                call.arg(3),
                call.arg(4),
                if host_mask == 0 {
                    0
                } else {
                    host_pair.as_ptr() as u64
                },
            ],
        )
    })
}

/// Calls that create a descriptor from nothing but flags and numbers:
/// epoll_create1, eventfd2, timerfd_create. The new descriptor must stay
/// below the kernel's range.
pub fn sys_new_fd(call: &Call) -> SysResult {
    Ok(fdtable::adopt(call.forward()? as i32)? as u64)
}

/// epoll_create(size): epoll_create1 without flags, once `size` is checked
/// (it must be positive, though it means nothing since Linux 2.6.8).
pub fn sys_epoll_create(call: &Call) -> SysResult {
    if call.int(0) <= 0 {
        return Err(Errno::EINVAL);
    }
    Ok(fdtable::adopt(host_call(Sysno::epoll_create1, [0; 6])? as i32)? as u64)
}

/// epoll_ctl(epfd, op, fd, event).
pub fn sys_epoll_ctl(call: &Call) -> SysResult {
    guest_fd(call.arg(0))?;
    guest_fd(call.arg(2))?;
    user::check_buffer(call.arg(3), 12)?;
    call.forward()
}

/// epoll_wait(epfd, events, max, timeout) and epoll_pwait (+ sigmask, size).
pub fn sys_epoll_wait(call: &Call) -> SysResult {
    const EPOLL_EVENT_SIZE: u64 = 12;
    guest_fd(call.arg(0))?;
    let max = call.int(2);
    if max <= 0 {
        return Err(Errno::EINVAL);
    }
    user::check_buffer(call.arg(1), max as u64 * EPOLL_EVENT_SIZE)?;
    // epoll_wait is epoll_pwait without a mask; epoll_pwait2 takes a
    // timespec instead of milliseconds.
    let (nr, mask) = match Sysno::new(call.nr as usize) {
        Some(Sysno::epoll_wait) => (Sysno::epoll_pwait, None),
        Some(Sysno::epoll_pwait2) => {
            user::check_buffer(call.arg(3), 16)?;
            (Sysno::epoll_pwait2, call_sigmask(call.arg(4), call.arg(5))?)
        }
        _ => (Sysno::epoll_pwait, call_sigmask(call.arg(4), call.arg(5))?),
    };
    signal::wait_with_mask(mask, |host_mask| {
        host_call(
            nr,
            [
                call.arg(0),
                call.arg(1),
                call.arg(2),
                call.arg(3),
                host_mask,
                8,
            ],
        )
    })
}

/// timerfd_settime(fd, flags, new, old) and timerfd_gettime(fd, cur).
pub fn sys_timerfd_time(call: &Call) -> SysResult {
    guest_fd(call.arg(0))?;
    const ITIMERSPEC_SIZE: u64 = 32;
    if call.nr == Sysno::timerfd_settime as u64 {
        user::check_buffer(call.arg(2), ITIMERSPEC_SIZE)?;
        user::check_buffer(call.arg(3), ITIMERSPEC_SIZE)?;
    } else {
        user::check_buffer(call.arg(1), ITIMERSPEC_SIZE)?;
    }
    call.forward()
}

/// mknod and mknodat: FIFOs, sockets and regular files; device nodes are
/// refused (the container has no devices of its own to name).
pub fn sys_mknod(call: &Call) -> SysResult {
    let (p, mode, dev) = if call.nr == Sysno::mknodat as u64 {
        (
            path_at(call.arg(0), call.arg(1), false)?,
            call.arg(2),
            call.arg(3),
        )
    } else {
        (path_arg(call.arg(0))?, call.arg(1), call.arg(2))
    };
    // Linux's order: a type that is not one of the seven is EINVAL (never
    // passed on: the host allowlist kills any with the S_IFCHR bit), a
    // directory or a device EPERM (no CAP_MKNOD in a container).
    const S_IFMT: u64 = 0o170000;
    match mode & S_IFMT {
        0 | 0o100000 | 0o010000 | 0o140000 => {}
        0o020000 | 0o060000 | 0o040000 => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    }
    if p.route != Route::Host {
        return Err(Errno::EEXIST);
    }
    host_call(
        Sysno::mknodat,
        [p.dirfd as u64, p.ptr(), mode & 0xffff_ffff, dev, 0, 0],
    )
}

/// getxattr, lgetxattr, fgetxattr, listxattr, llistxattr, flistxattr:
/// reading extended attributes (`ls -l` asks for ACLs and labels). Setting
/// them is not supported.
pub fn sys_read_xattr(call: &Call) -> SysResult {
    const XATTR_NAME_MAX: usize = 255;
    let nr = Sysno::new(call.nr as usize).ok_or(Errno::ENOSYS)?;
    let listing = matches!(nr, Sysno::listxattr | Sysno::llistxattr | Sysno::flistxattr);
    // (value buffer, its size) sit after the name for get, after the path for list.
    let (buf, size) = if listing {
        (call.arg(1), call.arg(2))
    } else {
        (call.arg(2), call.arg(3))
    };
    user::check_buffer(buf, size)?;
    let name = if listing {
        Vec::new()
    } else {
        let mut name = user::read_cstring(call.arg(1), XATTR_NAME_MAX + 1, Errno::ERANGE)?;
        name.push(0);
        name
    };
    let name_ptr = name.as_ptr() as u64;
    if matches!(nr, Sysno::fgetxattr | Sysno::flistxattr) {
        let fd = guest_fd(call.arg(0))?;
        if fdtable::is_synthetic_dir(fd) {
            return Err(Errno::EOPNOTSUPP);
        }
        let args = if listing {
            [fd as u64, buf, size, 0, 0, 0]
        } else {
            [fd as u64, name_ptr, buf, size, 0, 0]
        };
        return host_call(nr, args);
    }
    let p = path_arg(call.arg(0))?;
    if p.route != Route::Host {
        return Err(Errno::EOPNOTSUPP);
    }
    let args = if listing {
        [p.ptr(), buf, size, 0, 0, 0]
    } else {
        [p.ptr(), name_ptr, buf, size, 0, 0]
    };
    host_call(nr, args)
}
