#!/bin/sh
# `guardrail check` on the packs of tests/data/check/, as a brand team would run it: what it
# prints for each trap (file:line and plain words) and its exit status, with and without
# --strict. Run: sh tests/check_test.sh path/to/guardrail tests/data/check [rules]
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

# look GREP_FLAG TEXT: a line of the last run's output has TEXT (-F: a fixed string; -G: a
# basic regular expression).
look() {
    if printf '%s\n' "$out" | grep -q "$1" -- "$2"; then
        printf 'ok     says: %s\n' "$2"
    else
        printf 'FAIL   does not say: %s\n' "$2"
        fail=1
    fi
}
says() { look -F "$1"; }  # says TEXT
lists() { look -G "$1"; } # lists RE

# With a third argument, the prefilter's listing of those packs (the shipped ones, whose
# brand claims are gated in replies only): gated patterns with their literals, the others
# with the reason, and the counts, for prompts and for replies.
if [ $# -ge 3 ]; then
    run "the prefilter's listing" 0 --prefilter "$3"
    lists "^[^ ]*injection.yaml:[0-9]*: rule 'injection[.a-z_]*', prompts: prefiltered on [a-z]"
    lists ", prompts: not prefiltered: no part that every match needs"
    lists "^[^ ]*brand.yaml:[0-9]*: rule 'brand[.a-z_]*', replies: prefiltered on [a-z]"
    lists "^prompt prefilter: [1-9][0-9]* of [1-9][0-9]* long prompt patterns are scanned only"
    lists "^reply prefilter: [1-9][0-9]* of [1-9][0-9]* long reply patterns are scanned only"
    exit $fail
fi

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
