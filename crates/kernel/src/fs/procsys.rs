//! `/proc/sys`: the host's sysctls, as the container's namespaces have them.
//!
//! Unlike the rest of `/proc`, these values are not the kernel's to make
//! up: a network sysctl is the container's network namespace's, an IPC one
//! its IPC namespace's, and the runtime may have set them (OCI
//! `linux.sysctl`). The sandbox leaves a read-only, detached copy of the
//! host's `/proc/sys` mount open at [`PROC_SYS_FD`]; every name is looked
//! up through it by the host, which answers in this process's namespaces,
//! and a file is read when it is opened, as a snapshot like every `/proc`
//! file here. Nothing
//! above that copy is reachable (`..` from the root of a detached mount
//! stays there, and paths reach this module already folded), and nothing
//! in it can be written, as with the read-only `/proc/sys` of a Docker
//! container.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use oxbox_abi::Sysno;
use oxbox_abi::layout::PROC_SYS_FD;

use super::procfs::Node;
use crate::Errno;
use crate::syscall::host_call;

const O_RDONLY: u64 = 0;
const O_DIRECTORY: u64 = 0o200000;
const O_NOFOLLOW: u64 = 0o400000;
const O_CLOEXEC: u64 = 0o2000000;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const AT_EMPTY_PATH: u64 = 0x1000;
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
/// More than any sysctl holds; a longer file is cut there.
const MAX_FILE: usize = 1 << 20;

/// Whether the container has the host's sysctls to show.
pub fn available() -> bool {
    oxbox_hal::host::fstat(PROC_SYS_FD).is_ok()
}

/// `parts` (the components after `/proc/sys`) as a host path relative to
/// the copy, NUL-terminated; the empty path names its root.
fn host_path(parts: &[String]) -> Vec<u8> {
    let mut path = parts.join("/").into_bytes();
    path.push(0);
    path
}

/// Looks up `/proc/sys/<parts>`; `full` is the node's path under `/proc`.
pub fn lookup(parts: &[String], full: &[String]) -> Result<Node, Errno> {
    let path = host_path(parts);
    let mut stat = [0u8; 144];
    host_call(
        Sysno::newfstatat,
        [
            PROC_SYS_FD as u64,
            path.as_ptr() as u64,
            stat.as_mut_ptr() as u64,
            AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH,
            0,
            0,
        ],
    )
    .map_err(|e| if e == Errno::EBADF { Errno::ENOENT } else { e })?;
    let mode = u32::from_le_bytes(stat[24..28].try_into().expect("4 bytes"));
    match mode & S_IFMT {
        S_IFDIR => Ok(Node::Dir(full.to_vec())),
        S_IFREG => Ok(Node::Sysctl(parts.to_vec(), mode & 0o7777)),
        _ => Err(Errno::ENOENT),
    }
}

/// Opens `path` (NUL-terminated, relative to the copy) with `flags`.
fn open(path: &[u8], flags: u64) -> Result<u64, Errno> {
    let path: &[u8] = if path == [0] { b".\0" } else { path };
    host_call(
        Sysno::openat,
        [
            PROC_SYS_FD as u64,
            path.as_ptr() as u64,
            O_RDONLY | O_NOFOLLOW | O_CLOEXEC | flags,
            0,
            0,
            0,
        ],
    )
}

fn close(fd: u64) {
    let _ = host_call(Sysno::close, [fd, 0, 0, 0, 0, 0]);
}

/// The contents of the sysctl file `/proc/sys/<parts>`, read now.
pub fn read(parts: &[String]) -> Result<Vec<u8>, Errno> {
    let fd = open(&host_path(parts), 0)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    let result = loop {
        match host_call(
            Sysno::read,
            [fd, buf.as_mut_ptr() as u64, buf.len() as u64, 0, 0, 0],
        ) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                out.extend_from_slice(&buf[..n as usize]);
                if out.len() >= MAX_FILE {
                    out.truncate(MAX_FILE);
                    break Ok(());
                }
            }
            Err(Errno::EINTR) => {}
            Err(e) => break Err(e),
        }
    };
    close(fd);
    result.map(|()| out)
}

/// The entries of the directory `/proc/sys/<parts>` with their types,
/// without `.` and `..`.
pub fn list(parts: &[String]) -> Result<Vec<(String, u8)>, Errno> {
    let fd = open(&host_path(parts), O_DIRECTORY)?;
    let result = entries(fd);
    close(fd);
    result
}

fn entries(fd: u64) -> Result<Vec<(String, u8)>, Errno> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = host_call(
            Sysno::getdents64,
            [fd, buf.as_mut_ptr() as u64, buf.len() as u64, 0, 0, 0],
        )? as usize;
        if n == 0 {
            return Ok(out);
        }
        out.extend(parse_dirents(&buf[..n])?);
    }
}

/// `struct linux_dirent64` records: `(name, type)` of each but `.` and `..`.
fn parse_dirents(mut buf: &[u8]) -> Result<Vec<(String, u8)>, Errno> {
    const NAME_AT: usize = 19;
    let mut out = Vec::new();
    while buf.len() >= NAME_AT {
        let reclen = u16::from_le_bytes([buf[16], buf[17]]) as usize;
        if reclen < NAME_AT || reclen > buf.len() {
            return Err(Errno::EIO);
        }
        let name = &buf[NAME_AT..reclen];
        let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())];
        if name != b"." && name != b".." {
            let name = String::from_utf8_lossy(name).into_owned();
            out.push((name, buf[18]));
        }
        buf = &buf[reclen..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirent(name: &str, kind: u8) -> Vec<u8> {
        let reclen = (19 + name.len() + 1).next_multiple_of(8);
        let mut out = vec![0u8; reclen];
        out[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
        out[18] = kind;
        out[19..19 + name.len()].copy_from_slice(name.as_bytes());
        out
    }

    #[test]
    fn host_dirents_are_read_without_dot_and_dotdot() {
        let buf: Vec<u8> = [
            dirent(".", 4),
            dirent("..", 4),
            dirent("ip_unprivileged_port_start", 8),
            dirent("conf", 4),
        ]
        .concat();
        assert_eq!(
            parse_dirents(&buf).unwrap(),
            [
                (String::from("ip_unprivileged_port_start"), 8),
                (String::from("conf"), 4)
            ]
        );
        let mut broken = dirent("x", 8);
        broken[16] = 200;
        assert_eq!(parse_dirents(&broken), Err(Errno::EIO));
    }

    #[test]
    fn the_root_of_the_copy_is_its_empty_path() {
        assert_eq!(host_path(&[]), b"\0");
        assert_eq!(
            host_path(&[String::from("net"), String::from("ipv4")]),
            b"net/ipv4\0"
        );
    }
}
