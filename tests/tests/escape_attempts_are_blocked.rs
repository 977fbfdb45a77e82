//! The escape suite: guest programs (`tests/escape/*.c`) try every way out
//! of the container we know of, and the host checks what a guest cannot
//! see for itself. Each attempt is one row of a table (probe, blocked or
//! leaked, how), printed and written to `<target>/escape-table.txt`; a
//! single leak fails the test.
//!
//! - `files`: a host file beside the rootfs, by absolute path, `..`,
//!   symlinks the guest plants, `/proc/*/root`, `/proc/self/cwd`,
//!   chroot-and-climb, descriptors left open (seen from guest code and from
//!   the kernel's text), `open_by_handle_at`;
//! - `processes`: a host process, by `/proc` scan, pid, group, `kill -1`,
//!   ptrace;
//! - `network`: a TCP listener on the host's loopback and an abstract unix
//!   socket, from the default container (its own network namespace);
//! - `devices`: host devices made with mknod;
//! - `calls`: mount, hostname, time, modules, ptrace, bpf, perf, keys,
//!   io_uring, userfaultfd, namespaces, ... through a raw `syscall`, the
//!   32-bit `int $0x80` entry, and a `syscall` instruction in the kernel's
//!   own text (where only the host allowlist stands in the way), plus
//!   writes to host tunables under `/proc/sys`, and the two calls the host
//!   answers before any seccomp filter (uretprobe, uprobe).
//!
//! The host side: hostname, domain name, clock, mounts, modules and the
//! sysctls are unchanged (and restored if not, so one failure does not
//! break the machine), the host process is alive and running, nothing
//! connected to the host's listeners, and no device node appeared in the
//! rootfs.

use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::os::unix::process::CommandExt;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use oxbox_integration::{
    NodeState, Outcome, Run, bound_devices, changed_bound_devices, native_only, require_root,
    rootfs, target_dir,
};

/// One row of the table.
struct Row {
    probe: String,
    verdict: &'static str,
    how: String,
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
}

impl Table {
    fn add(&mut self, probe: impl Into<String>, leaked: bool, how: impl Into<String>) {
        self.rows.push(Row {
            probe: probe.into(),
            verdict: if leaked { "LEAKED" } else { "blocked" },
            how: how.into(),
        });
    }

    /// The `probe` and `attempt` lines of an escape program, which must
    /// have run to its end: exit 0 (1 means it saw a leak itself) and at
    /// least `min_probes` probes.
    fn add_program(&mut self, o: &Outcome, min_probes: usize) {
        let mut probes = 0;
        for line in o.stdout().lines() {
            if let Some(rest) = line.strip_prefix("probe ") {
                let mut parts = rest.splitn(3, ' ');
                let (probe, verdict, how) = (
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                );
                self.add(probe, verdict != "blocked", how);
                probes += 1;
            } else if let Some(rest) = line.strip_prefix("attempt ") {
                let (probe, how) = rest.split_once(' ').unwrap_or((rest, ""));
                self.rows.push(Row {
                    probe: probe.into(),
                    verdict: "tried",
                    how: format!("{how} (the host side says whether it leaked)"),
                });
            }
        }
        let finished = probes >= min_probes && matches!(o.status, 0 | 1);
        self.add(
            format!("ran:{}", o.command.split(' ').next().unwrap_or("")),
            !finished,
            format!("exit status {}, {probes} probes", o.status),
        );
        if !finished {
            eprintln!("{}", o.describe());
        }
    }

    fn leaks(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.verdict == "LEAKED").collect()
    }

    fn render(&self) -> String {
        let width = self.rows.iter().map(|r| r.probe.len()).max().unwrap_or(5);
        let mut out = format!("{:<width$}  {:<7}  how\n", "probe", "verdict");
        for r in &self.rows {
            let _ = writeln!(out, "{:<width$}  {:<7}  {}", r.probe, r.verdict, r.how);
        }
        let _ = writeln!(
            out,
            "{} probes, {} leaked",
            self.rows.iter().filter(|r| r.verdict != "tried").count(),
            self.leaks().len()
        );
        out
    }
}

