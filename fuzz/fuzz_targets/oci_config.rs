//! An OCI bundle's config.json, as `oxbox create` reads it: whatever the
//! JSON says, conversion to a container spec succeeds or returns an
//! error, never panics. The bundle is an empty directory with a rootfs.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn bundle() -> &'static Path {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let dir = std::env::temp_dir().join("oxbox-fuzz-bundle");
        std::fs::create_dir_all(dir.join("rootfs")).expect("bundle directory");
        dir
    })
}

fuzz_target!(|config: &[u8]| {
    let Ok(spec) = serde_json::from_slice::<oci_spec::runtime::Spec>(config) else {
        return;
    };
    let _ = oxbox_oci::config::from_spec(&spec, bundle(), PathBuf::from("/oxbox-kernel"));
});
