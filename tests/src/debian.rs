//! A Debian bookworm root filesystem, for scenarios that run a real
//! distribution's programs (bash, coreutils, python3, perl, sqlite3, make,
//! iproute2, curl, nginx, redis, iperf3, gcc) instead of busybox.
//!
//! Built with
//! `debootstrap --variant=minbase --include=<DEBIAN_PACKAGES> bookworm <dir> <mirror>`
//! (the mirror is `$OXBOX_TEST_DEBIAN_MIRROR`, default the one apt uses here,
//! `http://deb.debian.org/debian`). That downloads and unpacks about 150 MB
//! and takes a few minutes, so the result is cached in
//! `<target>/test-rootfs/debian-<key>`, where the key hashes the debootstrap
//! command line and [`DEBIAN_LAYOUT_VERSION`]. The tree is built under
//! `debian-<key>.tmp-<pid>` and renamed into place only when complete, so an
//! interrupted build is never used; leftovers of dead builders are removed.
//!
//! debootstrap mounts `/proc`, `/sys` and device nodes inside the target
//! while it runs; it is run in a private mount namespace (`unshare
//! --mount`) so that a killed build leaves no mount behind.
//!
//! Scenarios write only under `/tmp/<unique>` scratch directories, as with
//! the standard rootfs.

use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use crate::rootfs::{self, Fnv, Rootfs};
use crate::target_dir;

/// Bump when what is done to the tree after debootstrap changes.
pub const DEBIAN_LAYOUT_VERSION: &str = "oxbox-test-debian/1";
/// The Debian release.
pub const DEBIAN_SUITE: &str = "bookworm";
/// Packages added to debootstrap's minbase (`--include`).
/// iproute2, curl, nginx-light and redis-server are for the networking
/// scenarios, iperf3 for the benchmark's network group (its server side
/// runs in the container); `libc6-dev` because debootstrap skips gcc's
/// recommended C library headers.
pub const DEBIAN_PACKAGES: &[&str] = &[
    "python3",
    "perl",
    "sqlite3",
    "procps",
    "make",
    "iproute2",
    "curl",
    "nginx-light",
    "redis-server",
    "iperf3",
    "gcc",
    "libc6-dev",
];
/// The mirror apt uses on the test machines (`/etc/apt/sources.list.d`).
pub const DEFAULT_DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";

static DEBIAN: OnceLock<Result<Rootfs, String>> = OnceLock::new();

/// The Debian rootfs, built (once per target directory) on first use.
///
/// Panics with the reason if it cannot be built (no debootstrap, no
/// network to the mirror).
pub fn debian() -> &'static Rootfs {
    match try_debian() {
        Ok(r) => r,
        Err(e) => panic!("cannot build the Debian test rootfs: {e}"),
    }
}

/// The Debian rootfs, or why it cannot be built: for callers that report
/// the failure instead of panicking (the benchmark's server workloads).
pub fn try_debian() -> Result<&'static Rootfs, &'static str> {
    DEBIAN.get_or_init(build).as_ref().map_err(String::as_str)
}

fn mirror() -> String {
    std::env::var("OXBOX_TEST_DEBIAN_MIRROR").unwrap_or_else(|_| DEFAULT_DEBIAN_MIRROR.into())
}

/// debootstrap's arguments, `target` in its place.
fn debootstrap_args(target: &Path, mirror: &str) -> Vec<OsString> {
    vec![
        "--variant=minbase".into(),
        format!("--include={}", DEBIAN_PACKAGES.join(",")).into(),
        DEBIAN_SUITE.into(),
        target.into(),
        mirror.into(),
    ]
}

/// The cache key: the command line (with a fixed target) and the layout.
fn key(mirror: &str) -> String {
    let mut key = Fnv::new();
    key.field(DEBIAN_LAYOUT_VERSION.as_bytes())
        .field(b"debootstrap");
    for a in debootstrap_args(Path::new("<dir>"), mirror) {
        key.field(a.as_encoded_bytes());
    }
    key.hex()
}

/// Progress for the person waiting: straight to the test binary's stderr,
/// which libtest does not capture (unlike `eprintln!`).
fn progress(msg: &str) {
    let _ = writeln!(std::io::stderr(), "oxbox-integration: {msg}");
}

/// Removes `<name>.tmp-<pid>` directories left by builders that are gone.
fn remove_stale(cache: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(cache) else {
        return;
    };
    let prefix = format!("{name}.tmp-");
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(pid) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            progress(&format!(
                "removing an interrupted build, {}",
                e.path().display()
            ));
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

fn build() -> Result<Rootfs, String> {
    let mirror = mirror();
    let name = format!("debian-{}", key(&mirror));
    let cache = target_dir().join("test-rootfs");
    let path = cache.join(&name);
    if path.is_dir() {
        return Ok(Rootfs::at(path));
    }
    fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    remove_stale(&cache, &name);

    let tmp = cache.join(format!("{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    let args = debootstrap_args(&tmp, &mirror);
    progress(&format!(
        "building the Debian rootfs (once; a few minutes): debootstrap {}",
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let started = Instant::now();
    // debootstrap's own progress (`I: Retrieving ...`) goes to our stderr.
    let to_stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("dup stderr: {e}"))?;
    let status = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "debootstrap"])
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(to_stderr))
        .status()
        .map_err(|e| format!("cannot run unshare/debootstrap ({e}); install debootstrap"))?;
    if !status.success() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(format!(
            "debootstrap failed ({status}); its output is above. Mirror: {mirror} \
             (OXBOX_TEST_DEBIAN_MIRROR changes it)"
        ));
    }
    finish(&tmp)?;
    rootfs::publish(&tmp, &path)?;
    progress(&format!(
        "Debian rootfs ready in {:.0?}: {}",
        started.elapsed(),
        path.display()
    ));
    Ok(Rootfs::at(path))
}

/// What is done after debootstrap: drop the downloaded packages (they are
/// unpacked already) and check the programs the scenarios use are there.
fn finish(root: &Path) -> Result<(), String> {
    let archives = root.join("var/cache/apt/archives");
    if let Ok(entries) = fs::read_dir(&archives) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "deb") {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    for program in [
        "usr/bin/bash",
        "usr/bin/python3",
        "usr/bin/perl",
        "usr/bin/sqlite3",
        "usr/bin/make",
        "usr/bin/sha256sum",
    ] {
        if !root.join(program).exists() {
            return Err(format!("debootstrap finished but /{program} is missing"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_the_mirror_not_the_target() {
        assert_ne!(key("http://a/debian"), key("http://b/debian"));
        assert!(
            debootstrap_args(Path::new("/x"), "m")
                .iter()
                .any(|a| a == "/x")
        );
    }
}
