//! Image import and unpack: `oxbox load` and the unpack `oxbox spec
//! --image` does, against `skopeo copy` and `umoci unpack` of the same
//! image, the tools a runc user without an engine has.
//!
//! The image is built locally with umoci from directories of the Debian
//! rootfs the scenario tests cache (real binaries, libraries and Python
//! modules, about 100 MB; a few MB with `--quick`), as one gzip layer, and
//! packed as an OCI layout tar, which both `oxbox load -i` and skopeo's
//! `oci-archive:` transport read. The archive is cached in `target/bench/`
//! under a hash of its inputs (the Debian root's cache name, the chosen
//! directories, umoci's version and [`LAYOUT_VERSION`]).
//!
//! Every run starts from nothing: a fresh oxbox data root, or a fresh
//! layout directory for skopeo, so no blob or unpacked layer of an
//! earlier run is reused.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::runtime::{first_line_of, output_of};

/// Bump when the way the image is built changes.
const LAYOUT_VERSION: &str = "oxbox-bench-image/2";

/// The image's name inside its layout, and the tag it is loaded as.
pub const IMAGE_REF: &str = "bench";

/// The directories of the Debian rootfs that make up the image: about
/// 100 MB of executables, shared libraries' neighbours and Python's
/// thousands of small files.
const FULL_DIRS: &[&str] = &["usr/bin", "usr/lib/python3.11"];

/// A few MB for `--quick`.
const QUICK_DIRS: &[&str] = &["etc", "usr/lib/python3.11/email", "usr/lib/python3.11/json"];

/// Which step of getting an image ready to run a run times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// From the archive into the store: `oxbox load`, `skopeo copy`.
    Import,
    /// From the store to a root filesystem: `oxbox spec --image`,
    /// `umoci unpack`.
    Unpack,
    /// Both, from the archive to a runnable root: the like-for-like
    /// comparison, since `oxbox load` unpacks layers into the store as it
    /// imports them while `skopeo copy` only copies blobs.
    Ready,
}

/// A built image archive and what it holds, for the report.
#[derive(Debug, Clone)]
pub struct TestImage {
    pub archive: PathBuf,
    pub description: String,
}

