#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each on its seeds for a while, one at a
# time: `make fuzz` (FUZZ_TIME seconds each) and the fuzz_smoke test (a few seconds each).
#
#   fuzz/run.sh SECONDS [BUILD_DIR] [TARGET...]
#
# The build is incremental: a second run only rebuilds what changed. New inputs go to
# BUILD_DIR/fuzz-new/NAME (the committed seeds in fuzz/corpus/NAME stay as they are), and a
# crash to BUILD_DIR/fuzz-crash/NAME-crash-<sha1> (or leak-, timeout-, oom-). Prints per
# target its executions, their rate, and whether it crashed; exits 1 if any did.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
build="${2:-$root/build-fuzz}"
shift $(( $# < 2 ? $# : 2 ))
jobs="${JOBS:-2}"

if [ $# -gt 0 ]; then
    names=("$@")
else
    names=()
    for d in "$root"/fuzz/corpus/*/; do names+=("$(basename "$d")"); done
fi
targets=()
for n in "${names[@]}"; do targets+=("fuzz_${n#fuzz_}"); done

# The libraries get ASan and UBSan too (GW_SANITIZE); only the fuzzed modules get coverage.
if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang cmake -S "$root" -B "$build" -DGW_FUZZ=ON -DGW_TESTS=OFF -DGW_SANITIZE=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo ${GW_WERROR:+-DGW_WERROR=$GW_WERROR} >/dev/null
fi
cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$build/fuzz-build.log" 2>&1 || {
    cat "$build/fuzz-build.log"
    exit 1
}

failed=0
printf '%-18s %12s %10s  %s\n' target executions exec/s result
for t in "${targets[@]}"; do
    n="${t#fuzz_}"
    mkdir -p "$build/fuzz-new/$n" "$build/fuzz-crash"
    log="$build/fuzz-crash/$n.log"
    rc=0
    "$build/fuzz/$t" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$build/fuzz-crash/$n-" \
        "$build/fuzz-new/$n" "$root/fuzz/corpus/$n" >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        failed=1
        art=$(sed -n "s/.*Test unit written to \(.*\)$/\1/p" "$log" | tail -1)
        result="CRASHED (exit $rc): ${art:-see $log}"
        grep -E '^(==[0-9]+==ERROR|SUMMARY)|runtime error' "$log" | head -5 || true
    fi
    printf '%-18s %12s %10s  %s\n' "$t" "${runs:-?}" "${rate:-?}" "$result"
done
if [ "$failed" -ne 0 ]; then
    echo "A target crashed: run it on the file alone to reproduce (fuzz/README.md)."
fi
exit "$failed"
