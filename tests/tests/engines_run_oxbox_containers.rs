//! Docker and containerd drive oxbox as their OCI runtime.
//!
//! One private dockerd (see `oxbox_integration::engines`) with oxbox
//! registered beside runc. Each `docker run` scenario runs once with
//! `--runtime runc`, Docker's default and the oracle, and once with
//! `--runtime oxbox`: exit status and output must match (with Docker's
//! default seccomp profile, and with one of the test's). Lifecycle
//! scenarios (exec, stop, kill, top, pause) check what Docker reports.
//! Then containerd's own client runs the image with `--runc-binary oxbox`.
//!
//! The scenarios share the daemon, so they run in one test that reports
//! every failing scenario by name.

use std::process::Output;

use oxbox_integration::engines::Dockerd;
use oxbox_integration::{oxbox_bin, require_root, rootfs};

const IMAGE: &str = "oxbox-tests/busybox:1";

/// A `docker run` compared between runc and oxbox.
struct Compared {
    name: &'static str,
    /// Options before the image.
    options: &'static [&'static str],
    /// The command after it.
    command: &'static [&'static str],
    stdin: &'static [u8],
}

const COMPARED: &[Compared] = &[
    Compared {
        name: "echo",
        options: &[],
        command: &["echo", "hello from a container"],
        stdin: b"",
    },
    Compared {
        name: "exit status",
        options: &[],
        command: &["sh", "-c", "exit 7"],
        stdin: b"",
    },
    Compared {
        name: "env, workdir and user",
        options: &["-e", "FOO=bar", "-w", "/tmp", "-u", "1000:1000"],
        command: &[
            "sh",
            "-c",
            "echo $FOO $(pwd) $(id -u):$(id -g); touch f && ls -n f",
        ],
        stdin: b"",
    },
    Compared {
        name: "stdin with -i",
        options: &["-i"],
        command: &["sh", "-c", "tr a-z A-Z; echo done"],
        stdin: b"piped into the container\n",
    },
    Compared {
        name: "tty with -t",
        options: &["-t"],
        command: &["sh", "-c", "test -t 0 && test -t 1 && echo on a terminal"],
        stdin: b"",
    },
    Compared {
        name: "network none",
        options: &["--network", "none"],
        command: &["sh", "-c", "hostname | wc -c"],
        stdin: b"",
    },
    Compared {
        name: "network host",
        options: &["--network", "host"],
        command: &["hostname"],
        stdin: b"",
    },
    Compared {
        name: "read-only root with a tmpfs",
        options: &["--read-only", "--tmpfs", "/scratch"],
        command: &[
            "sh",
            "-c",
            "touch /x 2>&1; echo rc=$?; echo ok > /scratch/f && cat /scratch/f",
        ],
        stdin: b"",
    },
    Compared {
        name: "sysctls",
        options: &[
            "--sysctl",
            "net.ipv4.ip_unprivileged_port_start=0",
            "--sysctl",
            "kernel.shmmax=65536",
        ],
        command: &[
            "cat",
            "/proc/sys/net/ipv4/ip_unprivileged_port_start",
            "/proc/sys/kernel/shmmax",
        ],
        stdin: b"",
    },
    Compared {
        name: "missing binary",
        options: &[],
        command: &["/nonexistent-binary"],
        stdin: b"",
    },
];

#[test]
fn docker_and_containerd_run_oxbox_containers() {
    require_root!();
    let oxbox = oxbox_bin();
    let dockerd = Dockerd::start();
    dockerd.import(rootfs().path(), IMAGE);
    let mut failures = Vec::new();
    let mut check = |name: &str, result: Result<(), String>| {
        if let Err(e) = result {
            failures.push(format!("== {name}: {e}"));
        }
    };
    for scenario in COMPARED {
        let result = compare_runtimes(&dockerd, scenario.options, scenario.command, scenario.stdin);
        check(scenario.name, result);
    }
    check("seccomp profile", seccomp_profile(&dockerd));
    check("bind mount", bind_mount(&dockerd));
    check("resource limits", resource_limits(&dockerd));
    check("device cgroup rules", device_rules(&dockerd));
    check("exec, top, pause and stop", lifecycle(&dockerd));
    check("kill", kill(&dockerd));
    check("error message", error_message(&dockerd));
    check("refused sysctl", refused_sysctl(&dockerd));
    check("ctr run", ctr_run(&dockerd, &oxbox.to_string_lossy()));
    assert!(
        failures.is_empty(),
        "{}\n--- dockerd log (tail) ---\n{}",
        failures.join("\n"),
        tail(&dockerd.log(), 30)
    );
}

