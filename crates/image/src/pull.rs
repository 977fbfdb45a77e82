//! `oxbox pull`: an image from an OCI distribution registry, through the
//! `oci-client` crate (token and basic auth, manifest lists).
//!
//! The manifest (and the index, for a multi-platform image: the linux/amd64
//! entry is taken) and every blob go into the store checked against their
//! digests; a blob download that breaks off is resumed from where it
//! stopped, a few times, with an HTTP range request. Then the image is
//! added as a loaded one is, its layers unpacked.

use futures_util::StreamExt;
use oci_client::client::{BlobResponse, ClientConfig, ClientProtocol};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::{self, Manifest};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::store::{Image, Store};

/// How many times a broken blob download is resumed.
const RESUME_ATTEMPTS: u32 = 3;

/// Manifest media types oxbox asks a registry for.
const ACCEPTED_MANIFESTS: &[&str] = &[
    oci::MEDIA_TYPE_OCI_MANIFEST,
    oci::MEDIA_TYPE_OCI_INDEX,
    oci::MEDIA_TYPE_DOCKER_MANIFEST,
    oci::MEDIA_TYPE_DOCKER_LIST,
];

/// Credentials and transport for a pull.
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// User and password for basic auth (also exchanged for a token when
    /// the registry asks for one).
    pub credentials: Option<(String, String)>,
    /// Use plain HTTP. Loopback registries (`localhost`, `127.*`) always
    /// get it, as Docker allows.
    pub plain_http: bool,
}

/// Pulls `reference` into `store`.
pub fn pull(
    store: &Store,
    reference: &Reference,
    options: &PullOptions,
    progress: &dyn Progress,
) -> Result<Image> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Registry(format!("cannot start the async runtime: {e}")))?;
    let _gc = store.gc_lock(false)?;
    let manifest = runtime.block_on(fetch(store, reference, options, progress))?;
    store.add_image(&manifest, std::slice::from_ref(reference), progress)
}

/// The registry host as oci-client names it (Docker Hub's API host).
fn client_reference(reference: &Reference) -> Result<oci_client::Reference> {
    let text = reference.to_string();
    text.parse()
        .map_err(|e| Error::Registry(format!("{text}: {e}")))
}

fn is_loopback(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(host, _)| host);
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
}

/// Fetches the manifest (through an index if need be) and every blob it
/// names; returns the digest of what was fetched first (manifest or index).
async fn fetch(
    store: &Store,
    reference: &Reference,
    options: &PullOptions,
    progress: &dyn Progress,
) -> Result<Digest> {
    let image = client_reference(reference)?;
    let protocol = if options.plain_http || is_loopback(&reference.registry) {
        ClientProtocol::Http
    } else {
        ClientProtocol::Https
    };
    let client = Client::new(ClientConfig {
        protocol,
        ..ClientConfig::default()
    });
    let auth = match &options.credentials {
        Some((user, password)) => RegistryAuth::Basic(user.clone(), password.clone()),
        None => RegistryAuth::Anonymous,
    };
    let registry_error =
        |e: oci_client::errors::OciDistributionError| Error::Registry(format!("{reference}: {e}"));
    client
        .auth(&image, &auth, RegistryOperation::Pull)
        .await
        .map_err(registry_error)?;
    progress.begin(&format!("resolving {}", reference.familiar()), None);
    let (bytes, _) = client
        .pull_manifest_raw(&image, &auth, ACCEPTED_MANIFESTS)
        .await
        .map_err(registry_error)?;
    let top = store_manifest(store, &bytes, reference.digest.as_ref())?;
    let manifest_bytes = match oci::parse::<oci::Index>("manifest", &bytes) {
        Ok(index) if !index.manifests.is_empty() => {
            let chosen = oci::choose_platform(&index)?.digest.clone();
            let by_digest = image.clone_with_digest(chosen.to_string());
            let (bytes, _) = client
                .pull_manifest_raw(&by_digest, &auth, ACCEPTED_MANIFESTS)
                .await
                .map_err(registry_error)?;
            store_manifest(store, &bytes, Some(&chosen))?;
            bytes
        }
        _ => bytes,
    };
    progress.end("resolved");
    let manifest: Manifest = oci::parse("manifest", &manifest_bytes)?;
    let count = manifest.layers.len();
    let blobs = std::iter::once(("config".to_string(), &manifest.config)).chain(
        manifest
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| (format!("layer {}/{count}", i + 1), l)),
    );
    for (what, blob) in blobs {
        let task = format!("downloading {what} {}", blob.digest.short());
        progress.begin(&task, Some(blob.size));
        if store.has_blob(&blob.digest) {
            progress.end("already stored");
            continue;
        }
        download(store, &client, &image, blob, progress).await?;
        progress.end("downloaded");
    }
    Ok(top)
}

/// Stores a manifest or index fetched from a registry, checking it against
/// the digest the reference pinned, if any.
fn store_manifest(store: &Store, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
    Ok(store.put_blob(bytes, expected)?.0)
}

/// Downloads one blob into the store, resuming a broken transfer from the
/// bytes already received.
async fn download(
    store: &Store,
    client: &Client,
    image: &oci_client::Reference,
    blob: &oci::Descriptor,
    progress: &dyn Progress,
) -> Result<()> {
    let descriptor = OciDescriptor {
        media_type: blob.media_type.clone(),
        digest: blob.digest.to_string(),
        size: i64::try_from(blob.size).unwrap_or(i64::MAX),
        ..OciDescriptor::default()
    };
    let mut writer = store.blob_writer()?;
    let mut attempts = 0;
    loop {
        let offset = writer.len();
        let result = async {
            let mut stream = if offset == 0 {
                client.pull_blob_stream(image, &descriptor).await?.stream
            } else {
                match client
                    .pull_blob_stream_partial(image, &descriptor, offset, None)
                    .await?
                {
                    BlobResponse::Partial(stream) => stream.stream,
                    // The registry ignored the range: start over.
                    BlobResponse::Full(stream) => {
                        writer = store
                            .blob_writer()
                            .map_err(|e| std::io::Error::other(e.to_string()))?;
                        stream.stream
                    }
                }
            };
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                writer
                    .write(&chunk)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                progress.advance(chunk.len() as u64);
            }
            Ok::<(), Box<dyn std::error::Error>>(())
        }
        .await;
        match result {
            Ok(()) if writer.len() >= blob.size => break,
            Ok(()) if attempts < RESUME_ATTEMPTS => attempts += 1,
            Err(e) if attempts < RESUME_ATTEMPTS => {
                tracing::warn!(
                    "blob {}: {e}; resuming at byte {}",
                    blob.digest,
                    writer.len()
                );
                attempts += 1;
            }
            Ok(()) => {
                return Err(Error::Registry(format!(
                    "blob {}: the registry sent {} of {} bytes",
                    blob.digest,
                    writer.len(),
                    blob.size
                )));
            }
            Err(e) => return Err(Error::Registry(format!("blob {}: {e}", blob.digest))),
        }
    }
    writer.commit(Some(&blob.digest))?;
    Ok(())
}
