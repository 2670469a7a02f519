#!/bin/sh
# Checks scripts/pg.sh: a server started in a folder answers SQL at the URL it prints, as a
# user that is not root; down stops it and keeps its rows, up brings them back; stop removes
# the folder; a taken port exits 3; no PostgreSQL installed says how to install it.
# Run: sh tests/pg_test.sh
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
pg=$here/scripts/pg.sh
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
sql() { # url statement -> its output, unaligned
    psql -X -q -tA "$1" -c "$2"
}

dir=$(mktemp -d "${TMPDIR:-/tmp}/pg-test-XXXXXX")
other=$(mktemp -d "${TMPDIR:-/tmp}/pg-test-XXXXXX")
chmod 755 "$dir" "$other" # the server's user (root runs it as another) reaches its folder
trap '"$pg" stop "$dir/a"; "$pg" stop "$other/b"; rm -rf "$dir" "$other"' EXIT
port=$(free_port)
url=$("$pg" start "$dir/a" "$port")
case "$url" in
"postgresql://"*"@127.0.0.1:$port/guardrail") ok "start prints the URL: $url" ;;
*) bad "start printed '$url'" ;;
esac
who=$(sql "$url" "select current_user")
if [ "$(id -u)" = 0 ]; then
    [ "$who" != root ] && ok "as root, the server runs as $who" || bad "the server runs as root"
else
    [ "$who" = "$(id -un)" ] && ok "the server runs as the current user" || bad "the server runs as $who"
fi
[ "$(sql "$url" "show fsync")" = off ] && ok "fsync is off" || bad "fsync is on"
sql "$url" "create table t (n int); insert into t values (7)"
[ -S "$dir/a/.s.PGSQL.$port" ] && ok "a unix socket inside the folder" || bad "no socket in $dir/a"

rc=0
"$pg" start "$other/b" "$port" >/dev/null 2>&1 || rc=$?
[ $rc = 3 ] && ok "a taken port exits 3" || bad "a taken port exited $rc"

"$pg" down "$dir/a"
if sql "$url" "select 1" >/dev/null 2>&1; then bad "down: still answers"; else ok "down: no answer"; fi
[ -d "$dir/a/data" ] && ok "down keeps the folder" || bad "down removed the folder"
"$pg" up "$dir/a"
[ "$(sql "$url" "select n from t")" = 7 ] && ok "up: the rows are back" || bad "up: rows lost"

url2=$("$pg" createdb "$dir/a" second)
[ "$url2" = "${url%/guardrail}/second" ] && [ "$(sql "$url2" "select 1")" = 1 ] &&
    ok "createdb makes a database and prints its URL" || bad "createdb printed '$url2'"

"$pg" stop "$dir/a"
[ ! -e "$dir/a" ] && ok "stop removes the folder" || bad "stop left $dir/a"
if sql "$url" "select 1" >/dev/null 2>&1; then bad "stop: still answers"; else ok "stop: no answer"; fi

rc=0
msg=$(PG_LIBDIR=$dir/none "$pg" start "$dir/c" "$(free_port)" 2>&1) || rc=$?
case "$rc:$msg" in
1:*"not installed"*"scripts/deps.sh"*) ok "no PostgreSQL: says to run scripts/deps.sh" ;;
*) bad "no PostgreSQL: exit $rc, '$msg'" ;;
esac
exit $fail
