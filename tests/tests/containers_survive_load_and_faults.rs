//! Load and faults: many containers at once, and the runtime's processes
//! killed at awkward moments, leave nothing behind.
//!
//! - 50 `oxbox do` containers started together all run and exit with
//!   their own status, and no process of theirs outlives them;
//! - `kill -9` of the `oxbox do` monitor takes the whole container with it
//!   (pid 1, its children, a grandchild sleeping in the background);
//! - `kill -9` of the monitor at moments all through a start with a
//!   memory limit leaves no process and no host mount, and the next start
//!   sweeps the cgroups the killed monitors could not remove;
//! - a container stopped and continued from the host (`kill -STOP`,
//!   `kill -CONT`) in the middle of a sleep finishes it normally;
//! - `oxbox create`, then `kill -9` of the container's process: `state`
//!   says stopped, `delete` removes it, `list` no longer shows it and no
//!   process is left;
//! - the same after `kill -9` of a started container's pid 1, and the id
//!   can be created, started and deleted again.
//!
//! The container's processes are found on the host by their command line:
//! each kernel process carries its boot record, which names the
//! container's hostname, made unique per test.

use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use oxbox_integration::{
    Run, eventually, oxbox_bin, require_root, rootfs, skip_without_oxbox, unique,
};

/// Host pids of the processes whose boot record names `hostname`.
fn container_processes(hostname: &str) -> Vec<u32> {
    let needle = format!("hostname={hostname};");
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

#[test]
fn many_containers_started_together_all_run_and_exit() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    const CONTAINERS: usize = 50;
    let base = unique("load");
    let runs: Vec<std::thread::JoinHandle<_>> = (0..CONTAINERS)
        .map(|i| {
            let name = format!("{base}-{i}");
            std::thread::spawn(move || {
                let script = format!("echo $(hostname) $$; sleep 0.2; exit {}", i % 7 + 1);
                Run::new(["sh", "-c", script.as_str()])
                    .hostname(&name)
                    .oxbox()
            })
        })
        .collect();
    for (i, run) in runs.into_iter().enumerate() {
        let o = run.join().expect("a container thread panicked");
        assert_eq!(o.status as usize, i % 7 + 1, "{}", o.describe());
        assert_eq!(o.stdout(), format!("{base}-{i} 1\n"), "{}", o.describe());
    }
    for i in 0..CONTAINERS {
        let left = container_processes(&format!("{base}-{i}"));
        assert!(left.is_empty(), "container {i} left processes {left:?}");
    }
}

