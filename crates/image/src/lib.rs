//! OCI images for oxbox, without an engine.
//!
//! - [`store`]: the content-addressed store under a data root: blobs,
//!   manifests, configs, tags, unpacked layers shared between images;
//! - [`import`]: `docker save` archives and OCI image layouts;
//! - [`pull`]: images from an OCI distribution registry;
//! - [`unpack`]: one layer tar into a directory, hostile input contained;
//! - [`rootfs`], [`merge`]: a container's root filesystem over the layers
//!   (overlayfs, or a merged copy) and its removal;
//! - [`run`]: a container's command, environment, directory and user from
//!   the image's config, as Docker combines them.
//!
//! No `unsafe`: every host call goes through `rustix` or `nix`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod digest;
pub mod error;
pub mod import;
pub mod inroot;
pub mod merge;
pub mod oci;
pub mod progress;
pub mod pull;
pub mod reference;
pub mod rootfs;
pub mod run;
pub mod store;
pub mod unpack;

pub use digest::Digest;
pub use error::{Error, Result};
pub use progress::{Progress, Silent};
pub use reference::Reference;
pub use rootfs::{ContainerRootfs, Snapshotter};
pub use store::{DEFAULT_DATA_ROOT, Image, ImageRecord, Removed, Store};
