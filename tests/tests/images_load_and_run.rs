//! Images without an engine: a `docker save` archive, an OCI archive and an
//! OCI layout directory, made by skopeo and umoci from the busybox test
//! rootfs, are loaded into oxbox's store and run with `oxbox do IMAGE`,
//! with the image's Cmd, Env, WorkingDir and User; the container's writes
//! vanish with it, under overlayfs and with the copy fallback; `rmi`
//! removes what no image uses.

use oxbox_integration::images::{
    DataRoot, TempDir, busybox_layer, busybox_layout, docker_save, tar_create, tool,
};
use oxbox_integration::require_root;

fn layout_archives(dir: &TempDir) -> (String, String, String) {
    let layout = busybox_layout(dir.path());
    let oci_dir = format!("{}", layout.display());
    let docker = dir.path().join("bb-docker.tar").display().to_string();
    let oci = dir.path().join("bb-oci.tar").display().to_string();
    tool(
        "skopeo",
        &[
            "copy",
            "-q",
            &format!("oci:{oci_dir}:bb"),
            &format!("docker-archive:{docker}:busybox:latest"),
        ],
    );
    tool(
        "skopeo",
        &[
            "copy",
            "-q",
            &format!("oci:{oci_dir}:bb"),
            &format!("oci-archive:{oci}:bb"),
        ],
    );
    (docker, oci, oci_dir)
}

/// A store with the busybox image loaded from its docker save archive.
fn busybox_loaded(tag: &str) -> (TempDir, DataRoot) {
    let dir = TempDir::new(tag);
    let (docker, _, _) = layout_archives(&dir);
    let store = DataRoot::new("store");
    store.oxbox(&["load", "-i", &docker]).ok();
    (dir, store)
}

#[test]
fn docker_save_archive_runs_with_the_image_defaults() {
    require_root!();
    let dir = TempDir::new("images-docker-save");
    let (docker, _, _) = layout_archives(&dir);
    let store = DataRoot::new("store");
    let loaded = store.oxbox(&["load", "-i", &docker]).ok();
    assert_eq!(loaded.stdout, "Loaded image: busybox:latest\n");
    let listed = store.oxbox(&["images"]).ok();
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with("busybox ") && l.contains("latest")),
        "{listed:?}"
    );

    let run = store.oxbox(&["do", "busybox", "--"]).ok();
    assert_eq!(run.stdout, "cmd ran\n0\n/srv\nfrom-image\n");

    let run = store
        .oxbox(&[
            "do",
            "-e",
            "GREETING=from-user",
            "busybox",
            "--",
            "sh",
            "-c",
            "cat greeting; echo $GREETING $HOME",
        ])
        .ok();
    assert_eq!(run.stdout, "hello from the image\nfrom-user /root\n");

    // Layer 2's whiteout hides layer 1's file.
    let run = store.oxbox(&["do", "busybox", "--", "ls", "/srv"]).ok();
    assert_eq!(run.stdout, "greeting\nnew\n");
    assert!(
        store.entries("containers").is_empty(),
        "the container's directory is removed"
    );
}

#[test]
fn oci_archive_and_layout_share_layers_with_docker_save() {
    require_root!();
    let dir = TempDir::new("images-oci");
    let (docker, oci, layout) = layout_archives(&dir);
    let store = DataRoot::new("store");
    store.oxbox(&["load", "-i", &docker]).ok();
    let loaded = store
        .oxbox(&["load", "-i", &oci, "--tag", "localhost/bb-oci:1"])
        .ok();
    assert_eq!(loaded.stdout, "Loaded image: localhost/bb-oci:1\n");
    let loaded = store
        .oxbox(&["load", "-i", &layout, "--tag", "layout:dir"])
        .ok();
    assert_eq!(loaded.stdout, "Loaded image: layout:dir\n");
    // skopeo's docker archive carries uncompressed layers and its OCI
    // outputs gzip ones: the blobs differ, the unpacked layers are shared.
    assert_eq!(
        store.entries("layers/sha256").len(),
        2,
        "two layers, unpacked once"
    );
    let ids = store.oxbox(&["images", "-q"]).ok();
    let ids: Vec<&str> = ids.stdout.lines().collect();
    assert_eq!(ids.len(), 1, "one image with three names: {ids:?}");

    let inspect = store.oxbox(&["inspect", "layout:dir"]).ok();
    for want in [
        "\"WorkingDir\": \"/srv\"",
        "\"GREETING=from-image\"",
        "localhost/bb-oci:1",
        "busybox:latest",
    ] {
        assert!(
            inspect.stdout.contains(want),
            "{want} missing from:\n{}",
            inspect.stdout
        );
    }
    let run = store
        .oxbox(&["do", "localhost/bb-oci:1", "--", "cat", "/srv/new"])
        .ok();
    assert_eq!(run.stdout, "added by layer 2\n");
}

#[test]
fn container_writes_vanish_with_the_container() {
    require_root!();
    let (_dir, store) = busybox_loaded("images-writable");
    // What an oxbox killed mid-run leaves: its lock is free, so the next
    // container's oxbox removes it.
    let dead = store.path().join("containers/0123456789ab");
    std::fs::create_dir_all(dead.join("rootfs/tmp")).unwrap();
    std::fs::write(dead.join("lock"), "").unwrap();
    for snapshotter in ["overlay", "copy"] {
        let env = [("OXBOX_SNAPSHOTTER", snapshotter)];
        let run = store
            .oxbox_with_env(
                &[
                    "do",
                    "busybox",
                    "--",
                    "sh",
                    "-c",
                    "echo changed > greeting; rm new; touch /made; cat greeting; ls",
                ],
                &env,
            )
            .ok();
        assert_eq!(run.stdout, "changed\ngreeting\n", "{snapshotter}");
        let run = store.oxbox_with_env(
            &[
                "do",
                "busybox",
                "--",
                "sh",
                "-c",
                "cat greeting; ls; ls /made",
            ],
            &env,
        );
        assert_eq!(
            run.stdout, "hello from the image\ngreeting\nnew\n",
            "{snapshotter}: {run:?}"
        );
        assert_ne!(run.status, 0, "{snapshotter}: /made must be gone");
        assert!(store.entries("containers").is_empty(), "{snapshotter}");
    }
}

