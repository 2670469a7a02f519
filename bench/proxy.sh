#!/usr/bin/env bash
# End-to-end proxy benchmark: wrk sends the same chat request (bench/chat.lua) straight to
# a fast mock provider (nginx returning a fixed completion), through nginx proxy_pass
# (keep-alive upstream), and through the gateway (default packs, both directions), with
# the same worker count, alternating rounds so the three see the same machine noise.
# Writes bench/out/proxy.tsv and prints a table with ratios. Usage:
#   bench/proxy.sh [-w WORKERS] [-c CONNECTIONS] [-d SECONDS] [-r ROUNDS] [-s] [-R] [-n] [-C] [-t TURNS]
#   -s: streamed replies (SSE) instead of plain ones
#   -t: TURNS earlier turns of the conversation in every request (bench/chat.lua), and a
#       "gateway-nocache" row: a second gateway without the screen cache
#   -R: also a second gateway that records (incident log, KPI store, admin listener), to
#       measure what recording costs; it replaces nothing, it adds a "gateway+rec" row
#   -n: no finding in any request (bench/chat.lua WRK_CLEAN=1: no word of praise), to see
#       what recording costs when nothing is found (with -R)
#   -C: also a gateway that calls the provider through libcurl instead of its native
#       HTTP/1.1 client (GUARDRAIL_HTTP_CLIENT=curl): a "gateway-curl" row
#   -B BIN: also a baseline gateway binary (another commit's, built in Release) with the
#       same flags, side by side: a "baseline" row and the A/B ratios, e.g.
#       git worktree add /tmp/base REV && cmake -S /tmp/base -B /tmp/base/b -DCMAKE_BUILD_TYPE=Release -DGW_TESTS=OFF && cmake --build /tmp/base/b --target guardrail
#       bench/proxy.sh -B /tmp/base/b/guardrail
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
workers=1 conns=32 secs=8 rounds=3 stream=0 rec=0 turns=0 curl=0 clean=0 base=
while getopts "w:c:d:r:sRnCt:B:" o; do
    case $o in
    w) workers=$OPTARG ;; c) conns=$OPTARG ;; d) secs=$OPTARG ;; r) rounds=$OPTARG ;;
    s) stream=1 ;; R) rec=1 ;; n) clean=1 ;; C) curl=1 ;; t) turns=$OPTARG ;; B) base=$OPTARG ;;
    *) exit 2 ;;
    esac
done
for cmd in wrk nginx; do
    command -v $cmd >/dev/null || { echo "bench: $cmd is missing (make deps-bench)" >&2; exit 1; }
