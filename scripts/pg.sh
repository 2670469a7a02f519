#!/bin/sh
# A throwaway PostgreSQL for the tests and `make fleet`: Debian's postgresql package (the
# newest version under /usr/lib/postgresql), a cluster made by initdb in DIR, listening on
# 127.0.0.1:PORT and on a unix socket inside DIR, trusting local connections, fsync off.
# PostgreSQL refuses to run as root: as root it runs as the `postgres` system user (made by
# the Debian package), or `nobody` where there is none; otherwise as the current user.
#
#   scripts/pg.sh start DIR PORT   prints postgresql://USER@127.0.0.1:PORT/guardrail once
#                                  it accepts connections (the database `guardrail` made);
#                                  exits 3 when PORT is taken (try another after stop DIR)
#   scripts/pg.sh stop DIR         stops it at once (pg_ctl -m immediate), removes DIR
#   scripts/pg.sh down DIR         stops it (pg_ctl -m fast) and keeps DIR: a database outage
#   scripts/pg.sh up DIR           starts it again after down, waits until it accepts connections
#   scripts/pg.sh url DIR          prints the URL again
#   scripts/pg.sh createdb DIR NAME  makes another database, prints its URL
#
# The server's log is DIR/log. Nothing secret is involved: trust authentication, loopback.
set -eu

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

bindir() { # the newest PostgreSQL's bin folder
    lib=${PG_LIBDIR:-/usr/lib/postgresql} # PG_LIBDIR: for tests/pg_test.sh
    found=""
    for v in $(ls "$lib" 2>/dev/null | sort -n); do
        [ -x "$lib/$v/bin/initdb" ] && [ -x "$lib/$v/bin/pg_ctl" ] && found=$lib/$v/bin
    done
    [ -n "$found" ] ||
        die "PostgreSQL is not installed (no $lib/*/bin/initdb): install it: scripts/deps.sh"
    echo "$found"
}

runner() { # the user the server runs as
    if [ "$(id -u)" != 0 ]; then
        id -un
    elif id postgres >/dev/null 2>&1; then
        echo postgres
    else
        echo nobody
    fi
}

as_user() { # command... run as the server's user (as it is when not root)
    if [ "$(id -u)" = 0 ]; then
        # setpriv keeps the environment; HOME must not point at root's home
        HOME=/ setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$@"
    else
        "$@"
    fi
}

absolute() { # path -> absolute path (the folder may not exist yet)
    case "$1" in /*) echo "$1" ;; *) echo "$(pwd)/$1" ;; esac
}

url_of() { # dir [db]
    echo "postgresql://$(cat "$1/user")@127.0.0.1:$(cat "$1/port")/${2:-guardrail}"
}

start() { # dir port
    dir=$(absolute "$1")
    port=$2
    case "$port" in '' | *[!0-9]*) die "not a port: '$port'" ;; esac
    bin=$(bindir)
    user=$(runner)
    [ ! -e "$dir/data/PG_VERSION" ] || die "$dir already holds a cluster (scripts/pg.sh stop $dir first)"
    mkdir -p "$dir/data"
    chmod 0700 "$dir/data"
    [ "$(id -u)" != 0 ] || chown -R "$user" "$dir"
    as_user test -w "$dir/data" ||
        die "the user $user cannot reach $dir (a folder above it is closed to others): use one under /tmp"
    echo "$user" >"$dir/user"
    echo "$port" >"$dir/port"
    as_user "$bin/initdb" -D "$dir/data" -U "$user" -A trust -E UTF8 --locale=C.UTF-8 \
        --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; die "initdb failed in $dir/data"; }
    cat >>"$dir/data/postgresql.conf" <<CONF
# scripts/pg.sh: a throwaway server for tests
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 100
log_min_messages = warning
CONF
    launch "$dir"
    createdb_in "$dir" guardrail >/dev/null
    url_of "$dir"
}

launch() { # dir: starts the server of an existing cluster, waits until it accepts connections
    bin=$(bindir)
    user=$(cat "$1/user")
    port=$(cat "$1/port")
    # -w waits for the server to come up; pg_isready then checks the TCP listener itself
    if ! as_user "$bin/pg_ctl" -D "$1/data" -l "$1/log" -w -t 60 start >/dev/null 2>&1; then
        if grep -q 'could not bind IPv4 address.*Address already in use' "$1/log" 2>/dev/null; then
            echo "pg.sh: port $port is taken" >&2
            exit 3 # a caller may try another port
        fi
        tail -20 "$1/log" >&2 2>/dev/null
        die "PostgreSQL did not start on 127.0.0.1:$port (log: $1/log)"
    fi
    i=0
    until as_user "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; do
        i=$((i + 1))
        [ $i -lt 300 ] || die "PostgreSQL does not accept connections on 127.0.0.1:$port"
        sleep 0.1
    done
}

down() { # dir: stops the server, keeps the cluster
    bin=$(bindir)
    user=$(cat "$1/user")
    as_user "$bin/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null ||
        die "pg_ctl stop failed in $1 (log: $1/log)"
}

createdb_in() { # dir name
    bin=$(bindir)
    user=$(cat "$1/user")
    as_user "$bin/createdb" -h "$1" -p "$(cat "$1/port")" -U "$user" "$2" ||
        die "createdb $2 failed (log: $1/log)"
    url_of "$1" "$2"
}

stop() { # dir
    dir=$(absolute "$1")
    if [ -f "$dir/data/PG_VERSION" ]; then
        bin=$(bindir)
        user=$(cat "$dir/user" 2>/dev/null || runner)
        if [ -f "$dir/data/postmaster.pid" ]; then
            as_user "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 ||
                echo "pg.sh: pg_ctl stop failed in $dir (removing it anyway)" >&2
        fi
    fi
    rm -rf "$dir"
}

case "${1:-}" in
start) [ $# = 3 ] || die "usage: scripts/pg.sh start DIR PORT"; start "$2" "$3" ;;
stop) [ $# = 2 ] || die "usage: scripts/pg.sh stop DIR"; stop "$2" ;;
down) [ $# = 2 ] || die "usage: scripts/pg.sh down DIR"; down "$(absolute "$2")" ;;
up) [ $# = 2 ] || die "usage: scripts/pg.sh up DIR"; launch "$(absolute "$2")" ;;
url) [ $# = 2 ] || die "usage: scripts/pg.sh url DIR"; url_of "$(absolute "$2")" ;;
createdb)
    [ $# = 3 ] || die "usage: scripts/pg.sh createdb DIR NAME"
    d=$(absolute "$2")
    createdb_in "$d" "$3" ;;
*) die "usage: scripts/pg.sh start DIR PORT | stop DIR | down DIR | up DIR | url DIR | createdb DIR NAME" ;;
esac
