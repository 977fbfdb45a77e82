//! OCI bundles for the container runtimes.
//!
//! The bundle is deliberately minimal, so that runtimes are compared on
//! the syscall path and not on image handling: a rootfs holding only the
//! static workload binary, a static busybox for the workloads that run a
//! shell or tar (and the archive tar extracts), an empty `/tmp`, the empty
//! `/proc`, `/dev` and `/sys` mount points runc expects, and a
//! `config.json` shaped like the one
//! `dockerd` writes for `docker run`: Docker's default capabilities, the
//! default namespaces and mounts, and Docker's default seccomp profile
//! resolved for amd64. A Docker user pays for that filter on every
//! syscall, so the runc number must include it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::docker_seccomp::{DOCKER_DEFAULT_CAPS, OciSeccomp};

/// What a container's root holds besides the empty mount points.
#[derive(Debug, Clone, Default)]
pub struct RootfsContents<'a> {
    /// Host files copied in, with their path in the root.
    pub files: Vec<(&'a Path, String)>,
    /// A static busybox, installed as `/bin/busybox` with the applets the
    /// workloads run linked beside it (`/bin/sh`, `/bin/tar`...).
    pub busybox: Option<&'a Path>,
}

/// The busybox applets workloads call by name.
pub const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "sort", "od", "grep", "tee", "wc", "rm", "tar", "mkdir", "cat", "true", "sleep",
];

/// A bundle directory ready for `<runtime> run --bundle`.
#[derive(Debug)]
pub struct Bundle {
    pub dir: PathBuf,
}

impl Bundle {
    /// The rootfs directory, which is also what `oxbox do --rootfs` takes.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// Lays out `dir` with `contents` in the rootfs and a config running
    /// `argv`.
    pub fn create(
        dir: &Path,
        contents: &RootfsContents<'_>,
        argv: &[String],
        seccomp: Option<&OciSeccomp>,
    ) -> Result<Self> {
        let bundle = Self::without_config(dir, contents)?;
        bundle.write_config(&config_json(argv, seccomp))?;
        Ok(bundle)
    }

    /// Lays out `dir`'s rootfs with `contents`, leaving the config to the
    /// caller (`runc spec`, or none for an image).
    pub fn without_config(dir: &Path, contents: &RootfsContents<'_>) -> Result<Self> {
        let bundle = Self {
            dir: dir.to_path_buf(),
        };
        let rootfs = bundle.rootfs();
        for subdir in ["proc", "dev", "sys", "tmp", "bin"] {
            fs::create_dir_all(rootfs.join(subdir))
                .with_context(|| format!("creating {}", rootfs.join(subdir).display()))?;
        }
        fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))?;
        let mut files = contents.files.clone();
        if let Some(busybox) = contents.busybox {
            files.push((busybox, "/bin/busybox".into()));
            for applet in BUSYBOX_APPLETS {
                let link = rootfs.join("bin").join(applet);
                std::os::unix::fs::symlink("busybox", &link)
                    .with_context(|| format!("linking {}", link.display()))?;
            }
        }
        for (source, guest_path) in files {
            let target = rootfs.join(guest_path.trim_start_matches('/'));
            fs::copy(source, &target)
                .with_context(|| format!("copying {} to {}", source.display(), target.display()))?;
        }
        Ok(bundle)
    }

    /// Writes `config` as the bundle's `config.json`.
    pub fn write_config(&self, config: &Value) -> Result<()> {
        let text = serde_json::to_string_pretty(config).context("serializing config.json")?;
        fs::write(self.config_path(), text).context("writing config.json")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }
}

/// The config of a server container: `config_json`'s, on the existing
/// root at `rootfs` (the Debian one, not a copy) and in the host's
/// network namespace, as `docker run --network host` leaves it out.
pub fn host_network_config(argv: &[String], seccomp: Option<&OciSeccomp>, rootfs: &Path) -> Value {
    let mut config = config_json(argv, seccomp);
    config["root"]["path"] = json!(rootfs);
    if let Some(namespaces) = config["linux"]["namespaces"].as_array_mut() {
        namespaces.retain(|ns| ns["type"] != "network");
    }
    config
}

