//! What a container is: the validated description the rest of the sandbox
//! works from.
//!
//! The CLI fills an [`Options`] from flags and the environment; turning it
//! into a [`ContainerSpec`] checks everything that can be checked before any
//! namespace exists, so that a bad request fails early with one message and
//! leaves nothing behind.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use oxbox_abi::boot::{BootRecord, LogLevel};

use crate::error::{Error, Result};

/// Docker's default `PATH` for a container.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Longest hostname the host's `sethostname` accepts (`HOST_NAME_MAX`).
pub const MAX_HOSTNAME_LEN: usize = 64;

/// Where the container's root filesystem comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rootfs {
    /// The host's own root, read-only, with a fresh writable `/tmp`
    /// (as `runsc do`).
    Host,
    /// A directory on the host (as `podman run --rootfs`).
    Dir {
        /// Absolute, symlink-free path of the directory.
        path: PathBuf,
        /// Mount it read-only.
        read_only: bool,
    },
}

impl Rootfs {
    /// Whether the guest can write to its root directory.
    pub fn writable(&self) -> bool {
        matches!(
            self,
            Self::Dir {
                read_only: false,
                ..
            }
        )
    }
}

/// A request as the CLI received it, before validation.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The guest program and its arguments (`CMD ARGS...`).
    pub command: Vec<String>,
    /// `--rootfs DIR`; `None` runs on the host's root.
    pub rootfs: Option<PathBuf>,
    /// `--read-only`.
    pub read_only: bool,
    /// `-e K=V` and `-e K` entries, in order.
    pub env: Vec<String>,
    /// `-w DIR`; `None` means `/`.
    pub workdir: Option<PathBuf>,
    /// `--hostname H`; `None` picks a random id.
    pub hostname: Option<String>,
    /// Ask the kernel for syscall statistics at exit.
    pub stats: bool,
    /// Verbosity of the kernel's log.
    pub log_level: Option<LogLevel>,
    /// Path of the kernel image.
    pub kernel: PathBuf,
}

/// A validated container description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The root filesystem.
    pub rootfs: Rootfs,
    /// The guest program and its arguments; never empty.
    pub command: Vec<String>,
    /// The guest environment as `K=V` strings.
    pub env: Vec<String>,
    /// The guest's initial working directory, absolute, inside the container.
    pub workdir: PathBuf,
    /// The container's hostname.
    pub hostname: String,
    /// Guest user and group ids.
    pub uid: u32,
    /// See [`ContainerSpec::uid`].
    pub gid: u32,
    /// Ask the kernel for syscall statistics at exit.
    pub stats: bool,
    /// Verbosity of the kernel's log.
    pub log_level: LogLevel,
    /// Path of the kernel image on the host.
    pub kernel: PathBuf,
}

impl ContainerSpec {
    /// Validates `options`. `host_env` looks up oxbox's own environment, for
    /// `-e K` entries that copy a variable.
    pub fn from_options(
        options: Options,
        host_env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        if options.command.is_empty() {
            return Err(Error::NoCommand);
        }
        for arg in &options.command {
            check_no_nul(arg)?;
        }
        let rootfs = match options.rootfs {
            None => Rootfs::Host,
            Some(path) => Rootfs::Dir {
                path: resolve_rootfs(&path)?,
                read_only: options.read_only,
            },
        };
        let workdir = options.workdir.unwrap_or_else(|| PathBuf::from("/"));
        if !workdir.is_absolute() {
            return Err(Error::Workdir(workdir));
        }
        check_no_nul(&workdir.to_string_lossy())?;
        let hostname = match options.hostname {
            Some(name) => name,
            None => random_hostname()?,
        };
        validate_hostname(&hostname)?;
        let (uid, gid) = (0, 0);
        let env = guest_env(&hostname, home_for(uid), &options.env, host_env)?;
        Ok(Self {
            rootfs,
            command: options.command,
            env,
            workdir,
            hostname,
            uid,
            gid,
            stats: options.stats,
            log_level: options.log_level.unwrap_or(LogLevel::Warn),
            kernel: options.kernel,
        })
    }

    /// The record the kernel receives as its `argv[1]`.
    pub fn boot_record(&self) -> BootRecord<'_> {
        BootRecord {
            hostname: &self.hostname,
            uid: self.uid,
            gid: self.gid,
            stats: self.stats,
            log_level: self.log_level,
            first_process: true,
            signal_mask: 0,
            ignored_signals: 0,
        }
    }
}

/// Makes the rootfs path absolute and free of symlinks, so that every later
/// step (bind, mkdir, mountinfo matching) talks about the same directory.
fn resolve_rootfs(path: &Path) -> Result<PathBuf> {
    let resolved = fs::canonicalize(path).map_err(|source| Error::Rootfs {
        path: path.to_owned(),
        source,
    })?;
    if !resolved.is_dir() {
        return Err(Error::RootfsNotDirectory(path.to_owned()));
    }
    Ok(resolved)
}

fn check_no_nul(s: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(Error::NulByte(s.to_owned()));
    }
    Ok(())
}

/// `HOME` for a guest user: Docker's rule, `/root` for root.
fn home_for(uid: u32) -> &'static str {
    if uid == 0 { "/root" } else { "/" }
}

/// Checks a hostname against what both `sethostname` and the boot record
/// encoding accept.
pub fn validate_hostname(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_HOSTNAME_LEN || name.contains([';', '=', '\0']) {
        return Err(Error::Hostname(name.to_owned()));
    }
    Ok(())
}

