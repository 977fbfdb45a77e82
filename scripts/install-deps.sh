#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the benchmark need.
# Idempotent; needs root. Used by scripts/test.sh and by hand.
set -euo pipefail
packages=(
    gcc libc6-dev            # guest test programs, built static
    busybox-static           # the guest tool box of the scenario tests
    skopeo umoci zstd        # image scenarios: OCI layouts, docker-save archives, zstd layers
    docker-registry apache2-utils  # oxbox pull scenarios: a loopback registry, htpasswd
    debootstrap              # Debian rootfs of tests/tests/debian_*.rs
    strace                   # debugging aid named in failure messages
    runc crun runsc          # the runtimes the benchmark compares with
    golang-github-containers-common  # Docker's default seccomp profile (for runc)
    iproute2                 # loopback checks; the veth pairs of --network sandbox
    curl                     # the host-side client of the --network sandbox scenarios
    docker.io containerd     # engines that drive oxbox as their OCI runtime
    fonts-dejavu-core        # the text of the benchmark report's charts
    wrk redis-tools          # the benchmark's server loads (wrk, redis-benchmark)
    iperf3                   # the benchmark's network group (iperf3 -c on the host)
)
missing=()
for p in "${packages[@]}"; do
    [[ $p == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The parser fuzz targets (fuzz/run.sh): a nightly toolchain and cargo-fuzz.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
