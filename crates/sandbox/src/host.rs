//! The host calls that build a container, behind a trait.
//!
//! The order and arguments of these calls are the sandbox's logic and are
//! decided by pure code ([`crate::mounts`], [`crate::init`]); the calls
//! themselves are made through [`HostSys`]. [`RealHost`] performs them;
//! tests use a recording fake, so the logic is tested without root.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt};
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::spec::{DeviceNode, Mount, Rlimit, User};
use crate::{caps, inroot, namespaces};

/// What a path names, as far as mount targets are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A directory.
    Dir,
    /// A symbolic link (never followed when checking a mount target).
    Symlink,
    /// A regular file.
    File,
    /// Anything else: device, socket, fifo.
    Other,
}

/// The host system calls used to set up a container's first process.
///
/// Each returns the host's raw answer; callers add the context.
pub trait HostSys {
    /// `unshare(flags)`.
    fn unshare(&mut self, flags: CloneFlags) -> io::Result<()>;
    /// `setresgid(0, 0, 0)` and `setresuid(0, 0, 0)`: root of the user
    /// namespace just entered (the parent-death signal, which a change of
    /// credentials clears, is set again).
    fn become_root(&mut self) -> io::Result<()>;
    /// `sethostname(name)`, in the current UTS namespace.
    fn set_hostname(&mut self, name: &str) -> io::Result<()>;
    /// Brings the loopback interface of the current network namespace up.
    fn loopback_up(&mut self) -> io::Result<()>;
    /// Writes `value` to the sysctl `key` (`net.ipv4.ip_forward`) under
    /// `/proc/sys`, in the current namespaces.
    fn write_sysctl(&mut self, key: &str, value: &str) -> io::Result<()>;
    /// A read-only, detached copy of the `/proc/sys` mount (with its
    /// submounts), open as an `O_PATH` descriptor of its root: the kernel's
    /// view of the sysctls.
    fn copy_sysctls(&mut self) -> io::Result<OwnedFd>;
    /// `mount(source, target, fstype, flags, data)`.
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
    /// `umount2(target, MNT_DETACH)`: detaches the topmost mount at
    /// `target` and everything under it. `EINVAL` if nothing is mounted there.
    fn unmount_detach(&mut self, target: &Path) -> io::Result<()>;
    /// `pivot_root(new_root, put_old)`.
    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()>;
    /// `chdir(dir)`.
    fn chdir(&mut self, dir: &Path) -> io::Result<()>;
    /// `mkdir(path, mode)`.
    fn mkdir(&mut self, path: &Path, mode: u32) -> io::Result<()>;
    /// `mkdir -p path`.
    fn mkdir_all(&mut self, path: &Path) -> io::Result<()>;
    /// Creates an empty file (a bind-mount target); fails if it exists.
    fn create_file(&mut self, path: &Path) -> io::Result<()>;
    /// `mknod` of `node` at `path`, then its mode (whatever the umask) and
    /// owner.
    fn make_device(&mut self, path: &Path, node: &DeviceNode) -> io::Result<()>;
    /// `lstat`: what `path` names, or `None` if nothing.
    fn file_kind(&mut self, path: &Path) -> io::Result<Option<FileKind>>;
    /// The text of `/proc/self/mountinfo`.
    fn read_mountinfo(&mut self) -> io::Result<String>;
    /// `symlink(target, path)`.
    fn symlink(&mut self, target: &Path, path: &Path) -> io::Result<()>;
    /// Performs a user's mount below `root` (see [`crate::inroot`]).
    fn mount_in_root(&mut self, root: &Path, mount: &Mount) -> io::Result<()>;
    /// `setns(fd, kind)`: enters an existing namespace.
    fn setns(&mut self, ns: BorrowedFd<'_>, kind: CloneFlags) -> io::Result<()>;
    /// `setrlimit`.
    fn set_rlimit(&mut self, limit: &Rlimit) -> io::Result<()>;
    /// `setgroups`, `setresgid`, `setresuid`, in that order (the groups
    /// and gid need the privileges the uid change gives up).
    fn set_user(&mut self, user: &User) -> io::Result<()>;
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
    fn set_no_new_privs(&mut self) -> io::Result<()>;
    /// Drops every capability but `keep` from the bounding set (while the
    /// caller still holds `CAP_SETPCAP`).
    fn limit_bounding_set(&mut self, keep: u64) -> io::Result<()>;
    /// Keeps only `keep` in the effective and permitted sets, empties the
    /// inheritable and ambient ones.
    fn limit_capabilities(&mut self, keep: u64) -> io::Result<()>;
}

/// [`HostSys`] on the real host.
#[derive(Debug, Default)]
pub struct RealHost;

impl HostSys for RealHost {
    fn unshare(&mut self, flags: CloneFlags) -> io::Result<()> {
        Ok(nix::sched::unshare(flags)?)
    }

