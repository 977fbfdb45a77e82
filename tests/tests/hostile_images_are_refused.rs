//! Layer tars are hostile input. Archives built here with GNU tar carry a
//! `..` path, a hard link out of the root, a write through a symlink to a
//! host directory, a wrong diff_id, a truncated gzip stream and a device
//! node: each load is refused with a message naming the problem (or, for
//! the device, the node is skipped with a warning), nothing is written
//! outside the store, and the store keeps no partial layer or blob.

use std::fs;
use std::path::{Path, PathBuf};

use oxbox_integration::images::{DataRoot, TempDir, busybox_layer, docker_save, tar_create, tool};
use oxbox_integration::require_root;

/// A layer made by GNU tar from `files` (created in a staging directory by
/// `make`), with `--transform` renaming members and `-P` keeping names tar
/// would otherwise clean.
fn layer(
    dir: &Path,
    name: &str,
    make: impl FnOnce(&Path),
    members: &[&str],
    transform: &[&str],
) -> PathBuf {
    let stage = dir.join(format!("{name}-files"));
    fs::create_dir_all(&stage).unwrap();
    make(&stage);
    let tar = dir.join(format!("{name}.tar"));
    let mut options = vec!["-P".to_string()];
    options.extend(transform.iter().map(|t| format!("--transform={t}")));
    tar_create(&tar, &stage, members, &options);
    tar
}

/// Loads `archive`, which must fail with `message`, and checks that the
/// store holds no layer, no image and nothing in progress.
fn refused(store: &DataRoot, archive: &Path, message: &str) {
    let load = store.load(archive, None);
    assert_eq!(load.status, 125, "{load:?}");
    assert!(
        load.stderr.contains(message),
        "expected {message:?} in:\n{}",
        load.stderr
    );
    assert!(
        store.entries("layers/sha256").is_empty(),
        "a partial layer stayed"
    );
    assert!(
        store.entries("tmp").is_empty(),
        "work in progress stayed: {:?}",
        store.entries("tmp")
    );
    assert!(store.oxbox(&["images", "-q"]).ok().stdout.is_empty());
}

#[test]
fn dot_dot_paths_are_refused() {
    require_root!();
    let dir = TempDir::new("hostile-dotdot");
    let bad = layer(
        dir.path(),
        "dotdot",
        |s| fs::write(s.join("x"), "x").unwrap(),
        &["x"],
        &["s,^x,../../escaped,"],
    );
    let archive = docker_save(dir.path(), "hostile:dotdot", &[bad], None);
    let store = DataRoot::new("store");
    refused(&store, &archive, "points outside the root filesystem");
    assert!(
        !store.path().join("escaped").exists()
            && !store.path().parent().unwrap().join("escaped").exists()
    );
}

#[test]
fn hard_links_out_of_the_root_are_refused() {
    require_root!();
    let dir = TempDir::new("hostile-hardlink");
    let bad = layer(
        dir.path(),
        "hardlink",
        |s| {
            fs::write(s.join("target"), "t").unwrap();
            fs::hard_link(s.join("target"), s.join("link")).unwrap();
        },
        &["target", "link"],
        // Only the link's target is renamed (flags R: not member names, h: hard link targets).
        &["s,^target$,../../../../etc/hostname,RSh"],
    );
    let archive = docker_save(dir.path(), "hostile:hardlink", &[bad], None);
    refused(
        &DataRoot::new("store"),
        &archive,
        "points outside the root filesystem",
    );
}

#[test]
fn writes_through_a_symlink_to_the_host_are_refused() {
    require_root!();
    let dir = TempDir::new("hostile-symlink");
    let victim = TempDir::new("hostile-victim");
    let victim_path = victim.path().display().to_string();
    let bad = layer(
        dir.path(),
        "symlink",
        |s| {
            std::os::unix::fs::symlink(&victim_path, s.join("link")).unwrap();
            fs::create_dir(s.join("d")).unwrap();
            fs::write(s.join("d/pwned"), "pwned").unwrap();
        },
        &["link", "d/pwned"],
        &["s,^d/pwned$,link/pwned,"],
    );
    let archive = docker_save(dir.path(), "hostile:symlink", &[bad], None);
    refused(&DataRoot::new("store"), &archive, "link/pwned");
    assert_eq!(
        fs::read_dir(victim.path()).unwrap().count(),
        0,
        "a file was written on the host"
    );
}

#[test]
fn wrong_diff_ids_are_refused() {
    require_root!();
    let dir = TempDir::new("hostile-digest");
    let good = busybox_layer(dir.path());
    let wrong = format!("sha256:{}", "0".repeat(64));
    let archive = docker_save(dir.path(), "hostile:digest", &[good], Some(vec![wrong]));
    refused(&DataRoot::new("store"), &archive, "digest mismatch");
}

#[test]
fn truncated_layers_are_refused() {
    require_root!();
    let dir = TempDir::new("hostile-truncated");
    let good = busybox_layer(dir.path());
    tool("gzip", &["-k", &good.display().to_string()]);
    let gz = dir.path().join("busybox-layer.tar.gz");
    let bytes = fs::read(&gz).unwrap();
    let cut = dir.path().join("cut.tar.gz");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let diff_id = oxbox_integration::images::uncompressed_sha256(&good);
    let archive = docker_save(dir.path(), "hostile:truncated", &[cut], Some(vec![diff_id]));
    refused(&DataRoot::new("store"), &archive, "truncated or corrupt");
}

#[test]
fn device_nodes_are_skipped_with_a_warning() {
    require_root!();
    let dir = TempDir::new("hostile-device");
    let base = busybox_layer(dir.path());
    let devices = layer(
        dir.path(),
        "device",
        |s| {
            fs::create_dir(s.join("dev")).unwrap();
            tool(
                "mknod",
                &[&s.join("dev/mem").display().to_string(), "c", "1", "1"],
            );
            fs::write(s.join("dev/regular"), "kept").unwrap();
        },
        &["dev"],
        &[],
    );
    let archive = docker_save(dir.path(), "hostile:device", &[base, devices], None);
    let store = DataRoot::new("store");
    let load = store.load(&archive, None).ok();
    assert!(
        load.stderr.contains("dev/mem") && load.stderr.contains("device node skipped"),
        "{load:?}"
    );
    let layers = store.entries("layers/sha256");
    assert_eq!(layers.len(), 2);
    let unpacked: Vec<PathBuf> = layers
        .iter()
        .map(|l| store.path().join("layers/sha256").join(l).join("dev"))
        .collect();
    assert!(unpacked.iter().any(|d| d.join("regular").is_file()));
    assert!(
        unpacked.iter().all(|d| !d.join("mem").exists()),
        "a device node was created"
    );
}