/// Runs `docker run --rm OPTIONS IMAGE COMMAND` under runc and under
/// oxbox; the exit status and the output must be the same.
fn compare_runtimes(
    dockerd: &Dockerd,
    options: &[&str],
    command: &[&str],
    stdin: &[u8],
) -> Result<(), String> {
    let run = |runtime: &str| {
        let mut args = vec!["run", "--rm", "--runtime", runtime];
        args.extend(options);
        args.push(IMAGE);
        args.extend(command);
        dockerd.docker_with_input(&args, stdin)
    };
    let (runc, oxbox) = (run("runc"), run("oxbox"));
    if runc.status.code() != oxbox.status.code() || runc.stdout != oxbox.stdout {
        return Err(format!(
            "runc and oxbox differ\n[runc] {}\n[oxbox] {}",
            describe(&runc),
            describe(&oxbox)
        ));
    }
    Ok(())
}

/// A seccomp profile of the user's (`--security-opt seccomp=FILE`) is
/// enforced on the guest's calls: denied calls fail with the profile's
/// errno, as under runc.
fn seccomp_profile(dockerd: &Dockerd) -> Result<(), String> {
    let profile = dockerd.path("seccomp.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["fchmodat", "chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28,
             "args": [{"index": 2, "value": 511, "op": "SCMP_CMP_EQ"}]}
        ]}"#,
    )
    .unwrap();
    let option = format!("seccomp={}", profile.display());
    let script = "mkdir /x; echo mkdir=$?; touch /f; chmod 777 /f; echo chmod777=$?; \
                  chmod 755 /f; echo chmod755=$?";
    compare_runtimes(
        dockerd,
        &["--security-opt", &option],
        &["sh", "-c", script],
        b"",
    )?;
    // Without the profile the same calls succeed: the denials above are
    // the profile's, not oxbox's.
    let plain = dockerd.docker(&[
        "run",
        "--rm",
        "--runtime",
        "oxbox",
        IMAGE,
        "sh",
        "-c",
        script,
    ]);
    expect(
        stdout(&plain) == "mkdir=0\nchmod777=0\nchmod755=0\n",
        &plain,
    )
}

fn bind_mount(dockerd: &Dockerd) -> Result<(), String> {
    let dir = dockerd.path("volume");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("in"), "from the host\n").unwrap();
    let volume = format!("{}:/data", dir.display());
    let out = dockerd.docker(&[
        "run",
        "--rm",
        "--runtime",
        "oxbox",
        "-v",
        &volume,
        IMAGE,
        "sh",
        "-c",
        "cat /data/in; echo from the container > /data/out",
    ]);
    expect(
        out.status.success() && stdout(&out) == "from the host\n",
        &out,
    )?;
    let written = std::fs::read_to_string(dir.join("out")).unwrap_or_default();
    if written != "from the container\n" {
        return Err(format!("host sees {written:?} in the volume"));
    }
    Ok(())
}

