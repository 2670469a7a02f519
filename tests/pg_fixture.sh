#!/bin/sh
# The CTest fixture `pg` (tests/CMakeLists.txt): one throwaway PostgreSQL for the tests that
# name FIXTURES_REQUIRED pg, from scripts/pg.sh.
#   tests/pg_fixture.sh start DIR   starts it on a free port (another on a clash) and writes
#                                   its URL to DIR/url
#   tests/pg_fixture.sh stop DIR    stops it and removes DIR
# The cluster itself lives under /tmp (its folder named in DIR/cluster): as root the server
# runs as another user, who may not reach a build tree under a home folder closed to others.
# Tests read the URL through tests/with_pg.sh, which exports it as GW_TEST_PG_URL.
set -eu
pg=$(cd "$(dirname "$0")/.." && pwd)/scripts/pg.sh
[ $# = 2 ] || { echo "usage: tests/pg_fixture.sh start|stop DIR" >&2; exit 2; }
dir=$2
case "$1" in
start)
    "$0" stop "$dir" # a cluster left by a run that was killed
    mkdir -p "$dir"
    cluster=$(mktemp -d "${TMPDIR:-/tmp}/guardrail-pg-XXXXXX")
    echo "$cluster" >"$dir/cluster"
    for _ in 1 2 3 4 5 6 7 8; do
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        rc=0
        url=$("$pg" start "$cluster" "$port") || rc=$?
        if [ $rc = 0 ]; then
            echo "$url" >"$dir/url.tmp" && mv "$dir/url.tmp" "$dir/url"
            echo "PostgreSQL for the tests: $url (URL in $dir/url)"
            exit 0
        fi
        [ $rc = 3 ] || exit $rc # only a taken port is worth another try
        "$pg" stop "$cluster"
    done
    echo "pg_fixture.sh: no free port found" >&2
    exit 1 ;;
stop)
    [ ! -s "$dir/cluster" ] || "$pg" stop "$(cat "$dir/cluster")"
    rm -rf "$dir" ;;
*) echo "usage: tests/pg_fixture.sh start|stop DIR" >&2; exit 2 ;;
esac
