//! The OCI runtime's error type: one line for the engine's log.

use std::io;
use std::path::{Path, PathBuf};

/// Why a runtime verb failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bundle's config is malformed or asks for what oxbox cannot do.
    #[error("invalid config: {0}")]
    Config(String),
    /// The container id is not a valid name.
    #[error("invalid container id {0:?}: use letters, digits, '_', '+', '-' and '.'")]
    InvalidId(String),
    /// No container has this id.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// A container with this id exists already.
    #[error("container {0} already exists")]
    Exists(String),
    /// The verb does not apply to the container in its current state.
    #[error("{0}")]
    WrongState(String),
    /// A host operation on a path failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The host's answer.
        source: io::Error,
    },
    /// A hook failed.
    #[error("{0}")]
    Hook(String),
    /// The sandbox could not set the container up.
    #[error(transparent)]
    Sandbox(#[from] oxbox_sandbox::Error),
}

impl Error {
    /// Wraps a failed host operation on `path`.
    pub fn io(op: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.as_ref().to_owned(),
            source,
        }
    }
}

/// The runtime's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
