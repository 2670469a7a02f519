#!/bin/sh
# `guardrail check` on the packs of tests/data/check/, as a brand team would run it: what it
# prints for each trap (file:line and plain words) and its exit status, with and without
# --strict. Run: sh tests/check_test.sh path/to/guardrail tests/data/check
set -u
bin=$1 data=$2
fail=0

# run NAME WANT_STATUS ARGS...: runs `guardrail check ARGS`, keeps its output in $out.
run() {
    name=$1 want=$2
    shift 2
    out=$("$bin" check "$@" 2>&1)
    got=$?
    if [ "$got" = "$want" ]; then
        echo "ok   $name: exit $got"
    else
        echo "FAIL $name: exit $got, expected $want"
        fail=1
    fi
}

# says TEXT: the last run printed TEXT (a fixed string).
says() {
    if printf '%s\n' "$out" | grep -qF -- "$1"; then
        printf 'ok     says: %s\n' "$1"
    else
        printf 'FAIL   does not say: %s\n' "$1"
        fail=1
    fi
}

run "traps are warnings" 0 "$data/traps.yaml"
says "traps.yaml:16: warning: rule 'brand.warranty': pattern '\\blifelong warranty\\b' holds a backspace where you probably wrote \\b"
says "Put it in single quotes instead: '\\blifelong warranty\\b'"
says "traps.yaml:18: warning: rule 'brand.tiny': blocks on "
says " ordinary assistant replies ("
says "traps.yaml:21: warning: rule 'brand.tiny': phrase 'the' has only 3 letters and the rule blocks"
says "traps.yaml:28: warning: rule 'brand.claims': no 'match' example matches phrase 'unbreakable'"
says "traps.yaml:33: warning: rule 'brand.apology': redacts on "
says "0 errors, 5 warnings"
says "OK"

run "--strict makes them errors" 1 --strict "$data/traps.yaml"
says "0 errors, 5 warnings"
says "FAILED (--strict: warnings count as errors)"

run "a YAML error in plain words" 1 "$data/broken.yaml"
says "broken.yaml:9:19: YAML syntax error: mapping values are not allowed in this context (text with a colon needs quotes: put the whole line's text in single quotes)"

run "a failing example names its own line" 1 "$data/example.yaml"
says "example.yaml:13: rule 'brand.discount': example should match but did not: \"You get a discount for life on every order.\""

exit $fail
