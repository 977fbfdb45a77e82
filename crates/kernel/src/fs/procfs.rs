//! The kernel's `/proc`.
//!
//! The guest never sees the host's procfs. Every entry here but `sys`
//! (the host's sysctls, read-only, see [`super::procsys`]) is computed by
//! the kernel from its own state: identity from [`crate::task`], mappings
//! from [`crate::mm::vma`], descriptors from [`super::fdtable`]. Files are
//! handed to the guest as sealed memory files holding a snapshot taken at
//! open, so reads, seeks and polls on them need no kernel involvement.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use oxbox_abi::layout::RESERVED_FD_BASE;
use oxbox_hal::host;

use super::stat::{S_IFDIR, S_IFLNK, S_IFREG, SynthStat};
use super::{fdtable, path, procsys};
use crate::net::procnet;
use crate::procs::{self, ProcInfo};
use crate::{Errno, task};

/// What a `/proc` path names.
#[derive(Debug, PartialEq, Eq)]
pub enum Node {
    /// A directory; the components are its canonical path under `/proc`.
    Dir(Vec<String>),
    /// A regular file and its contents.
    File(Vec<u8>),
    /// A symbolic link and its target.
    Link(String),
    /// A host sysctl file: its path under `/proc/sys` and its permission
    /// bits, read only when it is opened (some are write-only).
    Sysctl(Vec<String>, u32),
}

/// Directory entry types for `getdents64`.
pub const DT_DIR: u8 = 4;
pub const DT_REG: u8 = 8;
pub const DT_LNK: u8 = 10;

const ROOT_FILES: &[&str] = &["filesystems", "meminfo", "mounts", "uptime", "version"];
const PID_FILES: &[&str] = &[
    "cmdline", "comm", "environ", "maps", "mounts", "stat", "status",
];
const PID_LINKS: &[&str] = &["cwd", "exe", "root"];
/// What `/proc/<pid>` shows for another process of the container: what its
/// kernel publishes in the process table ([`crate::procs`]).
const OTHER_PID_FILES: &[&str] = &["cmdline", "comm", "stat", "status"];

/// Replaces a leading `self` with the pid, and a leading `net` (a link to
/// `self/net`) with the pid's `net`, so that all name the same node.
pub fn canonical(parts: &[String]) -> Vec<String> {
    let mut out: Vec<String> = parts.to_vec();
    match out.first().map(String::as_str) {
        Some("self") => out[0] = task::pid().to_string(),
        Some("net") => out.insert(0, task::pid().to_string()),
        _ => {}
    }
    out
}

fn is_own_pid(name: &str) -> bool {
    name.parse::<i32>().is_ok_and(|p| p == task::pid())
}

/// Another process of the container, named by its pid.
fn other_process(name: &str) -> Option<ProcInfo> {
    name.parse::<i32>().ok().and_then(procs::other)
}

/// Looks up a path under `/proc` (components after `proc`), following a
/// leading `self` link as the host would for intermediate components.
pub fn lookup(parts: &[String], follow_last: bool) -> Result<Node, Errno> {
    if parts.len() == 1 && parts[0] == "self" && !follow_last {
        return Ok(Node::Link(task::pid().to_string()));
    }
    if parts.len() == 1 && parts[0] == "net" && !follow_last {
        return Ok(Node::Link("self/net".into()));
    }
    let parts = canonical(parts);
    let names: Vec<&str> = parts.iter().map(String::as_str).collect();
    let node = match names.as_slice() {
        [] => Node::Dir(parts.clone()),
        ["sys", ..] => procsys::lookup(&parts[1..], &parts)?,
        [name] if ROOT_FILES.contains(name) => Node::File(root_file(name)),
        [pid] if is_own_pid(pid) => Node::Dir(parts.clone()),
        [pid, "fd"] if is_own_pid(pid) => Node::Dir(parts.clone()),
        [pid, name] if is_own_pid(pid) && PID_FILES.contains(name) => Node::File(pid_file(name)),
        [pid, name] if is_own_pid(pid) && PID_LINKS.contains(name) => Node::Link(pid_link(name)),
        [pid, "fd", n] if is_own_pid(pid) => {
            Node::Link(fd_link(n.parse().map_err(|_| Errno::ENOENT)?)?)
        }
        [pid, "net"] if is_own_pid(pid) => Node::Dir(parts.clone()),
        [pid, "net", name] if is_own_pid(pid) && procnet::FILES.contains(name) => {
            Node::File(procnet::contents(name)?)
        }
        [pid] if other_process(pid).is_some() => Node::Dir(parts.clone()),
        [pid, name] if OTHER_PID_FILES.contains(name) => {
            let info = other_process(pid).ok_or(Errno::ENOENT)?;
            Node::File(process_file(&info, name))
        }
        _ => return Err(Errno::ENOENT),
    };
    Ok(node)
}

