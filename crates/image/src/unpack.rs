//! Unpacking one layer tar into its own directory, in the form overlayfs
//! reads as a lower layer: an OCI whiteout `.wh.NAME` becomes a character
//! device 0/0 named `NAME`, an opaque marker `.wh..wh..opq` becomes the
//! `trusted.overlay.opaque=y` xattr on its directory.
//!
//! Layers are hostile input. Every entry's path is cleaned lexically
//! (absolute paths are taken relative to the root; a `..` that climbs above
//! it is refused), its parent directory is resolved inside the layer with
//! `openat2(RESOLVE_IN_ROOT)` (see [`crate::inroot`]), and the entry itself
//! is made with `*at` calls that never follow its last component: a symlink
//! in the layer can redirect a write only to another place inside the
//! layer. Device nodes are skipped (a container gets its devices from the
//! runtime), `trusted.overlay.*` xattrs are dropped (they would forge
//! whiteouts), and the unpacked size and entry count are bounded. Errors
//! leave a half-written directory; the caller unpacks into a temporary one
//! and removes it (see [`crate::store`]).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags};
use tar::EntryType;

use crate::error::{Error, Result};
use crate::inroot::{InRootPath, open_dir, open_root, remove_at};

/// Prefix of an OCI whiteout file.
const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the OCI opaque-directory marker.
const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The overlayfs xattr that makes a directory hide the layers below it.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Prefix of the xattrs overlayfs interprets; never taken from a layer.
const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";
/// PAX key prefix of an extended attribute (GNU tar, Docker, BuildKit).
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// Bounds on what one layer may unpack to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of file content.
    pub max_bytes: u64,
    /// Number of archive entries.
    pub max_entries: u64,
}

impl Default for Limits {
    /// 64 GiB and 4 million entries: far above any real image layer, low
    /// enough that a hostile one cannot fill the disk unnoticed.
    fn default() -> Self {
        Self {
            max_bytes: 64 << 30,
            max_entries: 4_000_000,
        }
    }
}

/// What an unpack did.
#[derive(Debug, Default)]
pub struct Unpacked {
    /// Entries applied.
    pub entries: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Entries skipped, with why (device nodes, overlay xattrs...).
    pub skipped: Vec<String>,
}

/// Owner, mode, time and xattrs of an entry.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Unpacks the (uncompressed) tar stream `archive` into the existing,
/// empty directory `dest`.
///
/// Ownership is applied only when running as root (as `tar
/// --same-owner`); whiteouts need root too (a 0/0 character device).
pub fn unpack_layer(archive: impl Read, dest: &Path, limits: Limits) -> Result<Unpacked> {
    let root = open_root(dest).map_err(|e| Error::io("open", dest, e))?;
    let mut unpacker = Unpacker {
        root,
        limits,
        same_owner: nix::unistd::geteuid().is_root(),
        report: Unpacked::default(),
        dirs: Vec::new(),
    };
    let mut archive = tar::Archive::new(archive);
    let entries = archive.entries().map_err(corrupt)?;
    for entry in entries {
        let entry = entry.map_err(corrupt)?;
        unpacker.report.entries += 1;
        if unpacker.report.entries > limits.max_entries {
            return Err(Error::EntryLimit {
                limit: limits.max_entries,
            });
        }
        unpacker.apply(entry)?;
    }
    unpacker.finish_dirs()?;
    Ok(unpacker.report)
}

fn corrupt(source: io::Error) -> Error {
    Error::Corrupt {
        what: "layer archive".into(),
        source,
    }
}

struct Unpacker {
    root: OwnedFd,
    limits: Limits,
    same_owner: bool,
    report: Unpacked,
    /// Directories whose mode, owner and times are set at the end, once
    /// nothing more is created in them.
    dirs: Vec<(InRootPath, Meta)>,
}

