//! End to end: what a guest sees from inside its container, through the
//! stand-in kernel image. These need root (as in CI) and skip otherwise.

mod common;

use common::{
    CONTAINER_DEV, WaitingContainer, assert_oxbox_error, can_run_containers, eventually, guest_env,
    oxbox, report, run, stderr, stdout,
};
use nix::sys::signal::Signal;
use oxbox_abi::boot::BootRecord;

#[test]
fn command_runs_as_pid_1_with_boot_record_and_argv() {
    if !can_run_containers() {
        return;
    }
    let output = run(&["do", "--hostname", "web", "--", "report", "-l", "--all"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let r = report(&output);
    assert_eq!(r["argv[0]"], "oxbox-kernel");
    let record = BootRecord::decode(&r["argv[1]"]).unwrap();
    assert_eq!(
        (record.hostname, record.uid, record.gid, record.stats),
        ("web", 0, 0, false)
    );
    assert_eq!(r["argv[2]"], "report");
    assert_eq!(r["argv[3]"], "report");
    assert_eq!(r["argv[4]"], "-l");
    assert_eq!(r["argv[5]"], "--all");
    assert_eq!(r["pid"], "1");
    assert_eq!(r["uid"], "0");
}

#[test]
fn guest_env_has_docker_defaults_then_overrides() {
    if !can_run_containers() {
        return;
    }
    let output = oxbox()
        .env("OXBOX_TEST_COPIED", "from-host")
        .args([
            "do",
            "--hostname",
            "h1",
            "-e",
            "A=1",
            "-e",
            "HOME=/home/a",
            "-e",
            "A=2",
        ])
        .args([
            "-e",
            "OXBOX_TEST_COPIED",
            "-e",
            "OXBOX_TEST_UNSET",
            "--",
            "report",
        ])
        .output()
        .unwrap();
    assert_eq!(
        guest_env(&output),
        [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME=h1",
            "HOME=/home/a",
            "A=2",
            "OXBOX_TEST_COPIED=from-host",
        ]
    );
}

#[test]
fn hostname_defaults_to_a_random_12_hex_id() {
    if !can_run_containers() {
        return;
    }
    let first = report(&run(&["do", "--", "report"]))["hostname"].clone();
    let second = report(&run(&["do", "--", "report"]))["hostname"].clone();
    assert_eq!(first.len(), 12);
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(first, second);
}

#[test]
fn stats_and_log_level_reach_the_boot_record() {
    if !can_run_containers() {
        return;
    }
    let record = |output: &std::process::Output| report(output)["argv[1]"].clone();
    let flag = record(&run(&["do", "--stats", "--", "report"]));
    assert!(BootRecord::decode(&flag).unwrap().stats);
    let env = oxbox()
        .env("OXBOX_STATS", "1")
        .env("OXBOX_LOG", "debug")
        .args(["do", "--", "report"])
        .output()
        .unwrap();
    let decoded = record(&env);
    let decoded = BootRecord::decode(&decoded).unwrap();
    assert!(decoded.stats);
    assert_eq!(decoded.log_level, oxbox_abi::boot::LogLevel::Debug);
}

#[test]
fn no_host_proc_or_sys_inside() {
    if !can_run_containers() {
        return;
    }
    let r = report(&run(&["do", "--", "report"]));
    assert_eq!(r["proc_self"], "absent");
    assert_eq!(r["sys_kernel"], "absent");
}

#[test]
fn root_keeps_only_the_guest_root_capabilities_and_no_new_privs_is_set() {
    if !can_run_containers() {
        return;
    }
    let r = report(&run(&["do", "--", "report"]));
    let guest_root = oxbox_sandbox::caps::GUEST_ROOT;
    for (set, want) in [
        ("cap_eff", guest_root),
        ("cap_prm", guest_root),
        ("cap_inh", 0),
    ] {
        assert_eq!(u64::from_str_radix(&r[set], 16), Ok(want), "{set}");
    }
    assert_eq!(
        r["cap_bnd_count"],
        guest_root.count_ones().to_string(),
        "the bounding set holds the same"
    );
    assert_eq!(r["cap_amb_count"], "0");
    assert_eq!(r["no_new_privs"], "1");
}

#[test]
fn another_user_than_root_keeps_no_capability() {
    if !can_run_containers() {
        return;
    }
    let r = report(&run(&["do", "-u", "1000:1000", "--", "report"]));
    assert_eq!(r["uid"], "1000");
    for set in ["cap_eff", "cap_prm", "cap_inh"] {
        assert_eq!(u64::from_str_radix(&r[set], 16), Ok(0), "{set}");
    }
    assert_eq!(r["cap_bnd_count"], "0");
}

/// The descriptors a container process starts with when the caller leaked
/// none: the guest's standard three and those the kernel keeps for itself
/// in every container (its `/proc/sys` copy, its own image, its log).
fn std_and_kernel_descriptors() -> String {
    use oxbox_abi::layout::{KERNEL_IMAGE_FD, LOG_FD, PROC_SYS_FD};
    format!("0,1,2,{PROC_SYS_FD},{KERNEL_IMAGE_FD},{LOG_FD}")
}

#[test]
fn only_std_descriptors_and_the_log_survive() {
    if !can_run_containers() {
        return;
    }
    use std::os::unix::process::CommandExt;
    let mut cmd = oxbox();
    cmd.args(["do", "--", "report"]);
    // SAFETY: runs in the forked child before exec and only calls dup2,
    // which is async-signal-safe; it leaks descriptor 50 (without
    // close-on-exec) into oxbox, as a careless caller would.
    unsafe {
        cmd.pre_exec(|| {
            if libc::dup2(1, 50) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let r = report(&cmd.output().unwrap());
    assert_eq!(r["fds"], std_and_kernel_descriptors());
    assert_eq!(r["fd_1023"], "open");
}

#[test]
fn kernel_log_descriptor_is_oxbox_stderr() {
    if !can_run_containers() {
        return;
    }
    let output = run(&["do", "--", "log", "kernel-says-hello"]);
    assert!(output.status.success());
    assert_eq!(stderr(&output), "kernel-says-hello\n");
    assert_eq!(stdout(&output), "");
}

#[test]
fn network_is_loopback_only_and_up() {
    if !can_run_containers() {
        return;
    }
    let r = report(&run(&["do", "--", "report"]));
    assert_eq!(r["ifaces"], "lo");
    assert_eq!(r["lo_up"], "1");
}

#[test]
fn dev_holds_only_the_bound_host_devices() {
    if !can_run_containers() {
        return;
    }
    let r = report(&run(&["do", "--", "report"]));
    // Every container gets /dev/tty, as with runc (this host has the node).
    // And its own devpts, /dev/ptmx pointing into it.
    assert_eq!(r["dev"], CONTAINER_DEV);
    assert_eq!(r["dev_null_writable"], "1");
    assert_eq!(r["dev_zero_reads_zero"], "1");
}

#[test]
fn container_has_its_own_namespaces() {
    if !can_run_containers() {
        return;
    }
    let mut container = WaitingContainer::start();
    let monitor = container.monitor.id();
    let children =
        std::fs::read_to_string(format!("/proc/{monitor}/task/{monitor}/children")).unwrap();
    let pid1 = children.trim().to_owned();
    let link = |pid: &str, ns: &str| std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
    for ns in ["mnt", "pid", "ipc", "uts", "net", "cgroup"] {
        assert_ne!(link(&pid1, ns), link("self", ns), "{ns}");
    }
    assert_eq!(link(&pid1, "user"), link("self", "user"));
    // The host root was assembled in a scratch directory, private to the
    // container's mount namespace and removed once the kernel started.
    let scratch = std::env::temp_dir().join(format!("oxbox-root-{monitor}-0"));
    assert!(
        eventually(|| !scratch.exists()),
        "{} left behind",
        scratch.display()
    );
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(&scratch.display().to_string()));
    // The container dies with its monitor.
    container.signal_and_wait(Signal::SIGKILL);
    let alive = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid1}/stat")).unwrap_or_default();
        // Dead once gone or a zombie waiting for the host's init to reap it.
        stat.rsplit(") ")
            .next()
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('Z'))
    };
    assert!(eventually(|| !alive()), "pid 1 outlived its monitor");
}

#[test]
fn setup_failure_in_the_container_exits_125_with_one_line() {
    if !can_run_containers() {
        return;
    }
    let output = run(&["do", "-w", "/nonexistent-workdir", "--", "report"]);
    assert_oxbox_error(
        &output,
        "create working directory /nonexistent-workdir: Read-only file system",
    );
}

#[test]
fn unprivileged_caller_gets_a_user_namespace() {
    if !can_run_containers() {
        return;
    }
    // Run copies readable by nobody, from a directory nobody can enter.
    let dir = tempfile::Builder::new()
        .prefix("oxbox-unpriv")
        .tempdir()
        .unwrap();
    let copy = |from: &std::path::Path, name: &str| {
        let to = dir.path().join(name);
        std::fs::copy(from, &to).unwrap();
        to
    };
    let oxbox_copy = copy(std::path::Path::new(env!("CARGO_BIN_EXE_oxbox")), "oxbox");
    copy(common::stand_in_kernel().unwrap(), "oxbox-kernel");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&oxbox_copy)
        .args(["do", "--", "report"])
        .env_remove("OXBOX_KERNEL")
        .current_dir("/")
        .output();
    let Ok(output) = output else {
        eprintln!("skipping: setpriv not available");
        return;
    };
    if stderr(&output).contains("unshare user namespace") {
        eprintln!("skipping: unprivileged user namespaces are disabled here");
        return;
    }
    assert!(output.status.success(), "{}", stderr(&output));
    let r = report(&output);
    assert_eq!(r["pid"], "1");
    assert_eq!(r["uid"], "0");
    assert_eq!(r["proc_self"], "absent");
    assert_eq!(r["sys_kernel"], "absent");
    assert_eq!(
        r["cap_bnd_count"],
        oxbox_sandbox::caps::GUEST_ROOT.count_ones().to_string(),
        "the guest root's, in its own user namespace"
    );
    assert_eq!(r["fds"], std_and_kernel_descriptors());
    assert_eq!(r["lo_up"], "1");
}

#[test]
fn root_without_cap_sys_admin_gets_a_user_namespace() {
    if !can_run_containers() {
        return;
    }
    let output = std::process::Command::new("setpriv")
        .args(["--bounding-set=-sys_admin", "--"])
        .arg(env!("CARGO_BIN_EXE_oxbox"))
        .args(["do", "--", "report"])
        .env("OXBOX_KERNEL", common::stand_in_kernel().unwrap())
        .output();
    let Ok(output) = output else {
        eprintln!("skipping: setpriv not available");
        return;
    };
    if stderr(&output).contains("unshare user namespace") {
        eprintln!("skipping: user namespaces are disabled here");
        return;
    }
    assert!(output.status.success(), "{}", stderr(&output));
    let r = report(&output);
    assert_eq!(r["pid"], "1");
    assert_eq!(r["proc_self"], "absent");
    assert_eq!(
        r["cap_bnd_count"],
        oxbox_sandbox::caps::GUEST_ROOT.count_ones().to_string(),
        "the guest root's, in its own user namespace"
    );
}
