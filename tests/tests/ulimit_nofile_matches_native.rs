//! `oxbox do --ulimit` gives the guest the limits `prlimit` gives a native
//! process, in the Debian rootfs:
//!
//! - `nofile` is the guest kernel's own: bash's `ulimit -n`/`-Hn` report
//!   it, python opening descriptors gets `EMFILE` at the same count, a
//!   pipe needing two slots when one is free gets `EMFILE` and leaves the
//!   slot free, `dup2` and `F_DUPFD` above the limit get `EBADF` and
//!   `EINVAL`; bash's `ulimit` changes it with Linux's errors (soft above
//!   hard, hard above `fs.nr_open`, raising the hard limit as the host
//!   allows it), and the limits survive fork and exec;
//! - without the flag, the guest has the limits of the process that
//!   started oxbox, as a native process would;
//! - the other names are set on the container's host process: `ulimit -a`
//!   and `-Ha` print the same, and a write past `fsize` is stopped;
//! - bad values are refused with Docker's messages and status 125.

use std::process::{Command, Stdio};

use oxbox_integration::{Compare, Run, debian, oxbox_bin, require_root, skip_without_oxbox};

/// Opens descriptors until `EMFILE` and tries the calls the limit governs.
const OPEN_UNTIL_EMFILE: &str = r#"
import errno, fcntl, os
def outcome(call):
    try:
        call()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
fds = []
while True:
    try:
        fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        print(len(fds), "opened, then", errno.errorcode[e.errno])
        break
print("highest", max(fds))
print("pipe at the limit", outcome(os.pipe))
os.close(fds.pop())
print("pipe with one slot free", outcome(os.pipe))
print("open with one slot free", outcome(lambda: fds.append(os.open("/dev/null", os.O_RDONLY))))
print("dup2 above the limit", outcome(lambda: os.dup2(0, 100)))
print("F_DUPFD above the limit", outcome(lambda: fcntl.fcntl(0, fcntl.F_DUPFD, 100)))
"#;

fn bash(script: &str) -> Run {
    let mut run = Run::with_rootfs(debian().path(), ["bash", "-c", script]);
    let dir = run.scratch("ulimit");
    run.env("S", &dir).env("COUNT", OPEN_UNTIL_EMFILE)
}

#[test]
fn nofile_is_enforced_reported_changed_and_inherited_as_native() {
    require_root!();
    let script = r#"
ulimit -n; ulimit -Hn
python3 -c "$COUNT"
ulimit -Sn 200 2>&1; echo "soft above hard: $?"
ulimit -Hn 2000000 2>&1 | sed 's/line [0-9]*/line N/'; echo "hard above nr_open: ${PIPESTATUS[0]}"
ulimit -Sn 128; bash -c 'ulimit -n; python3 -c "$COUNT" | head -1'
ulimit -n 100; ulimit -Hn 120 2>/dev/null; echo "hard raised back: $?"
bash -c 'ulimit -Sn; exec sh -c "ulimit -n"'
"#;
    let run = bash(script).ulimit("nofile=64:128");
    let (native, _) = run.matches_native(Compare::StdoutAndStatus);
    let out = native.stdout();
    for line in [
        "64\n128\n61 opened, then EMFILE\nhighest 63\npipe at the limit EMFILE\n",
        "pipe with one slot free EMFILE\nopen with one slot free ok\n",
        "dup2 above the limit EBADF\nF_DUPFD above the limit EINVAL\n",
        "Invalid argument\nsoft above hard: 1\n",
        "Operation not permitted\nhard above nr_open: 1\n128\n125 opened, then EMFILE\n",
        "100\n100\n",
    ] {
        assert!(
            out.contains(line),
            "native baseline lacks {line:?}\n{}",
            native.describe()
        );
    }
}

#[test]
fn without_the_flag_the_limits_are_those_oxbox_inherited() {
    require_root!();
    let (soft, hard) = (run_here("ulimit -Sn"), run_here("ulimit -Hn"));
    let (native, _) = bash("ulimit -Sn; ulimit -Hn").matches_native(Compare::StdoutAndStatus);
    assert_eq!(
        native.stdout(),
        format!("{soft}{hard}"),
        "{}",
        native.describe()
    );
}

/// `script` in this test's own bash, for the limits it inherited.
fn run_here(script: &str) -> String {
    let out = Command::new("bash")
        .args(["-c", script])
        .output()
        .expect("bash");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn other_limits_are_the_host_processes_and_hold() {
    require_root!();
    let limits = [
        "nproc=500:600",
        "core=0:1000",
        "fsize=4096:8192",
        "cpu=100:200",
        "sigpending=100:200",
        "memlock=65536",
        "nice=0",
        "rtprio=0",
        "msgqueue=8192",
        "locks=100",
        "rttime=1000000",
        "rss=1000000",
    ];
    let script = r#"ulimit -a; ulimit -Ha
head -c 10000 /dev/zero > $S/f 2>/dev/null; echo "head: $?"; wc -c < $S/f"#;
    let run = limits.iter().fold(bash(script), |run, l| run.ulimit(l));
    let (native, _) = run.matches_native(Compare::StdoutAndStatus);
    let out = native.stdout();
    for line in ["(-u) 500\n", "(blocks, -f) 4\n", "head: 153\n4096\n"] {
        assert!(
            out.contains(line),
            "native baseline lacks {line:?}\n{}",
            native.describe()
        );
    }
}

#[test]
fn bad_ulimits_are_refused_with_dockers_messages() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    for (flag, message) in [
        ("nofile", "invalid ulimit argument: nofile"),
        ("files=1", "invalid ulimit type: files"),
        (
            "nofile=abc",
            "strconv.ParseInt: parsing \"abc\": invalid syntax",
        ),
        (
            "nofile=1:2:3",
            "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`",
        ),
        (
            "nofile=128:64",
            "ulimit soft limit must be less than or equal to hard limit: 128 > 64",
        ),
        ("nofile=2000000", "above fs.nr_open (1048576)"),
        ("stack=8192", "--ulimit stack is not supported by oxbox"),
    ] {
        let o = Command::new(oxbox_bin())
            .args(["do", "--rootfs"])
            .arg(debian().path())
            .args(["--ulimit", flag, "--", "echo", "ran"])
            .stdin(Stdio::null())
            .output()
            .expect("running oxbox do");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(125), "{flag}: {stderr}");
        assert!(stderr.contains(message), "{flag}: {stderr}");
        assert!(o.stdout.is_empty(), "{flag}: {stderr}");
    }
}
