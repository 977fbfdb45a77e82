//! The parts of the OCI image format (and Docker's equivalents) oxbox reads
//! and writes. Unknown fields are ignored: the store keeps the original
//! bytes of every manifest and config, so nothing is lost by parsing only
//! what is used.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// OCI image manifest.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (a manifest list).
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Uncompressed OCI layer.
pub const MEDIA_TYPE_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// Docker schema 2 manifest.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const MEDIA_TYPE_DOCKER_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";

/// A reference to a blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// What the blob is.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// For entries of an index: the platform the manifest is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations (the OCI layout names its images with one).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// The platform of one entry of an index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// CPU variant, when it matters (`v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest (OCI, or Docker schema 2: the same shape).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// The manifest's own media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// The image config.
    pub config: Descriptor,
    /// The layers, bottom first.
    pub layers: Vec<Descriptor>,
}

/// An image index / manifest list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// The index's own media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// The manifests it lists.
    pub manifests: Vec<Descriptor>,
}

/// An image config: what oxbox uses of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// CPU architecture the image is built for.
    #[serde(default)]
    pub architecture: String,
    /// Operating system the image is built for.
    #[serde(default)]
    pub os: String,
    /// Creation time (RFC 3339), when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// How to run the image.
    #[serde(default)]
    pub config: RunConfig,
    /// The layers' uncompressed digests.
    pub rootfs: RootFs,
}

/// The `config` object of an image config: defaults for a container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// `user`, `uid`, `user:group` or `uid:gid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `K=V` entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// The program; arguments are appended to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Default arguments (or program, without an entrypoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Initial working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

/// The `rootfs` object of an image config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The digest of each layer's uncompressed tar, bottom first.
    pub diff_ids: Vec<Digest>,
}

/// Parses the JSON document `bytes` describes as `what`.
pub fn parse<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::json(what, e))
}

/// Whether a manifest or descriptor media type names an index.
pub fn is_index(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_INDEX || media_type == MEDIA_TYPE_DOCKER_LIST
}

/// The platform oxbox runs: the kernel is x86-64 Linux.
pub fn host_platform() -> Platform {
    Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
        variant: None,
    }
}

/// The entry of `index` for the host platform.
pub fn choose_platform(index: &Index) -> Result<&Descriptor> {
    let host = host_platform();
    index
        .manifests
        .iter()
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == host.os && p.architecture == host.architecture)
        })
        .ok_or_else(|| {
            let available: Vec<String> = index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .map(|p| format!("{}/{}", p.os, p.architecture))
                .collect();
            Error::Format(format!(
                "no linux/amd64 image in the index (it has: {})",
                available.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_fields_are_read() {
        let json = br#"{"architecture":"amd64","os":"linux",
            "config":{"Env":["PATH=/bin"],"Entrypoint":["/bin/sh","-c"],"Cmd":["echo hi"],
                      "WorkingDir":"/srv","User":"1000:1000","Labels":{"a":"b"}},
            "rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]},
            "history":[]}"#;
        let config: ImageConfig = parse("config", json).unwrap();
        assert_eq!(config.config.entrypoint.unwrap(), ["/bin/sh", "-c"]);
        assert_eq!(config.config.working_dir.as_deref(), Some("/srv"));
        assert_eq!(config.config.user.as_deref(), Some("1000:1000"));
        assert_eq!(config.rootfs.diff_ids.len(), 1);
    }

    #[test]
    fn index_entry_for_linux_amd64_is_chosen() {
        let digest = |c: char| c.to_string().repeat(64);
        let json = format!(
            r#"{{"schemaVersion":2,"manifests":[
              {{"mediaType":"{MEDIA_TYPE_OCI_MANIFEST}","digest":"sha256:{}","size":1,"platform":{{"architecture":"arm64","os":"linux"}}}},
              {{"mediaType":"{MEDIA_TYPE_OCI_MANIFEST}","digest":"sha256:{}","size":1,"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
            digest('a'),
            digest('b')
        );
        let index: Index = parse("index", json.as_bytes()).unwrap();
        assert_eq!(choose_platform(&index).unwrap().digest.hex(), digest('b'));
        let arm_only = Index {
            manifests: index.manifests[..1].to_vec(),
            ..index
        };
        let err = choose_platform(&arm_only).unwrap_err().to_string();
        assert!(err.contains("linux/arm64"), "{err}");
    }
}
