#!/bin/sh
# Installs the Debian packages that the build, the tests (and with --bench the benches, with
# --fuzz the fuzzers) need: only those missing, each found missing by itself. A library is
# missing when pkg-config does not know it, a tool when its command is not on PATH (the
# PostgreSQL server when /usr/lib/postgresql/*/bin/initdb is not there): so a
# machine whose node and npm come from elsewhere (NodeSource's nodejs, which conflicts with
# Debian's npm) keeps them, and apt is never asked for a set it would refuse.
# Usage: scripts/deps.sh [--bench] [--fuzz]     Test: tests/deps_test.sh
set -eu

want=""
add() {
    case " $want " in *" $1 "*) ;; *) want="$want $1" ;; esac
}
lib() { # pkg-config module, Debian package
    pkg-config --exists "$1" 2>/dev/null || add "$2"
}
tool() { # command, Debian package
    command -v "$1" >/dev/null 2>&1 || add "$2"
}
server() { # Debian package: PostgreSQL's server programs live outside PATH, in /usr/lib/postgresql
    for f in "${PG_LIBDIR:-/usr/lib/postgresql}"/*/bin/initdb; do
        [ -x "$f" ] && return 0
    done
    add "$1"
}
word_list() { # file of /usr/share/dict (DICT_DIR), Debian package
    [ -e "${DICT_DIR:-/usr/share/dict}/$1" ] || add "$2"
}
fuzz_links() { # whether clang links a libFuzzer target with ASan and UBSan
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' |
        clang -x c - -fsanitize=fuzzer,address,undefined -o /dev/null >/dev/null 2>&1
}

tool cc build-essential
tool make build-essential
tool cmake cmake
tool pkg-config pkg-config
lib libhs libhyperscan-dev
lib libevent libevent-dev
lib libevent_pthreads libevent-dev
lib libcurl libcurl4-openssl-dev
lib libcjson libcjson-dev
lib yaml-0.1 libyaml-dev
lib libpcre2-8 libpcre2-dev
lib sqlite3 libsqlite3-dev
lib libpq libpq-dev # kpi.db: postgresql://... (a fleet's shared KPI store)
lib cmocka libcmocka-dev
lib icu-uc libicu-dev
lib icu-i18n libicu-dev
tool python3 python3
tool curl curl
tool chromium chromium
tool nginx nginx-light # the fleet test's load balancer (config/fleet/nginx.conf)
tool node nodejs
tool npm npm
tool promtool prometheus # checks /metrics in the end-to-end tests
server postgresql # scripts/pg.sh: the tests' and make fleet's throwaway PostgreSQL
tool psql postgresql-client # the tests make a database each
# the word lists scripts/gen-keywords.py reads (CTest keywords_reproduce)
word_list american-english-insane wamerican-insane
word_list british-english-insane wbritish-insane
word_list spanish wspanish
word_list french wfrench
word_list italian witalian
word_list portuguese wportuguese
word_list ngerman wngerman
for arg in "$@"; do
    case "$arg" in
    --bench) tool wrk wrk; tool nginx nginx-light ;;
    --fuzz)
        # clang only recommends its runtime (libFuzzer, the sanitizers), and recommends are
        # not installed: a clang that cannot link a fuzzer gets it too
        tool clang clang
        command -v clang >/dev/null 2>&1 && fuzz_links || add libclang-rt-dev ;;
    *) echo "deps.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

[ -n "$want" ] || exit 0
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
echo "==> installing Debian packages (apt-get):$want"
$sudo apt-get update -qq
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $want >/dev/null
