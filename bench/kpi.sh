#!/usr/bin/env bash
# What recording a request costs on each KPI store backend, side by side in one run:
# builds kpi_bench in Release (build-bench/), starts a throwaway PostgreSQL
# (scripts/pg.sh), writes the same batches to a fresh SQLite file and to it, alternating,
# and prints per-record medians and the ratio. Output also in bench/out/kpi.txt.
# Extra arguments go to kpi_bench (--batches N, --batch-size M).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
cd "$root"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGW_TESTS=OFF >/dev/null
cmake --build "$build" --target kpi_bench -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/guardrail-kpi-bench-XXXXXX")
port=${PG_PORT:-55499}
trap 'scripts/pg.sh stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
url=$(scripts/pg.sh start "$work/pg" "$port")
mkdir -p bench/out
"$build/bench/kpi_bench" --sqlite "$work/kpi.db" --pg "$url" "$@" | tee bench/out/kpi.txt
