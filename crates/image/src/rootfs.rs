//! A container's root filesystem made from an image: the image's unpacked
//! layers below a writable layer of the container's own, which disappears
//! with the container.
//!
//! With overlayfs (the default), the layers are the lower directories of
//! an overlay mount and the writable layer its upper directory; nothing is
//! copied. The mount is made in a private mount namespace of the calling
//! process, so that it vanishes with that process even if it is killed.
//! Without overlayfs (`OXBOX_SNAPSHOTTER=copy`, or when the mount fails) the
//! layers are merged into a fresh directory, whiteouts applied.
//!
//! Each container has a directory `containers/<id>/` holding a `lock` its
//! oxbox keeps locked while it runs and the list of layers it uses, so
//! that garbage collection keeps them and removes the directories of
//! containers whose oxbox died.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use rustix::fs::FlockOperation;

use crate::error::{Error, Result};
use crate::progress::Silent;
use crate::store::{Image, Store, remove_tree, write_synced};

/// How the container's writable layer is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Snapshotter {
    /// An overlayfs mount over the shared layers.
    Overlay,
    /// A merged copy of the layers.
    Copy,
}

impl Snapshotter {
    /// `OXBOX_SNAPSHOTTER` (`overlay` or `copy`), overlay by default.
    pub fn from_env() -> Result<Self> {
        match std::env::var("OXBOX_SNAPSHOTTER").as_deref() {
            Err(_) | Ok("" | "overlay") => Ok(Self::Overlay),
            Ok("copy") => Ok(Self::Copy),
            Ok(other) => Err(Error::Format(format!(
                "invalid OXBOX_SNAPSHOTTER {other:?}: expected overlay or copy"
            ))),
        }
    }
}

/// Name of the file listing the layers a container uses.
const LAYERS_FILE: &str = "layers";
/// Name of the lock a container's oxbox holds.
const LOCK_FILE: &str = "lock";
/// Longest option string `mount(2)` takes (one page).
const MAX_MOUNT_DATA: usize = 4095;

/// The root filesystem of one running container; removed when dropped.
#[derive(Debug)]
pub struct ContainerRootfs {
    dir: PathBuf,
    rootfs: PathBuf,
    mounted: bool,
    _lock: File,
}

impl ContainerRootfs {
    /// The directory to use as the container's root.
    pub fn path(&self) -> &Path {
        &self.rootfs
    }

    /// Whether the rootfs is an overlay mount (rather than a copy).
    pub fn is_overlay(&self) -> bool {
        self.mounted
    }
}

impl Drop for ContainerRootfs {
    fn drop(&mut self) {
        if self.mounted
            && let Err(e) = nix::mount::umount2(&self.rootfs, MntFlags::MNT_DETACH)
        {
            tracing::warn!("cannot unmount {}: {e}", self.rootfs.display());
        }
        if let Err(e) = remove_tree(&self.dir) {
            tracing::warn!("cannot remove {}: {e}", self.dir.display());
        }
    }
}

