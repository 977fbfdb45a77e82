#!/usr/bin/env bash
# The whole oxbox test suite, from a fresh checkout, as root:
# installs what it needs, builds, checks formatting and lints, runs the unit
# and scenario tests (real programs under oxbox compared with native runs),
# and runs the benchmark harness in quick mode to keep it working.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) != 0 ]]; then
    echo "scripts/test.sh: run as root (containers need namespaces and pivot_root)" >&2
    exit 1
fi

step() { printf '\n==> %s\n' "$*"; }

# The cached test roots (target/test-rootfs/<key>) that are missing or no
# longer match the manifest written when each was built, one per line.
changed_test_roots() {
    local manifest root
    for manifest in target/test-rootfs/*.manifest; do
        [[ -e $manifest ]] || continue
        root=${manifest%.manifest}
        if [[ ! -d $root ]] || ! diff -q "$manifest" <(scripts/rootfs-manifest.sh "$root") >/dev/null; then
            echo "$root"
        fi
    done
}

# The host's device nodes that containers see: nothing run below (guests,
# runc, runsc, crun, dockerd) may change their owner or mode.
host_devices() { stat -c '%n %u:%g %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; }
devices_before=$(host_devices)

step "installing Debian packages"
scripts/install-deps.sh

step "building (release)"
cargo build --release --workspace --locked

step "formatting and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "the cached test roots match their manifests"
# A root an earlier run changed (see the check at the end) is removed, so
# the scenarios rebuild it if they still use it.
for root in $(changed_test_roots); do
    echo "$root does not match its manifest (changed by an earlier run): removed"
    rm -rf "$root" "$root.manifest"
done

step "unit and scenario tests"
OXBOX_BIN="$PWD/target/release/oxbox" cargo test --release --workspace --locked -- --test-threads=2

step "parser fuzz targets (fixed budget: FUZZ_RUNS inputs each)"
fuzz/run.sh

step "oxbox runs a real program"
target/release/oxbox do -- /bin/busybox echo "oxbox works"

step "benchmark harness (quick mode, no thresholds)"
cargo run --release --locked -p oxbox-bench -- --quick --out target/bench-quick

step "the cached test roots are unchanged"
# Scenarios and the benchmark's runs share these roots (the engine tests
# build images from them); each was recorded when it was built.
changed=$(changed_test_roots)
for root in $changed; do
    diff -u "$root.manifest" <(scripts/rootfs-manifest.sh "$root") >&2 || true
    echo "$root changed during the run (- as built, + now)" >&2
done
[[ -z $changed ]] || exit 1

step "the host's device nodes are unchanged"
if [[ $(host_devices) != "$devices_before" ]]; then
    printf 'before:\n%s\nafter:\n%s\n' "$devices_before" "$(host_devices)" >&2
    exit 1
fi

echo
echo "all tests passed"
