//! Isolation: a guest sees its container, not the host.
//!
//! - `/proc` is the kernel's: no host pid is listed or reachable, and its
//!   files name guest paths only;
//! - `/dev` holds the kernel's own devices, not the host's disks, and a
//!   device node left in the rootfs outside `/dev` opens nothing;
//! - files outside the rootfs are out of reach by absolute path, `..`
//!   climbing, or a symlink planted in the rootfs;
//! - host calls a container must never make (mount, sethostname, ptrace,
//!   unshare, ...) issued straight from guest code, through the 64-bit
//!   `syscall` instruction or the 32-bit `int 0x80` entry, are answered by
//!   the oxbox kernel with an error, and the host is unchanged.
//!
//! Where the native baseline can make the same point (chroot plus fresh
//! namespaces) it runs too, so each check is shown to be able to fail.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::str::FromStr;

use oxbox_abi::Sysno;
use oxbox_integration::{
    Compare, Outcome, Run, Scratch, Stats, assert_guest_passed, native_only, require_root, rootfs,
    skip_without_oxbox,
};

/// The numeric entries of an `ls` listing.
fn pids(listing: &str) -> BTreeSet<String> {
    listing
        .split_whitespace()
        .filter(|e| e.chars().all(|c| c.is_ascii_digit()))
        .map(String::from)
        .collect()
}

#[test]
fn guest_proc_lists_no_host_pid() {
    require_root!();
    let run = Run::new(["ls", "/proc"]);
    let native = run.native();
    assert_eq!(native.status, 0, "{}", native.describe());
    assert_eq!(pids(&native.stdout()), BTreeSet::from(["1".to_string()]));
    if native_only() {
        return;
    }
    let oxbox = run.oxbox();
    assert_eq!(oxbox.status, 0, "{}", oxbox.describe());
    let listed = pids(&oxbox.stdout());
    assert!(
        listed.is_subset(&BTreeSet::from(["1".to_string()])),
        "host pids visible in the guest's /proc: {listed:?}\n{}",
        oxbox.describe()
    );
    assert!(
        oxbox.stdout().split_whitespace().any(|e| e == "self"),
        "{}",
        oxbox.describe()
    );
}

/// This test process and its parent exist on the host; the guest must not
/// reach them through `/proc/<pid>`, and `/proc/1` must not be the host's
/// init.
#[test]
fn host_processes_are_not_reachable_through_proc() {
    require_root!();
    let me = std::process::id().to_string();
    let parent = fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)
                .map(String::from)
        })
        .expect("parent pid");
    for pid in [&me, &parent] {
        for path in [
            format!("/proc/{pid}/status"),
            format!("/proc/{pid}/cmdline"),
        ] {
            let (native, oxbox) =
                Run::new(["cat", path.as_str()]).matches_native(Compare::StdoutAndStatus);
            assert_ne!(native.status, 0, "{}", native.describe());
            if let Some(o) = oxbox {
                assert!(o.stdout.is_empty(), "{}", o.describe());
            }
        }
    }
    let host_init = fs::read_to_string("/proc/1/comm").unwrap_or_default();
    if skip_without_oxbox() {
        return;
    }
    let o = Run::new(["cat", "/proc/1/status"]).oxbox();
    assert!(
        !o.stdout().contains(&format!("Name:\t{}", host_init.trim())) || host_init.trim() == "cat",
        "the guest reads the host's init through /proc/1:\n{}",
        o.describe()
    );
}

/// A host process, even one whose pid the guest knows, can be neither
/// probed nor signalled from the container.
#[test]
fn host_processes_cannot_be_signalled() {
    require_root!();
    // Its own process group, so that the group can be targeted too.
    let mut sleeper = std::process::Command::new("sleep")
        .arg("600")
        .process_group(0)
        .spawn()
        .expect("starting sleep");
    let pid = sleeper.id().to_string();
    let run = Run::guest("isolation/kill_host").arg(pid.as_str());
    let (native, oxbox) = run.matches_native(Compare::StdoutAndStatus);
    let alive = sleeper.try_wait().expect("sleep status").is_none();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_guest_passed(&native);
    if let Some(o) = &oxbox {
        assert_guest_passed(o);
    }
    assert!(alive, "the guest killed host process {pid}");
}

/// What the guest reads in `/proc` names paths as the guest sees them:
/// the host path of the rootfs appears nowhere.
#[test]
fn proc_files_name_no_host_path() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    let host_root = rootfs().path().to_string_lossy().into_owned();
    for argv in [
        vec!["cat", "/proc/self/maps"],
        vec!["cat", "/proc/self/status"],
        vec!["readlink", "/proc/self/exe"],
        vec!["ls", "-l", "/proc/self/fd/"],
    ] {
        let o = Run::new(argv).oxbox();
        assert_eq!(o.status, 0, "{}", o.describe());
        assert!(
            !o.stdout().contains(&host_root),
            "host path {host_root} leaks into the guest:\n{}",
            o.describe()
        );
    }
}

