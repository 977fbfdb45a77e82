//! Containers under the runtime's root directory.
//!
//! Each container is a directory `ROOT/ID` holding `state.json` (what
//! `create` decided: pid, bundle, cgroup, hooks...) and, until `start`,
//! the exec gate FIFO `exec.fifo` on which its first process waits. The
//! status is never stored: it is read off the host each time (is the pid
//! still the process `create` started, is the gate still there, is the
//! cgroup frozen), so a container whose processes died or were killed is
//! reported stopped without anyone having to notice. Verbs that change a
//! container hold an exclusive `flock` on its directory.

use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Hooks;
use crate::error::{Error, Result};

/// Runc's default root, under oxbox's name.
pub const DEFAULT_ROOT: &str = "/run/oxbox";
/// The saved state of one container.
const STATE_FILE: &str = "state.json";
/// The exec gate of a created container.
pub const EXEC_FIFO: &str = "exec.fifo";
/// Where a created container's process writes why its startContainer
/// hooks failed, for `start` to report.
pub const START_ERROR: &str = "start-error";

/// A container's status, as `runc state` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being set up (what prestart and createRuntime hooks are told).
    Creating,
    /// Set up, waiting for `start`.
    Created,
    /// Its first process runs.
    Running,
    /// Frozen by `pause`.
    Paused,
    /// Its first process has exited (or was never started and is gone).
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Creating => "creating",
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
        })
    }
}

/// What `create` records about a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// The container id.
    pub id: String,
    /// Host pid of its first process.
    pub pid: i32,
    /// Start time of that process (field 22 of `/proc/PID/stat`), to tell
    /// it from a later process that reuses the pid.
    pub pid_start_time: u64,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The root filesystem on the host.
    pub rootfs: PathBuf,
    /// When it was created, RFC 3339.
    pub created: String,
    /// The user who created it.
    pub owner: String,
    /// Its hostname (what processes `exec`'d into it are told).
    pub hostname: String,
    /// Its guest seccomp profile, which `exec`'d processes get too.
    #[serde(default)]
    pub guest_filter: Option<String>,
    /// The cgroup path it was placed in (relative to each hierarchy).
    pub cgroup_path: PathBuf,
    /// Hooks still to run (poststart, poststop; startContainer, which
    /// the container's process runs, tells `start` to wait for it).
    pub hooks: Hooks,
    /// The config's annotations.
    pub annotations: std::collections::HashMap<String, String>,
}

impl Saved {
    /// The OCI state with `status` and first process `pid` (hooks run
    /// during `create`, before `pid` is saved, get it this way too).
    pub fn oci_state(&self, status: Status, pid: i32) -> OciState {
        OciState {
            oci_version: crate::lifecycle::OCI_VERSION.into(),
            id: self.id.clone(),
            status,
            pid,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: self.owner.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

/// The OCI state, as `oxbox state` prints it and hooks receive it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    /// The OCI spec version.
    pub oci_version: String,
    /// The container id.
    pub id: String,
    /// Its status.
    pub status: Status,
    /// Its first process (0 once stopped, as runc prints it).
    pub pid: i32,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The root filesystem.
    pub rootfs: PathBuf,
    /// Creation time.
    pub created: String,
    /// Creator.
    pub owner: String,
    /// Annotations.
    #[serde(default, skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub annotations: std::collections::HashMap<String, String>,
}

/// The runtime's root directory.
#[derive(Clone, Debug)]
pub struct Root(PathBuf);

/// One container's directory, locked while the value lives.
#[derive(Debug)]
pub struct Container {
    /// Its directory.
    pub dir: PathBuf,
    /// What was saved.
    pub saved: Saved,
    _lock: OwnedFd,
}

impl Root {
    /// The root at `path`, created (mode 0700) if missing.
    pub fn open(path: &Path) -> Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| Error::io("create state directory", path, e))?;
        Ok(Self(path.to_owned()))
    }

    /// The directory of container `id`.
    pub fn dir(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        Ok(self.0.join(id))
    }

    /// Reserves `id` for a new container: its directory, created
    /// atomically, so a concurrent create of the same id fails. It is not
    /// locked: the container's first process, forked while it is set up,
    /// would inherit the lock and hold it until `start`; other verbs see
    /// no container there until [`save`] writes its state.
    pub fn reserve(&self, id: &str) -> Result<PathBuf> {
        let dir = self.dir(id)?;
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_owned()));
            }
            Err(e) => return Err(Error::io("create", &dir, e)),
        }
        Ok(dir)
    }

    /// Opens container `id`, holding its lock.
    pub fn load(&self, id: &str) -> Result<Container> {
        let dir = self.dir(id)?;
        let lock = match lock(&dir) {
            Ok(lock) => lock,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_owned()));
            }
            Err(e) => return Err(e),
        };
        let path = dir.join(STATE_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            // Created but not finished, or being deleted: not a container.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_owned()));
            }
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let saved = serde_json::from_str(&text)
            .map_err(|e| Error::io("parse", &path, std::io::Error::other(e)))?;
        Ok(Container {
            dir,
            saved,
            _lock: lock,
        })
    }

    /// The ids of every container, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> = fs::read_dir(&self.0)
            .map_err(|e| Error::io("read", &self.0, e))?
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().join(STATE_FILE).exists())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// Writes `saved` into `dir` atomically (temporary file, then rename).
pub fn save(dir: &Path, saved: &Saved) -> Result<()> {
    let tmp = dir.join(".state.json.tmp");
    let text = serde_json::to_vec_pretty(saved).expect("state serializes");
    fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&text).and_then(|()| f.sync_all()))
        .map_err(|e| Error::io("write", &tmp, e))?;
    let path = dir.join(STATE_FILE);
    fs::rename(&tmp, &path).map_err(|e| Error::io("write", &path, e))
}