done
build=${BUILD_DIR:-$root/build-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGW_TESTS=OFF >/dev/null
cmake --build "$build" --target guardrail -j"$(nproc)" >/dev/null
gw=$build/guardrail

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
P_PROVIDER=18201 P_NGINX=18202 P_GW=18203 P_REC=18204 P_ADMIN=18205 P_NOCACHE=18206 P_CURL=18207
P_BASE=18208

# The mock provider: nginx answering every POST with a fixed body, fast enough never to be
# the bottleneck (it gets its own 2 workers).
completion='{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"mock-1","choices":[{"index":0,"message":{"role":"assistant","content":"Thanks for reaching out! Your Summit jacket shipped yesterday and should arrive on Thursday. You can track it from your account page. Is there anything else I can help with?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":150,"completion_tokens":40,"total_tokens":190}}'
sse=""
for w in "Thanks" " for" " reaching" " out!" " Your" " Summit" " jacket" " shipped" " yesterday" " and" " should" " arrive" " on" " Thursday."; do
    sse+="data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"mock-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"$w\"},\"finish_reason\":null}]}\n\n"
done
sse+="data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"mock-1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"
if [ "$stream" = 1 ]; then body=$(printf "$sse"); ctype=text/event-stream; else body=$completion; ctype=application/json; fi
cat > "$work/provider.conf" <<NGX
worker_processes 2;
pid $work/provider.pid;
error_log $work/provider.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$P_PROVIDER;
        client_body_buffer_size 64k;
        location / { default_type $ctype; return 200 '$body'; }
    }
}
NGX
cat > "$work/proxy.conf" <<NGX
worker_processes $workers;
pid $work/proxy.pid;
error_log $work/proxy.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream provider { server 127.0.0.1:$P_PROVIDER; keepalive 256; }
    server {
        listen 127.0.0.1:$P_NGINX;
        location / {
            proxy_pass http://provider;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
NGX
nginx -c "$work/provider.conf" -g 'daemon off;' & pids+=($!)
nginx -c "$work/proxy.conf" -g 'daemon off;' & pids+=($!)
GUARDRAIL_CACHE_DIR=$work/cache "$gw" serve --listen 127.0.0.1:$P_GW --workers "$workers" \
    --upstream http://127.0.0.1:$P_PROVIDER/v1 --rules rules 2>"$work/gw.log" & pids+=($!)
if [ "$rec" = 1 ]; then
    printf 'incidents:\n  path: %s/incidents.jsonl\nkpi:\n  db: %s/kpi.db\n' "$work" "$work" > "$work/rec.yaml"
    GUARDRAIL_CACHE_DIR=$work/cache "$gw" serve --config "$work/rec.yaml" --listen 127.0.0.1:$P_REC \
        --workers "$workers" --upstream http://127.0.0.1:$P_PROVIDER/v1 --rules rules \
        --admin 127.0.0.1:$P_ADMIN 2>"$work/rec.log" & pids+=($!)
    for i in $(seq 1 600); do curl -sf -o /dev/null "http://127.0.0.1:$P_REC/readyz" && break; sleep 0.1; done
fi
nocache_pid=
if [ "$turns" != 0 ]; then
    printf 'limits:\n  screen_cache_entries: 0\n' > "$work/nocache.yaml"
    GUARDRAIL_CACHE_DIR=$work/cache "$gw" serve --config "$work/nocache.yaml" \
        --listen 127.0.0.1:$P_NOCACHE --workers "$workers" \
        --upstream http://127.0.0.1:$P_PROVIDER/v1 --rules rules 2>"$work/nocache.log" & pids+=($!)
    nocache_pid=$!
    for i in $(seq 1 600); do curl -sf -o /dev/null "http://127.0.0.1:$P_NOCACHE/readyz" && break; sleep 0.1; done
fi
curl_pid=
if [ "$curl" = 1 ]; then
    GUARDRAIL_HTTP_CLIENT=curl GUARDRAIL_CACHE_DIR=$work/cache "$gw" serve \
        --listen 127.0.0.1:$P_CURL --workers "$workers" \
        --upstream http://127.0.0.1:$P_PROVIDER/v1 --rules rules 2>"$work/curl.log" & pids+=($!)
    curl_pid=$!
    for i in $(seq 1 600); do curl -sf -o /dev/null "http://127.0.0.1:$P_CURL/readyz" && break; sleep 0.1; done
    # with several workers, /readyz can answer before the start line reaches the log
    for i in $(seq 1 50); do grep -q "through libcurl" "$work/curl.log" && break; sleep 0.1; done
    grep -q "through libcurl" "$work/curl.log" || { echo "bench: gateway-curl is not on libcurl" >&2; exit 1; }
fi
base_pid=
if [ -n "$base" ]; then
    GUARDRAIL_CACHE_DIR=$work/cache-base "$base" serve --listen 127.0.0.1:$P_BASE \
        --workers "$workers" --upstream http://127.0.0.1:$P_PROVIDER/v1 --rules rules \
        2>"$work/base.log" & pids+=($!)
    base_pid=$!
    for i in $(seq 1 600); do curl -sf -o /dev/null "http://127.0.0.1:$P_BASE/readyz" && break; sleep 0.1; done
fi
for p in $P_PROVIDER $P_NGINX $P_GW; do
    for i in $(seq 1 600); do curl -s -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.1; done
done
for i in $(seq 1 600); do curl -sf -o /dev/null "http://127.0.0.1:$P_GW/readyz" && break; sleep 0.1; done
# The gateway really screens: a request through it answers with its verdict header (a
# streamed one when the provider streams: a plain request would get its SSE back, unread).
streamed=false; [ "$stream" = 1 ] && streamed=true
curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"model\":\"m\",\"stream\":$streamed,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" \
    http://127.0.0.1:$P_GW/v1/chat/completions | grep -qi x-guardrail-verdict ||
    { echo "bench: the gateway did not answer" >&2; cat "$work/gw.log" >&2; exit 1; }

gwpid=${pids[2]}
mkdir -p bench/out
out=bench/out/proxy${stream:+-stream}-w$workers-c$conns.tsv
[ "$stream" = 1 ] || out=bench/out/proxy-w$workers-c$conns.tsv
[ "$turns" = 0 ] || out=${out%.tsv}-t$turns.tsv
[ "$clean" = 0 ] || out=${out%.tsv}-clean.tsv
echo -e "target\tround\trps\tp50_ms\tp99_ms\tp999_ms\tcpu_us_per_req" > "$out"
ms() { # wrk latency like 1.23ms / 456.00us / 1.02s -> ms
    awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.3f", n }'
}
cpu_ticks() { local t=0 p; for p in $1; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
run() { # name url pid-for-cpu
    local name=$1 url=$2 pid=${3:-}
    local t0=0; [ -n "$pid" ] && t0=$(cpu_ticks "$pid")
    local res
    res=$(WRK_STREAM=$stream WRK_TURNS=$turns WRK_CLEAN=$clean wrk -t1 -c"$conns" -d"${secs}s" --latency -s bench/chat.lua "$url/v1/chat/completions")
    local rps p50 p99 p999 reqs cpu=""
    rps=$(echo "$res" | awk '/Requests\/sec/ {print $2}')
    reqs=$(echo "$res" | awk '/requests in/ {print $1}')
    p50=$(ms "$(echo "$res" | awk '$1=="50%" {print $2}')")
    p99=$(ms "$(echo "$res" | awk '$1=="99%" {print $2}')")
    p999=$(echo "$res" | awk '$1=="P999_MS" {print $2}')
    if [ -n "$pid" ]; then
        local t1; t1=$(cpu_ticks "$pid")
        cpu=$(awk -v a="$t0" -v b="$t1" -v n="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", (b-a)/hz*1e6/n }')
    fi
    echo -e "$name\t$round\t$rps\t$p50\t$p99\t${p999:-}\t$cpu" >> "$out"
}
nginx_worker_pids() { pgrep -P "$(cat "$work/proxy.pid")" | tr '\n' ' '; }
for round in $(seq 1 "$rounds"); do
    echo "round $round/$rounds ..." >&2
    run direct "http://127.0.0.1:$P_PROVIDER"
    run nginx "http://127.0.0.1:$P_NGINX" "$(nginx_worker_pids)"
    run gateway "http://127.0.0.1:$P_GW" "$gwpid"
    [ "$rec" = 1 ] && run gateway+rec "http://127.0.0.1:$P_REC" "${pids[3]}"
    [ -n "$nocache_pid" ] && run gateway-nocache "http://127.0.0.1:$P_NOCACHE" "$nocache_pid"
    [ -n "$curl_pid" ] && run gateway-curl "http://127.0.0.1:$P_CURL" "$curl_pid"
    [ -n "$base_pid" ] && run baseline "http://127.0.0.1:$P_BASE" "$base_pid"
done
if [ "$rec" = 1 ]; then
    # The recording gateway really recorded: its store has the requests it served.
    curl -s "http://127.0.0.1:$P_ADMIN/api/kpis" | python3 -c 'import json,sys; print("gateway+rec recorded %d requests in its KPI store" % json.load(sys.stdin)["current"]["requests"])'
fi
python3 - "$out" "$workers" "$conns" "$stream" "$turns" "$clean" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {}
for r in rows:
    by.setdefault(r["target"], []).append(r)
med = lambda t, k: statistics.median(float(r[k]) for r in by[t] if r[k])
print("\n%s replies, %s worker(s), %s connections, %s, %s, median of %d rounds (alternating)\n" % (
    "streamed" if sys.argv[4] == "1" else "plain", sys.argv[2], sys.argv[3],
    "%s earlier turns in every request" % sys.argv[5] if sys.argv[5] != "0" else "one new message",
    "no finding in any request" if sys.argv[6] == "1" else "one CX finding in every request",
    len(by["direct"])))
print("| target | req/s | p50 ms | p99 ms | p99.9 ms | CPU us/req | req/s vs nginx |")
print("|---|---:|---:|---:|---:|---:|---:|")
for t in [t for t in ("direct", "nginx", "gateway", "gateway+rec", "gateway-nocache", "gateway-curl",
                      "baseline") if t in by]:
    cpu = "%.1f" % med(t, "cpu_us_per_req") if any(r["cpu_us_per_req"] for r in by[t]) else "-"
    p999 = "%.2f" % med(t, "p999_ms") if any(r["p999_ms"] for r in by[t]) else "-"
    print("| %s | %.0f | %.2f | %.2f | %s | %s | %.2f |" % (t, med(t, "rps"), med(t, "p50_ms"), med(t, "p99_ms"),
          p999, cpu, med(t, "rps") / med("nginx", "rps")))
ratios = [float(g["rps"]) / float(n["rps"]) for g, n in zip(by["gateway"], by["nginx"])]
print("\ngateway/nginx req/s per round: " + ", ".join("%.2f" % x for x in ratios))
if "gateway-nocache" in by:
    rr = [float(g["rps"]) / float(n["rps"]) for g, n in zip(by["gateway"], by["gateway-nocache"])]
    print("screen cache on/off req/s per round: " + ", ".join("%.2f" % x for x in rr) +
          "  (median %.2f)" % statistics.median(rr))
if "gateway-curl" in by:
    rr = [float(g["rps"]) / float(n["rps"]) for g, n in zip(by["gateway"], by["gateway-curl"])]
    print("native client/libcurl req/s per round: " + ", ".join("%.2f" % x for x in rr) +
          "  (median %.2f)" % statistics.median(rr))
if "baseline" in by:
    rr = [float(g["rps"]) / float(n["rps"]) for g, n in zip(by["gateway"], by["baseline"])]
    cc = [float(g["cpu_us_per_req"]) / float(n["cpu_us_per_req"])
          for g, n in zip(by["gateway"], by["baseline"])]
    print("gateway/baseline req/s per round: " + ", ".join("%.3f" % x for x in rr) +
          "  (median %.3f)" % statistics.median(rr))
    print("gateway/baseline CPU per request per round: " + ", ".join("%.3f" % x for x in cc) +
          "  (median %.3f)" % statistics.median(cc))
if "gateway+rec" in by:
    rr = [float(g["rps"]) / float(n["rps"]) for g, n in zip(by["gateway+rec"], by["gateway"])]
    print("recording on/off req/s per round: " + ", ".join("%.3f" % x for x in rr) +
          "  (median %.3f)" % statistics.median(rr))
PY
