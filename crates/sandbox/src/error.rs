//! The sandbox's error type.
//!
//! Every variant that comes from a failed host call carries the operation,
//! the path it was applied to (when there is one) and the `io::Error`, so
//! that the single line the user sees says what failed and where.

use std::io;
use std::path::PathBuf;

/// Why a container could not be described or started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request names no program to run.
    #[error("no command given")]
    NoCommand,
    /// `--rootfs` does not name a usable directory.
    #[error("rootfs {path}")]
    Rootfs {
        /// The path as given.
        path: PathBuf,
        /// Why it cannot be used.
        source: io::Error,
    },
    /// `--rootfs` names something other than a directory.
    #[error("rootfs {0} is not a directory")]
    RootfsNotDirectory(PathBuf),
    /// The hostname cannot be set or encoded in the boot record.
    #[error("invalid hostname {0:?}: it must be 1 to 64 bytes without ';', '=' or NUL")]
    Hostname(String),
    /// The container's description is inconsistent or malformed.
    #[error("{0}")]
    Config(String),
    /// The working directory is not an absolute path.
    #[error("invalid working directory {0:?}: it must be an absolute path")]
    Workdir(PathBuf),
    /// An `-e` entry is malformed.
    #[error("invalid environment variable {0:?}")]
    Environment(String),
    /// A string passed to the guest holds a NUL byte, which `execve` cannot carry.
    #[error("argument {0:?} contains a NUL byte")]
    NulByte(String),
    /// The kernel image cannot be opened.
    #[error("cannot open the oxbox kernel image {path} (set OXBOX_KERNEL to its path)")]
    KernelImage {
        /// Where it was looked for.
        path: PathBuf,
        /// Why it could not be opened.
        source: io::Error,
    },
    /// A host call on a path failed.
    #[error("{op} {path}")]
    Path {
        /// What was being done, e.g. `"mount tmpfs on"`.
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The host's answer.
        source: io::Error,
    },
    /// A host call without a path failed.
    #[error("{op}")]
    Sys {
        /// What was being done, e.g. `"unshare"`.
        op: &'static str,
        /// The host's answer.
        source: io::Error,
    },
    /// oxbox received a signal to stop while the container was being set up.
    #[error("interrupted by {0} while setting up the container")]
    Interrupted(&'static str),
    /// The container's first process failed to set itself up; the message
    /// is the one it sent back over the setup pipe.
    #[error("{0}")]
    Setup(String),
}

impl Error {
    /// Wraps a failed host call on `path`.
    pub(crate) fn path(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Path {
            op,
            path: path.into(),
            source,
        }
    }

    /// Wraps a failed host call that names no path.
    pub(crate) fn sys(op: &'static str, source: impl Into<io::Error>) -> Self {
        Self::Sys {
            op,
            source: source.into(),
        }
    }
}

/// The sandbox's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Formats an error and its chain of sources on one line, `a: b: c`, the
/// way the user sees it (also used to send a child's error to its parent).
/// Host errors read as `strerror` does, without Rust's `(os error N)`.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        if !line.is_empty() {
            line.push_str(": ");
        }
        match cause
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            Some(errno) => line.push_str(nix::errno::Errno::from_raw(errno).desc()),
            None => line.push_str(&cause.to_string()),
        }
        next = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_keeps_messages_of_errors_without_errno() {
        let error = Error::sys("signal", io::Error::other("boom"));
        assert_eq!(one_line(&error), "signal: boom");
    }

    #[test]
    fn one_line_joins_the_source_chain() {
        let error = Error::path("mount tmpfs on", "/x/dev", io::Error::from_raw_os_error(1));
        let line = one_line(&error);
        assert!(
            line.starts_with("mount tmpfs on /x/dev: Operation not permitted"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
