//! The image store under a data root (default `/var/lib/oxbox`):
//!
//! ```text
//! blobs/sha256/<hex>     content-addressed blobs: manifests, configs, layer tars
//! layers/sha256/<hex>    unpacked layers, named by diff_id, shared by images
//! images.json            the images: config digest (the image id), manifest, tags
//! containers/<id>/       the writable layer and rootfs of a running container
//! tmp/                   work in progress, renamed into place when complete
//! gc.lock, index.lock    locks (see below)
//! ```
//!
//! Every blob is hashed while it is written and again whenever it is read,
//! and a layer's uncompressed stream is checked against its diff_id while
//! it is unpacked. Files and directories appear by `rename` from `tmp/`, so
//! a crash or an error never leaves a partial blob or layer under its name.
//!
//! Concurrent `oxbox` calls coordinate with two `flock`s: `gc.lock` is held
//! shared by whoever adds or uses content and exclusively by garbage
//! collection, so that nothing is collected between being written and being
//! indexed; `index.lock` serializes the read-modify-write of `images.json`.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};

use crate::digest::{Digest, Hashing};
use crate::error::{Error, Result};
use crate::oci::{self, Descriptor, ImageConfig, Index, Manifest};
use crate::progress::{Progress, ProgressReader};
use crate::reference::Reference;
use crate::unpack::{Limits, unpack_layer};

/// The data root when neither `--data-root` nor `OXBOX_DATA_ROOT` is given.
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/oxbox";
/// Largest manifest, index or config the store reads into memory.
pub const MAX_JSON_BLOB: u64 = 16 << 20;

/// One image of the store, as `images.json` records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The image id: the digest of its config, as Docker names images.
    pub id: Digest,
    /// The digest of its manifest.
    pub manifest: Digest,
    /// Its normalized references (`docker.io/library/busybox:latest`).
    pub tags: Vec<String>,
    /// When it was added, in seconds since the epoch.
    pub added: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ImageIndex {
    images: Vec<ImageRecord>,
}

/// An image with its manifest and config read from the store.
#[derive(Clone, Debug)]
pub struct Image {
    /// Its entry in `images.json`.
    pub record: ImageRecord,
    /// Its manifest.
    pub manifest: Manifest,
    /// Its config.
    pub config: ImageConfig,
}

impl Image {
    /// The total size of its layer blobs, as registries count image size.
    pub fn size(&self) -> u64 {
        self.manifest.layers.iter().map(|l| l.size).sum()
    }
}

/// What [`Store::remove`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Removed {
    /// One tag was removed; the image keeps others.
    Untagged(String),
    /// The image was removed (after its last tag, or by id).
    Deleted(Digest),
}

/// A held `flock`, released when dropped.
#[derive(Debug)]
pub struct Lock(File);

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(&self.0, FlockOperation::Unlock);
    }
}

