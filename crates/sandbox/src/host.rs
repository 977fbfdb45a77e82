//! The host calls that build a container, behind a trait.
//!
//! The order and arguments of these calls are the sandbox's logic and are
//! decided by pure code ([`crate::mounts`], [`crate::init`]); the calls
//! themselves are made through [`HostSys`]. [`RealHost`] performs them;
//! tests use a recording fake, so the logic is tested without root.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt};
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::{caps, namespaces};

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
    /// `sethostname(name)`, in the current UTS namespace.
    fn set_hostname(&mut self, name: &str) -> io::Result<()>;
    /// Brings the loopback interface of the current network namespace up.
    fn loopback_up(&mut self) -> io::Result<()>;
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
    /// `lstat`: what `path` names, or `None` if nothing.
    fn file_kind(&mut self, path: &Path) -> io::Result<Option<FileKind>>;
    /// The text of `/proc/self/mountinfo`.
    fn read_mountinfo(&mut self) -> io::Result<String>;
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
    fn set_no_new_privs(&mut self) -> io::Result<()>;
    /// Empties every capability set, the bounding set included.
    fn drop_capabilities(&mut self) -> io::Result<()>;
}

/// [`HostSys`] on the real host.
#[derive(Debug, Default)]
pub struct RealHost;

impl HostSys for RealHost {
    fn unshare(&mut self, flags: CloneFlags) -> io::Result<()> {
        Ok(nix::sched::unshare(flags)?)
    }

    fn set_hostname(&mut self, name: &str) -> io::Result<()> {
        Ok(nix::unistd::sethostname(name)?)
    }

    fn loopback_up(&mut self) -> io::Result<()> {
        namespaces::loopback_up()
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

    fn set_no_new_privs(&mut self) -> io::Result<()> {
        Ok(nix::sys::prctl::set_no_new_privs()?)
    }

    fn drop_capabilities(&mut self) -> io::Result<()> {
        caps::drop_all()
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
        fn set_hostname(&mut self, name: &str) -> io::Result<()> {
            self.record(format!("sethostname({name})"))
        }
        fn loopback_up(&mut self) -> io::Result<()> {
            self.record("loopback_up()".into())
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
        fn file_kind(&mut self, path: &Path) -> io::Result<Option<FileKind>> {
            Ok(self.files.get(path).copied())
        }
        fn read_mountinfo(&mut self) -> io::Result<String> {
            Ok(self.mountinfo.clone())
        }
        fn set_no_new_privs(&mut self) -> io::Result<()> {
            self.record("no_new_privs()".into())
        }
        fn drop_capabilities(&mut self) -> io::Result<()> {
            self.record("drop_capabilities()".into())
        }
    }
}
