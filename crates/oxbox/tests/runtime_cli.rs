//! The runtime verbs' command line as engines see it: errors reach the
//! `--log` file as logrus JSON lines and exit 1, bad bundles and ids are
//! refused with a clear message, and the informational verbs print what
//! runc's do. None of these needs a running container.

mod common;

use std::path::Path;

use common::{oxbox, stderr, stdout};

fn runtime(root: &Path, log: &Path, args: &[&str]) -> std::process::Output {
    oxbox()
        .arg("--root")
        .arg(root)
        .arg("--log")
        .arg(log)
        .args(["--log-format", "json"])
        .args(args)
        .output()
        .unwrap()
}

/// The `msg` of the last error line of a JSON log, as containerd's go-runc
/// reads it; every line must be a JSON object, or go-runc stops reading.
fn last_logged_error(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let errors: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            (value["level"] == "error").then(|| value["msg"].as_str().unwrap().to_owned())
        })
        .collect();
    errors.last().cloned().unwrap_or_default()
}

#[test]
fn a_malformed_config_fails_create_with_the_reason_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    std::fs::write(bundle.join("config.json"), "{\"process\": [").unwrap();
    let log = dir.path().join("log.json");
    let out = runtime(
        &dir.path().join("root"),
        &log,
        &["create", "--bundle", bundle.to_str().unwrap(), "c1"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let message = last_logged_error(&log);
    assert!(
        message.starts_with("invalid config: ") && message.contains("config.json"),
        "{message}"
    );
    assert!(stderr(&out).contains(&message));
    // Nothing is left behind: the id is free again.
    let out = runtime(&dir.path().join("root"), &log, &["list", "--quiet"]);
    assert_eq!(stdout(&out), "");
}

#[test]
fn a_missing_bundle_or_rootfs_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let root = dir.path().join("root");
    let out = runtime(
        &root,
        &log,
        &["create", "--bundle", "/nonexistent/bundle", "c1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(last_logged_error(&log).contains("/nonexistent/bundle"));

    let bundle = dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let spec = oxbox()
        .args(["spec", "--bundle", bundle.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(spec.status.success(), "{}", stderr(&spec));
    let out = runtime(
        &root,
        &log,
        &["create", "--bundle", bundle.to_str().unwrap(), "c2"],
    );
    assert_eq!(out.status.code(), Some(1));
    let message = last_logged_error(&log);
    assert!(
        message.contains("root filesystem") && message.contains("rootfs"),
        "{message}"
    );
}

#[test]
fn unknown_containers_and_bad_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let root = dir.path().join("root");
    for verb in ["state", "start", "delete", "ps", "pause"] {
        let out = runtime(&root, &log, &[verb, "nope"]);
        assert_eq!(out.status.code(), Some(1), "{verb}");
        assert_eq!(
            last_logged_error(&log),
            "container nope does not exist",
            "{verb}"
        );
    }
    let out = runtime(&root, &log, &["kill", "nope", "KILL"]);
    assert_eq!(out.status.code(), Some(1));
    let out = runtime(&root, &log, &["state", "../etc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(last_logged_error(&log).starts_with("invalid container id"));
    let out = runtime(&root, &log, &["kill", "x", "NOTASIGNAL"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(last_logged_error(&log), "unknown signal NOTASIGNAL");
}

#[test]
fn systemd_cgroups_are_refused_without_systemd() {
    if Path::new("/run/systemd/system").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let out = runtime(
        &dir.path().join("root"),
        &log,
        &["--systemd-cgroup", "list"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(last_logged_error(&log).contains("systemd is not running"));
}

#[test]
fn features_and_list_print_json() {
    let out = oxbox().arg("features").output().unwrap();
    assert!(out.status.success());
    let features: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(features["ociVersionMax"], "1.2.0");
    assert!(
        features["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&"network".into())
    );
    let dir = tempfile::tempdir().unwrap();
    let out = oxbox()
        .arg("--root")
        .arg(dir.path())
        .args(["list", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "[]");
}