/// An image store.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    limits: Limits,
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for dir in ["blobs/sha256", "layers/sha256", "containers", "tmp"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(|e| Error::io("create", &path, e))?;
        }
        // The root holds whole root filesystems, set-uid files included:
        // nobody but its owner walks into it.
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o700);
        fs::set_permissions(&root, mode).map_err(|e| Error::io("chmod", &root, e))?;
        Ok(Self {
            root,
            limits: Limits::default(),
        })
    }

    /// Sets the bounds every layer is unpacked within.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes `gc.lock` (shared: adding or using content; exclusive:
    /// collecting it).
    pub fn gc_lock(&self, exclusive: bool) -> Result<Lock> {
        self.lock("gc.lock", exclusive)
    }

    /// Removes the directories of containers whose oxbox died, if no
    /// other oxbox is adding or using content right now (never waits).
    pub fn sweep_dead_containers(&self) -> Result<()> {
        let path = self.root.join("gc.lock");
        let file = self.lock_file(&path)?;
        if rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            return Ok(());
        }
        let _gc = Lock(file);
        crate::rootfs::sweep_containers(self).map(drop)
    }

    fn lock_file(&self, path: &Path) -> Result<File> {
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io("open", path, e))
    }

    fn lock(&self, name: &str, exclusive: bool) -> Result<Lock> {
        let path = self.root.join(name);
        let file = self.lock_file(&path)?;
        let op = if exclusive {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::LockShared
        };
        rustix::fs::flock(&file, op).map_err(|e| Error::io("lock", &path, e.into()))?;
        Ok(Lock(file))
    }

    /// A fresh, unique path under `tmp/`.
    pub fn temp_path(&self, what: &str) -> PathBuf {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        static UNIQUE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = UNIQUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{what}-{}-{nanos}-{n}", std::process::id()))
    }

    /// Where the blob `digest` lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Where the layer with uncompressed digest `diff_id` is unpacked.
    pub fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers/sha256").join(diff_id.hex())
    }

    /// Whether the blob `digest` is stored.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Stores the stream `content` as a blob, hashing it on the way; with
    /// `expected`, a stream that hashes otherwise is refused and nothing
    /// is stored.
    pub fn put_blob(
        &self,
        mut content: impl Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64)> {
        let mut writer = self.blob_writer()?;
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = match content.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::Corrupt {
                        what: "blob".into(),
                        source,
                    });
                }
            };
            writer.write(&buf[..n])?;
        }
        writer.commit(expected)
    }

    /// A blob being written piece by piece (e.g. as it arrives from a
    /// registry); see [`BlobWriter::commit`].
    pub fn blob_writer(&self) -> Result<BlobWriter<'_>> {
        let temp = self.temp_path("blob");
        let file = File::create(&temp).map_err(|e| Error::io("create", &temp, e))?;
        Ok(BlobWriter {
            store: self,
            writer: Some(Hashing::new(io::BufWriter::new(file))),
            temp,
        })
    }

    /// Stores `bytes` as a blob.
    pub fn put_blob_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        Ok(self.put_blob(bytes, None)?.0)
    }

    /// Reads a (small, JSON) blob, checking its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let file = File::open(&path).map_err(|e| Error::io("open blob", &path, e))?;
        let mut bytes = Vec::new();
        file.take(MAX_JSON_BLOB + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", &path, e))?;
        if bytes.len() as u64 > MAX_JSON_BLOB {
            return Err(Error::Format(format!(
                "blob {digest} is larger than {MAX_JSON_BLOB} bytes"
            )));
        }
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(Error::DigestMismatch {
                what: format!("stored blob {}", path.display()),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Unpacks the layer `blob` (whose uncompressed digest is `diff_id`)
    /// unless it already is. The blob is hashed as it is read and the
    /// uncompressed stream as it is unpacked; on any error or mismatch the
    /// half-unpacked directory is removed.
    pub fn ensure_layer(
        &self,
        blob: &Descriptor,
        diff_id: &Digest,
        progress: &dyn Progress,
    ) -> Result<()> {
        let path = self.layer_path(diff_id);
        if path.is_dir() {
            return Ok(());
        }
        let temp = self.temp_path("layer");
        fs::create_dir(&temp).map_err(|e| Error::io("create", &temp, e))?;
        let result = self.unpack_blob(blob, diff_id, &temp, progress);
        let result = result.and_then(|()| match fs::rename(&temp, &path) {
            Ok(()) => Ok(()),
            // Another oxbox unpacked the same layer meanwhile.
            Err(_) if path.is_dir() => remove_tree(&temp),
            Err(e) => Err(Error::io("store", &path, e)),
        });
        if result.is_err() {
            let _ = remove_tree(&temp);
        }
        result
    }

    fn unpack_blob(
        &self,
        blob: &Descriptor,
        diff_id: &Digest,
        dest: &Path,
        progress: &dyn Progress,
    ) -> Result<()> {
        let blob_path = self.blob_path(&blob.digest);
        let file = File::open(&blob_path).map_err(|e| Error::io("open blob", &blob_path, e))?;
        let mut compressed = Hashing::new(file);
        {
            let reader = BufReader::new(ProgressReader::new(&mut compressed, progress));
            let mut uncompressed = Hashing::new(decompress(reader)?);
            unpack_layer(&mut uncompressed, dest, self.limits)?;
            let (actual, _) = uncompressed
                .finish_reading()
                .map_err(|source| Error::Corrupt {
                    what: format!("layer {}", blob.digest),
                    source,
                })?;
            if actual != *diff_id {
                return Err(Error::DigestMismatch {
                    what: format!("uncompressed layer {}", blob.digest),
                    expected: diff_id.clone(),
                    actual,
                });
            }
        }
        let (actual, _) = compressed
            .finish_reading()
            .map_err(|e| Error::io("read", &blob_path, e))?;
        if actual != blob.digest {
            return Err(Error::DigestMismatch {
                what: format!("layer blob {}", blob_path.display()),
                expected: blob.digest.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Adds the image whose manifest (or index: the linux/amd64 entry is
    /// taken) is the stored blob `manifest`, unpacks its layers and gives
    /// it `tags`, which move from any image that had them. Every blob it
    /// names must already be stored. The caller holds [`Store::gc_lock`].
    pub fn add_image(
        &self,
        manifest: &Digest,
        tags: &[Reference],
        progress: &dyn Progress,
    ) -> Result<Image> {
        let bytes = self.read_blob(manifest)?;
        let media_type: MediaTypeOnly = oci::parse("manifest", &bytes)?;
        if oci::is_index(&media_type.media_type) || media_type.manifests.is_some() {
            let index: Index = oci::parse("image index", &bytes)?;
            let chosen = oci::choose_platform(&index)?;
            return self.add_image(&chosen.digest, tags, progress);
        }
        let parsed: Manifest = oci::parse(&format!("manifest {manifest}"), &bytes)?;
        let config_bytes = self.read_blob(&parsed.config.digest)?;
        let config: ImageConfig =
            oci::parse(&format!("config {}", parsed.config.digest), &config_bytes)?;
        check_platform(&config)?;
        if config.rootfs.diff_ids.len() != parsed.layers.len() {
            return Err(Error::Format(format!(
                "manifest {manifest} has {} layers but its config {} diff_ids",
                parsed.layers.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        let count = parsed.layers.len();
        for (i, (layer, diff_id)) in parsed
            .layers
            .iter()
            .zip(&config.rootfs.diff_ids)
            .enumerate()
        {
            let task = format!("layer {}/{count} {}", i + 1, layer.digest.short());
            if self.layer_path(diff_id).is_dir() {
                progress.begin(&task, None);
                progress.end("already unpacked");
                continue;
            }
            progress.begin(&task, Some(layer.size));
            self.ensure_layer(layer, diff_id, progress)?;
            progress.end("unpacked");
        }
        let tags: Vec<String> = tags.iter().map(ToString::to_string).collect();
        let record = self.update_index(|index| {
            for image in &mut index.images {
                image.tags.retain(|t| !tags.contains(t));
            }
            let id = parsed.config.digest.clone();
            let added = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let record = match index.images.iter_mut().find(|r| r.id == id) {
                Some(existing) => {
                    existing.manifest = manifest.clone();
                    for tag in &tags {
                        existing.tags.push(tag.clone());
                    }
                    existing.clone()
                }
                None => {
                    let record = ImageRecord {
                        id,
                        manifest: manifest.clone(),
                        tags: tags.clone(),
                        added,
                    };
                    index.images.push(record.clone());
                    record
                }
            };
            Ok(record)
        })?;
        Ok(Image {
            record,
            manifest: parsed,
            config,
        })
    }

    /// Every image, newest first.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let mut images = self.read_index()?.images;
        images.sort_by_key(|r| std::cmp::Reverse(r.added));
        Ok(images)
    }

    /// The image `name` designates: a reference (`busybox`,
    /// `busybox:1.36`, `host/repo@sha256:...`), a full id (`sha256:...`) or
    /// a unique prefix of one.
    pub fn resolve(&self, name: &str) -> Result<Image> {
        let record = find(&self.read_index()?, name)?.clone();
        self.load(record)
    }

    fn load(&self, record: ImageRecord) -> Result<Image> {
        let manifest: Manifest = oci::parse(
            &format!("manifest {}", record.manifest),
            &self.read_blob(&record.manifest)?,
        )?;
        let config: ImageConfig = oci::parse(
            &format!("config {}", manifest.config.digest),
            &self.read_blob(&manifest.config.digest)?,
        )?;
        Ok(Image {
            record,
            manifest,
            config,
        })
    }

    /// Removes the tag `name`, or the whole image if `name` is an id or its
    /// last tag, then collects what no image uses any more.
    pub fn remove(&self, name: &str) -> Result<Removed> {
        let removed = self.update_index(|index| {
            let record = find(index, name)?.clone();
            let tag = tag_named(&record, name);
            match tag {
                Some(tag) if record.tags.len() > 1 => {
                    let entry = index.images.iter_mut().find(|r| r.id == record.id);
                    if let Some(entry) = entry {
                        entry.tags.retain(|t| *t != tag);
                    }
                    Ok(Removed::Untagged(tag))
                }
                _ => {
                    index.images.retain(|r| r.id != record.id);
                    Ok(Removed::Deleted(record.id))
                }
            }
        })?;
        self.collect_garbage()?;
        Ok(removed)
    }

    /// Removes blobs and layers no image references and the leftovers of
    /// containers whose oxbox is gone.
    pub fn collect_garbage(&self) -> Result<()> {
        let _gc = self.gc_lock(true)?;
        let _index = self.lock("index.lock", true)?;
        let live_layers = crate::rootfs::sweep_containers(self)?;
        let mut blobs = BTreeSet::new();
        let mut layers: BTreeSet<String> = live_layers;
        for record in self.read_index()?.images {
            blobs.insert(record.manifest.hex().to_owned());
            if let Ok(image) = self.load(record) {
                blobs.insert(image.manifest.config.digest.hex().to_owned());
                blobs.extend(
                    image
                        .manifest
                        .layers
                        .iter()
                        .map(|l| l.digest.hex().to_owned()),
                );
                layers.extend(
                    image
                        .config
                        .rootfs
                        .diff_ids
                        .iter()
                        .map(|d| d.hex().to_owned()),
                );
            }
        }
        sweep(&self.root.join("blobs/sha256"), &blobs)?;
        sweep(&self.root.join("layers/sha256"), &layers)?;
        sweep(&self.root.join("tmp"), &BTreeSet::new())
    }

    fn read_index(&self) -> Result<ImageIndex> {
        let path = self.root.join("images.json");
        match fs::read(&path) {
            Ok(bytes) => oci::parse("images.json", &bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ImageIndex::default()),
            Err(e) => Err(Error::io("read", &path, e)),
        }
    }

    /// Applies `change` to `images.json` under `index.lock` and writes the
    /// result atomically.
    fn update_index<T>(&self, change: impl FnOnce(&mut ImageIndex) -> Result<T>) -> Result<T> {
        let _lock = self.lock("index.lock", true)?;
        let mut index = self.read_index()?;
        let result = change(&mut index)?;
        let bytes = serde_json::to_vec_pretty(&index).map_err(|e| Error::json("images.json", e))?;
        let temp = self.temp_path("index");
        let path = self.root.join("images.json");
        write_synced(&temp, &bytes)?;
        fs::rename(&temp, &path).map_err(|e| Error::io("store", &path, e))?;
        Ok(result)
    }
}

/// A blob in the making under `tmp/`, removed unless committed.
pub struct BlobWriter<'a> {
    store: &'a Store,
    writer: Option<Hashing<io::BufWriter<File>>>,
    temp: PathBuf,
}

impl BlobWriter<'_> {
    /// Appends `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let writer = self.writer.as_mut().expect("written after commit");
        writer
            .write_all(bytes)
            .map_err(|e| Error::io("write", &self.temp, e))
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.writer.as_ref().map_or(0, Hashing::len)
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores what was written under its digest; with `expected`, content
    /// that hashes otherwise is refused and dropped.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let writer = self.writer.take().expect("committed once");
        let (buffered, digest, len) = writer.into_parts();
        let file = buffered
            .into_inner()
            .map_err(|e| Error::io("write", &self.temp, e.into_error()))?;
        file.sync_all()
            .map_err(|e| Error::io("sync", &self.temp, e))?;
        if let Some(expected) = expected
            && *expected != digest
        {
            return Err(Error::DigestMismatch {
                what: format!("blob {expected}"),
                expected: expected.clone(),
                actual: digest,
            });
        }
        let path = self.store.blob_path(&digest);
        fs::rename(&self.temp, &path).map_err(|e| Error::io("store", &path, e))?;
        Ok((digest, len))
    }
}

impl Drop for BlobWriter<'_> {
    fn drop(&mut self) {
        // Removed unless committed (then the rename already moved it).
        let _ = fs::remove_file(&self.temp);
    }
}

/// Just enough of a manifest to tell an index from an image manifest.
#[derive(Deserialize)]
struct MediaTypeOnly {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
}

/// The record `name` designates in `index`.
fn find<'a>(index: &'a ImageIndex, name: &str) -> Result<&'a ImageRecord> {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    let by_id = || -> Result<Option<&'a ImageRecord>> {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let mut matches = index.images.iter().filter(|r| r.id.hex().starts_with(hex));
        match (matches.next(), matches.next()) {
            (Some(_), Some(_)) => Err(Error::Ambiguous(name.to_owned())),
            (one, _) => Ok(one),
        }
    };
    if let Ok(reference) = Reference::parse(name) {
        let found = index.images.iter().find(|r| match &reference.digest {
            Some(digest) => r.manifest == *digest,
            None => r.tags.contains(&reference.to_string()),
        });
        if let Some(found) = found {
            return Ok(found);
        }
    }
    by_id()?.ok_or_else(|| Error::NotFound(name.to_owned()))
}

/// The tag of `record` that `name` spells, if `name` is a tag.
fn tag_named(record: &ImageRecord, name: &str) -> Option<String> {
    let reference = Reference::parse(name).ok()?;
    let text = reference.to_string();
    record.tags.contains(&text).then_some(text)
}

fn check_platform(config: &ImageConfig) -> Result<()> {
    let host = oci::host_platform();
    let os_ok = config.os.is_empty() || config.os == host.os;
    let arch_ok = config.architecture.is_empty() || config.architecture == host.architecture;
    if os_ok && arch_ok {
        return Ok(());
    }
    Err(Error::Format(format!(
        "the image is for {}/{}; oxbox runs {}/{} programs",
        config.os, config.architecture, host.os, host.architecture
    )))
}

/// Removes every entry of `dir` whose name is not in `keep`.
fn sweep(dir: &Path, keep: &BTreeSet<String>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !keep.contains(&name) {
            remove_tree(&entry.path())?;
        }
    }
    Ok(())
}

/// Removes `path`, a file or a whole tree, without following symlinks.
pub fn remove_tree(path: &Path) -> Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Error::Format(format!("cannot remove {}", path.display())));
    };
    let dir = crate::inroot::open_root(parent).map_err(|e| Error::io("open", parent, e))?;
    crate::inroot::remove_at(&dir, name).map_err(|e| Error::io("remove", path, e))
}

