//! Images without an engine: a `docker save` archive, an OCI archive and an
//! OCI layout directory, made by skopeo and umoci from the busybox test
//! rootfs, are loaded into oxbox's store and run with `oxbox do IMAGE`,
//! with the image's Cmd, Env, WorkingDir and User; the container's writes
//! vanish with it, under overlayfs and with the copy fallback; `rmi`
//! removes what no image uses; a Debian image runs its programs as the
//! Debian tree it was made from does; `oxbox load` draws progress bars on a
//! terminal and writes plain lines otherwise.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use oxbox_integration::images::{
    DataRoot, TempDir, busybox_layer, busybox_layout, docker_save, docker_save_with_config,
    tar_create, tool,
};
use oxbox_integration::{Run, debian, oxbox_bin, require_root};

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

/// `oxbox load` on a terminal draws a bar per task (indicatif, with its
/// cursor escapes); into a pipe or file it writes one plain line per task.
#[test]
fn load_draws_a_progress_bar_on_a_terminal_and_plain_lines_otherwise() {
    require_root!();
    let dir = TempDir::new("images-progress");
    let (docker, _, _) = layout_archives(&dir);

    let piped = DataRoot::new("store-piped");
    let plain = piped.oxbox(&["load", "-i", &docker]).ok();
    let lines: Vec<&str> = plain.stderr.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&format!("reading {docker}: read").as_str())
    );
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.starts_with("layer ")
                && (l.ends_with(": unpacked") || l.ends_with(": exists"))),
        "{plain:?}"
    );
    assert!(!plain.stderr.contains('\x1b'), "{plain:?}");

    // util-linux `script` runs the command on a pty and copies what it
    // wrote there to our stdout.
    let terminal = DataRoot::new("store-terminal");
    let command = format!("{} load -i {docker}", oxbox_bin().display());
    let on_pty = Command::new("timeout")
        .args([
            "-s",
            "KILL",
            "120",
            "script",
            "-qefc",
            &command,
            "/dev/null",
        ])
        .env("OXBOX_DATA_ROOT", terminal.path())
        .output()
        .expect("run script");
    let drawn = String::from_utf8_lossy(&on_pty.stdout);
    assert!(on_pty.status.success(), "{on_pty:?}");
    assert!(drawn.contains("Loaded image: busybox:latest"), "{drawn}");
    let full_bar = format!("[{}] ", "=".repeat(30));
    assert!(
        drawn.contains(&format!("reading {docker}: read {full_bar}")),
        "no full bar for the archive: {drawn:?}"
    );
    assert!(
        drawn.contains(&format!(": unpacked {full_bar}")),
        "no full bar for a layer: {drawn:?}"
    );
    assert!(
        drawn.contains("iB/") || drawn.contains(" B/"),
        "no byte count: {drawn:?}"
    );
    assert!(drawn.contains('\x1b'), "no terminal escapes: {drawn:?}");
    assert!(
        !drawn.contains(&format!("reading {docker}: read\r\n")),
        "a plain line on the terminal: {drawn:?}"
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

/// What the Debian image's layer 2 adds on top of the Debian tree: a user
/// `app` owning `/app` (mode 750) with a Python program, `/etc/motd`
/// removed by a whiteout and `/etc/apt/apt.conf.d` replaced by an opaque
/// directory holding one file.
fn debian_app_layer(dir: &Path) -> PathBuf {
    let stage = dir.join("app-layer");
    let debian = debian().path();
    fs::create_dir_all(stage.join("etc/apt/apt.conf.d")).unwrap();
    fs::create_dir_all(stage.join("app")).unwrap();
    for (file, line) in [
        ("passwd", "app:x:1000:1000:app:/app:/bin/bash\n"),
        ("group", "app:x:1000:\n"),
    ] {
        let mut accounts = fs::read_to_string(debian.join("etc").join(file)).unwrap();
        accounts.push_str(line);
        fs::write(stage.join("etc").join(file), accounts).unwrap();
    }
    fs::write(stage.join("etc/.wh.motd"), "").unwrap();
    fs::write(stage.join("etc/apt/apt.conf.d/.wh..wh..opq"), "").unwrap();
    fs::write(stage.join("etc/apt/apt.conf.d/99oxbox"), "// layer 2\n").unwrap();
    fs::write(
        stage.join("app/hello.py"),
        r#"import os, sqlite3, subprocess
print(os.getuid(), os.getgid(), os.getcwd(), os.environ["HOME"], os.environ["GREETING"])
print("motd" if os.path.exists("/etc/motd") else "no motd", sorted(os.listdir("/etc/apt/apt.conf.d")))
print(subprocess.run(["perl", "-e", "print 6*7"], capture_output=True, text=True).stdout)
db = sqlite3.connect("/app/app.db")
db.execute("create table t (x)"); db.execute("insert into t values (42)"); db.commit()
print(db.execute("select x from t").fetchone()[0], oct(os.stat("/app").st_mode & 0o777))
"#,
    )
    .unwrap();
    tool(
        "chown",
        &["-R", "1000:1000", &stage.join("app").display().to_string()],
    );
    tool("chmod", &["750", &stage.join("app").display().to_string()]);
    let layer = dir.join("app-layer.tar");
    tar_create(&layer, &stage, &["."], &["--numeric-owner".into()]);
    layer
}

/// A Debian bookworm image: the test's Debian tree as layer 1 (without
/// compilers, headers and documentation, to keep it near 300 MB), the app
/// layer on top. Its programs run as they do in the tree itself: the same
/// set-id bits, owners and groups (nginx's logs, redis's directories,
/// shadow's group), hard links, symlinks and installed packages, compared
/// with the tree run natively; the image's User, WorkingDir, Env,
/// Entrypoint and whiteouts apply; `-u` and `--entrypoint` override the
/// image's User and Entrypoint.
#[test]
fn debian_image_runs_like_its_rootfs() {
    require_root!();
    let dir = TempDir::new("images-debian");
    let base = dir.path().join("debian.tar");
    let excluded: Vec<String> = [
        "./tmp/*",
        "./usr/lib/gcc",
        "./usr/libexec/gcc",
        "./usr/include",
        "./usr/share/doc",
        "./usr/share/man",
        "./usr/share/locale",
    ]
    .iter()
    .map(|p| format!("--exclude={p}"))
    .collect();
    tar_create(&base, debian().path(), &["."], &excluded);
    let app = debian_app_layer(dir.path());
    let archive = docker_save_with_config(
        dir.path(),
        "debian-app:1",
        &[base, app],
        None,
        r#"{"User":"app","WorkingDir":"/app","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","GREETING=from-the-image"],"Entrypoint":["python3"],"Cmd":["hello.py"]}"#,
    );
    let store = DataRoot::new("store");
    store.load(&archive, None).ok();

    let run = store.oxbox(&["do", "debian-app:1", "--"]).ok();
    assert_eq!(
        run.stdout,
        "1000 1000 /app /app from-the-image\nno motd ['99oxbox']\n42\n42 0o750\n"
    );

    let script = r#"cd /
find usr/bin usr/sbin var etc/redis etc/shadow etc/gshadow -xdev \( -perm -4000 -o -perm -2000 -o ! -user 0 -o ! -group 0 \) -printf '%p %m %U %G\n' | sort
[ usr/bin/perl -ef usr/bin/perl5.36.0 ] && echo perl is hard-linked
readlink usr/bin/python3
sha256sum usr/bin/bash usr/lib/x86_64-linux-gnu/libc.so.6
dpkg-query -W -f '${Package} ${Status}\n' | grep -c 'install ok installed'
id"#;
    let native = Run::with_rootfs(debian().path(), ["bash", "-c", script]).native();
    assert_eq!(native.status, 0, "{}", native.describe());
    assert!(
        native.stdout().contains("usr/bin/su 4755 0 0\n")
            && native.stdout().contains("perl is hard-linked\n"),
        "native baseline\n{}",
        native.describe()
    );
    let as_root = store
        .oxbox(&[
            "do",
            "-u",
            "0",
            "--entrypoint",
            "bash",
            "debian-app:1",
            "--",
            "-c",
            script,
        ])
        .ok();
    assert_eq!(as_root.stdout, native.stdout());
}
