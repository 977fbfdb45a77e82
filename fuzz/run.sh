#!/usr/bin/env bash
# Runs every cargo-fuzz target of this folder for a fixed number of inputs
# (default 100000 each; FUZZ_RUNS overrides, FUZZ_RUNS=-1 runs until a crash
# or Ctrl-C): the test suite's budget run, and a longer run on demand:
#   fuzz/run.sh [TARGET...]
# Needs the nightly toolchain and cargo-fuzz (scripts/install-deps.sh).
# Builds into target/fuzz and keeps each target's corpus under
# target/fuzz/corpus, seeded from fuzz/seeds; a crashing input is saved in
# fuzz/artifacts/TARGET and the script fails.
set -euo pipefail
cd "$(dirname "$0")"
runs=${FUZZ_RUNS:-100000}
targets=("$@")
if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build -O --target-dir ../target/fuzz 2>&1 | grep -v "^ *\(Compiling\|Finished\|Downloaded\|Updating\|Locking\|Adding\)" || true
for target in "${targets[@]}"; do
    corpus=../target/fuzz/corpus/$target
    mkdir -p "$corpus"
    if [[ -d seeds/$target ]]; then
        cp -n seeds/"$target"/* "$corpus"/
    fi
    if [[ $target == elf_loader ]]; then
        # A real executable's header and program headers.
        head -c 4096 "$(type -P true)" > "$corpus"/true-head
    fi
    printf '%-18s ' "$target"
    start=$(date +%s%N)
    cargo +nightly fuzz run -O --target-dir ../target/fuzz "$target" "$corpus" -- \
        -runs="$runs" -print_final_stats=1 2>&1 |
        awk -v start="$start" '/stat::number_of_executed_units/ {n=$2}
             /ERROR|panicked|SUMMARY|Test unit written/ {print; bad=1}
             END {
                 if (bad) exit 1
                 "date +%s%N" | getline end
                 printf "%s inputs, %.0f per second, no crash\n", n, n / ((end - start) / 1e9)
             }'
done
