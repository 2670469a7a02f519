#!/usr/bin/env bash
# Scan-engine benchmark: builds scan_bench in Release (in build-bench/, once) and runs it.
# The table goes to stdout and bench/out/scan.txt; machine-readable rows (TSV) go to
# bench/out/scan.tsv. Extra arguments are passed to scan_bench (see bench/scan_bench.c),
# e.g. bench/scan.sh --pcre-budget 5 --sizes 100,1000 for a quick run.
# bench/scan.sh --only adversarial runs section E (and a quick A to compare with) alone, in
# a minute or three; its output goes to bench/out/scan-adversarial.{txt,tsv}, so that the
# full run's scan.txt, which docs/performance.md is made from, stays as it was.
# bench/scan.sh --only model runs section M alone (the learned stage, with and without the
# model in one run) into bench/out/scan-model.{txt,tsv}.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
cd "$root"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGW_TESTS=OFF >/dev/null
cmake --build "$build" --target scan_bench -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
mkdir -p bench/out
name=scan
case " $* " in
*" --only model "* | *" --only M "*) name=scan-model ;;
*" --only "*) name=scan-adversarial ;;
esac
"$build/bench/scan_bench" --rules rules --out bench/out/$name.tsv "$@" | tee bench/out/$name.txt