impl Unpacker {
    fn apply<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let raw_path = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_path).into_owned();
        let bad = |reason: &str| Error::BadEntry {
            entry: shown.clone(),
            reason: reason.to_owned(),
        };
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let path = InRootPath::clean(&raw_path).ok_or_else(|| Error::PathEscape {
            entry: shown.clone(),
        })?;
        let meta = self.meta(&mut entry).map_err(|e| bad(&e.to_string()))?;
        let Some(name) = path.name().map(OsStr::to_owned) else {
            // The root directory itself (`./`): only its metadata applies.
            if kind.is_dir() {
                self.dirs.push((path, meta));
                return Ok(());
            }
            return Err(bad("the root of a layer can only be a directory"));
        };
        let name_bytes = name.as_encoded_bytes();
        if name_bytes == OPAQUE_MARKER.as_bytes() {
            let dir = self.dir(&path.parent(), &shown)?;
            return rustix::fs::fsetxattr(&dir, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())
                .map_err(|e| Error::io("mark opaque", path.parent().relative(), e.into()));
        }
        if let Some(hidden) = name_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            if hidden.starts_with(WHITEOUT_PREFIX.as_bytes()) {
                // Other `.wh..wh.` names are aufs metadata, not content.
                self.report.skipped.push(format!("{shown}: aufs metadata"));
                return Ok(());
            }
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(bad("whiteout of an invalid name"));
            }
            let dir = self.dir(&path.parent(), &shown)?;
            let hidden = OsStr::from_bytes(hidden);
            remove_at(&dir, hidden).map_err(|e| Error::io("replace", &shown, e))?;
            return rustix::fs::mknodat(
                &dir,
                hidden,
                FileType::CharacterDevice,
                Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .map_err(|e| Error::io("create whiteout", &shown, e.into()));
        }
        let dir = self.dir(&path.parent(), &shown)?;
        match kind {
            EntryType::Directory => {
                match rustix::fs::statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {}
                    _ => {
                        remove_at(&dir, &name).map_err(|e| Error::io("replace", &shown, e))?;
                        rustix::fs::mkdirat(&dir, &name, Mode::from_raw_mode(0o700))
                            .map_err(|e| Error::io("create directory", &shown, e.into()))?;
                    }
                }
                self.dirs.push((path, meta));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let size = entry.size();
                if self.report.bytes.saturating_add(size) > self.limits.max_bytes {
                    return Err(Error::SizeLimit {
                        limit: self.limits.max_bytes,
                    });
                }
                remove_at(&dir, &name).map_err(|e| Error::io("replace", &shown, e))?;
                let fd = rustix::fs::openat(
                    &dir,
                    &name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| Error::io("create", &shown, e.into()))?;
                let mut file = File::from(fd);
                copy_exactly(&mut entry, &mut file, size, &shown)?;
                self.report.bytes += size;
                self.finish_file(&file, &meta, &shown)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad("symlink without a target"))?
                    .into_owned();
                remove_at(&dir, &name).map_err(|e| Error::io("replace", &shown, e))?;
                rustix::fs::symlinkat(target.as_slice(), &dir, &name)
                    .map_err(|e| Error::io("create symlink", &shown, e.into()))?;
                self.finish_at(&dir, &name, &meta, false, &shown)?;
            }
            EntryType::Link => {
                let raw_target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad("hard link without a target"))?
                    .into_owned();
                let target = InRootPath::clean(&raw_target).ok_or_else(|| Error::PathEscape {
                    entry: String::from_utf8_lossy(&raw_target).into_owned(),
                })?;
                let Some(target_name) = target.name() else {
                    return Err(bad("hard link to the root directory"));
                };
                if target == path {
                    return Ok(());
                }
                let target_dir = open_dir(&self.root, &target.parent(), false)
                    .map_err(|e| Error::io("find hard link target of", &shown, e))?;
                remove_at(&dir, &name).map_err(|e| Error::io("replace", &shown, e))?;
                rustix::fs::linkat(&target_dir, target_name, &dir, &name, AtFlags::empty())
                    .map_err(|e| Error::io("hard link", &shown, e.into()))?;
            }
            EntryType::Fifo => {
                remove_at(&dir, &name).map_err(|e| Error::io("replace", &shown, e))?;
                rustix::fs::mknodat(&dir, &name, FileType::Fifo, Mode::empty(), 0)
                    .map_err(|e| Error::io("create fifo", &shown, e.into()))?;
                self.finish_at(&dir, &name, &meta, true, &shown)?;
            }
            EntryType::Char | EntryType::Block => {
                tracing::warn!(
                    "layer entry {shown:?}: device node skipped (devices come from the runtime)"
                );
                self.report.skipped.push(format!("{shown}: device node"));
            }
            other => {
                tracing::warn!("layer entry {shown:?}: unsupported type {other:?} skipped");
                self.report.skipped.push(format!("{shown}: type {other:?}"));
            }
        }
        Ok(())
    }

    /// The parent directory of an entry, created if missing.
    fn dir(&self, path: &InRootPath, entry: &str) -> Result<OwnedFd> {
        open_dir(&self.root, path, true).map_err(|e| Error::BadEntry {
            entry: entry.to_owned(),
            reason: format!("cannot open its directory: {e}"),
        })
    }

    fn meta<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
        let header = entry.header();
        let mut meta = Meta {
            mode: header.mode()? & 0o7777,
            uid: u32::try_from(header.uid()?).map_err(io::Error::other)?,
            gid: u32::try_from(header.gid()?).map_err(io::Error::other)?,
            mtime: header.mtime()?,
            xattrs: Vec::new(),
        };
        if let Some(extensions) = entry.pax_extensions()? {
            for extension in extensions {
                let extension = extension?;
                let key = extension.key().map_err(io::Error::other)?;
                let number = || -> io::Result<u64> {
                    let text = extension.value().map_err(io::Error::other)?;
                    let whole = text.split('.').next().unwrap_or_default();
                    whole.parse().map_err(io::Error::other)
                };
                match key {
                    "uid" => meta.uid = u32::try_from(number()?).map_err(io::Error::other)?,
                    "gid" => meta.gid = u32::try_from(number()?).map_err(io::Error::other)?,
                    "mtime" => meta.mtime = number()?,
                    _ => {
                        if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX) {
                            if name.starts_with(OVERLAY_XATTR_PREFIX) {
                                self.report
                                    .skipped
                                    .push(format!("xattr {name}: reserved for overlayfs"));
                            } else {
                                meta.xattrs
                                    .push((name.to_owned(), extension.value_bytes().to_vec()));
                            }
                        }
                    }
                }
            }
        }
        Ok(meta)
    }

    /// Owner, mode, xattrs and times of a regular file, through its
    /// descriptor. The owner comes first: `chown` clears set-id bits.
    fn finish_file(&mut self, file: &File, meta: &Meta, shown: &str) -> Result<()> {
        if self.same_owner {
            rustix::fs::fchown(file, Some(uid(meta.uid)), Some(gid(meta.gid)))
                .map_err(|e| Error::io("chown", shown, e.into()))?;
        }
        rustix::fs::fchmod(file, Mode::from_raw_mode(meta.mode))
            .map_err(|e| Error::io("chmod", shown, e.into()))?;
        self.set_xattrs(file, meta, shown);
        rustix::fs::futimens(file, &timestamps(meta.mtime))
            .map_err(|e| Error::io("set times of", shown, e.into()))
    }

    /// Owner, mode (unless a symlink) and times of `name` in `dir`, without
    /// following it.
    fn finish_at(
        &mut self,
        dir: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
        chmod: bool,
        shown: &str,
    ) -> Result<()> {
        if self.same_owner {
            rustix::fs::chownat(
                dir,
                name,
                Some(uid(meta.uid)),
                Some(gid(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| Error::io("chown", shown, e.into()))?;
        }
        if chmod {
            rustix::fs::chmodat(dir, name, Mode::from_raw_mode(meta.mode), AtFlags::empty())
                .map_err(|e| Error::io("chmod", shown, e.into()))?;
        }
        rustix::fs::utimensat(
            dir,
            name,
            &timestamps(meta.mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| Error::io("set times of", shown, e.into()))
    }

    /// Extended attributes are best effort: a file system or a namespace
    /// may refuse some (`security.*` without the capability), and an image
    /// runs without them.
    fn set_xattrs(&mut self, fd: &File, meta: &Meta, shown: &str) {
        for (name, value) in &meta.xattrs {
            if let Err(e) = rustix::fs::fsetxattr(fd, name, value, XattrFlags::empty()) {
                tracing::warn!("layer entry {shown:?}: xattr {name} not set: {e}");
                self.report
                    .skipped
                    .push(format!("{shown}: xattr {name}: {e}"));
            }
        }
    }

    /// Sets the metadata of every directory, deepest first, once nothing
    /// more is created in them (creating an entry changes a directory's
    /// mtime). A directory whose path now crosses a symlink was replaced by
    /// a later entry and is left alone.
    fn finish_dirs(&mut self) -> Result<()> {
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|(path, _)| std::cmp::Reverse(path.components().len()));
        for (path, meta) in dirs {
            let shown = path.relative().display().to_string();
            let fd = match rustix::fs::openat2(
                &self.root,
                path.relative(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                rustix::fs::ResolveFlags::IN_ROOT | rustix::fs::ResolveFlags::NO_SYMLINKS,
            ) {
                Ok(fd) => File::from(fd),
                Err(_) => continue,
            };
            self.finish_file(&fd, &meta, &shown)?;
        }
        Ok(())
    }
}

/// Copies exactly `size` bytes of `entry` into `file`: a short archive is
/// corrupt, not a short file.
fn copy_exactly(entry: &mut impl Read, file: &mut File, size: u64, shown: &str) -> Result<()> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut left = size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = entry
            .read(&mut buf[..want])
            .map_err(|source| Error::Corrupt {
                what: format!("layer entry {shown:?}"),
                source,
            })?;
        if n == 0 {
            return Err(Error::Corrupt {
                what: format!("layer entry {shown:?}"),
                source: io::ErrorKind::UnexpectedEof.into(),
            });
        }
        file.write_all(&buf[..n])
            .map_err(|e| Error::io("write", shown, e))?;
        left -= n as u64;
    }
    Ok(())
}