/// The entries of a directory node, with their types, `.` and `..` first.
pub fn list(parts: &[String]) -> Result<Vec<(String, u8)>, Errno> {
    let parts = canonical(parts);
    let names: Vec<&str> = parts.iter().map(String::as_str).collect();
    let mut out = vec![(".".to_string(), DT_DIR), ("..".to_string(), DT_DIR)];
    match names.as_slice() {
        [] => {
            out.extend(ROOT_FILES.iter().map(|n| (n.to_string(), DT_REG)));
            out.push(("net".into(), DT_LNK));
            out.push(("self".into(), DT_LNK));
            if procsys::available() {
                out.push(("sys".into(), DT_DIR));
            }
            let mut pids: Vec<i32> = procs::others().iter().map(|p| p.pid).collect();
            pids.push(task::pid());
            pids.sort_unstable();
            out.extend(pids.into_iter().map(|pid| (pid.to_string(), DT_DIR)));
        }
        [pid] if is_own_pid(pid) => {
            out.push(("fd".into(), DT_DIR));
            out.push(("net".into(), DT_DIR));
            out.extend(PID_FILES.iter().map(|n| (n.to_string(), DT_REG)));
            out.extend(PID_LINKS.iter().map(|n| (n.to_string(), DT_LNK)));
        }
        [pid, "fd"] if is_own_pid(pid) => {
            out.extend(open_fds().into_iter().map(|fd| (fd.to_string(), DT_LNK)))
        }
        [pid, "net"] if is_own_pid(pid) => {
            out.extend(procnet::FILES.iter().map(|n| (n.to_string(), DT_REG)))
        }
        ["sys", ..] => out.extend(procsys::list(&parts[1..])?),
        [pid] if other_process(pid).is_some() => {
            out.extend(OTHER_PID_FILES.iter().map(|n| (n.to_string(), DT_REG)))
        }
        _ => return Err(Errno::ENOTDIR),
    }
    Ok(out)
}

/// The attributes `stat` reports for a node.
pub fn stat_of(node: &Node, parts: &[String]) -> SynthStat {
    // A stable inode number per path, so `find` and `ls -i` behave.
    let ino = parts
        .iter()
        .flat_map(|p| p.bytes().chain([b'/']))
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
    match node {
        Node::Dir(_) => SynthStat {
            ino,
            mode: S_IFDIR | 0o555,
            nlink: 2,
            size: 0,
        },
        Node::File(_) => SynthStat {
            ino,
            mode: S_IFREG | 0o444,
            nlink: 1,
            size: 0,
        },
        Node::Sysctl(_, mode) => SynthStat {
            ino,
            mode: S_IFREG | mode,
            nlink: 1,
            size: 0,
        },
        Node::Link(target) => SynthStat {
            ino,
            mode: S_IFLNK | 0o777,
            nlink: 1,
            size: target.len() as u64,
        },
    }
}

/// Descriptors open in this process, found by asking the host about each
/// number below the reserved range (the guest cannot read the host's
/// `/proc/self/fd`, and neither does the kernel).
fn open_fds() -> Vec<i32> {
    const F_GETFD: u64 = 1;
    (0..RESERVED_FD_BASE)
        .filter(|fd| {
            host::forward(
                syscalls::Sysno::fcntl as usize,
                [*fd as u64, F_GETFD, 0, 0, 0, 0],
            )
            .is_ok()
        })
        .collect()
}

/// What `/proc/self/fd/N` links to.
fn fd_link(fd: i32) -> Result<String, Errno> {
    if !(0..RESERVED_FD_BASE).contains(&fd) {
        return Err(Errno::ENOENT);
    }
    if let Some(path) = fdtable::path_of(fd) {
        return Ok(path);
    }
    if let Some(dir) = fdtable::with_synthetic_dir(fd, |d| d.parts.join("/")) {
        return Ok(format!("/{dir}"));
    }
    let st = host::fstat(fd).map_err(|_| Errno::ENOENT)?;
    let kind = st.mode & 0o170000;
    Ok(match kind {
        0o010000 => format!("pipe:[{}]", st.ino),
        0o140000 => format!("socket:[{}]", st.ino),
        0o020000 => describe_char_device(st.rdev),
        _ => format!("anon_inode:[{}]", st.ino),
    })
}

fn describe_char_device(rdev: u64) -> String {
    let (major, minor) = (
        ((rdev >> 8) & 0xfff) as u32,
        ((rdev & 0xff) | ((rdev >> 12) & 0xfff00)) as u32,
    );
    match (major, minor) {
        (1, 3) => "/dev/null".into(),
        (1, 5) => "/dev/zero".into(),
        (1, 7) => "/dev/full".into(),
        (1, 8) => "/dev/random".into(),
        (1, 9) => "/dev/urandom".into(),
        (5, 0) => "/dev/tty".into(),
        (136..=143, n) => format!("/dev/pts/{}", (major - 136) * 256 + n),
        _ => format!("/dev/char/{major}:{minor}"),
    }
}

