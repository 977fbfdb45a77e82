//! `oxbox pull` from a real OCI distribution registry (Debian's
//! `docker-registry`) started on loopback by the test, the busybox image
//! pushed into it by skopeo: without auth, with basic auth and with token
//! auth as Docker Hub's (refused without credentials, pulled with them), through a multi-platform
//! index whose linux/amd64 entry is the one taken, and through a network
//! that breaks off downloads (resumed with range requests; given up with
//! a clear error and nothing half-stored when it keeps breaking).

use oxbox_integration::images::{
    Auth, BreakingProxy, DataRoot, Registry, TempDir, add_multi_platform_index, busybox_layout,
};
use oxbox_integration::require_root;

fn pushed(registry: &Registry, dir: &TempDir, name: &str, creds: Option<&str>) {
    let layout = busybox_layout(dir.path());
    registry.push(&format!("oci:{}:bb", layout.display()), name, creds);
}

#[test]
fn pull_without_auth_then_run() {
    require_root!();
    let registry = Registry::start(Auth::Anonymous);
    let dir = TempDir::new("pull-anonymous");
    pushed(&registry, &dir, "tools/busybox:1", None);
    let store = DataRoot::new("store");
    let image = format!("{}/tools/busybox:1", registry.address());
    let pull = store.oxbox(&["pull", &image]).ok();
    assert!(
        pull.stdout.contains(&format!("Pulled: {image}")),
        "{pull:?}"
    );
    let run = store.oxbox(&["do", &image, "--"]).ok();
    assert_eq!(run.stdout, "cmd ran\n0\n/srv\nfrom-image\n");
    // A second pull finds every blob stored already.
    let again = store.oxbox(&["pull", &image]).ok();
    assert!(again.stderr.contains("already stored"), "{again:?}");
}

#[test]
fn pull_with_basic_auth() {
    require_root!();
    pull_with_credentials(Auth::Basic("oxbox", "s3cret"));
}

/// Token auth as Docker Hub's: the registry answers 401 with a Bearer
/// challenge, the client gets a signed token from the realm with its
/// credentials, and the registry checks the token's signature and grants.
#[test]
fn pull_with_token_auth() {
    require_root!();
    pull_with_credentials(Auth::Token("oxbox", "s3cret"));
}

/// A private image on a registry that wants user `oxbox`, password
/// `s3cret`: refused without credentials and with a wrong password,
/// pulled and run with the right ones.
fn pull_with_credentials(auth: Auth<'_>) {
    let registry = Registry::start(auth);
    let dir = TempDir::new("pull-auth");
    pushed(&registry, &dir, "private:1", Some("oxbox:s3cret"));
    let store = DataRoot::new("store");
    let image = format!("{}/private:1", registry.address());
    let refused = store.oxbox(&["pull", &image]);
    assert_eq!(refused.status, 125, "{refused:?}");
    assert!(refused.stderr.contains("cannot pull"), "{refused:?}");
    assert!(store.entries("blobs/sha256").is_empty());
    let wrong = store.oxbox_with_env(
        &["pull", &image],
        &[
            ("OXBOX_REGISTRY_USER", "oxbox"),
            ("OXBOX_REGISTRY_PASSWORD", "wrong"),
        ],
    );
    assert_eq!(wrong.status, 125, "{wrong:?}");
    store
        .oxbox_with_env(
            &["pull", &image],
            &[
                ("OXBOX_REGISTRY_USER", "oxbox"),
                ("OXBOX_REGISTRY_PASSWORD", "s3cret"),
            ],
        )
        .ok();
    let run = store
        .oxbox(&["do", &image, "--", "cat", "/srv/greeting"])
        .ok();
    assert_eq!(run.stdout, "hello from the image\n");
}

#[test]
fn pull_of_a_multi_platform_index_takes_linux_amd64() {
    require_root!();
    let registry = Registry::start(Auth::Anonymous);
    let dir = TempDir::new("pull-index");
    let layout = busybox_layout(dir.path());
    add_multi_platform_index(&layout);
    registry.push(&format!("oci:{}:multi", layout.display()), "multi:1", None);
    let store = DataRoot::new("store");
    let image = format!("{}/multi:1", registry.address());
    store.oxbox(&["pull", &image]).ok();
    let inspect = store.oxbox(&["inspect", &image]).ok();
    assert!(
        inspect.stdout.contains("\"Architecture\": \"amd64\""),
        "{}",
        inspect.stdout
    );
    let run = store.oxbox(&["do", &image, "--", "cat", "/srv/new"]).ok();
    assert_eq!(run.stdout, "added by layer 2\n");
}

/// How many bytes of response a broken connection carries: more than a
/// manifest, less than the busybox layer.
const BREAK_AFTER: u64 = 128 << 10;

#[test]
fn pull_resumes_downloads_the_network_breaks_off() {
    require_root!();
    let registry = Registry::start(Auth::Anonymous);
    let dir = TempDir::new("pull-resume");
    pushed(&registry, &dir, "tools/busybox:1", None);
    let proxy = BreakingProxy::start(registry.address(), BREAK_AFTER, 2);
    let store = DataRoot::new("store");
    let image = format!("{}/tools/busybox:1", proxy.address());
    let pull = store.oxbox(&["pull", &image]).ok();
    assert!(pull.stderr.contains("resuming at byte"), "{pull:?}");
    let ranges: Vec<String> = proxy
        .requests()
        .iter()
        .flat_map(|r| r.lines().map(str::to_ascii_lowercase).collect::<Vec<_>>())
        .filter(|l| l.starts_with("range: bytes="))
        .collect();
    assert!(
        !ranges.is_empty(),
        "no range request: {:?}",
        proxy.requests()
    );
    assert!(
        ranges.iter().all(|r| r != "range: bytes=0-"),
        "a resume starts after the bytes received: {ranges:?}"
    );
    let run = store.oxbox(&["do", &image, "--"]).ok();
    assert_eq!(run.stdout, "cmd ran\n0\n/srv\nfrom-image\n");
}

#[test]
fn pull_through_a_network_that_keeps_breaking_fails_cleanly() {
    require_root!();
    let registry = Registry::start(Auth::Anonymous);
    let dir = TempDir::new("pull-broken");
    pushed(&registry, &dir, "tools/busybox:1", None);
    let proxy = BreakingProxy::start(registry.address(), BREAK_AFTER, u32::MAX);
    let store = DataRoot::new("store");
    let image = format!("{}/tools/busybox:1", proxy.address());
    let pull = store.oxbox(&["pull", &image]);
    assert_eq!(pull.status, 125, "{pull:?}");
    assert!(pull.stderr.contains("cannot pull"), "{pull:?}");
    let images = store.oxbox(&["images"]).ok();
    assert_eq!(
        images.stdout.lines().count(),
        1,
        "only the header: {images:?}"
    );
    assert!(
        store.entries("tmp").is_empty(),
        "no partial download is left"
    );
    // The network heals: the same pull completes.
    let healed = format!("{}/tools/busybox:1", registry.address());
    store.oxbox(&["pull", &healed]).ok();
    let run = store.oxbox(&["do", &healed, "--", "cat", "/srv/new"]).ok();
    assert_eq!(run.stdout, "added by layer 2\n");
}