/// Builds (or finds cached) the image archive from `debian`'s
/// directories.
pub fn build(cache: &Path, debian: &Path, quick: bool) -> Result<TestImage> {
    let dirs = if quick { QUICK_DIRS } else { FULL_DIRS };
    let umoci = first_line_of(Command::new("umoci").arg("--version"))
        .context("umoci not found (apt-get install umoci)")?;
    let mut key = Sha256::new();
    for field in [LAYOUT_VERSION, &debian.display().to_string(), &umoci]
        .into_iter()
        .chain(dirs.iter().copied())
    {
        key.update(field);
        key.update([0]);
    }
    let key: String = key.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let archive = cache.join(format!("image-{key}.tar"));
    let source_bytes = dirs
        .iter()
        .map(|d| tree_bytes(&debian.join(d)))
        .sum::<u64>();
    if !archive.is_file() {
        fs::create_dir_all(cache)?;
        let work = tempfile::Builder::new()
            .prefix("image-build-")
            .tempdir_in(cache)
            .context("creating the image's build directory")?;
        eprintln!(
            "building the benchmark image ({} MB from {}), once",
            source_bytes >> 20,
            debian.display()
        );
        build_archive(work.path(), debian, dirs, &archive)?;
    }
    let archive_bytes = fs::metadata(&archive)?.len();
    Ok(TestImage {
        description: format!(
            "an OCI layout tar of {:.1} MB holding one gzip layer of {:.1} MB of files from the Debian rootfs ({})",
            archive_bytes as f64 / 1e6,
            source_bytes as f64 / 1e6,
            dirs.iter()
                .map(|d| format!("/{d}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        archive,
    })
}

/// umoci init + new + unpack, the directories copied in, repack, and the
/// layout packed as a tar renamed into place only when complete.
fn build_archive(work: &Path, debian: &Path, dirs: &[&str], archive: &Path) -> Result<()> {
    let layout = work.join("layout");
    let bundle = work.join("bundle");
    let image = format!("{}:{IMAGE_REF}", layout.display());
    let umoci = |args: &[&str], what: &str| -> Result<()> {
        output_of(Command::new("umoci").args(args), what).map(|_| ())
    };
    umoci(
        &["init", "--layout", &layout.to_string_lossy()],
        "umoci init",
    )?;
    umoci(&["new", "--image", &image], "umoci new")?;
    umoci(
        &["unpack", "--image", &image, &bundle.to_string_lossy()],
        "umoci unpack",
    )?;
    let rootfs = bundle.join("rootfs");
    for dir in dirs {
        let target = rootfs.join(dir);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        output_of(
            Command::new("cp")
                .arg("-a")
                .arg(debian.join(dir))
                .arg(&target),
            "cp -a",
        )?;
    }
    umoci(
        &["repack", "--image", &image, &bundle.to_string_lossy()],
        "umoci repack",
    )?;
    // After the repack, which would restore the config it unpacked.
    umoci(
        &["config", "--image", &image, "--config.cmd", "/usr/bin/env"],
        "umoci config",
    )?;
    let partial = archive.with_extension("partial");
    output_of(
        Command::new("tar")
            .arg("-cf")
            .arg(&partial)
            .arg("-C")
            .arg(&layout)
            .arg("."),
        "tar",
    )?;
    fs::rename(&partial, archive).with_context(|| format!("renaming to {}", archive.display()))
}

/// The bytes of the regular files under `dir`.
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// The commands of one run in `dir`: the import, then the unpack.
/// `oxbox` is None for skopeo + umoci.
pub fn commands(oxbox: Option<&Path>, archive: &Path, dir: &Path) -> Result<[Command; 2]> {
    let bundle = dir.join("bundle");
    let tag = format!("oxbox-bench:{IMAGE_REF}");
    Ok(match oxbox {
        Some(oxbox) => {
            let data_root = dir.join("data-root");
            let mut import = Command::new(oxbox);
            import
                .arg("load")
                .arg("--data-root")
                .arg(&data_root)
                .arg("-i")
                .arg(archive)
                .args(["-t", &tag]);
            fs::create_dir_all(&bundle)?;
            let mut unpack = Command::new(oxbox);
            unpack
                .arg("spec")
                .arg("--data-root")
                .arg(&data_root)
                .args(["--image", &tag])
                .arg("--bundle")
                .arg(&bundle);
            [import, unpack]
        }
        None => {
            let layout = format!("{}:{IMAGE_REF}", dir.join("layout").display());
            let mut import = Command::new("skopeo");
            import
                .arg("copy")
                .arg("--quiet")
                .arg(format!("oci-archive:{}:{IMAGE_REF}", archive.display()))
                .arg(format!("oci:{layout}"));
            let mut unpack = Command::new("umoci");
            unpack.args(["unpack", "--image", &layout]).arg(&bundle);
            [import, unpack]
        }
    })
}

/// Checks an unpacked bundle holds the image's files: a run that
/// unpacked nothing is a failure, not a fast number.
pub fn check_unpacked(dir: &Path) -> Result<()> {
    let python = dir.join("bundle/rootfs/usr/lib/python3.11");
    if !python.is_dir() {
        bail!("the unpacked root has no /usr/lib/python3.11");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tools_import_then_unpack_into_the_run_directory() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Path::new("/a/image.tar");
        let args = |c: &Command| -> String {
            c.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let [import, unpack] = commands(Some(Path::new("oxbox")), archive, dir.path()).unwrap();
        let d = dir.path().display();
        assert_eq!(
            args(&import),
            format!("load --data-root {d}/data-root -i /a/image.tar -t oxbox-bench:bench")
        );
        assert_eq!(
            args(&unpack),
            format!("spec --data-root {d}/data-root --image oxbox-bench:bench --bundle {d}/bundle")
        );
        let [import, unpack] = commands(None, archive, dir.path()).unwrap();
        assert_eq!(import.get_program(), "skopeo");
        assert_eq!(
            args(&import),
            format!("copy --quiet oci-archive:/a/image.tar:bench oci:{d}/layout:bench")
        );
        assert_eq!(
            args(&unpack),
            format!("unpack --image {d}/layout:bench {d}/bundle")
        );
    }

    #[test]
    fn tree_bytes_sums_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("a")).unwrap();
        fs::write(dir.path().join("a/x"), [0u8; 10]).unwrap();
        fs::write(dir.path().join("y"), [0u8; 5]).unwrap();
        assert_eq!(tree_bytes(dir.path()), 15);
    }
}
