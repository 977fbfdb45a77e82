//! Resource limits of `oxbox do` (`--pids-limit`, `-m/--memory`,
//! `--memory-swap`, `--cpus`)
//! hold guests that try to take the machine:
//!
//! - a fork bomb under `--pids-limit` gets EAGAIN from fork, its shell
//!   gives up, and a second container started meanwhile runs normally;
//! - a memory hog under `-m` is killed by the memory cgroup: exit 137 and
//!   a message that says it ran out of memory, as Docker reports it;
//! - `--cpus` sets the container's CFS quota and a busy loop is throttled
//!   (the cgroup's own `nr_throttled` count, not a timing);
//! - a descriptor hog gets EMFILE for every kind of new descriptor at its
//!   limit while another container and the host open files as usual;
//! - `--memory-swap` is set where the host accounts swap, and said to be
//!   ignored where it does not, as Docker says it;
//! - bad values are refused with Docker's messages and status 125;
//! - each container's cgroup is gone once it exits.
//!
//! The container's cgroup is `/oxbox/do-<monitor pid>` in every hierarchy,
//! found here from the host side.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use oxbox_integration::{
    Watchdog, eventually, oxbox_bin, require_root, rootfs, skip_without_oxbox,
};

/// `oxbox do --rootfs <test rootfs> LIMITS -- sh -c SCRIPT`.
fn container(limits: &[&str], script: &str) -> Command {
    let mut cmd = Command::new(oxbox_bin());
    cmd.arg("do")
        .arg("--rootfs")
        .arg(rootfs().path())
        .args(limits)
        .args(["--", "sh", "-c", script])
        .stdin(Stdio::null());
    cmd
}

fn run(limits: &[&str], script: &str) -> Output {
    container(limits, script)
        .output()
        .expect("running oxbox do")
}

fn describe(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The container's cgroup directory for `controller` (v1), or the unified
/// one (v2), of the `oxbox do` whose pid is `monitor`.
fn cgroup_dir(controller: &str, monitor: u32) -> PathBuf {
    let v1 = PathBuf::from(format!("/sys/fs/cgroup/{controller}/oxbox/do-{monitor}"));
    if PathBuf::from("/sys/fs/cgroup/cgroup.controllers").exists() {
        PathBuf::from(format!("/sys/fs/cgroup/oxbox/do-{monitor}"))
    } else {
        v1
    }
}

/// Waits for `child` with a guard against a hang; kills it if it hangs.
fn finish(mut child: Child) -> Output {
    let exited = eventually(Duration::from_secs(60), || {
        child.try_wait().ok().flatten().is_some()
    });
    if !exited {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("waiting for oxbox do");
    assert!(exited, "the container did not exit: {}", describe(&output));
    output
}

#[test]
fn a_fork_bomb_under_a_pids_limit_is_held_and_other_containers_still_run() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    // The bomb runs in a subshell; its shell, once the bomb gave up, holds
    // the container (and the bomb's sleeping children) without another
    // fork while the test looks (it needs well under the 10 s).
    let mut bomb = container(
        &["--pids-limit", "24"],
        "(while :; do sleep 60 & done; echo unreachable); echo gave up; exec sleep 10",
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("starting the fork bomb");
    let monitor = bomb.id();
    let pids = cgroup_dir("pids", monitor);
    let mut stdout = BufReader::new(bomb.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the bomb's shell");
    assert_eq!(line, "gave up\n", "the bomb ended otherwise");
    let limit = fs::read_to_string(pids.join("pids.max"));
    // `max N`: forks the limit refused.
    let refused = fs::read_to_string(pids.join("pids.events")).map(|events| {
        events
            .lines()
            .find_map(|l| l.strip_prefix("max "))
            .and_then(|n| n.trim().parse::<u64>().ok())
    });
    // While the bomb holds its pids, another container starts, runs and
    // exits as usual.
    let other = run(&[], "echo still here");
    assert_eq!(other.status.code(), Some(0), "{}", describe(&other));
    assert_eq!(String::from_utf8_lossy(&other.stdout), "still here\n");
    let bombed = finish(bomb);
    assert_eq!(
        limit.as_deref().map(str::trim).ok(),
        Some("24"),
        "pids.max of {}",
        pids.display()
    );
    assert!(
        matches!(refused, Ok(Some(n)) if n > 0),
        "pids.events: {refused:?}"
    );
    let stderr = String::from_utf8_lossy(&bombed.stderr);
    assert!(
        stderr.contains("can't fork"),
        "the shell did not fail to fork: {}",
        describe(&bombed)
    );
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(!rest.contains("unreachable"), "{rest}");
    assert_eq!(bombed.status.code(), Some(0), "{}", describe(&bombed));
    assert!(!pids.exists(), "{} was left behind", pids.display());
}

#[test]
fn a_descriptor_hog_is_held_at_its_limit_and_others_still_open_files() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    let mut hog = container(&["--ulimit", "nofile=2048"], "exec /guest/limits/fd_hog")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the descriptor hog");
    let watchdog = Watchdog::new(hog.id());
    let mut stdout = BufReader::new(hog.stdout.take().expect("piped stdout"));
    let mut seen = String::new();
    // Up to the line saying it holds every descriptor it could get (or
    // its end, if it died first).
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&line);
        if line.starts_with("holding ") {
            break;
        }
    }
    let holding = seen.contains("holding ");
    // Meanwhile another container runs and the host opens files.
    let other = run(&[], "echo still here");
    let host_files: std::io::Result<Vec<fs::File>> =
        (0..256).map(|_| fs::File::open("/")).collect();
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    seen.push_str(&rest);
    let hogged = finish(hog);
    watchdog.disarm();
    assert!(
        holding,
        "the hog never held its descriptors ({}): {seen}",
        watchdog.verdict()
    );
    assert_eq!(other.status.code(), Some(0), "{}", describe(&other));
    assert_eq!(String::from_utf8_lossy(&other.stdout), "still here\n");
    assert!(
        host_files.is_ok(),
        "the host could not open files: {host_files:?}"
    );
    assert!(
        hogged.status.success() && !seen.contains("FAIL"),
        "{seen}\n{}",
        describe(&hogged)
    );
}

