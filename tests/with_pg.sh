#!/bin/sh
# Runs CMD with GW_TEST_PG_URL set to the URL of the CTest fixture `pg`'s PostgreSQL
# (tests/pg_fixture.sh), for tests registered with FIXTURES_REQUIRED pg:
#   add_test(NAME test_x COMMAND sh ${PROJECT_SOURCE_DIR}/tests/with_pg.sh $<TARGET_FILE:test_x>)
# The URL is read from GW_PG_URL_FILE (tests/CMakeLists.txt sets it to ${CMAKE_BINARY_DIR}/pg/url),
# or build/pg/url in the source tree. A GW_TEST_PG_URL already set is kept.
set -eu
[ $# -ge 1 ] || { echo "usage: tests/with_pg.sh CMD [ARG...]" >&2; exit 2; }
if [ -z "${GW_TEST_PG_URL:-}" ]; then
    file=${GW_PG_URL_FILE:-$(cd "$(dirname "$0")/.." && pwd)/build/pg/url}
    [ -s "$file" ] || {
        echo "with_pg.sh: no PostgreSQL URL in $file (run the test through ctest, which starts the fixture pg_start first)" >&2
        exit 1
    }
    GW_TEST_PG_URL=$(cat "$file")
    export GW_TEST_PG_URL
fi
exec "$@"
