//! Container engines driving oxbox: a private dockerd (with its own
//! containerd) started for the tests, with oxbox registered as a runtime
//! next to runc, Docker's default, which serves as the oracle.
//!
//! Everything lives in one temporary directory (data root, exec root,
//! socket) with the vfs storage driver and no iptables or bridge, so the
//! daemon touches nothing of the host's; dropping [`Dockerd`] stops it and
//! removes the directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::run::oxbox_bin;

/// The Debian docker client, which matches the daemon (a newer client may
/// sit earlier in PATH).
const DOCKER: &str = "/usr/bin/docker";
/// Longest a single engine command may take.
const COMMAND_TIMEOUT: &str = "120";

/// A dockerd of the tests' own.
pub struct Dockerd {
    dir: PathBuf,
    daemon: Child,
}

impl Dockerd {
    /// Starts dockerd with oxbox registered as runtime `oxbox`, and waits
    /// until it answers.
    pub fn start() -> Dockerd {
        let dir = std::env::temp_dir().join(format!("oxbox-dockerd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let daemon = Command::new("dockerd")
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=vfs",
                "--exec-opt=native.cgroupdriver=cgroupfs",
            ])
            .arg(format!("--data-root={}", dir.join("data").display()))
            .arg(format!("--exec-root={}", dir.join("exec").display()))
            .arg(format!("--pidfile={}", dir.join("docker.pid").display()))
            .arg(format!(
                "--host=unix://{}",
                dir.join("docker.sock").display()
            ))
            .arg(format!("--add-runtime=oxbox={}", oxbox_bin().display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("dockerd (Debian's docker.io) must be installed: scripts/install-deps.sh");
        let dockerd = Dockerd { dir, daemon };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !dockerd.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "dockerd did not come up; its log:\n{}",
                dockerd.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        dockerd
    }

    /// The daemon's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// Runs the docker client against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_with_input(args, b"")
    }

    /// Runs the docker client with `input` on its stdin.
    pub fn docker_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        let host = format!("unix://{}", self.dir.join("docker.sock").display());
        run_with_input(
            Command::new("timeout")
                .args(["-s", "KILL", COMMAND_TIMEOUT, DOCKER, "-H", &host])
                .args(args),
            input,
        )
    }

    /// Runs containerd's `ctr` against the daemon's containerd, in
    /// namespace `oxbox-tests`.
    pub fn ctr(&self, args: &[&str]) -> Output {
        let socket = self.dir.join("exec/containerd/containerd.sock");
        run_with_input(
            Command::new("timeout")
                .args([
                    "-s",
                    "KILL",
                    COMMAND_TIMEOUT,
                    "ctr",
                    "-n",
                    "oxbox-tests",
                    "-a",
                ])
                .arg(socket)
                .args(args),
            b"",
        )
    }

    /// Imports directory `rootfs` as image `name` (`docker import` of its
    /// tar, a locally built image).
    pub fn import(&self, rootfs: &Path, name: &str) {
        let tar = self.dir.join("rootfs.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success(), "tar of {}", rootfs.display());
        let out = self.docker(&["import", tar.to_str().unwrap(), name]);
        assert_success(&out, "docker import");
    }

    /// A file path inside the daemon's temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.daemon.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.daemon.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.daemon.kill();
                let _ = self.daemon.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Mounts the daemon may have left (containers' /dev/shm).
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -o ' {}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l",
                self.dir.display()
            ))
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    let _ = writer.join();
    output
}

/// Panics with the command's output unless it succeeded.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
