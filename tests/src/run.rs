//! One command, run natively or under `oxbox do`, and the comparison of the
//! two outcomes.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::{rootfs, target_dir, workspace_root};

/// Hostname given to every scenario, natively (through a UTS namespace) and
/// under oxbox (`--hostname`), so `uname -n` can be compared.
pub const DEFAULT_HOSTNAME: &str = "oxbox-test";
/// The `PATH` `oxbox do` gives a guest; the native run gets the same.
pub const GUEST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// `HOME` `oxbox do` gives a guest.
pub const GUEST_HOME: &str = "/root";

/// Sets up the native baseline inside fresh mount, UTS, pid and network
/// namespaces (made by the `unshare` that runs this script): loopback is
/// brought up (as in a container's own network namespace), the rootfs gets its own
/// `/proc` (of the new pid namespace, so the program sees itself as pid 1)
/// and the host's `/dev`, the UTS namespace gets the container hostname, and
/// the program runs chrooted (on a read-only bind mount of the rootfs if
/// asked) with the requested working directory. The namespaces die with
/// the program, taking the mounts with them.
///
/// Descriptors the test process inherited from its own parent (a shell's
/// or CI's, without close-on-exec) are closed first: a container starts
/// with stdin, stdout and stderr only, and the baseline must too.
const NATIVE_SETUP: &str = r#"
r=$1 h=$2 w=$3 ro=$4
shift 4
fail() { echo "oxbox-native-setup: $*" >&2; exit 125; }
# /proc/self, not /proc/$$: this shell is pid 1 of a new pid namespace but
# still sees the host's /proc, where $$ would name the host's init.
for fd in /proc/self/fd/*; do
    n=${fd##*/}
    if [ "$n" -gt 2 ]; then eval "exec $n>&-" 2>/dev/null; fi
done
if [ "$ro" = ro ]; then
    mount --bind "$r" "$r" && mount -o remount,bind,ro "$r" || fail "read-only rootfs"
fi
# In a fresh network namespace loopback starts down (in the host's, a no-op).
ip link set lo up || fail "loopback up"
mount -t proc proc "$r/proc" || fail "mount proc"
mount --rbind /dev "$r/dev" || fail "bind /dev"
printf '%s' "$h" > /proc/sys/kernel/hostname || fail "set hostname"
# bash exports these to what it executes; a guest environment has neither.
unset PWD OLDPWD
# A container's root has the supplementary groups its /etc/group gives it
# (here just 0), not whatever the test runner happened to have.
exec env -u SHLVL setpriv --groups=0 unshare --root="$r" --wd="$w" -- "$@"
"#;

/// The oxbox binary: `$OXBOX_BIN`, else `release/oxbox` in
/// `$CARGO_TARGET_DIR` or the workspace's `target/`.
///
/// Panics with instructions if it does not exist: CI builds it before the
/// tests, and a scenario that silently skipped oxbox would prove nothing.
pub fn oxbox_bin() -> PathBuf {
    let bin = match std::env::var_os("OXBOX_BIN") {
        Some(p) => PathBuf::from(p),
        None => match std::env::var_os("CARGO_TARGET_DIR") {
            Some(_) => target_dir().join("release/oxbox"),
            None => workspace_root().join("target/release/oxbox"),
        },
    };
    assert!(
        bin.is_file(),
        "the oxbox binary is missing at {}: run `cargo build --release -p oxbox -p \
         oxbox-kernel-image` first, or point OXBOX_BIN at it (OXBOX_NATIVE_ONLY=1 checks \
         the native baselines alone)",
        bin.display()
    );
    bin
}

/// Whether `OXBOX_NATIVE_ONLY=1`: scenarios then check their native
/// baseline and skip the oxbox half, to validate the test programs on a
/// machine without a working oxbox.
pub fn native_only() -> bool {
    std::env::var("OXBOX_NATIVE_ONLY").is_ok_and(|v| v == "1")
}

/// For scenarios about oxbox alone (no native half): whether to skip
/// them, said on stderr, because `OXBOX_NATIVE_ONLY=1`.
pub fn skip_without_oxbox() -> bool {
    if native_only() {
        eprintln!("OXBOX_NATIVE_ONLY=1: skipped (oxbox only)");
    }
    native_only()
}

/// Polls until `done` holds, for at most `limit`; whether it did. Only a
/// guard against a hang: no assertion depends on how long it took.
pub fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Kills a long-lived process (`kill -KILL`) that is still running after
/// the test timeout, so a test that waits on a hung guest fails (its reads
/// see end of file) instead of hanging the whole suite. Disarm it (or drop
/// it) before the process is reaped, so its pid cannot be reused under it.
pub struct Watchdog {
    disarmed: Arc<AtomicBool>,
    fired: Arc<AtomicBool>,
}