#[test]
fn a_memory_hog_under_a_memory_limit_is_killed_and_reported() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    // The shell keeps the whole command substitution in its memory.
    let hog = run(
        &["-m", "32m"],
        "x=$(head -c 300000000 /dev/zero | tr '\\000' a); echo survived ${#x}",
    );
    assert_eq!(hog.status.code(), Some(137), "{}", describe(&hog));
    assert!(
        String::from_utf8_lossy(&hog.stderr)
            .contains("the container ran out of memory (limit 32 MiB) and was killed"),
        "{}",
        describe(&hog)
    );
    // Within its limit, the same program runs to the end.
    let fits = run(
        &["-m", "64m"],
        "x=$(head -c 1000000 /dev/zero | tr '\\000' a); echo survived ${#x}",
    );
    assert_eq!(fits.status.code(), Some(0), "{}", describe(&fits));
    assert_eq!(String::from_utf8_lossy(&fits.stdout), "survived 1000000\n");
    assert!(!String::from_utf8_lossy(&fits.stderr).contains("out of memory"));
}

#[test]
fn a_cpus_limit_sets_the_quota_and_throttles_a_busy_loop() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    // Busy for four seconds of the wall clock, then done by itself.
    let busy = container(
        &["--cpus", "0.5"],
        "end=$(($(date +%s) + 4)); while [ $(date +%s) -lt $end ]; do \
         i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done; done",
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("starting the busy loop");
    let cpu = cgroup_dir("cpu", busy.id());
    let v2 = PathBuf::from("/sys/fs/cgroup/cgroup.controllers").exists();
    let quota_set = eventually(Duration::from_secs(30), || {
        if v2 {
            fs::read_to_string(cpu.join("cpu.max")).is_ok_and(|m| m.trim() == "50000 100000")
        } else {
            fs::read_to_string(cpu.join("cpu.cfs_quota_us")).is_ok_and(|q| q.trim() == "50000")
        }
    });
    let throttled = quota_set
        && eventually(Duration::from_secs(30), || {
            fs::read_to_string(cpu.join("cpu.stat")).is_ok_and(|stat| {
                stat.lines()
                    .find_map(|l| l.strip_prefix("nr_throttled "))
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        });
    let output = finish(busy);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        quota_set,
        "the CFS quota was never 50000: {}",
        describe(&output)
    );
    assert!(throttled, "the busy loop was never throttled");
    assert!(!cpu.exists(), "{} was left behind", cpu.display());
}

/// `--memory-swap` sets the container's memory+swap limit where the host
/// accounts swap (v1's `memory.memsw.limit_in_bytes`, read from the host
/// while the container runs); where it does not, the container runs with
/// its memory limit alone and Docker's warning says so.
#[test]
fn a_swap_limit_is_set_or_its_absence_said_as_docker_does() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    let accounted = PathBuf::from("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
    let mut child = container(&["-m", "64m", "--memory-swap", "96m"], "echo ran; sleep 30")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running oxbox do");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "ran\n");
    let memsw = cgroup_dir("memory", child.id()).join("memory.memsw.limit_in_bytes");
    let limit = fs::read_to_string(&memsw).ok();
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let warning = "WARNING: Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.";
    if accounted {
        assert_eq!(limit.as_deref().map(str::trim), Some("100663296"));
        assert!(!stderr.contains(warning), "{stderr}");
    } else {
        assert!(stderr.contains(warning), "{stderr}");
    }
}

#[test]
fn bad_limit_values_are_refused_with_dockers_messages() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    for (flags, message) in [
        (&["-m", "lots"][..], "invalid size: 'lots'"),
        (
            &["--memory", "4m"][..],
            "Minimum memory limit allowed is 6MB",
        ),
        (&["--cpus", "0"][..], "it must be at least 0.01"),
        (&["--cpus", "4096"][..], "range of CPUs is from 0.01 to"),
        (&["--pids-limit", "many"][..], "many"),
        (
            &["--memory-swap", "64m"][..],
            "You should always set the Memory limit when using Memoryswap limit",
        ),
        (
            &["-m", "64m", "--memory-swap", "32m"][..],
            "Minimum memoryswap limit should be larger than memory limit",
        ),
    ] {
        let o = run(flags, "echo ran");
        assert_eq!(o.status.code(), Some(125), "{flags:?}: {}", describe(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(message),
            "{flags:?}: {}",
            describe(&o)
        );
        assert!(o.stdout.is_empty(), "{flags:?}: {}", describe(&o));
    }
}