fn pid_link(name: &str) -> String {
    match name {
        "exe" => task::with_image(|i| i.exe.clone()),
        "cwd" => path::cwd(),
        _ => "/".into(),
    }
}

/// The process name: the executable's base name, cut to 15 bytes.
pub fn comm() -> String {
    task::with_image(|i| comm_of(&i.exe).into())
}

/// The command name of program `exe`: its file name, cut to 15 characters.
pub fn comm_of(exe: &str) -> &str {
    let base = exe.rsplit('/').next().unwrap_or("");
    base.char_indices()
        .nth(15)
        .map_or(base, |(end, _)| &base[..end])
}

/// This process as the process table describes it.
fn own_process() -> ProcInfo {
    let c = task::container();
    ProcInfo {
        pid: task::pid(),
        ppid: task::ppid(),
        state: b'R',
        pgrp: procs::host_group(oxbox_abi::Sysno::getpgid, 0),
        session: procs::host_group(oxbox_abi::Sysno::getsid, 0),
        uid: c.uid,
        gid: c.gid,
        comm: comm(),
        cmdline: task::with_image(|i| i.cmdline.clone()),
    }
}

fn pid_file(name: &str) -> Vec<u8> {
    match name {
        "environ" => task::with_image(|i| i.environ.clone()),
        "maps" => crate::mm::vma::VMAS.lock().render().into_bytes(),
        "mounts" => root_file("mounts"),
        _ => process_file(&own_process(), name),
    }
}

/// `cmdline`, `comm`, `stat` or `status` of a process.
fn process_file(p: &ProcInfo, name: &str) -> Vec<u8> {
    let (pid, ppid, comm, state) = (p.pid, p.ppid, &p.comm, p.state as char);
    let (pgrp, session) = (p.pgrp, p.session);
    let state_name = match state {
        'R' => "running",
        'T' => "stopped",
        'Z' => "zombie",
        _ => "sleeping",
    };
    match name {
        "cmdline" => p.cmdline.clone(),
        "comm" => format!("{comm}\n").into_bytes(),
        "stat" => format!(
            "{pid} ({comm}) {state} {ppid} {pgrp} {session} 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 0 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        )
        .into_bytes(),
        _ => format!(
            "Name:\t{comm}\nUmask:\t0022\nState:\t{state} ({state_name})\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\nPPid:\t{ppid}\nTracerPid:\t0\n\
             Uid:\t{u}\t{u}\t{u}\t{u}\nGid:\t{g}\t{g}\t{g}\t{g}\nFDSize:\t64\nGroups:\t\nNStgid:\t{pid}\nNSpid:\t{pid}\n\
             NSpgid:\t{pgrp}\nNSsid:\t{session}\nThreads:\t1\nSigQ:\t0/0\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n\
             SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\nCapInh:\t0000000000000000\n\
             CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\n\
             NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n",
            u = p.uid,
            g = p.gid
        )
        .into_bytes(),
    }
}

fn root_file(name: &str) -> Vec<u8> {
    let info = sysinfo();
    match name {
        "version" => {
            let c = task::container();
            format!("Linux version {} (oxbox) {}\n", c.release, c.version).into_bytes()
        }
        "uptime" => format!("{}.00 0.00\n", info.uptime).into_bytes(),
        "meminfo" => {
            let kib = |pages: u64| pages * info.unit / 1024;
            format!(
                "MemTotal:       {:>8} kB\nMemFree:        {:>8} kB\nMemAvailable:   {:>8} kB\nBuffers:        {:>8} kB\n\
                 Cached:         {:>8} kB\nSwapTotal:      {:>8} kB\nSwapFree:       {:>8} kB\nShmem:          {:>8} kB\n",
                kib(info.total),
                kib(info.free),
                kib(info.free + info.buffers),
                kib(info.buffers),
                0,
                kib(info.swap_total),
                kib(info.swap_free),
                kib(info.shared),
            )
            .into_bytes()
        }
        "mounts" => b"oxbox / oxbox rw 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\ntmpfs /dev tmpfs rw,nosuid 0 0\n".to_vec(),
        _ => b"nodev\tproc\nnodev\ttmpfs\n".to_vec(),
    }
}

/// The host's `sysinfo`, decoded.
struct SysInfo {
    uptime: u64,
    total: u64,
    free: u64,
    shared: u64,
    buffers: u64,
    swap_total: u64,
    swap_free: u64,
    unit: u64,
}

fn sysinfo() -> SysInfo {
    let mut raw = [0u8; 112];
    let _ = crate::syscall::misc::host_sysinfo(&mut raw);
    let word = |i: usize| u64::from_le_bytes(raw[i..i + 8].try_into().expect("8 bytes"));
    let unit = u32::from_le_bytes(raw[104..108].try_into().expect("4 bytes")).max(1) as u64;
    SysInfo {
        uptime: word(0),
        total: word(32),
        free: word(40),
        shared: word(48),
        buffers: word(56),
        swap_total: word(64),
        swap_free: word(72),
        unit,
    }
}
