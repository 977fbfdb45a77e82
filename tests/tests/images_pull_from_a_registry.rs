//! `oxbox pull` from a real OCI distribution registry (Debian's
//! `docker-registry`) started on loopback by the test, the busybox image
//! pushed into it by skopeo: without auth, with basic auth (refused
//! without credentials, pulled with them), and through a multi-platform
//! index whose linux/amd64 entry is the one taken.

use oxbox_integration::images::{
    DataRoot, Registry, TempDir, add_multi_platform_index, busybox_layout,
};
use oxbox_integration::require_root;

fn pushed(registry: &Registry, dir: &TempDir, name: &str, creds: Option<&str>) {
    let layout = busybox_layout(dir.path());
    registry.push(&format!("oci:{}:bb", layout.display()), name, creds);
}

#[test]
fn pull_without_auth_then_run() {
    require_root!();
    let registry = Registry::start(None);
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
    let registry = Registry::start(Some(("oxbox", "s3cret")));
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
    let registry = Registry::start(None);
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
