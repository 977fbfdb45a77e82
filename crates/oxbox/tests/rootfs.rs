//! The container's root: the host's (read-only, fresh /tmp) or a directory
//! (writable unless --read-only). Needs root; skips otherwise.

mod common;

use common::{CONTAINER_DEV, assert_oxbox_error, can_run_containers, report, run, stderr};

fn rootfs() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("oxbox-rootfs")
        .tempdir()
        .unwrap()
}

#[test]
fn host_root_is_read_only_with_a_fresh_writable_tmp() {
    if !can_run_containers() {
        return;
    }
    let marker = tempfile::Builder::new()
        .prefix("oxbox-host-marker")
        .tempfile_in("/tmp")
        .unwrap();
    let marker = marker.path().to_str().unwrap();
    let r = report(&run(&[
        "do",
        "--",
        "touch",
        "/etc/oxbox-test",
        "/tmp/oxbox-test",
        "/oxbox-test",
    ]));
    assert_eq!(r["/etc/oxbox-test"], "EROFS");
    assert_eq!(r["/oxbox-test"], "EROFS");
    assert_eq!(r["/tmp/oxbox-test"], "ok");
    assert!(
        !std::path::Path::new("/tmp/oxbox-test").exists(),
        "container /tmp leaked to the host"
    );
    let r = report(&run(&["do", "--", "stat", marker, "/usr", "/etc"]));
    assert_eq!(r[marker], "absent");
    assert_eq!(r["/usr"], "present");
}

#[test]
fn host_root_submounts_are_read_only_too() {
    if !can_run_containers() {
        return;
    }
    // Every writable mount of the host, other than the replaced ones.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let skip = ["/proc", "/sys", "/dev", "/tmp"];
    let targets: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let (point, options) = (fields.get(4)?, fields.get(5)?);
            let skipped = skip
                .iter()
                .any(|s| point == s || point.starts_with(&format!("{s}/")));
            (!skipped && options.split(',').any(|o| o == "rw") && !point.contains('\\'))
                .then(|| format!("{}/oxbox-ro-probe", point.trim_end_matches('/')))
        })
        .collect();
    let mut args = vec!["do", "--", "touch"];
    args.extend(targets.iter().map(String::as_str));
    let r = report(&run(&args));
    for target in &targets {
        assert_ne!(
            r.get(target).map(String::as_str),
            Some("ok"),
            "{target} is writable"
        );
    }
}

#[test]
fn rootfs_dir_is_writable_and_gets_dev() {
    if !can_run_containers() {
        return;
    }
    let root = rootfs();
    let path = root.path().to_str().unwrap();
    let r = report(&run(&["do", "--rootfs", path, "--", "touch", "/written"]));
    assert_eq!(r["/written"], "ok");
    assert!(root.path().join("written").exists());
    assert!(root.path().join("dev").is_dir());
    let r = report(&run(&["do", "--rootfs", path, "--", "report"]));
    assert_eq!(r["dev"], CONTAINER_DEV);
    assert_eq!(r["proc_self"], "absent");
}

#[test]
fn read_only_rootfs_refuses_writes() {
    if !can_run_containers() {
        return;
    }
    let root = rootfs();
    let path = root.path().to_str().unwrap();
    let r = report(&run(&[
        "do",
        "--rootfs",
        path,
        "--read-only",
        "--",
        "touch",
        "/written",
        "/dev/ok",
    ]));
    assert_eq!(r["/written"], "EROFS");
    assert_eq!(r["/dev/ok"], "ok");
}

#[test]
fn workdir_is_created_in_a_writable_rootfs() {
    if !can_run_containers() {
        return;
    }
    let root = rootfs();
    let output = run(&[
        "do",
        "--rootfs",
        root.path().to_str().unwrap(),
        "-w",
        "/srv/app",
        "--",
        "report",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report(&output)["cwd"], "/srv/app");
    assert!(root.path().join("srv/app").is_dir());
}

#[test]
fn missing_workdir_in_a_read_only_rootfs_exits_125() {
    if !can_run_containers() {
        return;
    }
    let root = rootfs();
    let output = run(&[
        "do",
        "--rootfs",
        root.path().to_str().unwrap(),
        "--read-only",
        "-w",
        "/srv",
        "--",
        "report",
    ]);
    assert_oxbox_error(&output, "create working directory /srv");
}

#[test]
fn workdir_defaults_to_root() {
    if !can_run_containers() {
        return;
    }
    assert_eq!(report(&run(&["do", "--", "report"]))["cwd"], "/");
}

#[test]
fn dev_that_is_a_symlink_is_refused() {
    if !can_run_containers() {
        return;
    }
    let root = rootfs();
    std::os::unix::fs::symlink("/tmp", root.path().join("dev")).unwrap();
    let output = run(&[
        "do",
        "--rootfs",
        root.path().to_str().unwrap(),
        "--",
        "report",
    ]);
    assert_oxbox_error(&output, "Not a directory");
}