/// A host file that a guest must never read; removed on drop.
struct HostFile(std::path::PathBuf);

impl Drop for HostFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// A host process the guest must not reach; killed on drop.
struct HostProcess(std::process::Child);

impl HostProcess {
    /// Its state letter in `/proc/<pid>/stat` (`S` sleeping, `T` stopped),
    /// or `None` once it is gone.
    fn state(&self) -> Option<char> {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.0.id())).ok()?;
        stat.rsplit(')')
            .next()?
            .split_whitespace()
            .next()?
            .chars()
            .next()
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Host files whose content an escaped guest would change, and how the
/// test puts each back.
const HOST_TUNABLES: &[&str] = &[
    "/proc/sys/kernel/hostname",
    "/proc/sys/kernel/domainname",
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/kernel/modprobe",
    "/proc/sys/vm/swappiness",
    "/proc/sys/net/ipv4/ip_forward",
];

/// What the host looks like before the escape programs run.
struct HostState {
    tunables: Vec<(&'static str, String)>,
    devices: Vec<(&'static str, Option<NodeState>)>,
    mounts: String,
    modules: String,
    /// The wall clock minus the monotonic clock: moves only if someone
    /// sets the time.
    wall: SystemTime,
    mono: Instant,
}

impl HostState {
    fn now() -> HostState {
        HostState {
            tunables: HOST_TUNABLES
                .iter()
                .map(|p| (*p, fs::read_to_string(p).unwrap_or_default()))
                .collect(),
            devices: bound_devices(),
            mounts: fs::read_to_string("/proc/self/mountinfo").unwrap(),
            modules: fs::read_to_string("/proc/modules").unwrap_or_default(),
            wall: SystemTime::now(),
            mono: Instant::now(),
        }
    }

    /// Adds one row per host fact, restoring what changed.
    fn check(&self, table: &mut Table) {
        for (path, before) in &self.tunables {
            let now = fs::read_to_string(path).unwrap_or_default();
            let changed = &now != before;
            if changed {
                let _ = fs::write(path, before.trim_end());
            }
            table.add(
                format!("host:{path}"),
                changed,
                if changed {
                    format!("changed to {:?} (restored)", now.trim_end())
                } else {
                    "unchanged".into()
                },
            );
        }
        let changed = changed_bound_devices(&self.devices);
        table.add(
            "host:bound-devices",
            !changed.is_empty(),
            if changed.is_empty() {
                "/dev/{null,zero,full,random,urandom}: mode, owner and ctime unchanged".into()
            } else {
                changed.join("; ")
            },
        );
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let new: Vec<&str> = mounts
            .lines()
            .filter(|l| !self.mounts.lines().any(|old| old == *l))
            .filter(|l| l.contains("oxbox-pwned") || l.contains(" tmpfs "))
            .collect();
        table.add(
            "host:mounts",
            !new.is_empty(),
            if new.is_empty() {
                "no guest mount on the host".into()
            } else {
                new.join("; ")
            },
        );
        let modules = fs::read_to_string("/proc/modules").unwrap_or_default();
        let names = |s: &str| -> Vec<String> {
            let mut v: Vec<String> = s
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .map(String::from)
                .collect();
            v.sort();
            v
        };
        let same = names(&modules) == names(&self.modules);
        table.add(
            "host:modules",
            !same,
            if same {
                "same modules loaded"
            } else {
                "the module list changed"
            },
        );
        let wall = SystemTime::now()
            .duration_since(self.wall)
            .unwrap_or_default();
        let skew = wall.as_secs_f64() - self.mono.elapsed().as_secs_f64();
        if skew.abs() > 50.0 {
            let back = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
                - skew;
            let _ = std::process::Command::new("date")
                .arg("-s")
                .arg(format!("@{back:.0}"))
                .status();
        }
        table.add(
            "host:clock",
            skew.abs() > 50.0,
            format!("wall clock moved {skew:+.1}s against the monotonic clock"),
        );
    }
}

/// Device nodes anywhere under `dir` (the guests' scratch directories).
fn device_nodes(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let kind = meta.file_type();
        if kind.is_block_device() || kind.is_char_device() {
            found.push(entry.path().display().to_string());
        } else if kind.is_dir() {
            found.extend(device_nodes(&entry.path()));
        }
    }
    found
}

#[test]
fn escape_attempts_are_blocked() {
    require_root!();
    if native_only() {
        eprintln!("OXBOX_NATIVE_ONLY=1: skipped (oxbox only: natively, as root, escapes succeed)");
        return;
    }
    let root = rootfs().path();
    let id = std::process::id();
    let secret_text = format!("host-secret-{id}");
    let secret = HostFile(root.parent().unwrap().join(format!("escape-secret-{id}")));
    fs::write(&secret.0, &secret_text).unwrap();
    let (word_start, word_end) = ("oxbox-escape-target-", id.to_string());
    let word = format!("{word_start}{word_end}");
    // Its own process group, so the group can be targeted; its argv[0]
    // makes it findable by command line.
    let target = HostProcess(
        std::process::Command::new("sleep")
            .arg0(&word)
            .arg("600")
            .process_group(0)
            .spawn()
            .expect("starting the host process"),
    );
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let abstract_name = format!("oxbox-escape-{id}");
    let unix =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(&abstract_name).unwrap()).unwrap();
    unix.set_nonblocking(true).unwrap();
    let host = HostState::now();