impl Watchdog {
    /// Watches `pid` for the test timeout from now on.
    pub fn new(pid: u32) -> Watchdog {
        Watchdog::with_limit(pid, timeout())
    }

    fn with_limit(pid: u32, limit: Duration) -> Watchdog {
        let disarmed = Arc::new(AtomicBool::new(false));
        let fired = Arc::new(AtomicBool::new(false));
        let (stop, report) = (disarmed.clone(), fired.clone());
        let deadline = Instant::now() + limit;
        std::thread::spawn(move || {
            while Instant::now() < deadline {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if !stop.load(Ordering::SeqCst) {
                report.store(true, Ordering::SeqCst);
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        });
        Watchdog { disarmed, fired }
    }

    /// Stops watching (before the process is reaped).
    pub fn disarm(&self) {
        self.disarmed.store(true, Ordering::SeqCst);
    }

    /// Why the watched process ended, if the watchdog ended it: for the
    /// message of the test that saw it end.
    pub fn verdict(&self) -> &'static str {
        if self.fired.load(Ordering::SeqCst) {
            "it hung and was killed after the test timeout (OXBOX_TEST_TIMEOUT_SECS changes it)"
        } else {
            "it ended by itself"
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// A name no other test process uses at the same time: `tag` and our pid.
pub fn unique(tag: &str) -> String {
    format!("{tag}-{}", std::process::id())
}

fn timeout() -> Duration {
    let secs = std::env::var("OXBOX_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    Duration::from_secs(secs)
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// `native` or `oxbox`.
    pub side: &'static str,
    /// The command line, for messages.
    pub command: String,
    /// Exit code, or 128+N when killed by signal N (the shell's convention,
    /// which `oxbox do` follows).
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Outcome {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// stderr without the kernel's `oxbox-stats` report.
    pub fn guest_stderr(&self) -> String {
        self.stderr()
            .lines()
            .filter(|l| !l.starts_with("oxbox-stats "))
            .fold(String::new(), |mut s, l| {
                s.push_str(l);
                s.push('\n');
                s
            })
    }

    /// A readable dump for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "[{}] {}\nexit status: {}\n--- stdout ---\n{}--- stderr ---\n{}--------------",
            self.side,
            self.command,
            self.status,
            self.stdout(),
            self.stderr()
        )
    }
}

/// What a comparison looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// stdout and exit status: the default, since the wording of error
    /// messages may legitimately differ.
    StdoutAndStatus,
    /// stdout, exit status and stderr (minus the stats report): for programs
    /// whose error messages come from `strerror` and must match.
    All,
}

static SCRATCH_SEQ: AtomicU32 = AtomicU32::new(0);

/// A directory under the rootfs's `/tmp`, unique to this process, removed
/// on drop. Scenarios write only there, so they can share one rootfs.
#[derive(Debug)]
pub struct Scratch {
    host: PathBuf,
    guest: String,
}

impl Scratch {
    /// A new scratch directory (created by [`Scratch::reset`]) in `rootfs`.
    pub fn new(rootfs: &Path, tag: &str) -> Scratch {
        let n = SCRATCH_SEQ.fetch_add(1, Ordering::Relaxed);
        let guest = format!("/tmp/{tag}-{}-{n}", std::process::id());
        Scratch {
            host: rootfs.join(guest.trim_start_matches('/')),
            guest,
        }
    }

    /// The directory as the guest names it.
    pub fn guest(&self) -> &str {
        &self.guest
    }

    /// The directory on the host.
    pub fn host(&self) -> &Path {
        &self.host
    }

    /// Makes the directory exist and be empty.
    pub fn reset(&self) {
        let _ = std::fs::remove_dir_all(&self.host);
        std::fs::create_dir_all(&self.host)
            .unwrap_or_else(|e| panic!("creating {}: {e}", self.host.display()));
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.host);
    }
}

/// A command to run in a container.
///
/// Not `Clone`: it owns its scratch directories.
#[derive(Debug)]
pub struct Run {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Vec<u8>,
    hostname: String,
    workdir: Option<String>,
    stats: bool,
    read_only: bool,
    tmpfs: Vec<String>,
    terminal: bool,
    /// The host's network namespace instead of a fresh one.
    host_network: bool,
    /// `NAME=SOFT[:HARD]` resource limits.
    ulimits: Vec<String>,
    rootfs: PathBuf,
    /// Recreated empty before each run.
    scratch: Vec<Scratch>,
}

impl Run {
    /// `argv` in the standard rootfs (see [`rootfs()`]).
    pub fn new<I, S>(argv: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Run::with_rootfs(rootfs().path(), argv)
    }

    /// `argv` in the rootfs at `dir` (for example [`crate::debian()`]);
    /// unlike `Run::new(..).in_rootfs(dir)` the standard rootfs is not
    /// built, and scratch directories land in `dir`.
    pub fn with_rootfs<I, S>(dir: &Path, argv: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Run {
            argv: argv.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            stdin: Vec::new(),
            hostname: DEFAULT_HOSTNAME.to_string(),
            workdir: None,
            stats: false,
            read_only: false,
            tmpfs: Vec::new(),
            terminal: false,
            host_network: false,
            ulimits: Vec::new(),
            rootfs: dir.to_path_buf(),
            scratch: Vec::new(),
        }
    }

    /// A static guest program, `/guest/<program>`, given a fresh scratch
    /// directory as its first argument.
    pub fn guest(program: &str) -> Run {
        let mut run = Run::new([format!("/guest/{program}")]);
        let dir = run.scratch(&program.replace('/', "-"));
        run.argv.push(dir);
        run
    }

    /// Adds a directory that is empty at the start of every run (native and
    /// oxbox alike) and returns its guest path.
    pub fn scratch(&mut self, tag: &str) -> String {
        let dir = Scratch::new(&self.rootfs, tag);
        let guest = dir.guest().to_string();
        self.scratch.push(dir);
        guest
    }

    /// The host path of the `i`th scratch directory.
    pub fn scratch_host(&self, i: usize) -> &Path {
        self.scratch[i].host()
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Run {
        self.argv.push(arg.into());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Run {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Run {
        self.stdin = bytes.into();
        self
    }

    pub fn hostname(mut self, name: &str) -> Run {
        self.hostname = name.into();
        self
    }

    pub fn workdir(mut self, dir: &str) -> Run {
        self.workdir = Some(dir.into());
        self
    }

    /// Asks oxbox for the `--stats` report (ignored natively).
    pub fn stats(mut self) -> Run {
        self.stats = true;
        self
    }

    /// A read-only rootfs: `--read-only` under oxbox, a read-only bind
    /// mount natively.
    pub fn read_only(mut self) -> Run {
        self.read_only = true;
        self
    }

    /// Shares the host's network namespace: `--network host` under oxbox;
    /// natively, no network namespace of its own.
    pub fn host_network(mut self) -> Run {
        self.host_network = true;
        self
    }

    /// A resource limit, `NAME=SOFT[:HARD]` in numbers: `--ulimit` under
    /// oxbox, `prlimit --NAME=SOFT[:HARD]` natively (the names are the same).
    pub fn ulimit(mut self, limit: &str) -> Run {
        self.ulimits.push(limit.into());
        self
    }

    /// Mounts a fresh tmpfs (`DST[:OPTIONS]`, as `oxbox do --tmpfs`) under
    /// oxbox only: for guests that never run natively (the fuzzer), so the
    /// native baseline does not get it.
    pub fn tmpfs(mut self, mount: &str) -> Run {
        self.tmpfs.push(mount.into());
        self
    }

    /// Runs with a pseudo-terminal as stdin, stdout and stderr (through
    /// util-linux `script`, on both sides): stdout then carries stderr too,
    /// with `\r\n` line ends, and stdin is not passed.
    pub fn terminal(mut self) -> Run {
        self.terminal = true;
        self
    }

    /// Runs in `dir` instead of the standard rootfs.
    pub fn in_rootfs(mut self, dir: &Path) -> Run {
        self.rootfs = dir.to_path_buf();
        self
    }

    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    fn reset_scratch(&self) {
        self.scratch.iter().for_each(Scratch::reset);
    }

    /// Runs natively: chrooted into the rootfs, in fresh mount/UTS/pid/net
    /// namespaces (not net with [`Run::host_network`]), with the environment `oxbox do` would give.
    pub fn native(&self) -> Outcome {
        self.reset_scratch();
        let mut cmd = if self.ulimits.is_empty() {
            Command::new("unshare")
        } else {
            let mut prlimit = Command::new("prlimit");
            prlimit.args(self.ulimits.iter().map(|limit| format!("--{limit}")));
            prlimit.arg("unshare");
            prlimit
        };
        cmd.args(["--mount", "--uts", "--pid"]);
        if !self.host_network {
            cmd.arg("--net");
        }
        cmd.args([
            "--fork",
            "--kill-child",
            "--propagation",
            "private",
            "--",
            "/bin/bash",
            "-c",
            NATIVE_SETUP,
            "oxbox-native",
        ])
        .arg(&self.rootfs)
        .arg(&self.hostname)
        .arg(self.workdir.as_deref().unwrap_or("/"))
        .arg(if self.read_only { "ro" } else { "rw" })
        .args(&self.argv)
        .env_clear()
        .env("PATH", GUEST_PATH)
        .env("HOSTNAME", &self.hostname)
        .env("HOME", GUEST_HOME);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.execute("native", cmd, true)
    }

    /// Runs under `oxbox do --rootfs`.
    pub fn oxbox(&self) -> Outcome {
        self.reset_scratch();
        let mut cmd = Command::new(oxbox_bin());
        cmd.arg("do")
            .arg("--rootfs")
            .arg(&self.rootfs)
            .arg("--hostname")
            .arg(&self.hostname);
        if let Some(w) = &self.workdir {
            cmd.arg("-w").arg(w);
        }
        if self.read_only {
            cmd.arg("--read-only");
        }
        if self.host_network {
            cmd.arg("--network").arg("host");
        }
        for mount in &self.tmpfs {
            cmd.arg("--tmpfs").arg(mount);
        }
        for limit in &self.ulimits {
            cmd.arg("--ulimit").arg(limit);
        }
        if self.stats {
            cmd.arg("--stats");
        }
        for (k, v) in &self.env {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        cmd.arg("--").args(&self.argv);
        self.execute("oxbox", cmd, false)
    }

    /// `cmd` run by util-linux `script`, which gives it a new pseudo-terminal
    /// as its controlling terminal, stdin, stdout and stderr. `clear_env`
    /// says whether `cmd` had its environment cleared.
    fn in_terminal(cmd: &Command, clear_env: bool) -> Command {
        fn quote(s: &std::ffi::OsStr) -> String {
            format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"))
        }
        let line = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ");
        let mut wrapped = Command::new("script");
        wrapped.args(["--quiet", "--return", "--flush", "--command"]);
        wrapped.arg(line).arg("/dev/null");
        if clear_env {
            wrapped.env_clear();
        }
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                wrapped.env(k, v);
            }
        }
        wrapped
    }

    fn execute(&self, side: &'static str, cmd: Command, clear_env: bool) -> Outcome {
        let command = self.argv.join(" ");
        let mut cmd = if self.terminal {
            Self::in_terminal(&cmd, clear_env)
        } else {
            cmd
        };
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a hung run can be killed whole.
            .process_group(0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("[{side}] cannot start {cmd:?}: {e}"));
        let mut stdin = child.stdin.take().unwrap();
        let input = self.stdin.clone();
        // A guest that never reads its stdin makes this write fail with
        // EPIPE: that is its business, not an error of the harness.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let out_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        });
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            buf
        });
        let status = wait_or_kill(&mut child);
        let _ = writer.join();
        let stdout = out_reader.join().unwrap();
        let stderr = err_reader.join().unwrap();
        let Some(status) = status else {
            // What it printed before it hung shows where it hung.
            panic!(
                "[{side}] `{command}` did not finish within {:?} and was killed \
                 (OXBOX_TEST_TIMEOUT_SECS changes the limit)\n--- stdout so far ---\n{}\
                 --- stderr so far ---\n{}--------------",
                timeout(),
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        };
        let status = status.code().unwrap_or_else(|| {
            128 + status
                .signal()
                .expect("a process that did not exit was killed")
        });
        Outcome {
            side,
            command,
            status,
            stdout,
            stderr,
        }
    }

    /// Runs natively, then (unless [`native_only`]) under oxbox, and asserts
    /// that the outcomes agree on what `cmp` covers. Returns both, for
    /// further checks; `None` for the oxbox side in native-only mode.
    pub fn matches_native(&self, cmp: Compare) -> (Outcome, Option<Outcome>) {
        let native = self.native();
        assert!(
            !native.stderr().contains("oxbox-native-setup:"),
            "the native baseline could not be set up:\n{}",
            native.describe()
        );
        if native_only() {
            eprintln!(
                "OXBOX_NATIVE_ONLY=1: oxbox run of `{}` skipped",
                native.command
            );
            return (native, None);
        }
        let oxbox = self.oxbox();
        assert_same(&native, &oxbox, cmp);
        (native, Some(oxbox))
    }
}

/// Waits for `child`, killing its process group if it outlives the
/// timeout (then `None`). The timeout only guards against a hung guest; no
/// assertion depends on how long anything takes.
fn wait_or_kill(child: &mut Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) => {
                let group = format!("-{}", child.id());
                let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Err(e) => panic!("waiting for pid {}: {e}", child.id()),
        }
    }
}

/// Line-by-line differences of two texts, for assertion messages.
fn line_diff(native: &str, oxbox: &str) -> String {
    let a: Vec<&str> = native.lines().collect();
    let b: Vec<&str> = oxbox.lines().collect();
    let mut out = String::new();
    let mut shown = 0;
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i), b.get(i));
        if x != y {
            let _ = writeln!(
                out,
                "  line {}:\n    native: {}\n    oxbox : {}",
                i + 1,
                x.copied().unwrap_or("<no line>"),
                y.copied().unwrap_or("<no line>")
            );
            shown += 1;
            if shown == 40 {
                out.push_str("  ... (more differences)\n");
                break;
            }
        }
    }
    out
}