impl Container {
    /// The status, read off the host now.
    pub fn status(&self, frozen: impl Fn() -> bool) -> Status {
        if !process_alive(self.saved.pid, self.saved.pid_start_time) {
            Status::Stopped
        } else if self.dir.join(EXEC_FIFO).exists() {
            Status::Created
        } else if frozen() {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// The OCI state for `status`.
    pub fn oci_state(&self, status: Status) -> OciState {
        let pid = if status == Status::Stopped {
            0
        } else {
            self.saved.pid
        };
        self.saved.oci_state(status, pid)
    }

    /// Removes the container's directory.
    pub fn remove(self) -> Result<()> {
        fs::remove_dir_all(&self.dir).map_err(|e| Error::io("remove", &self.dir, e))
    }
}

/// Takes an exclusive lock on a container directory.
fn lock(dir: &Path) -> Result<OwnedFd> {
    let fd: OwnedFd = fs::File::open(dir)
        .map_err(|e| Error::io("open", dir, e))?
        .into();
    // SAFETY: flock takes a descriptor we own and an integer operation.
    if unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) } < 0 {
        return Err(Error::io("lock", dir, std::io::Error::last_os_error()));
    }
    Ok(fd)
}

/// Runc's rule for container ids; it also keeps them safe as file names.
pub fn check_id(id: &str) -> Result<()> {
    let valid = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_owned()))
    }
}

/// Field 22 of `/proc/PID/stat` (start time in clock ticks), and whether
/// the process is a zombie; `None` if there is no such process.
pub fn process_start(pid: i32) -> Option<(u64, bool)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: the
    // fields after it start after its last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let zombie = fields.first() == Some(&"Z");
    let start = fields.get(19)?.parse().ok()?;
    Some((start, zombie))
}

/// Whether `pid` is still the live process that started at `start_time`.
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    matches!(process_start(pid), Some((start, false)) if start == start_time)
}

/// Now, in RFC 3339 with nanoseconds, as runc writes `created`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(id: &str, pid: i32, start: u64) -> Saved {
        Saved {
            id: id.into(),
            pid,
            pid_start_time: start,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: now_rfc3339(),
            owner: "root".into(),
            hostname: "box".into(),
            guest_filter: None,
            cgroup_path: "/oxbox/x".into(),
            hooks: Hooks::default(),
            annotations: Default::default(),
        }
    }

    #[test]
    fn ids_follow_runcs_rule() {
        for good in ["abc", "a-b_c.d+e", "0123456789abcdef"] {
            assert!(check_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_container_is_reserved_once_saved_then_listed_and_loaded() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::open(&tmp.path().join("root")).unwrap();
        let dir = root.reserve("c1").unwrap();
        assert!(matches!(root.reserve("c1"), Err(Error::Exists(_))));
        // Not a container until its state is saved.
        assert!(root.ids().unwrap().is_empty());
        let me = std::process::id() as i32;
        let (start, _) = process_start(me).unwrap();
        save(&dir, &saved("c1", me, start)).unwrap();
        assert_eq!(root.ids().unwrap(), ["c1"]);
        let container = root.load("c1").unwrap();
        assert_eq!(container.saved.pid, me);
        assert_eq!(container.status(|| false), Status::Running);
        assert_eq!(container.status(|| true), Status::Paused);
        fs::write(dir.join(EXEC_FIFO), "").unwrap();
        assert_eq!(container.status(|| false), Status::Created);
        container.remove().unwrap();
        assert!(matches!(root.load("c1"), Err(Error::NotFound(_))));
    }

    #[test]
    fn a_reused_or_missing_pid_means_stopped() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::open(tmp.path()).unwrap();
        let dir = root.reserve("c2").unwrap();
        let me = std::process::id() as i32;
        let (start, _) = process_start(me).unwrap();
        save(&dir, &saved("c2", me, start + 1)).unwrap();
        let container = root.load("c2").unwrap();
        assert_eq!(container.status(|| false), Status::Stopped);
        assert_eq!(container.oci_state(Status::Stopped).pid, 0);
        assert!(!process_alive(i32::MAX, 0));
    }

    #[test]
    fn state_json_uses_the_oci_field_names() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::open(tmp.path()).unwrap();
        let dir = root.reserve("c3").unwrap();
        save(&dir, &saved("c3", 1, 0)).unwrap();
        let json =
            serde_json::to_value(root.load("c3").unwrap().oci_state(Status::Running)).unwrap();
        assert_eq!(json["ociVersion"], crate::lifecycle::OCI_VERSION);
        assert_eq!(json["status"], "running");
        assert_eq!(json["pid"], 1);
        assert_eq!(json["bundle"], "/b");
    }
}
