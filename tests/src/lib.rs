//! Shared helpers for the scenario tests.
//!
//! A scenario runs a real, unmodified program twice on the same root
//! filesystem: once under `oxbox do` and once natively on the host kernel,
//! and compares what the two printed and how they exited. The native run is
//! the oracle, so it is made as close to a container as the host allows
//! without oxbox: `unshare` gives it fresh mount, UTS and pid namespaces (so
//! it is pid 1 with ppid 0 and has the container's hostname), a private
//! `/proc` and the host's `/dev` are mounted into the rootfs, and it is
//! chrooted there with the same clean environment `oxbox do` gives a guest.
//!
//! - [`rootfs`] builds (and caches) the root filesystem: busybox, fixtures,
//!   the static C programs of `tests/guest/` and a few bad executables.
//! - [`debian`] builds (and caches) a Debian bookworm rootfs with
//!   debootstrap, for scenarios that run a distribution's programs.
//! - [`run`] describes one command and runs it natively or under oxbox.
//! - [`stats`] parses the kernel's `--stats` report.
//! - [`engines`] starts a private dockerd with oxbox as a runtime.
//!
//! Environment knobs: `OXBOX_BIN` (the oxbox binary), `OXBOX_NATIVE_ONLY=1`
//! (validate the scenarios against the host alone, without oxbox),
//! `OXBOX_TEST_TIMEOUT_SECS` (guard against a hung guest, default 120) and
//! `OXBOX_TEST_BUSYBOX` (the static busybox to install, default
//! `/bin/busybox` from Debian's busybox-static).
#![forbid(unsafe_code)]

pub mod debian;
pub mod engines;
pub mod images;
pub mod rootfs;
pub mod run;
pub mod stats;
pub mod token_server;

pub use debian::debian;
pub use rootfs::{Rootfs, host_program, rootfs};
pub use run::{
    Compare, Outcome, Run, Scratch, Watchdog, assert_guest_passed, assert_same, eventually,
    guest_matches_native, native_only, oxbox_bin, skip_without_oxbox, unique,
};
pub use stats::Stats;

use std::path::{Path, PathBuf};

/// Whether this process runs with effective uid 0.
///
/// Read from `/proc/self/status` so that the crate needs no `unsafe`.
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}

/// Returns early from a test, with a message, unless it runs as root.
///
/// Every scenario needs root: `oxbox do` creates namespaces and pivots into
/// the rootfs, and the native baseline chroots. CI runs as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::is_root() {
            eprintln!(
                "skipped {}: needs root (oxbox do and the chrooted native baseline)",
                module_path!()
            );
            return;
        }
    };
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace")
}

/// The cargo target directory this test binary was built into.
///
/// Caches (the rootfs, compiled guests) live there so that `cargo clean`
/// removes them and parallel checkouts do not share them.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            workspace_root().join(dir)
        };
    }
    // target/<profile>/deps/<test binary>
    if let Ok(exe) = std::env::current_exe()
        && let Some(deps) = exe.parent()
        && deps.file_name().is_some_and(|n| n == "deps")
        && let Some(target) = deps.parent().and_then(Path::parent)
    {
        return target.to_path_buf();
    }
    workspace_root().join("target")
}

/// The host's device nodes `oxbox do` binds into every container's `/dev`.
pub const BOUND_DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// Mode, owner, group and change time of a host node.
pub type NodeState = (u32, u32, u32, i64, i64);

fn node_state(path: &str) -> Option<NodeState> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.mode(), m.uid(), m.gid(), m.ctime(), m.ctime_nsec()))
}

/// The state of each of [`BOUND_DEVICES`], to compare after a guest ran.
pub fn bound_devices() -> Vec<(&'static str, Option<NodeState>)> {
    BOUND_DEVICES.iter().map(|p| (*p, node_state(p))).collect()
}

/// The nodes of `before` whose mode, owner or change time differ now,
/// each described; their mode and owner are put back, so that one
/// failure does not break the machine.
pub fn changed_bound_devices(before: &[(&'static str, Option<NodeState>)]) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut changed = Vec::new();
    for (path, was) in before {
        let now = node_state(path);
        if now == *was {
            continue;
        }
        if let Some((mode, uid, gid, ..)) = was {
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode));
            let _ = std::os::unix::fs::chown(path, Some(*uid), Some(*gid));
        }
        changed.push(format!("{path}: {was:?} -> {now:?} (restored)"));
    }
    changed
}
