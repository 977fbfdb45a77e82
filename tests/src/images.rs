//! Images for the image scenarios, made the way users make them: an OCI
//! layout built with `umoci` from the busybox test rootfs, converted with
//! `skopeo` to a `docker save` archive and an OCI archive; and hand-made
//! `docker save` archives whose layers are hostile, written with GNU tar
//! (`-P` and `--transform` write the names `tar::Builder` refuses).
//!
//! Each scenario gets its own data root ([`DataRoot`]) under
//! `<target>/test-images/`, removed when the scenario ends.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::token_server::{self, TokenServer};
use crate::{oxbox_bin, rootfs, target_dir};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh directory under `<target>/test-images/`, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory named after `tag`.
    pub fn new(tag: &str) -> TempDir {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = target_dir()
            .join("test-images")
            .join(format!("{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs a host tool, panicking with its output if it fails.
pub fn tool(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} not found ({e}); run scripts/install-deps.sh"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// An image store of one scenario, and `oxbox` run against it.
#[derive(Debug)]
pub struct DataRoot(TempDir);

/// What an `oxbox` call did.
#[derive(Debug)]
pub struct Called {
    /// Exit status (-1 if killed).
    pub status: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Called {
    /// Panics with the output unless the call exited 0.
    pub fn ok(self) -> Called {
        assert_eq!(self.status, 0, "oxbox failed:\n{self:?}");
        self
    }
}

impl DataRoot {
    /// A new, empty store.
    pub fn new(tag: &str) -> DataRoot {
        DataRoot(TempDir::new(tag))
    }

    /// The data root.
    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// Runs `oxbox ARGS` with this data root (under `timeout -s KILL`:
    /// a container's pid 1 ignores SIGTERM).
    pub fn oxbox(&self, args: &[&str]) -> Called {
        self.oxbox_with_env(args, &[])
    }

    /// [`DataRoot::oxbox`] with extra environment variables.
    pub fn oxbox_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Called {
        let output = Command::new("timeout")
            .args(["-s", "KILL", "120"])
            .arg(oxbox_bin())
            .args(args)
            .env("OXBOX_DATA_ROOT", self.path())
            .envs(env.iter().copied())
            .output()
            .expect("run oxbox");
        Called {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `oxbox load -i PATH [--tag TAG]`.
    pub fn load(&self, path: &Path, tag: Option<&str>) -> Called {
        let path = path.display().to_string();
        let mut args = vec!["load", "-i", path.as_str()];
        args.extend(tag.iter().flat_map(|t| ["--tag", t]));
        self.oxbox(&args)
    }

    /// The names in a directory of the store (`layers/sha256`, `tmp`...).
    pub fn entries(&self, dir: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path().join(dir))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// Writes `members` of `dir` into the new tar `archive` with GNU tar;
/// `options` go before them (`-P`, `--transform=...`).
pub fn tar_create(archive: &Path, dir: &Path, members: &[&str], options: &[String]) {
    let mut args = vec!["-cf".to_string(), archive.display().to_string()];
    args.extend(options.iter().cloned());
    args.extend(["-C".to_string(), dir.display().to_string()]);
    args.extend(members.iter().map(|m| m.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tool("tar", &args);
}

/// The files of the busybox image: busybox and its applets, `/etc`.
fn busybox_files() -> Vec<&'static str> {
    vec!["bin", "etc"]
}

/// An OCI layout at `<dir>/layout` holding `layout:bb`, built by umoci:
///
/// - layer 1: busybox (`/bin`), `/etc` of the test rootfs, `/srv/greeting`,
///   `/srv/old`, a user `web` (1000:1000);
/// - layer 2: `/srv/old` removed (a whiteout), `/srv/new` added;
/// - config: `Cmd ["sh", "-c", "echo cmd ran; id -u; pwd; echo $GREETING"]`,
///   `WorkingDir /srv`, `Env GREETING=from-image`.
pub fn busybox_layout(dir: &Path) -> PathBuf {
    let layout = dir.join("layout");
    let bundle = dir.join("bundle");
    let image = format!("{}:bb", layout.display());
    tool(
        "umoci",
        &["init", "--layout", &layout.display().to_string()],
    );
    tool("umoci", &["new", "--image", &image]);
    tool(
        "umoci",
        &["unpack", "--image", &image, &bundle.display().to_string()],
    );
    let root = bundle.join("rootfs");
    let source = rootfs().path();
    for top in busybox_files() {
        tool(
            "cp",
            &[
                "-a",
                &source.join(top).display().to_string(),
                &root.display().to_string(),
            ],
        );
    }
    let passwd = root.join("etc/passwd");
    let mut accounts = fs::read_to_string(&passwd).unwrap_or_default();
    accounts.push_str("web:x:1000:1000:web:/home/web:/bin/sh\n");
    fs::write(&passwd, accounts).unwrap();
    fs::create_dir_all(root.join("srv")).unwrap();
    fs::write(root.join("srv/greeting"), "hello from the image\n").unwrap();
    fs::write(root.join("srv/old"), "removed by layer 2\n").unwrap();
    tool(
        "umoci",
        &["repack", "--image", &image, &bundle.display().to_string()],
    );
    // A bundle repacks onto the image it was unpacked from: unpack the
    // one-layer image to add the second layer on top of it.
    fs::remove_dir_all(&bundle).unwrap();
    tool(
        "umoci",
        &["unpack", "--image", &image, &bundle.display().to_string()],
    );
    fs::remove_file(root.join("srv/old")).unwrap();
    fs::write(root.join("srv/new"), "added by layer 2\n").unwrap();
    tool(
        "umoci",
        &["repack", "--image", &image, &bundle.display().to_string()],
    );
    tool(
        "umoci",
        &[
            "config",
            "--image",
            &image,
            "--config.cmd",
            "sh",
            "--config.cmd",
            "-c",
            "--config.cmd",
            "echo cmd ran; id -u; pwd; echo $GREETING",
            "--config.workingdir",
            "/srv",
            "--config.env",
            "GREETING=from-image",
        ],
    );
    layout
}

/// A `docker save` archive with `layers` (tar files, possibly
/// compressed), whose config announces `diff_ids` (by default the sha256
/// of each layer, decompressed), tagged `tag`, with `Cmd ["sh"]`.
pub fn docker_save(
    dir: &Path,
    tag: &str,
    layers: &[PathBuf],
    diff_ids: Option<Vec<String>>,
) -> PathBuf {
    docker_save_with_config(dir, tag, layers, diff_ids, r#"{"Cmd":["sh"]}"#)
}

/// [`docker_save`] with the image's run config (`Cmd`, `Env`, `User`...)
/// given as its JSON object.
pub fn docker_save_with_config(
    dir: &Path,
    tag: &str,
    layers: &[PathBuf],
    diff_ids: Option<Vec<String>>,
    run_config: &str,
) -> PathBuf {
    let stage = dir.join(format!("stage-{}", SEQ.fetch_add(1, Ordering::Relaxed)));
    fs::create_dir_all(&stage).unwrap();
    let diff_ids =
        diff_ids.unwrap_or_else(|| layers.iter().map(|l| uncompressed_sha256(l)).collect());
    let mut names = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let name = format!("layer{i}.tar");
        // A link, not a copy: a layer may be hundreds of megabytes.
        fs::hard_link(layer, stage.join(&name))
            .or_else(|_| fs::copy(layer, stage.join(&name)).map(drop))
            .unwrap();
        names.push(format!("\"{name}\""));
    }
    let ids: Vec<String> = diff_ids.iter().map(|d| format!("\"{d}\"")).collect();
    fs::write(
        stage.join("config.json"),
        format!(
            r#"{{"architecture":"amd64","os":"linux","config":{run_config},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
            ids.join(",")
        ),
    )
    .unwrap();
    fs::write(
        stage.join("manifest.json"),
        format!(
            r#"[{{"Config":"config.json","RepoTags":["{tag}"],"Layers":[{}]}}]"#,
            names.join(",")
        ),
    )
    .unwrap();
    let archive = dir.join(format!("{}.tar", tag.replace([':', '/'], "_")));
    tar_create(&archive, &stage, &["."], &[]);
    archive
}

/// `sha256:<hex>` of `layer` once decompressed (gzip or zstd, by name).
pub fn uncompressed_sha256(layer: &Path) -> String {
    let path = layer.display().to_string();
    let script = if path.ends_with(".gz") {
        format!("gzip -dc '{path}' | sha256sum")
    } else if path.ends_with(".zst") {
        format!("zstd -dc '{path}' | sha256sum")
    } else {
        format!("sha256sum < '{path}'")
    };
    let out = tool("sh", &["-c", &script]);
    let text = String::from_utf8_lossy(&out.stdout);
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

/// A layer tar of busybox and `/etc` from the test rootfs.
pub fn busybox_layer(dir: &Path) -> PathBuf {
    let layer = dir.join("busybox-layer.tar");
    tar_create(&layer, rootfs().path(), &busybox_files(), &[]);
    layer
}

/// How a [`Registry`] authenticates its clients.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// Anyone pulls and pushes.
    Anonymous,
    /// HTTP basic auth (htpasswd, bcrypt) with this user and password.
    Basic(&'a str, &'a str),
    /// Bearer tokens from a [`TokenServer`] that grants this user with
    /// this password what it asks for.
    Token(&'a str, &'a str),
}

/// A `docker-registry` (Debian's distribution registry) on a free loopback
/// port, with its storage in a scratch directory; stopped when dropped.
#[derive(Debug)]
pub struct Registry {
    child: std::process::Child,
    address: String,
    _dir: TempDir,
}

impl Registry {
    /// Starts a registry that authenticates as `auth` says.
    pub fn start(auth: Auth<'_>) -> Registry {
        let dir = TempDir::new("registry");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let address = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\n",
            dir.path().join("data").display()
        );
        match auth {
            Auth::Anonymous => {}
            Auth::Basic(name, password) => {
                let htpasswd = dir.path().join("htpasswd");
                let out = tool("htpasswd", &["-Bbn", name, password]);
                fs::write(&htpasswd, out.stdout).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: oxbox-tests\n    path: {}\n",
                    htpasswd.display()
                ));
            }
            Auth::Token(name, password) => {
                let server = TokenServer::start(dir.path(), name, password);
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    server.realm(),
                    token_server::SERVICE,
                    token_server::ISSUER,
                    server.certificate().display()
                ));
            }
        }
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).unwrap();
        let log = fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry not found; run scripts/install-deps.sh");
        // Wait (bounded) until it accepts connections.
        for _ in 0..100 {
            if std::net::TcpStream::connect(&address).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Registry {
            child,
            address,
            _dir: dir,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Pushes `source` (a skopeo transport reference such as
    /// `oci:DIR:TAG`) as `name` (`repo:tag`), with all its platforms.
    pub fn push(&self, source: &str, name: &str, creds: Option<&str>) {
        let destination = format!("docker://{}/{name}", self.address);
        let mut args = vec!["copy", "-q", "--all", "--dest-tls-verify=false"];
        if let Some(creds) = creds {
            args.extend(["--dest-creds", creds]);
        }
        args.extend([source, destination.as_str()]);
        tool("skopeo", &args);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sha256:<hex>` of `bytes`, by `sha256sum`.
fn sha256_of(dir: &Path, bytes: &[u8]) -> String {
    let path = dir.join(format!("hash-{}", SEQ.fetch_add(1, Ordering::Relaxed)));
    fs::write(&path, bytes).unwrap();
    let digest = uncompressed_sha256(&path);
    let _ = fs::remove_file(path);
    digest
}

/// Adds to the OCI layout `layout` (from [`busybox_layout`]) a
/// multi-platform image tagged `multi`: an index whose linux/arm64 entry
/// comes first (same layers, a config saying arm64) and whose linux/amd64
/// entry is the busybox image.
pub fn add_multi_platform_index(layout: &Path) {
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let put = |bytes: &[u8]| -> (String, usize) {
        let digest = sha256_of(layout, bytes);
        fs::write(blob(&digest), bytes).unwrap();
        (digest, bytes.len())
    };
    let index_path = layout.join("index.json");
    let index = fs::read_to_string(&index_path).unwrap();
    let field = |text: &str, key: &str| -> String {
        let start = text
            .find(&format!("\"{key}\":\""))
            .unwrap_or_else(|| panic!("{key} in {text}"))
            + key.len()
            + 4;
        text[start..start + text[start..].find('"').unwrap()].to_owned()
    };
    let amd64 = field(&index, "digest");
    let amd64_manifest = fs::read_to_string(blob(&amd64)).unwrap();
    let amd64_size = amd64_manifest.len();
    let config_digest = field(
        &amd64_manifest[amd64_manifest.find("\"config\"").unwrap()..],
        "digest",
    );
    let config = fs::read_to_string(blob(&config_digest)).unwrap();
    let arm_config = config.replace("\"architecture\":\"amd64\"", "\"architecture\":\"arm64\"");
    assert_ne!(arm_config, config, "the config names its architecture");
    let (arm_config_digest, arm_config_size) = put(arm_config.as_bytes());
    let arm_manifest = amd64_manifest
        .replace(&config_digest, &arm_config_digest)
        .replacen(
            &format!("\"size\":{}", config.len()),
            &format!("\"size\":{arm_config_size}"),
            1,
        );
    let (arm_digest, arm_size) = put(arm_manifest.as_bytes());
    let manifest_type = "application/vnd.oci.image.manifest.v1+json";
    let multi = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{manifest_type}","digest":"{arm_digest}","size":{arm_size},"platform":{{"architecture":"arm64","os":"linux"}}}},{{"mediaType":"{manifest_type}","digest":"{amd64}","size":{amd64_size},"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
    );
    let (multi_digest, multi_size) = put(multi.as_bytes());
    let entry = format!(
        r#"{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{multi_digest}","size":{multi_size},"annotations":{{"org.opencontainers.image.ref.name":"multi"}}}}"#
    );
    let index = index.replacen("\"manifests\":[", &format!("\"manifests\":[{entry},"), 1);
    fs::write(index_path, index).unwrap();
}

/// A TCP proxy on a free loopback port in front of `upstream` (a
/// registry) that breaks off its first `cuts` connections once they have
/// carried `after` bytes of response, as a flaky network does in the middle
/// of a download, and keeps the head of every request it forwards.
///
/// Its threads end with the connections they copy; the accepting one
/// lives as long as the test process.
#[derive(Debug)]
pub struct BreakingProxy {
    address: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl BreakingProxy {
    /// Starts the proxy.
    pub fn start(upstream: &str, after: u64, cuts: u32) -> BreakingProxy {
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::atomic::AtomicU32;
        use std::sync::{Arc, Mutex};

        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let address = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let cuts_left = Arc::new(AtomicU32::new(cuts));
        let upstream = upstream.to_owned();
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (mut client_in, mut server_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let seen = Arc::clone(&seen);
                // Requests go through whole; their heads are kept.
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 16 << 10];
                    while let Ok(n @ 1..) = std::io::Read::read(&mut client_in, &mut buffer) {
                        let text = String::from_utf8_lossy(&buffer[..n]);
                        seen.lock().unwrap().push(text.into_owned());
                        if std::io::Write::write_all(&mut server_out, &buffer[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = server_out.shutdown(Shutdown::Write);
                });
                let cuts_left = Arc::clone(&cuts_left);
                let (mut server_in, mut client_out) = (server, client);
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 16 << 10];
                    let mut carried = 0u64;
                    while let Ok(n @ 1..) = std::io::Read::read(&mut server_in, &mut buffer) {
                        let room = after.saturating_sub(carried) as usize;
                        let breaking = n > room
                            && cuts_left
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                                    c.checked_sub(1)
                                })
                                .is_ok();
                        let sent = if breaking { room } else { n };
                        if std::io::Write::write_all(&mut client_out, &buffer[..sent]).is_err() {
                            break;
                        }
                        carried += sent as u64;
                        if breaking {
                            break;
                        }
                    }
                    let _ = client_out.shutdown(Shutdown::Both);
                    let _ = server_in.shutdown(Shutdown::Both);
                });
            }
        });
        BreakingProxy { address, requests }
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The heads of the requests forwarded so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}