fn lifecycle(dockerd: &Dockerd) -> Result<(), String> {
    let started = dockerd.docker(&[
        "run",
        "-d",
        "--name",
        "lifecycle",
        "--runtime",
        "oxbox",
        IMAGE,
        "sh",
        "-c",
        "trap 'echo got TERM; exit 3' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    expect(started.status.success(), &started)?;
    let exec = dockerd.docker(&["exec", "lifecycle", "sh", "-c", "echo exec ok; exit 5"]);
    expect(
        exec.status.code() == Some(5) && stdout(&exec) == "exec ok\n",
        &exec,
    )?;
    let top = dockerd.docker(&["top", "lifecycle"]);
    expect(
        top.status.success() && stdout(&top).contains("while true"),
        &top,
    )?;
    let inspect = |field: &str| stdout(&dockerd.docker(&["inspect", "-f", field, "lifecycle"]));
    let paused = dockerd.docker(&["pause", "lifecycle"]);
    expect(
        paused.status.success() && inspect("{{.State.Status}}") == "paused\n",
        &paused,
    )?;
    let resumed = dockerd.docker(&["unpause", "lifecycle"]);
    expect(
        resumed.status.success() && inspect("{{.State.Status}}") == "running\n",
        &resumed,
    )?;
    let stopped = dockerd.docker(&["stop", "-t", "20", "lifecycle"]);
    expect(stopped.status.success(), &stopped)?;
    let code = inspect("{{.State.ExitCode}}");
    let logs = dockerd.docker(&["logs", "lifecycle"]);
    let _ = dockerd.docker(&["rm", "-f", "lifecycle"]);
    if code != "3\n" || stdout(&logs) != "ready\ngot TERM\n" {
        return Err(format!(
            "after stop: exit code {code:?}, logs {:?}",
            stdout(&logs)
        ));
    }
    Ok(())
}

/// `--memory`, `--pids-limit`, `--cpus` and a later `docker update` land
/// in the container's cgroup exactly as with runc.
fn resource_limits(dockerd: &Dockerd) -> Result<(), String> {
    let limits = |runtime: &str| -> Result<Vec<String>, String> {
        let name = format!("limits-{runtime}");
        let started = dockerd.docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--runtime",
            runtime,
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            "--cpus",
            "0.5",
            IMAGE,
            "sleep",
            "100",
        ]);
        expect(started.status.success(), &started)?;
        let id = stdout(&dockerd.docker(&["inspect", "-f", "{{.Id}}", &name]));
        let id = id.trim();
        let mut values = cgroup_values(id);
        let updated =
            dockerd.docker(&["update", "--memory", "128m", "--memory-swap", "256m", &name]);
        expect(updated.status.success(), &updated)?;
        values.extend(cgroup_values(id));
        let _ = dockerd.docker(&["rm", "-f", &name]);
        Ok(values)
    };
    let (runc, oxbox) = (limits("runc")?, limits("oxbox")?);
    if runc != oxbox || runc.iter().all(|v| v == "missing") {
        return Err(format!(
            "cgroup limits differ: runc {runc:?}, oxbox {oxbox:?}"
        ));
    }
    Ok(())
}

/// Docker's device rules (its deny-all and default allow list, and one of
/// the user's with `--device-cgroup-rule`) leave the container's v1
/// devices cgroup as under runc.
fn device_rules(dockerd: &Dockerd) -> Result<(), String> {
    let list = |runtime: &str, options: &[&str]| -> Result<String, String> {
        let name = format!("devices-{runtime}");
        let mut args = vec!["run", "-d", "--name", &name, "--runtime", runtime];
        args.extend(options);
        args.extend([IMAGE, "sleep", "100"]);
        let started = dockerd.docker(&args);
        expect(started.status.success(), &started)?;
        let id = stdout(&dockerd.docker(&["inspect", "-f", "{{.Id}}", &name]));
        let path = format!("/sys/fs/cgroup/devices/docker/{}/devices.list", id.trim());
        let list = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"));
        let _ = dockerd.docker(&["rm", "-f", &name]);
        list
    };
    if !std::path::Path::new("/sys/fs/cgroup/devices/devices.list").exists() {
        return Ok(());
    }
    for options in [&[][..], &["--device-cgroup-rule", "c 42:* rmw"]] {
        let (runc, oxbox) = (list("runc", options)?, list("oxbox", options)?);
        let asked = options.is_empty() || runc.lines().any(|l| l == "c 42:* rwm");
        if runc != oxbox || runc.contains("a *:*") || !asked {
            return Err(format!(
                "devices.list with {options:?} differs:\n[runc]\n{runc}[oxbox]\n{oxbox}"
            ));
        }
    }
    Ok(())
}

