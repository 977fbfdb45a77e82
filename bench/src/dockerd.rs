//! A private dockerd for the `docker run` lifecycle.
//!
//! Everything lives in one directory of the harness's scratch area (data
//! root, exec root, socket, config, log) with the vfs storage driver and
//! no iptables or bridge, so the daemon touches nothing of the host's.
//! oxbox, runsc and crun are registered next to runc, Docker's default, in
//! a `daemon.json` (runsc needs runtime arguments, which `--add-runtime`
//! cannot give). Dropping [`Dockerd`] removes every container, stops the
//! daemon and its containerd, kills any process still started from the
//! directory, unmounts what is left under it and removes it: also when a
//! workload failed or the harness panicked.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use crate::bundle::{Bundle, RootfsContents};
use crate::runtime::{RuntimeKind, find_in_path, kill_all, output_of, process_tree, processes};

/// The Debian docker client, which matches the daemon (a newer client may
/// sit earlier in PATH and refuse the older API).
pub const DOCKER: &str = "/usr/bin/docker";
/// The image every `docker run` starts.
pub const IMAGE: &str = "oxbox-bench/true:1";
/// How long the daemon may take to answer, and to stop.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// runsc's arguments under Docker: the platform of the bare runs, and no
/// network stack of its own (`docker run --network none` hands it no
/// interfaces, and runsc refuses to run in the root network namespace).
pub const RUNSC_ARGS: &[&str] = &["--platform=ptrace", "--network=none"];

/// A running private dockerd holding the benchmark image.
pub struct Dockerd {
    dir: PathBuf,
    daemon: Child,
    /// The runtimes registered with it, by the name `--runtime` takes.
    runtimes: Vec<RuntimeKind>,
}

