//! Mount destinations inside the container's root, resolved by the host
//! kernel as if the root were `/`.
//!
//! A rootfs is untrusted: `/etc` in an image may be a symlink to the host's
//! `/etc`, or `/data` to `../../..`. Joining the destination onto the root
//! path and mounting there would follow such links on the host. Every
//! component is instead resolved with `openat2(RESOLVE_IN_ROOT)`, which
//! treats symlinks and `..` as relative to the root and never leaves it,
//! missing directories are created relative to their resolved parent, and
//! the mount is done onto the opened descriptor (`/proc/self/fd/N`), so
//! nothing can swap a path component between the check and the mount.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::mount::MsFlags;
use nix::sys::stat::Mode;

use crate::spec::{Mount, MountKind};

/// What must exist at a mount destination: a bind of a file needs a file,
/// everything else a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
}

/// An open destination; mount onto [`OpenTarget::proc_path`].
#[derive(Debug)]
pub struct OpenTarget(OwnedFd);

impl OpenTarget {
    /// The magic link the mount call names the descriptor by.
    pub fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.0.as_raw_fd()))
    }
}

/// Performs `mount` below `root`: the destination is created if missing
/// (a file for a bind of a file, else a directory) and mounted onto by
/// descriptor; a bind with flags is then remounted with them, as bind
/// mounts take their flags only on a remount.
pub fn mount(root: &Path, mount: &Mount) -> io::Result<()> {
    let kind = match &mount.kind {
        MountKind::Bind { source, .. } if !source.is_dir() => TargetKind::File,
        _ => TargetKind::Dir,
    };
    let target = open_target(root, &mount.destination, kind)?;
    match &mount.kind {
        MountKind::Bind { source, recursive } => {
            let rec = if *recursive {
                MsFlags::MS_REC
            } else {
                MsFlags::empty()
            };
            nix::mount::mount(
                Some(source),
                &target.proc_path(),
                None::<&str>,
                MsFlags::MS_BIND | rec,
                None::<&str>,
            )?;
            if !mount.flags.is_empty() {
                // Reopen: the descriptor above names the directory under
                // the new mount, not the mount itself.
                let mounted = open_target(root, &mount.destination, kind)?;
                nix::mount::mount(
                    None::<&str>,
                    &mounted.proc_path(),
                    None::<&str>,
                    MsFlags::MS_REMOUNT | MsFlags::MS_BIND | mount.flags,
                    None::<&str>,
                )?;
            }
        }
        MountKind::Tmpfs { data } => nix::mount::mount(
            Some("tmpfs"),
            &target.proc_path(),
            Some("tmpfs"),
            mount.flags,
            Some(data.as_str()),
        )?,
    }
    Ok(())
}

/// Opens `dest` (absolute, inside the container) below `root`, creating it
/// and its missing parents as `kind` (parents as directories).
pub fn open_target(root: &Path, dest: &Path, kind: TargetKind) -> io::Result<OpenTarget> {
    let root_fd = open_path(None, root, OFlag::O_DIRECTORY)?;
    let names = components(dest)?;
    let Some((last, parents)) = names.split_last() else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    let mut dir = root_fd;
    for name in parents {
        dir = open_or_create(&dir, name, TargetKind::Dir)?;
    }
    open_or_create(&dir, last, kind).map(OpenTarget)
}

/// The normal components of an absolute path; `..` is refused rather than
/// interpreted, since a mount destination has no reason to hold one.
fn components(dest: &Path) -> io::Result<Vec<&OsStr>> {
    let mut names = Vec::new();
    for component in dest.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => names.push(name),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
        }
    }
    Ok(names)
}

/// Opens `name` in `dir` (following symlinks inside the root only), or
/// creates it as `kind` if it is missing.
fn open_or_create(dir: &OwnedFd, name: &OsStr, kind: TargetKind) -> io::Result<OwnedFd> {
    let flags = match kind {
        TargetKind::Dir => OFlag::O_DIRECTORY,
        TargetKind::File => OFlag::empty(),
    };
    match open_path(Some(dir), Path::new(name), flags) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        other => return other,
    }
    let created = match kind {
        TargetKind::Dir => nix::sys::stat::mkdirat(dir, name, Mode::from_bits_truncate(0o755)),
        TargetKind::File => openat2(
            dir,
            name,
            OpenHow::new()
                .flags(OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC)
                .mode(Mode::from_bits_truncate(0o644))
                .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS),
        )
        .map(drop),
    };
    match created {
        // Created by someone else meanwhile: open what is there.
        Ok(()) | Err(Errno::EEXIST) => open_path(Some(dir), Path::new(name), flags),
        Err(e) => Err(e.into()),
    }
}

/// `openat2(O_PATH)` resolved in `dir` as the root (or `path` absolute on
/// the host when `dir` is `None`).
fn open_path(dir: Option<&OwnedFd>, path: &Path, extra: OFlag) -> io::Result<OwnedFd> {
    let how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_CLOEXEC | extra);
    let fd = match dir {
        Some(dir) => openat2(
            dir.as_fd(),
            path,
            how.resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS),
        ),
        None => openat2(nix::fcntl::AT_FDCWD, path, how),
    };
    Ok(fd?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn resolved(target: &OpenTarget) -> PathBuf {
        fs::read_link(target.proc_path()).unwrap()
    }

    #[test]
    fn missing_directories_are_created_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let target = open_target(root.path(), Path::new("/a/b/c"), TargetKind::Dir).unwrap();
        assert_eq!(resolved(&target), root.path().join("a/b/c"));
        assert!(root.path().join("a/b/c").is_dir());
    }

    #[test]
    fn a_file_target_is_created_as_an_empty_file() {
        let root = tempfile::tempdir().unwrap();
        let target = open_target(root.path(), Path::new("/etc/hosts"), TargetKind::File).unwrap();
        assert_eq!(resolved(&target), root.path().join("etc/hosts"));
        assert!(root.path().join("etc/hosts").is_file());
    }

    #[test]
    fn absolute_and_dotdot_symlinks_stay_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        symlink("/", root.path().join("abs")).unwrap();
        symlink("../../../../..", root.path().join("up")).unwrap();
        symlink(outside.path(), root.path().join("host")).unwrap();
        let via_abs = open_target(root.path(), Path::new("/abs/x"), TargetKind::Dir).unwrap();
        let via_up = open_target(root.path(), Path::new("/up/y"), TargetKind::Dir).unwrap();
        // The absolute link is taken relative to the root...
        assert_eq!(resolved(&via_abs), root.path().join("x"));
        // ...and `..` cannot climb above it.
        assert_eq!(resolved(&via_up), root.path().join("y"));
        // A link to a host path names a path inside the root, which is
        // missing here: refused, and nothing is created on the host.
        let err = open_target(root.path(), Path::new("/host/z"), TargetKind::Dir).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn dotdot_in_the_destination_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let err = open_target(root.path(), Path::new("/a/../b"), TargetKind::Dir).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn a_file_where_a_directory_is_needed_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("f"), "").unwrap();
        let err = open_target(root.path(), Path::new("/f/x"), TargetKind::Dir).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
    }
}
