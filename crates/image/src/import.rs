//! `oxbox load`: images from a `docker save` archive (the legacy layout with
//! `manifest.json`, or the OCI layout newer Docker writes, which has both),
//! or from an OCI image layout, as a directory or a tar. Archives may be
//! gzip- or zstd-compressed.
//!
//! An archive is read in one pass: member paths are only names to look up
//! later, never paths on the host. `blobs/sha256/<hex>` members go straight
//! into the store, checked against their name; other large members (the
//! legacy `<id>/layer.tar`) are stored under the digest they hash to; small
//! JSON members are kept in memory. Once the archive is read, its
//! manifests name the blobs they use and the images are added.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Deserialize;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::{self, Descriptor, Index, Manifest};
use crate::progress::{Progress, ProgressReader};
use crate::reference::Reference;
use crate::store::{Compression, Image, MAX_JSON_BLOB, Store, decompress};

/// An image a load added, with the names this load gave it.
#[derive(Debug)]
pub struct Loaded {
    /// The image (its record lists all its names).
    pub image: Image,
    /// The names the archive or the caller gave it.
    pub tags: Vec<Reference>,
}

/// The annotation Docker and containerd name an image of a layout with.
const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI annotation naming an image of a layout (a tag or a reference).
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One entry of a `docker save` `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// What an archive held, by member path.
#[derive(Default)]
struct Members {
    /// Small JSON-ish members, read into memory.
    small: HashMap<String, Vec<u8>>,
    /// Members stored as blobs.
    blobs: HashMap<String, Digest>,
    /// Symlink members (Docker links identical legacy layers), resolved.
    links: HashMap<String, String>,
}

impl Members {
    /// The blob a member path names, following symlinked members.
    fn blob(&self, store: &Store, path: &str) -> Result<Digest> {
        let mut path = normalize(path);
        for _ in 0..16 {
            if let Some(digest) = self.blobs.get(&path) {
                return Ok(digest.clone());
            }
            if let Some(bytes) = self.small.get(&path) {
                return store.put_blob_bytes(bytes);
            }
            match self.links.get(&path) {
                Some(target) => path = target.clone(),
                None => break,
            }
        }
        Err(Error::Format(format!("the archive has no member {path:?}")))
    }
}

/// Loads every image of the archive or layout directory at `path`; `tag`
/// names the image when the input names none (or overrides, for one
/// image).
pub fn load(
    store: &Store,
    path: &Path,
    tag: Option<&Reference>,
    progress: &dyn Progress,
) -> Result<Vec<Loaded>> {
    let _gc = store.gc_lock(false)?;
    let metadata = fs::metadata(path).map_err(|e| Error::io("open", path, e))?;
    let images = if metadata.is_dir() {
        load_layout_dir(store, path, tag, progress)?
    } else {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        progress.begin(&format!("reading {}", path.display()), Some(metadata.len()));
        let members = read_archive(store, ProgressReader::new(file, progress))?;
        progress.end("read");
        images_of_archive(store, &members, tag, progress)?
    };
    if images.is_empty() {
        return Err(Error::Format(format!("{} holds no image", path.display())));
    }
    Ok(images)
}

/// Loads every image of the archive `reader` streams (e.g. standard input).
pub fn load_stream(
    store: &Store,
    reader: impl Read,
    tag: Option<&Reference>,
    progress: &dyn Progress,
) -> Result<Vec<Loaded>> {
    let _gc = store.gc_lock(false)?;
    progress.begin("reading the archive", None);
    let members = read_archive(store, reader)?;
    progress.end("read");
    let images = images_of_archive(store, &members, tag, progress)?;
    if images.is_empty() {
        return Err(Error::Format("the archive holds no image".into()));
    }
    Ok(images)
}

fn read_archive(store: &Store, reader: impl Read) -> Result<Members> {
    let tar_stream = decompress(BufReader::new(reader))?;
    let mut archive = tar::Archive::new(tar_stream);
    let mut members = Members::default();
    let corrupt = |source| Error::Corrupt {
        what: "image archive".into(),
        source,
    };
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let path = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Symlink | tar::EntryType::Link => {
                if let Some(target) = entry.link_name_bytes() {
                    let target = String::from_utf8_lossy(&target).into_owned();
                    let base = match (entry.header().entry_type(), path.rsplit_once('/')) {
                        (tar::EntryType::Symlink, Some((dir, _))) => format!("{dir}/{target}"),
                        _ => target,
                    };
                    members.links.insert(path, normalize(&base));
                }
                continue;
            }
            _ => continue,
        }
        if let Some(hex) = path.strip_prefix("blobs/sha256/") {
            let expected: Digest = format!("sha256:{hex}").parse()?;
            if !store.has_blob(&expected) {
                store.put_blob(&mut entry, Some(&expected))?;
            }
            members.blobs.insert(path, expected);
        } else if entry.size() <= MAX_JSON_BLOB && !path.ends_with(".tar") {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(corrupt)?;
            members.small.insert(path, bytes);
        } else {
            let (digest, _) = store.put_blob(&mut entry, None)?;
            members.blobs.insert(path, digest);
        }
    }
    Ok(members)
}

/// Lexically normalized member path: no `./`, no `..` resolution beyond
/// dropping a component (member paths are only keys).
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

fn images_of_archive(
    store: &Store,
    members: &Members,
    tag: Option<&Reference>,
    progress: &dyn Progress,
) -> Result<Vec<Loaded>> {
    if let Some(manifest) = members.small.get("manifest.json") {
        return load_docker_save(store, members, manifest, tag, progress);
    }
    if let Some(index) = members.small.get("index.json") {
        return load_index(store, index, tag, progress);
    }
    Err(Error::Format(
        "not a docker save archive or an OCI image layout: no manifest.json or index.json".into(),
    ))
}

fn load_docker_save(
    store: &Store,
    members: &Members,
    manifest: &[u8],
    tag: Option<&Reference>,
    progress: &dyn Progress,
) -> Result<Vec<Loaded>> {
    let saved: Vec<SavedImage> = oci::parse("manifest.json", manifest)?;
    let mut images = Vec::new();
    for image in &saved {
        let config = members.blob(store, &image.config)?;
        let config_size = fs::metadata(store.blob_path(&config)).map_or(0, |m| m.len());
        let mut layers = Vec::new();
        for layer in &image.layers {
            let digest = members.blob(store, layer)?;
            let path = store.blob_path(&digest);
            let mut head = [0u8; 4];
            let n = File::open(&path)
                .and_then(|mut f| f.read(&mut head))
                .map_err(|e| Error::io("read", &path, e))?;
            let size = fs::metadata(&path)
                .map_err(|e| Error::io("stat", &path, e))?
                .len();
            layers.push(descriptor(
                Compression::detect(&head[..n]).layer_media_type(),
                digest,
                size,
            ));
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: oci::MEDIA_TYPE_OCI_MANIFEST.into(),
            config: descriptor(oci::MEDIA_TYPE_OCI_CONFIG.into(), config, config_size),
            layers,
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::json("manifest", e))?;
        let digest = store.put_blob_bytes(&bytes)?;
        let tags = match (tag, &image.repo_tags) {
            (Some(tag), _) if saved.len() == 1 => vec![tag.clone()],
            (_, Some(tags)) => tags
                .iter()
                .map(|t| Reference::parse(t))
                .collect::<Result<_>>()?,
            _ => Vec::new(),
        };
        let image = store.add_image(&digest, &tags, progress)?;
        images.push(Loaded { image, tags });
    }
    Ok(images)
}

fn descriptor(media_type: String, digest: Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type,
        digest,
        size,
        platform: None,
        annotations: Default::default(),
    }
}

/// Adds the images an OCI layout's `index.json` lists; every blob must be
/// in the store already.
fn load_index(
    store: &Store,
    index: &[u8],
    tag: Option<&Reference>,
    progress: &dyn Progress,
) -> Result<Vec<Loaded>> {
    let index: Index = oci::parse("index.json", index)?;
    let single = index.manifests.len() == 1;
    let mut images = Vec::new();
    for entry in &index.manifests {
        let named = entry
            .annotations
            .get(ANNOTATION_IMAGE_NAME)
            .or_else(|| entry.annotations.get(ANNOTATION_REF_NAME))
            .filter(|name| name.contains(['/', ':']))
            .and_then(|name| Reference::parse(name).ok());
        let tags: Vec<Reference> = match (tag, named) {
            (Some(tag), _) if single => vec![tag.clone()],
            (_, Some(named)) => vec![named],
            _ => Vec::new(),
        };
        let image = store.add_image(&entry.digest, &tags, progress)?;
        images.push(Loaded { image, tags });
    }
    Ok(images)
}

/// An OCI layout directory: `oci-layout`, `index.json`, `blobs/`.
fn load_layout_dir(
    store: &Store,
    dir: &Path,
    tag: Option<&Reference>,
    progress: &dyn Progress,
) -> Result<Vec<Loaded>> {
    if !dir.join("oci-layout").is_file() {
        return Err(Error::Format(format!(
            "{} is not an OCI image layout (no oci-layout file)",
            dir.display()
        )));
    }
    let index_path = dir.join("index.json");
    let index_bytes = fs::read(&index_path).map_err(|e| Error::io("read", &index_path, e))?;
    let index: Index = oci::parse("index.json", &index_bytes)?;
    for entry in &index.manifests {
        import_tree(store, dir, &entry.digest, progress)?;
    }
    load_index(store, &index_bytes, tag, progress)
}

/// Copies the blob `digest` of the layout `dir` into the store, and the
/// blobs it names if it is a manifest or an index.
fn import_tree(store: &Store, dir: &Path, digest: &Digest, progress: &dyn Progress) -> Result<()> {
    let import = |digest: &Digest| -> Result<()> {
        if store.has_blob(digest) {
            return Ok(());
        }
        let path = dir.join("blobs/sha256").join(digest.hex());
        let file = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
        let size = file.metadata().map_or(0, |m| m.len());
        progress.begin(&format!("copying {}", digest.short()), Some(size));
        store.put_blob(ProgressReader::new(file, progress), Some(digest))?;
        progress.end("copied");
        Ok(())
    };
    import(digest)?;
    let bytes = store.read_blob(digest)?;
    #[derive(Deserialize)]
    struct Children {
        #[serde(default)]
        manifests: Vec<Descriptor>,
        #[serde(default)]
        config: Option<Descriptor>,
        #[serde(default)]
        layers: Vec<Descriptor>,
    }
    let children: Children = oci::parse(&format!("manifest {digest}"), &bytes)?;
    for manifest in &children.manifests {
        let is_host = manifest
            .platform
            .as_ref()
            .is_none_or(|p| p.os == "linux" && p.architecture == "amd64");
        if is_host {
            import_tree(store, dir, &manifest.digest, progress)?;
        }
    }
    for blob in children.config.iter().chain(&children.layers) {
        import(&blob.digest)?;
    }
    Ok(())
}
