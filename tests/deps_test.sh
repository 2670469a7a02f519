#!/bin/sh
# Checks scripts/deps.sh against stub commands: what it asks apt-get for on a machine with
# everything, a fresh one, and one whose node and npm come from elsewhere (NodeSource).
# Run: sh tests/deps_test.sh
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
fail=0

# run_case NAME "commands present" "pkg-config modules present" "expected packages" [args]
run_case() {
    name=$1 cmds=$2 mods=$3 expect=$4
    shift 4
    bin=$(mktemp -d)
    for c in $cmds; do
        printf '#!/bin/sh\nexit 0\n' >"$bin/$c"
    done
    printf '#!/bin/sh\necho 0\n' >"$bin/id"
    printf '#!/bin/sh\n[ "$1" = --exists ] || exit 2\ncase " %s " in *" $2 "*) exit 0;; esac\nexit 1\n' \
        "$mods" >"$bin/pkg-config.real"
    printf '#!/bin/sh\necho "$*" >>"%s/apt.log"\n' "$bin" >"$bin/apt-get"
    chmod +x "$bin"/*
    # PostgreSQL's server is found where Debian puts it, outside PATH
    mkdir -p "$bin/pglib/15/bin" "$bin/dict"
    # the word lists are there wherever any command is (a fresh machine has none)
    [ -z "$cmds" ] || for w in american-english-insane british-english-insane spanish french italian \
        portuguese ngerman; do : >"$bin/dict/$w"; done
    case " $cmds " in *" initdb "*) mv "$bin/initdb" "$bin/pglib/15/bin/initdb" ;; esac
    case " $cmds " in *" pkg-config "*) mv "$bin/pkg-config.real" "$bin/pkg-config" ;; esac
    PATH=$bin PG_LIBDIR=$bin/pglib DICT_DIR=$bin/dict /bin/sh "$here/scripts/deps.sh" "$@" >/dev/null
    got=$(grep '^install' "$bin/apt.log" 2>/dev/null | sed 's/.*--no-install-recommends *//' |
          tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ *$//' || true)
    want=$(echo "$expect" | tr ' ' '\n' | grep . | sort | tr '\n' ' ' | sed 's/ *$//' || true)
    if [ "$got" = "$want" ]; then
        echo "ok   $name"
    else
        echo "FAIL $name: asked apt-get for [$got], expected [$want]"
        fail=1
    fi
    rm -rf "$bin"
}

ALL_CMDS="cc make cmake pkg-config python3 curl chromium nginx node npm promtool initdb psql"
ALL_MODS="libhs libevent libevent_pthreads libcurl libcjson yaml-0.1 libpcre2-8 sqlite3 libpq cmocka icu-uc icu-i18n"

run_case "everything there: nothing installed" "$ALL_CMDS" "$ALL_MODS" ""
run_case "NodeSource node and npm, one library missing: only that library" \
    "$ALL_CMDS" "libevent libevent_pthreads libcurl libcjson yaml-0.1 libpcre2-8 sqlite3 libpq cmocka icu-uc icu-i18n" \
    "libhyperscan-dev"
run_case "no npm: npm alone" "cc make cmake pkg-config python3 curl chromium nginx node promtool initdb psql" "$ALL_MODS" "npm"
run_case "no promtool: prometheus alone" "cc make cmake pkg-config python3 curl chromium nginx node npm initdb psql" "$ALL_MODS" "prometheus"
run_case "no PostgreSQL server (psql there): postgresql alone" \
    "cc make cmake pkg-config python3 curl chromium nginx node npm promtool psql" "$ALL_MODS" "postgresql"
run_case "no libpq: libpq-dev alone" "$ALL_CMDS" \
    "libhs libevent libevent_pthreads libcurl libcjson yaml-0.1 libpcre2-8 sqlite3 cmocka icu-uc icu-i18n" "libpq-dev"
run_case "one package for two modules" "$ALL_CMDS" \
    "libhs libevent libevent_pthreads libcurl libcjson yaml-0.1 libpcre2-8 sqlite3 libpq cmocka" "libicu-dev"
run_case "a fresh machine: everything" "" "" \
    "build-essential cmake pkg-config libhyperscan-dev libevent-dev libcurl4-openssl-dev libcjson-dev libyaml-dev libpcre2-dev libsqlite3-dev libpq-dev libcmocka-dev libicu-dev python3 curl chromium nginx-light nodejs npm prometheus postgresql postgresql-client wamerican-insane wbritish-insane wspanish wfrench witalian wportuguese wngerman"
run_case "benches and fuzzers" "$ALL_CMDS" "$ALL_MODS" "wrk clang libclang-rt-dev" \
    --bench --fuzz
run_case "clang that links fuzzers: nothing" "$ALL_CMDS clang" "$ALL_MODS" "" --fuzz
exit $fail