#[test]
fn killing_the_monitor_takes_the_container_with_it() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    let name = unique("monitor-kill");
    let mut monitor = Command::new(oxbox_bin())
        .arg("do")
        .arg("--rootfs")
        .arg(rootfs().path())
        .args(["--hostname", &name, "--"])
        .args(["sh", "-c", "(sleep 600 &); sleep 600 & sleep 600; wait"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("starting oxbox do");
    // pid 1, its two sleeps and the orphaned one's subshell.
    let started = eventually(Duration::from_secs(30), || {
        container_processes(&name).len() >= 4
    });
    let before = container_processes(&name);
    let _ = Command::new("kill")
        .args(["-KILL", &monitor.id().to_string()])
        .status();
    let _ = monitor.wait();
    assert!(started, "the container never started: {before:?}");
    let gone = eventually(Duration::from_secs(30), || {
        container_processes(&name).is_empty()
    });
    let left = container_processes(&name);
    for pid in &left {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(
        gone,
        "processes outlived their monitor: {left:?} (of {before:?})"
    );
}

#[test]
fn a_container_stopped_and_continued_finishes_its_sleep() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    let name = unique("stop-cont");
    let mut monitor = Command::new(oxbox_bin())
        .arg("do")
        .arg("--rootfs")
        .arg(rootfs().path())
        .args(["--hostname", &name, "--", "sleep", "3"])
        .stdin(Stdio::null())
        .spawn()
        .expect("starting oxbox do");
    let started = eventually(Duration::from_secs(30), || {
        !container_processes(&name).is_empty()
    });
    for signal in ["-STOP", "-CONT"] {
        for pid in container_processes(&name) {
            let _ = Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
        }
    }
    let status = monitor.wait().unwrap();
    assert!(started, "the container never started");
    assert!(
        status.success(),
        "stopped and continued during its sleep, the container ended with {status}"
    );
}

/// `oxbox --root <root> args...`, its exit status and stdout.
fn runtime(root: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new("timeout")
        .args(["-s", "KILL", "60"])
        .arg(oxbox_bin())
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A bundle under a fresh directory whose container, named by its
/// hostname `id` so that its processes can be found, runs `args`; the
/// state root beside it.
struct Bundle {
    dir: std::path::PathBuf,
    root: std::path::PathBuf,
    path: String,
    id: String,
}

impl Bundle {
    fn new(tag: &str, args: &[&str]) -> Bundle {
        let dir = std::env::temp_dir().join(unique(&format!("oxbox-{tag}")));
        let (root, bundle) = (dir.join("state"), dir.join("bundle"));
        fs::create_dir_all(&bundle).unwrap();
        let path = bundle.to_str().unwrap().to_owned();
        assert_eq!(runtime(&root, &["spec", "--bundle", &path]).0, 0);
        let config = bundle.join("config.json");
        let id = unique(tag);
        let quoted: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
        let text = fs::read_to_string(&config).unwrap();
        let replaced = text
            .replace(
                "\"path\": \"rootfs\"",
                &format!("\"path\": {:?}", rootfs().path().display().to_string()),
            )
            .replace(
                "\"hostname\": \"oxbox\"",
                &format!("\"hostname\": \"{id}\""),
            )
            .replace(
                "\"args\": [\n      \"sh\"\n    ]",
                &format!("\"args\": [{}]", quoted.join(", ")),
            );
        for part in [id.as_str(), &quoted.join(", ")] {
            assert!(replaced.contains(part), "{part} not put in {text}");
        }
        fs::write(&config, replaced).unwrap();
        Bundle {
            dir,
            root,
            path,
            id,
        }
    }

    /// `oxbox create` (its stdio the container's, not a pipe to wait on);
    /// the host pid of the container's first process.
    fn create(&self) -> String {
        let pid_file = self.dir.join("pid");
        let created = Command::new(oxbox_bin())
            .arg("--root")
            .arg(&self.root)
            .args(["create", "--bundle", &self.path, "--pid-file"])
            .arg(&pid_file)
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(created.success(), "oxbox create failed");
        fs::read_to_string(&pid_file).unwrap().trim().to_string()
    }

    /// `oxbox VERB ID`: exit status and stdout.
    fn verb(&self, verb: &str) -> (i32, String) {
        runtime(&self.root, &[verb, &self.id])
    }

    /// Waits (bounded) until `state` says `status`.
    fn reaches(&self, status: &str) -> bool {
        let quoted = format!("\"{status}\"");
        eventually(Duration::from_secs(30), || {
            self.verb("state").1.contains(&quoted)
        })
    }

    /// `kill -9` of `pid`, then: `state` says stopped, `delete` removes
    /// the container, `list` no longer shows it and no process is left.
    fn kill_and_clean_up(&self, pid: &str) {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
        let stopped = self.reaches("stopped");
        let (code, text) = self.verb("state");
        assert!(stopped, "state after kill -9 ({code}): {text}");
        assert_eq!(self.verb("delete").0, 0, "delete failed");
        assert_ne!(self.verb("state").0, 0, "the state of a deleted container");
        let (code, list) = runtime(&self.root, &["list"]);
        assert_eq!(code, 0);
        assert!(
            !list.contains(&self.id),
            "list still shows {}:\n{list}",
            self.id
        );
        let gone = eventually(Duration::from_secs(30), || {
            container_processes(&self.id).is_empty()
        });
        let left = container_processes(&self.id);
        assert!(gone, "processes left behind: {left:?}");
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = runtime(&self.root, &["delete", "--force", &self.id]);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_created_container_killed_with_sigkill_can_be_deleted() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    let bundle = Bundle::new("kill9", &["sleep", "600"]);
    let pid = bundle.create();
    bundle.kill_and_clean_up(&pid);
}

#[test]
fn a_started_containers_pid_1_killed_with_sigkill_leaves_its_id_reusable() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    let bundle = Bundle::new("kill9-running", &["sh", "-c", "sleep 600 & sleep 600"]);
    let pid = bundle.create();
    assert_eq!(bundle.verb("start").0, 0, "start failed");
    let running = bundle.reaches("running");
    assert!(running, "never running: {:?}", bundle.verb("state"));
    // pid 1 (sh, which execs the last sleep) and the background sleep.
    let both_sleeping = eventually(Duration::from_secs(30), || {
        container_processes(&bundle.id).len() >= 2
    });
    assert!(both_sleeping, "{:?}", container_processes(&bundle.id));
    bundle.kill_and_clean_up(&pid);
    // The next container of that id trips over nothing.
    let pid = bundle.create();
    assert_eq!(bundle.verb("start").0, 0, "the second start failed");
    assert!(bundle.reaches("running"), "{:?}", bundle.verb("state"));
    bundle.kill_and_clean_up(&pid);
}

/// The cgroup directories an `oxbox do` monitor with host pid `pid`
/// made, in every hierarchy (v1 controllers and the unified one).
fn monitor_cgroups(pid: u32) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut roots = vec![std::path::PathBuf::from("/sys/fs/cgroup")];
    roots.extend(
        fs::read_dir("/sys/fs/cgroup")
            .unwrap()
            .flatten()
            .map(|e| e.path()),
    );
    for root in roots {
        let path = root.join(format!("oxbox/do-{pid}"));
        if path.is_dir() {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_monitor_killed_at_any_moment_of_a_start_leaves_nothing_the_next_start_trips_over() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    let base = unique("start-kill");
    let rootfs_path = rootfs().path().display().to_string();
    let mut killed = Vec::new();
    for (i, delay_ms) in [0u64, 2, 5, 10, 20, 40, 80, 160, 320]
        .into_iter()
        .enumerate()
    {
        let name = format!("{base}-{i}");
        let mut monitor = Command::new(oxbox_bin())
            .args(["do", "-m", "64m", "--rootfs", &rootfs_path])
            .args([
                "--hostname",
                &name,
                "--",
                "sh",
                "-c",
                "sleep 600 & sleep 600",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting oxbox do");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = Command::new("kill")
            .args(["-KILL", &monitor.id().to_string()])
            .status();
        let _ = monitor.wait();
        killed.push((name, monitor.id()));
    }
    for (name, _) in &killed {
        let gone = eventually(Duration::from_secs(30), || {
            container_processes(name).is_empty()
        });
        let left = container_processes(name);
        for pid in &left {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        assert!(gone, "{name}: processes outlived their monitor: {left:?}");
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&rootfs_path),
        "a container's mount reached the host:\n{mounts}"
    );
    // The next start with a limit sweeps what the killed ones left.
    let next = Command::new(oxbox_bin())
        .args(["do", "-m", "64m", "--rootfs", &rootfs_path, "--", "true"])
        .stdin(Stdio::null())
        .output()
        .expect("starting oxbox do");
    assert!(next.status.success(), "the next start: {next:?}");
    for (name, pid) in &killed {
        let left = monitor_cgroups(*pid);
        assert!(
            left.is_empty(),
            "{name}: cgroups left after the next start: {left:?}"
        );
    }
}