/// A 12-hex-digit random hostname, like the short container ids Docker uses.
pub fn random_hostname() -> Result<String> {
    let mut bytes = [0u8; 6];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::path("read", "/dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Builds the guest environment: Docker's defaults, then the `-e` entries in
/// order, a later entry replacing an earlier one of the same name in place.
/// `-e K` copies `K` from oxbox's environment and is dropped when unset.
pub fn guest_env(
    hostname: &str,
    home: &str,
    entries: &[String],
    host_env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>> {
    let mut vars: Vec<(String, String)> = vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOSTNAME".into(), hostname.into()),
        ("HOME".into(), home.into()),
    ];
    for entry in entries {
        let (key, value) = match entry.split_once('=') {
            Some((key, value)) => (key, value.to_owned()),
            None => match host_env(entry) {
                Some(value) => (entry.as_str(), value),
                None => continue,
            },
        };
        if key.is_empty() || key.contains('\0') || value.contains('\0') {
            return Err(Error::Environment(entry.clone()));
        }
        match vars.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => vars.push((key.to_owned(), value)),
        }
    }
    Ok(vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn options(command: &[&str]) -> Options {
        Options {
            command: command.iter().map(|s| s.to_string()).collect(),
            kernel: "/k".into(),
            ..Options::default()
        }
    }

    #[test]
    fn defaults_are_host_root_slash_and_random_hostname() {
        let spec = ContainerSpec::from_options(options(&["sh"]), no_env).unwrap();
        assert_eq!(spec.rootfs, Rootfs::Host);
        assert_eq!(spec.workdir, Path::new("/"));
        assert_eq!(spec.hostname.len(), 12);
        assert!(spec.hostname.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(spec.log_level, LogLevel::Warn);
        assert_eq!((spec.uid, spec.gid), (0, 0));
        assert_eq!(spec.env[0], format!("PATH={DEFAULT_PATH}"));
        assert_eq!(spec.env[1], format!("HOSTNAME={}", spec.hostname));
        assert_eq!(spec.env[2], "HOME=/root");
    }

    #[test]
    fn empty_command_is_refused() {
        assert!(matches!(
            ContainerSpec::from_options(options(&[]), no_env),
            Err(Error::NoCommand)
        ));
    }

    #[test]
    fn missing_rootfs_is_refused() {
        let opts = Options {
            rootfs: Some("/nonexistent/oxbox-rootfs".into()),
            ..options(&["sh"])
        };
        assert!(matches!(
            ContainerSpec::from_options(opts, no_env),
            Err(Error::Rootfs { .. })
        ));
    }

    #[test]
    fn rootfs_that_is_a_file_is_refused() {
        let opts = Options {
            rootfs: Some("/proc/self/status".into()),
            ..options(&["sh"])
        };
        assert!(matches!(
            ContainerSpec::from_options(opts, no_env),
            Err(Error::RootfsNotDirectory(_))
        ));
    }

    #[test]
    fn rootfs_path_is_resolved_and_read_only_kept() {
        let opts = Options {
            rootfs: Some("/usr/../usr".into()),
            read_only: true,
            ..options(&["sh"])
        };
        let spec = ContainerSpec::from_options(opts, no_env).unwrap();
        assert_eq!(
            spec.rootfs,
            Rootfs::Dir {
                path: "/usr".into(),
                read_only: true
            }
        );
        assert!(!spec.rootfs.writable());
    }

    #[test]
    fn relative_workdir_is_refused() {
        let opts = Options {
            workdir: Some("work".into()),
            ..options(&["sh"])
        };
        assert!(matches!(
            ContainerSpec::from_options(opts, no_env),
            Err(Error::Workdir(_))
        ));
    }

    #[test]
    fn hostnames_are_validated() {
        assert!(validate_hostname("box").is_ok());
        assert!(validate_hostname(&"a".repeat(64)).is_ok());
        for bad in ["", "a;b", "a=b", "a\0b"] {
            assert!(validate_hostname(bad).is_err(), "{bad:?}");
        }
        assert!(validate_hostname(&"a".repeat(65)).is_err());
    }

    #[test]
    fn boot_record_carries_spec_fields() {
        let opts = Options {
            hostname: Some("web".into()),
            stats: true,
            ..options(&["sh"])
        };
        let spec = ContainerSpec::from_options(opts, no_env).unwrap();
        let encoded = spec.boot_record().encode().unwrap();
        let decoded = BootRecord::decode(&encoded).unwrap();
        assert_eq!(decoded.hostname, "web");
        assert!(decoded.stats);
    }

    #[test]
    fn env_entries_override_defaults_in_place_and_later_wins() {
        let entries = [
            "A=1".to_string(),
            "HOME=/home/x".into(),
            "A=2".into(),
            "EMPTY=".into(),
        ];
        let env = guest_env("h", "/root", &entries, no_env).unwrap();
        assert_eq!(
            env,
            [
                &format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=h",
                "HOME=/home/x",
                "A=2",
                "EMPTY="
            ]
        );
    }

    #[test]
    fn bare_env_key_copies_from_host_or_is_dropped() {
        let host = |k: &str| (k == "TERM").then(|| "xterm".to_string());
        let env = guest_env("h", "/root", &["TERM".into(), "UNSET".into()], host).unwrap();
        assert_eq!(env.last().unwrap(), "TERM=xterm");
        assert!(!env.iter().any(|e| e.starts_with("UNSET")));
    }

    #[test]
    fn malformed_env_entries_are_refused() {
        for bad in ["=x", "A=\0"] {
            assert!(
                guest_env("h", "/root", &[bad.to_string()], no_env).is_err(),
                "{bad:?}"
            );
        }
    }
}