/// Writes `bytes` to a new file at `path` and syncs it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(|e| Error::io("create", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("write", path, e))
}

/// The stream `reader` carries, decompressed according to its first bytes:
/// gzip, zstd, or a plain tar.
pub fn decompress<'a>(mut reader: impl BufRead + 'a) -> Result<Box<dyn Read + 'a>> {
    let head = reader.fill_buf().map_err(|source| Error::Corrupt {
        what: "layer".into(),
        source,
    })?;
    Ok(match Compression::detect(head) {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader).map_err(
            |source| Error::Corrupt {
                what: "zstd layer".into(),
                source,
            },
        )?),
        Compression::None => Box::new(reader),
    })
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Tells the compression from the first bytes of a stream.
    pub fn detect(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// The OCI media type of a layer compressed this way.
    pub fn layer_media_type(self) -> String {
        match self {
            Self::None => oci::MEDIA_TYPE_OCI_LAYER.to_owned(),
            Self::Gzip => format!("{}+gzip", oci::MEDIA_TYPE_OCI_LAYER),
            Self::Zstd => format!("{}+zstd", oci::MEDIA_TYPE_OCI_LAYER),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("root")).unwrap();
        (dir, store)
    }

    /// Stores a layer-less image whose config says `label`; returns its
    /// manifest digest.
    fn layerless_image(store: &Store, label: &str) -> Digest {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["{label}"]}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
        );
        let config = store.put_blob_bytes(config.as_bytes()).unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{}","digest":"{config}","size":1}},"layers":[]}}"#,
            oci::MEDIA_TYPE_OCI_CONFIG
        );
        store.put_blob_bytes(manifest.as_bytes()).unwrap()
    }

    fn tag(text: &str) -> Reference {
        Reference::parse(text).unwrap()
    }

    #[test]
    fn a_blob_that_does_not_match_its_digest_is_not_stored() {
        let (_dir, store) = store();
        let wrong = Digest::of(b"something else");
        let err = store.put_blob(&b"content"[..], Some(&wrong)).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(!store.has_blob(&wrong));
        assert_eq!(fs::read_dir(store.root().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn a_blob_changed_on_disk_is_caught_when_read() {
        let (_dir, store) = store();
        let digest = store.put_blob_bytes(b"{}").unwrap();
        assert_eq!(store.read_blob(&digest).unwrap(), b"{}");
        fs::write(store.blob_path(&digest), b"{\"x\":1}").unwrap();
        assert!(matches!(
            store.read_blob(&digest),
            Err(Error::DigestMismatch { .. })
        ));
    }

    #[test]
    fn tags_move_to_the_newest_image_and_rmi_untags_before_deleting() {
        let (_dir, store) = store();
        let first = layerless_image(&store, "first");
        let second = layerless_image(&store, "second");
        let a = store
            .add_image(&first, &[tag("app:1"), tag("app:latest")], &Silent)
            .unwrap();
        let b = store
            .add_image(&second, &[tag("app:latest")], &Silent)
            .unwrap();
        assert_eq!(store.resolve("app").unwrap().record.id, b.record.id);
        assert_eq!(store.resolve("app:1").unwrap().record.id, a.record.id);
        assert_eq!(
            store.resolve(&a.record.id.hex()[..8]).unwrap().record.id,
            a.record.id
        );
        assert!(matches!(store.resolve("app:2"), Err(Error::NotFound(_))));

        store.add_image(&first, &[tag("other:1")], &Silent).unwrap();
        assert_eq!(
            store.remove("app:1").unwrap(),
            Removed::Untagged("docker.io/library/app:1".into())
        );
        assert_eq!(
            store.remove("other:1").unwrap(),
            Removed::Deleted(a.record.id.clone())
        );
        assert!(
            !store.has_blob(&first),
            "the manifest of the removed image is collected"
        );
        assert!(store.has_blob(&second));
        assert_eq!(store.images().unwrap().len(), 1);
    }

    #[test]
    fn a_layer_with_a_wrong_diff_id_leaves_nothing_behind() {
        let (_dir, store) = store();
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, "file", &b"hi"[..]).unwrap();
        let bytes = tar.into_inner().unwrap();
        let (digest, size) = store.put_blob(&bytes[..], None).unwrap();
        let layer = Descriptor {
            media_type: oci::MEDIA_TYPE_OCI_LAYER.into(),
            digest,
            size,
            platform: None,
            annotations: Default::default(),
        };
        let wrong = Digest::of(b"not the layer");
        let err = store.ensure_layer(&layer, &wrong, &Silent).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(!store.layer_path(&wrong).exists());
        assert_eq!(fs::read_dir(store.root().join("tmp")).unwrap().count(), 0);
        let right = Digest::of(&bytes);
        store.ensure_layer(&layer, &right, &Silent).unwrap();
        assert_eq!(
            fs::read(store.layer_path(&right).join("file")).unwrap(),
            b"hi"
        );
    }
}
