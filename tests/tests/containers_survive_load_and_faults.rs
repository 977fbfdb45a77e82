//! Load and faults: many containers at once, and the runtime's processes
//! killed at awkward moments, leave nothing behind.
//!
//! - 24 `oxbox do` containers started together all run and exit with
//!   their own status, and no process of theirs outlives them;
//! - `kill -9` of the `oxbox do` monitor takes the whole container with it
//!   (pid 1, its children, a grandchild sleeping in the background);
//! - a container stopped and continued from the host (`kill -STOP`,
//!   `kill -CONT`) in the middle of a sleep finishes it normally;
//! - `oxbox create`, then `kill -9` of the container's process: `state`
//!   says stopped, `delete` removes it, `list` no longer shows it and no
//!   process is left.
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
    const CONTAINERS: usize = 24;
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

#[test]
fn a_created_container_killed_with_sigkill_can_be_deleted() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    let dir = std::env::temp_dir().join(unique("oxbox-kill9"));
    let (root, bundle) = (dir.join("state"), dir.join("bundle"));
    fs::create_dir_all(&bundle).unwrap();
    let bundle_arg = bundle.to_str().unwrap();
    assert_eq!(runtime(&root, &["spec", "--bundle", bundle_arg]).0, 0);
    let config = bundle.join("config.json");
    let id = unique("kill9");
    let text = fs::read_to_string(&config)
        .unwrap()
        .replace(
            "\"path\": \"rootfs\"",
            &format!("\"path\": \"{}\"", rootfs().path().display()),
        )
        .replace(
            "\"hostname\": \"oxbox\"",
            &format!("\"hostname\": \"{id}\""),
        );
    assert!(text.contains(&id), "no hostname to replace in {text}");
    fs::write(&config, text).unwrap();
    let pid_file = dir.join("pid");
    // create's stdio stays with the container: not a pipe to wait on.
    let created = Command::new(oxbox_bin())
        .arg("--root")
        .arg(&root)
        .args(["create", "--bundle", bundle_arg, "--pid-file"])
        .arg(&pid_file)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(created.success(), "oxbox create failed");
    let pid = fs::read_to_string(&pid_file).unwrap().trim().to_string();
    let _ = Command::new("kill").args(["-KILL", &pid]).status();
    let state = |id: &str| runtime(&root, &["state", id]);
    let stopped = eventually(Duration::from_secs(30), || {
        state(&id).1.contains("\"stopped\"")
    });
    let (code, text) = state(&id);
    assert!(stopped, "state after kill -9 ({code}): {text}");
    assert_eq!(runtime(&root, &["delete", &id]).0, 0, "delete failed");
    assert_ne!(state(&id).0, 0, "the state of a deleted container");
    let (code, list) = runtime(&root, &["list"]);
    assert_eq!(code, 0);
    assert!(!list.contains(&id), "list still shows {id}:\n{list}");
    let left = container_processes(&id);
    assert!(left.is_empty(), "processes left behind: {left:?}");
    let _ = fs::remove_dir_all(&dir);
}