impl Dockerd {
    /// Starts dockerd in `dir` with `oxbox` and the installed runtimes
    /// registered, waits until it answers and imports `image_root` as
    /// [`IMAGE`].
    pub fn start(dir: &Path, oxbox: &Path, image_root: &RootfsContents<'_>) -> Result<Self> {
        let dockerd = find_in_path("dockerd").context("dockerd not installed")?;
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let (config, runtimes) = daemon_config(dir, oxbox);
        let config_path = dir.join("daemon.json");
        fs::write(&config_path, serde_json::to_string_pretty(&config)?)?;
        let log = fs::File::create(dir.join("dockerd.log"))?;
        let daemon = Command::new(dockerd)
            .arg(format!("--config-file={}", config_path.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting dockerd")?;
        // From here on, Drop cleans up whatever fails.
        let dockerd = Self {
            dir: dir.to_path_buf(),
            daemon,
            runtimes,
        };
        dockerd.wait_until_up()?;
        dockerd.import(image_root)?;
        Ok(dockerd)
    }

    /// Whether `kind` was registered (installed when the daemon started).
    pub fn has_runtime(&self, kind: RuntimeKind) -> bool {
        self.runtimes.contains(&kind)
    }

    /// The docker client, talking to this daemon.
    pub fn client(&self) -> Command {
        let mut c = Command::new(DOCKER);
        c.arg("-H").arg(host(&self.dir)).stdin(Stdio::null());
        c
    }

    /// The client killed after `limit`, for the harness's own calls (the
    /// timed runs have their own watchdog): a daemon stuck on a broken
    /// runtime must not hang the clean-up.
    fn bounded_client(&self, limit: Duration) -> Command {
        let mut c = Command::new("timeout");
        c.args(["-s", "KILL"])
            .arg(limit.as_secs().to_string())
            .arg(DOCKER)
            .arg("-H")
            .arg(host(&self.dir))
            .stdin(Stdio::null());
        c
    }

    /// `docker run --rm` of [`IMAGE`]'s `argv` on runtime `kind`, named
    /// `name`, and the command that removes it if the run is killed.
    pub fn run_command(
        &self,
        kind: RuntimeKind,
        name: &str,
        argv: &[String],
    ) -> (Command, Command) {
        let mut run = self.client();
        // `-i` (stdin an empty file, see `redirect_output`) for every
        // runtime: without it the shim hands the container the host's
        // `/dev/null`, which runsc chowns to its sandbox user `nobody`.
        run.args(["run", "-i", "--rm", "--network", "none", "--runtime"])
            .arg(kind.name())
            .arg("--name")
            .arg(name)
            .arg(IMAGE)
            .args(argv);
        let mut remove = self.bounded_client(STOP_TIMEOUT);
        remove.args(["rm", "--force", name]);
        (run, remove)
    }

    fn wait_until_up(&self) -> Result<()> {
        let deadline = Instant::now() + DAEMON_TIMEOUT;
        loop {
            let up = self
                .bounded_client(STOP_TIMEOUT)
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if up {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("dockerd did not come up: {}", self.log_tail());
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Imports a root laid out like the bundles' as [`IMAGE`].
    fn import(&self, contents: &RootfsContents<'_>) -> Result<()> {
        let image = Bundle::without_config(&self.dir.join("image"), contents)?;
        let tar = self.dir.join("image.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(image.rootfs())
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .context("running tar")?;
        if !status.success() {
            bail!("tar of the image root failed: {status}");
        }
        output_of(
            self.bounded_client(DAEMON_TIMEOUT)
                .arg("import")
                .arg(&tar)
                .arg(IMAGE),
            "docker import",
        )?;
        Ok(())
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    /// Processes started from the daemon's directory that outlived it
    /// (containerd shims are reparented away from the daemon's tree, and
    /// runtimes they started are under them): killed with their
    /// descendants.
    fn strays(&self) -> Vec<u32> {
        let needle = self.dir.to_string_lossy().into_owned();
        processes()
            .filter_map(|(pid, dir)| {
                let cmdline = fs::read(dir.join("cmdline")).ok()?;
                String::from_utf8_lossy(&cmdline)
                    .contains(&needle)
                    .then_some(pid)
            })
            .filter(|&pid| pid != std::process::id())
            .collect()
    }

    /// Unmounts everything still mounted under the directory, deepest
    /// first (containers' `/dev/shm`, the daemon's own mounts).
    fn unmount_leftovers(&self) {
        let prefix = self.dir.to_string_lossy().into_owned();
        let mut mounts = mount_points_under(
            &fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
            &prefix,
        );
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for mount in mounts {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&mount)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Ok(output) = self
            .bounded_client(STOP_TIMEOUT)
            .args(["ps", "-aq"])
            .output()
        {
            let ids = String::from_utf8_lossy(&output.stdout).into_owned();
            for id in ids.split_whitespace() {
                let _ = self
                    .bounded_client(STOP_TIMEOUT)
                    .args(["rm", "--force", id])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let tree = process_tree(self.daemon.id());
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.daemon.id().to_string())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.daemon.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(100));
        }
        // The daemon, its containerd and any shim, if still there.
        kill_all(&tree);
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let strays: Vec<u32> = self.strays().into_iter().flat_map(process_tree).collect();
        kill_all(&strays);
        self.unmount_leftovers();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `unix://DIR/docker.sock`.
fn host(dir: &Path) -> String {
    format!("unix://{}", dir.join("docker.sock").display())
}

/// The daemon's whole configuration, as `daemon.json`: everything under
/// `dir`, vfs storage, no iptables or bridge, cgroupfs; oxbox and
/// whichever of runsc and crun are installed registered as runtimes. Also
/// every runtime `docker run --runtime` can then name (runc is Docker's
/// own).
fn daemon_config(dir: &Path, oxbox: &Path) -> (Value, Vec<RuntimeKind>) {
    let mut registered = Map::new();
    registered.insert("oxbox".into(), json!({"path": oxbox}));
    let mut runtimes = vec![RuntimeKind::Runc, RuntimeKind::Oxbox];
    if let Some(runsc) = find_in_path("runsc") {
        registered.insert(
            "runsc".into(),
            json!({"path": runsc, "runtimeArgs": RUNSC_ARGS}),
        );
        runtimes.push(RuntimeKind::Runsc);
    }
    if let Some(crun) = find_in_path("crun") {
        registered.insert("crun".into(), json!({"path": crun}));
        runtimes.push(RuntimeKind::Crun);
    }
    let config = json!({
        "data-root": dir.join("data"),
        "exec-root": dir.join("exec"),
        "pidfile": dir.join("docker.pid"),
        "hosts": [host(dir)],
        "storage-driver": "vfs",
        "iptables": false,
        "ip6tables": false,
        "bridge": "none",
        "exec-opts": ["native.cgroupdriver=cgroupfs"],
        "runtimes": registered,
    });
    (config, runtimes)
}

/// The mount points (field 5 of mountinfo) at or under `prefix`.
fn mount_points_under(mountinfo: &str, prefix: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .filter(|point| {
            point
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_registers_oxbox_and_runsc_with_its_arguments() {
        let (config, runtimes) = daemon_config(Path::new("/d"), Path::new("/x/oxbox"));
        assert_eq!(config["runtimes"]["oxbox"]["path"], "/x/oxbox");
        assert_eq!(config["hosts"], json!(["unix:///d/docker.sock"]));
        assert_eq!(config["data-root"], "/d/data");
        assert!(runtimes.contains(&RuntimeKind::Runc));
        assert!(runtimes.contains(&RuntimeKind::Oxbox));
        if runtimes.contains(&RuntimeKind::Runsc) {
            assert_eq!(
                config["runtimes"]["runsc"]["runtimeArgs"],
                json!(RUNSC_ARGS)
            );
        }
        assert!(!runtimes.contains(&RuntimeKind::Native));
    }

    #[test]
    fn leftover_mounts_are_found_under_the_directory_only() {
        let mountinfo = "\
36 25 0:32 / /tmp/d/exec/shm rw - tmpfs shm rw
37 25 0:33 / /tmp/d rw - tmpfs x rw
38 25 0:34 / /tmp/dd/x rw - tmpfs x rw
39 25 0:35 / /proc rw - proc proc rw
";
        assert_eq!(
            mount_points_under(mountinfo, "/tmp/d"),
            ["/tmp/d/exec/shm", "/tmp/d"]
        );
    }
}