/// Ids from the archive are taken as they are; `u32::MAX` (which `chown`
/// reads as "unchanged") is harmless.
fn uid(raw: u32) -> Uid {
    Uid::from_raw_unchecked(raw)
}

/// See [`uid`].
fn gid(raw: u32) -> Gid {
    Gid::from_raw_unchecked(raw)
}

fn timestamps(mtime: u64) -> Timestamps {
    let time = Timespec {
        tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    Timestamps {
        last_access: time,
        last_modification: time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    /// One raw tar entry, written byte by byte so that tests can say what
    /// `tar::Builder` refuses to write (`..`, absolute paths).
    struct Raw<'a> {
        kind: EntryType,
        path: &'a str,
        link: &'a str,
        data: &'a [u8],
        /// The size the header claims (defaults to `data.len()`).
        size: Option<u64>,
        mode: u32,
        uid: u64,
        pax: &'a [(&'a str, &'a [u8])],
    }

    fn raw(kind: EntryType, path: &'static str) -> Raw<'static> {
        Raw {
            kind,
            path,
            link: "",
            data: b"",
            size: None,
            mode: if kind == EntryType::Directory {
                0o755
            } else {
                0o644
            },
            uid: 0,
            pax: &[],
        }
    }

    fn file(path: &'static str, data: &'static [u8]) -> Raw<'static> {
        Raw {
            data,
            ..raw(EntryType::Regular, path)
        }
    }

    fn link(kind: EntryType, path: &'static str, target: &'static str) -> Raw<'static> {
        Raw {
            link: target,
            ..raw(kind, path)
        }
    }

    fn header_bytes(entry: &Raw, kind: EntryType, path: &str, size: u64) -> Vec<u8> {
        let mut header = tar::Header::new_ustar();
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        header.as_old_mut().linkname[..entry.link.len()].copy_from_slice(entry.link.as_bytes());
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(entry.mode);
        header.set_uid(entry.uid);
        header.set_gid(entry.uid);
        header.set_mtime(1_600_000_000);
        header.set_cksum();
        header.as_bytes().to_vec()
    }

    fn pad(bytes: &mut Vec<u8>) {
        bytes.resize(bytes.len().div_ceil(512) * 512, 0);
    }

    fn archive(entries: &[Raw]) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in entries {
            if !entry.pax.is_empty() {
                let mut records = Vec::new();
                for (key, value) in entry.pax {
                    let body_len = key.len() + value.len() + 3;
                    let mut len = body_len + 1;
                    while format!("{len}").len() + body_len != len {
                        len += 1;
                    }
                    records.extend(format!("{len} {key}=").as_bytes());
                    records.extend(*value);
                    records.push(b'\n');
                }
                out.extend(header_bytes(
                    entry,
                    EntryType::XHeader,
                    "pax",
                    records.len() as u64,
                ));
                out.extend(&records);
                pad(&mut out);
            }
            let size = entry.size.unwrap_or(entry.data.len() as u64);
            out.extend(header_bytes(entry, entry.kind, entry.path, size));
            out.extend(entry.data);
            pad(&mut out);
        }
        out.extend([0u8; 1024]);
        out
    }

    fn unpack(entries: &[Raw]) -> (tempfile::TempDir, Result<Unpacked>) {
        let dest = tempfile::tempdir().unwrap();
        let result = unpack_layer(&archive(entries)[..], dest.path(), Limits::default());
        (dest, result)
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn files_dirs_links_and_fifos_keep_their_metadata() {
        let (dest, result) = unpack(&[
            raw(EntryType::Directory, "./"),
            Raw {
                mode: 0o750,
                ..raw(EntryType::Directory, "./etc/")
            },
            Raw {
                mode: 0o4755,
                uid: 1234,
                ..file("./etc/tool", b"#!/bin/sh\n")
            },
            link(EntryType::Symlink, "./etc/alias", "tool"),
            link(EntryType::Link, "./etc/hard", "./etc/tool"),
            raw(EntryType::Fifo, "./run.fifo"),
            file("./deep/missing/parents/file", b"x"),
        ]);
        let report = result.unwrap();
        let root = dest.path();
        assert_eq!(
            std::fs::read(root.join("etc/tool")).unwrap(),
            b"#!/bin/sh\n"
        );
        let tool = std::fs::metadata(root.join("etc/tool")).unwrap();
        assert_eq!(tool.mode() & 0o7777, 0o4755, "set-uid survives the chown");
        assert_eq!(tool.mtime(), 1_600_000_000);
        assert_eq!(tool.nlink(), 2);
        assert_eq!(
            std::fs::read_link(root.join("etc/alias")).unwrap(),
            Path::new("tool")
        );
        let etc = std::fs::metadata(root.join("etc")).unwrap();
        assert_eq!(etc.mode() & 0o7777, 0o750);
        assert_eq!(etc.mtime(), 1_600_000_000, "directory times are set last");
        assert!(
            std::fs::metadata(root.join("run.fifo"))
                .unwrap()
                .file_type()
                .is_fifo()
        );
        assert!(root.join("deep/missing/parents/file").is_file());
        if is_root() {
            assert_eq!(tool.uid(), 1234);
        }
        assert_eq!(report.bytes, 11);
    }

    #[test]
    fn absolute_paths_are_taken_inside_the_root() {
        let (dest, result) = unpack(&[file("/etc/absolute", b"a")]);
        result.unwrap();
        assert!(dest.path().join("etc/absolute").is_file());
    }

    #[test]
    fn dot_dot_above_the_root_is_refused() {
        for path in ["../escape", "a/../../escape", "/../escape"] {
            let entries = [Raw {
                path,
                ..file("", b"x")
            }];
            let (dest, result) = unpack(&entries);
            assert!(
                matches!(result, Err(Error::PathEscape { .. })),
                "{path}: {result:?}"
            );
            assert!(!dest.path().parent().unwrap().join("escape").exists());
        }
    }

    #[test]
    fn writes_through_a_symlink_stay_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let outside_path: &'static str =
            Box::leak(outside.path().display().to_string().into_boxed_str());
        let (dest, result) = unpack(&[
            raw(EntryType::Directory, "target/"),
            link(EntryType::Symlink, "abs", "/target"),
            link(EntryType::Symlink, "rel", "../../../../../../.."),
            file("abs/through-absolute", b"1"),
            file("rel/through-relative", b"2"),
        ]);
        result.unwrap();
        assert!(dest.path().join("target/through-absolute").is_file());
        assert!(dest.path().join("through-relative").is_file());
        // A link to a directory that exists only on the host leads nowhere.
        let (_, result) = unpack(&[
            link(EntryType::Symlink, "host", outside_path),
            file("host/pwned", b"3"),
        ]);
        assert!(matches!(result, Err(Error::BadEntry { .. })), "{result:?}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_file_replaces_a_symlink_instead_of_writing_through_it() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"original").unwrap();
        let victim_path: &'static str = Box::leak(victim.display().to_string().into_boxed_str());
        let (dest, result) = unpack(&[
            link(EntryType::Symlink, "evil", victim_path),
            file("evil", b"overwritten"),
        ]);
        result.unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"original");
        assert_eq!(
            std::fs::read(dest.path().join("evil")).unwrap(),
            b"overwritten"
        );
    }

    #[test]
    fn hard_links_cannot_reach_outside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        let outside_path: &'static str =
            Box::leak(outside.path().display().to_string().into_boxed_str());
        let (_, result) = unpack(&[link(EntryType::Link, "h", "../../secret")]);
        assert!(
            matches!(result, Err(Error::PathEscape { .. })),
            "{result:?}"
        );
        let (_, result) = unpack(&[
            link(EntryType::Symlink, "dir", outside_path),
            link(EntryType::Link, "h", "dir/secret"),
        ]);
        assert!(
            result.is_err(),
            "a link target through a symlink resolves inside: {result:?}"
        );
        assert_eq!(
            std::fs::metadata(outside.path().join("secret"))
                .unwrap()
                .nlink(),
            1
        );
    }

    #[test]
    fn device_nodes_are_skipped_with_a_note() {
        let (dest, result) = unpack(&[
            raw(EntryType::Char, "dev/mem"),
            raw(EntryType::Block, "dev/sda"),
        ]);
        let report = result.unwrap();
        assert!(!dest.path().join("dev/mem").exists());
        assert_eq!(report.skipped.len(), 2, "{:?}", report.skipped);
    }

    #[test]
    fn sizes_and_entry_counts_are_bounded() {
        let entries = [Raw {
            size: Some(1 << 40),
            ..file("huge", b"")
        }];
        let dest = tempfile::tempdir().unwrap();
        let small = Limits {
            max_bytes: 1 << 20,
            max_entries: 3,
        };
        let result = unpack_layer(&archive(&entries)[..], dest.path(), small);
        assert!(matches!(result, Err(Error::SizeLimit { .. })), "{result:?}");
        let many: Vec<Raw> = (0..4).map(|_| file("f", b"")).collect();
        let result = unpack_layer(&archive(&many)[..], dest.path(), small);
        assert!(
            matches!(result, Err(Error::EntryLimit { limit: 3 })),
            "{result:?}"
        );
    }

    #[test]
    fn truncated_archives_are_corrupt() {
        let bytes = archive(&[file("data", &[7u8; 4096])]);
        for cut in [600, 512 + 100, 100] {
            let dest = tempfile::tempdir().unwrap();
            let result = unpack_layer(&bytes[..cut], dest.path(), Limits::default());
            assert!(
                matches!(result, Err(Error::Corrupt { .. })),
                "cut at {cut}: {result:?}"
            );
        }
    }

    #[test]
    fn whiteouts_become_overlayfs_whiteouts() {
        if !is_root() {
            eprintln!("skipped: whiteouts are 0/0 character devices, which need root");
            return;
        }
        let (dest, result) = unpack(&[
            file("etc/.wh.removed", b""),
            file("var/.wh..wh..opq", b""),
            file("var/kept", b"k"),
        ]);
        result.unwrap();
        let whiteout = std::fs::symlink_metadata(dest.path().join("etc/removed")).unwrap();
        assert!(whiteout.file_type().is_char_device());
        assert_eq!(whiteout.rdev(), 0);
        assert!(!dest.path().join("etc/.wh.removed").exists());
        let mut value = [0u8; 4];
        let n = rustix::fs::getxattr(
            dest.path().join("var"),
            OVERLAY_OPAQUE_XATTR,
            &mut value[..],
        )
        .unwrap();
        assert_eq!(&value[..n], b"y");
        assert!(dest.path().join("var/kept").is_file());
    }

    #[test]
    fn whiteouts_of_dot_dot_are_refused() {
        let (_, result) = unpack(&[file("a/.wh...", b"")]);
        assert!(matches!(result, Err(Error::BadEntry { .. })), "{result:?}");
    }

    #[test]
    fn overlay_xattrs_from_the_archive_are_dropped() {
        let (dest, result) = unpack(&[Raw {
            pax: &[
                ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
                ("SCHILY.xattr.user.note", b"kept"),
            ],
            ..raw(EntryType::Directory, "d/")
        }]);
        let report = result.unwrap();
        assert!(
            report
                .skipped
                .iter()
                .any(|s| s.contains("trusted.overlay.opaque"))
        );
        let mut value = [0u8; 8];
        assert!(
            rustix::fs::getxattr(dest.path().join("d"), OVERLAY_OPAQUE_XATTR, &mut value[..])
                .is_err()
        );
        let n = rustix::fs::getxattr(dest.path().join("d"), "user.note", &mut value[..]).unwrap();
        assert_eq!(&value[..n], b"kept");
    }
}
