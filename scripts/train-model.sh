#!/bin/sh
# Rebuilds rules/guardrail.model, the shipped model of the learned stage, from its training
# data: the rows of ../shared/evaldata/dev whose licences let a model trained on them ship
# (docs/model.md lists them), and train/own-benign.jsonl. Training is deterministic: the
# same inputs give the same bytes, so the committed file is what this script writes.
#
# usage: scripts/train-model.sh [--check] [OUT]
#   OUT      where to write (default: rules/guardrail.model)
#   --check  write to a temporary file and compare it with rules/guardrail.model
# GUARDRAIL_BIN (default build/guardrail) and EVALDATA (default ../shared/evaldata/dev)
# may be set; paths are relative to the repository root.
set -eu
cd "$(dirname "$0")/.."
BIN=${GUARDRAIL_BIN:-build/guardrail}
DEV=${EVALDATA:-../shared/evaldata/dev}
check=0
if [ "${1:-}" = "--check" ]; then
    check=1
    shift
fi
OUT=${1:-rules/guardrail.model}
[ $check = 1 ] && OUT=$(mktemp /tmp/guardrail-model.XXXXXX)

# ToxicChat and Alpaca rows are licensed for non-commercial use only, Tensor Trust's come
# with no licence: measured by guardrail eval, never trained on for the shipped model.
# There are no toxic rows left to learn from, so the unsafe head's flag rule covers toxicity.
# It prints the thresholds for rules/model.yaml, picked on the benign rows it never trained
# on: 0.45% blocked by rules and model together, a margin under the 0.5% target, and 3.5%
# flagged a head.
"$BIN" train --rules rules \
    --data "$DEV/attacks.jsonl" --data "$DEV/harmful.jsonl" --data "$DEV/benign.jsonl" \
    --extra train/own-benign.jsonl \
    --exclude-source toxic-chat --exclude-source alpaca --exclude-source tensor-trust \
    --head injection=attack --head unsafe=harmful \
    --block-rate 0.0045 --flag-rate 0.035 \
    --out "$OUT"

if [ $check = 1 ]; then
    status=0
    cmp -s "$OUT" rules/guardrail.model || {
        echo "rules/guardrail.model differs from what scripts/train-model.sh writes" >&2
        status=1
    }
    rm -f "$OUT"
    exit $status
fi