/// The OCI runtime config for `argv`, in the shape of Docker's.
pub fn config_json(argv: &[String], seccomp: Option<&OciSeccomp>) -> Value {
    let caps: Vec<&str> = DOCKER_DEFAULT_CAPS.to_vec();
    let mut linux = json!({
        "namespaces": [
            {"type": "pid"},
            {"type": "network"},
            {"type": "ipc"},
            {"type": "uts"},
            {"type": "mount"},
            {"type": "cgroup"}
        ],
        "maskedPaths": [
            "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
            "/proc/sched_debug", "/proc/scsi", "/sys/firmware"
        ],
        "readonlyPaths": [
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
            "/proc/sysrq-trigger"
        ]
    });
    if let Some(seccomp) = seccomp {
        linux["seccomp"] = serde_json::to_value(seccomp).expect("seccomp serializes");
    }
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": argv,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            // Docker leaves no_new_privs off unless asked.
            "noNewPrivileges": false
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "oxbox-bench",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": linux
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker_seccomp::OciSyscall;

    fn seccomp() -> OciSeccomp {
        OciSeccomp {
            default_action: "SCMP_ACT_ERRNO".into(),
            default_errno_ret: Some(38),
            architectures: vec!["SCMP_ARCH_X86_64".into()],
            flags: vec![],
            syscalls: vec![OciSyscall {
                names: vec!["getppid".into()],
                action: "SCMP_ACT_ALLOW".into(),
                errno_ret: None,
                args: vec![],
            }],
        }
    }

    #[test]
    fn config_runs_argv_without_terminal_under_the_profile() {
        let argv = vec!["/getppid".to_string(), "1000".to_string()];
        let config = config_json(&argv, Some(&seccomp()));
        assert_eq!(config["process"]["args"], json!(["/getppid", "1000"]));
        assert_eq!(config["process"]["terminal"], false);
        assert_eq!(config["root"]["path"], "rootfs");
        assert_eq!(config["linux"]["seccomp"]["defaultErrnoRet"], 38);
        assert_eq!(
            config["linux"]["seccomp"]["syscalls"][0]["names"],
            json!(["getppid"])
        );
        let bounding = config["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap();
        assert_eq!(bounding.len(), DOCKER_DEFAULT_CAPS.len());
        assert!(bounding.contains(&json!("CAP_NET_RAW")));
    }

    #[test]
    fn server_config_shares_the_host_network_on_the_given_root() {
        let config = host_network_config(&["/x".to_string()], None, Path::new("/srv/debian"));
        assert_eq!(config["root"]["path"], "/srv/debian");
        let namespaces = config["linux"]["namespaces"].as_array().unwrap();
        assert!(namespaces.iter().all(|ns| ns["type"] != "network"));
        assert!(namespaces.iter().any(|ns| ns["type"] == "pid"));
    }

    #[test]
    fn config_without_profile_has_no_seccomp() {
        let config = config_json(&["/x".to_string()], None);
        assert!(config["linux"].get("seccomp").is_none());
    }

    #[test]
    fn bundle_holds_the_binary_mount_points_and_config() {
        let tmp = tempfile::tempdir().unwrap();
        let binary = tmp.path().join("prog");
        fs::write(&binary, b"\x7fELF").unwrap();
        let dir = tmp.path().join("bundle");
        fs::create_dir(&dir).unwrap();
        let contents = RootfsContents {
            files: vec![(&binary, "/getppid".into())],
            busybox: Some(&binary),
        };
        let argv = ["/getppid".to_string(), "5".into()];
        let bundle = Bundle::create(&dir, &contents, &argv, Some(&seccomp())).unwrap();
        for p in ["proc", "dev", "sys", "tmp", "getppid", "bin/busybox"] {
            assert!(bundle.rootfs().join(p).exists(), "{p} missing");
        }
        let sh = fs::read_link(bundle.rootfs().join("bin/sh")).unwrap();
        assert_eq!(sh, Path::new("busybox"));
        let config: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["process"]["args"], json!(["/getppid", "5"]));
    }
}