    let mut table = Table::default();
    let secret_path = secret.0.to_string_lossy().into_owned();
    let files = Run::guest("escape/files")
        .arg(secret_path.as_str())
        .arg(secret_text.as_str());
    let o = files.oxbox();
    table.add_program(&o, 13);
    table.add(
        "file:secret-in-output",
        o.stdout().contains(&secret_text),
        "the secret's text appears nowhere in what the guest printed",
    );
    let o = Run::guest("escape/processes")
        .arg(target.0.id().to_string())
        .arg(word_start)
        .arg(word_end.as_str())
        .oxbox();
    table.add_program(&o, 6);
    let o = Run::guest("escape/network")
        .arg(tcp.local_addr().unwrap().port().to_string())
        .arg(abstract_name.as_str())
        .oxbox();
    table.add_program(&o, 2);
    let devices = Run::guest("escape/devices");
    let o = devices.oxbox();
    table.add_program(&o, 2 * 8 + 6);
    let nodes = device_nodes(devices.scratch_host(0));
    table.add(
        "host:device-nodes",
        !nodes.is_empty(),
        if nodes.is_empty() {
            "no device node in the rootfs".into()
        } else {
            nodes.join(" ")
        },
    );
    let o = Run::guest("escape/calls").oxbox();
    table.add_program(&o, 3 * 27 + 2);

    host.check(&mut table);
    let state = target.state();
    table.add(
        "host:process",
        state.is_none_or(|s| s == 'T'),
        format!("host process state {state:?} (S: running or sleeping)"),
    );
    for (name, accepted) in [
        ("host:loopback-listener", tcp.accept().map(|_| ())),
        ("host:abstract-listener", unix.accept().map(|_| ())),
    ] {
        let reached = !matches!(&accepted, Err(e) if e.kind() == ErrorKind::WouldBlock);
        table.add(
            name,
            reached,
            if reached {
                "a guest connection arrived"
            } else {
                "nothing connected"
            },
        );
    }

    let report = table.render();
    println!("{report}");
    let _ = fs::write(target_dir().join("escape-table.txt"), &report);
    let leaks = table.leaks();
    assert!(leaks.is_empty(), "escapes succeeded:\n{report}");
}