impl Store {
    /// Makes a fresh root filesystem for a container of `image`.
    pub fn create_rootfs(
        &self,
        image: &Image,
        snapshotter: Snapshotter,
    ) -> Result<ContainerRootfs> {
        self.sweep_dead_containers()?;
        let _gc = self.gc_lock(false)?;
        self.ensure_layers(image)?;
        let diff_ids = &image.config.rootfs.diff_ids;
        let dir = self.root().join("containers").join(random_id()?);
        fs::create_dir(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::create(&lock_path).map_err(|e| Error::io("create", &lock_path, e))?;
        rustix::fs::flock(&lock, FlockOperation::LockExclusive)
            .map_err(|e| Error::io("lock", &lock_path, e.into()))?;
        let mut container = ContainerRootfs {
            rootfs: dir.join("rootfs"),
            dir,
            mounted: false,
            _lock: lock,
        };
        let list: String = diff_ids.iter().map(|d| format!("{}\n", d.hex())).collect();
        write_synced(&container.dir.join(LAYERS_FILE), list.as_bytes())?;
        fs::create_dir(&container.rootfs).map_err(|e| Error::io("create", &container.rootfs, e))?;
        // Top layer first, as overlayfs lists lower directories.
        let layers: Vec<PathBuf> = diff_ids.iter().rev().map(|d| self.layer_path(d)).collect();
        if snapshotter == Snapshotter::Overlay {
            match mount_overlay(&container.dir, &container.rootfs, &layers) {
                Ok(()) => {
                    container.mounted = true;
                    return Ok(container);
                }
                Err(e) => tracing::warn!("overlayfs unavailable ({e}); copying the image instead"),
            }
        }
        for layer in layers.iter().rev() {
            crate::merge::merge_layer(layer, &container.rootfs)?;
        }
        Ok(container)
    }

    /// Unpacks any layer of `image` that is missing (e.g. removed by hand).
    fn ensure_layers(&self, image: &Image) -> Result<()> {
        let diff_ids = &image.config.rootfs.diff_ids;
        for (layer, diff_id) in image.manifest.layers.iter().zip(diff_ids) {
            self.ensure_layer(layer, diff_id, &Silent)?;
        }
        Ok(())
    }

    /// Writes the merged layers of `image` into the new directory `dest`,
    /// a root filesystem of its own that outlives this process (an OCI
    /// bundle's `rootfs/`).
    pub fn export_rootfs(&self, image: &Image, dest: &Path) -> Result<()> {
        let _gc = self.gc_lock(false)?;
        self.ensure_layers(image)?;
        let diff_ids = &image.config.rootfs.diff_ids;
        fs::create_dir(dest).map_err(|e| Error::io("create", dest, e))?;
        for diff_id in diff_ids {
            crate::merge::merge_layer(&self.layer_path(diff_id), dest)?;
        }
        Ok(())
    }
}

/// Mounts `layers` (top first) with a writable upper layer in `dir` onto
/// `target`, in a private mount namespace of this process.
fn mount_overlay(dir: &Path, target: &Path, layers: &[PathBuf]) -> Result<()> {
    let upper = dir.join("upper");
    let work = dir.join("work");
    for path in [&upper, &work] {
        fs::create_dir(path).map_err(|e| Error::io("create", path, e))?;
    }
    let lower: Vec<String> = layers.iter().map(|l| l.display().to_string()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    let separators_in_paths = [&upper, &work]
        .iter()
        .map(|p| p.display().to_string())
        .chain(lower.iter().cloned())
        .any(|p| p.contains([',', ':']));
    if data.len() > MAX_MOUNT_DATA || separators_in_paths {
        return Err(Error::Format(format!(
            "{} layers under {} cannot be named in one overlayfs mount",
            layers.len(),
            dir.display()
        )));
    }
    enter_private_mount_namespace()?;
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| Error::io("mount overlayfs on", target, e.into()))
}

/// Moves this process into a mount namespace of its own whose mounts do
/// not propagate to the host's, once.
fn enter_private_mount_namespace() -> Result<()> {
    static DONE: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("unshare the mount namespace: {e}"))?;
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| format!("make / private: {e}"))
    })
    .clone()
    .map_err(Error::Format)
}

/// Removes the directories of containers whose oxbox is gone and returns
/// the layers (diff_id hex) the running ones use. Called under the
/// exclusive `gc.lock`.
pub(crate) fn sweep_containers(store: &Store) -> Result<std::collections::BTreeSet<String>> {
    let mut live = std::collections::BTreeSet::new();
    let containers = store.root().join("containers");
    for entry in fs::read_dir(&containers).map_err(|e| Error::io("list", &containers, e))? {
        let dir = entry.map_err(|e| Error::io("list", &containers, e))?.path();
        let held = File::open(dir.join(LOCK_FILE)).is_ok_and(|lock| {
            rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive).is_err()
        });
        if held {
            let mut list = String::new();
            if let Ok(mut file) = File::open(dir.join(LAYERS_FILE)) {
                let _ = file.read_to_string(&mut list);
            }
            live.extend(list.lines().map(str::to_owned));
        } else {
            remove_tree(&dir)?;
        }
    }
    Ok(live)
}

/// 12 random hex digits.
fn random_id() -> Result<String> {
    let mut bytes = [0u8; 6];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("read", "/dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
