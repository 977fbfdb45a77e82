//! The OCI lifecycle as runc defines it, driven verb by verb.
//!
//! The same sequences of runtime calls (create, start, state, kill,
//! delete, their misuses) run against runc and against oxbox on the same
//! bundle; the exit status of every call and the status every `state`
//! reports must agree, and so must the hooks that ran and the status each
//! was given. The bundle is runc's own default spec (`runc spec`) on the
//! busybox test rootfs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use oxbox_integration::{oxbox_bin, require_root, rootfs};

/// One runtime under test, with its own state root.
struct Runtime {
    name: &'static str,
    binary: PathBuf,
    root: PathBuf,
}

impl Runtime {
    fn call(&self, args: &[&str]) -> Output {
        let mut command = Command::new("timeout");
        command
            .args(["-s", "KILL", "60"])
            .arg(&self.binary)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null());
        if args.first() == Some(&"create") {
            // The container inherits create's stdio and keeps it until it
            // exits: never a pipe the harness would wait on.
            let log = std::fs::File::create(self.root.join("create.log")).unwrap();
            command.stdout(Stdio::null()).stderr(log);
        }
        command.output().unwrap()
    }

    /// The status `state` reports, or `absent` when `state` fails.
    fn status(&self, id: &str) -> String {
        let out = self.call(&["state", id]);
        if !out.status.success() {
            return "absent".into();
        }
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.trim().strip_prefix("\"status\": \""))
            .map(|s| s.trim_end_matches(['"', ','].as_ref()).to_string())
            .unwrap_or_else(|| format!("unparsable state: {text}"))
    }

    /// Waits until `state` reports `wanted` (a killed process takes a
    /// moment to die); returns what it reported last.
    fn await_status(&self, id: &str, wanted: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = self.status(id);
            if status == wanted || Instant::now() > deadline {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs `steps` on `runtime`; returns one line per step.
fn transcript(runtime: &Runtime, bundle: &Path, steps: &[&str]) -> Vec<String> {
    let bundle = bundle.to_str().unwrap();
    steps
        .iter()
        .map(|step| {
            let words: Vec<&str> = step.split_whitespace().collect();
            let line = match words[..] {
                ["await", id, wanted] => runtime.await_status(id, wanted),
                ["status", id] => runtime.status(id),
                ["create", id] => {
                    let pid_file = runtime.root.join(format!("{id}.pid"));
                    let out = runtime.call(&[
                        "create",
                        "--bundle",
                        bundle,
                        "--pid-file",
                        pid_file.to_str().unwrap(),
                        id,
                    ]);
                    let pid_ok = std::fs::read_to_string(&pid_file)
                        .is_ok_and(|p| p.trim().parse::<i32>().is_ok_and(|p| p > 0));
                    format!("exit={} pid_file={pid_ok}", out.status.code().unwrap_or(-1))
                }
                _ => {
                    let out = runtime.call(&words);
                    format!("exit={}", out.status.code().unwrap_or(-1))
                }
            };
            format!("{step}: {line}")
        })
        .collect()
}

/// runc's default spec on the test rootfs, running `command`, with a
/// prestart, poststart and poststop hook each appending its name and the
/// status it was given on stdin to `hooks.log` in the bundle.
fn bundle(dir: &Path, command: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(dir)
        .output()
        .expect("runc (Debian's package) must be installed");
    assert!(out.status.success(), "runc spec: {out:?}");
    let config = dir.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace("\"terminal\": true", "\"terminal\": false")
        .replace(
            "\"path\": \"rootfs\"",
            &format!("\"path\": \"{}\"", rootfs().path().display()),
        )
        .replace("\"sh\"", &format!("\"sh\", \"-c\", \"{command}\""));
    let log = dir.join("hooks.log");
    let hook = |name: &str| {
        format!(
            r#"[{{"path": "/bin/sh", "args": ["sh", "-c", "echo {name} $(grep -o '\"status\": *\"[a-z]*\"' | tr -d ' ') >> {}"]}}]"#,
            log.display()
        )
    };
    let hooks = format!(
        r#""hooks": {{"prestart": {}, "poststart": {}, "poststop": {}}},"#,
        hook("prestart"),
        hook("poststart"),
        hook("poststop")
    );
    let text = text.replacen("\"root\":", &format!("{hooks}\n\t\"root\":"), 1);
    std::fs::write(&config, text).unwrap();
    dir.to_owned()
}

/// Runs `steps` (container ids `c1`, `c2`) on runc and on oxbox, each in
/// a state root of its own; ids are made unique per test (`tag-c1`), as
/// both runtimes name the container's cgroup after it.
fn compare(tag: &str, steps: &[&str], command: &str) -> Vec<String> {
    if !oxbox_integration::is_root() {
        eprintln!("skipped: runtimes need root");
        return Vec::new();
    }
    let work = std::env::temp_dir().join(format!("oxbox-lifecycle-{}-{tag}", std::process::id()));
    let steps: Vec<String> = steps
        .iter()
        .map(|s| {
            s.replace("c1", &format!("{tag}-c1"))
                .replace("c2", &format!("{tag}-c2"))
        })
        .collect();
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let _ = std::fs::remove_dir_all(&work);
    let bundle = bundle(&work.join("bundle"), command);
    let runtimes = [
        Runtime {
            name: "runc",
            binary: "runc".into(),
            root: work.join("runc-root"),
        },
        Runtime {
            name: "oxbox",
            binary: oxbox_bin(),
            root: work.join("oxbox-root"),
        },
    ];
    let [runc, oxbox] = runtimes.map(|r| {
        std::fs::create_dir_all(&r.root).unwrap();
        let _ = std::fs::remove_file(bundle.join("hooks.log"));
        let mut lines = transcript(&r, &bundle, &steps);
        let hooks = std::fs::read_to_string(bundle.join("hooks.log")).unwrap_or_default();
        lines.extend(hooks.lines().map(|l| format!("hook: {l}")));
        // Nothing may be left running, whatever the outcome.
        for id in ["c1", "c2"] {
            r.call(&["delete", "--force", &format!("{tag}-{id}")]);
        }
        (r.name, lines)
    });
    let _ = std::fs::remove_dir_all(&work);
    assert_eq!(
        runc.1, oxbox.1,
        "\n{} and {} disagree:\n{:#?}\n{:#?}",
        runc.0, oxbox.0, runc.1, oxbox.1
    );
    runc.1
}

#[test]
fn create_start_kill_delete_in_order() {
    require_root!();
    let transcript = compare(
        "order",
        &[
            "create c1",
            "status c1",
            "start c1",
            "status c1",
            "kill c1 KILL",
            "await c1 stopped",
            "delete c1",
            "status c1",
        ],
        "sleep 60",
    );
    // The oracle itself went through every state.
    let statuses: Vec<&str> = transcript
        .iter()
        .filter(|l| l.starts_with("status") || l.starts_with("await"))
        .map(|l| l.rsplit(": ").next().unwrap())
        .collect();
    assert_eq!(statuses, ["created", "running", "stopped", "absent"]);
    let hooks: Vec<&str> = transcript
        .iter()
        .filter_map(|l| l.strip_prefix("hook: "))
        .collect();
    assert_eq!(
        hooks,
        [
            "prestart \"status\":\"creating\"",
            // runc runs poststart at the end of create.
            "poststart \"status\":\"created\"",
            "poststop \"status\":\"stopped\""
        ]
    );
}

#[test]
fn a_running_container_is_deleted_only_by_force() {
    compare(
        "force",
        &[
            "create c1",
            "start c1",
            "delete c1",
            "status c1",
            "delete --force c1",
            "status c1",
        ],
        "sleep 60",
    );
}

#[test]
fn a_container_that_exits_is_stopped_and_can_be_deleted() {
    compare(
        "exits",
        &[
            "create c1",
            "start c1",
            "await c1 stopped",
            "start c1",
            "kill c1 TERM",
            "delete c1",
            "status c1",
        ],
        "true",
    );
}

#[test]
fn misuses_fail_like_runc() {
    compare(
        "misuse",
        &[
            "start c2",
            "kill c2 KILL",
            "delete c2",
            "create c1",
            "create c1",
            "start c1",
            "start c1",
            "delete c1",
            "kill c1 KILL",
        ],
        "sleep 60",
    );
}

#[test]
fn a_created_container_can_be_deleted_without_start() {
    compare(
        "unstarted",
        &["create c1", "status c1", "delete c1", "status c1"],
        "sleep 60",
    );
}
