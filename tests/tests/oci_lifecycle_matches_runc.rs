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
    /// `runc`, or oxbox for any other name, with state under `root`.
    fn named(name: &'static str, root: PathBuf) -> Self {
        let binary = if name == "runc" {
            "runc".into()
        } else {
            oxbox_bin()
        };
        Runtime { name, binary, root }
    }

    fn call(&self, args: &[&str]) -> Output {
        let mut command = Command::new("timeout");
        command
            .args(["-s", "KILL", "60"])
            .arg(&self.binary)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null());
        if args.contains(&"create") {
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

impl Runtime {
    /// Whether the createContainer hook ran in the mount namespace of the
    /// container's process (whose pid `create` wrote), which is not the
    /// host's.
    fn create_hook_namespace(&self, id: &str, bundle: &str) -> String {
        let pid = std::fs::read_to_string(self.root.join(format!("{id}.pid"))).unwrap_or_default();
        let ns = |path: String| std::fs::read_link(path).map(|l| l.display().to_string());
        let container = ns(format!("/proc/{}/ns/mnt", pid.trim()));
        let hook = std::fs::read_to_string(Path::new(bundle).join("out/create-ns"));
        match (container, hook) {
            (Ok(container), Ok(hook)) if hook.trim() == container => {
                let host = ns("/proc/self/ns/mnt".into()).unwrap();
                format!("the container's, host's: {}", host == container)
            }
            other => format!("differs: {other:?}"),
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
                ["ns", id] => runtime.create_hook_namespace(id, bundle),
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
/// status it was given on stdin to `out/hooks.log` in the bundle. With
/// `in_container`, `out` is also bind-mounted on the container's `/tmp` and
/// the container gets createContainer and startContainer hooks: the
/// scripts given (`sh` from the host's root, and the container's).
fn bundle(dir: &Path, command: &str, in_container: Option<(&str, &str)>) -> PathBuf {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let out = out.display();
    let run = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(dir)
        .output()
        .expect("runc (Debian's package) must be installed");
    assert!(run.status.success(), "runc spec: {run:?}");
    let config = dir.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    let mut text = text
        .replace("\"terminal\": true", "\"terminal\": false")
        .replace(
            "\"path\": \"rootfs\"",
            &format!("\"path\": \"{}\"", rootfs().path().display()),
        )
        .replace("\"sh\"", &format!("\"sh\", \"-c\", \"{command}\""));
    let hook = |name: &str| {
        format!(
            r#"[{{"path": "/bin/sh", "args": ["sh", "-c", "echo {name} $(grep -o '\"status\": *\"[a-z]*\"' | tr -d ' ') >> {out}/hooks.log"]}}]"#
        )
    };
    let mut hooks = format!(
        r#""prestart": {}, "poststart": {}, "poststop": {}"#,
        hook("prestart"),
        hook("poststart"),
        hook("poststop")
    );
    if let Some((create, start)) = in_container {
        std::fs::write(dir.join("create-hook.sh"), create).unwrap();
        std::fs::write(dir.join("out/start-hook.sh"), start).unwrap();
        hooks += &format!(
            r#", "createContainer": [{{"path": "/bin/sh", "args": ["sh", "{}/create-hook.sh"], "env": ["OUT={out}"], "timeout": 30}}],
            "startContainer": [{{"path": "/bin/sh", "args": ["sh", "/tmp/start-hook.sh"], "env": ["OUT=/tmp"], "timeout": 30}}]"#,
            dir.display()
        );
        text = text.replacen(
            "\"mounts\": [",
            &format!(
                r#""mounts": [{{"destination": "/tmp", "type": "bind", "source": "{out}", "options": ["rbind", "rw"]}},"#
            ),
            1,
        );
    }
    let text = text.replacen(
        "\"root\":",
        &format!("\"hooks\": {{{hooks}}},\n\t\"root\":"),
        1,
    );
    std::fs::write(&config, text).unwrap();
    dir.to_owned()
}

/// Runs `steps` (container ids `c1`, `c2`) on runc and on oxbox, each in
/// a state root of its own; ids are made unique per test (`tag-c1`), as
/// both runtimes name the container's cgroup after it.
fn compare(tag: &str, steps: &[&str], command: &str) -> Vec<String> {
    compare_with(tag, steps, command, None)
}

/// [`compare`] on a bundle with createContainer and startContainer hooks
/// (see [`bundle`]).
fn compare_with(
    tag: &str,
    steps: &[&str],
    command: &str,
    in_container: Option<(&str, &str)>,
) -> Vec<String> {
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
    let bundle = bundle(&work.join("bundle"), command, in_container);
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
        let _ = std::fs::remove_file(bundle.join("out/hooks.log"));
        let mut lines = transcript(&r, &bundle, &steps);
        let hooks = std::fs::read_to_string(bundle.join("out/hooks.log")).unwrap_or_default();
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

/// The createContainer hook: the host's `sh`, which runc runs in the
/// container's namespaces once its mounts exist, before the pivot, in its
/// root. It logs the state it was given, its working directory and
/// whether the container's `/tmp` bind mount is in its mount table, and
/// keeps its mount namespace for the `ns` step. It also logs the hostname
/// of the container's UTS namespace: still the host's, as runc sets the
/// container's after these hooks.
const CREATE_HOOK: &str = r#"state=$(cat)
field() { printf '%s' "$state" | grep -o "\"$1\": *[^,}]*" | tr -d ' "'; }
echo "createContainer $(field id) $(field status) $(field pid) cwd=$(pwd)" \
    "tmp-mounted=$(grep -c " $(pwd)/tmp " /proc/self/mountinfo) hostname=$(uname -n)" >> "$OUT/hooks.log"
readlink /proc/self/ns/mnt > "$OUT/create-ns"
"#;

/// The startContainer hook: the container's own `sh` (busybox), run in the
/// container at `start`. It logs what the create hook does, the user it
/// runs as and the root directory it sees, through the container's `/tmp`.
const START_HOOK: &str = r#"state=$(cat)
field() { printf '%s' "$state" | grep -o "\"$1\": *[^,}]*" | tr -d ' "'; }
echo "startContainer $(field id) $(field status) $(field pid) cwd=$(pwd)" \
    "hostname=$(uname -n) uid=$(id -u) root=$(ls / | tr '\n' ,)" >> "$OUT/hooks.log"
"#;

#[test]
fn create_and_start_container_hooks_run_inside_the_container() {
    require_root!();
    let transcript = compare_with(
        "inside",
        &[
            "create c1",
            "ns c1",
            "status c1",
            "start c1",
            "status c1",
            "kill c1 KILL",
            "await c1 stopped",
            "delete c1",
        ],
        "sleep 60",
        Some((CREATE_HOOK, START_HOOK)),
    );
    // What runc showed, spelled out.
    assert!(transcript.contains(&"ns inside-c1: the container's, host's: false".to_string()));
    let mut root: Vec<String> = std::fs::read_dir(rootfs().path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    root.sort();
    let hooks: Vec<&str> = transcript
        .iter()
        .filter_map(|l| l.strip_prefix("hook: "))
        .collect();
    assert_eq!(
        hooks,
        [
            "prestart \"status\":\"creating\"".to_string(),
            format!(
                "createContainer id:inside-c1 status:creating pid:1 cwd={} tmp-mounted=1 \
                 hostname={}",
                rootfs().path().display(),
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .unwrap()
                    .trim()
            ),
            "poststart \"status\":\"created\"".to_string(),
            format!(
                "startContainer id:inside-c1 status:created pid:1 cwd=/ hostname=runc uid=0 \
                 root={},",
                root.join(",")
            ),
            "poststop \"status\":\"stopped\"".to_string(),
        ]
    );
}

#[test]
fn a_failing_create_container_hook_fails_create_and_leaves_nothing() {
    compare_with(
        "failcreate",
        &["create c1", "status c1", "delete c1"],
        "sleep 60",
        Some(("echo broken >&2; exit 3", START_HOOK)),
    );
}

/// The last `msg` of an error line in a logrus JSON log.
fn last_logged_error(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains(r#""level":"error""#))
        .filter_map(|l| l.split(r#""msg":""#).nth(1))
        .filter_map(|rest| rest.split(r#"","#).next())
        .map(|msg| msg.replace(r#"\""#, "\""))
        .next_back()
        .unwrap_or_default()
}

#[test]
fn failing_hooks_fail_create_and_start_with_the_reason_in_the_log() {
    require_root!();
    let work = std::env::temp_dir().join(format!("oxbox-failing-hooks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let oxbox = Runtime {
        name: "oxbox",
        binary: oxbox_bin(),
        root: work.join("root"),
    };
    std::fs::create_dir_all(&oxbox.root).unwrap();
    let log = work.join("log.json");
    let log_args = ["--log", log.to_str().unwrap(), "--log-format", "json"];
    let verb = |words: &[&str]| {
        let mut args = log_args.to_vec();
        args.extend_from_slice(words);
        oxbox.call(&args).status.code()
    };
    let failing = [
        ("echo create broken >&2; exit 3", "exit 0", "create"),
        ("exit 0", "echo start broken >&2; exit 4", "start"),
    ];
    for (create, start, fails) in failing {
        let id = format!("failing-{fails}");
        let bundle = bundle(&work.join(&id), "sleep 60", Some((create, start)));
        let created = verb(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
        if fails == "create" {
            assert_eq!(created, Some(1));
            assert_eq!(
                last_logged_error(&log),
                "createContainer hook /bin/sh: exit status: 3: create broken"
            );
            assert_eq!(oxbox.status(&id), "absent");
            continue;
        }
        assert_eq!(created, Some(0));
        // runc 1.1 returns 0 here and only the container's stderr tells;
        // the runtime spec asks for an error, which engines then report.
        assert_eq!(verb(&["start", &id]), Some(1));
        assert_eq!(
            last_logged_error(&log),
            "startContainer hook /bin/sh: exit status: 4: start broken"
        );
        assert_eq!(oxbox.await_status(&id, "stopped"), "stopped");
        assert_eq!(verb(&["delete", &id]), Some(0));
        assert_eq!(oxbox.status(&id), "absent");
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// What a container with `sysctls` (a JSON object) in its config shows
/// under `runtime` in a state root of its own below `work`: the exit
/// status of `run` and its output, then, for a second container created
/// and started with `sleep`, what an `exec`'d `cat` reads of the first
/// sysctl after the host wrote `7` to it in the container's namespaces
/// (the value is the namespace's, read when the file is opened), and the
/// error `--log` got.
fn sysctl_transcript(runtime: &Runtime, work: &Path, sysctls: &str, read: &str) -> Vec<String> {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(&runtime.root).unwrap();
    let bundle = bundle(&work.join("bundle"), "sleep 60", None);
    let config = bundle.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen(
        "\"linux\": {",
        &format!("\"linux\": {{\n\t\t\"sysctl\": {sysctls},"),
        1,
    );
    let show = format!("cat {read}; echo status=$?");
    let text = text.replace("sleep 60", &show);
    std::fs::write(&config, &text).unwrap();
    let log = work.join("log.json");
    let with_log = |words: &[&str]| {
        let mut args = vec!["--log", log.to_str().unwrap(), "--log-format", "json"];
        args.extend_from_slice(words);
        runtime.call(&args)
    };
    let bundle_arg = bundle.to_str().unwrap();
    let run = with_log(&["run", "--bundle", bundle_arg, "sysctl-run"]);
    let mut lines = vec![format!(
        "run: exit={} {}",
        run.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&run.stdout).replace('\n', " ")
    )];
    if !run.status.success() {
        // runc prefixes its messages with the verb.
        let error = last_logged_error(&log);
        lines.push(format!(
            "error: {}",
            error.strip_prefix("runc run failed: ").unwrap_or(&error)
        ));
        return lines;
    }
    std::fs::write(&config, text.replace(&show, "sleep 60")).unwrap();
    let pid_file = work.join("pid");
    let created = runtime.call(&[
        "create",
        "--bundle",
        bundle_arg,
        "--pid-file",
        pid_file.to_str().unwrap(),
        "sysctl-live",
    ]);
    lines.push(format!(
        "create: exit={}",
        created.status.code().unwrap_or(-1)
    ));
    lines.push(format!(
        "start: exit={}",
        runtime
            .call(&["start", "sysctl-live"])
            .status
            .code()
            .unwrap_or(-1)
    ));
    let pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
    let first = read.split_whitespace().next().unwrap();
    let wrote = Command::new("nsenter")
        .args(["-t", pid.trim(), "-n", "-i", "-u", "sh", "-c"])
        .arg(format!("echo 7 > {first}"))
        .status()
        .unwrap();
    lines.push(format!("host wrote 7: {}", wrote.success()));
    let exec = runtime.call(&["exec", "sysctl-live", "cat", first]);
    lines.push(format!(
        "exec cat: exit={} {}",
        exec.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&exec.stdout).trim()
    ));
    runtime.call(&["delete", "--force", "sysctl-live"]);
    lines
}

#[test]
fn sysctls_of_the_containers_namespaces_are_set_and_others_refused_like_runc() {
    require_root!();
    let work = std::env::temp_dir().join(format!("oxbox-sysctl-{}", std::process::id()));
    let host_port_start =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    let cases = [
        (
            "namespaced",
            r#"{"net.ipv4.ip_unprivileged_port_start": "0", "kernel.shmmax": "65536", "kernel.domainname": "oxbox.test"}"#,
            "/proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shmmax /proc/sys/kernel/domainname",
        ),
        (
            "host kernel",
            r#"{"kernel.panic": "0"}"#,
            "/proc/sys/kernel/panic",
        ),
        (
            "hostname",
            r#"{"kernel.hostname": "other"}"#,
            "/proc/sys/kernel/hostname",
        ),
    ];
    for (name, sysctls, read) in cases {
        let [runc, oxbox] = ["runc", "oxbox"].map(|runtime| {
            let dir = work.join(runtime);
            let r = Runtime::named(runtime, dir.join("root"));
            sysctl_transcript(&r, &dir, sysctls, read)
        });
        assert_eq!(runc, oxbox, "{name}: runc and oxbox disagree");
        eprintln!("{name}: {runc:#?}");
        match name {
            "namespaced" => {
                assert_eq!(runc[0], "run: exit=0 0 65536 oxbox.test status=0 ");
                assert_eq!(runc[4], "exec cat: exit=0 7");
            }
            "host kernel" => assert_eq!(
                runc[1],
                "error: sysctl \"kernel.panic\" is not in a separate kernel namespace"
            ),
            _ => assert!(runc[1].contains("conflicts with the OCI"), "{runc:?}"),
        }
    }
    // Nothing reached the host's own namespace.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap(),
        host_port_start
    );
    let _ = std::fs::remove_dir_all(&work);
}

/// Puts `rules` in place of the bundle's `linux.resources.devices` (runc's
/// deny-all), `nodes` (JSON objects, comma-separated) in `linux.devices`,
/// and the container's cgroup at `/cgroup`.
fn with_devices(bundle: &Path, rules: &str, nodes: &str, cgroup: &str) {
    let config = bundle.join("config.json");
    let mut text = std::fs::read_to_string(&config).unwrap();
    let start = text.find("\"devices\": [").unwrap();
    let end = start + text[start..].find(']').unwrap() + 1;
    text.replace_range(start..end, rules);
    let text = text.replacen(
        "\"linux\": {",
        &format!("\"linux\": {{\n\t\t\"devices\": [{nodes}],\n\t\t\"cgroupsPath\": \"/{cgroup}\","),
        1,
    );
    std::fs::write(&config, text).unwrap();
}

/// Device nodes from `linux.devices` and the rules that govern them work
/// as under runc, with the cgroup v1 devices controller and, in a mount
/// namespace where `/sys/fs/cgroup` is a cgroup2 mount (as on a v2 host),
/// with the eBPF device filter: each node is made with its mode and owner;
/// one the rules allow for reading and writing opens both ways, one
/// allowed only for writing opens only for writing, one no rule names
/// does not open, and the default devices still work.
#[test]
fn device_nodes_open_as_their_rules_allow_under_cgroup_v1_and_v2_as_under_runc() {
    require_root!();
    if !Path::new("/sys/fs/cgroup/devices/devices.list").exists() {
        eprintln!("skipped: this test runs on a cgroup v1 host (and makes a v2 view itself)");
        return;
    }
    let rules = r#""devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 237, "access": "rw"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}
    ]"#;
    let nodes = r#"{"path": "/dev/loop-control", "type": "c", "major": 10, "minor": 237, "fileMode": 432, "uid": 0, "gid": 6},
        {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11},
        {"path": "/dev/oxbox/vcs", "type": "c", "major": 7, "minor": 0, "fileMode": 438, "uid": 1000}"#;
    let script = [
        "for d in loop-control kmsg oxbox/vcs; do stat -c '%A %u %g %t:%T %n' /dev/$d; done",
        "(exec 3<>/dev/loop-control) 2>&1 && echo loop-control rw ok",
        "(exec 3>/dev/kmsg) 2>&1 && echo kmsg w ok",
        "(exec 3</dev/kmsg) 2>&1 && echo kmsg r ok",
        "(exec 3</dev/oxbox/vcs) 2>&1 && echo vcs r ok",
        "echo x > /dev/null && head -c 3 /dev/zero | wc -c",
    ]
    .join("; ");
    let work = std::env::temp_dir().join(format!("oxbox-device-nodes-{}", std::process::id()));
    let parent = format!("oxbox-device-nodes-{}", std::process::id());
    for hierarchy in ["v1", "v2"] {
        let [runc, oxbox] = ["runc", "oxbox"].map(|name| {
            let dir = work.join(hierarchy).join(name);
            let _ = std::fs::remove_dir_all(&dir);
            let runtime = Runtime::named(name, dir.join("root"));
            std::fs::create_dir_all(&runtime.root).unwrap();
            let bundle = bundle(&dir.join("bundle"), &script, None);
            with_devices(&bundle, rules, nodes, &format!("{parent}/{name}"));
            // In the v2 view the runtime makes the cgroup in the host's
            // cgroup2 hierarchy; the same shell removes it after the run.
            let wrapper = format!(
                "{} \"$@\"; status=$?; rmdir /sys/fs/cgroup/{parent}/{name} /sys/fs/cgroup/{parent} 2>/dev/null; exit $status",
                if hierarchy == "v2" {
                    "mount -t cgroup2 cgroup2 /sys/fs/cgroup &&"
                } else {
                    ""
                }
            );
            let output = Command::new("unshare")
                .args(["--mount", "--propagation", "private", "sh", "-c", &wrapper, "sh"])
                .args(["timeout", "-s", "KILL", "60"])
                .arg(&runtime.binary)
                .arg("--root")
                .arg(&runtime.root)
                .args(["run", "--bundle"])
                .arg(&bundle)
                .arg(format!("nodes-{hierarchy}-{}", std::process::id()))
                .stdin(Stdio::null())
                .output()
                .unwrap();
            format!(
                "exit={}\n{}{}",
                output.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        eprintln!("{hierarchy}, runc:\n{runc}");
        assert_eq!(runc, oxbox, "{hierarchy}: runc and oxbox disagree");
        let lines: Vec<&str> = runc.lines().collect();
        assert_eq!(lines[0], "exit=0", "{hierarchy}: {runc}");
        assert!(
            lines.contains(&"crw-rw---- 0 6 a:ed /dev/loop-control"),
            "{runc}"
        );
        assert!(lines.contains(&"crw-rw-rw- 0 0 1:b /dev/kmsg"), "{runc}");
        assert!(
            lines.contains(&"crw-rw-rw- 1000 0 7:0 /dev/oxbox/vcs"),
            "{runc}"
        );
        assert!(lines.contains(&"kmsg w ok"), "{runc}");
        // Refused by the device cgroup (EPERM), not by the file's mode.
        for denied in ["/dev/kmsg", "/dev/oxbox/vcs"] {
            let line = format!("sh: can't open {denied}: Operation not permitted");
            assert!(lines.contains(&line.as_str()), "{hierarchy}: {runc}");
        }
        assert_eq!(lines.last(), Some(&"3"), "{runc}");
    }
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = std::fs::remove_dir(hierarchy.path().join(&parent).join("runc"));
        let _ = std::fs::remove_dir(hierarchy.path().join(&parent).join("oxbox"));
        let _ = std::fs::remove_dir(hierarchy.path().join(&parent));
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// The device rules of a config (runc's deny-all, then allow and deny
/// rules of the user's) end up in the container's v1 devices cgroup as
/// runc leaves them: `devices.list`, read from the host while the
/// container is created, is the same line for line.
#[test]
fn device_rules_reach_the_devices_cgroup_as_under_runc() {
    require_root!();
    let controller = Path::new("/sys/fs/cgroup/devices");
    if !controller.join("devices.list").exists() {
        eprintln!("skipped: no cgroup v1 devices controller");
        return;
    }
    let rules = r#""devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 42, "access": "rm"},
        {"allow": true, "type": "c", "major": 42, "minor": 1, "access": "w"},
        {"allow": true, "type": "b", "major": 7, "minor": 3, "access": "rw"},
        {"allow": false, "type": "b", "major": 7, "minor": 3, "access": "w"},
        {"allow": true, "type": "b", "major": 1, "minor": 3, "access": "r"},
        {"allow": false, "type": "c", "major": 10, "minor": 200, "access": "rwm"}
    ]"#;
    let work = std::env::temp_dir().join(format!("oxbox-devices-{}", std::process::id()));
    let [runc, oxbox] = ["runc", "oxbox"].map(|name| {
        let _ = std::fs::remove_dir_all(work.join(name));
        let runtime = Runtime::named(name, work.join(name).join("root"));
        std::fs::create_dir_all(&runtime.root).unwrap();
        let bundle = bundle(&work.join(name).join("bundle"), "sleep 60", None);
        let cgroup = format!("oxbox-devices-test/{name}-{}", std::process::id());
        with_devices(&bundle, rules, "", &cgroup);
        let id = format!("devices-{}", std::process::id());
        let created = runtime.call(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
        let list = std::fs::read_to_string(controller.join(&cgroup).join("devices.list"))
            .unwrap_or_else(|e| format!("no devices.list: {e}"));
        runtime.call(&["delete", "--force", &id]);
        format!(
            "create: exit={}\n{list}",
            created.status.code().unwrap_or(-1)
        )
    });
    let _ = std::fs::remove_dir_all(&work);
    // Both runtimes left the parent in every hierarchy.
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = std::fs::remove_dir(hierarchy.path().join("oxbox-devices-test"));
    }
    assert_eq!(runc, oxbox, "runc and oxbox disagree");
    // What runc showed: the user's rules folded into its defaults.
    let lines: Vec<&str> = runc.lines().collect();
    assert_eq!(lines[0], "create: exit=0");
    // runc's defaults (c 1:3, c 10:200...) come after the user's rules,
    // so denying one of them does not stick.
    for wanted in [
        "c 42:* rm",
        "c 42:1 w",
        "b 7:3 r",
        "b 1:3 r",
        "c 1:3 rwm",
        "c 10:200 rwm",
    ] {
        assert!(lines.contains(&wanted), "{wanted}: {lines:?}");
    }
    assert!(!lines.iter().any(|l| l.starts_with("a ")), "{lines:?}");
}

/// A runtime with its state under `dir` and a bundle running `command` in
/// the user namespace `user` (the config's entry, e.g. `{"type": "user"}`),
/// with container root mapped to host 100000 (uid) and 200000 (gid), and
/// `shared`, a host directory anyone may write, bound on `/tmp`.
struct MappedBundle {
    runtime: Runtime,
    bundle: PathBuf,
    shared: PathBuf,
}

impl MappedBundle {
    fn new(name: &'static str, dir: &Path, command: &str, user: &str) -> MappedBundle {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::remove_dir_all(dir);
        let runtime = Runtime::named(name, dir.join("root"));
        std::fs::create_dir_all(&runtime.root).unwrap();
        let shared = dir.join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let bundle = bundle(&dir.join("bundle"), command, None);
        let config = bundle.join("config.json");
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replacen(
                "\"namespaces\": [",
                &format!(
                    "\"uidMappings\": [{{\"containerID\": 0, \"hostID\": 100000, \"size\": 65536}}],\n\t\t\
                     \"gidMappings\": [{{\"containerID\": 0, \"hostID\": 200000, \"size\": 65536}}],\n\t\t\
                     \"namespaces\": [{user},"
                ),
                1,
            )
            .replacen(
                "\"mounts\": [",
                &format!(
                    r#""mounts": [{{"destination": "/tmp", "type": "bind", "source": "{}", "options": ["rbind", "rw"]}},"#,
                    shared.display()
                ),
                1,
            );
        std::fs::write(&config, &text).unwrap();
        MappedBundle {
            runtime,
            bundle,
            shared,
        }
    }

    /// `host sees FILE owned by UID:GID`, for a file in `shared`.
    fn owner_line(&self, file: &str) -> String {
        use std::os::unix::fs::MetadataExt;
        let owner = std::fs::metadata(self.shared.join(file))
            .map(|m| format!("{}:{}", m.uid(), m.gid()))
            .unwrap_or_else(|e| e.to_string());
        format!("host sees {file} owned by {owner}")
    }
}

/// A user namespace named by path in the config (as containerd gives the
/// containers of a pod with its own user namespace), held by a process of
/// the test's: the container joins it before making its other namespaces,
/// its root is the namespace's, and what it creates in a bind-mounted host
/// directory belongs on the host to the ids that namespace maps, as under
/// runc.
#[test]
fn an_existing_user_namespace_is_joined_by_path_as_under_runc() {
    require_root!();
    let mut holder = Command::new("unshare")
        .args(["--user", "sleep", "120"])
        .spawn()
        .expect("util-linux unshare");
    let namespace = format!("/proc/{}/ns/user", holder.id());
    let ours = std::fs::read_link("/proc/self/ns/user").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_link(&namespace).is_ok_and(|ns| ns == ours) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Mapped from outside, as root may (Debian's unshare would need
    // newuidmap for its --map-users).
    for (file, map) in [("uid_map", "0 100000 65536"), ("gid_map", "0 200000 65536")] {
        std::fs::write(format!("/proc/{}/{file}", holder.id()), map).unwrap();
    }
    let work = std::env::temp_dir().join(format!("oxbox-userns-join-{}", std::process::id()));
    let user = format!(r#"{{"type": "user", "path": "{namespace}"}}"#);
    let [runc, oxbox] = ["runc", "oxbox"].map(|name| {
        let mapped = MappedBundle::new(
            name,
            &work.join(name),
            "id -u; id -g; touch /tmp/joined",
            &user,
        );
        let bundle = mapped.bundle.to_str().unwrap();
        let run = mapped
            .runtime
            .call(&["run", "--bundle", bundle, "userns-join"]);
        format!(
            "run: exit={} {}{}; {}",
            run.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&run.stdout).replace('\n', " "),
            String::from_utf8_lossy(&run.stderr).trim(),
            mapped.owner_line("joined")
        )
    });
    let _ = holder.kill();
    let _ = holder.wait();
    let _ = std::fs::remove_dir_all(&work);
    assert_eq!(runc, oxbox, "runc and oxbox disagree");
    assert_eq!(
        runc,
        "run: exit=0 0 0 ; host sees joined owned by 100000:200000"
    );
}

/// A user namespace from the config (`uidMappings`/`gidMappings`): the
/// guest is root inside, and what it creates in a bind-mounted host
/// directory belongs on the host to the mapped ids, for the first process
/// and for an `exec`'d one, as under runc.
#[test]
fn a_user_namespace_maps_the_containers_root_as_under_runc() {
    require_root!();
    let work = std::env::temp_dir().join(format!("oxbox-userns-{}", std::process::id()));
    let [runc, oxbox] = ["runc", "oxbox"].map(|name| {
        let mapped = MappedBundle::new(
            name,
            &work.join(name),
            // The second container (for exec) finds the first one's file.
            "test -e /tmp/first && exec sleep 60; id -u; id -g; touch /tmp/first; \
             ls -n /tmp/first | tr -s ' ' | cut -d ' ' -f 3,4",
            r#"{"type": "user"}"#,
        );
        let runtime = &mapped.runtime;
        let bundle_arg = mapped.bundle.to_str().unwrap();
        let run = runtime.call(&["run", "--bundle", bundle_arg, "userns-run"]);
        let mut lines = vec![format!(
            "run: exit={} {}",
            run.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&run.stdout).replace('\n', " ")
        )];
        let id = "userns-exec";
        let created = runtime.call(&["create", "--bundle", bundle_arg, id]);
        let started = runtime.call(&["start", id]);
        let exec = runtime.call(&["exec", id, "sh", "-c", "id -u; touch /tmp/exec"]);
        runtime.call(&["delete", "--force", id]);
        lines.push(format!(
            "create={} start={} exec={} {}",
            created.status.code().unwrap_or(-1),
            started.status.code().unwrap_or(-1),
            exec.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&exec.stdout).trim()
        ));
        lines.extend(["first", "exec"].map(|file| mapped.owner_line(file)));
        lines
    });
    let _ = std::fs::remove_dir_all(&work);
    assert_eq!(runc, oxbox, "runc and oxbox disagree");
    assert_eq!(
        runc,
        [
            "run: exit=0 0 0 0 0 ",
            "create=0 start=0 exec=0 0",
            "host sees first owned by 100000:200000",
            "host sees exec owned by 100000:200000",
        ]
    );
}