/// `/dev` is the kernel's: its character devices, never the host's disks
/// or memory.
#[test]
fn dev_holds_only_the_kernels_devices() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    let o = Run::new(["ls", "/dev"]).oxbox();
    assert_eq!(o.status, 0, "{}", o.describe());
    let allowed = [
        "null", "zero", "full", "random", "urandom", "tty", "console", "ptmx", "pts", "shm", "fd",
        "stdin", "stdout", "stderr", "mqueue",
    ];
    let listed: Vec<String> = o.stdout().split_whitespace().map(String::from).collect();
    for must in ["null", "zero", "full", "random", "urandom", "tty"] {
        assert!(
            listed.iter().any(|e| e == must),
            "/dev/{must} missing:\n{}",
            o.describe()
        );
    }
    let foreign: Vec<&String> = listed
        .iter()
        .filter(|e| !allowed.contains(&e.as_str()))
        .collect();
    assert!(
        foreign.is_empty(),
        "host devices in the guest's /dev: {foreign:?}"
    );
}

/// A device node in the rootfs outside `/dev` (left by whoever made the
/// root, or by a guest that could make one) opens nothing: the root is
/// mounted nodev but for the sandbox's `/dev`. Natively, in a chroot of
/// the same root, the same node reads.
#[test]
fn device_nodes_outside_dev_open_nothing() {
    require_root!();
    let scratch = Scratch::new(rootfs().path(), "device-nodes");
    scratch.reset();
    let zero = scratch.host().join("zero-copy");
    let made = std::process::Command::new("mknod")
        .args(["-m", "666"])
        .arg(&zero)
        .args(["c", "1", "5"])
        .status()
        .expect("coreutils mknod");
    assert!(made.success(), "mknod {}", zero.display());
    let script = format!(
        "head -c 4 {}/zero-copy | wc -c; head -c 4 /dev/zero | wc -c",
        scratch.guest()
    );
    let run = Run::new(["sh", "-c", script.as_str()]);
    let native = run.native();
    assert_eq!(native.stdout(), "4\n4\n", "{}", native.describe());
    if native_only() {
        return;
    }
    let o = run.oxbox();
    assert_eq!(o.stdout(), "0\n4\n", "{}", o.describe());
    assert!(o.stderr().contains("Permission denied"), "{}", o.describe());
}

/// Removes a host file on drop.
struct HostFile(std::path::PathBuf);

impl Drop for HostFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// A secret beside the rootfs (so `..` from the root would reach it) and
/// one in the host's /tmp (which the guest's /tmp shadows): neither may be
/// read through any path the guest can name.
#[test]
fn files_outside_the_rootfs_are_unreachable() {
    require_root!();
    let root = rootfs().path();
    let id = std::process::id();
    let secret_text = format!("host secret {id}");
    let beside = HostFile(root.parent().unwrap().join(format!("secret-{id}.txt")));
    let in_tmp = HostFile(std::path::PathBuf::from(format!(
        "/tmp/oxbox-host-secret-{id}"
    )));
    for f in [&beside, &in_tmp] {
        fs::write(&f.0, &secret_text).unwrap();
    }
    let beside_abs = beside.0.to_string_lossy().into_owned();
    let name = format!("secret-{id}.txt");

    // Symlinks planted in the rootfs, pointing out of it.
    let links = Scratch::new(root, "escape-links");
    links.reset();
    let climb = "../".repeat(30);
    for (link, target) in [
        ("absolute", beside_abs.clone()),
        (
            "relative",
            format!("{climb}{}", beside_abs.trim_start_matches('/')),
        ),
        ("sibling", format!("{climb}{name}")),
        ("host-tmp", in_tmp.0.to_string_lossy().into_owned()),
    ] {
        symlink(&target, links.host().join(link)).unwrap();
    }
    let g = links.guest();
    let paths = [
        beside_abs.clone(),
        format!("/../{name}"),
        format!("/{climb}{name}"),
        format!("{g}/{climb}{name}"),
        format!("/tmp/oxbox-host-secret-{id}"),
        format!("{g}/absolute"),
        format!("{g}/relative"),
        format!("{g}/sibling"),
        format!("{g}/host-tmp"),
    ];
    let check = |o: &Outcome| {
        assert!(
            !o.stdout().contains(&secret_text),
            "the guest read a host file:\n{}",
            o.describe()
        );
    };
    for path in &paths {
        let (native, oxbox) = Run::new(["cat", path.as_str()]).matches_native(Compare::All);
        assert_ne!(native.status, 0, "{}", native.describe());
        check(&native);
        if let Some(o) = oxbox {
            check(&o);
        }
    }
    // Nowhere in the guest's whole tree.
    let (native, oxbox) =
        Run::new(["find", "/", "-name", name.as_str()]).matches_native(Compare::StdoutAndStatus);
    assert!(native.stdout.is_empty(), "{}", native.describe());
    if let Some(o) = oxbox {
        assert!(o.stdout.is_empty(), "{}", o.describe());
    }
    // The rootfs's own host path means nothing inside.
    let root_path = root.to_string_lossy().into_owned();
    let (native, _) = Run::new(["ls", root_path.as_str()]).matches_native(Compare::All);
    assert_ne!(native.status, 0, "{}", native.describe());
}

