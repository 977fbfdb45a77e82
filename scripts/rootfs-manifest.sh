#!/usr/bin/env bash
# Prints what a cached test root holds, one sorted line per entry (path,
# type, size, mode, owner, symlink target), leaving out /tmp, where
# scenarios keep their scratch directories. The test harness writes it
# beside each root it builds (<root>.manifest); scripts/test.sh compares it
# with the root after the suite, so a scenario that changes a shared root
# (which later scenarios and the engine tests' images are built from)
# fails the run instead of the next one.
set -euo pipefail
root=${1:?usage: rootfs-manifest.sh ROOT}
cd "$root"
find . -path ./tmp -prune -o -printf '%P %y %s %m %U:%G %l\n' | LC_ALL=C sort
