//! The kernel survives hostile arguments: `tests/guest/fuzz/syscalls.c`
//! issues random syscalls (random, boundary and pointer-shaped arguments,
//! seeded) in child processes for a fixed budget, and the kernel must
//! neither panic, nor fault, nor issue a host call its allowlist refuses
//! (which the host punishes with SIGSYS), and pid 1 must finish with its
//! own status; the host's device nodes bound into the container's `/dev`
//! keep their mode, owner and times.
//!
//! `OXBOX_FUZZ_SECS` (default 3) sets the budget and `OXBOX_FUZZ_SEED`
//! (default 1) the seed: a longer run is
//! `OXBOX_FUZZ_SECS=600 OXBOX_FUZZ_SEED=$RANDOM cargo test --release -p
//! oxbox-integration --test kernel_survives_random_syscalls -- --nocapture`.
//! The rootfs is read-only and the fuzzer's files live on a 16 MiB tmpfs,
//! so random paths cannot damage the shared test rootfs. The fuzzer never
//! runs natively: as root on the host, random calls change the host.

use oxbox_integration::{Run, bound_devices, changed_bound_devices, native_only, require_root};

#[test]
fn kernel_survives_random_syscalls() {
    require_root!();
    if native_only() {
        eprintln!("OXBOX_NATIVE_ONLY=1: skipped (the fuzzer runs under oxbox only)");
        return;
    }
    let secs = std::env::var("OXBOX_FUZZ_SECS").unwrap_or_else(|_| "3".into());
    let seed = std::env::var("OXBOX_FUZZ_SEED").unwrap_or_else(|_| "1".into());
    let devices = bound_devices();
    let o = Run::new(["/guest/fuzz/syscalls", "/tmp/fuzz", &secs, &seed])
        .read_only()
        .tmpfs("/tmp:size=16m")
        .oxbox();
    let changed = changed_bound_devices(&devices);
    let stdout = o.stdout();
    println!("{stdout}");
    assert!(
        changed.is_empty(),
        "random calls changed the host's device nodes:\n{}",
        changed.join("\n")
    );
    let stderr = o.stderr();
    for sign in ["oxbox-kernel: panic", "oxbox-kernel: fatal"] {
        assert!(
            !stderr.contains(sign),
            "the kernel crashed:\n{}",
            o.describe()
        );
    }
    assert_eq!(o.status, 0, "the fuzzer did not finish:\n{}", o.describe());
    assert!(
        stdout.lines().any(|l| l.starts_with("fuzz seed ")),
        "{}",
        o.describe()
    );
    // 134 is the kernel's panic status; SIGSYS means the kernel made a host
    // call its allowlist refuses instead of answering with an errno.
    let broken: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" exited 134 ") || l.contains(" killed by 31 "))
        .collect();
    assert!(
        broken.is_empty(),
        "rounds the kernel failed (replay with OXBOX_FUZZ_SEED):\n{}\n{}",
        broken.join("\n"),
        o.describe()
    );
}