/// The host state an escaped call would change. Restores the hostname if
/// a test changed it (so one failure does not break the machine), then
/// reports.
struct HostState {
    hostname: String,
}

impl HostState {
    fn now() -> HostState {
        HostState {
            hostname: fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        }
    }

    fn assert_unchanged(&self) {
        let now = HostState::now();
        if now.hostname != self.hostname {
            let _ = fs::write("/proc/sys/kernel/hostname", self.hostname.trim());
            panic!(
                "the guest changed the host's hostname to {:?} (restored)",
                now.hostname
            );
        }
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains("oxbox-pwned"),
            "the guest mounted on the host:\n{mounts}"
        );
    }
}

/// Every forbidden call comes back EPERM or ENOSYS, the kernel's stats
/// show it served each one (so the host never answered), and neither the
/// container's hostname, its /tmp nor the host changed.
#[test]
fn forbidden_host_syscalls_are_answered_by_the_kernel() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    let host = HostState::now();
    let run = Run::guest("isolation/host_calls")
        .hostname("iso-box")
        .stats();
    let o = run.oxbox();
    host.assert_unchanged();
    assert_eq!(o.status, 0, "{}", o.describe());
    let stats = Stats::parse(&o.stderr()).unwrap_or_else(|e| panic!("{e}"));
    let stdout = o.stdout();
    let calls: Vec<(&str, &str)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("call "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    assert_eq!(calls.len(), 18, "{}", o.describe());
    for (name, result) in &calls {
        assert!(
            *result == "EPERM" || *result == "ENOSYS",
            "{name} from guest code returned {result}, expected EPERM or ENOSYS"
        );
        let nr = Sysno::from_str(name).unwrap_or_else(|_| panic!("unknown syscall {name}"));
        let served = stats.by_nr(nr.id() as u64);
        assert!(
            served.is_some_and(|c| c.patched + c.trapped >= 1),
            "{name} does not appear in the kernel's stats, so the kernel did not answer it: \
             {served:?}\n{}",
            o.describe()
        );
    }
    assert!(stdout.contains("\nnodename iso-box\n"), "{}", o.describe());
    assert!(
        run.scratch_host(0).join("after-mount").is_file(),
        "a file written to /tmp after the mount attempt is not in the rootfs: \
         the mount took effect\n{}",
        o.describe()
    );
}

/// Packet sockets, raw IP sockets, netlink families other than route and
/// families oxbox does not offer are refused by the kernel before any host
/// call (the host allowlist would kill the process otherwise), with the
/// errno a capability-less Linux container gets; ioctls that would change
/// an interface never reach the host either.
#[test]
fn packet_raw_and_foreign_sockets_are_refused() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    let o = Run::guest("isolation/sockets").oxbox();
    assert_eq!(o.status, 0, "{}", o.describe());
    let want = "socket packet_raw EAFNOSUPPORT\n\
                socket packet_dgram EAFNOSUPPORT\n\
                socket inet_raw_icmp EPERM\n\
                socket inet_raw_raw EPERM\n\
                socket inet6_raw EPERM\n\
                socket inet_packet ESOCKTNOSUPPORT\n\
                socket netlink_audit EPROTONOSUPPORT\n\
                socket netlink_netfilter EPROTONOSUPPORT\n\
                socket netlink_uevent EPROTONOSUPPORT\n\
                socket key EAFNOSUPPORT\n\
                socket vsock EAFNOSUPPORT\n\
                socket alg EAFNOSUPPORT\n\
                socket bluetooth EAFNOSUPPORT\n\
                socket inet_sctp EPROTONOSUPPORT\n\
                socket netlink_route SUCCEEDED\n\
                socket inet_stream SUCCEEDED\n\
                ioctl siocsifflags ENOTTY\n\
                ioctl siocsifmtu ENOTTY\n";
    assert_eq!(o.stdout(), want, "{}", o.describe());
}

/// The 32-bit entry (`int $0x80`) is filtered too: i386 sethostname from a
/// 64-bit guest must not change the container's hostname nor the host's.
/// An error or the death of the guest are both acceptable answers.
#[test]
fn the_32_bit_syscall_entry_cannot_change_the_hostname() {
    require_root!();
    if skip_without_oxbox() {
        return;
    }
    let host = HostState::now();
    let o = Run::guest("isolation/int80").hostname("int80-box").oxbox();
    host.assert_unchanged();
    let stdout = o.stdout();
    assert!(
        !stdout.contains("int80_sethostname SUCCEEDED"),
        "{}",
        o.describe()
    );
    if let Some(name) = stdout.lines().find_map(|l| l.strip_prefix("nodename ")) {
        assert_eq!(name, "int80-box", "{}", o.describe());
    } else {
        assert!(
            o.status >= 128,
            "the guest neither finished nor was killed:\n{}",
            o.describe()
        );
    }
}
