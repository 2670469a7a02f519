#!/usr/bin/env bash
# Scan-engine benchmark: builds scan_bench in Release (in build-bench/, once) and runs it.
# The table goes to stdout and bench/out/scan.txt; machine-readable rows (TSV) go to
# bench/out/scan.tsv. Extra arguments are passed to scan_bench (see bench/scan_bench.c),
# e.g. bench/scan.sh --pcre-budget 5 --sizes 100,1000 for a quick run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
cd "$root"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGW_TESTS=OFF >/dev/null
cmake --build "$build" --target scan_bench -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
mkdir -p bench/out
"$build/bench/scan_bench" --rules rules --out bench/out/scan.tsv "$@" | tee bench/out/scan.txt
