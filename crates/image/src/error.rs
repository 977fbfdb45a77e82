//! The image crate's error type.
//!
//! Image input is untrusted, so most variants name the piece of input that
//! was refused (an entry of a layer, a digest, a reference) as well as why:
//! the user sees one line that says what was wrong with what.

use std::io;
use std::path::PathBuf;

use crate::digest::Digest;

/// Why an image operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A string that should be a `sha256:` digest is not one.
    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex digits>")]
    BadDigest(String),
    /// An image reference cannot be parsed.
    #[error("invalid image reference {reference:?}: {reason}")]
    BadReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Content does not hash to the digest it is named by.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was checked, e.g. `layer sha256:...`.
        what: String,
        /// The digest the content was announced with.
        expected: Digest,
        /// The digest of the content itself.
        actual: Digest,
    },
    /// A host call on a path failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done, e.g. `"create"`.
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The host's answer.
        source: io::Error,
    },
    /// A layer entry refers to a path outside the root filesystem.
    #[error("layer entry {entry:?} points outside the root filesystem")]
    PathEscape {
        /// The entry's path (or link target) as written in the archive.
        entry: String,
    },
    /// A layer entry is malformed or cannot be applied.
    #[error("layer entry {entry:?}: {reason}")]
    BadEntry {
        /// The entry's path as written in the archive.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// A layer would unpack to more than the store allows.
    #[error("layer exceeds the unpacked size limit of {limit} bytes")]
    SizeLimit {
        /// The limit in bytes.
        limit: u64,
    },
    /// A layer has more entries than the store allows.
    #[error("layer exceeds the limit of {limit} entries")]
    EntryLimit {
        /// The limit.
        limit: u64,
    },
    /// An archive or a compressed stream is truncated or corrupt.
    #[error("{what} is truncated or corrupt")]
    Corrupt {
        /// What was being read.
        what: String,
        /// The decoder's or reader's answer.
        source: io::Error,
    },
    /// Input is not in a format oxbox knows.
    #[error("{0}")]
    Format(String),
    /// A JSON document (manifest, config, index) cannot be parsed.
    #[error("{what}: invalid JSON")]
    Json {
        /// Which document.
        what: String,
        /// The parser's answer.
        source: serde_json::Error,
    },
    /// No image matches a name.
    #[error("no such image: {0}")]
    NotFound(String),
    /// A short id matches more than one image.
    #[error("image id prefix {0:?} is ambiguous")]
    Ambiguous(String),
    /// An image cannot be removed because a container uses it.
    #[error("image {0} is in use by a running container")]
    InUse(String),
    /// A registry request failed.
    #[error("registry: {0}")]
    Registry(String),
}

impl Error {
    /// An [`Error::Io`] for `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Json`] about `what`.
    pub fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        Self::Json {
            what: what.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
