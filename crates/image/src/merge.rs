//! Merging unpacked layers into one directory, for hosts where overlayfs
//! cannot be used: each layer is copied over the result of the ones below
//! it, with overlayfs's meaning of its whiteouts (a 0/0 character device
//! removes the path below, an opaque directory hides what was below it).
//!
//! The layers are the store's own unpacked directories (already checked by
//! [`crate::unpack`]), and every directory of the destination is one this
//! code made or found to be a real directory before descending into it, so
//! no symlink in the image is ever followed here.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, Mode, Timespec, Timestamps, XattrFlags};

use crate::error::{Error, Result};
use crate::unpack::OVERLAY_OPAQUE_XATTR;

/// Copies the unpacked layer `layer` over `dest`.
pub fn merge_layer(layer: &Path, dest: &Path) -> Result<()> {
    let mut links = HashMap::new();
    merge_dir(layer, dest, &mut links)?;
    copy_metadata(
        layer,
        dest,
        &fs::symlink_metadata(layer).map_err(|e| Error::io("stat", layer, e))?,
    )
}

/// Files of this layer with several links, by (device, inode): where the
/// first one was copied, so that the others become links to it.
type Links = HashMap<(u64, u64), PathBuf>;

fn merge_dir(src: &Path, dest: &Path, links: &mut Links) -> Result<()> {
    let entries = fs::read_dir(src).map_err(|e| Error::io("list", src, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", src, e))?;
        let from = entry.path();
        let to = dest.join(entry.file_name());
        let meta = fs::symlink_metadata(&from).map_err(|e| Error::io("stat", &from, e))?;
        let kind = meta.file_type();
        if kind.is_char_device() && meta.rdev() == 0 {
            remove_if_present(&to)?;
            continue;
        }
        if kind.is_dir() {
            let existing = fs::symlink_metadata(&to).ok();
            let opaque = rustix::fs::lgetxattr(&from, OVERLAY_OPAQUE_XATTR, &mut [0u8; 1][..])
                .is_ok_and(|n| n == 1);
            if opaque || existing.as_ref().is_some_and(|m| !m.is_dir()) {
                remove_if_present(&to)?;
            }
            if fs::symlink_metadata(&to).is_err() {
                fs::create_dir(&to).map_err(|e| Error::io("create", &to, e))?;
            }
            merge_dir(&from, &to, links)?;
            copy_metadata(&from, &to, &meta)?;
            continue;
        }
        remove_if_present(&to)?;
        if kind.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1
                && let Some(first) = links.get(&key)
            {
                fs::hard_link(first, &to).map_err(|e| Error::io("hard link", &to, e))?;
                continue;
            }
            fs::copy(&from, &to).map_err(|e| Error::io("copy", &to, e))?;
            if meta.nlink() > 1 {
                links.insert(key, to.clone());
            }
        } else if kind.is_symlink() {
            let target = fs::read_link(&from).map_err(|e| Error::io("read link", &from, e))?;
            std::os::unix::fs::symlink(&target, &to).map_err(|e| Error::io("symlink", &to, e))?;
        } else if kind.is_fifo() {
            rustix::fs::mknodat(CWD, &to, rustix::fs::FileType::Fifo, Mode::empty(), 0)
                .map_err(|e| Error::io("create fifo", &to, e.into()))?;
        } else {
            tracing::warn!("{}: special file not copied", from.display());
            continue;
        }
        copy_metadata(&from, &to, &meta)?;
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<()> {
    if fs::symlink_metadata(path).is_ok() {
        crate::store::remove_tree(path)?;
    }
    Ok(())
}

/// Owner, mode, xattrs and times of `from` onto `to`, never following a
/// symlink.
fn copy_metadata(from: &Path, to: &Path, meta: &fs::Metadata) -> Result<()> {
    let is_symlink = meta.file_type().is_symlink();
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))
        .map_err(|e| Error::io("chown", to, e))?;
    if !is_symlink {
        rustix::fs::chmodat(
            CWD,
            to,
            Mode::from_raw_mode(meta.mode() & 0o7777),
            AtFlags::empty(),
        )
        .map_err(|e| Error::io("chmod", to, e.into()))?;
        copy_xattrs(from, to);
    }
    let time = |sec: i64, nsec: i64| Timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    };
    let times = Timestamps {
        last_access: time(meta.atime(), meta.atime_nsec()),
        last_modification: time(meta.mtime(), meta.mtime_nsec()),
    };
    rustix::fs::utimensat(CWD, to, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Error::io("set times of", to, e.into()))
}

/// Extended attributes other than overlayfs's own, best effort.
fn copy_xattrs(from: &Path, to: &Path) {
    let mut names = vec![0u8; 64 * 1024];
    let Ok(len) = rustix::fs::llistxattr(from, &mut names[..]) else {
        return;
    };
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(b"trusted.overlay.") {
            continue;
        }
        let mut value = vec![0u8; 64 * 1024];
        if let Ok(n) = rustix::fs::lgetxattr(from, name, &mut value[..]) {
            let _ = rustix::fs::lsetxattr(to, name, &value[..n], XattrFlags::empty());
        }
    }
}