#[test]
fn image_entrypoint_and_cmd_combine_like_docker() {
    require_root!();
    let dir = TempDir::new("images-entrypoint");
    let layout = busybox_layout(dir.path());
    let image = format!("{}:bb", layout.display());
    tool(
        "umoci",
        &[
            "config",
            "--image",
            &image,
            "--config.entrypoint",
            "echo",
            "--clear=config.cmd",
            "--config.cmd",
            "default-arg",
        ],
    );
    let store = DataRoot::new("store");
    store.load(&layout, Some("entry:1")).ok();
    assert_eq!(
        store.oxbox(&["do", "entry:1", "--"]).ok().stdout,
        "default-arg\n"
    );
    assert_eq!(
        store
            .oxbox(&["do", "entry:1", "--", "given", "args"])
            .ok()
            .stdout,
        "given args\n"
    );
}

#[test]
fn image_user_runs_the_command() {
    require_root!();
    let dir = TempDir::new("images-user");
    let layout = busybox_layout(dir.path());
    let image = format!("{}:bb", layout.display());
    tool(
        "umoci",
        &["config", "--image", &image, "--config.user", "web"],
    );
    let store = DataRoot::new("store");
    store.load(&layout, Some("user:1")).ok();
    let run = store
        .oxbox(&["do", "user:1", "--", "sh", "-c", "id -u; id -g; echo $HOME"])
        .ok();
    assert_eq!(run.stdout, "1000\n1000\n/home/web\n");
}

#[test]
fn rmi_untags_then_removes_what_no_image_uses() {
    require_root!();
    let dir = TempDir::new("images-rmi");
    let layer = busybox_layer(dir.path());
    let archive = docker_save(dir.path(), "small:1", &[layer], None);
    let store = DataRoot::new("store");
    store.load(&archive, None).ok();
    store.load(&archive, Some("small:2")).ok();
    assert_eq!(
        store.oxbox(&["rmi", "small:1"]).ok().stdout,
        "Untagged: small:1\n"
    );
    assert_eq!(store.entries("layers/sha256").len(), 1);
    let removed = store.oxbox(&["rmi", "small:2"]).ok();
    assert!(
        removed.stdout.starts_with("Deleted: sha256:"),
        "{removed:?}"
    );
    assert!(store.entries("layers/sha256").is_empty());
    assert!(store.entries("blobs/sha256").is_empty());
    let missing = store.oxbox(&["do", "small:2", "--", "true"]);
    assert_eq!(missing.status, 125);
    assert!(
        missing.stderr.contains("no such image: small:2"),
        "{missing:?}"
    );
}

#[test]
fn gzip_and_zstd_layers_load() {
    require_root!();
    let dir = TempDir::new("images-compressed");
    let layer = busybox_layer(dir.path());
    let path = layer.display().to_string();
    tool("gzip", &["-k", &path]);
    let extra = dir.path().join("extra");
    std::fs::create_dir_all(extra.join("srv")).unwrap();
    std::fs::write(extra.join("srv/zstd"), "from a zstd layer\n").unwrap();
    let extra_tar = dir.path().join("extra.tar");
    tar_create(&extra_tar, &extra, &["srv"], &[]);
    tool("zstd", &["-q", &extra_tar.display().to_string()]);
    let archive = docker_save(
        dir.path(),
        "compressed:1",
        &[
            format!("{path}.gz").into(),
            dir.path().join("extra.tar.zst"),
        ],
        None,
    );
    let store = DataRoot::new("store");
    store.load(&archive, None).ok();
    let run = store
        .oxbox(&["do", "compressed:1", "--", "cat", "/srv/zstd"])
        .ok();
    assert_eq!(run.stdout, "from a zstd layer\n");
    let inspect = store.oxbox(&["inspect", "compressed:1"]).ok();
    assert!(
        inspect.stdout.contains("tar+gzip") && inspect.stdout.contains("tar+zstd"),
        "{}",
        inspect.stdout
    );
}

#[test]
fn spec_from_an_image_makes_a_bundle_the_runtime_verbs_run() {
    require_root!();
    let (dir, store) = busybox_loaded("images-spec");
    let bundle = dir.path().join("oci-bundle");
    std::fs::create_dir(&bundle).unwrap();
    let bundle = bundle.display().to_string();
    store
        .oxbox(&["spec", "--image", "busybox", "--bundle", &bundle])
        .ok();
    let state = dir.path().join("state").display().to_string();
    let id = format!("spec-image-{}", std::process::id());
    let run = store
        .oxbox(&["--root", &state, "run", "--bundle", &bundle, &id])
        .ok();
    assert_eq!(run.stdout, "cmd ran\n0\n/srv\nfrom-image\n");
    // The bundle's rootfs is the image's: layer 2's whiteout applied.
    assert!(
        !std::path::Path::new(&bundle)
            .join("rootfs/srv/old")
            .exists()
    );
    assert!(
        std::path::Path::new(&bundle)
            .join("rootfs/srv/new")
            .is_file()
    );
}