/// Memory, pids and cpu limits of Docker container `id` (cgroupfs driver,
/// v1 or v2 layout), `missing` where a file does not exist.
fn cgroup_values(id: &str) -> Vec<String> {
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let files: Vec<String> = if v2 {
        ["memory.max", "pids.max", "cpu.max"]
            .iter()
            .map(|f| format!("/sys/fs/cgroup/docker/{id}/{f}"))
            .collect()
    } else {
        [
            "memory/docker/{id}/memory.limit_in_bytes",
            "pids/docker/{id}/pids.max",
            "cpu/docker/{id}/cpu.cfs_quota_us",
        ]
        .iter()
        .map(|f| format!("/sys/fs/cgroup/{}", f.replace("{id}", id)))
        .collect()
    };
    files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f).map_or_else(|_| "missing".into(), |v| v.trim().to_owned())
        })
        .collect()
}

fn kill(dockerd: &Dockerd) -> Result<(), String> {
    let started = dockerd.docker(&[
        "run",
        "-d",
        "--name",
        "killed",
        "--runtime",
        "oxbox",
        IMAGE,
        "sleep",
        "100",
    ]);
    expect(started.status.success(), &started)?;
    let killed = dockerd.docker(&["kill", "killed"]);
    expect(killed.status.success(), &killed)?;
    let waited = dockerd.docker(&["wait", "killed"]);
    let _ = dockerd.docker(&["rm", "-f", "killed"]);
    expect(stdout(&waited) == "137\n", &waited)
}

fn error_message(dockerd: &Dockerd) -> Result<(), String> {
    let out = dockerd.docker(&[
        "run",
        "--rm",
        "--runtime",
        "oxbox",
        IMAGE,
        "no-such-program",
    ]);
    let wanted = "exec: \"no-such-program\": executable file not found in $PATH";
    expect(String::from_utf8_lossy(&out.stderr).contains(wanted), &out)
}

/// A network sysctl with the host's network namespace would change the
/// host's: oxbox refuses it, as runc does, and Docker shows why.
fn refused_sysctl(dockerd: &Dockerd) -> Result<(), String> {
    let out = dockerd.docker(&[
        "run",
        "--rm",
        "--runtime",
        "oxbox",
        "--network",
        "host",
        "--sysctl",
        "net.ipv4.ip_unprivileged_port_start=0",
        IMAGE,
        "true",
    ]);
    let wanted =
        r#"sysctl "net.ipv4.ip_unprivileged_port_start" not allowed in host network namespace"#;
    expect(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains(wanted),
        &out,
    )
}

fn ctr_run(dockerd: &Dockerd, oxbox: &str) -> Result<(), String> {
    let saved = dockerd.path("image.tar");
    let saved = saved.to_str().unwrap();
    let out = dockerd.docker(&["save", "-o", saved, IMAGE]);
    expect(out.status.success(), &out)?;
    let out = dockerd.ctr(&["image", "import", saved]);
    expect(out.status.success(), &out)?;
    let image = format!("docker.io/{IMAGE}");
    let run = |runtime: &[&str], id: &str| {
        let mut args = vec!["run", "--rm"];
        args.extend(runtime);
        args.extend([
            image.as_str(),
            id,
            "sh",
            "-c",
            "echo hello from ctr; exit 4",
        ]);
        dockerd.ctr(&args)
    };
    let (runc, oxbox) = (
        run(&[], "ctr-runc"),
        run(&["--runc-binary", oxbox], "ctr-oxbox"),
    );
    if runc.status.code() != Some(4)
        || runc.status.code() != oxbox.status.code()
        || runc.stdout != oxbox.stdout
    {
        return Err(format!(
            "runc and oxbox differ\n[runc] {}\n[oxbox] {}",
            describe(&runc),
            describe(&oxbox)
        ));
    }
    Ok(())
}

fn expect(ok: bool, out: &Output) -> Result<(), String> {
    if ok { Ok(()) } else { Err(describe(out)) }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "{} stdout={:?} stderr={:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
