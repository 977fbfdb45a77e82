//! Shared helpers for the end-to-end tests: the `oxbox` binary, a stand-in
//! kernel image, and parsing of its report.
//!
//! Until the real kernel image exists, containers run
//! `stand_in_kernel.c`: oxbox execs it exactly as it execs the kernel, and
//! it prints what it sees from inside (see the file for its commands).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// What every container's `/dev` holds, sorted: the host's harmless
/// devices (and `/dev/tty`: this host has the node), a private devpts with
/// `/dev/ptmx` pointing into it, and `/dev/shm`.
pub const CONTAINER_DEV: &str = "full,null,ptmx,pts,random,shm,tty,urandom,zero";

/// A command running the `oxbox` binary under test, with the stand-in
/// kernel when one could be built.
pub fn oxbox() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oxbox"));
    cmd.env_remove("OXBOX_LOG").env_remove("OXBOX_STATS");
    if let Some(kernel) = stand_in_kernel() {
        cmd.env("OXBOX_KERNEL", kernel);
    }
    cmd
}

/// The stand-in kernel, compiled once per test binary with `gcc -static`
/// into cargo's scratch directory for integration tests.
pub fn stand_in_kernel() -> Option<&'static Path> {
    static KERNEL: OnceLock<Option<PathBuf>> = OnceLock::new();
    KERNEL
        .get_or_init(|| {
            let kernel = Path::new(env!("CARGO_TARGET_TMPDIR")).join("oxbox-stand-in-kernel");
            // Build under a private name, then rename: another test binary
            // may be running the previous build.
            let building = kernel.with_extension(std::process::id().to_string());
            let source =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/stand_in_kernel.c");
            let status = Command::new("gcc")
                .args(["-static", "-O1", "-Wall", "-o"])
                .arg(&building)
                .arg(&source)
                .status()
                .ok()?;
            (status.success() && std::fs::rename(&building, &kernel).is_ok()).then_some(kernel)
        })
        .as_deref()
}

/// Whether end-to-end container tests can run here: they need root, and
/// skip with a message without it. As root, a missing C toolchain for the
/// stand-in kernel is a failure, not a skip (CI installs it).
pub fn can_run_containers() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: container tests need root");
        return false;
    }
    assert!(
        stand_in_kernel().is_some(),
        "cannot build the stand-in kernel with `gcc -static`: install gcc and libc6-dev \
         (scripts/install-deps.sh)"
    );
    true
}

/// Runs `oxbox` with `args` and returns its output.
pub fn run(args: &[&str]) -> Output {
    oxbox().args(args).output().expect("run oxbox")
}

/// stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The `key=value` lines of the stand-in's output; a line holding several
/// space-separated pairs gives one entry each.
pub fn report(output: &Output) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in stdout(output).lines() {
        let pairs: Vec<&str> = if line.starts_with("env[") || line.starts_with("argv[") {
            vec![line]
        } else {
            line.split(' ').collect()
        };
        for pair in pairs {
            if let Some((k, v)) = pair.split_once('=') {
                map.insert(k.to_owned(), v.to_owned());
            }
        }
    }
    map
}

/// The guest environment the stand-in printed, in order.
pub fn guest_env(output: &Output) -> Vec<String> {
    stdout(output)
        .lines()
        .filter(|l| l.starts_with("env["))
        .filter_map(|l| Some(l.split_once('=')?.1.to_owned()))
        .collect()
}

/// Asserts oxbox failed as Docker does for its own errors: status 125 and
/// one line `oxbox: error: ...` on stderr.
pub fn assert_oxbox_error(output: &Output, needle: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(125), "stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("oxbox: error: "), "{err}");
    assert!(lines[0].contains(needle), "expected {needle:?} in: {err}");
}

/// A running `oxbox do -- wait-signal` container, killed (with its
/// monitor) when dropped, so that a failing test leaves nothing behind.
pub struct WaitingContainer {
    /// The `oxbox` monitor process.
    pub monitor: std::process::Child,
}

impl WaitingContainer {
    /// Starts the container and waits until its pid 1 has installed its
    /// signal handlers.
    pub fn start() -> Self {
        use std::io::BufRead;
        let monitor = oxbox()
            .args(["do", "--", "wait-signal"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn oxbox");
        let mut container = Self { monitor };
        let mut line = String::new();
        let stdout = container.monitor.stdout.as_mut().expect("piped stdout");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read from the container");
        assert_eq!(line, "ready\n");
        container
    }

    /// The monitor's pid.
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.monitor.id() as i32)
    }

    /// Sends `signal` to the monitor and returns its exit status.
    pub fn signal_and_wait(
        &mut self,
        signal: nix::sys::signal::Signal,
    ) -> std::process::ExitStatus {
        nix::sys::signal::kill(self.pid(), signal).expect("signal oxbox");
        self.monitor.wait().expect("wait for oxbox")
    }
}

impl Drop for WaitingContainer {
    fn drop(&mut self) {
        if let Ok(None) = self.monitor.try_wait() {
            let _ = self.monitor.kill();
            let _ = self.monitor.wait();
        }
    }
}

/// Polls `condition` for up to two seconds.
pub fn eventually(condition: impl Fn() -> bool) -> bool {
    (0..200).any(|_| {
        if condition() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        false
    })
}