/// Asserts that `oxbox` behaved like `native` on what `cmp` covers, with a
/// message that shows the differing lines and both full outcomes.
pub fn assert_same(native: &Outcome, oxbox: &Outcome, cmp: Compare) {
    let mut problems = String::new();
    if native.status != oxbox.status {
        let _ = writeln!(
            problems,
            "exit status differs: native {}, oxbox {}",
            native.status, oxbox.status
        );
    }
    if native.stdout != oxbox.stdout {
        let _ = writeln!(
            problems,
            "stdout differs:\n{}",
            line_diff(&native.stdout(), &oxbox.stdout())
        );
    }
    if cmp == Compare::All && native.guest_stderr() != oxbox.guest_stderr() {
        let _ = writeln!(
            problems,
            "stderr differs:\n{}",
            line_diff(&native.guest_stderr(), &oxbox.guest_stderr())
        );
    }
    assert!(
        problems.is_empty(),
        "`{}` behaves differently under oxbox:\n{problems}\n{}\n{}",
        native.command,
        native.describe(),
        oxbox.describe()
    );
}

/// Asserts that a guest program of `tests/guest` reported success: exit 0,
/// at least one `ok` line and no `FAIL` line.
pub fn assert_guest_passed(o: &Outcome) {
    let stdout = o.stdout();
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        o.status == 0 && failed.is_empty() && stdout.lines().any(|l| l.starts_with("ok ")),
        "{} failed on the {} side:\n{}\n{}",
        o.command,
        o.side,
        failed.join("\n"),
        o.describe()
    );
}

