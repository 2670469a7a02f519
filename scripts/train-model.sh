#!/bin/sh
# Rebuilds rules/guardrail.model, the shipped model of the learned stage, from its training
# data: the rows of ../shared/evaldata/dev whose licences let a model trained on them ship
# and the rows written for this project in train/ (docs/model.md lists both). Training is
# deterministic: the same inputs give the same bytes, so the committed file is what this
# script writes.
#
# usage: scripts/train-model.sh [--check | --eval [EVAL-OPTION...]] [OUT]
#   OUT      where to write (default: rules/guardrail.model)
#   --check  write to a temporary file and compare it with rules/guardrail.model
#   --eval   no file: cross-validate this recipe with guardrail eval (options such as
#            --min attacks=0.8,... follow it) and print the figures docs/model.md reports
# GUARDRAIL_BIN (default build/guardrail) and EVALDATA (default ../shared/evaldata/dev)
# may be set; paths are relative to the repository root.
set -eu
cd "$(dirname "$0")/.."
BIN=${GUARDRAIL_BIN:-build/guardrail}
DEV=${EVALDATA:-../shared/evaldata/dev}
mode=train
case "${1:-}" in
--check) mode=check; shift ;;
--eval) mode=eval; shift ;;
esac

# The project's own rows: each file is checked (scripts/check-train-data.py: well formed, no
# copy of a development row) by CTest's train_data_clean.
extra=
for f in train/*.jsonl; do
    extra="$extra --extra $f"
done

# ToxicChat and Alpaca rows are licensed for non-commercial use only, Tensor Trust's come
# with no licence: measured by guardrail eval, never trained on for the shipped model. The
# toxic head learns from train/own-toxic.jsonl alone, and is measured on ToxicChat's.
# Thresholds are picked on the development benign rows the model never trained on (3,898
# ToxicChat and Alpaca prompts): 0.45% blocked by rules and model together, a margin under
# the 0.5% target, and 2% flagged by each head.
recipe() {
    cmd=$1
    shift
    # shellcheck disable=SC2086 # $extra is a list of options
    "$BIN" "$cmd" --rules rules \
        --data "$DEV/attacks.jsonl" --data "$DEV/harmful.jsonl" \
        --data "$DEV/toxic.jsonl" --data "$DEV/benign.jsonl" $extra \
        --exclude-source toxic-chat --exclude-source alpaca --exclude-source tensor-trust \
        --head injection=attack --head unsafe=harmful --head toxic=toxic/flag \
        --block-rate 0.0045 --flag-rate 0.02 "$@"
}

case $mode in
eval)
    recipe eval "$@"
    ;;
train)
    recipe train --out "${1:-rules/guardrail.model}"
    ;;
check)
    out=$(mktemp /tmp/guardrail-model.XXXXXX)
    trap 'rm -f "$out"' EXIT
    recipe train --out "$out"
    cmp -s "$out" rules/guardrail.model || {
        echo "rules/guardrail.model differs from what scripts/train-model.sh writes" >&2
        exit 1
    }
    ;;
esac
