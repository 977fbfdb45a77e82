//! Paths inside an untrusted root filesystem, resolved by the host kernel as
//! if that root were `/`.
//!
//! An image's files are hostile input: `/etc` may be a symlink to the host's
//! `/etc`, an entry may be named `../../x`. Nothing here joins an untrusted
//! path onto a host path and hands it to `open`. Directories are opened with
//! `openat2(RESOLVE_IN_ROOT)`, which resolves every component, symlinks and
//! `..` included, relative to the root and never above it; the last
//! component of a path is then only ever used with `*at` calls that do not
//! follow it.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// A path inside a root, as clean components: no `.`, no `..`, no empty
/// component.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InRootPath(Vec<OsString>);

impl InRootPath {
    /// Cleans `raw` lexically: a leading `/` is dropped (absolute paths are
    /// relative to the root), `.` is skipped and `..` removes the previous
    /// component. `None` if a `..` would climb above the root.
    pub fn clean(raw: &[u8]) -> Option<Self> {
        let mut parts = Vec::new();
        for part in raw.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    parts.pop()?;
                }
                name => parts.push(OsStr::from_bytes(name).to_owned()),
            }
        }
        Some(Self(parts))
    }

    /// Whether this is the root itself.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last component (`None` for the root).
    pub fn name(&self) -> Option<&OsStr> {
        self.0.last().map(OsString::as_os_str)
    }

    /// The path without its last component.
    pub fn parent(&self) -> Self {
        Self(self.0[..self.0.len().saturating_sub(1)].to_vec())
    }

    /// The path with `name` appended.
    pub fn join(&self, name: &OsStr) -> Self {
        let mut parts = self.0.clone();
        parts.push(name.to_owned());
        Self(parts)
    }

    /// The path relative to the root, `.` for the root itself.
    pub fn relative(&self) -> PathBuf {
        if self.0.is_empty() {
            return PathBuf::from(".");
        }
        self.0.iter().collect()
    }

    /// The components.
    pub fn components(&self) -> &[OsString] {
        &self.0
    }
}

/// Flags every directory is opened with: readable (so that it can carry
/// xattrs and be listed), never inherited.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

/// Opens the directory `path` below `root`, resolved inside the root.
/// With `create`, missing directories are made (mode 0755), each one
/// relative to its already resolved parent.
pub fn open_dir(root: &OwnedFd, path: &InRootPath, create: bool) -> io::Result<OwnedFd> {
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    match rustix::fs::openat2(root, path.relative(), DIR_FLAGS, Mode::empty(), resolve) {
        Ok(fd) => return Ok(fd),
        Err(Errno::NOENT) if create => {}
        Err(e) => return Err(e.into()),
    }
    let mut dir = rustix::fs::openat(root, ".", DIR_FLAGS, Mode::empty())?;
    for depth in 1..=path.0.len() {
        let prefix = InRootPath(path.0[..depth].to_vec());
        dir = match rustix::fs::openat2(root, prefix.relative(), DIR_FLAGS, Mode::empty(), resolve)
        {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                let name = &path.0[depth - 1];
                rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o755))?;
                rustix::fs::openat(&dir, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())?
            }
            Err(e) => return Err(e.into()),
        };
    }
    Ok(dir)
}

/// Opens `root` (a host directory oxbox trusts) as the base descriptor for
/// [`open_dir`].
pub fn open_root(root: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(root, DIR_FLAGS, Mode::empty())?)
}

/// Reads the regular file at `path` inside `root`, up to `limit` bytes;
/// `Ok(None)` if it does not exist.
pub fn read_file(root: &Path, path: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let root = open_root(root)?;
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let fd = match rustix::fs::openat2(
        &root,
        path.trim_start_matches('/'),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
        resolve,
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mode = rustix::fs::fstat(&fd)?.st_mode;
    if rustix::fs::FileType::from_raw_mode(mode) != rustix::fs::FileType::RegularFile {
        return Err(io::Error::other(format!("{path} is not a regular file")));
    }
    let mut bytes = Vec::new();
    File::from(fd).take(limit).read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// Removes `name` in `dir`, whatever it is, without following symlinks; a
/// directory is removed with everything below it.
pub fn remove_at(dir: impl AsFd, name: &OsStr) -> io::Result<()> {
    let stat = match rustix::fs::statat(&dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::Directory {
        return Ok(rustix::fs::unlinkat(
            &dir,
            name,
            rustix::fs::AtFlags::empty(),
        )?);
    }
    let child = rustix::fs::openat(&dir, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())?;
    let names: Vec<OsString> = rustix::fs::Dir::read_from(&child)?
        .filter_map(|entry| entry.ok())
        .map(|entry| OsStr::from_bytes(entry.file_name().to_bytes()).to_owned())
        .filter(|n| n != "." && n != "..")
        .collect();
    for entry in names {
        remove_at(&child, &entry)?;
    }
    Ok(rustix::fs::unlinkat(
        &dir,
        name,
        rustix::fs::AtFlags::REMOVEDIR,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(raw: &str) -> Option<String> {
        InRootPath::clean(raw.as_bytes()).map(|p| p.relative().display().to_string())
    }

    #[test]
    fn paths_are_cleaned_lexically_and_never_climb_above_the_root() {
        assert_eq!(clean("./a/b/").as_deref(), Some("a/b"));
        assert_eq!(clean("/etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(clean("a/../b").as_deref(), Some("b"));
        assert_eq!(clean("./").as_deref(), Some("."));
        assert_eq!(clean("../x"), None);
        assert_eq!(clean("a/../../x"), None);
        assert_eq!(clean("/../x"), None);
    }

    #[test]
    fn directories_are_created_through_symlinks_inside_the_root_only() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        let fd = open_root(root.path()).unwrap();
        let path = InRootPath::clean(b"escape/sub").unwrap();
        // The link's target exists on the host but not inside the root.
        assert!(open_dir(&fd, &path, true).is_err());
        assert!(!outside.path().join("sub").exists());
        // Once it exists inside the root, the link leads there.
        let inside = root.path().join(outside.path().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        open_dir(&fd, &path, true).unwrap();
        assert!(inside.join("sub").is_dir());
        assert!(!outside.path().join("sub").exists());
    }

    #[test]
    fn reading_a_file_through_an_escaping_symlink_stays_inside() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.path().join("etc/passwd")).unwrap();
        assert_eq!(read_file(root.path(), "/etc/passwd", 1024).unwrap(), None);
        std::fs::write(root.path().join("etc/group"), b"root:x:0:\n").unwrap();
        assert_eq!(
            read_file(root.path(), "/etc/group", 1024).unwrap().unwrap(),
            b"root:x:0:\n"
        );
    }
}