/// The scenario of one guest program (see [`Run::guest`]): it must pass
/// natively (which validates the program), then print exactly the same
/// under oxbox.
pub fn guest_matches_native(run: Run) {
    let (native, oxbox) = run.matches_native(Compare::StdoutAndStatus);
    assert_guest_passed(&native);
    if let Some(oxbox) = oxbox {
        assert_guest_passed(&oxbox);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diff_points_at_the_differing_line() {
        let d = line_diff("ok a\nok b\n", "ok a\nFAIL b: ENOSYS\n");
        assert!(d.contains("line 2:"), "{d}");
        assert!(d.contains("FAIL b: ENOSYS"), "{d}");
        assert!(!d.contains("line 1:"), "{d}");
    }

    #[test]
    fn missing_lines_are_shown() {
        let d = line_diff("ok a\nok b\n", "ok a\n");
        assert!(d.contains("<no line>"), "{d}");
    }

    fn sleeper() -> Child {
        Command::new("sleep")
            .arg("1000")
            .spawn()
            .expect("run sleep")
    }

    #[test]
    fn the_watchdog_kills_a_process_that_outlives_its_limit() {
        let mut child = sleeper();
        let watchdog = Watchdog::with_limit(child.id(), Duration::from_millis(100));
        let status = child.wait().expect("wait for sleep");
        assert_eq!(status.signal(), Some(9));
        assert!(
            watchdog.verdict().contains("hung"),
            "{}",
            watchdog.verdict()
        );
    }

    #[test]
    fn a_disarmed_watchdog_leaves_the_process_alone() {
        let mut child = sleeper();
        let watchdog = Watchdog::with_limit(child.id(), Duration::from_millis(100));
        watchdog.disarm();
        std::thread::sleep(Duration::from_millis(300));
        assert!(child.try_wait().expect("poll sleep").is_none());
        assert_eq!(watchdog.verdict(), "it ended by itself");
        child.kill().expect("kill sleep");
        child.wait().expect("reap sleep");
    }
}
