#!/usr/bin/env bash
# make bench: the whole benchmark suite, then docs/performance.md (tables, the machine, the
# exact commands, a chart). Every comparison inside a table is measured in one run,
# alternating targets, because shared machines are noisy; compare ratios, not absolutes.
#   QUICK=1 make bench   shorter runs (for trying the scripts, not for reporting)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=bench/out
mkdir -p "$out"
secs=${SECS:-6} rounds=${ROUNDS:-3}
[ "${QUICK:-0}" = 1 ] && secs=2 rounds=1
log() { echo "==> $*" >&2; }

log "scan engine (bench/scan.sh)"
bench/scan.sh > "$out/scan.txt"

: > "$out/proxy.md"
for stream in 0 1; do
    for conns in 1 32 256; do
        for workers in 1 2; do
            flags="-w $workers -c $conns -d $secs -r $rounds"
            [ "$stream" = 1 ] && flags="$flags -s"
            [ "$stream" = 0 ] && [ "$conns" = 32 ] && [ "$workers" = 1 ] && flags="$flags -R"
            [ "$conns" = 32 ] && flags="$flags -C"
            log "proxy: bench/proxy.sh $flags"
            { echo "#### \`bench/proxy.sh $flags\`"; bench/proxy.sh $flags 2>/dev/null; echo; } >> "$out/proxy.md"
        done
    done
done

# A conversation: six earlier turns in every request, with and without the screen cache.
flags="-w 1 -c 32 -d $secs -r $rounds -t 6"
log "proxy: bench/proxy.sh $flags"
{ echo "#### \`bench/proxy.sh $flags\`"; bench/proxy.sh $flags 2>/dev/null; echo; } >> "$out/proxy.md"

# What recording costs when no request has a finding (the runs above have one in each).
flags="-w 1 -c 32 -d $secs -r $rounds -R -n"
log "proxy: bench/proxy.sh $flags"
{ echo "#### \`bench/proxy.sh $flags\`"; bench/proxy.sh $flags 2>/dev/null; echo; } >> "$out/proxy.md"

log "time to first byte (bench/ttfb.py)"
python3 bench/ttfb.py -n "${TTFB_N:-100}" > "$out/ttfb.md"
log "memory (bench/memory.py)"
python3 bench/memory.py > "$out/memory.md"

log "writing docs/performance.md"
python3 bench/report.py "$out"
log "done: docs/performance.md"