    fn become_root(&mut self) -> io::Result<()> {
        let root = (nix::unistd::Gid::from_raw(0), nix::unistd::Uid::from_raw(0));
        nix::unistd::setresgid(root.0, root.0, root.0)?;
        nix::unistd::setresuid(root.1, root.1, root.1)?;
        Ok(nix::sys::prctl::set_pdeathsig(
            nix::sys::signal::Signal::SIGKILL,
        )?)
    }

    fn set_hostname(&mut self, name: &str) -> io::Result<()> {
        Ok(nix::unistd::sethostname(name)?)
    }

    fn loopback_up(&mut self) -> io::Result<()> {
        namespaces::loopback_up()
    }

    fn write_sysctl(&mut self, key: &str, value: &str) -> io::Result<()> {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        let mut file = fs::OpenOptions::new().write(true).open(path)?;
        io::Write::write_all(&mut file, value.as_bytes())
    }

    fn copy_sysctls(&mut self) -> io::Result<OwnedFd> {
        // SAFETY: open_tree takes a NUL-terminated path and flags, and
        // returns a new descriptor or -1.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                c"/proc/sys".as_ptr(),
                libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_RECURSIVE as u32,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: open_tree returned this descriptor, owned by no one else.
        let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let attr = libc::mount_attr {
            attr_set: libc::MOUNT_ATTR_RDONLY
                | libc::MOUNT_ATTR_NOSUID
                | libc::MOUNT_ATTR_NODEV
                | libc::MOUNT_ATTR_NOEXEC,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        };
        // SAFETY: mount_setattr reads `attr`, a live mount_attr of the
        // size passed, on the tree just opened (the empty path names it).
        let set = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                tree.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
                &raw const attr,
                std::mem::size_of::<libc::mount_attr>(),
            )
        };
        if set < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(tree)
    }

    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        Ok(nix::mount::mount(source, target, fstype, flags, data)?)
    }

    fn unmount_detach(&mut self, target: &Path) -> io::Result<()> {
        Ok(nix::mount::umount2(target, MntFlags::MNT_DETACH)?)
    }

    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        Ok(nix::unistd::pivot_root(new_root, put_old)?)
    }

    fn chdir(&mut self, dir: &Path) -> io::Result<()> {
        Ok(nix::unistd::chdir(dir)?)
    }

    fn mkdir(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        fs::DirBuilder::new().mode(mode).create(path)
    }

    fn mkdir_all(&mut self, path: &Path) -> io::Result<()> {
        fs::DirBuilder::new()
            .mode(0o755)
            .recursive(true)
            .create(path)
    }

    fn create_file(&mut self, path: &Path) -> io::Result<()> {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map(drop)
    }

    fn make_device(&mut self, path: &Path, node: &DeviceNode) -> io::Result<()> {
        use nix::sys::stat::{Mode, SFlag};
        let kind = SFlag::from_bits_truncate(node.kind.mode_bits());
        let permissions = Mode::from_bits_truncate(node.mode);
        let dev = nix::sys::stat::makedev(node.major, node.minor);
        nix::sys::stat::mknod(path, kind, permissions, dev)?;
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            path,
            permissions,
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )?;
        std::os::unix::fs::lchown(path, Some(node.uid), Some(node.gid))
    }

    fn file_kind(&mut self, path: &Path) -> io::Result<Option<FileKind>> {
        match fs::symlink_metadata(path) {
            Ok(meta) => {
                let t = meta.file_type();
                Ok(Some(if t.is_dir() {
                    FileKind::Dir
                } else if t.is_symlink() {
                    FileKind::Symlink
                } else if t.is_file() {
                    FileKind::File
                } else {
                    debug_assert!(
                        t.is_char_device() || t.is_block_device() || t.is_fifo() || t.is_socket()
                    );
                    FileKind::Other
                }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn read_mountinfo(&mut self) -> io::Result<String> {
        fs::read_to_string("/proc/self/mountinfo")
    }

    fn symlink(&mut self, target: &Path, path: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, path)
    }

    fn mount_in_root(&mut self, root: &Path, mount: &Mount) -> io::Result<()> {
        inroot::mount(root, mount)
    }

    fn setns(&mut self, ns: BorrowedFd<'_>, kind: CloneFlags) -> io::Result<()> {
        Ok(nix::sched::setns(ns, kind)?)
    }

    fn set_rlimit(&mut self, limit: &Rlimit) -> io::Result<()> {
        let value = libc::rlimit {
            rlim_cur: limit.soft,
            rlim_max: limit.hard,
        };
        // SAFETY: `value` is a valid rlimit the call only reads; the
        // resource number is checked by the host (EINVAL if unknown).
        let rc = unsafe { libc::setrlimit(limit.resource as _, &value) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn set_user(&mut self, user: &User) -> io::Result<()> {
        use nix::unistd::{Gid, Uid};
        let groups: Vec<Gid> = user
            .additional_gids
            .iter()
            .map(|g| Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&groups)?;
        let gid = Gid::from_raw(user.gid);
        nix::unistd::setresgid(gid, gid, gid)?;
        let uid = Uid::from_raw(user.uid);
        Ok(nix::unistd::setresuid(uid, uid, uid)?)
    }

    fn set_no_new_privs(&mut self) -> io::Result<()> {
        Ok(nix::sys::prctl::set_no_new_privs()?)
    }

    fn limit_bounding_set(&mut self, keep: u64) -> io::Result<()> {
        caps::limit_bounding_set(keep)
    }

    fn limit_capabilities(&mut self, keep: u64) -> io::Result<()> {
        caps::keep_only(keep)
    }
}

/// A [`HostSys`] that records calls and answers from a small model of the
/// file tree, for tests.
#[cfg(test)]
pub(crate) mod fake {
    use super::*;
    use std::collections::{HashMap, HashSet};
    use std::path::PathBuf;

    #[derive(Default)]
    pub struct FakeHost {
        /// Every call, formatted as `name(args)`.
        pub calls: Vec<String>,
        /// What exists; anything else is missing.
        pub files: HashMap<PathBuf, FileKind>,
        /// How many mounts are stacked at each path (for `unmount_detach`).
        pub mounted: HashMap<PathBuf, usize>,
        /// Returned by `read_mountinfo`.
        pub mountinfo: String,
        /// Calls whose name and first argument match fail with this errno.
        pub failures: HashMap<String, i32>,
        /// Paths whose remount fails with the errno (for skip rules).
        pub remount_failures: HashMap<PathBuf, i32>,
        pub created: HashSet<PathBuf>,
    }

    impl FakeHost {
        fn record(&mut self, call: String) -> io::Result<()> {
            let key = call.split([',', ')']).next().unwrap_or("").to_string();
            self.calls.push(call);
            match self.failures.get(&key) {
                Some(errno) => Err(io::Error::from_raw_os_error(*errno)),
                None => Ok(()),
            }
        }

        /// The names of the recorded calls, in order.
        pub fn call_names(&self) -> Vec<&str> {
            self.calls
                .iter()
                .map(|c| c.split('(').next().unwrap_or(""))
                .collect()
        }

        /// The recorded calls whose name starts with `prefix`.
        pub fn calls_named(&self, prefix: &str) -> Vec<&str> {
            self.calls
                .iter()
                .filter(|c| c.starts_with(prefix))
                .map(String::as_str)
                .collect()
        }
    }

    impl HostSys for FakeHost {
        fn unshare(&mut self, flags: CloneFlags) -> io::Result<()> {
            self.record(format!("unshare({flags:?})"))
        }
        fn become_root(&mut self) -> io::Result<()> {
            self.record("become_root()".into())
        }
        fn set_hostname(&mut self, name: &str) -> io::Result<()> {
            self.record(format!("sethostname({name})"))
        }
        fn loopback_up(&mut self) -> io::Result<()> {
            self.record("loopback_up()".into())
        }
        fn write_sysctl(&mut self, key: &str, value: &str) -> io::Result<()> {
            self.record(format!("sysctl({key},{value})"))
        }
        fn copy_sysctls(&mut self) -> io::Result<OwnedFd> {
            self.record("copy_sysctls()".into())?;
            Ok(fs::File::open("/dev/null")?.into())
        }
        fn mount(
            &mut self,
            source: Option<&Path>,
            target: &Path,
            fstype: Option<&str>,
            flags: MsFlags,
            data: Option<&str>,
        ) -> io::Result<()> {
            if flags.contains(MsFlags::MS_REMOUNT)
                && let Some(errno) = self.remount_failures.get(target)
            {
                self.calls
                    .push(format!("remount({}) failed", target.display()));
                return Err(io::Error::from_raw_os_error(*errno));
            }
            let source = source
                .map(|s| s.display().to_string())
                .unwrap_or_else(|| "-".into());
            self.record(format!(
                "mount({},{source},{},{flags:?},{})",
                target.display(),
                fstype.unwrap_or("-"),
                data.unwrap_or("-")
            ))
        }
        fn unmount_detach(&mut self, target: &Path) -> io::Result<()> {
            self.record(format!("umount({})", target.display()))?;
            match self.mounted.get_mut(target) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    Ok(())
                }
                _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
            }
        }
        fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()> {
            self.record(format!(
                "pivot_root({},{})",
                new_root.display(),
                put_old.display()
            ))
        }
        fn chdir(&mut self, dir: &Path) -> io::Result<()> {
            self.record(format!("chdir({})", dir.display()))?;
            if dir.is_absolute() && dir != Path::new("/") && !self.files.contains_key(dir) {
                return Err(io::Error::from_raw_os_error(libc::ENOENT));
            }
            Ok(())
        }
        fn mkdir(&mut self, path: &Path, mode: u32) -> io::Result<()> {
            self.record(format!("mkdir({},{mode:o})", path.display()))?;
            self.files.insert(path.to_owned(), FileKind::Dir);
            Ok(())
        }
        fn mkdir_all(&mut self, path: &Path) -> io::Result<()> {
            self.record(format!("mkdir_all({})", path.display()))?;
            self.files.insert(path.to_owned(), FileKind::Dir);
            Ok(())
        }
        fn create_file(&mut self, path: &Path) -> io::Result<()> {
            self.record(format!("create({})", path.display()))?;
            self.created.insert(path.to_owned());
            Ok(())
        }
        fn make_device(&mut self, path: &Path, node: &DeviceNode) -> io::Result<()> {
            self.record(format!(
                "mknod({},{:?},{}:{},{:o},{}:{})",
                path.display(),
                node.kind,
                node.major,
                node.minor,
                node.mode,
                node.uid,
                node.gid
            ))?;
            self.files.insert(path.to_owned(), FileKind::Other);
            Ok(())
        }
        fn file_kind(&mut self, path: &Path) -> io::Result<Option<FileKind>> {
            Ok(self.files.get(path).copied())
        }
        fn read_mountinfo(&mut self) -> io::Result<String> {
            Ok(self.mountinfo.clone())
        }
        fn symlink(&mut self, target: &Path, path: &Path) -> io::Result<()> {
            self.record(format!("symlink({},{})", path.display(), target.display()))
        }
        fn mount_in_root(&mut self, root: &Path, mount: &Mount) -> io::Result<()> {
            self.record(format!(
                "mount_in_root({},{})",
                root.display(),
                mount.destination.display()
            ))
        }
        fn setns(&mut self, _ns: BorrowedFd<'_>, kind: CloneFlags) -> io::Result<()> {
            self.record(format!("setns({kind:?})"))
        }
        fn set_rlimit(&mut self, limit: &Rlimit) -> io::Result<()> {
            self.record(format!(
                "setrlimit({},{},{})",
                limit.resource, limit.soft, limit.hard
            ))
        }
        fn set_user(&mut self, user: &User) -> io::Result<()> {
            self.record(format!(
                "set_user({},{},{:?})",
                user.uid, user.gid, user.additional_gids
            ))
        }
        fn set_no_new_privs(&mut self) -> io::Result<()> {
            self.record("no_new_privs()".into())
        }
        fn limit_bounding_set(&mut self, keep: u64) -> io::Result<()> {
            self.record(format!("limit_bounding_set({keep:#x})"))
        }
        fn limit_capabilities(&mut self, keep: u64) -> io::Result<()> {
            self.record(format!("limit_capabilities({keep:#x})"))
        }
    }
}
